/*
 * The daemon's side of the event store (DESIGN §6): it opens the configured
 * store plugin, owns the sequence (seqs assigned on the loop within a
 * reservation the store has committed ahead of use), the de-duplication set
 * (rebuilt from the store's tail at start), and the group commit from the
 * loop's side: events accepted during one loop iteration go to the plugin
 * as one append, and requests waiting for them (durable acks) are answered
 * when it completes.
 *
 * Admission: before a publish request is sequenced the server asks
 * er__store_admit(); the store says go, wait (the reservation is not yet
 * committed, or too many events are waiting for the store: the server stops
 * reading publishers and is called back) or refuse (the store failed
 * recently: NACK with the code and message it gives).
 *
 * Loop thread only.
 */
#ifndef ER_STORE_H
#define ER_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "config.h"
#include "dedupe.h"
#include "eventrouter/plugin.h"
#include "host.h"

typedef struct er_store_s er_store_t;
typedef struct er_store_batch_s er_store_batch_t;

/* A request waiting until everything accepted before it is stored: cb
 * runs once, with err 0, or a negative errno and a message when the append
 * holding its events failed (-ENOSPC: the store is full). */
typedef struct er_store_waiter_s er_store_waiter_t;
struct er_store_waiter_s {
    er_store_waiter_t *next;
    void (*cb)(er_store_waiter_t *w, int err, const char *message);
};

typedef void (*er_store_cb)(er_store_t *st, int err, const char *message);

enum er_admit { ER_ADMIT_OK = 0, ER_ADMIT_WAIT = 1, ER_ADMIT_REFUSE = 2 };

struct er_store_s {
    uv_loop_t *loop;
    const er_config_t *cfg;
    er_plugin_ctx_t *ctx;
    const er_store_ops_t *ops;
    void *inst;
    er_durability_t durability;
    er_store_head_t head; /* as open() found it */
    bool opened, stopping;

    /* Sequence: the next seq, the committed reservation mark, and the one
     * being committed (reserving != 0). */
    uint64_t next_seq;
    /* The last seq handed to the plugin in an append, and the last whose
     * append has completed (every seq up to it is stored, or failed and
     * will never exist): reads see everything up to committed. */
    uint64_t submitted, committed;
    uint64_t reserved;
    uint64_t reserving;
    er_token_t reserve_token;

    /* This iteration's append (flushed by `check`) and its waiters. */
    er_ev_t **evs;
    size_t n, cap;
    er_store_waiter_t *w_head, *w_tail;
    uv_check_t check;
    /* Appends submitted, oldest first. */
    er_store_batch_t *b_head, *b_tail;
    uint64_t pending;     /* events accepted, not yet completed */
    uint64_t pending_max; /* above it, admission waits */

    /* Called when admission would say go again after a wait, and when
     * every accepted event is stored (drained: nothing pending). Both get
     * ready_arg. */
    void (*ready_cb)(void *arg);
    void (*drained_cb)(void *arg);
    void *ready_arg;
    /* Called after each append completes (committed moved). */
    void (*committed_cb)(void *arg);
    void *committed_arg;
    /* Called with the events of each append the store took (consecutive
     * seqs, borrowed for the call), before committed_cb: live readers. */
    void (*stored_cb)(void *arg, er_ev_t *const *evs, size_t n);
    void *stored_arg;
    bool blocked;

    /* The last failure: requests are refused with it until error_until. */
    int error;
    char error_msg[256];
    uint64_t error_until_ms;
    uv_timer_t retry_timer; /* retries a failed reservation */

    er_dedupe_t dedupe;

    /* Start and stop. */
    er_store_cb start_cb, stop_cb;
    er_token_t open_token, rebuild_token;
    uint64_t rebuilt;
    int handles; /* loop handles not yet closed */

    struct {
        uint64_t appended;   /* events stored */
        uint64_t appends;    /* append calls completed */
        uint64_t failed;     /* events whose append failed */
        uint64_t duplicates; /* events answered as duplicates */
        uint64_t plugin_published; /* events taken that plugins published (server.c) */
        uint64_t hops_exceeded;    /* of them: over limits.max_hops, stored, not routed */
        uint64_t reservations;
        uint64_t waits; /* times admission said wait */
    } stats;
};

/*
 * Load, create and open the store cfg->store names (cfg borrowed for the
 * store's lifetime), rebuild the de-duplication set from its tail and
 * commit the first reservation; then done(st, 0, NULL) — or done(st, err,
 * message) when any step failed (the store is then closed: call
 * er__store_close). Returns 0, or a negative errno with done not called.
 */
int er__store_start(er_store_t *st, uv_loop_t *loop, const er_config_t *cfg, er_store_cb done);

/* May a request of n events be sequenced now? On ER_ADMIT_REFUSE *code
 * and msg say why (a NACK code: store_full, unavailable, shutting_down)
 * and *retry_ms when to come back. On ER_ADMIT_WAIT the store calls
 * ready_cb once admission would say go. */
int er__store_admit(er_store_t *st, uint32_t n, const char **code, char *msg, size_t cap,
                    int64_t *retry_ms);

/* Assign n consecutive seqs (after an ER_ADMIT_OK for at least n);
 * returns the first. */
uint64_t er__store_sequence(er_store_t *st, uint32_t n);

/* Queue ev (reference taken) for this iteration's append. Returns 0 or
 * -ENOMEM (the reference is then released). */
int er__store_append(er_store_t *st, er_ev_t *ev);

/* Call w->cb once every event queued so far is stored. Returns 0, or 1
 * when nothing is pending (w is not kept: the caller goes on at once). */
int er__store_wait(er_store_t *st, er_store_waiter_t *w);

/* Park a delivery that failed for good in the store's dead-letter table
 * (dl borrowed until return; copied): fire and forget, the result is
 * logged (debug when stored, error when not). Returns 0, or a negative
 * errno when it could not even be submitted (also logged). */
int er__store_dead_letter(er_store_t *st, const er_dead_letter_t *dl);

/* How a request ended: err 0, or a negative errno and the store's
 * message. */
typedef void (*er_store_done_cb)(void *arg, int err, const char *message);

/*
 * Requests on the open store. Each returns 0 and calls done(arg, …) once,
 * later, on the loop (done may be NULL), or returns a negative errno
 * (-EAGAIN: the store is not open or is closing) and never calls it.
 * Result callbacks run on the loop before done, with the plugin ABI's
 * borrowing rules (plugin.h).
 */
/* The dead letters of destination (every one when NULL) after dlq id
 * `after`, at most max (0: no limit), in dlq id order. */
int er__store_dlq_each(er_store_t *st, const char *destination, uint64_t after, uint64_t max,
                       er_store_dlq_cb each, void *each_arg, er_store_done_cb done, void *arg);
/* Delete one dead letter (-ENOENT in done when there is none). */
int er__store_dlq_delete(er_store_t *st, uint64_t dlq_id, er_store_done_cb done, void *arg);
/* The destinations' cursors. */
int er__store_cursor_list(er_store_t *st, er_store_cursor_cb each, void *each_arg,
                          er_store_done_cb done, void *arg);
int er__store_cursor_set(er_store_t *st, const char *name, uint64_t seq, er_store_done_cb done,
                         void *arg);
int er__store_cursor_delete(er_store_t *st, const char *name, er_store_done_cb done, void *arg);
/* Delete the oldest events below before_seq, at most max (and their index
 * entries); *trimmed (written before done) says how many. */
int er__store_trim(er_store_t *st, uint64_t before_seq, uint64_t max, uint64_t *trimmed,
                   er_store_done_cb done, void *arg);
/* Delete at most max events of one stream; *deleted (written before done)
 * says how many. */
int er__store_delete_stream(er_store_t *st, const char *stream, uint64_t max, uint64_t *deleted,
                            er_store_done_cb done, void *arg);
/* Stored events matching filter (borrowed until return), in seq order. */
int er__store_query(er_store_t *st, const er_store_filter_t *filter, er_store_row_cb row,
                    void *row_arg, er_store_done_cb done, void *arg);

/* A dead letter as JSON {id, seq, destination, reason, attempts,
 * first_failure, last_failure} (µs). New reference. */
json_t *er__store_dlq_json(const er_dead_letter_t *dl);

/* The host's state_get/state_set for plugin instances (plugin.h): the
 * instance's state lives under `scope` (its component, "handler:NAME").
 * token is the plugin's (token_new). Returns 0 (the token completes
 * later) or a negative errno (it never completes; -EAGAIN while the store
 * is not open). */
int er__store_state_get(er_store_t *st, const char *scope, const char *key, const void **value,
                        size_t *len, er_token_t *token);
int er__store_state_set(er_store_t *st, const char *scope, const char *key, const void *value,
                        size_t len, er_token_t *token);

/*
 * Maintenance (plugin.h, ABI 1.2): -ENOTSUP when the store does not
 * implement the operation (older or simpler plugins), -EBUSY when it runs
 * one already; otherwise as the requests above. check and compact hand
 * their reports to report(report_arg, ...) before done. backup writes into
 * dir (an absolute path, borrowed until return) and *bytes (valid until
 * done) the copy's size.
 */
int er__store_check(er_store_t *st, er_store_report_cb report, void *report_arg,
                    er_store_done_cb done, void *arg);
int er__store_backup(er_store_t *st, const char *dir, uint64_t *bytes, er_store_done_cb done,
                     void *arg);
int er__store_compact(er_store_t *st, er_store_report_cb report, void *report_arg,
                      er_store_done_cb done, void *arg);

/*
 * Stop: flush what is queued, wait for every append, record the
 * reservation as the last seq assigned (so a clean restart leaves no gap),
 * stop and destroy the plugin, close the handles, then done(st, 0, NULL)
 * on a later loop turn.
 */
void er__store_stop(er_store_t *st, er_store_cb done);

/* For `stats` and `health`: the store's figures (a new reference). */
json_t *er__store_stats(const er_store_t *st);

/* The bytes the store uses now (plugin.h, ABI 1.3 used_bytes: what
 * store.retention.max_bytes bounds) in *bytes: 0, -ENOTSUP when the store
 * cannot tell, -EAGAIN while it is not open, or the plugin's error.
 * Synchronous. */
int er__store_used_bytes(const er_store_t *st, uint64_t *bytes);

#endif
