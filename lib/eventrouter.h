/*
 * <eventrouter.h> — the public API of libeventrouter: the event model of
 * eventrouter-protocol(7), its validation, the JSON shape shared by every tool,
 * and a client for the daemon's Unix socket.
 *
 * The client has a non-blocking core (one fd, er_client_process(), callbacks)
 * that fits inside any event loop, and blocking wrappers built on it. No libuv
 * appears in this header.
 *
 * Conventions: functions return 0 (or a count) on success and a negative error
 * on failure — a negated errno or one of the ER_E* codes below; er_strerror()
 * names either. Ownership of every pointer parameter is stated in fixed words:
 * "borrowed until return", "borrowed until completion", "taken on success",
 * "returns a new reference"/"caller frees".
 */
#ifndef EVENTROUTER_H
#define EVENTROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define ER_EXTERN __attribute__((visibility("default")))
#else
#define ER_EXTERN
#endif

#define ER_PROTOCOL_VERSION 1

/* Default socket paths (also the daemon's defaults). */
#define ER_DEFAULT_SOCKET       "/run/eventrouter/events.sock"
#define ER_DEFAULT_ADMIN_SOCKET "/run/eventrouter/admin.sock"

/* ---------------------------------------------------------------- errors */

/*
 * Project error codes, below libuv's range (which ends at -4095). Each decode
 * failure class has its own code so tests and clients can tell them apart.
 */
#define ER_ERRNO_MAP(XX)                                                       \
    XX(ETRUNC, -5001, "truncated msgpack data")                                \
    XX(ETYPE, -5002, "wrong type")                                             \
    XX(EUNKNOWNKEY, -5003, "unknown key")                                      \
    XX(EDUPKEY, -5004, "duplicate key")                                        \
    XX(ETOOBIG, -5005, "too large")                                            \
    XX(EDEPTH, -5006, "nesting too deep")                                      \
    XX(EUTF8, -5007, "invalid UTF-8")                                          \
    XX(ENUL, -5008, "NUL character in string")                                 \
    XX(ETRAILING, -5009, "trailing bytes")                                     \
    XX(ERULE, -5010, "value breaks a field rule")                              \
    XX(EMISSING, -5011, "required field missing")                              \
    XX(EDAEMONFIELD, -5012, "field is set by the daemon")                      \
    XX(ERESERVED, -5013, "reserved stream")                                    \
    XX(EBADOP, -5014, "unknown op")                                            \
    XX(EFRAME, -5015, "malformed frame")                                       \
    XX(ENACK, -5016, "refused by the daemon")                                  \
    XX(EGOAWAY, -5017, "the daemon is going away")                             \
    XX(ECLOSED, -5018, "connection closed")                                    \
    XX(EJSON, -5019, "invalid JSON")                                           \
    XX(EPROTO, -5020, "protocol violation by the peer")

enum {
#define ER__ERRNO_ENUM(name, val, s) ER_##name = (val),
    ER_ERRNO_MAP(ER__ERRNO_ENUM)
#undef ER__ERRNO_ENUM
};

/* A short human text for a negated errno or an ER_E* code. Never NULL. */
ER_EXTERN const char *er_strerror(int err);
/* The code's name ("ETRUNC", "ENOMEM", ...). Never NULL. */
ER_EXTERN const char *er_err_name(int err);

/*
 * Details of a refusal: which field and which rule. `index` is the position
 * in a batch (-1 when not applicable). `message` is always NUL-terminated and
 * names the field, e.g. "type: must be 1-128 characters of [A-Za-z0-9_.-]".
 */
typedef struct er_error_s {
    int code;
    int index;
    char message[240];
} er_error_t;

/* ----------------------------------------------------------------- event */

/* A string view: `len` bytes at `ptr`, not necessarily NUL-terminated.
 * ptr == NULL means "absent". */
typedef struct er_str_s {
    const char *ptr;
    size_t len;
} er_str_t;

enum er_priority {
    ER_PRIORITY_LOW = 0,
    ER_PRIORITY_NORMAL = 1,
    ER_PRIORITY_HIGH = 2,
    ER_PRIORITY_CRITICAL = 3,
};

/* Presence bits for the non-string fields of er_event_t (strings are present
 * when their ptr is not NULL). */
enum er_event_has {
    ER_HAS_VERSION = 1u << 0,
    ER_HAS_PRIORITY = 1u << 1,
    ER_HAS_TIME = 1u << 2,
    ER_HAS_SEQ = 1u << 3,
    ER_HAS_RECEIVED = 1u << 4,
    ER_HAS_ORIGIN = 1u << 5,
    ER_HAS_HOPS = 1u << 6,
};

typedef struct er_meta_s {
    er_str_t key;
    er_str_t value;
} er_meta_t;

typedef struct er_origin_s {
    int64_t pid;
    uint32_t uid;
    uint32_t gid;
    er_str_t host;
} er_origin_t;

typedef struct er_via_s {
    er_str_t broker;
    er_str_t source;
    er_str_t plugin;
} er_via_t;

/*
 * An event, as a set of views (DESIGN §3). Zero-initialised means "all
 * absent". The struct owns nothing: every er_str_t points into memory the
 * producer of the struct owns (the decode buffer, the caller's strings).
 *
 * Meta is either an array (`meta`/`meta_count`, used when building) or, in a
 * decoded event, the validated msgpack map bytes (`meta_packed`, with
 * `meta_count` entries); er_meta_next() walks either.
 */
typedef struct er_event_s {
    uint32_t has; /* ER_HAS_* bits */

    er_str_t type;
    uint32_t version;
    er_str_t topic;
    int priority; /* enum er_priority */
    er_str_t id;
    int64_t time; /* µs since the epoch */
    er_str_t stream;
    er_str_t correlation_id;
    er_str_t causation_id;
    er_str_t source;
    er_str_t traceparent;
    er_str_t tracestate;
    er_str_t content_type;
    er_str_t data;
    bool data_is_str; /* data was (or is to be) sent as msgpack str, not bin */
    const er_meta_t *meta;
    size_t meta_count;
    er_str_t meta_packed;

    /* Set by the daemon only. */
    uint64_t seq;
    int64_t received;
    er_origin_t origin;
    er_via_t via;
    uint32_t hops;
} er_event_t;

/* Iterate meta entries: *pos starts at 0. Returns 1 with key/value filled,
 * 0 at the end. Views borrowed from ev's memory. */
ER_EXTERN int er_meta_next(const er_event_t *ev, size_t *pos, er_str_t *key, er_str_t *value);

/* Build an er_str_t from a NUL-terminated string (NULL stays absent). */
ER_EXTERN er_str_t er_str(const char *s);

/* Validation modes. */
enum er_validate_flags {
    ER_VALIDATE_CLIENT = 1u << 0, /* refuse daemon fields and '$' streams */
};

/*
 * Check every rule of DESIGN §3 on ev (borrowed until return). On failure
 * returns the ER_E* code and, when err is not NULL, fills it with the field
 * and the rule. Does not check the encoded size (the codec does).
 */
ER_EXTERN int er_event_validate(const er_event_t *ev, unsigned flags, er_error_t *err);

/* Priority names: "low" "normal" "high" "critical". */
ER_EXTERN const char *er_priority_name(int priority);
/* Returns the priority for a name, or -1. */
ER_EXTERN int er_priority_parse(const char *s, size_t len);

/* Write a UUIDv7 as 36 characters plus NUL into out[37]. Thread-safe;
 * monotonic within a process. */
ER_EXTERN void er_uuid7(char out[37]);

/* Microseconds since the epoch (CLOCK_REALTIME). */
ER_EXTERN int64_t er_now_us(void);

/* ------------------------------------------------------------ JSON shape */

/*
 * The JSON shape of an event (DESIGN §11), one codec for every tool:
 * er_event_to_json() returns a NUL-terminated compact one-line object that
 * the caller frees with free(), or NULL on ENOMEM. `data` is embedded as a
 * JSON value when content_type is JSON (absent, application/json, or ending
 * in +json) and the bytes parse; otherwise it is `data_base64`.
 */
ER_EXTERN char *er_event_to_json(const er_event_t *ev);

/*
 * Parse one JSON object (text borrowed until return) into *ev. Every string
 * of ev points into *storage, which the caller frees with free() (also on
 * failure, where it may be NULL). Unknown keys and wrong types are refused
 * with err naming the key. Daemon fields are read as they are: validate
 * with ER_VALIDATE_CLIENT to refuse them, or drop them with
 * er_event_strip_daemon_fields() for a re-import.
 */
ER_EXTERN int er_event_from_json(const char *text, size_t len, er_event_t *ev, void **storage,
                                 er_error_t *err);

/* Clear seq, received, origin, via and hops (for `publish --reimport`). */
ER_EXTERN void er_event_strip_daemon_fields(er_event_t *ev);

/* ---------------------------------------------------------------- client */

typedef enum er_ack_mode {
    ER_ACK_NONE = 0,
    ER_ACK_RECEIVED = 1,
    ER_ACK_DURABLE = 2,
} er_ack_mode_t;

/* Returns "none" / "received" / "durable"; er_ack_mode_parse returns -1 if unknown. */
ER_EXTERN const char *er_ack_mode_name(er_ack_mode_t mode);
ER_EXTERN int er_ack_mode_parse(const char *s);

/* What the daemon said in WELCOME. */
typedef struct er_welcome_s {
    uint32_t version;
    bool durable;
    uint32_t max_frame;
    uint32_t max_event_size;
    uint32_t max_batch;
    uint32_t max_inflight;
} er_welcome_t;

/* An event of a batch recognised as a duplicate: its index in the request
 * and the seq it was stored under. */
typedef struct er_dup_s {
    uint32_t index;
    uint64_t seq;
} er_dup_t;

/* An ACK: `count` events newly stored with consecutive seqs from `seq`. */
typedef struct er_ack_s {
    uint64_t seq;
    uint32_t count;
    const er_dup_t *dups; /* borrowed until the callback returns */
    size_t ndups;
} er_ack_t;

/* A NACK. `code` is one of the protocol's codes ("invalid", "too_large",
 * "forbidden", "busy", "unavailable", "store_full", "unsupported",
 * "shutting_down", "protocol"); index is -1 and retry_after_ms -1 when absent. */
typedef struct er_nack_s {
    char code[32];
    char message[256];
    int64_t index;
    int64_t retry_after_ms;
} er_nack_t;

typedef struct er_client_s er_client_t;

/*
 * Callbacks of the non-blocking core. All are optional and run inside
 * er_client_process() (or a blocking wrapper), on the caller's thread. The
 * client may be used from inside a callback except for er_client_free().
 * `req` is the request id the answer carries.
 */
typedef struct er_client_cbs_s {
    void (*on_welcome)(er_client_t *c, const er_welcome_t *w, void *ud);
    void (*on_ack)(er_client_t *c, uint32_t req, const er_ack_t *ack, void *ud);
    void (*on_nack)(er_client_t *c, uint32_t req, const er_nack_t *nack, void *ud);
    void (*on_pong)(er_client_t *c, uint32_t req, void *ud);
    void (*on_goaway)(er_client_t *c, const char *reason, void *ud);
} er_client_cbs_t;

/* Poll interest/readiness bits for er_client_events()/er_client_process(). */
enum { ER_POLLIN = 1, ER_POLLOUT = 2 };

/* The socket path a client uses when given NULL: $EVENTROUTER_SOCKET, else
 * ER_DEFAULT_SOCKET. Returns a static or environment string. */
ER_EXTERN const char *er_default_socket(void);

/*
 * Create a client (cbs and ud borrowed for the client's lifetime; cbs may be
 * NULL). Returns NULL on ENOMEM. Free with er_client_free().
 */
ER_EXTERN er_client_t *er_client_new(const er_client_cbs_t *cbs, void *ud);
ER_EXTERN void er_client_free(er_client_t *c);

/*
 * Start connecting to path (borrowed until return; NULL: er_default_socket())
 * and queue HELLO with client_name (borrowed until return) and the ack mode.
 * The fd is non-blocking. Returns 0 or a negative errno (-ENAMETOOLONG for a
 * path longer than sun_path, -ENOENT, -ECONNREFUSED, ...).
 */
ER_EXTERN int er_client_connect(er_client_t *c, const char *path, const char *client_name,
                                er_ack_mode_t ack);

/* The socket fd (-1 if not connected) and the poll events it needs now. */
ER_EXTERN int er_client_fd(const er_client_t *c);
ER_EXTERN unsigned er_client_events(const er_client_t *c);

/*
 * Do the I/O that `revents` (ER_POLLIN|ER_POLLOUT) allows, without blocking:
 * write queued frames, read and dispatch every complete answer. Returns 0, or
 * a negative error once the connection is unusable (ER_ECLOSED,
 * ER_EGOAWAY after GOAWAY and the peer's close, ER_EPROTO, -errno).
 */
ER_EXTERN int er_client_process(er_client_t *c, unsigned revents);

/*
 * Queue a PUBLISH (ev borrowed until return: it is encoded at once). Checks
 * the event (ER_VALIDATE_CLIENT) and its size against WELCOME's limits
 * (before WELCOME: the protocol defaults). *req receives the request id.
 * Returns 0, an ER_E* validation code (err filled), or -ENOBUFS when
 * max_inflight requests are outstanding (process answers first).
 */
ER_EXTERN int er_client_publish_async(er_client_t *c, const er_event_t *ev, uint32_t *req,
                                      er_error_t *err);
/* Same for a batch of n events (evs borrowed until return; n <= max_batch,
 * and the encoded batch must fit in max_frame). */
ER_EXTERN int er_client_publish_batch_async(er_client_t *c, const er_event_t *evs, size_t n,
                                            uint32_t *req, er_error_t *err);
ER_EXTERN int er_client_ping_async(er_client_t *c, uint32_t *req);

/* Requests sent and not yet answered (ack mode none: PUBLISH is answered
 * only by a NACK, so it is not counted). */
ER_EXTERN size_t er_client_inflight(const er_client_t *c);
/* WELCOME as received; NULL before it. */
ER_EXTERN const er_welcome_t *er_client_welcome(const er_client_t *c);

/* ------------------------------------------------------ blocking wrappers */

/*
 * Connect (path as er_client_connect), send HELLO and wait up to timeout_ms
 * (< 0: forever) for WELCOME. On success *out is a connected client, without
 * callbacks, that the caller frees with er_client_free(). For callbacks use
 * er_client_new() + er_client_connect() and wait for er_client_welcome().
 */
ER_EXTERN int er_connect(const char *path, const char *client_name, er_ack_mode_t ack,
                         int timeout_ms, er_client_t **out);

/* Wait up to timeout_ms for I/O and process it. Returns 0 (possibly
 * nothing happened), or the error er_client_process() returned. */
ER_EXTERN int er_client_wait(er_client_t *c, int timeout_ms);

/* Wait until every queued frame is written and every request answered. */
ER_EXTERN int er_client_drain(er_client_t *c, int timeout_ms);

/*
 * Publish one event and wait for its answer. On ACK returns 0 and stores the
 * seq (the original seq for a duplicate); under ack mode none returns 0 once
 * written, seq 0. On NACK returns ER_ENACK and fills *nack (may be NULL).
 * Validation failures return their ER_E* code with *err filled (may be NULL).
 */
ER_EXTERN int er_publish(er_client_t *c, const er_event_t *ev, uint64_t *seq, er_nack_t *nack,
                         er_error_t *err);
/* Same for a batch; *ack is valid until the next call on c. */
ER_EXTERN int er_publish_batch(er_client_t *c, const er_event_t *evs, size_t n, er_ack_t *ack,
                               er_nack_t *nack, er_error_t *err);
/* PING and wait for PONG. */
ER_EXTERN int er_ping(er_client_t *c, int timeout_ms);

/* The admin socket a client uses when given NULL: $EVENTROUTER_ADMIN_SOCKET,
 * else ER_DEFAULT_ADMIN_SOCKET. */
ER_EXTERN const char *er_default_admin_socket(void);

/*
 * Run an admin command (DESIGN §4: stats, health, routes, route, handlers,
 * config, ...) on a client connected to the admin socket, and wait up to
 * timeout_ms (< 0: forever). cmd and args_json (a JSON object, or NULL)
 * are borrowed until return. On REPLY returns 0 and *reply_json is the
 * reply, a compact JSON object the caller frees with free(). On NACK
 * returns ER_ENACK with *nack (may be NULL) filled; ER_EJSON when args_json
 * is not a JSON object.
 */
ER_EXTERN int er_admin(er_client_t *c, const char *cmd, const char *args_json, char **reply_json,
                       er_nack_t *nack, int timeout_ms);

/*
 * A row of er_query: ev (daemon fields included) is borrowed until the
 * callback returns; its strings point into the answer. Return 0 to go on,
 * non-zero to stop: the query is cancelled and the rows still on their way
 * are dropped.
 */
typedef int (*er_row_cb)(void *arg, const er_event_t *ev);

/*
 * Query the store (DESIGN §4 QUERY) on a client connected to the admin
 * socket and wait for the whole result: row(arg, ev) for each matching
 * event, in seq order, then returns 0 with *count (may be NULL) the rows
 * the daemon sent. filter_json (borrowed until return; NULL: every event)
 * is a JSON object with any of stream, correlation_id, type, id (exact
 * matches), since, until (µs since the epoch, on `time`: since <= time <
 * until), from_seq and limit. timeout_ms (< 0: forever) bounds the wait
 * for each answer, not the whole query. Returns ER_ENACK with *nack (may
 * be NULL) filled when the daemon refuses (an unknown key: "invalid"),
 * possibly after some rows; -ECANCELED once the daemon has confirmed the
 * end when row stopped it; ER_EJSON when filter_json is not a JSON object.
 */
ER_EXTERN int er_query(er_client_t *c, const char *filter_json, er_row_cb row, void *arg,
                       uint64_t *count, er_nack_t *nack, int timeout_ms);

/*
 * Follow the store (DESIGN §4 TAIL) on a client connected to the admin
 * socket (or to the publish socket, for a peer an acl rule grants read):
 * row(arg, ev) for each matching event once it is stored, in seq order,
 * from the filter's from_seq (absent: the events stored from now on) —
 * the filter is er_query's. It runs until row returns non-zero (CANCEL is
 * sent; returns -ECANCELED once the daemon has confirmed the end, *count
 * the rows it sent), until the daemon ends it (ER_ENACK with *nack:
 * "busy" when the reader fell more than limits.tail_max_lag behind,
 * "shutting_down"), or until the filter's limit is reached (0). Whenever
 * idle_ms (< 0: never) pass without a row, and after a signal interrupted
 * the wait, row(arg, NULL) is called so that the caller can stop a quiet
 * tail (return non-zero).
 */
ER_EXTERN int er_tail(er_client_t *c, const char *filter_json, er_row_cb row, void *arg,
                      int idle_ms, uint64_t *count, er_nack_t *nack);

#ifdef __cplusplus
}
#endif
#endif /* EVENTROUTER_H */
