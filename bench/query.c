/*
 * The query scenario's two halves (bench/run.sh, issue 8: one stream's
 * 1,000 events among 10,000,000 stored in at most 5 ms).
 *
 * Fill (-f): publish COUNT events as fast as the daemon takes them, in
 * batches of 64, up to WINDOW requests in flight (ack durable, so the
 * last ACK means every event is stored): every (COUNT / TARGET_N)-th event,
 * TARGET_N in all, on STREAM, spread evenly through the log; the others on
 * 9,973 other streams in turn ("bench:s<n>", about COUNT / 9,973 events
 * each, so the target is a stream like the others, not a lone small one).
 * Prints "query fill: N events in S s: R events/s" on stdout.
 *
 *   usage: query -f SOCKET COUNT TARGET_N STREAM [WINDOW]
 *
 * Query (-q): QUERY {"stream": STREAM} through the admin socket with the
 * client library's er_query (<eventrouter.h>), RUNS times after WARMUP
 * untimed ones, each timed from the call to its return (every row
 * received and decoded; the row callback only counts). Fails unless every
 * query returns the same number of rows, EXPECT when given. Prints
 * "p50_us P p99_us P max_us M rows R n RUNS" on stdout.
 *
 *   usage: query -q ADMIN_SOCKET STREAM RUNS [WARMUP [EXPECT]]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eventrouter.h"

#define BATCH         64
#define OTHER_STREAMS 9973u
#define TIMEOUT_MS    60000

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ----------------------------------------------------------------- fill */

typedef struct fill_s {
    size_t acked, nacked;
    char first_nack[300];
} fill_t;

static void on_ack(er_client_t *c, uint32_t req, const er_ack_t *ack, void *ud)
{
    fill_t *f = ud;

    (void)c, (void)req;
    f->acked += ack->count + ack->ndups;
}

static void on_nack(er_client_t *c, uint32_t req, const er_nack_t *nack, void *ud)
{
    fill_t *f = ud;

    (void)c, (void)req;
    if (f->nacked++ == 0)
        snprintf(f->first_nack, sizeof(f->first_nack), "%s: %s", nack->code, nack->message);
}

static int fill(const char *sock, size_t count, size_t target_n, const char *stream, size_t window)
{
    static const er_client_cbs_t cbs = {NULL, on_ack, on_nack, NULL, NULL};
    char names[BATCH][32];
    er_event_t evs[BATCH];
    size_t sent = 0, spacing = count / target_n, targets = 0, i;
    fill_t f = {0};
    er_client_t *c;
    er_error_t err;
    uint32_t req;
    double t0, secs;
    int rc;

    if ((c = er_client_new(&cbs, &f)) == NULL ||
        (rc = er_client_connect(c, sock, "bench-query-fill", ER_ACK_DURABLE)) != 0) {
        fprintf(stderr, "query: cannot connect to %s\n", sock);
        return 1;
    }
    while (er_client_welcome(c) == NULL)
        if ((rc = er_client_wait(c, 1000)) != 0) {
            fprintf(stderr, "query: no WELCOME from %s: %s\n", sock, er_strerror(rc));
            return 1;
        }
    if (window == 0 || window > er_client_welcome(c)->max_inflight)
        window = er_client_welcome(c)->max_inflight;
    memset(evs, 0, sizeof(evs));
    for (i = 0; i < BATCH; i++) {
        evs[i].type = er_str("BenchQuery");
        evs[i].content_type = er_str("application/json");
        evs[i].data = er_str("{\"user\":\"123\",\"ok\":true}");
        evs[i].data_is_str = true;
    }
    t0 = now_us();
    while (sent < count) {
        while (sent < count && er_client_inflight(c) < window) {
            size_t n = count - sent < BATCH ? count - sent : BATCH;
            size_t nt = 0;
            for (i = 0; i < n; i++) {
                size_t k = sent + i;
                if (k % spacing == spacing / 2 && k / spacing < target_n) {
                    evs[i].stream = er_str(stream);
                    nt++;
                } else {
                    snprintf(names[i], sizeof(names[i]), "bench:s%u",
                             (unsigned)(k % OTHER_STREAMS));
                    evs[i].stream = er_str(names[i]);
                }
            }
            memset(&err, 0, sizeof(err));
            rc = er_client_publish_batch_async(c, evs, n, &req, &err);
            if (rc == -ENOBUFS)
                break;
            if (rc != 0) {
                fprintf(stderr, "query: publish: %s\n", er_strerror(rc));
                return 1;
            }
            sent += n;
            targets += nt;
        }
        if ((rc = er_client_wait(c, 100)) != 0) {
            fprintf(stderr, "query: connection: %s\n", er_strerror(rc));
            return 1;
        }
    }
    if ((rc = er_client_drain(c, TIMEOUT_MS)) != 0) {
        fprintf(stderr, "query: drain: %s\n", er_strerror(rc));
        return 1;
    }
    secs = (now_us() - t0) / 1e6;
    er_client_free(c);
    if (f.nacked > 0 || f.acked != count || targets != target_n) {
        fprintf(stderr, "query: fill: %zu of %zu acked, %zu NACKs (first: %s), %zu on %s\n",
                f.acked, count, f.nacked, f.first_nack, targets, stream);
        return 1;
    }
    printf("query fill: %zu events in %.3f s: %.0f events/s\n", count, secs, (double)count / secs);
    return 0;
}

/* ---------------------------------------------------------------- query */

static int on_row(void *arg, const er_event_t *ev)
{
    (void)ev;
    (*(size_t *)arg)++;
    return 0;
}

static int query(const char *sock, const char *stream, size_t runs, size_t warmup, long long expect)
{
    char filter[600];
    er_client_t *c;
    er_nack_t nack;
    double *lat, t0;
    uint64_t count;
    size_t rows, first_rows = 0, i;
    int rc;

    if ((lat = calloc(runs, sizeof(*lat))) == NULL)
        return 1;
    snprintf(filter, sizeof(filter), "{\"stream\":\"%s\"}", stream);
    if ((rc = er_connect(sock, "bench-query", ER_ACK_RECEIVED, 10000, &c)) != 0) {
        fprintf(stderr, "query: cannot connect to %s: %s\n", sock, er_strerror(rc));
        return 1;
    }
    for (i = 0; i < warmup + runs; i++) {
        rows = 0;
        memset(&nack, 0, sizeof(nack));
        t0 = now_us();
        rc = er_query(c, filter, on_row, &rows, &count, &nack, TIMEOUT_MS);
        if (i >= warmup)
            lat[i - warmup] = now_us() - t0;
        if (rc != 0) {
            fprintf(stderr, "query: QUERY failed: %s %s %s\n", er_strerror(rc), nack.code,
                    nack.message);
            return 1;
        }
        if (i == 0)
            first_rows = rows;
        if (rows != first_rows || (expect >= 0 && rows != (size_t)expect)) {
            fprintf(stderr, "query: %zu rows, expected %lld\n", rows,
                    expect >= 0 ? expect : (long long)first_rows);
            return 1;
        }
    }
    er_client_free(c);
    qsort(lat, runs, sizeof(*lat), cmp);
    /* Nearest rank. */
    printf("p50_us %.0f p99_us %.0f max_us %.0f rows %zu n %zu\n", lat[(runs * 50 + 99) / 100 - 1],
           lat[(runs * 99 + 99) / 100 - 1], lat[runs - 1], first_rows, runs);
    free(lat);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 6 && argc <= 7 && strcmp(argv[1], "-f") == 0) {
        size_t count = strtoull(argv[3], NULL, 10), target_n = strtoull(argv[4], NULL, 10);
        if (count == 0 || target_n == 0 || target_n > count) {
            fprintf(stderr, "query: COUNT >= TARGET_N > 0\n");
            return 2;
        }
        return fill(argv[2], count, target_n, argv[5], argc == 7 ? strtoull(argv[6], NULL, 10) : 0);
    }
    if (argc >= 5 && argc <= 7 && strcmp(argv[1], "-q") == 0) {
        size_t runs = strtoull(argv[4], NULL, 10);
        if (runs == 0) {
            fprintf(stderr, "query: RUNS > 0\n");
            return 2;
        }
        return query(argv[2], argv[3], runs, argc >= 6 ? strtoull(argv[5], NULL, 10) : 0,
                     argc == 7 ? strtoll(argv[6], NULL, 10) : -1);
    }
    fprintf(stderr, "usage: query -f SOCKET COUNT TARGET_N STREAM [WINDOW]\n"
                    "       query -q ADMIN_SOCKET STREAM RUNS [WARMUP [EXPECT]]\n");
    return 2;
}
