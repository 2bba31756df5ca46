/*
 * The store conformance suite: what every store plugin must do, run the
 * same way against each plugin of the table below (one Check test case per
 * plugin, named after it), through the store harness (storetest.h) — the
 * daemon's real loader, host and tokens on a real loop. Every test asserts
 * exact contents and counts against a model of what was written.
 *
 * The per-plugin differences are data: whether data survives stop and
 * reopen, the declared durability, the options (YAML, with the test's own
 * temporary directory), hooks around each test (a server-backed store
 * flushes its database there), and an optional "full" configuration.
 * Adding a store (redis, postgres) is one row.
 *
 * $ER_STORE_PLUGINS (comma-separated) runs only the plugins it names;
 * $ER_TEST_SCALE (a float, default 1; 0.05 under valgrind) scales counts,
 * never assertions. Temporary directories live under $TMPDIR in one root
 * made by main() and removed at the end, whatever the tests did.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storetest.h"

/* ------------------------------------------------------------- plugins */

typedef struct kind_s {
    const char *plugin;
    bool persistent; /* data survives stop() and a new instance */
    er_durability_t durability;
    /* Options; "{dir}" stands for the test's own empty temporary directory. */
    const char *options;
    /* Options under which appends soon fail -ENOSPC (NULL: not tested);
     * full_capacity: exactly how many events fit (0: not exact);
     * full_message: how the message starts (NULL: not checked). */
    const char *full_options;
    uint64_t full_capacity;
    const char *full_message;
    /* The store writes nothing under the test's directory (memory: its
     * `path` is accepted and ignored). */
    bool writes_nothing;
    /* Around every test (NULL: nothing): e.g. flush a server's database. */
    void (*setup)(const struct kind_s *k, const char *dir);
    void (*teardown)(const struct kind_s *k, const char *dir);
} kind_t;

static const kind_t kinds[] = {
    {
        .plugin = "memory",
        .persistent = false,
        .durability = ER_DURABILITY_NONE,
        /* path is accepted and ignored: nothing may appear in dir. */
        .options = "path: {dir}/ignored\n",
        .full_options = "max_events: 100\npath: {dir}/ignored\n",
        .full_capacity = 100,
        .full_message = "memory store full: max_events 100",
        .writes_nothing = true,
    },
    {
        .plugin = "lmdb",
        .persistent = true,
        .durability = ER_DURABILITY_DISK,
        .options = "path: {dir}\nmap_size: 256MiB\n",
        /* The smallest map: full after some thousands of small events. */
        .full_options = "path: {dir}\nmap_size: 1MiB\n",
        .full_message = "store full",
    },
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static char root[512]; /* every test's directory lives in here */
static const kind_t *K;
static char dir[600];

#define TIME_BASE 1700000000000000ll /* µs */

/* -------------------------------------------------------------- fixture */

/* options with every "{dir}" replaced by dir, into buf. */
static void expand(char *buf, size_t cap, const char *options, const char *d)
{
    size_t used = 0;
    const char *p;

    for (p = options; *p; p++) {
        if (strncmp(p, "{dir}", 5) == 0) {
            used += (size_t)snprintf(buf + used, used < cap ? cap - used : 0, "%s", d);
            p += 4;
        } else if (used + 1 < cap) {
            buf[used++] = *p;
        }
        ck_assert_uint_lt(used, cap);
    }
    buf[used] = '\0';
}

static er_st_t *begin_with(int i, const char *options)
{
    char yaml[2048];
    er_st_t *st;

    K = &kinds[i];
    snprintf(dir, sizeof(dir), "%s/%s.XXXXXX", root, K->plugin);
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
    if (K->setup != NULL)
        K->setup(K, dir);
    expand(yaml, sizeof(yaml), options, dir);
    st = er_st_new(K->plugin, yaml);
    ck_assert_int_eq(er_st_open(st), ER_OK);
    return st;
}

static er_st_t *begin(int i)
{
    return begin_with(i, kinds[i].options);
}

static void end(er_st_t *st)
{
    er_st_free(st);
    if (K->writes_nothing) {
        DIR *d = opendir(dir);
        struct dirent *e;
        ck_assert_ptr_nonnull(d);
        while ((e = readdir(d)) != NULL)
            ck_assert_msg(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0,
                          "%s wrote %s/%s", K->plugin, dir, e->d_name);
        closedir(d);
    }
    if (K->teardown != NULL)
        K->teardown(K, dir);
    er_st_rmtree(dir);
}

/* --------------------------------------------------------------- model */

/* What the store should hold: the events appended, by seq (NULL once
 * trimmed or deleted), each a reference of ours. */
typedef struct model_s {
    er_ev_t **ev; /* ev[seq] */
    size_t cap;
    uint64_t last;
} model_t;

static void model_put(model_t *m, er_ev_t *ev)
{
    uint64_t seq = er_st_ev_seq(ev);

    if (seq >= m->cap) {
        size_t cap = m->cap ? m->cap : 1024;
        while (cap <= seq)
            cap *= 2;
        m->ev = realloc(m->ev, cap * sizeof(*m->ev));
        ck_assert_ptr_nonnull(m->ev);
        memset(m->ev + m->cap, 0, (cap - m->cap) * sizeof(*m->ev));
        m->cap = cap;
    }
    m->ev[seq] = ev;
    if (seq > m->last)
        m->last = seq;
}

static er_ev_t *model_get(const model_t *m, uint64_t seq)
{
    return seq < m->cap ? m->ev[seq] : NULL;
}

static void model_drop(model_t *m, uint64_t seq)
{
    ck_assert_ptr_nonnull(model_get(m, seq));
    er_st_ev_unref(m->ev[seq]);
    m->ev[seq] = NULL;
}

static size_t model_count(const model_t *m)
{
    size_t n = 0;
    uint64_t s;

    for (s = 1; s <= m->last; s++)
        n += model_get(m, s) != NULL;
    return n;
}

static void model_free(model_t *m)
{
    uint64_t s;

    for (s = 0; s < m->cap; s++)
        er_st_ev_unref(m->ev[s]);
    free(m->ev);
    memset(m, 0, sizeof(*m));
}

/* The mixed data the query tests use: seven streams, five correlation
 * ids (none on every eleventh event), three types, unique ids, time
 * advancing 1 ms per seq. */
static er_ev_t *mixed(uint64_t seq)
{
    char type[16], stream[16], corr[16], id[32];

    snprintf(type, sizeof(type), "T%" PRIu64, seq % 3);
    snprintf(stream, sizeof(stream), "s:%" PRIu64, seq % 7);
    snprintf(corr, sizeof(corr), "c:%" PRIu64, seq % 5);
    snprintf(id, sizeof(id), "id-%" PRIu64, seq);
    return er_st_ev(seq, type, stream, seq % 11 == 0 ? NULL : corr, id,
                    TIME_BASE + (int64_t)seq * 1000);
}

/* Append seqs [from, from + n) of mixed data in batches of `batch`, into
 * the model too. */
static void append_mixed(er_st_t *st, model_t *m, uint64_t from, size_t n, size_t batch)
{
    er_ev_t **evs = calloc(batch, sizeof(*evs));
    size_t done = 0;

    ck_assert_ptr_nonnull(evs);
    while (done < n) {
        size_t k = n - done < batch ? n - done : batch, i;
        for (i = 0; i < k; i++) {
            evs[i] = mixed(from + done + i);
            model_put(m, evs[i]);
        }
        ck_assert_msg(er_st_append(st, evs, k) == ER_OK, "append: %s", st->errmsg);
        done += k;
    }
    free(evs);
}

/* An independent statement of the filter rules (plugin.h). */
static bool str_match(er_str_t want, er_str_t have)
{
    return want.len == 0 ||
           (have.ptr != NULL && have.len == want.len && memcmp(have.ptr, want.ptr, want.len) == 0);
}

static bool model_match(const er_store_filter_t *f, const er_event_t *e)
{
    bool desc = (f->flags & ER_STORE_DESCENDING) != 0;

    if (!str_match(f->stream, e->stream) || !str_match(f->correlation_id, e->correlation_id) ||
        !str_match(f->id, e->id) || !str_match(f->type, e->type))
        return false;
    if (f->since_us != 0 && e->time < f->since_us)
        return false;
    if (f->until_us != 0 && e->time >= f->until_us)
        return false;
    if (f->from_seq != 0 && (desc ? e->seq > f->from_seq : e->seq < f->from_seq))
        return false;
    if (f->to_seq != 0 && (desc ? e->seq < f->to_seq : e->seq > f->to_seq))
        return false;
    return true;
}

/* Query with f and compare with the model: the same seqs in the same
 * order, each event identical to what was appended. Returns the rows. */
static size_t expect_query(er_st_t *st, const model_t *m, const er_store_filter_t *f,
                           const char *what)
{
    er_st_rows_t rows = {0};
    bool desc = (f->flags & ER_STORE_DESCENDING) != 0;
    size_t want = 0, i;
    uint64_t k;

    ck_assert_msg(er_st_query(st, f, &rows) == ER_OK, "%s: query: %s", what, st->errmsg);
    for (k = 0; k < m->last; k++) {
        uint64_t seq = desc ? m->last - k : k + 1;
        er_ev_t *ev = model_get(m, seq);
        if (ev == NULL || !model_match(f, er_st_ev_view(ev)))
            continue;
        if (f->limit != 0 && want == f->limit)
            break;
        ck_assert_msg(want < rows.n, "%s: %zu rows, expected more (next seq %" PRIu64 ")", what,
                      rows.n, seq);
        ck_assert_msg(er_st_ev_seq(rows.evs[want]) == seq,
                      "%s: row %zu has seq %" PRIu64 ", expected %" PRIu64, what, want,
                      er_st_ev_seq(rows.evs[want]), seq);
        er_st_assert_same(rows.evs[want], ev, what);
        want++;
    }
    ck_assert_msg(rows.n == want, "%s: %zu rows, expected %zu", what, rows.n, want);
    i = rows.n;
    er_st_rows_free(&rows);
    return i;
}

static size_t count_all(er_st_t *st)
{
    er_store_filter_t f = {0};
    er_st_rows_t rows = {0};
    size_t n;

    ck_assert_int_eq(er_st_query(st, &f, &rows), ER_OK);
    n = rows.n;
    er_st_rows_free(&rows);
    return n;
}

/* ----------------------------------------------------------------- open */

START_TEST(test_open_new)
{
    er_st_t *st = begin(_i);

    ck_assert(st->head.created);
    ck_assert(!st->head.clean);
    ck_assert_uint_eq(st->head.events, 0);
    ck_assert_uint_eq(st->head.first_seq, 0);
    ck_assert_uint_eq(st->head.last_seq, 0);
    ck_assert_uint_eq(st->head.reserved, 0);
    ck_assert_uint_eq(count_all(st), 0);
    end(st);
}
END_TEST

START_TEST(test_durability)
{
    er_st_t *st = begin(_i);

    ck_assert_int_eq(er_st_durability(st), K->durability);
    end(st);
}
END_TEST

START_TEST(test_unknown_option)
{
    char err[2048] = "";
    er_st_t *st = NULL;

    K = &kinds[_i];
    ck_assert_int_eq(er_st_try_new(K->plugin, "no_such_option: 1\n", &st, err, sizeof(err)),
                     -EINVAL);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, "no_such_option") != NULL, "%s", err);
}
END_TEST

/* ------------------------------------------------------- append + read */

/* Every field of the envelope, daemon fields included; binary data with
 * NULs (or a string payload). */
static er_ev_t *full_event(uint64_t seq, int variant)
{
    static const char bin[] = {0x00, 0x01, 'x', 0x00, (char)0xff, 0x7f, 0x00};
    er_meta_t meta[3] = {
        {er_str("tenant"), er_str("acme")},
        {er_str("empty"), {"", 0}},
        {er_str("note"), er_str("na\xc3\xafve \xe2\x9c\x93")},
    };
    er_event_t f = {0};
    char *big = NULL;
    er_ev_t *ev;

    f.has = ER_HAS_VERSION | ER_HAS_PRIORITY | ER_HAS_TIME | ER_HAS_RECEIVED | ER_HAS_ORIGIN |
            ER_HAS_HOPS;
    f.type = er_str("OrderCreated");
    f.version = 3;
    f.topic = er_str("orders.created");
    f.priority = ER_PRIORITY_HIGH;
    f.id = er_str("0190f5e0-7d3a-7b1c-9a4e-5f6a7b8c9d0e");
    f.time = TIME_BASE + 123456;
    f.stream = er_str("order:42");
    f.correlation_id = er_str("req-7");
    f.causation_id = er_str("cmd-6");
    f.source = er_str("checkout");
    f.traceparent = er_str("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    f.tracestate = er_str("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
    f.meta = meta;
    f.meta_count = 3;
    f.received = TIME_BASE + 123999;
    f.origin = (er_origin_t){.pid = 4242, .uid = 1000, .gid = 100, .host = er_str("host-a")};
    f.via = (er_via_t){er_str("kafka-main"), er_str("orders-in"), er_str("enricher")};
    f.hops = 2;
    switch (variant) {
    case 0:
        f.content_type = er_str("application/octet-stream");
        f.data = (er_str_t){bin, sizeof(bin)};
        break;
    case 1:
        f.content_type = er_str("text/plain");
        f.data = er_str("hello, world");
        f.data_is_str = true;
        f.priority = ER_PRIORITY_CRITICAL;
        break;
    case 2: {
        /* A large payload (beyond one page of a paged store). */
        size_t n = 200 * 1024, i;
        big = malloc(n);
        ck_assert_ptr_nonnull(big);
        for (i = 0; i < n; i++)
            big[i] = (char)(i * 7 + 3);
        f.content_type = er_str("application/octet-stream");
        f.data = (er_str_t){big, n};
        break;
    }
    default: /* only what is required, and seq */
        memset(&f, 0, sizeof(f));
        f.type = er_str("Bare");
        break;
    }
    ev = er_st_ev_new(&f, seq);
    free(big);
    return ev;
}

START_TEST(test_roundtrip_fields)
{
    er_st_t *st = begin(_i);
    model_t m = {0};
    er_store_filter_t all = {0};
    er_ev_t *evs[4];
    int v;

    for (v = 0; v < 4; v++) {
        evs[v] = full_event((uint64_t)v + 1, v);
        model_put(&m, evs[v]);
    }
    ck_assert_int_eq(er_st_append(st, evs, 2), ER_OK);
    ck_assert_int_eq(er_st_append(st, evs + 2, 2), ER_OK);
    ck_assert_uint_eq(expect_query(st, &m, &all, "every field"), 4);
    /* By the fields the indexes use, too. */
    all.id = er_str("0190f5e0-7d3a-7b1c-9a4e-5f6a7b8c9d0e");
    ck_assert_uint_eq(expect_query(st, &m, &all, "by id"), 3);
    model_free(&m);
    end(st);
}
END_TEST

START_TEST(test_append_batch_and_single)
{
    er_st_t *st = begin(_i);
    size_t n = er_st_scale(1000), i;
    er_store_filter_t all = {0};
    model_t m = {0};

    /* n in one call, then n one at a time. */
    append_mixed(st, &m, 1, n, n);
    for (i = 0; i < n; i++) {
        er_ev_t *ev = mixed(n + 1 + i);
        model_put(&m, ev);
        ck_assert_msg(er_st_append1(st, ev) == ER_OK, "append %zu: %s", i, st->errmsg);
    }
    ck_assert_uint_eq(expect_query(st, &m, &all, "all, in seq order"), 2 * n);
    all.flags = ER_STORE_DESCENDING;
    ck_assert_uint_eq(expect_query(st, &m, &all, "all, descending"), 2 * n);
    model_free(&m);
    end(st);
}
END_TEST

/* --------------------------------------------------------------- query */

START_TEST(test_query_filters)
{
    er_st_t *st = begin(_i);
    size_t n = er_st_scale(700), got;
    er_store_filter_t f;
    model_t m = {0};
    uint64_t mid = n / 2;

    if (n < 100)
        n = 100;
    append_mixed(st, &m, 1, n, 64);

#define Q(what, ...)                                                                               \
    do {                                                                                           \
        f = (er_store_filter_t){__VA_ARGS__};                                                      \
        got = expect_query(st, &m, &f, what);                                                      \
    } while (0)

    /* Each index alone. */
    Q("stream", .stream = er_str("s:3"));
    ck_assert_uint_gt(got, 0);
    Q("correlation_id", .correlation_id = er_str("c:2"));
    ck_assert_uint_gt(got, 0);
    Q("id", .id = er_str("id-17"));
    ck_assert_uint_eq(got, 1);
    Q("type", .type = er_str("T1"));
    ck_assert_uint_gt(got, 0);
    /* Combinations: the index picks, the rest are checked. */
    Q("stream+type", .stream = er_str("s:3"), .type = er_str("T1"));
    ck_assert_uint_gt(got, 0);
    Q("stream+correlation+type", .stream = er_str("s:1"), .correlation_id = er_str("c:1"),
      .type = er_str("T1"));
    ck_assert_uint_gt(got, 0);
    Q("correlation+type", .correlation_id = er_str("c:4"), .type = er_str("T0"));
    ck_assert_uint_gt(got, 0);
    Q("id+stream (agreeing)", .id = er_str("id-17"), .stream = er_str("s:3"));
    ck_assert_uint_eq(got, 1);
    Q("id+stream (disagreeing)", .id = er_str("id-17"), .stream = er_str("s:4"));
    ck_assert_uint_eq(got, 0);
    /* Time. */
    Q("since", .since_us = TIME_BASE + (int64_t)mid * 1000);
    ck_assert_uint_eq(got, n - mid + 1);
    Q("until", .until_us = TIME_BASE + (int64_t)mid * 1000);
    ck_assert_uint_eq(got, mid - 1);
    Q("since+until+stream", .since_us = TIME_BASE + 10000, .until_us = TIME_BASE + 60000,
      .stream = er_str("s:2"));
    ck_assert_uint_gt(got, 0);
    /* Seq ranges, both directions. */
    Q("from_seq", .from_seq = mid);
    ck_assert_uint_eq(got, n - mid + 1);
    Q("to_seq", .to_seq = mid);
    ck_assert_uint_eq(got, mid);
    Q("from..to", .from_seq = 10, .to_seq = 20);
    ck_assert_uint_eq(got, 11);
    Q("descending from..to", .from_seq = 20, .to_seq = 10, .flags = ER_STORE_DESCENDING);
    ck_assert_uint_eq(got, 11);
    Q("descending from", .from_seq = mid, .flags = ER_STORE_DESCENDING);
    ck_assert_uint_eq(got, mid);
    Q("descending stream from..to", .stream = er_str("s:5"), .from_seq = n - 3, .to_seq = 30,
      .flags = ER_STORE_DESCENDING);
    ck_assert_uint_gt(got, 0);
    /* Limits. */
    Q("limit", .limit = 25);
    ck_assert_uint_eq(got, 25);
    Q("limit descending", .limit = 7, .flags = ER_STORE_DESCENDING);
    ck_assert_uint_eq(got, 7);
    Q("stream limit from", .stream = er_str("s:6"), .limit = 5, .from_seq = 10);
    ck_assert_uint_eq(got, 5);
    Q("type limit descending until", .type = er_str("T2"), .limit = 4,
      .until_us = TIME_BASE + 90000, .flags = ER_STORE_DESCENDING);
    ck_assert_uint_eq(got, 4);
    /* Empty results. */
    Q("no such stream", .stream = er_str("nope"));
    ck_assert_uint_eq(got, 0);
    Q("no such id", .id = er_str("id-0"));
    ck_assert_uint_eq(got, 0);
    Q("no such correlation", .correlation_id = er_str("c:9"));
    ck_assert_uint_eq(got, 0);
    Q("past the end", .from_seq = n + 1);
    ck_assert_uint_eq(got, 0);
    Q("empty time window", .since_us = TIME_BASE + 5000, .until_us = TIME_BASE + 5000);
    ck_assert_uint_eq(got, 0);
    Q("stream prefix is not a match", .stream = er_str("s:"));
    ck_assert_uint_eq(got, 0);
#undef Q

    /* A row callback that stops: no row after it, the token completes OK. */
    {
        er_st_rows_t rows = {.stop_after = 3};
        er_store_filter_t s = {.stream = er_str("s:4")};
        size_t k;
        ck_assert_int_eq(er_st_query(st, &s, &rows), ER_OK);
        ck_assert_uint_eq(rows.n, 3);
        ck_assert_uint_eq(rows.calls, 3);
        for (k = 0; k < 3; k++)
            ck_assert_uint_eq(er_st_ev_seq(rows.evs[k]), 4 + 7 * k);
        er_st_rows_free(&rows);
        /* The store still answers afterwards. */
        ck_assert_uint_eq(count_all(st), n);
    }
    model_free(&m);
    end(st);
}
END_TEST

/* ------------------------------------------------------ completion order */

typedef struct chain_s {
    er_st_t *st;
    model_t *m;
    uint64_t next, last;
    er_st_call_t w, r;
    er_st_rows_t rows;
    bool done;
} chain_t;

static void chain_write(chain_t *c);

static void chain_read(er_st_call_t *call, void *arg)
{
    chain_t *c = arg;

    ck_assert_int_eq(call->status, ER_OK);
    ck_assert_msg(c->rows.n == 1,
                  "a read submitted after append %" PRIu64 " completed saw %zu rows", c->next,
                  c->rows.n);
    er_st_assert_same(c->rows.evs[0], model_get(c->m, c->next), "read after write");
    er_st_rows_free(&c->rows);
    if (c->next++ == c->last)
        c->done = true;
    else
        chain_write(c);
}

/* The append completed: a read submitted now must see it (by seq range on
 * odd seqs, by its id — an index — on even ones). */
static void chain_written(er_st_call_t *call, void *arg)
{
    chain_t *c = arg;
    er_store_filter_t f = {0};
    char id[32];

    ck_assert_msg(call->status == ER_OK, "append: %s", call->errmsg);
    snprintf(id, sizeof(id), "id-%" PRIu64, c->next);
    if (c->next % 2)
        f.from_seq = f.to_seq = c->next;
    else
        f.id = er_str(id);
    memset(&c->rows, 0, sizeof(c->rows));
    c->r.on_done = chain_read;
    c->r.on_done_arg = c;
    ck_assert_int_eq(er_st_submit_query(c->st, &c->r, &f, &c->rows), ER_PENDING);
}

static void chain_write(chain_t *c)
{
    er_ev_t *ev = mixed(c->next);

    model_put(c->m, ev);
    c->w.on_done = chain_written;
    c->w.on_done_arg = c;
    ck_assert_int_eq(er_st_submit_append(c->st, &c->w, &ev, 1), ER_PENDING);
}

static bool chain_done(void *arg)
{
    return ((chain_t *)arg)->done;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(test_completion_order)
{
    er_st_t *st = begin(_i);
    size_t n = er_st_scale(600), i, ndlq = 0;
    er_st_call_t *calls = calloc(n, sizeof(*calls));
    uint64_t seq = 1, cursor_want[4] = {0}, prev_dlq = 0;
    char state_want[6][32] = {{0}}, name[32], val[32];
    bool cursor_set[4] = {false};
    er_store_filter_t all = {0};
    er_dead_letter_t dl = {0};
    er_st_cursors_t cur = {0};
    er_st_dlqs_t dlqs = {0};
    model_t m = {0};

    ck_assert_ptr_nonnull(calls);
    if (n < 10)
        n = 10;
    /* Many writes of every kind, all submitted in one loop turn. */
    for (i = 0; i < n; i++) {
        er_ev_t *evs[3];
        int rc = 0, k;
        switch (i % 5) {
        case 0:
            evs[0] = mixed(seq++);
            model_put(&m, evs[0]);
            rc = er_st_submit_append(st, &calls[i], evs, 1);
            break;
        case 1:
            for (k = 0; k < 3; k++) {
                evs[k] = mixed(seq++);
                model_put(&m, evs[k]);
            }
            rc = er_st_submit_append(st, &calls[i], evs, 3);
            break;
        case 2:
            snprintf(name, sizeof(name), "handler:c%zu", i % 4);
            rc = er_st_submit_cursor_set(st, &calls[i], name, i);
            cursor_want[i % 4] = i;
            cursor_set[i % 4] = true;
            break;
        case 3:
            snprintf(name, sizeof(name), "k%zu", i % 6);
            snprintf(state_want[i % 6], sizeof(state_want[0]), "value %zu", i);
            rc = er_st_submit_state_set(st, &calls[i], "order", name, state_want[i % 6],
                                        strlen(state_want[i % 6]));
            break;
        case 4:
            snprintf(val, sizeof(val), "reason %zu", i);
            dl = (er_dead_letter_t){.seq = 1,
                                    .destination = er_str("handler:d"),
                                    .reason = er_str(val),
                                    .attempts = (uint32_t)i};
            rc = er_st_submit_dlq_add(st, &calls[i], &dl);
            ndlq++;
            break;
        }
        ck_assert_int_eq(rc, ER_PENDING);
    }
    for (i = 0; i < n; i++)
        ck_assert_msg(!calls[i].done, "call %zu completed before the loop ran", i);
    er_st_wait_all(st, calls, n);
    for (i = 0; i < n; i++) {
        ck_assert_msg(calls[i].status == ER_OK, "%s %zu: %s", calls[i].op, i, calls[i].errmsg);
        ck_assert_msg(calls[i].order == calls[0].order + i,
                      "write %zu (%s) completed as number %" PRIu64 ", expected %" PRIu64, i,
                      calls[i].op, calls[i].order - calls[0].order, (uint64_t)i);
        if (i % 5 == 4) {
            ck_assert_msg(calls[i].u64 > prev_dlq, "dlq ids not increasing in submission order");
            prev_dlq = calls[i].u64;
        }
    }

    /* What the writes left. */
    ck_assert_uint_eq(expect_query(st, &m, &all, "after the writes"), seq - 1);
    ck_assert_int_eq(er_st_cursor_list(st, &cur), ER_OK);
    for (i = 0; i < 4; i++) {
        size_t j, found = 0;
        snprintf(name, sizeof(name), "handler:c%zu", i);
        for (j = 0; j < cur.n; j++)
            if (strcmp(cur.names[j], name) == 0) {
                found++;
                ck_assert_uint_eq(cur.seqs[j], cursor_want[i]);
            }
        ck_assert_uint_eq(found, cursor_set[i] ? 1 : 0);
    }
    er_st_cursors_free(&cur);
    for (i = 0; i < 6; i++) {
        void *v;
        size_t len;
        if (state_want[i][0] == '\0')
            continue;
        snprintf(name, sizeof(name), "k%zu", i);
        ck_assert_int_eq(er_st_state_get(st, "order", name, &v, &len), ER_OK);
        ck_assert_ptr_nonnull(v);
        ck_assert_uint_eq(len, strlen(state_want[i]));
        ck_assert_int_eq(memcmp(v, state_want[i], len), 0);
        free(v);
    }
    ck_assert_int_eq(er_st_dlq_list(st, NULL, 0, 0, &dlqs), ER_OK);
    ck_assert_uint_eq(dlqs.n, ndlq);
    er_st_dlqs_free(&dlqs);

    /* Reads submitted after a write completed see it, by seq and by id. */
    {
        chain_t c = {.st = st, .m = &m, .next = seq, .last = seq + er_st_scale(60)};
        chain_write(&c);
        er_st_run_until(st, chain_done, &c, "the read-after-write chain");
        ck_assert_uint_eq(count_all(st), c.last);
    }
    free(calls);
    model_free(&m);
    end(st);
}
END_TEST

START_TEST(test_stop_completes_queued)
{
    er_st_t *st = begin(_i);
    size_t n = er_st_scale(200), i;
    er_st_call_t *calls = calloc(n + 1, sizeof(*calls));
    model_t m = {0};

    ck_assert_ptr_nonnull(calls);
    for (i = 0; i < n; i++) {
        er_ev_t *ev = mixed(i + 1);
        model_put(&m, ev);
        ck_assert_int_eq(er_st_submit_append(st, &calls[i], &ev, 1), ER_PENDING);
    }
    ck_assert_int_eq(er_st_submit_cursor_set(st, &calls[n], "handler:last", n), ER_PENDING);
    /* stop() right away: every write before it completes first. */
    er_st_stop(st);
    for (i = 0; i <= n; i++) {
        ck_assert_msg(calls[i].done, "call %zu not completed by stop()", i);
        ck_assert_msg(calls[i].status == ER_OK, "call %zu: %s", i, calls[i].errmsg);
        ck_assert_uint_eq(calls[i].order, calls[0].order + i);
    }
    if (K->persistent) {
        er_store_filter_t all = {0};
        er_st_cursors_t cur = {0};
        ck_assert_int_eq(er_st_reopen(st), ER_OK);
        ck_assert(st->head.clean);
        ck_assert_uint_eq(st->head.last_seq, n);
        ck_assert_uint_eq(expect_query(st, &m, &all, "after stop and reopen"), n);
        ck_assert_int_eq(er_st_cursor_list(st, &cur), ER_OK);
        ck_assert_uint_eq(cur.n, 1);
        ck_assert_uint_eq(cur.seqs[0], n);
        er_st_cursors_free(&cur);
    }
    free(calls);
    model_free(&m);
    end(st);
}
END_TEST

/* ------------------------------------------------------------- reserve */

START_TEST(test_reserve)
{
    er_st_t *st = begin(_i);

    ck_assert_int_eq(er_st_reserve(st, 1000), ER_OK);
    ck_assert_int_eq(er_st_reserve(st, 5000), ER_OK);
    ck_assert_int_eq(er_st_reserve(st, 4000), ER_OK); /* lowered, as at a clean stop */
    ck_assert_int_eq(er_st_reopen(st), ER_OK);
    if (K->persistent) {
        ck_assert_uint_eq(st->head.reserved, 4000);
        ck_assert(st->head.clean);
        ck_assert(!st->head.created);
    } else {
        ck_assert_uint_eq(st->head.reserved, 0);
        ck_assert(st->head.created);
    }
    end(st);
}
END_TEST

/* ------------------------------------------------------------- cursors */

/* The cursors, sorted by name (list order is the store's), as
 * "name=seq;name=seq;". */
static void cursors_text(er_st_t *st, char *buf, size_t cap)
{
    er_st_cursors_t c = {0};
    char **lines;
    size_t i, used = 0;

    ck_assert_int_eq(er_st_cursor_list(st, &c), ER_OK);
    lines = calloc(c.n + 1, sizeof(*lines));
    ck_assert_ptr_nonnull(lines);
    for (i = 0; i < c.n; i++)
        ck_assert_int_ge(asprintf(&lines[i], "%s=%" PRIu64 ";", c.names[i], c.seqs[i]), 0);
    qsort(lines, c.n, sizeof(*lines), by_name);
    buf[0] = '\0';
    for (i = 0; i < c.n; i++) {
        used += (size_t)snprintf(buf + used, used < cap ? cap - used : 0, "%s", lines[i]);
        free(lines[i]);
    }
    ck_assert_uint_lt(used, cap);
    free(lines);
    er_st_cursors_free(&c);
}

START_TEST(test_cursors)
{
    er_st_t *st = begin(_i);
    char text[1024];

    cursors_text(st, text, sizeof(text));
    ck_assert_str_eq(text, "");
    ck_assert_int_eq(er_st_cursor_set(st, "handler:audit-log", 5), ER_OK);
    ck_assert_int_eq(er_st_cursor_set(st, "broker:kafka-main", 7), ER_OK);
    ck_assert_int_eq(er_st_cursor_set(st, "handler:zero", 0), ER_OK);
    ck_assert_int_eq(er_st_cursor_set(st, "handler:big", UINT64_MAX - 1), ER_OK);
    cursors_text(st, text, sizeof(text));
    ck_assert_str_eq(text,
                     "broker:kafka-main=7;handler:audit-log=5;handler:big=18446744073709551614;"
                     "handler:zero=0;");
    /* Overwrite (also backwards), delete. */
    ck_assert_int_eq(er_st_cursor_set(st, "handler:audit-log", 11), ER_OK);
    ck_assert_int_eq(er_st_cursor_set(st, "broker:kafka-main", 3), ER_OK);
    ck_assert_int_eq(er_st_cursor_delete(st, "handler:big"), ER_OK);
    cursors_text(st, text, sizeof(text));
    ck_assert_str_eq(text, "broker:kafka-main=3;handler:audit-log=11;handler:zero=0;");

    ck_assert_int_eq(er_st_reopen(st), ER_OK);
    cursors_text(st, text, sizeof(text));
    ck_assert_str_eq(
        text, K->persistent ? "broker:kafka-main=3;handler:audit-log=11;handler:zero=0;" : "");
    end(st);
}
END_TEST

/* --------------------------------------------------------- dead letters */

#define NDL 6

typedef struct dlq_model_s {
    er_dead_letter_t dl[NDL + 1];
    char reason[NDL + 1][1100];
    bool gone[NDL + 1];
    size_t n;
} dlq_model_t;

/* List with (destination, after_id, max) and compare with the model. */
static void expect_dlqs(er_st_t *st, const dlq_model_t *m, const char *dest, uint64_t after,
                        uint64_t max, size_t want_n)
{
    er_st_dlqs_t got = {0};
    size_t i, k = 0;

    ck_assert_int_eq(er_st_dlq_list(st, dest, after, max, &got), ER_OK);
    for (i = 0; i < m->n; i++) {
        const er_dead_letter_t *w = &m->dl[i];
        if (m->gone[i] || w->dlq_id <= after ||
            (dest != NULL && strncmp(w->destination.ptr, dest, w->destination.len) != 0) ||
            (max != 0 && k == max))
            continue;
        ck_assert_msg(k < got.n, "dlq list (%s, %" PRIu64 ", %" PRIu64 "): %zu entries, want more",
                      dest ? dest : "all", after, max, got.n);
        ck_assert_uint_eq(got.v[k].dlq_id, w->dlq_id);
        ck_assert_uint_eq(got.v[k].seq, w->seq);
        ck_assert_uint_eq(got.v[k].attempts, w->attempts);
        ck_assert_int_eq(got.v[k].first_failure_us, w->first_failure_us);
        ck_assert_int_eq(got.v[k].last_failure_us, w->last_failure_us);
        ck_assert_uint_eq(got.v[k].destination.len, w->destination.len);
        ck_assert_int_eq(memcmp(got.v[k].destination.ptr, w->destination.ptr, w->destination.len),
                         0);
        ck_assert_uint_eq(got.v[k].reason.len, w->reason.len);
        ck_assert_int_eq(memcmp(got.v[k].reason.ptr, w->reason.ptr, w->reason.len), 0);
        k++;
    }
    ck_assert_msg(got.n == k, "dlq list (%s, %" PRIu64 ", %" PRIu64 "): %zu entries, want %zu",
                  dest ? dest : "all", after, max, got.n, k);
    ck_assert_uint_eq(k, want_n);
    er_st_dlqs_free(&got);
}

static void dlq_add_model(er_st_t *st, dlq_model_t *m, size_t i)
{
    er_dead_letter_t *d = &m->dl[i];

    if (i == NDL - 1) {
        memset(m->reason[i], 'x', 1000); /* a long reason */
        m->reason[i][1000] = '\0';
    } else {
        snprintf(m->reason[i], sizeof(m->reason[i]), "HTTP 503 from upstream (try %zu)", i);
    }
    *d = (er_dead_letter_t){
        .dlq_id = 999999, /* ignored: the store assigns */
        .seq = 100 + i,
        .destination = er_str(i % 2 ? "handler:b" : "handler:a"),
        .reason = er_str(m->reason[i]),
        .attempts = (uint32_t)i + 1,
        .first_failure_us = TIME_BASE + (int64_t)i,
        .last_failure_us = TIME_BASE + 1000 + (int64_t)i,
    };
    ck_assert_int_eq(er_st_dlq_add(st, d, &d->dlq_id), ER_OK);
    ck_assert_msg(d->dlq_id > 0 && (i == 0 || d->dlq_id > m->dl[i - 1].dlq_id),
                  "dlq id %" PRIu64 " not above the previous", d->dlq_id);
    m->n = i + 1;
}

START_TEST(test_dead_letters)
{
    er_st_t *st = begin(_i);
    er_st_dlqs_t early = {.stop_after = 2};
    dlq_model_t m = {0};
    size_t i;

    expect_dlqs(st, &m, NULL, 0, 0, 0);
    for (i = 0; i < NDL; i++)
        dlq_add_model(st, &m, i);
    expect_dlqs(st, &m, NULL, 0, 0, NDL);
    expect_dlqs(st, &m, "handler:a", 0, 0, 3);
    expect_dlqs(st, &m, "handler:b", 0, 0, 3);
    expect_dlqs(st, &m, "handler:none", 0, 0, 0);
    expect_dlqs(st, &m, NULL, m.dl[1].dlq_id, 0, NDL - 2);
    expect_dlqs(st, &m, NULL, 0, 2, 2);
    expect_dlqs(st, &m, "handler:b", m.dl[1].dlq_id, 1, 1);
    expect_dlqs(st, &m, NULL, m.dl[NDL - 1].dlq_id, 0, 0);
    /* each() returning non-zero stops the listing. */
    ck_assert_int_eq(er_st_dlq_list(st, NULL, 0, 0, &early), ER_OK);
    ck_assert_uint_eq(early.n, 2);
    er_st_dlqs_free(&early);

    /* Delete; an absent id is -ENOENT (a permanent failure). */
    ck_assert_int_eq(er_st_dlq_delete(st, m.dl[2].dlq_id), ER_OK);
    m.gone[2] = true;
    ck_assert_int_eq(er_st_dlq_delete(st, m.dl[2].dlq_id), ER_FAIL);
    ck_assert_int_eq(st->err, -ENOENT);
    ck_assert_int_eq(er_st_dlq_delete(st, m.dl[NDL - 1].dlq_id + 1000), ER_FAIL);
    ck_assert_int_eq(st->err, -ENOENT);
    expect_dlqs(st, &m, NULL, 0, 0, NDL - 1);
    expect_dlqs(st, &m, "handler:a", 0, 0, 2);

    ck_assert_int_eq(er_st_reopen(st), ER_OK);
    if (K->persistent) {
        expect_dlqs(st, &m, NULL, 0, 0, NDL - 1);
        /* ids keep increasing across a restart. */
        dlq_add_model(st, &m, NDL);
        expect_dlqs(st, &m, NULL, 0, 0, NDL);
    } else {
        memset(&m, 0, sizeof(m));
        expect_dlqs(st, &m, NULL, 0, 0, 0);
    }
    end(st);
}
END_TEST

/* --------------------------------------------------------- plugin state */

static void expect_state(er_st_t *st, const char *scope, const char *key, const void *want,
                         size_t want_len)
{
    void *v = (void *)1;
    size_t len = 99;

    ck_assert_int_eq(er_st_state_get(st, scope, key, &v, &len), ER_OK);
    if (want == NULL) {
        ck_assert_msg(v == NULL && len == 0, "state %s/%s: present (%zu bytes), want absent", scope,
                      key, len);
        return;
    }
    ck_assert_msg(v != NULL, "state %s/%s: absent", scope, key);
    ck_assert_uint_eq(len, want_len);
    ck_assert_int_eq(memcmp(v, want, len), 0);
    free(v);
}

START_TEST(test_state)
{
    er_st_t *st = begin(_i);
    static const char bin[] = {0x00, 'x', 0x00, 'y', 0x00};
    size_t big_n = 64 * 1024, i;
    char *big = malloc(big_n);

    ck_assert_ptr_nonnull(big);
    for (i = 0; i < big_n; i++)
        big[i] = (char)(i % 251);
    expect_state(st, "handler:audit", "offset", NULL, 0);
    ck_assert_int_eq(er_st_state_set(st, "handler:audit", "offset", "v1", 2), ER_OK);
    expect_state(st, "handler:audit", "offset", "v1", 2);
    ck_assert_int_eq(er_st_state_set(st, "handler:audit", "offset", "value-two", 9), ER_OK);
    expect_state(st, "handler:audit", "offset", "value-two", 9);
    /* Scopes are separate; so are keys. */
    ck_assert_int_eq(er_st_state_set(st, "handler:other", "offset", "other", 5), ER_OK);
    expect_state(st, "handler:audit", "offset", "value-two", 9);
    expect_state(st, "handler:other", "offset", "other", 5);
    expect_state(st, "handler:audit", "offsetx", NULL, 0);
    expect_state(st, "handler:audi", "offset", NULL, 0);
    /* Binary values with NULs, an empty value (present, 0 bytes), a large
     * one. */
    ck_assert_int_eq(er_st_state_set(st, "handler:audit", "bin", bin, sizeof(bin)), ER_OK);
    expect_state(st, "handler:audit", "bin", bin, sizeof(bin));
    ck_assert_int_eq(er_st_state_set(st, "handler:audit", "empty", "", 0), ER_OK);
    expect_state(st, "handler:audit", "empty", "", 0);
    ck_assert_int_eq(er_st_state_set(st, "handler:audit", "big", big, big_n), ER_OK);
    expect_state(st, "handler:audit", "big", big, big_n);
    /* Delete (value NULL); deleting an absent key is fine. */
    ck_assert_int_eq(er_st_state_set(st, "handler:audit", "offset", NULL, 0), ER_OK);
    expect_state(st, "handler:audit", "offset", NULL, 0);
    expect_state(st, "handler:other", "offset", "other", 5);
    ck_assert_int_eq(er_st_state_set(st, "handler:audit", "never", NULL, 0), ER_OK);
    expect_state(st, "handler:audit", "never", NULL, 0);

    ck_assert_int_eq(er_st_reopen(st), ER_OK);
    if (K->persistent) {
        expect_state(st, "handler:audit", "offset", NULL, 0);
        expect_state(st, "handler:other", "offset", "other", 5);
        expect_state(st, "handler:audit", "bin", bin, sizeof(bin));
        expect_state(st, "handler:audit", "empty", "", 0);
        expect_state(st, "handler:audit", "big", big, big_n);
    } else {
        expect_state(st, "handler:other", "offset", NULL, 0);
        expect_state(st, "handler:audit", "bin", NULL, 0);
    }
    free(big);
    end(st);
}
END_TEST

/* ---------------------------------------------------------------- trim */

/* Queries by every index over what the model holds. */
static void expect_indexes(er_st_t *st, const model_t *m, const char *when)
{
    static const char *const streams[] = {"s:0", "s:2", "s:3", "s:6"};
    static const char *const corrs[] = {"c:0", "c:1", "c:4"};
    static const char *const ids[] = {"id-1", "id-5", "id-30", "id-31", "id-36", "id-41", "id-60"};
    static const char *const types[] = {"T0", "T1", "T2"};
    char what[128];
    size_t i;

    for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
        er_store_filter_t f = {.stream = er_str(streams[i])};
        snprintf(what, sizeof(what), "%s: stream %s", when, streams[i]);
        expect_query(st, m, &f, what);
    }
    for (i = 0; i < sizeof(corrs) / sizeof(corrs[0]); i++) {
        er_store_filter_t f = {.correlation_id = er_str(corrs[i])};
        snprintf(what, sizeof(what), "%s: correlation %s", when, corrs[i]);
        expect_query(st, m, &f, what);
    }
    for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        er_store_filter_t f = {.id = er_str(ids[i])};
        snprintf(what, sizeof(what), "%s: id %s", when, ids[i]);
        expect_query(st, m, &f, what);
    }
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        er_store_filter_t f = {.type = er_str(types[i]), .flags = ER_STORE_DESCENDING};
        snprintf(what, sizeof(what), "%s: type %s", when, types[i]);
        expect_query(st, m, &f, what);
    }
    {
        er_store_filter_t f = {0};
        snprintf(what, sizeof(what), "%s: all", when);
        expect_query(st, m, &f, what);
    }
}

START_TEST(test_trim)
{
    er_st_t *st = begin(_i);
    size_t n = er_st_scale(300);
    uint64_t trimmed, total = 0, s;
    model_t m = {0};

    if (n < 80)
        n = 80;
    append_mixed(st, &m, 1, n, 50);
    expect_indexes(st, &m, "before trimming");

    /* Oldest first, at most max, only below before_seq. */
    ck_assert_int_eq(er_st_trim(st, 31, 10, &trimmed), ER_OK);
    ck_assert_uint_eq(trimmed, 10);
    for (s = 1; s <= 10; s++)
        model_drop(&m, s);
    expect_indexes(st, &m, "after trim(31, 10)");
    ck_assert_int_eq(er_st_trim(st, 31, 0, &trimmed), ER_OK);
    ck_assert_uint_eq(trimmed, 20);
    for (s = 11; s <= 30; s++)
        model_drop(&m, s);
    ck_assert_int_eq(er_st_trim(st, 31, 0, &trimmed), ER_OK);
    ck_assert_uint_eq(trimmed, 0);
    ck_assert_int_eq(er_st_trim(st, 1, 0, &trimmed), ER_OK);
    ck_assert_uint_eq(trimmed, 0);
    expect_indexes(st, &m, "after trim(31)");

    /* before_seq past the end: max still bounds it. */
    ck_assert_int_eq(er_st_trim(st, n + 1000, 5, &trimmed), ER_OK);
    ck_assert_uint_eq(trimmed, 5);
    for (s = 31; s <= 35; s++)
        model_drop(&m, s);
    /* In chunks of 2 up to 41: 2, 2, 1, 0. */
    do {
        ck_assert_int_eq(er_st_trim(st, 41, 2, &trimmed), ER_OK);
        ck_assert_uint_le(trimmed, 2);
        total += trimmed;
    } while (trimmed > 0);
    ck_assert_uint_eq(total, 5);
    for (s = 36; s <= 40; s++)
        model_drop(&m, s);
    expect_indexes(st, &m, "after chunked trims");
    ck_assert_uint_eq(count_all(st), n - 40);

    ck_assert_int_eq(er_st_reopen(st), ER_OK);
    if (K->persistent) {
        ck_assert_uint_eq(st->head.first_seq, 41);
        ck_assert_uint_eq(st->head.last_seq, n);
        ck_assert_uint_eq(st->head.events, n - 40);
        expect_indexes(st, &m, "after trims and reopen");
    } else {
        ck_assert_uint_eq(st->head.events, 0);
    }
    model_free(&m);
    end(st);
}
END_TEST

/* -------------------------------------------------------- delete_stream */

/* Make the model agree with the store about which events of `stream`
 * remain; returns how many the store dropped. */
static size_t sync_stream(er_st_t *st, model_t *m, const char *stream)
{
    er_store_filter_t f = {.stream = er_str(stream)};
    er_st_rows_t rows = {0};
    size_t k = 0, dropped = 0;
    uint64_t s;

    ck_assert_int_eq(er_st_query(st, &f, &rows), ER_OK);
    for (s = 1; s <= m->last; s++) {
        er_ev_t *ev = model_get(m, s);
        if (ev == NULL || !str_match(f.stream, er_st_ev_view(ev)->stream))
            continue;
        if (k < rows.n && er_st_ev_seq(rows.evs[k]) == s) {
            k++;
            continue;
        }
        model_drop(m, s);
        dropped++;
    }
    ck_assert_msg(k == rows.n, "stream %s: the store returned events the model lacks", stream);
    er_st_rows_free(&rows);
    return dropped;
}

START_TEST(test_delete_stream)
{
    er_st_t *st = begin(_i);
    size_t n = er_st_scale(350), in_s2 = 0;
    uint64_t deleted, s;
    model_t m = {0};

    if (n < 70)
        n = 70;
    append_mixed(st, &m, 1, n, 64);
    for (s = 1; s <= n; s++)
        in_s2 += s % 7 == 2;

    ck_assert_int_eq(er_st_delete_stream(st, "s:2", 3, &deleted), ER_OK);
    ck_assert_uint_eq(deleted, 3);
    ck_assert_uint_eq(sync_stream(st, &m, "s:2"), 3);
    expect_indexes(st, &m, "after delete_stream(s:2, 3)");
    ck_assert_int_eq(er_st_delete_stream(st, "s:2", 0, &deleted), ER_OK);
    ck_assert_uint_eq(deleted, in_s2 - 3);
    ck_assert_uint_eq(sync_stream(st, &m, "s:2"), in_s2 - 3);
    expect_indexes(st, &m, "after delete_stream(s:2)");
    {
        er_store_filter_t f = {.stream = er_str("s:2")};
        ck_assert_uint_eq(expect_query(st, &m, &f, "deleted stream"), 0);
        f = (er_store_filter_t){.id = er_str("id-2")};
        ck_assert_uint_eq(expect_query(st, &m, &f, "id of a deleted event"), 0);
    }
    ck_assert_int_eq(er_st_delete_stream(st, "s:2", 0, &deleted), ER_OK);
    ck_assert_uint_eq(deleted, 0);
    ck_assert_int_eq(er_st_delete_stream(st, "nope", 0, &deleted), ER_OK);
    ck_assert_uint_eq(deleted, 0);
    ck_assert_int_eq(er_st_delete_stream(st, "s:", 0, &deleted), ER_OK); /* not a prefix match */
    ck_assert_uint_eq(deleted, 0);
    ck_assert_int_eq(er_st_delete_stream(st, "s:5", 2, &deleted), ER_OK);
    ck_assert_uint_eq(deleted, 2);
    ck_assert_uint_eq(sync_stream(st, &m, "s:5"), 2);
    expect_indexes(st, &m, "after delete_stream(s:5, 2)");
    ck_assert_uint_eq(count_all(st), model_count(&m));

    ck_assert_int_eq(er_st_reopen(st), ER_OK);
    if (K->persistent) {
        ck_assert_uint_eq(st->head.events, model_count(&m));
        expect_indexes(st, &m, "after delete_stream and reopen");
    }
    model_free(&m);
    end(st);
}
END_TEST

/* ---------------------------------------------------------- maintenance */

/* check's figures and reports on the store as it stands (a plugin without
 * check is skipped: the member is optional). Returns the problems figure. */
static int64_t expect_check(er_st_t *st, uint64_t events, const char *what)
{
    er_st_report_t r = {0};
    size_t i;
    int64_t problems;

    ck_assert_msg(er_st_check(st, &r) == ER_OK, "%s: check: %s", what, st->errmsg);
    for (i = 0; i < r.n; i++)
        if (r.v[i].kind == ER_STORE_PROBLEM)
            fprintf(stderr, "%s: %s: problem %s (seq %" PRId64 "): %s\n", K->plugin, what,
                    r.v[i].name, r.v[i].value, r.v[i].text);
    problems = er_st_report_figure(&r, "problems");
    ck_assert_msg(er_st_report_figure(&r, "events") == (int64_t)events,
                  "%s: check says %" PRId64 " events, %" PRIu64 " stored", what,
                  er_st_report_figure(&r, "events"), events);
    ck_assert_msg(problems >= 0, "%s: check reported no \"problems\" figure", what);
    ck_assert_int_ge(er_st_report_figure(&r, "index_entries"), 0);
    ck_assert_int_ge(er_st_report_figure(&r, "cursors"), 0);
    ck_assert_int_ge(er_st_report_figure(&r, "dead_letters"), 0);
    ck_assert_int_ge(er_st_report_figure(&r, "notes"), 0);
    ck_assert_uint_eq(er_st_report_count(&r, ER_STORE_PROBLEM, NULL),
                      problems > ER_STORE_CHECK_MAX_REPORTED ? ER_STORE_CHECK_MAX_REPORTED
                                                             : (size_t)problems);
    er_st_report_free(&r);
    return problems;
}

/* A store that appends, trims, deletes a stream and keeps cursors and dead
 * letters (one naming a trimmed event) is consistent: check finds no
 * problem, before and after a reopen. */
START_TEST(test_check)
{
    er_st_t *st = begin(_i);
    size_t n = er_st_scale(400);
    uint64_t done, dlq_id;
    model_t m = {0};
    er_dead_letter_t dl = {
        .seq = 3, .destination = er_str("d1"), .reason = er_str("failed"), .attempts = 1};

    if (st->ops->check == NULL) {
        end(st);
        return;
    }
    if (n < 100)
        n = 100;
    ck_assert_int_eq(expect_check(st, 0, "an empty store"), 0);
    append_mixed(st, &m, 1, n, 64);
    ck_assert_int_eq(er_st_cursor_set(st, "d1", 40), ER_OK);
    ck_assert_int_eq(er_st_dlq_add(st, &dl, &dlq_id), ER_OK);
    ck_assert_int_eq(expect_check(st, model_count(&m), "after appends"), 0);
    ck_assert_int_eq(er_st_trim(st, 11, 0, &done), ER_OK);
    for (uint64_t s = 1; s <= 10; s++)
        model_drop(&m, s);
    ck_assert_int_eq(er_st_delete_stream(st, "s:2", 0, &done), ER_OK);
    sync_stream(st, &m, "s:2");
    ck_assert_int_eq(expect_check(st, model_count(&m), "after trim and delete_stream"), 0);
    ck_assert_int_eq(er_st_reopen(st), ER_OK);
    if (K->persistent)
        ck_assert_int_eq(expect_check(st, model_count(&m), "after reopen"), 0);
    model_free(&m);
    end(st);
}
END_TEST

/* used_bytes (ABI 1.3, optional): what max_bytes bounds grows with appends
 * and has dropped by the time a trim completes. */
START_TEST(test_used_bytes)
{
    er_st_t *st = begin(_i);
    size_t n = er_st_scale(2000);
    uint64_t empty, full, trimmed, after;
    model_t m = {0};

    if (st->ops->used_bytes == NULL) {
        end(st);
        return;
    }
    if (n < 500)
        n = 500;
    ck_assert_int_eq(st->ops->used_bytes(st->instance, &empty), 0);
    append_mixed(st, &m, 1, n, 50);
    ck_assert_int_eq(st->ops->used_bytes(st->instance, &full), 0);
    ck_assert_msg(full > empty, "used_bytes %llu after %zu appends, %llu empty",
                  (unsigned long long)full, n, (unsigned long long)empty);
    ck_assert_int_eq(er_st_trim(st, n + 1, 0, &trimmed), ER_OK);
    ck_assert_uint_eq(trimmed, n);
    ck_assert_int_eq(st->ops->used_bytes(st->instance, &after), 0);
    ck_assert_msg(after < full, "used_bytes %llu after trimming every event, %llu before",
                  (unsigned long long)after, (unsigned long long)full);
    model_free(&m);
    end(st);
}
END_TEST

/* backup and compact are optional; a store without them leaves them NULL,
 * one with them refuses a relative directory at the call. */
START_TEST(test_backup_args)
{
    er_st_t *st = begin(_i);
    uint64_t bytes = 0;

    if (st->ops->backup == NULL)
        ck_assert_int_eq(er_st_backup(st, dir, &bytes), -ENOTSUP);
    else
        ck_assert_int_eq(er_st_backup(st, "relative/dir", &bytes), -EINVAL);
    end(st);
}
END_TEST

/* --------------------------------------------------------- close/reopen */

START_TEST(test_reopen)
{
    er_st_t *st = begin(_i);
    size_t n = er_st_scale(500);
    er_store_filter_t all = {0};
    er_dead_letter_t dl = {.seq = 3,
                           .destination = er_str("handler:x"),
                           .reason = er_str("timeout"),
                           .attempts = 5,
                           .first_failure_us = TIME_BASE,
                           .last_failure_us = TIME_BASE + 5};
    er_st_dlqs_t dlqs = {0};
    uint64_t dlq_id;
    char text[256];
    model_t m = {0};
    er_ev_t *full;

    if (n < 10)
        n = 10;
    append_mixed(st, &m, 1, n, 100);
    full = full_event(n + 1, 0);
    model_put(&m, full);
    ck_assert_int_eq(er_st_append1(st, full), ER_OK);
    ck_assert_int_eq(er_st_reserve(st, n + 100), ER_OK);
    ck_assert_int_eq(er_st_cursor_set(st, "handler:x", n - 3), ER_OK);
    ck_assert_int_eq(er_st_dlq_add(st, &dl, &dlq_id), ER_OK);
    ck_assert_int_eq(er_st_state_set(st, "handler:x", "k", "v", 1), ER_OK);

    ck_assert_int_eq(er_st_reopen(st), ER_OK);
    if (!K->persistent) {
        /* Nothing survives: a new, empty store. */
        ck_assert(st->head.created);
        ck_assert_uint_eq(st->head.events, 0);
        ck_assert_uint_eq(count_all(st), 0);
        model_free(&m);
        end(st);
        return;
    }
    ck_assert(st->head.clean);
    ck_assert(!st->head.created);
    ck_assert_uint_eq(st->head.first_seq, 1);
    ck_assert_uint_eq(st->head.last_seq, n + 1);
    ck_assert_uint_eq(st->head.events, n + 1);
    ck_assert_uint_eq(st->head.reserved, n + 100);
    ck_assert_uint_eq(expect_query(st, &m, &all, "after reopen"), n + 1);
    expect_indexes(st, &m, "after reopen");
    cursors_text(st, text, sizeof(text));
    {
        char want[64];
        snprintf(want, sizeof(want), "handler:x=%zu;", n - 3);
        ck_assert_str_eq(text, want);
    }
    ck_assert_int_eq(er_st_dlq_list(st, NULL, 0, 0, &dlqs), ER_OK);
    ck_assert_uint_eq(dlqs.n, 1);
    ck_assert_uint_eq(dlqs.v[0].dlq_id, dlq_id);
    ck_assert_uint_eq(dlqs.v[0].attempts, 5);
    er_st_dlqs_free(&dlqs);
    expect_state(st, "handler:x", "k", "v", 1);

    /* More, and again: the head follows. */
    append_mixed(st, &m, n + 2, 10, 10);
    ck_assert_int_eq(er_st_reopen(st), ER_OK);
    ck_assert(st->head.clean);
    ck_assert_uint_eq(st->head.last_seq, n + 11);
    ck_assert_uint_eq(st->head.events, n + 11);
    ck_assert_uint_eq(expect_query(st, &m, &all, "after a second reopen"), n + 11);
    model_free(&m);
    end(st);
}
END_TEST

/* ------------------------------------------- concurrent append and read */

#define CONC_CALLS 96
#define CONC_BATCH 10

typedef struct conc_s {
    er_st_t *st;
    model_t *m;
    uint64_t next;
    er_st_call_t calls[CONC_CALLS];
    size_t ncalls;
    size_t every;
} conc_t;

static void conc_append(conc_t *c)
{
    er_ev_t *evs[CONC_BATCH];
    size_t i;

    if (c->ncalls == CONC_CALLS)
        return;
    for (i = 0; i < CONC_BATCH; i++) {
        evs[i] = mixed(c->next++);
        model_put(c->m, evs[i]);
    }
    ck_assert_int_eq(er_st_submit_append(c->st, &c->calls[c->ncalls++], evs, CONC_BATCH),
                     ER_PENDING);
}

/* Rows arrive on the loop: keep appending between them. */
static int conc_row(void *arg, er_ev_t *ev, size_t index)
{
    conc_t *c = arg;

    if (index % c->every == c->every - 1)
        conc_append(c);
    return 0;
}

typedef struct conc_wait_s {
    conc_t *c;
    er_st_call_t *query;
} conc_wait_t;

static bool conc_done(void *arg)
{
    conc_wait_t *w = arg;
    size_t i;

    if (!w->query->done)
        return false;
    for (i = 0; i < w->c->ncalls; i++)
        if (!w->c->calls[i].done)
            return false;
    return true;
}

START_TEST(test_concurrent_append_and_query)
{
    er_st_t *st = begin(_i);
    size_t n = er_st_scale(20000), i;
    conc_t *c = calloc(1, sizeof(*c));
    er_store_filter_t all = {0};
    er_st_rows_t rows = {0};
    er_st_call_t query = {0};
    conc_wait_t w = {c, &query};
    uint64_t prev = 0;
    model_t m = {0};

    ck_assert_ptr_nonnull(c);
    append_mixed(st, &m, 1, n, 500);
    c->st = st;
    c->m = &m;
    c->next = n + 1;
    c->every = n / 40 > 0 ? n / 40 : 1;
    rows.hook = conc_row;
    rows.hook_arg = c;

    /* Appends before the query, the query, appends after it — one turn. */
    for (i = 0; i < 4; i++)
        conc_append(c);
    ck_assert_int_eq(er_st_submit_query(st, &query, &all, &rows), ER_PENDING);
    for (i = 0; i < 4; i++)
        conc_append(c);
    er_st_run_until(st, conc_done, &w, "a query with appends running alongside");
    ck_assert_msg(query.status == ER_OK, "query: %s", query.errmsg);
    for (i = 0; i < c->ncalls; i++)
        ck_assert_msg(c->calls[i].status == ER_OK, "append %zu: %s", i, c->calls[i].errmsg);
    ck_assert_uint_gt(c->ncalls, 8);

    /* A consistent set: ascending, no duplicates, every event stored
     * before the query was submitted, and each row whole. */
    ck_assert_uint_ge(rows.n, n);
    for (i = 0; i < rows.n; i++) {
        uint64_t seq = er_st_ev_seq(rows.evs[i]);
        ck_assert_msg(seq > prev, "row %zu: seq %" PRIu64 " after %" PRIu64, i, seq, prev);
        if (i < n)
            ck_assert_uint_eq(seq, i + 1);
        ck_assert_msg(model_get(&m, seq) != NULL, "row %zu: seq %" PRIu64 " never appended", i,
                      seq);
        er_st_assert_same(rows.evs[i], model_get(&m, seq), "a row read during appends");
        prev = seq;
    }
    er_st_rows_free(&rows);
    /* And afterwards everything is there. */
    ck_assert_uint_eq(expect_query(st, &m, &all, "after the concurrent appends"),
                      n + c->ncalls * CONC_BATCH);
    free(c);
    model_free(&m);
    end(st);
}
END_TEST

/* ---------------------------------------------------------------- full */

/* Append `n` mixed events from *seq as one batch; into the model when the
 * append succeeds. Returns the status. */
static int append_batch(er_st_t *st, model_t *m, uint64_t *seq, size_t n)
{
    er_ev_t **evs = calloc(n, sizeof(*evs));
    size_t k;
    int rc;

    ck_assert_ptr_nonnull(evs);
    for (k = 0; k < n; k++)
        evs[k] = mixed(*seq + k);
    rc = er_st_append(st, evs, n);
    for (k = 0; k < n; k++) {
        if (rc == ER_OK)
            model_put(m, evs[k]);
        else
            er_st_ev_unref(evs[k]);
    }
    if (rc == ER_OK)
        *seq += n;
    free(evs);
    return rc;
}

START_TEST(test_full)
{
    er_store_filter_t all = {0};
    uint64_t seq = 1, trimmed, stored = 0, half;
    model_t m = {0};
    er_st_t *st;
    int rc = ER_OK;

    if (kinds[_i].full_options == NULL)
        return; /* no configuration that fills up quickly */
    st = begin_with(_i, kinds[_i].full_options);
    /* Batches of 10 until the store says it is full. */
    while ((rc = append_batch(st, &m, &seq, 10)) == ER_OK) {
        stored += 10;
        ck_assert_msg(stored <= (K->full_capacity > 0 ? K->full_capacity : 1000000),
                      "%" PRIu64 " events stored and the store is not full", stored);
    }
    ck_assert_msg(rc == ER_FAIL && st->err == -ENOSPC,
                  "a full store completed status %d, errno %d (%s); want ER_FAIL, -ENOSPC", rc,
                  st->err, st->errmsg);
    if (K->full_message != NULL)
        ck_assert_msg(strncmp(st->errmsg, K->full_message, strlen(K->full_message)) == 0,
                      "message \"%s\", want \"%s\"", st->errmsg, K->full_message);
    if (K->full_capacity > 0)
        ck_assert_uint_eq(stored, K->full_capacity);
    ck_assert_uint_gt(stored, 0);
    /* All or none: the refused batch left nothing; what was stored is whole. */
    ck_assert_uint_eq(expect_query(st, &m, &all, "a full store"), stored);
    if (K->full_capacity > 0) { /* at capacity, not one more */
        ck_assert_int_eq(append_batch(st, &m, &seq, 1), ER_FAIL);
        ck_assert_int_eq(st->err, -ENOSPC);
    }
    if (K->persistent) {
        ck_assert_int_eq(er_st_reopen(st), ER_OK);
        ck_assert_uint_eq(st->head.events, stored);
        ck_assert_uint_eq(expect_query(st, &m, &all, "a full store reopened"), stored);
    }

    /* Trimming makes room again; a batch larger than the room still fails
     * whole. */
    half = stored / 2;
    ck_assert_int_eq(er_st_trim(st, half + 1, 0, &trimmed), ER_OK);
    ck_assert_uint_eq(trimmed, half);
    for (seq = 1; seq <= half; seq++)
        model_drop(&m, seq);
    seq = m.last + 1;
    if (K->full_capacity > 0) {
        ck_assert_int_eq(append_batch(st, &m, &seq, (size_t)(half + 10)), ER_FAIL);
        ck_assert_int_eq(st->err, -ENOSPC);
    }
    ck_assert_msg(append_batch(st, &m, &seq, 10) == ER_OK,
                  "append after trimming half of a full store: %s", st->errmsg);
    ck_assert_uint_eq(expect_query(st, &m, &all, "a full store after a trim"), stored - half + 10);
    model_free(&m);
    end(st);
}
END_TEST

/* ---------------------------------------------------------------- main */

static bool selected(const char *plugin)
{
    const char *only = getenv("ER_STORE_PLUGINS"), *p;
    size_t n = strlen(plugin);

    if (only == NULL || *only == '\0')
        return true;
    for (p = only; p != NULL; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (strncmp(p, plugin, n) == 0 && (p[n] == ',' || p[n] == '\0'))
            return true;
    return false;
}

static Suite *suite(void)
{
    Suite *s = suite_create("store_conformance");
    int i;

    for (i = 0; i < (int)NKINDS; i++) {
        TCase *tc;
        if (!selected(kinds[i].plugin)) {
            fprintf(stderr, "store conformance: %s not selected ($ER_STORE_PLUGINS)\n",
                    kinds[i].plugin);
            continue;
        }
        tc = tcase_create(kinds[i].plugin);
        tcase_set_timeout(tc, 900);
        tcase_add_loop_test(tc, test_open_new, i, i + 1);
        tcase_add_loop_test(tc, test_durability, i, i + 1);
        tcase_add_loop_test(tc, test_unknown_option, i, i + 1);
        tcase_add_loop_test(tc, test_roundtrip_fields, i, i + 1);
        tcase_add_loop_test(tc, test_append_batch_and_single, i, i + 1);
        tcase_add_loop_test(tc, test_query_filters, i, i + 1);
        tcase_add_loop_test(tc, test_completion_order, i, i + 1);
        tcase_add_loop_test(tc, test_stop_completes_queued, i, i + 1);
        tcase_add_loop_test(tc, test_reserve, i, i + 1);
        tcase_add_loop_test(tc, test_cursors, i, i + 1);
        tcase_add_loop_test(tc, test_dead_letters, i, i + 1);
        tcase_add_loop_test(tc, test_state, i, i + 1);
        tcase_add_loop_test(tc, test_trim, i, i + 1);
        tcase_add_loop_test(tc, test_delete_stream, i, i + 1);
        tcase_add_loop_test(tc, test_reopen, i, i + 1);
        tcase_add_loop_test(tc, test_check, i, i + 1);
        tcase_add_loop_test(tc, test_used_bytes, i, i + 1);
        tcase_add_loop_test(tc, test_backup_args, i, i + 1);
        tcase_add_loop_test(tc, test_concurrent_append_and_query, i, i + 1);
        tcase_add_loop_test(tc, test_full, i, i + 1);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    SRunner *sr;
    int failed;

    snprintf(root, sizeof(root), "%s/er-store-conformance.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(root) == NULL) {
        fprintf(stderr, "mkdtemp %s: %s\n", root, strerror(errno));
        return EXIT_FAILURE;
    }
    sr = srunner_create(suite());
    srunner_run_all(sr, CK_ENV);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    er_st_rmtree(root);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
