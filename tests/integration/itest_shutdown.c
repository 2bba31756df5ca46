/*
 * SIGTERM with clients connected (DESIGN §9): every client gets GOAWAY,
 * every request it had sent is answered before the connection closes, the
 * daemon exits 0 well before shutdown_timeout and removes its socket file.
 */
#include <check.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "eventrouter.h"
#include "harness.h"

typedef struct state_s {
    uint64_t acked;
    uint64_t nacks;
    int goaway;
    char reason[128];
} state_t;

static void on_ack(er_client_t *c, uint32_t req, const er_ack_t *ack, void *ud)
{
    state_t *st = ud;
    (void)c;
    (void)req;
    st->acked += ack->count;
}

static void on_nack(er_client_t *c, uint32_t req, const er_nack_t *nack, void *ud)
{
    state_t *st = ud;
    (void)c;
    (void)req;
    (void)nack;
    st->nacks++;
}

static void on_goaway(er_client_t *c, const char *reason, void *ud)
{
    state_t *st = ud;
    (void)c;
    st->goaway++;
    snprintf(st->reason, sizeof(st->reason), "%s", reason);
}

static const er_client_cbs_t cbs = {.on_ack = on_ack, .on_nack = on_nack, .on_goaway = on_goaway};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool log_contains(const er_test_daemon_t *d, const char *needle)
{
    char buf[65536];
    size_t n;
    FILE *f = fopen(d->log, "r");
    if (f == NULL)
        return false;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

START_TEST(goaway_answers_inflight)
{
    er_test_daemon_t d;
    state_t busy = {0}, idle = {0};
    er_client_t *c, *quiet;
    er_event_t ev;
    er_error_t err;
    uint32_t req;
    size_t queued = 0, i, n = er_test_scale(4000);
    struct stat sb;
    double t0;
    int rc;

    ck_assert_int_eq(er_test_daemon_start(&d, "shutdown_timeout: 20s\n"), 0);
    c = er_client_new(&cbs, &busy);
    quiet = er_client_new(&cbs, &idle);
    ck_assert_int_eq(er_client_connect(c, d.sock, "busy", ER_ACK_RECEIVED), 0);
    ck_assert_int_eq(er_client_connect(quiet, d.sock, "idle", ER_ACK_RECEIVED), 0);
    while (er_client_welcome(c) == NULL)
        ck_assert_int_eq(er_client_wait(c, 5000), 0);
    while (er_client_welcome(quiet) == NULL)
        ck_assert_int_eq(er_client_wait(quiet, 5000), 0);

    /* Queue requests, write them without reading the answers, then stop
     * the daemon while they are in flight. */
    memset(&ev, 0, sizeof(ev));
    ev.type = er_str("BeforeShutdown");
    for (i = 0; i < n && er_client_inflight(c) < er_client_welcome(c)->max_inflight; i++) {
        ck_assert_int_eq(er_client_publish_async(c, &ev, &req, &err), 0);
        queued++;
    }
    ck_assert_int_eq(er_client_process(c, ER_POLLOUT), 0);
    t0 = now_s();
    kill(d.pid, SIGTERM);

    /* Read until the daemon closes: every queued request is answered. */
    do {
        rc = er_client_wait(c, 5000);
    } while (rc == 0 && now_s() - t0 < 30);
    ck_assert_msg(rc == ER_EGOAWAY || rc == ER_ECLOSED, "client ended with %s", er_strerror(rc));
    ck_assert_int_eq(busy.goaway, 1);
    ck_assert_str_eq(busy.reason, "shutting down");
    ck_assert_uint_eq(busy.nacks, 0);
    ck_assert_uint_eq(busy.acked, queued);
    ck_assert_uint_eq(er_client_inflight(c), 0);

    /* The idle client got its GOAWAY and was closed too. */
    do {
        rc = er_client_wait(quiet, 5000);
    } while (rc == 0 && now_s() - t0 < 30);
    ck_assert_int_eq(idle.goaway, 1);
    ck_assert_msg(rc == ER_EGOAWAY || rc == ER_ECLOSED, "idle client ended with %s",
                  er_strerror(rc));

    ck_assert_int_eq(er_test_daemon_stop(&d, 0, 30), 0);
    /* Quiet clients are let go once quiet, not by the shutdown_timeout. */
    ck_assert_msg(!log_contains(&d, "shutdown_timeout reached"), "drain needed the timeout");
    ck_assert(log_contains(&d, "stopped: "));
    ck_assert_int_ne(stat(d.sock, &sb), 0);
    er_client_free(c);
    er_client_free(quiet);
    er_test_daemon_cleanup(&d);
}
END_TEST

START_TEST(sigint_with_no_clients)
{
    er_test_daemon_t d;

    ck_assert_int_eq(er_test_daemon_start(&d, NULL), 0);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGINT, 30), 0);
    er_test_daemon_cleanup(&d);
}
END_TEST

START_TEST(idle_timeout_closes_quiet_clients)
{
    er_test_daemon_t d;
    state_t idle = {0}, busy = {0};
    er_client_t *a, *b;
    double t0;
    int rc = 0, i;

    ck_assert_int_eq(er_test_daemon_start(&d, "limits:\n  idle_timeout: 1s\n"), 0);
    a = er_client_new(&cbs, &idle);
    b = er_client_new(&cbs, &busy);
    ck_assert_int_eq(er_client_connect(a, d.sock, "idle", ER_ACK_RECEIVED), 0);
    ck_assert_int_eq(er_client_connect(b, d.sock, "pinging", ER_ACK_RECEIVED), 0);
    /* b pings every 200 ms for 3 s and stays; a says nothing and is let go. */
    t0 = now_s();
    for (i = 0; i < 15; i++) {
        ck_assert_int_eq(er_ping(b, 5000), 0);
        rc = er_client_wait(a, 200);
        if (rc != 0)
            break;
    }
    while (rc == 0 && now_s() - t0 < 30)
        rc = er_client_wait(a, 1000);
    ck_assert_msg(rc == ER_EGOAWAY || rc == ER_ECLOSED, "idle client: %s", er_strerror(rc));
    ck_assert_int_eq(idle.goaway, 1);
    ck_assert_str_eq(idle.reason, "idle_timeout");
    ck_assert_int_eq(er_ping(b, 5000), 0);
    ck_assert_int_eq(busy.goaway, 0);
    er_client_free(a);
    er_client_free(b);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    er_test_daemon_cleanup(&d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("itest_shutdown");
    TCase *tc = tcase_create("shutdown");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, goaway_answers_inflight);
    tcase_add_test(tc, sigint_with_no_clients);
    tcase_add_test(tc, idle_timeout_closes_quiet_clients);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
