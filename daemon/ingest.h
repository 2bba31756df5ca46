/*
 * Ingest: what happens to a validated client event before it is answered —
 * the envelope is completed (id, time, received, origin) and the next seq is
 * assigned (DESIGN §1, §6) — and to an event a plugin published (DESIGN §3:
 * origin the daemon itself, via.plugin, hops). Runs on the loop thread only.
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
    er_origin_t self;    /* the daemon's own pid, uid, gid: plugins' events' origin */
    uint64_t events;     /* events sequenced since start */
    uint64_t batches;    /* requests sequenced: PUBLISH, PUBLISH_BATCH, a plugin's publish */
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

/*
 * Complete ev, an event a plugin published (validated without
 * ER_VALIDATE_CLIENT), in place: its daemon fields are replaced — id, time
 * and received as for a client's event, origin = the daemon's own
 * credentials (effective uid and gid, as a peer's are seen) and this host,
 * via = {plugin} (borrowed: must outlive ev), hops as given. Does not
 * assign the seq.
 */
void er__ingest_complete_plugin(er_ingest_t *ing, er_event_t *ev, int64_t now_us,
                                const char *plugin, uint32_t hops, char idbuf[37]);

/* Give evs (n >= 1) the consecutive seqs first, first + 1, ... */
void er__ingest_sequence(er_ingest_t *ing, er_event_t *evs, uint32_t n, uint64_t first);

#endif
