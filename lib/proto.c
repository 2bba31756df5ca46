/*
 * Wire protocol messages (see proto.h): frame header parsing and the
 * encoders/decoders of every body the foundation speaks.
 *
 * Decoders of what clients send (HELLO, PUBLISH, PUBLISH_BATCH, nil bodies)
 * are strict: unknown keys, duplicates and wrong types are refused. Decoders
 * of what the daemon sends (WELCOME, ACK, NACK, GOAWAY) skip unknown keys so
 * an older client keeps working with a newer daemon that adds fields.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

#include "mpjson.h"

#include "proto.h"

static const char *const op_names[] = {
    [ER_OP_HELLO] = "HELLO",     [ER_OP_PUBLISH] = "PUBLISH", [ER_OP_PUBLISH_BATCH] = "PUBLISH_BATCH",
    [ER_OP_PING] = "PING",       [ER_OP_QUERY] = "QUERY",     [ER_OP_TAIL] = "TAIL",
    [ER_OP_CANCEL] = "CANCEL",   [ER_OP_ADMIN] = "ADMIN",     [ER_OP_WELCOME] = "WELCOME",
    [ER_OP_ACK] = "ACK",         [ER_OP_NACK] = "NACK",       [ER_OP_PONG] = "PONG",
    [ER_OP_ROWS] = "ROWS",       [ER_OP_END] = "END",         [ER_OP_REPLY] = "REPLY",
    [ER_OP_GOAWAY] = "GOAWAY",
};

const char *er__op_name(uint32_t op)
{
    if (op >= sizeof(op_names) / sizeof(op_names[0]))
        return NULL;
    return op_names[op];
}

/* Nesting allowed when skipping a value nobody reads. */
#define SKIP_DEPTH 16

int er__msg_parse(const uint8_t *p, size_t n, er_msg_t *m, er_error_t *err)
{
    er_mp_reader_t r;
    er_mp_obj_t o;
    int rc;

    memset(m, 0, sizeof(*m));
    er__mp_init(&r, p, n);
    if ((rc = er__mp_next(&r, &o)) != 0)
        return er__error_set(err, ER_EFRAME, -1, "frame: not msgpack (%s)", er_strerror(rc));
    if (o.type != ER_MP_ARRAY || o.v.n != 3)
        return er__error_set(err, ER_EFRAME, -1, "frame: expected an array [op, request_id, body]");
    if ((rc = er__mp_next(&r, &o)) != 0 || o.type != ER_MP_UINT)
        return er__error_set(err, ER_EFRAME, -1, "frame: op must be a uint");
    if (o.v.u > UINT32_MAX || er__op_name((uint32_t)o.v.u) == NULL) {
        uint64_t op = o.v.u;
        m->op = op > UINT32_MAX ? UINT32_MAX : (uint32_t)op;
        /* The request id too, when it is readable (as promised in proto.h). */
        if (er__mp_next(&r, &o) == 0 && o.type == ER_MP_UINT && o.v.u <= UINT32_MAX)
            m->req = (uint32_t)o.v.u;
        return er__error_set(err, ER_EBADOP, -1, "frame: unknown op %llu",
                             (unsigned long long)op);
    }
    m->op = (uint32_t)o.v.u;
    if ((rc = er__mp_next(&r, &o)) != 0 || o.type != ER_MP_UINT || o.v.u > UINT32_MAX)
        return er__error_set(err, ER_EFRAME, -1, "frame: request_id must be a uint32");
    m->req = (uint32_t)o.v.u;
    if (er__mp_left(&r) == 0)
        return er__error_set(err, ER_EFRAME, -1, "frame: body missing");
    m->body = r.p;
    m->body_len = er__mp_left(&r);
    return 0;
}

/* Start a frame [op, req, <body follows>]. */
static int frame_begin(er_buf_t *b, msgpack_packer *pk, uint32_t op, uint32_t req, size_t *mark)
{
    if (er__frame_open(b, mark) != 0)
        return -ENOMEM;
    msgpack_packer_init(pk, b, er__buf_mp_write);
    msgpack_pack_array(pk, 3);
    msgpack_pack_uint32(pk, op);
    msgpack_pack_uint32(pk, req);
    return 0;
}

static int frame_end(er_buf_t *b, size_t mark)
{
    if (b->err != 0) {
        b->len = mark;
        b->err = 0;
        return -ENOMEM;
    }
    er__frame_close(b, mark);
    return 0;
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_cstr_max(msgpack_packer *pk, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        /* Do not cut a UTF-8 sequence in half. */
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* The body must have been consumed exactly. */
static int body_done(const er_mp_reader_t *r, const char *what, er_error_t *err)
{
    if (er__mp_left(r) != 0)
        return er__error_set(err, ER_ETRAILING, -1, "%s: %zu trailing bytes after the body", what,
                             er__mp_left(r));
    return 0;
}

/*
 * Walk a map body: for each key, find it in `keys` (count entries) and call
 * fn; unknown keys are refused (strict) or skipped. Duplicates are refused.
 */
typedef int (*key_fn)(er_mp_reader_t *r, int which, void *out, er_error_t *err);

static int walk_map(er_mp_reader_t *r, const char *what, const char *const *keys, int count,
                    bool strict, key_fn fn, void *out, uint32_t *seen_out, er_error_t *err)
{
    er_mp_obj_t o;
    uint32_t n, i, seen = 0;
    int rc, which;

    if ((rc = er__mp_next(r, &o)) != 0)
        return er__error_set(err, rc, -1, "%s: %s", what, er_strerror(rc));
    if (o.type != ER_MP_MAP)
        return er__error_set(err, ER_ETYPE, -1, "%s: body must be a map", what);
    n = o.v.n;
    for (i = 0; i < n; i++) {
        if ((rc = er__mp_next(r, &o)) != 0)
            return er__error_set(err, rc, -1, "%s: %s", what, er_strerror(rc));
        if (o.type != ER_MP_STR)
            return er__error_set(err, ER_ETYPE, -1, "%s: keys must be str", what);
        for (which = 0; which < count; which++)
            if (er__mp_str_eq(o.v.s.ptr, o.v.s.len, keys[which]))
                break;
        if (which == count) {
            char kb[64];
            if (strict)
                return er__error_set(err, ER_EUNKNOWNKEY, -1, "%s: unknown key \"%s\"", what,
                                     er__printable(o.v.s.ptr, o.v.s.len, kb, sizeof kb));
            if ((rc = er__mp_skip(r, SKIP_DEPTH)) != 0)
                return er__error_set(err, rc, -1, "%s: %s", what, er_strerror(rc));
            continue;
        }
        if (seen & (1u << which))
            return er__error_set(err, ER_EDUPKEY, -1, "%s: duplicate key \"%s\"", what,
                                 keys[which]);
        seen |= 1u << which;
        if ((rc = fn(r, which, out, err)) != 0)
            return rc;
    }
    if (seen_out)
        *seen_out = seen;
    return 0;
}

static int want(er_mp_reader_t *r, er_mp_obj_t *o, er_mp_type_t t, const char *name,
                er_error_t *err)
{
    static const char *const tn[] = {"nil", "bool", "uint", "int",  "float",
                                     "str", "bin",  "array", "map", "ext"};
    int rc = er__mp_next(r, o);
    if (rc != 0)
        return er__error_set(err, rc, -1, "%s: %s", name, er_strerror(rc));
    if (o->type != t)
        return er__error_set(err, ER_ETYPE, -1, "%s: expected %s, got %s", name, tn[t],
                             tn[o->type]);
    return 0;
}

/* ------------------------------------------------------------------ HELLO */

static const char *const hello_keys[] = {"version", "client", "ack"};

static int hello_key(er_mp_reader_t *r, int which, void *out, er_error_t *err)
{
    er_hello_t *h = out;
    er_mp_obj_t o;
    int rc, mode;

    switch (which) {
    case 0:
        if ((rc = want(r, &o, ER_MP_UINT, "HELLO.version", err)) != 0)
            return rc;
        h->version = o.v.u > UINT32_MAX ? UINT32_MAX : (uint32_t)o.v.u;
        return 0;
    case 1:
        if ((rc = want(r, &o, ER_MP_STR, "HELLO.client", err)) != 0)
            return rc;
        if (o.v.s.len > ER_MAX_CLIENT_NAME)
            return er__error_set(err, ER_ERULE, -1, "HELLO.client: at most %u bytes",
                                 ER_MAX_CLIENT_NAME);
        if ((rc = er__utf8_check(o.v.s.ptr, o.v.s.len)) != 0)
            return er__error_set(err, rc, -1, "HELLO.client: %s", er_strerror(rc));
        h->client.ptr = o.v.s.ptr;
        h->client.len = o.v.s.len;
        return 0;
    default:
        if ((rc = want(r, &o, ER_MP_STR, "HELLO.ack", err)) != 0)
            return rc;
        /* Compared as a view: "none\0x" must not pass for "none". */
        for (mode = ER_ACK_DURABLE; mode >= ER_ACK_NONE; mode--)
            if (er__mp_str_eq(o.v.s.ptr, o.v.s.len, er_ack_mode_name((er_ack_mode_t)mode)))
                break;
        if (mode < 0)
            return er__error_set(err, ER_ERULE, -1,
                                 "HELLO.ack: must be \"none\", \"received\" or \"durable\"");
        h->ack = (er_ack_mode_t)mode;
        return 0;
    }
}

int er__hello_decode(const er_msg_t *m, er_hello_t *h, er_error_t *err)
{
    er_mp_reader_t r;
    uint32_t seen;
    int rc;

    memset(h, 0, sizeof(*h));
    h->ack = ER_ACK_RECEIVED;
    er__mp_init(&r, m->body, m->body_len);
    if ((rc = walk_map(&r, "HELLO", hello_keys, 3, true, hello_key, h, &seen, err)) != 0)
        return rc;
    if (!(seen & 1))
        return er__error_set(err, ER_EMISSING, -1, "HELLO.version: required");
    return body_done(&r, "HELLO", err);
}

int er__hello_encode(er_buf_t *b, uint32_t req, const char *client, er_ack_mode_t ack)
{
    msgpack_packer pk;
    size_t mark;

    if (frame_begin(b, &pk, ER_OP_HELLO, req, &mark) != 0)
        return -ENOMEM;
    msgpack_pack_map(&pk, client ? 3 : 2);
    pack_cstr(&pk, "version");
    msgpack_pack_uint32(&pk, ER_PROTOCOL_VERSION);
    if (client) {
        pack_cstr(&pk, "client");
        pack_cstr_max(&pk, client, ER_MAX_CLIENT_NAME);
    }
    pack_cstr(&pk, "ack");
    pack_cstr(&pk, er_ack_mode_name(ack));
    return frame_end(b, mark);
}

/* ---------------------------------------------------------------- WELCOME */

static const char *const welcome_keys[] = {"version", "durable", "limits"};
static const char *const limit_keys[] = {"max_frame", "max_event_size", "max_batch",
                                         "max_inflight"};

static int limit_key(er_mp_reader_t *r, int which, void *out, er_error_t *err)
{
    er_welcome_t *w = out;
    er_mp_obj_t o;
    uint32_t *slot[] = {&w->max_frame, &w->max_event_size, &w->max_batch, &w->max_inflight};
    int rc;

    if ((rc = want(r, &o, ER_MP_UINT, limit_keys[which], err)) != 0)
        return rc;
    *slot[which] = o.v.u > UINT32_MAX ? UINT32_MAX : (uint32_t)o.v.u;
    return 0;
}

static int welcome_key(er_mp_reader_t *r, int which, void *out, er_error_t *err)
{
    er_welcome_t *w = out;
    er_mp_obj_t o;
    int rc;

    switch (which) {
    case 0:
        if ((rc = want(r, &o, ER_MP_UINT, "WELCOME.version", err)) != 0)
            return rc;
        w->version = o.v.u > UINT32_MAX ? UINT32_MAX : (uint32_t)o.v.u;
        return 0;
    case 1:
        if ((rc = want(r, &o, ER_MP_BOOL, "WELCOME.durable", err)) != 0)
            return rc;
        w->durable = o.v.b;
        return 0;
    default:
        return walk_map(r, "WELCOME.limits", limit_keys, 4, false, limit_key, w, NULL, err);
    }
}

int er__welcome_decode(const er_msg_t *m, er_welcome_t *w, er_error_t *err)
{
    er_mp_reader_t r;
    int rc;

    memset(w, 0, sizeof(*w));
    w->max_frame = ER_DEFAULT_MAX_FRAME;
    w->max_event_size = ER_DEFAULT_MAX_EVENT_SIZE;
    w->max_batch = ER_DEFAULT_MAX_BATCH;
    w->max_inflight = ER_DEFAULT_MAX_INFLIGHT;
    er__mp_init(&r, m->body, m->body_len);
    if ((rc = walk_map(&r, "WELCOME", welcome_keys, 3, false, welcome_key, w, NULL, err)) != 0)
        return rc;
    return body_done(&r, "WELCOME", err);
}

int er__welcome_encode(er_buf_t *b, const er_welcome_t *w)
{
    msgpack_packer pk;
    size_t mark;

    if (frame_begin(b, &pk, ER_OP_WELCOME, 0, &mark) != 0)
        return -ENOMEM;
    msgpack_pack_map(&pk, 3);
    pack_cstr(&pk, "version");
    msgpack_pack_uint32(&pk, w->version);
    pack_cstr(&pk, "durable");
    if (w->durable)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    pack_cstr(&pk, "limits");
    msgpack_pack_map(&pk, 4);
    pack_cstr(&pk, "max_frame");
    msgpack_pack_uint32(&pk, w->max_frame);
    pack_cstr(&pk, "max_event_size");
    msgpack_pack_uint32(&pk, w->max_event_size);
    pack_cstr(&pk, "max_batch");
    msgpack_pack_uint32(&pk, w->max_batch);
    pack_cstr(&pk, "max_inflight");
    msgpack_pack_uint32(&pk, w->max_inflight);
    return frame_end(b, mark);
}

/* ---------------------------------------------------------------- PUBLISH */

int er__publish_encode(er_buf_t *b, uint32_t req, const er_event_t *ev)
{
    msgpack_packer pk;
    size_t mark;
    int rc;

    if (frame_begin(b, &pk, ER_OP_PUBLISH, req, &mark) != 0)
        return -ENOMEM;
    if ((rc = er__event_pack(b, ev)) != 0) {
        b->len = mark;
        return rc;
    }
    return frame_end(b, mark);
}

int er__batch_encode(er_buf_t *b, uint32_t req, const er_event_t *evs, size_t n)
{
    msgpack_packer pk;
    size_t mark, i;
    int rc;

    if (frame_begin(b, &pk, ER_OP_PUBLISH_BATCH, req, &mark) != 0)
        return -ENOMEM;
    msgpack_pack_array(&pk, n);
    for (i = 0; i < n; i++) {
        if ((rc = er__event_pack(b, &evs[i])) != 0) {
            b->len = mark;
            return rc;
        }
    }
    return frame_end(b, mark);
}

int er__batch_begin(const er_msg_t *m, er_mp_reader_t *r, uint32_t *n, size_t max_batch,
                    er_error_t *err)
{
    er_mp_obj_t o;
    int rc;

    er__mp_init(r, m->body, m->body_len);
    if ((rc = want(r, &o, ER_MP_ARRAY, "PUBLISH_BATCH", err)) != 0)
        return rc;
    if (o.v.n == 0)
        return er__error_set(err, ER_ERULE, -1, "PUBLISH_BATCH: empty batch");
    if (o.v.n > max_batch)
        return er__error_set(err, ER_ETOOBIG, -1,
                             "PUBLISH_BATCH: %u events, above max_batch (%zu)", o.v.n, max_batch);
    *n = o.v.n;
    return 0;
}

int er__batch_end(const er_mp_reader_t *r, er_error_t *err)
{
    return body_done(r, "PUBLISH_BATCH", err);
}

/* -------------------------------------------------------------------- ACK */

int er__ack_encode(er_buf_t *b, uint32_t req, uint64_t seq, uint32_t count, const er_dup_t *dups,
                   size_t ndups)
{
    msgpack_packer pk;
    size_t mark, i;

    if (frame_begin(b, &pk, ER_OP_ACK, req, &mark) != 0)
        return -ENOMEM;
    msgpack_pack_map(&pk, 3);
    pack_cstr(&pk, "seq");
    msgpack_pack_uint64(&pk, seq);
    pack_cstr(&pk, "count");
    msgpack_pack_uint32(&pk, count);
    pack_cstr(&pk, "dups");
    if (ndups == 0) {
        msgpack_pack_nil(&pk);
    } else {
        msgpack_pack_array(&pk, ndups);
        for (i = 0; i < ndups; i++) {
            msgpack_pack_array(&pk, 2);
            msgpack_pack_uint32(&pk, dups[i].index);
            msgpack_pack_uint64(&pk, dups[i].seq);
        }
    }
    return frame_end(b, mark);
}

typedef struct ack_out_s {
    er_ack_t *ack;
    er_dup_t *dups;
    size_t cap;
} ack_out_t;

static const char *const ack_keys[] = {"seq", "count", "dups"};

static int ack_key(er_mp_reader_t *r, int which, void *out, er_error_t *err)
{
    ack_out_t *a = out;
    er_mp_obj_t o, x;
    uint32_t i;
    int rc;

    switch (which) {
    case 0:
        if ((rc = want(r, &o, ER_MP_UINT, "ACK.seq", err)) != 0)
            return rc;
        a->ack->seq = o.v.u;
        return 0;
    case 1:
        if ((rc = want(r, &o, ER_MP_UINT, "ACK.count", err)) != 0)
            return rc;
        a->ack->count = o.v.u > UINT32_MAX ? UINT32_MAX : (uint32_t)o.v.u;
        return 0;
    default:
        if ((rc = er__mp_next(r, &o)) != 0)
            return er__error_set(err, rc, -1, "ACK.dups: %s", er_strerror(rc));
        if (o.type == ER_MP_NIL)
            return 0;
        if (o.type != ER_MP_ARRAY)
            return er__error_set(err, ER_ETYPE, -1, "ACK.dups: expected nil or array");
        for (i = 0; i < o.v.n; i++) {
            uint64_t idx, seq;
            if ((rc = want(r, &x, ER_MP_ARRAY, "ACK.dups[]", err)) != 0)
                return rc;
            if (x.v.n != 2)
                return er__error_set(err, ER_ERULE, -1, "ACK.dups[]: expected [index, seq]");
            if ((rc = want(r, &x, ER_MP_UINT, "ACK.dups[].index", err)) != 0)
                return rc;
            idx = x.v.u;
            if ((rc = want(r, &x, ER_MP_UINT, "ACK.dups[].seq", err)) != 0)
                return rc;
            seq = x.v.u;
            if (a->ack->ndups < a->cap) {
                a->dups[a->ack->ndups].index = idx > UINT32_MAX ? UINT32_MAX : (uint32_t)idx;
                a->dups[a->ack->ndups].seq = seq;
            }
            a->ack->ndups++;
        }
        return 0;
    }
}

int er__ack_decode(const er_msg_t *m, er_ack_t *ack, er_dup_t *dups, size_t dups_cap,
                   er_error_t *err)
{
    er_mp_reader_t r;
    ack_out_t a = {ack, dups, dups_cap};
    int rc;

    memset(ack, 0, sizeof(*ack));
    ack->dups = dups;
    er__mp_init(&r, m->body, m->body_len);
    if ((rc = walk_map(&r, "ACK", ack_keys, 3, false, ack_key, &a, NULL, err)) != 0)
        return rc;
    return body_done(&r, "ACK", err);
}

/* ------------------------------------------------------------------- NACK */

int er__nack_encode(er_buf_t *b, uint32_t req, const char *code, const char *message,
                    int64_t index, int64_t retry_after_ms)
{
    msgpack_packer pk;
    size_t mark;

    if (frame_begin(b, &pk, ER_OP_NACK, req, &mark) != 0)
        return -ENOMEM;
    msgpack_pack_map(&pk, 4);
    pack_cstr(&pk, "code");
    pack_cstr(&pk, code);
    pack_cstr(&pk, "message");
    pack_cstr_max(&pk, message ? message : "", ER_MAX_NACK_MESSAGE);
    pack_cstr(&pk, "index");
    if (index < 0)
        msgpack_pack_nil(&pk);
    else
        msgpack_pack_int64(&pk, index);
    pack_cstr(&pk, "retry_after_ms");
    if (retry_after_ms < 0)
        msgpack_pack_nil(&pk);
    else
        msgpack_pack_int64(&pk, retry_after_ms);
    return frame_end(b, mark);
}

static const char *const nack_keys[] = {"code", "message", "index", "retry_after_ms"};

/* Copy a daemon's text into a fixed buffer, cut (if it must be) before a
 * UTF-8 sequence rather than inside it. */
static void copy_cut(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int nack_key(er_mp_reader_t *r, int which, void *out, er_error_t *err)
{
    er_nack_t *nk = out;
    er_mp_obj_t o;
    int rc;

    if (which <= 1) {
        if ((rc = want(r, &o, ER_MP_STR, nack_keys[which], err)) != 0)
            return rc;
        if (which == 0)
            copy_cut(nk->code, sizeof(nk->code), o.v.s.ptr, o.v.s.len);
        else
            copy_cut(nk->message, sizeof(nk->message), o.v.s.ptr, o.v.s.len);
        return 0;
    }
    if ((rc = er__mp_next(r, &o)) != 0)
        return er__error_set(err, rc, -1, "NACK.%s: %s", nack_keys[which], er_strerror(rc));
    if (o.type == ER_MP_NIL)
        return 0;
    if (o.type != ER_MP_UINT || o.v.u > INT64_MAX)
        return er__error_set(err, ER_ETYPE, -1, "NACK.%s: expected nil or uint",
                             nack_keys[which]);
    if (which == 2)
        nk->index = (int64_t)o.v.u;
    else
        nk->retry_after_ms = (int64_t)o.v.u;
    return 0;
}

int er__nack_decode(const er_msg_t *m, er_nack_t *nack, er_error_t *err)
{
    er_mp_reader_t r;
    int rc;

    memset(nack, 0, sizeof(*nack));
    nack->index = -1;
    nack->retry_after_ms = -1;
    er__mp_init(&r, m->body, m->body_len);
    if ((rc = walk_map(&r, "NACK", nack_keys, 4, false, nack_key, nack, NULL, err)) != 0)
        return rc;
    return body_done(&r, "NACK", err);
}

/* ------------------------------------------------------ nil bodies, GOAWAY */

int er__nil_encode(er_buf_t *b, uint32_t op, uint32_t req)
{
    msgpack_packer pk;
    size_t mark;

    if (frame_begin(b, &pk, op, req, &mark) != 0)
        return -ENOMEM;
    msgpack_pack_nil(&pk);
    return frame_end(b, mark);
}

int er__nil_decode(const er_msg_t *m, er_error_t *err)
{
    er_mp_reader_t r;
    er_mp_obj_t o;
    int rc;
    const char *name = er__op_name(m->op);

    er__mp_init(&r, m->body, m->body_len);
    if ((rc = want(&r, &o, ER_MP_NIL, name ? name : "body", err)) != 0)
        return rc;
    return body_done(&r, name ? name : "body", err);
}

int er__goaway_encode(er_buf_t *b, const char *reason)
{
    msgpack_packer pk;
    size_t mark;

    if (frame_begin(b, &pk, ER_OP_GOAWAY, 0, &mark) != 0)
        return -ENOMEM;
    msgpack_pack_map(&pk, 1);
    pack_cstr(&pk, "reason");
    pack_cstr_max(&pk, reason, ER_MAX_NACK_MESSAGE);
    return frame_end(b, mark);
}

typedef struct goaway_out_s {
    char *out;
    size_t cap;
} goaway_out_t;

static const char *const goaway_keys[] = {"reason"};

static int goaway_key(er_mp_reader_t *r, int which, void *out, er_error_t *err)
{
    goaway_out_t *g = out;
    er_mp_obj_t o;
    int rc;

    (void)which;
    if ((rc = want(r, &o, ER_MP_STR, "GOAWAY.reason", err)) != 0)
        return rc;
    if (g->cap > 0)
        copy_cut(g->out, g->cap, o.v.s.ptr, o.v.s.len);
    return 0;
}

int er__goaway_decode(const er_msg_t *m, char *out, size_t cap, er_error_t *err)
{
    er_mp_reader_t r;
    goaway_out_t g = {out, cap};
    int rc;

    if (cap > 0)
        out[0] = '\0';
    er__mp_init(&r, m->body, m->body_len);
    if ((rc = walk_map(&r, "GOAWAY", goaway_keys, 1, false, goaway_key, &g, NULL, err)) != 0)
        return rc;
    return body_done(&r, "GOAWAY", err);
}

/* ------------------------------------------------------- ADMIN and REPLY */

int er__admin_encode(er_buf_t *b, uint32_t req, const char *cmd, const json_t *args)
{
    msgpack_packer pk;
    size_t mark;
    int rc;

    if (frame_begin(b, &pk, ER_OP_ADMIN, req, &mark) != 0)
        return -ENOMEM;
    msgpack_pack_map(&pk, 2);
    pack_cstr(&pk, "cmd");
    pack_cstr_max(&pk, cmd, ER_MAX_ADMIN_CMD);
    pack_cstr(&pk, "args");
    if (args == NULL) {
        msgpack_pack_map(&pk, 0);
    } else if ((rc = er__json_pack(b, args)) != 0) {
        b->len = mark;
        return rc;
    }
    return frame_end(b, mark);
}

typedef struct admin_out_s {
    er_str_t *cmd;
    json_t **args;
} admin_out_t;

static const char *const admin_keys[] = {"cmd", "args"};

static int admin_key(er_mp_reader_t *r, int which, void *out, er_error_t *err)
{
    admin_out_t *a = out;
    er_mp_obj_t o;
    int rc;

    if (which == 0) {
        if ((rc = want(r, &o, ER_MP_STR, "ADMIN.cmd", err)) != 0)
            return rc;
        if (o.v.s.len == 0 || o.v.s.len > ER_MAX_ADMIN_CMD)
            return er__error_set(err, ER_ERULE, -1, "ADMIN.cmd: 1-%u bytes", ER_MAX_ADMIN_CMD);
        if ((rc = er__utf8_check(o.v.s.ptr, o.v.s.len)) != 0)
            return er__error_set(err, rc, -1, "ADMIN.cmd: %s", er_strerror(rc));
        a->cmd->ptr = o.v.s.ptr;
        a->cmd->len = o.v.s.len;
        return 0;
    }
    if ((rc = er__mp_read_json(r, a->args, err)) != 0)
        return rc;
    if (!json_is_object(*a->args)) {
        json_decref(*a->args);
        *a->args = NULL;
        return er__error_set(err, ER_ETYPE, -1, "ADMIN.args: expected map");
    }
    return 0;
}

int er__admin_decode(const er_msg_t *m, er_str_t *cmd, json_t **args, er_error_t *err)
{
    er_mp_reader_t r;
    admin_out_t a = {cmd, args};
    uint32_t seen = 0;
    int rc;

    cmd->ptr = NULL;
    cmd->len = 0;
    *args = NULL;
    er__mp_init(&r, m->body, m->body_len);
    rc = walk_map(&r, "ADMIN", admin_keys, 2, true, admin_key, &a, &seen, err);
    if (rc == 0 && !(seen & 1))
        rc = er__error_set(err, ER_EMISSING, -1, "ADMIN.cmd: required");
    if (rc == 0)
        rc = body_done(&r, "ADMIN", err);
    if (rc == 0 && *args == NULL && (*args = json_object()) == NULL)
        rc = -ENOMEM;
    if (rc != 0) {
        json_decref(*args);
        *args = NULL;
    }
    return rc;
}

int er__reply_encode(er_buf_t *b, uint32_t req, const json_t *reply)
{
    msgpack_packer pk;
    size_t mark;
    int rc;

    if (frame_begin(b, &pk, ER_OP_REPLY, req, &mark) != 0)
        return -ENOMEM;
    if ((rc = er__json_pack(b, reply)) != 0) {
        b->len = mark;
        return rc;
    }
    return frame_end(b, mark);
}

int er__reply_decode(const er_msg_t *m, json_t **reply, er_error_t *err)
{
    er_mp_reader_t r;
    int rc;

    er__mp_init(&r, m->body, m->body_len);
    if ((rc = er__mp_read_json(&r, reply, err)) != 0)
        return rc;
    if (!json_is_object(*reply)) {
        json_decref(*reply);
        *reply = NULL;
        return er__error_set(err, ER_ETYPE, -1, "REPLY: expected map");
    }
    if ((rc = body_done(&r, "REPLY", err)) != 0) {
        json_decref(*reply);
        *reply = NULL;
    }
    return rc;
}

/* ------------------------------------------------------------------ QUERY */

int er__query_encode(er_buf_t *b, uint8_t op, uint32_t req, const json_t *filter)
{
    msgpack_packer pk;
    size_t mark;
    int rc;

    if (frame_begin(b, &pk, op, req, &mark) != 0)
        return -ENOMEM;
    if (filter == NULL) {
        msgpack_pack_map(&pk, 0);
    } else if ((rc = er__json_pack(b, filter)) != 0) {
        b->len = mark;
        return rc;
    }
    return frame_end(b, mark);
}

static const char *const query_keys[] = {"stream", "correlation_id", "type",     "id",
                                         "since",  "until",          "from_seq", "limit"};

static int query_int(er_mp_reader_t *r, const char *what, uint64_t *out, er_error_t *err)
{
    er_mp_obj_t o;
    int rc;

    if ((rc = er__mp_next(r, &o)) != 0)
        return er__error_set(err, rc, -1, "%s: %s", what, er_strerror(rc));
    if (o.type == ER_MP_INT)
        return er__error_set(err, ER_ERULE, -1, "%s: must not be negative", what);
    if (o.type != ER_MP_UINT || o.v.u > INT64_MAX)
        return er__error_set(err, ER_ETYPE, -1, "%s: expected a non-negative int", what);
    *out = o.v.u;
    return 0;
}

static int query_key(er_mp_reader_t *r, int which, void *out, er_error_t *err)
{
    er_query_t *q = out;
    er_str_t *strs[] = {&q->stream, &q->correlation_id, &q->type, &q->id};
    char what[32];
    er_mp_obj_t o;
    uint64_t u = 0;
    int rc;

    snprintf(what, sizeof what, "%s.%s", q->op, query_keys[which]);
    if (which < 4) {
        if ((rc = want(r, &o, ER_MP_STR, what, err)) != 0)
            return rc;
        if (o.v.s.len == 0 || o.v.s.len > ER_MAX_QUERY_STR)
            return er__error_set(err, ER_ERULE, -1, "%s: 1-%u bytes", what, ER_MAX_QUERY_STR);
        if ((rc = er__utf8_check(o.v.s.ptr, o.v.s.len)) != 0)
            return er__error_set(err, rc, -1, "%s: %s", what, er_strerror(rc));
        strs[which]->ptr = o.v.s.ptr;
        strs[which]->len = o.v.s.len;
        return 0;
    }
    if ((rc = query_int(r, what, &u, err)) != 0)
        return rc;
    switch (which) {
    case 4:
        q->since_us = (int64_t)u;
        break;
    case 5:
        q->until_us = (int64_t)u;
        break;
    case 6:
        q->from_seq = u;
        break;
    default:
        q->limit = u;
        break;
    }
    return 0;
}

int er__query_decode(const er_msg_t *m, er_query_t *q, er_error_t *err)
{
    er_mp_reader_t r;
    int rc;

    memset(q, 0, sizeof(*q));
    q->op = er__op_name(m->op);
    er__mp_init(&r, m->body, m->body_len);
    if ((rc = walk_map(&r, q->op, query_keys, 8, true, query_key, q, NULL, err)) != 0)
        return rc;
    return body_done(&r, q->op, err);
}

/* ------------------------------------------------------------ ROWS, END */

int er__rows_encode(er_buf_t *b, uint32_t req, const uint8_t *rows, size_t len, uint32_t n)
{
    msgpack_packer pk;
    size_t mark;

    if (frame_begin(b, &pk, ER_OP_ROWS, req, &mark) != 0)
        return -ENOMEM;
    msgpack_pack_array(&pk, n);
    if (len > 0 && er__buf_append(b, rows, len) != 0)
        b->err = -ENOMEM;
    return frame_end(b, mark);
}

int er__rows_begin(const er_msg_t *m, er_mp_reader_t *r, uint32_t *n, er_error_t *err)
{
    er_mp_obj_t o;
    int rc;

    er__mp_init(r, m->body, m->body_len);
    if ((rc = want(r, &o, ER_MP_ARRAY, "ROWS", err)) != 0)
        return rc;
    *n = o.v.n;
    return 0;
}

int er__rows_end(const er_mp_reader_t *r, er_error_t *err)
{
    return body_done(r, "ROWS", err);
}

int er__end_encode(er_buf_t *b, uint32_t req, uint64_t count)
{
    msgpack_packer pk;
    size_t mark;

    if (frame_begin(b, &pk, ER_OP_END, req, &mark) != 0)
        return -ENOMEM;
    msgpack_pack_map(&pk, 1);
    pack_cstr(&pk, "count");
    msgpack_pack_uint64(&pk, count);
    return frame_end(b, mark);
}

static const char *const end_keys[] = {"count"};

static int end_key(er_mp_reader_t *r, int which, void *out, er_error_t *err)
{
    er_mp_obj_t o;
    int rc;

    (void)which;
    if ((rc = want(r, &o, ER_MP_UINT, "END.count", err)) != 0)
        return rc;
    *(uint64_t *)out = o.v.u;
    return 0;
}

int er__end_decode(const er_msg_t *m, uint64_t *count, er_error_t *err)
{
    er_mp_reader_t r;
    uint32_t seen = 0;
    int rc;

    *count = 0;
    er__mp_init(&r, m->body, m->body_len);
    if ((rc = walk_map(&r, "END", end_keys, 1, true, end_key, count, &seen, err)) != 0)
        return rc;
    if (!(seen & 1))
        return er__error_set(err, ER_EMISSING, -1, "END.count: required");
    return body_done(&r, "END", err);
}
