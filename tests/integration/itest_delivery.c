/*
 * Delivery across pauses, crashes and restarts (DESIGN §6, dispatch.h),
 * through the real daemon, its lmdb store and the shipped `log` handler,
 * whose file is the record of what was delivered: one JSON line per event,
 * written with one write(2) before the delivery completes OK.
 *
 *   - A destination paused while N events are published, with a fresh
 *     cache far smaller than they are, catches up from the store after
 *     `resume`: exactly seqs 1..N, once each, in order; meanwhile another
 *     destination got all of them live, none from the store.
 *   - SIGKILL while a destination catches up at full speed: its cursor P
 *     as persisted is read back through the lmdb plugin before the
 *     restart; after it every stored event was delivered at least once,
 *     nothing up to P twice, and the duplicates are only the seqs after P
 *     that were delivered before the kill — a few, not a tenth of N.
 *   - A clean stop (SIGTERM) while paused, and again in the middle of a
 *     catch-up: the destination resumes where it was, exactly once.
 *
 * Under valgrind ($ER_TEST_SCALE) the counts shrink and the events grow,
 * so that a held-back destination still reads the store.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "eventrouter.h"
#include "harness.h"
#include "itest_admin.h"
#include "storetest.h"

#define BATCH  64 /* events per PUBLISH_BATCH */
#define WINDOW 16 /* requests in flight */

/* Every test: `slow`, the destination held back, and `live`, both log
 * handlers getting every event; the smallest fresh cache (1 MiB), which
 * the events published while `slow` is held back exceed several times. */
static const char CONFIG[] = "limits: { fresh_cache: 1MiB }\n"
                             "handlers:\n"
                             "  slow: { plugin: log, path: @DIR@/slow.jsonl }\n"
                             "  live: { plugin: log, path: @DIR@/live.jsonl }\n"
                             "routes:\n"
                             "  - match: \"*\"\n"
                             "    to: [slow, live]\n";

/* Between two looks at a growing file: longer under valgrind, where the
 * test itself runs on the daemon's cores. */
static void poll_pause(void)
{
    er_itest_sleep_ms(er_itest_slowed() ? 10 : 1);
}

/* -------------------------------------------------------------- publish */

typedef struct pub_s {
    size_t acked;
    uint64_t first, last; /* lowest and highest seq acknowledged */
    size_t nacks;
    char nack[300];
} pub_t;

static void on_ack(er_client_t *c, uint32_t req, const er_ack_t *ack, void *ud)
{
    pub_t *p = ud;

    (void)c;
    (void)req;
    ck_assert_uint_eq(ack->ndups, 0);
    ck_assert_uint_gt(ack->count, 0);
    if (p->first == 0 || ack->seq < p->first)
        p->first = ack->seq;
    if (ack->seq + ack->count - 1 > p->last)
        p->last = ack->seq + ack->count - 1;
    p->acked += ack->count;
}

static void on_nack(er_client_t *c, uint32_t req, const er_nack_t *nack, void *ud)
{
    pub_t *p = ud;

    (void)c;
    (void)req;
    p->nacks++;
    snprintf(p->nack, sizeof(p->nack), "%s: %s", nack->code, nack->message);
}

static const er_client_cbs_t pub_cbs = {.on_ack = on_ack, .on_nack = on_nack};

/*
 * Publish n events (durable acks, pipelined batches), each with `pad`
 * bytes of payload; nothing else publishes meanwhile, so they get
 * consecutive seqs. Returns the last one.
 */
static uint64_t publish_n(const er_test_daemon_t *d, size_t n, size_t pad)
{
    pub_t p;
    er_client_t *c = er_client_new(&pub_cbs, &p);
    er_event_t evs[BATCH];
    er_error_t err;
    char *data = malloc(pad + 16);
    size_t sent = 0, i, k;
    uint32_t req;
    double deadline = er_itest_now_s() + er_itest_patience();
    int rc;

    ck_assert(c != NULL && data != NULL);
    memset(&p, 0, sizeof(p));
    memcpy(data, "{\"pad\":\"", 8);
    memset(data + 8, 'x', pad);
    memcpy(data + 8 + pad, "\"}", 3);
    for (i = 0; i < BATCH; i++) {
        memset(&evs[i], 0, sizeof(evs[i]));
        evs[i].type = er_str("Delivered");
        evs[i].content_type = er_str("application/json");
        evs[i].data = er_str(data);
    }
    ck_assert_int_eq(er_client_connect(c, d->sock, "itest_delivery", ER_ACK_DURABLE), 0);
    while (p.acked < n) {
        while (sent < n && er_client_inflight(c) < WINDOW) {
            k = n - sent < BATCH ? n - sent : BATCH;
            rc = er_client_publish_batch_async(c, evs, k, &req, &err);
            ck_assert_msg(rc == 0, "publish: %d", rc);
            sent += k;
        }
        rc = er_client_wait(c, 1000);
        ck_assert_msg(rc == 0, "publishing: connection failed (%d)", rc);
        ck_assert_msg(p.nacks == 0, "publish refused: %s", p.nack);
        ck_assert_msg(er_itest_now_s() < deadline, "publishing: %zu of %zu acked in %d s", p.acked,
                      n, er_itest_patience());
    }
    ck_assert_uint_eq(p.acked, n);
    ck_assert_uint_eq(p.last - p.first + 1, n);
    er_client_free(c);
    free(data);
    return p.last;
}

/* Payload bytes for n events: together three times the fresh cache,
 * however few they are (but no more: under valgrind every byte the log
 * handler writes costs). */
static size_t pad_for(size_t n)
{
    size_t pad = ((size_t)3 << 20) / n;

    return pad < 16 ? 16 : pad > 4096 ? 4096 : pad;
}

/* ---------------------------------------------------------------- admin */

static long long dest_num(const er_test_daemon_t *d, const char *name, const char *key)
{
    json_t *o = er_itest_dest(d, name);
    long long v = er_itest_num(o, key);

    json_decref(o);
    return v;
}

/* pause or resume name, and check the state the reply names (want_state,
 * unless NULL). */
static void set_paused(const er_test_daemon_t *d, const char *name, bool pause,
                       const char *want_state)
{
    char args[200];
    json_t *r;

    snprintf(args, sizeof(args), "{\"destination\": \"%s\"}", name);
    r = er_itest_admin(d, pause ? "pause" : "resume", args);
    ck_assert_str_eq(json_string_value(json_object_get(r, "destination")), name);
    if (want_state != NULL)
        ck_assert_str_eq(json_string_value(json_object_get(r, "state")), want_state);
    json_decref(r);
}

/* ------------------------------------------------------------ log files */

/* Assert seqs[0..n) is exactly from..to, once each, in increasing order. */
static void expect_range(const uint64_t *seqs, size_t n, uint64_t from, uint64_t to,
                         const char *what)
{
    size_t i;

    for (i = 0; i < n && from + i <= to; i++)
        ck_assert_msg(seqs[i] == from + i, "%s: line %zu is seq %llu, expected %llu", what, i + 1,
                      (unsigned long long)seqs[i], (unsigned long long)(from + i));
    ck_assert_msg(n == to - from + 1, "%s: %zu lines, expected seqs %llu..%llu (%llu)", what, n,
                  (unsigned long long)from, (unsigned long long)to,
                  (unsigned long long)(to - from + 1));
}

static void expect_file(const er_test_daemon_t *d, const char *file, uint64_t from, uint64_t to)
{
    char path[400];
    size_t n;
    uint64_t *seqs;

    er_itest_path(path, sizeof(path), d, file);
    seqs = er_itest_read_seqs(path, &n);
    expect_range(seqs, n, from, to, file);
    free(seqs);
}

/* Lines in a file so far, counted incrementally (for polling a file that
 * grows by whole lines). */
typedef struct lines_s {
    char path[400];
    long off;
    size_t n;
} lines_t;

static size_t lines_now(lines_t *l)
{
    char buf[65536];
    size_t got, i;
    FILE *f = fopen(l->path, "r");

    if (f == NULL)
        return l->n;
    fseek(f, l->off, SEEK_SET);
    while ((got = fread(buf, 1, sizeof(buf), f)) > 0) {
        for (i = 0; i < got; i++)
            l->n += buf[i] == '\n';
        l->off += (long)got;
    }
    fclose(f);
    return l->n;
}

/* ---------------------------------------------------------------- store */

/*
 * Read a stopped daemon's store through the lmdb plugin: `name`'s cursor
 * (-1 when it has none) and, with seqs, every stored seq in order
 * (malloc'd, *nseqs of them); *clean says whether the daemon stopped
 * cleanly. A copy is read: opening and stopping the store records a clean
 * stop, which must not hide a crash from the next daemon.
 */
static long long read_store(const er_test_daemon_t *d, const char *name, uint64_t **seqs,
                            size_t *nseqs, bool *clean)
{
    char cmd[1200], yaml[500];
    er_st_t *st;
    er_st_cursors_t cur;
    long long cursor = -1;
    size_t i, cap = 0;

    snprintf(cmd, sizeof(cmd), "rm -rf '%s/store-copy' && cp -a '%s/store' '%s/store-copy'", d->dir,
             d->dir, d->dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(yaml, sizeof(yaml), "path: %s/store-copy\nmap_size: 4GiB\n", d->dir);
    st = er_st_new("lmdb", yaml);
    ck_assert_int_eq(er_st_open(st), ER_OK);
    *clean = st->head.clean;
    memset(&cur, 0, sizeof(cur));
    ck_assert_int_eq(er_st_cursor_list(st, &cur), ER_OK);
    for (i = 0; i < cur.n; i++)
        if (strcmp(cur.names[i], name) == 0)
            cursor = (long long)cur.seqs[i];
    er_st_cursors_free(&cur);
    if (seqs != NULL) {
        uint64_t from = 1;
        *seqs = NULL;
        *nseqs = 0;
        /* In pages, not to hold every event at once. */
        for (;;) {
            er_store_filter_t f;
            er_st_rows_t rows;
            memset(&f, 0, sizeof(f));
            f.size = sizeof(f);
            f.from_seq = from;
            f.limit = 10000;
            memset(&rows, 0, sizeof(rows));
            ck_assert_int_eq(er_st_query(st, &f, &rows), ER_OK);
            for (i = 0; i < rows.n; i++) {
                if (*nseqs == cap) {
                    cap = cap ? cap * 2 : 4096;
                    *seqs = realloc(*seqs, cap * sizeof(**seqs));
                    ck_assert_ptr_nonnull(*seqs);
                }
                (*seqs)[(*nseqs)++] = er_st_ev_seq(rows.evs[i]);
            }
            if (rows.n > 0)
                from = er_st_ev_seq(rows.evs[rows.n - 1]) + 1;
            er_st_rows_free(&rows);
            if (i < 10000)
                break;
        }
    }
    er_st_free(st);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/store-copy'", d->dir);
    ck_assert_int_eq(system(cmd), 0);
    return cursor;
}

/* ---------------------------------------------------------------- tests */

static void took(const char *test, double started)
{
    fprintf(stderr, "itest_delivery: %s took %.1f s\n", test, er_itest_now_s() - started);
}

START_TEST(paused_destination_catches_up_from_store)
{
    double started = er_itest_now_s();
    er_test_daemon_t d;
    size_t n = er_test_scale(100000);
    uint64_t last, head;
    json_t *o;
    double t0;

    ck_assert_int_eq(er_test_daemon_start(&d, CONFIG), 0);
    set_paused(&d, "slow", true, "paused");
    last = publish_n(&d, n, pad_for(n));
    ck_assert_uint_eq(last, n);

    /* Meanwhile `live` got every event, from memory; `slow` nothing. */
    ck_assert_uint_eq(er_itest_wait_caught_up(&d, "live"), n);
    expect_file(&d, "live.jsonl", 1, n);
    expect_file(&d, "slow.jsonl", 1, 0);
    o = er_itest_dest(&d, "slow");
    ck_assert_str_eq(json_string_value(json_object_get(o, "state")), "paused");
    ck_assert_int_eq(er_itest_num(o, "cursor"), 0);
    ck_assert_int_eq(er_itest_num(o, "lag_events"), (long long)n);
    ck_assert_int_eq(er_itest_num(o, "delivered"), 0);
    json_decref(o);

    t0 = er_itest_now_s();
    set_paused(&d, "slow", false, "catching_up");
    head = er_itest_wait_caught_up(&d, "slow");
    fprintf(stderr, "itest_delivery: %zu events caught up from the store in %.2f s\n", n,
            er_itest_now_s() - t0);
    ck_assert_uint_eq(head, n);
    expect_file(&d, "slow.jsonl", 1, n);
    o = er_itest_dest(&d, "slow");
    ck_assert_int_eq(er_itest_num(o, "delivered"), (long long)n);
    ck_assert_int_gt(er_itest_num(o, "read_from_store"), 0);
    ck_assert_int_le(er_itest_num(o, "read_from_store"), (long long)n);
    ck_assert_int_eq(er_itest_num(o, "persisted"), (long long)n);
    json_decref(o);
    o = er_itest_dest(&d, "live");
    ck_assert_int_eq(er_itest_num(o, "delivered"), (long long)n);
    ck_assert_int_eq(er_itest_num(o, "read_from_store"), 0);
    json_decref(o);
    expect_file(&d, "live.jsonl", 1, n);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, er_itest_patience()), 0);
    er_test_daemon_cleanup(&d);
    took("paused_destination_catches_up_from_store", started);
}
END_TEST

/* The fewest events for the crash test, also under valgrind: a catch-up
 * delivers the store's rows in bursts of up to 512, and its cursor is
 * written between bursts, one write in flight, so a kill may redeliver up
 * to about two bursts; that must stay under a tenth of the events. */
#define CRASH_MIN_EVENTS 15000

START_TEST(sigkill_during_catch_up)
{
    double started = er_itest_now_s();
    er_test_daemon_t d;
    size_t n = er_test_scale(100000), k, nlog, nstored, i, dups = 0, after_kill;
    uint64_t *before = NULL, *all = NULL, *stored = NULL, last_before = 0;
    unsigned *times;
    long long p;
    bool clean = true;
    lines_t lines;
    double t0, at;

    if (n < CRASH_MIN_EVENTS)
        n = CRASH_MIN_EVENTS;
    ck_assert_int_eq(er_test_daemon_start(&d, CONFIG), 0);
    set_paused(&d, "slow", true, "paused");
    ck_assert_uint_eq(publish_n(&d, n, pad_for(n)), n);
    ck_assert_uint_eq(er_itest_wait_caught_up(&d, "live"), n);

    /* Resume, and kill the daemon in the middle of the catch-up: after
     * 0.3 s once at least a fifth is delivered, at half at the latest. */
    memset(&lines, 0, sizeof(lines));
    er_itest_path(lines.path, sizeof(lines.path), &d, "slow.jsonl");
    set_paused(&d, "slow", false, "catching_up");
    t0 = er_itest_now_s();
    for (;;) {
        size_t got = lines_now(&lines);
        if ((er_itest_now_s() - t0 >= 0.3 && got >= n / 5) || got >= n / 2)
            break;
        ck_assert_msg(er_itest_now_s() - t0 < er_itest_patience(), "catch-up stuck at %zu of %zu",
                      got, n);
        poll_pause();
    }
    at = er_itest_now_s() - t0;
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGKILL, 30), 128 + SIGKILL);

    /* What was delivered before the kill, and the cursor as persisted. */
    before = er_itest_read_seqs(lines.path, &k);
    ck_assert_msg(k < n, "caught up before the kill (%zu events): nothing tested", k);
    for (i = 0; i < k; i++) {
        ck_assert_msg(i == 0 || before[i] > before[i - 1], "seq %llu delivered after %llu",
                      (unsigned long long)before[i], (unsigned long long)before[i - 1]);
        last_before = before[i];
    }
    p = read_store(&d, "slow", &stored, &nstored, &clean);
    ck_assert_msg(!clean, "the store recorded a clean stop after SIGKILL");
    ck_assert_msg(p >= 0, "slow has no cursor in the store");
    ck_assert_uint_eq(nstored, n);
    fprintf(
        stderr,
        "itest_delivery: killed %.2f s into the catch-up: %zu of %zu delivered (last seq %llu), "
        "persisted cursor %lld\n",
        at, k, n, (unsigned long long)last_before, p);
    ck_assert_msg((uint64_t)p <= last_before, "cursor %lld ahead of the last delivery %llu", p,
                  (unsigned long long)last_before);

    /* Restart: the destination resumes after P and catches up. */
    ck_assert_int_eq(er_test_daemon_restart(&d), 0);
    er_itest_wait_caught_up(&d, "slow");
    all = er_itest_read_seqs(lines.path, &nlog);
    ck_assert_uint_ge(nlog, k);
    after_kill = nlog - k;
    /* The first daemon's lines are still the first k. */
    for (i = 0; i < k; i++)
        ck_assert_uint_eq(all[i], before[i]);
    /* The second delivered exactly P+1..N, in order. */
    expect_range(all + k, after_kill, (uint64_t)p + 1, n, "slow.jsonl after the restart");

    /* Counted per seq: every stored event at least once, nothing up to P
     * twice, every duplicate in (P, last delivered before the kill]. */
    times = calloc(n + 1, sizeof(*times));
    ck_assert_ptr_nonnull(times);
    for (i = 0; i < nlog; i++) {
        ck_assert_msg(all[i] >= 1 && all[i] <= n, "seq %llu was never stored",
                      (unsigned long long)all[i]);
        times[all[i]]++;
    }
    for (i = 0; i < nstored; i++)
        ck_assert_msg(times[stored[i]] >= 1, "stored seq %llu never delivered",
                      (unsigned long long)stored[i]);
    for (i = 1; i <= n; i++) {
        ck_assert_msg(times[i] <= 2, "seq %zu delivered %u times", i, times[i]);
        if (times[i] == 2) {
            ck_assert_msg(i > (size_t)p && i <= last_before,
                          "seq %zu delivered twice, outside (%lld, %llu]", i, p,
                          (unsigned long long)last_before);
            dups++;
        }
    }
    ck_assert_uint_eq(dups, last_before - (uint64_t)p);
    fprintf(stderr, "itest_delivery: %zu duplicates after a SIGKILL (N = %zu)\n", dups, n);
    ck_assert_msg(dups <= n / 10, "%zu duplicates: more than a tenth of %zu", dups, n);

    expect_file(&d, "live.jsonl", 1, n);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, er_itest_patience()), 0);
    free(times);
    free(before);
    free(all);
    free(stored);
    er_test_daemon_cleanup(&d);
    took("sigkill_during_catch_up", started);
}
END_TEST

START_TEST(clean_restart_while_behind)
{
    double started = er_itest_now_s();
    er_test_daemon_t d;
    size_t n1 = er_test_scale(2000), n2 = er_test_scale(10000), n3 = er_test_scale(20000), got;
    uint64_t total;
    bool clean = false;
    lines_t lines;
    double t0;

    /* Enough to be stopped in the middle of, also under valgrind (a
     * catch-up delivers in bursts of up to 512). */
    if (n3 < 2000)
        n3 = 2000;
    /* Paused with a lag at the stop: the cursor written then is where
     * the next daemon resumes. */
    ck_assert_int_eq(er_test_daemon_start(&d, CONFIG), 0);
    ck_assert_uint_eq(publish_n(&d, n1, 16), n1);
    ck_assert_uint_eq(er_itest_wait_caught_up(&d, "slow"), n1);
    set_paused(&d, "slow", true, "paused");
    total = publish_n(&d, n2, pad_for(n2));
    ck_assert_uint_eq(total, n1 + n2);
    ck_assert_uint_eq(er_itest_wait_caught_up(&d, "live"), total);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, er_itest_patience()), 0);
    ck_assert_int_eq(read_store(&d, "slow", NULL, NULL, &clean), (long long)n1);
    ck_assert(clean);
    ck_assert_int_eq(read_store(&d, "live", NULL, NULL, &clean), (long long)total);
    ck_assert_int_eq(er_test_daemon_restart(&d), 0);
    ck_assert_uint_eq(er_itest_wait_caught_up(&d, "slow"), total);
    expect_file(&d, "slow.jsonl", 1, total);
    expect_file(&d, "live.jsonl", 1, total);
    ck_assert_int_eq(dest_num(&d, "slow", "delivered"), (long long)n2);

    /* Stopped in the middle of a catch-up: the same. */
    set_paused(&d, "slow", true, "paused");
    total = publish_n(&d, n3, pad_for(n3));
    ck_assert_uint_eq(total, n1 + n2 + n3);
    memset(&lines, 0, sizeof(lines));
    er_itest_path(lines.path, sizeof(lines.path), &d, "slow.jsonl");
    set_paused(&d, "slow", false, "catching_up");
    t0 = er_itest_now_s();
    while ((got = lines_now(&lines)) < n1 + n2 + n3 / 10) {
        ck_assert_msg(er_itest_now_s() - t0 < er_itest_patience(), "catch-up stuck at %zu", got);
        poll_pause();
    }
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, er_itest_patience()), 0);
    got = lines_now(&lines);
    fprintf(stderr, "itest_delivery: stopped cleanly with %zu of %zu events of the catch-up done\n",
            got - n1 - n2, n3);
    ck_assert_msg(got < total, "caught up before the stop: nothing tested");
    ck_assert_int_eq(read_store(&d, "slow", NULL, NULL, &clean), (long long)got);
    ck_assert(clean);
    ck_assert_int_eq(er_test_daemon_restart(&d), 0);
    ck_assert_uint_eq(er_itest_wait_caught_up(&d, "slow"), total);
    expect_file(&d, "slow.jsonl", 1, total);
    expect_file(&d, "live.jsonl", 1, total);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, er_itest_patience()), 0);
    er_test_daemon_cleanup(&d);
    took("clean_restart_while_behind", started);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("itest_delivery");
    TCase *tc = tcase_create("delivery");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, paused_destination_catches_up_from_store);
    tcase_add_test(tc, sigkill_during_catch_up);
    tcase_add_test(tc, clean_restart_while_behind);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
