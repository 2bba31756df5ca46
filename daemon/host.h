/*
 * The host side of the plugin ABI: the constant er_host_t table every
 * plugin instance receives, the per-instance context (er_plugin_ctx_t) it
 * identifies itself with, and tokens (er_token_t) through which plugins
 * complete deliveries. Loop thread, except the members the ABI allows off
 * the loop (log, allocation, event ref/unref/get, publish).
 *
 * Plugins' publish: the table's member checks the call on the calling
 * thread (any thread) and hands each event it accepts to the loop thread
 * through a mailbox (lib/mailbox.h), always, so nothing of the pipeline
 * runs inside publish(); there the publisher (the server: store admission,
 * de-duplication, sequence, append, dispatch) takes it over.
 */
#ifndef ER_HOST_H
#define ER_HOST_H

#include <stdbool.h>

#include <uv.h>

#include "eventrouter/plugin.h"
#include "log.h"
#include "mailbox.h"
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

/* ------------------------------------------------------ plugins' publish */

/*
 * One event a plugin published, on its way to the store. host.c makes it
 * on the plugin's thread; the publisher gets it on the loop thread and
 * owns it until er__publish_req_end().
 */
typedef struct er_publish_req_s er_publish_req_t;
struct er_publish_req_s {
    er_mail_t mail;         /* host.c's: the way to the loop */
    er_publish_req_t *next; /* the publisher's (its queue) */
    er_ev_t *ev;            /* the plugin's event, as it gave it (one reference) */
    er_token_t *token;      /* the plugin's (token_new), or NULL: nothing to complete */
    uint32_t hops;          /* the hops the published event gets */
    char component[96];     /* "handler:NAME", for log lines */
    char name[];            /* the instance's name: via.plugin */
};

typedef void (*er_publish_cb)(void *arg, er_publish_req_t *req);

/*
 * Start taking plugins' events: from now on publish() accepts events of at
 * most max_event_size encoded bytes and run(arg, req) gets each on loop's
 * thread, in the order the publish() calls were made, on a later loop turn
 * (never inside publish()). Before this, and after
 * er__host_publish_close(), publish() returns -EAGAIN. Returns 0, or a
 * negative errno (-EBUSY: already open, or the last close has not finished
 * yet). Loop thread.
 */
int er__host_publish_open(uv_loop_t *loop, size_t max_event_size, er_publish_cb run, void *arg);

/* A new limits.max_event_size for the events publish() accepts (a
 * reload). Any thread; a no-op when not open. */
void er__host_publish_limits(size_t max_event_size);

/*
 * Stop taking plugins' events: publish() returns -EAGAIN from now on, on
 * every thread; the requests already accepted are run now, before this
 * returns; the mailbox's handle is closed on a later loop turn. Loop
 * thread; a no-op when not open.
 */
void er__host_publish_close(void);

/*
 * Finish a request (taken): complete its token, if any — with status, or,
 * when err is a negative errno, as complete_errno(token, err, message)
 * does — then release the event and free req. Loop thread, never from
 * inside the plugin's publish() (the mailbox sees to that).
 */
void er__publish_req_end(er_publish_req_t *req, er_status_t status, int err, const char *message);

/*
 * The event ctx's plugin is being handed on this thread right now (ev
 * borrowed until the matching call with NULL): call it around handle(),
 * er__host_handling(ctx, ev) before and er__host_handling(ctx, NULL)
 * after. A publish() made meanwhile by the same instance on this thread
 * gets at least ev's hops + 1, so a plugin that builds a fresh event from
 * the one it handles still ends a loop at limits.max_hops. Any thread (the
 * loop for in-process handlers, a worker for blocking ones): the record is
 * per thread.
 */
void er__host_handling(er_plugin_ctx_t *ctx, const er_ev_t *ev);

/* Metrics of an instance, for the `stats` and `handlers` admin commands:
 * emit(arg, name, value) per metric. */
void er__plugin_ctx_metrics(const er_plugin_ctx_t *ctx,
                            void (*emit)(void *arg, const char *name, int64_t value), void *arg);

#endif
