/*
 * Retention (see retention.h). A pass: the lowest seq any dead letter
 * references (unless force); then where trimming should stop (`want`):
 * with max_age, one read of the oldest events, up to a chunk, to find the
 * first event received since the cutoff or past the excess over
 * max_events or max_bytes; without it, the oldest event alone, and `want`
 * its seq plus the excess (at most a chunk) — as if no seq were missing
 * after it: a gap (a crash's, delete-stream's) only makes the pass stop
 * short, the trims are bounded by the excess anyway, and the next pass
 * goes on; reading the chunk decoded every trimmed event once more for
 * nothing. Then the dispatcher's floor (cursors; a destination past its
 * max_lag is skipped instead); then trims in steps, one after the other,
 * below the lowest of them, up to a chunk. A pass that trimmed a full
 * chunk is followed at once by another, else the next comes after
 * PERIOD_MS.
 *
 * Why steps: the store applies a trim in its writer's transaction, beside
 * the appends queued with it, and every append queued behind a trim waits
 * until the whole trim is committed. A chunk in one trim (lmdb: three
 * transactions of 4,096 deletes, 10-40 ms each) held durable acks for
 * 100+ ms and put publishers' p99 at 20-200x its idle figure
 * (bench/run.sh's trim scenario). A step joins the one group commit it
 * lands in, and the next is submitted when it completes, so appends flow
 * between steps. Its size adapts to what a step costs on this store now:
 * a step that took longer than STEP_BUDGET_US (submission to completion:
 * the commit it joined) halves the next one, one that took under half of
 * it doubles it, between STEP_MIN and STEP_MAX — so a busy writer sees a
 * few milliseconds of deletes per commit, and an idle one trims in large
 * steps. The budget is what still keeps up: in bench's trim scenario
 * (100,000 events/s published, ack durable, 1 M to trim) 3 ms trimmed
 * ~57,000 events/s, less than came in; 6 ms trimmed the 1 M in ~5 s and
 * then kept pace, the publishers' p99 about 1.6x idle.
 *
 * max_bytes: the store says how many bytes it uses (used_bytes) but not
 * what one event costs, so a pass estimates the excess in events from the
 * average (used / stored events), rounded up, and trims that many; the
 * next pass measures again. The estimate errs low when the bytes do not
 * drop in proportion (an index page is freed only once emptied or
 * merged), so the store approaches the bound from above in a few passes,
 * never trimming far past it; and a pass that trimmed less than a chunk
 * waits PERIOD_MS like any other, so a figure that lags or does not drop
 * never makes the passes spin.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "evobj.h"
#include "log.h"
#include "retention.h"

#define COMPONENT      "retention"
#define PERIOD_MS      1000
#define CHUNK          10000
#define STEP_MIN       32
#define STEP_MAX       4096 /* the lmdb store's deletes per transaction */
#define STEP_BUDGET_US 6000

static void on_timer(uv_timer_t *t);

static void next_pass(er_retention_t *r, uint64_t ms)
{
    r->in_pass = false;
    if (!r->stopping)
        uv_timer_start(&r->timer, on_timer, ms, 0);
}

static void emit_events(void *arg, const char *name, int64_t value)
{
    if (strcmp(name, "events") == 0)
        *(uint64_t *)arg = value > 0 ? (uint64_t)value : 0;
}

/* The events to trim for max_bytes: the excess bytes over the average
 * event's share of used, rounded up (at most every event). Logs when the
 * store goes over the bound and when it is back under. */
static uint64_t bytes_excess(er_retention_t *r, uint64_t events)
{
    uint64_t max = r->conf->max_bytes, used, avg, n;

    if (max == 0 || er__store_used_bytes(r->store, &used) != 0)
        return 0;
    if (used <= max) {
        if (r->over_bytes)
            er_log(ER_LOG_INFO, COMPONENT, "the store uses %llu bytes: within max_bytes %llu again",
                   (unsigned long long)used, (unsigned long long)max);
        r->over_bytes = false;
        return 0;
    }
    if (events == 0)
        return 0; /* what is left is the store's own: nothing to trim */
    avg = used / events > 0 ? used / events : 1;
    n = (used - max + avg - 1) / avg;
    if (n > events)
        n = events;
    if (!r->over_bytes)
        er_log(ER_LOG_NOTICE, COMPONENT,
               "the store uses %llu bytes, over max_bytes %llu: trimming the oldest events "
               "(about %llu at %llu bytes each on average)",
               (unsigned long long)used, (unsigned long long)max, (unsigned long long)n,
               (unsigned long long)avg);
    else
        er_log(ER_LOG_DEBUG, COMPONENT,
               "the store uses %llu bytes, max_bytes %llu: about %llu events to trim (%llu bytes "
               "each on average)",
               (unsigned long long)used, (unsigned long long)max, (unsigned long long)n,
               (unsigned long long)avg);
    r->over_bytes = true;
    return n;
}

/* ------------------------------------------------------------- trim */

typedef struct trim_s {
    er_retention_t *r;
    uint64_t before;
    uint64_t max;     /* this pass trims at most this many */
    uint64_t total;   /* ... and has trimmed this many */
    uint64_t trimmed; /* by the step in flight */
    uint64_t asked;   /* ... which asked for this many */
    uint64_t start_ns;
} trim_t;

static void on_trimmed(void *arg, int err, const char *message);

/* Submit the next step; false (nothing in flight) when the store refused. */
static bool step(trim_t *t)
{
    uint64_t n = t->max - t->total < t->r->step ? t->max - t->total : t->r->step;

    t->trimmed = 0;
    t->asked = n;
    t->start_ns = uv_hrtime();
    return er__store_trim(t->r->store, t->before, n, &t->trimmed, on_trimmed, t) == 0;
}

static void on_trimmed(void *arg, int err, const char *message)
{
    trim_t *t = arg;
    er_retention_t *r = t->r;
    bool full = false;

    if (err != 0) {
        er_log_limited(ER_LOG_ERROR, COMPONENT, "trim below seq %llu failed: %s",
                       (unsigned long long)t->before, message);
    } else {
        uint64_t us = (uv_hrtime() - t->start_ns) / 1000;
        r->stats.trimmed += t->trimmed;
        t->total += t->trimmed;
        if (t->trimmed >= r->step && us < STEP_BUDGET_US / 2 && r->step < STEP_MAX)
            r->step *= 2;
        else if (us > STEP_BUDGET_US && r->step > STEP_MIN)
            r->step /= 2;
        /* A full step: there may be more below `before`. */
        if (t->trimmed >= t->asked && t->total < t->max && !r->stopping && step(t))
            return;
        if (t->total > 0)
            er_log(ER_LOG_DEBUG, COMPONENT, "%llu events trimmed below seq %llu",
                   (unsigned long long)t->total, (unsigned long long)t->before);
        full = t->total >= t->max;
    }
    next_pass(r, full ? 0 : PERIOD_MS);
    free(t);
}

/* The read found `want` (trim below it): bound it by the cursors and the
 * dead letters, then trim. */
static void trim_below(er_retention_t *r, uint64_t want)
{
    uint64_t before = want, floor;
    char holder[96] = "";
    trim_t *t;

    if (!r->conf->force) {
        floor = er__dispatch_retention_floor(r->dispatch, want, holder, sizeof(holder));
        if (floor < before)
            before = floor;
        if (r->dlq_min != 0 && r->dlq_min < before) {
            before = r->dlq_min;
            snprintf(holder, sizeof(holder), "a dead letter (seq %llu)",
                     (unsigned long long)r->dlq_min);
        }
    }
    if (before < want) {
        if (strcmp(holder, r->held_by) != 0)
            er_log(ER_LOG_NOTICE, COMPONENT, "events from seq %llu on are kept for %s",
                   (unsigned long long)before, holder);
        snprintf(r->held_by, sizeof(r->held_by), "%s", holder);
    } else {
        r->held_by[0] = '\0';
    }
    if (before <= 1 || (t = calloc(1, sizeof(*t))) == NULL) {
        next_pass(r, PERIOD_MS);
        return;
    }
    t->r = r;
    t->before = before;
    t->max = CHUNK;
    if (!step(t)) {
        free(t);
        next_pass(r, PERIOD_MS);
    }
}

/* ------------------------------------------------------------- read */

typedef struct scan_s {
    er_retention_t *r;
    uint64_t excess; /* events to go by count */
    int64_t cutoff;  /* received before it: to go (0: no max_age) */
    uint64_t rows;
    uint64_t want; /* trim below this */
} scan_t;

static int on_row(void *arg, er_ev_t *ev)
{
    scan_t *s = arg;
    const er_event_t *v = er__ev_view(ev);

    if (s->cutoff == 0) { /* the oldest event: the excess follows it */
        s->want = v->seq + (s->excess < CHUNK ? s->excess : CHUNK);
        return 1;
    }
    if (s->rows < s->excess || (s->cutoff != 0 && v->received < s->cutoff)) {
        s->rows++;
        s->want = v->seq + 1;
        return 0;
    }
    return 1; /* the first to keep */
}

static void on_scanned(void *arg, int err, const char *message)
{
    scan_t *s = arg;
    er_retention_t *r = s->r;
    uint64_t want = s->want;

    free(s);
    if (err != 0) {
        er_log_limited(ER_LOG_ERROR, COMPONENT, "reading the oldest events failed: %s", message);
        next_pass(r, PERIOD_MS);
        return;
    }
    if (want == 0 || r->stopping) {
        next_pass(r, PERIOD_MS);
        return;
    }
    trim_below(r, want);
}

static void scan(er_retention_t *r)
{
    uint64_t events = 0, by_bytes;
    er_store_filter_t f;
    scan_t *s;

    if (r->store->ops->stats)
        r->store->ops->stats(r->store->inst, emit_events, &events);
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        next_pass(r, PERIOD_MS);
        return;
    }
    s->r = r;
    s->excess =
        r->conf->max_events && events > r->conf->max_events ? events - r->conf->max_events : 0;
    if ((by_bytes = bytes_excess(r, events)) > s->excess)
        s->excess = by_bytes;
    if (r->conf->max_age_ms)
        s->cutoff = er_now_us() - (int64_t)r->conf->max_age_ms * 1000;
    if (s->excess == 0 && s->cutoff == 0) {
        free(s);
        next_pass(r, PERIOD_MS);
        return;
    }
    memset(&f, 0, sizeof(f));
    f.size = sizeof(f);
    f.limit = s->cutoff != 0 ? CHUNK : 1;
    if (er__store_query(r->store, &f, on_row, s, on_scanned, s) != 0) {
        free(s);
        next_pass(r, PERIOD_MS);
    }
}

/* ------------------------------------------------------- dead letters */

static int on_dead_letter(void *arg, const er_dead_letter_t *dl)
{
    er_retention_t *r = arg;

    if (r->dlq_min == 0 || dl->seq < r->dlq_min)
        r->dlq_min = dl->seq;
    return 0;
}

static void on_dead_letters(void *arg, int err, const char *message)
{
    er_retention_t *r = arg;

    if (err != 0) {
        er_log_limited(ER_LOG_ERROR, COMPONENT, "listing the dead letters failed: %s", message);
        next_pass(r, PERIOD_MS);
        return;
    }
    if (r->stopping) {
        next_pass(r, PERIOD_MS);
        return;
    }
    scan(r);
}

static void on_timer(uv_timer_t *t)
{
    er_retention_t *r = t->data;

    if (r->stopping || r->in_pass)
        return;
    r->in_pass = true;
    r->stats.passes++;
    r->dlq_min = 0;
    if (r->conf->force) {
        scan(r);
        return;
    }
    if (er__store_dlq_each(r->store, NULL, 0, 0, on_dead_letter, r, on_dead_letters, r) != 0)
        next_pass(r, PERIOD_MS);
}

void er__retention_start(er_retention_t *r, uv_loop_t *loop, er_store_t *store,
                         er_dispatch_t *dispatch, const er_retention_conf_t *conf)
{
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->store = store;
    r->dispatch = dispatch;
    r->conf = conf;
    r->step = STEP_MIN;
    if (conf->max_age_ms == 0 && conf->max_events == 0 && conf->max_bytes == 0)
        return;
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    r->running = true;
    uv_timer_start(&r->timer, on_timer, PERIOD_MS, 0);
    er_log(ER_LOG_INFO, COMPONENT, "trimming%s%s%s%s every %d ms",
           conf->max_events ? " past max_events (count)" : "",
           conf->max_bytes ? " past max_bytes (the store's used bytes)" : "",
           conf->max_age_ms ? " by max_age" : "",
           conf->force ? ", forced past cursors and dead letters" : "", PERIOD_MS);
}

void er__retention_stop(er_retention_t *r)
{
    if (!r->running || r->stopping)
        return;
    r->stopping = true;
    uv_timer_stop(&r->timer);
    uv_close((uv_handle_t *)&r->timer, NULL);
}

json_t *er__retention_stats(const er_retention_t *r)
{
    json_t *j = json_pack("{s:b, s:I, s:I, s:s, s:I}", "active", r->running, "trimmed",
                          (json_int_t)r->stats.trimmed, "passes", (json_int_t)r->stats.passes,
                          "held_by", r->held_by, "step", (json_int_t)r->step);
    uint64_t used;

    /* max_bytes against the store's figure now (null: it cannot tell). */
    if (j != NULL && r->conf != NULL && r->conf->max_bytes != 0) {
        json_object_set_new(j, "max_bytes", json_integer((json_int_t)r->conf->max_bytes));
        json_object_set_new(j, "used_bytes",
                            er__store_used_bytes(r->store, &used) == 0
                                ? json_integer((json_int_t)used)
                                : json_null());
    }
    return j;
}
