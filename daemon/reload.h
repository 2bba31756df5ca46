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
 * The file is read and checked on a thread of its own (YAML, the schema,
 * plugins' options, acl user and group names, which may ask a directory
 * service): the loop never waits for it; what follows runs on the loop.
 * Configurations stay alive while a destination made from them runs (its
 * plugin keeps pointers into its options); the first one, whose store and
 * listeners run until exit, stays until er__reload_close. Requests
 * coalesce: those that come while a file is being read make one more
 * reload after it, which they all wait for. Loop thread.
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

/* The outcome of a reload: rc 0 with summary {kept, changed, added,
 * removed, routes} (borrowed for the call), or a negative errno with err
 * saying why (every error of a bad file, each as FILE:LINE:COLUMN:
 * message, one per line). */
typedef void (*er_reload_done_cb)(void *arg, int rc, json_t *summary, const char *err);

typedef struct er_reload_waiter_s {
    er_reload_done_cb cb;
    void *arg;
    struct er_reload_waiter_s *next;
} er_reload_waiter_t;

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

    /* The file being read on its thread, and who waits for the result. */
    bool loading, again, stopping;
    uv_thread_t thread;
    uv_async_t loaded;
    er_config_t *ncfg;
    int load_rc;
    char load_err[1024];
    er_reload_waiter_t *waiters, *next_waiters;
} er_reload_t;

void er__reload_init(er_reload_t *r, uv_loop_t *loop, const char *path, er_config_t **current);

/* SIGHUP: reload on a later loop turn (coalesced). */
void er__reload_request(er_reload_t *r);

/* Reload: done(arg, ...) once, later (cb NULL: nobody waits). Returns 0,
 * or -EAGAIN when shutting down, -ENOMEM. */
int er__reload_start(er_reload_t *r, er_reload_done_cb cb, void *arg);

/* Shutting down: no more reloads (closes the handles; waits for a file
 * being read; its waiters are answered -EAGAIN). */
void er__reload_stop(er_reload_t *r);

/* After the loop has ended: free every configuration but *current, which
 * the caller frees. */
void er__reload_close(er_reload_t *r);

#endif
