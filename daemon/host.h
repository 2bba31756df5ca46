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
#include "plugin.h"

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
    struct er_host_metric_s *metrics; /* registered metrics (list) */
    void *owner;           /* the host object using this instance (a destination) */
};

/*
 * A pending completion. The host object that hands a token to a plugin
 * sets on_complete; complete()/complete_batch() call it exactly once on
 * the loop thread (a second completion is logged as a plugin bug and
 * ignored). `in_call` is set while the submitting call runs: a completion
 * from inside it is deferred until the call returns, as the ABI requires.
 */
struct er_token_s {
    void (*on_complete)(er_token_t *t, er_status_t status, size_t n,
                        const er_status_t *statuses);
    void *owner;
    bool completed;
    bool in_call;
    bool deferred;            /* completed during the call: apply on return */
    er_status_t deferred_status;
};

/* The table (constant, for the daemon's lifetime). */
const er_host_t *er__host(void);

/* Set the loop the host's timers and watches run on (once, at start). */
void er__host_init(uv_loop_t *loop);

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

/* Call a token-taking plugin function the ABI way: mark the token in
 * call, and after it returns apply a completion made from inside it. */
void er__token_begin(er_token_t *t);
void er__token_end(er_token_t *t);

/* Metrics of an instance, for the `stats` and `handlers` admin commands:
 * emit(arg, name, value) per metric. */
void er__plugin_ctx_metrics(const er_plugin_ctx_t *ctx,
                            void (*emit)(void *arg, const char *name, int64_t value), void *arg);

#endif
