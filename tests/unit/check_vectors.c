/*
 * The protocol test vectors (the JSON files in tests/vectors, format in
 * tests/vectors/README.md) checked against the C codec. For every vector:
 *
 *  - the bytes go through the framer, the frame header parser and the
 *    body decoder of the op, the way the daemon (to_daemon) or a client
 *    (to_client) reads them;
 *  - a vector with a decoded meaning must decode to exactly it: the body's
 *    msgpack matches the typed JSON value by value, type and key order, and
 *    the op's decoder yields the same fields;
 *  - a canonical vector must be produced byte for byte by the C encoder;
 *  - an error vector must fail at the stated stage with the stated class,
 *    its message naming the field (and the batch index when given);
 *  - the daemon outcome it carries must follow the rules of
 *    eventrouter-protocol(7) for that result (the integration tests check
 *    the real daemon against the same outcome over its socket).
 *
 * Vectors come from $ER_SRCDIR/tests/vectors, else a relative path. Every
 * problem found is reported (vector by vector) before the test fails.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "eventrouter.h"
#include "frame.h"
#include "mpread.h"
#include "proto.h"

#define MAX_FILES 32

static char vector_dir[4096];
static char *files[MAX_FILES];
static int nfiles;

/* ------------------------------------------------------------ reporting */

typedef struct ctx_s {
    const char *file;
    const char *name;
    size_t max_frame, max_event_size, max_batch;
    int failures;
    /* What was checked, printed per file. */
    unsigned vectors, decoded, encoded, errors, no_encoder;
} ctx_t;

static int report(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int report(ctx_t *c, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: %s: ", c->file, c->name ? c->name : "(file)");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    c->failures++;
    return -1;
}

/* ---------------------------------------------------------- JSON access */

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A typed-JSON special value {"$tag": "..."}: returns its text or NULL. */
static const char *special(json_t *j, const char *tag)
{
    json_t *v;
    if (!json_is_object(j) || json_object_size(j) != 1)
        return NULL;
    v = json_object_get(j, tag);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool j_u64(json_t *j, uint64_t *out)
{
    const char *s = special(j, "$uint");
    char *end;

    if (json_is_integer(j) && json_integer_value(j) >= 0) {
        *out = (uint64_t)json_integer_value(j);
        return true;
    }
    if (s == NULL)
        return false;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno == 0 && *end == '\0' && end != s;
}

static bool j_i64(json_t *j, int64_t *out)
{
    const char *s = special(j, "$int");
    uint64_t u;
    char *end;

    if (json_is_integer(j)) {
        *out = json_integer_value(j);
        return true;
    }
    if (j_u64(j, &u) && u <= INT64_MAX) {
        *out = (int64_t)u;
        return true;
    }
    if (s == NULL)
        return false;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return errno == 0 && *end == '\0' && end != s;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Lowercase hex to a new exact-size block; NULL (and *n 0) for "". */
static uint8_t *unhex(const char *s, size_t *n, bool *ok)
{
    size_t len = strlen(s), i;
    uint8_t *p;

    *n = 0;
    *ok = len % 2 == 0;
    if (!*ok || len == 0)
        return NULL;
    p = malloc(len / 2);
    ck_assert(p != NULL);
    for (i = 0; i < len / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            *ok = false;
            free(p);
            return NULL;
        }
        p[i] = (uint8_t)(hi << 4 | lo);
    }
    *n = len / 2;
    return p;
}

/* ------------------------------------------- msgpack vs typed JSON */

static bool view_eq_json(const char *p, size_t n, json_t *j)
{
    return json_is_string(j) && json_string_length(j) == n &&
           (n == 0 || memcmp(json_string_value(j), p, n) == 0);
}

static bool bin_eq_hex(const char *p, size_t n, const char *hex)
{
    size_t len;
    bool ok, eq;
    uint8_t *b = unhex(hex, &len, &ok);

    eq = ok && len == n && (n == 0 || memcmp(b, p, n) == 0);
    free(b);
    return eq;
}

/* Does the msgpack object at r equal the typed JSON value j, by type, value
 * and (for maps) key order? Advances r past it. */
static bool mp_json_eq(er_mp_reader_t *r, json_t *j, int depth)
{
    er_mp_obj_t o;
    const char *s;
    uint64_t u;
    int64_t i;
    size_t k;

    if (depth > 16 || er__mp_next(r, &o) != 0)
        return false;
    if (json_is_null(j))
        return o.type == ER_MP_NIL;
    if (json_is_boolean(j))
        return o.type == ER_MP_BOOL && o.v.b == json_is_true(j);
    if ((s = special(j, "$bin")) != NULL)
        return o.type == ER_MP_BIN && bin_eq_hex(o.v.s.ptr, o.v.s.len, s);
    if (special(j, "$uint") || (json_is_integer(j) && json_integer_value(j) >= 0))
        return o.type == ER_MP_UINT && j_u64(j, &u) && o.v.u == u;
    if (special(j, "$int") || json_is_integer(j))
        return o.type == ER_MP_INT && j_i64(j, &i) && o.v.i == i;
    if (json_is_string(j))
        return o.type == ER_MP_STR && view_eq_json(o.v.s.ptr, o.v.s.len, j);
    if (json_is_array(j)) {
        if (o.type != ER_MP_ARRAY || o.v.n != json_array_size(j))
            return false;
        for (k = 0; k < json_array_size(j); k++)
            if (!mp_json_eq(r, json_array_get(j, k), depth + 1))
                return false;
        return true;
    }
    if (json_is_object(j)) {
        const char *key;
        json_t *v;
        if (o.type != ER_MP_MAP || o.v.n != json_object_size(j))
            return false;
        json_object_foreach(j, key, v)
        {
            er_mp_obj_t ko;
            if (er__mp_next(r, &ko) != 0 || ko.type != ER_MP_STR ||
                !er__mp_str_eq(ko.v.s.ptr, ko.v.s.len, key))
                return false;
            if (!mp_json_eq(r, v, depth + 1))
                return false;
        }
        return true;
    }
    return false; /* reals are not used in vectors */
}

/* ------------------------------------------------- events from/to JSON */

/* Storage owned by an event built from JSON. */
typedef struct built_s {
    er_event_t ev;
    er_meta_t *meta;
    uint8_t *data;
} built_t;

static void built_free(built_t *b)
{
    free(b->meta);
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static er_str_t jview(json_t *j)
{
    er_str_t s = {json_string_value(j), json_string_length(j)};
    return s;
}

static er_str_t *str_field(er_event_t *ev, const char *key)
{
    static const char *const names[] = {"type",           "topic",        "id",     "stream",
                                        "correlation_id", "causation_id", "source", "traceparent",
                                        "tracestate",     "content_type"};
    er_str_t *slots[] = {&ev->type,           &ev->topic,        &ev->id,     &ev->stream,
                         &ev->correlation_id, &ev->causation_id, &ev->source, &ev->traceparent,
                         &ev->tracestate,     &ev->content_type};
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(key, names[i]) == 0)
            return slots[i];
    return NULL;
}

/* Build the event a JSON object describes (client fields only: vectors
 * sent by clients never carry daemon fields in a valid event). */
static int event_fill(ctx_t *c, json_t *o, built_t *b)
{
    const char *key;
    json_t *v;

    memset(b, 0, sizeof(*b));
    if (!json_is_object(o))
        return report(c, "event is not an object");
    json_object_foreach(o, key, v)
    {
        er_str_t *slot = str_field(&b->ev, key);
        uint64_t u;
        int64_t i;

        if (slot != NULL) {
            if (!json_is_string(v))
                return report(c, "event.%s: not a string", key);
            *slot = jview(v);
        } else if (strcmp(key, "version") == 0 && j_u64(v, &u) && u <= UINT32_MAX) {
            b->ev.version = (uint32_t)u;
            b->ev.has |= ER_HAS_VERSION;
        } else if (strcmp(key, "priority") == 0) {
            int p = json_is_string(v)
                        ? er_priority_parse(json_string_value(v), json_string_length(v))
                    : json_is_integer(v) ? (int)json_integer_value(v)
                                         : -1;
            b->ev.priority = p;
            b->ev.has |= ER_HAS_PRIORITY;
        } else if (strcmp(key, "time") == 0 && j_i64(v, &i)) {
            b->ev.time = i;
            b->ev.has |= ER_HAS_TIME;
        } else if (strcmp(key, "data") == 0) {
            const char *hex = special(v, "$bin");
            if (hex) {
                size_t n;
                bool ok;
                b->data = unhex(hex, &n, &ok);
                if (!ok)
                    return report(c, "event.data: bad $bin");
                b->ev.data.ptr = b->data ? (const char *)b->data : "";
                b->ev.data.len = n;
            } else if (json_is_string(v)) {
                b->ev.data = jview(v);
                b->ev.data_is_str = true;
            } else {
                return report(c, "event.data: neither $bin nor a string");
            }
        } else if (strcmp(key, "meta") == 0 && json_is_object(v)) {
            const char *mk;
            json_t *mv;
            size_t n = 0;
            b->meta = calloc(json_object_size(v) + 1, sizeof(*b->meta));
            ck_assert(b->meta != NULL);
            json_object_foreach(v, mk, mv)
            {
                if (!json_is_string(mv))
                    return report(c, "event.meta.%s: not a string", mk);
                b->meta[n].key = er_str(mk);
                b->meta[n].value = jview(mv);
                n++;
            }
            b->ev.meta = b->meta;
            b->ev.meta_count = n;
        } else {
            return report(c, "event.%s: not understood by this checker", key);
        }
    }
    return 0;
}

/* event_fill, releasing what it allocated when it fails. */
static int event_from_json(ctx_t *c, json_t *o, built_t *b)
{
    int rc = event_fill(c, o, b);
    if (rc != 0)
        built_free(b);
    return rc;
}

/* The decoded event must hold exactly what the JSON object says. */
static int event_matches(ctx_t *c, const er_event_t *ev, json_t *o, int index)
{
    built_t want;
    size_t pa = 0, pb = 0;
    er_str_t ka, va, kb, vb;
    size_t i;
    static const char *const names[] = {"type",           "topic",        "id",     "stream",
                                        "correlation_id", "causation_id", "source", "traceparent",
                                        "tracestate",     "content_type"};

    if (event_from_json(c, o, &want) != 0)
        return -1;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        er_str_t a = *str_field((er_event_t *)ev, names[i]);
        er_str_t b = *str_field(&want.ev, names[i]);
        if ((a.ptr == NULL) != (b.ptr == NULL) ||
            (a.ptr && (a.len != b.len || memcmp(a.ptr, b.ptr, a.len) != 0))) {
            built_free(&want);
            return report(c, "event %d: %s differs", index, names[i]);
        }
    }
    if (ev->has != want.ev.has) {
        built_free(&want);
        return report(c, "event %d: presence bits 0x%x, expected 0x%x", index, ev->has,
                      want.ev.has);
    }
    if (((ev->has & ER_HAS_VERSION) && ev->version != want.ev.version) ||
        ((ev->has & ER_HAS_PRIORITY) && ev->priority != want.ev.priority) ||
        ((ev->has & ER_HAS_TIME) && ev->time != want.ev.time)) {
        built_free(&want);
        return report(c, "event %d: version, priority or time differs", index);
    }
    if ((ev->data.ptr == NULL) != (want.ev.data.ptr == NULL) ||
        (ev->data.ptr &&
         (ev->data.len != want.ev.data.len || ev->data_is_str != want.ev.data_is_str ||
          memcmp(ev->data.ptr, want.ev.data.ptr, ev->data.len) != 0))) {
        built_free(&want);
        return report(c, "event %d: data differs", index);
    }
    if (ev->meta_count != want.ev.meta_count) {
        built_free(&want);
        return report(c, "event %d: %zu meta entries, expected %zu", index, ev->meta_count,
                      want.ev.meta_count);
    }
    while (er_meta_next(ev, &pa, &ka, &va)) {
        if (!er_meta_next(&want.ev, &pb, &kb, &vb) || ka.len != kb.len || va.len != vb.len ||
            memcmp(ka.ptr, kb.ptr, ka.len) != 0 || memcmp(va.ptr, vb.ptr, va.len) != 0) {
            built_free(&want);
            return report(c, "event %d: meta entry %zu differs", index, pa - 1);
        }
    }
    if (ev->via.broker.ptr || ev->via.source.ptr || ev->via.plugin.ptr) {
        built_free(&want);
        return report(c, "event %d: unexpected via", index);
    }
    built_free(&want);
    return 0;
}

/* ------------------------------------------------------------- decoding */

/* What decoding the body produced. */
typedef struct result_s {
    int rc;
    er_error_t err;
    int index;        /* batch: the event that failed */
    bool has_decoder; /* the C codec has a decoder for this op/direction */
    uint32_t nevents; /* batch size read */
} result_t;

/* Decode the body with the codec's decoder for op, as its receiver does,
 * and (when want_body is not NULL and decoding succeeded) compare fields. */
static int decode_body(ctx_t *c, const char *direction, const er_msg_t *m, json_t *want_body,
                       result_t *res)
{
    bool to_daemon = strcmp(direction, "to_daemon") == 0;
    er_error_t *err = &res->err;

    memset(res, 0, sizeof(*res));
    res->index = -1;
    res->has_decoder = true;
    err->message[0] = '\0';

    if (to_daemon && m->op == ER_OP_HELLO) {
        er_hello_t h;
        uint64_t u;
        json_t *v;
        res->rc = er__hello_decode(m, &h, err);
        if (res->rc != 0 || want_body == NULL)
            return 0;
        if (!j_u64(json_object_get(want_body, "version"), &u) || h.version != u)
            return report(c, "HELLO.version differs");
        v = json_object_get(want_body, "client");
        if (v ? !(h.client.ptr && view_eq_json(h.client.ptr, h.client.len, v))
              : h.client.ptr != NULL)
            return report(c, "HELLO.client differs");
        v = json_object_get(want_body, "ack");
        if ((int)h.ack != (v ? er_ack_mode_parse(json_string_value(v)) : ER_ACK_RECEIVED))
            return report(c, "HELLO.ack differs");
        return 0;
    }
    if (to_daemon && m->op == ER_OP_PUBLISH) {
        er_mp_reader_t r;
        er_event_t ev;
        er__mp_init(&r, m->body, m->body_len);
        res->rc = er__event_read(&r, &ev, ER_VALIDATE_CLIENT, c->max_event_size, err);
        if (res->rc == 0 && er__mp_left(&r) != 0)
            res->rc = er__error_set(err, ER_ETRAILING, -1, "PUBLISH: trailing bytes");
        if (res->rc != 0 || want_body == NULL)
            return 0;
        return event_matches(c, &ev, want_body, 0);
    }
    if (to_daemon && m->op == ER_OP_PUBLISH_BATCH) {
        er_mp_reader_t r;
        er_event_t *evs;
        uint32_t n, i;
        int rc = 0;

        res->rc = er__batch_begin(m, &r, &n, c->max_batch, err);
        if (res->rc != 0)
            return 0;
        res->nevents = n;
        evs = calloc(n, sizeof(*evs));
        ck_assert(evs != NULL);
        for (i = 0; i < n && res->rc == 0; i++) {
            res->rc = er__event_read(&r, &evs[i], ER_VALIDATE_CLIENT, c->max_event_size, err);
            if (res->rc != 0)
                res->index = (int)i;
        }
        if (res->rc == 0)
            res->rc = er__batch_end(&r, err);
        if (res->rc == 0 && want_body != NULL) {
            if (json_array_size(want_body) != n)
                rc = report(c, "batch of %u events, expected %zu", n, json_array_size(want_body));
            for (i = 0; rc == 0 && i < n; i++)
                rc = event_matches(c, &evs[i], json_array_get(want_body, i), (int)i);
        }
        free(evs);
        return rc;
    }
    if ((to_daemon && (m->op == ER_OP_PING || m->op == ER_OP_CANCEL)) ||
        (!to_daemon && m->op == ER_OP_PONG)) {
        res->rc = er__nil_decode(m, err);
        return 0;
    }
    if (!to_daemon && m->op == ER_OP_WELCOME) {
        er_welcome_t w;
        json_t *lim;
        static const char *const keys[] = {"max_frame", "max_event_size", "max_batch",
                                           "max_inflight"};
        static const uint32_t defaults[] = {ER_DEFAULT_MAX_FRAME, ER_DEFAULT_MAX_EVENT_SIZE,
                                            ER_DEFAULT_MAX_BATCH, ER_DEFAULT_MAX_INFLIGHT};
        uint32_t got[4];
        size_t i;
        uint64_t u;

        res->rc = er__welcome_decode(m, &w, err);
        if (res->rc != 0 || want_body == NULL)
            return 0;
        got[0] = w.max_frame;
        got[1] = w.max_event_size;
        got[2] = w.max_batch;
        got[3] = w.max_inflight;
        if (!j_u64(json_object_get(want_body, "version"), &u) || w.version != u)
            return report(c, "WELCOME.version differs");
        if (w.durable != json_is_true(json_object_get(want_body, "durable")))
            return report(c, "WELCOME.durable differs");
        lim = json_object_get(want_body, "limits");
        for (i = 0; i < 4; i++) {
            json_t *v = lim ? json_object_get(lim, keys[i]) : NULL;
            if (v ? !j_u64(v, &u) || got[i] != u : got[i] != defaults[i])
                return report(c, "WELCOME.limits.%s differs", keys[i]);
        }
        return 0;
    }
    if (!to_daemon && m->op == ER_OP_ACK) {
        er_ack_t a;
        er_dup_t dups[64];
        json_t *jd;
        uint64_t u;
        size_t i;

        res->rc = er__ack_decode(m, &a, dups, 64, err);
        if (res->rc != 0 || want_body == NULL)
            return 0;
        if (!j_u64(json_object_get(want_body, "seq"), &u) || a.seq != u)
            return report(c, "ACK.seq differs");
        if (!j_u64(json_object_get(want_body, "count"), &u) || a.count != u)
            return report(c, "ACK.count differs");
        jd = json_object_get(want_body, "dups");
        if (a.ndups != (json_is_array(jd) ? json_array_size(jd) : 0) ||
            a.ndups > sizeof(dups) / sizeof(dups[0]))
            return report(c, "ACK: %zu dups", a.ndups);
        for (i = 0; i < a.ndups; i++) {
            uint64_t idx, seq;
            json_t *pair = json_array_get(jd, i);
            if (!j_u64(json_array_get(pair, 0), &idx) || !j_u64(json_array_get(pair, 1), &seq) ||
                dups[i].index != idx || dups[i].seq != seq)
                return report(c, "ACK.dups[%zu] differs", i);
        }
        return 0;
    }
    if (!to_daemon && m->op == ER_OP_NACK) {
        er_nack_t nk;
        json_t *v;
        int64_t i;

        res->rc = er__nack_decode(m, &nk, err);
        if (res->rc != 0 || want_body == NULL)
            return 0;
        v = json_object_get(want_body, "code");
        if (strcmp(nk.code, v ? json_string_value(v) : "") != 0)
            return report(c, "NACK.code differs");
        v = json_object_get(want_body, "message");
        if (strcmp(nk.message, v ? json_string_value(v) : "") != 0)
            return report(c, "NACK.message differs");
        v = json_object_get(want_body, "index");
        if (v && !json_is_null(v) ? !j_i64(v, &i) || nk.index != i : nk.index != -1)
            return report(c, "NACK.index differs");
        v = json_object_get(want_body, "retry_after_ms");
        if (v && !json_is_null(v) ? !j_i64(v, &i) || nk.retry_after_ms != i
                                  : nk.retry_after_ms != -1)
            return report(c, "NACK.retry_after_ms differs");
        return 0;
    }
    if (!to_daemon && m->op == ER_OP_GOAWAY) {
        char reason[1100];
        json_t *v;
        res->rc = er__goaway_decode(m, reason, sizeof(reason), err);
        if (res->rc != 0 || want_body == NULL)
            return 0;
        v = json_object_get(want_body, "reason");
        if (strcmp(reason, v ? json_string_value(v) : "") != 0)
            return report(c, "GOAWAY.reason differs");
        return 0;
    }
    /* QUERY, TAIL, ADMIN (not served on the publish socket), ops sent the wrong way: the
     * body is one msgpack value, nothing more is decoded. */
    res->has_decoder = false;
    {
        er_mp_reader_t r;
        er__mp_init(&r, m->body, m->body_len);
        res->rc = er__mp_skip(&r, ER_MP_MAX_DEPTH);
        if (res->rc == 0 && er__mp_left(&r) != 0)
            res->rc = ER_ETRAILING;
    }
    return 0;
}

/* ------------------------------------------------------------- encoding */

/* Encode the frame's meaning with the C encoder. Returns 1 when encoded
 * into b, 0 when the codec has no encoder for it, -1 on failure. */
static int encode_frame(ctx_t *c, const char *direction, json_t *frame, er_buf_t *b)
{
    bool to_daemon = strcmp(direction, "to_daemon") == 0;
    json_t *body = json_object_get(frame, "body");
    uint32_t op = (uint32_t)json_integer_value(json_object_get(frame, "op"));
    uint32_t req = (uint32_t)json_integer_value(json_object_get(frame, "request_id"));
    int rc = -1;

    if (to_daemon && op == ER_OP_HELLO) {
        const char *client = jstr(body, "client"), *ack = jstr(body, "ack");
        if (json_integer_value(json_object_get(body, "version")) != ER_PROTOCOL_VERSION)
            return 0; /* the encoder speaks this version only */
        if (ack == NULL)
            return report(c, "a canonical HELLO has ack");
        rc = er__hello_encode(b, req, client, (er_ack_mode_t)er_ack_mode_parse(ack));
    } else if (to_daemon && op == ER_OP_PUBLISH) {
        built_t ev;
        if (event_from_json(c, body, &ev) != 0)
            return -1;
        rc = er__publish_encode(b, req, &ev.ev);
        built_free(&ev);
    } else if (to_daemon && op == ER_OP_PUBLISH_BATCH) {
        size_t n = json_array_size(body), i;
        built_t *evs = calloc(n + 1, sizeof(*evs));
        er_event_t *plain = calloc(n + 1, sizeof(*plain));
        ck_assert(evs != NULL && plain != NULL);
        rc = 0;
        for (i = 0; i < n && rc == 0; i++) {
            rc = event_from_json(c, json_array_get(body, i), &evs[i]);
            plain[i] = evs[i].ev;
        }
        if (rc == 0)
            rc = er__batch_encode(b, req, plain, n);
        for (i = 0; i < n; i++)
            built_free(&evs[i]);
        free(evs);
        free(plain);
    } else if ((to_daemon && (op == ER_OP_PING || op == ER_OP_CANCEL)) ||
               (!to_daemon && op == ER_OP_PONG)) {
        rc = er__nil_encode(b, op, req);
    } else if (!to_daemon && op == ER_OP_WELCOME) {
        er_welcome_t w;
        json_t *lim = json_object_get(body, "limits");
        w.version = (uint32_t)json_integer_value(json_object_get(body, "version"));
        w.durable = json_is_true(json_object_get(body, "durable"));
        w.max_frame = (uint32_t)json_integer_value(json_object_get(lim, "max_frame"));
        w.max_event_size = (uint32_t)json_integer_value(json_object_get(lim, "max_event_size"));
        w.max_batch = (uint32_t)json_integer_value(json_object_get(lim, "max_batch"));
        w.max_inflight = (uint32_t)json_integer_value(json_object_get(lim, "max_inflight"));
        if (req != 0)
            return report(c, "WELCOME carries request id 0");
        rc = er__welcome_encode(b, &w);
    } else if (!to_daemon && op == ER_OP_ACK) {
        json_t *jd = json_object_get(body, "dups");
        size_t n = json_is_array(jd) ? json_array_size(jd) : 0, i;
        er_dup_t *dups = calloc(n + 1, sizeof(*dups));
        uint64_t seq = 0, count = 0, u;
        ck_assert(dups != NULL);
        j_u64(json_object_get(body, "seq"), &seq);
        j_u64(json_object_get(body, "count"), &count);
        for (i = 0; i < n; i++) {
            json_t *pair = json_array_get(jd, i);
            j_u64(json_array_get(pair, 0), &u);
            dups[i].index = (uint32_t)u;
            j_u64(json_array_get(pair, 1), &dups[i].seq);
        }
        rc = er__ack_encode(b, req, seq, (uint32_t)count, dups, n);
        free(dups);
    } else if (!to_daemon && op == ER_OP_NACK) {
        int64_t index = -1, retry = -1;
        j_i64(json_object_get(body, "index"), &index);
        j_i64(json_object_get(body, "retry_after_ms"), &retry);
        rc = er__nack_encode(b, req, jstr(body, "code"), jstr(body, "message"), index, retry);
    } else if (!to_daemon && op == ER_OP_GOAWAY) {
        if (req != 0)
            return report(c, "GOAWAY carries request id 0");
        rc = er__goaway_encode(b, jstr(body, "reason"));
    } else {
        return 0;
    }
    if (rc != 0)
        return report(c, "encoder failed: %s", er_strerror(rc));
    return 1;
}

/* ------------------------------------------------------- daemon outcome */

static bool is_framing_class(int rc)
{
    return rc == ER_ETRUNC || rc == ER_ETRAILING || rc == ER_EFRAME || rc == ER_EBADOP;
}

/* The outcome eventrouter-protocol(7) prescribes, compared with the
 * vector's "daemon" object. */
static int check_daemon(ctx_t *c, json_t *v, const er_msg_t *m, int stage_rc, const char *stage,
                        const result_t *res)
{
    json_t *d = json_object_get(v, "daemon");
    const char *session = jstr(v, "session"), *then = jstr(v, "then");
    const char *answer = NULL, *code = NULL;
    int64_t req = 0, index = -1;
    bool close = false;
    uint32_t count = 0;
    json_t *x;

    if (!json_is_object(d))
        return report(c, "to_daemon vector without \"daemon\"");
    if (stage && strcmp(stage, "framer") == 0) {
        if (stage_rc == ER_ETRUNC) {
            if (then && strcmp(then, "wait") == 0)
                answer = "NACK", code = "protocol", close = true;
            else if (then && strcmp(then, "eof") == 0)
                close = true;
            else
                return report(c, "an incomplete frame needs \"then\": \"eof\" or \"wait\"");
        } else {
            answer = "NACK", close = true;
            code = stage_rc == ER_ETOOBIG ? "too_large" : "protocol";
        }
    } else if (stage && strcmp(stage, "header") == 0) {
        answer = "NACK", code = "protocol", close = true;
    } else if (strcmp(session, "new") == 0 && m->op != ER_OP_HELLO) {
        answer = "NACK", code = "protocol", close = true;
    } else if (stage) { /* body */
        answer = "NACK";
        if (is_framing_class(res->rc)) {
            code = "protocol", close = true;
        } else if (m->op == ER_OP_HELLO) {
            code = "invalid", close = true;
        } else {
            code = er__nack_code_for(res->rc);
            req = m->req;
            index = res->index;
        }
    } else if (m->op == ER_OP_HELLO) {
        if (strcmp(session, "ready") == 0)
            answer = "NACK", code = "protocol", req = m->req;
        else if (json_integer_value(json_object_get(
                     json_object_get(json_object_get(v, "frame"), "body"), "version")) !=
                 ER_PROTOCOL_VERSION)
            answer = "NACK", code = "unsupported", close = true;
        else
            answer = "WELCOME";
    } else {
        req = m->req;
        switch (m->op) {
        case ER_OP_PUBLISH:
            answer = "ACK", count = 1;
            break;
        case ER_OP_PUBLISH_BATCH:
            answer = "ACK", count = res->nevents;
            break;
        case ER_OP_PING:
            answer = "PONG";
            break;
        case ER_OP_QUERY: /* the vectors are for the publish socket, no acl */
        case ER_OP_TAIL:
        case ER_OP_CANCEL:
        case ER_OP_ADMIN:
            answer = "NACK", code = "forbidden";
            break;
        default:
            answer = "NACK", code = "protocol", close = true, req = 0;
            break;
        }
    }

    x = json_object_get(d, "answer");
    if (answer ? !json_is_string(x) || strcmp(json_string_value(x), answer) != 0 : !json_is_null(x))
        return report(c, "daemon.answer: expected %s", answer ? answer : "null");
    if (json_is_true(json_object_get(d, "close")) != close)
        return report(c, "daemon.close: expected %s", close ? "true" : "false");
    if (answer == NULL)
        return 0;
    if (json_integer_value(json_object_get(d, "request_id")) != req)
        return report(c, "daemon.request_id: expected %" PRId64, req);
    if (code && (!jstr(d, "code") || strcmp(jstr(d, "code"), code) != 0))
        return report(c, "daemon.code: expected %s", code);
    if (code) {
        x = json_object_get(d, "index");
        if (index >= 0 ? json_integer_value(x) != index || !json_is_integer(x) : !json_is_null(x))
            return report(c, "daemon.index: expected %" PRId64, index);
    }
    if (strcmp(answer, "ACK") == 0 &&
        json_integer_value(json_object_get(d, "count")) != (json_int_t)count)
        return report(c, "daemon.count: expected %u", count);
    /* A message the codec produced must contain the expected words. */
    if (code && jstr(d, "message") && stage && strcmp(stage, "framer") != 0 &&
        strstr(res->err.message, jstr(d, "message")) == NULL)
        return report(c, "daemon.message \"%s\" not in \"%s\"", jstr(d, "message"),
                      res->err.message);
    return 0;
}

/* --------------------------------------------------------------- vector */

static int class_code(const char *name)
{
#define XX(n, val, s)                                                                              \
    if (strcmp(name, #n) == 0)                                                                     \
        return ER_##n;
    ER_ERRNO_MAP(XX)
#undef XX
    return 0;
}

static int check_vector(ctx_t *c, json_t *v)
{
    const char *direction = jstr(v, "direction"), *hex = jstr(v, "hex"), *session;
    json_t *frame = json_object_get(v, "frame"), *error = json_object_get(v, "error");
    json_t *body = frame ? json_object_get(frame, "body") : NULL;
    const char *stage = error ? jstr(error, "stage") : NULL;
    int want_rc = error ? class_code(jstr(error, "class") ? jstr(error, "class") : "") : 0;
    er_framer_t fr;
    uint8_t *bytes, *payload = NULL;
    size_t n, done = 0, plen = 0;
    const uint8_t *p;
    int rc = 0, frc = 0;
    bool ok;
    er_msg_t m;
    result_t res;
    er_error_t perr;

    c->name = jstr(v, "name");
    c->vectors++;
    memset(&res, 0, sizeof(res));
    memset(&m, 0, sizeof(m));
    if (c->name == NULL || jstr(v, "description") == NULL || direction == NULL || hex == NULL)
        return report(c, "name, description, direction and hex are required");
    if (strcmp(direction, "to_daemon") != 0 && strcmp(direction, "to_client") != 0)
        return report(c, "direction must be to_daemon or to_client");
    session = jstr(v, "session");
    if (strcmp(direction, "to_daemon") == 0
            ? !session || (strcmp(session, "new") != 0 && strcmp(session, "ready") != 0)
            : session != NULL || json_object_get(v, "daemon") != NULL)
        return report(c, "session/daemon: to_daemon vectors only, session new or ready");
    if (error && (!stage || want_rc == 0 ||
                  (strcmp(stage, "framer") != 0 && strcmp(stage, "header") != 0 &&
                   strcmp(stage, "body") != 0)))
        return report(c, "error needs stage framer/header/body and an ER_E* class");
    if (error && body)
        return report(c, "an error vector has no decoded body");
    if (!error && !(frame && json_object_get(frame, "body")))
        return report(c, "a vector needs a frame with a body, or an error");
    if (body && !json_is_boolean(json_object_get(v, "canonical")))
        return report(c, "a decoded vector says whether it is canonical");
    bytes = unhex(hex, &n, &ok);
    if (!ok)
        return report(c, "hex is not lowercase hex");

    /* Framer. */
    er__framer_init(&fr, c->max_frame);
    while (done < n && frc == 0) {
        uint8_t *space;
        size_t room, k;
        ck_assert_int_eq(er__framer_space(&fr, 1, &space, &room), 0);
        k = n - done < room ? n - done : room;
        memcpy(space, bytes + done, k);
        er__framer_commit(&fr, k);
        done += k;
        frc = er__framer_next(&fr, &p, &plen);
        if (frc == 1) {
            /* An exact-size copy: sanitizers catch any over-read. */
            payload = malloc(plen);
            ck_assert(payload != NULL);
            memcpy(payload, p, plen);
        }
    }
    if (stage && strcmp(stage, "framer") == 0) {
        int got = frc < 0 ? frc : (frc == 0 && er__framer_partial(&fr) > 0) ? ER_ETRUNC : 0;
        if (got != want_rc)
            rc = report(c, "framer: %s, expected %s", er_err_name(got), er_err_name(want_rc));
        else if (want_rc == ER_ETOOBIG && er__framer_expected(&fr) <= c->max_frame)
            rc = report(c, "framer: ETOOBIG for a length within max_frame");
        else
            rc = check_daemon(c, v, &m, got, stage, &res);
        c->errors += rc == 0;
        goto done;
    }
    if (frc != 1 || done != n || er__framer_partial(&fr) != 0) {
        rc = report(c, "framer: expected exactly one frame filling the bytes (%s)",
                    er_err_name(frc < 0 ? frc : 0));
        goto done;
    }

    /* Header. */
    frc = er__msg_parse(payload, plen, &m, &perr);
    if (frame && (frc == 0 || frc == ER_EBADOP) &&
        (m.op != json_integer_value(json_object_get(frame, "op")) ||
         m.req != json_integer_value(json_object_get(frame, "request_id")))) {
        rc = report(c, "header: op %u request_id %u differ from the frame", m.op, m.req);
        goto done;
    }
    if (frame && frc == 0 && er__op_name(m.op) &&
        (!jstr(frame, "op_name") || strcmp(jstr(frame, "op_name"), er__op_name(m.op)) != 0)) {
        rc = report(c, "frame.op_name is not %s", er__op_name(m.op));
        goto done;
    }
    if (stage && strcmp(stage, "header") == 0) {
        res.err = perr;
        if (frc != want_rc)
            rc = report(c, "header: %s (%s), expected %s", er_err_name(frc), perr.message,
                        er_err_name(want_rc));
        else if (jstr(error, "message") && !strstr(perr.message, jstr(error, "message")))
            rc = report(c, "header: message \"%s\" lacks \"%s\"", perr.message,
                        jstr(error, "message"));
        else if (json_object_get(v, "daemon"))
            rc = check_daemon(c, v, &m, frc, stage, &res);
        c->errors += rc == 0;
        goto done;
    }
    if (frc != 0) {
        rc = report(c, "header: %s (%s)", er_err_name(frc), perr.message);
        goto done;
    }
    if (!frame) {
        rc = report(c, "a frame that parses needs \"frame\"");
        goto done;
    }

    /* Body: the typed JSON matches the bytes, then the op's decoder. */
    if (body) {
        er_mp_reader_t r;
        er__mp_init(&r, m.body, m.body_len);
        if (!mp_json_eq(&r, body, 0) || er__mp_left(&r) != 0) {
            rc = report(c, "body: the msgpack does not match the JSON body");
            goto done;
        }
    }
    if ((rc = decode_body(c, direction, &m, body, &res)) != 0)
        goto done;
    if (stage) { /* body */
        const char *field = jstr(error, "field"), *msg = jstr(error, "message");
        json_t *idx = json_object_get(error, "index");
        if (!res.has_decoder) {
            rc = report(c, "body error for an op the codec does not decode");
            goto done;
        }
        if (res.rc != want_rc) {
            rc = report(c, "body: %s (%s), expected %s", er_err_name(res.rc), res.err.message,
                        er_err_name(want_rc));
            goto done;
        }
        if (field && !strstr(res.err.message, field)) {
            rc = report(c, "body: message \"%s\" does not name %s", res.err.message, field);
            goto done;
        }
        if (msg && !strstr(res.err.message, msg)) {
            rc = report(c, "body: message \"%s\" lacks \"%s\"", res.err.message, msg);
            goto done;
        }
        if (idx ? json_integer_value(idx) != res.index : res.index >= 0) {
            rc = report(c, "body: failed at index %d", res.index);
            goto done;
        }
        c->errors++;
    } else {
        if (res.rc != 0) {
            rc = report(c, "body: %s (%s)", er_err_name(res.rc), res.err.message);
            goto done;
        }
        c->decoded++;
    }

    /* Canonical bytes come out of the C encoder. */
    if (body && json_is_true(json_object_get(v, "canonical"))) {
        er_buf_t b = ER_BUF_INIT;
        int enc = encode_frame(c, direction, frame, &b);
        if (enc == 1 && (b.len != n || memcmp(b.data, bytes, n) != 0)) {
            char *got = malloc(2 * b.len + 1);
            size_t i;
            ck_assert(got != NULL);
            for (i = 0; i < b.len; i++)
                sprintf(got + 2 * i, "%02x", b.data[i]);
            got[2 * b.len] = '\0';
            rc = report(c, "the C encoder wrote %s", got);
            free(got);
        } else if (enc == 1) {
            c->encoded++;
        } else if (enc == 0) {
            c->no_encoder++;
        } else {
            rc = -1;
        }
        er__buf_free(&b);
        if (rc != 0)
            goto done;
    }
    if (strcmp(direction, "to_daemon") == 0)
        rc = check_daemon(c, v, &m, res.rc, stage, &res);

done:
    er__framer_free(&fr);
    free(payload);
    free(bytes);
    return rc;
}

/* ----------------------------------------------------------------- files */

static size_t limit_of(json_t *limits, const char *key)
{
    json_t *v = json_object_get(limits, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (size_t)json_integer_value(v) : 0;
}

START_TEST(test_vector_file)
{
    char path[4200];
    json_error_t jerr;
    json_t *root, *vectors, *v, *names;
    ctx_t c;
    size_t i;

    memset(&c, 0, sizeof(c));
    c.file = files[_i];
    snprintf(path, sizeof(path), "%s/%s", vector_dir, files[_i]);
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    ck_assert_msg(root != NULL, "%s:%d: %s", path, jerr.line, jerr.text);
    ck_assert_msg(json_integer_value(json_object_get(root, "format")) == 1, "%s: format must be 1",
                  path);
    ck_assert_msg(jstr(root, "group") && jstr(root, "description"), "%s: group, description", path);
    c.max_frame = limit_of(json_object_get(root, "limits"), "max_frame");
    c.max_event_size = limit_of(json_object_get(root, "limits"), "max_event_size");
    c.max_batch = limit_of(json_object_get(root, "limits"), "max_batch");
    ck_assert_msg(c.max_frame && c.max_event_size && c.max_batch, "%s: limits", path);
    vectors = json_object_get(root, "vectors");
    ck_assert_msg(json_array_size(vectors) > 0, "%s: no vectors", path);

    names = json_object();
    json_array_foreach(vectors, i, v)
    {
        const char *name = jstr(v, "name");
        if (name && json_object_get(names, name)) {
            c.name = name;
            report(&c, "duplicate vector name");
        } else if (name) {
            json_object_set_new(names, name, json_true());
        }
        check_vector(&c, v);
    }
    json_decref(names);
    json_decref(root);
    printf("%s: %u vectors: %u decoded, %u errors as expected, %u encoded byte for byte, "
           "%u canonical without a C encoder\n",
           c.file, c.vectors, c.decoded, c.errors, c.encoded, c.no_encoder);
    ck_assert_msg(c.failures == 0, "%s: %d vector failures (listed above)", files[_i], c.failures);
}
END_TEST

START_TEST(test_every_op_and_class_covered)
{
    /* The vectors as a whole cover each op in its direction and each
     * error class the codec reports. */
    static const struct {
        const char *direction;
        uint32_t op;
    } ops[] = {
        {"to_daemon", ER_OP_HELLO},         {"to_daemon", ER_OP_PUBLISH},
        {"to_daemon", ER_OP_PUBLISH_BATCH}, {"to_daemon", ER_OP_PING},
        {"to_daemon", ER_OP_QUERY},         {"to_daemon", ER_OP_TAIL},
        {"to_daemon", ER_OP_CANCEL},        {"to_daemon", ER_OP_ADMIN},
        {"to_client", ER_OP_WELCOME},       {"to_client", ER_OP_ACK},
        {"to_client", ER_OP_NACK},          {"to_client", ER_OP_PONG},
        {"to_client", ER_OP_GOAWAY},
    };
    static const char *const classes[] = {
        "ETRUNC",    "ETYPE", "EUNKNOWNKEY", "EDUPKEY",      "ETOOBIG",   "EUTF8",  "ENUL",
        "ETRAILING", "ERULE", "EMISSING",    "EDAEMONFIELD", "ERESERVED", "EBADOP", "EFRAME"};
    bool seen_op[sizeof(ops) / sizeof(ops[0])] = {false};
    bool seen_class[sizeof(classes) / sizeof(classes[0])] = {false};
    bool ready_hello = false;
    int f;
    size_t i, k;

    for (f = 0; f < nfiles; f++) {
        char path[4200];
        json_t *root, *v;
        snprintf(path, sizeof(path), "%s/%s", vector_dir, files[f]);
        root = json_load_file(path, 0, NULL);
        ck_assert(root != NULL);
        json_array_foreach(json_object_get(root, "vectors"), i, v)
        {
            json_t *fr = json_object_get(v, "frame"), *e = json_object_get(v, "error");
            if (strcmp(files[f], "session.json") == 0 && jstr(v, "name") &&
                strcmp(jstr(v, "name"), "hello-received") == 0 && fr &&
                jstr(json_object_get(fr, "body"), "ack") &&
                strcmp(jstr(json_object_get(fr, "body"), "ack"), "received") == 0 &&
                strcmp(jstr(v, "session"), "new") == 0)
                ready_hello = true;
            for (k = 0; fr && json_object_get(fr, "body") && k < sizeof(ops) / sizeof(ops[0]); k++)
                if (json_integer_value(json_object_get(fr, "op")) == ops[k].op &&
                    strcmp(jstr(v, "direction"), ops[k].direction) == 0)
                    seen_op[k] = true;
            for (k = 0; e && k < sizeof(classes) / sizeof(classes[0]); k++)
                if (strcmp(jstr(e, "class"), classes[k]) == 0)
                    seen_class[k] = true;
        }
        json_decref(root);
    }
    ck_assert_msg(ready_hello, "session.json lacks hello-received, which opens \"ready\" "
                               "sessions (README.md)");
    for (k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
        ck_assert_msg(seen_op[k], "no valid %s vector for %s", ops[k].direction,
                      er__op_name(ops[k].op));
    for (k = 0; k < sizeof(classes) / sizeof(classes[0]); k++)
        ck_assert_msg(seen_class[k], "no vector for %s", classes[k]);
}
END_TEST

/* ------------------------------------------------------------- discovery */

static bool dir_has_vectors(const char *dir)
{
    char path[4200];
    FILE *f;
    snprintf(path, sizeof(path), "%s/session.json", dir);
    f = fopen(path, "r");
    if (f)
        fclose(f);
    return f != NULL;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void find_vectors(void)
{
    static const char *const relative[] = {"tests/vectors", "../tests/vectors",
                                           "../../tests/vectors", "../../../tests/vectors"};
    const char *src = getenv("ER_SRCDIR");
    DIR *d;
    struct dirent *e;
    size_t i;

    vector_dir[0] = '\0';
    if (src && *src) {
        snprintf(vector_dir, sizeof(vector_dir), "%s/tests/vectors", src);
        if (!dir_has_vectors(vector_dir))
            vector_dir[0] = '\0';
    }
    for (i = 0; !vector_dir[0] && i < sizeof(relative) / sizeof(relative[0]); i++)
        if (dir_has_vectors(relative[i]))
            snprintf(vector_dir, sizeof(vector_dir), "%s", relative[i]);
    if (!vector_dir[0])
        return;
    d = opendir(vector_dir);
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL && nfiles < MAX_FILES) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0)
            files[nfiles++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(files, (size_t)nfiles, sizeof(files[0]), cmp_names);
}

START_TEST(test_vectors_found)
{
    ck_assert_msg(vector_dir[0] != '\0',
                  "tests/vectors not found: set ER_SRCDIR to the source tree");
    ck_assert_int_ge(nfiles, 6);
}
END_TEST

static Suite *vectors_suite(void)
{
    Suite *s = suite_create("vectors");
    TCase *tc = tcase_create("vectors");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_vectors_found);
    if (nfiles > 0) {
        tcase_add_loop_test(tc, test_vector_file, 0, nfiles);
        tcase_add_test(tc, test_every_op_and_class_covered);
    }
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr;
    int failed, i;

    find_vectors();
    printf("vectors from %s\n", vector_dir[0] ? vector_dir : "(not found)");
    fflush(stdout);
    sr = srunner_create(vectors_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (i = 0; i < nfiles; i++)
        free(files[i]);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
