/*
 * Unit tests of the routing table (daemon/router.c), table-driven: topic
 * glob edge cases (`*` against `**`, empty segments, prefix look-alikes),
 * the DESIGN §5 hybrid example, `$` streams against "*" and against an
 * explicit type, continue chains, the union without duplicates, implicit
 * routes first (and `subscribe: false`), every match key (type, topic,
 * priority names, source, stream prefix, from = via.broker, meta.KEY),
 * unrouted events, bitsets past 64 destinations, the retry override and
 * the JSON description. Configurations are built by hand from a small
 * text form, so no plugin is loaded.
 */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "router.h"

#define MAX_DEST 80

static er_config_t *cfg;
static er_router_t *router;

static void setup(void)
{
    cfg = NULL;
    router = NULL;
}

static void teardown(void)
{
    er__router_free(router);
    er__config_free(cfg);
}

/* ------------------------------------------------- building configurations */

static char **split(const char *s, const char *sep, size_t *n)
{
    char *copy = strdup(s), *save = NULL, *tok;
    char **v = calloc(strlen(s) + 2, sizeof(*v));

    *n = 0;
    for (tok = strtok_r(copy, sep, &save); tok != NULL; tok = strtok_r(NULL, sep, &save))
        v[(*n)++] = strdup(tok);
    free(copy);
    return v;
}

static void free_split(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/*
 * A route as "KEY=V1,V2 KEY=V … -> TO1,TO2 [continue] [retry=N]" or
 * "* -> TO …": the same shape config.c fills.
 */
static void parse_route(const char *spec, er_route_conf_t *r)
{
    size_t ntok, i, n;
    char **tok = split(spec, " ", &ntok);
    bool after = false;

    r->keys = calloc(ntok, sizeof(*r->keys));
    r->retry = (er_retry_conf_t){false, 5, 100, 30000, 2.0, 0.2};
    for (i = 0; i < ntok; i++) {
        if (strcmp(tok[i], "->") == 0) {
            after = true;
            r->to = split(tok[++i], ",", &r->nto);
        } else if (after && strcmp(tok[i], "continue") == 0) {
            r->cont = true;
        } else if (after && strncmp(tok[i], "retry=", 6) == 0) {
            r->retry.set = true;
            r->retry.max_attempts = strtoull(tok[i] + 6, NULL, 10);
        } else if (strcmp(tok[i], "*") == 0) {
            r->match_all = true;
        } else {
            char *eq = strchr(tok[i], '=');
            er_match_key_t *k = &r->keys[r->nkeys++];
            ck_assert_ptr_nonnull(eq);
            k->key = strndup(tok[i], (size_t)(eq - tok[i]));
            k->values = split(eq + 1, ",", &n);
            k->nvalues = n;
        }
    }
    ck_assert(after);
    free_split(tok, ntok);
}

/* Handlers "h0 h1 …" (a "!" suffix: subscribe off), routes NULL-ended. */
static void make(const char *handlers, const char *const *routes)
{
    size_t n, i;
    char **names = split(handlers, " ", &n);

    er__router_free(router);
    router = NULL;
    er__config_free(cfg);
    cfg = calloc(1, sizeof(*cfg));
    cfg->path = strdup("test");
    cfg->handlers = calloc(n + 1, sizeof(*cfg->handlers));
    cfg->nhandlers = n;
    for (i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        er_handler_conf_t *h = &cfg->handlers[i];
        h->subscribe = names[i][len - 1] != '!';
        h->name = strndup(names[i], h->subscribe ? len : len - 1);
    }
    free_split(names, n);
    for (n = 0; routes != NULL && routes[n] != NULL; n++)
        ;
    cfg->routes = calloc(n + 1, sizeof(*cfg->routes));
    cfg->nroutes = n;
    for (i = 0; i < n; i++)
        parse_route(routes[i], &cfg->routes[i]);
}

static void build(const char *const *const *declared)
{
    ck_assert_int_eq(er__router_build(cfg, declared, &router), 0);
}

/* ------------------------------------------------------------ evaluating */

/* An event: the fields matching reads. priority < 0: absent. meta "k=v,…". */
typedef struct evspec_s {
    const char *type, *topic;
    int priority;
    const char *stream, *source, *broker, *meta;
} evspec_t;

typedef struct outcome_s {
    const char *dests;  /* destination names, in index order, space-separated */
    const char *routes; /* matched effective route indices */
    int retry;          /* retry_route */
} outcome_t;

/* Evaluate spec; the outcome as text, compared as a whole. */
static void check_event(const evspec_t *spec, const outcome_t *want, const char *label)
{
    er_meta_t meta[8];
    er_event_t ev;
    uint64_t dests[(MAX_DEST + 63) / 64];
    uint32_t idx[16];
    er_route_result_t res = {dests, idx, 16, 0, 0};
    char got_d[512] = "", got_r[128] = "", *copy = NULL;
    size_t n, i, count = 0;

    memset(&ev, 0, sizeof(ev));
    ev.type = er_str(spec->type);
    ev.topic = er_str(spec->topic);
    if (spec->priority >= 0) {
        ev.has |= ER_HAS_PRIORITY;
        ev.priority = spec->priority;
    }
    ev.stream = er_str(spec->stream);
    ev.source = er_str(spec->source);
    ev.via.broker = er_str(spec->broker);
    if (spec->meta != NULL) {
        char *save = NULL, *tok;
        copy = strdup(spec->meta);
        for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(tok, '=');
            *eq = '\0';
            meta[ev.meta_count].key = er_str(tok);
            meta[ev.meta_count].value = er_str(eq + 1);
            ev.meta_count++;
        }
        ev.meta = meta;
    }
    memset(dests, 0xff, sizeof(dests)); /* match must clear it */
    n = er__router_match(router, &ev, &res);
    for (i = 0; i < er__router_ndest(router); i++) {
        if (dests[i / 64] & (1ull << (i % 64))) {
            snprintf(got_d + strlen(got_d), sizeof(got_d) - strlen(got_d), "%s%s", count ? " " : "",
                     cfg->handlers[i].name);
            count++;
        }
    }
    for (i = 0; i < res.nroutes && i < res.routes_cap; i++)
        snprintf(got_r + strlen(got_r), sizeof(got_r) - strlen(got_r), "%s%u", i ? " " : "",
                 idx[i]);
    free(copy);
    ck_assert_msg(n == count, "%s: returned %zu, bitset has %zu", label, n, count);
    ck_assert_msg(strcmp(got_d, want->dests) == 0, "%s: destinations \"%s\", expected \"%s\"",
                  label, got_d, want->dests);
    ck_assert_msg(strcmp(got_r, want->routes) == 0, "%s: routes \"%s\", expected \"%s\"", label,
                  got_r, want->routes);
    ck_assert_msg(res.retry_route == want->retry, "%s: retry route %d, expected %d", label,
                  res.retry_route, want->retry);
}

typedef struct rcase_s {
    const char *label;
    evspec_t ev;
    outcome_t want;
} rcase_t;

static void run_cases(const rcase_t *cases, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        check_event(&cases[i].ev, &cases[i].want, cases[i].label);
}

#define RUN(cases) run_cases(cases, sizeof(cases) / sizeof(cases[0]))
#define NOPRIO     (-1)

/* ================================================================= globs */

START_TEST(topic_globs)
{
    static const struct {
        const char *glob, *topic;
        int match;
    } cases[] = {
        /* `*` is exactly one segment. */
        {"*", "a", 1},
        {"*", "a.b", 0},
        {"*", "", 0},
        {"a.*", "a.b", 1},
        {"a.*", "a.b.c", 0},
        {"a.*", "a", 0},
        {"*.b", "a.b", 1},
        {"*.*", "a.b", 1},
        {"*.*", "a", 0},
        {"a.*.c", "a.b.c", 1},
        {"a.*.c", "a.b.d", 0},
        /* `**` is one or more trailing segments, never zero. */
        {"analytics.**", "analytics.page", 1},
        {"analytics.**", "analytics.page.view", 1},
        {"analytics.**", "analytics", 0},
        {"**", "a", 1},
        {"**", "a.b.c", 1},
        {"**", "", 0},
        {"a.*.**", "a.b.c", 1},
        {"a.*.**", "a.b", 0},
        /* Prefix look-alikes. */
        {"analytics.**", "analyticsX.y", 0},
        {"analytics.*", "analyticsX.y", 0},
        {"analytics", "analyticsX", 0},
        {"analytics", "analytic", 0},
        {"a.b", "a.bc", 0},
        {"a.b", "a.b.c", 0},
        {"a.b", "a.b", 1},
        /* Empty segments (a topic defaulted from a type like a..b) are
         * never matched by a wildcard. */
        {"a.*.c", "a..c", 0},
        {"a.**", "a..b", 0},
        {"a.**", "a.", 0},
        {"a.*", "a.", 0},
        {"*.b", ".b", 0},
        {"**", ".", 0},
        /* Literal and case-sensitive. */
        {"A.b", "a.b", 0},
        {"a-b_c.d", "a-b_c.d", 1},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(er__topic_match(cases[i].glob, strlen(cases[i].glob), cases[i].topic,
                                      strlen(cases[i].topic)) == cases[i].match,
                      "glob \"%s\" on topic \"%s\": expected %d", cases[i].glob, cases[i].topic,
                      cases[i].match);
    /* Lengths, not NUL terminators, bound both. */
    ck_assert_int_eq(er__topic_match("a.*xyz", 3, "a.b.c", 3), 1);
}
END_TEST

/* ========================================================== the tables */

START_TEST(hybrid_example)
{
    static const char *const routes[] = {
        "type=CriticalEvent,RealTimeEvent -> audit",
        "topic=analytics.** -> analytics retry=7",
        "* -> all",
        NULL,
    };
    static const rcase_t cases[] = {
        {"critical", {"CriticalEvent", NULL, 3, NULL, NULL, NULL, NULL}, {"audit", "0", -1}},
        {"realtime, first match wins",
         {"RealTimeEvent", "analytics.rt", NOPRIO, NULL, NULL, NULL, NULL},
         {"audit", "0", -1}},
        {"analytics one segment",
         {"PageViewed", "analytics.page", NOPRIO, NULL, NULL, NULL, NULL},
         {"analytics", "1", 1}},
        {"analytics two segments",
         {"PageViewed", "analytics.page.view", NOPRIO, NULL, NULL, NULL, NULL},
         {"analytics", "1", 1}},
        {"analytics itself is not under analytics.**",
         {"X", "analytics", NOPRIO, NULL, NULL, NULL, NULL},
         {"all", "2", -1}},
        {"prefix look-alike",
         {"X", "analyticsX.y", NOPRIO, NULL, NULL, NULL, NULL},
         {"all", "2", -1}},
        {"topic defaults to the type",
         {"analytics.page", NULL, NOPRIO, NULL, NULL, NULL, NULL},
         {"analytics", "1", 1}},
        {"everything else",
         {"OrderCreated", NULL, 1, "user:1", NULL, NULL, NULL},
         {"all", "2", -1}},
        {"$ stream: * never matches",
         {"Other", NULL, NOPRIO, "$sys", NULL, NULL, NULL},
         {"", "", -1}},
        {"$ stream: an explicit type does",
         {"CriticalEvent", NULL, NOPRIO, "$sys", NULL, NULL, NULL},
         {"audit", "0", -1}},
        {"$ stream: an explicit topic does",
         {"X", "analytics.a", NOPRIO, "$sys", NULL, NULL, NULL},
         {"analytics", "1", 1}},
        {"empty stream is not reserved",
         {"X", NULL, NOPRIO, "", NULL, NULL, NULL},
         {"all", "2", -1}},
        {"a $ later in the stream is not reserved",
         {"X", NULL, NOPRIO, "a$b", NULL, NULL, NULL},
         {"all", "2", -1}},
    };
    const er_retry_conf_t *rt;

    make("audit analytics all", routes);
    build(NULL);
    ck_assert_uint_eq(er__router_ndest(router), 3);
    ck_assert_uint_eq(er__router_nroutes(router), 3);
    ck_assert_uint_eq(er__router_words(router), 1);
    RUN(cases);
    ck_assert_ptr_null(er__router_retry(router, 0));
    ck_assert_ptr_nonnull(rt = er__router_retry(router, 1));
    ck_assert_uint_eq(rt->max_attempts, 7);
    ck_assert_ptr_null(er__router_retry(router, 3));
}
END_TEST

START_TEST(continue_chains_and_union)
{
    static const char *const routes[] = {
        "type=A -> h0,h1 continue",
        "priority=high,critical -> h1,h2 continue retry=3",
        "source=svc -> h0",
        "* -> h2 retry=9",
        NULL,
    };
    static const rcase_t cases[] = {
        {"continue then catch-all", {"A", NULL, 1, NULL, NULL, NULL, NULL}, {"h0 h1 h2", "0 3", 3}},
        {"union without duplicates, stop at the first non-continue",
         {"A", NULL, 2, NULL, "svc", NULL, NULL},
         {"h0 h1 h2", "0 1 2", 1}},
        {"first retry override wins", {"B", NULL, 3, NULL, NULL, NULL, NULL}, {"h1 h2", "1 3", 1}},
        {"only the catch-all", {"B", NULL, 0, NULL, NULL, NULL, NULL}, {"h2", "3", 3}},
        {"absent priority is normal", {"B", NULL, NOPRIO, NULL, NULL, NULL, NULL}, {"h2", "3", 3}},
        {"out-of-range priority matches no name",
         {"B", NULL, 7, NULL, NULL, NULL, NULL},
         {"h2", "3", 3}},
        {"$ stream: continue routes still apply, * does not",
         {"A", NULL, 3, "$internal", NULL, NULL, NULL},
         {"h0 h1 h2", "0 1", 1}},
    };

    make("h0 h1 h2", routes);
    build(NULL);
    RUN(cases);
}
END_TEST

START_TEST(implicit_routes_first)
{
    static const char *const a_b[] = {"A", "B", NULL};
    static const char *const c[] = {"C", NULL};
    static const char *const a[] = {"A", NULL};
    static const char *const none[] = {NULL};
    const char *const *declared[] = {a_b, c, NULL, a, none};
    static const char *const routes[] = {"type=A -> h2", "* -> h2", NULL};
    static const rcase_t cases[] = {
        {"implicit routes continue into the file's",
         {"A", NULL, NOPRIO, NULL, NULL, NULL, NULL},
         {"h0 h2 h3", "0 1 2", -1}},
        {"one implicit route", {"B", NULL, NOPRIO, NULL, NULL, NULL, NULL}, {"h0 h2", "0 3", -1}},
        {"subscribe: false makes none",
         {"C", NULL, NOPRIO, NULL, NULL, NULL, NULL},
         {"h2", "3", -1}},
        {"implicit routes match $ streams (an explicit type)",
         {"B", NULL, NOPRIO, "$x", NULL, NULL, NULL},
         {"h0", "0", -1}},
        {"unrouted", {"D", NULL, NOPRIO, "$x", NULL, NULL, NULL}, {"", "", -1}},
    };
    json_t *table, *first;
    char *text;

    make("h0 h1! h2 h3 h4", routes);
    build(declared);
    ck_assert_uint_eq(er__router_nroutes(router), 4); /* h0 and h3 implicit, then 2 */
    RUN(cases);

    ck_assert_ptr_nonnull(table = er__router_describe(router));
    ck_assert_uint_eq(json_array_size(table), 4);
    first = json_array_get(table, 0);
    text = json_dumps(first, JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(text, "{\"continue\":true,\"implicit\":true,\"index\":0,\"match\":{\"type\":"
                           "[\"A\",\"B\"]},\"to\":[\"h0\"]}");
    free(text);
    text = json_dumps(json_array_get(table, 3), JSON_COMPACT | JSON_SORT_KEYS);
    ck_assert_str_eq(text, "{\"continue\":false,\"implicit\":false,\"index\":3,\"match\":\"*\","
                           "\"to\":[\"h2\"]}");
    free(text);
    json_decref(table);

    /* Without declared types (a dry run before instances exist): none. */
    er__router_free(router);
    router = NULL;
    build(NULL);
    ck_assert_uint_eq(er__router_nroutes(router), 2);
}
END_TEST

START_TEST(every_match_key)
{
    static const char *const routes[] = {
        "stream=user: -> h0 continue",
        "from=kafka-main -> h1 continue",
        "meta.tenant=acme,globex -> h2 continue",
        "source=billing meta.region=eu -> h3 continue",
        "type=T topic=x.* priority=low -> h4 continue",
        "source=a,b -> h5",
        NULL,
    };
    static const rcase_t cases[] = {
        {"stream prefix", {"E", NULL, NOPRIO, "user:42", NULL, NULL, NULL}, {"h0", "0", -1}},
        {"stream equal to the prefix",
         {"E", NULL, NOPRIO, "user:", NULL, NULL, NULL},
         {"h0", "0", -1}},
        {"stream shorter than the prefix",
         {"E", NULL, NOPRIO, "user", NULL, NULL, NULL},
         {"", "", -1}},
        {"stream with the prefix inside",
         {"E", NULL, NOPRIO, "xuser:1", NULL, NULL, NULL},
         {"", "", -1}},
        {"no stream", {"E", NULL, NOPRIO, NULL, NULL, NULL, NULL}, {"", "", -1}},
        {"from: via.broker", {"E", NULL, NOPRIO, NULL, NULL, "kafka-main", NULL}, {"h1", "1", -1}},
        {"from: another broker", {"E", NULL, NOPRIO, NULL, NULL, "kafka", NULL}, {"", "", -1}},
        {"meta any of",
         {"E", NULL, NOPRIO, NULL, NULL, NULL, "x=1,tenant=globex"},
         {"h2", "2", -1}},
        {"meta other value", {"E", NULL, NOPRIO, NULL, NULL, NULL, "tenant=other"}, {"", "", -1}},
        {"meta look-alike key",
         {"E", NULL, NOPRIO, NULL, NULL, NULL, "tenantX=acme"},
         {"", "", -1}},
        {"all keys must hold",
         {"E", NULL, NOPRIO, NULL, "billing", NULL, "region=eu"},
         {"h3", "3", -1}},
        {"one key of two", {"E", NULL, NOPRIO, NULL, "billing", NULL, "region=us"}, {"", "", -1}},
        {"type, topic glob and priority", {"T", "x.y", 0, NULL, NULL, NULL, NULL}, {"h4", "4", -1}},
        {"wrong priority", {"T", "x.y", 1, NULL, NULL, NULL, NULL}, {"", "", -1}},
        {"wrong topic", {"T", "y.y", 0, NULL, NULL, NULL, NULL}, {"", "", -1}},
        {"source any of, then stop",
         {"E", NULL, NOPRIO, "user:1", "b", NULL, NULL},
         {"h0 h5", "0 5", -1}},
        {"source exact", {"E", NULL, NOPRIO, NULL, "bb", NULL, NULL}, {"", "", -1}},
        {"everything at once",
         {"T", "x.z", 0, "user:9", "billing", "kafka-main", "region=eu,tenant=acme"},
         {"h0 h1 h2 h3 h4", "0 1 2 3 4", -1}},
    };

    make("h0 h1 h2 h3 h4 h5", routes);
    build(NULL);
    RUN(cases);
}
END_TEST

START_TEST(priority_names)
{
    static const char *const routes[] = {"priority=low -> low", "priority=normal -> normal",
                                         "priority=high -> high", "priority=critical -> critical",
                                         NULL};
    static const char *const names[] = {"low", "normal", "high", "critical"};
    outcome_t want;
    evspec_t ev = {"E", NULL, 0, NULL, NULL, NULL, NULL};
    char r[4];
    int p;

    make("low normal high critical", routes);
    build(NULL);
    for (p = 0; p < 4; p++) {
        ev.priority = p;
        snprintf(r, sizeof(r), "%d", p);
        want = (outcome_t){names[p], r, -1};
        check_event(&ev, &want, names[p]);
    }
}
END_TEST

START_TEST(unrouted_and_empty)
{
    static const rcase_t cases[] = {
        {"no routes", {"E", NULL, NOPRIO, NULL, NULL, NULL, NULL}, {"", "", -1}},
    };
    er_route_result_t res = {NULL, NULL, 0, 9, 9};
    er_event_t ev;

    make("", NULL);
    build(NULL);
    ck_assert_uint_eq(er__router_ndest(router), 0);
    ck_assert_uint_eq(er__router_words(router), 0);
    RUN(cases);
    /* No bitset, no route list: still counts. */
    memset(&ev, 0, sizeof(ev));
    ev.type = er_str("E");
    ck_assert_uint_eq(er__router_match(router, &ev, &res), 0);
    ck_assert_uint_eq(res.nroutes, 0);
    ck_assert_int_eq(res.retry_route, -1);
}
END_TEST

START_TEST(many_destinations_and_route_cap)
{
    char names[MAX_DEST * 5], spec[64];
    const char *routes[4];
    uint64_t dests[2];
    uint32_t idx[1];
    er_route_result_t res = {dests, idx, 1, 0, 0};
    er_event_t ev;
    size_t i, o = 0;

    for (i = 0; i < 70; i++)
        o += (size_t)snprintf(names + o, sizeof(names) - o, "%sd%zu", i ? " " : "", i);
    snprintf(spec, sizeof(spec), "type=E -> d0,d69,d64 continue");
    routes[0] = spec;
    routes[1] = "* -> d63,d69";
    routes[2] = NULL;
    make(names, routes);
    build(NULL);
    ck_assert_uint_eq(er__router_words(router), 2);
    memset(&ev, 0, sizeof(ev));
    ev.type = er_str("E");
    ck_assert_uint_eq(er__router_match(router, &ev, &res), 4);
    ck_assert_uint_eq(dests[0], 1ull | (1ull << 63));
    ck_assert_uint_eq(dests[1], (1ull << 0) | (1ull << 5));
    /* Two routes matched, one recorded. */
    ck_assert_uint_eq(res.nroutes, 2);
    ck_assert_uint_eq(idx[0], 0);
}
END_TEST

START_TEST(describe_as_written)
{
    static const char *const routes[] = {
        "topic=a.*,b.** meta.k=v priority=high type=T -> h1,h0 continue retry=4",
        "* -> h0",
        NULL,
    };
    json_t *table;
    char *text;

    make("h0 h1", routes);
    cfg->routes[0].retry.initial_ms = 250;
    cfg->routes[0].retry.max_ms = 90000;
    cfg->routes[0].retry.multiplier = 1.5;
    build(NULL);
    ck_assert_ptr_nonnull(table = er__router_describe(router));
    text = json_dumps(json_array_get(table, 0), JSON_COMPACT | JSON_REAL_PRECISION(15));
    /* Keys in the order written (evaluation reorders them), to as written. */
    ck_assert_str_eq(text, "{\"index\":0,\"implicit\":false,\"match\":{\"topic\":[\"a.*\","
                           "\"b.**\"],\"meta.k\":[\"v\"],\"priority\":[\"high\"],\"type\":[\"T\"]},"
                           "\"to\":[\"h1\",\"h0\"],\"continue\":true,\"retry\":{\"max_attempts\":"
                           "4,\"initial\":\"250ms\",\"max\":\"1m30s\",\"multiplier\":1.5,"
                           "\"jitter\":0.2}}");
    free(text);
    json_decref(table);
}
END_TEST

static Suite *router_suite(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, topic_globs);
    tcase_add_test(tc, hybrid_example);
    tcase_add_test(tc, continue_chains_and_union);
    tcase_add_test(tc, implicit_routes_first);
    tcase_add_test(tc, every_match_key);
    tcase_add_test(tc, priority_names);
    tcase_add_test(tc, unrouted_and_empty);
    tcase_add_test(tc, many_destinations_and_route_cap);
    tcase_add_test(tc, describe_as_written);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(router_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
