/*
 * Whether the client of a request is still there. cpp-httplib 0.11 does not hand a handler its socket, so the
 * connection is found among the process's descriptors by its two addresses (the request's remote and local
 * address and port, unique while the handler runs), and a closed peer shows as end-of-file on a non-blocking peek.
 */
#pragma once

#include <string>

namespace httplib {
struct Request;
}

namespace tpu::server {

class ClientConnection {
  public:
    /* The request's connection; when it cannot be found, closed() always says false. */
    explicit ClientConnection(const httplib::Request &request);

    /* True once the client has closed or reset the connection. */
    bool closed() const;
    bool found() const { return socket_ >= 0; }

  private:
    int socket_ = -1;
};

}  // namespace tpu::server
