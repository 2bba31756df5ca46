/*
 * QUERY and TAIL on the real daemon (DESIGN §4), frame by frame on the
 * admin socket: a result far larger than max_frame arrives complete, in
 * seq order, in ROWS frames within max_frame, then END {count}; CANCEL
 * mid-stream still gets END with the count sent; several queries run on
 * one connection at once; an unknown filter key is NACK invalid naming it;
 * the publish socket refuses QUERY and TAIL (forbidden: no acl rule); and
 * er_query of the client library, with a row callback that stops early.
 * TAIL: events stored after it started, filtered, exactly once in order,
 * until CANCEL (END with the count); from a seq in the past, the stored
 * ones then the live ones without a gap or a repeat; a reader that stops
 * reading while publishing goes on is dropped (NACK busy naming
 * limits.tail_max_lag) and the publisher was never held up; a shutdown
 * ends it with NACK shutting_down; er_tail with a limit and with an idle
 * stop.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "eventrouter.h"
#include "frame.h"
#include "harness.h"
#include "itest_admin.h"
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

/* Send QUERY (or TAIL) req with the filter (JSON text). */
static void send_filter(int fd, uint8_t op, uint32_t req, const char *filter)
{
    json_t *j = json_loads(filter, 0, NULL);
    er_buf_t b = {0};

    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(er__query_encode(&b, op, req, j), 0);
    write_all(fd, &b);
    er__buf_free(&b);
    json_decref(j);
}

static void send_query(int fd, uint32_t req, const char *filter)
{
    send_filter(fd, ER_OP_QUERY, req, filter);
}

static void send_cancel(int fd, uint32_t req)
{
    er_buf_t b = {0};

    ck_assert_int_eq(er__nil_encode(&b, ER_OP_CANCEL, req), 0);
    write_all(fd, &b);
    er__buf_free(&b);
}

/* What arrived for one query. A tail's rows are checked against the seqs
 * expected (want, nwant), each exactly once in order. */
typedef struct result_s {
    uint64_t rows, frames, end_count, last_seq, first_seq;
    bool ended, nacked, in_order;
    char nack_code[32], nack_msg[256];
    const uint64_t *want;
    size_t nwant;
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
            if (r->want != NULL && (r->rows + i >= r->nwant || r->want[r->rows + i] != ev.seq))
                ck_abort_msg("row %llu: seq %llu, expected %llu", (unsigned long long)(r->rows + i),
                             (unsigned long long)ev.seq,
                             r->rows + i < r->nwant ? (unsigned long long)r->want[r->rows + i] : 0);
            if (r->first_seq == 0)
                r->first_seq = ev.seq;
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
    memset(&r, 0, sizeof(r));
    send_filter(fd, ER_OP_TAIL, 6, "{}");
    {
        uint8_t *buf = NULL;
        er_msg_t m;
        read_frame(fd, &buf, &m);
        ck_assert_uint_eq(m.req, 6);
        take(&r, &m);
        free(buf);
    }
    ck_assert(r.nacked);
    ck_assert_str_eq(r.nack_code, "forbidden");
    ck_assert_msg(strstr(r.nack_msg, "acl") != NULL, "message: %s", r.nack_msg);
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


/* --------------------------------------------------------------- TAIL */

/* A smaller daemon for the tails: 200 stored events of stream "h"
 * (seqs 1..200), and a tail dropped past 2,000 events behind. */
#define TAIL_CONFIG CONFIG "  tail_max_lag: 2000\n"
#define TAIL_HISTORY 200

/* Publish n events of stream `stream` (types T1 and T2 alternating, 1 KB
 * of data each when big) with durable acks; returns the first seq (they
 * are consecutive: nothing else publishes). */
static uint64_t publish_n(const char *stream, size_t n, bool big)
{
    static char pad[1001];
    er_client_t *c = NULL;
    er_event_t evs[64];
    er_ack_t ack;
    er_nack_t nack;
    uint64_t first = 0;
    size_t i, k;
    int rc;

    memset(pad, 'x', 1000);
    ck_assert_int_eq(er_connect(d.sock, "itest_tail", ER_ACK_DURABLE, 10000, &c), 0);
    for (i = 0; i < n; i += k) {
        for (k = 0; k < (big ? 32u : 64u) && i + k < n; k++) {
            memset(&evs[k], 0, sizeof(evs[k]));
            evs[k].type = er_str((i + k) % 2 ? "T2" : "T1");
            evs[k].stream = er_str(stream);
            evs[k].content_type = er_str("text/plain");
            evs[k].data = er_str(big ? pad : "x");
        }
        rc = er_publish_batch(c, evs, k, &ack, &nack, NULL);
        ck_assert_msg(rc == 0, "publish: %s (%s)", er_strerror(rc), nack.message);
        ck_assert_uint_eq(ack.count, k);
        if (first == 0)
            first = ack.seq;
    }
    er_client_free(c);
    return first;
}

static void setup_tail(void)
{
    ck_assert_int_eq(er_test_daemon_start(&d, TAIL_CONFIG), 0);
    ck_assert_uint_eq(publish_n("h", TAIL_HISTORY, false), 1);
}

/* Read req's frames on fd until r has n rows (or it ended). */
static void read_rows(int fd, uint32_t req, result_t *r, uint64_t n)
{
    uint8_t *buf = NULL;
    er_msg_t m;

    while (r->rows < n && !r->ended) {
        read_frame(fd, &buf, &m);
        ck_assert_uint_eq(m.req, req);
        take(r, &m);
    }
    free(buf);
}

/* CANCEL req and read to its END: the count is every row sent. */
static void cancel_to_end(int fd, uint32_t req, result_t *r)
{
    send_cancel(fd, req);
    read_rows(fd, req, r, UINT64_MAX);
    ck_assert_msg(!r->nacked, "NACK %s: %s", r->nack_code, r->nack_msg);
    ck_assert_uint_eq(r->end_count, r->rows);
}

/* Events stored after the tail started, only the type asked for, each
 * once in order; nothing of the history. */
START_TEST(test_tail_live_filtered)
{
    int fd = admin_open();
    size_t n = er_test_scale(600), i;
    uint64_t *want = calloc(n / 2, sizeof(*want)), first;
    result_t r = {0};

    send_filter(fd, ER_OP_TAIL, 21, "{\"type\":\"T1\"}");
    /* A PING answered after the TAIL: the daemon has taken it. */
    {
        er_buf_t b = {0};
        uint8_t *buf = NULL;
        er_msg_t m;
        ck_assert_int_eq(er__nil_encode(&b, ER_OP_PING, 22), 0);
        write_all(fd, &b);
        read_frame(fd, &buf, &m);
        ck_assert_uint_eq(m.op, ER_OP_PONG);
        er__buf_free(&b);
        free(buf);
    }
    first = publish_n("live", n, false);
    ck_assert_uint_eq(first, TAIL_HISTORY + 1);
    for (i = 0; i < n / 2; i++)
        want[i] = first + 2 * i; /* T1 is every other one, from the first */
    r.in_order = true;
    r.want = want;
    r.nwant = n / 2;
    read_rows(fd, 21, &r, n / 2);
    ck_assert_uint_eq(r.rows, n / 2);
    cancel_to_end(fd, 21, &r);
    ck_assert_uint_eq(r.end_count, n / 2);
    free(want);
    close(fd);
}
END_TEST

/* From a seq in the past: the stored events, then those published while
 * it runs, without a gap or a repeat at the switch. */
START_TEST(test_tail_history_then_live)
{
    int fd = admin_open();
    size_t more = er_test_scale(3000), i, total;
    uint64_t *want, first;
    result_t r = {0};

    total = (TAIL_HISTORY - 101 + 1) + more;
    want = calloc(total, sizeof(*want));
    send_filter(fd, ER_OP_TAIL, 31, "{\"from_seq\":101}");
    for (i = 0; i < TAIL_HISTORY - 100; i++)
        want[i] = 101 + i;
    r.in_order = true;
    r.want = want;
    r.nwant = total;
    read_rows(fd, 31, &r, TAIL_HISTORY - 100);
    first = publish_n("live", more, false);
    for (i = 0; i < more; i++)
        want[TAIL_HISTORY - 100 + i] = first + i;
    read_rows(fd, 31, &r, total);
    ck_assert_uint_eq(r.rows, total);
    cancel_to_end(fd, 31, &r);
    free(want);
    close(fd);
}
END_TEST

/* A reader that stops reading: publishing goes on (every event acked,
 * durable), and the tail is ended with NACK busy naming the bound once it
 * is 2,000 events behind; what it got before is a gap-free prefix. */
START_TEST(test_tail_slow_reader_dropped)
{
    int fd = admin_open();
    size_t n = 20000; /* not scaled: ten times the bound */
    result_t r = {0};
    uint64_t first;

    send_filter(fd, ER_OP_TAIL, 41, "{}");
    er_itest_sleep_ms(100);
    first = publish_n("flood", n, true);
    ck_assert_uint_eq(first, TAIL_HISTORY + 1);
    r.in_order = true;
    read_rows(fd, 41, &r, UINT64_MAX);
    ck_assert(r.nacked);
    ck_assert_str_eq(r.nack_code, "busy");
    ck_assert_msg(strstr(r.nack_msg, "tail_max_lag") != NULL, "message: %s", r.nack_msg);
    ck_assert_uint_lt(r.rows, n);
    ck_assert_msg(r.in_order, "rows out of order");
    if (r.rows > 0) {
        ck_assert_uint_eq(r.first_seq, first);
        ck_assert_uint_eq(r.last_seq, first + r.rows - 1);
    }
    close(fd);
}
END_TEST

/* A shutdown ends a tail with NACK shutting_down (after GOAWAY). */
START_TEST(test_tail_shutdown)
{
    int fd = admin_open();
    result_t r = {0};
    uint8_t *buf = NULL;
    er_msg_t m;

    send_filter(fd, ER_OP_TAIL, 51, "{\"from_seq\":1}");
    r.in_order = true;
    read_rows(fd, 51, &r, TAIL_HISTORY);
    ck_assert_uint_eq(r.rows, TAIL_HISTORY);
    kill(d.pid, SIGTERM);
    while (!r.ended) {
        read_frame(fd, &buf, &m);
        if (m.op == ER_OP_GOAWAY)
            continue;
        ck_assert_uint_eq(m.req, 51);
        take(&r, &m);
    }
    ck_assert(r.nacked);
    ck_assert_str_eq(r.nack_code, "shutting_down");
    ck_assert_uint_eq(r.rows, TAIL_HISTORY);
    free(buf);
    close(fd);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, er_itest_patience()), 0);
}
END_TEST

static int collect_seq(void *arg, const er_event_t *ev)
{
    uint64_t *seqs = arg;

    if (ev == NULL)
        return 0;
    seqs[++seqs[0]] = ev->seq;
    return 0;
}

static int stop_when_idle(void *arg, const er_event_t *ev)
{
    int *idles = arg;

    ck_assert_ptr_null(ev); /* nothing is published meanwhile */
    return ++*idles >= 3;
}

START_TEST(test_client_er_tail)
{
    char path[400];
    er_client_t *c = NULL;
    er_nack_t nack;
    uint64_t seqs[8] = {0}, count = 0;
    int rc, idles = 0;

    er_itest_path(path, sizeof path, &d, "admin.sock");
    ck_assert_int_eq(er_connect(path, "itest_tail", ER_ACK_RECEIVED, 10000, &c), 0);
    rc = er_tail(c, "{\"stream\":\"h\",\"type\":\"T2\",\"from_seq\":190,\"limit\":5}", collect_seq,
                 seqs, 50, &count, &nack);
    ck_assert_msg(rc == 0, "er_tail: %s", er_strerror(rc));
    ck_assert_uint_eq(count, 5);
    ck_assert_uint_eq(seqs[0], 5);
    /* h's T2 are the even seqs (the second of each pair). */
    for (int i = 1; i <= 5; i++)
        ck_assert_uint_eq(seqs[i], 188 + 2 * (uint64_t)i);
    rc = er_tail(c, NULL, stop_when_idle, &idles, 50, &count, &nack);
    ck_assert_int_eq(rc, -ECANCELED);
    ck_assert_int_eq(idles, 3);
    ck_assert_uint_eq(count, 0);
    rc = er_tail(c, "{\"seq\":1}", stop_when_idle, &idles, 50, &count, &nack);
    ck_assert_int_eq(rc, ER_ENACK);
    ck_assert_str_eq(nack.code, "invalid");
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
    tc = tcase_create("tail");
    tcase_add_checked_fixture(tc, setup_tail, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_tail_live_filtered);
    tcase_add_test(tc, test_tail_history_then_live);
    tcase_add_test(tc, test_tail_slow_reader_dropped);
    tcase_add_test(tc, test_tail_shutdown);
    tcase_add_test(tc, test_client_er_tail);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf == 0 ? 0 : 1;
}
