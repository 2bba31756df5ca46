/*
 * Unit tests of the event envelope (lib/event.c): the encoder and decoder
 * round-trip every field, daemon fields and both forms of meta included;
 * and every rule of DESIGN §3 is tested through the decoder (wire bytes
 * built with msgpack-c) and through er_event_validate(), asserting the
 * exact error code and the exact message a client sees in the NACK.
 *
 * Decoded bytes always live in heap blocks of exactly their size, so any
 * read past the end is caught by valgrind and AddressSanitizer.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "buf.h"
#include "eventrouter.h"
#include "mpread.h"
#include "proto.h"

#define BIG (1u << 20)

/* ------------------------------------------------------- msgpack builder */

/* Raw event maps built with msgpack-c's packer: the decoder must judge
 * bytes, including ones our own encoder would never produce. */
typedef struct mb_s {
    er_buf_t b;
    msgpack_packer pk;
} mb_t;

static void mb_init(mb_t *m)
{
    memset(m, 0, sizeof(*m));
    msgpack_packer_init(&m->pk, &m->b, er__buf_mp_write);
}

static void mb_free(mb_t *m)
{
    er__buf_free(&m->b);
}

static void mb_strn(mb_t *m, const char *s, size_t n)
{
    msgpack_pack_str(&m->pk, n);
    msgpack_pack_str_body(&m->pk, s, n);
}

static void mb_str(mb_t *m, const char *s)
{
    mb_strn(m, s, strlen(s));
}

static void mb_map(mb_t *m, size_t n)
{
    msgpack_pack_map(&m->pk, n);
}

/* key: string value */
static void kv_strn(mb_t *m, const char *k, const char *v, size_t n)
{
    mb_str(m, k);
    mb_strn(m, v, n);
}

static void kv_str(mb_t *m, const char *k, const char *v)
{
    kv_strn(m, k, v, strlen(v));
}

static void kv_uint(mb_t *m, const char *k, uint64_t v)
{
    mb_str(m, k);
    msgpack_pack_uint64(&m->pk, v);
}

static void kv_int(mb_t *m, const char *k, int64_t v)
{
    mb_str(m, k);
    msgpack_pack_int64(&m->pk, v);
}

/* A string of n copies of c (static storage, n < 4096). */
static const char *rep(char c, size_t n)
{
    static char buf[8][4096];
    static int slot;
    char *p = buf[slot++ % 8];
    ck_assert(n < 4096);
    memset(p, c, n);
    p[n] = '\0';
    return p;
}

/* ------------------------------------------------------- decode helpers */

typedef struct decoded_s {
    uint8_t *bytes; /* exact-size copy the event's views point into */
    er_event_t ev;
    er_error_t err;
    int rc;
    size_t left;
} decoded_t;

static void decode_bytes(decoded_t *d, const uint8_t *p, size_t n, unsigned flags, size_t max)
{
    er_mp_reader_t r;

    memset(d, 0, sizeof(*d));
    d->bytes = malloc(n);
    ck_assert(n == 0 || d->bytes != NULL);
    if (n > 0)
        memcpy(d->bytes, p, n);
    er__mp_init(&r, d->bytes, n);
    d->err.code = 12345;
    d->rc = er__event_read(&r, &d->ev, flags, max, &d->err);
    d->left = er__mp_left(&r);
}

static void decode_mb(decoded_t *d, mb_t *m, unsigned flags)
{
    decode_bytes(d, m->b.data, m->b.len, flags, BIG);
    mb_free(m);
}

static void decoded_free(decoded_t *d)
{
    free(d->bytes);
    d->bytes = NULL;
}

/* Decode m (consumed) as a client event and expect code and message. */
static void expect_refused(mb_t *m, unsigned flags, int code, const char *message)
{
    decoded_t d;
    decode_mb(&d, m, flags);
    ck_assert_msg(d.rc == code, "expected %s (%s), got %s: %s", er_err_name(code), message,
                  er_err_name(d.rc), d.rc ? d.err.message : "");
    ck_assert_int_eq(d.err.code, code);
    ck_assert_int_eq(d.err.index, -1);
    ck_assert_str_eq(d.err.message, message);
    decoded_free(&d);
}

/* {type: "T", key: <str v>} must be refused with code and message. */
static void str_field_refused(const char *key, const char *v, size_t n, int code,
                              const char *message)
{
    mb_t m;
    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_strn(&m, key, v, n);
    expect_refused(&m, ER_VALIDATE_CLIENT, code, message);
}

/* {type: "T", key: <str v>} must be accepted. */
static void str_field_ok(const char *key, const char *v, size_t n)
{
    mb_t m;
    decoded_t d;

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_strn(&m, key, v, n);
    decode_mb(&d, &m, ER_VALIDATE_CLIENT);
    ck_assert_msg(d.rc == 0, "%s (%zu bytes) refused: %s", key, n, d.err.message);
    ck_assert_uint_eq(d.left, 0);
    decoded_free(&d);
}

/* Same for the type field itself (the only field in the event). */
static void type_refused(const char *v, size_t n, int code, const char *message)
{
    mb_t m;
    mb_init(&m);
    mb_map(&m, 1);
    kv_strn(&m, "type", v, n);
    expect_refused(&m, ER_VALIDATE_CLIENT, code, message);
}

static void type_ok(const char *v, size_t n)
{
    mb_t m;
    decoded_t d;
    mb_init(&m);
    mb_map(&m, 1);
    kv_strn(&m, "type", v, n);
    decode_mb(&d, &m, ER_VALIDATE_CLIENT);
    ck_assert_msg(d.rc == 0, "type of %zu bytes refused: %s", n, d.err.message);
    ck_assert_uint_eq(d.ev.type.len, n);
    decoded_free(&d);
}

static bool str_eq(er_str_t a, er_str_t b)
{
    if (a.ptr == NULL || b.ptr == NULL)
        return a.ptr == b.ptr;
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

#define ck_assert_view(a, b) ck_assert_msg(str_eq((a), (b)), "view %s differs", #a)

/* ------------------------------------------------------------ round trip */

static const er_meta_t full_meta[] = {
    {{"tenant", 6}, {"acme", 4}},
    {{"region", 6}, {"eu-west-1", 9}},
    {{"empty", 5}, {"", 0}},
    {{"unicode", 7}, {"h\xc3\xa9llo \xf0\x9f\x98\x80", 11}},
};

/* Every field of the envelope, daemon fields included. */
static er_event_t full_event(void)
{
    er_event_t ev;
    static const char data[] = {0, 1, 2, (char)0xff, (char)0xc1};

    memset(&ev, 0, sizeof(ev));
    ev.has = ER_HAS_VERSION | ER_HAS_PRIORITY | ER_HAS_TIME | ER_HAS_SEQ | ER_HAS_RECEIVED |
             ER_HAS_ORIGIN | ER_HAS_HOPS;
    ev.type = er_str("OrderCreated");
    ev.version = 4294967295u;
    ev.topic = er_str("orders.created");
    ev.priority = ER_PRIORITY_CRITICAL;
    ev.id = er_str("01890a5d-ac96-774b-bcce-b302099a8057");
    ev.time = 1700000000123456;
    ev.stream = er_str("order:42");
    ev.correlation_id = er_str("corr-1");
    ev.causation_id = er_str("cause-1");
    ev.source = er_str("shop-api");
    ev.traceparent = er_str("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    ev.tracestate = er_str("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    ev.content_type = er_str("application/octet-stream");
    ev.data.ptr = data;
    ev.data.len = sizeof(data);
    ev.data_is_str = false;
    ev.meta = full_meta;
    ev.meta_count = sizeof(full_meta) / sizeof(full_meta[0]);
    ev.seq = 18446744073709551615ull;
    ev.received = 1700000000999999;
    ev.origin.pid = 4242;
    ev.origin.uid = 4294967295u;
    ev.origin.gid = 100;
    ev.origin.host = er_str("host-a");
    ev.via.broker = er_str("kafka-main");
    ev.via.source = er_str("events.orders");
    ev.via.plugin = er_str("mirror");
    ev.hops = 7;
    return ev;
}

static void assert_same_event(const er_event_t *a, const er_event_t *b)
{
    size_t pa = 0, pb = 0;
    er_str_t ka, va, kb, vb;

    ck_assert_uint_eq(a->has, b->has);
    ck_assert_view(a->type, b->type);
    if (a->has & ER_HAS_VERSION)
        ck_assert_uint_eq(a->version, b->version);
    ck_assert_view(a->topic, b->topic);
    if (a->has & ER_HAS_PRIORITY)
        ck_assert_int_eq(a->priority, b->priority);
    ck_assert_view(a->id, b->id);
    if (a->has & ER_HAS_TIME)
        ck_assert_int_eq(a->time, b->time);
    ck_assert_view(a->stream, b->stream);
    ck_assert_view(a->correlation_id, b->correlation_id);
    ck_assert_view(a->causation_id, b->causation_id);
    ck_assert_view(a->source, b->source);
    ck_assert_view(a->traceparent, b->traceparent);
    ck_assert_view(a->tracestate, b->tracestate);
    ck_assert_view(a->content_type, b->content_type);
    ck_assert_view(a->data, b->data);
    if (a->data.ptr)
        ck_assert_int_eq(a->data_is_str, b->data_is_str);
    ck_assert_uint_eq(a->meta_count, b->meta_count);
    while (er_meta_next(a, &pa, &ka, &va)) {
        ck_assert_int_eq(er_meta_next(b, &pb, &kb, &vb), 1);
        ck_assert_view(ka, kb);
        ck_assert_view(va, vb);
    }
    ck_assert_int_eq(er_meta_next(b, &pb, &kb, &vb), 0);
    if (a->has & ER_HAS_SEQ)
        ck_assert_uint_eq(a->seq, b->seq);
    if (a->has & ER_HAS_RECEIVED)
        ck_assert_int_eq(a->received, b->received);
    if (a->has & ER_HAS_ORIGIN) {
        ck_assert_int_eq(a->origin.pid, b->origin.pid);
        ck_assert_uint_eq(a->origin.uid, b->origin.uid);
        ck_assert_uint_eq(a->origin.gid, b->origin.gid);
        ck_assert_view(a->origin.host, b->origin.host);
    }
    ck_assert_view(a->via.broker, b->via.broker);
    ck_assert_view(a->via.source, b->via.source);
    ck_assert_view(a->via.plugin, b->via.plugin);
    if (a->has & ER_HAS_HOPS)
        ck_assert_uint_eq(a->hops, b->hops);
}

/* Pack ev, decode it with flags, compare, re-pack the decoded event (meta
 * now in packed form) and expect the very same bytes. */
static void round_trip(const er_event_t *ev, unsigned flags)
{
    er_buf_t b = ER_BUF_INIT, b2 = ER_BUF_INIT;
    decoded_t d;

    ck_assert_int_eq(er_event_validate(ev, flags, NULL), 0);
    ck_assert_int_eq(er__event_pack(&b, ev), 0);
    decode_bytes(&d, b.data, b.len, flags, b.len);
    ck_assert_msg(d.rc == 0, "decode: %s", d.err.message);
    ck_assert_uint_eq(d.left, 0);
    assert_same_event(ev, &d.ev);
    ck_assert_ptr_null(d.ev.meta);
    if (ev->meta_count > 0)
        ck_assert_ptr_nonnull(d.ev.meta_packed.ptr);
    ck_assert_int_eq(er_event_validate(&d.ev, flags, NULL), 0);
    ck_assert_int_eq(er__event_pack(&b2, &d.ev), 0);
    ck_assert_uint_eq(b.len, b2.len);
    ck_assert_mem_eq(b.data, b2.data, b.len);
    decoded_free(&d);
    er__buf_free(&b);
    er__buf_free(&b2);
}

START_TEST(test_round_trip_full)
{
    er_event_t ev = full_event();
    round_trip(&ev, 0);
}
END_TEST

START_TEST(test_round_trip_client)
{
    /* What a client sends: no daemon fields, passes ER_VALIDATE_CLIENT. */
    er_event_t ev = full_event();
    ev.has &= ~(unsigned)(ER_HAS_SEQ | ER_HAS_RECEIVED | ER_HAS_ORIGIN | ER_HAS_HOPS);
    memset(&ev.via, 0, sizeof(ev.via));
    round_trip(&ev, ER_VALIDATE_CLIENT);
}
END_TEST

START_TEST(test_round_trip_minimal)
{
    er_event_t ev;
    er_buf_t b = ER_BUF_INIT;
    static const uint8_t want[] = {0x81, 0xa4, 't', 'y', 'p', 'e', 0xa1, 'A'};

    memset(&ev, 0, sizeof(ev));
    ev.type = er_str("A");
    round_trip(&ev, ER_VALIDATE_CLIENT);
    /* The exact bytes: a fixmap with one fixstr pair. */
    ck_assert_int_eq(er__event_pack(&b, &ev), 0);
    ck_assert_uint_eq(b.len, sizeof(want));
    ck_assert_mem_eq(b.data, want, sizeof(want));
    er__buf_free(&b);
}
END_TEST

START_TEST(test_round_trip_variants)
{
    er_event_t ev;
    int p;

    /* data as str, each priority, boundary integers. */
    memset(&ev, 0, sizeof(ev));
    ev.type = er_str("T");
    ev.data = er_str("{\"a\":1}");
    ev.data_is_str = true;
    round_trip(&ev, ER_VALIDATE_CLIENT);
    for (p = ER_PRIORITY_LOW; p <= ER_PRIORITY_CRITICAL; p++) {
        ev.has = ER_HAS_PRIORITY;
        ev.priority = p;
        round_trip(&ev, ER_VALIDATE_CLIENT);
    }
    ev.has = ER_HAS_VERSION | ER_HAS_TIME;
    ev.version = 1;
    ev.time = 0;
    round_trip(&ev, ER_VALIDATE_CLIENT);
    ev.time = INT64_MAX;
    round_trip(&ev, ER_VALIDATE_CLIENT);
    /* Empty data and empty strings where allowed. */
    ev.data = er_str("");
    ev.correlation_id = er_str("");
    ev.source = er_str("");
    round_trip(&ev, ER_VALIDATE_CLIENT);

    /* Daemon fields without the optional parts: origin without host, via
     * with one key, hops 0, received negative is not a rule. */
    ev = full_event();
    ev.origin.host.ptr = NULL;
    ev.origin.pid = -1;
    ev.via.broker.ptr = NULL;
    ev.via.plugin.ptr = NULL;
    ev.hops = 0;
    ev.seq = 0;
    round_trip(&ev, 0);
}
END_TEST

START_TEST(test_meta_forms)
{
    er_event_t ev, ev2;
    er_buf_t b = ER_BUF_INIT;
    decoded_t d;
    er_str_t k, v;
    size_t pos = 0, i;
    er_meta_t many[64];
    char keys[64][4];

    /* Array form. */
    memset(&ev, 0, sizeof(ev));
    ev.type = er_str("T");
    ev.meta = full_meta;
    ev.meta_count = 4;
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(er_meta_next(&ev, &pos, &k, &v), 1);
        ck_assert_view(k, full_meta[i].key);
        ck_assert_view(v, full_meta[i].value);
    }
    ck_assert_uint_eq(pos, 4);
    ck_assert_int_eq(er_meta_next(&ev, &pos, &k, &v), 0);

    /* Packed form, from the decoder: same entries in the same order. */
    ck_assert_int_eq(er__event_pack(&b, &ev), 0);
    decode_bytes(&d, b.data, b.len, ER_VALIDATE_CLIENT, BIG);
    ck_assert_int_eq(d.rc, 0);
    ck_assert_ptr_null(d.ev.meta);
    ck_assert_uint_eq(d.ev.meta_count, 4);
    pos = 0;
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(er_meta_next(&d.ev, &pos, &k, &v), 1);
        ck_assert_view(k, full_meta[i].key);
        ck_assert_view(v, full_meta[i].value);
        /* Views point into the decoded bytes. */
        ck_assert((const uint8_t *)k.ptr >= d.bytes && (const uint8_t *)k.ptr < d.bytes + b.len);
    }
    ck_assert_int_eq(er_meta_next(&d.ev, &pos, &k, &v), 0);
    decoded_free(&d);
    er__buf_free(&b);

    /* No meta: nothing to walk, nothing encoded. */
    memset(&ev2, 0, sizeof(ev2));
    pos = 0;
    ck_assert_int_eq(er_meta_next(&ev2, &pos, &k, &v), 0);

    /* An empty map decodes to zero entries. */
    {
        mb_t m;
        mb_init(&m);
        mb_map(&m, 2);
        kv_str(&m, "type", "T");
        mb_str(&m, "meta");
        mb_map(&m, 0);
        decode_mb(&d, &m, ER_VALIDATE_CLIENT);
        ck_assert_int_eq(d.rc, 0);
        ck_assert_uint_eq(d.ev.meta_count, 0);
        pos = 0;
        ck_assert_int_eq(er_meta_next(&d.ev, &pos, &k, &v), 0);
        decoded_free(&d);
    }

    /* 64 entries, the most allowed, both forms. */
    for (i = 0; i < 64; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
        many[i].key = er_str(keys[i]);
        many[i].value = er_str(keys[i]);
    }
    ev.meta = many;
    ev.meta_count = 64;
    round_trip(&ev, ER_VALIDATE_CLIENT);
}
END_TEST

START_TEST(test_truncated_every_offset)
{
    er_event_t ev = full_event();
    er_buf_t b = ER_BUF_INIT;
    size_t k;

    ck_assert_int_eq(er__event_pack(&b, &ev), 0);
    for (k = 0; k < b.len; k++) {
        decoded_t d;
        decode_bytes(&d, b.data, k, 0, BIG);
        if (d.rc != ER_ETRUNC)
            ck_abort_msg("cut at %zu of %zu: %s (%s)", k, b.len, er_err_name(d.rc), d.err.message);
        decoded_free(&d);
    }
    er__buf_free(&b);
}
END_TEST

START_TEST(test_trailing_left_to_caller)
{
    /* The event reader stops after the map; what follows is the caller's
     * (PUBLISH refuses it, a batch reads the next event). */
    mb_t m;
    decoded_t d;

    mb_init(&m);
    mb_map(&m, 1);
    kv_str(&m, "type", "T");
    msgpack_pack_nil(&m.pk);
    decode_mb(&d, &m, ER_VALIDATE_CLIENT);
    ck_assert_int_eq(d.rc, 0);
    ck_assert_uint_eq(d.left, 1);
    decoded_free(&d);
}
END_TEST

/* ---------------------------------------------------------------- rules */

START_TEST(test_type_rules)
{
    mb_t m;

    mb_init(&m);
    mb_map(&m, 1);
    kv_uint(&m, "version", 1);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_EMISSING, "type: required");

    mb_init(&m);
    mb_map(&m, 0);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_EMISSING, "type: required");

    type_refused("", 0, ER_ERULE, "type: must be 1-128 characters of [A-Za-z0-9_.-], got 0 bytes");
    type_refused(rep('a', 129), 129, ER_ERULE,
                 "type: must be 1-128 characters of [A-Za-z0-9_.-], got 129 bytes");
    type_ok(rep('a', 128), 128);
    type_ok("a", 1);
    type_ok("Order.Created_v2-x", 18);
    type_refused("Order Created", 13, ER_ERULE, "type: must be 1-128 characters of [A-Za-z0-9_.-]");
    type_refused("a/b", 3, ER_ERULE, "type: must be 1-128 characters of [A-Za-z0-9_.-]");
    type_refused("a:b", 3, ER_ERULE, "type: must be 1-128 characters of [A-Za-z0-9_.-]");
    type_refused("caf\xc3\xa9", 5, ER_ERULE, "type: must be 1-128 characters of [A-Za-z0-9_.-]");
    /* NUL and invalid UTF-8 fall outside the character set too. */
    type_refused("a\0b", 3, ER_ERULE, "type: must be 1-128 characters of [A-Za-z0-9_.-]");
    type_refused("a\xff", 2, ER_ERULE, "type: must be 1-128 characters of [A-Za-z0-9_.-]");
}
END_TEST

START_TEST(test_version_rules)
{
    mb_t m;
    decoded_t d;

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_uint(&m, "version", 0);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ERULE, "version: must be at least 1");

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_int(&m, "version", -1);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ERULE, "version: must not be negative");

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_uint(&m, "version", 4294967296ull);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ERULE, "version: at most 4294967295");

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_uint(&m, "version", 4294967295ull);
    decode_mb(&d, &m, ER_VALIDATE_CLIENT);
    ck_assert_int_eq(d.rc, 0);
    ck_assert_uint_eq(d.ev.version, 4294967295u);
    ck_assert(d.ev.has & ER_HAS_VERSION);
    decoded_free(&d);

    /* Absent: no presence bit (the daemon applies the default 1). */
    mb_init(&m);
    mb_map(&m, 1);
    kv_str(&m, "type", "T");
    decode_mb(&d, &m, ER_VALIDATE_CLIENT);
    ck_assert_int_eq(d.rc, 0);
    ck_assert(!(d.ev.has & ER_HAS_VERSION));
    decoded_free(&d);
}
END_TEST

START_TEST(test_topic_rules)
{
    static const char seg[] = "topic: must be segments of [A-Za-z0-9_-]+ joined by '.'";
    static const char len[] = "topic: must be 1-255 bytes of segments [A-Za-z0-9_-]+ joined by '.'";
    char t255[256];
    size_t i;

    str_field_ok("topic", "orders", 6);
    str_field_ok("topic", "orders.created", 14);
    str_field_ok("topic", "a.b-c.D_9", 9);
    str_field_refused("topic", "a..b", 4, ER_ERULE, seg);
    str_field_refused("topic", ".a", 2, ER_ERULE, seg);
    str_field_refused("topic", "a.", 2, ER_ERULE, seg);
    str_field_refused("topic", ".", 1, ER_ERULE, seg);
    str_field_refused("topic", "a b", 3, ER_ERULE, seg);
    str_field_refused("topic", "a/b", 3, ER_ERULE, seg);
    str_field_refused("topic", "a.*", 3, ER_ERULE, seg);
    str_field_refused("topic", "caf\xc3\xa9", 5, ER_ERULE, seg);
    str_field_refused("topic", "a\0", 2, ER_ERULE, seg);
    str_field_refused("topic", "", 0, ER_ERULE, len);
    /* 255 bytes: segments of 15 joined by dots. */
    for (i = 0; i < 255; i++)
        t255[i] = (i % 16 == 15) ? '.' : 'x';
    t255[255] = '\0';
    str_field_ok("topic", t255, 255);
    str_field_refused("topic", rep('a', 256), 256, ER_ERULE, len);
    str_field_ok("topic", rep('a', 255), 255);
}
END_TEST

static void priority_case(mb_t *m, int want_rc, int want_priority, const char *message)
{
    decoded_t d;
    decode_mb(&d, m, ER_VALIDATE_CLIENT);
    ck_assert_msg(d.rc == want_rc, "got %s: %s", er_err_name(d.rc), d.err.message);
    if (want_rc == 0) {
        ck_assert(d.ev.has & ER_HAS_PRIORITY);
        ck_assert_int_eq(d.ev.priority, want_priority);
    } else {
        ck_assert_str_eq(d.err.message, message);
    }
    decoded_free(&d);
}

static void priority_header(mb_t *m)
{
    mb_init(m);
    mb_map(m, 2);
    kv_str(m, "type", "T");
    mb_str(m, "priority");
}

START_TEST(test_priority_rules)
{
    static const char *const names[] = {"low", "normal", "high", "critical"};
    static const char rule[] = "priority: must be low, normal, high, critical or 0-3";
    mb_t m;
    int i;

    for (i = 0; i < 4; i++) {
        priority_header(&m);
        mb_str(&m, names[i]);
        priority_case(&m, 0, i, NULL);
        priority_header(&m);
        msgpack_pack_uint8(&m.pk, (uint8_t)i);
        priority_case(&m, 0, i, NULL);
        /* Any integer width. */
        priority_header(&m);
        msgpack_pack_fix_uint64(&m.pk, (uint64_t)i);
        priority_case(&m, 0, i, NULL);
    }
    priority_header(&m);
    mb_str(&m, "urgent");
    priority_case(&m, ER_ERULE, 0, rule);
    priority_header(&m);
    mb_str(&m, "LOW");
    priority_case(&m, ER_ERULE, 0, rule);
    priority_header(&m);
    mb_str(&m, "");
    priority_case(&m, ER_ERULE, 0, rule);
    priority_header(&m);
    mb_strn(&m, "low\0", 4);
    priority_case(&m, ER_ERULE, 0, rule);
    priority_header(&m);
    msgpack_pack_uint8(&m.pk, 4);
    priority_case(&m, ER_ERULE, 0, rule);
    priority_header(&m);
    msgpack_pack_uint64(&m.pk, UINT64_MAX);
    priority_case(&m, ER_ERULE, 0, rule);
    priority_header(&m);
    msgpack_pack_int8(&m.pk, -1);
    priority_case(&m, ER_ERULE, 0, rule);
    priority_header(&m);
    msgpack_pack_true(&m.pk);
    priority_case(&m, ER_ETYPE, 0, "priority: expected str or uint, got bool");
    priority_header(&m);
    msgpack_pack_double(&m.pk, 1.0);
    priority_case(&m, ER_ETYPE, 0, "priority: expected str or uint, got float");
    priority_header(&m);
    msgpack_pack_nil(&m.pk);
    priority_case(&m, ER_ETYPE, 0, "priority: expected str or uint, got nil");

    /* Names and parsing. */
    for (i = 0; i < 4; i++) {
        ck_assert_str_eq(er_priority_name(i), names[i]);
        ck_assert_int_eq(er_priority_parse(names[i], strlen(names[i])), i);
    }
    ck_assert_str_eq(er_priority_name(4), "?");
    ck_assert_str_eq(er_priority_name(-1), "?");
    ck_assert_int_eq(er_priority_parse("lo", 2), -1);
    ck_assert_int_eq(er_priority_parse("lowest", 6), -1);
    ck_assert_int_eq(er_priority_parse("high", 3), -1);
}
END_TEST

START_TEST(test_id_rules)
{
    static const char chars[] =
        "id: must be 1-64 printable ASCII characters (no space or control characters)";

    str_field_ok("id", rep('x', 64), 64);
    str_field_ok("id", "a", 1);
    str_field_ok("id", "!~#$%&'()*+,-./:;<=>?@[\\]^_`{|}", 31);
    str_field_refused("id", rep('x', 65), 65, ER_ERULE,
                      "id: must be 1-64 printable ASCII characters, got 65 bytes");
    str_field_refused("id", "", 0, ER_ERULE,
                      "id: must be 1-64 printable ASCII characters, got 0 bytes");
    str_field_refused("id", "a b", 3, ER_ERULE, chars);
    str_field_refused("id", "a\tb", 3, ER_ERULE, chars);
    str_field_refused("id", "\x01", 1, ER_ERULE, chars);
    str_field_refused("id", "\x7f", 1, ER_ERULE, chars);
    str_field_refused("id", "a\0", 2, ER_ERULE, chars);
    str_field_refused("id", "caf\xc3\xa9", 5, ER_ERULE, chars);
    str_field_refused("id", "\xff", 1, ER_ERULE, chars);
}
END_TEST

START_TEST(test_time_rules)
{
    mb_t m;
    decoded_t d;

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_int(&m, "time", -1);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ERULE,
                   "time: must be microseconds since the epoch (>= 0)");

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_int(&m, "time", INT64_MIN);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ERULE,
                   "time: must be microseconds since the epoch (>= 0)");

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_uint(&m, "time", (uint64_t)INT64_MAX + 1);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ERULE, "time: out of range");

    /* 0, a typical value and INT64_MAX; any signed or unsigned width. */
    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    mb_str(&m, "time");
    msgpack_pack_fix_int64(&m.pk, 1700000000000000);
    decode_mb(&d, &m, ER_VALIDATE_CLIENT);
    ck_assert_int_eq(d.rc, 0);
    ck_assert_int_eq(d.ev.time, 1700000000000000);
    ck_assert(d.ev.has & ER_HAS_TIME);
    decoded_free(&d);

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_uint(&m, "time", INT64_MAX);
    decode_mb(&d, &m, ER_VALIDATE_CLIENT);
    ck_assert_int_eq(d.rc, 0);
    ck_assert_int_eq(d.ev.time, INT64_MAX);
    decoded_free(&d);

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_uint(&m, "time", 0);
    decode_mb(&d, &m, ER_VALIDATE_CLIENT);
    ck_assert_int_eq(d.rc, 0);
    ck_assert_int_eq(d.ev.time, 0);
    decoded_free(&d);
}
END_TEST

START_TEST(test_stream_rules)
{
    static const char ctl[] = "stream: must not contain control characters";
    mb_t m;
    decoded_t d;

    str_field_ok("stream", "user:123", 8);
    str_field_ok("stream", rep('s', 255), 255);
    str_field_ok("stream", "a$", 2);
    str_field_ok("stream", "caf\xc3\xa9 \xe2\x82\xac", 9);
    /* U+00A0, right after the C1 block, is not a control character. */
    str_field_ok("stream", "a\xc2\xa0", 3);
    str_field_refused("stream", rep('s', 256), 256, ER_ERULE,
                      "stream: must be 1-255 bytes, got 256");
    str_field_refused("stream", "", 0, ER_ERULE, "stream: must be 1-255 bytes, got 0");
    str_field_refused("stream", "a\x1b[31m", 6, ER_ERULE, ctl);
    str_field_refused("stream", "a\nb", 3, ER_ERULE, ctl);
    str_field_refused("stream", "\x7f", 1, ER_ERULE, ctl);
    str_field_refused("stream", "a\x01", 2, ER_ERULE, ctl);
    /* C1 controls: U+0080, U+009B (CSI), U+009F. */
    str_field_refused("stream", "a\xc2\x80", 3, ER_ERULE, ctl);
    str_field_refused("stream", "\xc2\x9b", 2, ER_ERULE, ctl);
    str_field_refused("stream", "x\xc2\x9fy", 4, ER_ERULE, ctl);
    str_field_refused("stream", "a\0b", 3, ER_ENUL, "stream: contains a NUL character");
    str_field_refused("stream", "a\xc3", 2, ER_EUTF8, "stream: not valid UTF-8");
    str_field_refused("stream", "$sys", 4, ER_ERESERVED,
                      "stream: streams starting with '$' are reserved for the daemon");
    str_field_refused("stream", "$", 1, ER_ERESERVED,
                      "stream: streams starting with '$' are reserved for the daemon");

    /* '$' streams are the daemon's and plugins': fine without the flag. */
    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_str(&m, "stream", "$audit");
    decode_mb(&d, &m, 0);
    ck_assert_int_eq(d.rc, 0);
    decoded_free(&d);
}
END_TEST

START_TEST(test_text_field_rules)
{
    static const struct {
        const char *key;
        size_t max;
    } fields[] = {
        {"correlation_id", 128},
        {"causation_id", 128},
        {"source", 255},
        {"content_type", 127},
    };
    size_t i;

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        char msg[128];
        const char *k = fields[i].key;
        size_t max = fields[i].max;

        str_field_ok(k, rep('c', max), max);
        str_field_ok(k, "", 0);
        str_field_ok(k, "h\xc3\xa9llo \xf0\x9f\x98\x80", 11);
        snprintf(msg, sizeof(msg), "%s: must be at most %zu bytes, got %zu", k, max, max + 1);
        str_field_refused(k, rep('c', max + 1), max + 1, ER_ERULE, msg);
        snprintf(msg, sizeof(msg), "%s: not valid UTF-8", k);
        str_field_refused(k, "a\xc0\x80", 3, ER_EUTF8, msg);
        str_field_refused(k, "\xed\xa0\x80", 3, ER_EUTF8, msg);
        str_field_refused(k, "\xf4\x90\x80\x80", 4, ER_EUTF8, msg);
        str_field_refused(k, "\xe2\x82", 2, ER_EUTF8, msg);
        snprintf(msg, sizeof(msg), "%s: contains a NUL character", k);
        str_field_refused(k, "a\0", 2, ER_ENUL, msg);
    }
}
END_TEST

START_TEST(test_traceparent_rules)
{
    static const char rule[] = "traceparent: must be W3C trace context (00-<32 hex>-<16 hex>-<2 "
                               "hex>, lowercase, ids not all zero)";
    static const char *const good[] = {
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        "00-00000000000000000000000000000001-0000000000000001-ff",
        /* A future version may append fields. */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds",
        "fe-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-x",
    };
    static const char *const bad[] = {
        "",
        "00",
        /* Upper case. */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
        "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        /* Version ff is forbidden. */
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        /* All-zero ids. */
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        /* Lengths. */
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b77-01",
        /* Version 00 has exactly four fields. */
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        /* A future version's extra fields follow a dash. */
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01xy",
        /* Separators and digits. */
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
        "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0z",
        " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    };
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        str_field_ok("traceparent", good[i], strlen(good[i]));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        str_field_refused("traceparent", bad[i], strlen(bad[i]), ER_ERULE, rule);
    /* A future version's tail: printable ASCII only. */
    str_field_refused("traceparent", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-a\0b",
                      59, ER_ERULE, rule);
    str_field_refused("traceparent", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-\xff",
                      57, ER_ERULE, rule);
    str_field_refused("traceparent",
                      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-\xc3\xa9", 58,
                      ER_ERULE, rule);
    str_field_refused("traceparent", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-a b",
                      59, ER_ERULE, rule);
    /* A NUL among the fixed fields. */
    str_field_refused("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\0", 55,
                      ER_ERULE, rule);
}
END_TEST

START_TEST(test_tracestate_rules)
{
    static const char rule[] = "tracestate: must be W3C tracestate (at most 32 key=value members, "
                               "at most 512 bytes)";
    static const char *const good[] = {
        "rojo=00f067aa0ba902b7",
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
        "rojo=00f067aa0ba902b7 , congo=t61rcWkgMzE",
        "tenant@system=value",
        "a_b-c*d/e=1",
        "k=v with spaces",
        "k=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~",
        "",
        "a=b,,c=d",
    };
    static const char *const bad[] = {
        "a", "=b", "a=", "A=b", "a b=c", "a=b=c", "a=b,c", "a=b\x01", "a=caf\xc3\xa9", "\xff=a",
    };
    char buf[1024];
    size_t i, n;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        str_field_ok("tracestate", good[i], strlen(good[i]));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        str_field_refused("tracestate", bad[i], strlen(bad[i]), ER_ERULE, rule);
    str_field_refused("tracestate", "a=b\0", 4, ER_ERULE, rule);

    /* 32 members are fine, 33 are not. */
    for (n = 0, i = 0; i < 32; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%sk%zu=v", i ? "," : "", i);
    str_field_ok("tracestate", buf, n);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",k32=v");
    str_field_refused("tracestate", buf, n, ER_ERULE, rule);

    /* 512 bytes are fine, 513 are not. */
    memset(buf, 'v', sizeof(buf));
    memcpy(buf, "k=", 2);
    str_field_ok("tracestate", buf, 256 + 2);
    str_field_refused("tracestate", buf, 256 + 3, ER_ERULE, rule); /* value > 256 */
    memcpy(buf, "a=", 2);
    for (i = 0; i < 510; i += 100)
        memcpy(buf + i + 100, ",b=", 3);
    str_field_ok("tracestate", buf, 512);
    str_field_refused("tracestate", buf, 513, ER_ERULE, rule);
}
END_TEST

START_TEST(test_data_rules)
{
    mb_t m;
    decoded_t d;

    /* bin: opaque bytes, anything goes. */
    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    mb_str(&m, "data");
    msgpack_pack_bin(&m.pk, 3);
    msgpack_pack_bin_body(&m.pk, "\xff\0\xc1", 3);
    decode_mb(&d, &m, ER_VALIDATE_CLIENT);
    ck_assert_int_eq(d.rc, 0);
    ck_assert(!d.ev.data_is_str);
    ck_assert_uint_eq(d.ev.data.len, 3);
    decoded_free(&d);

    /* str: must be valid UTF-8 without NUL, like every str. */
    str_field_ok("data", "{\"a\": \"\xc3\xa9\"}", 11);
    str_field_refused("data", "\xff", 1, ER_EUTF8, "data: not valid UTF-8");
    str_field_refused("data", "\xed\xbf\xbf", 3, ER_EUTF8, "data: not valid UTF-8");
    str_field_refused("data", "{}\0", 3, ER_ENUL, "data: contains a NUL character");
    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_strn(&m, "data", "x", 1);
    decode_mb(&d, &m, ER_VALIDATE_CLIENT);
    ck_assert(d.ev.data_is_str);
    decoded_free(&d);
}
END_TEST

static void meta_header(mb_t *m, size_t n)
{
    mb_init(m);
    mb_map(m, 2);
    kv_str(m, "type", "T");
    mb_str(m, "meta");
    mb_map(m, n);
}

START_TEST(test_meta_rules)
{
    mb_t m;
    decoded_t d;
    size_t i;
    char k[16];

    meta_header(&m, 64);
    for (i = 0; i < 64; i++) {
        snprintf(k, sizeof(k), "k%zu", i);
        kv_str(&m, k, "v");
    }
    decode_mb(&d, &m, ER_VALIDATE_CLIENT);
    ck_assert_int_eq(d.rc, 0);
    ck_assert_uint_eq(d.ev.meta_count, 64);
    decoded_free(&d);

    meta_header(&m, 65);
    for (i = 0; i < 65; i++) {
        snprintf(k, sizeof(k), "k%zu", i);
        kv_str(&m, k, "v");
    }
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ERULE, "meta: at most 64 entries, got 65");

    meta_header(&m, 3);
    kv_str(&m, "a", "1");
    kv_str(&m, "b", "2");
    kv_str(&m, "a", "3");
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_EDUPKEY, "meta: duplicate key \"a\"");

    meta_header(&m, 1);
    kv_uint(&m, "a", 1);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ETYPE, "meta value: expected str, got uint");

    meta_header(&m, 1);
    mb_str(&m, "a");
    msgpack_pack_nil(&m.pk);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ETYPE, "meta value: expected str, got nil");

    meta_header(&m, 1);
    mb_str(&m, "a");
    mb_map(&m, 0);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ETYPE, "meta value: expected str, got map");

    meta_header(&m, 1);
    msgpack_pack_uint8(&m.pk, 1);
    mb_str(&m, "a");
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ETYPE, "meta key: expected str, got uint");

    meta_header(&m, 1);
    kv_str(&m, "", "v");
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ERULE, "meta: keys must be 1-128 bytes");

    meta_header(&m, 1);
    kv_str(&m, rep('k', 129), "v");
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ERULE, "meta: keys must be 1-128 bytes");

    meta_header(&m, 1);
    kv_str(&m, rep('k', 128), "v");
    decode_mb(&d, &m, ER_VALIDATE_CLIENT);
    ck_assert_int_eq(d.rc, 0);
    decoded_free(&d);

    meta_header(&m, 1);
    mb_strn(&m, "a\0", 2);
    mb_str(&m, "v");
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ENUL, "meta: key contains a NUL character");

    meta_header(&m, 1);
    mb_strn(&m, "a\xff", 2);
    mb_str(&m, "v");
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_EUTF8, "meta: key not valid UTF-8");

    meta_header(&m, 1);
    kv_strn(&m, "k", "v\0", 2);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ENUL, "meta.k: contains a NUL character");

    meta_header(&m, 1);
    kv_strn(&m, "k", "\xc3\x28", 2);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_EUTF8, "meta.k: not valid UTF-8");

    /* The key in a message is escaped. */
    meta_header(&m, 1);
    kv_strn(&m, "k\"\n", "\xff", 1);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_EUTF8, "meta.k\\x22\\x0a: not valid UTF-8");

    /* Meta values may be empty and may hold anything printable. */
    meta_header(&m, 2);
    kv_str(&m, "empty", "");
    kv_str(&m, "k", "$ \xe2\x82\xac \x01");
    decode_mb(&d, &m, ER_VALIDATE_CLIENT);
    ck_assert_int_eq(d.rc, 0);
    decoded_free(&d);
}
END_TEST

START_TEST(test_daemon_fields_refused)
{
    static const char *const names[] = {"seq", "received", "origin", "via", "hops"};
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char msg[128];
        mb_t m;

        snprintf(msg, sizeof(msg), "%s: set by the daemon, clients must not send it", names[i]);
        /* A plausible value. */
        mb_init(&m);
        mb_map(&m, 2);
        kv_str(&m, "type", "T");
        mb_str(&m, names[i]);
        if (i == 2 || i == 3) {
            mb_map(&m, 1);
            kv_str(&m, i == 2 ? "host" : "broker", "x");
        } else {
            msgpack_pack_uint8(&m.pk, 1);
        }
        expect_refused(&m, ER_VALIDATE_CLIENT, ER_EDAEMONFIELD, msg);

        /* Refused by name, whatever the value (even a wrong type). */
        mb_init(&m);
        mb_map(&m, 2);
        mb_str(&m, names[i]);
        mb_str(&m, "whatever");
        kv_str(&m, "type", "T");
        expect_refused(&m, ER_VALIDATE_CLIENT, ER_EDAEMONFIELD, msg);
    }
}
END_TEST

START_TEST(test_daemon_fields_validate)
{
    /* The same through er_event_validate (clients building an event). */
    er_event_t ev;
    er_error_t err;

    memset(&ev, 0, sizeof(ev));
    ev.type = er_str("T");
    ev.has = ER_HAS_SEQ;
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), ER_EDAEMONFIELD);
    ck_assert_str_eq(err.message, "seq: set by the daemon, clients must not send it");
    ck_assert_int_eq(er_event_validate(&ev, 0, &err), 0);
    ev.has = ER_HAS_RECEIVED;
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), ER_EDAEMONFIELD);
    ck_assert_str_eq(err.message, "received: set by the daemon, clients must not send it");
    ev.has = ER_HAS_ORIGIN;
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), ER_EDAEMONFIELD);
    ck_assert_str_eq(err.message, "origin: set by the daemon, clients must not send it");
    ev.has = ER_HAS_HOPS;
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), ER_EDAEMONFIELD);
    ck_assert_str_eq(err.message, "hops: set by the daemon, clients must not send it");
    ev.has = 0;
    ev.via.plugin = er_str("p");
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), ER_EDAEMONFIELD);
    ck_assert_str_eq(err.message, "via: set by the daemon, clients must not send it");
    ck_assert_int_eq(er_event_validate(&ev, 0, &err), 0);

    /* Daemon-side, their strings follow the text rules. */
    ev.via.plugin = er_str("p\xff");
    ck_assert_int_eq(er_event_validate(&ev, 0, &err), ER_EUTF8);
    ck_assert_str_eq(err.message, "via.plugin: not valid UTF-8");
    ev.via.plugin.ptr = NULL;
    ev.has = ER_HAS_ORIGIN;
    ev.origin.host.ptr = "h\0";
    ev.origin.host.len = 2;
    ck_assert_int_eq(er_event_validate(&ev, 0, &err), ER_ENUL);
    ck_assert_str_eq(err.message, "origin.host: contains a NUL character");
    ev.origin.host = er_str(rep('h', 256));
    ck_assert_int_eq(er_event_validate(&ev, 0, &err), ER_ERULE);
    ck_assert_str_eq(err.message, "origin.host: must be at most 255 bytes, got 256");
    ev.origin.host.ptr = NULL;
    ev.via.broker = er_str(rep('b', 256));
    ck_assert_int_eq(er_event_validate(&ev, 0, &err), ER_ERULE);
    ck_assert_str_eq(err.message, "via.broker: must be at most 255 bytes, got 256");
    ev.via.broker.ptr = NULL;
    ev.via.source = er_str("s\xc0\x80");
    ck_assert_int_eq(er_event_validate(&ev, 0, &err), ER_EUTF8);
    ck_assert_str_eq(err.message, "via.source: not valid UTF-8");
}
END_TEST

START_TEST(test_daemon_field_types)
{
    /* Read without ER_VALIDATE_CLIENT (the daemon reading its own store,
     * ROWS): each daemon field still has its type and shape. */
    static const struct {
        const char *key;
        int kind; /* 0: str value, 1: map with one key/str value */
        const char *sub;
        int code;
        const char *message;
    } cases[] = {
        {"seq", 0, NULL, ER_ETYPE, "seq: expected uint, got str"},
        {"received", 0, NULL, ER_ETYPE, "received: expected int, got str"},
        {"hops", 0, NULL, ER_ETYPE, "hops: expected uint, got str"},
        {"origin", 0, NULL, ER_ETYPE, "origin: expected map, got str"},
        {"via", 0, NULL, ER_ETYPE, "via: expected map, got str"},
        {"origin", 1, "pid", ER_ETYPE, "origin.pid: expected int, got str"},
        {"origin", 1, "uid", ER_ETYPE, "origin.uid: expected uint, got str"},
        {"origin", 1, "gid", ER_ETYPE, "origin.gid: expected uint, got str"},
        {"origin", 1, "other", ER_EUNKNOWNKEY, "origin: unknown key \"other\""},
        {"via", 1, "other", ER_EUNKNOWNKEY, "via: unknown key \"other\""},
    };
    size_t i;
    mb_t m;
    decoded_t d;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mb_init(&m);
        mb_map(&m, 2);
        kv_str(&m, "type", "T");
        mb_str(&m, cases[i].key);
        if (cases[i].kind == 1) {
            mb_map(&m, 1);
            kv_str(&m, cases[i].sub, "x");
        } else {
            mb_str(&m, "x");
        }
        expect_refused(&m, 0, cases[i].code, cases[i].message);
    }

    /* Non-str sub-values and bounds. */
    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    mb_str(&m, "origin");
    mb_map(&m, 1);
    kv_uint(&m, "host", 1);
    expect_refused(&m, 0, ER_ETYPE, "origin.host: expected str, got uint");

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    mb_str(&m, "via");
    mb_map(&m, 1);
    kv_uint(&m, "broker", 1);
    expect_refused(&m, 0, ER_ETYPE, "via.broker: expected str, got uint");

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    mb_str(&m, "origin");
    mb_map(&m, 1);
    kv_int(&m, "uid", -1);
    expect_refused(&m, 0, ER_ERULE, "origin.uid: must not be negative");

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    mb_str(&m, "origin");
    mb_map(&m, 1);
    kv_uint(&m, "gid", 4294967296ull);
    expect_refused(&m, 0, ER_ERULE, "origin.gid: at most 4294967295");

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    mb_str(&m, "origin");
    mb_map(&m, 2);
    kv_uint(&m, "uid", 1);
    kv_uint(&m, "uid", 2);
    expect_refused(&m, 0, ER_EDUPKEY, "origin: duplicate key \"uid\"");

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    mb_str(&m, "via");
    mb_map(&m, 2);
    kv_str(&m, "plugin", "a");
    kv_str(&m, "plugin", "b");
    expect_refused(&m, 0, ER_EDUPKEY, "via: duplicate key \"plugin\"");

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    mb_str(&m, "via");
    mb_map(&m, 1);
    msgpack_pack_uint8(&m.pk, 1);
    mb_str(&m, "x");
    expect_refused(&m, 0, ER_ETYPE, "via: expected str, got uint");

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_int(&m, "hops", -1);
    expect_refused(&m, 0, ER_ERULE, "hops: must not be negative");

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_uint(&m, "hops", 4294967296ull);
    expect_refused(&m, 0, ER_ERULE, "hops: at most 4294967295");

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_int(&m, "received", -5);
    decode_mb(&d, &m, 0);
    ck_assert_int_eq(d.rc, 0);
    ck_assert_int_eq(d.ev.received, -5);
    decoded_free(&d);
}
END_TEST

START_TEST(test_unknown_and_duplicate_fields)
{
    mb_t m;

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_str(&m, "colour", "blue");
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_EUNKNOWNKEY, "unknown field \"colour\"");

    /* Case matters; the name is escaped and cut in the message. */
    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_str(&m, "Type", "T");
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_EUNKNOWNKEY, "unknown field \"Type\"");

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    mb_strn(&m, "a\0\"\xff", 4);
    mb_str(&m, "x");
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_EUNKNOWNKEY, "unknown field \"a\\x00\\x22\\xff\"");

    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    mb_str(&m, rep('z', 100));
    mb_str(&m, "x");
    {
        char want[128];
        snprintf(want, sizeof(want), "unknown field \"%.*s...\"", 60, rep('z', 100));
        expect_refused(&m, ER_VALIDATE_CLIENT, ER_EUNKNOWNKEY, want);
    }

    /* Unknown even when empty or nested-looking. */
    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_str(&m, "", "x");
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_EUNKNOWNKEY, "unknown field \"\"");
    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_str(&m, "meta.k", "x");
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_EUNKNOWNKEY, "unknown field \"meta.k\"");

    /* Duplicates, also when the second value differs or is malformed. */
    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    kv_str(&m, "type", "U");
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_EDUPKEY, "duplicate field \"type\"");
    mb_init(&m);
    mb_map(&m, 3);
    kv_str(&m, "type", "T");
    kv_uint(&m, "version", 1);
    mb_str(&m, "version");
    msgpack_pack_nil(&m.pk);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_EDUPKEY, "duplicate field \"version\"");
    mb_init(&m);
    mb_map(&m, 3);
    kv_str(&m, "type", "T");
    mb_str(&m, "meta");
    mb_map(&m, 0);
    mb_str(&m, "meta");
    mb_map(&m, 0);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_EDUPKEY, "duplicate field \"meta\"");

    /* Keys must be strings. */
    mb_init(&m);
    mb_map(&m, 2);
    kv_str(&m, "type", "T");
    msgpack_pack_uint8(&m.pk, 1);
    mb_str(&m, "x");
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ETYPE, "event: keys must be str, got uint");
    mb_init(&m);
    mb_map(&m, 1);
    msgpack_pack_bin(&m.pk, 4);
    msgpack_pack_bin_body(&m.pk, "type", 4);
    mb_str(&m, "x");
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ETYPE, "event: keys must be str, got bin");
}
END_TEST

START_TEST(test_event_not_a_map)
{
    mb_t m;

    mb_init(&m);
    msgpack_pack_array(&m.pk, 0);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ETYPE, "event: expected map, got array");
    mb_init(&m);
    msgpack_pack_nil(&m.pk);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ETYPE, "event: expected map, got nil");
    mb_init(&m);
    mb_str(&m, "type");
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ETYPE, "event: expected map, got str");
    mb_init(&m);
    expect_refused(&m, ER_VALIDATE_CLIENT, ER_ETRUNC, "event: truncated msgpack data");
    {
        static const uint8_t c1[] = {0xc1};
        decoded_t d;
        decode_bytes(&d, c1, 1, ER_VALIDATE_CLIENT, BIG);
        ck_assert_int_eq(d.rc, ER_ETYPE);
        ck_assert_str_eq(d.err.message, "event: wrong type");
        decoded_free(&d);
    }
}
END_TEST

/* Every field with a value of a type it does not take. */
START_TEST(test_wrong_types)
{
    static const struct {
        const char *key;
        int value; /* 0 uint, 1 str, 2 nil, 3 array, 4 bool, 5 float, 6 bin, 7 map, 8 int */
        const char *message;
    } cases[] = {
        {"type", 0, "type: expected str, got uint"},
        {"type", 6, "type: expected str, got bin"},
        {"type", 2, "type: expected str, got nil"},
        {"version", 1, "version: expected uint, got str"},
        {"version", 5, "version: expected uint, got float"},
        {"version", 4, "version: expected uint, got bool"},
        {"topic", 0, "topic: expected str, got uint"},
        {"topic", 6, "topic: expected str, got bin"},
        {"priority", 3, "priority: expected str or uint, got array"},
        {"id", 0, "id: expected str, got uint"},
        {"id", 6, "id: expected str, got bin"},
        {"time", 1, "time: expected int, got str"},
        {"time", 5, "time: expected int, got float"},
        {"time", 2, "time: expected int, got nil"},
        {"stream", 0, "stream: expected str, got uint"},
        {"stream", 3, "stream: expected str, got array"},
        {"correlation_id", 8, "correlation_id: expected str, got int"},
        {"causation_id", 4, "causation_id: expected str, got bool"},
        {"source", 7, "source: expected str, got map"},
        {"traceparent", 6, "traceparent: expected str, got bin"},
        {"tracestate", 3, "tracestate: expected str, got array"},
        {"content_type", 2, "content_type: expected str, got nil"},
        {"data", 0, "data: expected bin or str, got uint"},
        {"data", 2, "data: expected bin or str, got nil"},
        {"data", 7, "data: expected bin or str, got map"},
        {"data", 3, "data: expected bin or str, got array"},
        {"meta", 3, "meta: expected map, got array"},
        {"meta", 1, "meta: expected map, got str"},
        {"meta", 2, "meta: expected map, got nil"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mb_t m;
        bool is_type = strcmp(cases[i].key, "type") == 0;

        mb_init(&m);
        mb_map(&m, is_type ? 1 : 2);
        if (!is_type)
            kv_str(&m, "type", "T");
        mb_str(&m, cases[i].key);
        switch (cases[i].value) {
        case 0:
            msgpack_pack_uint8(&m.pk, 7);
            break;
        case 1:
            mb_str(&m, "1");
            break;
        case 2:
            msgpack_pack_nil(&m.pk);
            break;
        case 3:
            msgpack_pack_array(&m.pk, 1);
            mb_str(&m, "x");
            break;
        case 4:
            msgpack_pack_true(&m.pk);
            break;
        case 5:
            msgpack_pack_double(&m.pk, 1.0);
            break;
        case 6:
            msgpack_pack_bin(&m.pk, 1);
            msgpack_pack_bin_body(&m.pk, "x", 1);
            break;
        case 7:
            mb_map(&m, 0);
            break;
        default:
            msgpack_pack_int8(&m.pk, -3);
            break;
        }
        expect_refused(&m, ER_VALIDATE_CLIENT, ER_ETYPE, cases[i].message);
    }
}
END_TEST

START_TEST(test_oversize)
{
    er_event_t ev;
    er_buf_t b = ER_BUF_INIT;
    decoded_t d;
    static char payload[3000];
    char msg[128];

    memset(&ev, 0, sizeof(ev));
    ev.type = er_str("T");
    memset(payload, 'p', sizeof(payload));
    ev.data.ptr = payload;
    ev.data.len = sizeof(payload);
    ck_assert_int_eq(er__event_pack(&b, &ev), 0);

    /* Exactly max_event_size: accepted. */
    decode_bytes(&d, b.data, b.len, ER_VALIDATE_CLIENT, b.len);
    ck_assert_int_eq(d.rc, 0);
    decoded_free(&d);
    /* One byte less allowed: ETOOBIG. */
    decode_bytes(&d, b.data, b.len, ER_VALIDATE_CLIENT, b.len - 1);
    ck_assert_int_eq(d.rc, ER_ETOOBIG);
    snprintf(msg, sizeof(msg), "event: larger than max_event_size (%zu bytes)", b.len - 1);
    ck_assert_str_eq(d.err.message, msg);
    decoded_free(&d);
    /* Far below. */
    decode_bytes(&d, b.data, b.len, ER_VALIDATE_CLIENT, 256);
    ck_assert_int_eq(d.rc, ER_ETOOBIG);
    decoded_free(&d);
    er__buf_free(&b);

    /* Many small fields add up: the size counts the whole map. */
    {
        mb_t m;
        size_t i;
        char k[8];
        mb_init(&m);
        mb_map(&m, 2);
        kv_str(&m, "type", "T");
        mb_str(&m, "meta");
        mb_map(&m, 64);
        for (i = 0; i < 64; i++) {
            snprintf(k, sizeof(k), "k%zu", i);
            kv_str(&m, k, rep('v', 40));
        }
        decode_bytes(&d, m.b.data, m.b.len, ER_VALIDATE_CLIENT, 1024);
        ck_assert_int_eq(d.rc, ER_ETOOBIG);
        decoded_free(&d);
        decode_bytes(&d, m.b.data, m.b.len, ER_VALIDATE_CLIENT, m.b.len);
        ck_assert_int_eq(d.rc, 0);
        decoded_free(&d);
        mb_free(&m);
    }
}
END_TEST

START_TEST(test_container_claims)
{
    /* A field claiming more bytes than the event has: ETRUNC, nothing
     * allocated or read past the end. */
    static const uint8_t meta_huge[] = {0x82, 0xa4, 't', 'y', 'p',  'e',  0xa1, 'T',  0xa4,
                                        'm',  'e',  't', 'a', 0xdf, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t data_huge[] = {0x82, 0xa4, 't', 'y', 'p',  'e',  0xa1, 'T',  0xa4,
                                        'd',  'a',  't', 'a', 0xc6, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t map_huge[] = {0xdd, 0x00, 0xff, 0xff, 0xff};
    static const uint8_t event_huge[] = {0xdf, 0x00, 0xff, 0xff, 0xff, 0xa4, 't', 'y', 'p', 'e'};
    decoded_t d;

    decode_bytes(&d, meta_huge, sizeof(meta_huge), ER_VALIDATE_CLIENT, BIG);
    ck_assert_int_eq(d.rc, ER_ETRUNC);
    ck_assert_str_eq(d.err.message, "meta: truncated msgpack data");
    decoded_free(&d);
    decode_bytes(&d, data_huge, sizeof(data_huge), ER_VALIDATE_CLIENT, BIG);
    ck_assert_int_eq(d.rc, ER_ETRUNC);
    ck_assert_str_eq(d.err.message, "data: truncated msgpack data");
    decoded_free(&d);
    decode_bytes(&d, map_huge, sizeof(map_huge), ER_VALIDATE_CLIENT, BIG);
    ck_assert_int_eq(d.rc, ER_ETRUNC);
    decoded_free(&d);
    decode_bytes(&d, event_huge, sizeof(event_huge), ER_VALIDATE_CLIENT, BIG);
    ck_assert_int_eq(d.rc, ER_ETRUNC);
    decoded_free(&d);
}
END_TEST

START_TEST(test_validate_struct_rules)
{
    /* Rules that a client building an er_event_t meets before encoding. */
    er_event_t ev;
    er_error_t err;
    er_meta_t meta[65];
    size_t i;

    memset(&ev, 0, sizeof(ev));
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), ER_EMISSING);
    ck_assert_str_eq(err.message, "type: required");
    ck_assert_int_eq(err.index, -1);
    /* err may be NULL. */
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, NULL), ER_EMISSING);

    ev.type = er_str("T");
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), 0);
    ev.has = ER_HAS_PRIORITY;
    ev.priority = 4;
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), ER_ERULE);
    ck_assert_str_eq(err.message, "priority: must be low, normal, high, critical or 0-3");
    ev.priority = -1;
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), ER_ERULE);
    ev.has = ER_HAS_VERSION;
    ev.version = 0;
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), ER_ERULE);
    ck_assert_str_eq(err.message, "version: must be at least 1");
    /* Without the presence bit, the value is not looked at. */
    ev.has = 0;
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), 0);
    ev.has = ER_HAS_TIME;
    ev.time = -1;
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), ER_ERULE);
    ev.has = 0;

    for (i = 0; i < 65; i++) {
        meta[i].key = er_str("k");
        meta[i].value = er_str("v");
    }
    ev.meta = meta;
    ev.meta_count = 65;
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), ER_ERULE);
    ck_assert_str_eq(err.message, "meta: at most 64 entries, got 65");
    ev.meta_count = 1;
    meta[0].value.ptr = "\xe0\x80\x80";
    meta[0].value.len = 3;
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), ER_EUTF8);
    ck_assert_str_eq(err.message, "meta.k: not valid UTF-8");
    meta[0].value = er_str("v");
    meta[0].key.len = 0;
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), ER_ERULE);
    ck_assert_str_eq(err.message, "meta: keys must be 1-128 bytes");
    ev.meta_count = 0;

    /* data as bin is opaque; as str it is text. */
    ev.data.ptr = "\xff";
    ev.data.len = 1;
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), 0);
    ev.data_is_str = true;
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), ER_EUTF8);
    ck_assert_str_eq(err.message, "data: not valid UTF-8");
}
END_TEST

START_TEST(test_helpers)
{
    er_str_t s = er_str(NULL);
    int64_t a, b;

    ck_assert_ptr_null(s.ptr);
    ck_assert_uint_eq(s.len, 0);
    s = er_str("abc");
    ck_assert_uint_eq(s.len, 3);
    ck_assert_str_eq(er_ack_mode_name(ER_ACK_NONE), "none");
    ck_assert_str_eq(er_ack_mode_name(ER_ACK_RECEIVED), "received");
    ck_assert_str_eq(er_ack_mode_name(ER_ACK_DURABLE), "durable");
    ck_assert_int_eq(er_ack_mode_parse("none"), ER_ACK_NONE);
    ck_assert_int_eq(er_ack_mode_parse("received"), ER_ACK_RECEIVED);
    ck_assert_int_eq(er_ack_mode_parse("durable"), ER_ACK_DURABLE);
    ck_assert_int_eq(er_ack_mode_parse("Durable"), -1);
    ck_assert_int_eq(er_ack_mode_parse(""), -1);
    a = er_now_us();
    b = er_now_us();
    ck_assert_int_gt(a, 1600000000000000);
    ck_assert_int_ge(b, a);
    ck_assert_str_eq(er_strerror(ER_EDAEMONFIELD), "field is set by the daemon");
    ck_assert_str_eq(er_err_name(ER_ETRUNC), "ETRUNC");
    ck_assert_str_eq(er_err_name(0), "OK");
    ck_assert_str_eq(er_err_name(-ENOMEM), "ENOMEM");
    ck_assert_str_eq(er_err_name(-999999), "EUNKNOWN");
}
END_TEST

START_TEST(test_uuid7)
{
    char a[37], b[37];
    int i;

    er_uuid7(a);
    ck_assert_uint_eq(strlen(a), 36);
    ck_assert(a[8] == '-' && a[13] == '-' && a[18] == '-' && a[23] == '-');
    ck_assert(a[14] == '7');
    ck_assert(strchr("89ab", a[19]) != NULL);
    /* Strictly increasing within a process. */
    for (i = 0; i < 10000; i++) {
        er_uuid7(b);
        if (strcmp(a, b) >= 0)
            ck_abort_msg("%s not after %s", b, a);
        memcpy(a, b, sizeof(a));
    }
    /* A generated id passes the id rule. */
    {
        er_event_t ev;
        memset(&ev, 0, sizeof(ev));
        ev.type = er_str("T");
        ev.id = er_str(a);
        ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, NULL), 0);
    }
}
END_TEST

static Suite *event_suite(void)
{
    Suite *s = suite_create("event");
    TCase *tc = tcase_create("codec");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_round_trip_full);
    tcase_add_test(tc, test_round_trip_client);
    tcase_add_test(tc, test_round_trip_minimal);
    tcase_add_test(tc, test_round_trip_variants);
    tcase_add_test(tc, test_meta_forms);
    tcase_add_test(tc, test_truncated_every_offset);
    tcase_add_test(tc, test_trailing_left_to_caller);
    tcase_add_test(tc, test_oversize);
    tcase_add_test(tc, test_container_claims);
    suite_add_tcase(s, tc);

    tc = tcase_create("rules");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_type_rules);
    tcase_add_test(tc, test_version_rules);
    tcase_add_test(tc, test_topic_rules);
    tcase_add_test(tc, test_priority_rules);
    tcase_add_test(tc, test_id_rules);
    tcase_add_test(tc, test_time_rules);
    tcase_add_test(tc, test_stream_rules);
    tcase_add_test(tc, test_text_field_rules);
    tcase_add_test(tc, test_traceparent_rules);
    tcase_add_test(tc, test_tracestate_rules);
    tcase_add_test(tc, test_data_rules);
    tcase_add_test(tc, test_meta_rules);
    tcase_add_test(tc, test_validate_struct_rules);
    suite_add_tcase(s, tc);

    tc = tcase_create("shape");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_daemon_fields_refused);
    tcase_add_test(tc, test_daemon_fields_validate);
    tcase_add_test(tc, test_daemon_field_types);
    tcase_add_test(tc, test_unknown_and_duplicate_fields);
    tcase_add_test(tc, test_event_not_a_map);
    tcase_add_test(tc, test_wrong_types);
    suite_add_tcase(s, tc);

    tc = tcase_create("helpers");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_helpers);
    tcase_add_test(tc, test_uuid7);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(event_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
