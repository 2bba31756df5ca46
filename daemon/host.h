/*
 * The host side of the plugin ABI: the constant er_host_t table every
 * plugin instance receives, the per-instance context (er_plugin_ctx_t) it
 * identifies itself with, and tokens (er_token_t) through which plugins
 * complete deliveries. Loop thread, except the members the ABI allows off
 * the loop (log, allocation, event ref/unref/get, publish).
 */
#ifndef ER_HOST_H
#define ER_HOST_H

#include <stdbool.h>

#include <uv.h>

#include "eventrouter/plugin.h"
#include "log.h"
#include "plugin.h"

/* Per-instance log rate limiting, one slot per call site (a plugin's
 * format string stands for its call site). */
#define ER_HOST_LOG_SLOTS 16
typedef struct er_host_log_slot_s {
    const char *fmt;
    er_log_rate_t rate;
} er_host_log_slot_t;

/* One plugin instance as the host sees it. */
struct er_plugin_ctx_s {
    char *name;            /* instance name from the config ("audit-log") */
    char component[96];    /* log prefix: "handler:audit-log" */
    er_plugin_lib_t *lib;  /* the loaded .so (one reference) */
    const er_options_t *opts; /* borrowed from the config */
    void *instance;        /* what create() returned */
    uv_loop_t *loop;
    er_health_t health;
    char health_reason[128];
    struct er_metric_s *metrics; /* registered metrics (list, newest first) */
    struct er_host_handle_s *handles; /* live timers and watches (list) */
    er_host_log_slot_t log_slots[ER_HOST_LOG_SLOTS]; /* guarded by host.c's lock */
    void *owner;           /* the host object using this instance (a destination) */
};

/*
 * A pending completion. The host object that hands a token to a plugin
 * sets it up with er__token_init; complete()/complete_batch() call
 * on_complete exactly once on the loop thread (a second completion is
 * logged as a plugin bug and ignored — detectable while the owner keeps
 * the token's memory, so owners recycle a token only once its delivery is
 * over). `in_call` is set while the submitting call runs: a completion
 * from inside it is deferred until the call returns, as the ABI requires.
 *
 * on_complete gets the status (for complete_batch: ER_OK when every
 * status is ER_OK, else the first that is not) and, for complete_batch,
 * the n per-event statuses (borrowed until it returns; NULL and 0 for
 * complete()). It may free the token.
 */
struct er_token_s {
    void (*on_complete)(er_token_t *t, er_status_t status, size_t n,
                        const er_status_t *statuses);
    void *owner;
    er_plugin_ctx_t *ctx;     /* the instance it was given to, for messages (may be NULL) */
    bool completed;
    bool in_call;
    bool deferred;            /* completed during the call: apply on return */
    er_status_t deferred_status;
    er_status_t *deferred_statuses; /* a deferred complete_batch's copy (owned) */
    size_t deferred_n;
    char *reply;              /* admin_reply()'s JSON object (owned; the owner frees
                               * it with free() once the token is completed) */
    int err;                  /* complete_errno()'s negative errno, 0: none */
    char *errmsg;             /* and its message (owned, freed by er__token_clear) */
};

/* The table (constant, for the daemon's lifetime). */
const er_host_t *er__host(void);

/* Set the loop the host's timers and watches run on (once, at start). */
void er__host_init(uv_loop_t *loop);

/* The store plugins' state_get/state_set go to (NULL: -ENOSYS). */
struct er_store_s;
void er__host_set_store(struct er_store_s *st);

/*
 * Make a context for an instance named `name` of lib (one more reference
 * on lib) with opts (borrowed for its lifetime). create() is not called.
 * Returns NULL on ENOMEM.
 */
er_plugin_ctx_t *er__plugin_ctx_new(const char *name, er_plugin_lib_t *lib,
                                    const er_options_t *opts, void *owner);
/* Free the context (timers and watches must be stopped; metrics are
 * freed) and drop its reference on lib. */
void er__plugin_ctx_free(er_plugin_ctx_t *ctx);

/* Set up a token (memory owned by the caller) for one submission to ctx's
 * plugin. */
void er__token_init(er_token_t *t,
                    void (*on_complete)(er_token_t *t, er_status_t status, size_t n,
                                        const er_status_t *statuses),
                    void *owner, er_plugin_ctx_t *ctx);

/*
 * Call a token-taking plugin function the ABI way:
 *
 *     er__token_begin(t);
 *     rc = ops->handle(instance, ev, t);
 *     rc = er__token_returned(t, rc);
 *
 * er__token_returned applies the ABI's rules to the call's result: after
 * ER_PENDING a completion made from inside the call is applied now
 * (on_complete runs before it returns), otherwise it comes later. After a
 * final status (ER_OK, ER_RETRY, ER_FAIL) or a negative errno the token is
 * settled by the return value, which the caller acts on: a completion
 * made inside the call, or later, is logged as a plugin bug and ignored.
 * An ER_CANCELLED or unknown status returned is logged and becomes
 * ER_RETRY; a negative errno is returned as it is (the caller logs it with
 * its own context). Returns the (normalised) rc. Loop thread.
 *
 * er__token_end(t) is er__token_returned(t, ER_PENDING).
 */
void er__token_begin(er_token_t *t);
int er__token_returned(er_token_t *t, int rc);
void er__token_end(er_token_t *t);

/* Free a token's owned members (reply, deferred statuses); not the token. */
void er__token_clear(er_token_t *t);

/* Metrics of an instance, for the `stats` and `handlers` admin commands:
 * emit(arg, name, value) per metric. */
void er__plugin_ctx_metrics(const er_plugin_ctx_t *ctx,
                            void (*emit)(void *arg, const char *name, int64_t value), void *arg);

#endif
