/*
 * The daemon's configuration (DESIGN §5, eventrouter.yaml(5)): one call
 * loads a file with the YAML loader (lib/conftree.h), types and checks it
 * with the daemon's schema tables (lib/schema.h), runs the checks that span
 * several keys, and returns a plain struct. Sections of DESIGN §5 that this
 * version does not implement are known keys refused with "not supported in
 * this version"; any other key is unknown.
 *
 * Loading does no I/O besides reading the file and `*_file` secrets, so
 * `eventrouterd --check-config` and a reload can run it freely.
 */
#ifndef ER_CONFIG_H
#define ER_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "conftree.h"
#include "schema.h"

/* Where the daemon looks without -c and $EVENTROUTER_CONFIG. */
#define ER_CONFIG_DEFAULT_PATH "/etc/eventrouter/eventrouter.yaml"

typedef struct er_config_s {
    char *path; /* the file it was loaded from */
    struct {
        char *socket;       /* publish socket path */
        unsigned mode;      /* its permission bits */
        char *group;        /* its group, NULL: the daemon's */
        char *admin_socket; /* admin socket path */
        unsigned admin_mode;
        char *admin_group; /* NULL: the daemon's */
    } listen;
    struct {
        uint64_t max_frame;                   /* bytes */
        uint64_t max_event_size;              /* bytes, + ER_FRAME_OVERHEAD <= max_frame */
        uint64_t max_batch;                   /* events */
        uint64_t max_connections;             /* clients, both sockets */
        uint64_t max_inflight_per_connection; /* unanswered requests */
        uint64_t max_connection_memory;       /* bytes buffered per connection */
        uint64_t frame_timeout_ms;            /* a partial frame's deadline */
        uint64_t idle_timeout_ms;             /* 0 = off */
        uint64_t fresh_cache;                 /* bytes */
        uint64_t max_hops;
        uint64_t dedupe_window_ms; /* 0 = off */
        uint64_t dedupe_max;       /* ids remembered */
    } limits;
    struct {
        int level;  /* enum er_log_level (daemon/log.h) */
        int format; /* enum er_log_format */
    } log;
    uint64_t shutdown_timeout_ms;
} er_config_t;

/*
 * Load and check the file at path (borrowed until return). On success
 * returns 0 and *out is a new config (free with er__config_free). On
 * failure *out is NULL and the result is -EINVAL (errors in the file),
 * another negative errno (the file could not be opened or read: -ENOENT,
 * -EACCES, -EISDIR, -EFBIG, ...) with diag holding every error, sorted by
 * position, or -ENOMEM. Print them with er__diag_print(diag, stderr).
 */
int er__config_load(const char *path, er_config_t **out, er_diag_t *diag);

/* Free cfg and everything it owns. NULL is a no-op. */
void er__config_free(er_config_t *cfg);

/* The daemon's schema table, for help text and tests. */
const er_schema_t *er__config_schema(void);

/*
 * Write cfg as YAML (the effective configuration: every key with its value,
 * defaults included, secrets redacted) for the `config` admin command.
 * Returns 0 or -EIO.
 */
int er__config_dump(const er_config_t *cfg, FILE *f);

#endif
