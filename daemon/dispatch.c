/*
 * Dispatch (see dispatch.h): handler instances, routing each sequenced
 * event to them, and the deliveries with their statuses.
 *
 * An event that goes anywhere is copied once into an er_ev_t and every
 * destination takes a reference. A destination delivers at most `window`
 * events at a time; the rest wait in its FIFO. A delivery owns its token:
 * the handler completes it at once (its return value) or later through
 * the host's complete(), which lands in on_complete().
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "evobj.h"
#include "host.h"
#include "log.h"
#include "plugin.h"
#include "store.h"

#define COMPONENT "dispatch"

typedef struct delivery_s delivery_t;

/* A retry waiting for its delay. */
typedef struct retry_s {
    uv_timer_t timer;
    delivery_t *dl;
    struct retry_s *prev, *next;
} retry_t;

/* A delivery's deadline (the handler's `timeout`). */
typedef struct deadline_s {
    uv_timer_t timer;
    delivery_t *dl;
} deadline_t;

struct delivery_s {
    er_token_t token; /* first: a token is its delivery */
    er_dest_t *dest;
    er_ev_t *ev;
    const er_retry_conf_t *policy; /* the first matching route's override, or the handler's */
    uint32_t attempts;
    int64_t first_failure_us; /* 0 until an attempt fails */
    retry_t *retry;
    deadline_t *deadline; /* while an attempt is pending and `timeout` is set */
    delivery_t *next_free;
};

/* An event waiting for the window, with the retry policy it goes with. */
typedef struct queued_s {
    er_ev_t *ev;
    const er_retry_conf_t *policy;
} queued_t;

struct er_dest_s {
    er_dispatch_t *d;
    size_t index;
    const er_handler_conf_t *conf;
    er_plugin_ctx_t *ctx;
    er_handler_ops_t ops; /* host-side copy: missing members are NULL */
    void *instance;
    bool created, started, stopped;
    const char *const *types;

    uint32_t inflight;
    queued_t *q; /* ring of events waiting for the window */
    size_t qhead, qlen, qcap;
    retry_t *retries;
    delivery_t *free_list;

    uint64_t delivered, retried, failed, gave_up, dropped, timed_out;
};

static void attempt(delivery_t *dl);
static void pump(er_dest_t *dst);
static void check_drained(er_dispatch_t *d);

/* ------------------------------------------------------------- queue */

static int q_push(er_dest_t *dst, er_ev_t *ev, const er_retry_conf_t *policy)
{
    if (dst->qlen == dst->qcap) {
        size_t ncap = dst->qcap ? dst->qcap * 2 : 64, i;
        queued_t *nq = malloc(ncap * sizeof(*nq));
        if (nq == NULL)
            return -ENOMEM;
        for (i = 0; i < dst->qlen; i++)
            nq[i] = dst->q[(dst->qhead + i) % dst->qcap];
        free(dst->q);
        dst->q = nq;
        dst->qcap = ncap;
        dst->qhead = 0;
    }
    dst->q[(dst->qhead + dst->qlen) % dst->qcap].ev = ev;
    dst->q[(dst->qhead + dst->qlen) % dst->qcap].policy = policy;
    dst->qlen++;
    dst->d->queued++;
    return 0;
}

/* The oldest waiting event (its reference passes to the caller), or NULL. */
static er_ev_t *q_pop(er_dest_t *dst, const er_retry_conf_t **policy)
{
    queued_t *e;
    if (dst->qlen == 0)
        return NULL;
    e = &dst->q[dst->qhead];
    dst->qhead = (dst->qhead + 1) % dst->qcap;
    dst->qlen--;
    dst->d->queued--;
    *policy = e->policy;
    return e->ev;
}

/* -------------------------------------------------------- deliveries */

static void on_complete(er_token_t *t, er_status_t status, size_t n, const er_status_t *statuses);

static delivery_t *delivery_new(er_dest_t *dst, er_ev_t *ev)
{
    delivery_t *dl = dst->free_list;
    if (dl)
        dst->free_list = dl->next_free;
    else if ((dl = malloc(sizeof(*dl))) == NULL)
        return NULL;
    memset(dl, 0, sizeof(*dl));
    dl->dest = dst;
    dl->ev = ev;
    return dl;
}

static void release(delivery_t *dl)
{
    er_dest_t *dst = dl->dest;

    er__ev_unref(dl->ev);
    dl->ev = NULL;
    er__token_clear(&dl->token);
    dl->next_free = dst->free_list;
    dst->free_list = dl;
    dst->inflight--;
    pump(dst);
    if (dst->d->stopping)
        check_drained(dst->d);
}

static void on_retry_closed(uv_handle_t *h)
{
    free(h->data);
}

static void retry_unlink(retry_t *r)
{
    er_dest_t *dst = r->dl->dest;
    if (r->prev)
        r->prev->next = r->next;
    else
        dst->retries = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->dl->retry = NULL;
    uv_close((uv_handle_t *)&r->timer, on_retry_closed);
}

static void on_retry_timer(uv_timer_t *t)
{
    retry_t *r = t->data;
    delivery_t *dl = r->dl;

    retry_unlink(r);
    attempt(dl);
}

/* A number in [0, 1) for the jitter (xorshift64*; not for secrets). */
static double unit_random(void)
{
    static uint64_t x;

    if (x == 0)
        x = (uint64_t)uv_hrtime() | 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

uint64_t er__dispatch_backoff_ms(const er_retry_conf_t *p, uint32_t attempts)
{
    double d = (double)p->initial_ms;
    uint32_t i;

    for (i = 1; i < attempts && d < (double)p->max_ms; i++)
        d *= p->multiplier;
    if (d > (double)p->max_ms)
        d = (double)p->max_ms;
    if (p->jitter > 0)
        d *= 1.0 + p->jitter * (2.0 * unit_random() - 1.0);
    return d < 1.0 ? 1 : (uint64_t)d;
}

static void on_deadline_closed(uv_handle_t *h)
{
    free(h->data);
}

/* The attempt is over (completed or given up): no deadline any more. */
static void deadline_clear(delivery_t *dl)
{
    if (dl->deadline == NULL)
        return;
    dl->deadline->dl = NULL;
    uv_close((uv_handle_t *)&dl->deadline->timer, on_deadline_closed);
    dl->deadline = NULL;
}

/* The handler's `timeout` passed: ask it to cancel (it completes the
 * token with ER_CANCELLED, which is retried like RETRY). A handler without
 * cancel() is waited for. */
static void on_deadline(uv_timer_t *t)
{
    deadline_t *dd = t->data;
    delivery_t *dl = dd->dl;
    er_dest_t *dst = dl->dest;
    const er_event_t *ev = er__ev_view(dl->ev);

    deadline_clear(dl);
    dst->timed_out++;
    er_log_limited(ER_LOG_WARN, dst->ctx->component,
                   "seq %llu (%.*s): no answer after %llu ms (timeout)%s",
                   (unsigned long long)ev->seq, (int)ev->type.len, ev->type.ptr,
                   (unsigned long long)dst->conf->timeout_ms,
                   dst->ops.cancel ? ": cancelling" : "; the plugin cannot cancel, still waiting");
    if (dst->ops.cancel)
        dst->ops.cancel(dst->instance, &dl->token); /* may complete dl at once */
}

static void deadline_start(delivery_t *dl)
{
    er_dest_t *dst = dl->dest;
    deadline_t *dd;

    if (dst->conf->timeout_ms == 0 || (dd = malloc(sizeof(*dd))) == NULL)
        return;
    dd->dl = dl;
    dd->timer.data = dd;
    uv_timer_init(dst->d->loop, &dd->timer);
    uv_timer_start(&dd->timer, on_deadline, dst->conf->timeout_ms, 0);
    dl->deadline = dd;
}

static void schedule_retry(delivery_t *dl)
{
    er_dest_t *dst = dl->dest;
    retry_t *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        er_log_limited(ER_LOG_ERROR, dst->ctx->component, "out of memory scheduling a retry");
        dst->dropped++;
        release(dl);
        return;
    }
    r->dl = dl;
    r->timer.data = r;
    uv_timer_init(dst->d->loop, &r->timer);
    uv_timer_start(&r->timer, on_retry_timer, er__dispatch_backoff_ms(dl->policy, dl->attempts), 0);
    r->next = dst->retries;
    if (dst->retries)
        dst->retries->prev = r;
    dst->retries = r;
    dl->retry = r;
}

/* Park dl's event in the store's dead letters (reason "failed" or
 * "retries_exhausted"). */
static void dead_letter(delivery_t *dl, const char *reason)
{
    er_dest_t *dst = dl->dest;
    er_dead_letter_t r;

    if (dst->d->store == NULL)
        return;
    memset(&r, 0, sizeof(r));
    r.seq = er__ev_view(dl->ev)->seq;
    r.destination = er_str(dst->conf->name);
    r.reason = er_str(reason);
    r.attempts = dl->attempts;
    r.last_failure_us = er_now_us();
    r.first_failure_us = dl->first_failure_us ? dl->first_failure_us : r.last_failure_us;
    er__store_dead_letter(dst->d->store, &r);
}

/* The outcome of one attempt. */
static void finish(delivery_t *dl, int status)
{
    er_dest_t *dst = dl->dest;
    const er_event_t *ev = er__ev_view(dl->ev);

    deadline_clear(dl);
    if (status != ER_OK && dl->first_failure_us == 0)
        dl->first_failure_us = er_now_us();
    switch (status) {
    case ER_OK:
        dst->delivered++;
        release(dl);
        return;
    case ER_FAIL:
        dst->failed++;
        er_log_limited(ER_LOG_WARN, dst->ctx->component, "seq %llu (%.*s): FAIL, dead-lettered",
                       (unsigned long long)ev->seq, (int)ev->type.len, ev->type.ptr);
        dead_letter(dl, "failed");
        release(dl);
        return;
    default: /* ER_RETRY, ER_CANCELLED, a negative errno, or a bad status */
        if (status != ER_RETRY && status != ER_CANCELLED)
            er_log_limited(ER_LOG_WARN, dst->ctx->component,
                           "handle() returned %d (%s): treated as RETRY", status,
                           status < 0 ? er_strerror(status) : "not a status");
        if (dl->attempts >= dl->policy->max_attempts) {
            dst->gave_up++;
            er_log_limited(ER_LOG_WARN, dst->ctx->component,
                           "seq %llu (%.*s): still failing after %u attempts, dead-lettered",
                           (unsigned long long)ev->seq, (int)ev->type.len, ev->type.ptr,
                           dl->attempts);
            dead_letter(dl, "retries_exhausted");
            release(dl);
            return;
        }
        if (dst->d->stopping) {
            /* Shutting down: not retried now, and not a dead letter either
             * (it did not exhaust its policy); the event stays stored. */
            dst->gave_up++;
            er_log_limited(ER_LOG_WARN, dst->ctx->component,
                           "seq %llu (%.*s): not delivered before shutdown (attempt %u)",
                           (unsigned long long)ev->seq, (int)ev->type.len, ev->type.ptr,
                           dl->attempts);
            release(dl);
            return;
        }
        dst->retried++;
        schedule_retry(dl);
        return;
    }
}

static void on_complete(er_token_t *t, er_status_t status, size_t n, const er_status_t *statuses)
{
    delivery_t *dl = t->owner;

    /* A handler's token covers one event; complete_batch with one status
     * is accepted too. */
    if (n >= 1 && statuses)
        status = statuses[0];
    if (status == ER_PENDING)
        status = ER_RETRY;
    finish(dl, (int)status);
}

static void attempt(delivery_t *dl)
{
    er_dest_t *dst = dl->dest;
    int rc;

    dl->attempts++;
    er__token_clear(&dl->token); /* what a previous attempt left */
    er__token_init(&dl->token, on_complete, dl, dst->ctx);
    er__token_begin(&dl->token);
    rc = dst->ops.handle(dst->instance, dl->ev, &dl->token);
    /* Pending and not completed from inside handle(): the deadline runs
     * (set before er__token_returned, after which dl may be recycled). */
    if (rc == ER_PENDING && !dl->token.completed)
        deadline_start(dl);
    /* After ER_PENDING a completion made inside handle() has been applied
     * (dl may be recycled already); a final status settles it here. */
    rc = er__token_returned(&dl->token, rc);
    if (rc != ER_PENDING)
        finish(dl, rc);
}

static void deliver(er_dest_t *dst, er_ev_t *ev, const er_retry_conf_t *policy)
{
    delivery_t *dl = delivery_new(dst, ev);

    if (dl == NULL) {
        er_log_limited(ER_LOG_ERROR, dst->ctx->component, "out of memory: event dropped");
        dst->dropped++;
        er__ev_unref(ev);
        return;
    }
    dl->policy = policy;
    dst->inflight++;
    attempt(dl);
}

static void pump(er_dest_t *dst)
{
    const er_retry_conf_t *policy;
    er_ev_t *ev;

    while (dst->qlen > 0 && dst->inflight < dst->conf->window && !dst->stopped) {
        ev = q_pop(dst, &policy);
        deliver(dst, ev, policy);
    }
}

void er__dispatch_event(er_dispatch_t *d, er_ev_t *obj)
{
    er_route_result_t res = {.dests = d->bits, .retry_route = -1};
    const er_event_t *ev = er__ev_view(obj);
    const er_retry_conf_t *override;
    size_t i, w, words;

    if (d->router == NULL || er__router_match(d->router, ev, &res) == 0) {
        d->unrouted++;
        return;
    }
    d->routed++;
    override = res.retry_route >= 0 ? er__router_retry(d->router, (size_t)res.retry_route) : NULL;
    words = er__router_words(d->router);
    for (w = 0; w < words; w++) {
        uint64_t bits = d->bits[w];
        while (bits) {
            er_dest_t *dst;
            i = w * 64 + (size_t)__builtin_ctzll(bits);
            bits &= bits - 1;
            dst = &d->dests[i];
            const er_retry_conf_t *policy = override ? override : &dst->conf->retry;
            if (dst->qlen == 0 && dst->inflight < dst->conf->window) {
                deliver(dst, er__ev_ref(obj), policy);
            } else if (q_push(dst, er__ev_ref(obj), policy) != 0) {
                er__ev_unref(obj);
                dst->dropped++;
                er_log_limited(ER_LOG_ERROR, dst->ctx->component, "out of memory: seq %llu dropped",
                               (unsigned long long)ev->seq);
            }
        }
    }
}

/* ------------------------------------------------------------- start */

int er__dispatch_start(er_dispatch_t *d, uv_loop_t *loop, const er_config_t *cfg, char *err,
                       size_t cap)
{
    const char *const **declared = NULL;
    size_t i;
    int rc = 0;

    memset(d, 0, sizeof(*d));
    d->loop = loop;
    d->cfg = cfg;
    d->ndest = cfg->nhandlers;
    uv_timer_init(loop, &d->drain_timer);
    d->drain_timer.data = d;
    uv_idle_init(loop, &d->unload_idle);
    d->unload_idle.data = d;
    if (d->ndest > 0) {
        d->dests = calloc(d->ndest, sizeof(*d->dests));
        declared = calloc(d->ndest, sizeof(*declared));
        if (d->dests == NULL || declared == NULL) {
            snprintf(err, cap, "out of memory");
            free(declared);
            return -ENOMEM;
        }
    }
    for (i = 0; i < d->ndest; i++) {
        er_dest_t *dst = &d->dests[i];
        const er_handler_conf_t *hc = &cfg->handlers[i];
        size_t n;

        dst->d = d;
        dst->index = i;
        dst->conf = hc;
        dst->ctx = er__plugin_ctx_new(hc->name, hc->lib, hc->options, dst);
        if (dst->ctx == NULL) {
            snprintf(err, cap, "handlers.%s: out of memory", hc->name);
            rc = -ENOMEM;
            break;
        }
        n = hc->lib->ops_size < sizeof(dst->ops) ? hc->lib->ops_size : sizeof(dst->ops);
        memcpy(&dst->ops, hc->lib->ops, n);
        rc = dst->ops.create(er__host(), dst->ctx, hc->options, &dst->instance);
        if (rc != 0) {
            snprintf(err, cap, "handlers.%s: plugin %s: create failed: %s", hc->name, hc->lib->path,
                     er_strerror(rc));
            break;
        }
        dst->created = true;
        dst->ctx->instance = dst->instance;
        rc = dst->ops.start(dst->instance);
        if (rc != 0) {
            snprintf(err, cap, "handlers.%s: plugin %s: start failed: %s", hc->name, hc->lib->path,
                     er_strerror(rc));
            break;
        }
        dst->started = true;
        if (hc->subscribe && dst->ops.types)
            dst->types = dst->ops.types(dst->instance);
        declared[i] = dst->types;
        er_log(ER_LOG_INFO, dst->ctx->component, "started (plugin %s %s, window %llu)",
               hc->lib->desc->name, hc->lib->desc->version ? hc->lib->desc->version : "",
               (unsigned long long)hc->window);
    }
    if (rc == 0) {
        rc = er__router_build(cfg, declared, &d->router);
        if (rc == 0) {
            d->bits = calloc(er__router_words(d->router) + 1, sizeof(*d->bits));
            if (d->bits == NULL)
                rc = -ENOMEM;
        }
        if (rc != 0)
            snprintf(err, cap, "routing table: %s", er_strerror(rc));
    }
    free(declared);
    return rc;
}

/* -------------------------------------------------------------- stop */

static void on_unload_turn(uv_idle_t *h)
{
    er_dispatch_t *d = h->data;
    er_dispatch_done_cb done = d->done;

    /* One loop turn after the last stop's done: nothing of the plugins
     * runs any more; their .so may be unloaded (by the config's free). */
    uv_idle_stop(h);
    uv_close((uv_handle_t *)&d->unload_idle, NULL);
    uv_close((uv_handle_t *)&d->drain_timer, NULL);
    er__router_free(d->router);
    d->router = NULL;
    free(d->bits);
    free(d->dests);
    d->dests = NULL;
    if (done)
        done(d);
}

static void free_dest(er_dest_t *dst)
{
    const er_retry_conf_t *policy;
    delivery_t *dl;
    er_ev_t *ev;

    while ((ev = q_pop(dst, &policy)) != NULL)
        er__ev_unref(ev);
    free(dst->q);
    while ((dl = dst->free_list) != NULL) {
        dst->free_list = dl->next_free;
        free(dl);
    }
    if (dst->created && dst->ops.destroy)
        dst->ops.destroy(dst->instance);
    dst->created = false;
    if (dst->ctx)
        er__plugin_ctx_free(dst->ctx);
    dst->ctx = NULL;
}

static void on_stopped(void *arg)
{
    er_dest_t *dst = arg;
    er_dispatch_t *d = dst->d;

    dst->stopped = true;
    if (--d->stops_pending > 0)
        return;
    for (size_t i = 0; i < d->ndest; i++)
        free_dest(&d->dests[i]);
    uv_idle_start(&d->unload_idle, on_unload_turn);
}

/* Every delivery finished (or the drain time is up): stop the instances. */
static void stop_instances(er_dispatch_t *d)
{
    size_t i, n = 0;

    uv_timer_stop(&d->drain_timer);
    for (i = 0; i < d->ndest; i++) {
        er_dest_t *dst = &d->dests[i];
        /* Retries not yet due are given up. */
        while (dst->retries) {
            delivery_t *dl = dst->retries->dl;
            retry_unlink(dst->retries);
            dst->gave_up++;
            release(dl);
        }
        if (dst->qlen > 0)
            er_log(ER_LOG_WARN, dst->ctx ? dst->ctx->component : COMPONENT,
                   "%zu queued events not delivered (they are stored; catching up from the "
                   "store arrives with the delivery engine)",
                   dst->qlen);
        dst->stopped = true;
        if (dst->started)
            n++;
    }
    d->stops_pending = n + 1;
    for (i = 0; i < d->ndest; i++) {
        er_dest_t *dst = &d->dests[i];
        if (dst->started) {
            dst->started = false;
            dst->ops.stop(dst->instance, on_stopped, dst);
        }
    }
    /* The extra count keeps a synchronous done() from finishing early. */
    d->stops_pending--;
    if (d->stops_pending == 0) {
        for (i = 0; i < d->ndest; i++)
            free_dest(&d->dests[i]);
        uv_idle_start(&d->unload_idle, on_unload_turn);
    }
}

static void check_drained(er_dispatch_t *d)
{
    size_t i;

    if (!uv_is_active((uv_handle_t *)&d->drain_timer))
        return; /* not waiting (already stopping the instances) */
    for (i = 0; i < d->ndest; i++)
        if (d->dests[i].inflight > 0 || (d->dests[i].qlen > 0 && d->dests[i].started))
            return;
    stop_instances(d);
}

/* Stop waiting for deliveries (why: "shutdown_timeout reached", ...). */
static void stop_waiting(er_dispatch_t *d, const char *why)
{
    size_t i;
    uint64_t inflight = 0;

    for (i = 0; i < d->ndest; i++)
        inflight += d->dests[i].inflight;
    er_log(ER_LOG_WARN, COMPONENT, "%s with %llu deliveries in flight: stopping the handlers", why,
           (unsigned long long)inflight);
    stop_instances(d);
}

static void on_drain_timeout(uv_timer_t *t)
{
    stop_waiting(t->data, "shutdown_timeout reached");
}

void er__dispatch_stop(er_dispatch_t *d, er_dispatch_done_cb done)
{
    if (d->stopping) {
        /* Asked again (a second signal): stop waiting for deliveries. */
        if (uv_is_active((uv_handle_t *)&d->drain_timer))
            stop_waiting(d, "asked again");
        return;
    }
    d->stopping = true;
    d->done = done;
    uv_timer_start(&d->drain_timer, on_drain_timeout, d->cfg->shutdown_timeout_ms, 0);
    check_drained(d);
}

void er__dispatch_reopen(er_dispatch_t *d)
{
    size_t i;
    for (i = 0; i < d->ndest; i++) {
        er_dest_t *dst = &d->dests[i];
        int rc;
        if (!dst->started || dst->ops.reopen == NULL)
            continue;
        if ((rc = dst->ops.reopen(dst->instance)) != 0)
            er_log(ER_LOG_ERROR, dst->ctx->component, "reopen: %s", er_strerror(rc));
    }
}

/* ------------------------------------------------------------ admin */

static void emit_int(void *arg, const char *name, int64_t value)
{
    json_object_set_new((json_t *)arg, name, json_integer(value));
}

static const char *const health_names[] = {"UP", "DEGRADED", "DOWN"};

json_t *er__dispatch_handlers(const er_dispatch_t *d)
{
    json_t *arr = json_array();
    size_t i;

    for (i = 0; arr && i < d->ndest; i++) {
        const er_dest_t *dst = &d->dests[i];
        json_t *o = json_object(), *types = json_array(), *metrics = json_object(),
               *stats = json_object();
        const char *const *t;
        if (o == NULL || types == NULL || metrics == NULL || stats == NULL) {
            json_decref(o);
            json_decref(types);
            json_decref(metrics);
            json_decref(stats);
            continue;
        }
        for (t = dst->types; t && *t; t++)
            json_array_append_new(types, json_string(*t));
        if (dst->ctx)
            er__plugin_ctx_metrics(dst->ctx, emit_int, metrics);
        if (dst->started && dst->ops.stats)
            dst->ops.stats(dst->instance, emit_int, stats);
        json_object_set_new(o, "name", json_string(dst->conf->name));
        json_object_set_new(o, "plugin", json_string(dst->conf->lib->desc->name));
        json_object_set_new(o, "file", json_string(dst->conf->lib->path));
        json_object_set_new(o, "state", json_string(dst->started ? "running" : "stopped"));
        json_object_set_new(
            o, "health",
            json_string(dst->ctx ? health_names[dst->ctx->health <= 2 ? dst->ctx->health : 2]
                                 : "DOWN"));
        if (dst->ctx && dst->ctx->health_reason[0])
            json_object_set_new(o, "health_reason", json_string(dst->ctx->health_reason));
        json_object_set_new(o, "window", json_integer((json_int_t)dst->conf->window));
        json_object_set_new(o, "inflight", json_integer(dst->inflight));
        json_object_set_new(o, "queued", json_integer((json_int_t)dst->qlen));
        json_object_set_new(o, "delivered", json_integer((json_int_t)dst->delivered));
        json_object_set_new(o, "retried", json_integer((json_int_t)dst->retried));
        json_object_set_new(o, "failed", json_integer((json_int_t)dst->failed));
        json_object_set_new(o, "gave_up", json_integer((json_int_t)dst->gave_up));
        json_object_set_new(o, "timed_out", json_integer((json_int_t)dst->timed_out));
        json_object_set_new(o, "dropped", json_integer((json_int_t)dst->dropped));
        json_object_set_new(o, "subscribe", json_boolean(dst->conf->subscribe));
        json_object_set_new(o, "types", types);
        json_object_set_new(o, "metrics", metrics);
        json_object_set_new(o, "stats", stats);
        json_array_append_new(arr, o);
    }
    return arr;
}

json_t *er__dispatch_stats(const er_dispatch_t *d)
{
    return json_pack("{s:I, s:I, s:I}", "routed", (json_int_t)d->routed, "unrouted",
                     (json_int_t)d->unrouted, "queued", (json_int_t)d->queued);
}

int er__dispatch_health(const er_dispatch_t *d, json_t **details)
{
    int worst = ER_HEALTH_UP;
    size_t i;

    *details = json_object();
    for (i = 0; i < d->ndest; i++) {
        const er_dest_t *dst = &d->dests[i];
        int h = dst->ctx ? (int)dst->ctx->health : ER_HEALTH_DOWN;
        if (!dst->started)
            h = ER_HEALTH_DOWN;
        if (h > worst)
            worst = h;
        if (*details)
            json_object_set_new(*details, dst->conf->name, json_string(health_names[h]));
    }
    return worst;
}

const char *er__dispatch_dest_name(const er_dispatch_t *d, size_t i)
{
    return i < d->ndest ? d->dests[i].conf->name : "?";
}
