/*
 * counter — a sample eventrouterd handler plugin, built out of tree.
 *
 * It counts events per type and, every `every` events, logs one line with
 * the total and the busiest type. `eventctl handlers` shows the counts
 * through stats(). Everything it needs from the daemon comes through the
 * host table given to create(): it links nothing of eventrouter, so the
 * only build input is <eventrouter/plugin.h> (pkg-config libeventrouter).
 *
 * A configuration using it (eventrouter.yaml):
 *
 *     handlers:
 *       counts:
 *         plugin: /usr/local/lib/eventrouter/handlers/counter.so
 *         every: 10000
 *     routes:
 *       - match: "*"
 *         to: [counts]
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <eventrouter/plugin.h>

#define MAX_TYPES 256 /* distinct types counted; the rest are "(other)" */

typedef struct type_count_s {
    char name[129]; /* a type is at most 128 characters */
    uint64_t count;
} type_count_t;

typedef struct counter_s {
    const er_host_t *host;
    er_plugin_ctx_t *ctx;
    uint64_t every; /* log a line every this many events */
    uint64_t total;
    uint64_t other; /* events of types past MAX_TYPES */
    size_t ntypes;
    type_count_t types[MAX_TYPES];
} counter_t;

static int counter_create(const er_host_t *host, er_plugin_ctx_t *ctx, const er_options_t *opts,
                          void **instance)
{
    counter_t *c;
    uint64_t every = 0;
    int rc;

    /* Validated against the schema below before create(): the default
     * applies and the bounds hold. */
    if ((rc = host->opt_uint(opts, "every", &every)) != 0)
        return rc;
    if ((c = host->alloc(sizeof(*c))) == NULL)
        return -ENOMEM;
    memset(c, 0, sizeof(*c));
    c->host = host;
    c->ctx = ctx;
    c->every = every;
    *instance = c;
    return 0;
}

static int counter_start(void *instance)
{
    counter_t *c = instance;

    c->host->log(c->ctx, ER_PLOG_INFO, "counting, a line every %llu events",
                 (unsigned long long)c->every);
    return 0;
}

static void counter_stop(void *instance, er_done_cb done, void *done_arg)
{
    counter_t *c = instance;

    /* No timers, watches or pending tokens: done at once. */
    c->host->log(c->ctx, ER_PLOG_INFO, "stopped after %llu events", (unsigned long long)c->total);
    done(done_arg);
}

static void counter_destroy(void *instance)
{
    counter_t *c = instance;

    c->host->free(c);
}

static uint64_t *slot_for(counter_t *c, const char *type, size_t len)
{
    size_t i;

    for (i = 0; i < c->ntypes; i++)
        if (strlen(c->types[i].name) == len && memcmp(c->types[i].name, type, len) == 0)
            return &c->types[i].count;
    if (c->ntypes == MAX_TYPES || len >= sizeof(c->types[0].name))
        return &c->other;
    memcpy(c->types[c->ntypes].name, type, len);
    c->types[c->ntypes].name[len] = '\0';
    return &c->types[c->ntypes++].count;
}

static int counter_handle(void *instance, er_ev_t *ev, er_token_t *token)
{
    counter_t *c = instance;
    er_event_t view;
    const type_count_t *top = NULL;
    size_t i;
    int rc;

    /* The event is borrowed until we return: read it, keep nothing. */
    if ((rc = c->host->event_get(ev, &view, sizeof(view))) != 0)
        return rc;
    (*slot_for(c, view.type.ptr, view.type.len))++;
    if (++c->total % c->every != 0)
        return ER_OK;
    for (i = 0; i < c->ntypes; i++)
        if (top == NULL || c->types[i].count > top->count)
            top = &c->types[i];
    c->host->log(c->ctx, ER_PLOG_NOTICE, "%llu events, %zu types, most: %s (%llu)",
                 (unsigned long long)c->total, c->ntypes, top ? top->name : "-",
                 (unsigned long long)(top ? top->count : 0));
    return ER_OK;
}

static void counter_stats(void *instance, void (*emit)(void *arg, const char *name, int64_t value),
                          void *arg)
{
    counter_t *c = instance;
    size_t i;

    emit(arg, "total", (int64_t)c->total);
    for (i = 0; i < c->ntypes; i++)
        emit(arg, c->types[i].name, (int64_t)c->types[i].count);
    if (c->other > 0)
        emit(arg, "(other)", (int64_t)c->other);
}

static const er_option_t counter_options[] = {
    {
        .key = "every",
        .type = ER_OPTION_UINT,
        .def = "1000",
        .min = 1,
        .max = 1000000000,
        .description = "log a summary line every this many events",
    },
    {.key = NULL},
};

static const er_handler_ops_t counter_ops = {
    .size = sizeof(er_handler_ops_t),
    .create = counter_create,
    .start = counter_start,
    .stop = counter_stop,
    .destroy = counter_destroy,
    .handle = counter_handle,
    .stats = counter_stats,
};

/* The one exported symbol. */
ER_PLUGIN_DEFINE = {
    ER_PLUGIN_HEADER,
    .kind = ER_PLUGIN_HANDLER,
    .name = "counter",
    .version = "1.0",
    .description = "count events per type and log a summary every N events",
    .options = counter_options,
    .ops = &counter_ops,
};
