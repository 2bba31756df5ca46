/*
 * The daemon's configuration (DESIGN §5, eventrouter.yaml(5)): one call
 * loads a file with the YAML loader (lib/conftree.h), types and checks it
 * with the daemon's schema tables (lib/schema.h), runs the checks that span
 * several keys, adds the drop-in handlers of handlers_dir (each with its
 * option file from handlers_conf_dir), and returns a plain struct. Sections
 * of DESIGN §5 that this version does not implement are known keys refused
 * with "not supported in this version"; any other key is unknown.
 *
 * Loading does no I/O besides reading the file, `*_file` secrets, the
 * drop-in directories and option files, and loading the store's and each
 * handler's plugin (dlopen, no plugin code runs: its options table is read
 * to check the block), so `eventrouterd --check-config` and a reload can
 * run it freely. Loop thread or before the loop starts.
 */
#ifndef ER_CONFIG_H
#define ER_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include <stdbool.h>

#include "conftree.h"
#include "options.h"
#include "schema.h"

/* Where the daemon looks without -c and $EVENTROUTER_CONFIG. */
#define ER_CONFIG_DEFAULT_PATH "/etc/eventrouter/eventrouter.yaml"

/* A retry policy (destination default, or a route's override). */
typedef struct er_retry_conf_s {
    bool set;              /* given in the file (for route overrides) */
    uint64_t max_attempts; /* deliveries before dead-lettering */
    uint64_t initial_ms;   /* first back-off */
    uint64_t max_ms;       /* back-off cap */
    double multiplier;     /* growth per attempt */
    double jitter;         /* 0..1: fraction of random spread */
} er_retry_conf_t;

enum er_start { ER_START_HEAD = 0, ER_START_EARLIEST = 1 };

/* A `handlers:` entry: the host keys typed here, the rest validated
 * against the plugin's own schema. */
typedef struct er_handler_conf_s {
    char *name;
    char *plugin;                /* as written: a shipped name or an absolute path */
    struct er_plugin_lib_s *lib; /* loaded to validate options (one reference) */
    er_options_t *options;       /* the plugin's validated options */
    uint64_t timeout_ms;         /* per delivery; 0 = none */
    uint64_t window;             /* deliveries in flight (default 256) */
    er_retry_conf_t retry;
    uint64_t concurrency;        /* worker threads of a blocking handler (1) */
    bool subscribe;              /* declared types act as an implicit route (true) */
    int start;                   /* enum er_start */
    uint64_t max_lag;            /* events; 0 = unlimited */
    er_conf_pos_t pos;           /* its name's position (file: the config's path); a
                                  * drop-in's: line 0 of its .so (file: `dropin`) */
    char *dropin;                /* a drop-in: its .so in handlers_dir (also `plugin`);
                                  * NULL for a `handlers:` entry */
    char *dropin_conf;           /* a drop-in's option file (handlers_conf_dir/NAME.yaml),
                                  * NULL when it has none (all defaults) */
    char *fingerprint;           /* canonical text of the block (typed values, the
                                  * plugin's file, every option; a drop-in's .so also
                                  * by dev, inode, mtime and size): equal = unchanged
                                  * on reload. Holds secrets: never print it. */
} er_handler_conf_t;

/* store.retention (DESIGN §6): 0 = no bound. */
typedef struct er_retention_conf_s {
    uint64_t max_age_ms; /* by `received` */
    uint64_t max_events;
    uint64_t max_bytes; /* the store's used_bytes (ABI 1.3) */
    bool force;         /* past cursors and dead letters too */
} er_retention_conf_t;

/* The `store:` block: `plugin` typed here, the rest validated against the
 * store plugin's own schema (an absent block is the lmdb store with its
 * defaults). */
typedef struct er_store_conf_s {
    char *plugin;                /* a shipped name (lmdb, memory) or an absolute path */
    struct er_plugin_lib_s *lib; /* loaded to validate options (one reference) */
    er_options_t *options;       /* the plugin's validated options */
    er_retention_conf_t retention;
    er_conf_pos_t pos;           /* the block's position (the file's start when absent) */
} er_store_conf_t;

/* One key of a route's match: a list of any-of values. */
typedef struct er_match_key_s {
    char *key;     /* "type", "topic", "priority", "source", "stream", "from", "meta.K" */
    char **values; /* NULL-terminated */
    size_t nvalues;
} er_match_key_t;

typedef struct er_route_conf_s {
    bool match_all;         /* match: "*" */
    er_match_key_t *keys;   /* all must hold */
    size_t nkeys;
    char **to;              /* destination names, NULL-terminated */
    size_t nto;
    bool cont;              /* continue: true */
    er_retry_conf_t retry;  /* override (retry.set): a whole policy, keys not
                             * given at their defaults */
    er_conf_pos_t pos;      /* the item's position (file: the config's path) */
} er_route_conf_t;

/* An acl rule (DESIGN §9): who it is for — a uid, or a gid (the peer's
 * primary group or any of its supplementary ones); names are resolved when
 * the configuration loads — and what it grants. The first rule that
 * matches a peer decides; no rule: nothing beyond the socket's mode. */
typedef struct er_acl_rule_s {
    er_conf_pos_t pos;
    bool by_gid;   /* false: by uid */
    uint32_t id;   /* the uid or gid */
    char *name;    /* user or group as written (NULL: given as a number) */
    bool read;     /* QUERY and TAIL on the publish socket */
} er_acl_rule_t;

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
        uint64_t tail_max_lag;
        uint64_t dedupe_window_ms; /* 0 = off */
        uint64_t dedupe_max;       /* ids remembered */
    } limits;
    struct {
        int level;  /* enum er_log_level (daemon/log.h) */
        int format; /* enum er_log_format */
    } log;
    uint64_t shutdown_timeout_ms;

    er_store_conf_t store;
    er_handler_conf_t *handlers; /* the file's in file order, then the drop-ins sorted
                                  * by name: destination index = position */
    size_t nhandlers;
    er_route_conf_t *routes;     /* in file order */
    size_t nroutes;
    char **plugin_path;          /* NULL-terminated, may be NULL */
    char *dead_letter_to;        /* dead_letter.forward_to: a handler's name (one of
                                  * handlers[]), or NULL: dead letters are only parked */
    char *handlers_dir;          /* drop-in handler .so files, or NULL: none */
    char *handlers_conf_dir;     /* the drop-ins' NAME.yaml option files, or NULL */
    er_acl_rule_t *acl;          /* in file order */
    size_t nacl;
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
