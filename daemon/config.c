/*
 * The daemon's configuration: the schema tables of DESIGN §5 (the only list
 * of option names, defaults and bounds; eventrouter.yaml(5) documents the
 * same values) and the checks between keys that no single entry can make.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "log.h"
#include "proto.h"

/* The longest path a Unix socket can bind (libuv would cut it silently). */
#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

#define KiB  (1ull << 10)
#define MiB  (1ull << 20)
#define GiB  (1ull << 30)
#define TiB  (1ull << 40)
#define SEC  1000ull
#define MIN  (60 * SEC)
#define HOUR (60 * MIN)
#define DAY  (24 * HOUR)

/* Offsets inside the anonymous section structs of er_config_t. */
#define IN(section, field) (offsetof(er_config_t, section.field) - offsetof(er_config_t, section))

/* ------------------------------------------------------------------ listen */

static const er_schema_entry_t listen_entries[] = {
    {.key = "socket",
     .type = ER_SCHEMA_PATH,
     .def = ER_DEFAULT_SOCKET,
     .max = SOCKET_PATH_MAX,
     .offset = IN(listen, socket),
     .desc = "Unix socket publishers connect to"},
    {.key = "mode",
     .type = ER_SCHEMA_MODE,
     .def = "0660",
     .max = 0777,
     .offset = IN(listen, mode),
     .desc = "permission bits of the publish socket (octal)"},
    {.key = "group",
     .type = ER_SCHEMA_STRING,
     .max = 255,
     .offset = IN(listen, group),
     .desc = "group of the publish socket (default: the daemon's)"},
    {.key = "admin_socket",
     .type = ER_SCHEMA_PATH,
     .def = ER_DEFAULT_ADMIN_SOCKET,
     .max = SOCKET_PATH_MAX,
     .offset = IN(listen, admin_socket),
     .desc = "Unix socket of eventctl and the admin commands"},
    {.key = "admin_mode",
     .type = ER_SCHEMA_MODE,
     .def = "0660",
     .max = 0777,
     .offset = IN(listen, admin_mode),
     .desc = "permission bits of the admin socket (octal)"},
    {.key = "admin_group",
     .type = ER_SCHEMA_STRING,
     .max = 255,
     .offset = IN(listen, admin_group),
     .desc = "group of the admin socket, also admitted to admin commands"},
};

static const er_schema_t listen_schema = {listen_entries, ER_SCHEMA_COUNT(listen_entries)};

/* ------------------------------------------------------------------ limits */

static const er_schema_entry_t limits_entries[] = {
    {.key = "max_frame",
     .type = ER_SCHEMA_SIZE,
     .def = "1MiB",
     .min = 1 * KiB,
     .max = 64 * MiB,
     .offset = IN(limits, max_frame),
     .desc = "largest frame a client may send; at least max_event_size + 32"},
    {.key = "max_event_size",
     .type = ER_SCHEMA_SIZE,
     .def = "512KiB",
     .min = 256,
     .max = 64 * MiB,
     .offset = IN(limits, max_event_size),
     .desc = "largest encoded event"},
    {.key = "max_batch",
     .type = ER_SCHEMA_UINT,
     .def = "1024",
     .min = 1,
     .max = 65536,
     .offset = IN(limits, max_batch),
     .desc = "most events in one PUBLISH_BATCH"},
    {.key = "max_connections",
     .type = ER_SCHEMA_UINT,
     .def = "1024",
     .min = 1,
     .max = 1000000,
     .offset = IN(limits, max_connections),
     .desc = "most clients at once; more are answered busy and closed"},
    {.key = "max_inflight_per_connection",
     .type = ER_SCHEMA_UINT,
     .def = "4096",
     .min = 1,
     .max = 1000000,
     .offset = IN(limits, max_inflight_per_connection),
     .desc = "most unanswered requests per connection before reading pauses"},
    {.key = "max_connection_memory",
     .type = ER_SCHEMA_SIZE,
     .def = "4MiB",
     .min = 64 * KiB,
     .max = 1 * GiB,
     .offset = IN(limits, max_connection_memory),
     .desc = "most bytes buffered for one connection; at least max_frame"},
    {.key = "frame_timeout",
     .type = ER_SCHEMA_DURATION,
     .def = "10s",
     .min = 100,
     .max = 1 * HOUR,
     .offset = IN(limits, frame_timeout_ms),
     .desc = "time a started frame has to arrive completely"},
    {.key = "idle_timeout",
     .type = ER_SCHEMA_DURATION,
     .flags = ER_SCHEMA_OFF,
     .def = "off",
     .min = 1 * SEC,
     .max = 30 * DAY,
     .offset = IN(limits, idle_timeout_ms),
     .desc = "close connections silent this long"},
    {.key = "fresh_cache",
     .type = ER_SCHEMA_SIZE,
     .def = "64MiB",
     .min = 1 * MiB,
     .max = 1 * TiB,
     .offset = IN(limits, fresh_cache),
     .desc = "memory for recent events, so destinations rarely read the store"},
    {.key = "max_hops",
     .type = ER_SCHEMA_UINT,
     .def = "8",
     .min = 1,
     .max = 255,
     .offset = IN(limits, max_hops),
     .desc = "daemons an event may cross before it is dead-lettered"},
    {.key = "dedupe_window",
     .type = ER_SCHEMA_DURATION,
     .flags = ER_SCHEMA_OFF,
     .def = "10m",
     .min = 1 * SEC,
     .max = 30 * DAY,
     .offset = IN(limits, dedupe_window_ms),
     .desc = "how long a client-set id is remembered for de-duplication"},
    {.key = "dedupe_max",
     .type = ER_SCHEMA_UINT,
     .def = "1000000",
     .min = 1,
     .max = 100000000,
     .offset = IN(limits, dedupe_max),
     .desc = "most ids remembered for de-duplication (about 80 bytes each)"},
};

static const er_schema_t limits_schema = {limits_entries, ER_SCHEMA_COUNT(limits_entries)};

/* --------------------------------------------------------------------- log */

/* The words er__log_level_parse accepts, for messages and help. */
static const char *const log_levels[] = {"error", "warn", "notice", "info", "debug", NULL};
/* Indexed by enum er_log_format. */
static const char *const log_formats[] = {"text", "json", NULL};

static const er_schema_entry_t log_entries[] = {
    {.key = "level",
     .type = ER_SCHEMA_ENUM,
     .def = "info",
     .choices = log_levels,
     .enum_value = er__log_level_parse,
     .offset = IN(log, level),
     .desc = "least severe level written"},
    {.key = "format",
     .type = ER_SCHEMA_ENUM,
     .def = "text",
     .choices = log_formats,
     .offset = IN(log, format),
     .desc = "text lines, or one JSON object per line"},
};

static const er_schema_t log_schema = {log_entries, ER_SCHEMA_COUNT(log_entries)};

/* --------------------------------------------------------------- top level */

#define REFUSED(k, d)                                                                              \
    {                                                                                              \
        .key = (k), .type = ER_SCHEMA_REFUSED, .desc = (d)                                         \
    }

static const er_schema_entry_t top_entries[] = {
    {.key = "listen",
     .type = ER_SCHEMA_SECTION,
     .section = &listen_schema,
     .offset = offsetof(er_config_t, listen),
     .desc = "the publish and admin sockets"},
    {.key = "limits",
     .type = ER_SCHEMA_SECTION,
     .section = &limits_schema,
     .offset = offsetof(er_config_t, limits),
     .desc = "bounds on what clients may send and hold"},
    {.key = "log",
     .type = ER_SCHEMA_SECTION,
     .section = &log_schema,
     .offset = offsetof(er_config_t, log),
     .desc = "the daemon's own log on stderr"},
    {.key = "shutdown_timeout",
     .type = ER_SCHEMA_DURATION,
     .def = "10s",
     .max = 1 * HOUR,
     .offset = offsetof(er_config_t, shutdown_timeout_ms),
     .desc = "how long SIGTERM waits for deliveries to drain"},
    REFUSED("store", "the event store"),
    REFUSED("handlers", "handler destinations"),
    REFUSED("brokers", "broker destinations"),
    REFUSED("sources", "subscriptions to brokers"),
    REFUSED("routes", "the routing table"),
    REFUSED("dead_letter", "where parked events also go"),
    REFUSED("acl", "who may publish and read what"),
    REFUSED("metrics", "the Prometheus endpoint"),
    REFUSED("plugin_path", "where plugins are searched"),
    REFUSED("handlers_dir", "drop-in handler plugins"),
    REFUSED("handlers_conf_dir", "drop-in handlers' options"),
};

static const er_schema_t config_schema = {top_entries, ER_SCHEMA_COUNT(top_entries)};

const er_schema_t *er__config_schema(void)
{
    return &config_schema;
}

/* ------------------------------------------------------------ cross-checks */

/* The node of limits.KEY, if the file gave it. */
static const er_conf_node_t *limit_node(const er_conf_tree_t *tree, const char *key)
{
    return er__conf_map_get(er__conf_map_get(tree->root, "limits"), key);
}

/* Where to report a check on limits when neither key was given. */
static er_conf_pos_t limits_pos(const er_conf_tree_t *tree)
{
    const er_conf_pair_t *p = er__conf_map_find(tree->root, "limits");
    er_conf_pos_t whole = {tree->file, 0, 0};

    return p != NULL ? p->key->pos : whole;
}

/*
 * limits.LOW must be at least limits.HIGH + overhead. Reported at the key
 * the file gave (the one to change; LOW when both were given) with its text
 * as written.
 */
static void check_at_least(const er_conf_tree_t *tree, er_diag_t *diag, const char *low_key,
                           uint64_t low, const char *high_key, uint64_t high, unsigned overhead)
{
    const er_conf_node_t *ln = limit_node(tree, low_key);
    const er_conf_node_t *hn = limit_node(tree, high_key);
    char lt[32], ht[32], plus[48] = "", minus[48] = "";
    er_conf_pos_t pos;

    if (low >= high + overhead)
        return;
    er__format_size(low, lt, sizeof(lt));
    er__format_size(high, ht, sizeof(ht));
    if (overhead > 0) {
        snprintf(plus, sizeof(plus), " + %u bytes of framing", overhead);
        snprintf(minus, sizeof(minus), " - %u bytes of framing", overhead);
    }
    if (ln == NULL && hn != NULL) {
        er__diag_add(diag, &hn->pos, "limits.%s: must be at most %s (%s)%s, got %s", high_key,
                     low_key, lt, minus, hn->text);
        return;
    }
    pos = ln != NULL ? ln->pos : limits_pos(tree);
    er__diag_add(diag, &pos, "limits.%s: must be at least %s (%s)%s, got %s", low_key, high_key, ht,
                 plus, ln != NULL ? ln->text : lt);
}

static void cross_check(const er_config_t *c, const er_conf_tree_t *tree, er_diag_t *diag)
{
    check_at_least(tree, diag, "max_frame", c->limits.max_frame, "max_event_size",
                   c->limits.max_event_size, ER_FRAME_OVERHEAD);
    check_at_least(tree, diag, "max_connection_memory", c->limits.max_connection_memory,
                   "max_frame", c->limits.max_frame, 0);
}

/* ----------------------------------------------------------------- loading */

int er__config_load(const char *path, er_config_t **out, er_diag_t *diag)
{
    er_conf_tree_t *tree = NULL;
    er_config_t *c;
    size_t before = er__diag_count(diag);
    int rc;

    *out = NULL;
    if ((rc = er__conf_load_file(path, &tree, diag)) != 0)
        return rc;
    if ((c = calloc(1, sizeof(*c))) == NULL || (c->path = strdup(path)) == NULL) {
        free(c);
        er__conf_tree_free(tree);
        return -ENOMEM;
    }
    rc = er__schema_apply(&config_schema, tree, c, diag);
    if (rc == 0) {
        cross_check(c, tree, diag);
        er__diag_sort(diag);
        if (diag->nomem)
            rc = -ENOMEM;
        else if (er__diag_count(diag) > before)
            rc = -EINVAL;
    }
    er__conf_tree_free(tree);
    if (rc != 0) {
        er__config_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void er__config_free(er_config_t *cfg)
{
    if (cfg == NULL)
        return;
    er__schema_free(&config_schema, cfg);
    free(cfg->path);
    free(cfg);
}

int er__config_dump(const er_config_t *cfg, FILE *f)
{
    if (fprintf(f, "# effective configuration of %s\n", cfg->path) < 0)
        return -EIO;
    return er__schema_dump(&config_schema, cfg, f);
}
