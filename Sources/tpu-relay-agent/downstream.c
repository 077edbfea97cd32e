#define _GNU_SOURCE
/* Serving this board's files to the boards after it. A connection gets a banner with a fresh nonce and must
 * answer with a request whose HMAC-SHA-256 under the rollout's secret covers that nonce: the secret itself never
 * crosses the network, and a request cannot be replayed. It may ask for one of this distribution's files by
 * index from an offset, nothing else; it gets the bytes this board has, and more as they arrive. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"

int downstream_listen(agent *a, int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, 64) != 0) { close(fd); return -1; }
    socklen_t size = sizeof address;
    getsockname(fd, (struct sockaddr *)&address, &size);
    a->listen_fd = fd;
    a->port = ntohs(address.sin_port);
    return 0;
}

static void close_client(client *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
}

static int random_hex(char hex[65]) {
    uint8_t bytes[32];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t got = read(fd, bytes, sizeof bytes);
    close(fd);
    if (got != (ssize_t)sizeof bytes) return -1;
    sha256_hex(bytes, hex); /* formats 32 bytes as hex */
    return 0;
}

void downstream_accept(agent *a) {
    for (;;) {
        struct sockaddr_in peer;
        socklen_t size = sizeof peer;
        int fd = accept4(a->listen_fd, (struct sockaddr *)&peer, &size, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        client *c = NULL;
        for (int i = 0; i < MAX_CLIENTS; i++) if (a->clients[i].fd < 0) { c = &a->clients[i]; break; }
        if (!c) { close(fd); continue; }
        memset(c, 0, sizeof *c);
        c->fd = fd;
        c->since = now_seconds();
        inet_ntop(AF_INET, &peer.sin_addr, c->peer, sizeof c->peer);
        if (random_hex(c->nonce) != 0) { close_client(c); continue; }
        memcpy(c->out, "TPUR1 ", 6);
        memcpy(c->out + 6, c->nonce, 64);
        c->out[70] = '\n';
        c->out_size = 71;
        downstream_writable(a, c);
    }
}

static void refuse(client *c, const char *why) {
    char text[96];
    int n = snprintf(text, sizeof text, "ERR %s\n", why);
    if (write(c->fd, text, (size_t)n) < 0) { /* the peer is being dropped anyway */ }
    close_client(c);
}

static int equal_in_constant_time(const char *x, const char *y, size_t size) {
    unsigned char difference = 0;
    for (size_t i = 0; i < size; i++) difference |= (unsigned char)(x[i] ^ y[i]);
    return difference == 0;
}

/* "GET INDEX OFFSET MAC" */
static void handle_request(agent *a, client *c) {
    int file;
    unsigned long long offset;
    char mac[80], expected[65];
    if (sscanf(c->line, "GET %d %llu %79s", &file, &offset, mac) != 3 || strlen(mac) != 64) {
        report("@@refused %s malformed request", c->peer);
        refuse(c, "malformed request");
        return;
    }
    request_mac(a, c->nonce, file, offset, expected);
    if (a->secret_size == 0 || !equal_in_constant_time(mac, expected, 64)) {
        report("@@refused %s wrong secret", c->peer);
        refuse(c, "refused");
        return;
    }
    if (file < 0 || file >= a->file_count || offset > a->files[file].size) {
        refuse(c, "no such file or offset");
        return;
    }
    c->file = file;
    c->position = offset;
    c->streaming = 1;
    c->since = now_seconds();
    c->out_size = (size_t)snprintf(c->out, sizeof c->out, "OK %llu\n", (unsigned long long)a->files[file].size);
    c->out_sent = 0;
    report("@@serving %s %d %llu", c->peer, file, offset);
    downstream_writable(a, c);
}

void downstream_readable(agent *a, client *c) {
    if (c->streaming) {
        /* Nothing more is expected from a downstream once it streams; its end closes the connection. */
        char sink[256];
        ssize_t got = read(c->fd, sink, sizeof sink);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) close_client(c);
        return;
    }
    ssize_t got = read(c->fd, c->line + c->line_size, sizeof c->line - 1 - c->line_size);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) { close_client(c); return; }
    if (got < 0) return;
    c->line_size += (size_t)got;
    c->line[c->line_size] = 0;
    char *end = strchr(c->line, '\n');
    if (!end) {
        if (c->line_size >= sizeof c->line - 1) { report("@@refused %s malformed request", c->peer); refuse(c, "malformed request"); }
        return;
    }
    *end = 0;
    handle_request(a, c);
}

int downstream_wants_write(const agent *a, const client *c) {
    if (c->out_sent < c->out_size) return 1;
    if (!c->streaming) return 0;
    const relay_file *f = &a->files[c->file];
    return c->position < f->have && f->fd >= 0;
}

void downstream_writable(agent *a, client *c) {
    while (c->out_sent < c->out_size) {
        ssize_t wrote = write(c->fd, c->out + c->out_sent, c->out_size - c->out_sent);
        if (wrote < 0 && errno == EINTR) continue;
        if (wrote < 0 && errno == EAGAIN) return;
        if (wrote <= 0) { close_client(c); return; }
        c->out_sent += (size_t)wrote;
    }
    if (!c->streaming) return;
    relay_file *f = &a->files[c->file];
    while (c->position < f->have) {
        off_t offset = (off_t)c->position;
        uint64_t left = f->have - c->position;
        ssize_t sent = sendfile(c->fd, f->fd, &offset, left > (4u << 20) ? (4u << 20) : (size_t)left);
        if (sent < 0 && errno == EINTR) continue;
        if (sent < 0 && errno == EAGAIN) return;
        if (sent <= 0) { close_client(c); return; }
        c->position += (uint64_t)sent;
        a->served_bytes += (uint64_t)sent;
        a->last_activity = now_seconds();
        c->since = a->last_activity;
    }
    if (c->position == f->size && f->installed) close_client(c);
}

void downstream_check_deadlines(agent *a, double now) {
    for (int i = 0; i < MAX_CLIENTS; i++) {
        client *c = &a->clients[i];
        if (c->fd >= 0 && !c->streaming && now - c->since > REQUEST_SECONDS) close_client(c);
    }
}
