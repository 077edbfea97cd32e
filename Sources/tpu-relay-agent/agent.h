/* The relay agent's state: the files of one distribution, where their bytes come from (upstream), who they go
 * to (downstream), and the host's channel (standard input and output, over the host's SSH session). */
#ifndef RELAY_AGENT_H
#define RELAY_AGENT_H

#include <netinet/in.h>
#include <stdint.h>

#include "sha256.h"

#define MAX_FILES 64
#define MAX_SOURCES 16
#define MAX_CLIENTS 32
/* A kept temporary file is resumed from its size rounded down to this (the tail may be torn), as push does. */
#define RESUME_GRANULE (1u << 20)
/* A source that sends nothing for this long is left for the next one (a relay that lost its own upstream
 * reconnects within a few seconds; one that hangs longer is as good as dead). */
#define STALL_SECONDS 15.0
#define CONNECT_SECONDS 3.0
/* A downstream connection must ask within this long after the banner. */
#define REQUEST_SECONDS 10.0

typedef struct {
    char name[256];
    char final_path[4096];
    char partial_path[4096];
    uint64_t size;
    char sha256[65];
    unsigned mode;
    int fd;              /* the file's bytes: the temporary file while it arrives, the same inode once renamed */
    uint64_t have;       /* bytes on disk from the first, in order, all of them in `hash` */
    sha256_ctx hash;
    int installed;
    int failed;
    int attempts;        /* whole receptions begun again after a hash mismatch */
    uint64_t reported;   /* `have` at the last progress line */
} relay_file;

typedef struct {
    char text[64];       /* ADDRESS:PORT as the host gave it */
    struct sockaddr_in address;
    int dead;
} relay_source;

typedef enum { UP_IDLE, UP_CONNECTING, UP_BANNER, UP_HEADER, UP_DATA, UP_HOST, UP_STOPPED } up_stage;

typedef struct {
    up_stage stage;
    int fd;
    int source;          /* index in sources */
    char line[256];
    size_t line_size;
    double since;        /* when the stage began or bytes last came */
} upstream;

typedef struct {
    int fd;              /* -1: a free slot */
    int streaming;       /* 0: waiting for the request after the banner */
    char nonce[65];
    char line[256];
    size_t line_size;
    char out[160];
    size_t out_size, out_sent;
    int file;
    uint64_t position;
    double since;
    char peer[64];
} client;

typedef struct {
    char directory[4096];
    relay_file files[MAX_FILES];
    int file_count;
    int current;         /* the file being received; file_count once all are in place */
    relay_source sources[MAX_SOURCES];
    int source_count;
    int sources_known;   /* the host has said where to pull from (an empty list: from the host itself) */
    char secret[256];
    size_t secret_size;
    int listen_fd;
    int port;
    client clients[MAX_CLIENTS];
    upstream up;
    /* the host's channel: a line, or the rest of a data frame */
    char host_line[8192];
    size_t host_line_size;
    uint64_t frame_left;
    int frame_file;
    uint64_t frame_offset;
    int host_open;
    int need_reported;   /* @@need printed for this file and offset */
    double last_activity;
    double idle_seconds;
    double last_progress;
    uint64_t served_bytes;
    int done_reported;
} agent;

double now_seconds(void);
/* One line to the host (standard output), flushed. */
void report(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* files.c */
int files_open(agent *a);
/* Appends bytes that continue file `index` at its `have`; installs it once complete. 0, or -1 when the file failed. */
int files_append(agent *a, int index, const void *bytes, size_t size);
void files_advance(agent *a);

/* downstream.c */
int downstream_listen(agent *a, int port);
void downstream_accept(agent *a);
void downstream_readable(agent *a, client *c);
void downstream_writable(agent *a, client *c);
int downstream_wants_write(const agent *a, const client *c);
void downstream_check_deadlines(agent *a, double now);

/* upstream.c */
void upstream_start(agent *a);
void upstream_event(agent *a, short revents);
void upstream_check_deadlines(agent *a, double now);
void upstream_close(agent *a);
int parse_source(const char *text, relay_source *source);
void probe_sources(agent *a, char *list);

/* host_channel.c */
void host_readable(agent *a);

/* The message a MAC covers: what the server offered and what the client asks for. */
void request_mac(const agent *a, const char *nonce, int file, uint64_t offset, char hex[65]);

#endif
