/*
 * A minimal handler plugin for the daemon's own tests. It declares one
 * option of every type the ABI has — string, path, bool, bounded int,
 * uint, duration, size, enum, list, map, a required one and a secret one —
 * so the configuration tests exercise every check against a real .so
 * loaded the real way. handle() answers by the event's type, so dispatch
 * tests can drive every status: TestFail → ER_FAIL, TestRetry → ER_RETRY
 * (always, logging when each attempt came), TestPending → ER_PENDING and ER_OK from a 1 ms timer,
 * TestHang → ER_PENDING until stop() or cancel() (ER_CANCELLED), TestStateSet → the host's
 * state_set of key = the event's stream to its data, TestStateGet → state_get of that key, logged
 * as `state KEY = VALUE` (both ER_PENDING until the store answers), TestFlaky → ER_FAIL while the
 * file `flaky` exists in the `dir` option's directory, else ER_OK; anything else → ER_OK at once.
 * The host's publish: TestEcho → publishes a new event of type TestEchoed built from the one
 * received (stream, data and the rest kept; no id; causation_id = its id) and completes the
 * delivery with the publish's status once that completes (ER_PENDING until then); TestLoop →
 * publishes a new event of its own type TestLoop the same way, token NULL, and answers ER_OK (a
 * feedback loop through its own route, which only the host's hops ends); TestBounce → publishes
 * the received event itself (daemon fields and id included), token NULL, ER_OK. A refused
 * publish answers ER_RETRY.
 * Its `types` list becomes its declared event types (an implicit route). stop() completes what is
 * pending, then calls done — once the publishes it waits for have completed.
 */
#include <errno.h>
#include <stddef.h>
#include <stdbool.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include <eventrouter/plugin.h>

#define MAX_TYPES 64

#define MAX_PENDING 256

typedef struct instance_s instance_t;

/* A TestPending delivery waiting for its timer. */
typedef struct pending_s {
    instance_t *in;
    er_token_t *token;
    er_timer_t *timer;
} pending_t;

struct instance_s {
    const er_host_t *host;
    er_plugin_ctx_t *ctx;
    const char *types[MAX_TYPES + 1]; /* borrowed from the options; NULL-terminated */
    char flaky[4096];                 /* DIR/flaky, or empty */
    pending_t pending[MAX_PENDING];
    int64_t calls, ok, fail, retry, pend, cancelled, published;
    int64_t echoes;       /* TestEcho publishes not yet completed */
    er_done_cb stop_done; /* stop() waiting for them */
    void *stop_arg;
};

static const er_option_t options[] = {
    {.key = "endpoint",
     .type = ER_OPTION_STRING,
     .flags = ER_OPTION_REQUIRED,
     .description = "where deliveries pretend to go (required)"},
    {.key = "label",
     .type = ER_OPTION_STRING,
     .def = "test",
     .min = 1,
     .max = 32,
     .description = "a label of 1 to 32 bytes"},
    {.key = "dir", .type = ER_OPTION_PATH, .description = "a directory (no default)"},
    {.key = "verbose", .type = ER_OPTION_BOOL, .def = "false", .description = "talk more"},
    {.key = "level",
     .type = ER_OPTION_INT,
     .def = "0",
     .min = -10,
     .max = 10,
     .description = "a signed level, -10 to 10"},
    {.key = "count",
     .type = ER_OPTION_UINT,
     .def = "10",
     .min = 1,
     .max = 1000,
     .description = "a count, 1 to 1000"},
    {.key = "delay",
     .type = ER_OPTION_DURATION,
     .def = "100ms",
     .min = 0,
     .max = 3600000,
     .description = "a delay, at most 1h"},
    {.key = "buffer",
     .type = ER_OPTION_SIZE,
     .def = "64KiB",
     .min = 1024,
     .max = 1 << 30,
     .description = "a buffer size, 1KiB to 1GiB"},
    {.key = "mode",
     .type = ER_OPTION_ENUM,
     .def = "safe",
     .choices = "fast|safe|paranoid",
     .description = "how careful to be"},
    {.key = "types",
     .type = ER_OPTION_LIST,
     .max = MAX_TYPES,
     .description = "event types this handler declares (an implicit route)"},
    {.key = "properties", .type = ER_OPTION_MAP, .description = "pass-through settings"},
    {.key = "password",
     .type = ER_OPTION_STRING,
     .flags = ER_OPTION_SECRET,
     .description = "a secret (or password_file)"},
    {.key = NULL},
};

static int create(const er_host_t *host, er_plugin_ctx_t *ctx, const er_options_t *opts, void **out)
{
    instance_t *in;
    const char *dir = NULL;
    size_t i;

    if ((in = host->alloc(sizeof(*in))) == NULL)
        return -ENOMEM;
    memset(in, 0, sizeof(*in));
    in->host = host;
    in->ctx = ctx;
    for (i = 0; i < MAX_TYPES && host->opt_list(opts, "types", i, &in->types[i]) == 0; i++)
        ;
    in->types[i] = NULL;
    if (host->opt_string(opts, "dir", &dir) == 0 && dir != NULL)
        snprintf(in->flaky, sizeof(in->flaky), "%s/flaky", dir);
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
    instance_t *in = instance;
    size_t i;

    /* Every token completed and every timer stopped before done. */
    for (i = 0; i < MAX_PENDING; i++) {
        pending_t *p = &in->pending[i];
        if (p->token == NULL)
            continue;
        if (p->timer)
            in->host->timer_stop(p->timer);
        in->host->complete(p->token, ER_RETRY);
        p->token = NULL;
    }
    /* A publish's token completes even while stopping: wait for it. */
    if (in->echoes > 0) {
        in->stop_done = done;
        in->stop_arg = done_arg;
        return;
    }
    done(done_arg);
}

static void destroy(void *instance)
{
    instance_t *in = instance;

    in->host->free(in);
}

static void on_pending_timer(void *arg)
{
    pending_t *p = arg;
    er_token_t *token = p->token;

    p->in->host->timer_stop(p->timer);
    p->token = NULL;
    p->in->ok++;
    p->in->host->complete(token, ER_OK);
}

/* A state request of a TestState* delivery: the delivery's token waits
 * for the store's answer. */
typedef struct state_req_s {
    instance_t *in;
    er_token_t *delivery;
    char key[64];
    const void *value; /* state_get's answer (store memory, valid in the callback) */
    size_t len;
    bool get;
} state_req_t;

static void on_state(void *arg, er_status_t status)
{
    state_req_t *r = arg;
    instance_t *in = r->in;

    if (r->get && status == ER_OK && r->value == NULL)
        in->host->log(in->ctx, ER_PLOG_INFO, "state %s = (absent)", r->key);
    else if (r->get && status == ER_OK)
        in->host->log(in->ctx, ER_PLOG_INFO, "state %s = %.*s", r->key, (int)r->len,
                      (const char *)r->value);
    in->host->complete(r->delivery, status);
    in->host->free(r);
}

static int state_request(instance_t *in, const er_event_t *e, er_token_t *delivery, bool get)
{
    state_req_t *r = in->host->alloc(sizeof(*r));
    er_token_t *tok;
    int rc;

    if (r == NULL)
        return ER_RETRY;
    memset(r, 0, sizeof(*r));
    r->in = in;
    r->delivery = delivery;
    r->get = get;
    memcpy(r->key, e->stream.ptr, e->stream.len < sizeof(r->key) ? e->stream.len : 63);
    if (in->host->token_new(in->ctx, on_state, r, &tok) != 0) {
        in->host->free(r);
        return ER_RETRY;
    }
    rc = get ? in->host->state_get(in->ctx, r->key, &r->value, &r->len, tok)
             : in->host->state_set(in->ctx, r->key, e->data.ptr, e->data.len, tok);
    if (rc != 0) {
        in->host->log(in->ctx, ER_PLOG_WARN, "state_%s: %d", get ? "get" : "set", rc);
        in->host->token_free(tok);
        in->host->free(r);
        return ER_FAIL;
    }
    in->pend++;
    return ER_PENDING;
}

/* A TestEcho delivery waiting for its publish. */
typedef struct echo_s {
    instance_t *in;
    er_token_t *delivery;
} echo_t;

static void on_echoed(void *arg, er_status_t status)
{
    echo_t *x = arg;
    instance_t *in = x->in;

    in->host->log(in->ctx, ER_PLOG_INFO, "TestEchoed published: status %d", (int)status);
    in->host->complete(x->delivery, status);
    in->host->free(x);
    if (--in->echoes == 0 && in->stop_done != NULL) {
        er_done_cb done = in->stop_done;
        in->stop_done = NULL;
        done(in->stop_arg);
    }
}

/* Publish a new event of `type` made from e (no id: its own would be a
 * duplicate of e's; causation_id: e's id). token may be NULL. */
static int publish_new(instance_t *in, const er_event_t *e, const char *type, er_token_t *token)
{
    er_event_t f = *e;
    er_ev_t *out;
    int rc;

    f.type.ptr = type;
    f.type.len = strlen(type);
    f.topic.ptr = NULL;
    f.topic.len = 0;
    f.causation_id = e->id;
    f.id.ptr = NULL;
    f.id.len = 0;
    if ((rc = in->host->event_new(in->ctx, &f, sizeof(f), &out)) != 0)
        return rc;
    rc = in->host->publish(in->ctx, out, token);
    in->host->event_unref(out); /* publish took its own reference */
    return rc;
}

static int echo(instance_t *in, const er_event_t *e, er_token_t *delivery)
{
    echo_t *x = in->host->alloc(sizeof(*x));
    er_token_t *tok;
    int rc;

    if (x == NULL)
        return ER_RETRY;
    x->in = in;
    x->delivery = delivery;
    if (in->host->token_new(in->ctx, on_echoed, x, &tok) != 0) {
        in->host->free(x);
        return ER_RETRY;
    }
    if ((rc = publish_new(in, e, "TestEchoed", tok)) != 0) {
        in->host->log(in->ctx, ER_PLOG_WARN, "publish TestEchoed: %d", rc);
        in->host->token_free(tok);
        in->host->free(x);
        return ER_RETRY;
    }
    in->published++;
    in->echoes++;
    in->pend++;
    return ER_PENDING;
}

static bool type_is(const er_event_t *e, const char *t)
{
    return e->type.len == strlen(t) && memcmp(e->type.ptr, t, e->type.len) == 0;
}

static int handle(void *instance, er_ev_t *ev, er_token_t *token)
{
    instance_t *in = instance;
    er_event_t e;
    size_t i;

    in->calls++;
    if (in->host->event_get(ev, &e, sizeof(e)) != 0)
        return -EINVAL;
    if (type_is(&e, "TestFail")) {
        in->fail++;
        return ER_FAIL;
    }
    if (type_is(&e, "TestFlaky")) {
        if (in->flaky[0] != '\0' && access(in->flaky, F_OK) == 0) {
            in->fail++;
            return ER_FAIL;
        }
        in->ok++;
        return ER_OK;
    }
    if (type_is(&e, "TestRetry")) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        in->retry++;
        /* When each attempt came, for the retry timing tests. */
        in->host->log(in->ctx, ER_PLOG_INFO, "TestRetry seq %llu attempt at %lld ms",
                      (unsigned long long)e.seq,
                      (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
        return ER_RETRY;
    }
    if (type_is(&e, "TestHang")) {
        for (i = 0; i < MAX_PENDING && in->pending[i].token; i++)
            ;
        if (i == MAX_PENDING)
            return ER_RETRY;
        in->pending[i].in = in;
        in->pending[i].token = token;
        in->pending[i].timer = NULL; /* completed by stop() only */
        in->pend++;
        return ER_PENDING;
    }
    if (type_is(&e, "TestEcho"))
        return echo(in, &e, token);
    if (type_is(&e, "TestLoop") || type_is(&e, "TestBounce")) {
        int rc = type_is(&e, "TestLoop") ? publish_new(in, &e, "TestLoop", NULL)
                                         : in->host->publish(in->ctx, ev, NULL);
        in->host->log(in->ctx, ER_PLOG_INFO, "%.*s seq %llu hops %u: published, %d",
                      (int)e.type.len, e.type.ptr, (unsigned long long)e.seq, e.hops, rc);
        if (rc != 0) {
            in->retry++;
            return ER_RETRY;
        }
        in->published++;
        in->ok++;
        return ER_OK;
    }
    if (type_is(&e, "TestStateSet") || type_is(&e, "TestStateGet"))
        return state_request(in, &e, token, type_is(&e, "TestStateGet"));
    if (type_is(&e, "TestPending")) {
        for (i = 0; i < MAX_PENDING && in->pending[i].token; i++)
            ;
        if (i == MAX_PENDING)
            return ER_RETRY;
        in->pending[i].in = in;
        in->pending[i].token = token;
        if (in->host->timer_start(in->ctx, 1, 0, on_pending_timer, &in->pending[i],
                                  &in->pending[i].timer) != 0) {
            in->pending[i].token = NULL;
            return ER_RETRY;
        }
        in->pend++;
        return ER_PENDING;
    }
    in->ok++;
    return ER_OK;
}

/* The host's deadline passed: a TestHang delivery is completed
 * ER_CANCELLED at once (TestPending ones finish by their timer). */
static void cancel(void *instance, er_token_t *token)
{
    instance_t *in = instance;
    size_t i;

    for (i = 0; i < MAX_PENDING; i++)
        if (in->pending[i].token == token && in->pending[i].timer == NULL) {
            in->pending[i].token = NULL;
            in->cancelled++;
            in->host->complete(token, ER_CANCELLED);
            return;
        }
}

static void stats(void *instance, void (*emit)(void *arg, const char *name, int64_t value),
                  void *arg)
{
    instance_t *in = instance;

    emit(arg, "calls", in->calls);
    emit(arg, "ok", in->ok);
    emit(arg, "fail", in->fail);
    emit(arg, "retry", in->retry);
    emit(arg, "pending", in->pend);
    emit(arg, "cancelled", in->cancelled);
    emit(arg, "published", in->published);
}

static const char *const *types(void *instance)
{
    instance_t *in = instance;

    return in->types[0] != NULL ? in->types : NULL;
}

static const er_handler_ops_t ops = {
    .size = sizeof(er_handler_ops_t),
    .create = create,
    .start = start,
    .stop = stop,
    .destroy = destroy,
    .handle = handle,
    .types = types,
    .stats = stats,
    .cancel = cancel,
};

ER_PLUGIN_DEFINE = {
    ER_PLUGIN_HEADER,
    .kind = ER_PLUGIN_HANDLER,
    .name = "test_handler",
    .version = "1.0",
    .description = "test handler: an option of every type; answers by event type",
    .options = options,
    .ops = &ops,
};
