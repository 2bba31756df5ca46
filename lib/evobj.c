/*
 * The event object behind the plugin ABI's er_ev_t (see evobj.h): one
 * allocation holds the header, an er_event_t view, the meta entries as an
 * array and every byte the view points to, so a reference is all a holder
 * needs and the last unref is one free(). The msgpack encoding is made on
 * first use, published with a compare-and-swap so concurrent first users
 * race harmlessly (the loser frees its copy), and freed with the object.
 *
 * Threads: everything here may run on any thread. The view is immutable
 * once er__ev_new returns; the reference count and the encoding pointer are
 * atomics.
 */
#include <errno.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "evobj.h"
#include "proto.h"

/* The cached encoding: a length, then the bytes, in one allocation made by
 * the encoder's buffer (see encode()). */
typedef struct enc_s {
    size_t n;
    uint8_t bytes[];
} enc_t;

struct er_ev_s {
    atomic_size_t refs;
    _Atomic(enc_t *) enc;
    size_t size; /* of this allocation */
    er_event_t view;
    /* Then: er_meta_t meta[view.meta_count], then the strings, each
     * followed by a NUL (a convenience for debuggers, not a promise: the
     * views carry lengths). */
};

/* ------------------------------------------------------------------ copy */

/* Offsets of every er_str_t of the view that points at bytes to copy. */
static const size_t str_offsets[] = {
    offsetof(er_event_t, type),           offsetof(er_event_t, topic),
    offsetof(er_event_t, id),             offsetof(er_event_t, stream),
    offsetof(er_event_t, correlation_id), offsetof(er_event_t, causation_id),
    offsetof(er_event_t, source),         offsetof(er_event_t, traceparent),
    offsetof(er_event_t, tracestate),     offsetof(er_event_t, content_type),
    offsetof(er_event_t, data),           offsetof(er_event_t, origin.host),
    offsetof(er_event_t, via.broker),     offsetof(er_event_t, via.source),
    offsetof(er_event_t, via.plugin),
};
#define NSTRS (sizeof(str_offsets) / sizeof(str_offsets[0]))

static inline er_str_t *str_at(er_event_t *ev, size_t i)
{
    return (er_str_t *)((char *)ev + str_offsets[i]);
}

/* a += b, refusing overflow. */
static int add_size(size_t *a, size_t b)
{
    if (b > SIZE_MAX - *a)
        return -1;
    *a += b;
    return 0;
}

/* Copy s into the arena at *w (moving *w on) and point s at the copy. An
 * absent string stays absent; a present empty one points at a NUL. */
static void place(er_str_t *s, char **w)
{
    if (s->ptr == NULL)
        return;
    if (s->len > 0)
        memcpy(*w, s->ptr, s->len);
    (*w)[s->len] = '\0';
    s->ptr = *w;
    *w += s->len + 1;
}

er_ev_t *er__ev_new(const er_event_t *src)
{
    er_str_t k, v;
    size_t total = sizeof(er_ev_t) + NSTRS, metas = 0, pos = 0, i; /* + the NULs */
    er_ev_t *ev;
    er_meta_t *meta;
    char *w;

    for (i = 0; i < NSTRS; i++) {
        const er_str_t *s = str_at((er_event_t *)src, i);
        if (s->ptr != NULL && add_size(&total, s->len) != 0)
            return NULL;
    }
    /* Meta from either form (er_meta_next walks both); counted first. */
    while (er_meta_next(src, &pos, &k, &v)) {
        if (add_size(&total, sizeof(er_meta_t)) != 0 || add_size(&total, k.len) != 0 ||
            add_size(&total, v.len) != 0 || add_size(&total, 2) != 0)
            return NULL;
        metas++;
    }

    ev = malloc(total);
    if (ev == NULL)
        return NULL;
    atomic_init(&ev->refs, 1);
    atomic_init(&ev->enc, NULL);
    ev->size = total;
    ev->view = *src;
    meta = (er_meta_t *)(ev + 1);
    w = (char *)(meta + metas);

    for (i = 0; i < NSTRS; i++)
        place(str_at(&ev->view, i), &w);
    pos = 0;
    for (i = 0; i < metas && er_meta_next(src, &pos, &k, &v); i++) {
        meta[i].key = k;
        meta[i].value = v;
        if (meta[i].key.ptr == NULL)
            meta[i].key.ptr = "";
        if (meta[i].value.ptr == NULL)
            meta[i].value.ptr = "";
        place(&meta[i].key, &w);
        place(&meta[i].value, &w);
    }
    ev->view.meta = metas > 0 ? meta : NULL;
    ev->view.meta_count = metas;
    ev->view.meta_packed.ptr = NULL;
    ev->view.meta_packed.len = 0;
    return ev;
}

/* ------------------------------------------------------------ references */

er_ev_t *er__ev_ref(er_ev_t *ev)
{
    atomic_fetch_add_explicit(&ev->refs, 1, memory_order_relaxed);
    return ev;
}

void er__ev_unref(er_ev_t *ev)
{
    if (ev == NULL)
        return;
    /* acq_rel: every holder's reads happen before the free. */
    if (atomic_fetch_sub_explicit(&ev->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(atomic_load_explicit(&ev->enc, memory_order_acquire));
    free(ev);
}

size_t er__ev_size(const er_ev_t *ev)
{
    return ev->size;
}

const er_event_t *er__ev_view(const er_ev_t *ev)
{
    return &ev->view;
}

/* -------------------------------------------------------------- encoding */

/* Encode the view into one allocation: the encoder writes after room left
 * for the length, so the buffer itself becomes the enc_t. */
static enc_t *encode(const er_event_t *view)
{
    er_buf_t b = ER_BUF_INIT;
    enc_t *e;

    if (er__buf_reserve(&b, sizeof(enc_t) + 256) != 0)
        return NULL;
    b.len = sizeof(enc_t);
    if (er__event_pack(&b, view) != 0) {
        er__buf_free(&b);
        return NULL;
    }
    e = (enc_t *)b.data;
    e->n = b.len - sizeof(enc_t);
    return e;
}

int er__ev_encoded(er_ev_t *ev, const uint8_t **p, size_t *n)
{
    enc_t *e = atomic_load_explicit(&ev->enc, memory_order_acquire);
    enc_t *expected = NULL;

    if (e == NULL) {
        e = encode(&ev->view);
        if (e == NULL)
            return -ENOMEM;
        if (!atomic_compare_exchange_strong_explicit(&ev->enc, &expected, e, memory_order_acq_rel,
                                                     memory_order_acquire)) {
            /* Another thread got there first: use its copy. */
            free(e);
            e = expected;
        }
    }
    *p = e->bytes;
    *n = e->n;
    return 0;
}

/* ------------------------------------------------------------------ view */

int er__ev_get(const er_ev_t *ev, er_event_t *out, size_t out_size)
{
    size_t n = out_size < sizeof(er_event_t) ? out_size : sizeof(er_event_t);

    if (ev == NULL || out == NULL)
        return -EINVAL;
    memcpy(out, &ev->view, n);
    /* A plugin compiled against a later, larger er_event_t sees the members
     * this host does not know as absent. */
    if (out_size > n)
        memset((char *)out + n, 0, out_size - n);
    return 0;
}

int er__ev_decode(const uint8_t *p, size_t n, er_ev_t **out)
{
    er_mp_reader_t r;
    er_event_t view;
    er_error_t err;
    enc_t *e;

    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (p == NULL)
        return -EBADMSG;
    er__mp_init(&r, p, n);
    if (er__event_read(&r, &view, 0, n, &err) != 0 || er__mp_left(&r) != 0)
        return -EBADMSG;
    if ((*out = er__ev_new(&view)) == NULL)
        return -ENOMEM;
    /* Keep the bytes as its encoding: a store holds what er__ev_encoded
     * made, so a QUERY's ROWS or a handler's event_encoded need not encode
     * it again (counted in its size, as a catch-up's budget reads it). */
    if ((e = malloc(sizeof(enc_t) + n)) != NULL) {
        e->n = n;
        memcpy(e->bytes, p, n);
        atomic_store_explicit(&(*out)->enc, e, memory_order_release);
        (*out)->size += sizeof(enc_t) + n;
    }
    return 0;
}
