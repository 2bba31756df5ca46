/*
 * The host side of the plugin ABI (see host.h): the constant er_host_t
 * table, instance contexts and tokens. Each table member is a thin, checked
 * adapter over a daemon module: logging over daemon/log.c with per-call-
 * site rate limiting, events over lib/evobj.c, options over lib/options.c,
 * timers and fd watches over libuv handles.
 *
 * Threads: log, alloc/realloc/free, event_ref/unref/get/encoded/new,
 * metric_add/metric_set and publish may run on any thread; everything else
 * is loop-only, checked at entry (a plugin calling them from another
 * thread is a data race, so the daemon stops with a message naming the
 * call rather than corrupt its state). publish checks the event where it
 * is called and posts it to the loop through a mailbox, from the loop
 * thread too: the pipeline behind it (store, dispatch, which may hand the
 * event straight back to the same plugin) never runs inside the call.
 *
 * Handles: a timer or watch is freed in its libuv close callback, so
 * timer_stop/watch_stop free asynchronously and may be called from inside
 * the handle's own callback.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "buf.h"
#include "evobj.h"
#include "host.h"
#include "log.h"
#include "options.h"
#include "plugdesc.h"
#include "proto.h"
#include "store.h"

static uv_loop_t *host_loop;
static struct er_store_s *host_store; /* plugins' state lives there (NULL: none) */
static uv_thread_t loop_thread;
static bool loop_thread_set;
/* Guards every context's log_slots (log may be called off the loop). */
static uv_mutex_t log_lock;
static uv_once_t log_lock_once = UV_ONCE_INIT;

#define HOST_COMPONENT "plugin"

static const char *component(const er_plugin_ctx_t *ctx)
{
    return ctx != NULL ? ctx->component : HOST_COMPONENT;
}

/* Stop on a loop-only member called from another thread (see above). */
#define LOOP_ONLY(ctx, name)                                                                       \
    do {                                                                                           \
        if (loop_thread_set) {                                                                     \
            uv_thread_t self_ = uv_thread_self();                                                  \
            if (!uv_thread_equal(&self_, &loop_thread)) {                                          \
                er__log_emit(ER_LOG_ERROR, component(ctx),                                         \
                             "plugin bug: %s() called off the loop thread", name);                 \
                abort();                                                                           \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* --------------------------------------------------------------- logging */

static void log_lock_init(void)
{
    if (uv_mutex_init(&log_lock) != 0)
        abort();
}

/* Rate limit by call site: the format string's address stands for it. */
static bool log_rate_ok(er_plugin_ctx_t *ctx, int level, const char *fmt)
{
    er_host_log_slot_t *slot;
    bool ok;

    if (ctx == NULL || level >= ER_LOG_DEBUG)
        return true; /* debug lines are the operator's explicit choice */
    uv_once(&log_lock_once, log_lock_init);
    uv_mutex_lock(&log_lock);
    slot = &ctx->log_slots[((uintptr_t)fmt >> 3) % ER_HOST_LOG_SLOTS];
    if (slot->fmt != fmt) {
        memset(slot, 0, sizeof(*slot));
        slot->fmt = fmt;
    }
    ok = er__log_rate_ok(&slot->rate, level, ctx->component);
    uv_mutex_unlock(&log_lock);
    return ok;
}

static void host_log(er_plugin_ctx_t *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void host_log(er_plugin_ctx_t *ctx, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (level < ER_LOG_ERROR)
        level = ER_LOG_ERROR;
    if (level > ER_LOG_DEBUG)
        level = ER_LOG_DEBUG;
    if (level > er__log_level || fmt == NULL || !log_rate_ok(ctx, level, fmt))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    er__log_emit(level, component(ctx), "%s", msg);
}

/* A rule the plugin broke, logged under its name and rate limited. */
#define plugin_bug(ctx, ...) host_log((ctx), ER_LOG_ERROR, "plugin bug: " __VA_ARGS__)

/* ------------------------------------------------------------ allocation */

static void *host_alloc(size_t n)
{
    return malloc(n);
}

static void *host_realloc(void *p, size_t n)
{
    return realloc(p, n);
}

static void host_free(void *p)
{
    free(p);
}

/* ---------------------------------------------------------------- events */

static er_ev_t *host_event_ref(er_ev_t *ev)
{
    return ev != NULL ? er__ev_ref(ev) : NULL;
}

static void host_event_unref(er_ev_t *ev)
{
    er__ev_unref(ev);
}

static int host_event_get(const er_ev_t *ev, er_event_t *out, size_t out_size)
{
    return er__ev_get(ev, out, out_size);
}

static int host_event_encoded(const er_ev_t *ev, const uint8_t **p, size_t *n)
{
    if (ev == NULL || p == NULL || n == NULL)
        return -EINVAL;
    return er__ev_encoded((er_ev_t *)ev, p, n);
}

/* Build an event from a plugin's fields: the daemon fields are the host's
 * to set when the event is published, so they are dropped; the rest must
 * pass the §3 rules, `$` streams allowed. */
static int host_event_new(er_plugin_ctx_t *ctx, const er_event_t *fields, size_t fields_size,
                          er_ev_t **out)
{
    er_event_t f;
    er_error_t e;
    int rc;

    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (fields == NULL || fields_size < sizeof(er_event_t))
        return -EINVAL;
    memcpy(&f, fields, sizeof(f));
    er_event_strip_daemon_fields(&f);
    if ((rc = er_event_validate(&f, 0, &e)) != 0) {
        host_log(ctx, ER_LOG_WARN, "event_new: %s", e.message);
        return rc;
    }
    if ((*out = er__ev_new(&f)) == NULL)
        return -ENOMEM;
    return 0;
}

static int host_event_decode(er_plugin_ctx_t *ctx, const uint8_t *p, size_t n, er_ev_t **out)
{
    (void)ctx;
    return er__ev_decode(p, n, out);
}

/* ------------------------------------------------------------- publish */

static void plugin_token_done(er_token_t *t, er_status_t status, size_t n,
                              const er_status_t *statuses);
static void host_complete(er_token_t *t, er_status_t status);
static void host_complete_errno(er_token_t *t, int err, const char *message);

/*
 * The way plugins' events go to the loop. `open` and the posts are made
 * under `lock`, so a thread that found it open has posted before a close
 * drains the mailbox, and none posts after.
 */
static struct {
    uv_mutex_t lock;
    bool open;             /* guarded by lock */
    size_t max_event_size; /* guarded by lock */
    bool mb_live;          /* loop thread: the mailbox is set up (until closed) */
    er_mailbox_t mb;
    er_publish_cb run;
    void *arg;
} pub;
static uv_once_t pub_once = UV_ONCE_INIT;

/* What this thread's handle() call is being handed, per instance. */
static _Thread_local struct {
    const er_plugin_ctx_t *ctx;
    uint32_t hops;
} handling;

static void pub_init(void)
{
    if (uv_mutex_init(&pub.lock) != 0)
        abort();
}

static void on_publish_mail(er_mailbox_t *mb, er_mail_t *m)
{
    (void)mb;
    pub.run(pub.arg, (er_publish_req_t *)m);
}

static void on_publish_mb_closed(er_mailbox_t *mb)
{
    (void)mb;
    pub.mb_live = false;
}

int er__host_publish_open(uv_loop_t *loop, size_t max_event_size, er_publish_cb run, void *arg)
{
    int rc;

    LOOP_ONLY(NULL, "er__host_publish_open");
    uv_once(&pub_once, pub_init);
    if (pub.mb_live)
        return -EBUSY;
    pub.run = run;
    pub.arg = arg;
    if ((rc = er__mailbox_init(&pub.mb, loop, on_publish_mail)) != 0)
        return rc;
    pub.mb_live = true;
    uv_mutex_lock(&pub.lock);
    pub.max_event_size = max_event_size;
    pub.open = true;
    uv_mutex_unlock(&pub.lock);
    return 0;
}

void er__host_publish_limits(size_t max_event_size)
{
    uv_once(&pub_once, pub_init);
    uv_mutex_lock(&pub.lock);
    pub.max_event_size = max_event_size;
    uv_mutex_unlock(&pub.lock);
}

void er__host_publish_close(void)
{
    bool was_open;

    LOOP_ONLY(NULL, "er__host_publish_close");
    uv_once(&pub_once, pub_init);
    uv_mutex_lock(&pub.lock);
    was_open = pub.open;
    pub.open = false;
    uv_mutex_unlock(&pub.lock);
    if (was_open)
        er__mailbox_close(&pub.mb, on_publish_mb_closed); /* runs what is queued */
}

void er__publish_req_end(er_publish_req_t *req, er_status_t status, int err, const char *message)
{
    if (req->token != NULL) {
        if (err < 0)
            host_complete_errno(req->token, err, message);
        else
            host_complete(req->token, status);
    }
    er__ev_unref(req->ev);
    free(req);
}

void er__host_handling(er_plugin_ctx_t *ctx, const er_ev_t *ev)
{
    const er_event_t *v;

    if (ev == NULL) {
        if (handling.ctx == ctx)
            handling.ctx = NULL;
        return;
    }
    v = er__ev_view(ev);
    handling.ctx = ctx;
    handling.hops = (v->has & ER_HAS_HOPS) ? v->hops : 0;
}

/* The encoded size of f, as a client's frame would carry it. */
static int encoded_size(const er_event_t *f, size_t *n)
{
    er_buf_t b;
    int rc;

    memset(&b, 0, sizeof(b));
    rc = er__event_pack(&b, f);
    *n = b.len;
    er__buf_free(&b);
    return rc;
}

/*
 * Check ev as a client's event would be checked — except that the daemon
 * fields are the host's to replace, not a reason to refuse, and `$`
 * streams are the plugins' to use — and post it to the loop. Any thread.
 */
static int host_publish(er_plugin_ctx_t *ctx, er_ev_t *ev, er_token_t *token)
{
    er_publish_req_t *req;
    er_event_t f;
    er_error_t e;
    size_t n, name_len, max;
    uint32_t hops;
    bool open;
    int rc;

    if (ctx == NULL)
        return -EINVAL;
    if (ev == NULL) {
        plugin_bug(ctx, "publish() of a NULL event");
        return -EINVAL;
    }
    if (token != NULL && token->on_complete != plugin_token_done) {
        plugin_bug(ctx, "publish() with a token the host gave it (not from token_new)");
        return -EINVAL;
    }
    uv_once(&pub_once, pub_init);
    uv_mutex_lock(&pub.lock);
    open = pub.open;
    max = pub.max_event_size;
    uv_mutex_unlock(&pub.lock);
    if (!open)
        return -EAGAIN; /* not running yet, or stopping */
    f = *er__ev_view(ev);
    hops = (f.has & ER_HAS_HOPS) ? f.hops : 0;
    er_event_strip_daemon_fields(&f);
    if (er_event_validate(&f, 0, &e) != 0) {
        host_log(ctx, ER_LOG_WARN, "publish: %s", e.message);
        return -EINVAL;
    }
    if ((rc = encoded_size(&f, &n)) != 0)
        return rc;
    if (n > max) {
        host_log(ctx, ER_LOG_WARN, "publish: encoded size %zu exceeds max_event_size (%zu)", n,
                 max);
        return -EINVAL;
    }
    /* From inside handle(): at least one more than the event handed. */
    if (handling.ctx == ctx && handling.hops > hops)
        hops = handling.hops;
    if (hops < UINT32_MAX)
        hops++;
    name_len = strlen(ctx->name);
    if ((req = malloc(sizeof(*req) + name_len + 1)) == NULL)
        return -ENOMEM;
    memset(req, 0, sizeof(*req));
    req->ev = er__ev_ref(ev);
    req->token = token;
    req->hops = hops;
    memcpy(req->component, ctx->component, sizeof(req->component));
    memcpy(req->name, ctx->name, name_len + 1);
    uv_mutex_lock(&pub.lock);
    if (!pub.open) {
        uv_mutex_unlock(&pub.lock);
        er__ev_unref(req->ev);
        free(req);
        return -EAGAIN; /* closed meanwhile */
    }
    er__mailbox_post(&pub.mb, &req->mail);
    uv_mutex_unlock(&pub.lock);
    return 0;
}

/* ------------------------------------------------- not yet implemented */

static int host_ingest(er_plugin_ctx_t *ctx, const uint8_t *msgpack, size_t n, void *ack_token)
{
    return -ENOSYS;
}

static int host_state_get(er_plugin_ctx_t *ctx, const char *key, const void **value, size_t *len,
                          er_token_t *token)
{
    LOOP_ONLY(ctx, "state_get");
    if (ctx == NULL || key == NULL || value == NULL || len == NULL || token == NULL)
        return -EINVAL;
    if (host_store == NULL)
        return -ENOSYS;
    *value = NULL;
    *len = 0;
    return er__store_state_get(host_store, ctx->component, key, value, len, token);
}

static int host_state_set(er_plugin_ctx_t *ctx, const char *key, const void *value, size_t len,
                          er_token_t *token)
{
    LOOP_ONLY(ctx, "state_set");
    if (ctx == NULL || key == NULL || token == NULL)
        return -EINVAL;
    if (host_store == NULL)
        return -ENOSYS;
    return er__store_state_set(host_store, ctx->component, key, value, len, token);
}

static int host_query(er_plugin_ctx_t *ctx, const char *filter_json,
                      void (*row)(void *arg, er_ev_t *ev), void *arg, er_token_t *token)
{
    LOOP_ONLY(ctx, "query");
    return -ENOSYS;
}

/* ---------------------------------------------------------------- tokens */

void er__token_init(er_token_t *t,
                    void (*on_complete)(er_token_t *t, er_status_t status, size_t n,
                                        const er_status_t *statuses),
                    void *owner, er_plugin_ctx_t *ctx)
{
    memset(t, 0, sizeof(*t));
    t->on_complete = on_complete;
    t->owner = owner;
    t->ctx = ctx;
}

void er__token_clear(er_token_t *t)
{
    free(t->reply);
    t->reply = NULL;
    free(t->deferred_statuses);
    t->deferred_statuses = NULL;
    t->deferred_n = 0;
    free(t->errmsg);
    t->errmsg = NULL;
}

/* A status a plugin may complete with. */
static er_status_t final_status(er_token_t *t, er_status_t st)
{
    switch (st) {
    case ER_OK:
    case ER_RETRY:
    case ER_FAIL:
    case ER_CANCELLED:
        return st;
    default:
        plugin_bug(t->ctx, "completed a token with status %d; treated as RETRY", (int)st);
        return ER_RETRY;
    }
}

static void host_complete(er_token_t *t, er_status_t status)
{
    if (t == NULL) {
        LOOP_ONLY(NULL, "complete");
        plugin_bug(NULL, "complete() of a NULL token");
        return;
    }
    LOOP_ONLY(t->ctx, "complete");
    if (t->completed) {
        plugin_bug(t->ctx, "token completed twice (status %d ignored)", (int)status);
        return;
    }
    status = final_status(t, status);
    t->completed = true;
    if (t->in_call) {
        t->deferred = true;
        t->deferred_status = status;
        return;
    }
    t->on_complete(t, status, 0, NULL);
}

static void host_complete_errno(er_token_t *t, int err, const char *message)
{
    if (t != NULL && !t->completed) {
        if (err >= 0) {
            plugin_bug(t->ctx, "complete_errno() with %d, not a negative errno; -EIO", err);
            err = -EIO;
        }
        t->err = err;
        free(t->errmsg);
        t->errmsg = strdup(message != NULL && *message ? message : strerror(-err));
    }
    host_complete(t, er__plugin_errno_status(err));
}

static void host_complete_batch(er_token_t *t, size_t n, const er_status_t *statuses)
{
    er_status_t summary = ER_OK, *copy = NULL;
    size_t i;

    if (t == NULL) {
        LOOP_ONLY(NULL, "complete_batch");
        plugin_bug(NULL, "complete_batch() of a NULL token");
        return;
    }
    LOOP_ONLY(t->ctx, "complete_batch");
    if (t->completed) {
        plugin_bug(t->ctx, "token completed twice (batch of %zu ignored)", n);
        return;
    }
    if (n > 0 && statuses == NULL) {
        plugin_bug(t->ctx, "complete_batch() with %zu statuses and no array; all RETRY", n);
        n = 0;
        summary = ER_RETRY;
    }
    /* Normalise into a copy when anything is off or the call is still
     * running (the plugin's array is borrowed only until return). */
    if (n > 0 && (copy = malloc(n * sizeof(*copy))) == NULL) {
        n = 0;
        summary = ER_RETRY; /* the whole batch is retried */
    }
    for (i = 0; i < n; i++) {
        copy[i] = final_status(t, statuses[i]);
        if (summary == ER_OK && copy[i] != ER_OK)
            summary = copy[i];
    }
    t->completed = true;
    if (t->in_call) {
        t->deferred = true;
        t->deferred_status = summary;
        t->deferred_statuses = copy;
        t->deferred_n = n;
        return;
    }
    t->on_complete(t, summary, n, copy);
    free(copy);
}

void er__token_begin(er_token_t *t)
{
    t->in_call = true;
}

int er__token_returned(er_token_t *t, int rc)
{
    t->in_call = false;
    if (rc == ER_PENDING) {
        if (t->deferred) {
            er_status_t *sts = t->deferred_statuses;
            t->deferred = false;
            t->deferred_statuses = NULL;
            t->on_complete(t, t->deferred_status, t->deferred_n, sts);
            free(sts);
        }
        return rc;
    }
    if (rc > ER_FAIL) {
        plugin_bug(t->ctx, "returned status %d; treated as RETRY", rc);
        rc = ER_RETRY;
    }
    if (t->deferred) {
        plugin_bug(t->ctx, "completed a token inside the call and also returned %d", rc);
        t->deferred = false;
        free(t->deferred_statuses);
        t->deferred_statuses = NULL;
        t->deferred_n = 0;
    }
    /* Settled by the return: a later complete() is a second completion. */
    t->completed = true;
    return rc;
}

void er__token_end(er_token_t *t)
{
    er__token_returned(t, ER_PENDING);
}

/* The plugin's own tokens (token_new): a host token plus its callback. */
typedef struct plugin_token_s {
    er_token_t tok; /* first: er_token_t * converts */
    void (*cb)(void *arg, er_status_t status);
    void *arg;
} plugin_token_t;

static void plugin_token_done(er_token_t *t, er_status_t status, size_t n,
                              const er_status_t *statuses)
{
    plugin_token_t *pt = (plugin_token_t *)t;

    pt->cb(pt->arg, status);
    er__token_clear(t);
    free(pt);
}

static int host_token_new(er_plugin_ctx_t *ctx, void (*cb)(void *arg, er_status_t status),
                          void *arg, er_token_t **out)
{
    plugin_token_t *pt;

    LOOP_ONLY(ctx, "token_new");
    if (out == NULL || cb == NULL)
        return -EINVAL;
    if ((pt = malloc(sizeof(*pt))) == NULL)
        return -ENOMEM;
    er__token_init(&pt->tok, plugin_token_done, NULL, ctx);
    pt->cb = cb;
    pt->arg = arg;
    *out = &pt->tok;
    return 0;
}

static void host_token_free(er_token_t *t)
{
    if (t == NULL)
        return;
    LOOP_ONLY(t->ctx, "token_free");
    if (t->on_complete != plugin_token_done) {
        plugin_bug(t->ctx, "token_free() of a token the host gave it (not from token_new)");
        return;
    }
    er__token_clear(t);
    free(t);
}

static int host_admin_reply(er_token_t *t, const char *json)
{
    json_error_t jerr;
    json_t *v;
    char *copy;

    if (t == NULL || json == NULL)
        return -EINVAL;
    LOOP_ONLY(t->ctx, "admin_reply");
    if (t->completed) {
        plugin_bug(t->ctx, "admin_reply() after the token was completed");
        return -EINVAL;
    }
    v = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL || !json_is_object(v)) {
        plugin_bug(t->ctx, "admin_reply() with %s", v == NULL ? jerr.text : "a non-object");
        json_decref(v);
        return -EINVAL;
    }
    json_decref(v);
    if ((copy = strdup(json)) == NULL)
        return -ENOMEM;
    free(t->reply);
    t->reply = copy;
    return 0;
}

/* ---------------------------------------------------------------- health */

static const char *health_name(er_health_t h)
{
    switch (h) {
    case ER_HEALTH_UP:
        return "UP";
    case ER_HEALTH_DEGRADED:
        return "DEGRADED";
    case ER_HEALTH_DOWN:
        return "DOWN";
    }
    return "?";
}

static void host_set_health(er_plugin_ctx_t *ctx, er_health_t state, const char *reason)
{
    er_health_t old;

    if (ctx == NULL)
        return;
    LOOP_ONLY(ctx, "set_health");
    if (state != ER_HEALTH_UP && state != ER_HEALTH_DEGRADED && state != ER_HEALTH_DOWN) {
        plugin_bug(ctx, "set_health(%d): no such state", (int)state);
        return;
    }
    old = ctx->health;
    ctx->health = state;
    snprintf(ctx->health_reason, sizeof(ctx->health_reason), "%s", reason ? reason : "");
    if (old == state)
        return;
    /* Transitions are rare and each one matters: not rate limited. */
    er__log_emit(state == ER_HEALTH_UP ? ER_LOG_NOTICE : ER_LOG_WARN, ctx->component,
                 "health %s -> %s%s%s", health_name(old), health_name(state),
                 ctx->health_reason[0] ? ": " : "", ctx->health_reason);
}

/* --------------------------------------------------------------- metrics */

enum { METRIC_COUNTER, METRIC_GAUGE };

struct er_metric_s {
    struct er_metric_s *next;
    er_plugin_ctx_t *ctx;
    int kind;
    _Atomic int64_t value;
    char *name;
    char *help;
};

static bool metric_name_ok(const char *name)
{
    const char *p;

    if (name == NULL || *name == '\0' || strlen(name) > 64)
        return false;
    for (p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

static int metric_new(er_plugin_ctx_t *ctx, int kind, const char *name, const char *help,
                      er_metric_t **out)
{
    er_metric_t *m;

    LOOP_ONLY(ctx, "metric_counter/metric_gauge");
    if (ctx == NULL || out == NULL)
        return -EINVAL;
    if (!metric_name_ok(name)) {
        plugin_bug(ctx, "metric name \"%s\" is not 1-64 of [a-z0-9_]", name ? name : "(null)");
        return -EINVAL;
    }
    for (m = ctx->metrics; m != NULL; m = m->next)
        if (strcmp(m->name, name) == 0)
            return -EEXIST;
    if ((m = calloc(1, sizeof(*m))) == NULL)
        return -ENOMEM;
    m->name = strdup(name);
    m->help = strdup(help ? help : "");
    if (m->name == NULL || m->help == NULL) {
        free(m->name);
        free(m->help);
        free(m);
        return -ENOMEM;
    }
    m->ctx = ctx;
    m->kind = kind;
    atomic_init(&m->value, 0);
    m->next = ctx->metrics;
    ctx->metrics = m;
    *out = m;
    return 0;
}

static int host_metric_counter(er_plugin_ctx_t *ctx, const char *name, const char *help,
                               er_metric_t **out)
{
    return metric_new(ctx, METRIC_COUNTER, name, help, out);
}

static int host_metric_gauge(er_plugin_ctx_t *ctx, const char *name, const char *help,
                             er_metric_t **out)
{
    return metric_new(ctx, METRIC_GAUGE, name, help, out);
}

static void host_metric_add(er_metric_t *m, int64_t delta)
{
    if (m == NULL)
        return;
    if (m->kind == METRIC_COUNTER && delta < 0) {
        plugin_bug(m->ctx, "counter %s decremented", m->name);
        return;
    }
    atomic_fetch_add_explicit(&m->value, delta, memory_order_relaxed);
}

static void host_metric_set(er_metric_t *m, int64_t value)
{
    if (m == NULL)
        return;
    if (m->kind == METRIC_COUNTER) {
        plugin_bug(m->ctx, "metric_set() on counter %s", m->name);
        return;
    }
    atomic_store_explicit(&m->value, value, memory_order_relaxed);
}

void er__plugin_ctx_metrics(const er_plugin_ctx_t *ctx,
                            void (*emit)(void *arg, const char *name, int64_t value), void *arg)
{
    const er_metric_t *m;

    for (m = ctx->metrics; m != NULL; m = m->next)
        emit(arg, m->name, atomic_load_explicit(&m->value, memory_order_relaxed));
}

/* ------------------------------------------------------- timers, watches */

/* What timers and watches share: their place in the context's list. */
typedef struct er_host_handle_s {
    struct er_host_handle_s *prev, *next;
    er_plugin_ctx_t *ctx;
    bool is_timer;
} handle_t;

struct er_timer_s {
    handle_t link; /* first */
    uv_timer_t h;
    er_timer_cb cb;
    void *arg;
};

struct er_watch_s {
    handle_t link; /* first */
    uv_poll_t h;
    er_watch_cb cb;
    void *arg;
    int fd;
};

static void handle_link(er_plugin_ctx_t *ctx, handle_t *l, bool is_timer)
{
    l->ctx = ctx;
    l->is_timer = is_timer;
    l->prev = NULL;
    l->next = ctx->handles;
    if (ctx->handles != NULL)
        ctx->handles->prev = l;
    ctx->handles = l;
}

static void handle_unlink(handle_t *l)
{
    if (l->ctx == NULL)
        return; /* already stopped */
    if (l->prev != NULL)
        l->prev->next = l->next;
    else
        l->ctx->handles = l->next;
    if (l->next != NULL)
        l->next->prev = l->prev;
    l->ctx = NULL;
}

/* Close callbacks: the only place timers and watches are freed. */
static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_timer(uv_timer_t *h)
{
    er_timer_t *t = h->data;

    t->cb(t->arg); /* may call timer_stop(t): t lives until the close callback */
}

static int host_timer_start(er_plugin_ctx_t *ctx, uint64_t ms, uint64_t repeat_ms, er_timer_cb cb,
                            void *arg, er_timer_t **out)
{
    er_timer_t *t;
    int rc;

    LOOP_ONLY(ctx, "timer_start");
    if (ctx == NULL || cb == NULL || out == NULL)
        return -EINVAL;
    if (ctx->loop == NULL)
        return -ENOTCONN;
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return -ENOMEM;
    if ((rc = uv_timer_init(ctx->loop, &t->h)) != 0) {
        free(t);
        return rc;
    }
    t->h.data = t;
    t->cb = cb;
    t->arg = arg;
    if ((rc = uv_timer_start(&t->h, on_timer, ms, repeat_ms)) != 0) {
        uv_close((uv_handle_t *)&t->h, on_timer_closed);
        return rc;
    }
    handle_link(ctx, &t->link, true);
    *out = t;
    return 0;
}

static void host_timer_stop(er_timer_t *t)
{
    if (t == NULL)
        return;
    LOOP_ONLY(t->link.ctx, "timer_stop");
    if (uv_is_closing((uv_handle_t *)&t->h)) {
        plugin_bug(NULL, "timer_stop() of a timer already stopped");
        return;
    }
    handle_unlink(&t->link);
    uv_close((uv_handle_t *)&t->h, on_timer_closed);
}

static int watch_events(unsigned ev)
{
    return ((ev & ER_WATCH_READ) ? UV_READABLE : 0) | ((ev & ER_WATCH_WRITE) ? UV_WRITABLE : 0);
}

static void on_watch_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    er_watch_t *w = h->data;
    unsigned rev = 0;

    if (status < 0) {
        rev = ER_WATCH_READ | ER_WATCH_WRITE;
    } else {
        if (events & UV_READABLE)
            rev |= ER_WATCH_READ;
        if (events & (UV_WRITABLE | UV_DISCONNECT))
            rev |= ER_WATCH_WRITE;
        if (events & UV_DISCONNECT)
            rev |= ER_WATCH_READ;
    }
    w->cb(w->arg, w->fd, rev);
}

static int host_watch_start(er_plugin_ctx_t *ctx, int fd, unsigned events, er_watch_cb cb,
                            void *arg, er_watch_t **out)
{
    er_watch_t *w;
    int rc;

    LOOP_ONLY(ctx, "watch_start");
    if (ctx == NULL || cb == NULL || out == NULL || fd < 0 ||
        (events & ~(ER_WATCH_READ | ER_WATCH_WRITE)) != 0)
        return -EINVAL;
    if (ctx->loop == NULL)
        return -ENOTCONN;
    if ((w = calloc(1, sizeof(*w))) == NULL)
        return -ENOMEM;
    if ((rc = uv_poll_init(ctx->loop, &w->h, fd)) != 0) {
        free(w);
        return rc;
    }
    w->h.data = w;
    w->cb = cb;
    w->arg = arg;
    w->fd = fd;
    if (events != 0 && (rc = uv_poll_start(&w->h, watch_events(events), on_poll)) != 0) {
        uv_close((uv_handle_t *)&w->h, on_watch_closed);
        return rc;
    }
    handle_link(ctx, &w->link, false);
    *out = w;
    return 0;
}

static int host_watch_update(er_watch_t *w, unsigned events)
{
    if (w == NULL || (events & ~(ER_WATCH_READ | ER_WATCH_WRITE)) != 0)
        return -EINVAL;
    LOOP_ONLY(w->link.ctx, "watch_update");
    if (uv_is_closing((uv_handle_t *)&w->h))
        return -EINVAL;
    if (events == 0)
        return uv_poll_stop(&w->h);
    return uv_poll_start(&w->h, watch_events(events), on_poll);
}

static void host_watch_stop(er_watch_t *w)
{
    if (w == NULL)
        return;
    LOOP_ONLY(w->link.ctx, "watch_stop");
    if (uv_is_closing((uv_handle_t *)&w->h)) {
        plugin_bug(NULL, "watch_stop() of a watch already stopped");
        return;
    }
    handle_unlink(&w->link);
    uv_close((uv_handle_t *)&w->h, on_watch_closed);
}

/* ------------------------------------------------------------- the rest */

static void *host_uv_loop(er_plugin_ctx_t *ctx)
{
    LOOP_ONLY(ctx, "uv_loop");
    return ctx != NULL ? ctx->loop : host_loop;
}

static const char *host_instance_name(er_plugin_ctx_t *ctx)
{
    return ctx != NULL ? ctx->name : "";
}

static const er_host_t host_table = {
    .size = sizeof(er_host_t),
    .abi_major = ER_PLUGIN_ABI_MAJOR,
    .abi_minor = ER_PLUGIN_ABI_MINOR,
    .log = host_log,
    .alloc = host_alloc,
    .realloc = host_realloc,
    .free = host_free,
    .event_ref = host_event_ref,
    .event_unref = host_event_unref,
    .event_get = host_event_get,
    .event_encoded = host_event_encoded,
    .event_new = host_event_new,
    .publish = host_publish,
    .ingest = host_ingest,
    .complete = host_complete,
    .complete_batch = host_complete_batch,
    /* lib/options.h's getters have the table's signatures exactly. */
    .opt_string = er__opt_string,
    .opt_int = er__opt_int,
    .opt_uint = er__opt_uint,
    .opt_bool = er__opt_bool,
    .opt_list = er__opt_list,
    .opt_map_next = er__opt_map_next,
    .set_health = host_set_health,
    .metric_counter = host_metric_counter,
    .metric_gauge = host_metric_gauge,
    .metric_add = host_metric_add,
    .metric_set = host_metric_set,
    .timer_start = host_timer_start,
    .timer_stop = host_timer_stop,
    .watch_start = host_watch_start,
    .watch_update = host_watch_update,
    .watch_stop = host_watch_stop,
    .state_get = host_state_get,
    .state_set = host_state_set,
    .query = host_query,
    .uv_loop = host_uv_loop,
    .instance_name = host_instance_name,
    .admin_reply = host_admin_reply,
    .token_new = host_token_new,
    .token_free = host_token_free,
    .complete_errno = host_complete_errno,
    .event_decode = host_event_decode,
};

const er_host_t *er__host(void)
{
    return &host_table;
}

void er__host_set_store(struct er_store_s *st)
{
    host_store = st;
}

void er__host_init(uv_loop_t *loop)
{
    host_loop = loop;
    loop_thread = uv_thread_self();
    loop_thread_set = true;
}

/* -------------------------------------------------------------- contexts */

er_plugin_ctx_t *er__plugin_ctx_new(const char *name, er_plugin_lib_t *lib,
                                    const er_options_t *opts, void *owner)
{
    er_plugin_ctx_t *ctx = calloc(1, sizeof(*ctx));

    if (ctx == NULL)
        return NULL;
    if ((ctx->name = strdup(name)) == NULL) {
        free(ctx);
        return NULL;
    }
    snprintf(ctx->component, sizeof(ctx->component), "%s:%s",
             lib != NULL ? er__plugin_kind_name(lib->desc->kind) : "plugin", name);
    ctx->lib = lib;
    if (lib != NULL)
        er__plugin_ref(lib);
    ctx->opts = opts;
    ctx->loop = host_loop;
    ctx->health = ER_HEALTH_UP;
    ctx->owner = owner;
    return ctx;
}

void er__plugin_ctx_free(er_plugin_ctx_t *ctx)
{
    er_metric_t *m, *next;
    unsigned timers = 0, watches = 0;

    if (ctx == NULL)
        return;
    /* Handles still open after stop()'s done: close them, so the loop can
     * still end cleanly, and say so. */
    while (ctx->handles != NULL) {
        handle_t *l = ctx->handles;
        handle_unlink(l);
        if (l->is_timer) {
            timers++;
            uv_close((uv_handle_t *)&((er_timer_t *)l)->h, on_timer_closed);
        } else {
            watches++;
            uv_close((uv_handle_t *)&((er_watch_t *)l)->h, on_watch_closed);
        }
    }
    if (timers + watches > 0)
        er__log_emit(ER_LOG_ERROR, ctx->component,
                     "plugin bug: %u timers and %u watches not stopped before stop() was done",
                     timers, watches);
    for (m = ctx->metrics; m != NULL; m = next) {
        next = m->next;
        free(m->name);
        free(m->help);
        free(m);
    }
    er__plugin_unload(ctx->lib);
    free(ctx->name);
    free(ctx);
}
