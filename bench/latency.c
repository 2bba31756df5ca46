/*
 * Publish→ack round-trip latency of one publisher: N blocking publishes of
 * a small event, one at a time, against any socket that speaks the
 * protocol (eventrouterd or the raw_server baseline). With FIFO, each
 * round trip also waits for the event's line to come out of the FIFO a
 * `log` handler writes to: publish→handler latency. Prints one line:
 * "p50_us P p99_us P p999_us P n N".
 *
 * usage: latency SOCKET_PATH [N [FIFO]]
 * With FIFO, start latency first: it opens the FIFO for reading, then
 * waits (up to 30 s) for the socket to accept.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* Read from fd until a newline arrives (lines are small; one event each). */
static int wait_line(int fd, char *buf, size_t cap, size_t *have)
{
    for (;;) {
        char *nl = memchr(buf, '\n', *have);
        struct pollfd pfd = {fd, POLLIN, 0};
        ssize_t r;
        if (nl) {
            size_t used = (size_t)(nl - buf) + 1;
            memmove(buf, nl + 1, *have - used);
            *have -= used;
            return 0;
        }
        if (poll(&pfd, 1, 10000) <= 0)
            return -1;
        r = read(fd, buf + *have, cap - *have);
        if (r <= 0 && errno != EAGAIN)
            return -1;
        if (r > 0)
            *have += (size_t)r;
    }
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

    int fifo = -1, tries;
    static char line[1 << 16];
    size_t have = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: latency SOCKET_PATH [N [FIFO]]\n");
        return 2;
    }
    if (argc > 3) {
        if ((fifo = open(argv[3], O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
            perror(argv[3]);
            return 1;
        }
    }
    lat = calloc(n, sizeof(*lat));
    for (tries = 0; tries < 3000; tries++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        if ((rc = er_connect(argv[1], "bench-latency", ER_ACK_RECEIVED, 5000, &c)) == 0 ||
            fifo < 0)
            break;
        nanosleep(&ts, NULL);
    }
    if (rc != 0) {
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
        if (fifo >= 0 && wait_line(fifo, line, sizeof(line), &have) != 0) {
            fprintf(stderr, "latency: no line from %s for seq %llu\n", argv[3],
                    (unsigned long long)seq);
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
    if (fifo >= 0)
        close(fifo);
    return 0;
}
