/*
 * A destination's progress through the sequence (DESIGN §6): which seqs it
 * has examined, which deliveries are in flight, and the low-water mark —
 * the highest seq such that every seq up to it is done (delivered,
 * dead-lettered, or not routed to the destination). The low-water mark is
 * what the destination's cursor persists; deliveries may finish in any
 * order, but the mark only moves over a contiguous prefix.
 *
 * Deliveries begin in increasing seq order (a destination delivers in seq
 * order), so the seqs in flight are a ring in increasing order; a finished
 * one is flagged and popped once everything before it is done. A reset
 * (an operator moving the cursor) forgets the deliveries in flight: their
 * slots (absolute positions, never reused) fall behind the ring, so their
 * later finishes are ignored.
 *
 * Pure data, no I/O; loop thread.
 */
#ifndef ER_TRACK_H
#define ER_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct er_track_s {
    uint64_t scan; /* the next seq not yet examined */
    uint64_t *seqs;
    bool *done;
    uint64_t head; /* absolute position of the oldest in flight */
    size_t count, cap;
} er_track_t;

/* Start with nothing in flight, examining from seq `scan` on (every seq
 * below it is done). Returns 0 or -ENOMEM. */
int er__track_init(er_track_t *t, uint64_t scan);
void er__track_free(er_track_t *t);

/* Every seq below `seq` was examined without a delivery (not routed
 * here). Has no effect when seq <= scan. */
void er__track_skip(er_track_t *t, uint64_t seq);

/* A delivery of seq begins (seq >= scan; the seqs between were not routed
 * here). *slot names it for er__track_done. Returns 0 or -ENOMEM. */
int er__track_begin(er_track_t *t, uint64_t seq, uint64_t *slot);

/* The delivery in slot is done. A delivery begun before a reset is
 * ignored. */
void er__track_done(er_track_t *t, uint64_t slot);

/* Every seq up to the returned one is done. */
uint64_t er__track_low(const er_track_t *t);

/* The seq of the oldest delivery in flight, or 0 when none. */
uint64_t er__track_oldest(const er_track_t *t);

/* Deliveries in flight (begun, not yet popped by the mark). */
size_t er__track_inflight(const er_track_t *t);

/* Forget the deliveries in flight and examine from `scan` on. */
void er__track_reset(er_track_t *t, uint64_t scan);

#endif
