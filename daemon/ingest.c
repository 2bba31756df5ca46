/*
 * Ingest (see ingest.h): envelope completion and sequencing.
 */
#include <string.h>
#include <unistd.h>

#include "ingest.h"
#include "uuid.h"

void er__ingest_init(er_ingest_t *ing)
{
    memset(ing, 0, sizeof(*ing));
    if (gethostname(ing->host, sizeof(ing->host) - 1) != 0)
        strcpy(ing->host, "localhost");
    ing->host[sizeof(ing->host) - 1] = '\0';
    ing->host_len = strlen(ing->host);
    ing->self.pid = getpid();
    ing->self.uid = geteuid();
    ing->self.gid = getegid();
}

void er__ingest_complete(er_ingest_t *ing, er_event_t *ev, int64_t now_us, const er_origin_t *peer,
                         char idbuf[37])
{
    if (ev->id.ptr == NULL) {
        er__uuid7_at(idbuf, (uint64_t)now_us / 1000);
        ev->id.ptr = idbuf;
        ev->id.len = 36;
    }
    if (!(ev->has & ER_HAS_TIME)) {
        ev->time = now_us;
        ev->has |= ER_HAS_TIME;
    }
    ev->received = now_us;
    ev->origin = *peer;
    ev->origin.host.ptr = ing->host;
    ev->origin.host.len = ing->host_len;
    ev->has |= ER_HAS_RECEIVED | ER_HAS_ORIGIN;
}

void er__ingest_complete_plugin(er_ingest_t *ing, er_event_t *ev, int64_t now_us,
                                const char *plugin, uint32_t hops, char idbuf[37])
{
    er_event_strip_daemon_fields(ev);
    er__ingest_complete(ing, ev, now_us, &ing->self, idbuf);
    ev->via.plugin = er_str(plugin);
    ev->hops = hops;
    ev->has |= ER_HAS_HOPS;
}

void er__ingest_sequence(er_ingest_t *ing, er_event_t *evs, uint32_t n, uint64_t first)
{
    uint32_t i;

    for (i = 0; i < n; i++) {
        evs[i].seq = first + i;
        evs[i].has |= ER_HAS_SEQ;
    }
    ing->events += n;
    ing->batches++;
}
