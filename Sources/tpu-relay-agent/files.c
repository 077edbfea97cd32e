/* The files of a distribution on this board: each arrives in DIR/NAME.partial (the temporary name push uses, so
 * either can resume what the other kept), is hashed as it arrives, and is renamed to DIR/NAME only when its
 * SHA-256 is the expected one. Nothing half-written is ever visible under the final name. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

/* Hashes the first `size` bytes already in the file (a kept prefix being resumed). */
static int hash_prefix(relay_file *f, uint64_t size) {
    static uint8_t buffer[1 << 20];
    uint64_t done = 0;
    while (done < size) {
        size_t want = size - done < sizeof buffer ? (size_t)(size - done) : sizeof buffer;
        ssize_t got = pread(f->fd, buffer, want, (off_t)done);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return -1;
        sha256_update(&f->hash, buffer, (size_t)got);
        done += (uint64_t)got;
    }
    return 0;
}

static void fail(relay_file *f, int index, const char *code, const char *what) {
    f->failed = 1;
    report("@@failed %d %s %s %s: %s", index, code, what, f->partial_path, strerror(errno));
}

int files_open(agent *a) {
    for (int i = 0; i < a->file_count; i++) {
        relay_file *f = &a->files[i];
        sha256_init(&f->hash);
        f->fd = -1;
        if (f->installed) {
            /* The host's record says the board holds it; believed only at the recorded size. */
            struct stat st;
            f->fd = open(f->final_path, O_RDONLY | O_CLOEXEC);
            if (f->fd >= 0 && fstat(f->fd, &st) == 0 && (uint64_t)st.st_size == f->size) {
                f->have = f->size;
                f->reported = f->size;
                continue;
            }
            if (f->fd >= 0) close(f->fd);
            f->fd = -1;
            f->installed = 0;
        }
        f->fd = open(f->partial_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (f->fd < 0) { fail(f, i, "write_failed", "cannot open"); return -1; }
        struct stat st;
        if (fstat(f->fd, &st) != 0) { fail(f, i, "write_failed", "cannot stat"); return -1; }
        uint64_t kept = (uint64_t)st.st_size < f->size ? (uint64_t)st.st_size : f->size;
        kept -= kept % RESUME_GRANULE;
        if (ftruncate(f->fd, (off_t)kept) != 0 || hash_prefix(f, kept) != 0) { fail(f, i, "write_failed", "cannot resume"); return -1; }
        f->have = kept;
        f->reported = kept;
        if (kept > 0) report("@@kept %d %llu", i, (unsigned long long)kept);
    }
    a->current = 0;
    files_advance(a);
    return 0;
}

/* Checks the complete file's hash; renames it into place when it matches. */
static int install(agent *a, int index) {
    relay_file *f = &a->files[index];
    sha256_ctx copy = f->hash;
    uint8_t digest[32];
    char hex[65];
    sha256_final(&copy, digest);
    sha256_hex(digest, hex);
    if (strcmp(hex, f->sha256) != 0) {
        report("@@mismatch %d %s", index, hex);
        if (f->attempts > 0) {
            f->failed = 1;
            report("@@failed %d hash_mismatch the file's sha256 is %s twice, not %s", index, hex, f->sha256);
            return -1;
        }
        /* Once more from the first byte: a source that sent wrong bytes is not trusted for this file again. */
        f->attempts++;
        if (ftruncate(f->fd, 0) != 0) { fail(f, index, "write_failed", "cannot truncate"); return -1; }
        f->have = 0;
        f->reported = 0;
        sha256_init(&f->hash);
        a->need_reported = 0;
        if (a->up.stage != UP_HOST && a->up.source >= 0 && a->up.source < a->source_count) a->sources[a->up.source].dead = 1;
        upstream_close(a);
        return 0;
    }
    if (fchmod(f->fd, f->mode) != 0 || fsync(f->fd) != 0) { fail(f, index, "write_failed", "cannot flush"); return -1; }
    if (rename(f->partial_path, f->final_path) != 0) { fail(f, index, "write_failed", "cannot rename"); return -1; }
    int dir = open(a->directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) { fsync(dir); close(dir); }
    f->installed = 1;
    report("@@progress %d %llu", index, (unsigned long long)f->have);
    f->reported = f->have;
    report("@@installed %d", index);
    return 0;
}

int files_append(agent *a, int index, const void *bytes, size_t size) {
    relay_file *f = &a->files[index];
    if (f->failed || f->installed) return -1;
    if (size > f->size - f->have) size = (size_t)(f->size - f->have);
    const uint8_t *p = bytes;
    size_t done = 0;
    while (done < size) {
        ssize_t wrote = pwrite(f->fd, p + done, size - done, (off_t)(f->have + done));
        if (wrote < 0 && errno == EINTR) continue;
        if (wrote <= 0) {
            fail(f, index, errno == ENOSPC ? "no_space" : "write_failed", "cannot write");
            return -1;
        }
        done += (size_t)wrote;
    }
    sha256_update(&f->hash, bytes, size);
    f->have += size;
    a->last_activity = now_seconds();
    if (f->have == f->size) {
        if (install(a, index) != 0) return -1;
        files_advance(a);
    }
    return 0;
}

/* Moves `current` past the files in place; says so once all are. */
void files_advance(agent *a) {
    while (a->current < a->file_count && a->files[a->current].installed) a->current++;
    a->need_reported = 0;
    if (a->current < a->file_count && a->files[a->current].have == a->files[a->current].size && !a->files[a->current].failed) {
        /* A kept temporary file that is already whole: check it now. */
        int index = a->current;
        if (install(a, index) == 0 && a->files[index].installed) { files_advance(a); return; }
    }
    if (a->current == a->file_count && !a->done_reported) {
        a->done_reported = 1;
        report("@@done");
    }
}
