/*
 * tpu-llm-engine's resident server: OpenAI-compatible chat completions, /health, /metrics, /v1/models and a web
 * chat page over one loaded model (docs/engine-interface.md). The command line's `serve` is a thin front end.
 */
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tpu_llm_engine.h"

namespace tpu {

struct ServerOptions {
    EngineOptions engine;
    std::string host = "127.0.0.1";
    int port = 8080;               /* 0: any free port (bind() says which) */
    std::string api_key;           /* empty: no key needed (never from the command line: read_api_key_file) */
    int queue = 64;                /* requests that may wait beyond the running generation (Ollama: 512) */
    std::vector<std::string> cors_origins; /* --cors-origin; empty: `*` when an API key is set, else none */
    bool exit_on_failure = false;  /* serve() returns when loading fails instead of answering `failed` */
    /* Testing aids ($TPU_ENGINE_LOAD_DELAY_MS, $TPU_ENGINE_PIECE_DELAY_MS): the sim models load and generate too
     * fast to watch the `loading` state or to queue behind a running generation. */
    int load_delay_ms = 0;         /* a pause before loading */
    int piece_delay_ms = 0;        /* a pause after each piece of text, holding the device */
};

/* The API key on the first line of `path`, which only its owner may read (mode 0600 or stricter); throws
 * std::runtime_error saying what is wrong with the file. A key on a command line would show in `ps`. */
std::string read_api_key_file(const std::string &path);

class ChatServer {
  public:
    explicit ChatServer(ServerOptions options);
    ~ChatServer();
    ChatServer(const ChatServer &) = delete;
    ChatServer &operator=(const ChatServer &) = delete;

    /* Binds the listening socket and returns its port; throws std::runtime_error when it cannot. */
    int bind();

    enum class Outcome { stopped, load_failed };
    /* Loads the model on the device thread while answering requests, until stop() (or, with exit_on_failure,
     * until loading fails: the reason is load_failure()). Each request is logged to stderr in one line. */
    Outcome serve();

    /* Cancels the running generation, refuses the waiting ones and makes serve() return. Any thread; not from a
     * signal handler. */
    void stop();

    std::string load_failure() const;

  private:
    struct Implementation;
    std::unique_ptr<Implementation> implementation_;
};

}  // namespace tpu
