/*
 * A destination's progress (see track.h): a ring of the seqs in flight,
 * increasing from head, each with a done flag. A slot is a delivery's
 * absolute position (the count of begins before it), so it stays valid
 * when the ring grows: its index is always pos % cap.
 */
#include <errno.h>
#include <stdlib.h>

#include "track.h"

int er__track_init(er_track_t *t, uint64_t scan)
{
    t->scan = scan;
    t->head = 0;
    t->count = 0;
    t->cap = 16;
    t->seqs = malloc(t->cap * sizeof(*t->seqs));
    t->done = malloc(t->cap * sizeof(*t->done));
    if (t->seqs == NULL || t->done == NULL) {
        er__track_free(t);
        return -ENOMEM;
    }
    return 0;
}

void er__track_free(er_track_t *t)
{
    free(t->seqs);
    free(t->done);
    t->seqs = NULL;
    t->done = NULL;
    t->cap = t->count = 0;
}

void er__track_skip(er_track_t *t, uint64_t seq)
{
    if (seq > t->scan)
        t->scan = seq;
}

static int grow(er_track_t *t)
{
    size_t ncap = t->cap * 2, i;
    uint64_t *seqs = malloc(ncap * sizeof(*seqs));
    bool *done = malloc(ncap * sizeof(*done));

    if (seqs == NULL || done == NULL) {
        free(seqs);
        free(done);
        return -ENOMEM;
    }
    for (i = 0; i < t->count; i++) {
        uint64_t pos = t->head + i;
        seqs[pos % ncap] = t->seqs[pos % t->cap];
        done[pos % ncap] = t->done[pos % t->cap];
    }
    free(t->seqs);
    free(t->done);
    t->seqs = seqs;
    t->done = done;
    t->cap = ncap;
    return 0;
}

int er__track_begin(er_track_t *t, uint64_t seq, uint64_t *slot)
{
    uint64_t pos = t->head + t->count;

    if (t->count == t->cap && grow(t) != 0)
        return -ENOMEM;
    t->seqs[pos % t->cap] = seq;
    t->done[pos % t->cap] = false;
    t->count++;
    if (seq + 1 > t->scan)
        t->scan = seq + 1;
    *slot = pos;
    return 0;
}

void er__track_done(er_track_t *t, uint64_t slot)
{
    if (slot < t->head || slot >= t->head + t->count)
        return;
    t->done[slot % t->cap] = true;
    while (t->count > 0 && t->done[t->head % t->cap]) {
        t->head++;
        t->count--;
    }
}

uint64_t er__track_low(const er_track_t *t)
{
    return (t->count > 0 ? t->seqs[t->head % t->cap] : t->scan) - 1;
}

uint64_t er__track_oldest(const er_track_t *t)
{
    return t->count > 0 ? t->seqs[t->head % t->cap] : 0;
}

size_t er__track_inflight(const er_track_t *t)
{
    return t->count;
}

void er__track_reset(er_track_t *t, uint64_t scan)
{
    t->head += t->count; /* their later finishes fall below head */
    t->count = 0;
    t->scan = scan;
}
