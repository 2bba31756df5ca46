/*
 * The daemon's side of the event store (see store.h): start (open, rebuild
 * the de-duplication set, first reservation), admission and sequencing,
 * the per-iteration append with its waiters, and a clean stop.
 *
 * Every plugin call goes through call_end(): the ABI says a store returns
 * ER_PENDING and completes its token later, or a negative errno and never
 * completes it; a final status returned at once is a plugin bug.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evobj.h"
#include "log.h"
#include "store.h"

#define COMPONENT "store"

/* Seqs reserved per store write: a crash leaves a gap of at most this. A
 * new reservation is asked for when half of it is used. */
#define RESERVE_CHUNK 65536
/* Events accepted but not yet stored before publishers wait. */
#define PENDING_MAX 65536
/* After a store failure, requests are refused this long before the store
 * is tried again (and a failed reservation is retried). */
#define ERROR_HOLD_MS 1000

struct er_store_batch_s {
    er_token_t token;
    er_store_t *st;
    er_ev_t **evs;
    size_t n;
    uint64_t first_seq;
    er_store_waiter_t *w_head, *w_tail;
    er_store_batch_t *next;
};

static void kick_reservation(er_store_t *st);
static void check_ready(er_store_t *st);
static void on_retry_timer(uv_timer_t *t);

/*
 * Every token-taking store call is made as
 *
 *     er__token_begin(t);
 *     rc = call_end(st, t, st->ops->op(..., t));
 *
 * call_end returns 0 when the call returned ER_PENDING (its token completes
 * later), or the call's negative errno (it never completes); a final status
 * returned at once breaks the store ABI and counts as -EPROTO.
 */
static int call_end(er_store_t *st, er_token_t *t, int rc)
{
    if (rc == ER_PENDING) {
        er__token_end(t);
        return 0;
    }
    if (rc >= 0)
        er_log(ER_LOG_ERROR, st->ctx->component,
               "plugin bug: a store call returned %d, not ER_PENDING", rc);
    return er__token_returned(t, rc < 0 ? rc : -EPROTO);
}

/* The failure a completed token reports (0 when it succeeded). */
static int token_error(const er_token_t *t, er_status_t status, const char **message)
{
    *message = t->errmsg != NULL ? t->errmsg : "";
    if (status == ER_OK)
        return 0;
    if (t->err != 0)
        return t->err;
    *message = "the store plugin failed the request without a reason";
    return -EIO;
}

/* A call the plugin refused at once (rc, a negative errno): its token
 * carries the failure to the same completion code as an asynchronous one.
 * Returns t. */
static er_token_t *refused(er_token_t *t, int rc, const char *what)
{
    char msg[128];

    snprintf(msg, sizeof(msg), "the store refused the %s: %s", what, er_strerror(rc));
    t->err = rc;
    free(t->errmsg);
    t->errmsg = strdup(msg);
    return t;
}

static void set_error(er_store_t *st, int err, const char *message)
{
    st->error = err;
    snprintf(st->error_msg, sizeof(st->error_msg), "%s", message);
    st->error_until_ms = uv_now(st->loop) + ERROR_HOLD_MS;
}

/* ------------------------------------------------------------- append */

static void run_waiters(er_store_waiter_t *w, int err, const char *message)
{
    while (w != NULL) {
        er_store_waiter_t *next = w->next;
        w->cb(w, err, message);
        w = next;
    }
}

static void on_appended(er_token_t *t, er_status_t status, size_t n, const er_status_t *sts)
{
    er_store_batch_t *b = t->owner, **pp;
    er_store_t *st = b->st;
    const char *msg;
    int err = token_error(t, status, &msg);
    size_t i;

    (void)n;
    (void)sts;
    for (pp = &st->b_head; *pp != b; pp = &(*pp)->next)
        ;
    *pp = b->next;
    if (st->b_tail == b) {
        st->b_tail = NULL;
        for (er_store_batch_t *x = st->b_head; x != NULL; x = x->next)
            st->b_tail = x;
    }
    st->pending -= b->n;
    st->stats.appends++;
    /* Writes complete in order: everything up to this batch is settled
     * (stored, or failed and never to exist). */
    st->committed = b->first_seq + b->n - 1;
    if (err == 0) {
        st->stats.appended += b->n;
        if (st->error != 0 && uv_now(st->loop) >= st->error_until_ms)
            st->error = 0;
    } else {
        st->stats.failed += b->n;
        /* None of them is stored: a resend must not be answered as a
         * duplicate of a seq that does not exist. */
        er__dedupe_forget_from(&st->dedupe, b->first_seq);
        set_error(st, err, msg);
        er_log_limited(ER_LOG_ERROR, COMPONENT, "%zu events (seq %llu..%llu) not stored: %s", b->n,
                       (unsigned long long)b->first_seq,
                       (unsigned long long)(b->first_seq + b->n - 1), msg);
    }
    run_waiters(b->w_head, err, msg);
    if (err == 0 && st->stored_cb != NULL)
        st->stored_cb(st->stored_arg, b->evs, b->n);
    for (i = 0; i < b->n; i++)
        er__ev_unref(b->evs[i]);
    free(b->evs);
    er__token_clear(&b->token);
    free(b);
    check_ready(st);
    if (st->committed_cb != NULL)
        st->committed_cb(st->committed_arg);
    if (st->pending == 0 && st->drained_cb != NULL)
        st->drained_cb(st->ready_arg);
}

/* Hand this iteration's events to the plugin as one append. */
static void flush(er_store_t *st)
{
    er_store_batch_t *b;
    int rc;

    if (st->n == 0)
        return;
    if ((b = calloc(1, sizeof(*b))) == NULL) {
        er_log_limited(ER_LOG_ERROR, COMPONENT, "out of memory: append delayed");
        return; /* tried again next iteration */
    }
    b->st = st;
    b->evs = st->evs;
    b->n = st->n;
    b->first_seq = er__ev_view(st->evs[0])->seq;
    st->submitted = b->first_seq + st->n - 1;
    b->w_head = st->w_head;
    b->w_tail = st->w_tail;
    st->evs = NULL;
    st->n = st->cap = 0;
    st->w_head = st->w_tail = NULL;
    if (st->b_tail)
        st->b_tail->next = b;
    else
        st->b_head = b;
    st->b_tail = b;
    er__token_init(&b->token, on_appended, b, st->ctx);
    er__token_begin(&b->token);
    rc = call_end(st, &b->token, st->ops->append(st->inst, b->evs, b->n, &b->token));
    if (rc != 0)
        on_appended(refused(&b->token, rc, "append"), ER_FAIL, 0, NULL);
}

static void on_check(uv_check_t *h)
{
    er_store_t *st = h->data;

    flush(st);
    if (st->n == 0)
        uv_check_stop(h);
}

int er__store_append(er_store_t *st, er_ev_t *ev)
{
    if (st->n == st->cap) {
        size_t ncap = st->cap ? st->cap * 2 : 256;
        er_ev_t **nevs = realloc(st->evs, ncap * sizeof(*nevs));
        if (nevs == NULL) {
            er__ev_unref(ev);
            return -ENOMEM;
        }
        st->evs = nevs;
        st->cap = ncap;
    }
    st->evs[st->n++] = ev;
    st->pending++;
    if (st->n == 1)
        uv_check_start(&st->check, on_check);
    return 0;
}

int er__store_wait(er_store_t *st, er_store_waiter_t *w)
{
    er_store_waiter_t **head, **tail;

    if (st->n > 0) {
        head = &st->w_head;
        tail = &st->w_tail;
    } else if (st->b_tail != NULL) {
        head = &st->b_tail->w_head;
        tail = &st->b_tail->w_tail;
    } else {
        return 1;
    }
    w->next = NULL;
    if (*tail)
        (*tail)->next = w;
    else
        *head = w;
    *tail = w;
    return 0;
}

/* ---------------------------------------------------------- admission */

int er__store_admit(er_store_t *st, uint32_t n, const char **code, char *msg, size_t cap,
                    int64_t *retry_ms)
{
    uint64_t now = uv_now(st->loop);

    if (!st->opened || st->stopping) {
        *code = "shutting_down";
        snprintf(msg, cap, "the store is closing");
        *retry_ms = -1;
        return ER_ADMIT_REFUSE;
    }
    if (st->error != 0 && now < st->error_until_ms) {
        *code = st->error == -ENOSPC ? "store_full" : "unavailable";
        snprintf(msg, cap, "%s", st->error_msg);
        *retry_ms = (int64_t)(st->error_until_ms - now);
        return ER_ADMIT_REFUSE;
    }
    kick_reservation(st);
    if (st->next_seq + n - 1 > st->reserved || st->pending >= st->pending_max) {
        if (!st->blocked)
            st->stats.waits++;
        st->blocked = true;
        return ER_ADMIT_WAIT;
    }
    return ER_ADMIT_OK;
}

uint64_t er__store_sequence(er_store_t *st, uint32_t n)
{
    uint64_t first = st->next_seq;

    st->next_seq += n;
    return first;
}

/*
 * Resume the publishers that wait once the store can take a batch again
 * (reservation ahead, half the pending events stored), or at once when it
 * failed: they are then answered with its error rather than left waiting
 * for a store that may stay full.
 */
static void check_ready(er_store_t *st)
{
    bool failing = st->error != 0 && uv_now(st->loop) < st->error_until_ms;

    if (!st->blocked || st->stopping)
        return;
    if (!failing && (st->next_seq + st->cfg->limits.max_batch - 1 > st->reserved ||
                     st->pending >= st->pending_max / 2))
        return;
    st->blocked = false;
    if (st->ready_cb)
        st->ready_cb(st->ready_arg);
}

/* -------------------------------------------------------- reservation */

static void on_reserved(er_token_t *t, er_status_t status, size_t n, const er_status_t *sts)
{
    er_store_t *st = t->owner;
    const char *msg;
    int err = token_error(t, status, &msg);

    (void)n;
    (void)sts;
    if (err == 0) {
        if (st->reserving > st->reserved || st->stopping)
            st->reserved = st->reserving;
        st->stats.reservations++;
    } else {
        set_error(st, err, msg);
        er_log_limited(ER_LOG_ERROR, COMPONENT, "sequence reservation up to %llu failed: %s",
                       (unsigned long long)st->reserving, msg);
        if (!st->stopping)
            uv_timer_start(&st->retry_timer, on_retry_timer, ERROR_HOLD_MS, 0);
    }
    st->reserving = 0;
    er__token_clear(t);
    if (st->start_cb != NULL && st->opened) {
        /* The first reservation ends the start. */
        er_store_cb cb = st->start_cb;
        st->start_cb = NULL;
        cb(st, err, err != 0 ? msg : NULL);
        return;
    }
    check_ready(st);
}

static void reserve(er_store_t *st, uint64_t upto)
{
    int rc;

    st->reserving = upto;
    er__token_init(&st->reserve_token, on_reserved, st, st->ctx);
    er__token_begin(&st->reserve_token);
    rc = call_end(st, &st->reserve_token, st->ops->reserve(st->inst, upto, &st->reserve_token));
    if (rc != 0)
        on_reserved(refused(&st->reserve_token, rc, "reservation"), ER_FAIL, 0, NULL);
}

/* Ask for the next chunk once half of the current one is used. */
static void kick_reservation(er_store_t *st)
{
    if (st->reserving != 0 || st->stopping)
        return;
    if (st->next_seq + RESERVE_CHUNK / 2 <= st->reserved)
        return;
    if (st->error != 0 && uv_now(st->loop) < st->error_until_ms)
        return;
    reserve(st, st->next_seq - 1 + RESERVE_CHUNK);
}

static void on_retry_timer(uv_timer_t *t)
{
    er_store_t *st = t->data;

    kick_reservation(st);
}

/* --------------------------------------------------------------- start */

static int rebuild_row(void *arg, er_ev_t *ev)
{
    er_store_t *st = arg;
    const er_event_t *v = er__ev_view(ev);
    uint64_t h[2];

    if (v->id.len == 0)
        return 0;
    er__dedupe_hash(&st->dedupe, v->id.ptr, v->id.len, h);
    if (er__dedupe_insert(&st->dedupe, h, v->seq, v->received) != 0)
        return 1;
    st->rebuilt++;
    return 0;
}

static void start_failed(er_store_t *st, int err, const char *message)
{
    er_store_cb cb = st->start_cb;

    st->start_cb = NULL;
    cb(st, err, message);
}

static void on_rebuilt(er_token_t *t, er_status_t status, size_t n, const er_status_t *sts)
{
    er_store_t *st = t->owner;
    const char *msg;
    int err = token_error(t, status, &msg);

    (void)n;
    (void)sts;
    if (err != 0) {
        char m[320];
        snprintf(m, sizeof(m), "reading the store's tail for de-duplication failed: %s", msg);
        er__token_clear(t);
        start_failed(st, err, m);
        return;
    }
    er__dedupe_expire(&st->dedupe, er_now_us());
    er_log(ER_LOG_INFO, COMPONENT, "de-duplication set rebuilt: %zu ids from the store's tail",
           st->dedupe.count);
    er__token_clear(t);
    st->opened = true;
    reserve(st, st->next_seq - 1 + RESERVE_CHUNK);
}

static void rebuild(er_store_t *st)
{
    er_store_filter_t f;
    uint64_t max = st->cfg->limits.dedupe_max;
    int rc;

    memset(&f, 0, sizeof(f));
    f.size = sizeof(f);
    f.from_seq = st->head.last_seq > max ? st->head.last_seq - max + 1 : 1;
    f.to_seq = st->head.last_seq;
    er__token_init(&st->rebuild_token, on_rebuilt, st, st->ctx);
    er__token_begin(&st->rebuild_token);
    rc = call_end(st, &st->rebuild_token,
                  st->ops->query(st->inst, &f, rebuild_row, st, &st->rebuild_token));
    if (rc != 0) {
        char m[160];
        snprintf(m, sizeof(m), "reading the store's tail for de-duplication: %s", er_strerror(rc));
        start_failed(st, rc, m);
    }
}

static const char *durability_name(er_durability_t d)
{
    switch (d) {
    case ER_DURABILITY_DISK:
        return "disk";
    case ER_DURABILITY_PROCESS:
        return "process";
    default:
        return "none";
    }
}

static void on_opened(er_token_t *t, er_status_t status, size_t n, const er_status_t *sts)
{
    er_store_t *st = t->owner;
    const char *msg;
    int err = token_error(t, status, &msg);

    (void)n;
    (void)sts;
    if (err != 0) {
        char m[320];
        snprintf(m, sizeof(m), "store %s: %s", st->cfg->store.plugin, msg);
        er__token_clear(t);
        start_failed(st, err, m);
        return;
    }
    er__token_clear(t);
    st->durability = st->ops->durability(st->inst);
    st->next_seq =
        (st->head.reserved > st->head.last_seq ? st->head.reserved : st->head.last_seq) + 1;
    st->reserved = st->next_seq - 1;
    st->committed = st->submitted = st->next_seq - 1;
    er_log(ER_LOG_NOTICE, COMPONENT,
           "opened %s store (durability %s): %llu events, seq %llu..%llu, %s; next seq %llu",
           st->cfg->store.plugin, durability_name(st->durability),
           (unsigned long long)st->head.events, (unsigned long long)st->head.first_seq,
           (unsigned long long)st->head.last_seq,
           st->head.created ? "created"
           : st->head.clean ? "stopped cleanly last time"
                            : "NOT stopped cleanly last time (seqs resume after the reservation)",
           (unsigned long long)st->next_seq);
    if (st->head.last_seq > 0 && st->dedupe.window_us > 0) {
        rebuild(st);
        return;
    }
    st->opened = true;
    reserve(st, st->next_seq - 1 + RESERVE_CHUNK);
}

int er__store_start(er_store_t *st, uv_loop_t *loop, const er_config_t *cfg, er_store_cb done)
{
    const er_store_conf_t *sc = &cfg->store;
    int rc;

    memset(st, 0, sizeof(*st));
    st->loop = loop;
    st->cfg = cfg;
    st->start_cb = done;
    st->pending_max = PENDING_MAX;
    if ((rc = er__dedupe_init(&st->dedupe, cfg->limits.dedupe_max, cfg->limits.dedupe_window_ms)) !=
        0)
        return rc;
    if ((st->ctx = er__plugin_ctx_new("store", sc->lib, sc->options, st)) == NULL)
        return -ENOMEM;
    snprintf(st->ctx->component, sizeof(st->ctx->component), "store:%s", sc->lib->desc->name);
    st->ops = sc->lib->ops; /* the loader's copy: the host's size, zero past the plugin's */
    if ((rc = st->ops->create(er__host(), st->ctx, sc->options, &st->inst)) != 0) {
        er_log(ER_LOG_ERROR, COMPONENT, "store %s (%s): create failed: %s", sc->plugin,
               sc->lib->path, er_strerror(rc));
        er__plugin_ctx_free(st->ctx);
        st->ctx = NULL;
        return rc;
    }
    st->ctx->instance = st->inst;
    uv_check_init(loop, &st->check);
    st->check.data = st;
    uv_timer_init(loop, &st->retry_timer);
    st->retry_timer.data = st;
    st->handles = 2;
    st->head.size = sizeof(st->head);
    er__token_init(&st->open_token, on_opened, st, st->ctx);
    er__token_begin(&st->open_token);
    rc = call_end(st, &st->open_token, st->ops->open(st->inst, &st->head, &st->open_token));
    if (rc != 0) {
        er_log(ER_LOG_ERROR, COMPONENT, "store %s: open: %s", sc->plugin, er_strerror(rc));
        st->start_cb = NULL;
        er__store_stop(st, NULL); /* closes what was set up; run the loop to finish */
        return rc;
    }
    return 0;
}

/* ---------------------------------------------------------------- stop */

static void on_handle_closed(uv_handle_t *h)
{
    er_store_t *st = h->data;

    if (--st->handles > 0)
        return;
    er__dedupe_free(&st->dedupe);
    if (st->stop_cb) {
        er_store_cb cb = st->stop_cb;
        st->stop_cb = NULL;
        cb(st, 0, NULL);
    }
}

static void on_plugin_stopped(void *arg)
{
    er_store_t *st = arg;

    st->ops->destroy(st->inst);
    st->inst = NULL;
    er__plugin_ctx_free(st->ctx);
    st->ctx = NULL;
    uv_close((uv_handle_t *)&st->check, on_handle_closed);
    uv_close((uv_handle_t *)&st->retry_timer, on_handle_closed);
}

/* Every append is done: record the reservation mark as the last seq
 * assigned, then stop the plugin (which completes that write first). */
static void finish_stop(er_store_t *st)
{
    if (st->inst == NULL)
        return;
    if (st->opened && st->reserving == 0 && st->next_seq - 1 < st->reserved)
        reserve(st, st->next_seq - 1);
    if (st->opened)
        er_log(ER_LOG_INFO, COMPONENT, "closing: %llu events stored since start, last seq %llu",
               (unsigned long long)st->stats.appended, (unsigned long long)(st->next_seq - 1));
    st->ops->stop(st->inst, on_plugin_stopped, st);
}

void er__store_stop(er_store_t *st, er_store_cb done)
{
    st->stop_cb = done;
    st->stopping = true;
    uv_timer_stop(&st->retry_timer);
    flush(st);
    uv_check_stop(&st->check);
    /* The plugin's stop completes every write submitted before it (the
     * appends in flight and the reservation), then calls done. */
    finish_stop(st);
}

/* --------------------------------------------------------- dead letters */

typedef struct dlq_req_s {
    er_token_t token;
    er_store_t *st;
    uint64_t dlq_id;
    uint64_t seq;
    char dest[64];
} dlq_req_t;

static void on_dead_lettered(er_token_t *t, er_status_t status, size_t n, const er_status_t *sts)
{
    dlq_req_t *r = t->owner;
    const char *msg;
    int err = token_error(t, status, &msg);

    (void)n;
    (void)sts;
    if (err == 0)
        er_log(ER_LOG_DEBUG, COMPONENT, "seq %llu for %s dead-lettered as %llu",
               (unsigned long long)r->seq, r->dest, (unsigned long long)r->dlq_id);
    else
        er_log_limited(ER_LOG_ERROR, COMPONENT, "seq %llu for %s: dead letter not stored: %s",
                       (unsigned long long)r->seq, r->dest, msg);
    er__token_clear(t);
    free(r);
}

int er__store_dead_letter(er_store_t *st, const er_dead_letter_t *dl)
{
    dlq_req_t *r;
    int rc;

    if (!st->opened || st->inst == NULL) {
        er_log_limited(ER_LOG_ERROR, COMPONENT, "seq %llu: dead letter not stored: store closed",
                       (unsigned long long)dl->seq);
        return -EAGAIN;
    }
    if ((r = calloc(1, sizeof(*r))) == NULL)
        return -ENOMEM;
    r->st = st;
    r->seq = dl->seq;
    snprintf(r->dest, sizeof(r->dest), "%.*s", (int)dl->destination.len, dl->destination.ptr);
    er__token_init(&r->token, on_dead_lettered, r, st->ctx);
    er__token_begin(&r->token);
    rc = call_end(st, &r->token, st->ops->dlq_add(st->inst, dl, &r->dlq_id, &r->token));
    if (rc != 0) {
        er_log_limited(ER_LOG_ERROR, COMPONENT, "seq %llu for %s: dead letter not stored: %s",
                       (unsigned long long)dl->seq, r->dest, er_strerror(rc));
        er__token_clear(&r->token);
        free(r);
    }
    return rc;
}

json_t *er__store_dlq_json(const er_dead_letter_t *dl)
{
    return json_pack("{s:I, s:I, s:s%, s:s%, s:I, s:I, s:I}", "id", (json_int_t)dl->dlq_id, "seq",
                     (json_int_t)dl->seq, "destination",
                     dl->destination.ptr ? dl->destination.ptr : "", dl->destination.len,
                     "reason", dl->reason.ptr ? dl->reason.ptr : "", dl->reason.len, "attempts",
                     (json_int_t)dl->attempts, "first_failure", (json_int_t)dl->first_failure_us,
                     "last_failure", (json_int_t)dl->last_failure_us);
}

/* ---------------------------------------------------- other requests */

/* A request whose caller only needs to know how it ended. */
typedef struct req_s {
    er_token_t token;
    er_store_done_cb done;
    void *arg;
} req_t;

static void on_req_done(er_token_t *t, er_status_t status, size_t n, const er_status_t *sts)
{
    req_t *r = t->owner;
    const char *msg;
    int err = token_error(t, status, &msg);

    (void)n;
    (void)sts;
    if (r->done != NULL)
        r->done(r->arg, err, msg);
    er__token_clear(t);
    free(r);
}

/* A new request on an open store, its token begun; NULL with *rc set
 * when the store is not open (-EAGAIN) or memory is short. */
static req_t *req_new(er_store_t *st, er_store_done_cb done, void *arg, int *rc)
{
    req_t *r;

    if (!st->opened || st->stopping || st->inst == NULL) {
        *rc = -EAGAIN;
        return NULL;
    }
    if ((r = calloc(1, sizeof(*r))) == NULL) {
        *rc = -ENOMEM;
        return NULL;
    }
    r->done = done;
    r->arg = arg;
    er__token_init(&r->token, on_req_done, r, st->ctx);
    er__token_begin(&r->token);
    return r;
}

/* The plugin call made with r's token returned rc: 0 when its token will
 * complete, else the negative errno (r is freed, done never called). */
static int req_end(er_store_t *st, req_t *r, int rc)
{
    if ((rc = call_end(st, &r->token, rc)) != 0) {
        er__token_clear(&r->token);
        free(r);
    }
    return rc;
}

int er__store_dlq_each(er_store_t *st, const char *destination, uint64_t after, uint64_t max,
                       er_store_dlq_cb each, void *each_arg, er_store_done_cb done, void *arg)
{
    int rc = 0;
    req_t *r = req_new(st, done, arg, &rc);

    if (r == NULL)
        return rc;
    return req_end(st, r,
                   st->ops->dlq_list(st->inst, destination, after, max, each, each_arg, &r->token));
}

int er__store_dlq_delete(er_store_t *st, uint64_t dlq_id, er_store_done_cb done, void *arg)
{
    int rc = 0;
    req_t *r = req_new(st, done, arg, &rc);

    if (r == NULL)
        return rc;
    return req_end(st, r, st->ops->dlq_delete(st->inst, dlq_id, &r->token));
}

int er__store_cursor_list(er_store_t *st, er_store_cursor_cb each, void *each_arg,
                          er_store_done_cb done, void *arg)
{
    int rc = 0;
    req_t *r = req_new(st, done, arg, &rc);

    if (r == NULL)
        return rc;
    return req_end(st, r, st->ops->cursor_list(st->inst, each, each_arg, &r->token));
}

int er__store_cursor_set(er_store_t *st, const char *name, uint64_t seq, er_store_done_cb done,
                         void *arg)
{
    int rc = 0;
    req_t *r = req_new(st, done, arg, &rc);

    if (r == NULL)
        return rc;
    return req_end(st, r, st->ops->cursor_set(st->inst, name, seq, &r->token));
}

int er__store_cursor_delete(er_store_t *st, const char *name, er_store_done_cb done, void *arg)
{
    int rc = 0;
    req_t *r = req_new(st, done, arg, &rc);

    if (r == NULL)
        return rc;
    return req_end(st, r, st->ops->cursor_delete(st->inst, name, &r->token));
}

int er__store_trim(er_store_t *st, uint64_t before_seq, uint64_t max, uint64_t *trimmed,
                   er_store_done_cb done, void *arg)
{
    int rc = 0;
    req_t *r = req_new(st, done, arg, &rc);

    if (r == NULL)
        return rc;
    return req_end(st, r, st->ops->trim(st->inst, before_seq, max, trimmed, &r->token));
}

int er__store_delete_stream(er_store_t *st, const char *stream, uint64_t max, uint64_t *deleted,
                            er_store_done_cb done, void *arg)
{
    int rc = 0;
    req_t *r = req_new(st, done, arg, &rc);

    if (r == NULL)
        return rc;
    return req_end(st, r, st->ops->delete_stream(st->inst, stream, max, deleted, &r->token));
}

int er__store_query(er_store_t *st, const er_store_filter_t *filter, er_store_row_cb row,
                    void *row_arg, er_store_done_cb done, void *arg)
{
    int rc = 0;
    req_t *r = req_new(st, done, arg, &rc);

    if (r == NULL)
        return rc;
    return req_end(st, r, st->ops->query(st->inst, filter, row, row_arg, &r->token));
}

/* ---------------------------------------------------------- maintenance */

int er__store_check(er_store_t *st, er_store_report_cb report, void *report_arg,
                    er_store_done_cb done, void *arg)
{
    int rc = 0;
    req_t *r;

    if (st->ops != NULL && st->ops->check == NULL)
        return -ENOTSUP;
    if ((r = req_new(st, done, arg, &rc)) == NULL)
        return rc;
    return req_end(st, r, st->ops->check(st->inst, report, report_arg, &r->token));
}

int er__store_backup(er_store_t *st, const char *dir, uint64_t *bytes, er_store_done_cb done,
                     void *arg)
{
    int rc = 0;
    req_t *r;

    if (st->ops != NULL && st->ops->backup == NULL)
        return -ENOTSUP;
    if ((r = req_new(st, done, arg, &rc)) == NULL)
        return rc;
    return req_end(st, r, st->ops->backup(st->inst, dir, bytes, &r->token));
}

int er__store_compact(er_store_t *st, er_store_report_cb report, void *report_arg,
                      er_store_done_cb done, void *arg)
{
    int rc = 0;
    req_t *r;

    if (st->ops != NULL && st->ops->compact == NULL)
        return -ENOTSUP;
    if ((r = req_new(st, done, arg, &rc)) == NULL)
        return rc;
    return req_end(st, r, st->ops->compact(st->inst, report, report_arg, &r->token));
}

/* --------------------------------------------------------- plugin state */

int er__store_state_get(er_store_t *st, const char *scope, const char *key, const void **value,
                        size_t *len, er_token_t *token)
{
    if (!st->opened || st->stopping || st->inst == NULL)
        return -EAGAIN;
    er__token_begin(token);
    return call_end(st, token, st->ops->state_get(st->inst, scope, key, value, len, token));
}

int er__store_state_set(er_store_t *st, const char *scope, const char *key, const void *value,
                        size_t len, er_token_t *token)
{
    if (!st->opened || st->stopping || st->inst == NULL)
        return -EAGAIN;
    er__token_begin(token);
    return call_end(st, token, st->ops->state_set(st->inst, scope, key, value, len, token));
}

/* --------------------------------------------------------------- stats */

int er__store_used_bytes(const er_store_t *st, uint64_t *bytes)
{
    *bytes = 0;
    if (st->ops == NULL || st->ops->used_bytes == NULL)
        return -ENOTSUP;
    if (!st->opened || st->stopping || st->inst == NULL)
        return -EAGAIN;
    return st->ops->used_bytes(st->inst, bytes);
}

static void emit_stat(void *arg, const char *name, int64_t value)
{
    json_object_set_new(arg, name, json_integer(value));
}

json_t *er__store_stats(const er_store_t *st)
{
    json_t *j = json_object(), *plugin = json_object();

    if (j == NULL || plugin == NULL) {
        json_decref(j);
        json_decref(plugin);
        return NULL;
    }
    if (st->inst != NULL && st->ops->stats != NULL)
        st->ops->stats(st->inst, emit_stat, plugin);
    json_object_set_new(j, "plugin", json_string(st->cfg->store.plugin));
    json_object_set_new(j, "durability", json_string(durability_name(st->durability)));
    json_object_set_new(j, "next_seq", json_integer((json_int_t)st->next_seq));
    json_object_set_new(j, "reserved", json_integer((json_int_t)st->reserved));
    json_object_set_new(j, "appended", json_integer((json_int_t)st->stats.appended));
    json_object_set_new(j, "appends", json_integer((json_int_t)st->stats.appends));
    json_object_set_new(j, "failed", json_integer((json_int_t)st->stats.failed));
    json_object_set_new(j, "pending", json_integer((json_int_t)st->pending));
    json_object_set_new(j, "duplicates", json_integer((json_int_t)st->stats.duplicates));
    json_object_set_new(j, "plugin_published",
                        json_integer((json_int_t)st->stats.plugin_published));
    json_object_set_new(j, "hops_exceeded", json_integer((json_int_t)st->stats.hops_exceeded));
    json_object_set_new(j, "admission_waits", json_integer((json_int_t)st->stats.waits));
    json_object_set_new(j, "dedupe_ids", json_integer((json_int_t)st->dedupe.count));
    json_object_set_new(j, "dedupe_bytes", json_integer((json_int_t)er__dedupe_bytes(&st->dedupe)));
    json_object_set_new(j, "error", st->error != 0 ? json_string(st->error_msg) : json_null());
    json_object_set_new(j, st->cfg->store.lib->desc->name, plugin); /* the plugin's own figures */
    return j;
}
