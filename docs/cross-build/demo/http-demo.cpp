// header-only cpp-httplib (full header from the Debian source package) + nlohmann-json (bullseye)
#include "httplib.h"
#include <nlohmann/json.hpp>
#include <iostream>
#include <thread>
int main() {
  httplib::Server svr;
  svr.Get("/v1/ping", [](const httplib::Request&, httplib::Response& res) {
    nlohmann::json j = {{"ok", true}, {"engine", "tpu-llm-engine"}, {"tokens", {1, 2, 3}}};
    res.set_content(j.dump(), "application/json");
  });
  int port = svr.bind_to_any_port("127.0.0.1");
  std::thread t([&] { svr.listen_after_bind(); });
  httplib::Client cli("127.0.0.1", port);
  auto r = cli.Get("/v1/ping");
  svr.stop(); t.join();
  if (!r || r->status != 200) { std::cerr << "http failed\n"; return 1; }
  auto j = nlohmann::json::parse(r->body);
  std::cout << "http: GET /v1/ping -> " << r->status << " " << j.dump() << " tokens[2]=" << j["tokens"][2] << "\n";
  return j["ok"] == true ? 0 : 1;
}
