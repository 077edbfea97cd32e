/* The host's channel: the agent's standard input, fed by tpudeploy over the board's SSH session. Lines:
 *   K SECRET                       the rollout's secret (first; never on the command line)
 *   S [ADDRESS:PORT ...]           where to pull from, nearest first; empty: from the host
 *   P [ADDRESS:PORT ...]           check which of these this board reaches (@@reach lines)
 *   F INDEX OFFSET LENGTH          followed by LENGTH bytes of file INDEX from OFFSET (after @@need)
 * Its end means the distribution is over: the agent exits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

static void host_line(agent *a, char *line) {
    if (line[0] == 'K' && line[1] == ' ') {
        size_t size = strlen(line + 2);
        if (size == 0 || size >= sizeof a->secret) { report("@@error the secret must be 1 to 255 bytes"); return; }
        memcpy(a->secret, line + 2, size);
        a->secret_size = size;
        return;
    }
    if (line[0] == 'S' && (line[1] == ' ' || line[1] == 0)) {
        a->source_count = 0;
        char *save = NULL;
        for (char *word = strtok_r(line + 1, " ", &save); word && a->source_count < MAX_SOURCES; word = strtok_r(NULL, " ", &save)) {
            if (parse_source(word, &a->sources[a->source_count]) == 0) a->source_count++;
            else report("@@error not a source address: %.80s", word);
        }
        a->sources_known = 1;
        return;
    }
    if (line[0] == 'P' && (line[1] == ' ' || line[1] == 0)) {
        probe_sources(a, line + 1);
        report("@@probed");
        return;
    }
    int index;
    unsigned long long offset, length;
    if (sscanf(line, "F %d %llu %llu", &index, &offset, &length) == 3) {
        a->frame_left = length;
        a->frame_file = index;
        a->frame_offset = offset;
        return;
    }
    report("@@error unknown request from the host: %.80s", line);
}

/* Bytes of a frame: kept when they continue the file the agent asked the host for, else dropped. */
static void host_data(agent *a, const char *bytes, size_t size) {
    int index = a->frame_file;
    if (a->up.stage == UP_HOST && index == a->current && index >= 0 && index < a->file_count
        && a->frame_offset == a->files[index].have) {
        if (files_append(a, index, bytes, size) != 0) a->up.stage = UP_STOPPED;
        else if (index != a->current || a->files[index].installed) a->up.stage = UP_IDLE;
    }
    a->frame_offset += size;
    a->frame_left -= size;
}

void host_readable(agent *a) {
    static char buffer[1 << 20];
    ssize_t got = read(STDIN_FILENO, buffer, sizeof buffer);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (got <= 0) { a->host_open = 0; return; }
    a->last_activity = now_seconds();
    size_t at = 0, size = (size_t)got;
    while (at < size) {
        if (a->frame_left > 0) {
            size_t take = size - at < a->frame_left ? size - at : (size_t)a->frame_left;
            host_data(a, buffer + at, take);
            at += take;
            continue;
        }
        char *end = memchr(buffer + at, '\n', size - at);
        size_t take = end ? (size_t)(end - (buffer + at)) : size - at;
        if (a->host_line_size + take >= sizeof a->host_line) { report("@@error a line from the host is too long"); a->host_open = 0; return; }
        memcpy(a->host_line + a->host_line_size, buffer + at, take);
        a->host_line_size += take;
        at += take;
        if (!end) break;
        at++;
        a->host_line[a->host_line_size] = 0;
        a->host_line_size = 0;
        host_line(a, a->host_line);
    }
}
