/*
 * Ingest: what happens to a validated client event before it is answered —
 * the envelope is completed (id, time, received, origin) and the next seq is
 * assigned (DESIGN §1, §6). Runs on the loop thread only.
 *
 * Seqs themselves come from the store (store.h), which reserves them.
 */
#ifndef ER_INGEST_H
#define ER_INGEST_H

#include <stdint.h>

#include "eventrouter.h"

typedef struct er_ingest_s {
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

/* Give evs (n >= 1) the consecutive seqs first, first + 1, ... */
void er__ingest_sequence(er_ingest_t *ing, er_event_t *evs, uint32_t n, uint64_t first);

#endif
