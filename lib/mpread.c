/*
 * Bounds-checked msgpack reader (see mpread.h). Every length is checked
 * against the bytes that remain before it is used, and a container's claimed
 * element count must be coverable by the remaining bytes, so a 5-byte input
 * can never make anyone allocate or loop for 4 billion elements.
 */
#include <string.h>

#include "eventrouter.h"
#include "mpread.h"

static inline uint16_t be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint64_t be64(const uint8_t *p)
{
    return ((uint64_t)be32(p) << 32) | be32(p + 4);
}

/* Set a str/bin/ext payload of n bytes starting at q, if they are there. */
static int take_payload(er_mp_reader_t *r, const uint8_t *q, uint64_t n, er_mp_obj_t *o)
{
    if (n > (uint64_t)(r->end - q))
        return ER_ETRUNC;
    o->v.s.ptr = (const char *)q;
    o->v.s.len = (uint32_t)n;
    r->p = q + n;
    return 0;
}

/* A container of n elements (pairs count twice) needs at least that many
 * bytes after its header. */
static int take_container(er_mp_reader_t *r, const uint8_t *q, uint64_t n, uint64_t per,
                          er_mp_obj_t *o)
{
    if (n * per > (uint64_t)(r->end - q))
        return ER_ETRUNC;
    o->v.n = (uint32_t)n;
    r->p = q;
    return 0;
}

/* Make sure `need` header bytes follow the type byte. */
#define NEED(k)                                                                \
    do {                                                                       \
        if ((size_t)(r->end - p) < (size_t)(k) + 1)                            \
            return ER_ETRUNC;                                                  \
    } while (0)

int er__mp_next(er_mp_reader_t *r, er_mp_obj_t *o)
{
    const uint8_t *p = r->p;
    uint8_t c;
    union {
        uint32_t u;
        float f;
    } f32;
    union {
        uint64_t u;
        double f;
    } f64;

    if (p >= r->end)
        return ER_ETRUNC;
    c = *p;

    if (c <= 0x7f) {
        o->type = ER_MP_UINT;
        o->v.u = c;
        r->p = p + 1;
        return 0;
    }
    if (c >= 0xe0) {
        o->type = ER_MP_INT;
        o->v.i = (int8_t)c;
        r->p = p + 1;
        return 0;
    }
    if ((c & 0xf0) == 0x80) {
        o->type = ER_MP_MAP;
        return take_container(r, p + 1, c & 0x0f, 2, o);
    }
    if ((c & 0xf0) == 0x90) {
        o->type = ER_MP_ARRAY;
        return take_container(r, p + 1, c & 0x0f, 1, o);
    }
    if ((c & 0xe0) == 0xa0) {
        o->type = ER_MP_STR;
        return take_payload(r, p + 1, c & 0x1f, o);
    }

    switch (c) {
    case 0xc0:
        o->type = ER_MP_NIL;
        r->p = p + 1;
        return 0;
    case 0xc2:
    case 0xc3:
        o->type = ER_MP_BOOL;
        o->v.b = c == 0xc3;
        r->p = p + 1;
        return 0;
    case 0xc4:
        NEED(1);
        o->type = ER_MP_BIN;
        return take_payload(r, p + 2, p[1], o);
    case 0xc5:
        NEED(2);
        o->type = ER_MP_BIN;
        return take_payload(r, p + 3, be16(p + 1), o);
    case 0xc6:
        NEED(4);
        o->type = ER_MP_BIN;
        return take_payload(r, p + 5, be32(p + 1), o);
    case 0xc7:
    case 0xc8:
    case 0xc9: {
        unsigned k = c == 0xc7 ? 1 : c == 0xc8 ? 2 : 4;
        uint64_t n;
        NEED(k + 1);
        n = k == 1 ? p[1] : k == 2 ? be16(p + 1) : be32(p + 1);
        o->type = ER_MP_EXT;
        o->v.s.ext_type = (int8_t)p[1 + k];
        return take_payload(r, p + 2 + k, n, o);
    }
    case 0xca:
        NEED(4);
        f32.u = be32(p + 1);
        o->type = ER_MP_FLOAT;
        o->v.f = f32.f;
        r->p = p + 5;
        return 0;
    case 0xcb:
        NEED(8);
        f64.u = be64(p + 1);
        o->type = ER_MP_FLOAT;
        o->v.f = f64.f;
        r->p = p + 9;
        return 0;
    case 0xcc:
        NEED(1);
        o->type = ER_MP_UINT;
        o->v.u = p[1];
        r->p = p + 2;
        return 0;
    case 0xcd:
        NEED(2);
        o->type = ER_MP_UINT;
        o->v.u = be16(p + 1);
        r->p = p + 3;
        return 0;
    case 0xce:
        NEED(4);
        o->type = ER_MP_UINT;
        o->v.u = be32(p + 1);
        r->p = p + 5;
        return 0;
    case 0xcf:
        NEED(8);
        o->type = ER_MP_UINT;
        o->v.u = be64(p + 1);
        r->p = p + 9;
        return 0;
    case 0xd0:
        NEED(1);
        o->v.i = (int8_t)p[1];
        r->p = p + 2;
        break;
    case 0xd1:
        NEED(2);
        o->v.i = (int16_t)be16(p + 1);
        r->p = p + 3;
        break;
    case 0xd2:
        NEED(4);
        o->v.i = (int32_t)be32(p + 1);
        r->p = p + 5;
        break;
    case 0xd3:
        NEED(8);
        o->v.i = (int64_t)be64(p + 1);
        r->p = p + 9;
        break;
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        NEED(1);
        o->type = ER_MP_EXT;
        o->v.s.ext_type = (int8_t)p[1];
        return take_payload(r, p + 2, 1u << (c - 0xd4), o);
    case 0xd9:
        NEED(1);
        o->type = ER_MP_STR;
        return take_payload(r, p + 2, p[1], o);
    case 0xda:
        NEED(2);
        o->type = ER_MP_STR;
        return take_payload(r, p + 3, be16(p + 1), o);
    case 0xdb:
        NEED(4);
        o->type = ER_MP_STR;
        return take_payload(r, p + 5, be32(p + 1), o);
    case 0xdc:
        NEED(2);
        o->type = ER_MP_ARRAY;
        return take_container(r, p + 3, be16(p + 1), 1, o);
    case 0xdd:
        NEED(4);
        o->type = ER_MP_ARRAY;
        return take_container(r, p + 5, be32(p + 1), 1, o);
    case 0xde:
        NEED(2);
        o->type = ER_MP_MAP;
        return take_container(r, p + 3, be16(p + 1), 2, o);
    case 0xdf:
        NEED(4);
        o->type = ER_MP_MAP;
        return take_container(r, p + 5, be32(p + 1), 2, o);
    default: /* 0xc1: never used */
        return ER_ETYPE;
    }
    /* Signed encodings: a non-negative value is a uint for the caller. */
    if (o->v.i >= 0) {
        o->type = ER_MP_UINT;
        o->v.u = (uint64_t)o->v.i;
    } else {
        o->type = ER_MP_INT;
    }
    return 0;
}

int er__mp_skip(er_mp_reader_t *r, int max_depth)
{
    /* Iterative walk: `todo[d]` is how many objects remain at depth d. */
    uint64_t todo[ER_MP_MAX_DEPTH + 1];
    int depth = 0, rc;
    er_mp_obj_t o;
    const uint8_t *start = r->p;

    if (max_depth > ER_MP_MAX_DEPTH)
        max_depth = ER_MP_MAX_DEPTH;
    todo[0] = 1;
    while (depth >= 0) {
        if (todo[depth] == 0) {
            depth--;
            continue;
        }
        todo[depth]--;
        rc = er__mp_next(r, &o);
        if (rc != 0) {
            r->p = start;
            return rc;
        }
        if (o.type == ER_MP_ARRAY || o.type == ER_MP_MAP) {
            if (o.v.n == 0)
                continue;
            if (depth + 1 >= max_depth) {
                r->p = start;
                return ER_EDEPTH;
            }
            todo[++depth] = o.type == ER_MP_MAP ? 2 * (uint64_t)o.v.n : o.v.n;
        }
    }
    return 0;
}

int er__utf8_check(const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s, *end = p + n;

    while (p < end) {
        uint8_t c = *p;
        if (c < 0x80) {
            if (c == 0)
                return ER_ENUL;
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            if (end - p < 2 || (p[1] & 0xc0) != 0x80)
                return ER_EUTF8;
            p += 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            if (end - p < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
                return ER_EUTF8;
            if (c == 0xe0 && p[1] < 0xa0) /* overlong */
                return ER_EUTF8;
            if (c == 0xed && p[1] >= 0xa0) /* surrogates */
                return ER_EUTF8;
            p += 3;
        } else if (c >= 0xf0 && c <= 0xf4) {
            if (end - p < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
                (p[3] & 0xc0) != 0x80)
                return ER_EUTF8;
            if (c == 0xf0 && p[1] < 0x90) /* overlong */
                return ER_EUTF8;
            if (c == 0xf4 && p[1] >= 0x90) /* past U+10FFFF */
                return ER_EUTF8;
            p += 4;
        } else {
            return ER_EUTF8;
        }
    }
    return 0;
}
