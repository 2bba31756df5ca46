/*
 * A blocking handler plugin (ER_PLUGIN_BLOCKING) for the daemon's tests:
 * handle() runs on the destination's own worker threads and returns a
 * final status. BlockSleep sleeps the number of milliseconds its data
 * holds (decimal text), BlockFail → ER_FAIL, anything else → ER_OK. Each
 * answered event is appended to the file `record` names as "SEQ TYPE TID"
 * (one write(2), O_APPEND), and logged through the host's log (allowed off
 * the loop), so tests see which thread ran what and when.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <eventrouter/plugin.h>

typedef struct instance_s {
    const er_host_t *host;
    er_plugin_ctx_t *ctx;
    int fd; /* record, or -1 */
} instance_t;

static const er_option_t options[] = {
    {.key = "record", .type = ER_OPTION_PATH, .description = "a file of answered events"},
    {.key = NULL},
};

static int create(const er_host_t *host, er_plugin_ctx_t *ctx, const er_options_t *opts, void **out)
{
    instance_t *in;
    const char *path = NULL;

    if ((in = host->alloc(sizeof(*in))) == NULL)
        return -ENOMEM;
    in->host = host;
    in->ctx = ctx;
    in->fd = -1;
    if (host->opt_string(opts, "record", &path) == 0 && path != NULL &&
        (in->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0) {
        int e = -errno;
        host->free(in);
        return e;
    }
    *out = in;
    return 0;
}

static int start(void *instance)
{
    instance_t *in = instance;

    in->host->set_health(in->ctx, ER_HEALTH_UP, NULL);
    return 0;
}

static void stop(void *instance, er_done_cb done, void *done_arg)
{
    (void)instance;
    done(done_arg);
}

static void destroy(void *instance)
{
    instance_t *in = instance;

    if (in->fd >= 0)
        close(in->fd);
    in->host->free(in);
}

static bool type_is(const er_event_t *e, const char *t)
{
    return e->type.len == strlen(t) && memcmp(e->type.ptr, t, e->type.len) == 0;
}

static int handle(void *instance, er_ev_t *ev, er_token_t *token)
{
    instance_t *in = instance;
    er_event_t e;
    char line[256];
    int n, status = ER_OK;
    long tid = (long)syscall(SYS_gettid);

    (void)token; /* a blocking handler answers by its return value */
    if (in->host->event_get(ev, &e, sizeof(e)) != 0)
        return ER_FAIL;
    if (type_is(&e, "BlockSleep")) {
        char ms[32] = "";
        struct timespec ts;
        long v;
        snprintf(ms, sizeof(ms), "%.*s", (int)(e.data.len < 31 ? e.data.len : 31),
                 e.data.ptr ? (const char *)e.data.ptr : "");
        v = strtol(ms, NULL, 10);
        in->host->log(in->ctx, ER_PLOG_INFO, "seq %llu: sleeping %ld ms on thread %ld",
                      (unsigned long long)e.seq, v, tid);
        ts.tv_sec = v / 1000;
        ts.tv_nsec = (v % 1000) * 1000000L;
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    } else if (type_is(&e, "BlockFail")) {
        status = ER_FAIL;
    }
    in->host->log(in->ctx, ER_PLOG_DEBUG, "seq %llu answered %d on thread %ld",
                  (unsigned long long)e.seq, status, tid);
    if (in->fd >= 0) {
        n = snprintf(line, sizeof(line), "%llu %.*s %ld\n", (unsigned long long)e.seq,
                     (int)e.type.len, e.type.ptr, tid);
        if (write(in->fd, line, (size_t)n) != n)
            return ER_RETRY;
    }
    return status;
}

static const er_handler_ops_t ops = {
    .size = sizeof(er_handler_ops_t),
    .create = create,
    .start = start,
    .stop = stop,
    .destroy = destroy,
    .handle = handle,
};

ER_PLUGIN_DEFINE = {
    ER_PLUGIN_HEADER,
    .kind = ER_PLUGIN_HANDLER,
    .name = "test_blocking",
    .version = "1",
    .description = "a blocking handler for tests (sleeps, fails, records)",
    .options = options,
    .ops = &ops,
    .flags = ER_PLUGIN_BLOCKING,
};
