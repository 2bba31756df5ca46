/*
 * The `log` handler: every event becomes one line of JSON (the §11 JSON
 * shape of eventrouter-protocol(7), the same as `eventctl query` prints)
 * appended to a file, or written to standard output. Each line goes out
 * with a single write(2) on an O_APPEND descriptor, so lines from several
 * writers never interleave and a line is either in the file or the event
 * is retried; the delivery completes OK only once its line is written.
 *
 * Option `path`: an absolute file name (created 0640 if missing), default
 * standard output. SIGUSR1 (reopen) opens the path anew, so a log rotated
 * by renaming continues in a fresh file.
 *
 * Loop thread only (not a blocking handler: a write to a local file or to
 * the daemon's stdout is short). Only er_plugin_entry is exported.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <eventrouter.h>
#include <eventrouter/plugin.h>

#include "build-config.h" /* PACKAGE_VERSION */

#define OPEN_FLAGS (O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC)
#define FILE_MODE  0640
/* One error line per this interval; the others are counted. */
#define ERROR_INTERVAL_MS 10000

typedef struct log_s {
    const er_host_t *host;
    er_plugin_ctx_t *ctx;
    char *path; /* NULL: standard output */
    int fd;     /* -1 until start() */
    uint64_t lines, bytes, errors;
    uint64_t last_error_ms; /* when an error was last logged (0: never) */
    uint64_t suppressed;    /* errors not logged since */
} log_t;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000 + 1;
}

static const char *target(const log_t *l)
{
    return l->path ? l->path : "standard output";
}

/* A write error, logged at most once per ERROR_INTERVAL_MS: a full disk
 * fails every event, and one line says so as well as a thousand. */
static void write_error(log_t *l, const char *what, int err, size_t done, size_t want)
{
    uint64_t now = mono_ms();
    char more[96] = "";

    l->errors++;
    if (l->last_error_ms != 0 && now - l->last_error_ms < ERROR_INTERVAL_MS) {
        l->suppressed++;
        return;
    }
    if (l->suppressed > 0)
        snprintf(more, sizeof(more), " (%llu similar errors not logged)",
                 (unsigned long long)l->suppressed);
    if (err != 0)
        l->host->log(l->ctx, ER_PLOG_ERROR, "%s %s: %s; the event will be retried%s", what,
                     target(l), strerror(err), more);
    else
        l->host->log(l->ctx, ER_PLOG_ERROR,
                     "%s %s: %zu of %zu bytes written; the event will be retried%s", what,
                     target(l), done, want, more);
    l->suppressed = 0;
    l->last_error_ms = now;
}

/* create() does no I/O beyond looking: can this process write the path
 * (or create it in its directory)? Returns 0 or a negative errno. */
static int check_writable(const char *path)
{
    char dir[PATH_MAX];
    const char *slash;
    struct stat st;
    size_t len;

    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return -EISDIR;
        return faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0 ? 0 : -errno;
    }
    if (errno != ENOENT)
        return -errno;
    slash = strrchr(path, '/'); /* path is absolute: there is one */
    len = slash == path ? 1 : (size_t)(slash - path);
    if (len >= sizeof(dir))
        return -ENAMETOOLONG;
    memcpy(dir, path, len);
    dir[len] = '\0';
    if (stat(dir, &st) != 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    return faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0 ? 0 : -errno;
}

/* ------------------------------------------------------------ lifecycle */

static int log_create(const er_host_t *host, er_plugin_ctx_t *ctx, const er_options_t *opts,
                      void **instance)
{
    const char *path = NULL;
    log_t *l;
    int rc;

    rc = host->opt_string(opts, "path", &path);
    if (rc != 0 && rc != -ENODATA) {
        host->log(ctx, ER_PLOG_ERROR, "option path: %s", er_strerror(rc));
        return rc;
    }
    if (path != NULL && path[0] != '/') {
        host->log(ctx, ER_PLOG_ERROR, "path \"%s\" is relative: give an absolute path", path);
        return -EINVAL;
    }
    if (path != NULL && (rc = check_writable(path)) != 0) {
        host->log(ctx, ER_PLOG_ERROR, "cannot write %s: %s", path, strerror(-rc));
        return rc;
    }
    if ((l = host->alloc(sizeof(*l))) == NULL)
        return -ENOMEM;
    memset(l, 0, sizeof(*l));
    l->host = host;
    l->ctx = ctx;
    l->fd = -1;
    if (path != NULL && (l->path = strdup(path)) == NULL) {
        host->free(l);
        return -ENOMEM;
    }
    *instance = l;
    return 0;
}

static int log_start(void *instance)
{
    log_t *l = instance;

    if (l->path == NULL) {
        l->fd = STDOUT_FILENO;
        return 0;
    }
    if ((l->fd = open(l->path, OPEN_FLAGS, FILE_MODE)) < 0) {
        int err = errno;
        l->host->log(l->ctx, ER_PLOG_ERROR, "cannot open %s: %s", l->path, strerror(err));
        return -err;
    }
    return 0;
}

static void log_stop(void *instance, er_done_cb done, void *done_arg)
{
    log_t *l = instance;

    /* Nothing pending: every write finished inside handle(). */
    if (l->path != NULL && l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    done(done_arg);
}

static void log_destroy(void *instance)
{
    log_t *l = instance;

    free(l->path);
    l->host->free(l);
}

/* -------------------------------------------------------------- events */

static int log_handle(void *instance, er_ev_t *ev, er_token_t *token)
{
    log_t *l = instance;
    er_event_t view;
    char *line, *grown;
    size_t n;
    ssize_t w;
    int rc;

    if (l->fd < 0)
        return ER_RETRY;
    if ((rc = l->host->event_get(ev, &view, sizeof(view))) != 0)
        return rc;
    if ((line = er_event_to_json(&view)) == NULL) {
        write_error(l, "out of memory writing to", ENOMEM, 0, 0);
        return ER_RETRY;
    }
    n = strlen(line);
    if ((grown = realloc(line, n + 2)) == NULL) {
        free(line);
        write_error(l, "out of memory writing to", ENOMEM, 0, 0);
        return ER_RETRY;
    }
    line = grown;
    line[n++] = '\n';
    line[n] = '\0';

    /* One write(2): with O_APPEND the line lands whole at the end. */
    do
        w = write(l->fd, line, n);
    while (w < 0 && errno == EINTR);
    if (w == (ssize_t)n) {
        l->lines++;
        l->bytes += n;
        free(line);
        return ER_OK;
    }
    if (w < 0) {
        write_error(l, "cannot write to", errno, 0, n);
    } else {
        /* A partial line (disk full): end it, so the lines after it still
         * parse one per line; the event is written again whole. */
        if (write(l->fd, "\n", 1) < 0) {
            /* nothing more to do: the retry logs again */
        }
        write_error(l, "short write to", 0, (size_t)w, n);
    }
    free(line);
    return ER_RETRY;
}

/* ------------------------------------------------------------- extras */

static void log_stats(void *instance, void (*emit)(void *arg, const char *name, int64_t value),
                      void *arg)
{
    log_t *l = instance;

    emit(arg, "lines", (int64_t)l->lines);
    emit(arg, "bytes", (int64_t)l->bytes);
    emit(arg, "errors", (int64_t)l->errors);
}

static int log_reopen(void *instance)
{
    log_t *l = instance;
    int fd, old;

    if (l->path == NULL)
        return 0; /* standard output is the daemon's to manage */
    if ((fd = open(l->path, OPEN_FLAGS, FILE_MODE)) < 0) {
        int err = errno;
        l->host->log(l->ctx, ER_PLOG_ERROR, "cannot reopen %s: %s; still writing to the old file",
                     l->path, strerror(err));
        return -err;
    }
    old = l->fd;
    l->fd = fd;
    if (old >= 0)
        close(old);
    l->host->log(l->ctx, ER_PLOG_INFO, "reopened %s", l->path);
    return 0;
}

/* ---------------------------------------------------------- descriptor */

static const er_option_t log_options[] = {
    {
        .key = "path",
        .type = ER_OPTION_PATH,
        .description = "file the JSON lines are appended to: an absolute path, created with "
                       "mode 0640 if missing (default: standard output)",
    },
    {.key = NULL},
};

static const er_handler_ops_t log_ops = {
    .size = sizeof(er_handler_ops_t),
    .create = log_create,
    .start = log_start,
    .stop = log_stop,
    .destroy = log_destroy,
    .handle = log_handle,
    .stats = log_stats,
    .reopen = log_reopen,
};

ER_PLUGIN_DEFINE = {
    ER_PLUGIN_HEADER,
    .kind = ER_PLUGIN_HANDLER,
    .name = "log",
    .version = PACKAGE_VERSION,
    .description = "write each event as one JSON line to a file or standard output",
    .options = log_options,
    .ops = &log_ops,
};
