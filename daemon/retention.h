/*
 * Retention (DESIGN §6, store.retention): a timer trims the oldest events
 * in bounded chunks — past max_events, while the store uses more than
 * max_bytes, and those received more than max_age ago — but never what a
 * destination's cursor or a dead letter still needs (unless `force`); a
 * destination more than its max_lag behind is skipped instead
 * (dispatch.h). Loop thread.
 */
#ifndef ER_RETENTION_H
#define ER_RETENTION_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "config.h"
#include "dispatch.h"
#include "store.h"

typedef struct er_retention_s {
    uv_loop_t *loop;
    er_store_t *store;
    er_dispatch_t *dispatch;
    const er_retention_conf_t *conf;
    uv_timer_t timer;
    bool running, stopping, in_pass;
    /* One pass: the lowest seq a dead letter references, then the trims. */
    uint64_t dlq_min;
    uint64_t age_before; /* max_age: trim below this */
    uint64_t trimmed_now;
    char held_by[128];
    bool over_bytes; /* the store used more than max_bytes at the last pass */
    uint64_t step;   /* events per trim now (adapted to what a step costs) */
    struct {
        uint64_t passes, trimmed;
    } stats;
} er_retention_t;

/* Start the timer when conf bounds anything (else nothing runs). */
void er__retention_start(er_retention_t *r, uv_loop_t *loop, er_store_t *store,
                         er_dispatch_t *dispatch, const er_retention_conf_t *conf);
/* Stop: no new pass; what is in flight completes (the store stops later). */
void er__retention_stop(er_retention_t *r);
/* For `stats`: {active, trimmed, passes, held_by, step (events per trim
 * now), and with max_bytes: max_bytes, used_bytes} (a new reference). */
json_t *er__retention_stats(const er_retention_t *r);

#endif
