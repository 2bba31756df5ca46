/*
 * The crash test (DESIGN §6): a publisher in durable mode at full speed,
 * pipelining batches with ids of its own and resending whatever was not
 * acknowledged after each reconnect, while the daemon (lmdb store, sync
 * batch) is SIGKILLed at random moments and restarted, ten times. Then,
 * with the daemon stopped, the store is read through the store plugin
 * itself (the store test harness) and:
 *   - every acknowledged event is there exactly once (by id), under the
 *     seq its ACK gave;
 *   - no id is stored twice (resends were answered as duplicates);
 *   - seqs only increase (no seq names two events), and the gaps are at
 *     most one per crash.
 * The random seed is printed, and can be set with ER_CRASH_SEED.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eventrouter.h"
#include "harness.h"
#include "storetest.h"

#define CRASHES 10
#define BATCH   32
#define WINDOW  8 /* requests in flight */

typedef struct pub_s {
    size_t total;    /* events (ids 0..total-1) */
    uint64_t *acked; /* seq acknowledged per id, 0: not yet */
    size_t next_new; /* the next id never sent */
    size_t *resend;  /* ids to send again (stack) */
    size_t nresend;
    struct {
        uint32_t req;
        size_t ids[BATCH];
        size_t n;
        bool used;
    } inflight[WINDOW * 4];
    size_t nacked, ndup_answers, nacks;
    uint64_t max_seq_acked;
} pub_t;

static void id_text(size_t id, char out[24])
{
    snprintf(out, 24, "crash-%zu", id);
}

static void slot_done(pub_t *p, uint32_t req, const er_ack_t *ack)
{
    size_t s, i, k = 0, d = 0;

    for (s = 0; s < sizeof(p->inflight) / sizeof(p->inflight[0]); s++)
        if (p->inflight[s].used && p->inflight[s].req == req)
            break;
    ck_assert_msg(s < sizeof(p->inflight) / sizeof(p->inflight[0]), "answer to unknown req %u",
                  req);
    for (i = 0; i < p->inflight[s].n; i++) {
        size_t id = p->inflight[s].ids[i];
        if (ack == NULL) {
            p->resend[p->nresend++] = id;
            continue;
        }
        if (d < ack->ndups && ack->dups[d].index == i) {
            uint64_t seq = ack->dups[d++].seq;
            /* A resend after a crash: it must name the seq we were told, if
             * we were told one. */
            ck_assert_msg(p->acked[id] == 0 || p->acked[id] == seq,
                          "id %zu acked as %llu, later a duplicate of %llu", id,
                          (unsigned long long)p->acked[id], (unsigned long long)seq);
            if (p->acked[id] == 0)
                p->nacked++;
            p->acked[id] = seq;
            p->ndup_answers++;
        } else {
            uint64_t seq = ack->seq + k++;
            ck_assert_msg(p->acked[id] == 0, "id %zu stored twice: seqs %llu and %llu", id,
                          (unsigned long long)p->acked[id], (unsigned long long)seq);
            p->acked[id] = seq;
            p->nacked++;
        }
        if (p->acked[id] > p->max_seq_acked)
            p->max_seq_acked = p->acked[id];
    }
    if (ack != NULL)
        ck_assert_uint_eq(k, ack->count);
    p->inflight[s].used = false;
}

static void on_ack(er_client_t *c, uint32_t req, const er_ack_t *ack, void *ud)
{
    (void)c;
    slot_done(ud, req, ack);
}

static void on_nack(er_client_t *c, uint32_t req, const er_nack_t *nack, void *ud)
{
    pub_t *p = ud;

    (void)c;
    p->nacks++;
    slot_done(p, req, NULL); /* resend (e.g. shutting_down, unavailable) */
    (void)nack;
}

static const er_client_cbs_t cbs = {.on_ack = on_ack, .on_nack = on_nack};

/* Everything in flight on a connection that died: send it again. */
static void requeue_inflight(pub_t *p)
{
    size_t s;

    for (s = 0; s < sizeof(p->inflight) / sizeof(p->inflight[0]); s++)
        if (p->inflight[s].used)
            slot_done(p, p->inflight[s].req, NULL);
}

/* Fill the window: resends first, then new ids. Returns -1 when the
 * connection failed. */
static int fill(pub_t *p, er_client_t *c)
{
    er_event_t evs[BATCH];
    char ids[BATCH][24];
    size_t s, n, i;

    while (er_client_inflight(c) < WINDOW && (p->nresend > 0 || p->next_new < p->total)) {
        for (s = 0; p->inflight[s].used; s++)
            ;
        for (n = 0; n < BATCH && (p->nresend > 0 || p->next_new < p->total); n++)
            p->inflight[s].ids[n] = p->nresend > 0 ? p->resend[--p->nresend] : p->next_new++;
        for (i = 0; i < n; i++) {
            id_text(p->inflight[s].ids[i], ids[i]);
            memset(&evs[i], 0, sizeof(evs[i]));
            evs[i].type = er_str("CrashTested");
            evs[i].stream = er_str("crash");
            evs[i].id = er_str(ids[i]);
            evs[i].data = er_str("{\"payload\":\"0123456789abcdef0123456789abcdef\"}");
        }
        p->inflight[s].n = n;
        p->inflight[s].used = true;
        if (er_client_publish_batch_async(c, evs, n, &p->inflight[s].req, NULL) != 0) {
            p->inflight[s].used = false;
            for (i = 0; i < n; i++)
                p->resend[p->nresend++] = p->inflight[s].ids[i];
            return -1;
        }
    }
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Publish until `deadline` (ms) or until everything is acked. */
static void publish_until(pub_t *p, er_test_daemon_t *d, uint64_t deadline)
{
    er_client_t *c = er_client_new(&cbs, p);
    int rc;

    ck_assert_ptr_nonnull(c);
    if (er_client_connect(c, d->sock, "itest_crash", ER_ACK_DURABLE) != 0)
        goto out;
    while (now_ms() < deadline && (p->nacked < p->total)) {
        if (fill(p, c) != 0)
            break;
        rc = er_client_wait(c, 50);
        if (rc != 0)
            break;
    }
out:
    er_client_free(c);
    requeue_inflight(p);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

START_TEST(crash_and_restart)
{
    er_test_daemon_t d;
    pub_t p;
    unsigned seed;
    const char *env = getenv("ER_CRASH_SEED");
    char yaml[400];
    er_st_t *st;
    er_st_rows_t rows;
    er_store_filter_t f;
    size_t crash, i, gaps = 0, *seen;
    uint64_t prev = 0, *acked_seqs;
    int status;

    seed =
        env != NULL ? (unsigned)strtoul(env, NULL, 10) : (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);
    fprintf(stderr, "itest_crash: seed %u (set ER_CRASH_SEED to repeat)\n", seed);
    memset(&p, 0, sizeof(p));
    p.total = er_test_scale(200000);
    p.acked = calloc(p.total, sizeof(*p.acked));
    p.resend = calloc(p.total, sizeof(*p.resend));
    ck_assert(p.acked != NULL && p.resend != NULL);

    ck_assert_int_eq(er_test_daemon_start(&d, NULL), 0);
    for (crash = 0; crash < CRASHES; crash++) {
        /* A random moment: 20..300 ms of publishing (longer when slowed by
         * valgrind, so that each run gets work done). */
        uint64_t ms = 20 + (uint64_t)(rand() % 280);
        if (getenv("ER_TEST_WRAPPER") != NULL && getenv("ER_TEST_WRAPPER")[0])
            ms *= 10;
        publish_until(&p, &d, now_ms() + ms);
        status = er_test_daemon_stop(&d, SIGKILL, 30);
        ck_assert_int_eq(status, 128 + SIGKILL);
        ck_assert_int_eq(er_test_daemon_restart(&d), 0);
    }
    /* Finish: everything acknowledged. */
    while (p.nacked < p.total)
        publish_until(&p, &d, now_ms() + 60000);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 60), 0);
    fprintf(stderr,
            "itest_crash: %zu events acked across %d crashes, %zu answered as duplicates of a "
            "resend, %zu NACKs\n",
            p.nacked, CRASHES, p.ndup_answers, p.nacks);

    /* Read the store through the plugin, the daemon stopped. */
    snprintf(yaml, sizeof(yaml), "path: %s/store\nmap_size: 4GiB\n", d.dir);
    st = er_st_new("lmdb", yaml);
    ck_assert_int_eq(er_st_open(st), ER_OK);
    ck_assert(st->head.clean);
    memset(&f, 0, sizeof(f));
    f.size = sizeof(f);
    memset(&rows, 0, sizeof(rows));
    ck_assert_int_eq(er_st_query(st, &f, &rows), ER_OK);
    ck_assert_uint_eq(rows.n, p.total); /* no id twice, none missing */
    seen = calloc(p.total, sizeof(*seen));
    acked_seqs = calloc(p.total, sizeof(*acked_seqs));
    ck_assert(seen != NULL && acked_seqs != NULL);
    for (i = 0; i < rows.n; i++) {
        const er_event_t *v = er_st_ev_view(rows.evs[i]);
        size_t id;
        char text[80];
        ck_assert_msg(v->seq > prev, "seq %llu after %llu", (unsigned long long)v->seq,
                      (unsigned long long)prev);
        if (prev != 0 && v->seq != prev + 1)
            gaps++;
        prev = v->seq;
        snprintf(text, sizeof(text), "%.*s", (int)v->id.len, v->id.ptr);
        ck_assert_msg(sscanf(text, "crash-%zu", &id) == 1 && id < p.total, "foreign id %s", text);
        ck_assert_msg(seen[id]++ == 0, "id %s stored twice", text);
        ck_assert_msg(p.acked[id] == v->seq, "id %s acked as seq %llu, stored as %llu", text,
                      (unsigned long long)p.acked[id], (unsigned long long)v->seq);
    }
    for (i = 0; i < p.total; i++)
        acked_seqs[i] = p.acked[i];
    qsort(acked_seqs, p.total, sizeof(*acked_seqs), cmp_u64);
    for (i = 1; i < p.total; i++)
        ck_assert_msg(acked_seqs[i] != acked_seqs[i - 1], "seq %llu acked for two ids",
                      (unsigned long long)acked_seqs[i]);
    fprintf(stderr, "itest_crash: %zu events stored, seqs %llu..%llu, %zu gaps\n", rows.n,
            (unsigned long long)er_st_ev_view(rows.evs[0])->seq, (unsigned long long)prev, gaps);
    ck_assert_uint_le(gaps, CRASHES);
    er_st_rows_free(&rows);
    er_st_free(st);
    free(seen);
    free(acked_seqs);
    free(p.acked);
    free(p.resend);
    er_test_daemon_cleanup(&d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("itest_crash");
    TCase *tc = tcase_create("crash");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 900);
    tcase_add_test(tc, crash_and_restart);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
