/*
 * Replays (see replay.h): read a page, hand each event to the dispatcher's
 * side channel tagged with the replay's id, count the outcomes as they come
 * back, read the next page once the queue has room.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "evobj.h"
#include "log.h"
#include "proto.h"
#include "replay.h"
#include "store.h"

#define COMPONENT "replay"

/* Events of one replay queued or in flight at most; the next page is read
 * once fewer than half are. */
#define REPLAY_AHEAD 256u
/* Replays running at once, and finished ones kept for replay.status. */
#define REPLAY_RUNNING 8u
#define REPLAY_KEPT    16u

enum state { RUNNING = 0, DONE, CANCELLED, FAILED };
static const char *const state_names[] = {"running", "done", "cancelled", "failed"};

struct er_replay_s {
    er_replay_t *next;
    er_replays_t *rs; /* NULL: orphaned by close, freed when its read ends */
    uint32_t id;
    char *dest;
    er_store_filter_t f; /* strings point into strs */
    char *strs;
    uint64_t limit; /* 0: none */
    uint64_t to_seq, next_seq;
    uint64_t matched, delivered, dead_lettered, dropped, outstanding;
    uint64_t page_rows, page_max;
    int64_t started_us, ended_us;
    enum state state;
    bool reading, read_all;
    char error[160];
};

static void replay_free(er_replay_t *r)
{
    free(r->dest);
    free(r->strs);
    free(r);
}

static er_replay_t *find(er_replays_t *rs, uint32_t id)
{
    for (er_replay_t *r = rs->jobs; r != NULL; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

/* Finished replays past the REPLAY_KEPT newest go (when one starts). */
static void prune(er_replays_t *rs)
{
    er_replay_t **pp = &rs->jobs, *r;
    size_t finished = 0;

    while ((r = *pp) != NULL) {
        if (r->state != RUNNING && ++finished > REPLAY_KEPT && !r->reading) {
            *pp = r->next;
            replay_free(r);
            continue;
        }
        pp = &r->next;
    }
}

static void finish(er_replay_t *r, enum state st, const char *why)
{
    if (r->state != RUNNING)
        return;
    r->state = st;
    r->ended_us = er_now_us();
    if (why != NULL)
        snprintf(r->error, sizeof(r->error), "%s", why);
    er_log(st == DONE && r->dead_lettered == 0 && r->dropped == 0 ? ER_LOG_NOTICE : ER_LOG_WARN,
           COMPONENT,
           "replay %u to %s %s: %llu matched, %llu delivered, %llu dead-lettered, %llu dropped in "
           "%.3f s%s%s",
           r->id, r->dest, state_names[st], (unsigned long long)r->matched,
           (unsigned long long)r->delivered, (unsigned long long)r->dead_lettered,
           (unsigned long long)r->dropped, (double)(r->ended_us - r->started_us) / 1e6,
           why ? ": " : "", why ? why : "");
}

/* Nothing more to read and nothing queued: the end. */
static void maybe_finished(er_replay_t *r)
{
    if (r->state == RUNNING && !r->reading && r->read_all && r->outstanding == 0)
        finish(r, DONE, NULL);
}

static void read_next(er_replay_t *r);

static int on_row(void *arg, er_ev_t *ev)
{
    er_replay_t *r = arg;
    int rc;

    if (r->rs == NULL || r->state != RUNNING || r->read_all)
        return 1;
    /* Counted first: a handler that answers at once reports the outcome
     * from inside er__dispatch_side. */
    r->matched++;
    r->outstanding++;
    if ((rc = er__dispatch_side(r->rs->dispatch, r->dest, ev, r->id)) != 0) {
        r->matched--;
        r->outstanding--;
        r->read_all = true;
        finish(r, FAILED,
               rc == -ENOENT   ? "the destination is gone (removed by a reload)"
               : rc == -EAGAIN ? "the daemon is stopping"
                               : er_strerror(rc));
        return 1;
    }
    r->page_rows++;
    r->next_seq = er__ev_view(ev)->seq + 1;
    if (r->limit != 0 && r->matched >= r->limit) {
        r->read_all = true;
        return 1;
    }
    return 0;
}

static void on_page(void *arg, int err, const char *message)
{
    er_replay_t *r = arg;

    r->reading = false;
    if (r->rs == NULL) { /* closed meanwhile */
        replay_free(r);
        return;
    }
    if (err != 0) {
        r->read_all = true;
        finish(r, FAILED, message ? message : er_strerror(err));
        return;
    }
    if (r->page_rows < r->page_max || r->next_seq > r->to_seq)
        r->read_all = true;
    maybe_finished(r);
    read_next(r);
}

/* Read the next page when there is room for it. */
static void read_next(er_replay_t *r)
{
    uint64_t room;
    int rc;

    if (r->reading || r->read_all || r->state != RUNNING || r->rs->stopping ||
        r->outstanding >= REPLAY_AHEAD / 2)
        return;
    room = REPLAY_AHEAD - r->outstanding;
    if (r->limit != 0 && r->limit - r->matched < room)
        room = r->limit - r->matched;
    r->f.from_seq = r->next_seq;
    r->f.limit = r->page_max = room;
    r->page_rows = 0;
    if ((rc = er__store_query(r->rs->store, &r->f, on_row, r, on_page, r)) != 0) {
        r->read_all = true;
        finish(r, FAILED, rc == -EAGAIN ? "the store is closing" : er_strerror(rc));
        maybe_finished(r);
        return;
    }
    r->reading = true;
}

/* The dispatcher's word on one replayed event. */
static void on_outcome(void *arg, uint32_t tag, int outcome)
{
    er_replays_t *rs = arg;
    er_replay_t *r = find(rs, tag);

    if (r == NULL || r->outstanding == 0)
        return;
    r->outstanding--;
    if (outcome == ER_SIDE_DELIVERED)
        r->delivered++;
    else if (outcome == ER_SIDE_DEAD_LETTERED)
        r->dead_lettered++;
    else
        r->dropped++;
    if (r->state == RUNNING) {
        maybe_finished(r);
        read_next(r);
    }
}

void er__replays_init(er_replays_t *rs, struct er_dispatch_s *d, struct er_store_s *store)
{
    memset(rs, 0, sizeof(*rs));
    rs->dispatch = d;
    rs->store = store;
    rs->next_id = 1;
    d->side_cb = on_outcome;
    d->side_arg = rs;
}

/* ------------------------------------------------------------- commands */

static const char *const filter_keys[] = {"stream", "correlation_id", "type",     "id",
                                          "since",  "until",          "from_seq", "limit"};

/* The filter of args (QUERY's keys) into r: strings copied into r->strs. */
static const char *take_filter(er_replay_t *r, json_t *args, char *msg, size_t cap)
{
    er_str_t *strs[] = {&r->f.stream, &r->f.correlation_id, &r->f.type, &r->f.id};
    uint64_t nums[4] = {0, 0, 0, 0};
    size_t total = 0, i;
    const char *key;
    json_t *v;
    char *p;

    json_object_foreach(args, key, v)
    {
        for (i = 0; i < 8 && strcmp(key, filter_keys[i]) != 0; i++)
            ;
        if (i == 8 && strcmp(key, "destination") != 0) {
            snprintf(msg, cap, "%s: unknown key (the filter keys of query, and destination)", key);
            return "invalid";
        }
        if (i < 4 && (!json_is_string(v) || json_string_length(v) == 0 ||
                      json_string_length(v) > ER_MAX_QUERY_STR)) {
            snprintf(msg, cap, "%s: expected a string of 1-%u bytes", key, ER_MAX_QUERY_STR);
            return "invalid";
        }
        if (i >= 4 && i < 8) {
            if (!json_is_integer(v) || json_integer_value(v) < 0) {
                snprintf(msg, cap, "%s: expected a non-negative integer", key);
                return "invalid";
            }
            nums[i - 4] = (uint64_t)json_integer_value(v);
        }
        if (i < 4)
            total += json_string_length(v) + 1;
    }
    if ((r->strs = p = malloc(total + 1)) == NULL)
        return "unavailable";
    for (i = 0; i < 4; i++) {
        if ((v = json_object_get(args, filter_keys[i])) == NULL)
            continue;
        memcpy(p, json_string_value(v), json_string_length(v) + 1);
        strs[i]->ptr = p;
        strs[i]->len = json_string_length(v);
        p += json_string_length(v) + 1;
    }
    r->f.since_us = (int64_t)nums[0];
    r->f.until_us = (int64_t)nums[1];
    r->next_seq = nums[2] ? nums[2] : 1;
    r->limit = nums[3];
    return NULL;
}

const char *er__replay_start(er_replays_t *rs, json_t *args, json_t **reply, char *msg, size_t cap)
{
    json_t *dv = json_object_get(args, "destination");
    const char *code;
    er_replay_t *r, *x;
    size_t running = 0;

    if (rs->stopping || rs->store == NULL || rs->store->stopping) {
        snprintf(msg, cap, "the daemon is shutting down");
        return "unavailable";
    }
    if (!json_is_string(dv)) {
        snprintf(msg, cap, "destination: required, a destination's name");
        return "invalid";
    }
    if (!er__dispatch_has_dest(rs->dispatch, json_string_value(dv))) {
        snprintf(msg, cap, "no destination named \"%s\"", json_string_value(dv));
        return "invalid";
    }
    for (x = rs->jobs; x != NULL; x = x->next)
        running += x->state == RUNNING;
    if (running >= REPLAY_RUNNING) {
        snprintf(msg, cap, "%u replays are running already", REPLAY_RUNNING);
        return "busy";
    }
    if ((r = calloc(1, sizeof(*r))) == NULL || (r->dest = strdup(json_string_value(dv))) == NULL) {
        free(r);
        return "unavailable";
    }
    r->f.size = sizeof(r->f);
    if ((code = take_filter(r, args, msg, cap)) != NULL) {
        replay_free(r);
        return code;
    }
    prune(rs);
    r->rs = rs;
    r->id = rs->next_id++;
    r->to_seq = r->f.to_seq = rs->store->committed;
    r->started_us = er_now_us();
    r->read_all = r->to_seq == 0 || r->next_seq > r->to_seq;
    r->next = rs->jobs;
    rs->jobs = r;
    er_log(ER_LOG_NOTICE, COMPONENT, "replay %u to %s: the stored events from seq %llu to %llu%s",
           r->id, r->dest, (unsigned long long)r->next_seq, (unsigned long long)r->to_seq,
           json_object_size(args) > 1 ? " that match its filter" : "");
    *reply = json_pack("{s:I, s:s, s:I}", "id", (json_int_t)r->id, "destination", r->dest, "to_seq",
                       (json_int_t)r->to_seq);
    maybe_finished(r);
    read_next(r);
    return *reply ? NULL : "unavailable";
}

static const char *id_arg(er_replays_t *rs, json_t *args, er_replay_t **out, char *msg, size_t cap)
{
    json_t *v = json_object_get(args, "id");
    const char *key;
    json_t *x;

    json_object_foreach(args, key, x)
    {
        if (strcmp(key, "id") != 0) {
            snprintf(msg, cap, "%s: unknown key (only id)", key);
            return "invalid";
        }
    }
    if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > UINT32_MAX) {
        snprintf(msg, cap, "id: required, a replay's id");
        return "invalid";
    }
    if ((*out = find(rs, (uint32_t)json_integer_value(v))) == NULL) {
        snprintf(msg, cap, "no replay %lld (the last %u finished ones are kept)",
                 (long long)json_integer_value(v), REPLAY_KEPT);
        return "invalid";
    }
    return NULL;
}

static json_t *status_json(const er_replay_t *r)
{
    int64_t end = r->state == RUNNING ? er_now_us() : r->ended_us;
    json_t *o =
        json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}", "id",
                  (json_int_t)r->id, "destination", r->dest, "state", state_names[r->state],
                  "to_seq", (json_int_t)r->to_seq, "next_seq", (json_int_t)r->next_seq, "matched",
                  (json_int_t)r->matched, "delivered", (json_int_t)r->delivered, "dead_lettered",
                  (json_int_t)r->dead_lettered, "dropped", (json_int_t)r->dropped, "pending",
                  (json_int_t)r->outstanding, "seconds", (double)(end - r->started_us) / 1e6);

    if (o != NULL && r->error[0] != '\0')
        json_object_set_new(o, "error", json_string(r->error));
    return o;
}

const char *er__replay_status(er_replays_t *rs, json_t *args, json_t **reply, char *msg, size_t cap)
{
    er_replay_t *r;
    const char *code;

    if (json_object_size(args) == 0) { /* every one kept */
        json_t *a = json_array();
        for (r = rs->jobs; r != NULL && a != NULL; r = r->next)
            json_array_append_new(a, status_json(r));
        *reply = a ? json_pack("{s:o}", "replays", a) : NULL;
        return *reply ? NULL : "unavailable";
    }
    if ((code = id_arg(rs, args, &r, msg, cap)) != NULL)
        return code;
    *reply = status_json(r);
    return *reply ? NULL : "unavailable";
}

const char *er__replay_cancel(er_replays_t *rs, json_t *args, json_t **reply, char *msg, size_t cap)
{
    er_replay_t *r;
    const char *code;

    if ((code = id_arg(rs, args, &r, msg, cap)) != NULL)
        return code;
    if (r->state == RUNNING) {
        r->read_all = true;
        finish(r, CANCELLED, "cancelled by an operator");
    }
    *reply = status_json(r);
    return *reply ? NULL : "unavailable";
}

void er__replays_stop(er_replays_t *rs)
{
    rs->stopping = true;
    for (er_replay_t *r = rs->jobs; r != NULL; r = r->next)
        if (r->state == RUNNING) {
            r->read_all = true;
            finish(r, FAILED, "the daemon stopped");
        }
}

void er__replays_close(er_replays_t *rs)
{
    er_replay_t *r, *next;

    if (rs->dispatch != NULL && rs->dispatch->side_arg == rs)
        rs->dispatch->side_cb = NULL;
    for (r = rs->jobs; r != NULL; r = next) {
        next = r->next;
        if (r->reading)
            r->rs = NULL; /* on_page frees it */
        else
            replay_free(r);
    }
    rs->jobs = NULL;
}
