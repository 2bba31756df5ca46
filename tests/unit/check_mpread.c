/*
 * Unit tests of the bounds-checked msgpack reader (lib/mpread.c): every
 * msgpack type in every width with its boundary values, truncation of
 * valid objects at every byte offset, container counts that claim more
 * elements than bytes remain, the reserved byte 0xc1, nesting limits of
 * er__mp_skip, and UTF-8 validation.
 *
 * Inputs are copied into heap blocks of exactly their size, so a read past
 * the end is caught by valgrind and AddressSanitizer, not just by the
 * assertions.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "eventrouter.h"
#include "mpread.h"

/* --------------------------------------------------------------- helpers */

/* A heap copy of exactly n bytes (malloc(0) for n == 0, so any access is
 * an error the sanitizers see). */
static uint8_t *exact(const void *p, size_t n)
{
    uint8_t *q = malloc(n);
    ck_assert(n == 0 || q != NULL);
    if (n > 0)
        memcpy(q, p, n);
    return q;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode hex (spaces allowed) into a new exact-size heap block. */
static uint8_t *unhex(const char *hex, size_t *n)
{
    uint8_t tmp[4096];
    size_t k = 0;
    const char *s;

    for (s = hex; *s;) {
        if (*s == ' ') {
            s++;
            continue;
        }
        ck_assert(hexval(s[0]) >= 0 && hexval(s[1]) >= 0);
        ck_assert(k < sizeof(tmp));
        tmp[k++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
        s += 2;
    }
    *n = k;
    return exact(tmp, k);
}

/* Read one object from hex that must be consumed exactly. */
static er_mp_obj_t next_ok(const char *hex)
{
    er_mp_reader_t r;
    er_mp_obj_t o;
    size_t n;
    uint8_t *p = unhex(hex, &n);

    memset(&o, 0, sizeof(o));
    er__mp_init(&r, p, n);
    ck_assert_msg(er__mp_next(&r, &o) == 0, "er__mp_next(%s) failed", hex);
    ck_assert_msg(er__mp_left(&r) == 0 || o.type == ER_MP_ARRAY || o.type == ER_MP_MAP,
                  "%s: %zu bytes left", hex, er__mp_left(&r));
    free(p);
    return o;
}

static int next_rc(const char *hex)
{
    er_mp_reader_t r;
    er_mp_obj_t o;
    size_t n;
    uint8_t *p = unhex(hex, &n);
    int rc;

    er__mp_init(&r, p, n);
    rc = er__mp_next(&r, &o);
    if (rc != 0)
        ck_assert_msg(r.p == p, "%s: reader moved on failure", hex);
    free(p);
    return rc;
}

static int skip_rc(const char *hex, int depth)
{
    er_mp_reader_t r;
    size_t n;
    uint8_t *p = unhex(hex, &n);
    int rc;

    er__mp_init(&r, p, n);
    rc = er__mp_skip(&r, depth);
    if (rc != 0)
        ck_assert_msg(r.p == p, "%s: reader moved on failure", hex);
    else
        ck_assert_msg(er__mp_left(&r) == 0, "%s: skip left %zu bytes", hex, er__mp_left(&r));
    free(p);
    return rc;
}

/* ---------------------------------------------------------------- scalars */

START_TEST(test_nil_bool)
{
    er_mp_obj_t o = next_ok("c0");
    ck_assert_int_eq(o.type, ER_MP_NIL);
    o = next_ok("c2");
    ck_assert_int_eq(o.type, ER_MP_BOOL);
    ck_assert(!o.v.b);
    o = next_ok("c3");
    ck_assert_int_eq(o.type, ER_MP_BOOL);
    ck_assert(o.v.b);
}
END_TEST

START_TEST(test_fixint)
{
    er_mp_obj_t o = next_ok("00");
    ck_assert_int_eq(o.type, ER_MP_UINT);
    ck_assert_uint_eq(o.v.u, 0);
    o = next_ok("7f");
    ck_assert_int_eq(o.type, ER_MP_UINT);
    ck_assert_uint_eq(o.v.u, 127);
    o = next_ok("ff");
    ck_assert_int_eq(o.type, ER_MP_INT);
    ck_assert_int_eq(o.v.i, -1);
    o = next_ok("e0");
    ck_assert_int_eq(o.type, ER_MP_INT);
    ck_assert_int_eq(o.v.i, -32);
}
END_TEST

START_TEST(test_uint_widths)
{
    static const struct {
        const char *hex;
        uint64_t v;
    } cases[] = {
        {"cc 00", 0},
        {"cc 80", 128},
        {"cc ff", 255},
        {"cd 00 00", 0},
        {"cd 01 00", 256},
        {"cd ff ff", 65535},
        {"ce 00 00 00 00", 0},
        {"ce 00 01 00 00", 65536},
        {"ce ff ff ff ff", 4294967295u},
        {"cf 00 00 00 00 00 00 00 00", 0},
        {"cf 00 00 00 01 00 00 00 00", 4294967296ull},
        {"cf 7f ff ff ff ff ff ff ff", 9223372036854775807ull},
        {"cf 80 00 00 00 00 00 00 00", 9223372036854775808ull},
        {"cf ff ff ff ff ff ff ff ff", 18446744073709551615ull},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        er_mp_obj_t o = next_ok(cases[i].hex);
        ck_assert_msg(o.type == ER_MP_UINT, "%s: type %d", cases[i].hex, o.type);
        ck_assert_msg(o.v.u == cases[i].v, "%s: %llu", cases[i].hex, (unsigned long long)o.v.u);
    }
}
END_TEST

START_TEST(test_int_widths)
{
    /* Signed encodings of negative values are INT; of non-negative values
     * UINT, so callers test one type for "a non-negative integer". */
    static const struct {
        const char *hex;
        bool negative;
        int64_t v;
    } cases[] = {
        {"d0 80", true, -128},
        {"d0 ff", true, -1},
        {"d0 00", false, 0},
        {"d0 7f", false, 127},
        {"d1 80 00", true, -32768},
        {"d1 ff ff", true, -1},
        {"d1 7f ff", false, 32767},
        {"d2 80 00 00 00", true, INT32_MIN},
        {"d2 7f ff ff ff", false, INT32_MAX},
        {"d2 ff ff ff ff", true, -1},
        {"d3 80 00 00 00 00 00 00 00", true, INT64_MIN},
        {"d3 ff ff ff ff ff ff ff ff", true, -1},
        {"d3 7f ff ff ff ff ff ff ff", false, INT64_MAX},
        {"d3 00 00 00 00 00 00 00 00", false, 0},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        er_mp_obj_t o = next_ok(cases[i].hex);
        if (cases[i].negative) {
            ck_assert_msg(o.type == ER_MP_INT, "%s: type %d", cases[i].hex, o.type);
            ck_assert_msg(o.v.i == cases[i].v, "%s: %lld", cases[i].hex, (long long)o.v.i);
        } else {
            ck_assert_msg(o.type == ER_MP_UINT, "%s: type %d", cases[i].hex, o.type);
            ck_assert_msg(o.v.u == (uint64_t)cases[i].v, "%s: %llu", cases[i].hex,
                          (unsigned long long)o.v.u);
        }
    }
}
END_TEST

START_TEST(test_float)
{
    er_mp_obj_t o = next_ok("ca 3f c0 00 00");
    ck_assert_int_eq(o.type, ER_MP_FLOAT);
    ck_assert_double_eq(o.v.f, 1.5);
    o = next_ok("ca bf 80 00 00");
    ck_assert_double_eq(o.v.f, -1.0);
    o = next_ok("cb 40 09 21 fb 54 44 2d 18");
    ck_assert_int_eq(o.type, ER_MP_FLOAT);
    ck_assert_double_eq(o.v.f, 3.141592653589793);
    o = next_ok("cb 00 00 00 00 00 00 00 00");
    ck_assert_double_eq(o.v.f, 0.0);
}
END_TEST

/* ------------------------------------------------------ str, bin and ext */

/* hdr followed by n bytes of 'x' (or 0x00..): checks type and length. */
static void payload_case(const char *hdr_hex, size_t n, er_mp_type_t type)
{
    size_t h, i;
    uint8_t *hdr = unhex(hdr_hex, &h);
    uint8_t *buf = malloc(h + n);
    er_mp_reader_t r;
    er_mp_obj_t o;

    ck_assert(buf != NULL);
    memcpy(buf, hdr, h);
    for (i = 0; i < n; i++)
        buf[h + i] = (uint8_t)('a' + i % 26);
    er__mp_init(&r, buf, h + n);
    ck_assert_int_eq(er__mp_next(&r, &o), 0);
    ck_assert_int_eq(o.type, type);
    ck_assert_uint_eq(o.v.s.len, n);
    ck_assert_ptr_eq(o.v.s.ptr, (const char *)buf + h);
    ck_assert_uint_eq(er__mp_left(&r), 0);

    /* One payload byte short: ETRUNC, reader unmoved. */
    if (n > 0) {
        er__mp_init(&r, buf, h + n - 1);
        ck_assert_int_eq(er__mp_next(&r, &o), ER_ETRUNC);
        ck_assert_ptr_eq(r.p, buf);
    }
    free(hdr);
    free(buf);
}

START_TEST(test_str_widths)
{
    payload_case("a0", 0, ER_MP_STR);
    payload_case("a1", 1, ER_MP_STR);
    payload_case("bf", 31, ER_MP_STR);
    payload_case("d9 00", 0, ER_MP_STR);
    payload_case("d9 20", 32, ER_MP_STR);
    payload_case("d9 ff", 255, ER_MP_STR);
    payload_case("da 00 00", 0, ER_MP_STR);
    payload_case("da 01 00", 256, ER_MP_STR);
    payload_case("da ff ff", 65535, ER_MP_STR);
    payload_case("db 00 00 00 00", 0, ER_MP_STR);
    payload_case("db 00 01 00 00", 65536, ER_MP_STR);
}
END_TEST

START_TEST(test_bin_widths)
{
    payload_case("c4 00", 0, ER_MP_BIN);
    payload_case("c4 ff", 255, ER_MP_BIN);
    payload_case("c5 00 00", 0, ER_MP_BIN);
    payload_case("c5 01 00", 256, ER_MP_BIN);
    payload_case("c5 ff ff", 65535, ER_MP_BIN);
    payload_case("c6 00 00 00 00", 0, ER_MP_BIN);
    payload_case("c6 00 01 00 00", 65536, ER_MP_BIN);
}
END_TEST

START_TEST(test_ext_widths)
{
    er_mp_obj_t o;

    payload_case("d4 05", 1, ER_MP_EXT);
    payload_case("d5 05", 2, ER_MP_EXT);
    payload_case("d6 05", 4, ER_MP_EXT);
    payload_case("d7 05", 8, ER_MP_EXT);
    payload_case("d8 05", 16, ER_MP_EXT);
    payload_case("c7 00 05", 0, ER_MP_EXT);
    payload_case("c7 ff 05", 255, ER_MP_EXT);
    payload_case("c8 00 00 05", 0, ER_MP_EXT);
    payload_case("c8 01 00 05", 256, ER_MP_EXT);
    payload_case("c9 00 00 00 00 05", 0, ER_MP_EXT);
    payload_case("c9 00 01 00 00 05", 65536, ER_MP_EXT);

    /* The ext type byte is signed. */
    o = next_ok("d4 ff 00");
    ck_assert_int_eq(o.v.s.ext_type, -1);
    o = next_ok("c7 01 7f 00");
    ck_assert_int_eq(o.v.s.ext_type, 127);
    /* The timestamp extension (-1) is read as an opaque ext. */
    o = next_ok("d6 ff 00 00 00 01");
    ck_assert_int_eq(o.type, ER_MP_EXT);
    ck_assert_int_eq(o.v.s.ext_type, -1);
    ck_assert_uint_eq(o.v.s.len, 4);
}
END_TEST

START_TEST(test_payload_length_claims)
{
    /* Lengths larger than what remains: never read, always ETRUNC. */
    ck_assert_int_eq(next_rc("db ff ff ff ff"), ER_ETRUNC);
    ck_assert_int_eq(next_rc("db ff ff ff ff 61 62"), ER_ETRUNC);
    ck_assert_int_eq(next_rc("c6 ff ff ff ff 00"), ER_ETRUNC);
    ck_assert_int_eq(next_rc("c9 ff ff ff ff 01 00"), ER_ETRUNC);
    ck_assert_int_eq(next_rc("da 00 02 61"), ER_ETRUNC);
    ck_assert_int_eq(next_rc("a5 61 62 63 64"), ER_ETRUNC);
}
END_TEST

/* ----------------------------------------------------------- containers */

START_TEST(test_containers)
{
    er_mp_obj_t o = next_ok("90");
    ck_assert_int_eq(o.type, ER_MP_ARRAY);
    ck_assert_uint_eq(o.v.n, 0);
    o = next_ok("80");
    ck_assert_int_eq(o.type, ER_MP_MAP);
    ck_assert_uint_eq(o.v.n, 0);
    o = next_ok("9f 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e");
    ck_assert_int_eq(o.type, ER_MP_ARRAY);
    ck_assert_uint_eq(o.v.n, 15);
    o = next_ok("8f 00 00 01 01 02 02 03 03 04 04 05 05 06 06 07 07 08 08 09 09 0a 0a 0b 0b 0c 0c "
                "0d 0d 0e 0e");
    ck_assert_int_eq(o.type, ER_MP_MAP);
    ck_assert_uint_eq(o.v.n, 15);
    o = next_ok("dc 00 00");
    ck_assert_int_eq(o.type, ER_MP_ARRAY);
    ck_assert_uint_eq(o.v.n, 0);
    o = next_ok("dc 00 02 c0 c0");
    ck_assert_uint_eq(o.v.n, 2);
    o = next_ok("dd 00 00 00 00");
    ck_assert_int_eq(o.type, ER_MP_ARRAY);
    ck_assert_uint_eq(o.v.n, 0);
    o = next_ok("dd 00 00 00 03 c0 c0 c0");
    ck_assert_uint_eq(o.v.n, 3);
    o = next_ok("de 00 00");
    ck_assert_int_eq(o.type, ER_MP_MAP);
    ck_assert_uint_eq(o.v.n, 0);
    o = next_ok("de 00 01 a1 61 c0");
    ck_assert_uint_eq(o.v.n, 1);
    o = next_ok("df 00 00 00 00");
    ck_assert_int_eq(o.type, ER_MP_MAP);
    o = next_ok("df 00 00 00 01 a1 61 c0");
    ck_assert_uint_eq(o.v.n, 1);
}
END_TEST

START_TEST(test_container_count_claims)
{
    /* DESIGN §12: five bytes must not be able to claim 16 million
     * elements. Each element needs at least one byte (a pair two). */
    ck_assert_int_eq(next_rc("dd 00 ff ff ff"), ER_ETRUNC);
    ck_assert_int_eq(next_rc("dd ff ff ff ff"), ER_ETRUNC);
    ck_assert_int_eq(next_rc("df ff ff ff ff"), ER_ETRUNC);
    ck_assert_int_eq(next_rc("dc ff ff"), ER_ETRUNC);
    ck_assert_int_eq(next_rc("de ff ff"), ER_ETRUNC);
    ck_assert_int_eq(next_rc("dd 00 00 00 04 c0 c0 c0"), ER_ETRUNC);
    ck_assert_int_eq(next_rc("93 01 02"), ER_ETRUNC);
    ck_assert_int_eq(next_rc("9f"), ER_ETRUNC);
    /* A map of n pairs needs 2n bytes: n bytes are not enough. */
    ck_assert_int_eq(next_rc("82 01 02"), ER_ETRUNC);
    ck_assert_int_eq(next_rc("82 01 02 03"), ER_ETRUNC);
    ck_assert_int_eq(next_rc("82 01 02 03 04"), 0);
    ck_assert_int_eq(next_rc("df 00 00 00 02 01 02 03"), ER_ETRUNC);
    /* Exactly enough is fine. */
    ck_assert_int_eq(next_rc("93 01 02 03"), 0);
    ck_assert_int_eq(skip_rc("dd 00 ff ff ff", 8), ER_ETRUNC);
    ck_assert_int_eq(skip_rc("df ff ff ff ff", 8), ER_ETRUNC);
}
END_TEST

START_TEST(test_reserved_c1)
{
    ck_assert_int_eq(next_rc("c1"), ER_ETYPE);
    ck_assert_int_eq(next_rc("c1 00 00 00"), ER_ETYPE);
    /* Inside a container, skip reports it too and does not move. */
    ck_assert_int_eq(skip_rc("92 01 c1", 8), ER_ETYPE);
    ck_assert_int_eq(skip_rc("81 a1 61 c1", 8), ER_ETYPE);
}
END_TEST

START_TEST(test_every_type_byte)
{
    /* Every first byte, with enough zero bytes after it for any header and
     * payload it claims: only 0xc1 is refused. */
    uint8_t buf[64]; /* fixmap 15 needs 30 bytes after it */
    int c;

    for (c = 0; c < 256; c++) {
        er_mp_reader_t r;
        er_mp_obj_t o;
        int rc;

        memset(buf, 0, sizeof(buf));
        buf[0] = (uint8_t)c;
        er__mp_init(&r, buf, sizeof(buf));
        rc = er__mp_next(&r, &o);
        if (c == 0xc1)
            ck_assert_int_eq(rc, ER_ETYPE);
        else
            ck_assert_msg(rc == 0, "type byte 0x%02x: %s", c, er_err_name(rc));
    }
}
END_TEST

START_TEST(test_empty_input)
{
    er_mp_reader_t r;
    er_mp_obj_t o;
    uint8_t *p = exact("", 0);

    er__mp_init(&r, p, 0);
    ck_assert_uint_eq(er__mp_left(&r), 0);
    ck_assert_int_eq(er__mp_next(&r, &o), ER_ETRUNC);
    ck_assert_int_eq(er__mp_skip(&r, 8), ER_ETRUNC);
    free(p);
}
END_TEST

/* ------------------------------------------------ truncation everywhere */

/* Valid objects, one of each type and width, nested ones included. */
static const char *const valid_objects[] = {
    "c0",
    "c2",
    "c3",
    "00",
    "7f",
    "e0",
    "ff",
    "cc ff",
    "cd 12 34",
    "ce 12 34 56 78",
    "cf 12 34 56 78 9a bc de f0",
    "d0 80",
    "d1 80 00",
    "d2 80 00 00 00",
    "d3 80 00 00 00 00 00 00 00",
    "ca 3f c0 00 00",
    "cb 40 09 21 fb 54 44 2d 18",
    "a0",
    "a3 61 62 63",
    "d9 03 61 62 63",
    "da 00 03 61 62 63",
    "db 00 00 00 03 61 62 63",
    "c4 02 00 01",
    "c5 00 02 00 01",
    "c6 00 00 00 02 00 01",
    "d4 01 00",
    "d5 01 00 01",
    "d6 01 00 01 02 03",
    "d7 01 00 01 02 03 04 05 06 07",
    "d8 01 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f",
    "c7 02 01 00 01",
    "c8 00 02 01 00 01",
    "c9 00 00 00 02 01 00 01",
    "90",
    "80",
    "93 01 a1 61 c3",
    "dc 00 02 c0 c2",
    "dd 00 00 00 02 c0 c2",
    "82 a1 61 01 a1 62 92 c0 c0",
    "de 00 01 a1 61 cd 01 00",
    "df 00 00 00 01 a1 61 81 a1 62 a1 63",
    /* An event-like map with nested containers. */
    ("83 a4 74 79 70 65 a5 4c 6f 67 69 6e a4 6d 65 74 61 81 a1 6b a1 76 a4 64 61 74 61 c4 03 "
     "01 02 03"),
    "91 91 91 91 91 91 91 91 c0",
};

START_TEST(test_truncation_every_offset)
{
    size_t v;

    for (v = 0; v < sizeof(valid_objects) / sizeof(valid_objects[0]); v++) {
        size_t n, k;
        uint8_t *full = unhex(valid_objects[v], &n);
        er_mp_reader_t r;

        /* The whole object skips cleanly. */
        er__mp_init(&r, full, n);
        ck_assert_msg(er__mp_skip(&r, ER_MP_MAX_DEPTH) == 0, "%s", valid_objects[v]);
        ck_assert_uint_eq(er__mp_left(&r), 0);

        for (k = 0; k < n; k++) {
            uint8_t *cut = exact(full, k);
            er_mp_obj_t o;
            int rc;

            er__mp_init(&r, cut, k);
            rc = er__mp_skip(&r, ER_MP_MAX_DEPTH);
            ck_assert_msg(rc == ER_ETRUNC, "%s cut at %zu: skip returned %s", valid_objects[v], k,
                          er_err_name(rc));
            ck_assert_ptr_eq(r.p, cut);
            /* The header alone may be complete; if not, next says so. */
            rc = er__mp_next(&r, &o);
            ck_assert_msg(rc == 0 || rc == ER_ETRUNC, "%s cut at %zu: next returned %s",
                          valid_objects[v], k, er_err_name(rc));
            if (rc != 0)
                ck_assert_ptr_eq(r.p, cut);
            else
                ck_assert_msg(o.type == ER_MP_ARRAY || o.type == ER_MP_MAP,
                              "%s cut at %zu: a scalar read from a prefix", valid_objects[v], k);
            free(cut);
        }
        free(full);
    }
}
END_TEST

/* ------------------------------------------------------------------ skip */

/* n nested one-element arrays around a nil: n + 1 levels. */
static uint8_t *nested(size_t n, size_t *len)
{
    uint8_t *p = malloc(n + 1);
    ck_assert(p != NULL);
    memset(p, 0x91, n);
    p[n] = 0xc0;
    *len = n + 1;
    return p;
}

static int skip_nested(size_t arrays, int max_depth)
{
    size_t n;
    uint8_t *p = nested(arrays, &n);
    er_mp_reader_t r;
    int rc;

    er__mp_init(&r, p, n);
    rc = er__mp_skip(&r, max_depth);
    if (rc == 0)
        ck_assert_uint_eq(er__mp_left(&r), 0);
    else
        ck_assert_ptr_eq(r.p, p);
    free(p);
    return rc;
}

START_TEST(test_skip_depth)
{
    /* max_depth counts levels of objects: a scalar is one level, [x] two. */
    ck_assert_int_eq(skip_nested(0, 1), 0);
    ck_assert_int_eq(skip_nested(1, 1), ER_EDEPTH);
    ck_assert_int_eq(skip_nested(1, 2), 0);
    ck_assert_int_eq(skip_nested(2, 2), ER_EDEPTH);
    ck_assert_int_eq(skip_nested(15, 16), 0);
    ck_assert_int_eq(skip_nested(16, 16), ER_EDEPTH);
    ck_assert_int_eq(skip_nested(31, ER_MP_MAX_DEPTH), 0);
    ck_assert_int_eq(skip_nested(32, ER_MP_MAX_DEPTH), ER_EDEPTH);
    /* Asking for more than ER_MP_MAX_DEPTH is clamped to it. */
    ck_assert_int_eq(skip_nested(31, 1000), 0);
    ck_assert_int_eq(skip_nested(32, 1000), ER_EDEPTH);
    ck_assert_int_eq(skip_nested(10000, 1000), ER_EDEPTH);
    /* Empty containers do not open a level. */
    ck_assert_int_eq(skip_rc("91 90", 2), 0);
    ck_assert_int_eq(skip_rc("91 80", 2), 0);
    ck_assert_int_eq(skip_rc("91 91 90", 2), ER_EDEPTH);
    /* Maps nest like arrays, through keys and values. */
    ck_assert_int_eq(skip_rc("81 a1 61 81 a1 62 c0", 3), 0);
    ck_assert_int_eq(skip_rc("81 a1 61 81 a1 62 c0", 2), ER_EDEPTH);
    ck_assert_int_eq(skip_rc("81 91 c0 c0", 2), ER_EDEPTH);
}
END_TEST

START_TEST(test_skip_sequence)
{
    /* Skip stops right after one object, leaving the next for the caller. */
    size_t n;
    uint8_t *p = unhex("92 a1 61 81 01 02 cd 01 00 c0", &n);
    er_mp_reader_t r;
    er_mp_obj_t o;

    er__mp_init(&r, p, n);
    ck_assert_int_eq(er__mp_skip(&r, 8), 0);
    ck_assert_uint_eq(er__mp_left(&r), 4);
    ck_assert_int_eq(er__mp_next(&r, &o), 0);
    ck_assert_int_eq(o.type, ER_MP_UINT);
    ck_assert_uint_eq(o.v.u, 256);
    ck_assert_int_eq(er__mp_skip(&r, 8), 0);
    ck_assert_uint_eq(er__mp_left(&r), 0);
    ck_assert_int_eq(er__mp_skip(&r, 8), ER_ETRUNC);
    free(p);
}
END_TEST

START_TEST(test_skip_wide)
{
    /* A wide flat array: many elements, one level. */
    size_t n = 3 + 60000, i;
    uint8_t *p = malloc(n);
    er_mp_reader_t r;

    ck_assert(p != NULL);
    p[0] = 0xdc;
    p[1] = 60000 >> 8;
    p[2] = 60000 & 0xff;
    for (i = 3; i < n; i++)
        p[i] = 0xc0;
    er__mp_init(&r, p, n);
    ck_assert_int_eq(er__mp_skip(&r, 2), 0);
    ck_assert_uint_eq(er__mp_left(&r), 0);
    /* One element missing. */
    er__mp_init(&r, p, n - 1);
    ck_assert_int_eq(er__mp_skip(&r, 2), ER_ETRUNC);
    free(p);
}
END_TEST

/* ------------------------------------------------------------------ UTF-8 */

static int utf8(const char *hex)
{
    size_t n;
    uint8_t *p = unhex(hex, &n);
    int rc = er__utf8_check((const char *)p, n);
    free(p);
    return rc;
}

START_TEST(test_utf8_valid)
{
    ck_assert_int_eq(utf8(""), 0);
    ck_assert_int_eq(utf8("61"), 0);
    ck_assert_int_eq(utf8("7f"), 0);
    /* Two bytes: U+0080, U+00E9, U+07FF. */
    ck_assert_int_eq(utf8("c2 80"), 0);
    ck_assert_int_eq(utf8("c3 a9"), 0);
    ck_assert_int_eq(utf8("df bf"), 0);
    /* Three bytes: U+0800, U+20AC, U+D7FF, U+E000, U+FFFD, U+FFFF. */
    ck_assert_int_eq(utf8("e0 a0 80"), 0);
    ck_assert_int_eq(utf8("e2 82 ac"), 0);
    ck_assert_int_eq(utf8("ed 9f bf"), 0);
    ck_assert_int_eq(utf8("ee 80 80"), 0);
    ck_assert_int_eq(utf8("ef bf bd"), 0);
    ck_assert_int_eq(utf8("ef bf bf"), 0);
    /* Four bytes: U+10000, U+1F600, U+10FFFF. */
    ck_assert_int_eq(utf8("f0 90 80 80"), 0);
    ck_assert_int_eq(utf8("f0 9f 98 80"), 0);
    ck_assert_int_eq(utf8("f4 8f bf bf"), 0);
    /* Mixed. */
    ck_assert_int_eq(utf8("61 c3 a9 e2 82 ac f0 9f 98 80 7a"), 0);
}
END_TEST

START_TEST(test_utf8_invalid)
{
    /* Overlong forms. */
    ck_assert_int_eq(utf8("c0 80"), ER_EUTF8);
    ck_assert_int_eq(utf8("c0 af"), ER_EUTF8);
    ck_assert_int_eq(utf8("c1 bf"), ER_EUTF8);
    ck_assert_int_eq(utf8("e0 80 80"), ER_EUTF8);
    ck_assert_int_eq(utf8("e0 9f bf"), ER_EUTF8);
    ck_assert_int_eq(utf8("f0 80 80 80"), ER_EUTF8);
    ck_assert_int_eq(utf8("f0 8f bf bf"), ER_EUTF8);
    /* UTF-16 surrogates U+D800..U+DFFF. */
    ck_assert_int_eq(utf8("ed a0 80"), ER_EUTF8);
    ck_assert_int_eq(utf8("ed bf bf"), ER_EUTF8);
    ck_assert_int_eq(utf8("ed a0 bd ed b8 80"), ER_EUTF8);
    /* Past U+10FFFF. */
    ck_assert_int_eq(utf8("f4 90 80 80"), ER_EUTF8);
    ck_assert_int_eq(utf8("f5 80 80 80"), ER_EUTF8);
    ck_assert_int_eq(utf8("f7 bf bf bf"), ER_EUTF8);
    ck_assert_int_eq(utf8("f8 88 80 80 80"), ER_EUTF8);
    ck_assert_int_eq(utf8("fc 84 80 80 80 80"), ER_EUTF8);
    ck_assert_int_eq(utf8("fe"), ER_EUTF8);
    ck_assert_int_eq(utf8("ff"), ER_EUTF8);
    /* Lone continuation bytes. */
    ck_assert_int_eq(utf8("80"), ER_EUTF8);
    ck_assert_int_eq(utf8("bf"), ER_EUTF8);
    ck_assert_int_eq(utf8("61 80 62"), ER_EUTF8);
    /* Truncated sequences, at the end and followed by ASCII. */
    ck_assert_int_eq(utf8("c3"), ER_EUTF8);
    ck_assert_int_eq(utf8("e2 82"), ER_EUTF8);
    ck_assert_int_eq(utf8("e2"), ER_EUTF8);
    ck_assert_int_eq(utf8("f0 9f 98"), ER_EUTF8);
    ck_assert_int_eq(utf8("f0 9f"), ER_EUTF8);
    ck_assert_int_eq(utf8("f0"), ER_EUTF8);
    ck_assert_int_eq(utf8("c3 41"), ER_EUTF8);
    ck_assert_int_eq(utf8("e2 82 41"), ER_EUTF8);
    ck_assert_int_eq(utf8("f0 9f 98 41"), ER_EUTF8);
    ck_assert_int_eq(utf8("e2 41 ac"), ER_EUTF8);
    /* NUL, anywhere. */
    ck_assert_int_eq(utf8("00"), ER_ENUL);
    ck_assert_int_eq(utf8("61 00 62"), ER_ENUL);
    ck_assert_int_eq(utf8("61 62 00"), ER_ENUL);
    /* The overlong NUL is invalid UTF-8, not a NUL. */
    ck_assert_int_eq(utf8("c0 80"), ER_EUTF8);
}
END_TEST

START_TEST(test_utf8_every_lead_byte)
{
    /* Every lead byte followed by valid continuations: only c2..f4 lead. */
    int c;
    for (c = 0x80; c < 0x100; c++) {
        uint8_t s[4] = {(uint8_t)c, 0xa0, 0x90, 0x90};
        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        int rc = er__utf8_check((const char *)s, need);
        bool ok = (c >= 0xc2 && c <= 0xf4) && c != 0xed && c != 0xf4;
        /* With 0xa0 after it, ed is a surrogate and f4 is past U+10FFFF. */
        ck_assert_msg((rc == 0) == ok, "lead 0x%02x: %s", c, er_err_name(rc));
    }
}
END_TEST

START_TEST(test_str_eq)
{
    ck_assert(er__mp_str_eq("type", 4, "type"));
    ck_assert(!er__mp_str_eq("typ", 3, "type"));
    ck_assert(!er__mp_str_eq("types", 5, "type"));
    ck_assert(er__mp_str_eq("", 0, ""));
    ck_assert(!er__mp_str_eq("a", 1, ""));
    /* An embedded NUL never matches a shorter C string. */
    ck_assert(!er__mp_str_eq("ty\0e", 4, "ty"));
}
END_TEST

static Suite *mpread_suite(void)
{
    Suite *s = suite_create("mpread");
    TCase *tc = tcase_create("types");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_nil_bool);
    tcase_add_test(tc, test_fixint);
    tcase_add_test(tc, test_uint_widths);
    tcase_add_test(tc, test_int_widths);
    tcase_add_test(tc, test_float);
    tcase_add_test(tc, test_str_widths);
    tcase_add_test(tc, test_bin_widths);
    tcase_add_test(tc, test_ext_widths);
    tcase_add_test(tc, test_payload_length_claims);
    tcase_add_test(tc, test_containers);
    tcase_add_test(tc, test_container_count_claims);
    tcase_add_test(tc, test_reserved_c1);
    tcase_add_test(tc, test_every_type_byte);
    tcase_add_test(tc, test_empty_input);
    suite_add_tcase(s, tc);

    tc = tcase_create("truncation");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_truncation_every_offset);
    suite_add_tcase(s, tc);

    tc = tcase_create("skip");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_skip_depth);
    tcase_add_test(tc, test_skip_sequence);
    tcase_add_test(tc, test_skip_wide);
    suite_add_tcase(s, tc);

    tc = tcase_create("utf8");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_utf8_valid);
    tcase_add_test(tc, test_utf8_invalid);
    tcase_add_test(tc, test_utf8_every_lead_byte);
    tcase_add_test(tc, test_str_eq);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mpread_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
