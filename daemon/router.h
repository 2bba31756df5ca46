/*
 * The routing table (DESIGN §5): routes evaluated in order, the first match
 * wins unless it says `continue: true`; an event goes once to the union of
 * the destinations of the routes it matched. A handler that declares its
 * event types (and has `subscribe` on) is an implicit `continue: true`
 * route at the top. Events matching nothing are counted as unrouted.
 *
 * Match keys: type, priority, source exact; topic a glob where `*` is one
 * segment and `**` any number of trailing segments (the topic defaults to
 * the type); stream a literal prefix; from the broker a source event came
 * from (via.broker); meta.KEY an exact value. A list means any of; several
 * keys must all hold. `"*"` matches every event whose stream does not start
 * with `$`. Loop thread; the table is immutable once built, so a reload
 * swaps in a new one between two events.
 */
#ifndef ER_ROUTER_H
#define ER_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "eventrouter.h"

typedef struct er_router_s er_router_t;

/*
 * Build the table from cfg (borrowed until return: everything is copied).
 * Destinations are numbered in the order of cfg->handlers (0 ..
 * ndest - 1). declared[i] is handler i's declared types (NULL-terminated)
 * or NULL (none, or subscribe: false). Returns 0 or -ENOMEM.
 */
int er__router_build(const er_config_t *cfg, const char *const *const *declared,
                     er_router_t **out);
void er__router_free(er_router_t *r);

size_t er__router_ndest(const er_router_t *r);
/* Routes in the effective table (implicit ones first). */
size_t er__router_nroutes(const er_router_t *r);

/* Words of the destination bitset: (ndest + 63) / 64. */
size_t er__router_words(const er_router_t *r);

typedef struct er_route_result_s {
    uint64_t *dests;    /* caller's bitset of er__router_words() words, cleared by match */
    uint32_t *routes;   /* optional: indices of matched routes (effective table) */
    size_t routes_cap;
    size_t nroutes;     /* routes matched (may exceed routes_cap) */
    int retry_route;    /* first matched route with a retry override, or -1 */
} er_route_result_t;

/* Evaluate ev (borrowed until return). Returns the number of destinations
 * in the union (0: unrouted). */
size_t er__router_match(const er_router_t *r, const er_event_t *ev, er_route_result_t *res);

/* The effective table as JSON for `eventctl routes`: an array of
 * {index, implicit, match, to, continue, retry?}, match as written
 * ("*" or an object of lists). New reference. */
json_t *er__router_describe(const er_router_t *r);

/* The retry override of route i (effective index), or NULL. */
const er_retry_conf_t *er__router_retry(const er_router_t *r, size_t route);

/* Topic glob match: `*` one segment, `**` (last segment only) the rest. */
int er__topic_match(const char *glob, size_t glen, const char *topic, size_t tlen);

#endif
