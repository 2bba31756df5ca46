/*
 * Dispatch: the destinations (handler instances) and the delivery of routed
 * events to them. Each destination has a window of deliveries in flight
 * (`window`); events beyond it wait in the destination's queue, in order.
 * A handler's statuses: OK is done; RETRY (a negative errno, a timeout's
 * CANCELLED) redelivers the same event after the back-off of its policy —
 * the first matching route's retry override, else the destination's — up
 * to retry.max_attempts, then dead-letters it (reason "retries_exhausted");
 * FAIL dead-letters it at once (reason "failed"): a record in the store,
 * logged and counted. A delivery past the handler's `timeout` is cancelled
 * through the plugin's cancel(). The queues are in memory: events are
 * stored, but a destination does not yet catch up from the store, so what
 * was queued at a restart is not delivered (counted and logged at
 * shutdown). Loop thread.
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

typedef void (*er_dispatch_done_cb)(er_dispatch_t *d);

struct er_dispatch_s {
    uv_loop_t *loop;
    const er_config_t *cfg;
    er_router_t *router;
    er_dest_t *dests; /* one per cfg->handlers entry, same order */
    size_t ndest;
    uint64_t *bits;           /* scratch bitset for router matches */
    struct er_store_s *store; /* dead letters go there (set after start; may be NULL) */

    uint64_t routed;   /* events sent to at least one destination */
    uint64_t unrouted; /* events that matched no route */
    uint64_t queued;   /* events waiting in all queues */

    bool stopping;
    size_t stops_pending;
    er_dispatch_done_cb done;
    uv_timer_t drain_timer;
    uv_idle_t unload_idle; /* one loop turn between stop's done and dlclose */
};

/*
 * Create and start an instance per configured handler (cfg borrowed for
 * the dispatcher's lifetime) and build the routing table from their
 * declared types. On failure nothing is left running, err says which
 * handler and why, and a negative errno is returned.
 */
int er__dispatch_start(er_dispatch_t *d, uv_loop_t *loop, const er_config_t *cfg, char *err,
                       size_t cap);

/* Route one sequenced event (borrowed until return: each destination
 * takes its own reference) and start its deliveries. */
void er__dispatch_event(er_dispatch_t *d, er_ev_t *ev);

/*
 * Stop: wait for the deliveries in flight and queued (up to the config's
 * shutdown_timeout), then stop every instance, destroy it, and call done
 * one loop turn after the last instance's done (its plugin may then be
 * unloaded). Events not delivered are counted in the log. Called again
 * while waiting, it stops waiting.
 */
void er__dispatch_stop(er_dispatch_t *d, er_dispatch_done_cb done);

/* SIGUSR1: ask every instance to reopen its files. */
void er__dispatch_reopen(er_dispatch_t *d);

/* For the admin commands: the destinations with state, counters, health
 * and plugin metrics (an array), and the dispatcher's counters (an
 * object). New references. */
json_t *er__dispatch_handlers(const er_dispatch_t *d);
json_t *er__dispatch_stats(const er_dispatch_t *d);
/* Overall health: the worst of the instances' (ER_HEALTH_*), and a reason. */
int er__dispatch_health(const er_dispatch_t *d, json_t **details);

/* The delay before retry number `attempts` (1 after the first failure)
 * under policy p: initial × multiplier^(attempts-1), at most max, spread
 * by ±jitter; at least 1 ms. */
uint64_t er__dispatch_backoff_ms(const er_retry_conf_t *p, uint32_t attempts);

/* The name of destination i. */
const char *er__dispatch_dest_name(const er_dispatch_t *d, size_t i);

#endif
