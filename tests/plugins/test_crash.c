/*
 * A handler that crashes the daemon on one kind of event, for the poison
 * event tests: an event of type Poison makes handle() raise SIGSEGV (as a
 * buggy plugin would); any other is appended to the file `record` names as
 * "SEQ TYPE" (one write(2), O_APPEND) and answered ER_OK. reload() applies
 * a new `record` in place (the daemon keeps the instance), logging it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <eventrouter/plugin.h>

typedef struct instance_s {
    const er_host_t *host;
    er_plugin_ctx_t *ctx;
    int fd;
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

static int reload(void *instance, const er_options_t *opts)
{
    instance_t *in = instance;
    const char *path = NULL;
    int fd = -1;

    if (in->host->opt_string(opts, "record", &path) == 0 && path != NULL &&
        (fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
        return -errno;
    if (in->fd >= 0)
        close(in->fd);
    in->fd = fd;
    in->host->log(in->ctx, ER_PLOG_INFO, "reloaded in place: record %s", path ? path : "(none)");
    return 0;
}

static int start(void *instance)
{
    (void)instance;
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

static int handle(void *instance, er_ev_t *ev, er_token_t *token)
{
    instance_t *in = instance;
    er_event_t e;
    char line[200];
    int n;

    (void)token;
    if (in->host->event_get(ev, &e, sizeof(e)) != 0)
        return ER_FAIL;
    if (e.type.len == 6 && memcmp(e.type.ptr, "Poison", 6) == 0)
        raise(SIGSEGV);
    if (in->fd >= 0) {
        n = snprintf(line, sizeof(line), "%llu %.*s\n", (unsigned long long)e.seq, (int)e.type.len,
                     e.type.ptr);
        if (write(in->fd, line, (size_t)n) != n)
            return ER_RETRY;
    }
    return ER_OK;
}

static const er_handler_ops_t ops = {
    .size = sizeof(er_handler_ops_t),
    .create = create,
    .start = start,
    .stop = stop,
    .destroy = destroy,
    .handle = handle,
    .reload = reload,
};

ER_PLUGIN_DEFINE = {
    ER_PLUGIN_HEADER,
    .kind = ER_PLUGIN_HANDLER,
    .name = "test_crash",
    .version = "1",
    .description = "a handler that crashes on events of type Poison (tests)",
    .options = options,
    .ops = &ops,
};
