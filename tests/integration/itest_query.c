/*
 * QUERY on the real daemon (DESIGN §4), frame by frame on the admin
 * socket: a result far larger than max_frame arrives complete, in seq
 * order, in ROWS frames within max_frame, then END {count}; CANCEL
 * mid-stream still gets END with the count sent; several queries run on
 * one connection at once; an unknown filter key is NACK invalid naming it;
 * the publish socket refuses QUERY (forbidden); and er_query of the client
 * library, with a row callback that stops early.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "eventrouter.h"
#include "frame.h"
#include "harness.h"
#include "mpread.h"
#include "proto.h"

/* Small frames and connection memory, so a page spans several ROWS frames
 * and the daemon has to wait for its reader. */
#define MAX_FRAME 65536
#define CONFIG                                                                                     \
    "limits:\n  max_frame: 64KiB\n  max_event_size: 16KiB\n"                                       \
    "  max_connection_memory: 256KiB\n"

static er_test_daemon_t d;
static uint64_t nbig; /* events of stream "big" (seqs 1..nbig) */

/* ----------------------------------------------------------- raw frames */

static void write_all(int fd, const er_buf_t *b)
{
    size_t off = 0;
    ssize_t w;

    while (off < b->len) {
        w = write(fd, b->data + off, b->len - off);
        ck_assert_msg(w > 0, "write: %s", strerror(errno));
        off += (size_t)w;
    }
}

static void read_all(int fd, uint8_t *p, size_t n)
{
    ssize_t r;

    while (n > 0) {
        r = read(fd, p, n);
        ck_assert_msg(r > 0, "read: %s", r == 0 ? "closed" : strerror(errno));
        p += r;
        n -= (size_t)r;
    }
}

/* One frame from fd into *buf (grown), parsed into m. */
static void read_frame(int fd, uint8_t **buf, er_msg_t *m)
{
    uint8_t hdr[4];
    uint32_t len;

    read_all(fd, hdr, 4);
    len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    ck_assert_msg(len > 0 && len <= MAX_FRAME, "frame of %u bytes (max_frame %d)", len, MAX_FRAME);
    *buf = realloc(*buf, len);
    ck_assert_ptr_nonnull(*buf);
    read_all(fd, *buf, len);
    ck_assert_int_eq(er__msg_parse(*buf, len, m, NULL), 0);
}

/* A raw connection to sock after HELLO/WELCOME. */
static int raw_open(const char *sock)
{
    int fd = er_test_connect_raw(sock);
    er_buf_t b = {0};
    uint8_t *buf = NULL;
    er_msg_t m;

    ck_assert_msg(fd >= 0, "connect %s: %s", sock, strerror(errno));
    ck_assert_int_eq(er__hello_encode(&b, 0, "itest_query", ER_ACK_RECEIVED), 0);
    write_all(fd, &b);
    read_frame(fd, &buf, &m);
    ck_assert_uint_eq(m.op, ER_OP_WELCOME);
    free(buf);
    er__buf_free(&b);
    return fd;
}

static int admin_open(void)
{
    char path[400];

    snprintf(path, sizeof path, "%s/admin.sock", d.dir);
    return raw_open(path);
}

/* Send QUERY req with the filter (JSON text). */
static void send_query(int fd, uint32_t req, const char *filter)
{
    json_t *j = json_loads(filter, 0, NULL);
    er_buf_t b = {0};

    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(er__query_encode(&b, req, j), 0);
    write_all(fd, &b);
    er__buf_free(&b);
    json_decref(j);
}

static void send_cancel(int fd, uint32_t req)
{
    er_buf_t b = {0};

    ck_assert_int_eq(er__nil_encode(&b, ER_OP_CANCEL, req), 0);
    write_all(fd, &b);
    er__buf_free(&b);
}

/* What arrived for one query. */
typedef struct result_s {
    uint64_t rows, frames, end_count, last_seq;
    bool ended, nacked, in_order;
    char nack_code[32], nack_msg[256];
} result_t;

/* Account one frame m to r (rows checked in increasing seq order). */
static void take(result_t *r, const er_msg_t *m)
{
    er_mp_reader_t rd;
    er_event_t ev;
    er_nack_t nack;
    uint32_t n, i;

    ck_assert_msg(!r->ended, "frame op %u after the end of request %u", m->op, m->req);
    switch (m->op) {
    case ER_OP_ROWS:
        ck_assert_int_eq(er__rows_begin(m, &rd, &n, NULL), 0);
        ck_assert_uint_gt(n, 0);
        for (i = 0; i < n; i++) {
            ck_assert_int_eq(er__event_read(&rd, &ev, 0, 16384, NULL), 0);
            ck_assert(ev.has & ER_HAS_SEQ);
            if (ev.seq <= r->last_seq)
                r->in_order = false;
            r->last_seq = ev.seq;
        }
        ck_assert_int_eq(er__rows_end(&rd, NULL), 0);
        r->rows += n;
        r->frames++;
        break;
    case ER_OP_END:
        ck_assert_int_eq(er__end_decode(m, &r->end_count, NULL), 0);
        r->ended = true;
        break;
    case ER_OP_NACK:
        ck_assert_int_eq(er__nack_decode(m, &nack, NULL), 0);
        snprintf(r->nack_code, sizeof r->nack_code, "%s", nack.code);
        snprintf(r->nack_msg, sizeof r->nack_msg, "%s", nack.message);
        r->nacked = r->ended = true;
        break;
    default:
        ck_abort_msg("unexpected op %u", m->op);
    }
}

/* Read frames until request req has ended. */
static result_t run_query(int fd, uint32_t req, const char *filter)
{
    result_t r = {0};
    uint8_t *buf = NULL;
    er_msg_t m;

    r.in_order = true;
    send_query(fd, req, filter);
    while (!r.ended) {
        read_frame(fd, &buf, &m);
        ck_assert_uint_eq(m.req, req);
        take(&r, &m);
    }
    free(buf);
    return r;
}

/* ------------------------------------------------------------- fixture */

static void setup(void)
{
    er_client_t *c = NULL;
    er_event_t evs[32];
    char pad[1001], ids[32][32];
    er_ack_t ack;
    er_nack_t nack;
    uint64_t i, k;
    int rc;

    ck_assert_int_eq(er_test_daemon_start(&d, CONFIG), 0);
    ck_assert_int_eq(er_connect(d.sock, "itest_query", ER_ACK_DURABLE, 10000, &c), 0);
    memset(pad, 'x', 1000);
    pad[1000] = '\0';
    nbig = 5000;
    for (i = 0; i < nbig; i += 32) {
        for (k = 0; k < 32 && i + k < nbig; k++) {
            memset(&evs[k], 0, sizeof(evs[k]));
            snprintf(ids[k], sizeof ids[k], "big-%llu", (unsigned long long)(i + k));
            evs[k].type = er_str(k % 2 ? "Odd" : "Even");
            evs[k].stream = er_str("big");
            evs[k].id = er_str(ids[k]);
            evs[k].content_type = er_str("text/plain");
            evs[k].data = er_str(pad);
        }
        rc = er_publish_batch(c, evs, k, &ack, &nack, NULL);
        ck_assert_msg(rc == 0, "publish: %s (%s)", er_strerror(rc), nack.message);
    }
    er_client_free(c);
}

static void teardown(void)
{
    er_test_daemon_cleanup(&d);
}

/* -------------------------------------------------------------- tests */

START_TEST(test_large_result_complete_in_order)
{
    int fd = admin_open();
    result_t r = run_query(fd, 7, "{}");

    ck_assert_msg(!r.nacked, "NACK %s: %s", r.nack_code, r.nack_msg);
    ck_assert_uint_eq(r.rows, nbig);
    ck_assert_uint_eq(r.end_count, nbig);
    ck_assert(r.in_order);
    ck_assert_uint_eq(r.last_seq, nbig);
    /* ~5 MB in frames of at most 64 KiB (read_frame checks each). */
    ck_assert_uint_ge(r.frames, 5000 * 1000 / MAX_FRAME);
    /* The connection goes on: the same again, filtered. */
    r = run_query(fd, 8, "{\"type\":\"Odd\",\"from_seq\":4001}");
    ck_assert_uint_eq(r.rows, 500);
    ck_assert_uint_eq(r.end_count, 500);
    r = run_query(fd, 9, "{\"stream\":\"big\",\"limit\":1234}");
    ck_assert_uint_eq(r.rows, 1234);
    ck_assert_uint_eq(r.last_seq, 1234);
    close(fd);
}
END_TEST

/* A reader that does not read for a while still gets everything: the
 * daemon waited for it instead of buffering the whole result. */
START_TEST(test_slow_reader)
{
    int fd = admin_open();
    result_t r = {0};
    uint8_t *buf = NULL;
    er_msg_t m;

    r.in_order = true;
    send_query(fd, 3, "{}");
    usleep(500 * 1000);
    while (!r.ended) {
        read_frame(fd, &buf, &m);
        take(&r, &m);
        if (r.frames % 8 == 0)
            usleep(1000);
    }
    ck_assert_uint_eq(r.rows, nbig);
    ck_assert(r.in_order);
    free(buf);
    close(fd);
}
END_TEST

START_TEST(test_cancel_gets_end)
{
    int fd = admin_open();
    result_t r = {0};
    uint8_t *buf = NULL;
    er_msg_t m;

    r.in_order = true;
    send_query(fd, 11, "{}");
    read_frame(fd, &buf, &m);
    take(&r, &m);
    ck_assert_uint_eq(m.op, ER_OP_ROWS);
    send_cancel(fd, 11);
    while (!r.ended) {
        read_frame(fd, &buf, &m);
        take(&r, &m);
    }
    ck_assert(!r.nacked);
    ck_assert_uint_eq(r.end_count, r.rows);
    ck_assert_uint_lt(r.rows, nbig);
    /* CANCEL of a request that is not streaming is ignored; PING still
     * answers, so the connection is fine. */
    send_cancel(fd, 11);
    {
        er_buf_t b = {0};
        ck_assert_int_eq(er__nil_encode(&b, ER_OP_PING, 12), 0);
        write_all(fd, &b);
        er__buf_free(&b);
    }
    read_frame(fd, &buf, &m);
    ck_assert_uint_eq(m.op, ER_OP_PONG);
    ck_assert_uint_eq(m.req, 12);
    free(buf);
    close(fd);
}
END_TEST

START_TEST(test_concurrent_queries)
{
    int fd = admin_open();
    result_t r[3] = {{0}};
    uint8_t *buf = NULL;
    er_msg_t m;
    int i, open = 3;

    send_query(fd, 1, "{\"type\":\"Even\"}");
    send_query(fd, 2, "{\"type\":\"Odd\",\"limit\":100}");
    send_query(fd, 3, "{\"id\":\"big-4999\"}");
    for (i = 0; i < 3; i++)
        r[i].in_order = true;
    while (open > 0) {
        read_frame(fd, &buf, &m);
        ck_assert(m.req >= 1 && m.req <= 3);
        take(&r[m.req - 1], &m);
        if (r[m.req - 1].ended)
            open--;
    }
    for (i = 0; i < 3; i++)
        ck_assert_msg(!r[i].nacked && r[i].in_order, "query %d", i + 1);
    ck_assert_uint_eq(r[0].rows, nbig / 2);
    ck_assert_uint_eq(r[1].rows, 100);
    ck_assert_uint_eq(r[2].rows, 1);
    ck_assert_uint_eq(r[2].last_seq, 5000);
    free(buf);
    close(fd);
}
END_TEST

START_TEST(test_refusals)
{
    int fd = admin_open();
    result_t r = run_query(fd, 5, "{\"stream\":\"big\",\"colour\":\"red\"}");

    ck_assert(r.nacked);
    ck_assert_str_eq(r.nack_code, "invalid");
    ck_assert_msg(strstr(r.nack_msg, "colour") != NULL, "message: %s", r.nack_msg);
    r = run_query(fd, 6, "{\"limit\":\"ten\"}");
    ck_assert(r.nacked);
    ck_assert_str_eq(r.nack_code, "invalid");
    ck_assert_msg(strstr(r.nack_msg, "limit") != NULL, "message: %s", r.nack_msg);
    close(fd);

    fd = raw_open(d.sock);
    r = run_query(fd, 5, "{}");
    ck_assert(r.nacked);
    ck_assert_str_eq(r.nack_code, "forbidden");
    close(fd);
}
END_TEST

static int stop_after_10(void *arg, const er_event_t *ev)
{
    uint64_t *n = arg;

    ck_assert(ev->has & ER_HAS_SEQ);
    return ++*n >= 10;
}

static int count_row(void *arg, const er_event_t *ev)
{
    (void)ev;
    ++*(uint64_t *)arg;
    return 0;
}

START_TEST(test_client_er_query)
{
    char path[400];
    er_client_t *c = NULL;
    er_nack_t nack;
    uint64_t n = 0, count = 0;
    int rc;

    snprintf(path, sizeof path, "%s/admin.sock", d.dir);
    ck_assert_int_eq(er_connect(path, "itest_query", ER_ACK_RECEIVED, 10000, &c), 0);
    rc = er_query(c, "{\"stream\":\"big\"}", count_row, &n, &count, &nack, 10000);
    ck_assert_msg(rc == 0, "er_query: %s", er_strerror(rc));
    ck_assert_uint_eq(n, nbig);
    ck_assert_uint_eq(count, nbig);
    n = 0;
    rc = er_query(c, NULL, stop_after_10, &n, &count, &nack, 10000);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_uint_eq(n, 10);
    ck_assert_uint_ge(count, 10);
    rc = er_query(c, "{\"nope\":1}", count_row, &n, NULL, &nack, 10000);
    ck_assert_int_eq(rc, ER_ENACK);
    ck_assert_str_eq(nack.code, "invalid");
    ck_assert_int_eq(er_query(c, "[1]", count_row, &n, NULL, &nack, 10000), ER_EJSON);
    /* The connection is still good. */
    ck_assert_int_eq(er_ping(c, 10000), 0);
    er_client_free(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("itest_query");
    TCase *tc = tcase_create("query");
    SRunner *sr;
    int nf;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_large_result_complete_in_order);
    tcase_add_test(tc, test_slow_reader);
    tcase_add_test(tc, test_cancel_gets_end);
    tcase_add_test(tc, test_concurrent_queries);
    tcase_add_test(tc, test_refusals);
    tcase_add_test(tc, test_client_er_query);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
