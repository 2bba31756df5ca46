/*
 * The wire protocol's messages (eventrouter-protocol(7), DESIGN §4): every
 * frame is one msgpack array [op, request_id, body]. Encoders append whole
 * frames (length prefix included) to an er_buf_t; decoders read a frame's
 * payload with the bounds-checked reader, take views into it, and refuse
 * anything but the exact shape: unknown keys, wrong types, duplicate keys,
 * trailing bytes each have their own error code.
 */
#ifndef ER_PROTO_H
#define ER_PROTO_H

#include "buf.h"
#include "eventrouter.h"
#include "mpread.h"

enum er_op {
    ER_OP_HELLO = 1,
    ER_OP_PUBLISH = 2,
    ER_OP_PUBLISH_BATCH = 3,
    ER_OP_PING = 4,
    ER_OP_QUERY = 5,
    ER_OP_TAIL = 6,
    ER_OP_CANCEL = 7,
    ER_OP_ADMIN = 8,
    ER_OP_WELCOME = 64,
    ER_OP_ACK = 65,
    ER_OP_NACK = 66,
    ER_OP_PONG = 67,
    ER_OP_ROWS = 68,
    ER_OP_END = 69,
    ER_OP_REPLY = 70,
    ER_OP_GOAWAY = 71,
};

/* "HELLO", ... or NULL for an unknown op. */
const char *er__op_name(uint32_t op);

/* Protocol defaults, used by clients before WELCOME and by the daemon's
 * limits (DESIGN §5). */
#define ER_DEFAULT_MAX_FRAME      (1u << 20)
#define ER_DEFAULT_MAX_EVENT_SIZE (512u << 10)
#define ER_DEFAULT_MAX_BATCH      1024u
#define ER_DEFAULT_MAX_INFLIGHT   4096u
/* Bytes a frame adds around one event: length, array header, op, request
 * id, batch header. max_frame must be >= max_event_size + this. */
#define ER_FRAME_OVERHEAD 32u

/* Lengths the protocol bounds. */
#define ER_MAX_CLIENT_NAME 255u
#define ER_MAX_NACK_MESSAGE 1024u

/* A decoded frame header: op, request id, and the body's bytes (views into
 * the frame payload). */
typedef struct er_msg_s {
    uint32_t op;
    uint32_t req;
    const uint8_t *body;
    size_t body_len;
} er_msg_t;

/*
 * Parse [op, request_id, body]. Checks the array of exactly 3, op a known
 * uint (ER_EBADOP otherwise, with m->op and m->req still set when they were
 * readable), request_id a uint32. The body is not checked here: every body
 * decoder below must consume it exactly (ER_ETRAILING otherwise).
 */
int er__msg_parse(const uint8_t *p, size_t n, er_msg_t *m, er_error_t *err);

/* ---- events */

/*
 * Read one event map from r into ev (views into r's buffer). Enforces every
 * §3 rule (er_event_validate with `flags`), that every key is known (except
 * inside meta), has the right type and appears once, and that the encoded
 * map is at most max_event_size bytes (ER_ETOOBIG).
 */
int er__event_read(er_mp_reader_t *r, er_event_t *ev, unsigned flags, size_t max_event_size,
                   er_error_t *err);
/* Append the event map (all present fields, daemon fields included). */
int er__event_pack(er_buf_t *b, const er_event_t *ev);

/* ---- bodies */

typedef struct er_hello_s {
    uint32_t version;
    er_str_t client;
    er_ack_mode_t ack;
} er_hello_t;

int er__hello_decode(const er_msg_t *m, er_hello_t *h, er_error_t *err);
int er__hello_encode(er_buf_t *b, uint32_t req, const char *client, er_ack_mode_t ack);

int er__welcome_decode(const er_msg_t *m, er_welcome_t *w, er_error_t *err);
int er__welcome_encode(er_buf_t *b, const er_welcome_t *w);

/* PUBLISH: the body is one event map. */
int er__publish_encode(er_buf_t *b, uint32_t req, const er_event_t *ev);
/* PUBLISH_BATCH: the body is an array of event maps. begin reads the array
 * header (count in *n, refused above max_batch with ER_ETOOBIG and 0 with
 * ER_ERULE) and leaves r at the first event: read each with er__event_read,
 * then er__batch_end checks nothing follows. */
int er__batch_encode(er_buf_t *b, uint32_t req, const er_event_t *evs, size_t n);
int er__batch_begin(const er_msg_t *m, er_mp_reader_t *r, uint32_t *n, size_t max_batch,
                    er_error_t *err);
int er__batch_end(const er_mp_reader_t *r, er_error_t *err);

/* ACK: dups may be NULL with ndups 0 (encoded as nil). decode stores at most
 * dups_cap duplicates in dups and the total in ack->ndups; ack->dups = dups. */
int er__ack_encode(er_buf_t *b, uint32_t req, uint64_t seq, uint32_t count, const er_dup_t *dups,
                   size_t ndups);
int er__ack_decode(const er_msg_t *m, er_ack_t *ack, er_dup_t *dups, size_t dups_cap,
                   er_error_t *err);

/* NACK: index/retry_after_ms < 0 are encoded as nil. message is cut at
 * ER_MAX_NACK_MESSAGE bytes. */
int er__nack_encode(er_buf_t *b, uint32_t req, const char *code, const char *message,
                    int64_t index, int64_t retry_after_ms);
int er__nack_decode(const er_msg_t *m, er_nack_t *nack, er_error_t *err);

/* Bodies that are nil: PING, PONG, CANCEL. */
int er__nil_encode(er_buf_t *b, uint32_t op, uint32_t req);
int er__nil_decode(const er_msg_t *m, er_error_t *err);

int er__goaway_encode(er_buf_t *b, const char *reason);
/* reason copied (NUL-terminated, cut to cap-1 bytes) into out[cap]. */
int er__goaway_decode(const er_msg_t *m, char *out, size_t cap, er_error_t *err);

/* ADMIN {cmd: str, args: map} (admin socket). args may be NULL (sent as an
 * empty map). decode: *cmd is a view into the frame; *args a new
 * reference (an empty object when absent). */
struct json_t;
int er__admin_encode(er_buf_t *b, uint32_t req, const char *cmd, const struct json_t *args);
int er__admin_decode(const er_msg_t *m, er_str_t *cmd, struct json_t **args, er_error_t *err);
/* REPLY: a map, the admin command's result. decode: a new reference. */
int er__reply_encode(er_buf_t *b, uint32_t req, const struct json_t *reply);
int er__reply_decode(const er_msg_t *m, struct json_t **reply, er_error_t *err);

#define ER_MAX_ADMIN_CMD 64u

/* QUERY and TAIL: a filter map (DESIGN §4, eventctl query's flags as
 * keys). Every key is optional; absent means "not filtering on it".
 * Strings are views into the frame (len 0: absent). */
typedef struct er_query_s {
    const char *op; /* "QUERY" or "TAIL", for messages */
    er_str_t stream;
    er_str_t correlation_id;
    er_str_t type;
    er_str_t id;
    int64_t since_us;  /* time >= since (0: no bound) */
    int64_t until_us;  /* time < until (0: no bound) */
    uint64_t from_seq; /* seq >= from_seq (0: no bound) */
    uint64_t limit;    /* at most this many rows (0: no limit) */
} er_query_t;

/* Longest filter string accepted (the longest the event allows, stream). */
#define ER_MAX_QUERY_STR 255u

/* encode: op (ER_OP_QUERY or ER_OP_TAIL) with the filter as a JSON object
 * (borrowed until return; NULL: an empty map), packed as it is: the daemon
 * checks it. decode refuses unknown
 * keys (ER_EUNKNOWNKEY naming the key), wrong types, empty or over-long
 * strings and negative numbers. */
int er__query_encode(er_buf_t *b, uint8_t op, uint32_t req, const struct json_t *filter);
int er__query_decode(const er_msg_t *m, er_query_t *q, er_error_t *err);

/* ROWS: an array of n event maps, `rows` being their encodings one after
 * the other (as er__event_pack writes them). The client reads them with
 * er__rows_begin (count in *n, r left at the first event), er__event_read
 * each, then er__rows_end. */
int er__rows_encode(er_buf_t *b, uint32_t req, const uint8_t *rows, size_t len, uint32_t n);
int er__rows_begin(const er_msg_t *m, er_mp_reader_t *r, uint32_t *n, er_error_t *err);
int er__rows_end(const er_mp_reader_t *r, er_error_t *err);
/* Bytes a ROWS frame adds around its events (length, headers). */
#define ER_ROWS_OVERHEAD 16u

/* END {count}: the rows a streaming request sent. */
int er__end_encode(er_buf_t *b, uint32_t req, uint64_t count);
int er__end_decode(const er_msg_t *m, uint64_t *count, er_error_t *err);

/* Fill err (if not NULL) with code, index and a printf-style message.
 * Returns code. */
int er__error_set(er_error_t *err, int code, int index, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A peer's bytes (p, n), e.g. an unknown key, made fit for a message:
 * ASCII outside 0x20-0x7e, '"', '\\' and every non-ASCII byte written as
 * \xNN, cut with "..." to fit out[cap] (cap >= 8). Returns out, always
 * NUL-terminated valid UTF-8, so a NACK never carries invalid text. */
const char *er__printable(const char *p, size_t n, char *out, size_t cap);

/* The NACK code ("invalid", "too_large", "protocol", ...) a decode error
 * maps to. */
const char *er__nack_code_for(int err);

#endif
