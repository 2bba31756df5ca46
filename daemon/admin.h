/*
 * Admin commands (DESIGN §4, eventctl(1)): what the admin socket's ADMIN
 * op runs. One table entry per command; each builds a JSON reply from the
 * daemon's state. Commands that mutate arrive with their features
 * (reload, dlq retry/drop, cursors); this release answers stats, health,
 * routes, route (a dry run), handlers, config and dlq.list (which reads
 * the store, so its answer comes later). Loop thread.
 */
#ifndef ER_ADMIN_H
#define ER_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"

struct er_server_s;
struct er_dispatch_s;
struct er_store_s;
struct er_reload_s;
struct er_replays_s;

typedef struct er_admin_env_s {
    const er_config_t *cfg;
    struct er_server_s *server;
    struct er_dispatch_s *dispatch;
    struct er_store_s *store;
    struct er_reload_s *reload;
    struct er_retention_s *retention;
    struct er_replays_s *replays;
    int64_t started_us; /* when the daemon started (µs since the epoch) */
} er_admin_env_t;

/* The answer of a command that needs the store: done(arg, NULL, reply,
 * NULL) with reply a new reference (taken), or done(arg, code, NULL, msg)
 * for a refusal. Called once, on the loop, never from inside er__admin_run. */
typedef void (*er_admin_done_cb)(void *arg, const char *code, json_t *reply, const char *msg);

/* What er__admin_run returns when the answer will come through done. */
extern const char ER_ADMIN_ASYNC[];

/*
 * Run command cmd (cmdlen bytes, borrowed until return) with args (a JSON
 * object, borrowed until return). On success returns NULL and *reply is a
 * new reference; for a command that reads the store returns ER_ADMIN_ASYNC
 * and calls done(done_arg, ...) later. On refusal returns the NACK code
 * ("invalid" for bad args, "unsupported" for an unknown command) with the
 * reason in msg; done is then never called.
 */
const char *er__admin_run(er_admin_env_t *env, const char *cmd, size_t cmdlen, json_t *args,
                          json_t **reply, char *msg, size_t cap, er_admin_done_cb done,
                          void *done_arg);

#endif
