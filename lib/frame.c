/*
 * Streaming frame reader (see frame.h). The buffer starts small and grows
 * only to hold the frame currently being read, whose length was already
 * checked against max_frame, so a peer can make us hold at most
 * 4 + max_frame bytes, and only by sending them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "eventrouter.h"
#include "frame.h"

#define INITIAL_CAP (64u * 1024)

void er__framer_init(er_framer_t *f, size_t max_frame)
{
    memset(f, 0, sizeof(*f));
    f->max_frame = max_frame;
}

void er__framer_free(er_framer_t *f)
{
    free(f->buf);
    f->buf = NULL;
    f->cap = f->off = f->len = 0;
}

static size_t frame_len_at(const uint8_t *p)
{
    return ((size_t)p[0] << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
}

size_t er__framer_partial(const er_framer_t *f)
{
    return f->len - f->off;
}

size_t er__framer_expected(const er_framer_t *f)
{
    if (f->len - f->off < ER_FRAME_HDR)
        return 0;
    return frame_len_at(f->buf + f->off);
}

int er__framer_space(er_framer_t *f, size_t min_read, uint8_t **p, size_t *n)
{
    size_t have = f->len - f->off, want, cap;
    uint8_t *nb;

    /* Capacity (from off) the current frame needs: the initial size, or the
     * whole frame once its header is in; never more than one max_frame. */
    size_t limit = ER_FRAME_HDR + f->max_frame;
    want = INITIAL_CAP < limit ? INITIAL_CAP : limit;
    if (have >= ER_FRAME_HDR) {
        size_t flen = frame_len_at(f->buf + f->off);
        if (flen <= f->max_frame && ER_FRAME_HDR + flen > want)
            want = ER_FRAME_HDR + flen;
    }
    if (have + min_read > want)
        want = have + min_read < limit ? have + min_read : limit;
    if (want < have)
        want = have;

    /* Compact when the tail space is short. */
    if (f->off > 0 && f->cap - f->len < want - have) {
        memmove(f->buf, f->buf + f->off, have);
        f->off = 0;
        f->len = have;
    }
    if (f->cap - f->off < want) {
        cap = f->off + want;
        nb = realloc(f->buf, cap);
        if (nb == NULL)
            return -ENOMEM;
        f->buf = nb;
        f->cap = cap;
    }
    *p = f->buf + f->len;
    *n = f->cap - f->len;
    return 0;
}

void er__framer_commit(er_framer_t *f, size_t n)
{
    f->len += n;
}

int er__framer_next(er_framer_t *f, const uint8_t **payload, size_t *len)
{
    size_t have = f->len - f->off, flen;

    if (have < ER_FRAME_HDR)
        goto need_more;
    flen = frame_len_at(f->buf + f->off);
    if (flen == 0)
        return ER_EFRAME;
    if (flen > f->max_frame)
        return ER_ETOOBIG;
    if (have - ER_FRAME_HDR < flen)
        goto need_more;
    *payload = f->buf + f->off + ER_FRAME_HDR;
    *len = flen;
    f->off += ER_FRAME_HDR + flen;
    return 1;

need_more:
    if (have == 0)
        f->off = f->len = 0;
    return 0;
}

void er__framer_shrink(er_framer_t *f)
{
    if (f->len != f->off || f->cap <= INITIAL_CAP)
        return;
    free(f->buf);
    f->buf = NULL;
    f->cap = f->off = f->len = 0;
}
