/*
 * A handler that does nothing and says OK: the bench scenarios measure the
 * cost of routing and dispatch with it, beside ingest with no destination.
 */
#include <stdlib.h>

#include <eventrouter/plugin.h>

static int noop_create(const er_host_t *host, er_plugin_ctx_t *ctx, const er_options_t *opts,
                       void **instance)
{
    static int dummy;
    (void)host;
    (void)ctx;
    (void)opts;
    *instance = &dummy;
    return 0;
}

static int noop_start(void *instance)
{
    (void)instance;
    return 0;
}

static void noop_stop(void *instance, er_done_cb done, void *arg)
{
    (void)instance;
    done(arg);
}

static void noop_destroy(void *instance)
{
    (void)instance;
}

static int noop_handle(void *instance, er_ev_t *ev, er_token_t *token)
{
    (void)instance;
    (void)ev;
    (void)token;
    return ER_OK;
}

static const er_handler_ops_t ops = {
    .size = sizeof(er_handler_ops_t),
    .create = noop_create,
    .start = noop_start,
    .stop = noop_stop,
    .destroy = noop_destroy,
    .handle = noop_handle,
};

ER_PLUGIN_DEFINE = {
    ER_PLUGIN_HEADER,
    .kind = ER_PLUGIN_HANDLER,
    .name = "noop",
    .version = "1",
    .description = "accepts every event and does nothing (benchmarks)",
    .options = NULL,
    .ops = &ops,
    .flags = 0,
};
