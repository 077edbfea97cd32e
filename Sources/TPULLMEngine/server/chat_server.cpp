/*
 * The server's life: bind, load the model on the device thread while /health already answers, route requests,
 * stop cleanly. Endpoints other than the chat completions are small enough to live here.
 */
#include "tpu_llm_server.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <thread>

#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api_key.h"
#include "chat_endpoint.h"
#include "chat_page.h"
#include "cross_origin.h"
#include "engine_health.h"
#include "generation_scheduler.h"
#include "server_metrics.h"

namespace tpu {
namespace {

using namespace tpu::server;

/* The bmodel's file name without directories and extension: the model's id unless --model-name says otherwise. */
std::string file_stem(const std::string &path) {
    size_t slash = path.find_last_of('/');
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    size_t dot = name.find_last_of('.');
    return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

/* cpp-httplib's thread pool, plus a look at the stop request whenever the listening socket is idle: stop() may
 * come before cpp-httplib has started listening, when its own stop() does nothing. */
class StoppableThreadPool : public httplib::ThreadPool {
  public:
    StoppableThreadPool(size_t threads, std::function<void()> on_idle)
        : httplib::ThreadPool(threads), on_idle_(std::move(on_idle)) {}
    void on_idle() override { on_idle_(); }

  private:
    std::function<void()> on_idle_;
};

/* Why host:port cannot be bound, found by binding it once more (cpp-httplib keeps the errno to itself). */
std::string bind_failure(const std::string &host, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo *addresses = nullptr;
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &addresses) != 0 || !addresses)
        return host + " is not an address of this machine; choose another --host";
    int error = 0;
    int probe = socket(addresses->ai_family, addresses->ai_socktype | SOCK_CLOEXEC, addresses->ai_protocol);
    if (probe >= 0) {
        int yes = 1;
        setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        if (::bind(probe, addresses->ai_addr, addresses->ai_addrlen) != 0) error = errno;
        close(probe);
    }
    freeaddrinfo(addresses);
    if (error == EADDRINUSE)
        return "the port is already in use (another engine, or another program, listens there): stop it, or choose "
               "another --port";
    if (error == EADDRNOTAVAIL) return host + " is not an address of this machine; choose another --host";
    if (error == EACCES) return "permission denied (ports below 1024 need root); choose another --port";
    return error ? std::string(std::strerror(error)) + "; choose another --host or --port"
                 : "the address is in use or not this machine's; choose another --host or --port";
}

/* When each request started, for its log line (the logger runs on the request's thread). */
thread_local std::chrono::steady_clock::time_point request_started;

/* A model object's `created`: when the bmodel file was last written, else when the engine started. */
int64_t model_created(const std::string &path) {
    struct stat status {};
    if (::stat(path.c_str(), &status) == 0) return static_cast<int64_t>(status.st_mtime);
    return static_cast<int64_t>(std::time(nullptr));
}

/* Threads beyond one per queued request and the running one: for /health, /metrics, the page, and idle
 * keep-alive connections, which hold a thread until they close. */
constexpr size_t spare_threads = 16;

/* An idle keep-alive connection holds a worker thread in cpp-httplib 0.11 until this many seconds pass: short, so a
 * burst of clients that keep their connections open cannot starve /health (the default is 5 s). */
constexpr time_t keep_alive_seconds = 2;

}  // namespace

struct ChatServer::Implementation {
    ServerOptions options;
    httplib::Server http;
    EngineHealth health;
    GenerationScheduler scheduler;
    ServerMetrics metrics;
    APIKey api_key;
    ChatEndpoint chat{scheduler, health};
    CrossOrigin cross_origin;
    int64_t created;
    std::atomic<bool> stop_requested{false};
    std::atomic<bool> load_failed{false};
    std::thread device_thread;

    explicit Implementation(ServerOptions server_options)
        : options(std::move(server_options)),
          health(options.engine.model_name.empty() ? file_stem(options.engine.model_path) : options.engine.model_name),
          scheduler(options.queue, std::chrono::milliseconds(options.piece_delay_ms)), api_key(options.api_key),
          cross_origin(options.cors_origins, api_key.required()), created(model_created(options.engine.model_path)) {
        /* Each waiting request holds its connection's thread: room for all of them and the running one. */
        size_t threads = static_cast<size_t>(options.queue < 0 ? 0 : options.queue) + 1 + spare_threads;
        http.new_task_queue = [this, threads] {
            return new StoppableThreadPool(threads, [this] {
                if (stop_requested) http.stop();
            });
        };
        /* cpp-httplib's default sets SO_REUSEPORT, with which a second engine on the same port also binds and
         * the kernel shares the connections between the two. SO_REUSEADDR alone still lets a restarted engine
         * bind while the old one's connections sit in TIME_WAIT, but never beside a live listener. */
        http.set_socket_options([](socket_t socket) {
            int yes = 1;
            setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        });
        http.set_idle_interval(0, 200 * 1000);
        http.set_keep_alive_timeout(keep_alive_seconds);
        http.set_keep_alive_max_count(1000);
        http.set_payload_max_length(16 * 1024 * 1024);
        route();
    }

    bool is_open(const httplib::Request &request) const {
        /* /health for supervisors; the page itself holds nothing secret and asks for the key. */
        return request.method == "GET" && (request.path == "/health" || request.path == "/");
    }

    /* The key is checked in the handler, after cpp-httplib has read the body: a refusal in the pre-routing handler
     * would leave a POST's body unread on a keep-alive connection, to be parsed as the next request. */
    using Handler = std::function<void(const httplib::Request &, httplib::Response &)>;
    Handler guarded(Handler handler) {
        return [this, handler](const httplib::Request &request, httplib::Response &response) {
            if (is_open(request) || api_key.accepts(request.get_header_value("Authorization"))) {
                handler(request, response);
                return;
            }
            response.set_header("WWW-Authenticate", "Bearer");
            bool sent_a_key = !request.get_header_value("Authorization").empty();
            send_error(response, 401,
                       sent_a_key ? "wrong API key: the key in 'Authorization: Bearer KEY' is not this engine's"
                                  : "this engine needs an API key: send the header 'Authorization: Bearer KEY'",
                       "authentication_error", "invalid_api_key");
        };
    }

    /* 503 while the model loads or after it failed: a model list that names a model not yet usable misleads. */
    bool refuse_unless_ready(httplib::Response &response) {
        HealthSnapshot snapshot = health.snapshot();
        if (snapshot.status == HealthStatus::ready) return false;
        if (snapshot.status == HealthStatus::loading) response.set_header("Retry-After", "1");
        send_error(response, 503,
                   snapshot.status == HealthStatus::loading ? "the model is still loading; try again when /health says ready"
                                                            : "the model failed to load: " + snapshot.reason,
                   "server_error", snapshot.status == HealthStatus::loading ? "model_loading" : "model_load_failed");
        return true;
    }

    nlohmann::json model_object() const {
        return {{"id", health.snapshot().model_name}, {"object", "model"}, {"created", created},
                {"owned_by", "tpudeploy"}};
    }

    void route() {
        http.set_pre_routing_handler([this](const httplib::Request &request, httplib::Response &response) {
            request_started = std::chrono::steady_clock::now();
            cross_origin.add_headers(request, response);
            if (request.method != "OPTIONS") return httplib::Server::HandlerResponse::Unhandled;
            /* A browser's preflight carries no credentials: answered before the key is asked for. */
            cross_origin.answer_preflight(request, response);
            return httplib::Server::HandlerResponse::Handled;
        });
        http.set_error_handler([](const httplib::Request &request, httplib::Response &response) {
            if (!response.body.empty() || response.status == 499) return;
            if (response.status == 404)
                send_error(response, 404, "no such endpoint: " + request.method + " " + request.path,
                           "invalid_request_error", "not_found");
            else
                send_error(response, response.status, "the request could not be served (HTTP " +
                           std::to_string(response.status) + ")", "invalid_request_error",
                           response.status == 413 ? "request_too_large" : "http_" + std::to_string(response.status));
        });
        http.set_exception_handler([](const httplib::Request &, httplib::Response &response, std::exception_ptr error) {
            std::string message = "internal error";
            try {
                if (error) std::rethrow_exception(error);
            } catch (const std::exception &exception) {
                message = exception.what();
            } catch (...) {
            }
            send_error(response, 500, message, "server_error", "internal_error");
        });
        http.set_logger([this](const httplib::Request &request, const httplib::Response &response) {
            metrics.count_request(response.status);
            double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - request_started).count();
            std::fprintf(stderr, "%s \"%s %s\" %d %.3fs\n", request.remote_addr.c_str(), request.method.c_str(),
                         request.path.c_str(), response.status, seconds);
        });

        http.Get("/health", [this](const httplib::Request &, httplib::Response &response) {
            HealthSnapshot snapshot = health.snapshot();
            response.status = snapshot.status == HealthStatus::ready ? 200 : 503;
            response.set_content(EngineHealth::body(snapshot), "application/json");
        });
        http.Get("/v1/models", guarded([this](const httplib::Request &, httplib::Response &response) {
            if (refuse_unless_ready(response)) return;
            nlohmann::json body = {{"object", "list"}, {"data", nlohmann::json::array({model_object()})}};
            response.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                                 "application/json");
        }));
        http.Get(R"(/v1/models/(.+))", guarded([this](const httplib::Request &request, httplib::Response &response) {
            if (refuse_unless_ready(response)) return;
            nlohmann::json model = model_object();
            if (request.matches[1].str() != model["id"].get<std::string>()) {
                send_error(response, 404,
                           "the model '" + request.matches[1].str() + "' does not exist; this engine serves '" +
                               model["id"].get<std::string>() + "' (GET /v1/models)",
                           "invalid_request_error", "model_not_found", "model");
                return;
            }
            response.set_content(model.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                                 "application/json");
        }));
        http.Get("/metrics", guarded([this](const httplib::Request &, httplib::Response &response) {
            response.set_content(metrics.render(scheduler.waiting()), "text/plain; version=0.0.4; charset=utf-8");
        }));
        http.Get("/", [](const httplib::Request &, httplib::Response &response) {
            response.set_header("Cache-Control", "no-cache");
            response.set_content(chat_page_html, "text/html; charset=utf-8");
        });
        http.Post("/v1/chat/completions",
                  guarded([this](const httplib::Request &request, httplib::Response &response) {
                      chat.handle(request, response);
                  }));
        http.Post("/v1/completions", guarded([this](const httplib::Request &request, httplib::Response &response) {
                      chat.handle_completion(request, response);
                  }));
    }

    /* The device thread: load, then run generations until the scheduler closes. */
    void run_device() {
        std::unique_ptr<LanguageModel> model;
        if (options.load_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(options.load_delay_ms));
        try {
            model = load_language_model(options.engine);
        } catch (const std::exception &error) {
            health.mark_failed(error.what());
            if (options.exit_on_failure) {
                /* The command line reports the reason as it exits. */
                load_failed = true;
                request_stop();
            } else {
                std::fprintf(stderr, "tpu-llm-engine: error: %s (serving /health as failed)\n", error.what());
            }
            return;
        }
        metrics.set_npu_memory_used(model->npu_memory_used_bytes());
        health.mark_ready(model->description());
        HealthSnapshot ready = health.snapshot();
        std::fprintf(stderr, "loaded %s (%s, %d layers, context %d) in %.2fs\n", ready.model_name.c_str(),
                     ready.model.family.c_str(), ready.model.layers, ready.model.seq_len, ready.load_seconds);
        scheduler.run(*model, [&](const GenerationResult &result, double queue_seconds) {
            metrics.count_generation(result, queue_seconds);
            metrics.set_npu_memory_used(model->npu_memory_used_bytes());
        });
    }

    void request_stop() {
        stop_requested = true;
        scheduler.close();
        http.stop();
    }
};

ChatServer::ChatServer(ServerOptions options) : implementation_(std::make_unique<Implementation>(std::move(options))) {}

ChatServer::~ChatServer() {
    stop();
    if (implementation_->device_thread.joinable()) implementation_->device_thread.join();
}

int ChatServer::bind() {
    Implementation &server = *implementation_;
    int port = server.options.port;
    bool bound = port == 0 ? (port = server.http.bind_to_any_port(server.options.host)) > 0
                           : server.http.bind_to_port(server.options.host, port);
    if (!bound)
        throw std::runtime_error("cannot listen on " + server.options.host + ":" +
                                 std::to_string(server.options.port) + ": " +
                                 bind_failure(server.options.host, server.options.port));
    return port;
}

ChatServer::Outcome ChatServer::serve() {
    Implementation &server = *implementation_;
    server.device_thread = std::thread([&server] { server.run_device(); });
    if (!server.stop_requested) server.http.listen_after_bind();
    server.scheduler.close();
    server.device_thread.join();
    return server.load_failed ? Outcome::load_failed : Outcome::stopped;
}

void ChatServer::stop() { implementation_->request_stop(); }

std::string ChatServer::load_failure() const { return implementation_->health.snapshot().reason; }

}  // namespace tpu
