/*
 * The daemon's configuration: the schema tables of DESIGN §5 (the only list
 * of option names, defaults and bounds; eventrouter.yaml(5) documents the
 * same values), the checks between keys that no single entry can make, and
 * the sections a flat table cannot express — handlers (each block's host
 * keys typed here, the rest checked against its plugin's own option table,
 * so the plugin is loaded), the drop-in handlers of handlers_dir (checked
 * for ownership as sshd checks its files, each block read from its own
 * option file in handlers_conf_dir), routes (match keys, destinations that
 * must be declared handlers), dead_letter (a handler that must be
 * declared) and plugin_path.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "plugin.h"
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
    {.key = "tail_max_lag",
     .type = ER_SCHEMA_UINT,
     .def = "100000",
     .min = 1,
     .max = UINT32_MAX,
     .offset = IN(limits, tail_max_lag),
     .desc = "events a live tail may fall behind the stored head before it is dropped"},
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

/* ------------------------------------------------------------------- retry */

/* A retry policy: a handler's own, or a route's override (DESIGN §6). */
static const er_schema_entry_t retry_entries[] = {
    {.key = "max_attempts",
     .type = ER_SCHEMA_UINT,
     .def = "5",
     .min = 1,
     .max = 1000,
     .offset = offsetof(er_retry_conf_t, max_attempts),
     .desc = "deliveries of an event before it is dead-lettered"},
    {.key = "initial",
     .type = ER_SCHEMA_DURATION,
     .def = "100ms",
     .min = 1,
     .max = 1 * HOUR,
     .offset = offsetof(er_retry_conf_t, initial_ms),
     .desc = "back-off after the first failure"},
    {.key = "max",
     .type = ER_SCHEMA_DURATION,
     .def = "30s",
     .min = 1,
     .max = 1 * DAY,
     .offset = offsetof(er_retry_conf_t, max_ms),
     .desc = "longest back-off; at least initial"},
    {.key = "multiplier",
     .type = ER_SCHEMA_DOUBLE,
     .def = "2",
     .dmin = 1,
     .dmax = 100,
     .offset = offsetof(er_retry_conf_t, multiplier),
     .desc = "growth of the back-off per attempt"},
    {.key = "jitter",
     .type = ER_SCHEMA_DOUBLE,
     .def = "0.2",
     .dmin = 0,
     .dmax = 1,
     .offset = offsetof(er_retry_conf_t, jitter),
     .desc = "random spread of each back-off, as a fraction of it"},
};

static const er_schema_t retry_schema = {retry_entries, ER_SCHEMA_COUNT(retry_entries)};

/* ------------------------------------------------------------------- store */

#define RIN(f) offsetof(er_retention_conf_t, f)
static const er_schema_entry_t retention_entries[] = {
    {.key = "max_age",
     .type = ER_SCHEMA_DURATION,
     .flags = ER_SCHEMA_OFF,
     .def = "off",
     .min = 1000,
     .max = 100ull * 365 * DAY,
     .offset = RIN(max_age_ms),
     .desc = "events received longer ago are trimmed; 0 or off: kept"},
    {.key = "max_events",
     .type = ER_SCHEMA_UINT,
     .flags = ER_SCHEMA_OFF,
     .def = "0",
     .max = UINT64_MAX / 2,
     .offset = RIN(max_events),
     .desc = "at most this many events are kept (the oldest are trimmed); 0 or off: all"},
    {.key = "max_bytes",
     .type = ER_SCHEMA_SIZE,
     .flags = ER_SCHEMA_OFF,
     .def = "off",
     .min = 64 << 10,
     .max = 16 * TiB, /* the lmdb store's largest map_size */
     .offset = RIN(max_bytes),
     .desc = "the oldest events are trimmed while the store uses more (its used_bytes: for lmdb "
             "the pages in use, not the file's size); 0 or off: no bound"},
    {.key = "force",
     .type = ER_SCHEMA_BOOL,
     .def = "false",
     .offset = RIN(force),
     .desc = "trim even what a destination's cursor or a dead letter still needs"},
};

static const er_schema_t retention_schema = {retention_entries, ER_SCHEMA_COUNT(retention_entries)};

static const er_schema_entry_t store_entries[] = {
    {.key = "plugin",
     .type = ER_SCHEMA_STRING,
     .def = "lmdb",
     .max = 4095,
     .offset = offsetof(er_store_conf_t, plugin),
     .desc = "the store plugin: lmdb (default), memory, or an absolute path to a .so"},
    {.key = "retention",
     .type = ER_SCHEMA_SECTION,
     .section = &retention_schema,
     .offset = offsetof(er_store_conf_t, retention),
     .desc = "how long events are kept (max_age, max_events, max_bytes, force)"},
};

static const er_schema_t store_schema = {store_entries, ER_SCHEMA_COUNT(store_entries)};

/* ---------------------------------------------------------------- handlers */

/* Handler names: what `to:` and eventctl name. */
#define HANDLER_NAME_MAX 64
/* A plugin named by path: a file name the loader can open. */
#define PLUGIN_TEXT_MAX 4095

static const char *const start_words[] = {"head", "earliest", NULL}; /* enum er_start */

/*
 * The host's keys of a destination block (DESIGN §5); every other key of
 * the block is the plugin's option, checked against the plugin's table.
 */
static const er_schema_entry_t handler_entries[] = {
    {.key = "plugin",
     .type = ER_SCHEMA_STRING,
     .flags = ER_SCHEMA_REQUIRED,
     .max = PLUGIN_TEXT_MAX,
     .offset = offsetof(er_handler_conf_t, plugin),
     .desc = "a shipped plugin's name (log) or an absolute path to a .so"},
    {.key = "timeout",
     .type = ER_SCHEMA_DURATION,
     .flags = ER_SCHEMA_OFF,
     .def = "off",
     .max = 1 * DAY,
     .offset = offsetof(er_handler_conf_t, timeout_ms),
     .desc = "deadline of one delivery; off (or 0): none"},
    {.key = "window",
     .type = ER_SCHEMA_UINT,
     .def = "256",
     .min = 1,
     .max = 65536,
     .offset = offsetof(er_handler_conf_t, window),
     .desc = "deliveries in flight at once"},
    {.key = "retry",
     .type = ER_SCHEMA_SECTION,
     .section = &retry_schema,
     .offset = offsetof(er_handler_conf_t, retry),
     .desc = "how failed deliveries are retried"},
    {.key = "concurrency",
     .type = ER_SCHEMA_UINT,
     .def = "1",
     .min = 1,
     .max = 1024,
     .offset = offsetof(er_handler_conf_t, concurrency),
     .desc = "worker threads of a blocking handler"},
    {.key = "subscribe",
     .type = ER_SCHEMA_BOOL,
     .def = "true",
     .offset = offsetof(er_handler_conf_t, subscribe),
     .desc = "the plugin's declared event types act as an implicit route"},
    {.key = "start",
     .type = ER_SCHEMA_ENUM,
     .def = "head",
     .choices = start_words,
     .offset = offsetof(er_handler_conf_t, start),
     .desc = "where a new destination's cursor begins: head or earliest"},
    {.key = "max_lag",
     .type = ER_SCHEMA_UINT,
     .flags = ER_SCHEMA_OFF,
     .def = "0",
     .offset = offsetof(er_handler_conf_t, max_lag),
     .desc = "events a destination may fall behind before retention skips it; 0 or off: "
             "unlimited"},
};

static const er_schema_t handler_schema = {handler_entries, ER_SCHEMA_COUNT(handler_entries)};

/* A drop-in's option file: the same host keys without `plugin` (the .so is
 * the plugin), which is the first entry above. */
static const er_schema_t dropin_schema = {handler_entries + 1,
                                          ER_SCHEMA_COUNT(handler_entries) - 1};

/* ------------------------------------------------------------------ routes */

static const er_schema_entry_t route_entries[] = {
    {.key = "match",
     .type = ER_SCHEMA_CUSTOM,
     .flags = ER_SCHEMA_REQUIRED,
     .desc = "\"*\" or a map of match keys, all of which must hold"},
    {.key = "to",
     .type = ER_SCHEMA_CUSTOM,
     .flags = ER_SCHEMA_REQUIRED,
     .desc = "a declared handler's name or a list of them"},
    {.key = "continue",
     .type = ER_SCHEMA_BOOL,
     .def = "false",
     .offset = offsetof(er_route_conf_t, cont),
     .desc = "after a match, go on to the next routes"},
    {.key = "retry",
     .type = ER_SCHEMA_SECTION,
     .section = &retry_schema,
     .offset = offsetof(er_route_conf_t, retry),
     .desc = "the retry policy for this route's events (a whole policy)"},
};

static const er_schema_t route_schema = {route_entries, ER_SCHEMA_COUNT(route_entries)};

/* ------------------------------------------------------------- dead_letter */

/* The `dead_letter:` section as the schema fills it; the loader keeps only
 * the name, in er_config_t.dead_letter_to, once it names a handler. */
typedef struct dead_letter_conf_s {
    char *forward_to;
} dead_letter_conf_t;

static const er_schema_entry_t dead_letter_entries[] = {
    {.key = "forward_to",
     .type = ER_SCHEMA_STRING,
     .max = HANDLER_NAME_MAX,
     .offset = offsetof(dead_letter_conf_t, forward_to),
     .desc = "a declared handler that also gets every event dead-lettered for a destination"},
};

static const er_schema_t dead_letter_schema = {dead_letter_entries,
                                               ER_SCHEMA_COUNT(dead_letter_entries)};

/* -------------------------------------------------------------------- acl */

/* An acl rule as the schema fills it; load_acl keeps the resolved ids. */
typedef struct acl_rule_conf_s {
    uint64_t uid, gid;
    char *user, *group;
    bool read;
} acl_rule_conf_t;

#define AIN(f) offsetof(acl_rule_conf_t, f)
static const er_schema_entry_t acl_entries[] = {
    {.key = "uid",
     .type = ER_SCHEMA_UINT,
     .max = UINT32_MAX - 1,
     .offset = AIN(uid),
     .desc = "the peer's user id (one of uid, gid, user, group)"},
    {.key = "gid",
     .type = ER_SCHEMA_UINT,
     .max = UINT32_MAX - 1,
     .offset = AIN(gid),
     .desc = "a group id: the peer's primary group or one of its supplementary groups"},
    {.key = "user",
     .type = ER_SCHEMA_STRING,
     .max = 255,
     .offset = AIN(user),
     .desc = "a user name, resolved to its uid when the configuration loads"},
    {.key = "group",
     .type = ER_SCHEMA_STRING,
     .max = 255,
     .offset = AIN(group),
     .desc = "a group name, resolved to its gid when the configuration loads"},
    {.key = "read",
     .type = ER_SCHEMA_BOOL,
     .def = "false",
     .offset = AIN(read),
     .desc = "QUERY and TAIL on the publish socket"},
    {.key = "publish",
     .type = ER_SCHEMA_REFUSED,
     .desc = "which types and topics the peer may publish"},
};
static const er_schema_t acl_schema = {acl_entries, ER_SCHEMA_COUNT(acl_entries)};

/* Value checks of match keys: 0, or -EINVAL with what is wrong in why. */
typedef int (*match_check_fn)(const char *s, size_t len, char *why, size_t cap);

/* A character of an event type (DESIGN §3). */
static bool type_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

/* A character of a topic segment. */
static bool segment_char(char c)
{
    return type_char(c) && c != '.';
}

static int check_type(const char *s, size_t len, char *why, size_t cap)
{
    size_t i;

    for (i = 0; i < len && type_char(s[i]); i++)
        ;
    if (len >= 1 && len <= 128 && i == len)
        return 0;
    snprintf(why, cap, "an event type is 1 to 128 of A-Z a-z 0-9 _ . -");
    return -EINVAL;
}

/* Segments of [A-Za-z0-9_-]+ or `*`, and `**` as the last one only. */
static int check_glob(const char *s, size_t len, char *why, size_t cap)
{
    size_t i = 0, start;

    if (len > 255) {
        snprintf(why, cap, "a topic glob is at most 255 bytes");
        return -EINVAL;
    }
    for (;;) {
        for (start = i; i < len && s[i] != '.'; i++)
            ;
        if (i == start) {
            snprintf(why, cap, "empty segment");
            return -EINVAL;
        }
        if (i - start == 2 && s[start] == '*' && s[start + 1] == '*') {
            if (i < len) {
                snprintf(why, cap, "** must be the last segment");
                return -EINVAL;
            }
        } else if (!(i - start == 1 && s[start] == '*')) {
            size_t k;
            for (k = start; k < i && segment_char(s[k]); k++)
                ;
            if (k < i) {
                snprintf(why, cap, "a segment is * or ** or made of A-Z a-z 0-9 _ - (got \"%.*s\")",
                         (int)(i - start), s + start);
                return -EINVAL;
            }
        }
        if (i == len)
            return 0;
        i++; /* the dot */
        if (i == len) {
            snprintf(why, cap, "empty segment");
            return -EINVAL;
        }
    }
}

static int check_priority(const char *s, size_t len, char *why, size_t cap)
{
    if (er_priority_parse(s, len) >= 0)
        return 0;
    snprintf(why, cap, "expected one of low, normal, high, critical");
    return -EINVAL;
}

/* source, stream prefix, meta values: what an event could carry. */
static int check_text(const char *s, size_t len, char *why, size_t cap)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            snprintf(why, cap, "control characters never occur in events");
            return -EINVAL;
        }
    }
    if (len <= 255)
        return 0;
    snprintf(why, cap, "at most 255 bytes");
    return -EINVAL;
}

static int check_name(const char *s, size_t len, char *why, size_t cap)
{
    size_t i;

    for (i = 0; i < len && type_char(s[i]); i++)
        ;
    if (len >= 1 && len <= HANDLER_NAME_MAX && i == len)
        return 0;
    snprintf(why, cap, "a name is 1 to %d of A-Z a-z 0-9 _ . -", HANDLER_NAME_MAX);
    return -EINVAL;
}

/*
 * The match keys besides meta.KEY: the only list of them (load_match turns
 * it into CUSTOM schema entries for "unknown key, did you mean").
 */
static const struct {
    const char *key;
    match_check_fn check;
    const char *what; /* in messages: "invalid WHAT" */
} match_keys[] = {
    {"type", check_type, "event type"},       {"topic", check_glob, "topic glob"},
    {"priority", check_priority, "priority"}, {"source", check_text, "source"},
    {"stream", check_text, "stream prefix"},  {"from", check_name, "broker name"},
};
#define N_MATCH_KEYS (sizeof(match_keys) / sizeof(match_keys[0]))
#define META_PREFIX  "meta."

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
    {.key = "handlers",
     .type = ER_SCHEMA_CUSTOM,
     .desc = "handler destinations: name -> {plugin, host keys, plugin options}"},
    {.key = "routes", .type = ER_SCHEMA_CUSTOM, .desc = "the routing table: an ordered list"},
    {.key = "plugin_path",
     .type = ER_SCHEMA_CUSTOM,
     .desc = "directories searched for plugins: one, or a list"},
    {.key = "store", .type = ER_SCHEMA_CUSTOM, .desc = "the event store: {plugin, plugin options}"},
    {.key = "dead_letter",
     .type = ER_SCHEMA_CUSTOM,
     .desc = "where parked events also go: {forward_to: HANDLER}"},
    {.key = "handlers_dir",
     .type = ER_SCHEMA_PATH,
     .max = PLUGIN_TEXT_MAX,
     .offset = offsetof(er_config_t, handlers_dir),
     .desc = "an absolute directory of drop-in handlers: each NAME.so is handler NAME"},
    {.key = "handlers_conf_dir",
     .type = ER_SCHEMA_PATH,
     .max = PLUGIN_TEXT_MAX,
     .offset = offsetof(er_config_t, handlers_conf_dir),
     .desc = "an absolute directory of the drop-ins' options: NAME.yaml for handler NAME"},
    REFUSED("brokers", "broker destinations"),
    REFUSED("sources", "subscriptions to brokers"),
    {.key = "acl",
     .type = ER_SCHEMA_CUSTOM,
     .desc = "who may read on the publish socket: a list of rules"},
    REFUSED("metrics", "the Prometheus endpoint"),
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

/* ------------------------------------------------ sections typed by hand */

/*
 * One load past the schema: handlers, routes and plugin_path have names
 * and lists the schema cannot express. Every string kept is a copy (the
 * tree is freed after loading) and every kept position names the config's
 * own copy of the path.
 */
typedef struct loader_s {
    er_config_t *c;
    er_diag_t *diag;
    bool nomem;
} loader_t;

__attribute__((format(printf, 3, 4))) static void lerror(loader_t *L, const er_conf_pos_t *pos,
                                                         const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (er__diag_addv(L->diag, pos, fmt, ap) == -ENOMEM)
        L->nomem = true;
    va_end(ap);
}

static er_conf_pos_t keep_pos(const loader_t *L, const er_conf_pos_t *p)
{
    er_conf_pos_t k = {L->c->path, p->line, p->col};

    return k;
}

static char *dup_text(loader_t *L, const char *s)
{
    char *d = strdup(s);

    if (d == NULL)
        L->nomem = true;
    return d;
}

/* What was given, for "got ...": the text quoted, or the node's kind. */
static const char *got(const er_conf_node_t *n, char *buf, size_t cap)
{
    if (n->kind != ER_CONF_SCALAR || er__conf_is_empty(n))
        return er__conf_kind_name(n);
    return er__conf_quote(n->text, n->len, buf, cap);
}

/* A scalar or a list of them: how many items (0 for anything else, or an
 * empty list), and item i (the scalar itself). */
static size_t scalar_or_list(const er_conf_node_t *n)
{
    if (n->kind == ER_CONF_SCALAR && !er__conf_is_empty(n))
        return 1;
    return n->kind == ER_CONF_SEQ ? n->count : 0;
}

static const er_conf_node_t *scalar_or_list_item(const er_conf_node_t *n, size_t i)
{
    return n->kind == ER_CONF_SEQ ? n->items[i] : n;
}

/* "P" for a scalar, "P[i]" for a list's item i. */
static const char *item_path(const char *path, const er_conf_node_t *n, size_t i, char *buf,
                             size_t cap)
{
    if (n->kind == ER_CONF_SEQ)
        snprintf(buf, cap, "%s[%zu]", path, i);
    else
        snprintf(buf, cap, "%s", path);
    return buf;
}

/* ------------------------------------------------------------ plugin_path */

static void load_plugin_path(loader_t *L, const er_conf_node_t *n)
{
    size_t count, i, kept = 0;
    char q[96], path[48];

    if (n == NULL || er__conf_is_empty(n))
        return;
    if (n->kind == ER_CONF_MAP) {
        lerror(L, &n->pos, "plugin_path: expected a directory or a list of directories, got %s",
               er__conf_kind_name(n));
        return;
    }
    count = scalar_or_list(n);
    if ((L->c->plugin_path = calloc(count + 1, sizeof(*L->c->plugin_path))) == NULL) {
        L->nomem = true;
        return;
    }
    for (i = 0; i < count; i++) {
        const er_conf_node_t *it = scalar_or_list_item(n, i);
        item_path("plugin_path", n, i, path, sizeof(path));
        if (it->kind != ER_CONF_SCALAR || it->len == 0 || it->text[0] != '/') {
            lerror(L, &it->pos, "%s: expected an absolute directory, got %s", path,
                   got(it, q, sizeof(q)));
            continue;
        }
        if ((L->c->plugin_path[kept] = dup_text(L, it->text)) == NULL)
            return;
        kept++;
    }
}

/* --------------------------------------------------------------- handlers */

/* A retry policy's initial back-off must not exceed its cap; reported at
 * the key the file gave (initial when both). `prefix` names the block ("":
 * the top of a drop-in's option file). */
static void check_retry(loader_t *L, const er_conf_node_t *node, const er_retry_conf_t *r,
                        const char *prefix)
{
    const er_conf_node_t *in = er__conf_map_get(node, "initial");
    const er_conf_node_t *mx = er__conf_map_get(node, "max");
    const char *dot = prefix[0] != '\0' ? "." : "";
    char a[32], b[32];

    if (r->initial_ms <= r->max_ms)
        return;
    er__format_duration(r->initial_ms, a, sizeof(a));
    er__format_duration(r->max_ms, b, sizeof(b));
    if (in != NULL)
        lerror(L, &in->pos, "%s%sretry.initial: must be at most retry.max (%s), got %s", prefix,
               dot, b, in->text);
    else if (mx != NULL)
        lerror(L, &mx->pos, "%s%sretry.max: must be at least retry.initial (%s), got %s", prefix,
               dot, a, mx->text);
}

/* A shipped plugin's name, or an absolute path: never a relative path,
 * which would depend on the daemon's working directory. */
static bool plugin_text_ok(const char *s)
{
    size_t len = strlen(s);
    char why[96];

    if (s[0] == '/')
        return true;
    return s[0] != '.' && check_name(s, len, why, sizeof(why)) == 0;
}

/* The block's pairs that are host keys (in `schema`), as a map node
 * borrowing them. */
static int host_part(const er_schema_t *schema, const er_conf_node_t *block, er_conf_node_t *out)
{
    size_t i;

    *out = *block;
    out->count = 0;
    out->pairs = NULL;
    if (block->count == 0)
        return 0;
    if ((out->pairs = calloc(block->count, sizeof(*out->pairs))) == NULL)
        return -ENOMEM;
    for (i = 0; i < block->count; i++)
        if (er__schema_find(schema, block->pairs[i].key->text) != NULL)
            out->pairs[out->count++] = block->pairs[i];
    return 0;
}

/*
 * The canonical text of a valid handler block: its typed host keys, the
 * file the plugin was loaded from as it is now (device, inode, mtime to
 * the nanosecond, size: a file replaced by mv or install is a change even
 * at the same path) and every option (secrets included, so a changed
 * password is a change). A drop-in's also holds the name of its option
 * file, whose values are among the options and host keys. Equal text =
 * unchanged block.
 */
static char *fingerprint(const er_handler_conf_t *h)
{
    char *opts = er__options_canonical(h->options), *text = NULL;
    json_t *j, *d = NULL, *so;
    struct stat sst, *st = &sst;

    if (opts == NULL)
        return NULL;
    /* The plugin's file as it is now: one replaced at its path (install,
     * mv) is a change, for a drop-in or a configured handler alike. */
    if (stat(h->lib->path, &sst) != 0)
        memset(&sst, 0, sizeof(sst));
    j = json_pack("{s:s, s:s, s:I, s:I, s:{s:I, s:I, s:I, s:f, s:f}, s:I, s:b, s:i, s:I, s:s}",
                  "plugin", h->plugin, "file", h->lib->path, "timeout", (json_int_t)h->timeout_ms,
                  "window", (json_int_t)h->window, "retry", "max_attempts",
                  (json_int_t)h->retry.max_attempts, "initial", (json_int_t)h->retry.initial_ms,
                  "max", (json_int_t)h->retry.max_ms, "multiplier", h->retry.multiplier, "jitter",
                  h->retry.jitter, "concurrency", (json_int_t)h->concurrency, "subscribe",
                  (int)h->subscribe, "start", h->start, "max_lag", (json_int_t)h->max_lag,
                  "options", opts);
    so = json_pack("{s:I, s:I, s:I, s:I, s:I}", "dev", (json_int_t)st->st_dev, "ino",
                   (json_int_t)st->st_ino, "mtime", (json_int_t)st->st_mtim.tv_sec, "mtime_ns",
                   (json_int_t)st->st_mtim.tv_nsec, "size", (json_int_t)st->st_size);
    if (j != NULL && (so == NULL || json_object_set_new(j, "so", so) != 0)) {
        json_decref(j);
        j = NULL;
    }
    if (j != NULL && h->dropin != NULL) {
        d = json_pack("{s:s, s:o}", "so", h->dropin, "conf",
                      h->dropin_conf != NULL ? json_string(h->dropin_conf) : json_null());
        if (d == NULL || json_object_set_new(j, "dropin", d) != 0) {
            json_decref(j);
            j = NULL;
        }
    }
    if (j != NULL)
        text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    memset(opts, 0, strlen(opts)); /* it held the secrets */
    free(opts);
    return text;
}

/*
 * Check a block's keys other than the host's (those of `schema`) against
 * the loaded plugin's options table. `block` may be NULL (all defaults).
 */
static void build_options(loader_t *L, const er_schema_t *schema, const er_conf_node_t *block,
                          const char *prefix, const er_plugin_lib_t *lib, er_options_t **options)
{
    const char *keys[16];
    size_t i;
    int rc;

    for (i = 0; i < schema->count; i++) {
        if (i + 1 == sizeof(keys) / sizeof(keys[0])) {
            L->nomem = true; /* a schema larger than this table is a bug caught by the tests */
            return;
        }
        keys[i] = schema->entries[i].key;
    }
    keys[i] = NULL;
    rc = er__options_build(lib->desc->options, block, keys, prefix, options, L->diag);
    if (rc == -ENOMEM)
        L->nomem = true;
}

/*
 * Load the plugin (of `kind`, named `plugin`) a block names and check the
 * block's other keys (all but the host's, in `schema`) against the
 * plugin's options table. `block` may be NULL (all defaults); `pos` is
 * where errors about the plugin itself point.
 */
static void load_block_plugin(loader_t *L, er_plugin_kind_t kind, const er_schema_t *schema,
                              const er_conf_node_t *block, const er_conf_pos_t *pos,
                              const char *prefix, const char *plugin, struct er_plugin_lib_s **lib,
                              er_options_t **options)
{
    const er_conf_node_t *pn = er__conf_map_get(block, "plugin");
    char err[512], q[96];
    int rc;

    if (pn != NULL)
        pos = &pn->pos;
    if (!plugin_text_ok(plugin)) {
        lerror(L, pos, "%s.plugin: expected a plugin's name or an absolute path to a .so, got %s",
               prefix, pn != NULL ? got(pn, q, sizeof(q)) : plugin);
        return;
    }
    err[0] = '\0';
    rc = er__plugin_load(kind, plugin, (const char *const *)L->c->plugin_path, lib, err,
                         sizeof(err));
    if (rc == -ENOMEM) {
        L->nomem = true;
        return;
    }
    if (rc != 0) {
        *lib = NULL;
        lerror(L, pos, "%s.plugin: %s", prefix, err[0] != '\0' ? err : er_strerror(rc));
        return;
    }
    build_options(L, schema, block, prefix, *lib, options);
}

static void load_handler(loader_t *L, const er_conf_pair_t *p, er_handler_conf_t *h)
{
    const er_conf_node_t *block = er__conf_is_empty(p->value) ? NULL : p->value;
    size_t before = er__diag_count(L->diag);
    char prefix[32 + HANDLER_NAME_MAX], why[96], q[96];
    er_conf_node_t host;
    int rc;

    h->pos = keep_pos(L, &p->key->pos);
    if ((h->name = dup_text(L, p->key->text)) == NULL)
        return;
    if (check_name(p->key->text, p->key->len, why, sizeof(why)) != 0) {
        lerror(L, &p->key->pos, "handlers: invalid handler name %s: %s",
               er__conf_quote(p->key->text, p->key->len, q, sizeof(q)), why);
        return;
    }
    snprintf(prefix, sizeof(prefix), "handlers.%s", h->name);
    if (block != NULL && block->kind != ER_CONF_MAP) {
        lerror(L, &block->pos, "%s: expected a map (plugin and its options), got %s", prefix,
               got(block, q, sizeof(q)));
        return;
    }
    if (block != NULL && host_part(&handler_schema, block, &host) != 0) {
        L->nomem = true;
        return;
    }
    rc = er__schema_apply_node(&handler_schema, block != NULL ? &host : NULL, &p->key->pos, prefix,
                               h, L->diag);
    if (block != NULL)
        free(host.pairs);
    if (rc == -ENOMEM) {
        L->nomem = true;
        return;
    }
    h->retry.set = er__conf_map_find(block, "retry") != NULL;
    check_retry(L, er__conf_map_get(block, "retry"), &h->retry, prefix);
    if (h->plugin != NULL)
        load_block_plugin(L, ER_PLUGIN_HANDLER, &handler_schema, block, &p->key->pos, prefix,
                          h->plugin, &h->lib, &h->options);
    if (L->nomem || er__diag_count(L->diag) > before || h->options == NULL)
        return;
    if ((h->fingerprint = fingerprint(h)) == NULL)
        L->nomem = true;
}

static void load_handlers(loader_t *L, const er_conf_node_t *n)
{
    size_t i;

    if (n == NULL || er__conf_is_empty(n))
        return;
    if (n->kind != ER_CONF_MAP) {
        lerror(L, &n->pos, "handlers: expected a map of handler names to blocks, got %s",
               er__conf_kind_name(n));
        return;
    }
    if (n->count == 0)
        return;
    if ((L->c->handlers = calloc(n->count, sizeof(*L->c->handlers))) == NULL) {
        L->nomem = true;
        return;
    }
    L->c->nhandlers = n->count;
    for (i = 0; i < n->count && !L->nomem; i++)
        load_handler(L, &n->pairs[i], &L->c->handlers[i]);
}

/* --------------------------------------------------------------- drop-ins */

/*
 * handlers_dir: every NAME.so in it is handler NAME, its block read from
 * handlers_conf_dir/NAME.yaml when that exists (the keys of a `handlers:`
 * entry without `plugin`), else all defaults. Code is loaded from the
 * directory only when it and each file pass the checks sshd makes of its
 * files: owned by root or the daemon's euid, not group- or world-writable,
 * symlinks judged by their targets. Errors about the directory and the
 * files point at the handlers_dir value; errors inside an option file
 * point into that file.
 */

/* What check_dropin found to do with a directory entry. */
enum dropin_verdict { DROPIN_SKIP, DROPIN_REFUSED, DROPIN_LOAD };

static void free_handler(er_handler_conf_t *h);

/* "DIR/FILE" into buf, without a doubled slash; false when it does not fit. */
static bool join_path(char *buf, size_t cap, const char *dir, const char *file)
{
    size_t n = strlen(dir);
    const char *slash = n > 0 && dir[n - 1] == '/' ? "" : "/";

    return (size_t)snprintf(buf, cap, "%s%s%s", dir, slash, file) < cap;
}

/*
 * The sshd rule on a stat'ed object: owned by root or the daemon's euid,
 * not group- or world-writable. On failure reports "handlers_dir: SHOWN is
 * ...: refusing to load WHAT" at pos and returns false.
 */
static bool owner_ok(loader_t *L, const er_conf_pos_t *pos, const char *shown,
                     const struct stat *st, const char *what)
{
    uid_t euid = geteuid();
    unsigned mode = (unsigned)(st->st_mode & 07777);

    if (st->st_uid != 0 && st->st_uid != euid) {
        if (euid == 0)
            lerror(L, pos,
                   "handlers_dir: %s is owned by uid %u (mode %04o), not root: refusing "
                   "to load %s",
                   shown, (unsigned)st->st_uid, mode, what);
        else
            lerror(L, pos,
                   "handlers_dir: %s is owned by uid %u (mode %04o), not root or the "
                   "daemon's uid %u: refusing to load %s",
                   shown, (unsigned)st->st_uid, mode, (unsigned)euid, what);
        return false;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        lerror(L, pos, "handlers_dir: %s is %s-writable (mode %04o): refusing to load %s", shown,
               (st->st_mode & S_IWOTH) ? "world" : "group", mode, what);
        return false;
    }
    return true;
}

/* "PATH", or "PATH -> TARGET" when PATH leads elsewhere (a symlink in it
 * or on the way), for messages. */
static const char *shown_path(const char *path, char *buf, size_t cap)
{
    char real[PATH_MAX];

    if (realpath(path, real) == NULL || strcmp(real, path) == 0)
        snprintf(buf, cap, "%s", path);
    else
        snprintf(buf, cap, "%s -> %s", path, real);
    return buf;
}

/* What check_dir found. */
enum dir_verdict {
    DIR_UNUSABLE, /* not an absolute path to a directory: nothing to list */
    DIR_REFUSED,  /* listed (so routes may name its drop-ins) but nothing loaded */
    DIR_OK,
};

/*
 * One of handlers_dir/handlers_conf_dir (`key`, given as `dir`, at `pos`):
 * an absolute path to a directory that exists. With `code`, its target
 * must also pass owner_ok. Reports what fails.
 */
static enum dir_verdict check_dir(loader_t *L, const er_conf_pos_t *pos, const char *key,
                                  const char *dir, bool code)
{
    char shown[2 * PATH_MAX + 8], q[96];
    struct stat st;

    if (dir[0] != '/') {
        lerror(L, pos, "%s: expected an absolute directory, got %s", key,
               er__conf_quote(dir, strlen(dir), q, sizeof(q)));
        return DIR_UNUSABLE;
    }
    if (stat(dir, &st) != 0) {
        lerror(L, pos, "%s: %s: %s", key, dir, strerror(errno));
        return DIR_UNUSABLE;
    }
    if (!S_ISDIR(st.st_mode)) {
        lerror(L, pos, "%s: %s: not a directory", key, dir);
        return DIR_UNUSABLE;
    }
    if (code && !owner_ok(L, pos, shown_path(dir, shown, sizeof(shown)), &st, "drop-ins from it"))
        return DIR_REFUSED;
    return DIR_OK;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The names of the entries of dir that may be drop-ins (ending in ".so",
 * not hidden), sorted, NULL-terminated, in *out; 0 or a negative errno
 * (reported at pos).
 */
static int list_dropins(loader_t *L, const er_conf_pos_t *pos, const char *dir, char ***out)
{
    char **v = NULL, **grown;
    size_t n = 0, cap = 0, len;
    struct dirent *e;
    DIR *d;
    int rc = 0;

    *out = NULL;
    if ((d = opendir(dir)) == NULL) {
        rc = -errno;
        lerror(L, pos, "handlers_dir: %s: %s", dir, strerror(errno));
        return rc;
    }
    for (errno = 0; (e = readdir(d)) != NULL; errno = 0) {
        len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 4 || strcmp(e->d_name + len - 3, ".so") != 0)
            continue;
        if (n + 1 >= cap) {
            cap = cap ? cap * 2 : 16;
            if ((grown = realloc(v, cap * sizeof(*v))) == NULL)
                break;
            v = grown;
        }
        if ((v[n] = strdup(e->d_name)) == NULL)
            break;
        v[++n] = NULL;
    }
    if (e != NULL) {
        rc = -ENOMEM;
        L->nomem = true;
    } else if (errno != 0) {
        rc = -errno;
        lerror(L, pos, "handlers_dir: %s: %s", dir, strerror(errno));
    }
    closedir(d);
    if (rc != 0) {
        while (n > 0)
            free(v[--n]);
        free(v);
        return rc;
    }
    if (n > 0)
        qsort(v, n, sizeof(*v), compare_names);
    *out = v;
    return 0;
}

/*
 * The checks on handlers_dir/FILE before it becomes handler NAME: a
 * regular file (through symlinks; a directory is skipped), a valid name,
 * not the name of a `handlers:` entry, and owner_ok. Fills h's name, pos,
 * dropin and plugin (a valid name is kept even when the file is refused,
 * so routes naming it get no second error) and *st. Without `load` (the
 * directory was refused) it stops before owner_ok: DROPIN_REFUSED.
 */
static enum dropin_verdict check_dropin(loader_t *L, const er_conf_pos_t *pos, const char *dir,
                                        const char *file, size_t nfile, bool load,
                                        er_handler_conf_t *h, struct stat *st)
{
    char path[PATH_MAX], shown[2 * PATH_MAX + 8], why[96], q[96];
    size_t namelen = strlen(file) - 3, i;

    if (!join_path(path, sizeof(path), dir, file)) {
        lerror(L, pos, "handlers_dir: %s/%s: path too long", dir, file);
        return DROPIN_SKIP;
    }
    if (stat(path, st) != 0) {
        lerror(L, pos, "handlers_dir: %s: %s", path, strerror(errno));
        return DROPIN_SKIP;
    }
    if (S_ISDIR(st->st_mode))
        return DROPIN_SKIP;
    if (!S_ISREG(st->st_mode)) {
        lerror(L, pos, "handlers_dir: %s: not a regular file: refusing to load it",
               shown_path(path, shown, sizeof(shown)));
        return DROPIN_SKIP;
    }
    if (check_name(file, namelen, why, sizeof(why)) != 0) {
        lerror(L, pos, "handlers_dir: %s: invalid handler name %s: %s", path,
               er__conf_quote(file, namelen, q, sizeof(q)), why);
        return DROPIN_SKIP;
    }
    for (i = 0; i < nfile; i++) {
        const er_handler_conf_t *o = &L->c->handlers[i];
        if (o->name != NULL && strlen(o->name) == namelen && strncmp(o->name, file, namelen) == 0) {
            lerror(L, pos,
                   "handlers_dir: %s: drop-in handler \"%s\" has the name of handlers.%s (line "
                   "%u): rename one of them",
                   path, o->name, o->name, o->pos.line);
            return DROPIN_SKIP;
        }
    }
    if ((h->name = strndup(file, namelen)) == NULL || (h->dropin = strdup(path)) == NULL ||
        (h->plugin = strdup(path)) == NULL) {
        L->nomem = true;
        return DROPIN_REFUSED;
    }
    h->pos = (er_conf_pos_t){h->dropin, 0, 0};
    if (!load || !owner_ok(L, pos, shown_path(path, shown, sizeof(shown)), st, "it"))
        return DROPIN_REFUSED;
    return DROPIN_LOAD;
}

/* handlers_conf_dir/NAME.yaml, loaded into *tree when it exists (NULL
 * when there is no such file or no handlers_conf_dir). Returns false
 * after errors (reported by the YAML loader, naming the file). */
static bool load_dropin_conf(loader_t *L, const er_conf_pos_t *pos, er_handler_conf_t *h,
                             er_conf_tree_t **tree)
{
    const char *dir = L->c->handlers_conf_dir;
    char path[PATH_MAX], file[HANDLER_NAME_MAX + 8];
    struct stat st;
    int rc;

    *tree = NULL;
    if (dir == NULL)
        return true;
    snprintf(file, sizeof(file), "%s.yaml", h->name);
    if (!join_path(path, sizeof(path), dir, file)) {
        lerror(L, pos, "handlers_conf_dir: %s/%s: path too long", dir, file);
        return false;
    }
    if (stat(path, &st) != 0 && errno == ENOENT)
        return true;
    if ((h->dropin_conf = strdup(path)) == NULL) {
        L->nomem = true;
        return false;
    }
    rc = er__conf_load_file(path, tree, L->diag);
    if (rc == -ENOMEM)
        L->nomem = true;
    return rc == 0;
}

/*
 * A drop-in without options (no option file, or an empty one): every
 * option its plugin requires is missing, reported naming the file that
 * would give it (an empty file: in that file). Returns false when one was.
 */
static bool dropin_required_given(loader_t *L, const er_conf_pos_t *pos, const er_handler_conf_t *h)
{
    er_conf_pos_t whole = {h->dropin_conf, 0, 0};
    const er_option_t *o;
    char where[PATH_MAX + 64];
    bool ok = true;

    if (L->c->handlers_conf_dir == NULL)
        snprintf(where, sizeof(where), "handlers_conf_dir is not set");
    else
        snprintf(where, sizeof(where), "there is no %s/%s.yaml", L->c->handlers_conf_dir, h->name);
    for (o = h->lib->desc->options; o != NULL && o->key != NULL; o++) {
        if (!(o->flags & ER_OPTION_REQUIRED) || o->def != NULL)
            continue;
        if (h->dropin_conf != NULL)
            lerror(L, &whole, "%s: required key is missing", o->key);
        else
            lerror(L, pos, "handlers_dir: %s: option %s is required, and %s", h->dropin, o->key,
                   where);
        ok = false;
    }
    return ok;
}

/*
 * The block of a drop-in that passed check_dropin: its plugin loaded, the
 * host keys and options from its option file (or the defaults), and its
 * fingerprint from `st`.
 */
static void load_dropin(loader_t *L, const er_conf_pos_t *pos, er_handler_conf_t *h,
                        const struct stat *st)
{
    size_t before = er__diag_count(L->diag);
    er_conf_tree_t *tree = NULL;
    const er_conf_node_t *block = NULL;
    const er_conf_pair_t *pp;
    er_conf_node_t host;
    char err[512];
    int rc;

    rc = er__plugin_load(ER_PLUGIN_HANDLER, h->dropin, (const char *const *)L->c->plugin_path,
                         &h->lib, err, sizeof(err));
    if (rc == -ENOMEM) {
        L->nomem = true;
        return;
    }
    if (rc != 0) {
        h->lib = NULL;
        lerror(L, pos, "handlers_dir: %s", err[0] != '\0' ? err : er_strerror(rc));
    }
    if (!load_dropin_conf(L, pos, h, &tree))
        goto done;
    if (tree != NULL && tree->root != NULL && !er__conf_is_empty(tree->root)) {
        block = tree->root;
        if (block->kind != ER_CONF_MAP) {
            lerror(L, &block->pos,
                   "expected a map of handler %s's keys (those of a handlers: entry but plugin), "
                   "got %s",
                   h->name, er__conf_kind_name(block));
            goto done;
        }
    }
    if ((pp = er__conf_map_find(block, "plugin")) != NULL)
        lerror(L, &pp->key->pos,
               "plugin: not allowed in a drop-in's option file (the plugin is %s)", h->dropin);
    if (block != NULL && host_part(&dropin_schema, block, &host) != 0) {
        L->nomem = true;
        goto done;
    }
    rc = er__schema_apply_node(&dropin_schema, block != NULL ? &host : NULL, pos, "", h, L->diag);
    if (block != NULL)
        free(host.pairs);
    if (rc == -ENOMEM) {
        L->nomem = true;
        goto done;
    }
    h->retry.set = er__conf_map_find(block, "retry") != NULL;
    check_retry(L, er__conf_map_get(block, "retry"), &h->retry, "");
    if (h->lib == NULL || (block == NULL && !dropin_required_given(L, pos, h)))
        goto done;
    /* `plugin` counts as a host key here: it was reported above. */
    build_options(L, &handler_schema, block, "", h->lib, &h->options);
    if (L->nomem || er__diag_count(L->diag) > before || h->options == NULL)
        goto done;
    if ((h->fingerprint = fingerprint(h)) == NULL)
        L->nomem = true;
done:
    er__conf_tree_free(tree);
}

/*
 * Append the drop-ins of handlers_dir to L->c->handlers, after the file's
 * handlers, sorted by name. `dn` is the handlers_dir value and `cn` the
 * handlers_conf_dir one (NULL when absent); without handlers_dir,
 * handlers_conf_dir is not read. When either directory fails its checks,
 * the drop-ins are still named (routes naming them get no second error)
 * but none is loaded.
 */
static void load_dropins(loader_t *L, const er_conf_node_t *dn, const er_conf_node_t *cn)
{
    er_config_t *c = L->c;
    size_t nfile = c->nhandlers, n = 0, i;
    er_handler_conf_t *grown;
    char **names = NULL;
    enum dir_verdict dv;
    struct stat st;
    bool load;

    if (c->handlers_dir == NULL || dn == NULL)
        return;
    if ((dv = check_dir(L, &dn->pos, "handlers_dir", c->handlers_dir, true)) == DIR_UNUSABLE)
        return;
    load = dv == DIR_OK;
    if (c->handlers_conf_dir != NULL && cn != NULL &&
        check_dir(L, &cn->pos, "handlers_conf_dir", c->handlers_conf_dir, false) != DIR_OK)
        load = false;
    if (list_dropins(L, &dn->pos, c->handlers_dir, &names) != 0 || names == NULL)
        return;
    while (names[n] != NULL)
        n++;
    if ((grown = realloc(c->handlers, (nfile + n) * sizeof(*grown))) == NULL) {
        L->nomem = true;
        goto done;
    }
    c->handlers = grown;
    for (i = 0; i < n && !L->nomem; i++) {
        er_handler_conf_t *h = &c->handlers[c->nhandlers];
        enum dropin_verdict v;

        memset(h, 0, sizeof(*h));
        v = check_dropin(L, &dn->pos, c->handlers_dir, names[i], nfile, load, h, &st);
        if (v == DROPIN_SKIP || h->name == NULL) {
            free_handler(h);
            continue;
        }
        c->nhandlers++;
        if (v == DROPIN_LOAD)
            load_dropin(L, &dn->pos, h, &st);
    }
done:
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ------------------------------------------------------------------ store */

/* max_bytes needs a store that tells the bytes it uses (ABI 1.3
 * used_bytes): refused, at the key, with one that cannot. */
static void check_max_bytes(loader_t *L, const er_conf_node_t *block, const er_store_conf_t *st)
{
    const er_store_ops_t *ops;
    const er_conf_pair_t *p;

    if (st->retention.max_bytes == 0 || st->lib == NULL)
        return;
    ops = st->lib->ops;
    if (ops != NULL && ops->used_bytes != NULL)
        return;
    p = er__conf_map_find(er__conf_map_get(block, "retention"), "max_bytes");
    lerror(L, p != NULL ? &p->key->pos : &st->pos,
           "store.retention.max_bytes: the store plugin \"%s\" cannot report the bytes it uses "
           "(it has no used_bytes, store ABI 1.3): bound it with max_events or max_age instead",
           st->lib->desc->name);
}

static void load_store(loader_t *L, const er_conf_pair_t *p)
{
    er_store_conf_t *st = &L->c->store;
    const er_conf_node_t *block = p != NULL && !er__conf_is_empty(p->value) ? p->value : NULL;
    er_conf_pos_t start = {.file = L->c->path, .line = 0, .col = 0}; /* the whole file */
    er_conf_node_t host;
    char q[96];
    int rc;

    st->pos = keep_pos(L, p != NULL ? &p->key->pos : &start);
    if (block != NULL && block->kind != ER_CONF_MAP) {
        lerror(L, &block->pos, "store: expected a map (plugin and its options), got %s",
               got(block, q, sizeof(q)));
        return;
    }
    if (block != NULL && host_part(&store_schema, block, &host) != 0) {
        L->nomem = true;
        return;
    }
    rc = er__schema_apply_node(&store_schema, block != NULL ? &host : NULL, &st->pos, "store", st,
                               L->diag);
    if (block != NULL)
        free(host.pairs);
    if (rc == -ENOMEM) {
        L->nomem = true;
        return;
    }
    if (st->plugin == NULL)
        return;
    load_block_plugin(L, ER_PLUGIN_STORE, &store_schema, block, &st->pos, "store", st->plugin,
                      &st->lib, &st->options);
    check_max_bytes(L, block, st);
}

/* ----------------------------------------------------------------- routes */

static bool is_handler(const er_config_t *c, const char *name)
{
    size_t i;

    for (i = 0; i < c->nhandlers; i++)
        if (c->handlers[i].name != NULL && strcmp(c->handlers[i].name, name) == 0)
            return true;
    return false;
}

/* A match key's values: a scalar or a non-empty list of them, each passing
 * `check`. */
static void load_values(loader_t *L, const er_conf_node_t *v, const char *path,
                        match_check_fn check, const char *what, er_match_key_t *k)
{
    size_t n = scalar_or_list(v), i;
    char ipath[352], q[96], why[128];

    if (n == 0) {
        lerror(L, &v->pos, "%s: expected a value or a non-empty list of values, got %s", path,
               v->kind == ER_CONF_SEQ ? "an empty list" : got(v, q, sizeof(q)));
        return;
    }
    if ((k->values = calloc(n + 1, sizeof(*k->values))) == NULL) {
        L->nomem = true;
        return;
    }
    for (i = 0; i < n; i++) {
        const er_conf_node_t *it = scalar_or_list_item(v, i);
        item_path(path, v, i, ipath, sizeof(ipath));
        if (it->kind != ER_CONF_SCALAR || it->len == 0) {
            lerror(L, &it->pos, "%s: expected a non-empty string, got %s", ipath,
                   it->kind == ER_CONF_SCALAR ? "an empty one" : er__conf_kind_name(it));
            continue;
        }
        if (check(it->text, it->len, why, sizeof(why)) != 0) {
            lerror(L, &it->pos, "%s: invalid %s %s: %s", ipath, what,
                   er__conf_quote(it->text, it->len, q, sizeof(q)), why);
            continue;
        }
        if ((k->values[k->nvalues] = dup_text(L, it->text)) == NULL)
            return;
        k->nvalues++;
    }
}

/* The pairs of a match map that are not meta.KEY, as a map node borrowing
 * them (for the unknown-key check). */
static int non_meta_part(const er_conf_node_t *m, er_conf_node_t *out)
{
    size_t i;

    *out = *m;
    out->count = 0;
    if ((out->pairs = calloc(m->count, sizeof(*out->pairs))) == NULL)
        return -ENOMEM;
    for (i = 0; i < m->count; i++)
        if (strncmp(m->pairs[i].key->text, META_PREFIX, strlen(META_PREFIX)) != 0)
            out->pairs[out->count++] = m->pairs[i];
    return 0;
}

static void load_match(loader_t *L, const er_conf_node_t *m, const char *prefix, er_route_conf_t *r)
{
    er_schema_entry_t entries[N_MATCH_KEYS];
    er_schema_t known = {entries, N_MATCH_KEYS};
    char path[64], kpath[320], q[96];
    er_conf_node_t rest;
    size_t i, j;
    int dummy;

    snprintf(path, sizeof(path), "%s.match", prefix);
    if (m->kind == ER_CONF_SCALAR && strcmp(m->text, "*") == 0) {
        r->match_all = true;
        return;
    }
    if (m->kind != ER_CONF_MAP) {
        lerror(L, &m->pos, "%s: expected \"*\" or a map of match keys, got %s", path,
               got(m, q, sizeof(q)));
        return;
    }
    if (m->count == 0) {
        lerror(L, &m->pos, "%s: no match keys (\"*\" matches every event)", path);
        return;
    }
    memset(entries, 0, sizeof(entries));
    for (i = 0; i < N_MATCH_KEYS; i++) {
        entries[i].key = match_keys[i].key;
        entries[i].type = ER_SCHEMA_CUSTOM;
        entries[i].desc = match_keys[i].what;
    }
    if (non_meta_part(m, &rest) != 0) {
        L->nomem = true;
        return;
    }
    if (er__schema_apply_node(&known, &rest, &m->pos, path, &dummy, L->diag) == -ENOMEM)
        L->nomem = true;
    free(rest.pairs);
    if ((r->keys = calloc(m->count, sizeof(*r->keys))) == NULL) {
        L->nomem = true;
        return;
    }
    for (i = 0; i < m->count && !L->nomem; i++) {
        const er_conf_pair_t *p = &m->pairs[i];
        er_match_key_t *k = &r->keys[r->nkeys];
        match_check_fn check = check_text;
        const char *what = "meta value";

        snprintf(kpath, sizeof(kpath), "%s.%s", path, p->key->text);
        if (strncmp(p->key->text, META_PREFIX, strlen(META_PREFIX)) == 0) {
            if (p->key->len == strlen(META_PREFIX)) {
                lerror(L, &p->key->pos, "%s: a meta key needs a name (meta.KEY)", kpath);
                continue;
            }
        } else {
            for (j = 0; j < N_MATCH_KEYS && strcmp(match_keys[j].key, p->key->text) != 0; j++)
                ;
            if (j == N_MATCH_KEYS)
                continue; /* unknown: reported above */
            check = match_keys[j].check;
            what = match_keys[j].what;
        }
        if ((k->key = dup_text(L, p->key->text)) == NULL)
            return;
        r->nkeys++;
        load_values(L, p->value, kpath, check, what, k);
    }
}

static void load_to(loader_t *L, const er_conf_node_t *t, const char *prefix, er_route_conf_t *r)
{
    size_t n = scalar_or_list(t), i, j;
    char path[64], ipath[96], q[96];

    snprintf(path, sizeof(path), "%s.to", prefix);
    if (n == 0) {
        lerror(L, &t->pos, "%s: expected a handler's name or a non-empty list of them, got %s",
               path, t->kind == ER_CONF_SEQ ? "an empty list" : got(t, q, sizeof(q)));
        return;
    }
    if ((r->to = calloc(n + 1, sizeof(*r->to))) == NULL) {
        L->nomem = true;
        return;
    }
    for (i = 0; i < n; i++) {
        const er_conf_node_t *it = scalar_or_list_item(t, i);
        item_path(path, t, i, ipath, sizeof(ipath));
        if (it->kind != ER_CONF_SCALAR || it->len == 0) {
            lerror(L, &it->pos, "%s: expected a handler's name, got %s", ipath,
                   got(it, q, sizeof(q)));
            continue;
        }
        er__conf_quote(it->text, it->len, q, sizeof(q));
        if (!is_handler(L->c, it->text)) {
            lerror(L, &it->pos, "%s: %s is not a declared handler", ipath, q);
            continue;
        }
        for (j = 0; j < r->nto && strcmp(r->to[j], it->text) != 0; j++)
            ;
        if (j < r->nto) {
            lerror(L, &it->pos, "%s: %s is listed twice", ipath, q);
            continue;
        }
        if ((r->to[r->nto] = dup_text(L, it->text)) == NULL)
            return;
        r->nto++;
    }
}

static void load_route(loader_t *L, const er_conf_node_t *item, size_t index, er_route_conf_t *r)
{
    const er_conf_node_t *m, *t;
    char prefix[32], q[96];

    snprintf(prefix, sizeof(prefix), "routes[%zu]", index);
    r->pos = keep_pos(L, &item->pos);
    if (item->kind != ER_CONF_MAP) {
        lerror(L, &item->pos, "%s: expected a map with match and to, got %s", prefix,
               got(item, q, sizeof(q)));
        return;
    }
    if (er__schema_apply_node(&route_schema, item, &item->pos, prefix, r, L->diag) == -ENOMEM) {
        L->nomem = true;
        return;
    }
    r->retry.set = er__conf_map_find(item, "retry") != NULL;
    check_retry(L, er__conf_map_get(item, "retry"), &r->retry, prefix);
    if ((m = er__conf_map_get(item, "match")) != NULL)
        load_match(L, m, prefix, r);
    if ((t = er__conf_map_get(item, "to")) != NULL && !L->nomem)
        load_to(L, t, prefix, r);
}

static void load_routes(loader_t *L, const er_conf_node_t *n)
{
    size_t i;

    if (n == NULL || er__conf_is_empty(n))
        return;
    if (n->kind != ER_CONF_SEQ) {
        lerror(L, &n->pos, "routes: expected a list of routes, got %s", er__conf_kind_name(n));
        return;
    }
    if (n->count == 0)
        return;
    if ((L->c->routes = calloc(n->count, sizeof(*L->c->routes))) == NULL) {
        L->nomem = true;
        return;
    }
    L->c->nroutes = n->count;
    for (i = 0; i < n->count && !L->nomem; i++)
        load_route(L, n->items[i], i, &L->c->routes[i]);
}

/* ------------------------------------------------------------ dead_letter */

/*
 * dead_letter: {forward_to: NAME}: NAME must be a declared handler (so the
 * handlers are loaded first); reported at the name's value. Absent or
 * empty: no forwarding (dead_letter_to stays NULL).
 */
static void load_dead_letter(loader_t *L, const er_conf_pair_t *p)
{
    dead_letter_conf_t dl = {NULL};
    const er_conf_node_t *v;
    char q[96];
    int rc;

    if (p == NULL || er__conf_is_empty(p->value))
        return;
    if (p->value->kind != ER_CONF_MAP) {
        lerror(L, &p->value->pos, "dead_letter: expected a map with forward_to, got %s",
               got(p->value, q, sizeof(q)));
        return;
    }
    rc = er__schema_apply_node(&dead_letter_schema, p->value, &p->key->pos, "dead_letter", &dl,
                               L->diag);
    if (rc == -ENOMEM)
        L->nomem = true;
    else if (dl.forward_to != NULL && !is_handler(L->c, dl.forward_to)) {
        v = er__conf_map_get(p->value, "forward_to");
        lerror(L, &v->pos, "dead_letter.forward_to: no handler named %s",
               er__conf_quote(dl.forward_to, strlen(dl.forward_to), q, sizeof(q)));
    } else {
        L->c->dead_letter_to = dl.forward_to;
        dl.forward_to = NULL;
    }
    er__schema_free(&dead_letter_schema, &dl);
}

/* -------------------------------------------------------------------- acl */

/* Resolve a user (or group) name: 0 and *id, or -ENOENT, or another
 * negative errno from the name service. */
static int resolve_name(const char *name, bool group, uint32_t *id)
{
    char buf[4096];
    int rc;

    if (group) {
        struct group gr, *res = NULL;
        rc = getgrnam_r(name, &gr, buf, sizeof(buf), &res);
        if (rc == 0 && res != NULL)
            *id = (uint32_t)gr.gr_gid;
        else if (rc == 0)
            return -ENOENT;
    } else {
        struct passwd pw, *res = NULL;
        rc = getpwnam_r(name, &pw, buf, sizeof(buf), &res);
        if (rc == 0 && res != NULL)
            *id = (uint32_t)pw.pw_uid;
        else if (rc == 0)
            return -ENOENT;
    }
    if (rc != 0)
        return -rc;
    return 0;
}

static void load_acl_rule(loader_t *L, const er_conf_node_t *item, size_t index, er_acl_rule_t *r)
{
    static const char *const who[] = {"uid", "gid", "user", "group"};
    acl_rule_conf_t a;
    const er_conf_pair_t *given = NULL;
    char prefix[32], q[96];
    size_t i, n = 0;
    int rc;

    snprintf(prefix, sizeof(prefix), "acl[%zu]", index);
    r->pos = keep_pos(L, &item->pos);
    if (item->kind != ER_CONF_MAP) {
        lerror(L, &item->pos, "%s: expected a map with one of uid, gid, user, group, got %s",
               prefix, got(item, q, sizeof(q)));
        return;
    }
    memset(&a, 0, sizeof(a));
    if ((rc = er__schema_apply_node(&acl_schema, item, &item->pos, prefix, &a, L->diag)) != 0) {
        L->nomem = rc == -ENOMEM;
        er__schema_free(&acl_schema, &a);
        return;
    }
    for (i = 0; i < 4; i++) {
        const er_conf_pair_t *p = er__conf_map_find(item, who[i]);
        if (p != NULL && n++ == 0)
            given = p;
        else if (p != NULL)
            lerror(L, &p->key->pos, "%s.%s: a rule is for one of uid, gid, user, group (%s given)",
                   prefix, who[i], given->key->text);
    }
    if (given == NULL) {
        lerror(L, &item->pos, "%s: say whom it is for: one of uid, gid, user, group", prefix);
    } else if (n == 1) {
        const char *w = given->key->text;
        r->by_gid = strcmp(w, "gid") == 0 || strcmp(w, "group") == 0;
        if (strcmp(w, "uid") == 0 || strcmp(w, "gid") == 0) {
            r->id = (uint32_t)(r->by_gid ? a.gid : a.uid);
        } else {
            r->name = r->by_gid ? a.group : a.user;
            if (r->by_gid)
                a.group = NULL;
            else
                a.user = NULL;
            if ((rc = resolve_name(r->name, r->by_gid, &r->id)) != 0)
                lerror(L, &given->value->pos, "%s.%s: %s %s", prefix, w,
                       rc == -ENOENT ? (r->by_gid ? "no group named" : "no user named")
                                     : "cannot be resolved:",
                       rc == -ENOENT ? er__conf_quote(r->name, strlen(r->name), q, sizeof(q))
                                     : er_strerror(rc));
        }
    }
    r->read = a.read;
    er__schema_free(&acl_schema, &a);
}

/*
 * acl: a list of rules, each for one uid, gid, user or group, granting
 * read (QUERY and TAIL on the publish socket). Publish rules come with the
 * security work and are refused for now.
 */
static void load_acl(loader_t *L, const er_conf_node_t *n)
{
    size_t i;

    if (n == NULL || er__conf_is_empty(n))
        return;
    if (n->kind != ER_CONF_SEQ) {
        lerror(L, &n->pos, "acl: expected a list of rules, got %s", er__conf_kind_name(n));
        return;
    }
    if (n->count == 0)
        return;
    if ((L->c->acl = calloc(n->count, sizeof(*L->c->acl))) == NULL) {
        L->nomem = true;
        return;
    }
    L->c->nacl = n->count;
    for (i = 0; i < n->count && !L->nomem; i++)
        load_acl_rule(L, n->items[i], i, &L->c->acl[i]);
}

/* ----------------------------------------------------------------- loading */

int er__config_load(const char *path, er_config_t **out, er_diag_t *diag)
{
    er_conf_tree_t *tree = NULL;
    er_config_t *c;
    loader_t L;
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
    if (rc == 0)
        cross_check(c, tree, diag);
    if (rc != -ENOMEM) {
        const er_conf_node_t *root =
            tree->root != NULL && tree->root->kind == ER_CONF_MAP ? tree->root : NULL;
        /* plugin_path first: the store and handlers load their plugins with
         * it. The store is loaded even from an empty file (its defaults). */
        L = (loader_t){c, diag, false};
        load_plugin_path(&L, er__conf_map_get(root, "plugin_path"));
        load_store(&L, er__conf_map_find(root, "store"));
        load_handlers(&L, er__conf_map_get(root, "handlers"));
        load_dropins(&L, er__conf_map_get(root, "handlers_dir"),
                     er__conf_map_get(root, "handlers_conf_dir"));
        load_routes(&L, er__conf_map_get(root, "routes"));
        load_dead_letter(&L, er__conf_map_find(root, "dead_letter"));
        load_acl(&L, er__conf_map_get(root, "acl"));
        if (L.nomem)
            rc = -ENOMEM;
    }
    if (rc != -ENOMEM) {
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

static void free_handler(er_handler_conf_t *h)
{
    /* The options borrow the plugin's table: free them before the unload. */
    er__options_free(h->options);
    if (h->lib != NULL)
        er__plugin_unload(h->lib);
    er__schema_free(&handler_schema, h);
    free(h->name);
    free(h->dropin);
    free(h->dropin_conf);
    free(h->fingerprint);
}

static void free_route(er_route_conf_t *r)
{
    size_t i, j;

    for (i = 0; i < r->nkeys; i++) {
        for (j = 0; j < r->keys[i].nvalues; j++)
            free(r->keys[i].values[j]);
        free(r->keys[i].values);
        free(r->keys[i].key);
    }
    free(r->keys);
    for (i = 0; i < r->nto; i++)
        free(r->to[i]);
    free(r->to);
}

void er__config_free(er_config_t *cfg)
{
    size_t i;

    if (cfg == NULL)
        return;
    er__options_free(cfg->store.options);
    if (cfg->store.lib != NULL)
        er__plugin_unload(cfg->store.lib);
    er__schema_free(&store_schema, &cfg->store);
    for (i = 0; i < cfg->nhandlers; i++)
        free_handler(&cfg->handlers[i]);
    free(cfg->handlers);
    for (i = 0; i < cfg->nroutes; i++)
        free_route(&cfg->routes[i]);
    free(cfg->routes);
    for (i = 0; cfg->plugin_path != NULL && cfg->plugin_path[i] != NULL; i++)
        free(cfg->plugin_path[i]);
    free(cfg->plugin_path);
    free(cfg->dead_letter_to);
    for (i = 0; i < cfg->nacl; i++)
        free(cfg->acl[i].name);
    free(cfg->acl);
    er__schema_free(&config_schema, cfg);
    free(cfg->path);
    free(cfg);
}

/* ------------------------------------------------------------------- dump */

/* A YAML flow list of double-quoted strings: ["a", "b"]. */
static void dump_list(FILE *f, char *const *items, size_t n)
{
    size_t i;

    fputc('[', f);
    for (i = 0; i < n; i++) {
        if (i > 0)
            fputs(", ", f);
        er__schema_write_quoted(f, items[i], true);
    }
    fputc(']', f);
}

static void dump_handlers(const er_config_t *cfg, FILE *f)
{
    size_t i;

    fputs(cfg->nhandlers == 0 ? "handlers: {}\n" : "handlers:\n", f);
    for (i = 0; i < cfg->nhandlers; i++) {
        const er_handler_conf_t *h = &cfg->handlers[i];
        fputs("  ", f);
        er__schema_write_quoted(f, h->name, false);
        fputs(":\n", f);
        if (h->dropin != NULL)
            fprintf(f, "    # drop-in from handlers_dir, options from %s\n",
                    h->dropin_conf != NULL ? h->dropin_conf : "(none: defaults)");
        er__schema_dump_indent(&handler_schema, h, 4, f);
        er__options_dump_yaml(h->options, 4, f);
    }
}

static void dump_routes(const er_config_t *cfg, FILE *f)
{
    size_t i, j;

    fputs(cfg->nroutes == 0 ? "routes: []\n" : "routes:\n", f);
    for (i = 0; i < cfg->nroutes; i++) {
        const er_route_conf_t *r = &cfg->routes[i];
        if (r->match_all) {
            fputs("  - match: \"*\"\n", f);
        } else {
            fputs("  - match:\n", f);
            for (j = 0; j < r->nkeys; j++) {
                fputs("      ", f);
                er__schema_write_quoted(f, r->keys[j].key, false);
                fputs(": ", f);
                dump_list(f, r->keys[j].values, r->keys[j].nvalues);
                fputc('\n', f);
            }
        }
        fputs("    to: ", f);
        dump_list(f, r->to, r->nto);
        fprintf(f, "\n    continue: %s\n", r->cont ? "true" : "false");
        if (r->retry.set) {
            fputs("    retry:\n", f);
            er__schema_dump_indent(&retry_schema, &r->retry, 6, f);
        }
    }
}

static void dump_acl(const er_config_t *cfg, FILE *f)
{
    size_t i;

    fputs(cfg->nacl == 0 ? "acl: []\n" : "acl:\n", f);
    for (i = 0; i < cfg->nacl; i++) {
        const er_acl_rule_t *r = &cfg->acl[i];
        fprintf(f, "  - %s: %u", r->by_gid ? "gid" : "uid", (unsigned)r->id);
        if (r->name != NULL) {
            fprintf(f, "  # %s ", r->by_gid ? "group" : "user");
            er__schema_write_quoted(f, r->name, false);
        }
        fprintf(f, "\n    read: %s\n", r->read ? "true" : "false");
    }
}

int er__config_dump(const er_config_t *cfg, FILE *f)
{
    if (fprintf(f, "# effective configuration of %s\n", cfg->path) < 0)
        return -EIO;
    if (er__schema_dump(&config_schema, cfg, f) != 0)
        return -EIO;
    if (cfg->plugin_path == NULL) {
        fputs("# plugin_path: not set\n", f);
    } else {
        size_t n = 0;
        while (cfg->plugin_path[n] != NULL)
            n++;
        fputs("plugin_path: ", f);
        dump_list(f, cfg->plugin_path, n);
        fputc('\n', f);
    }
    fputs("store:\n", f);
    er__schema_dump_indent(&store_schema, &cfg->store, 2, f);
    er__options_dump_yaml(cfg->store.options, 2, f);
    dump_handlers(cfg, f);
    dump_routes(cfg, f);
    if (cfg->dead_letter_to == NULL) {
        fputs("# dead_letter: not set\n", f);
    } else {
        dead_letter_conf_t dl = {cfg->dead_letter_to};
        fputs("dead_letter:\n", f);
        er__schema_dump_indent(&dead_letter_schema, &dl, 2, f);
    }
    dump_acl(cfg, f);
    return ferror(f) || fflush(f) != 0 ? -EIO : 0;
}
