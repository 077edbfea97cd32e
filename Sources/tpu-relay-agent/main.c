/* tpu-relay-agent: receives the files of one distribution from its upstream (the host, or a board before it),
 * writes each to DIR/NAME.partial, forwards the bytes to the boards after it as they arrive, and renames a file
 * into place only when its SHA-256 is the one expected. Started by tpudeploy over SSH (relay-agent.sh); the
 * rollout's secret comes on standard input, never on the command line.
 *
 * usage: tpu-relay-agent DIR IDLE_SECONDS PORT [NAME SIZE SHA256 MODE PRESENT]...
 *   PORT 0 takes any free port; PRESENT 1 when the board's manifest already records the file (it is served
 *   from DIR/NAME, not received).
 * Exits 0 when the host closes standard input, 4 after IDLE_SECONDS without any traffic, 2 on bad arguments,
 * 3 when it cannot listen or open its files. Reports to standard output, one @@ line per event. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

void report(const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    vfprintf(stdout, format, arguments);
    va_end(arguments);
    fputc('\n', stdout);
    fflush(stdout);
}

void request_mac(const agent *a, const char *nonce, int file, uint64_t offset, char hex[65]) {
    char message[160];
    uint8_t mac[32];
    int n = snprintf(message, sizeof message, "tpu-relay/1 %s GET %d %llu", nonce, file, (unsigned long long)offset);
    hmac_sha256(a->secret, a->secret_size, message, (size_t)n, mac);
    sha256_hex(mac, hex);
}

static int valid_name(const char *name) {
    return name[0] && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && !strchr(name, '/') && strlen(name) < 200;
}

static int parse_arguments(agent *a, int argc, char **argv, int *port) {
    if (argc < 4 || (argc - 4) % 5 != 0 || (argc - 4) / 5 > MAX_FILES) return -1;
    if (strlen(argv[1]) >= 3000 || argv[1][0] != '/') return -1;
    snprintf(a->directory, sizeof a->directory, "%s", argv[1]);
    a->idle_seconds = atof(argv[2]);
    *port = atoi(argv[3]);
    if (a->idle_seconds <= 0 || *port < 0 || *port > 65535) return -1;
    a->file_count = (argc - 4) / 5;
    for (int i = 0; i < a->file_count; i++) {
        char **f = argv + 4 + 5 * i;
        relay_file *file = &a->files[i];
        char *end;
        if (!valid_name(f[0]) || strlen(f[2]) != 64) return -1;
        snprintf(file->name, sizeof file->name, "%s", f[0]);
        snprintf(file->final_path, sizeof file->final_path, "%.3000s/%.200s", a->directory, f[0]);
        snprintf(file->partial_path, sizeof file->partial_path, "%.3000s/%.200s.partial", a->directory, f[0]);
        file->size = strtoull(f[1], &end, 10);
        if (*end) return -1;
        snprintf(file->sha256, sizeof file->sha256, "%s", f[2]);
        file->mode = (unsigned)strtoul(f[3], &end, 8) & 07777;
        if (*end) return -1;
        file->installed = strcmp(f[4], "1") == 0;
    }
    return 0;
}

static void report_progress(agent *a, double now) {
    if (now - a->last_progress < 0.25) return;
    a->last_progress = now;
    for (int i = 0; i < a->file_count; i++) {
        relay_file *f = &a->files[i];
        if (f->have != f->reported) {
            f->reported = f->have;
            report("@@progress %d %llu", i, (unsigned long long)f->have);
        }
    }
}

int main(int argc, char **argv) {
    static agent a;
    int port = 0;
    signal(SIGPIPE, SIG_IGN);
    a.listen_fd = -1;
    a.up.fd = -1;
    a.up.source = -1;
    for (int i = 0; i < MAX_CLIENTS; i++) a.clients[i].fd = -1;
    if (parse_arguments(&a, argc, argv, &port) != 0) {
        fprintf(stderr, "usage: tpu-relay-agent DIR IDLE_SECONDS PORT [NAME SIZE SHA256 MODE PRESENT]...\n");
        return 2;
    }
    if (downstream_listen(&a, port) != 0) {
        report("@@error cannot listen on port %d: %s", port, strerror(errno));
        return 3;
    }
    if (files_open(&a) != 0) return 3;
    fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
    a.host_open = 1;
    a.last_activity = now_seconds();
    report("@@ready %d %d", a.port, (int)getpid());

    while (a.host_open) {
        struct pollfd fds[3 + MAX_CLIENTS];
        int count = 0, up_slot = -1, client_slot[MAX_CLIENTS];
        fds[count++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        fds[count++] = (struct pollfd){.fd = a.listen_fd, .events = POLLIN};
        if (a.up.fd >= 0) {
            up_slot = count;
            fds[count++] = (struct pollfd){.fd = a.up.fd, .events = a.up.stage == UP_CONNECTING ? POLLOUT : POLLIN};
        }
        for (int i = 0; i < MAX_CLIENTS; i++) {
            client_slot[i] = -1;
            client *c = &a.clients[i];
            if (c->fd < 0) continue;
            client_slot[i] = count;
            fds[count++] = (struct pollfd){.fd = c->fd, .events = POLLIN | (downstream_wants_write(&a, c) ? POLLOUT : 0)};
        }
        if (poll(fds, (nfds_t)count, 100) < 0 && errno != EINTR) { report("@@error poll: %s", strerror(errno)); return 3; }
        if (fds[0].revents) host_readable(&a);
        if (fds[1].revents & POLLIN) downstream_accept(&a);
        if (up_slot >= 0 && fds[up_slot].revents) upstream_event(&a, fds[up_slot].revents);
        for (int i = 0; i < MAX_CLIENTS; i++) {
            client *c = &a.clients[i];
            if (client_slot[i] < 0 || c->fd < 0) continue;
            short r = fds[client_slot[i]].revents;
            if (r & (POLLIN | POLLHUP | POLLERR)) downstream_readable(&a, c);
            if (c->fd >= 0 && (r & POLLOUT)) downstream_writable(&a, c);
        }
        /* Bytes that arrived since the poll may be sendable now. */
        for (int i = 0; i < MAX_CLIENTS; i++) {
            client *c = &a.clients[i];
            if (c->fd >= 0 && c->streaming && downstream_wants_write(&a, c)) downstream_writable(&a, c);
        }
        double now = now_seconds();
        upstream_check_deadlines(&a, now);
        downstream_check_deadlines(&a, now);
        upstream_start(&a);
        report_progress(&a, now);
        if (now - a.last_activity > a.idle_seconds) {
            report("@@exit idle %llu", (unsigned long long)a.served_bytes);
            return 4;
        }
    }
    report_progress(&a, now_seconds() + 1);
    report("@@exit host_closed %llu", (unsigned long long)a.served_bytes);
    return 0;
}
