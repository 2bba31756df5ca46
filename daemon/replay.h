/*
 * Replays (DESIGN §11, `eventctl replay [filters] --to DESTINATION`): every
 * stored event a filter matches, up to the head stored when the replay
 * began, delivered once more to one destination through the dispatcher's
 * side channel — regardless of routes, with the destination's retry
 * policy, never moving its cursor. The store is read a page at a time and
 * at most REPLAY_AHEAD events of a replay are queued or in flight, so a
 * replay of millions takes bounded memory and lets the destination's new
 * events through between pages. Progress and the outcome of each event
 * (delivered, dead-lettered, dropped) are counted and kept after the end
 * for `replay.status`. Loop thread.
 */
#ifndef ER_REPLAY_H
#define ER_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

struct er_dispatch_s;
struct er_store_s;
typedef struct er_replay_s er_replay_t;

typedef struct er_replays_s {
    struct er_dispatch_s *dispatch;
    struct er_store_s *store;
    er_replay_t *jobs; /* newest first */
    uint32_t next_id;
    bool stopping;
} er_replays_t;

/* Take the dispatcher's side-channel outcomes (both borrowed until
 * er__replays_close). */
void er__replays_init(er_replays_t *rs, struct er_dispatch_s *d, struct er_store_s *store);

/*
 * Admin commands. replay {destination, filter keys of QUERY}: starts one
 * and answers {id, to_seq} at once; replay.status {id}: its figures;
 * replay.cancel {id}: reads no more (what is queued is still delivered).
 * Each returns NULL with *reply (a new reference), or the NACK code with
 * the reason in msg.
 */
const char *er__replay_start(er_replays_t *rs, json_t *args, json_t **reply, char *msg, size_t cap);
const char *er__replay_status(er_replays_t *rs, json_t *args, json_t **reply, char *msg,
                              size_t cap);
const char *er__replay_cancel(er_replays_t *rs, json_t *args, json_t **reply, char *msg,
                              size_t cap);

/* The daemon stops: no more store reads (before the dispatcher stops). */
void er__replays_stop(er_replays_t *rs);
/* Free every replay (after the dispatcher has stopped; one still reading
 * the store is freed when its read completes). */
void er__replays_close(er_replays_t *rs);

#endif
