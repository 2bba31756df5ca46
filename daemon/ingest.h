/*
 * Ingest: what happens to a validated client event before it is answered —
 * the envelope is completed (id, time, received, origin) and the next seq is
 * assigned (DESIGN §1, §6). Runs on the loop thread only.
 *
 * Until the store exists, seqs live in memory only (WELCOME durable: false)
 * and restart from 1.
 */
#ifndef ER_INGEST_H
#define ER_INGEST_H

#include <stdint.h>

#include "eventrouter.h"

typedef struct er_ingest_s {
    uint64_t next_seq;   /* the seq the next event gets */
    char host[256];      /* origin.host: this machine's hostname */
    size_t host_len;
    uint64_t events;     /* events sequenced since start */
    uint64_t batches;    /* PUBLISH / PUBLISH_BATCH requests sequenced */
} er_ingest_t;

void er__ingest_init(er_ingest_t *ing);

/*
 * Complete ev (validated with ER_VALIDATE_CLIENT) in place: a generated
 * UUIDv7 id when the client gave none (written into idbuf, which must
 * outlive ev), `time` = now when absent, `received` = now, `origin` = the
 * peer's credentials and this host. Does not assign the seq.
 */
void er__ingest_complete(er_ingest_t *ing, er_event_t *ev, int64_t now_us, const er_origin_t *peer,
                         char idbuf[37]);

/* Assign n consecutive seqs to evs (n >= 1); returns the first. */
uint64_t er__ingest_sequence(er_ingest_t *ing, er_event_t *evs, uint32_t n);

#endif
