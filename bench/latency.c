/*
 * Publish→ack round-trip latency of one publisher: N blocking publishes of
 * a small event, one at a time, against any socket that speaks the
 * protocol (eventrouterd or the raw_server baseline). Prints one line:
 * "p50_us P p99_us P p999_us P n N".
 *
 * usage: latency SOCKET_PATH [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eventrouter.h"

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000, i, warm = n / 10;
    double *lat;
    er_client_t *c;
    er_event_t ev;
    er_nack_t nack;
    er_error_t err;
    uint64_t seq;
    int rc;

    if (argc < 2) {
        fprintf(stderr, "usage: latency SOCKET_PATH [N]\n");
        return 2;
    }
    lat = calloc(n, sizeof(*lat));
    if ((rc = er_connect(argv[1], "bench-latency", ER_ACK_RECEIVED, 5000, &c)) != 0) {
        fprintf(stderr, "latency: connect %s: %s\n", argv[1], er_strerror(rc));
        return 3;
    }
    memset(&ev, 0, sizeof(ev));
    ev.type = er_str("BenchLatency");
    ev.stream = er_str("bench:latency");
    ev.data = er_str("{\"user\":\"123\",\"ok\":true}");
    ev.data_is_str = true;
    for (i = 0; i < warm + n; i++) {
        double t0 = now_us();
        if ((rc = er_publish(c, &ev, &seq, &nack, &err)) != 0) {
            fprintf(stderr, "latency: publish: %s %s\n", er_strerror(rc),
                    rc == ER_ENACK ? nack.message : "");
            return 1;
        }
        if (i >= warm)
            lat[i - warm] = now_us() - t0;
    }
    qsort(lat, n, sizeof(*lat), cmp);
    printf("p50_us %.1f p99_us %.1f p999_us %.1f n %zu\n", lat[n / 2], lat[n * 99 / 100],
           lat[n * 999 / 1000], n);
    er_client_free(c);
    free(lat);
    return 0;
}
