/*
 * Reload (DESIGN §5; SIGHUP and the admin command `reload`): read and
 * check the whole file again, refuse a change to a key that needs a
 * restart (naming it), then hand the new configuration to the dispatcher
 * (er__dispatch_reload: destinations kept, re-created, added, removed;
 * the routing table swapped between two events) and to the server, store
 * and admin commands (limits, log level, shutdown_timeout...). A bad file
 * or a new plugin that fails to start leaves everything as it was, and the
 * reason is logged and answered.
 *
 * Configurations stay alive while a destination made from them runs (its
 * plugin keeps pointers into its options); the first one, whose store and
 * listeners run until exit, stays until er__reload_close. SIGHUPs coalesce:
 * any number of them before the reload runs make one. Loop thread.
 */
#ifndef ER_RELOAD_H
#define ER_RELOAD_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "admin.h"
#include "config.h"
#include "dispatch.h"
#include "server.h"
#include "store.h"

typedef struct er_reload_s {
    uv_loop_t *loop;
    const char *path;      /* the file, as given at start */
    er_config_t **current; /* the daemon's pointer to the configuration in force */
    er_config_t *first;    /* the store's and the listeners' */
    er_config_t **retired; /* replaced, still used by a destination */
    size_t nretired;
    er_dispatch_t *dispatch;
    er_server_t *server;
    er_store_t *store;
    er_admin_env_t *admin;
    uv_timer_t soon; /* a SIGHUP's reload, on a later turn */
    bool pending;
    uint64_t done, failed;
} er_reload_t;

void er__reload_init(er_reload_t *r, uv_loop_t *loop, const char *path, er_config_t **current);

/* SIGHUP: reload on a later loop turn (coalesced). */
void er__reload_request(er_reload_t *r);

/* Reload now. Returns 0 with *summary {kept, changed, added, removed,
 * routes} (a new reference), or a negative errno with err saying why
 * (every error of a bad file, each as FILE:LINE:COLUMN: message, one per
 * line). */
int er__reload_now(er_reload_t *r, json_t **summary, char *err, size_t cap);

/* Shutting down: no more reloads (closes the timer). */
void er__reload_stop(er_reload_t *r);

/* After the loop has ended: free every configuration but *current, which
 * the caller frees. */
void er__reload_close(er_reload_t *r);

#endif
