/*
 * `tpu-llm-engine serve`: options → ChatServer; SIGTERM and SIGINT stop it cleanly (exit 0).
 */
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <pthread.h>
#include <unistd.h>

#include "command_line.h"
#include "commands.h"
#include "tpu_llm_server.h"

namespace tpu_cli {
namespace {

const char *const serve_help =
    "usage: tpu-llm-engine serve --model M.bmodel --tokenizer T [options]\n"
    "\n"
    "Serves an OpenAI-compatible API (POST /v1/chat/completions and /v1/completions, GET /v1/models, /health,\n"
    "/metrics) and a web chat\n"
    "page at / over one model. The model loads in the background; /health says when it is ready.\n"
    "\n"
    "  --model FILE          the bmodel\n"
    "  --tokenizer PATH      tokenizer.model (chatglm2, llama2), or vocab.json / its folder (wizardcoder,\n"
    "                        smollm2, qwen2)\n"
    "  --family NAME         chatglm2|llama2|wizardcoder|smollm2|qwen2 expected by the deployment (default:\n"
    "                        inferred)\n"
    "  --layers N            number of layers expected (default: inferred)\n"
    "  --runtime-dir DIR     where libbmlib.so and libbmrt.so are\n"
    "  --device N            device id (0)\n"
    "  --host ADDR           address to listen on (127.0.0.1)\n"
    "  --port N              port (8080; 0 picks a free one, printed on stdout)\n"
    "  --api-key-file FILE   require 'Authorization: Bearer KEY', KEY the file's first line (mode 0600; default:\n"
    "                        $TPU_ENGINE_API_KEY); /health stays open. Never the key itself: argv shows in ps\n"
    "  --queue N             requests that may wait beyond the running one; more get 429 (64)\n"
    "  --cors-origin LIST    origins allowed to call the API from a browser, comma-separated, or '*'\n"
    "                        (default: '*' when an API key is set, else none)\n"
    "  --model-name NAME     id in /v1/models (default: the bmodel's file stem)\n"
    "  --exit-on-failure     exit 3 when the model fails to load (default when stdout is a terminal)\n"
    "  --no-exit-on-failure  keep answering /health with status failed and the reason\n";

tpu::ServerOptions parse_options(const CommandLine &line) {
    tpu::ServerOptions options;
    options.engine.model_path = line.required("model");
    options.engine.tokenizer_path = line.required("tokenizer");
    options.engine.expected_family = line.text("family");
    options.engine.expected_layers = line.integer("layers", 0);
    options.engine.runtime_dir = line.text("runtime-dir");
    options.engine.device = line.integer("device", 0);
    options.engine.model_name = line.text("model-name");
    options.host = line.text("host", "127.0.0.1");
    options.port = line.integer("port", 8080);
    if (options.port < 0 || options.port > 65535) throw UsageError("serve: --port wants 0..65535");
    if (line.has("api-key"))
        throw UsageError("serve: --api-key would show the key to every user of this machine in ps; write it to a file "
                         "only you can read (chmod 600) and pass --api-key-file FILE, or set $TPU_ENGINE_API_KEY");
    const char *environment_key = std::getenv("TPU_ENGINE_API_KEY");
    options.api_key = environment_key ? environment_key : "";
    if (line.has("api-key-file")) {
        try {
            options.api_key = tpu::read_api_key_file(line.text("api-key-file"));
        } catch (const std::runtime_error &error) {
            throw UsageError(std::string("serve: ") + error.what());
        }
    }
    options.queue = line.integer("queue", tpu::ServerOptions{}.queue);
    std::string origins = line.text("cors-origin");
    for (size_t start = 0; start < origins.size();) {
        size_t comma = origins.find(',', start);
        std::string origin = origins.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!origin.empty()) options.cors_origins.push_back(origin);
        start = comma == std::string::npos ? origins.size() : comma + 1;
    }
    if (options.queue < 0) throw UsageError("serve: --queue wants 0 or more");
    if (options.engine.expected_layers < 0) throw UsageError("serve: --layers wants a positive number");
    if (line.has("exit-on-failure") && line.has("no-exit-on-failure"))
        throw UsageError("serve: choose one of --exit-on-failure and --no-exit-on-failure");
    /* Not options: testing aids that slow the sim models down enough to watch `loading` and to queue behind. */
    if (const char *delay = std::getenv("TPU_ENGINE_LOAD_DELAY_MS")) options.load_delay_ms = std::atoi(delay);
    if (const char *delay = std::getenv("TPU_ENGINE_PIECE_DELAY_MS")) options.piece_delay_ms = std::atoi(delay);
    options.exit_on_failure = line.has("exit-on-failure") || (!line.has("no-exit-on-failure") && isatty(STDOUT_FILENO));
    return options;
}

/* SIGTERM, SIGINT and SIGUSR1 are blocked in every thread (call before any thread starts) and taken by sigwait. */
sigset_t stop_signal_set() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGUSR1);
    return set;
}

/* Waits for SIGTERM or SIGINT on a thread of its own, so that stop() runs outside a signal handler; SIGUSR1 only
 * wakes it when the server stopped by itself. Lives shorter than the server it stops. */
class StopSignalWatch {
  public:
    explicit StopSignalWatch(tpu::ChatServer &server) {
        thread_ = std::thread([&server] {
            sigset_t set = stop_signal_set();
            int signal = 0;
            sigwait(&set, &signal);
            if (signal == SIGUSR1) return;
            std::fprintf(stderr, "stopping (%s)\n", signal == SIGTERM ? "SIGTERM" : "SIGINT");
            server.stop();
        });
    }
    ~StopSignalWatch() {
        pthread_kill(thread_.native_handle(), SIGUSR1);
        thread_.join();
    }

  private:
    std::thread thread_;
};

}  // namespace

int run_serve(int argc, char **argv) {
    tpu::ServerOptions options;
    try {
        CommandLine line(argc, argv,
                         {"model", "tokenizer", "family", "layers", "runtime-dir", "device", "host", "port", "api-key", "api-key-file",
                          "queue", "model-name", "cors-origin"},
                         {"exit-on-failure", "no-exit-on-failure"});
        if (line.help()) {
            std::fputs(serve_help, stdout);
            return exit_ok;
        }
        options = parse_options(line);
    } catch (const UsageError &error) {
        print_error(error.what());
        return exit_usage;
    }

    sigset_t signals = stop_signal_set();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN); /* a vanished client is an error return, not a death */
    tpu::ChatServer server(options);
    int port = 0;
    try {
        port = server.bind();
    } catch (const std::exception &error) {
        print_error(error.what());
        return 1;
    }
    std::printf("listening on http://%s:%d\n", options.host.c_str(), port);
    std::fflush(stdout);
    StopSignalWatch watch(server);
    if (server.serve() == tpu::ChatServer::Outcome::load_failed) {
        print_error(server.load_failure());
        return exit_load_failed;
    }
    return exit_ok;
}

}  // namespace tpu_cli
