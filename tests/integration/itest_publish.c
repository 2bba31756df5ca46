/*
 * The real daemon and the real client library over the real socket:
 * 100,000 events pipelined one per request and in batches, every one acked
 * with contiguous seqs in request order; every client field accepted; ack
 * mode none still sequences.
 */
#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eventrouter.h"
#include "harness.h"

typedef struct pipe_state_s {
    uint64_t next_seq;   /* seq the next ACK must start at */
    uint32_t next_req;   /* request id the next answer must carry */
    uint64_t acked;      /* events acknowledged */
    uint64_t answers;    /* ACK frames */
    uint64_t nacks;
    uint64_t order_errors;
    uint32_t batch;      /* events per request */
    char last_nack[300];
} pipe_state_t;

static void on_ack(er_client_t *c, uint32_t req, const er_ack_t *ack, void *ud)
{
    pipe_state_t *st = ud;
    (void)c;
    if (req != st->next_req || ack->seq != st->next_seq || ack->count != st->batch ||
        ack->ndups != 0)
        st->order_errors++;
    st->next_req = req + 1;
    st->next_seq = ack->seq + ack->count;
    st->acked += ack->count;
    st->answers++;
}

static void on_nack(er_client_t *c, uint32_t req, const er_nack_t *nack, void *ud)
{
    pipe_state_t *st = ud;
    (void)c;
    (void)req;
    st->nacks++;
    snprintf(st->last_nack, sizeof(st->last_nack), "%s: %s", nack->code, nack->message);
}

static const er_client_cbs_t cbs = {.on_ack = on_ack, .on_nack = on_nack};

static er_client_t *connect_client(er_test_daemon_t *d, er_ack_mode_t ack, void *ud)
{
    er_client_t *c = er_client_new(&cbs, ud);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(er_client_connect(c, d->sock, "itest_publish", ack), 0);
    /* Wait for WELCOME. */
    while (er_client_welcome(c) == NULL)
        ck_assert_int_eq(er_client_wait(c, 5000), 0);
    return c;
}

/* Publish `total` events in requests of `batch` events, keeping the
 * pipeline as full as WELCOME allows. */
static void pipeline(er_client_t *c, pipe_state_t *st, size_t total, uint32_t batch)
{
    er_event_t evs[64];
    char data[64][32];
    size_t sent = 0;
    uint32_t i, req;
    er_error_t err;

    ck_assert_uint_le(batch, 64);
    memset(evs, 0, sizeof(evs));
    while (sent < total) {
        while (sent < total && er_client_inflight(c) < er_client_welcome(c)->max_inflight) {
            uint32_t n = (uint32_t)(total - sent < batch ? total - sent : batch);
            for (i = 0; i < n; i++) {
                evs[i].type = er_str("ItestPublished");
                evs[i].stream = er_str("itest:pipeline");
                snprintf(data[i], sizeof(data[i]), "{\"n\":%zu}", sent + i);
                evs[i].data = er_str(data[i]);
                evs[i].data_is_str = true;
            }
            if (batch == 1)
                ck_assert_int_eq(er_client_publish_async(c, &evs[0], &req, &err), 0);
            else
                ck_assert_int_eq(er_client_publish_batch_async(c, evs, n, &req, &err), 0);
            sent += n;
        }
        ck_assert_int_eq(er_client_wait(c, 5000), 0);
    }
    ck_assert_int_eq(er_client_drain(c, 30000), 0);
}

START_TEST(pipelined_single_events)
{
    er_test_daemon_t d;
    pipe_state_t st = {.next_seq = 1, .next_req = 1, .batch = 1};
    size_t total = er_test_scale(100000);
    er_client_t *c;

    ck_assert_int_eq(er_test_daemon_start(&d, NULL), 0);
    c = connect_client(&d, ER_ACK_RECEIVED, &st);
    pipeline(c, &st, total, 1);
    ck_assert_msg(st.nacks == 0, "NACK: %s", st.last_nack);
    ck_assert_uint_eq(st.acked, total);
    ck_assert_uint_eq(st.answers, total);
    ck_assert_uint_eq(st.order_errors, 0);
    ck_assert_uint_eq(st.next_seq, total + 1); /* seqs 1..total, no gap */
    er_client_free(c);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    er_test_daemon_cleanup(&d);
}
END_TEST

START_TEST(pipelined_batches)
{
    er_test_daemon_t d;
    pipe_state_t st = {.next_seq = 1, .next_req = 1, .batch = 64};
    size_t total = er_test_scale(1562) * 64;
    er_client_t *c;

    ck_assert_int_eq(er_test_daemon_start(&d, NULL), 0);
    c = connect_client(&d, ER_ACK_DURABLE, &st);
    ck_assert(er_client_welcome(c)->durable); /* the default store: lmdb */
    pipeline(c, &st, total, 64);
    ck_assert_msg(st.nacks == 0, "NACK: %s", st.last_nack);
    ck_assert_uint_eq(st.acked, total);
    ck_assert_uint_eq(st.answers, total / 64);
    ck_assert_uint_eq(st.order_errors, 0);
    ck_assert_uint_eq(st.next_seq, total + 1);
    er_client_free(c);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    er_test_daemon_cleanup(&d);
}
END_TEST

START_TEST(every_field_and_two_connections)
{
    static const er_meta_t meta[] = {{{"tenant", 6}, {"acme", 4}}, {{"k", 1}, {"v", 1}}};
    er_test_daemon_t d;
    er_event_t ev;
    er_client_t *a, *b;
    er_nack_t nack;
    er_error_t err;
    uint64_t seq = 0;

    ck_assert_int_eq(er_test_daemon_start(&d, NULL), 0);
    ck_assert_int_eq(er_connect(d.sock, "itest-a", ER_ACK_DURABLE, 5000, &a), 0);
    ck_assert_int_eq(er_connect(d.sock, "itest-b", ER_ACK_RECEIVED, 5000, &b), 0);

    memset(&ev, 0, sizeof(ev));
    ev.type = er_str("UserLoggedIn");
    ev.version = 3;
    ev.has = ER_HAS_VERSION | ER_HAS_PRIORITY | ER_HAS_TIME;
    ev.topic = er_str("auth.login");
    ev.priority = ER_PRIORITY_HIGH;
    ev.id = er_str("itest-every-field-1");
    ev.time = 1700000000000000;
    ev.stream = er_str("user:123");
    ev.correlation_id = er_str("corr-1");
    ev.causation_id = er_str("cause-1");
    ev.source = er_str("itest");
    ev.traceparent = er_str("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    ev.tracestate = er_str("vendor=opaque");
    ev.content_type = er_str("application/octet-stream");
    ev.data.ptr = "\x00\x01\x02";
    ev.data.len = 3;
    ev.meta = meta;
    ev.meta_count = 2;
    ck_assert_int_eq(er_publish(a, &ev, &seq, &nack, &err), 0);
    ck_assert_uint_eq(seq, 1);
    /* The daemon sequences across connections. */
    ev.id = er_str("itest-every-field-2");
    ck_assert_int_eq(er_publish(b, &ev, &seq, &nack, &err), 0);
    ck_assert_uint_eq(seq, 2);
    /* The same id from the other connection: a duplicate, the original
     * seq, nothing stored. */
    ck_assert_int_eq(er_publish(a, &ev, &seq, &nack, &err), 0);
    ck_assert_uint_eq(seq, 2);
    ev.id = er_str("itest-every-field-3");
    ck_assert_int_eq(er_publish(a, &ev, &seq, &nack, &err), 0);
    ck_assert_uint_eq(seq, 3);
    ck_assert_int_eq(er_ping(b, 5000), 0);
    er_client_free(a);
    er_client_free(b);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    er_test_daemon_cleanup(&d);
}
END_TEST

START_TEST(ack_none_still_sequences)
{
    er_test_daemon_t d;
    er_client_t *quiet, *loud;
    er_event_t ev;
    er_nack_t nack;
    er_error_t err;
    uint64_t seq = 0;
    uint32_t req;
    int i;

    ck_assert_int_eq(er_test_daemon_start(&d, NULL), 0);
    ck_assert_int_eq(er_connect(d.sock, "quiet", ER_ACK_NONE, 5000, &quiet), 0);
    memset(&ev, 0, sizeof(ev));
    ev.type = er_str("Quiet");
    for (i = 0; i < 1000; i++)
        ck_assert_int_eq(er_client_publish_async(quiet, &ev, &req, &err), 0);
    ck_assert_int_eq(er_ping(quiet, 5000), 0); /* PONG after all 1000 were read */
    ck_assert_uint_eq(er_client_inflight(quiet), 0);
    ck_assert_int_eq(er_connect(d.sock, "loud", ER_ACK_RECEIVED, 5000, &loud), 0);
    ck_assert_int_eq(er_publish(loud, &ev, &seq, &nack, &err), 0);
    ck_assert_uint_eq(seq, 1001);
    er_client_free(quiet);
    er_client_free(loud);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    er_test_daemon_cleanup(&d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("itest_publish");
    TCase *tc = tcase_create("publish");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, pipelined_single_events);
    tcase_add_test(tc, pipelined_batches);
    tcase_add_test(tc, every_field_and_two_connections);
    tcase_add_test(tc, ack_none_still_sequences);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
