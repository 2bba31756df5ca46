/*
 * The de-duplication set (see dedupe.h): a ring of entries in seq order
 * (oldest first, so both bounds evict from one end) indexed by an open-
 * addressing table with linear probing and backward-shift deletion, so no
 * tombstones accumulate however long the daemon runs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "dedupe.h"

#define MIN_CAP 1024

static size_t pow2_at_least(size_t n)
{
    size_t p = 16;

    while (p < n)
        p <<= 1;
    return p;
}

static inline size_t ring_pos(const er_dedupe_t *d, size_t i)
{
    size_t p = d->head + i;

    return p >= d->cap ? p - d->cap : p;
}

static inline size_t ideal_slot(const er_dedupe_t *d, const uint64_t h[2])
{
    return (size_t)h[0] & (d->nslots - 1);
}

int er__dedupe_init(er_dedupe_t *d, size_t max, uint64_t window_ms)
{
    size_t got = 0;
    ssize_t n;

    memset(d, 0, sizeof(*d));
    d->max = max;
    d->window_us = (int64_t)window_ms * 1000;
    while (got < sizeof(d->secret)) {
        n = getrandom(d->secret + got, sizeof(d->secret) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    return 0;
}

void er__dedupe_free(er_dedupe_t *d)
{
    free(d->ring);
    free(d->slots);
    d->ring = NULL;
    d->slots = NULL;
    d->count = d->cap = d->nslots = 0;
}

void er__dedupe_hash(const er_dedupe_t *d, const char *id, size_t len, uint64_t h[2])
{
    XXH128_hash_t x = XXH3_128bits_withSecret(id, len, d->secret, sizeof(d->secret));

    h[0] = x.low64;
    h[1] = x.high64;
}

uint64_t er__dedupe_find(er_dedupe_t *d, const uint64_t h[2])
{
    size_t mask, i;

    if (d->count == 0)
        return 0;
    mask = d->nslots - 1;
    for (i = ideal_slot(d, h); d->slots[i] != 0; i = (i + 1) & mask) {
        const er_dedupe_entry_t *e = &d->ring[d->slots[i] - 1];
        if (e->h[0] == h[0] && e->h[1] == h[1]) {
            d->hits++;
            return e->seq;
        }
    }
    return 0;
}

static void slot_put(er_dedupe_t *d, size_t pos)
{
    size_t mask = d->nslots - 1, i;

    for (i = ideal_slot(d, d->ring[pos].h); d->slots[i] != 0; i = (i + 1) & mask)
        ;
    d->slots[i] = (uint32_t)(pos + 1);
}

/* Remove the slot naming ring position pos, shifting later entries of its
 * probe run back so every lookup still finds them. */
static void slot_remove(er_dedupe_t *d, size_t pos)
{
    size_t mask = d->nslots - 1, i, j, k;

    for (i = ideal_slot(d, d->ring[pos].h); d->slots[i] != pos + 1; i = (i + 1) & mask)
        if (d->slots[i] == 0)
            return; /* not indexed: cannot happen, but never loop */
    for (j = i;;) {
        j = (j + 1) & mask;
        if (d->slots[j] == 0)
            break;
        k = ideal_slot(d, d->ring[d->slots[j] - 1].h);
        /* The entry at j stays if its ideal slot lies cyclically in (i, j]. */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        d->slots[i] = d->slots[j];
        i = j;
    }
    d->slots[i] = 0;
}

static void evict_oldest(er_dedupe_t *d)
{
    slot_remove(d, d->head);
    d->head = d->head + 1 == d->cap ? 0 : d->head + 1;
    d->count--;
}

/* Grow the ring (linearised, oldest first) and rebuild the table. */
static int grow(er_dedupe_t *d)
{
    size_t ncap = d->cap == 0 ? MIN_CAP : d->cap * 2, nslots, i;
    er_dedupe_entry_t *ring;
    uint32_t *slots;

    if (ncap > d->max)
        ncap = d->max;
    if (ncap > UINT32_MAX - 1)
        return -ENOMEM;
    nslots = pow2_at_least(ncap * 2);
    ring = malloc(ncap * sizeof(*ring));
    slots = calloc(nslots, sizeof(*slots));
    if (ring == NULL || slots == NULL) {
        free(ring);
        free(slots);
        return -ENOMEM;
    }
    for (i = 0; i < d->count; i++)
        ring[i] = d->ring[ring_pos(d, i)];
    free(d->ring);
    free(d->slots);
    d->ring = ring;
    d->slots = slots;
    d->cap = ncap;
    d->nslots = nslots;
    d->head = 0;
    for (i = 0; i < d->count; i++)
        slot_put(d, i);
    return 0;
}

int er__dedupe_insert(er_dedupe_t *d, const uint64_t h[2], uint64_t seq, int64_t received_us)
{
    size_t pos;
    int rc;

    if (d->window_us == 0 || d->max == 0)
        return 0;
    if (d->count == d->cap) {
        if (d->cap < d->max) {
            if ((rc = grow(d)) != 0)
                return rc;
        } else {
            evict_oldest(d);
            d->evicted_count++;
        }
    }
    pos = ring_pos(d, d->count);
    d->ring[pos].h[0] = h[0];
    d->ring[pos].h[1] = h[1];
    d->ring[pos].seq = seq;
    d->ring[pos].received_us = received_us;
    d->count++;
    slot_put(d, pos);
    return 0;
}

void er__dedupe_expire(er_dedupe_t *d, int64_t now_us)
{
    while (d->count > 0 && d->ring[d->head].received_us < now_us - d->window_us) {
        evict_oldest(d);
        d->evicted_age++;
    }
}

void er__dedupe_forget_from(er_dedupe_t *d, uint64_t from_seq)
{
    while (d->count > 0) {
        size_t pos = ring_pos(d, d->count - 1);
        if (d->ring[pos].seq < from_seq)
            break;
        slot_remove(d, pos);
        d->count--;
    }
}

size_t er__dedupe_bytes(const er_dedupe_t *d)
{
    return d->cap * sizeof(*d->ring) + d->nslots * sizeof(*d->slots);
}
