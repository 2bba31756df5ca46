/*
 * A handler that measures (the e2e-latency scenario): for each event it
 * takes now (CLOCK_REALTIME, us) minus the event's `time`, which the
 * publisher set (bench/latency -T stamps each event with the wall-clock
 * time it was due), into a histogram, and says OK. So the figure is
 * publish -> handler: the client's queueing, the socket, ingest, the store
 * append, routing and dispatch, up to the moment handle() runs.
 *
 * Options: `out` (required), the file that stop() writes one line to:
 *   "p50_us P p99_us P p999_us P max_us M count N negative K
 *    first_us F last_us L"
 * where count is the events measured, negative how many of them had a
 * `time` in the future (counted as 0 us), and first/last the wall-clock
 * time the first and last measured event reached handle(). `skip` (default
 * 0): the first SKIP events are not measured (the publisher's warm-up;
 * events arrive in seq order, and the scenario has one publisher).
 *
 * The histogram is log-linear: exact below 1024 us, then 512 sub-buckets
 * per power of two (every value within 0.2% of its bucket's lower bound,
 * which is what is printed). Loop thread only; only er_plugin_entry is
 * exported.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <eventrouter/plugin.h>

#define SUB_BITS 9                     /* 512 sub-buckets per power of two */
#define LINEAR   (2u << SUB_BITS)      /* values below 1024 us are exact */
#define NBUCKETS (LINEAR + 54u * 512u) /* up to 2^63 us */

typedef struct lat_s {
    const er_host_t *host;
    er_plugin_ctx_t *ctx;
    const char *out; /* the host's copy, valid until destroy() */
    uint64_t skip, seen, count, negative;
    int64_t first_us, last_us;
    uint64_t max_us;
    uint64_t bucket[NBUCKETS];
} lat_t;

static int64_t realtime_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t bucket_of(uint64_t v)
{
    unsigned shift;

    if (v < LINEAR)
        return (size_t)v;
    shift = (unsigned)(63 - __builtin_clzll(v)) - SUB_BITS; /* v >> shift in [512, 1023] */
    return LINEAR + (size_t)(shift - 1) * 512 + (size_t)((v >> shift) - 512);
}

/* The lower bound of bucket b. */
static uint64_t value_of(size_t b)
{
    size_t shift;

    if (b < LINEAR)
        return b;
    shift = (b - LINEAR) / 512 + 1;
    return (uint64_t)((b - LINEAR) % 512 + 512) << shift;
}

/* The value at quantile q (0..1] of the measured events. */
static uint64_t quantile(const lat_t *l, double q)
{
    uint64_t rank = (uint64_t)((double)l->count * q), seen = 0;
    size_t b;

    if (rank >= l->count)
        rank = l->count - 1;
    for (b = 0; b < NBUCKETS; b++) {
        seen += l->bucket[b];
        if (seen > rank)
            return value_of(b);
    }
    return l->max_us;
}

static int lat_create(const er_host_t *host, er_plugin_ctx_t *ctx, const er_options_t *opts,
                      void **instance)
{
    const char *out = NULL;
    uint64_t skip = 0;
    lat_t *l;

    if (host->opt_string(opts, "out", &out) != 0 || out == NULL ||
        host->opt_uint(opts, "skip", &skip) != 0) {
        host->log(ctx, ER_PLOG_ERROR, "options out and skip are needed");
        return -EINVAL;
    }
    if ((l = host->alloc(sizeof(*l))) == NULL)
        return -ENOMEM;
    memset(l, 0, sizeof(*l));
    l->host = host;
    l->ctx = ctx;
    l->out = out;
    l->skip = skip;
    *instance = l;
    return 0;
}

static int lat_start(void *instance)
{
    (void)instance;
    return 0;
}

/* Write the figures (also when nothing was measured: count 0). */
static void lat_stop(void *instance, er_done_cb done, void *done_arg)
{
    lat_t *l = instance;
    FILE *f = fopen(l->out, "w");

    if (f == NULL) {
        l->host->log(l->ctx, ER_PLOG_ERROR, "cannot write %s: %s", l->out, strerror(errno));
    } else {
        fprintf(f,
                "p50_us %llu p99_us %llu p999_us %llu max_us %llu count %llu negative %llu "
                "first_us %lld last_us %lld\n",
                (unsigned long long)(l->count ? quantile(l, 0.50) : 0),
                (unsigned long long)(l->count ? quantile(l, 0.99) : 0),
                (unsigned long long)(l->count ? quantile(l, 0.999) : 0),
                (unsigned long long)l->max_us, (unsigned long long)l->count,
                (unsigned long long)l->negative, (long long)l->first_us, (long long)l->last_us);
        if (fclose(f) != 0)
            l->host->log(l->ctx, ER_PLOG_ERROR, "cannot write %s: %s", l->out, strerror(errno));
    }
    done(done_arg);
}

static void lat_destroy(void *instance)
{
    lat_t *l = instance;

    l->host->free(l);
}

static int lat_handle(void *instance, er_ev_t *ev, er_token_t *token)
{
    lat_t *l = instance;
    int64_t now = realtime_us(), d;
    er_event_t view;
    int rc;

    (void)token;
    if (l->seen++ < l->skip)
        return ER_OK;
    if ((rc = l->host->event_get(ev, &view, sizeof(view))) != 0)
        return rc;
    d = now - view.time;
    if (d < 0) {
        l->negative++;
        d = 0;
    }
    l->bucket[bucket_of((uint64_t)d)]++;
    if ((uint64_t)d > l->max_us)
        l->max_us = (uint64_t)d;
    if (l->count++ == 0)
        l->first_us = now;
    l->last_us = now;
    return ER_OK;
}

static const er_option_t options[] = {
    {.key = "out",
     .type = ER_OPTION_PATH,
     .flags = ER_OPTION_REQUIRED,
     .description = "the file stop() writes the figures to"},
    {.key = "skip",
     .type = ER_OPTION_UINT,
     .def = "0",
     .description = "events not measured first (the publisher's warm-up)"},
    {.key = NULL},
};

static const er_handler_ops_t ops = {
    .size = sizeof(er_handler_ops_t),
    .create = lat_create,
    .start = lat_start,
    .stop = lat_stop,
    .destroy = lat_destroy,
    .handle = lat_handle,
};

ER_PLUGIN_DEFINE = {
    ER_PLUGIN_HEADER,
    .kind = ER_PLUGIN_HANDLER,
    .name = "latency",
    .version = "1",
    .description = "publish->handler latency histogram from each event's time (benchmarks)",
    .options = options,
    .ops = &ops,
    .flags = 0,
};
