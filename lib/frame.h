/*
 * The streaming frame reader of eventrouter-protocol(7): a 4-byte big-endian
 * length L then L bytes. It hands out space to read into (so a libuv
 * alloc_cb or a read(2) fills it directly), never allocates more than
 * 4 + max_frame bytes, and refuses a length of 0 or above max_frame as soon
 * as the 4 header bytes are in, before any payload is buffered.
 */
#ifndef ER_FRAME_H
#define ER_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define ER_FRAME_HDR 4

typedef struct er_framer_s {
    uint8_t *buf;
    size_t cap;
    size_t off; /* start of unconsumed bytes */
    size_t len; /* end of valid bytes */
    size_t max_frame;
} er_framer_t;

void er__framer_init(er_framer_t *f, size_t max_frame);
void er__framer_free(er_framer_t *f);

/*
 * Space to read into: at least min_read bytes when the current frame needs
 * them, else what fits. Compacts and grows the buffer as needed, up to the
 * size of the frame being read. Returns 0 or -ENOMEM. Invalidates frames
 * returned by er__framer_next().
 */
int er__framer_space(er_framer_t *f, size_t min_read, uint8_t **p, size_t *n);
/* Record that n bytes were written at the space handed out. */
void er__framer_commit(er_framer_t *f, size_t n);

/*
 * The next complete frame: returns 1 with *payload and *len set (valid until the
 * next er__framer_space or er__framer_shrink), 0 when more bytes are needed,
 * ER_EFRAME for a zero length, ER_ETOOBIG for a length above max_frame.
 */
int er__framer_next(er_framer_t *f, const uint8_t **payload, size_t *len);

/* Bytes buffered that do not yet make a complete frame. */
size_t er__framer_partial(const er_framer_t *f);
/* The declared length of the partial frame being read (0 if unknown). */
size_t er__framer_expected(const er_framer_t *f);

/* Give memory back when nothing is buffered and the buffer grew past its
 * initial size (after a large frame). */
void er__framer_shrink(er_framer_t *f);

#endif
