/*
 * Dispatch (see dispatch.h): handler instances, the fresh cache, each
 * destination's walk through the sequence with its store reads, the
 * deliveries with their statuses, cursors, and the operator commands.
 *
 * A destination examines seqs in order: first what an operator sent back
 * (dead letters, forwarded ones: "side" deliveries, outside the cursor),
 * then what a store read buffered, then the fresh cache; when the next seq
 * is older than the cache it reads the store (at most CATCHUP_ROWS rows or
 * CATCHUP_BYTES of events at a time, never past the committed head). A
 * delivery owns its token and one timer (its attempt's deadline, or the
 * delay before its next attempt); the handler completes the token at once
 * (its return value) or later through the host's complete(), which lands
 * in on_complete().
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
#include "track.h"
#include "workers.h"

#define COMPONENT "dispatch"

/* A store read: at most this many rows, and it stops early once this many
 * bytes of events wait in the destination's buffer. */
#define CATCHUP_ROWS  1024
#define CATCHUP_BYTES (8u << 20)
/* Housekeeping (cache eviction, failed reads and cursor writes tried
 * again) runs this often while something needs it. */
#define TICK_MS 100
/* An event attempted during this many consecutive crashes is
 * dead-lettered ("crashed") instead of attempted again. */
#define CRASH_LIMIT 3
/* Recovery covers what a destination can have been given past its stored
 * cursor: its window, plus what one cursor write lets it move (about a
 * commit's worth at full speed). An event further ahead that crashed it
 * is within the range of the next start (the cursor has moved on). */
#define RECOVERY_SLACK 1024
/* A failed store read or cursor write is tried again after this long. */
#define READ_RETRY_MS 1000

typedef struct er_centry_s {
    er_ev_t *ev; /* NULL: routed nowhere */
    uint32_t bytes;
    int32_t retry_route; /* the first matched route with a retry override, or -1 */
} centry_t;

/* An event waiting for a window slot. */
typedef struct slot_s {
    er_ev_t *ev;
    uint64_t dlq_id;     /* a dead letter sent back (side) */
    int32_t retry_route; /* read from the store: its route's override, or -1 */
    bool forwarded;      /* sent by dead_letter.forward_to (side) */
    uint32_t tag;        /* er__dispatch_side's (a replay), 0: none (side) */
} slot_t;

typedef struct ring_s {
    slot_t *s;
    size_t head, len, cap;
    uint64_t bytes;
} ring_t;

typedef struct delivery_s delivery_t;
struct delivery_s {
    er_token_t token; /* first: a token is its delivery */
    er_dest_t *dest;
    er_ev_t *ev;
    uint64_t seq;
    const er_retry_conf_t *policy; /* the first matching route's override, or the handler's */
    uint32_t attempts;
    int64_t first_failure_us; /* 0 until an attempt fails */
    bool side;                /* outside the cursor (a dead letter sent back, forwarded) */
    bool forwarded;
    bool dead_lettered; /* its last attempt parked it */
    uint32_t tag;       /* side: er__dispatch_side's tag (0: none) */
    uint64_t dlq_id;    /* side: the dead letter it came from (0: none) */
    uint64_t slot;      /* not side: its place in the destination's track */
    bool waiting;       /* the timer is the delay before the next attempt */
    bool timing;        /* the timer is the pending attempt's deadline */
    uv_timer_t timer;
    er_work_t work;          /* a blocking handler's attempt, on its workers */
    delivery_t *prev, *next; /* the destination's active deliveries, or the free list */
};

struct er_dest_s {
    er_dispatch_t *d;
    size_t index;
    const er_handler_conf_t *conf;
    er_plugin_ctx_t *ctx;
    er_handler_ops_t ops; /* host-side copy: missing members are NULL */
    void *instance;
    bool created, started, stopped, paused;
    bool positioned; /* knows where it resumes (cursors read) */
    bool blocking;   /* handle() runs on the pool's threads (ER_PLUGIN_BLOCKING) */
    er_workers_t *pool;
    /* Removed or replaced by a reload: finishing its deliveries, then
     * stopped; `successor` (a replacement) resumes at its cursor. */
    bool retiring, instance_stopping, instance_stopped;
    er_dest_t *successor, *next_retiring;
    uv_timer_t *retire_timer;
    bool dead; /* freed but for cursor writes in flight */

    /* Recovery after an unclean stop (poison events, DESIGN §6): up to
     * `until`, one delivery at a time, each after a durable record of
     * the seq being attempted and how many crashes in a row it has seen. */
    struct {
        bool on;
        uint64_t until;
        uint64_t seq;   /* the last record: seq attempted, */
        uint32_t count; /* and the consecutive crashes it counts */
        er_ev_t *ev;    /* waiting for its record to be written */
        uint64_t ev_seq;
        uint32_t ev_count;
        const er_retry_conf_t *policy;
        bool writing;
        er_token_t token;
        char scope[96];
        const void *value; /* the record read at start (valid in on_record_read) */
        size_t len;
    } rec;
    bool pumping; /* in pump(): a delivery finishing inside it does not recurse */
    const char *const *types;

    er_track_t track;
    uint64_t persisted;      /* the cursor as last written to the store */
    uint32_t writing;        /* cursor writes in flight (completed in order) */
    bool has_cursor;         /* the store holds one (persisted is its value) */
    uint64_t write_retry_at; /* after a failed write: not before then */

    ring_t buf;  /* read from the store, routed here, not yet begun */
    ring_t side; /* dead letters sent back, forwarded dead letters */
    bool reading;
    uint64_t read_gen;  /* bumped when the cursor moves: older reads are ignored */
    uint64_t read_seen; /* every seq below it was examined by store reads */
    bool wait_commit;   /* the next seq to read is not committed yet */
    uint64_t read_retry_at;
    int64_t last_received; /* `received` of the last event it took */

    uint32_t inflight; /* deliveries begun, not yet released (retries waiting too) */
    uint32_t retrying; /* of them, waiting for their next attempt */
    delivery_t *active, *free_list;

    uint64_t delivered, retried, failed, gave_up, timed_out, dead_lettered, read_from_store;
    uint64_t skipped; /* events retention skipped (max_lag) */
};

static void attempt(delivery_t *dl);
static void pump(er_dest_t *dst);
static void check_drained(er_dispatch_t *d);
static void on_drain_timeout(uv_timer_t *t);
static void arm(er_dispatch_t *d);
static void flush_cursor(er_dest_t *dst);
static void maybe_retired(er_dest_t *dst);
static void dest_put(er_dest_t *dst);
static void delete_cursor(er_dest_t *dst);
static void retire(er_dest_t *dst, er_dest_t *successor);

/* -------------------------------------------------------------- rings */

static int ring_push(ring_t *r, slot_t slot)
{
    if (r->len == r->cap) {
        size_t ncap = r->cap ? r->cap * 2 : 64, i;
        slot_t *ns = malloc(ncap * sizeof(*ns));
        if (ns == NULL)
            return -ENOMEM;
        for (i = 0; i < r->len; i++)
            ns[i] = r->s[(r->head + i) % r->cap];
        free(r->s);
        r->s = ns;
        r->cap = ncap;
        r->head = 0;
    }
    r->s[(r->head + r->len) % r->cap] = slot;
    r->len++;
    r->bytes += er__ev_size(slot.ev);
    return 0;
}

/* The oldest slot (its reference passes to the caller); r not empty. */
static slot_t ring_pop(ring_t *r)
{
    slot_t s = r->s[r->head];

    r->head = (r->head + 1) % r->cap;
    r->len--;
    r->bytes -= er__ev_size(s.ev);
    return s;
}

static void ring_clear(ring_t *r)
{
    while (r->len > 0)
        er__ev_unref(ring_pop(r).ev);
}

/* A side slot that will not be delivered: its tag's owner hears of it. */
static void side_drop(er_dispatch_t *d, slot_t *sl)
{
    if (sl->tag != 0 && d->side_cb != NULL)
        d->side_cb(d->side_arg, sl->tag, ER_SIDE_DROPPED);
    er__ev_unref(sl->ev);
}

static bool ring_has_dlq(const ring_t *r, uint64_t dlq_id)
{
    for (size_t i = 0; i < r->len; i++)
        if (r->s[(r->head + i) % r->cap].dlq_id == dlq_id)
            return true;
    return false;
}

/* -------------------------------------------------------------- cache */

static bool cache_has(const er_cache_t *c, uint64_t seq)
{
    return c->count > 0 && seq >= c->base && seq < c->base + c->count;
}

static size_t cache_index(const er_cache_t *c, uint64_t seq)
{
    return (c->head + (size_t)(seq - c->base)) % c->cap;
}

static uint64_t entry_cost(const er_cache_t *c, const centry_t *e)
{
    return e->bytes + sizeof(centry_t) + c->words * sizeof(uint64_t);
}

static void cache_pop(er_cache_t *c)
{
    centry_t *e = &c->e[c->head];

    c->bytes -= entry_cost(c, e);
    er__ev_unref(e->ev);
    e->ev = NULL;
    c->head = (c->head + 1) % c->cap;
    c->base++;
    c->count--;
}

static int cache_resize(er_cache_t *c, size_t ncap)
{
    centry_t *ne = malloc(ncap * sizeof(*ne));
    uint64_t *nb = malloc(ncap * c->words * sizeof(*nb));
    size_t i;

    if (ne == NULL || nb == NULL) {
        free(ne);
        free(nb);
        return -ENOMEM;
    }
    for (i = 0; i < c->count; i++) {
        size_t from = (c->head + i) % c->cap;
        ne[i] = c->e[from];
        memcpy(&nb[i * c->words], &c->bits[from * c->words], c->words * sizeof(*nb));
    }
    free(c->e);
    free(c->bits);
    c->e = ne;
    c->bits = nb;
    c->cap = ncap;
    c->head = 0;
    return 0;
}

static void cache_clear(er_cache_t *c)
{
    while (c->count > 0)
        cache_pop(c);
}

/* Append seq's entry (ev: a reference taken, NULL when routed nowhere;
 * bits: its destinations). Seqs missing before it get empty entries. */
static int cache_push(er_cache_t *c, uint64_t seq, er_ev_t *ev, const uint64_t *bits,
                      int32_t retry_route)
{
    if (c->count == 0)
        c->base = seq;
    if (seq < c->base + c->count) {
        er__ev_unref(ev);
        return -EINVAL; /* not in order: a bug upstream */
    }
    while (c->base + c->count <= seq) {
        centry_t *e;
        bool last = c->base + c->count == seq;
        size_t i;
        if (c->count == c->cap && cache_resize(c, c->cap ? c->cap * 2 : 1024) != 0) {
            er__ev_unref(ev);
            return -ENOMEM;
        }
        i = (c->head + c->count) % c->cap;
        e = &c->e[i];
        e->ev = last ? ev : NULL;
        e->bytes = last && ev ? (uint32_t)er__ev_size(ev) : 0;
        e->retry_route = last ? retry_route : -1;
        if (last && bits)
            memcpy(&c->bits[i * c->words], bits, c->words * sizeof(*bits));
        else
            memset(&c->bits[i * c->words], 0, c->words * sizeof(*bits));
        c->bytes += entry_cost(c, e);
        c->count++;
    }
    return 0;
}

/* The lowest seq destination dst may still take from the cache. */
static uint64_t cache_need(const er_dest_t *dst)
{
    return dst->read_seen > dst->track.scan ? dst->read_seen : dst->track.scan;
}

/* Drop what no destination needs any more, and the oldest entries beyond
 * limits.fresh_cache (a destination that needed them reads the store). */
static void cache_evict(er_dispatch_t *d)
{
    er_cache_t *c = &d->cache;
    uint64_t need = UINT64_MAX;
    size_t i;

    if (c->count == 0)
        return;
    for (i = 0; i < d->ndest; i++) {
        const er_dest_t *dst = d->dests[i];
        if (dst->started && dst->positioned && cache_need(dst) < need)
            need = cache_need(dst);
    }
    while (c->count > 0 && (c->base < need || c->bytes > d->cfg->limits.fresh_cache))
        cache_pop(c);
    if (c->cap > 4096 && c->count < c->cap / 8)
        cache_resize(c, c->cap / 2); /* on failure it stays as large */
}

static bool has_bit(const uint64_t *bits, size_t i)
{
    return (bits[i / 64] >> (i % 64)) & 1;
}

static const er_retry_conf_t *policy_of(const er_dest_t *dst, int32_t retry_route)
{
    const er_retry_conf_t *p = NULL;

    if (retry_route >= 0 && dst->d->router)
        p = er__router_retry(dst->d->router, (size_t)retry_route);
    return p ? p : &dst->conf->retry;
}

/* -------------------------------------------------------- deliveries */

static void on_complete(er_token_t *t, er_status_t status, size_t n, const er_status_t *statuses);
static void on_timer(uv_timer_t *t);

static delivery_t *delivery_new(er_dest_t *dst, er_ev_t *ev, uint64_t seq)
{
    delivery_t *dl = dst->free_list;

    if (dl) {
        dst->free_list = dl->next;
    } else {
        if ((dl = malloc(sizeof(*dl))) == NULL)
            return NULL;
        uv_timer_init(dst->d->loop, &dl->timer);
    }
    dl->dest = dst;
    dl->ev = ev;
    dl->seq = seq;
    dl->policy = &dst->conf->retry;
    dl->attempts = 0;
    dl->first_failure_us = 0;
    dl->side = dl->forwarded = dl->dead_lettered = dl->waiting = dl->timing = false;
    dl->tag = 0;
    dl->dlq_id = 0;
    dl->slot = 0;
    memset(&dl->token, 0, sizeof(dl->token));
    dl->timer.data = dl;
    dl->prev = NULL;
    dl->next = dst->active;
    if (dst->active)
        dst->active->prev = dl;
    dst->active = dl;
    dst->inflight++;
    return dl;
}

static void on_dlq_deleted(void *arg, int err, const char *message)
{
    uint64_t *id = arg;

    if (err != 0 && err != -ENOENT)
        er_log_limited(ER_LOG_ERROR, COMPONENT, "dead letter %llu not deleted: %s",
                       (unsigned long long)*id, message);
    free(id);
}

/* Delete a dead letter whose event was settled again (fire and forget). */
static void dlq_delete(er_dispatch_t *d, uint64_t dlq_id)
{
    uint64_t *id = malloc(sizeof(*id));
    int rc;

    if (id == NULL) {
        er_log_limited(ER_LOG_ERROR, COMPONENT, "out of memory: dead letter %llu not deleted",
                       (unsigned long long)dlq_id);
        return;
    }
    *id = dlq_id;
    if ((rc = er__store_dlq_delete(d->store, dlq_id, on_dlq_deleted, id)) != 0)
        on_dlq_deleted(id, rc, er_strerror(rc));
}

/* The delivery is over. done: its event counts as done for the cursor
 * (delivered or dead-lettered), not when it was given up at shutdown or
 * dropped by an operator's cursor move. */
static void release(delivery_t *dl, bool done)
{
    er_dest_t *dst = dl->dest;

    if (dl->waiting) {
        uv_timer_stop(&dl->timer);
        dst->retrying--;
    } else if (dl->timing) {
        uv_timer_stop(&dl->timer);
    }
    dl->waiting = dl->timing = false;
    if (!dl->side && done) {
        er__track_done(&dst->track, dl->slot);
        flush_cursor(dst);
    }
    if (dl->side && done && dl->dlq_id != 0)
        dlq_delete(dst->d, dl->dlq_id);
    if (dl->tag != 0 && dst->d->side_cb != NULL)
        dst->d->side_cb(dst->d->side_arg, dl->tag,
                        !done               ? ER_SIDE_DROPPED
                        : dl->dead_lettered ? ER_SIDE_DEAD_LETTERED
                                            : ER_SIDE_DELIVERED);
    if (dl->prev)
        dl->prev->next = dl->next;
    else
        dst->active = dl->next;
    if (dl->next)
        dl->next->prev = dl->prev;
    er__ev_unref(dl->ev);
    dl->ev = NULL;
    er__token_clear(&dl->token);
    dl->next = dst->free_list;
    dst->free_list = dl;
    dst->inflight--;
    pump(dst);
    if (dst->retiring)
        maybe_retired(dst);
    if (dst->d->stopping)
        check_drained(dst->d);
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

/* The handler's `timeout` passed: ask it to cancel (it completes the
 * token with ER_CANCELLED, which is retried like RETRY). A handler without
 * cancel() is waited for. */
static void on_deadline(delivery_t *dl)
{
    er_dest_t *dst = dl->dest;
    const er_event_t *ev = er__ev_view(dl->ev);

    dl->timing = false;
    dst->timed_out++;
    er_log_limited(ER_LOG_WARN, dst->ctx->component,
                   "seq %llu (%.*s): no answer after %llu ms (timeout)%s",
                   (unsigned long long)ev->seq, (int)ev->type.len, ev->type.ptr,
                   (unsigned long long)dst->conf->timeout_ms,
                   dst->ops.cancel && !dst->blocking ? ": cancelling"
                                                     : "; the plugin cannot cancel, still waiting");
    if (dst->ops.cancel && !dst->blocking)
        dst->ops.cancel(dst->instance, &dl->token); /* may complete dl at once */
}

static void on_timer(uv_timer_t *t)
{
    delivery_t *dl = t->data;

    if (dl->waiting) {
        dl->waiting = false;
        dl->dest->retrying--;
        attempt(dl);
    } else if (dl->timing) {
        on_deadline(dl);
    }
}

/* Park dl's event in the store's dead letters (reason "failed" or
 * "retries_exhausted") and forward it when the config says so. */
static void dead_letter(delivery_t *dl, const char *reason)
{
    er_dest_t *dst = dl->dest;
    er_dispatch_t *d = dst->d;
    er_dead_letter_t r;

    memset(&r, 0, sizeof(r));
    r.seq = er__ev_view(dl->ev)->seq;
    r.destination = er_str(dst->conf->name);
    r.reason = er_str(reason);
    r.attempts = dl->attempts;
    r.last_failure_us = er_now_us();
    r.first_failure_us = dl->first_failure_us ? dl->first_failure_us : r.last_failure_us;
    er__store_dead_letter(d->store, &r);
    dst->dead_lettered++;
    dl->dead_lettered = true;
    /* A dead letter sent back and failing again was forwarded the first
     * time; one forwarded and failing is the forward destination's own. */
    if (d->forward != NULL && d->forward != dst && !dl->side) {
        er_dest_t *to = d->forward;
        if (ring_push(&to->side,
                      (slot_t){.ev = er__ev_ref(dl->ev), .retry_route = -1, .forwarded = true}) !=
            0) {
            er__ev_unref(dl->ev);
            er_log_limited(ER_LOG_ERROR, COMPONENT,
                           "out of memory: seq %llu not forwarded to %s (it is a dead letter)",
                           (unsigned long long)r.seq, to->conf->name);
        } else {
            pump(to);
        }
    }
}

/* The outcome of one attempt. */
static void finish(delivery_t *dl, int status)
{
    er_dest_t *dst = dl->dest;
    const er_event_t *ev = er__ev_view(dl->ev);

    if (dl->timing) {
        uv_timer_stop(&dl->timer);
        dl->timing = false;
    }
    if (status != ER_OK && dl->first_failure_us == 0)
        dl->first_failure_us = er_now_us();
    switch (status) {
    case ER_OK:
        dst->delivered++;
        release(dl, true);
        return;
    case ER_FAIL:
        dst->failed++;
        er_log_limited(ER_LOG_WARN, dst->ctx->component, "seq %llu (%.*s): FAIL, dead-lettered",
                       (unsigned long long)ev->seq, (int)ev->type.len, ev->type.ptr);
        dead_letter(dl, "failed");
        release(dl, true);
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
            release(dl, true);
            return;
        }
        if (dst->d->stopping) {
            /* Shutting down: not retried now, and not a dead letter either
             * (it did not exhaust its policy); its cursor stays before it,
             * so it is delivered after a restart. */
            dst->gave_up++;
            er_log_limited(ER_LOG_WARN, dst->ctx->component,
                           "seq %llu (%.*s): not delivered before shutdown (attempt %u)",
                           (unsigned long long)ev->seq, (int)ev->type.len, ev->type.ptr,
                           dl->attempts);
            release(dl, false);
            return;
        }
        dst->retried++;
        dst->retrying++;
        dl->waiting = true;
        uv_timer_start(&dl->timer, on_timer, er__dispatch_backoff_ms(dl->policy, dl->attempts), 0);
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

/* A blocking handler's attempt, on one of its worker threads. */
static int run_blocking(er_work_t *w)
{
    delivery_t *dl = (delivery_t *)((char *)w - offsetof(delivery_t, work));
    er_dest_t *dst = dl->dest;
    int rc;

    /* What a publish() from inside handle() derives its hops from. */
    er__host_handling(dst->ctx, dl->ev);
    rc = dst->ops.handle(dst->instance, dl->ev, &dl->token);
    er__host_handling(dst->ctx, NULL);
    return rc;
}

/* Back on the loop with its answer (a final status), or handed back
 * unrun by a stopping pool. */
static void blocking_done(er_work_t *w, int result, bool cancelled)
{
    delivery_t *dl = (delivery_t *)((char *)w - offsetof(delivery_t, work));
    er_dest_t *dst = dl->dest;

    if (cancelled) {
        if (dl->timing) {
            uv_timer_stop(&dl->timer);
            dl->timing = false;
        }
        dst->gave_up++;
        release(dl, false); /* delivered after the next start */
        return;
    }
    if (result == ER_PENDING) {
        er_log_limited(ER_LOG_WARN, dst->ctx->component,
                       "plugin bug: a blocking handler returned ER_PENDING: treated as RETRY");
        result = ER_RETRY;
    }
    finish(dl, result);
}

static void attempt(delivery_t *dl)
{
    er_dest_t *dst = dl->dest;
    int rc;

    dl->attempts++;
    er__token_clear(&dl->token); /* what a previous attempt left */
    er__token_init(&dl->token, on_complete, dl, dst->ctx);
    if (dst->blocking) {
        /* On the handler's own threads; its final status comes back
         * through blocking_done(). It cannot be cancelled: past its
         * timeout it is only logged. */
        if (dst->conf->timeout_ms > 0) {
            dl->timing = true;
            uv_timer_start(&dl->timer, on_timer, dst->conf->timeout_ms, 0);
        }
        dl->work.run = run_blocking;
        dl->work.done = blocking_done;
        er__workers_submit(dst->pool, &dl->work);
        return;
    }
    er__token_begin(&dl->token);
    er__host_handling(dst->ctx, dl->ev); /* a publish() inside derives its hops from it */
    rc = dst->ops.handle(dst->instance, dl->ev, &dl->token);
    er__host_handling(dst->ctx, NULL);
    /* Pending and not completed from inside handle(): the deadline runs
     * (set before er__token_returned, after which dl may be recycled). */
    if (rc == ER_PENDING && !dl->token.completed && dst->conf->timeout_ms > 0) {
        dl->timing = true;
        uv_timer_start(&dl->timer, on_timer, dst->conf->timeout_ms, 0);
    }
    /* After ER_PENDING a completion made inside handle() has been applied
     * (dl may be recycled already); a final status settles it here. */
    rc = er__token_returned(&dl->token, rc);
    if (rc != ER_PENDING)
        finish(dl, rc);
}

/* ----------------------------------------------------- store reads */

typedef struct read_s {
    er_dest_t *dst;
    uint64_t gen;
    uint64_t to;
    uint64_t rows;
    bool early;
} read_t;

static int on_row(void *arg, er_ev_t *ev)
{
    read_t *rd = arg;
    er_dest_t *dst = rd->dst;
    er_dispatch_t *d = dst->d;
    const er_event_t *v = er__ev_view(ev);
    er_route_result_t res = {.dests = d->bits, .retry_route = -1};

    if (rd->gen != dst->read_gen || d->stopping) {
        rd->early = true;
        return 1;
    }
    rd->rows++;
    dst->read_from_store++;
    if (d->router && er__router_match(d->router, v, &res) > 0 && has_bit(d->bits, dst->index) &&
        ring_push(&dst->buf, (slot_t){.ev = er__ev_ref(ev), .retry_route = res.retry_route}) != 0) {
        er__ev_unref(ev);
        er_log_limited(ER_LOG_ERROR, dst->ctx->component,
                       "out of memory reading the store: seq %llu read again later",
                       (unsigned long long)v->seq);
        rd->early = true;
        return 1;
    }
    dst->read_seen = v->seq + 1;
    pump(dst);
    if (dst->buf.bytes >= CATCHUP_BYTES) {
        rd->early = true;
        return 1;
    }
    return 0;
}

static void on_read(void *arg, int err, const char *message)
{
    read_t *rd = arg;
    er_dest_t *dst = rd->dst;
    er_dispatch_t *d = dst->d;

    dst->reading = false;
    d->reads--;
    if (rd->gen == dst->read_gen) {
        if (err != 0) {
            er_log_limited(ER_LOG_ERROR, dst->ctx->component,
                           "reading the store from seq %llu failed (tried again in %d ms): %s",
                           (unsigned long long)cache_need(dst), READ_RETRY_MS, message);
            dst->read_retry_at = uv_now(d->loop) + READ_RETRY_MS;
            arm(d);
        } else if (!rd->early && rd->rows < CATCHUP_ROWS && rd->to + 1 > dst->read_seen) {
            dst->read_seen = rd->to + 1; /* the rest of the range holds nothing */
        }
    }
    free(rd);
    pump(dst);
    if (d->stopping)
        check_drained(d);
}

/* Read the next batch from the store when the destination's next seq is
 * older than the cache (and committed). */
static void read_more(er_dest_t *dst)
{
    er_dispatch_t *d = dst->d;
    uint64_t from = cache_need(dst), lim = d->store->committed;
    er_store_filter_t f;
    read_t *rd;
    int rc;

    if (dst->reading || d->stopping || dst->paused || !dst->started)
        return;
    if (from > d->head || cache_has(&d->cache, from) || uv_now(d->loop) < dst->read_retry_at)
        return;
    if (d->cache.count > 0 && d->cache.base - 1 < lim)
        lim = d->cache.base - 1;
    if (from > lim) {
        dst->wait_commit = true; /* er__dispatch_committed goes on */
        return;
    }
    if ((rd = calloc(1, sizeof(*rd))) == NULL)
        return;
    rd->dst = dst;
    rd->gen = dst->read_gen;
    rd->to = lim;
    memset(&f, 0, sizeof(f));
    f.size = sizeof(f);
    f.from_seq = from;
    f.to_seq = lim;
    f.limit = CATCHUP_ROWS;
    dst->reading = true;
    d->reads++;
    if ((rc = er__store_query(d->store, &f, on_row, rd, on_read, rd)) != 0) {
        dst->reading = false;
        d->reads--;
        free(rd);
        er_log_limited(ER_LOG_ERROR, dst->ctx->component,
                       "cannot read the store from seq %llu (tried again in %d ms): %s",
                       (unsigned long long)from, READ_RETRY_MS, er_strerror(rc));
        dst->read_retry_at = uv_now(d->loop) + READ_RETRY_MS;
        arm(d);
    }
}

void er__dispatch_committed(void *arg)
{
    er_dispatch_t *d = arg;

    for (size_t i = 0; i < d->ndest; i++) {
        if (d->dests[i]->wait_commit) {
            d->dests[i]->wait_commit = false;
            pump(d->dests[i]);
        }
        flush_cursor(d->dests[i]); /* it may have waited for the store */
    }
}

/* ------------------------------------------------------------ pumping */

/* Begin a delivery of ev (a reference taken) at seq; side ones come from
 * the side ring (dlq_id, forwarded). Returns false when out of memory
 * (ev released). */
static bool begin(er_dest_t *dst, er_ev_t *ev, uint64_t seq, const er_retry_conf_t *policy,
                  const slot_t *side)
{
    delivery_t *dl = delivery_new(dst, ev, seq);

    if (dl == NULL) {
        er__ev_unref(ev);
        return false;
    }
    dl->policy = policy;
    if (side) {
        dl->side = true;
        dl->dlq_id = side->dlq_id;
        dl->forwarded = side->forwarded;
        dl->tag = side->tag;
    } else if (er__track_begin(&dst->track, seq, &dl->slot) != 0) {
        dl->side = true; /* cannot be tracked: released without counting */
        release(dl, false);
        return false;
    }
    dst->last_received = er__ev_view(ev)->received;
    attempt(dl);
    return true;
}

/* ---------------------------------------------------------- recovery */

static void on_record_written(er_token_t *t, er_status_t status, size_t n,
                              const er_status_t *statuses)
{
    er_dest_t *dst = t->owner;
    er_ev_t *ev = dst->rec.ev;

    (void)n;
    (void)statuses;
    if (status != ER_OK)
        er_log_limited(ER_LOG_ERROR, dst->ctx->component,
                       "recovery: the record of seq %llu was not written (%s): attempted anyway",
                       (unsigned long long)dst->rec.ev_seq, t->errmsg ? t->errmsg : "no reason");
    er__token_clear(t);
    dst->rec.writing = false;
    dst->rec.ev = NULL;
    if (dst->d->stopping)
        check_drained(dst->d);
    if (dst->retiring)
        maybe_retired(dst);
    if (ev == NULL) {
        pump(dst); /* the record of the end of recovery: normal delivery */
        return;
    }
    dst->rec.seq = dst->rec.ev_seq;
    dst->rec.count = dst->rec.ev_count;
    if (dst->stopped || !dst->started || dst->retiring) {
        er__ev_unref(ev);
        return;
    }
    begin(dst, ev, dst->rec.ev_seq, dst->rec.policy, NULL);
    pump(dst);
}

/* Write dst's recovery record (value NULL: delete it); ev (taken) is
 * attempted once it is written. */
static void write_record(er_dest_t *dst, const char *value, er_ev_t *ev)
{
    int rc;

    dst->rec.ev = ev;
    dst->rec.writing = true;
    er__token_init(&dst->rec.token, on_record_written, dst, dst->ctx);
    rc = er__store_state_set(dst->d->store, dst->rec.scope, "attempting", value,
                             value ? strlen(value) : 0, &dst->rec.token);
    if (rc != 0) {
        dst->rec.token.err = rc;
        on_record_written(&dst->rec.token, ER_FAIL, 0, NULL);
    }
}

/* The recovery range is done: normal delivery from here. */
static void recovered(er_dest_t *dst)
{
    dst->rec.on = false;
    er_log(ER_LOG_NOTICE, dst->ctx->component,
           "recovery done up to seq %llu: delivering normally (window %llu)",
           (unsigned long long)dst->rec.until, (unsigned long long)dst->conf->window);
    write_record(dst, NULL, NULL);
}

/*
 * Deliver ev (taken) at seq — in recovery, one at a time: the record
 * "attempting seq, n" is made durable first (n counts the crashes in a
 * row this seq has seen), and a seq that reaches CRASH_LIMIT is
 * dead-lettered ("crashed") instead. Returns false when pumping must stop.
 */
static bool take(er_dest_t *dst, er_ev_t *ev, uint64_t seq, const er_retry_conf_t *policy)
{
    char value[64];
    uint32_t count;

    if (!dst->rec.on || seq > dst->rec.until)
        return begin(dst, ev, seq, policy, NULL);
    count = dst->rec.seq == seq ? dst->rec.count + 1 : 1;
    if (count >= CRASH_LIMIT) {
        er_dead_letter_t r;
        memset(&r, 0, sizeof(r));
        r.seq = seq;
        r.destination = er_str(dst->conf->name);
        r.reason = er_str("crashed");
        r.attempts = count;
        r.first_failure_us = r.last_failure_us = er_now_us();
        er_log(ER_LOG_ERROR, dst->ctx->component,
               "seq %llu was being delivered when the daemon crashed %u times in a row: "
               "dead-lettered (reason crashed), not attempted again",
               (unsigned long long)seq, count);
        er__store_dead_letter(dst->d->store, &r);
        dst->dead_lettered++;
        if (dst->d->forward != NULL && dst->d->forward != dst &&
            ring_push(&dst->d->forward->side,
                      (slot_t){.ev = ev, .retry_route = -1, .forwarded = true}) == 0)
            pump(dst->d->forward);
        else
            er__ev_unref(ev);
        er__track_skip(&dst->track, seq + 1);
        dst->rec.seq = 0;
        flush_cursor(dst);
        return true;
    }
    dst->rec.ev_seq = seq;
    dst->rec.ev_count = count;
    dst->rec.policy = policy;
    snprintf(value, sizeof(value), "%llu %u", (unsigned long long)seq, count);
    write_record(dst, value, ev);
    return false;
}

static void pump(er_dest_t *dst)
{
    er_dispatch_t *d = dst->d;

    if (!dst->started || dst->stopped || dst->paused || !dst->positioned || dst->pumping ||
        dst->retiring)
        return;
    /* A handler that answers at once finishes inside begin(), and its
     * release() calls pump() again: the loop below goes on instead, so
     * the stack does not grow with the events delivered. */
    dst->pumping = true;
    while (dst->inflight < (dst->rec.on ? 1 : dst->conf->window) && dst->started &&
           !dst->rec.writing) {
        uint64_t seq;
        if (dst->rec.on && dst->track.scan > dst->rec.until && dst->buf.len == 0) {
            recovered(dst);
            continue;
        }
        if (dst->side.len > 0 && !d->stopping) {
            slot_t s = ring_pop(&dst->side);
            if (!begin(dst, s.ev, er__ev_view(s.ev)->seq, &dst->conf->retry, &s))
                break;
            continue;
        }
        if (dst->buf.len > 0) {
            slot_t s = ring_pop(&dst->buf);
            seq = er__ev_view(s.ev)->seq;
            if (!take(dst, s.ev, seq, policy_of(dst, s.retry_route)))
                break;
            continue;
        }
        er__track_skip(&dst->track, dst->read_seen);
        seq = dst->track.scan;
        if (seq > d->head)
            break;
        if (cache_has(&d->cache, seq)) {
            size_t i = cache_index(&d->cache, seq);
            const centry_t *e = &d->cache.e[i];
            if (d->cautious && seq > d->store->committed) {
                dst->wait_commit = true; /* er__dispatch_committed goes on */
                break;
            }
            if (e->ev != NULL && has_bit(&d->cache.bits[i * d->cache.words], dst->index)) {
                if (!take(dst, er__ev_ref(e->ev), seq, policy_of(dst, e->retry_route)))
                    break;
            } else {
                er__track_skip(&dst->track, seq + 1);
            }
            continue;
        }
        break; /* older than the cache: the store has it */
    }
    dst->pumping = false;
    if (dst->buf.len < CATCHUP_ROWS / 2)
        read_more(dst);
}

void er__dispatch_event(er_dispatch_t *d, er_ev_t *obj)
{
    er_route_result_t res = {.dests = d->bits, .retry_route = -1};
    const er_event_t *ev = er__ev_view(obj);
    size_t i, n = 0;
    int rc;

    if (d->router)
        n = er__router_match(d->router, ev, &res);
    if (n == 0)
        d->unrouted++;
    else
        d->routed++;
    rc = cache_push(&d->cache, ev->seq, n > 0 ? er__ev_ref(obj) : NULL, n > 0 ? d->bits : NULL,
                    res.retry_route);
    if (rc != 0) {
        /* Every destination reads it from the store instead. */
        er_log_limited(ER_LOG_ERROR, COMPONENT, "fresh cache: %s at seq %llu (emptied)",
                       er_strerror(rc), (unsigned long long)ev->seq);
        cache_clear(&d->cache);
    }
    if (ev->seq > d->head)
        d->head = ev->seq;
    for (i = 0; i < d->ndest; i++)
        pump(d->dests[i]);
    cache_evict(d);
    if (d->cache.count > 0)
        arm(d);
}

/* ------------------------------------------------------------ cursors */

/* The cursor a destination may persist: its low-water mark, never past the
 * last seq handed to the store (writes are applied in order, so the
 * cursor never gets ahead of the log). */
static uint64_t cursor_of(const er_dest_t *dst)
{
    uint64_t low = er__track_low(&dst->track);

    return low < dst->d->store->submitted ? low : dst->d->store->submitted;
}

/* Is there something to write: a cursor that moved, or none stored yet
 * (a new destination's, even at 0: else a restart would take it for new
 * again and start it at the head)? */
static bool cursor_moved(const er_dest_t *dst)
{
    return !dst->has_cursor || cursor_of(dst) != dst->persisted;
}

typedef struct cursor_write_s {
    er_dest_t *dst; /* kept until its writes complete (dest_put) */
    char name[80];
    uint64_t seq;
    bool delete; /* a removed destination's cursor is deleted */
    /* An operator's cursor set: answered once written. */
    er_dispatch_reply_cb done;
    void *arg;
    uint64_t cursor, previous;
} cursor_write_t;

static void on_cursor_written(void *arg, int err, const char *message)
{
    cursor_write_t *w = arg;
    er_dest_t *dst = w->dst;
    er_dispatch_t *d = dst->d;
    const char *name = w->name;

    d->writes--;
    dst->writing--;
    if (err != 0)
        er_log_limited(ER_LOG_ERROR, COMPONENT, "%s: cursor %llu not %s: %s", name,
                       (unsigned long long)w->seq, w->delete ? "deleted" : "written", message);
    else if (w->delete)
        er_log(ER_LOG_INFO, COMPONENT, "%s: removed; its cursor (%llu) is deleted", name,
               (unsigned long long)w->seq);
    if (!dst->stopped) {
        if (err == 0) {
            dst->persisted = w->seq;
            dst->has_cursor = !w->delete;
        } else {
            dst->write_retry_at = uv_now(d->loop) + READ_RETRY_MS;
            arm(d);
        }
        flush_cursor(dst); /* what moved meanwhile */
    }
    if (w->done) {
        json_t *reply = err != 0
                            ? NULL
                            : json_pack("{s:s, s:I, s:I}", "destination", name, "cursor",
                                        (json_int_t)w->cursor, "previous", (json_int_t)w->previous);
        if (reply)
            w->done(w->arg, NULL, reply, NULL);
        else
            w->done(w->arg, "unavailable", NULL, err != 0 ? message : "out of memory");
    }
    free(w);
    dest_put(dst);
}

/* Write dst's cursor (seq); w carries an operator's reply, or is NULL. */
static void write_cursor(er_dest_t *dst, uint64_t seq, cursor_write_t *w)
{
    er_dispatch_t *d = dst->d;
    int rc;

    if (w == NULL && (w = calloc(1, sizeof(*w))) == NULL)
        return; /* tried again at the next flush */
    w->dst = dst;
    snprintf(w->name, sizeof(w->name), "%s", dst->conf->name);
    w->seq = seq;
    dst->writing++;
    d->writes++;
    rc = w->delete ? er__store_cursor_delete(d->store, w->name, on_cursor_written, w)
                   : er__store_cursor_set(d->store, w->name, seq, on_cursor_written, w);
    if (rc != 0)
        on_cursor_written(w, rc, er_strerror(rc));
}

/*
 * Write dst's cursor if it moved. One write per destination is in flight
 * at a time and the next one starts when it completes, so while a
 * destination moves its cursor goes with every group commit of the store,
 * and a crash redelivers only what was done during the last one.
 */
static void flush_cursor(er_dest_t *dst)
{
    if (dst->positioned && !dst->writing && !dst->stopped &&
        uv_now(dst->d->loop) >= dst->write_retry_at && cursor_moved(dst))
        write_cursor(dst, cursor_of(dst), NULL);
}

/* Housekeeping while something needs it: the cache, failed reads and
 * cursor writes. */
static void on_tick(uv_timer_t *t)
{
    er_dispatch_t *d = t->data;
    bool again = false;
    size_t i;

    if (d->dests == NULL)
        return;
    cache_evict(d);
    for (i = 0; i < d->ndest; i++) {
        er_dest_t *dst = d->dests[i];
        if (dst->read_retry_at != 0) {
            if (uv_now(d->loop) >= dst->read_retry_at) {
                dst->read_retry_at = 0;
                pump(dst);
            } else {
                again = true;
            }
        }
        if (dst->write_retry_at != 0) {
            if (uv_now(d->loop) >= dst->write_retry_at) {
                dst->write_retry_at = 0;
                flush_cursor(dst);
            } else {
                again = true;
            }
        }
    }
    if (again || d->cache.count > 0)
        arm(d);
}

static void arm(er_dispatch_t *d)
{
    if (!d->stopping && !uv_is_active((uv_handle_t *)&d->tick))
        uv_timer_start(&d->tick, on_tick, TICK_MS, 0);
}

/* ------------------------------------------------------------- start */

static er_dest_t *find_dest(er_dispatch_t *d, const char *name)
{
    for (size_t i = 0; i < d->ndest; i++)
        if (strcmp(d->dests[i]->conf->name, name) == 0)
            return d->dests[i];
    return NULL;
}

int er__dispatch_side(er_dispatch_t *d, const char *name, er_ev_t *ev, uint32_t tag)
{
    er_dest_t *dst;
    int rc;

    if (d->stopping || d->dests == NULL)
        return -EAGAIN;
    if ((dst = find_dest(d, name)) == NULL || dst->retiring)
        return -ENOENT;
    if ((rc = ring_push(&dst->side,
                        (slot_t){.ev = er__ev_ref(ev), .retry_route = -1, .tag = tag})) != 0) {
        er__ev_unref(ev);
        return rc;
    }
    pump(dst);
    return 0;
}

bool er__dispatch_has_dest(er_dispatch_t *d, const char *name)
{
    return d->dests != NULL && find_dest(d, name) != NULL;
}

/* Where dst resumes: after seq (its cursor, or where `start` puts a new
 * one). */
static void position(er_dest_t *dst, uint64_t cursor)
{
    er__track_reset(&dst->track, cursor + 1);
    dst->read_seen = cursor + 1;
    dst->positioned = true;
}

static int on_cursor_row(void *arg, const char *name, uint64_t seq)
{
    er_dispatch_t *d = arg;
    er_dest_t *dst = find_dest(d, name);
    uint64_t head = d->store->committed;

    if (dst == NULL) {
        er_log(ER_LOG_INFO, COMPONENT, "cursor of \"%s\" (not a destination now) kept at %llu",
               name, (unsigned long long)seq);
        return 0;
    }
    dst->persisted = seq;
    dst->has_cursor = true;
    if (seq > head) {
        er_log(ER_LOG_WARN, dst->ctx->component,
               "cursor %llu is past the store's head %llu (lost in a crash): moved back to it",
               (unsigned long long)seq, (unsigned long long)head);
        seq = head;
    }
    position(dst, seq);
    return 0;
}

/* Every destination knows where it resumes (and, after a crash, what its
 * recovery record said): deliver, and tell the daemon. */
static void start_delivering(er_dispatch_t *d)
{
    for (size_t i = 0; i < d->ndest; i++) {
        pump(d->dests[i]);
        flush_cursor(d->dests[i]); /* a new destination's, at once */
    }
    d->ready_called = true;
    d->ready(d, 0, NULL);
}

static void on_record_read(er_token_t *t, er_status_t status, size_t n, const er_status_t *statuses)
{
    er_dest_t *dst = t->owner;
    er_dispatch_t *d = dst->d;
    char text[64];
    unsigned long long seq = 0;
    unsigned count = 0;

    (void)n;
    (void)statuses;
    if (status == ER_OK && dst->rec.value != NULL && dst->rec.len < sizeof(text)) {
        memcpy(text, dst->rec.value, dst->rec.len);
        text[dst->rec.len] = '\0';
        if (sscanf(text, "%llu %u", &seq, &count) == 2) {
            dst->rec.seq = seq;
            dst->rec.count = count;
        }
    }
    er__token_clear(t);
    er_log(ER_LOG_NOTICE, dst->ctx->component,
           "the daemon did not stop cleanly: recovery mode up to seq %llu (one delivery at a "
           "time, each recorded first)%s",
           (unsigned long long)dst->rec.until,
           dst->rec.seq > er__track_low(&dst->track) ? ", an attempt was in flight" : "");
    if (dst->rec.seq > er__track_low(&dst->track))
        er_log(ER_LOG_WARN, dst->ctx->component,
               "seq %llu was being attempted when the daemon stopped (%u time(s) in a row)",
               (unsigned long long)dst->rec.seq, dst->rec.count);
    if (--d->store_ops == 0 && !d->stopping)
        start_delivering(d);
    else if (d->stopping)
        check_drained(d);
}

static void on_cursors_listed(void *arg, int err, const char *message)
{
    er_dispatch_t *d = arg;
    const er_store_head_t *h = &d->store->head;
    char why[320];
    size_t i;
    int rc;

    if (d->stopping) {
        d->store_ops--;
        check_drained(d);
        return;
    }
    if (err != 0) {
        d->store_ops--;
        snprintf(why, sizeof(why), "reading the destinations' cursors: %s", message);
        d->ready(d, err, why);
        return;
    }
    if (!h->clean && !h->created) {
        /* After a crash, until a clean restart: only stored events are
         * delivered, so an event that crashes the daemon is in the store
         * for the next start's recovery instead of lost and resent. */
        d->cautious = true;
        er_log(ER_LOG_WARN, COMPONENT,
               "the daemon did not stop cleanly last time: events are delivered once stored "
               "(not at once) until the next clean restart");
    }
    for (i = 0; i < d->ndest; i++) {
        er_dest_t *dst = d->dests[i];
        if (!dst->positioned) {
            uint64_t c = d->head;
            if (dst->conf->start == ER_START_EARLIEST)
                c = h->first_seq > 0 ? h->first_seq - 1 : d->head;
            position(dst, c);
            er_log(ER_LOG_INFO, dst->ctx->component,
                   "new destination: starts at %s (after seq %llu)",
                   dst->conf->start == ER_START_EARLIEST ? "the earliest stored event" : "the head",
                   (unsigned long long)c);
            continue;
        }
        er_log(ER_LOG_INFO, dst->ctx->component, "resumes after seq %llu (%llu behind)",
               (unsigned long long)er__track_low(&dst->track),
               (unsigned long long)(d->head - er__track_low(&dst->track)));
        if (h->clean || h->last_seq <= er__track_low(&dst->track))
            continue;
        /* After a crash: what it may have been given is redelivered one at
         * a time, each attempt recorded first. */
        dst->rec.on = true;
        dst->rec.until = er__track_low(&dst->track) + dst->conf->window + RECOVERY_SLACK;
        if (dst->rec.until > h->last_seq)
            dst->rec.until = h->last_seq;
        snprintf(dst->rec.scope, sizeof(dst->rec.scope), "recovery:%s", dst->conf->name);
        er__token_init(&dst->rec.token, on_record_read, dst, dst->ctx);
        d->store_ops++;
        rc = er__store_state_get(d->store, dst->rec.scope, "attempting", &dst->rec.value,
                                 &dst->rec.len, &dst->rec.token);
        if (rc != 0) {
            er__token_clear(&dst->rec.token);
            d->store_ops--;
            er_log(ER_LOG_ERROR, dst->ctx->component,
                   "cannot read its recovery record (%s): recovering without it", er_strerror(rc));
        }
    }
    if (--d->store_ops == 0)
        start_delivering(d);
}

/* A new destination: its instance created and started (and its worker
 * threads, for a blocking handler). NULL with err when that failed (what
 * was started is being stopped: dest_discard). */
static void dest_discard(er_dest_t *dst);

static er_dest_t *dest_new(er_dispatch_t *d, const er_handler_conf_t *hc, char *err, size_t cap)
{
    er_dest_t *dst = calloc(1, sizeof(*dst));
    size_t n;
    int rc;

    if (dst == NULL || er__track_init(&dst->track, 1) != 0) {
        free(dst);
        snprintf(err, cap, "handlers.%s: out of memory", hc->name);
        return NULL;
    }
    dst->d = d;
    dst->conf = hc;
    dst->ctx = er__plugin_ctx_new(hc->name, hc->lib, hc->options, dst);
    if (dst->ctx == NULL) {
        snprintf(err, cap, "handlers.%s: out of memory", hc->name);
        dest_discard(dst);
        return NULL;
    }
    n = hc->lib->ops_size < sizeof(dst->ops) ? hc->lib->ops_size : sizeof(dst->ops);
    memcpy(&dst->ops, hc->lib->ops, n);
    if ((rc = dst->ops.create(er__host(), dst->ctx, hc->options, &dst->instance)) != 0) {
        snprintf(err, cap, "handlers.%s: plugin %s: create failed: %s", hc->name, hc->lib->path,
                 er_strerror(rc));
        dest_discard(dst);
        return NULL;
    }
    dst->created = true;
    dst->ctx->instance = dst->instance;
    if ((rc = dst->ops.start(dst->instance)) != 0) {
        snprintf(err, cap, "handlers.%s: plugin %s: start failed: %s", hc->name, hc->lib->path,
                 er_strerror(rc));
        dest_discard(dst);
        return NULL;
    }
    dst->started = true;
    if (hc->lib->desc->flags & ER_PLUGIN_BLOCKING) {
        dst->blocking = true;
        if ((dst->pool = er__workers_start(d->loop, hc->concurrency, &rc)) == NULL) {
            snprintf(err, cap, "handlers.%s: cannot start %llu worker threads: %s", hc->name,
                     (unsigned long long)hc->concurrency, er_strerror(rc));
            dest_discard(dst);
            return NULL;
        }
    }
    if (hc->subscribe && dst->ops.types)
        dst->types = dst->ops.types(dst->instance);
    if (dst->blocking)
        er_log(ER_LOG_INFO, dst->ctx->component,
               "started (plugin %s %s, window %llu, blocking: %llu worker threads)",
               hc->lib->desc->name, hc->lib->desc->version ? hc->lib->desc->version : "",
               (unsigned long long)hc->window, (unsigned long long)hc->concurrency);
    else
        er_log(ER_LOG_INFO, dst->ctx->component, "started (plugin %s %s, window %llu)",
               hc->lib->desc->name, hc->lib->desc->version ? hc->lib->desc->version : "",
               (unsigned long long)hc->window);
    return dst;
}

/* The routing table for cfg over dests (their declared types), and the
 * scratch bitset. Returns 0 or a negative errno (nothing changed). */
static int build_routes(er_dispatch_t *d, const er_config_t *cfg, er_dest_t **dests, size_t n,
                        er_router_t **router, uint64_t **bits)
{
    const char *const **declared = calloc(n + 1, sizeof(*declared));
    size_t i;
    int rc;

    if (declared == NULL)
        return -ENOMEM;
    for (i = 0; i < n; i++)
        declared[i] = dests[i]->types;
    rc = er__router_build(cfg, declared, router);
    free(declared);
    if (rc != 0)
        return rc;
    if ((*bits = calloc(er__router_words(*router) + 1, sizeof(**bits))) == NULL) {
        er__router_free(*router);
        *router = NULL;
        return -ENOMEM;
    }
    (void)d;
    return 0;
}

/* Install a routing table (the cache, routed by the old one, is emptied:
 * destinations read what they still need from the store). */
static void set_routes(er_dispatch_t *d, er_router_t *router, uint64_t *bits)
{
    cache_clear(&d->cache);
    free(d->cache.e);
    free(d->cache.bits);
    memset(&d->cache, 0, sizeof(d->cache));
    er__router_free(d->router);
    free(d->bits);
    d->router = router;
    d->bits = bits;
    d->cache.words = er__router_words(router) ? er__router_words(router) : 1;
}

int er__dispatch_start(er_dispatch_t *d, uv_loop_t *loop, const er_config_t *cfg,
                       struct er_store_s *store, er_dispatch_ready_cb ready, char *err, size_t cap)
{
    er_router_t *router = NULL;
    uint64_t *bits = NULL;
    size_t i;
    int rc = 0;

    memset(d, 0, sizeof(*d));
    d->loop = loop;
    d->cfg = cfg;
    d->store = store;
    d->ready = ready;
    d->head = store->next_seq - 1;
    uv_timer_init(loop, &d->drain_timer);
    d->drain_timer.data = d;
    uv_timer_init(loop, &d->tick);
    d->tick.data = d;
    uv_idle_init(loop, &d->unload_idle);
    d->unload_idle.data = d;
    if ((d->dests = calloc(cfg->nhandlers + 1, sizeof(*d->dests))) == NULL) {
        snprintf(err, cap, "out of memory");
        return -ENOMEM;
    }
    for (i = 0; i < cfg->nhandlers; i++) {
        if ((d->dests[i] = dest_new(d, &cfg->handlers[i], err, cap)) == NULL) {
            rc = -EINVAL;
            break;
        }
        d->dests[i]->index = i;
        d->ndest++;
    }
    if (rc == 0) {
        if ((rc = build_routes(d, cfg, d->dests, d->ndest, &router, &bits)) != 0)
            snprintf(err, cap, "routing table: %s", er_strerror(rc));
        else
            set_routes(d, router, bits);
    }
    if (rc == 0) {
        d->forward = cfg->dead_letter_to ? find_dest(d, cfg->dead_letter_to) : NULL;
        rc = er__store_cursor_list(store, on_cursor_row, d, on_cursors_listed, d);
        if (rc != 0)
            snprintf(err, cap, "reading the destinations' cursors: %s", er_strerror(rc));
        else
            d->store_ops++;
    }
    return rc;
}

/* ------------------------------------------------------------ reload */

/*
 * A changed block whose plugin can apply new options in place (reload(),
 * the same loaded file, the same worker threads): the instance keeps
 * running, with its cursor and deliveries in flight. Returns false when
 * the plugin cannot (it is then re-created).
 */
static bool reload_in_place(er_dest_t *dst, const er_handler_conf_t *hc)
{
    int rc;

    if (dst->ops.reload == NULL || dst->conf->lib != hc->lib ||
        dst->conf->concurrency != hc->concurrency || !dst->started)
        return false;
    rc = dst->ops.reload(dst->instance, hc->options);
    if (rc != 0) {
        if (rc != -ENOTSUP)
            er_log(ER_LOG_WARN, dst->ctx->component,
                   "reload() failed (%s): a new instance replaces it", er_strerror(rc));
        return false;
    }
    dst->ctx->opts = hc->options;
    dst->types = hc->subscribe && dst->ops.types ? dst->ops.types(dst->instance) : NULL;
    er_log(ER_LOG_NOTICE, dst->ctx->component, "changed by the reload: options applied in place");
    return true;
}

/* A reload that failed after dst took new options in place: back to its
 * own (best effort). */
static void reload_back(er_dest_t *dst)
{
    int rc = dst->ops.reload(dst->instance, dst->conf->options);

    if (rc != 0)
        er_log(ER_LOG_ERROR, dst->ctx->component,
               "the reload failed and its previous options could not be put back: %s",
               er_strerror(rc));
    dst->ctx->opts = dst->conf->options;
    dst->types = dst->conf->subscribe && dst->ops.types ? dst->ops.types(dst->instance) : NULL;
}

static size_t dest_slot(er_dest_t **v, size_t n, const er_dest_t *dst)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == dst)
            return i;
    return n;
}

int er__dispatch_reload(er_dispatch_t *d, const er_config_t *ncfg, json_t **summary, char *err,
                        size_t cap)
{
    size_t n = ncfg->nhandlers, i, nold;
    er_dest_t **nd = calloc(n + 1, sizeof(*nd)), **old;
    er_dest_t **replaces = calloc(n + 1, sizeof(*replaces)); /* the one a changed one replaces */
    bool *fresh = calloc(n + 1, sizeof(*fresh));
    bool *inplace = calloc(n + 1, sizeof(*inplace)); /* kept, its plugin reloaded */
    er_router_t *router = NULL;
    uint64_t *bits = NULL;
    unsigned kept = 0, changed = 0, added = 0, removed = 0;
    int rc = 0;

    *summary = NULL;
    if (nd == NULL || fresh == NULL || replaces == NULL || inplace == NULL) {
        free(nd);
        free(fresh);
        free(replaces);
        free(inplace);
        snprintf(err, cap, "out of memory");
        return -ENOMEM;
    }
    if (d->stopping) {
        free(nd);
        free(fresh);
        free(replaces);
        free(inplace);
        snprintf(err, cap, "the daemon is shutting down");
        return -ESHUTDOWN;
    }
    /* Every new or changed destination is created and started before
     * anything changes: if one fails, the running configuration stays. */
    for (i = 0; i < n && rc == 0; i++) {
        const er_handler_conf_t *hc = &ncfg->handlers[i];
        er_dest_t *prev = find_dest(d, hc->name);
        if (prev && prev->conf->fingerprint && hc->fingerprint &&
            strcmp(prev->conf->fingerprint, hc->fingerprint) == 0) {
            nd[i] = prev;
            kept++;
            continue;
        }
        if (prev && reload_in_place(prev, hc)) {
            nd[i] = prev;
            inplace[i] = true;
            changed++;
            continue;
        }
        if ((nd[i] = dest_new(d, hc, err, cap)) == NULL) {
            rc = -EINVAL;
            break;
        }
        fresh[i] = true;
        replaces[i] = prev;
        if (prev)
            changed++;
        else
            added++;
    }
    if (rc == 0 && (rc = build_routes(d, ncfg, nd, n, &router, &bits)) != 0)
        snprintf(err, cap, "routing table: %s", er_strerror(rc));
    if (rc != 0) {
        for (i = 0; i < n; i++)
            if (fresh[i] && nd[i] != NULL)
                dest_discard(nd[i]);
            else if (inplace[i])
                reload_back(nd[i]);
        free(nd);
        free(fresh);
        free(replaces);
        free(inplace);
        return rc;
    }
    /* Commit, between two events: the new table and destinations first,
     * then the removed and replaced ones are retired (they finish what
     * they have in flight, then stop: possibly at once). */
    old = d->dests;
    nold = d->ndest;
    for (i = 0; i < n; i++) {
        er_dest_t *dst = nd[i];
        dst->index = i;
        if (fresh[i] && replaces[i] == NULL) {
            /* New: starts where `start` says. */
            uint64_t c = d->head;
            if (dst->conf->start == ER_START_EARLIEST)
                c = d->store->head.first_seq > 0 ? d->store->head.first_seq - 1 : 0;
            er__track_reset(&dst->track, c + 1);
            dst->read_seen = c + 1;
            dst->positioned = true;
            er_log(ER_LOG_INFO, dst->ctx->component,
                   "added by the reload: starts at %s (after seq %llu)",
                   dst->conf->start == ER_START_EARLIEST ? "the earliest stored event" : "the head",
                   (unsigned long long)c);
        } else if (!fresh[i]) {
            if (inplace[i])
                dst->conf = &ncfg->handlers[i]; /* its new host keys too */
            /* Kept: what it read ahead was routed by the old table. */
            ring_clear(&dst->buf);
            dst->read_gen++;
            dst->read_seen = dst->track.scan;
            dst->wait_commit = false;
        }
    }
    d->dests = nd;
    d->ndest = n;
    d->cfg = ncfg;
    set_routes(d, router, bits);
    d->forward = ncfg->dead_letter_to ? find_dest(d, ncfg->dead_letter_to) : NULL;
    for (i = 0; i < nold; i++) {
        er_dest_t *o = old[i], *succ = NULL;
        size_t j;
        if (dest_slot(nd, n, o) < n)
            continue;
        for (j = 0; j < n; j++)
            if (replaces[j] == o)
                succ = nd[j];
        if (succ == NULL) {
            removed++;
            er_log(ER_LOG_NOTICE, o->ctx->component,
                   "removed by the reload: finishing %u deliveries in flight", o->inflight);
        } else {
            er_log(ER_LOG_NOTICE, o->ctx->component,
                   "changed by the reload: finishing %u deliveries in flight, then the new "
                   "instance resumes after its cursor",
                   o->inflight);
        }
        retire(o, succ); /* may stop and free it at once */
    }
    free(old);
    free(fresh);
    free(replaces);
    free(inplace);
    for (i = 0; i < n; i++) {
        pump(d->dests[i]);
        flush_cursor(d->dests[i]);
    }
    *summary =
        json_pack("{s:I, s:I, s:I, s:I}", "kept", (json_int_t)kept, "changed", (json_int_t)changed,
                  "added", (json_int_t)added, "removed", (json_int_t)removed);
    er_log(ER_LOG_NOTICE, COMPONENT,
           "reloaded: %zu destinations (%u kept, %u changed, %u added), %u removed, %zu routes", n,
           kept, changed, added, removed, er__router_nroutes(d->router));
    return 0;
}

static bool conf_in(const er_handler_conf_t *hc, const er_config_t *cfg)
{
    return hc >= cfg->handlers && hc < cfg->handlers + cfg->nhandlers;
}

bool er__dispatch_uses_config(const er_dispatch_t *d, const er_config_t *cfg)
{
    for (size_t i = 0; i < d->ndest; i++)
        if (conf_in(d->dests[i]->conf, cfg))
            return true;
    for (const er_dest_t *r = d->retiring; r != NULL; r = r->next_retiring)
        if (conf_in(r->conf, cfg))
            return true;
    return d->cfg == cfg;
}

/* -------------------------------------------------------------- stop */

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_unload_turn(uv_idle_t *h)
{
    er_dispatch_t *d = h->data;
    er_dispatch_done_cb done = d->done;

    /* One loop turn after the last stop's done: nothing of the plugins
     * runs any more; their .so may be unloaded (by the config's free). */
    uv_idle_stop(h);
    uv_close((uv_handle_t *)&d->unload_idle, NULL);
    uv_close((uv_handle_t *)&d->drain_timer, NULL);
    uv_close((uv_handle_t *)&d->tick, NULL);
    cache_clear(&d->cache);
    free(d->cache.e);
    free(d->cache.bits);
    er__router_free(d->router);
    d->router = NULL;
    free(d->bits);
    free(d->dests);
    d->dests = NULL;
    if (done)
        done(d);
}

/* Free a destination's struct once nothing refers to it any more (its
 * cursor writes name it until they complete). */
static void dest_put(er_dest_t *dst)
{
    if (dst->dead && dst->writing == 0)
        free(dst);
}

static void on_retire_timer_closed(uv_handle_t *h)
{
    free(h);
}

/* Release what a stopped destination holds (its instance destroyed),
 * then the struct itself when it may. */
static void free_dest(er_dest_t *dst)
{
    delivery_t *dl;

    dst->stopped = true;
    ring_clear(&dst->buf);
    while (dst->side.len > 0) {
        slot_t sl = ring_pop(&dst->side);
        side_drop(dst->d, &sl);
    }
    free(dst->buf.s);
    free(dst->side.s);
    while ((dl = dst->free_list) != NULL) {
        dst->free_list = dl->next;
        uv_close((uv_handle_t *)&dl->timer, on_timer_closed);
    }
    er__track_free(&dst->track);
    if (dst->retire_timer)
        uv_close((uv_handle_t *)dst->retire_timer, on_retire_timer_closed);
    dst->retire_timer = NULL;
    if (dst->created && dst->ops.destroy)
        dst->ops.destroy(dst->instance);
    dst->created = false;
    if (dst->ctx)
        er__plugin_ctx_free(dst->ctx);
    dst->ctx = NULL;
    dst->dead = true;
    dest_put(dst);
}

static void on_discarded(void *arg)
{
    free_dest(arg);
}

/* A destination that failed to start (or was created by a reload that
 * failed): stop what was started, then free it. */
static void dest_discard(er_dest_t *dst)
{
    if (dst->pool) {
        er__workers_stop(dst->pool, NULL, NULL);
        dst->pool = NULL;
    }
    if (dst->started) {
        dst->started = false;
        dst->ops.stop(dst->instance, on_discarded, dst);
        return;
    }
    free_dest(dst);
}

/* Every instance has stopped: write the final cursors, free, unload. */
static void all_stopped(er_dispatch_t *d)
{
    er_dest_t *dst, *next;
    size_t i;

    for (i = 0; i < d->ndest; i++) {
        dst = d->dests[i];
        if (dst->positioned && cursor_moved(dst))
            write_cursor(dst, cursor_of(dst), NULL);
    }
    for (dst = d->retiring; dst != NULL; dst = dst->next_retiring) {
        if (dst->successor == NULL)
            delete_cursor(dst);
        else if (dst->positioned && cursor_moved(dst))
            write_cursor(dst, cursor_of(dst), NULL);
    }
    for (i = 0; i < d->ndest; i++)
        free_dest(d->dests[i]);
    for (dst = d->retiring; dst != NULL; dst = next) {
        next = dst->next_retiring;
        free_dest(dst);
    }
    d->retiring = NULL;
    d->ndest = 0;
    uv_idle_start(&d->unload_idle, on_unload_turn);
}

static void retired_done(er_dest_t *dst);

static void on_stopped(void *arg)
{
    er_dest_t *dst = arg;
    er_dispatch_t *d = dst->d;

    dst->instance_stopped = true;
    if (d->stopping && d->stops_pending > 0) {
        if (--d->stops_pending == 0)
            all_stopped(d);
        return;
    }
    retired_done(dst);
}

/* A blocking handler's threads are gone (what they were running came
 * back): stop its plugin. */
static void on_pool_stopped(er_workers_t *w, void *arg)
{
    er_dest_t *dst = arg;

    (void)w;
    dst->ops.stop(dst->instance, on_stopped, dst);
}

/* Stop dst's instance (its worker threads first); on_stopped follows. */
static void stop_instance(er_dest_t *dst)
{
    dst->instance_stopping = true;
    dst->started = false;
    if (dst->pool) {
        er_workers_t *pool = dst->pool;
        dst->pool = NULL;
        er__workers_stop(pool, on_pool_stopped, dst);
    } else {
        dst->ops.stop(dst->instance, on_stopped, dst);
    }
}

/* ------------------------------------------------------ retirement */

static void delete_cursor(er_dest_t *dst)
{
    cursor_write_t *w = calloc(1, sizeof(*w));

    if (w == NULL) {
        er_log(ER_LOG_ERROR, COMPONENT, "%s: out of memory: its cursor is not deleted",
               dst->conf->name);
        return;
    }
    w->delete = true;
    write_cursor(dst, cursor_of(dst), w);
}

/* A retiring destination's instance has stopped: its successor resumes
 * after its cursor, or (removed) its cursor is deleted. */
static void retired_done(er_dest_t *dst)
{
    er_dispatch_t *d = dst->d;
    er_dest_t **pp;

    for (pp = &d->retiring; *pp != NULL && *pp != dst; pp = &(*pp)->next_retiring)
        ;
    if (*pp == dst)
        *pp = dst->next_retiring;
    if (dst->successor != NULL) {
        er_dest_t *s = dst->successor;
        uint64_t c = dst->positioned ? er__track_low(&dst->track) : d->head;
        s->persisted = dst->persisted;
        s->has_cursor = dst->has_cursor;
        er__track_reset(&s->track, c + 1);
        s->read_seen = c + 1;
        s->positioned = true;
        er_log(ER_LOG_INFO, s->ctx->component, "replaced: the new instance resumes after seq %llu",
               (unsigned long long)c);
        pump(s);
        flush_cursor(s);
    } else {
        delete_cursor(dst);
    }
    free_dest(dst);
}

/* The drain of a retiring destination took too long: stop it anyway
 * (what it had in flight is delivered again by its successor). */
static void on_retire_timeout(uv_timer_t *t)
{
    er_dest_t *dst = t->data;

    er_log(ER_LOG_WARN, dst->ctx->component,
           "still %u deliveries in flight after %llu ms: stopping it anyway", dst->inflight,
           (unsigned long long)dst->d->cfg->shutdown_timeout_ms);
    if (!dst->instance_stopping)
        stop_instance(dst);
}

static void maybe_retired(er_dest_t *dst)
{
    if (!dst->retiring || dst->inflight > 0 || dst->rec.writing || dst->instance_stopping ||
        dst->d->stopping)
        return;
    stop_instance(dst);
}

/* Take dst out of service (a reload removed or replaced it): no new
 * deliveries; those in flight finish (up to shutdown_timeout), then its
 * instance stops. */
static void retire(er_dest_t *dst, er_dest_t *successor)
{
    er_dispatch_t *d = dst->d;
    delivery_t *dl, *next;

    dst->retiring = true;
    dst->successor = successor;
    dst->next_retiring = d->retiring;
    d->retiring = dst;
    ring_clear(&dst->buf);
    dst->read_gen++;
    while (dst->side.len > 0) {
        slot_t sl = ring_pop(&dst->side);
        if (successor == NULL || ring_push(&successor->side, sl) != 0)
            side_drop(d, &sl); /* a dead letter's record stays */
    }
    for (dl = dst->active; dl != NULL; dl = next) {
        next = dl->next;
        if (dl->waiting)
            release(dl, false); /* delivered again by its successor, or not at all */
    }
    if ((dst->retire_timer = malloc(sizeof(*dst->retire_timer))) != NULL) {
        uv_timer_init(d->loop, dst->retire_timer);
        dst->retire_timer->data = dst;
        uv_timer_start(dst->retire_timer, on_retire_timeout, d->cfg->shutdown_timeout_ms, 0);
    }
    maybe_retired(dst);
}

/* Every delivery finished (or the drain time is up): stop the instances
 * (the live ones and those a reload is retiring). */
static void stop_instances(er_dispatch_t *d)
{
    er_dest_t *dst;
    size_t i, n = 0;

    uv_timer_stop(&d->drain_timer);
    uv_timer_stop(&d->tick);
    for (i = 0; i < d->ndest; i++) {
        delivery_t *dl, *next;
        dst = d->dests[i];
        /* Retries not yet due are given up (delivered after a restart). */
        for (dl = dst->active; dl != NULL; dl = next) {
            next = dl->next;
            if (dl->waiting) {
                dst->gave_up++;
                release(dl, false);
            }
        }
        if (dst->started && dst->positioned && d->head > er__track_low(&dst->track))
            er_log(ER_LOG_INFO, dst->ctx->component,
                   "stopping %llu events behind (delivered after the next start)",
                   (unsigned long long)(d->head - er__track_low(&dst->track)));
        n += dst->started || (dst->instance_stopping && !dst->instance_stopped);
    }
    for (dst = d->retiring; dst != NULL; dst = dst->next_retiring)
        n += dst->started || (dst->instance_stopping && !dst->instance_stopped);
    d->stops_pending = n + 1;
    for (i = 0; i < d->ndest; i++)
        if (d->dests[i]->started)
            stop_instance(d->dests[i]);
    for (dst = d->retiring; dst != NULL; dst = dst->next_retiring)
        if (dst->started)
            stop_instance(dst);
    /* The extra count keeps a synchronous done() from finishing early. */
    if (--d->stops_pending == 0)
        all_stopped(d);
}

/* Still waiting for something before the instances can stop? Store
 * requests hold destinations, so they are always waited for (they end
 * soon: a read stops at its next chunk); deliveries only until the drain
 * is cut short. */
static bool busy(const er_dispatch_t *d)
{
    if (d->reads > 0 || d->store_ops > 0)
        return true;
    for (size_t i = 0; i < d->ndest; i++)
        if (d->dests[i]->rec.writing)
            return true; /* its token is the store's until it completes */
    if (d->hurry != NULL)
        return false;
    for (const er_dest_t *r = d->retiring; r != NULL; r = r->next_retiring)
        if (r->inflight > 0 || r->rec.writing)
            return true;
    for (size_t i = 0; i < d->ndest; i++) {
        const er_dest_t *dst = d->dests[i];
        if (dst->inflight > 0 || dst->rec.writing)
            return true;
        /* A caught-up destination delivers the fresh events it has. */
        if (dst->started && dst->positioned && !dst->paused && dst->buf.len == 0 &&
            dst->track.scan <= d->head && cache_has(&d->cache, dst->track.scan))
            return true;
    }
    return false;
}

static void check_drained(er_dispatch_t *d)
{
    uint64_t inflight = 0;

    if (!uv_is_active((uv_handle_t *)&d->drain_timer) || busy(d))
        return; /* not waiting (already stopping the instances), or not yet */
    if (d->hurry != NULL) {
        for (size_t i = 0; i < d->ndest; i++)
            inflight += d->dests[i]->inflight;
        er_log(ER_LOG_WARN, COMPONENT, "%s with %llu deliveries in flight: stopping the handlers",
               d->hurry, (unsigned long long)inflight);
    }
    stop_instances(d);
}

/* Stop waiting for deliveries (why: "shutdown_timeout reached", ...). */
static void stop_waiting(er_dispatch_t *d, const char *why)
{
    if (d->hurry == NULL)
        d->hurry = why;
    /* The timer stays active while store requests end: check_drained
     * stops the instances then. */
    uv_timer_start(&d->drain_timer, on_drain_timeout, 3600 * 1000, 0);
    check_drained(d);
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
        er_dest_t *dst = d->dests[i];
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

/* Events known to wait for dst beyond its deliveries in flight. */
static uint64_t waiting(const er_dest_t *dst)
{
    uint64_t scan = cache_need(dst), head = dst->d->head;

    return dst->buf.len + dst->side.len + (scan <= head ? head + 1 - scan : 0);
}

static const char *state_of(const er_dest_t *dst)
{
    const er_dispatch_t *d = dst->d;

    if (!dst->started)
        return "stopped";
    if (dst->paused)
        return "paused";
    if (dst->reading || dst->buf.len > 0 || dst->wait_commit ||
        (cache_need(dst) <= d->head && !cache_has(&d->cache, cache_need(dst))))
        return "catching_up";
    return "live";
}

json_t *er__dispatch_handlers(const er_dispatch_t *d)
{
    json_t *arr = json_array();
    size_t i;

    for (i = 0; arr && i < d->ndest; i++) {
        const er_dest_t *dst = d->dests[i];
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
        json_object_set_new(o, "queued", json_integer((json_int_t)waiting(dst)));
        json_object_set_new(o, "delivered", json_integer((json_int_t)dst->delivered));
        json_object_set_new(o, "retried", json_integer((json_int_t)dst->retried));
        json_object_set_new(o, "failed", json_integer((json_int_t)dst->failed));
        json_object_set_new(o, "gave_up", json_integer((json_int_t)dst->gave_up));
        json_object_set_new(o, "timed_out", json_integer((json_int_t)dst->timed_out));
        json_object_set_new(o, "subscribe", json_boolean(dst->conf->subscribe));
        json_object_set_new(o, "types", types);
        json_object_set_new(o, "metrics", metrics);
        json_object_set_new(o, "stats", stats);
        json_array_append_new(arr, o);
    }
    return arr;
}

/* The age in seconds of the oldest event dst has not finished with, when
 * known; for a destination behind the cache, the age of the last event it
 * took. */
static double lag_seconds(const er_dest_t *dst)
{
    const er_dispatch_t *d = dst->d;
    uint64_t oldest = er__track_oldest(&dst->track), scan = dst->track.scan;
    int64_t received = 0;
    const delivery_t *dl;

    if (oldest != 0) {
        for (dl = dst->active; dl != NULL; dl = dl->next)
            if (!dl->side && dl->seq == oldest)
                received = er__ev_view(dl->ev)->received;
    } else if (dst->buf.len > 0) {
        received = er__ev_view(dst->buf.s[dst->buf.head].ev)->received;
    } else if (scan <= d->head) {
        const centry_t *e =
            cache_has(&d->cache, scan) ? &d->cache.e[cache_index(&d->cache, scan)] : NULL;
        received = e && e->ev ? er__ev_view(e->ev)->received : dst->last_received;
    }
    if (received <= 0)
        return 0.0;
    return (double)(er_now_us() - received) / 1e6;
}

json_t *er__dispatch_destinations(const er_dispatch_t *d)
{
    json_t *arr = json_array();
    size_t i;

    for (i = 0; arr && i < d->ndest; i++) {
        const er_dest_t *dst = d->dests[i];
        uint64_t cursor = dst->positioned ? er__track_low(&dst->track) : 0;
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
            "s:I, s:I, s:I, s:I}",
            "name", dst->conf->name, "plugin", dst->conf->lib->desc->name, "state", state_of(dst),
            "cursor", (json_int_t)cursor, "persisted", (json_int_t)dst->persisted, "head",
            (json_int_t)d->head, "lag_events",
            (json_int_t)(d->head > cursor ? d->head - cursor : 0), "lag_seconds", lag_seconds(dst),
            "inflight", (json_int_t)dst->inflight, "window", (json_int_t)dst->conf->window,
            "buffered", (json_int_t)dst->buf.len, "retrying", (json_int_t)dst->retrying,
            "delivered", (json_int_t)dst->delivered, "retried", (json_int_t)dst->retried, "failed",
            (json_int_t)dst->failed, "gave_up", (json_int_t)dst->gave_up, "timed_out",
            (json_int_t)dst->timed_out, "dead_lettered", (json_int_t)dst->dead_lettered,
            "read_from_store", (json_int_t)dst->read_from_store, "side_queued",
            (json_int_t)dst->side.len);
        if (o) {
            json_object_set_new(o, "skipped", json_integer((json_int_t)dst->skipped));
            json_array_append_new(arr, o);
        }
    }
    return arr;
}

json_t *er__dispatch_stats(const er_dispatch_t *d)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I}", "routed", (json_int_t)d->routed, "unrouted",
                     (json_int_t)d->unrouted, "head", (json_int_t)d->head, "cached",
                     (json_int_t)d->cache.count, "cache_bytes", (json_int_t)d->cache.bytes);
}

int er__dispatch_health(const er_dispatch_t *d, json_t **details)
{
    int worst = ER_HEALTH_UP;
    size_t i;

    *details = json_object();
    for (i = 0; i < d->ndest; i++) {
        const er_dest_t *dst = d->dests[i];
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
    return i < d->ndest ? d->dests[i]->conf->name : "?";
}

/* ----------------------------------------------- operator commands */

/* The destination an operator named, or NULL with the NACK reason. */
static er_dest_t *operated(er_dispatch_t *d, const char *name, char *msg, size_t cap)
{
    er_dest_t *dst = d->dests && !d->stopping ? find_dest(d, name) : NULL;

    if (d->stopping)
        snprintf(msg, cap, "the daemon is shutting down");
    else if (dst == NULL)
        snprintf(msg, cap, "no destination named \"%s\"", name);
    else if (!dst->positioned || !dst->started)
        snprintf(msg, cap, "destination \"%s\" is not running", name);
    else
        return dst;
    return NULL;
}

const char *er__dispatch_pause(er_dispatch_t *d, const char *name, bool pause, json_t **reply,
                               char *msg, size_t cap)
{
    er_dest_t *dst = operated(d, name, msg, cap);
    const char *was;

    if (dst == NULL)
        return d->stopping ? "unavailable" : "invalid";
    was = state_of(dst);
    if (dst->paused != pause)
        er_log(ER_LOG_NOTICE, dst->ctx->component, "%s by an operator at seq %llu",
               pause ? "paused" : "resumed", (unsigned long long)er__track_low(&dst->track));
    dst->paused = pause;
    if (!pause)
        pump(dst);
    *reply = json_pack("{s:s, s:s, s:s}", "destination", name, "state", state_of(dst), "was", was);
    return *reply ? NULL : "unavailable";
}

/* Move dst's cursor to seq (w: an operator's reply, or NULL): deliveries
 * in flight finish but no longer count; those waiting to be retried are
 * dropped; what was read ahead is forgotten. */
static void move_cursor(er_dest_t *dst, uint64_t seq, cursor_write_t *w)
{
    er_dispatch_t *d = dst->d;
    delivery_t *dl, *next;

    er__track_reset(&dst->track, seq + 1);
    ring_clear(&dst->buf);
    dst->read_gen++;
    dst->read_seen = seq + 1;
    dst->wait_commit = false;
    dst->read_retry_at = 0;
    for (dl = dst->active; dl != NULL; dl = next) {
        next = dl->next;
        if (!dl->side && dl->waiting)
            release(dl, false);
    }
    write_cursor(dst, seq < d->store->submitted ? seq : d->store->submitted, w);
    pump(dst);
}

const char *er__dispatch_cursor_set(er_dispatch_t *d, const char *name, uint64_t seq, bool to_head,
                                    char *msg, size_t cap, er_dispatch_reply_cb done, void *arg)
{
    er_dest_t *dst = operated(d, name, msg, cap);
    cursor_write_t *w;

    if (dst == NULL)
        return d->stopping ? "unavailable" : "invalid";
    if (to_head)
        seq = d->head;
    if (seq > d->head) {
        snprintf(msg, cap, "seq %llu is past the last assigned seq %llu", (unsigned long long)seq,
                 (unsigned long long)d->head);
        return "invalid";
    }
    if ((w = calloc(1, sizeof(*w))) == NULL)
        return "unavailable";
    w->done = done;
    w->arg = arg;
    w->previous = er__track_low(&dst->track);
    w->cursor = seq;
    er_log(ER_LOG_NOTICE, dst->ctx->component, "cursor moved by an operator: %llu -> %llu",
           (unsigned long long)w->previous, (unsigned long long)seq);
    move_cursor(dst, seq, w);
    return NULL;
}

uint64_t er__dispatch_retention_floor(er_dispatch_t *d, uint64_t want, char *holder, size_t cap)
{
    uint64_t floor = UINT64_MAX;
    size_t i;

    holder[0] = '\0';
    for (i = 0; i < d->ndest + 1; i++) {
        er_dest_t *dst = i < d->ndest ? d->dests[i] : d->retiring;
        for (; dst != NULL; dst = i < d->ndest ? NULL : dst->next_retiring) {
            uint64_t low, need;
            if (!dst->positioned)
                return 0; /* not known yet: nothing may go */
            low = er__track_low(&dst->track);
            /* The stored cursor, when behind: a crash resumes from it. */
            need = (dst->has_cursor && dst->persisted < low ? dst->persisted : low) + 1;
            if (need < want && !dst->retiring && dst->conf->max_lag > 0 && d->head > low &&
                d->head - low > dst->conf->max_lag) {
                /* Too far behind: retention skips it (counted, logged). */
                er_log(ER_LOG_WARN, dst->ctx->component,
                       "%llu events behind (max_lag %llu): retention skips it from seq %llu to "
                       "%llu",
                       (unsigned long long)(d->head - low), (unsigned long long)dst->conf->max_lag,
                       (unsigned long long)low, (unsigned long long)(want - 1));
                dst->skipped += want - 1 > low ? want - 1 - low : 0;
                move_cursor(dst, want - 1, NULL);
                need = want;
            }
            if (need < floor) {
                floor = need;
                snprintf(holder, cap, "the cursor of %s", dst->conf->name);
            }
        }
    }
    return floor;
}

/* ---------------------------------------------- dead letters, again */

/* One `dlq retry|drop` command: look the records up, then act on each,
 * and answer once every store request has come back. */
typedef struct dlqop_s {
    er_dispatch_t *d;
    bool drop;
    bool acting; /* the second phase */
    er_dispatch_reply_cb done;
    void *arg;
    er_dead_letter_t *recs; /* found; destination strings owned */
    size_t nrec, cap;
    size_t outstanding;
    uint64_t count;
    json_t *missing;
    int err;
    char errmsg[200];
} dlqop_t;

/* One store request of a dlqop. */
typedef struct dlqreq_s {
    dlqop_t *op;
    uint64_t id; /* the dead letter asked for */
    size_t rec;  /* its record (the second phase) */
    bool found;
} dlqreq_t;

static void dlqop_step(dlqop_t *op);

static void dlqop_error(dlqop_t *op, int err, const char *message)
{
    if (op->err == 0) {
        op->err = err;
        snprintf(op->errmsg, sizeof(op->errmsg), "%s", message);
    }
}

static dlqreq_t *dlqreq_new(dlqop_t *op, uint64_t id, size_t rec)
{
    dlqreq_t *q = calloc(1, sizeof(*q));

    if (q == NULL) {
        dlqop_error(op, -ENOMEM, "out of memory");
        return NULL;
    }
    q->op = op;
    q->id = id;
    q->rec = rec;
    op->outstanding++;
    op->d->store_ops++;
    return q;
}

/* A request of op ended (q freed); the last one moves op on. */
static void dlqreq_end(dlqreq_t *q)
{
    dlqop_t *op = q->op;

    free(q);
    op->d->store_ops--;
    if (--op->outstanding == 0)
        dlqop_step(op);
}

/* The request could not even be submitted. */
static void dlqreq_refused(dlqreq_t *q, int rc)
{
    dlqop_error(q->op, rc, er_strerror(rc));
    dlqreq_end(q);
}

static int on_dlq_record(void *arg, const er_dead_letter_t *dl)
{
    dlqreq_t *q = arg;
    dlqop_t *op = q->op;
    er_dead_letter_t *r;

    if (q->id != 0 && dl->dlq_id != q->id)
        return 1; /* the next one after it: the one asked for is gone */
    if (op->nrec == op->cap) {
        size_t ncap = op->cap ? op->cap * 2 : 16;
        er_dead_letter_t *n = realloc(op->recs, ncap * sizeof(*n));
        if (n == NULL) {
            dlqop_error(op, -ENOMEM, "out of memory");
            return 1;
        }
        op->recs = n;
        op->cap = ncap;
    }
    r = &op->recs[op->nrec];
    *r = *dl;
    r->reason.ptr = NULL;
    r->reason.len = 0;
    r->destination.ptr =
        strndup(dl->destination.ptr ? dl->destination.ptr : "", dl->destination.len);
    if (r->destination.ptr == NULL) {
        dlqop_error(op, -ENOMEM, "out of memory");
        return 1;
    }
    op->nrec++;
    q->found = true;
    return q->id != 0;
}

static void on_dlq_looked_up(void *arg, int err, const char *message)
{
    dlqreq_t *q = arg;

    if (err != 0)
        dlqop_error(q->op, err, message);
    else if (q->id != 0 && !q->found)
        json_array_append_new(q->op->missing, json_integer((json_int_t)q->id));
    dlqreq_end(q);
}

static void on_dlq_dropped(void *arg, int err, const char *message)
{
    dlqreq_t *q = arg;
    dlqop_t *op = q->op;

    if (err == -ENOENT)
        json_array_append_new(op->missing, json_integer((json_int_t)op->recs[q->rec].dlq_id));
    else if (err != 0)
        dlqop_error(op, err, message);
    else
        op->count++;
    dlqreq_end(q);
}

static int on_dlq_event(void *arg, er_ev_t *ev)
{
    dlqreq_t *q = arg;
    dlqop_t *op = q->op;
    const er_dead_letter_t *r = &op->recs[q->rec];
    er_dest_t *dst = find_dest(op->d, r->destination.ptr);

    if (dst == NULL || er__ev_view(ev)->seq != r->seq)
        return 1;
    if (ring_push(&dst->side,
                  (slot_t){.ev = er__ev_ref(ev), .dlq_id = r->dlq_id, .retry_route = -1}) != 0) {
        er__ev_unref(ev);
        dlqop_error(op, -ENOMEM, "out of memory");
        return 1;
    }
    q->found = true;
    op->count++;
    return 1;
}

static void on_dlq_fetched(void *arg, int err, const char *message)
{
    dlqreq_t *q = arg;
    dlqop_t *op = q->op;

    if (err != 0)
        dlqop_error(op, err, message);
    else if (!q->found) {
        er_log(ER_LOG_WARN, COMPONENT, "dead letter %llu: seq %llu is no longer stored",
               (unsigned long long)op->recs[q->rec].dlq_id,
               (unsigned long long)op->recs[q->rec].seq);
        json_array_append_new(op->missing, json_integer((json_int_t)op->recs[q->rec].dlq_id));
    }
    dlqreq_end(q);
}

/* Is dead letter id already on its way back to dst? */
static bool dlq_in_progress(const er_dest_t *dst, uint64_t id)
{
    const delivery_t *dl;

    for (dl = dst->active; dl != NULL; dl = dl->next)
        if (dl->side && dl->dlq_id == id)
            return true;
    return ring_has_dlq(&dst->side, id);
}

static void dlqop_free(dlqop_t *op)
{
    for (size_t i = 0; i < op->nrec; i++)
        free((char *)op->recs[i].destination.ptr);
    free(op->recs);
    json_decref(op->missing);
    free(op);
}

/* The second phase: act on every record found. */
static void dlqop_act(dlqop_t *op)
{
    er_dispatch_t *d = op->d;
    size_t i;
    int rc;

    op->outstanding = 1; /* held until every request is submitted */
    d->store_ops++;
    for (i = 0; i < op->nrec && op->err == 0; i++) {
        const er_dead_letter_t *r = &op->recs[i];
        er_dest_t *dst = find_dest(d, r->destination.ptr);
        er_store_filter_t f;
        dlqreq_t *q;

        if (!op->drop && (dst == NULL || !dst->started)) {
            er_log(ER_LOG_WARN, COMPONENT, "dead letter %llu: no destination \"%s\" running now",
                   (unsigned long long)r->dlq_id, r->destination.ptr);
            json_array_append_new(op->missing, json_integer((json_int_t)r->dlq_id));
            continue;
        }
        if (!op->drop && dlq_in_progress(dst, r->dlq_id)) {
            op->count++; /* a previous command already sent it back */
            continue;
        }
        if ((q = dlqreq_new(op, 0, i)) == NULL)
            break;
        if (op->drop) {
            rc = er__store_dlq_delete(d->store, r->dlq_id, on_dlq_dropped, q);
        } else {
            memset(&f, 0, sizeof(f));
            f.size = sizeof(f);
            f.from_seq = f.to_seq = r->seq;
            f.limit = 1;
            rc = er__store_query(d->store, &f, on_dlq_event, q, on_dlq_fetched, q);
        }
        if (rc != 0)
            dlqreq_refused(q, rc);
    }
    d->store_ops--;
    if (--op->outstanding == 0)
        dlqop_step(op);
}

/* Every request of the current phase came back. */
static void dlqop_step(dlqop_t *op)
{
    er_dispatch_t *d = op->d;
    json_t *reply;

    if (!op->acting && op->err == 0 && !d->stopping) {
        op->acting = true;
        dlqop_act(op);
        return;
    }
    if (op->err != 0) {
        op->done(op->arg, "unavailable", NULL, op->errmsg);
    } else if (d->stopping) {
        op->done(op->arg, "unavailable", NULL, "the daemon is shutting down");
    } else {
        reply = json_pack("{s:I, s:O}", op->drop ? "dropped" : "retried", (json_int_t)op->count,
                          "missing", op->missing);
        if (reply)
            op->done(op->arg, NULL, reply, NULL);
        else
            op->done(op->arg, "unavailable", NULL, "out of memory");
        if (!op->drop) {
            er_log(ER_LOG_NOTICE, COMPONENT, "%llu dead letters sent back by an operator",
                   (unsigned long long)op->count);
            for (size_t i = 0; i < d->ndest; i++)
                pump(d->dests[i]);
        } else {
            er_log(ER_LOG_NOTICE, COMPONENT, "%llu dead letters dropped by an operator",
                   (unsigned long long)op->count);
        }
    }
    dlqop_free(op);
    if (d->stopping)
        check_drained(d);
}

const char *er__dispatch_dlq(er_dispatch_t *d, bool drop, const uint64_t *ids, size_t n,
                             const char *destination, char *msg, size_t cap,
                             er_dispatch_reply_cb done, void *arg)
{
    dlqop_t *op;
    size_t i;
    int rc;

    if (d->stopping || d->dests == NULL) {
        snprintf(msg, cap, "the daemon is shutting down");
        return "unavailable";
    }
    if ((op = calloc(1, sizeof(*op))) == NULL || (op->missing = json_array()) == NULL) {
        free(op);
        return "unavailable";
    }
    op->d = d;
    op->drop = drop;
    op->done = done;
    op->arg = arg;
    op->outstanding = 1; /* held until every lookup is submitted */
    d->store_ops++;
    if (ids == NULL) {
        dlqreq_t *q = dlqreq_new(op, 0, 0);
        if (q && (rc = er__store_dlq_each(d->store, destination, 0, 0, on_dlq_record, q,
                                          on_dlq_looked_up, q)) != 0)
            dlqreq_refused(q, rc);
    }
    for (i = 0; ids != NULL && i < n && op->err == 0; i++) {
        dlqreq_t *q;
        if (ids[i] == 0) {
            json_array_append_new(op->missing, json_integer(0));
            continue;
        }
        if ((q = dlqreq_new(op, ids[i], 0)) == NULL)
            break;
        if ((rc = er__store_dlq_each(d->store, NULL, ids[i] - 1, 1, on_dlq_record, q,
                                     on_dlq_looked_up, q)) != 0)
            dlqreq_refused(q, rc);
    }
    d->store_ops--;
    if (--op->outstanding == 0) {
        /* Nothing reached the store (refused at once): still answered
         * later, as promised. */
        if (op->err != 0) {
            snprintf(msg, cap, "%s", op->errmsg);
            dlqop_free(op);
            return "unavailable";
        }
        dlqop_step(op);
    }
    return NULL;
}
