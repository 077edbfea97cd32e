#include "client_connection.h"

#include <cerrno>
#include <cstdlib>

#include <dirent.h>
#include <netdb.h>
#include <sys/socket.h>

#include <httplib.h>

namespace tpu::server {
namespace {

struct Endpoint {
    std::string address;
    int port = -1;
};

/* The numeric address and port of one side of a socket, as cpp-httplib writes them into the request. */
bool endpoint(int socket, bool peer, Endpoint &out) {
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    int status = peer ? getpeername(socket, reinterpret_cast<sockaddr *>(&address), &length)
                      : getsockname(socket, reinterpret_cast<sockaddr *>(&address), &length);
    if (status != 0) return false;
    char host[NI_MAXHOST], service[NI_MAXSERV];
    if (getnameinfo(reinterpret_cast<sockaddr *>(&address), length, host, sizeof(host), service, sizeof(service),
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
        return false;
    out.address = host;
    out.port = std::atoi(service);
    return true;
}

int find_socket(const httplib::Request &request) {
    DIR *descriptors = opendir("/proc/self/fd");
    if (!descriptors) return -1;
    int found = -1;
    while (dirent *entry = readdir(descriptors)) {
        if (entry->d_name[0] < '0' || entry->d_name[0] > '9') continue;
        int socket = std::atoi(entry->d_name);
        Endpoint remote, local;
        if (!endpoint(socket, true, remote) || remote.port != request.remote_port ||
            remote.address != request.remote_addr)
            continue;
        if (!endpoint(socket, false, local) || local.port != request.local_port) continue;
        found = socket;
        break;
    }
    closedir(descriptors);
    return found;
}

}  // namespace

ClientConnection::ClientConnection(const httplib::Request &request) : socket_(find_socket(request)) {}

bool ClientConnection::closed() const {
    if (socket_ < 0) return false;
    char byte;
    ssize_t received = recv(socket_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (received == 0) return true; /* orderly shutdown by the client */
    if (received > 0) return false; /* the client sent more (a pipelined request): still there */
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

}  // namespace tpu::server
