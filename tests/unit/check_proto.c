/*
 * Unit tests of the wire messages (lib/proto.c): parsing of the frame
 * header [op, request_id, body], every encoder/decoder pair round-tripped,
 * the strict decoding of what clients send (HELLO, batches, nil bodies:
 * unknown and duplicate keys, wrong types, trailing bytes) and the lenient
 * decoding of what the daemon sends (WELCOME, ACK, NACK, GOAWAY skip keys
 * they do not know, so an older client survives a newer daemon).
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

/* ------------------------------------------------------- msgpack builder */

typedef struct mb_s {
    er_buf_t b;
    msgpack_packer pk;
} mb_t;

static void mb_init(mb_t *m)
{
    memset(m, 0, sizeof(*m));
    msgpack_packer_init(&m->pk, &m->b, er__buf_mp_write);
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

static void mb_raw(mb_t *m, const void *p, size_t n)
{
    ck_assert_int_eq(er__buf_append(&m->b, p, n), 0);
}

/* Start the payload of a frame: [op, req, <body follows>]. */
static void mb_frame(mb_t *m, uint32_t op, uint32_t req)
{
    mb_init(m);
    msgpack_pack_array(&m->pk, 3);
    msgpack_pack_uint32(&m->pk, op);
    msgpack_pack_uint32(&m->pk, req);
}

/* A parsed message whose views point into an exact-size heap copy. */
typedef struct parsed_s {
    uint8_t *bytes;
    er_msg_t m;
    er_error_t err;
    int rc;
} parsed_t;

static void parse_bytes(parsed_t *p, const void *data, size_t n)
{
    memset(p, 0, sizeof(*p));
    p->bytes = malloc(n);
    ck_assert(n == 0 || p->bytes != NULL);
    if (n > 0)
        memcpy(p->bytes, data, n);
    p->rc = er__msg_parse(p->bytes, n, &p->m, &p->err);
}

/* Parse the payload built in m (freed). */
static void parse_mb(parsed_t *p, mb_t *m)
{
    parse_bytes(p, m->b.data, m->b.len);
    er__buf_free(&m->b);
}

/* Parse a whole encoded frame: check the length prefix, then parse. */
static void parse_frame(parsed_t *p, const er_buf_t *b, size_t off)
{
    const uint8_t *f = b->data + off;
    size_t len = ((size_t)f[0] << 24) | ((size_t)f[1] << 16) | ((size_t)f[2] << 8) | f[3];

    ck_assert_uint_eq(len + 4, b->len - off);
    parse_bytes(p, f + 4, len);
    ck_assert_msg(p->rc == 0, "parse: %s", p->err.message);
}

static void parsed_free(parsed_t *p)
{
    free(p->bytes);
    p->bytes = NULL;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void parse_hex(parsed_t *p, const char *hex)
{
    uint8_t tmp[256];
    size_t n = 0;

    while (*hex) {
        if (*hex == ' ') {
            hex++;
            continue;
        }
        ck_assert(hexval(hex[0]) >= 0 && hexval(hex[1]) >= 0 && n < sizeof(tmp));
        tmp[n++] = (uint8_t)(hexval(hex[0]) << 4 | hexval(hex[1]));
        hex += 2;
    }
    parse_bytes(p, tmp, n);
}

/* ------------------------------------------------------------- header */

START_TEST(test_parse_ok)
{
    parsed_t p;

    parse_hex(&p, "93 04 07 c0");
    ck_assert_int_eq(p.rc, 0);
    ck_assert_uint_eq(p.m.op, ER_OP_PING);
    ck_assert_uint_eq(p.m.req, 7);
    ck_assert_uint_eq(p.m.body_len, 1);
    ck_assert_ptr_eq(p.m.body, p.bytes + 3);
    parsed_free(&p);

    /* Any uint width for op and request id; the largest request id. */
    parse_hex(&p, "93 cf 00 00 00 00 00 00 00 01 ce ff ff ff ff 80");
    ck_assert_int_eq(p.rc, 0);
    ck_assert_uint_eq(p.m.op, ER_OP_HELLO);
    ck_assert_uint_eq(p.m.req, UINT32_MAX);
    ck_assert_uint_eq(p.m.body_len, 1);
    parsed_free(&p);

    /* A non-negative value in a signed encoding is a uint. */
    parse_hex(&p, "93 d0 02 d1 00 05 c0");
    ck_assert_int_eq(p.rc, 0);
    ck_assert_uint_eq(p.m.op, ER_OP_PUBLISH);
    ck_assert_uint_eq(p.m.req, 5);
    parsed_free(&p);

    /* array16 of 3 is an array of 3. */
    parse_hex(&p, "dc 00 03 04 01 c0");
    ck_assert_int_eq(p.rc, 0);
    parsed_free(&p);

    /* Request id 0, the connection itself. */
    parse_hex(&p, "93 01 00 80");
    ck_assert_int_eq(p.rc, 0);
    ck_assert_uint_eq(p.m.req, 0);
    parsed_free(&p);

    /* The body is not looked at: whatever follows the id is the body. */
    parse_hex(&p, "93 04 01 c0 c0 c0");
    ck_assert_int_eq(p.rc, 0);
    ck_assert_uint_eq(p.m.body_len, 3);
    parsed_free(&p);
}
END_TEST

static void parse_refused(const char *hex, int code, const char *message)
{
    parsed_t p;
    parse_hex(&p, hex);
    ck_assert_msg(p.rc == code, "%s: expected %s, got %s (%s)", hex, er_err_name(code),
                  er_err_name(p.rc), p.err.message);
    ck_assert_str_eq(p.err.message, message);
    parsed_free(&p);
}

START_TEST(test_parse_refused)
{
    static const char arr[] = "frame: expected an array [op, request_id, body]";

    /* Not an array. */
    parse_refused("", ER_EFRAME, "frame: not msgpack (truncated msgpack data)");
    parse_refused("c1", ER_EFRAME, "frame: not msgpack (wrong type)");
    parse_refused("c1 04 01 c0", ER_EFRAME, "frame: not msgpack (wrong type)");
    parse_refused("80", ER_EFRAME, arr);
    parse_refused("c0", ER_EFRAME, arr);
    parse_refused("a4 50 49 4e 47", ER_EFRAME, arr);
    parse_refused("04", ER_EFRAME, arr);
    parse_refused("83 01 02 03 04 05 06", ER_EFRAME, arr);
    /* Arrays of the wrong size. */
    parse_refused("90", ER_EFRAME, arr);
    parse_refused("91 04", ER_EFRAME, arr);
    parse_refused("92 04 01", ER_EFRAME, arr);
    parse_refused("94 04 01 c0 c0", ER_EFRAME, arr);
    /* A count larger than the bytes: truncated, never allocated. */
    parse_refused("dd 00 ff ff ff", ER_EFRAME, "frame: not msgpack (truncated msgpack data)");
    parse_refused("93 04 01", ER_EFRAME, "frame: not msgpack (truncated msgpack data)");
    parse_refused("93 04", ER_EFRAME, "frame: not msgpack (truncated msgpack data)");
    /* op not a uint. */
    parse_refused("93 a4 50 49 4e 47 01 c0", ER_EFRAME, "frame: op must be a uint");
    parse_refused("93 ff 01 c0", ER_EFRAME, "frame: op must be a uint");
    parse_refused("93 c0 01 c0", ER_EFRAME, "frame: op must be a uint");
    parse_refused("93 ca 40 80 00 00 01 c0", ER_EFRAME, "frame: op must be a uint");
    parse_refused("93 cd 00 04", ER_EFRAME, "frame: request_id must be a uint32");
    /* request id not a uint32. */
    parse_refused("93 04 cf 00 00 00 01 00 00 00 00 c0", ER_EFRAME,
                  "frame: request_id must be a uint32");
    parse_refused("93 04 ff c0", ER_EFRAME, "frame: request_id must be a uint32");
    parse_refused("93 04 a1 31 c0", ER_EFRAME, "frame: request_id must be a uint32");
    parse_refused("93 04 c0 c0", ER_EFRAME, "frame: request_id must be a uint32");
    /* The header is complete but the body is missing. */
    parse_refused("93 cd 00 04 07", ER_EFRAME, "frame: body missing");
}
END_TEST

START_TEST(test_parse_unknown_op)
{
    static const struct {
        const char *hex;
        uint32_t op;
        const char *message;
    } cases[] = {
        {"93 00 05 c0", 0, "frame: unknown op 0"},
        {"93 09 05 c0", 9, "frame: unknown op 9"},
        {"93 3f 05 c0", 63, "frame: unknown op 63"},
        {"93 48 05 c0", 72, "frame: unknown op 72"},
        {"93 cc ff 05 c0", 255, "frame: unknown op 255"},
        {"93 ce ff ff ff ff 05 c0", UINT32_MAX, "frame: unknown op 4294967295"},
        {"93 cf 00 00 01 00 00 00 00 00 05 c0", UINT32_MAX, "frame: unknown op 1099511627776"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        parsed_t p;
        parse_hex(&p, cases[i].hex);
        ck_assert_int_eq(p.rc, ER_EBADOP);
        ck_assert_str_eq(p.err.message, cases[i].message);
        ck_assert_uint_eq(p.m.op, cases[i].op);
        /* The request id is reported when readable. */
        ck_assert_uint_eq(p.m.req, 5);
        parsed_free(&p);
    }
    /* Unreadable request id: 0. */
    {
        parsed_t p;
        parse_hex(&p, "93 09 a1 61 c0");
        ck_assert_int_eq(p.rc, ER_EBADOP);
        ck_assert_uint_eq(p.m.req, 0);
        parsed_free(&p);
    }
}
END_TEST

START_TEST(test_op_names)
{
    static const struct {
        uint32_t op;
        const char *name;
    } ops[] = {
        {1, "HELLO"},    {2, "PUBLISH"}, {3, "PUBLISH_BATCH"}, {4, "PING"},
        {5, "QUERY"},    {6, "TAIL"},    {7, "CANCEL"},        {8, "ADMIN"},
        {64, "WELCOME"}, {65, "ACK"},    {66, "NACK"},         {67, "PONG"},
        {68, "ROWS"},    {69, "END"},    {70, "REPLY"},        {71, "GOAWAY"},
    };
    uint32_t op;
    size_t i, named = 0;

    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        ck_assert_str_eq(er__op_name(ops[i].op), ops[i].name);
    for (op = 0; op < 300; op++)
        named += er__op_name(op) != NULL;
    ck_assert_uint_eq(named, 16);
    ck_assert_ptr_null(er__op_name(UINT32_MAX));
    /* Every named op parses; every other is EBADOP. */
    for (op = 0; op < 128; op++) {
        parsed_t p;
        uint8_t f[4] = {0x93, (uint8_t)op, 0x01, 0xc0};
        parse_bytes(&p, f, sizeof(f));
        ck_assert_int_eq(p.rc, er__op_name(op) ? 0 : ER_EBADOP);
        parsed_free(&p);
    }
}
END_TEST

/* ------------------------------------------------------------- HELLO */

START_TEST(test_hello_round_trip)
{
    static const er_ack_mode_t modes[] = {ER_ACK_NONE, ER_ACK_RECEIVED, ER_ACK_DURABLE};
    size_t i;

    for (i = 0; i < 3; i++) {
        er_buf_t b = ER_BUF_INIT;
        parsed_t p;
        er_hello_t h;
        er_error_t err;

        ck_assert_int_eq(er__hello_encode(&b, 42, "billing-api", modes[i]), 0);
        parse_frame(&p, &b, 0);
        ck_assert_uint_eq(p.m.op, ER_OP_HELLO);
        ck_assert_uint_eq(p.m.req, 42);
        ck_assert_int_eq(er__hello_decode(&p.m, &h, &err), 0);
        ck_assert_uint_eq(h.version, ER_PROTOCOL_VERSION);
        ck_assert_int_eq(h.ack, modes[i]);
        ck_assert_uint_eq(h.client.len, 11);
        ck_assert_mem_eq(h.client.ptr, "billing-api", 11);
        parsed_free(&p);
        er__buf_free(&b);
    }
}
END_TEST

START_TEST(test_hello_encode_details)
{
    er_buf_t b = ER_BUF_INIT;
    parsed_t p;
    er_hello_t h;
    er_error_t err;
    char name[400];
    static const uint8_t want[] = {0x00, 0x00, 0x00, 0x16, 0x93, 0x01, 0x01, 0x82, 0xa7,
                                   'v',  'e',  'r',  's',  'i',  'o',  'n',  0x01, 0xa3,
                                   'a',  'c',  'k',  0xa4, 'n',  'o',  'n',  'e'};

    /* Without a client name: two keys, exact bytes. */
    ck_assert_int_eq(er__hello_encode(&b, 1, NULL, ER_ACK_NONE), 0);
    ck_assert_uint_eq(b.len, sizeof(want));
    ck_assert_mem_eq(b.data, want, sizeof(want));
    parse_frame(&p, &b, 0);
    ck_assert_int_eq(er__hello_decode(&p.m, &h, &err), 0);
    ck_assert_ptr_null(h.client.ptr);
    parsed_free(&p);
    er__buf_free(&b);

    /* A long name is cut at 255 bytes, not inside a UTF-8 sequence. */
    memset(name, 'n', sizeof(name));
    name[sizeof(name) - 1] = '\0';
    ck_assert_int_eq(er__hello_encode(&b, 1, name, ER_ACK_RECEIVED), 0);
    parse_frame(&p, &b, 0);
    ck_assert_int_eq(er__hello_decode(&p.m, &h, &err), 0);
    ck_assert_uint_eq(h.client.len, ER_MAX_CLIENT_NAME);
    parsed_free(&p);
    er__buf_free(&b);
    memcpy(name + 254, "\xc3\xa9", 2);
    ck_assert_int_eq(er__hello_encode(&b, 1, name, ER_ACK_RECEIVED), 0);
    parse_frame(&p, &b, 0);
    ck_assert_int_eq(er__hello_decode(&p.m, &h, &err), 0);
    ck_assert_uint_eq(h.client.len, 254);
    parsed_free(&p);
    er__buf_free(&b);
}
END_TEST

/* Build a HELLO frame payload from a body built by fn, decode it. */
static int hello_with(void (*fn)(mb_t *), er_hello_t *h, er_error_t *err)
{
    mb_t m;
    parsed_t p;
    int rc;

    mb_frame(&m, ER_OP_HELLO, 1);
    fn(&m);
    parse_mb(&p, &m);
    ck_assert_int_eq(p.rc, 0);
    memset(err, 0, sizeof(*err));
    rc = er__hello_decode(&p.m, h, err);
    parsed_free(&p);
    return rc;
}

static void hb_version_only(mb_t *m)
{
    msgpack_pack_map(&m->pk, 1);
    mb_str(m, "version");
    msgpack_pack_uint8(&m->pk, 1);
}
static void hb_unknown(mb_t *m)
{
    msgpack_pack_map(&m->pk, 2);
    mb_str(m, "version");
    msgpack_pack_uint8(&m->pk, 1);
    mb_str(m, "compress");
    msgpack_pack_true(&m->pk);
}
static void hb_unknown_binary(mb_t *m)
{
    msgpack_pack_map(&m->pk, 1);
    mb_strn(m, "v\xff\0\"", 4);
    msgpack_pack_uint8(&m->pk, 1);
}
static void hb_dup(mb_t *m)
{
    msgpack_pack_map(&m->pk, 2);
    mb_str(m, "version");
    msgpack_pack_uint8(&m->pk, 1);
    mb_str(m, "version");
    msgpack_pack_uint8(&m->pk, 1);
}
static void hb_bad_ack(mb_t *m)
{
    msgpack_pack_map(&m->pk, 2);
    mb_str(m, "version");
    msgpack_pack_uint8(&m->pk, 1);
    mb_str(m, "ack");
    mb_str(m, "always");
}
static void hb_ack_nul(mb_t *m)
{
    msgpack_pack_map(&m->pk, 2);
    mb_str(m, "version");
    msgpack_pack_uint8(&m->pk, 1);
    mb_str(m, "ack");
    mb_strn(m, "none\0x", 6);
}
static void hb_ack_long(mb_t *m)
{
    msgpack_pack_map(&m->pk, 2);
    mb_str(m, "version");
    msgpack_pack_uint8(&m->pk, 1);
    mb_str(m, "ack");
    mb_str(m, "receivedreceivedreceived");
}
static void hb_ack_type(mb_t *m)
{
    msgpack_pack_map(&m->pk, 2);
    mb_str(m, "version");
    msgpack_pack_uint8(&m->pk, 1);
    mb_str(m, "ack");
    msgpack_pack_uint8(&m->pk, 1);
}
static void hb_no_version(mb_t *m)
{
    msgpack_pack_map(&m->pk, 2);
    mb_str(m, "client");
    mb_str(m, "x");
    mb_str(m, "ack");
    mb_str(m, "none");
}
static void hb_version_str(mb_t *m)
{
    msgpack_pack_map(&m->pk, 1);
    mb_str(m, "version");
    mb_str(m, "1");
}
static void hb_version_neg(mb_t *m)
{
    msgpack_pack_map(&m->pk, 1);
    mb_str(m, "version");
    msgpack_pack_int8(&m->pk, -1);
}
static void hb_version_huge(mb_t *m)
{
    msgpack_pack_map(&m->pk, 1);
    mb_str(m, "version");
    msgpack_pack_uint64(&m->pk, 1ull << 40);
}
static void hb_client_type(mb_t *m)
{
    msgpack_pack_map(&m->pk, 2);
    mb_str(m, "version");
    msgpack_pack_uint8(&m->pk, 1);
    mb_str(m, "client");
    msgpack_pack_bin(&m->pk, 1);
    msgpack_pack_bin_body(&m->pk, "x", 1);
}
static void hb_client_long(mb_t *m)
{
    char name[256];
    memset(name, 'c', sizeof(name));
    msgpack_pack_map(&m->pk, 2);
    mb_str(m, "version");
    msgpack_pack_uint8(&m->pk, 1);
    mb_str(m, "client");
    mb_strn(m, name, sizeof(name));
}
static void hb_client_utf8(mb_t *m)
{
    msgpack_pack_map(&m->pk, 2);
    mb_str(m, "version");
    msgpack_pack_uint8(&m->pk, 1);
    mb_str(m, "client");
    mb_strn(m, "x\xc0\xaf", 3);
}
static void hb_client_nul(mb_t *m)
{
    msgpack_pack_map(&m->pk, 2);
    mb_str(m, "version");
    msgpack_pack_uint8(&m->pk, 1);
    mb_str(m, "client");
    mb_strn(m, "x\0y", 3);
}
static void hb_not_map(mb_t *m)
{
    msgpack_pack_array(&m->pk, 0);
}
static void hb_nil(mb_t *m)
{
    msgpack_pack_nil(&m->pk);
}
static void hb_key_type(mb_t *m)
{
    msgpack_pack_map(&m->pk, 1);
    msgpack_pack_uint8(&m->pk, 1);
    msgpack_pack_uint8(&m->pk, 1);
}
static void hb_trailing(mb_t *m)
{
    hb_version_only(m);
    msgpack_pack_nil(&m->pk);
}
static void hb_truncated(mb_t *m)
{
    msgpack_pack_map(&m->pk, 2);
    mb_str(m, "version");
    msgpack_pack_uint8(&m->pk, 1);
    mb_str(m, "ack");
}
static void hb_key_order(mb_t *m)
{
    msgpack_pack_map(&m->pk, 3);
    mb_str(m, "ack");
    mb_str(m, "durable");
    mb_str(m, "client");
    mb_str(m, "");
    mb_str(m, "version");
    msgpack_pack_fix_uint32(&m->pk, 1);
}

START_TEST(test_hello_strict)
{
    static const struct {
        void (*fn)(mb_t *);
        int code;
        const char *message;
    } cases[] = {
        {hb_unknown, ER_EUNKNOWNKEY, "HELLO: unknown key \"compress\""},
        {hb_unknown_binary, ER_EUNKNOWNKEY, "HELLO: unknown key \"v\\xff\\x00\\x22\""},
        {hb_dup, ER_EDUPKEY, "HELLO: duplicate key \"version\""},
        {hb_bad_ack, ER_ERULE, "HELLO.ack: must be \"none\", \"received\" or \"durable\""},
        {hb_ack_nul, ER_ERULE, "HELLO.ack: must be \"none\", \"received\" or \"durable\""},
        {hb_ack_long, ER_ERULE, "HELLO.ack: must be \"none\", \"received\" or \"durable\""},
        {hb_ack_type, ER_ETYPE, "HELLO.ack: expected str, got uint"},
        {hb_no_version, ER_EMISSING, "HELLO.version: required"},
        {hb_version_str, ER_ETYPE, "HELLO.version: expected uint, got str"},
        {hb_version_neg, ER_ETYPE, "HELLO.version: expected uint, got int"},
        {hb_client_type, ER_ETYPE, "HELLO.client: expected str, got bin"},
        {hb_client_long, ER_ERULE, "HELLO.client: at most 255 bytes"},
        {hb_client_utf8, ER_EUTF8, "HELLO.client: invalid UTF-8"},
        {hb_client_nul, ER_ENUL, "HELLO.client: NUL character in string"},
        {hb_not_map, ER_ETYPE, "HELLO: body must be a map"},
        {hb_nil, ER_ETYPE, "HELLO: body must be a map"},
        {hb_key_type, ER_ETYPE, "HELLO: keys must be str"},
        {hb_trailing, ER_ETRAILING, "HELLO: 1 trailing bytes after the body"},
        {hb_truncated, ER_ETRUNC, "HELLO.ack: truncated msgpack data"},
    };
    size_t i;
    er_hello_t h;
    er_error_t err;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = hello_with(cases[i].fn, &h, &err);
        ck_assert_msg(rc == cases[i].code, "case %zu: expected %s, got %s (%s)", i,
                      er_err_name(cases[i].code), er_err_name(rc), err.message);
        ck_assert_str_eq(err.message, cases[i].message);
    }

    /* Version only: ack defaults to received. */
    ck_assert_int_eq(hello_with(hb_version_only, &h, &err), 0);
    ck_assert_int_eq(h.ack, ER_ACK_RECEIVED);
    ck_assert_ptr_null(h.client.ptr);
    /* Any key order, any width; an empty client name is allowed. */
    ck_assert_int_eq(hello_with(hb_key_order, &h, &err), 0);
    ck_assert_int_eq(h.ack, ER_ACK_DURABLE);
    ck_assert_uint_eq(h.version, 1);
    ck_assert_ptr_nonnull(h.client.ptr);
    ck_assert_uint_eq(h.client.len, 0);
    /* A version this daemon does not speak decodes; the daemon refuses it. */
    ck_assert_int_eq(hello_with(hb_version_huge, &h, &err), 0);
    ck_assert_uint_ne(h.version, ER_PROTOCOL_VERSION);
}
END_TEST

/* ------------------------------------------------------------- WELCOME */

START_TEST(test_welcome_round_trip)
{
    er_welcome_t w = {1, true, 1u << 20, 512u << 10, 1024, 4096}, got;
    er_buf_t b = ER_BUF_INIT;
    parsed_t p;
    er_error_t err;
    int durable;

    for (durable = 0; durable < 2; durable++) {
        w.durable = durable;
        w.max_inflight = UINT32_MAX;
        ck_assert_int_eq(er__welcome_encode(&b, &w), 0);
        parse_frame(&p, &b, 0);
        ck_assert_uint_eq(p.m.op, ER_OP_WELCOME);
        ck_assert_uint_eq(p.m.req, 0);
        ck_assert_int_eq(er__welcome_decode(&p.m, &got, &err), 0);
        ck_assert_uint_eq(got.version, w.version);
        ck_assert_int_eq(got.durable, w.durable);
        ck_assert_uint_eq(got.max_frame, w.max_frame);
        ck_assert_uint_eq(got.max_event_size, w.max_event_size);
        ck_assert_uint_eq(got.max_batch, w.max_batch);
        ck_assert_uint_eq(got.max_inflight, w.max_inflight);
        parsed_free(&p);
        er__buf_free(&b);
    }
}
END_TEST

static int welcome_of(mb_t *m, er_welcome_t *w, er_error_t *err)
{
    parsed_t p;
    int rc;
    parse_mb(&p, m);
    ck_assert_int_eq(p.rc, 0);
    rc = er__welcome_decode(&p.m, w, err);
    parsed_free(&p);
    return rc;
}

START_TEST(test_welcome_lenient)
{
    mb_t m;
    er_welcome_t w;
    er_error_t err;
    int i;

    /* Unknown keys, with nested values, at both levels: skipped. */
    mb_frame(&m, ER_OP_WELCOME, 0);
    msgpack_pack_map(&m.pk, 5);
    mb_str(&m, "features");
    msgpack_pack_array(&m.pk, 2);
    mb_str(&m, "query");
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "x");
    msgpack_pack_array(&m.pk, 0);
    mb_str(&m, "version");
    msgpack_pack_uint8(&m.pk, 1);
    mb_str(&m, "limits");
    msgpack_pack_map(&m.pk, 3);
    mb_str(&m, "max_frame");
    msgpack_pack_uint32(&m.pk, 4096);
    mb_str(&m, "max_rate");
    msgpack_pack_double(&m.pk, 1.5);
    mb_str(&m, "max_batch");
    msgpack_pack_uint32(&m.pk, 8);
    mb_str(&m, "durable");
    msgpack_pack_true(&m.pk);
    mb_str(&m, "server");
    mb_str(&m, "eventrouterd 9.9");
    ck_assert_int_eq(welcome_of(&m, &w, &err), 0);
    ck_assert_uint_eq(w.version, 1);
    ck_assert(w.durable);
    ck_assert_uint_eq(w.max_frame, 4096);
    ck_assert_uint_eq(w.max_batch, 8);
    /* Limits not sent keep the protocol defaults. */
    ck_assert_uint_eq(w.max_event_size, ER_DEFAULT_MAX_EVENT_SIZE);
    ck_assert_uint_eq(w.max_inflight, ER_DEFAULT_MAX_INFLIGHT);

    /* An empty WELCOME: all defaults. */
    mb_frame(&m, ER_OP_WELCOME, 0);
    msgpack_pack_map(&m.pk, 0);
    ck_assert_int_eq(welcome_of(&m, &w, &err), 0);
    ck_assert_uint_eq(w.max_frame, ER_DEFAULT_MAX_FRAME);
    ck_assert_uint_eq(w.max_batch, ER_DEFAULT_MAX_BATCH);
    ck_assert(!w.durable);

    /* Lenient is not sloppy: duplicates, wrong types, trailing bytes. */
    mb_frame(&m, ER_OP_WELCOME, 0);
    msgpack_pack_map(&m.pk, 2);
    mb_str(&m, "version");
    msgpack_pack_uint8(&m.pk, 1);
    mb_str(&m, "version");
    msgpack_pack_uint8(&m.pk, 1);
    ck_assert_int_eq(welcome_of(&m, &w, &err), ER_EDUPKEY);
    ck_assert_str_eq(err.message, "WELCOME: duplicate key \"version\"");

    mb_frame(&m, ER_OP_WELCOME, 0);
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "durable");
    msgpack_pack_uint8(&m.pk, 1);
    ck_assert_int_eq(welcome_of(&m, &w, &err), ER_ETYPE);
    ck_assert_str_eq(err.message, "WELCOME.durable: expected bool, got uint");

    mb_frame(&m, ER_OP_WELCOME, 0);
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "limits");
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "max_batch");
    mb_str(&m, "8");
    ck_assert_int_eq(welcome_of(&m, &w, &err), ER_ETYPE);
    ck_assert_str_eq(err.message, "max_batch: expected uint, got str");

    mb_frame(&m, ER_OP_WELCOME, 0);
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "limits");
    msgpack_pack_nil(&m.pk);
    ck_assert_int_eq(welcome_of(&m, &w, &err), ER_ETYPE);
    ck_assert_str_eq(err.message, "WELCOME.limits: body must be a map");

    mb_frame(&m, ER_OP_WELCOME, 0);
    msgpack_pack_map(&m.pk, 0);
    msgpack_pack_map(&m.pk, 0);
    ck_assert_int_eq(welcome_of(&m, &w, &err), ER_ETRAILING);
    ck_assert_str_eq(err.message, "WELCOME: 1 trailing bytes after the body");

    /* An unknown key's value nested beyond the skip depth. */
    mb_frame(&m, ER_OP_WELCOME, 0);
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "deep");
    for (i = 0; i < 40; i++)
        msgpack_pack_array(&m.pk, 1);
    msgpack_pack_nil(&m.pk);
    ck_assert_int_eq(welcome_of(&m, &w, &err), ER_EDEPTH);
    ck_assert_str_eq(err.message, "WELCOME: nesting too deep");

    /* An unknown key's value claiming more than there is. */
    mb_frame(&m, ER_OP_WELCOME, 0);
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "x");
    mb_raw(&m, "\xdd\x00\xff\xff\xff", 5);
    ck_assert_int_eq(welcome_of(&m, &w, &err), ER_ETRUNC);
}
END_TEST

/* ------------------------------------------------------ PUBLISH, batch */

static er_event_t small_event(const char *type)
{
    er_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = er_str(type);
    ev.topic = er_str("orders.created");
    ev.data = er_str("{}");
    ev.data_is_str = true;
    return ev;
}

START_TEST(test_publish_round_trip)
{
    er_event_t ev = small_event("OrderCreated"), got;
    er_buf_t b = ER_BUF_INIT;
    parsed_t p;
    er_mp_reader_t r;
    er_error_t err;

    ck_assert_int_eq(er__publish_encode(&b, 9, &ev), 0);
    parse_frame(&p, &b, 0);
    ck_assert_uint_eq(p.m.op, ER_OP_PUBLISH);
    ck_assert_uint_eq(p.m.req, 9);
    er__mp_init(&r, p.m.body, p.m.body_len);
    ck_assert_int_eq(er__event_read(&r, &got, ER_VALIDATE_CLIENT, 1024, &err), 0);
    ck_assert_uint_eq(er__mp_left(&r), 0);
    ck_assert_uint_eq(got.type.len, 12);
    ck_assert_mem_eq(got.type.ptr, "OrderCreated", 12);
    ck_assert_uint_eq(got.topic.len, 14);
    ck_assert(got.data_is_str);
    parsed_free(&p);
    er__buf_free(&b);
}
END_TEST

START_TEST(test_batch_round_trip)
{
    er_event_t evs[3] = {small_event("A"), small_event("B"), small_event("C")}, got;
    er_buf_t b = ER_BUF_INIT;
    parsed_t p;
    er_mp_reader_t r;
    er_error_t err;
    uint32_t n, i;

    ck_assert_int_eq(er__batch_encode(&b, 77, evs, 3), 0);
    parse_frame(&p, &b, 0);
    ck_assert_uint_eq(p.m.op, ER_OP_PUBLISH_BATCH);
    ck_assert_uint_eq(p.m.req, 77);
    ck_assert_int_eq(er__batch_begin(&p.m, &r, &n, 3, &err), 0);
    ck_assert_uint_eq(n, 3);
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(er__event_read(&r, &got, ER_VALIDATE_CLIENT, 1024, &err), 0);
        ck_assert_uint_eq(got.type.len, 1);
        ck_assert_int_eq(got.type.ptr[0], 'A' + (int)i);
    }
    ck_assert_int_eq(er__batch_end(&r, &err), 0);
    /* Above max_batch. */
    ck_assert_int_eq(er__batch_begin(&p.m, &r, &n, 2, &err), ER_ETOOBIG);
    ck_assert_str_eq(err.message, "PUBLISH_BATCH: 3 events, above max_batch (2)");
    parsed_free(&p);
    er__buf_free(&b);
}
END_TEST

START_TEST(test_batch_refused)
{
    mb_t m;
    parsed_t p;
    er_mp_reader_t r;
    er_error_t err;
    er_event_t ev;
    uint32_t n;

    mb_frame(&m, ER_OP_PUBLISH_BATCH, 1);
    msgpack_pack_array(&m.pk, 0);
    parse_mb(&p, &m);
    ck_assert_int_eq(er__batch_begin(&p.m, &r, &n, 8, &err), ER_ERULE);
    ck_assert_str_eq(err.message, "PUBLISH_BATCH: empty batch");
    parsed_free(&p);

    mb_frame(&m, ER_OP_PUBLISH_BATCH, 1);
    msgpack_pack_map(&m.pk, 0);
    parse_mb(&p, &m);
    ck_assert_int_eq(er__batch_begin(&p.m, &r, &n, 8, &err), ER_ETYPE);
    ck_assert_str_eq(err.message, "PUBLISH_BATCH: expected array, got map");
    parsed_free(&p);

    mb_frame(&m, ER_OP_PUBLISH_BATCH, 1);
    mb_raw(&m, "\xdd\x00\x00\xff\xff\x80", 6);
    parse_mb(&p, &m);
    ck_assert_int_eq(er__batch_begin(&p.m, &r, &n, 100000, &err), ER_ETRUNC);
    parsed_free(&p);

    /* 1025 one-byte elements against max_batch 1024: refused before any
     * event is read. */
    mb_frame(&m, ER_OP_PUBLISH_BATCH, 1);
    msgpack_pack_array(&m.pk, 1025);
    {
        int i;
        for (i = 0; i < 1025; i++)
            msgpack_pack_map(&m.pk, 0);
    }
    parse_mb(&p, &m);
    ck_assert_int_eq(er__batch_begin(&p.m, &r, &n, 1024, &err), ER_ETOOBIG);
    ck_assert_str_eq(err.message, "PUBLISH_BATCH: 1025 events, above max_batch (1024)");
    ck_assert_int_eq(er__batch_begin(&p.m, &r, &n, 1025, &err), 0);
    ck_assert_uint_eq(n, 1025);
    parsed_free(&p);

    /* Trailing bytes after the last event. */
    mb_frame(&m, ER_OP_PUBLISH_BATCH, 1);
    msgpack_pack_array(&m.pk, 1);
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "type");
    mb_str(&m, "T");
    msgpack_pack_nil(&m.pk);
    parse_mb(&p, &m);
    ck_assert_int_eq(er__batch_begin(&p.m, &r, &n, 8, &err), 0);
    ck_assert_int_eq(er__event_read(&r, &ev, ER_VALIDATE_CLIENT, 1024, &err), 0);
    ck_assert_int_eq(er__batch_end(&r, &err), ER_ETRAILING);
    ck_assert_str_eq(err.message, "PUBLISH_BATCH: 1 trailing bytes after the body");
    parsed_free(&p);
}
END_TEST

/* ------------------------------------------------------------ ACK, NACK */

START_TEST(test_ack_round_trip)
{
    static const er_dup_t dups[] = {{0, 17}, {5, 18446744073709551615ull}, {UINT32_MAX, 1}};
    er_buf_t b = ER_BUF_INIT;
    parsed_t p;
    er_ack_t ack;
    er_dup_t out[3];
    er_error_t err;
    size_t i;

    /* Without duplicates: dups is nil. */
    ck_assert_int_eq(er__ack_encode(&b, 3, 1000, 10, NULL, 0), 0);
    parse_frame(&p, &b, 0);
    ck_assert_uint_eq(p.m.op, ER_OP_ACK);
    ck_assert_uint_eq(p.m.req, 3);
    ck_assert_uint_eq(p.m.body[p.m.body_len - 1], 0xc0);
    ck_assert_int_eq(er__ack_decode(&p.m, &ack, out, 3, &err), 0);
    ck_assert_uint_eq(ack.seq, 1000);
    ck_assert_uint_eq(ack.count, 10);
    ck_assert_uint_eq(ack.ndups, 0);
    parsed_free(&p);
    er__buf_free(&b);

    /* With duplicates, big values. */
    ck_assert_int_eq(er__ack_encode(&b, UINT32_MAX, UINT64_MAX, 0, dups, 3), 0);
    parse_frame(&p, &b, 0);
    ck_assert_uint_eq(p.m.req, UINT32_MAX);
    ck_assert_int_eq(er__ack_decode(&p.m, &ack, out, 3, &err), 0);
    ck_assert_uint_eq(ack.seq, UINT64_MAX);
    ck_assert_uint_eq(ack.count, 0);
    ck_assert_uint_eq(ack.ndups, 3);
    ck_assert_ptr_eq(ack.dups, out);
    for (i = 0; i < 3; i++) {
        ck_assert_uint_eq(out[i].index, dups[i].index);
        ck_assert_uint_eq(out[i].seq, dups[i].seq);
    }
    /* Fewer slots than duplicates: the first ones are stored, all counted. */
    memset(out, 0, sizeof(out));
    ck_assert_int_eq(er__ack_decode(&p.m, &ack, out, 1, &err), 0);
    ck_assert_uint_eq(ack.ndups, 3);
    ck_assert_uint_eq(out[0].seq, 17);
    ck_assert_uint_eq(out[1].seq, 0);
    ck_assert_int_eq(er__ack_decode(&p.m, &ack, NULL, 0, &err), 0);
    ck_assert_uint_eq(ack.ndups, 3);
    parsed_free(&p);
    er__buf_free(&b);
}
END_TEST

static int ack_of(mb_t *m, er_ack_t *ack, er_error_t *err)
{
    parsed_t p;
    er_dup_t out[4];
    int rc;
    parse_mb(&p, m);
    ck_assert_int_eq(p.rc, 0);
    rc = er__ack_decode(&p.m, ack, out, 4, err);
    parsed_free(&p);
    return rc;
}

START_TEST(test_ack_lenient)
{
    mb_t m;
    er_ack_t ack;
    er_error_t err;

    mb_frame(&m, ER_OP_ACK, 1);
    msgpack_pack_map(&m.pk, 4);
    mb_str(&m, "commit");
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "ms");
    msgpack_pack_uint8(&m.pk, 3);
    mb_str(&m, "seq");
    msgpack_pack_uint8(&m.pk, 5);
    mb_str(&m, "count");
    msgpack_pack_uint8(&m.pk, 2);
    mb_str(&m, "dups");
    msgpack_pack_nil(&m.pk);
    ck_assert_int_eq(ack_of(&m, &ack, &err), 0);
    ck_assert_uint_eq(ack.seq, 5);
    ck_assert_uint_eq(ack.count, 2);

    mb_frame(&m, ER_OP_ACK, 1);
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "dups");
    mb_str(&m, "none");
    ck_assert_int_eq(ack_of(&m, &ack, &err), ER_ETYPE);
    ck_assert_str_eq(err.message, "ACK.dups: expected nil or array");

    mb_frame(&m, ER_OP_ACK, 1);
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "dups");
    msgpack_pack_array(&m.pk, 1);
    msgpack_pack_array(&m.pk, 3);
    msgpack_pack_uint8(&m.pk, 1);
    msgpack_pack_uint8(&m.pk, 1);
    msgpack_pack_uint8(&m.pk, 1);
    ck_assert_int_eq(ack_of(&m, &ack, &err), ER_ERULE);
    ck_assert_str_eq(err.message, "ACK.dups[]: expected [index, seq]");

    mb_frame(&m, ER_OP_ACK, 1);
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "dups");
    msgpack_pack_array(&m.pk, 1);
    msgpack_pack_array(&m.pk, 2);
    msgpack_pack_int8(&m.pk, -1);
    msgpack_pack_uint8(&m.pk, 1);
    ck_assert_int_eq(ack_of(&m, &ack, &err), ER_ETYPE);
    ck_assert_str_eq(err.message, "ACK.dups[].index: expected uint, got int");

    mb_frame(&m, ER_OP_ACK, 1);
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "seq");
    mb_str(&m, "1");
    ck_assert_int_eq(ack_of(&m, &ack, &err), ER_ETYPE);
    ck_assert_str_eq(err.message, "ACK.seq: expected uint, got str");

    mb_frame(&m, ER_OP_ACK, 1);
    msgpack_pack_map(&m.pk, 2);
    mb_str(&m, "seq");
    msgpack_pack_uint8(&m.pk, 1);
    mb_str(&m, "seq");
    msgpack_pack_uint8(&m.pk, 1);
    ck_assert_int_eq(ack_of(&m, &ack, &err), ER_EDUPKEY);

    mb_frame(&m, ER_OP_ACK, 1);
    msgpack_pack_map(&m.pk, 0);
    msgpack_pack_uint8(&m.pk, 1);
    ck_assert_int_eq(ack_of(&m, &ack, &err), ER_ETRAILING);
}
END_TEST

START_TEST(test_nack_round_trip)
{
    er_buf_t b = ER_BUF_INIT;
    parsed_t p;
    er_nack_t nk;
    er_error_t err;
    char msg[2000];

    ck_assert_int_eq(er__nack_encode(&b, 12, "invalid", "type: required", 3, -1), 0);
    parse_frame(&p, &b, 0);
    ck_assert_uint_eq(p.m.op, ER_OP_NACK);
    ck_assert_uint_eq(p.m.req, 12);
    ck_assert_int_eq(er__nack_decode(&p.m, &nk, &err), 0);
    ck_assert_str_eq(nk.code, "invalid");
    ck_assert_str_eq(nk.message, "type: required");
    ck_assert_int_eq(nk.index, 3);
    ck_assert_int_eq(nk.retry_after_ms, -1);
    parsed_free(&p);
    er__buf_free(&b);

    ck_assert_int_eq(er__nack_encode(&b, 0, "busy", NULL, -1, 1000), 0);
    parse_frame(&p, &b, 0);
    ck_assert_int_eq(er__nack_decode(&p.m, &nk, &err), 0);
    ck_assert_str_eq(nk.code, "busy");
    ck_assert_str_eq(nk.message, "");
    ck_assert_int_eq(nk.index, -1);
    ck_assert_int_eq(nk.retry_after_ms, 1000);
    parsed_free(&p);
    er__buf_free(&b);

    /* The wire message is cut at ER_MAX_NACK_MESSAGE bytes, the decoded
     * one to fit er_nack_t, neither inside a UTF-8 sequence. */
    memset(msg, 'm', sizeof(msg));
    msg[sizeof(msg) - 1] = '\0';
    memcpy(msg + 254, "\xe2\x82\xac", 3);
    memcpy(msg + 1023, "\xc3\xa9", 2);
    ck_assert_int_eq(er__nack_encode(&b, 1, "invalid", msg, -1, -1), 0);
    parse_frame(&p, &b, 0);
    {
        er_mp_reader_t r;
        er_mp_obj_t o;
        er__mp_init(&r, p.m.body, p.m.body_len);
        ck_assert_int_eq(er__mp_next(&r, &o), 0); /* map */
        ck_assert_int_eq(er__mp_next(&r, &o), 0); /* "code" */
        ck_assert_int_eq(er__mp_next(&r, &o), 0); /* "invalid" */
        ck_assert_int_eq(er__mp_next(&r, &o), 0); /* "message" */
        ck_assert_int_eq(er__mp_next(&r, &o), 0);
        ck_assert_uint_eq(o.v.s.len, 1023);
        ck_assert_int_eq(er__utf8_check(o.v.s.ptr, o.v.s.len), 0);
    }
    ck_assert_int_eq(er__nack_decode(&p.m, &nk, &err), 0);
    ck_assert_uint_eq(strlen(nk.message), 254);
    ck_assert_int_eq(er__utf8_check(nk.message, strlen(nk.message)), 0);
    parsed_free(&p);
    er__buf_free(&b);
}
END_TEST

static int nack_of(mb_t *m, er_nack_t *nk, er_error_t *err)
{
    parsed_t p;
    int rc;
    parse_mb(&p, m);
    ck_assert_int_eq(p.rc, 0);
    rc = er__nack_decode(&p.m, nk, err);
    parsed_free(&p);
    return rc;
}

START_TEST(test_nack_lenient)
{
    mb_t m;
    er_nack_t nk;
    er_error_t err;

    /* Only a code, plus keys from the future. */
    mb_frame(&m, ER_OP_NACK, 4);
    msgpack_pack_map(&m.pk, 3);
    mb_str(&m, "code");
    mb_str(&m, "store_full");
    mb_str(&m, "field");
    mb_str(&m, "type");
    mb_str(&m, "details");
    msgpack_pack_array(&m.pk, 1);
    msgpack_pack_map(&m.pk, 0);
    ck_assert_int_eq(nack_of(&m, &nk, &err), 0);
    ck_assert_str_eq(nk.code, "store_full");
    ck_assert_str_eq(nk.message, "");
    ck_assert_int_eq(nk.index, -1);
    ck_assert_int_eq(nk.retry_after_ms, -1);

    /* A long code is cut to fit. */
    mb_frame(&m, ER_OP_NACK, 4);
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "code");
    mb_str(&m, "a_code_much_longer_than_thirty_one_bytes");
    ck_assert_int_eq(nack_of(&m, &nk, &err), 0);
    ck_assert_uint_eq(strlen(nk.code), sizeof(nk.code) - 1);

    mb_frame(&m, ER_OP_NACK, 4);
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "index");
    msgpack_pack_int8(&m.pk, -1);
    ck_assert_int_eq(nack_of(&m, &nk, &err), ER_ETYPE);
    ck_assert_str_eq(err.message, "NACK.index: expected nil or uint");

    mb_frame(&m, ER_OP_NACK, 4);
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "retry_after_ms");
    mb_str(&m, "soon");
    ck_assert_int_eq(nack_of(&m, &nk, &err), ER_ETYPE);
    ck_assert_str_eq(err.message, "NACK.retry_after_ms: expected nil or uint");

    mb_frame(&m, ER_OP_NACK, 4);
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "code");
    msgpack_pack_uint8(&m.pk, 1);
    ck_assert_int_eq(nack_of(&m, &nk, &err), ER_ETYPE);
    ck_assert_str_eq(err.message, "code: expected str, got uint");

    mb_frame(&m, ER_OP_NACK, 4);
    msgpack_pack_map(&m.pk, 2);
    mb_str(&m, "index");
    msgpack_pack_nil(&m.pk);
    mb_str(&m, "index");
    msgpack_pack_uint8(&m.pk, 1);
    ck_assert_int_eq(nack_of(&m, &nk, &err), ER_EDUPKEY);

    mb_frame(&m, ER_OP_NACK, 4);
    msgpack_pack_map(&m.pk, 0);
    msgpack_pack_map(&m.pk, 0);
    ck_assert_int_eq(nack_of(&m, &nk, &err), ER_ETRAILING);
}
END_TEST

/* ------------------------------------------------- nil bodies, GOAWAY */

START_TEST(test_nil_bodies)
{
    static const uint32_t ops[] = {ER_OP_PING, ER_OP_PONG, ER_OP_CANCEL};
    static const uint8_t ping[] = {0, 0, 0, 4, 0x93, 0x04, 0x07, 0xc0};
    er_buf_t b = ER_BUF_INIT;
    parsed_t p;
    er_error_t err;
    mb_t m;
    size_t i;

    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(er__nil_encode(&b, ops[i], 7), 0);
        parse_frame(&p, &b, 0);
        ck_assert_uint_eq(p.m.op, ops[i]);
        ck_assert_uint_eq(p.m.req, 7);
        ck_assert_int_eq(er__nil_decode(&p.m, &err), 0);
        parsed_free(&p);
        er__buf_free(&b);
    }
    ck_assert_int_eq(er__nil_encode(&b, ER_OP_PING, 7), 0);
    ck_assert_uint_eq(b.len, sizeof(ping));
    ck_assert_mem_eq(b.data, ping, sizeof(ping));
    er__buf_free(&b);

    mb_frame(&m, ER_OP_PING, 1);
    msgpack_pack_map(&m.pk, 0);
    parse_mb(&p, &m);
    ck_assert_int_eq(er__nil_decode(&p.m, &err), ER_ETYPE);
    ck_assert_str_eq(err.message, "PING: expected nil, got map");
    parsed_free(&p);

    mb_frame(&m, ER_OP_CANCEL, 1);
    msgpack_pack_nil(&m.pk);
    msgpack_pack_nil(&m.pk);
    parse_mb(&p, &m);
    ck_assert_int_eq(er__nil_decode(&p.m, &err), ER_ETRAILING);
    ck_assert_str_eq(err.message, "CANCEL: 1 trailing bytes after the body");
    parsed_free(&p);
}
END_TEST

START_TEST(test_goaway)
{
    er_buf_t b = ER_BUF_INIT;
    parsed_t p;
    er_error_t err;
    char reason[64], tiny[4];
    mb_t m;

    ck_assert_int_eq(er__goaway_encode(&b, "shutting down"), 0);
    parse_frame(&p, &b, 0);
    ck_assert_uint_eq(p.m.op, ER_OP_GOAWAY);
    ck_assert_uint_eq(p.m.req, 0);
    ck_assert_int_eq(er__goaway_decode(&p.m, reason, sizeof(reason), &err), 0);
    ck_assert_str_eq(reason, "shutting down");
    ck_assert_int_eq(er__goaway_decode(&p.m, tiny, sizeof(tiny), &err), 0);
    ck_assert_str_eq(tiny, "shu");
    ck_assert_int_eq(er__goaway_decode(&p.m, NULL, 0, &err), 0);
    parsed_free(&p);
    er__buf_free(&b);

    /* Lenient: unknown keys skipped; no reason is an empty one. */
    mb_frame(&m, ER_OP_GOAWAY, 0);
    msgpack_pack_map(&m.pk, 2);
    mb_str(&m, "reconnect_after_ms");
    msgpack_pack_uint16(&m.pk, 500);
    mb_str(&m, "reason");
    mb_str(&m, "reload");
    parse_mb(&p, &m);
    ck_assert_int_eq(er__goaway_decode(&p.m, reason, sizeof(reason), &err), 0);
    ck_assert_str_eq(reason, "reload");
    parsed_free(&p);

    mb_frame(&m, ER_OP_GOAWAY, 0);
    msgpack_pack_map(&m.pk, 0);
    parse_mb(&p, &m);
    strcpy(reason, "x");
    ck_assert_int_eq(er__goaway_decode(&p.m, reason, sizeof(reason), &err), 0);
    ck_assert_str_eq(reason, "");
    parsed_free(&p);

    mb_frame(&m, ER_OP_GOAWAY, 0);
    msgpack_pack_map(&m.pk, 1);
    mb_str(&m, "reason");
    msgpack_pack_nil(&m.pk);
    parse_mb(&p, &m);
    ck_assert_int_eq(er__goaway_decode(&p.m, reason, sizeof(reason), &err), ER_ETYPE);
    ck_assert_str_eq(err.message, "GOAWAY.reason: expected str, got nil");
    parsed_free(&p);

    mb_frame(&m, ER_OP_GOAWAY, 0);
    msgpack_pack_map(&m.pk, 0);
    msgpack_pack_nil(&m.pk);
    parse_mb(&p, &m);
    ck_assert_int_eq(er__goaway_decode(&p.m, reason, sizeof(reason), &err), ER_ETRAILING);
    parsed_free(&p);
}
END_TEST

/* ------------------------------------------------------------- framing */

START_TEST(test_frames_append)
{
    /* Encoders append whole frames: several in one buffer, each with its
     * own length prefix. */
    er_buf_t b = ER_BUF_INIT;
    er_event_t ev = small_event("T");
    size_t off = 0, count = 0;
    static const uint32_t want_ops[] = {ER_OP_HELLO, ER_OP_PUBLISH, ER_OP_PING,
                                        ER_OP_ACK,   ER_OP_NACK,    ER_OP_GOAWAY};

    ck_assert_int_eq(er__hello_encode(&b, 1, "c", ER_ACK_DURABLE), 0);
    ck_assert_int_eq(er__publish_encode(&b, 2, &ev), 0);
    ck_assert_int_eq(er__nil_encode(&b, ER_OP_PING, 3), 0);
    ck_assert_int_eq(er__ack_encode(&b, 2, 1, 1, NULL, 0), 0);
    ck_assert_int_eq(er__nack_encode(&b, 3, "invalid", "x", -1, -1), 0);
    ck_assert_int_eq(er__goaway_encode(&b, "bye"), 0);
    while (off < b.len) {
        size_t len = ((size_t)b.data[off] << 24) | ((size_t)b.data[off + 1] << 16) |
                     ((size_t)b.data[off + 2] << 8) | b.data[off + 3];
        parsed_t p;
        parse_bytes(&p, b.data + off + 4, len);
        ck_assert_int_eq(p.rc, 0);
        ck_assert_uint_eq(p.m.op, want_ops[count]);
        parsed_free(&p);
        off += 4 + len;
        count++;
    }
    ck_assert_uint_eq(off, b.len);
    ck_assert_uint_eq(count, 6);
    er__buf_free(&b);
}
END_TEST

START_TEST(test_encoder_failure_rolls_back)
{
    /* A packer write that failed (recorded in err) leaves the buffer as it
     * was before the frame. */
    er_buf_t b = ER_BUF_INIT;
    er_welcome_t w = {1, false, 1, 1, 1, 1};

    ck_assert_int_eq(er__nil_encode(&b, ER_OP_PONG, 1), 0);
    ck_assert_uint_eq(b.len, 8);
    b.err = -ENOMEM;
    ck_assert_int_eq(er__welcome_encode(&b, &w), -ENOMEM);
    ck_assert_uint_eq(b.len, 8);
    ck_assert_int_eq(b.err, 0);
    b.err = -ENOMEM;
    ck_assert_int_eq(er__nack_encode(&b, 1, "busy", "m", -1, -1), -ENOMEM);
    ck_assert_uint_eq(b.len, 8);
    er__buf_free(&b);
}
END_TEST

START_TEST(test_truncated_frames)
{
    /* Every prefix of every encoded frame fails somewhere: at the header
     * (EFRAME) or in the body decoder (ETRUNC), never with success. */
    er_buf_t b = ER_BUF_INIT;
    er_event_t evs[2] = {small_event("A"), small_event("B")};
    er_welcome_t w = {1, true, 4096, 2048, 8, 16};
    static const er_dup_t dups[] = {{1, 2}};
    size_t starts[16], nframes = 0, f;

#define ADD(call)                                                                                  \
    do {                                                                                           \
        starts[nframes++] = b.len;                                                                 \
        ck_assert_int_eq((call), 0);                                                               \
    } while (0)
    ADD(er__hello_encode(&b, 1, "client", ER_ACK_RECEIVED));
    ADD(er__welcome_encode(&b, &w));
    ADD(er__publish_encode(&b, 2, &evs[0]));
    ADD(er__batch_encode(&b, 3, evs, 2));
    ADD(er__nil_encode(&b, ER_OP_PING, 4));
    ADD(er__ack_encode(&b, 2, 10, 1, dups, 1));
    ADD(er__nack_encode(&b, 3, "invalid", "why", 1, 5));
    ADD(er__goaway_encode(&b, "bye"));
#undef ADD
    starts[nframes] = b.len;

    for (f = 0; f < nframes; f++) {
        const uint8_t *payload = b.data + starts[f] + 4;
        size_t full = starts[f + 1] - starts[f] - 4, k;

        for (k = 0; k < full; k++) {
            parsed_t p;
            er_error_t err;
            int rc;

            parse_bytes(&p, payload, k);
            rc = p.rc;
            if (rc == 0) {
                switch (p.m.op) {
                case ER_OP_HELLO: {
                    er_hello_t h;
                    rc = er__hello_decode(&p.m, &h, &err);
                    break;
                }
                case ER_OP_WELCOME: {
                    er_welcome_t got;
                    rc = er__welcome_decode(&p.m, &got, &err);
                    break;
                }
                case ER_OP_PUBLISH: {
                    er_mp_reader_t r;
                    er_event_t ev;
                    er__mp_init(&r, p.m.body, p.m.body_len);
                    rc = er__event_read(&r, &ev, ER_VALIDATE_CLIENT, 4096, &err);
                    if (rc == 0 && er__mp_left(&r) != 0)
                        rc = ER_ETRAILING;
                    break;
                }
                case ER_OP_PUBLISH_BATCH: {
                    er_mp_reader_t r;
                    er_event_t ev;
                    uint32_t n, i;
                    rc = er__batch_begin(&p.m, &r, &n, 8, &err);
                    for (i = 0; rc == 0 && i < n; i++)
                        rc = er__event_read(&r, &ev, ER_VALIDATE_CLIENT, 4096, &err);
                    if (rc == 0)
                        rc = er__batch_end(&r, &err);
                    break;
                }
                case ER_OP_PING:
                    rc = er__nil_decode(&p.m, &err);
                    break;
                case ER_OP_ACK: {
                    er_ack_t ack;
                    er_dup_t d[2];
                    rc = er__ack_decode(&p.m, &ack, d, 2, &err);
                    break;
                }
                case ER_OP_NACK: {
                    er_nack_t nk;
                    rc = er__nack_decode(&p.m, &nk, &err);
                    break;
                }
                default: {
                    char reason[16];
                    rc = er__goaway_decode(&p.m, reason, sizeof(reason), &err);
                    break;
                }
                }
            }
            if (rc != ER_EFRAME && rc != ER_ETRUNC)
                ck_abort_msg("frame %zu cut at %zu of %zu: %s", f, k, full, er_err_name(rc));
            parsed_free(&p);
        }
    }
    er__buf_free(&b);
}
END_TEST

START_TEST(test_nack_codes)
{
    ck_assert_str_eq(er__nack_code_for(ER_ETOOBIG), "too_large");
    ck_assert_str_eq(er__nack_code_for(ER_EFRAME), "protocol");
    ck_assert_str_eq(er__nack_code_for(ER_EBADOP), "protocol");
    ck_assert_str_eq(er__nack_code_for(-ENOMEM), "busy");
    ck_assert_str_eq(er__nack_code_for(-ENOBUFS), "busy");
    ck_assert_str_eq(er__nack_code_for(ER_ERULE), "invalid");
    ck_assert_str_eq(er__nack_code_for(ER_ETYPE), "invalid");
    ck_assert_str_eq(er__nack_code_for(ER_EUNKNOWNKEY), "invalid");
    ck_assert_str_eq(er__nack_code_for(ER_EDUPKEY), "invalid");
    ck_assert_str_eq(er__nack_code_for(ER_EDAEMONFIELD), "invalid");
    ck_assert_str_eq(er__nack_code_for(ER_ERESERVED), "invalid");
    ck_assert_str_eq(er__nack_code_for(ER_EMISSING), "invalid");
    ck_assert_str_eq(er__nack_code_for(ER_EUTF8), "invalid");
    ck_assert_str_eq(er__nack_code_for(ER_ENUL), "invalid");
}
END_TEST

START_TEST(test_printable)
{
    char out[16];

    ck_assert_str_eq(er__printable("abc", 3, out, sizeof(out)), "abc");
    /* Escapes; a cut is always marked with "...". */
    ck_assert_str_eq(er__printable("a\"\\", 3, out, sizeof(out)), "a\\x22\\x5c");
    ck_assert_str_eq(er__printable("a\"\\\x01\xff", 5, out, sizeof(out)), "a\\x22\\x5c...");
    ck_assert_str_eq(er__printable("", 0, out, sizeof(out)), "");
    ck_assert_str_eq(er__printable("0123456789abcdef", 16, out, sizeof(out)), "0123456789ab...");
    ck_assert_str_eq(er__printable("0123456789abcde", 15, out, sizeof(out)), "0123456789abcde");
    ck_assert_int_eq(er__utf8_check(out, strlen(out)), 0);
}
END_TEST

static Suite *proto_suite(void)
{
    Suite *s = suite_create("proto");
    TCase *tc = tcase_create("header");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_parse_ok);
    tcase_add_test(tc, test_parse_refused);
    tcase_add_test(tc, test_parse_unknown_op);
    tcase_add_test(tc, test_op_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("bodies");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_hello_round_trip);
    tcase_add_test(tc, test_hello_encode_details);
    tcase_add_test(tc, test_hello_strict);
    tcase_add_test(tc, test_welcome_round_trip);
    tcase_add_test(tc, test_welcome_lenient);
    tcase_add_test(tc, test_publish_round_trip);
    tcase_add_test(tc, test_batch_round_trip);
    tcase_add_test(tc, test_batch_refused);
    tcase_add_test(tc, test_ack_round_trip);
    tcase_add_test(tc, test_ack_lenient);
    tcase_add_test(tc, test_nack_round_trip);
    tcase_add_test(tc, test_nack_lenient);
    tcase_add_test(tc, test_nil_bodies);
    tcase_add_test(tc, test_goaway);
    suite_add_tcase(s, tc);

    tc = tcase_create("frames");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_frames_append);
    tcase_add_test(tc, test_encoder_failure_rolls_back);
    tcase_add_test(tc, test_truncated_frames);
    tcase_add_test(tc, test_nack_codes);
    tcase_add_test(tc, test_printable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(proto_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
