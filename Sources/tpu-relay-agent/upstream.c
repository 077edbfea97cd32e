/* Where this board's bytes come from: the sources the host named (the boards before it, nearest first), and
 * after them the host itself through standard input. A source that fails (refused, closed early, silent for
 * STALL_SECONDS) is left for the next one, which continues from the bytes this board already has. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent.h"

int parse_source(const char *text, relay_source *source) {
    char host[64];
    unsigned port;
    const char *colon = strrchr(text, ':');
    if (!colon || (size_t)(colon - text) >= sizeof host || strlen(text) >= sizeof source->text) return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = 0;
    if (sscanf(colon + 1, "%u", &port) != 1 || port == 0 || port > 65535) return -1;
    memset(source, 0, sizeof *source);
    source->address.sin_family = AF_INET;
    source->address.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &source->address.sin_addr) != 1) return -1;
    snprintf(source->text, sizeof source->text, "%s", text);
    return 0;
}

void upstream_close(agent *a) {
    if (a->up.fd >= 0) close(a->up.fd);
    a->up.fd = -1;
    a->up.stage = UP_IDLE;
    a->up.line_size = 0;
}

static void lose(agent *a, const char *why) {
    relay_source *s = &a->sources[a->up.source];
    report("@@lost %d %s %llu %s", a->current, s->text, (unsigned long long)a->files[a->current].have, why);
    s->dead = 1;
    upstream_close(a);
}

/* Starts pulling the current file from the first live source, or asks the host for it. */
void upstream_start(agent *a) {
    if (a->up.stage != UP_IDLE || !a->sources_known || a->current >= a->file_count) return;
    relay_file *f = &a->files[a->current];
    if (f->failed) { a->up.stage = UP_STOPPED; return; }
    for (int i = 0; i < a->source_count; i++) {
        relay_source *s = &a->sources[i];
        if (s->dead) continue;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) break;
        if (connect(fd, (struct sockaddr *)&s->address, sizeof s->address) != 0 && errno != EINPROGRESS) {
            report("@@lost %d %s %llu connect: %s", a->current, s->text, (unsigned long long)f->have, strerror(errno));
            s->dead = 1;
            close(fd);
            continue;
        }
        a->up.fd = fd;
        a->up.source = i;
        a->up.stage = UP_CONNECTING;
        a->up.since = now_seconds();
        a->up.line_size = 0;
        return;
    }
    /* No board left to pull from: the host sends the rest. */
    a->up.stage = UP_HOST;
    a->up.source = -1;
    if (!a->need_reported) {
        a->need_reported = 1;
        report("@@need %d %llu", a->current, (unsigned long long)f->have);
    }
}

/* Reads one line into up.line; returns 1 when a whole line is there (leftover bytes after it stay in the
 * buffer, from `*rest` for `*rest_size`), 0 when more is needed, -1 when the connection ended. */
static int read_line(agent *a, char **rest, size_t *rest_size) {
    ssize_t got = read(a->up.fd, a->up.line + a->up.line_size, sizeof a->up.line - 1 - a->up.line_size);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    if (got <= 0) return -1;
    a->up.line_size += (size_t)got;
    a->up.line[a->up.line_size] = 0;
    char *end = memchr(a->up.line, '\n', a->up.line_size);
    if (!end) return a->up.line_size >= sizeof a->up.line - 1 ? -1 : 0;
    *end = 0;
    *rest = end + 1;
    *rest_size = a->up.line_size - (size_t)(end + 1 - a->up.line);
    return 1;
}

/* Bytes of the current file from the source. */
static void received(agent *a, const void *bytes, size_t size) {
    int index = a->current;
    if (files_append(a, index, bytes, size) != 0) {
        upstream_close(a);
        a->up.stage = UP_STOPPED;
    } else if (a->up.stage == UP_DATA && (index != a->current || a->files[index].installed)) {
        /* That file is whole: the source closes this connection; the next file gets its own. */
        upstream_close(a);
    }
}

void upstream_event(agent *a, short revents) {
    relay_file *f = &a->files[a->current];
    if (a->up.stage == UP_CONNECTING) {
        int error = 0;
        socklen_t size = sizeof error;
        getsockopt(a->up.fd, SOL_SOCKET, SO_ERROR, &error, &size);
        if (error != 0) { lose(a, strerror(error)); return; }
        if (!(revents & POLLOUT)) return;
        a->up.stage = UP_BANNER;
        a->up.since = now_seconds();
        return;
    }
    char *rest = NULL;
    size_t rest_size = 0;
    if (a->up.stage == UP_BANNER) {
        int r = read_line(a, &rest, &rest_size);
        if (r < 0) { lose(a, "closed before its banner"); return; }
        if (r == 0) return;
        char nonce[80], mac[65], request[200];
        if (sscanf(a->up.line, "TPUR1 %79s", nonce) != 1 || strlen(nonce) != 64) { lose(a, "not a relay agent"); return; }
        request_mac(a, nonce, a->current, f->have, mac);
        int n = snprintf(request, sizeof request, "GET %d %llu %s\n", a->current, (unsigned long long)f->have, mac);
        if (write(a->up.fd, request, (size_t)n) != n) { lose(a, "cannot send the request"); return; }
        a->up.stage = UP_HEADER;
        a->up.line_size = 0;
        a->up.since = now_seconds();
        return;
    }
    if (a->up.stage == UP_HEADER) {
        int r = read_line(a, &rest, &rest_size);
        if (r < 0) { lose(a, "closed before answering"); return; }
        if (r == 0) return;
        unsigned long long size;
        if (sscanf(a->up.line, "OK %llu", &size) != 1 || size != f->size) {
            char why[200];
            snprintf(why, sizeof why, "answered: %.120s", a->up.line);
            lose(a, why);
            return;
        }
        a->up.stage = UP_DATA;
        a->up.since = now_seconds();
        report("@@source %d %s %llu", a->current, a->sources[a->up.source].text, (unsigned long long)f->have);
        if (rest_size > 0) {
            char leftover[256];
            memcpy(leftover, rest, rest_size);
            received(a, leftover, rest_size);
        }
        return;
    }
    if (a->up.stage == UP_DATA) {
        static uint8_t buffer[1 << 20];
        for (int round = 0; round < 8 && a->up.stage == UP_DATA; round++) {
            int index = a->current;
            uint64_t left = a->files[index].size - a->files[index].have;
            ssize_t got = read(a->up.fd, buffer, left < sizeof buffer ? (size_t)left : sizeof buffer);
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
            if (got <= 0) { lose(a, got == 0 ? "closed the connection" : strerror(errno)); return; }
            a->up.since = now_seconds();
            received(a, buffer, (size_t)got);
        }
    }
}

void upstream_check_deadlines(agent *a, double now) {
    if (a->up.stage == UP_CONNECTING && now - a->up.since > CONNECT_SECONDS) lose(a, "no answer to connect");
    else if ((a->up.stage == UP_BANNER || a->up.stage == UP_HEADER) && now - a->up.since > CONNECT_SECONDS * 2) lose(a, "no answer to the request");
    else if (a->up.stage == UP_DATA && now - a->up.since > STALL_SECONDS) lose(a, "sent nothing for too long");
}

/* "P ADDRESS:PORT ...": whether this board reaches each (a TCP connection within CONNECT_SECONDS). */
void probe_sources(agent *a, char *list) {
    (void)a;
    for (char *save = NULL, *word = strtok_r(list, " ", &save); word; word = strtok_r(NULL, " ", &save)) {
        relay_source s;
        if (parse_source(word, &s) != 0) { report("@@reach %s fail not an address", word); continue; }
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int ok = fd >= 0 && (connect(fd, (struct sockaddr *)&s.address, sizeof s.address) == 0 || errno == EINPROGRESS);
        const char *why = ok ? NULL : strerror(errno);
        if (ok) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            int error = 0;
            socklen_t size = sizeof error;
            if (poll(&p, 1, (int)(CONNECT_SECONDS * 1000)) != 1) { ok = 0; why = "no answer"; }
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0) { ok = 0; why = strerror(error); }
        }
        if (fd >= 0) close(fd);
        if (ok) report("@@reach %s ok", word);
        else report("@@reach %s fail %s", word, why);
    }
}
