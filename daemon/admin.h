/*
 * Admin commands (DESIGN §4, eventctl(1)): what the admin socket's ADMIN
 * op runs. One table entry per command; each builds a JSON reply from the
 * daemon's state. Commands that mutate arrive with their features
 * (reload, dlq, cursors); this release answers stats, health, routes,
 * route (a dry run), handlers and config. Loop thread.
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

typedef struct er_admin_env_s {
    const er_config_t *cfg;
    struct er_server_s *server;
    struct er_dispatch_s *dispatch;
    struct er_store_s *store;
    int64_t started_us; /* when the daemon started (µs since the epoch) */
} er_admin_env_t;

/*
 * Run command cmd (cmdlen bytes, borrowed until return) with args (a JSON
 * object, borrowed until return). On success returns NULL and *reply is a
 * new reference. On refusal returns the NACK code ("invalid" for bad args,
 * "unsupported" for an unknown command) with the reason in msg.
 */
const char *er__admin_run(er_admin_env_t *env, const char *cmd, size_t cmdlen, json_t *args,
                          json_t **reply, char *msg, size_t cap);

#endif
