/*
 * A growable byte buffer, and the glue that lets msgpack-c's packer write
 * into it. Used for every frame the library and the daemon encode.
 */
#ifndef ER_BUF_H
#define ER_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct er_buf_s {
    uint8_t *data;
    size_t len;
    size_t cap;
    int err; /* -ENOMEM once a msgpack write failed; checked by the encoders */
} er_buf_t;

#define ER_BUF_INIT {NULL, 0, 0, 0}

/* Make room for `extra` more bytes. Returns 0 or -ENOMEM (also on size
 * overflow); the buffer is unchanged on failure. */
int er__buf_reserve(er_buf_t *b, size_t extra);
int er__buf_append(er_buf_t *b, const void *p, size_t n);
/* Drop the first n bytes (n <= len), moving the rest to the front. */
void er__buf_consume(er_buf_t *b, size_t n);
void er__buf_free(er_buf_t *b);

/* msgpack_packer write callback: `data` is an er_buf_t. Returns 0, or -1
 * and records -ENOMEM in the buffer's err. */
int er__buf_mp_write(void *data, const char *buf, size_t len);

/* Frame writing (eventrouter-protocol(7)): open appends a 4-byte length
 * placeholder and returns its offset in *mark; close fills it with the
 * number of bytes written since. */
int er__frame_open(er_buf_t *b, size_t *mark);
void er__frame_close(er_buf_t *b, size_t mark);

#endif
