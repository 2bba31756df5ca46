/*
 * Growable byte buffer (see buf.h) and frame length prefixes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

int er__buf_reserve(er_buf_t *b, size_t extra)
{
    size_t need, cap;
    uint8_t *p;

    if (extra > SIZE_MAX - b->len)
        return -ENOMEM;
    need = b->len + extra;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (p == NULL)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int er__buf_append(er_buf_t *b, const void *p, size_t n)
{
    int rc = er__buf_reserve(b, n);
    if (rc != 0)
        return rc;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void er__buf_consume(er_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void er__buf_free(er_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->err = 0;
}

int er__buf_mp_write(void *data, const char *buf, size_t len)
{
    er_buf_t *b = data;
    if (er__buf_append(b, buf, len) == 0)
        return 0;
    b->err = -ENOMEM;
    return -1;
}

int er__frame_open(er_buf_t *b, size_t *mark)
{
    static const uint8_t zero[4];
    *mark = b->len;
    return er__buf_append(b, zero, sizeof(zero));
}

void er__frame_close(er_buf_t *b, size_t mark)
{
    size_t n = b->len - mark - 4;
    uint8_t *p = b->data + mark;

    p[0] = (uint8_t)(n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
}
