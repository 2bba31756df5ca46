/*
 * The project's own bounds-checked msgpack reader (DESIGN §12): msgpack-c's
 * object API allocates whatever size a peer claims, so wire bytes are read
 * here instead. Nothing is allocated: strings are views into the input.
 *
 * Accepts any msgpack; rejects a container whose claimed count could not fit
 * in the bytes left (each element needs at least one byte), a reserved type
 * byte (0xc1), and reads past the end.
 */
#ifndef ER_MPREAD_H
#define ER_MPREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef enum er_mp_type {
    ER_MP_NIL,
    ER_MP_BOOL,
    ER_MP_UINT, /* non-negative integers, whatever their encoding */
    ER_MP_INT,  /* negative integers */
    ER_MP_FLOAT,
    ER_MP_STR,
    ER_MP_BIN,
    ER_MP_ARRAY,
    ER_MP_MAP,
    ER_MP_EXT,
} er_mp_type_t;

typedef struct er_mp_obj_s {
    er_mp_type_t type;
    union {
        bool b;
        uint64_t u;
        int64_t i;
        double f;
        uint32_t n; /* array or map: element/pair count */
        struct {
            const char *ptr;
            uint32_t len;
            int8_t ext_type;
        } s; /* str, bin, ext */
    } v;
} er_mp_obj_t;

typedef struct er_mp_reader_s {
    const uint8_t *p;
    const uint8_t *end;
} er_mp_reader_t;

/* Maximum nesting er__mp_skip() walks before ER_EDEPTH. */
#define ER_MP_MAX_DEPTH 32

static inline void er__mp_init(er_mp_reader_t *r, const void *p, size_t n)
{
    r->p = (const uint8_t *)p;
    r->end = r->p + n;
}

static inline size_t er__mp_left(const er_mp_reader_t *r)
{
    return (size_t)(r->end - r->p);
}

/* Read one object header (and the payload of str/bin/ext). Containers are
 * not entered: their elements follow. Returns 0, ER_ETRUNC or ER_ETYPE. On
 * failure the reader does not move. */
int er__mp_next(er_mp_reader_t *r, er_mp_obj_t *o);

/* Skip one whole object, nested containers included, refusing nesting
 * deeper than max_depth (ER_EDEPTH). */
int er__mp_skip(er_mp_reader_t *r, int max_depth);

/* Check that p[0..n) is valid UTF-8 (no overlongs, surrogates or code
 * points past U+10FFFF) without NUL. Returns 0, ER_EUTF8 or ER_ENUL. */
int er__utf8_check(const char *p, size_t n);

/* True when the view equals the NUL-terminated string s (so a view with a
 * NUL inside never matches). */
static inline bool er__mp_str_eq(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && (n == 0 || memcmp(p, s, n) == 0);
}

#endif
