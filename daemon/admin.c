/*
 * Admin commands (see admin.h): a table of name → function, each turning
 * the daemon's state into a JSON reply.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "build-config.h"
#include "dispatch.h"
#include "reload.h"
#include "replay.h"
#include "retention.h"
#include "router.h"
#include "server.h"
#include "store.h"

typedef const char *(*admin_fn)(er_admin_env_t *env, json_t *args, json_t **reply, char *msg,
                                size_t cap);

/* Refuse args keys not in `known` (NULL-terminated). */
static const char *check_args(json_t *args, const char *const *known, char *msg, size_t cap)
{
    const char *k;
    json_t *v;
    json_object_foreach(args, k, v)
    {
        const char *const *p;
        for (p = known; *p; p++)
            if (strcmp(*p, k) == 0)
                break;
        if (*p == NULL) {
            snprintf(msg, cap, "unknown argument \"%s\"", k);
            return "invalid";
        }
    }
    return NULL;
}

static const char *const no_args[] = {NULL};

static const char *cmd_stats(er_admin_env_t *env, json_t *args, json_t **reply, char *msg,
                             size_t cap)
{
    const er_server_t *s = env->server;
    const char *code = check_args(args, no_args, msg, cap);
    json_t *dispatch, *store;

    if (code)
        return code;
    dispatch = env->dispatch ? er__dispatch_stats(env->dispatch) : json_object();
    store = env->store ? er__store_stats(env->store) : json_object();
    if (store && env->retention)
        json_object_set_new(store, "retention", er__retention_stats(env->retention));
    *reply = json_pack(
        "{s:s, s:I, s:I, s:{s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}, s:o, s:o}",
        "version", PACKAGE_VERSION, "pid", (json_int_t)getpid(), "uptime_us",
        (json_int_t)(er_now_us() - env->started_us), "events", "sequenced",
        (json_int_t)s->ingest.events, "requests", (json_int_t)s->ingest.batches, "next_seq",
        (json_int_t)(env->store ? env->store->next_seq : 0), "connections", "open",
        (json_int_t)s->nconns, "accepted", (json_int_t)s->stats.accepted, "frames",
        (json_int_t)s->stats.frames, "nacks", (json_int_t)s->stats.nacks, "closed_protocol",
        (json_int_t)s->stats.closed_protocol, "refused_busy", (json_int_t)s->stats.refused_busy,
        "refused_admin", (json_int_t)s->stats.refused_admin, "dispatch",
        dispatch ? dispatch : json_object(), "store", store ? store : json_object());
    return *reply ? NULL : "unavailable";
}

static const char *cmd_health(er_admin_env_t *env, json_t *args, json_t **reply, char *msg,
                              size_t cap)
{
    static const char *const names[] = {"UP", "DEGRADED", "DOWN"};
    const char *code = check_args(args, no_args, msg, cap);
    json_t *details = NULL;
    int h = 0;

    if (code)
        return code;
    if (env->dispatch)
        h = er__dispatch_health(env->dispatch, &details);
    *reply =
        json_pack("{s:s, s:o}", "state", names[h], "handlers", details ? details : json_object());
    return *reply ? NULL : "unavailable";
}

static const char *cmd_routes(er_admin_env_t *env, json_t *args, json_t **reply, char *msg,
                              size_t cap)
{
    const char *code = check_args(args, no_args, msg, cap);
    json_t *routes, *dests;
    size_t i;

    if (code)
        return code;
    if (env->dispatch == NULL || env->dispatch->router == NULL) {
        snprintf(msg, cap, "no routing table");
        return "unavailable";
    }
    routes = er__router_describe(env->dispatch->router);
    dests = json_array();
    for (i = 0; dests && i < env->dispatch->ndest; i++)
        json_array_append_new(dests, json_string(er__dispatch_dest_name(env->dispatch, i)));
    *reply = json_pack("{s:o, s:o}", "routes", routes ? routes : json_array(), "destinations",
                       dests ? dests : json_array());
    return *reply ? NULL : "unavailable";
}

/* Build the event a `route` dry run evaluates from its args. */
static const char *route_event(json_t *args, er_event_t *ev, er_meta_t *meta, size_t *nmeta,
                               char *msg, size_t cap)
{
    static const struct {
        const char *key;
        size_t off;
    } strs[] = {
        {"type", offsetof(er_event_t, type)},       {"topic", offsetof(er_event_t, topic)},
        {"stream", offsetof(er_event_t, stream)},   {"source", offsetof(er_event_t, source)},
        {"from", offsetof(er_event_t, via.broker)},
    };
    json_t *v;
    size_t i;

    memset(ev, 0, sizeof(*ev));
    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        er_str_t *slot = (er_str_t *)((char *)ev + strs[i].off);
        v = json_object_get(args, strs[i].key);
        if (v == NULL)
            continue;
        if (!json_is_string(v)) {
            snprintf(msg, cap, "%s: expected a string", strs[i].key);
            return "invalid";
        }
        slot->ptr = json_string_value(v);
        slot->len = json_string_length(v);
    }
    if ((v = json_object_get(args, "priority")) != NULL) {
        int p =
            json_is_string(v) ? er_priority_parse(json_string_value(v), json_string_length(v)) : -1;
        if (p < 0) {
            snprintf(msg, cap, "priority: must be low, normal, high or critical");
            return "invalid";
        }
        ev->priority = p;
        ev->has |= ER_HAS_PRIORITY;
    }
    *nmeta = 0;
    if ((v = json_object_get(args, "meta")) != NULL) {
        const char *k;
        json_t *mv;
        if (!json_is_object(v)) {
            snprintf(msg, cap, "meta: expected an object of strings");
            return "invalid";
        }
        json_object_foreach(v, k, mv)
        {
            if (!json_is_string(mv) || *nmeta >= 64) {
                snprintf(msg, cap, "meta: expected at most 64 string values");
                return "invalid";
            }
            meta[*nmeta].key = er_str(k);
            meta[*nmeta].value.ptr = json_string_value(mv);
            meta[*nmeta].value.len = json_string_length(mv);
            (*nmeta)++;
        }
        ev->meta = meta;
        ev->meta_count = *nmeta;
    }
    if (ev->type.ptr == NULL) {
        snprintf(msg, cap, "type: required");
        return "invalid";
    }
    return NULL;
}

static const char *cmd_route(er_admin_env_t *env, json_t *args, json_t **reply, char *msg,
                             size_t cap)
{
    static const char *const known[] = {"type",   "topic", "priority", "stream",
                                        "source", "from",  "meta",     NULL};
    const char *code = check_args(args, known, msg, cap);
    er_router_t *r;
    er_event_t ev;
    er_meta_t meta[64];
    size_t nmeta, i, n, words;
    uint32_t matched[256];
    uint64_t *bits;
    er_route_result_t res;
    json_t *table, *routes, *dests;
    er_error_t err;

    if (code)
        return code;
    if ((code = route_event(args, &ev, meta, &nmeta, msg, cap)) != NULL)
        return code;
    if (er_event_validate(&ev, 0, &err) != 0) {
        snprintf(msg, cap, "%s", err.message);
        return "invalid";
    }
    if (env->dispatch == NULL || (r = env->dispatch->router) == NULL) {
        snprintf(msg, cap, "no routing table");
        return "unavailable";
    }
    words = er__router_words(r);
    bits = calloc(words + 1, sizeof(*bits));
    if (bits == NULL)
        return "unavailable";
    memset(&res, 0, sizeof(res));
    res.dests = bits;
    res.routes = matched;
    res.routes_cap = sizeof(matched) / sizeof(matched[0]);
    res.retry_route = -1;
    n = er__router_match(r, &ev, &res);
    table = er__router_describe(r);
    routes = json_array();
    dests = json_array();
    for (i = 0; i < res.nroutes && i < res.routes_cap; i++)
        json_array_append(routes, json_array_get(table, matched[i]));
    for (i = 0; i < words * 64 && i < env->dispatch->ndest; i++)
        if (bits[i / 64] & (1ull << (i % 64)))
            json_array_append_new(dests, json_string(er__dispatch_dest_name(env->dispatch, i)));
    free(bits);
    json_decref(table);
    *reply =
        json_pack("{s:o, s:o, s:b}", "routes", routes, "destinations", dests, "unrouted", n == 0);
    return *reply ? NULL : "unavailable";
}

static const char *cmd_handlers(er_admin_env_t *env, json_t *args, json_t **reply, char *msg,
                                size_t cap)
{
    const char *code = check_args(args, no_args, msg, cap);
    if (code)
        return code;
    *reply = json_pack("{s:o}", "handlers",
                       env->dispatch ? er__dispatch_handlers(env->dispatch) : json_array());
    return *reply ? NULL : "unavailable";
}

static const char *cmd_config(er_admin_env_t *env, json_t *args, json_t **reply, char *msg,
                              size_t cap)
{
    const char *code = check_args(args, no_args, msg, cap);
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    if (code)
        return code;
    f = open_memstream(&text, &len);
    if (f == NULL)
        return "unavailable";
    er__config_dump(env->cfg, f);
    fclose(f);
    *reply = json_pack("{s:s, s:s%}", "path", env->cfg->path ? env->cfg->path : "", "yaml",
                       text ? text : "", (size_t)len);
    free(text);
    return *reply ? NULL : "unavailable";
}

static const char *cmd_destinations(er_admin_env_t *env, json_t *args, json_t **reply, char *msg,
                                    size_t cap)
{
    const char *code = check_args(args, no_args, msg, cap);

    if (code)
        return code;
    *reply = json_pack("{s:o}", "destinations", er__dispatch_destinations(env->dispatch));
    return *reply ? NULL : "unavailable";
}

/* reload: read the file again and apply it (DESIGN §5); the REPLY says
 * what changed, a refusal every reason. */

static const char *string_arg(json_t *args, const char *key, bool required, const char **out,
                              char *msg, size_t cap);

/* replay {destination, filter}, replay.status {id?}, replay.cancel {id}
 * (replay.c checks their arguments). */
static const char *cmd_replay(er_admin_env_t *env, json_t *args, json_t **reply, char *msg,
                              size_t cap)
{
    return er__replay_start(env->replays, args, reply, msg, cap);
}

static const char *cmd_replay_status(er_admin_env_t *env, json_t *args, json_t **reply, char *msg,
                                     size_t cap)
{
    return er__replay_status(env->replays, args, reply, msg, cap);
}

static const char *cmd_replay_cancel(er_admin_env_t *env, json_t *args, json_t **reply, char *msg,
                                     size_t cap)
{
    return er__replay_cancel(env->replays, args, reply, msg, cap);
}

static const char *pause_or_resume(er_admin_env_t *env, json_t *args, bool pause, json_t **reply,
                                   char *msg, size_t cap)
{
    static const char *const known[] = {"destination", NULL};
    const char *code = check_args(args, known, msg, cap), *dest;

    if (code || (code = string_arg(args, "destination", true, &dest, msg, cap)) != NULL)
        return code;
    return er__dispatch_pause(env->dispatch, dest, pause, reply, msg, cap);
}

static const char *cmd_pause(er_admin_env_t *env, json_t *args, json_t **reply, char *msg,
                             size_t cap)
{
    return pause_or_resume(env, args, true, reply, msg, cap);
}

static const char *cmd_resume(er_admin_env_t *env, json_t *args, json_t **reply, char *msg,
                              size_t cap)
{
    return pause_or_resume(env, args, false, reply, msg, cap);
}

/* ------------------------------------------------- commands on the store */

const char ER_ADMIN_ASYNC[] = "async";

typedef const char *(*admin_async_fn)(er_admin_env_t *env, json_t *args, char *msg, size_t cap,
                                      er_admin_done_cb done, void *done_arg);

typedef struct pending_s {
    er_admin_done_cb done;
    void *arg;
} pending_t;

/* dlq.list: rows gathered as the store hands them over. */
typedef struct dlq_list_s {
    pending_t p;
    json_t *rows;
} dlq_list_t;

static int on_dlq_row(void *arg, const er_dead_letter_t *dl)
{
    dlq_list_t *l = arg;

    return json_array_append_new(l->rows, er__store_dlq_json(dl)) != 0;
}

static void on_dlq_listed(void *arg, int err, const char *message)
{
    dlq_list_t *l = arg;
    json_t *reply = NULL;

    if (err == 0 && (reply = json_pack("{s:O}", "dead_letters", l->rows)) != NULL)
        l->p.done(l->p.arg, NULL, reply, NULL);
    else
        l->p.done(l->p.arg, "unavailable", NULL, err != 0 ? message : "out of memory");
    json_decref(l->rows);
    free(l);
}

/* A string argument (required: NULL with the reason when absent). */
static const char *string_arg(json_t *args, const char *key, bool required, const char **out,
                              char *msg, size_t cap)
{
    json_t *v = json_object_get(args, key);

    *out = NULL;
    if (v == NULL && !required)
        return NULL;
    if (!json_is_string(v)) {
        snprintf(msg, cap, "%s: expected a string", key);
        return "invalid";
    }
    *out = json_string_value(v);
    return NULL;
}

/* dlq.list {destination?, after?, limit?}: the dead letters, oldest first
 * (limit default 1000). */
static const char *cmd_dlq_list(er_admin_env_t *env, json_t *args, char *msg, size_t cap,
                                er_admin_done_cb done, void *done_arg)
{
    static const char *const known[] = {"destination", "after", "limit", NULL};
    const char *code = check_args(args, known, msg, cap), *dest = NULL;
    json_t *v;
    json_int_t after = 0, limit = 1000;
    dlq_list_t *l;
    int rc;

    if (code || (code = string_arg(args, "destination", false, &dest, msg, cap)) != NULL)
        return code;
    if ((v = json_object_get(args, "after")) != NULL &&
        (!json_is_integer(v) || (after = json_integer_value(v)) < 0)) {
        snprintf(msg, cap, "after: expected a dead letter id (an integer >= 0)");
        return "invalid";
    }
    if ((v = json_object_get(args, "limit")) != NULL &&
        (!json_is_integer(v) || (limit = json_integer_value(v)) < 1)) {
        snprintf(msg, cap, "limit: expected an integer >= 1");
        return "invalid";
    }
    if (env->store == NULL) {
        snprintf(msg, cap, "no store");
        return "unavailable";
    }
    if ((l = calloc(1, sizeof(*l))) == NULL || (l->rows = json_array()) == NULL) {
        free(l);
        return "unavailable";
    }
    l->p.done = done;
    l->p.arg = done_arg;
    rc = er__store_dlq_each(env->store, dest, (uint64_t)after, (uint64_t)limit, on_dlq_row, l,
                            on_dlq_listed, l);
    if (rc != 0) {
        json_decref(l->rows);
        free(l);
        snprintf(msg, cap, "the store refused the request: %s", er_strerror(rc));
        return "unavailable";
    }
    return ER_ADMIN_ASYNC;
}

/* cursor {destination, seq: N | "head"}: answered once written. */
static const char *cmd_cursor(er_admin_env_t *env, json_t *args, char *msg, size_t cap,
                              er_admin_done_cb done, void *done_arg)
{
    static const char *const known[] = {"destination", "seq", NULL};
    const char *code = check_args(args, known, msg, cap), *dest;
    json_t *v = json_object_get(args, "seq");
    bool head = json_is_string(v) && strcmp(json_string_value(v), "head") == 0;

    if (code || (code = string_arg(args, "destination", true, &dest, msg, cap)) != NULL)
        return code;
    if (!head && (!json_is_integer(v) || json_integer_value(v) < 0)) {
        snprintf(msg, cap, "seq: expected a seq (an integer >= 0) or \"head\"");
        return "invalid";
    }
    code = er__dispatch_cursor_set(env->dispatch, dest, head ? 0 : (uint64_t)json_integer_value(v),
                                   head, msg, cap, done, done_arg);
    return code ? code : ER_ADMIN_ASYNC;
}

/* dlq.retry / dlq.drop {ids: [N, …]} or {destination, all: true}. */
static const char *dlq_act(er_admin_env_t *env, json_t *args, bool drop, char *msg, size_t cap,
                           er_admin_done_cb done, void *done_arg)
{
    static const char *const known[] = {"ids", "destination", "all", NULL};
    const char *code = check_args(args, known, msg, cap), *dest;
    json_t *ids = json_object_get(args, "ids"), *all = json_object_get(args, "all"), *v;
    uint64_t *list = NULL;
    size_t i, n = 0;

    if (code || (code = string_arg(args, "destination", false, &dest, msg, cap)) != NULL)
        return code;
    if (ids != NULL && (dest != NULL || all != NULL)) {
        snprintf(msg, cap, "give either ids, or destination with all: true");
        return "invalid";
    }
    if (ids == NULL && (dest == NULL || !json_is_true(all))) {
        snprintf(msg, cap, "give ids, or destination with all: true");
        return "invalid";
    }
    if (ids != NULL) {
        if (!json_is_array(ids) || (n = json_array_size(ids)) == 0) {
            snprintf(msg, cap, "ids: expected a non-empty array of dead letter ids");
            return "invalid";
        }
        if ((list = calloc(n, sizeof(*list))) == NULL)
            return "unavailable";
        json_array_foreach(ids, i, v)
        {
            if (!json_is_integer(v) || json_integer_value(v) < 1) {
                snprintf(msg, cap, "ids[%zu]: expected a dead letter id (an integer >= 1)", i);
                free(list);
                return "invalid";
            }
            list[i] = (uint64_t)json_integer_value(v);
        }
    }
    code = er__dispatch_dlq(env->dispatch, drop, list, n, dest, msg, cap, done, done_arg);
    free(list);
    return code ? code : ER_ADMIN_ASYNC;
}

static const char *cmd_dlq_retry(er_admin_env_t *env, json_t *args, char *msg, size_t cap,
                                 er_admin_done_cb done, void *done_arg)
{
    return dlq_act(env, args, false, msg, cap, done, done_arg);
}

static const char *cmd_dlq_drop(er_admin_env_t *env, json_t *args, char *msg, size_t cap,
                                er_admin_done_cb done, void *done_arg)
{
    return dlq_act(env, args, true, msg, cap, done, done_arg);
}

/* delete-stream {stream}: every event of the stream, in chunks; answered
 * {stream, deleted} once none is left. */
#define DELETE_CHUNK 10000

typedef struct delstream_s {
    pending_t p;
    er_store_t *store;
    char *stream;
    uint64_t deleted, chunk;
} delstream_t;

static void on_stream_chunk(void *arg, int err, const char *message)
{
    delstream_t *ds = arg;
    json_t *reply;
    int rc;

    if (err == 0) {
        ds->deleted += ds->chunk;
        if (ds->chunk >= DELETE_CHUNK) {
            ds->chunk = 0;
            rc = er__store_delete_stream(ds->store, ds->stream, DELETE_CHUNK, &ds->chunk,
                                         on_stream_chunk, ds);
            if (rc == 0)
                return;
            err = rc;
            message = er_strerror(rc);
        }
    }
    if (err == 0) {
        er_log(ER_LOG_NOTICE, "admin", "stream \"%s\" deleted by an operator: %llu events",
               ds->stream, (unsigned long long)ds->deleted);
        reply = json_pack("{s:s, s:I}", "stream", ds->stream, "deleted", (json_int_t)ds->deleted);
        if (reply)
            ds->p.done(ds->p.arg, NULL, reply, NULL);
        else
            ds->p.done(ds->p.arg, "unavailable", NULL, "out of memory");
    } else {
        ds->p.done(ds->p.arg, "unavailable", NULL, message);
    }
    free(ds->stream);
    free(ds);
}

static const char *cmd_delete_stream(er_admin_env_t *env, json_t *args, char *msg, size_t cap,
                                     er_admin_done_cb done, void *done_arg)
{
    static const char *const known[] = {"stream", NULL};
    const char *code = check_args(args, known, msg, cap), *stream;
    delstream_t *ds;
    int rc;

    if (code || (code = string_arg(args, "stream", true, &stream, msg, cap)) != NULL)
        return code;
    if (stream[0] == '\0') {
        snprintf(msg, cap, "stream: expected a stream's name");
        return "invalid";
    }
    if (env->store == NULL) {
        snprintf(msg, cap, "no store");
        return "unavailable";
    }
    if ((ds = calloc(1, sizeof(*ds))) == NULL || (ds->stream = strdup(stream)) == NULL) {
        free(ds);
        return "unavailable";
    }
    ds->p.done = done;
    ds->p.arg = done_arg;
    ds->store = env->store;
    rc = er__store_delete_stream(env->store, stream, DELETE_CHUNK, &ds->chunk, on_stream_chunk, ds);
    if (rc != 0) {
        free(ds->stream);
        free(ds);
        snprintf(msg, cap, "the store refused the request: %s", er_strerror(rc));
        return "unavailable";
    }
    return ER_ADMIN_ASYNC;
}

/* ------------------------------------------------ store maintenance */

/* store.check / store.compact: reports gathered as the store hands them
 * over; store.backup: the copy's size and how long it took. */
typedef struct maint_s {
    pending_t p;
    const char *what; /* "check", "backup", "compact" */
    json_t *figures, *problems, *notes;
    char *dir;
    uint64_t bytes;
    int64_t started_us;
} maint_t;

static void maint_free(maint_t *m)
{
    json_decref(m->figures);
    json_decref(m->problems);
    json_decref(m->notes);
    free(m->dir);
    free(m);
}

static int on_maint_report(void *arg, er_store_report_kind_t kind, const char *name, int64_t value,
                           const char *text)
{
    maint_t *m = arg;

    if (kind == ER_STORE_FIGURE)
        return json_object_set_new(m->figures, name, json_integer(value)) != 0;
    if (json_array_size(kind == ER_STORE_PROBLEM ? m->problems : m->notes) >=
        ER_STORE_CHECK_MAX_REPORTED)
        return 0; /* a store that reports more: the figures count them */
    return json_array_append_new(kind == ER_STORE_PROBLEM ? m->problems : m->notes,
                                 json_pack("{s:s, s:I, s:s}", "kind", name, "seq",
                                           (json_int_t)value, "message", text ? text : "")) != 0;
}

static void on_maint_done(void *arg, int err, const char *message)
{
    maint_t *m = arg;
    json_t *reply = NULL, *v;

    if (err != 0) {
        m->p.done(m->p.arg, err == -EEXIST || err == -EINVAL ? "invalid" : "unavailable", NULL,
                  message);
        maint_free(m);
        return;
    }
    if (strcmp(m->what, "backup") == 0) {
        reply = json_pack("{s:s, s:I, s:f}", "dir", m->dir, "bytes", (json_int_t)m->bytes,
                          "seconds", (double)(er_now_us() - m->started_us) / 1e6);
    } else if ((reply = json_deep_copy(m->figures)) != NULL) {
        if (strcmp(m->what, "check") == 0) {
            v = json_object_get(m->figures, "problems");
            json_object_set_new(reply, "ok",
                                json_boolean(json_array_size(m->problems) == 0 &&
                                             (v == NULL || json_integer_value(v) == 0)));
            json_object_set_new(reply, "problems_total",
                                json_integer(v ? json_integer_value(v) : 0));
            v = json_object_get(m->figures, "notes");
            json_object_set_new(reply, "notes_total", json_integer(v ? json_integer_value(v) : 0));
            json_object_set(reply, "problems", m->problems);
            if (!json_is_integer(json_object_get(reply, "events")))
                json_object_set_new(reply, "events", json_integer(0));
        }
        json_object_set(reply, "notes", m->notes);
        json_object_set_new(reply, "seconds",
                            json_real((double)(er_now_us() - m->started_us) / 1e6));
    }
    if (reply != NULL)
        m->p.done(m->p.arg, NULL, reply, NULL);
    else
        m->p.done(m->p.arg, "unavailable", NULL, "out of memory");
    maint_free(m);
}

/* The store's refusal of a maintenance request as a code and message. */
static const char *maint_refused(er_admin_env_t *env, const char *what, int rc, char *msg,
                                 size_t cap)
{
    if (rc == -ENOTSUP) {
        snprintf(msg, cap, "the %s store does not support %s", env->cfg->store.plugin, what);
        return "unsupported";
    }
    if (rc == -EBUSY)
        snprintf(msg, cap, "another check, backup or compact of the store is running");
    else
        snprintf(msg, cap, "the store refused the request: %s", er_strerror(rc));
    return rc == -EINVAL ? "invalid" : "unavailable";
}

/* store.check, store.backup {dir}, store.compact. */
static const char *store_maint(er_admin_env_t *env, json_t *args, const char *what, char *msg,
                               size_t cap, er_admin_done_cb done, void *done_arg)
{
    static const char *const dir_args[] = {"dir", NULL};
    bool backup = strcmp(what, "backup") == 0;
    const char *code = check_args(args, backup ? dir_args : no_args, msg, cap), *dir = NULL;
    maint_t *m;
    int rc;

    if (code || (backup && (code = string_arg(args, "dir", true, &dir, msg, cap)) != NULL))
        return code;
    if (backup && dir[0] != '/') {
        snprintf(msg, cap, "dir: expected an absolute path, not \"%s\"", dir);
        return "invalid";
    }
    if (env->store == NULL) {
        snprintf(msg, cap, "no store");
        return "unavailable";
    }
    if ((m = calloc(1, sizeof(*m))) == NULL)
        return "unavailable";
    m->p.done = done;
    m->p.arg = done_arg;
    m->what = what;
    m->started_us = er_now_us();
    m->figures = json_object();
    m->problems = json_array();
    m->notes = json_array();
    if (m->figures == NULL || m->problems == NULL || m->notes == NULL ||
        (backup && (m->dir = strdup(dir)) == NULL)) {
        maint_free(m);
        return "unavailable";
    }
    if (backup)
        rc = er__store_backup(env->store, dir, &m->bytes, on_maint_done, m);
    else if (strcmp(what, "check") == 0)
        rc = er__store_check(env->store, on_maint_report, m, on_maint_done, m);
    else
        rc = er__store_compact(env->store, on_maint_report, m, on_maint_done, m);
    if (rc != 0) {
        maint_free(m);
        return maint_refused(env, what, rc, msg, cap);
    }
    return ER_ADMIN_ASYNC;
}

static const char *cmd_store_check(er_admin_env_t *env, json_t *args, char *msg, size_t cap,
                                   er_admin_done_cb done, void *done_arg)
{
    return store_maint(env, args, "check", msg, cap, done, done_arg);
}

static const char *cmd_store_backup(er_admin_env_t *env, json_t *args, char *msg, size_t cap,
                                    er_admin_done_cb done, void *done_arg)
{
    return store_maint(env, args, "backup", msg, cap, done, done_arg);
}

static const char *cmd_store_compact(er_admin_env_t *env, json_t *args, char *msg, size_t cap,
                                     er_admin_done_cb done, void *done_arg)
{
    return store_maint(env, args, "compact", msg, cap, done, done_arg);
}

/* A reload's outcome: its summary, or every reason (NACK invalid; a
 * reload refused because the daemon is stopping: unavailable). */
typedef struct reload_req_s {
    er_admin_done_cb done;
    void *arg;
} reload_req_t;

static void on_reloaded(void *arg, int rc, json_t *summary, const char *err)
{
    reload_req_t *q = arg;

    if (rc == 0)
        q->done(q->arg, NULL, json_incref(summary), NULL);
    else
        q->done(q->arg, rc == -EAGAIN || rc == -ENOMEM ? "unavailable" : "invalid", NULL, err);
    free(q);
}

/* reload: answered once the file was read on its thread and applied. */
static const char *cmd_reload(er_admin_env_t *env, json_t *args, char *msg, size_t cap,
                              er_admin_done_cb done, void *done_arg)
{
    const char *code = check_args(args, no_args, msg, cap);
    reload_req_t *q;
    int rc;

    if (code)
        return code;
    if (env->reload == NULL) {
        snprintf(msg, cap, "the daemon is starting");
        return "unavailable";
    }
    if ((q = malloc(sizeof(*q))) == NULL)
        return "unavailable";
    q->done = done;
    q->arg = done_arg;
    if ((rc = er__reload_start(env->reload, on_reloaded, q)) != 0) {
        free(q);
        snprintf(msg, cap, "%s", rc == -EAGAIN ? "the daemon is shutting down" : er_strerror(rc));
        return "unavailable";
    }
    return ER_ADMIN_ASYNC;
}

static const struct {
    const char *name;
    admin_async_fn fn;
} async_commands[] = {
    {"reload", cmd_reload},
    {"dlq.list", cmd_dlq_list},
    {"dlq.retry", cmd_dlq_retry},
    {"dlq.drop", cmd_dlq_drop},
    {"cursor", cmd_cursor},
    {"store.check", cmd_store_check},
    {"store.backup", cmd_store_backup},
    {"store.compact", cmd_store_compact},
    {"delete-stream", cmd_delete_stream},
};

static const struct {
    const char *name;
    admin_fn fn;
} commands[] = {
    {"stats", cmd_stats},
    {"health", cmd_health},
    {"routes", cmd_routes},
    {"route", cmd_route},
    {"handlers", cmd_handlers},
    {"config", cmd_config},
    {"destinations", cmd_destinations},
    {"pause", cmd_pause},
    {"resume", cmd_resume},
    {"replay", cmd_replay},
    {"replay.status", cmd_replay_status},
    {"replay.cancel", cmd_replay_cancel},
};

const char *er__admin_run(er_admin_env_t *env, const char *cmd, size_t cmdlen, json_t *args,
                          json_t **reply, char *msg, size_t cap, er_admin_done_cb done,
                          void *done_arg)
{
    size_t i;

    *reply = NULL;
    msg[0] = '\0';
    for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strlen(commands[i].name) == cmdlen && memcmp(commands[i].name, cmd, cmdlen) == 0)
            return commands[i].fn(env, args, reply, msg, cap);
    for (i = 0; i < sizeof(async_commands) / sizeof(async_commands[0]); i++)
        if (strlen(async_commands[i].name) == cmdlen &&
            memcmp(async_commands[i].name, cmd, cmdlen) == 0)
            return async_commands[i].fn(env, args, msg, cap, done, done_arg);
    snprintf(msg, cap,
             "unknown command \"%.*s\" (this version: stats, health, routes, route, "
             "handlers, config, destinations, pause, resume, cursor, reload, replay, "
             "replay.status, replay.cancel, dlq.list, dlq.retry, dlq.drop, delete-stream, "
             "store.check, store.backup, store.compact)",
             (int)(cmdlen > 64 ? 64 : cmdlen), cmd);
    return "unsupported";
}
