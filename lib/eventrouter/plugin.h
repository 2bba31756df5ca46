/*
 * <eventrouter/plugin.h> — the plugin ABI of eventrouterd (eventrouter-plugin(7)).
 *
 * A plugin is a shared object exporting exactly one symbol, er_plugin_entry,
 * a constant descriptor. The host (the daemon) checks the descriptor's magic
 * and ABI major, accepts ABI minors up to its own, never reads past the
 * sizes the plugin declares, and only ever appends new members to the
 * tables below: a member the plugin's declared size does not cover, or a
 * NULL callback, means "not implemented".
 *
 * A plugin links no daemon symbols: everything it needs from the host comes
 * through the constant er_host_t table given to create(), so a plugin can
 * be unit-tested against the testing kit's fake host (<eventrouter/testing.h>).
 * It may link libeventrouter (<eventrouter.h>) for the event model and the
 * JSON shape.
 *
 * Threads: every callback runs on the daemon's loop thread, except handle()
 * of a plugin flagged ER_PLUGIN_BLOCKING, which runs on the handler's own
 * worker threads and may call only log, alloc/realloc/free,
 * event_ref/event_unref/event_get/event_encoded/event_new, metric_add,
 * metric_set and publish. complete() is called on the loop thread, exactly
 * once per token, never from inside the call that received the token.
 *
 * Ownership words, used on every pointer parameter:
 *   borrowed until return      the callee must not keep it after returning;
 *   borrowed until completion  valid until the token is completed;
 *   taken on success           the callee owns it when it returns 0;
 *   returns a new reference    the caller must release it (event_unref).
 */
#ifndef EVENTROUTER_PLUGIN_H
#define EVENTROUTER_PLUGIN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <eventrouter.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ER_PLUGIN_MAGIC     0x45525047u /* "ERPG" */
#define ER_PLUGIN_ABI_MAJOR 1
/* 1.1: store kind, complete_errno, event_decode; 1.2: store check, backup, compact;
 * 1.3: store used_bytes */
#define ER_PLUGIN_ABI_MINOR 3

/* Mark the descriptor for export (plugins are built -fvisibility=hidden). */
#if defined(__GNUC__) && __GNUC__ >= 4
#define ER_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define ER_PLUGIN_EXPORT
#endif

typedef enum er_plugin_kind {
    ER_PLUGIN_HANDLER = 1,
    ER_PLUGIN_BROKER = 2,
    ER_PLUGIN_STORE = 3,
} er_plugin_kind_t;

/* Descriptor flags. */
#define ER_PLUGIN_BLOCKING (1u << 0) /* handler: handle() blocks; run it on worker threads */

/*
 * Statuses: what a call that takes a token returns at once (ER_OK,
 * ER_RETRY, ER_FAIL, or ER_PENDING and complete() later), and what
 * complete() reports. ER_CANCELLED only completes a token after the host's
 * deadline called cancel(). A negative errno returned instead is logged and
 * treated as ER_RETRY; a call that returns an error never completes its
 * token.
 */
typedef enum er_status {
    ER_OK = 0,
    ER_RETRY = 1,     /* transient: back off and try again */
    ER_FAIL = 2,      /* permanent: dead letter */
    ER_PENDING = 3,   /* complete() will be called later */
    ER_CANCELLED = 4, /* completed after cancel() */
} er_status_t;

typedef enum er_health {
    ER_HEALTH_UP = 0,
    ER_HEALTH_DEGRADED = 1,
    ER_HEALTH_DOWN = 2,
} er_health_t;

/* syslog(3) priorities, as the daemon's log uses. */
enum er_plugin_log_level {
    ER_PLOG_ERROR = 3,
    ER_PLOG_WARN = 4,
    ER_PLOG_NOTICE = 5,
    ER_PLOG_INFO = 6,
    ER_PLOG_DEBUG = 7,
};

/* Opaque host objects. */
typedef struct er_ev_s er_ev_t;             /* an event: immutable, reference-counted */
typedef struct er_token_s er_token_t;       /* one pending completion */
typedef struct er_plugin_ctx_s er_plugin_ctx_t; /* the host's side of one instance */
typedef struct er_options_s er_options_t;   /* an instance's validated options */
typedef struct er_timer_s er_timer_t;
typedef struct er_watch_s er_watch_t;
typedef struct er_metric_s er_metric_t;

/* ------------------------------------------------------------ options */

/*
 * One option of a plugin's schema; a table ends with key == NULL. The host
 * validates a configuration block against it (types from the raw YAML
 * text, defaults, bounds, required, secrets read from KEY_file) before
 * create(), with file:line:column errors, and prints it for
 * `eventrouterd --help-plugin KIND/NAME`.
 */
typedef enum er_option_type {
    ER_OPTION_STRING = 1,
    ER_OPTION_PATH = 2,
    ER_OPTION_BOOL = 3,
    ER_OPTION_INT = 4,      /* int64, bounds min/max */
    ER_OPTION_UINT = 5,     /* uint64, bounds min/max (as unsigned) */
    ER_OPTION_DURATION = 6, /* "100ms", "30s": milliseconds, bounds in ms */
    ER_OPTION_SIZE = 7,     /* "64KiB": bytes */
    ER_OPTION_ENUM = 8,     /* one of `choices`, "a|b|c" */
    ER_OPTION_LIST = 9,     /* list of strings */
    ER_OPTION_MAP = 10,     /* pass-through map of strings (e.g. `properties:`) */
} er_option_type_t;

#define ER_OPTION_REQUIRED (1u << 0)
#define ER_OPTION_SECRET   (1u << 1) /* never logged or shown; KEY_file reads it from a file */

typedef struct er_option_s {
    const char *key;
    er_option_type_t type;
    const char *def; /* default as YAML text, or NULL: none */
    int64_t min, max; /* bounds when min < max */
    unsigned flags;   /* ER_OPTION_* */
    const char *choices;
    const char *description;
} er_option_t;

/* ---------------------------------------------------------- host table */

typedef void (*er_timer_cb)(void *arg);
typedef void (*er_watch_cb)(void *arg, int fd, unsigned revents);
typedef void (*er_done_cb)(void *arg);

#define ER_WATCH_READ  1u
#define ER_WATCH_WRITE 2u

/*
 * The host's functions, constant for the daemon's lifetime. `ctx` is the
 * instance's context as given to create(). Members are only appended;
 * check `size` (or ER_HOST_HAS) before calling one added after ABI 1.0.
 */
typedef struct er_host_s {
    size_t size; /* sizeof(er_host_t) as the host was compiled */
    uint16_t abi_major;
    uint16_t abi_minor;

    /* Logging, prefixed with the instance ("[handler:audit-log]"); rate
     * limited by the host. fmt borrowed until return. Any thread. */
    void (*log)(er_plugin_ctx_t *ctx, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* Allocation (the daemon's allocator). Any thread. */
    void *(*alloc)(size_t n);
    void *(*realloc)(void *p, size_t n);
    void (*free)(void *p);

    /* Events. event_ref returns a new reference; event_unref releases one.
     * event_get fills *out (out_size = sizeof(er_event_t) as the plugin was
     * compiled) with views valid while the plugin holds a reference. Any
     * thread. */
    er_ev_t *(*event_ref)(er_ev_t *ev);
    void (*event_unref)(er_ev_t *ev);
    int (*event_get)(const er_ev_t *ev, er_event_t *out, size_t out_size);
    /* The event's msgpack encoding (with daemon fields); valid while held. */
    int (*event_encoded)(const er_ev_t *ev, const uint8_t **p, size_t *n);
    /* Build a new event from fields (borrowed until return; copied). On
     * success *out is a new reference. Loop thread or blocking workers. */
    int (*event_new)(er_plugin_ctx_t *ctx, const er_event_t *fields, size_t fields_size,
                     er_ev_t **out);

    /* Publish ev (borrowed until return; the host takes its own
     * reference) as coming from this plugin. Checked as a client's event
     * (`$` streams allowed; daemon fields replaced, not refused): -EINVAL,
     * the reason logged, when it breaks a rule or is over max_event_size.
     * Stamped: received, id and time when absent, origin = the daemon's
     * own pid/uid/gid/host, via.plugin = the instance name, hops = the
     * event's + 1 — from inside handle(), at least the handled event's
     * + 1. Then de-duplicated by its id, sequenced, stored and routed like
     * a client's event; over limits.max_hops it is stored, not routed,
     * and dead-lettered ("$routing", "max_hops"). token (from token_new;
     * NULL: nothing to complete) completes on the loop thread, never
     * inside the call: ER_OK once the append holding it completed (at once
     * for a duplicate), ER_FAIL over max_hops, ER_RETRY when the store
     * refused it, or the store's failure (as complete_errno). Returns 0,
     * -EINVAL, -ENOMEM, or -EAGAIN while the daemon is starting or
     * stopping. Any thread (handed to the loop, in call order). */
    int (*publish)(er_plugin_ctx_t *ctx, er_ev_t *ev, er_token_t *token);
    /* Brokers' inbound events; -ENOSYS until brokers exist. */
    int (*ingest)(er_plugin_ctx_t *ctx, const uint8_t *msgpack, size_t n, void *ack_token);

    /* Completion: exactly once per token, on the loop thread. */
    void (*complete)(er_token_t *token, er_status_t status);
    /* A batch's per-event statuses (borrowed until return). */
    void (*complete_batch)(er_token_t *token, size_t n, const er_status_t *statuses);

    /* Options, validated before create(); pointers valid until destroy()
     * (or the next reload()). Each returns 0, -ENOENT when the key is not
     * in the schema, -EINVAL when it is of another type. An absent key
     * without default gives NULL / 0 and returns -ENODATA. */
    int (*opt_string)(const er_options_t *o, const char *key, const char **out);
    int (*opt_int)(const er_options_t *o, const char *key, int64_t *out);
    int (*opt_uint)(const er_options_t *o, const char *key, uint64_t *out);
    int (*opt_bool)(const er_options_t *o, const char *key, bool *out);
    /* ER_OPTION_LIST: the i-th string, or -ERANGE past the end. */
    int (*opt_list)(const er_options_t *o, const char *key, size_t i, const char **out);
    /* ER_OPTION_MAP: the entry at *pos (start at 0); returns 1 and advances,
     * 0 at the end. */
    int (*opt_map_next)(const er_options_t *o, const char *key, size_t *pos, const char **k,
                        const char **v);

    /* Health, shown by `eventctl health` and `handlers`. reason borrowed
     * until return (copied). */
    void (*set_health)(er_plugin_ctx_t *ctx, er_health_t state, const char *reason);

    /* Metrics: a counter or gauge named "name" (borrowed until return;
     * [a-z0-9_], unique in the instance) with a help text (borrowed until
     * return) under the instance; the handle lives until destroy().
     * Registration on the loop thread; metric_add (counters: delta >= 0)
     * and metric_set (gauges) from any thread (atomic). */
    int (*metric_counter)(er_plugin_ctx_t *ctx, const char *name, const char *help,
                          er_metric_t **out);
    int (*metric_gauge)(er_plugin_ctx_t *ctx, const char *name, const char *help,
                        er_metric_t **out);
    void (*metric_add)(er_metric_t *m, int64_t delta);
    void (*metric_set)(er_metric_t *m, int64_t value);

    /* Timers on the loop: cb(arg) after `ms`, then every `repeat_ms` (0:
     * once). timer_stop stops and frees (also from inside the timer's
     * callback, and for a one-shot timer that has fired); call it for
     * every timer before stop()'s done. */
    int (*timer_start)(er_plugin_ctx_t *ctx, uint64_t ms, uint64_t repeat_ms, er_timer_cb cb,
                       void *arg, er_timer_t **out);
    void (*timer_stop)(er_timer_t *t);

    /* fd readiness on the loop (ER_WATCH_READ|ER_WATCH_WRITE; 0 watches
     * nothing until watch_update). The fd stays the plugin's: one watch per
     * fd, stopped before the fd is closed; watch_stop stops and frees the
     * watch (also from inside its callback). An error or hang-up on the fd
     * is reported as both bits, so the plugin's read or write finds it. */
    int (*watch_start)(er_plugin_ctx_t *ctx, int fd, unsigned events, er_watch_cb cb, void *arg,
                       er_watch_t **out);
    int (*watch_update)(er_watch_t *w, unsigned events);
    void (*watch_stop)(er_watch_t *w);

    /* Per-plugin key-value state kept in the store (per instance: the
     * instances of one plugin do not share keys). Tokens from token_new;
     * key borrowed until return.
     * get completes token after filling *value (host memory, valid until
     * the token's callback returns; NULL with *len 0 for an absent key) and
     * *len. set copies value; value NULL deletes the key. A get sees the
     * sets that completed before it was made: wait for a set's token
     * before reading the key back. Loop thread. */
    int (*state_get)(er_plugin_ctx_t *ctx, const char *key, const void **value, size_t *len,
                     er_token_t *token);
    int (*state_set)(er_plugin_ctx_t *ctx, const char *key, const void *value, size_t len,
                     er_token_t *token);

    /* Query the store (filter as the JSON of eventctl query's flags,
     * borrowed until return): row(arg, ev) per match (ev borrowed until
     * row returns), then token completes. -ENOSYS until the history release.
     * Loop thread. */
    int (*query)(er_plugin_ctx_t *ctx, const char *filter_json,
                 void (*row)(void *arg, er_ev_t *ev), void *arg, er_token_t *token);

    /* The daemon's uv_loop_t, for libraries that bring a libuv adapter. */
    void *(*uv_loop)(er_plugin_ctx_t *ctx);

    /* The instance's configured name ("audit-log"). */
    const char *(*instance_name)(er_plugin_ctx_t *ctx);

    /* The reply of an admin() call, as a JSON object (borrowed until
     * return; copied); then complete the token. -EINVAL when json is not
     * an object or the token is already completed. */
    int (*admin_reply)(er_token_t *token, const char *json);

    /*
     * A token for the plugin's own requests (publish, state_get,
     * state_set, query). When the host completes it, cb(arg, status)
     * runs once on the loop thread, never from inside the call that took
     * the token, and the host frees the token after cb returns. A token
     * that no call took, or whose call returned an error, is released
     * with token_free. On success *out is the new token. Loop thread.
     */
    int (*token_new)(er_plugin_ctx_t *ctx, void (*cb)(void *arg, er_status_t status), void *arg,
                     er_token_t **out);
    void (*token_free)(er_token_t *token);

    /* ---- ABI 1.1 ---- */

    /*
     * Complete token as failed with a reason: err a negative errno, message
     * (borrowed until return; copied) one line for logs and NACKs. A store
     * uses it for every failure: -ENOSPC (full) becomes NACK `store_full`,
     * anything else `unavailable`. The status seen by the token's owner is
     * ER_FAIL for -ENOSPC, -EINVAL, -ENOENT, -EEXIST, -EROFS, -EACCES and
     * -EPERM, ER_RETRY otherwise. Loop thread, exactly once per token like
     * complete().
     */
    void (*complete_errno)(er_token_t *token, int err, const char *message);

    /* A new event (*out, a new reference) from its msgpack encoding as
     * event_encoded gives it, daemon fields included (p borrowed until
     * return; copied). -EBADMSG when the bytes are not such an event. Any
     * thread (a store's reader thread decodes what it reads). */
    int (*event_decode)(er_plugin_ctx_t *ctx, const uint8_t *p, size_t n, er_ev_t **out);
} er_host_t;

/* Does host h have member m (added in some later minor)? */
#define ER_HOST_HAS(h, m)                                                      \
    ((h)->size >= offsetof(er_host_t, m) + sizeof((h)->m) && (h)->m != NULL)

/* --------------------------------------------------------- operations */

/*
 * Handler operations. Lifecycle (libuv's): create (no I/O) → start (may
 * connect asynchronously, reports health) → handle … → stop(done)
 * (asynchronous: every handle closed and every token completed before
 * done) → destroy. The host dlcloses only after done plus one loop turn.
 */
typedef struct er_handler_ops_s {
    size_t size; /* sizeof(er_handler_ops_t) as the plugin was compiled */

    /* Make an instance from validated options (host and opts borrowed
     * for the instance's lifetime, ctx likewise). No I/O. */
    int (*create)(const er_host_t *host, er_plugin_ctx_t *ctx, const er_options_t *opts,
                  void **instance);
    int (*start)(void *instance);
    void (*stop)(void *instance, er_done_cb done, void *done_arg);
    void (*destroy)(void *instance);

    /*
     * Deliver ev (borrowed until return, or until completion when
     * returning ER_PENDING: take a reference to keep it longer). Returns
     * ER_OK, ER_RETRY, ER_FAIL, ER_PENDING or a negative errno. A
     * BLOCKING handler returns a final status, never ER_PENDING.
     */
    int (*handle)(void *instance, er_ev_t *ev, er_token_t *token);

    /* Optional (NULL: not implemented). */

    /* The event types this instance subscribes to (NULL-terminated,
     * owned by the instance), or NULL: it acts as an implicit route. */
    const char *const *(*types)(void *instance);
    /* Apply new options in place; -ENOTSUP: re-create instead. */
    int (*reload)(void *instance, const er_options_t *opts);
    /* Report counters: emit(arg, name, value) per figure. */
    void (*stats)(void *instance, void (*emit)(void *arg, const char *name, int64_t value),
                  void *arg);
    /* The host's deadline passed: complete token with ER_CANCELLED soon. */
    void (*cancel)(void *instance, er_token_t *token);
    /* `eventctl plugin NAME COMMAND ARGS`: args_json borrowed until
     * return; answer with host->admin_reply then complete. */
    int (*admin)(void *instance, const char *command, const char *args_json, er_token_t *token);
    /* SIGUSR1: reopen files the instance writes (log rotation). */
    int (*reopen)(void *instance);
} er_handler_ops_t;

/*
 * Store operations (ABI 1.1). The store keeps the log of events keyed by
 * seq, the indexes that find them (stream, correlation id, id, type), the
 * destinations' cursors, the dead letters, the sequence reservation mark
 * and the plugins' key-value state.
 *
 * Every operation except durability and stats takes a token, returns
 * ER_PENDING and completes asynchronously (never from inside the call; a
 * synchronous store completes on a later loop turn): complete(token, ER_OK)
 * on success, complete_errno(token, -errno, message) on failure (-ENOSPC:
 * the store is full). A call that returns a negative errno instead never
 * completes its token. stop() is also called after a failed open(). Writes are
 * applied, and their tokens completed, in the order they were submitted;
 * an append completed ER_OK is as durable as durability() says. Results
 * (rows, cursors, dead letters, values, counts) are handed over on the
 * loop thread before the token completes; pointers given to a result
 * callback are borrowed until it returns, *out parameters are written
 * before the completion and must stay valid until then.
 *
 * Reads see every write completed before they were submitted, and never
 * wait for a write to commit (a reader thread, short read transactions).
 *
 * Out structures start with `size`, set by the host to its sizeof; a
 * plugin writes only members that size covers.
 */
typedef enum er_durability {
    ER_DURABILITY_NONE = 0,    /* lost with the process (memory) */
    ER_DURABILITY_PROCESS = 1, /* survives the daemon, not the machine */
    ER_DURABILITY_DISK = 2,    /* on disk when the append completes */
} er_durability_t;

/* What open() reports about the store as it found it. */
typedef struct er_store_head_s {
    size_t size;        /* set by the host */
    uint64_t first_seq; /* lowest stored seq; 0 when empty */
    uint64_t last_seq;  /* highest stored seq; 0 when empty */
    uint64_t reserved;  /* the reservation mark (reserve()); 0: none yet */
    uint64_t events;    /* events stored */
    bool clean;         /* the previous instance was stopped (stop() completed);
                         * false after a crash, and for a new store */
    bool created;       /* open() created an empty store */
} er_store_head_t;

/* Query filter: every set member must hold. Strings are exact matches
 * (len 0: not filtering); at most one of stream, correlation_id, id and
 * type picks the index used (in that order), the rest are checked. */
#define ER_STORE_DESCENDING (1u << 0) /* highest seq first */
typedef struct er_store_filter_s {
    size_t size; /* set by the host */
    er_str_t stream;
    er_str_t correlation_id;
    er_str_t id;
    er_str_t type;
    int64_t since_us;  /* time >= since (0: no bound) */
    int64_t until_us;  /* time < until (0: no bound) */
    uint64_t from_seq; /* ascending: seq >= from_seq; descending: seq <= from_seq (0: no bound) */
    uint64_t to_seq;   /* ascending: seq <= to_seq; descending: seq >= to_seq (0: no bound) */
    uint64_t limit;    /* at most this many rows (0: no limit) */
    unsigned flags;    /* ER_STORE_* */
} er_store_filter_t;

/* Whether e meets every member of f other than the seq range (the one
 * definition of a match: stores use it on what their index scan finds,
 * the daemon on events it streams live). A header-only helper: it adds
 * nothing to the ABI. */
static inline bool er_store_filter_match(const er_store_filter_t *f, const er_event_t *e)
{
    const er_str_t *want[] = {&f->stream, &f->correlation_id, &f->id, &f->type};
    const er_str_t *have[] = {&e->stream, &e->correlation_id, &e->id, &e->type};
    size_t i;

    for (i = 0; i < 4; i++) {
        if (want[i]->len == 0)
            continue;
        if (have[i]->ptr == NULL || have[i]->len != want[i]->len ||
            memcmp(have[i]->ptr, want[i]->ptr, want[i]->len) != 0)
            return false;
    }
    if (f->since_us != 0 && (!(e->has & ER_HAS_TIME) || e->time < f->since_us))
        return false;
    if (f->until_us != 0 && (!(e->has & ER_HAS_TIME) || e->time >= f->until_us))
        return false;
    return true;
}

/* A dead letter (DESIGN §6). */
typedef struct er_dead_letter_s {
    uint64_t dlq_id; /* assigned by the store, increasing */
    uint64_t seq;
    er_str_t destination;
    er_str_t reason;
    uint32_t attempts;
    int64_t first_failure_us;
    int64_t last_failure_us;
} er_dead_letter_t;

/* Result callbacks: return 0 to go on, non-zero to stop early (the token
 * then completes ER_OK). */
typedef int (*er_store_row_cb)(void *arg, er_ev_t *ev);
typedef int (*er_store_cursor_cb)(void *arg, const char *name, uint64_t seq);
typedef int (*er_store_dlq_cb)(void *arg, const er_dead_letter_t *dl);

/* What check() and compact() report, one item per call (ABI 1.2). */
typedef enum er_store_report_kind {
    ER_STORE_FIGURE = 1,  /* name = value: a count or a size in bytes; text NULL */
    ER_STORE_PROBLEM = 2, /* an inconsistency: name its class ("index_missing"),
                           * value the seq concerned (0: none), text one line */
    ER_STORE_NOTE = 3,    /* worth knowing, not an error (a dead letter whose event
                           * was trimmed): as PROBLEM */
} er_store_report_kind_t;
/* name and text borrowed until return. Return 0 to go on, non-zero to stop
 * receiving (the operation still completes as it would have). */
typedef int (*er_store_report_cb)(void *arg, er_store_report_kind_t kind, const char *name,
                                  int64_t value, const char *text);
/* Problems (and notes) a store reports at most per check; it counts the
 * rest in its "problems" ("notes") figure. */
#define ER_STORE_CHECK_MAX_REPORTED 100

typedef struct er_store_ops_s {
    size_t size; /* sizeof(er_store_ops_t) as the plugin was compiled */

    /* Lifecycle: create (no I/O) → open → … → stop(done) → destroy. stop
     * completes every write submitted before it (durably), records a clean
     * stop, closes everything, then calls done. */
    int (*create)(const er_host_t *host, er_plugin_ctx_t *ctx, const er_options_t *opts,
                  void **instance);
    int (*open)(void *instance, er_store_head_t *head, er_token_t *token);
    void (*stop)(void *instance, er_done_cb done, void *done_arg);
    void (*destroy)(void *instance);
    er_durability_t (*durability)(void *instance);

    /* Store n events (the array borrowed until return; each event
     * borrowed until completion: the host holds its reference), keyed by
     * their seq, which the host assigned (increasing, never reused). All or
     * none: a failed append stored none of them. */
    int (*append)(void *instance, er_ev_t *const *evs, size_t n, er_token_t *token);
    /* Record the reservation mark: the host assigns no seq above it
     * until this completes (DESIGN §6). May lower it (at a clean stop). */
    int (*reserve)(void *instance, uint64_t upto, er_token_t *token);
    /* Rows matching filter (borrowed until return; copied) in seq order,
     * row(arg, ev) each (ev borrowed until row returns: take a reference to
     * keep it). A plugin holds a bounded number of rows at a time. */
    int (*query)(void *instance, const er_store_filter_t *filter, er_store_row_cb row, void *arg,
                 er_token_t *token);

    /* Cursors: name → seq (names borrowed until return). */
    int (*cursor_list)(void *instance, er_store_cursor_cb each, void *arg, er_token_t *token);
    int (*cursor_set)(void *instance, const char *name, uint64_t seq, er_token_t *token);
    int (*cursor_delete)(void *instance, const char *name, er_token_t *token);

    /* Dead letters: add (dl borrowed until return; its dlq_id ignored, the
     * new one written to *dlq_id), list in dlq_id order from after_id
     * (destination NULL: every one; max 0: no limit), delete (-ENOENT when
     * absent). */
    int (*dlq_add)(void *instance, const er_dead_letter_t *dl, uint64_t *dlq_id,
                   er_token_t *token);
    int (*dlq_list)(void *instance, const char *destination, uint64_t after_id, uint64_t max,
                    er_store_dlq_cb each, void *arg, er_token_t *token);
    int (*dlq_delete)(void *instance, uint64_t dlq_id, er_token_t *token);

    /* Plugin state: (scope, key) → bytes. get writes *value (store memory,
     * valid until complete() returns; NULL when absent) and *len; set
     * copies value; value NULL deletes. */
    int (*state_get)(void *instance, const char *scope, const char *key, const void **value,
                     size_t *len, er_token_t *token);
    int (*state_set)(void *instance, const char *scope, const char *key, const void *value,
                     size_t len, er_token_t *token);

    /* Delete, oldest first, at most max events (0: no limit) with seq <
     * before_seq, and their index entries; *trimmed = how many. Callers
     * trim in bounded chunks. */
    int (*trim)(void *instance, uint64_t before_seq, uint64_t max, uint64_t *trimmed,
                er_token_t *token);
    /* Delete at most max events (0: no limit) of one stream; *deleted =
     * how many. */
    int (*delete_stream)(void *instance, const char *stream, uint64_t max, uint64_t *deleted,
                         er_token_t *token);

    /* Figures (events, bytes, commits, queue depth…): emit(arg, name,
     * value) each. Synchronous, loop thread. */
    void (*stats)(void *instance, void (*emit)(void *arg, const char *name, int64_t value),
                  void *arg);

    /* ---- ABI 1.2: maintenance. Optional (NULL: not supported; the
     * daemon answers `unsupported`). None of them may hold up appends or
     * the loop: a store runs them on a thread of their own. ---- */

    /*
     * Verify that the indexes agree with the events: every index entry
     * names a stored event that has that value, every stored event has
     * its entries, every event decodes. report() each problem (at most
     * ER_STORE_CHECK_MAX_REPORTED), notes for references that are not
     * errors (a cursor past the last seq, a dead letter whose event was
     * trimmed), and the figures "events", "index_entries", "cursors",
     * "dead_letters", "problems" and "notes" (the totals), on the loop
     * thread, then complete ER_OK — also when problems were found: a
     * failure means the check could not run. A store that checks a
     * snapshot says so in its documentation.
     */
    int (*check)(void *instance, er_store_report_cb report, void *arg, er_token_t *token);
    /*
     * Write a consistent copy of the store, as of some moment after the
     * call (every append completed before it is in it), into dir
     * (borrowed until return; an absolute path, created when missing,
     * which must be empty: -EEXIST otherwise), from which the store opens
     * as it would after a crash. Appends go on meanwhile. *bytes = the
     * size of the copy, written before the completion.
     */
    int (*backup)(void *instance, const char *dir, uint64_t *bytes, er_token_t *token);
    /*
     * Give back space the store no longer uses, as far as the store can
     * while it is open, and report() what it found and did as figures
     * (the store's documentation names them) and notes; then complete.
     */
    int (*compact)(void *instance, er_store_report_cb report, void *arg, er_token_t *token);

    /* ---- ABI 1.3 ---- */

    /*
     * The bytes the store uses now, as store.retention.max_bytes bounds
     * them (the store's documentation says what it counts): a figure that
     * drops once trimmed events are gone (not a file's size, which may
     * never shrink), as of the last write that completed — a trim's
     * completion comes after the figure has dropped. Writes *bytes and
     * returns 0, or a negative errno when it cannot tell now. Synchronous,
     * loop thread, no I/O. Optional: NULL means the store cannot tell, and
     * the daemon refuses max_bytes with it.
     */
    int (*used_bytes)(void *instance, uint64_t *bytes);
} er_store_ops_t;

/*
 * Broker operations are defined with the release that builds them; until
 * then the host refuses broker plugins with "not supported in this
 * version". Their table, like every table, starts with its own size.
 */

/* ---------------------------------------------------------- descriptor */

typedef struct er_plugin_s {
    uint32_t magic;     /* ER_PLUGIN_MAGIC */
    uint16_t abi_major; /* ER_PLUGIN_ABI_MAJOR as compiled */
    uint16_t abi_minor; /* ER_PLUGIN_ABI_MINOR as compiled */
    size_t size;        /* sizeof(er_plugin_t) as compiled */
    er_plugin_kind_t kind;
    const char *name;        /* "log": what `plugin:` names */
    const char *version;     /* the plugin's own version */
    const char *description; /* one line */
    const er_option_t *options; /* schema, ended by key == NULL; may be NULL */
    const void *ops;         /* er_handler_ops_t * (handler), er_store_ops_t * (store) */
    uint64_t flags;          /* ER_PLUGIN_* */
} er_plugin_t;

/* Declare the one exported symbol:
 *   ER_PLUGIN_DEFINE = { ER_PLUGIN_HEADER, .kind = ..., ... }; */
#define ER_PLUGIN_DEFINE ER_PLUGIN_EXPORT const er_plugin_t er_plugin_entry
#define ER_PLUGIN_HEADER                                                       \
    .magic = ER_PLUGIN_MAGIC, .abi_major = ER_PLUGIN_ABI_MAJOR,                \
    .abi_minor = ER_PLUGIN_ABI_MINOR, .size = sizeof(er_plugin_t)

#ifdef __cplusplus
}
#endif
#endif /* EVENTROUTER_PLUGIN_H */
