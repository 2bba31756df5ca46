/*
 * Dispatch: the destinations (handler instances) and the delivery of
 * stored events to them (DESIGN §6).
 *
 * Every sequenced event is routed once and kept in the fresh cache (in seq
 * order, within limits.fresh_cache bytes, while some destination still
 * needs it). Each destination walks the sequence in order: it examines the
 * next seq (from the cache, or — when it is behind the cache — from the
 * store, read in bounded batches on the store's reader thread), delivers
 * the events routed to it with at most `window` deliveries in flight, and
 * keeps a cursor: the low-water mark below which everything is done
 * (delivered, dead-lettered, or not routed to it). The cursor is written
 * to the store while it moves, one write in flight at a time (so it goes
 * with every group commit), never past the last seq handed to the store
 * (so never ahead of the log), and at shutdown; at
 * start a destination resumes after its cursor (or, new, per its `start`:
 * head or earliest). So delivery is at-least-once across restarts and
 * crashes: what a crash redelivers is what was delivered after the last
 * cursor write.
 *
 * A handler's statuses: OK is done; RETRY (a negative errno, a timeout's
 * CANCELLED) redelivers the same event after the back-off of its policy —
 * the first matching route's retry override, else the destination's — up
 * to retry.max_attempts, then dead-letters it (reason "retries_exhausted");
 * FAIL dead-letters it at once (reason "failed"): a record in the store.
 * An event in retry holds its window slot (head-of-line). A handler flagged
 * ER_PLUGIN_BLOCKING has handle() called on its own worker threads
 * (`concurrency` of them, workers.h), never on the loop or libuv's pool;
 * its answer comes back to the loop like any completion.
 *
 * Operators pause and resume a destination, move its cursor, and send dead
 * letters back to their destination or drop them; dead_letter.forward_to
 * also sends each parked event to one handler. Loop thread.
 */
#ifndef ER_DISPATCH_H
#define ER_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "config.h"
#include "eventrouter.h"
#include "eventrouter/plugin.h"
#include "router.h"

typedef struct er_dest_s er_dest_t;
typedef struct er_dispatch_s er_dispatch_t;
struct er_store_s;

typedef void (*er_dispatch_done_cb)(er_dispatch_t *d);
typedef void (*er_dispatch_ready_cb)(er_dispatch_t *d, int err, const char *message);

/* The fresh cache: the events of seqs base .. base + count - 1, each with
 * its route (NULL event: routed nowhere). */
typedef struct er_cache_s {
    struct er_centry_s *e;
    uint64_t *bits; /* words per entry */
    size_t words;
    size_t head, count, cap;
    uint64_t base;
    uint64_t bytes;
} er_cache_t;

struct er_dispatch_s {
    uv_loop_t *loop;
    const er_config_t *cfg;
    er_router_t *router;
    er_dest_t **dests; /* one per cfg->handlers entry, same order */
    size_t ndest;
    er_dest_t *retiring; /* removed or replaced by a reload, finishing their deliveries */
    uint64_t *bits;      /* scratch bitset for router matches */
    struct er_store_s *store;
    er_dest_t *forward; /* dead_letter.forward_to's, or NULL */

    bool cautious; /* after an unclean stop: deliver only committed events */
    er_cache_t cache;
    uint64_t head; /* the last seq assigned (store's next_seq - 1 at start) */

    uint64_t routed;   /* events sent to at least one destination */
    uint64_t unrouted; /* events that matched no route */

    size_t reads;     /* store reads in flight */
    size_t writes;    /* cursor writes in flight */
    size_t store_ops; /* other store requests in flight (dead letter operations) */
    uv_timer_t tick;  /* housekeeping */

    er_dispatch_ready_cb ready;
    bool ready_called;
    bool stopping;
    const char *hurry; /* why the drain was cut short, or NULL */
    size_t stops_pending;
    er_dispatch_done_cb done;
    uv_timer_t drain_timer;
    uv_idle_t unload_idle; /* one loop turn between stop's done and dlclose */

    /* Where the outcome of each tagged side delivery goes (replays). */
    void (*side_cb)(void *arg, uint32_t tag, int outcome); /* enum er_side_outcome */
    void *side_arg;
};

/*
 * Create and start an instance per configured handler (cfg and store
 * borrowed for the dispatcher's lifetime; the store open), build the
 * routing table, then read the destinations' cursors from the store and
 * call ready(d, 0, NULL) — on a later loop turn — once every destination
 * knows where it resumes. On failure (then or later, ready(d, err, why))
 * stop the dispatcher with er__dispatch_stop. Returns 0, or a negative
 * errno with err saying which handler and why (ready not called).
 */
int er__dispatch_start(er_dispatch_t *d, uv_loop_t *loop, const er_config_t *cfg,
                       struct er_store_s *store, er_dispatch_ready_cb ready, char *err, size_t cap);

/* Route one sequenced event (borrowed until return: the cache takes its
 * own reference) and start its deliveries. Events arrive in seq order. */
void er__dispatch_event(er_dispatch_t *d, er_ev_t *ev);

/* The store completed an append: destinations waiting to read what it
 * committed go on. */
void er__dispatch_committed(void *d);

/*
 * Stop: wait for the deliveries in flight and the fresh events of the
 * destinations that are caught up (up to the config's shutdown_timeout),
 * then stop every instance, destroy it, write every cursor, and call done
 * one loop turn after the last instance's done (its plugin may then be
 * unloaded). Called again while waiting, it stops waiting.
 */
void er__dispatch_stop(er_dispatch_t *d, er_dispatch_done_cb done);

/*
 * Reload (DESIGN §5) with ncfg (borrowed while a destination uses it: see
 * er__dispatch_uses_config), already loaded and checked: a destination
 * whose block is unchanged (same fingerprint) keeps its instance, cursor
 * and deliveries in flight; a changed one is reloaded in place when its
 * plugin can (reload(), same file and threads), else re-created: the new
 * instance starts now and resumes after the old one's cursor once the old one has
 * finished what it has in flight (up to shutdown_timeout); a removed one
 * finishes, stops, and its cursor is deleted; a new one starts per its
 * `start`. The routing table is swapped between two events. If a new
 * instance fails to start, nothing changes: returns a negative errno with
 * err saying which and why. On success *summary is {kept, changed, added,
 * removed} (a new reference).
 */
int er__dispatch_reload(er_dispatch_t *d, const er_config_t *ncfg, json_t **summary, char *err,
                        size_t cap);

/*
 * Retention asks how far it may trim (DESIGN §6): the lowest seq a
 * destination still needs (its stored cursor + 1, or its in-memory one if
 * that is behind), UINT64_MAX when none, 0 while they are still starting.
 * A destination that needs less than `want` and is more than its max_lag
 * behind is skipped to want - 1 first (counted in `skipped`, logged).
 * holder names what holds the floor ("the cursor of X").
 */
uint64_t er__dispatch_retention_floor(er_dispatch_t *d, uint64_t want, char *holder, size_t cap);

/* Does any destination (running or finishing) still use cfg's blocks? */
bool er__dispatch_uses_config(const er_dispatch_t *d, const er_config_t *cfg);

/* SIGUSR1: ask every instance to reopen its files. */
void er__dispatch_reopen(er_dispatch_t *d);

/* For the admin commands: the destinations with state, counters, health
 * and plugin metrics (an array), and the dispatcher's counters (an
 * object). New references. */
json_t *er__dispatch_handlers(const er_dispatch_t *d);
json_t *er__dispatch_destinations(const er_dispatch_t *d);
json_t *er__dispatch_stats(const er_dispatch_t *d);
/* Overall health: the worst of the instances' (ER_HEALTH_*), and a reason. */
int er__dispatch_health(const er_dispatch_t *d, json_t **details);

/*
 * Operator commands. On refusal each returns the NACK code ("invalid",
 * "unavailable") with the reason in msg. pause returns NULL with *reply (a
 * new reference); the others return NULL when accepted and call done(arg,
 * NULL, reply, NULL) or done(arg, code, NULL, msg) once, later.
 */
typedef void (*er_dispatch_reply_cb)(void *arg, const char *code, json_t *reply, const char *msg);
const char *er__dispatch_pause(er_dispatch_t *d, const char *name, bool pause, json_t **reply,
                               char *msg, size_t cap);
/* Move name's cursor to seq (to_head: the last seq assigned); answered
 * once the new cursor is written. */
const char *er__dispatch_cursor_set(er_dispatch_t *d, const char *name, uint64_t seq, bool to_head,
                                    char *msg, size_t cap, er_dispatch_reply_cb done, void *arg);
/* Send dead letters back to their destination (drop: delete them): the
 * ids (n of them), or every one of destination when ids is NULL.
 * Answered {retried|dropped: N, missing: [ids]} once every record was
 * looked up (retried ones are delivered afterwards; each record is deleted
 * once its event is delivered, or replaced by a new one if it fails
 * again). */
const char *er__dispatch_dlq(er_dispatch_t *d, bool drop, const uint64_t *ids, size_t n,
                             const char *destination, char *msg, size_t cap,
                             er_dispatch_reply_cb done, void *arg);

/* The delay before retry number `attempts` (1 after the first failure)
 * under policy p: initial × multiplier^(attempts-1), at most max, spread
 * by ±jitter; at least 1 ms. */
uint64_t er__dispatch_backoff_ms(const er_retry_conf_t *p, uint32_t attempts);

/*
 * The side channel (replays, daemon/replay.c): deliver ev (borrowed; the
 * dispatcher takes its own reference) to destination `name` regardless of
 * routes and outside its cursor, with its handler's retry policy, before
 * the events its cursor has not reached. tag (non-zero) comes back with
 * the outcome through d->side_cb: delivered, dead-lettered (it failed like
 * any delivery and was parked), or dropped (the destination was removed,
 * or the daemon stopped first). Returns 0, -ENOENT (no such destination),
 * -EAGAIN (shutting down) or -ENOMEM.
 */
enum er_side_outcome { ER_SIDE_DELIVERED = 0, ER_SIDE_DEAD_LETTERED, ER_SIDE_DROPPED };
int er__dispatch_side(er_dispatch_t *d, const char *name, er_ev_t *ev, uint32_t tag);
bool er__dispatch_has_dest(er_dispatch_t *d, const char *name);

/* The name of destination i. */
const char *er__dispatch_dest_name(const er_dispatch_t *d, size_t i);

#endif
