/*
 * Tail delivery latency: follow the daemon's store with TAIL (er_tail, on
 * the admin socket) while bench/latency -T publishes paced events whose
 * `time` is each one's due instant; each row's latency is now (the wall
 * clock when it arrives) minus its `time`: publish → stored → tail reader.
 * The first WARMUP rows are not measured; it ends after COUNT rows, or
 * after IDLE_S seconds without one. Prints one line:
 * "p50_us P p99_us P p999_us P n N max_us M".
 *
 *   usage: tail_latency ADMIN_SOCKET COUNT [WARMUP [IDLE_S]]
 *   (start it before the publisher: it tails from the head when it came)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eventrouter.h"

typedef struct run_s {
    double *lat;
    size_t n, want, warm, seen;
    int idles, max_idles;
} run_t;

static double wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int on_row(void *arg, const er_event_t *ev)
{
    run_t *r = arg;

    if (ev == NULL) /* idle */
        return r->seen > 0 && ++r->idles >= r->max_idles;
    r->idles = 0;
    if (r->seen++ >= r->warm && r->n < r->want)
        r->lat[r->n++] = wall_us() - (double)ev->time;
    return r->n >= r->want;
}

int main(int argc, char **argv)
{
    run_t r;
    er_client_t *c = NULL;
    er_nack_t nack;
    uint64_t count = 0;
    double p50, p99, p999;
    int rc;

    if (argc < 3) {
        fprintf(stderr, "usage: tail_latency ADMIN_SOCKET COUNT [WARMUP [IDLE_S]]\n");
        return 2;
    }
    memset(&r, 0, sizeof(r));
    r.want = strtoul(argv[2], NULL, 10);
    r.warm = argc > 3 ? strtoul(argv[3], NULL, 10) : 0;
    r.max_idles = argc > 4 ? atoi(argv[4]) * 10 : 100; /* 100 ms ticks */
    if (r.want == 0 || (r.lat = calloc(r.want, sizeof(*r.lat))) == NULL)
        return 2;
    if ((rc = er_connect(argv[1], "tail_latency", ER_ACK_RECEIVED, 30000, &c)) != 0) {
        fprintf(stderr, "tail_latency: %s: %s\n", argv[1], er_strerror(rc));
        return 1;
    }
    /* Ready: the publisher may start (the tail begins at the head now). */
    fprintf(stderr, "tail_latency: tailing\n");
    rc = er_tail(c, NULL, on_row, &r, 100, &count, &nack);
    er_client_free(c);
    if (rc != 0 && rc != -ECANCELED) {
        fprintf(stderr, "tail_latency: %s%s%s\n", er_strerror(rc), rc == ER_ENACK ? ": " : "",
                rc == ER_ENACK ? nack.message : "");
        return 1;
    }
    if (r.n == 0) {
        fprintf(stderr, "tail_latency: no rows measured\n");
        return 1;
    }
    qsort(r.lat, r.n, sizeof(*r.lat), cmp);
    p50 = r.lat[r.n / 2];
    p99 = r.lat[(size_t)((double)r.n * 0.99)];
    p999 = r.lat[(size_t)((double)r.n * 0.999)];
    printf("p50_us %.0f p99_us %.0f p999_us %.0f n %zu max_us %.0f\n", p50, p99, p999, r.n,
           r.lat[r.n - 1]);
    free(r.lat);
    return 0;
}
