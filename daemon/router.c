/*
 * The routing table (router.h, DESIGN §5): built once from the validated
 * configuration — implicit routes for handlers' declared types first, then
 * the file's routes in order — and evaluated for every event on the loop
 * thread. Building copies everything and precomputes what matching needs
 * (value lengths, priority masks, destination bitsets, match keys ordered
 * cheapest first), so er__router_match allocates nothing and measures no
 * constant string: it compares the event's (pointer, length) views with
 * stored (pointer, length) values.
 *
 * Topic globs: `*` is exactly one non-empty segment; `**` (last segment
 * only) is one or more trailing non-empty segments, so `analytics.**`
 * matches `analytics.page` and `analytics.page.view` but not `analytics`
 * itself; other segments match literally and case-sensitively. A topic
 * with an empty segment (possible when the topic defaults to a type such
 * as `a..b`) is never matched by a wildcard segment.
 */
#include "router.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"

/* What a match key looks at; the order is the evaluation order: cheap
 * checks first, globs and meta scans last. */
enum field {
    F_PRIORITY = 0, /* a bit test */
    F_TYPE,         /* exact */
    F_SOURCE,       /* exact */
    F_FROM,         /* exact, on via.broker */
    F_STREAM,       /* prefix */
    F_TOPIC,        /* glob */
    F_META,         /* scan of the meta entries */
};

/* The config's key names, by field (meta.KEY apart). */
static const struct {
    const char *name;
    enum field field;
} field_names[] = {
    {"priority", F_PRIORITY}, {"type", F_TYPE},     {"source", F_SOURCE},
    {"from", F_FROM},         {"stream", F_STREAM}, {"topic", F_TOPIC},
};
#define META_PREFIX     "meta."
#define META_PREFIX_LEN (sizeof(META_PREFIX) - 1)

typedef struct rstr_s {
    char *s;
    size_t len;
} rstr_t;

typedef struct rkey_s {
    enum field field;
    size_t written;     /* index in the route as written (for describe) */
    char *name;         /* "type", "meta.tenant", ... */
    rstr_t meta;        /* F_META: the KEY after "meta." (points into name) */
    unsigned prio_mask; /* F_PRIORITY: bit per priority */
    rstr_t *values;     /* as written */
    size_t nvalues;
} rkey_t;

typedef struct route_s {
    bool implicit;
    bool match_all;
    bool cont;
    bool has_retry;
    rkey_t *keys; /* evaluation order */
    size_t nkeys;
    uint64_t *dests; /* bitset, er__router_words() words */
    uint32_t *to;    /* destination indices, as written */
    size_t nto;
    er_retry_conf_t retry;
} route_t;

struct er_router_s {
    size_t ndest;
    size_t words;
    char **dest_names; /* ndest */
    route_t *routes;
    size_t nroutes;
};

/* What one event offers the keys, computed once per match. */
typedef struct evview_s {
    const er_event_t *ev;
    er_str_t topic;    /* the topic, or the type when absent */
    unsigned prio_bit; /* 1 << priority; 0 when out of range */
    bool reserved;     /* stream starts with '$' */
} evview_t;

/* ============================================================= matching */

/* Is every segment of t[0..n) non-empty (and n > 0)? */
static bool segments_nonempty(const char *t, size_t n)
{
    size_t k, start = 0;

    for (k = 0; k <= n; k++) {
        if (k == n || t[k] == '.') {
            if (k == start)
                return false;
            start = k + 1;
        }
    }
    return true;
}

int er__topic_match(const char *g, size_t glen, const char *t, size_t tlen)
{
    size_t gi = 0, ti = 0; /* start of the current segments; past the end = used up */

    for (;;) {
        size_t ge = gi, te = ti;

        while (ge < glen && g[ge] != '.')
            ge++;
        if (ge == glen && ge - gi == 2 && g[gi] == '*' && g[gi + 1] == '*')
            return ti <= tlen && segments_nonempty(t + ti, tlen - ti);
        if (ti > tlen)
            return 0; /* the topic has fewer segments */
        while (te < tlen && t[te] != '.')
            te++;
        if (ge - gi == 1 && g[gi] == '*') {
            if (te == ti)
                return 0;
        } else if (ge - gi != te - ti || memcmp(g + gi, t + ti, ge - gi) != 0) {
            return 0;
        }
        gi = ge + 1;
        ti = te + 1;
        if (gi > glen)
            return ti > tlen; /* the glob is used up: so must the topic be */
    }
}

static bool str_eq(const rstr_t *v, er_str_t s)
{
    return v->len == s.len && memcmp(v->s, s.ptr, s.len) == 0;
}

/* Does any value equal s? An absent field matches nothing. */
static bool any_equal(const rkey_t *k, er_str_t s)
{
    size_t i;

    if (s.ptr == NULL)
        return false;
    for (i = 0; i < k->nvalues; i++)
        if (str_eq(&k->values[i], s))
            return true;
    return false;
}

static bool key_matches(const rkey_t *k, const evview_t *v)
{
    const er_event_t *ev = v->ev;
    er_str_t mk, mv;
    size_t i, pos = 0;

    switch (k->field) {
    case F_PRIORITY:
        return (k->prio_mask & v->prio_bit) != 0;
    case F_TYPE:
        return any_equal(k, ev->type);
    case F_SOURCE:
        return any_equal(k, ev->source);
    case F_FROM:
        return any_equal(k, ev->via.broker);
    case F_STREAM:
        if (ev->stream.ptr == NULL)
            return false;
        for (i = 0; i < k->nvalues; i++)
            if (k->values[i].len <= ev->stream.len &&
                memcmp(k->values[i].s, ev->stream.ptr, k->values[i].len) == 0)
                return true;
        return false;
    case F_TOPIC:
        if (v->topic.ptr == NULL)
            return false;
        for (i = 0; i < k->nvalues; i++)
            if (er__topic_match(k->values[i].s, k->values[i].len, v->topic.ptr, v->topic.len))
                return true;
        return false;
    case F_META:
        while (er_meta_next(ev, &pos, &mk, &mv) == 1)
            if (str_eq(&k->meta, mk))
                return any_equal(k, mv);
        return false;
    }
    return false;
}

static bool route_matches(const route_t *rt, const evview_t *v)
{
    size_t i;

    if (rt->match_all)
        return !v->reserved;
    for (i = 0; i < rt->nkeys; i++)
        if (!key_matches(&rt->keys[i], v))
            return false;
    return true;
}

size_t er__router_match(const er_router_t *r, const er_event_t *ev, er_route_result_t *res)
{
    size_t i, w, n = 0;
    evview_t v;
    int prio;

    if (r->words > 0)
        memset(res->dests, 0, r->words * sizeof(*res->dests));
    res->nroutes = 0;
    res->retry_route = -1;
    v.ev = ev;
    v.topic = ev->topic.ptr != NULL ? ev->topic : ev->type;
    prio = (ev->has & ER_HAS_PRIORITY) ? ev->priority : ER_PRIORITY_NORMAL;
    v.prio_bit = prio >= ER_PRIORITY_LOW && prio <= ER_PRIORITY_CRITICAL ? 1u << prio : 0;
    v.reserved = ev->stream.ptr != NULL && ev->stream.len > 0 && ev->stream.ptr[0] == '$';

    for (i = 0; i < r->nroutes; i++) {
        const route_t *rt = &r->routes[i];
        if (!route_matches(rt, &v))
            continue;
        if (res->routes != NULL && res->nroutes < res->routes_cap)
            res->routes[res->nroutes] = (uint32_t)i;
        res->nroutes++;
        for (w = 0; w < r->words; w++)
            res->dests[w] |= rt->dests[w];
        if (res->retry_route < 0 && rt->has_retry)
            res->retry_route = (int)i;
        if (!rt->cont)
            break;
    }
    for (w = 0; w < r->words; w++)
        n += (size_t)__builtin_popcountll(res->dests[w]);
    return n;
}

/* ============================================================ accessors */

size_t er__router_ndest(const er_router_t *r)
{
    return r->ndest;
}

size_t er__router_nroutes(const er_router_t *r)
{
    return r->nroutes;
}

size_t er__router_words(const er_router_t *r)
{
    return r->words;
}

const er_retry_conf_t *er__router_retry(const er_router_t *r, size_t route)
{
    if (route >= r->nroutes || !r->routes[route].has_retry)
        return NULL;
    return &r->routes[route].retry;
}

/* ============================================================= building */

static void free_key(rkey_t *k)
{
    size_t i;

    for (i = 0; i < k->nvalues; i++)
        free(k->values[i].s);
    free(k->values);
    free(k->name);
}

static void free_route(route_t *rt)
{
    size_t i;

    for (i = 0; i < rt->nkeys; i++)
        free_key(&rt->keys[i]);
    free(rt->keys);
    free(rt->dests);
    free(rt->to);
}

void er__router_free(er_router_t *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->nroutes; i++)
        free_route(&r->routes[i]);
    free(r->routes);
    for (i = 0; i < r->ndest; i++)
        free(r->dest_names[i]);
    free(r->dest_names);
    free(r);
}

/* Which field a config key names; -1 for none (a config bug). */
static int field_of(const char *name)
{
    size_t i;

    if (strncmp(name, META_PREFIX, META_PREFIX_LEN) == 0 && name[META_PREFIX_LEN] != '\0')
        return F_META;
    for (i = 0; i < sizeof(field_names) / sizeof(field_names[0]); i++)
        if (strcmp(field_names[i].name, name) == 0)
            return (int)field_names[i].field;
    return -1;
}

/* Copy one key: name, values (with lengths), the priority mask. */
static int build_key(const char *name, const char *const *values, size_t nvalues, size_t written,
                     rkey_t *k)
{
    size_t i;
    int f = field_of(name);

    if (f < 0)
        return -EINVAL;
    k->field = (enum field)f;
    k->written = written;
    if ((k->name = strdup(name)) == NULL)
        return -ENOMEM;
    if (k->field == F_META) {
        k->meta.s = k->name + META_PREFIX_LEN;
        k->meta.len = strlen(k->meta.s);
    }
    if ((k->values = calloc(nvalues ? nvalues : 1, sizeof(*k->values))) == NULL)
        return -ENOMEM;
    for (i = 0; i < nvalues; i++) {
        rstr_t *v = &k->values[k->nvalues];
        if ((v->s = strdup(values[i])) == NULL)
            return -ENOMEM;
        v->len = strlen(v->s);
        k->nvalues++;
        if (k->field == F_PRIORITY) {
            int p = er_priority_parse(v->s, v->len);
            if (p < 0)
                return -EINVAL;
            k->prio_mask |= 1u << p;
        }
    }
    return 0;
}

/* Keys in evaluation order: by field, stable (written order within one). */
static void sort_keys(rkey_t *keys, size_t n)
{
    size_t i, j;

    for (i = 1; i < n; i++) {
        rkey_t k = keys[i];
        for (j = i; j > 0 && keys[j - 1].field > k.field; j--)
            keys[j] = keys[j - 1];
        keys[j] = k;
    }
}

/* Set destination d in route rt (its bitset and list). */
static void add_dest(route_t *rt, uint32_t d)
{
    rt->dests[d / 64] |= 1ull << (d % 64);
    rt->to[rt->nto++] = d;
}

static int alloc_dests(const er_router_t *r, route_t *rt, size_t nto)
{
    if ((rt->dests = calloc(r->words ? r->words : 1, sizeof(*rt->dests))) == NULL ||
        (rt->to = calloc(nto ? nto : 1, sizeof(*rt->to))) == NULL)
        return -ENOMEM;
    return 0;
}

/* The implicit route of handler d: its declared types, continue. */
static int build_implicit(const er_router_t *r, uint32_t d, const char *const *types, route_t *rt)
{
    size_t n = 0;
    int rc;

    while (types[n] != NULL)
        n++;
    rt->implicit = true;
    rt->cont = true;
    if ((rc = alloc_dests(r, rt, 1)) != 0)
        return rc;
    add_dest(rt, d);
    if ((rt->keys = calloc(1, sizeof(*rt->keys))) == NULL)
        return -ENOMEM;
    rt->nkeys = 1;
    return build_key("type", types, n, 0, &rt->keys[0]);
}

static int dest_index(const er_router_t *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->ndest; i++)
        if (strcmp(r->dest_names[i], name) == 0)
            return (int)i;
    return -1;
}

static int build_route(const er_router_t *r, const er_route_conf_t *conf, route_t *rt)
{
    size_t i;
    int rc;

    rt->match_all = conf->match_all;
    rt->cont = conf->cont;
    rt->has_retry = conf->retry.set;
    rt->retry = conf->retry;
    if ((rc = alloc_dests(r, rt, conf->nto)) != 0)
        return rc;
    for (i = 0; i < conf->nto; i++) {
        int d = dest_index(r, conf->to[i]);
        if (d < 0)
            return -EINVAL; /* the config checks every name */
        if (!(rt->dests[d / 64] & (1ull << (d % 64))))
            add_dest(rt, (uint32_t)d);
    }
    if (rt->match_all || conf->nkeys == 0)
        return 0;
    if ((rt->keys = calloc(conf->nkeys, sizeof(*rt->keys))) == NULL)
        return -ENOMEM;
    for (i = 0; i < conf->nkeys; i++) {
        rc = build_key(conf->keys[i].key, (const char *const *)conf->keys[i].values,
                       conf->keys[i].nvalues, i, &rt->keys[rt->nkeys]);
        rt->nkeys++;
        if (rc != 0)
            return rc;
    }
    sort_keys(rt->keys, rt->nkeys);
    return 0;
}

/* Has handler i declared types that make an implicit route? */
static const char *const *declared_types(const er_config_t *cfg, const char *const *const *declared,
                                         size_t i)
{
    if (declared == NULL || declared[i] == NULL || declared[i][0] == NULL ||
        !cfg->handlers[i].subscribe)
        return NULL;
    return declared[i];
}

int er__router_build(const er_config_t *cfg, const char *const *const *declared, er_router_t **out)
{
    er_router_t *r;
    size_t i, nimplicit = 0;
    int rc = -ENOMEM;

    *out = NULL;
    if ((r = calloc(1, sizeof(*r))) == NULL)
        return -ENOMEM;
    r->ndest = cfg->nhandlers;
    r->words = (r->ndest + 63) / 64;
    if ((r->dest_names = calloc(r->ndest ? r->ndest : 1, sizeof(*r->dest_names))) == NULL)
        goto fail;
    for (i = 0; i < r->ndest; i++)
        if ((r->dest_names[i] = strdup(cfg->handlers[i].name)) == NULL)
            goto fail;
    for (i = 0; i < r->ndest; i++)
        nimplicit += declared_types(cfg, declared, i) != NULL;
    if ((r->routes = calloc(nimplicit + cfg->nroutes + 1, sizeof(*r->routes))) == NULL)
        goto fail;
    for (i = 0; i < r->ndest; i++) {
        const char *const *types = declared_types(cfg, declared, i);
        if (types == NULL)
            continue;
        rc = build_implicit(r, (uint32_t)i, types, &r->routes[r->nroutes++]);
        if (rc != 0)
            goto fail;
    }
    for (i = 0; i < cfg->nroutes; i++) {
        rc = build_route(r, &cfg->routes[i], &r->routes[r->nroutes++]);
        if (rc != 0)
            goto fail;
    }
    *out = r;
    return 0;

fail:
    er__router_free(r);
    return rc;
}

/* ============================================================ describing */

static json_t *retry_json(const er_retry_conf_t *rt)
{
    char initial[32], max[32];

    er__format_duration(rt->initial_ms, initial, sizeof(initial));
    er__format_duration(rt->max_ms, max, sizeof(max));
    return json_pack("{s:I, s:s, s:s, s:f, s:f}", "max_attempts", (json_int_t)rt->max_attempts,
                     "initial", initial, "max", max, "multiplier", rt->multiplier, "jitter",
                     rt->jitter);
}

/* "*" or {key: [values]} in the order written. */
static json_t *match_json(const route_t *rt)
{
    json_t *m, *vals;
    size_t w, i, j;

    if (rt->match_all)
        return json_string("*");
    if ((m = json_object()) == NULL)
        return NULL;
    for (w = 0; w < rt->nkeys; w++) {
        for (i = 0; i < rt->nkeys && rt->keys[i].written != w; i++)
            ;
        if (i == rt->nkeys)
            continue;
        if ((vals = json_array()) == NULL || json_object_set_new(m, rt->keys[i].name, vals) != 0)
            goto nomem;
        for (j = 0; j < rt->keys[i].nvalues; j++)
            if (json_array_append_new(
                    vals, json_stringn(rt->keys[i].values[j].s, rt->keys[i].values[j].len)) != 0)
                goto nomem;
    }
    return m;

nomem:
    json_decref(m);
    return NULL;
}

json_t *er__router_describe(const er_router_t *r)
{
    json_t *all = json_array(), *o, *to;
    size_t i, j;

    if (all == NULL)
        return NULL;
    for (i = 0; i < r->nroutes; i++) {
        const route_t *rt = &r->routes[i];
        o = json_pack("{s:I, s:b, s:o, s:[], s:b}", "index", (json_int_t)i, "implicit",
                      (int)rt->implicit, "match", match_json(rt), "to", "continue", (int)rt->cont);
        if (o == NULL || json_array_append_new(all, o) != 0)
            goto nomem;
        to = json_object_get(o, "to");
        for (j = 0; j < rt->nto; j++)
            if (json_array_append_new(to, json_string(r->dest_names[rt->to[j]])) != 0)
                goto nomem;
        if (rt->has_retry && json_object_set_new(o, "retry", retry_json(&rt->retry)) != 0)
            goto nomem;
    }
    return all;

nomem:
    json_decref(all);
    return NULL;
}
