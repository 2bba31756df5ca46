/*
 * The store behind the real daemon: WELCOME's durable flag per store,
 * durable acks, the sequence across clean restarts (no gap) and crashes
 * (a gap, never a reused seq), de-duplication by id (within a batch,
 * across requests, across a restart and a crash — the set is rebuilt from
 * the store's tail — and forgotten after dedupe_window), and the
 * per-connection limit on requests waiting for the store (NACK busy).
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "buf.h"
#include "eventrouter.h"
#include "frame.h"
#include "harness.h"
#include "proto.h"

static er_client_t *connect_ack(er_test_daemon_t *d, er_ack_mode_t ack)
{
    er_client_t *c = NULL;
    int rc = er_connect(d->sock, "itest_store", ack, 10000, &c);

    ck_assert_msg(rc == 0, "connect: %s", er_strerror(rc));
    return c;
}

static er_event_t event_with_id(const char *id)
{
    er_event_t ev;

    memset(&ev, 0, sizeof(ev));
    ev.type = er_str("StoreTested");
    ev.stream = er_str("itest:store");
    if (id != NULL)
        ev.id = er_str(id);
    ev.data = er_str("{\"n\":1}");
    return ev;
}

/* Publish one event with id (NULL: none) and return its seq (the original
 * one for a duplicate). */
static uint64_t publish_id(er_client_t *c, const char *id)
{
    er_event_t ev = event_with_id(id);
    er_nack_t nack;
    uint64_t seq = 0;
    int rc = er_publish(c, &ev, &seq, &nack, NULL);

    ck_assert_msg(rc == 0, "publish %s: %s (%s: %s)", id ? id : "-", er_strerror(rc), nack.code,
                  nack.message);
    return seq;
}

START_TEST(welcome_durable_per_store)
{
    er_test_daemon_t d;
    er_client_t *c;

    ck_assert_int_eq(er_test_daemon_start(&d, NULL), 0);
    c = connect_ack(&d, ER_ACK_DURABLE);
    ck_assert(er_client_welcome(c)->durable);
    er_client_free(c);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    er_test_daemon_cleanup(&d);

    ck_assert_int_eq(er_test_daemon_start(&d, "store:\n  plugin: memory\n"), 0);
    c = connect_ack(&d, ER_ACK_DURABLE);
    ck_assert(!er_client_welcome(c)->durable);
    /* durable is still accepted: acked once the store took it. */
    ck_assert_uint_eq(publish_id(c, NULL), 1);
    er_client_free(c);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    er_test_daemon_cleanup(&d);
}
END_TEST

/* Durable batches: every seq once, in order; the same ids again are
 * duplicates with their original seqs; ids within one batch too. */
START_TEST(dedupe_and_durable_acks)
{
    er_test_daemon_t d;
    er_client_t *c;
    er_event_t evs[50];
    char ids[50][40];
    er_ack_t ack;
    er_nack_t nack;
    uint64_t expect = 1;
    size_t i, b, batches = er_test_scale(20);

    ck_assert_int_eq(er_test_daemon_start(&d, NULL), 0);
    c = connect_ack(&d, ER_ACK_DURABLE);
    for (b = 0; b < batches; b++) {
        for (i = 0; i < 50; i++) {
            snprintf(ids[i], sizeof(ids[i]), "dd-%zu-%zu", b, i);
            evs[i] = event_with_id(ids[i]);
        }
        ck_assert_int_eq(er_publish_batch(c, evs, 50, &ack, &nack, NULL), 0);
        ck_assert_uint_eq(ack.seq, expect);
        ck_assert_uint_eq(ack.count, 50);
        ck_assert_uint_eq(ack.ndups, 0);
        expect += 50;
    }
    /* Batch 0 again, with two new ids in it and one repeated inside. */
    for (i = 0; i < 50; i++) {
        snprintf(ids[i], sizeof(ids[i]), "dd-0-%zu", i);
        evs[i] = event_with_id(ids[i]);
    }
    snprintf(ids[10], sizeof(ids[10]), "dd-new-a");
    evs[10] = event_with_id(ids[10]);
    snprintf(ids[20], sizeof(ids[20]), "dd-new-b");
    evs[20] = event_with_id(ids[20]);
    evs[30] = event_with_id(ids[20]); /* a duplicate of index 20, same request */
    ck_assert_int_eq(er_publish_batch(c, evs, 50, &ack, &nack, NULL), 0);
    ck_assert_uint_eq(ack.count, 2);
    ck_assert_uint_eq(ack.seq, expect);
    ck_assert_uint_eq(ack.ndups, 48);
    for (i = 0; i < ack.ndups; i++) {
        uint32_t ix = ack.dups[i].index;
        ck_assert(ix != 10 && ix != 20);
        if (ix == 30)
            ck_assert_uint_eq(ack.dups[i].seq, expect + 1); /* dd-new-b */
        else
            ck_assert_uint_eq(ack.dups[i].seq, 1 + ix);
    }
    expect += 2;
    /* One at a time: the original seq comes back; no id is never a dup. */
    snprintf(ids[0], sizeof(ids[0]), "dd-%zu-7", batches - 1);
    ck_assert_uint_eq(publish_id(c, ids[0]), 1 + (batches - 1) * 50 + 7);
    ck_assert_uint_eq(publish_id(c, NULL), expect);
    ck_assert_uint_eq(publish_id(c, NULL), expect + 1);
    expect += 2;
    er_client_free(c);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);

    /* A clean restart: no gap, and the ids are still known (rebuilt from
     * the store's tail). */
    ck_assert_int_eq(er_test_daemon_restart(&d), 0);
    c = connect_ack(&d, ER_ACK_DURABLE);
    ck_assert_uint_eq(publish_id(c, "dd-0-1"), 1 + 1);
    ck_assert_uint_eq(publish_id(c, "dd-new-a"), expect - 4);
    ck_assert_uint_eq(publish_id(c, "after-restart"), expect);
    er_client_free(c);

    /* A crash: the sequence resumes after the reservation (a gap, never a
     * seq used twice), and acked ids are still duplicates. */
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGKILL, 30), 128 + SIGKILL);
    ck_assert_int_eq(er_test_daemon_restart(&d), 0);
    c = connect_ack(&d, ER_ACK_DURABLE);
    ck_assert_uint_eq(publish_id(c, "after-restart"), expect);
    ck_assert_uint_eq(publish_id(c, "dd-0-0"), 1);
    {
        uint64_t seq = publish_id(c, "after-crash");
        ck_assert_msg(seq > expect + 1 && seq <= expect + 1 + 65536,
                      "after a crash the seq (%llu) must skip the reserved range after %llu",
                      (unsigned long long)seq, (unsigned long long)expect);
    }
    er_client_free(c);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    er_test_daemon_cleanup(&d);
}
END_TEST

/* An id older than dedupe_window is new again (documented). */
START_TEST(dedupe_window_forgets)
{
    er_test_daemon_t d;
    er_client_t *c;
    uint64_t first;

    ck_assert_int_eq(er_test_daemon_start(&d, "limits:\n  dedupe_window: 1s\n"), 0);
    c = connect_ack(&d, ER_ACK_RECEIVED);
    first = publish_id(c, "windowed");
    ck_assert_uint_eq(publish_id(c, "windowed"), first);
    usleep(1300 * 1000);
    ck_assert_uint_eq(publish_id(c, "windowed"), first + 1);
    er_client_free(c);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    er_test_daemon_cleanup(&d);
}
END_TEST

/* dedupe_max bounds the set by count: the oldest id is forgotten first. */
START_TEST(dedupe_max_forgets_oldest)
{
    er_test_daemon_t d;
    er_client_t *c;
    char id[32];
    int i;

    ck_assert_int_eq(er_test_daemon_start(&d, "limits:\n  dedupe_max: 10\n"), 0);
    c = connect_ack(&d, ER_ACK_RECEIVED);
    for (i = 1; i <= 11; i++) {
        snprintf(id, sizeof(id), "max-%d", i);
        ck_assert_uint_eq(publish_id(c, id), (uint64_t)i);
    }
    ck_assert_uint_eq(publish_id(c, "max-11"), 11); /* remembered */
    ck_assert_uint_eq(publish_id(c, "max-2"), 2);   /* remembered */
    ck_assert_uint_eq(publish_id(c, "max-1"), 12);  /* forgotten: stored again */
    er_client_free(c);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    er_test_daemon_cleanup(&d);
}
END_TEST

/* ------------------------------------------------- in-flight limit (raw) */

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        ck_assert_int_gt(w, 0);
        p += w;
        n -= (size_t)w;
    }
}

/*
 * A client that ignores WELCOME's max_inflight: 400 durable publishes in
 * one write, with max_inflight_per_connection 4. Those beyond the limit
 * while earlier ones wait for the commit are refused `busy` with a
 * retry_after_ms; every request is answered, every ACKed event stored
 * under its own seq.
 */
START_TEST(inflight_limit_busy)
{
    er_test_daemon_t d;
    er_buf_t out = {0};
    er_framer_t fr;
    er_event_t ev = event_with_id(NULL);
    const size_t n = 400;
    size_t answers = 0, acked = 0, busy = 0, i;
    uint64_t last_seq = 0;
    int fd;

    ck_assert_int_eq(er_test_daemon_start(&d, "limits:\n  max_inflight_per_connection: 4\n"), 0);
    fd = er_test_connect_raw(d.sock);
    ck_assert_msg(fd >= 0, "connect: %s", strerror(errno));
    ck_assert_int_eq(er__hello_encode(&out, 0, "raw", ER_ACK_DURABLE), 0);
    for (i = 1; i <= n; i++)
        ck_assert_int_eq(er__publish_encode(&out, (uint32_t)i, &ev), 0);
    write_all(fd, out.data, out.len);
    er__framer_init(&fr, 1 << 20);
    while (answers < n) {
        const uint8_t *p;
        size_t len;
        uint8_t *space;
        size_t cap;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int rc;

        while ((rc = er__framer_next(&fr, &p, &len)) == 1) {
            er_msg_t m;
            ck_assert_int_eq(er__msg_parse(p, len, &m, NULL), 0);
            if (m.op == ER_OP_WELCOME)
                continue;
            answers++;
            if (m.op == ER_OP_ACK) {
                er_ack_t ack;
                er_dup_t dups[1];
                ck_assert_int_eq(er__ack_decode(&m, &ack, dups, 1, NULL), 0);
                ck_assert_uint_eq(ack.count, 1);
                ck_assert_uint_gt(ack.seq, last_seq); /* acks in order, seqs unique */
                last_seq = ack.seq;
                acked++;
            } else {
                er_nack_t nk;
                ck_assert_uint_eq(m.op, ER_OP_NACK);
                ck_assert_int_eq(er__nack_decode(&m, &nk, NULL), 0);
                ck_assert_str_eq(nk.code, "busy");
                ck_assert_int_ge(nk.retry_after_ms, 0);
                ck_assert(strstr(nk.message, "max_inflight_per_connection") != NULL);
                busy++;
            }
        }
        ck_assert_int_ge(rc, 0);
        if (answers == n)
            break;
        if (poll(&pfd, 1, 10000) != 1) {
            er_test_daemon_dump_log(&d);
            ck_abort_msg("no answer within 10 s: %zu of %zu answered (%zu acked, %zu busy)",
                         answers, n, acked, busy);
        }
        ck_assert_int_eq(er__framer_space(&fr, 4096, &space, &cap), 0);
        ssize_t r = read(fd, space, cap);
        ck_assert_int_gt(r, 0);
        er__framer_commit(&fr, (size_t)r);
    }
    ck_assert_uint_eq(acked + busy, n);
    ck_assert_uint_ge(acked, 4);
    ck_assert_uint_ge(busy, 1);
    close(fd);
    er__framer_free(&fr);
    er__buf_free(&out);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    er_test_daemon_cleanup(&d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("itest_store");
    TCase *tc = tcase_create("store");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, welcome_durable_per_store);
    tcase_add_test(tc, dedupe_and_durable_acks);
    tcase_add_test(tc, dedupe_window_forgets);
    tcase_add_test(tc, dedupe_max_forgets_oldest);
    tcase_add_test(tc, inflight_limit_busy);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
