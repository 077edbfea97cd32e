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
#include <thread>

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api_key.h"
#include "chat_endpoint.h"
#include "chat_page.h"
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

}  // namespace

struct ChatServer::Implementation {
    ServerOptions options;
    httplib::Server http;
    EngineHealth health;
    GenerationScheduler scheduler;
    ServerMetrics metrics;
    APIKey api_key;
    ChatEndpoint chat{scheduler, health};
    std::atomic<bool> stop_requested{false};
    std::atomic<bool> load_failed{false};
    std::thread device_thread;

    explicit Implementation(ServerOptions server_options)
        : options(std::move(server_options)),
          health(options.engine.model_name.empty() ? file_stem(options.engine.model_path) : options.engine.model_name),
          scheduler(options.queue, std::chrono::milliseconds(options.piece_delay_ms)), api_key(options.api_key) {
        /* Room for the running request, the waiting ones, and more for /health, /metrics and the page. */
        size_t threads = static_cast<size_t>(options.queue < 0 ? 0 : options.queue) + 9;
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
        http.set_payload_max_length(16 * 1024 * 1024);
        route();
    }

    bool is_open(const httplib::Request &request) const {
        /* /health for supervisors; the page itself holds nothing secret and asks for the key. */
        return request.method == "GET" && (request.path == "/health" || request.path == "/");
    }

    void route() {
        http.set_pre_routing_handler([this](const httplib::Request &request, httplib::Response &response) {
            request_started = std::chrono::steady_clock::now();
            if (is_open(request) || api_key.accepts(request.get_header_value("Authorization")))
                return httplib::Server::HandlerResponse::Unhandled;
            response.set_header("WWW-Authenticate", "Bearer");
            send_error(response, 401,
                       "this engine needs an API key: send the header 'Authorization: Bearer KEY'",
                       "authentication_error", "invalid_api_key");
            return httplib::Server::HandlerResponse::Handled;
        });
        http.set_error_handler([](const httplib::Request &request, httplib::Response &response) {
            if (!response.body.empty() || response.status == 499) return;
            if (response.status == 404)
                send_error(response, 404, "no such endpoint: " + request.method + " " + request.path,
                           "invalid_request_error", "not_found");
            else
                send_error(response, response.status, "the request could not be served (HTTP " +
                           std::to_string(response.status) + ")", "invalid_request_error");
        });
        http.set_exception_handler([](const httplib::Request &, httplib::Response &response, std::exception_ptr error) {
            std::string message = "internal error";
            try {
                if (error) std::rethrow_exception(error);
            } catch (const std::exception &exception) {
                message = exception.what();
            } catch (...) {
            }
            send_error(response, 500, message, "server_error");
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
        http.Get("/v1/models", [this](const httplib::Request &, httplib::Response &response) {
            nlohmann::json model = {{"id", health.snapshot().model_name}, {"object", "model"}, {"owned_by", "tpudeploy"}};
            nlohmann::json body = {{"object", "list"}, {"data", nlohmann::json::array({model})}};
            response.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                                 "application/json");
        });
        http.Get("/metrics", [this](const httplib::Request &, httplib::Response &response) {
            response.set_content(metrics.render(scheduler.waiting()), "text/plain; version=0.0.4; charset=utf-8");
        });
        http.Get("/", [](const httplib::Request &, httplib::Response &response) {
            response.set_header("Cache-Control", "no-cache");
            response.set_content(chat_page_html, "text/html; charset=utf-8");
        });
        http.Post("/v1/chat/completions",
                  [this](const httplib::Request &request, httplib::Response &response) { chat.handle(request, response); });
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
        scheduler.run(*model, [&](const GenerationResult &result) {
            metrics.count_generation(result);
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
