/*
 * De-duplication (DESIGN §6): the ids of recently stored events, so that a
 * client resending after a reconnect or a daemon restart is answered with
 * the original seq instead of storing and delivering the event twice.
 *
 * An id is remembered while it is among the last `max` ids (count) and
 * younger than `window_ms` (by `received`); older ids are forgotten, so an
 * id resent after that is treated as new (documented in
 * eventrouter-protocol(7)). Each entry holds a 128-bit keyed hash of the id
 * (XXH3 with a secret drawn from getrandom at start, so a publisher cannot
 * aim at another's id), its seq and time: 32 bytes plus 4-8 bytes of table,
 * allocated as the set fills, never beyond `max`.
 *
 * The set is rebuilt from the store's tail when the daemon starts. Loop
 * thread only.
 */
#ifndef ER_DEDUPE_H
#define ER_DEDUPE_H

#include <stddef.h>
#include <stdint.h>

typedef struct er_dedupe_entry_s {
    uint64_t h[2];       /* the id's hash */
    uint64_t seq;        /* its seq */
    int64_t received_us; /* when it was stored */
} er_dedupe_entry_t;

typedef struct er_dedupe_s {
    er_dedupe_entry_t *ring; /* oldest at `head`, `count` entries, capacity `cap` */
    size_t head, count, cap;
    uint32_t *slots;   /* open addressing, linear probing: ring position + 1, 0 empty */
    size_t nslots;     /* a power of two, >= 2 * cap */
    size_t max;        /* dedupe_max */
    int64_t window_us; /* dedupe_window; 0: the set is off */
    uint8_t secret[192];
    uint64_t hits, evicted_count, evicted_age;
} er_dedupe_t;

/* Set up an empty set (max ids, window_ms of age; window_ms 0 turns it
 * off: every lookup misses, inserts are ignored). Returns 0 or -ENOMEM. */
int er__dedupe_init(er_dedupe_t *d, size_t max, uint64_t window_ms);
void er__dedupe_free(er_dedupe_t *d);

/* The hash of id (borrowed until return). */
void er__dedupe_hash(const er_dedupe_t *d, const char *id, size_t len, uint64_t h[2]);

/* The seq stored under h, or 0 when h is not in the set. */
uint64_t er__dedupe_find(er_dedupe_t *d, const uint64_t h[2]);

/*
 * Remember h as seq, received at received_us (entries come in seq order;
 * the oldest is forgotten when the set holds max). Returns 0, or -ENOMEM
 * when the set could not grow (the id is then not remembered; logged by
 * the caller).
 */
int er__dedupe_insert(er_dedupe_t *d, const uint64_t h[2], uint64_t seq, int64_t received_us);

/* Forget ids received before now_us - window. */
void er__dedupe_expire(er_dedupe_t *d, int64_t now_us);

/* Forget seqs >= from_seq (their append failed: they were not stored). */
void er__dedupe_forget_from(er_dedupe_t *d, uint64_t from_seq);

/* Bytes allocated (for stats). */
size_t er__dedupe_bytes(const er_dedupe_t *d);

#endif
