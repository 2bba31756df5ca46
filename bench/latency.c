/*
 * Publish→ack latency of one publisher, against any socket that speaks the
 * protocol (eventrouterd or the raw_server baseline), in two modes.
 *
 * Round trip (the default): N blocking publishes of a small event, one at a
 * time, ack mode received. With FIFO, each round trip also waits for the
 * event's line to come out of the FIFO a `log` handler writes to:
 * publish→handler latency. Prints one line:
 * "p50_us P p99_us P p999_us P n N".
 *
 *   usage: latency SOCKET_PATH [N [FIFO]]
 *   With FIFO, start latency first: it opens the FIFO for reading, then
 *   waits (up to 30 s) for the socket to accept.
 *
 * Paced (-r RATE): one connection publishes at a fixed RATE events/s for
 * WARMUP + SECONDS (or COUNT events in all), pipelined: it never waits for
 * an ack before sending the next; WINDOW (default WELCOME's max_inflight)
 * bounds the requests outstanding, and while it is reached the sends
 * simply fall behind their schedule. The schedule is on the monotonic
 * clock from the start: event i is due at start + i / RATE, a request
 * leaves once its last event is due, and each event's latency runs from its
 * own due time to its request's ACK — so a stall delays the events
 * scheduled during it and they count it (no coordinated omission).
 * Latencies of events due in the first WARMUP seconds are dropped. Between
 * sends the client sleeps until the next is due, so the kernel's timer
 * slack (50 us by default) is part of every figure, on both sides of a
 * comparison. RATE 0 means no schedule: requests leave as fast as WINDOW
 * allows, each event timed from its request's send, and nothing is a
 * warm-up. With PREFIX every event carries the id PREFIX-<n>, n from 1
 * (so the daemon de-duplicates on it). With -T every event's `time` is
 * the wall-clock (CLOCK_REALTIME) instant it was due, in us since the epoch
 * (with RATE 0: when its request was sent), for a handler that measures
 * publish->handler latency from it (bench/latency_handler.c). Prints one
 * line:
 * "p50_us P p99_us P p999_us P n N rate R max_us M lost L", where rate is
 * the measured events over the time from the first one's due time (or
 * send) to the last one's ACK, and lost the measured events never acked
 * (NACKed, or no answer within 10 s of the end); a percentile that reaches
 * a lost event prints inf. A summary line goes to stderr.
 *
 *   usage: latency -r RATE [-d SECONDS | -n COUNT] [-w WARMUP] [-b BATCH]
 *                  [-W WINDOW] [-i PREFIX] [-a received|durable] [-T]
 *                  SOCKET_PATH
 *   defaults: SECONDS 5, WARMUP 1, BATCH 1 (events per request), ack
 *   durable.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "eventrouter.h"

/* ------------------------------------------------------------ shared */

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

/* CLOCK_REALTIME minus CLOCK_MONOTONIC, us: turns a due time on the
 * monotonic schedule into the wall-clock `time` of -T. */
static double realtime_offset_us(void)
{
    struct timespec ts;
    double mono = now_us();
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3 - mono;
}

/* ------------------------------------------------------- round trip */

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

static int roundtrip(int argc, char **argv)
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
        if ((rc = er_connect(argv[1], "bench-latency", ER_ACK_RECEIVED, 5000, &c)) == 0 || fifo < 0)
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

/* ------------------------------------------------------------ paced */

/* Request ids are handed out in order and at most max_inflight (4096 by
 * default, at most SLOTS here) are outstanding, so req & SLOT_MASK names a
 * request's slot without collisions. */
#define SLOTS     65536u
#define SLOT_MASK (SLOTS - 1)
#define ID_MAX    64

typedef struct paced_s {
    double start;  /* us, monotonic: event 0's due time (or the first send) */
    double rate;   /* events per us; 0: no schedule */
    size_t batch;  /* events per request */
    size_t warm_n; /* events due in the warm-up, not measured */
    size_t total;  /* events sent in all */
    struct {
        size_t first;   /* the request's first event */
        double sent_at; /* us, monotonic */
    } slot[SLOTS];
    uint32_t inflight_max;
    float *lat;      /* latency per measured event, us; NAN until acked */
    size_t acked;    /* measured events acked */
    size_t answered; /* requests answered (ACK or NACK) */
    double last_ack; /* us, monotonic: the last measured event's ACK */
    size_t nacked, dups;
    char first_nack[300];
} paced_t;

/* When event i was due: its place in the schedule, or (no schedule) when
 * the request holding it was sent. */
static double due(const paced_t *p, size_t i, double sent_at)
{
    return p->rate > 0 ? p->start + (double)i / p->rate : sent_at;
}

static size_t req_events(const paced_t *p, size_t first)
{
    return p->total - first < p->batch ? p->total - first : p->batch;
}

static void on_paced_ack(er_client_t *c, uint32_t req, const er_ack_t *ack, void *ud)
{
    paced_t *p = ud;
    size_t first = p->slot[req & SLOT_MASK].first, n = req_events(p, first), i;
    double t = now_us(), sent_at = p->slot[req & SLOT_MASK].sent_at;

    (void)c;
    p->answered++;
    p->dups += ack->ndups;
    for (i = first; i < first + n; i++) {
        if (i < p->warm_n)
            continue;
        p->lat[i - p->warm_n] = (float)(t - due(p, i, sent_at));
        p->acked++;
        p->last_ack = t;
    }
}

static void on_paced_nack(er_client_t *c, uint32_t req, const er_nack_t *nack, void *ud)
{
    paced_t *p = ud;

    (void)c;
    (void)req;
    p->answered++;
    if (p->nacked++ == 0)
        snprintf(p->first_nack, sizeof(p->first_nack), "%s: %s", nack->code, nack->message);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Sleep until fd is ready or until (absolute, monotonic us) `until`, then
 * do the client's I/O. Returns er_client_process()'s result. */
static int paced_wait(er_client_t *c, double until)
{
    struct pollfd pfd = {er_client_fd(c), 0, 0};
    unsigned want = er_client_events(c), got = 0;
    double d = until - now_us();
    struct timespec ts;
    int rc;

    if (d < 0)
        d = 0;
    ts.tv_sec = (time_t)(d / 1e6);
    ts.tv_nsec = (long)((d - (double)ts.tv_sec * 1e6) * 1e3);
    pfd.events = (short)((want & ER_POLLIN ? POLLIN : 0) | (want & ER_POLLOUT ? POLLOUT : 0));
    rc = ppoll(&pfd, 1, &ts, NULL);
    if (rc < 0)
        return errno == EINTR ? 0 : -errno;
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
        got |= ER_POLLIN;
    if (pfd.revents & POLLOUT)
        got |= ER_POLLOUT;
    return er_client_process(c, got);
}

static int paced_usage(void)
{
    fprintf(stderr, "usage: latency -r RATE [-d SECONDS | -n COUNT] [-w WARMUP] [-b BATCH] "
                    "[-W WINDOW] [-i PREFIX] [-a received|durable] [-T] SOCKET_PATH\n");
    return 2;
}

static int paced(int argc, char **argv)
{
    static const er_client_cbs_t cbs = {NULL, on_paced_ack, on_paced_nack, NULL, NULL};
    double rate = -1, secs = 5, warm = 1, t_first, rt_offset = 0;
    int ack_mode = ER_ACK_DURABLE, opt, rc, status = 1;
    bool stamp = false;
    size_t batch = 1, count = 0, window = 0, measured, sent = 0, reqs = 0, i, lost;
    const char *prefix = NULL;
    er_client_t *c = NULL;
    paced_t *p = NULL;
    er_event_t *evs = NULL;
    char(*ids)[ID_MAX + 1] = NULL;
    er_error_t err;
    uint32_t req;

    memset(&err, 0, sizeof(err));
    while ((opt = getopt(argc, argv, "r:d:n:w:b:W:i:a:T")) != -1) {
        switch (opt) {
        case 'r':
            rate = strtod(optarg, NULL);
            break;
        case 'd':
            secs = strtod(optarg, NULL);
            break;
        case 'n':
            count = strtoul(optarg, NULL, 10);
            break;
        case 'w':
            warm = strtod(optarg, NULL);
            break;
        case 'b':
            batch = strtoul(optarg, NULL, 10);
            break;
        case 'W':
            window = strtoul(optarg, NULL, 10);
            break;
        case 'i':
            prefix = optarg;
            break;
        case 'a':
            ack_mode = er_ack_mode_parse(optarg);
            break;
        case 'T':
            stamp = true;
            break;
        default:
            return paced_usage();
        }
    }
    if (optind != argc - 1 || rate < 0 || !(secs > 0) || warm < 0 || batch == 0 || ack_mode < 0 ||
        ack_mode == ER_ACK_NONE || (rate == 0 && count == 0) ||
        (prefix && strlen(prefix) > ID_MAX - 21))
        return paced_usage();
    if ((p = calloc(1, sizeof(*p))) == NULL)
        goto oom;
    p->rate = rate / 1e6;
    p->batch = batch;
    p->warm_n = rate > 0 ? (size_t)(warm * rate) : 0;
    p->total = count > 0 ? count : p->warm_n + (size_t)(secs * rate);
    if (p->warm_n >= p->total)
        return paced_usage();
    measured = p->total - p->warm_n;
    if ((p->lat = malloc(measured * sizeof(*p->lat))) == NULL ||
        (evs = calloc(batch, sizeof(*evs))) == NULL ||
        (prefix && (ids = calloc(batch, sizeof(*ids))) == NULL) ||
        (c = er_client_new(&cbs, p)) == NULL)
        goto oom;
    for (i = 0; i < measured; i++)
        p->lat[i] = NAN;
    evs[0].type = er_str("BenchPaced");
    evs[0].stream = er_str("bench:paced");
    evs[0].data = er_str("{\"user\":\"123\",\"ok\":true}");
    evs[0].data_is_str = true;
    for (i = 1; i < batch; i++)
        evs[i] = evs[0];

    if ((rc = er_client_connect(c, argv[optind], "bench-paced", (er_ack_mode_t)ack_mode)) != 0)
        goto fail;
    while (er_client_welcome(c) == NULL)
        if ((rc = paced_wait(c, now_us() + 5e6)) != 0)
            goto fail;
    if (window == 0 || window > er_client_welcome(c)->max_inflight)
        window = er_client_welcome(c)->max_inflight;
    if (window > SLOTS || batch > er_client_welcome(c)->max_batch) {
        fprintf(stderr,
                "latency: the daemon's max_inflight (%u) or max_batch (%u) is out of "
                "range\n",
                er_client_welcome(c)->max_inflight, er_client_welcome(c)->max_batch);
        goto out;
    }

    rt_offset = realtime_offset_us();
    p->start = now_us();
    while (sent < p->total) {
        double now = now_us();
        bool blocked = false; /* the client refused more (-ENOBUFS) */
        /* Every request whose last event is due, while the window allows. */
        while (sent < p->total && er_client_inflight(c) < window &&
               due(p, sent + req_events(p, sent) - 1, now) <= now) {
            size_t n = req_events(p, sent);
            for (i = 0; prefix && i < n; i++) {
                snprintf(ids[i], sizeof(ids[i]), "%s-%zu", prefix, sent + i + 1);
                evs[i].id = er_str(ids[i]);
            }
            for (i = 0; stamp && i < n; i++) {
                evs[i].time = (int64_t)(due(p, sent + i, now) + rt_offset);
                evs[i].has |= ER_HAS_TIME;
            }
            memset(&err, 0, sizeof(err));
            rc = n == 1 && batch == 1 ? er_client_publish_async(c, evs, &req, &err)
                                      : er_client_publish_batch_async(c, evs, n, &req, &err);
            if (rc == -ENOBUFS) {
                blocked = true;
                break;
            }
            if (rc != 0)
                goto fail;
            p->slot[req & SLOT_MASK].first = sent;
            p->slot[req & SLOT_MASK].sent_at = now;
            sent += n;
            reqs++;
            if (er_client_inflight(c) > p->inflight_max)
                p->inflight_max = (uint32_t)er_client_inflight(c);
        }
        /* Sleep until the next request is due (or, with the window full,
         * the client refusing more or no schedule, until an answer or a
         * writable socket). */
        if ((rc = paced_wait(c, sent < p->total && p->rate > 0 && !blocked &&
                                        er_client_inflight(c) < window
                                    ? due(p, sent + req_events(p, sent) - 1, now)
                                    : now + 100e3)) != 0)
            goto fail;
    }
    /* The answers still outstanding, for up to 10 s. */
    {
        double end = now_us() + 10e6;
        while (p->answered < reqs && now_us() < end)
            if ((rc = paced_wait(c, now_us() + 100e3)) != 0)
                goto fail;
    }

    lost = measured - p->acked;
    t_first = p->rate > 0 ? due(p, p->warm_n, 0) : p->start;
    /* Unanswered and NACKed events sort last as +inf: a percentile that
     * reaches them prints inf rather than pretending they were fast. */
    for (i = 0; i < measured; i++)
        if (isnan(p->lat[i]))
            p->lat[i] = INFINITY;
    qsort(p->lat, measured, sizeof(*p->lat), cmp_float);
    printf("p50_us %.1f p99_us %.1f p999_us %.1f n %zu rate %.0f max_us %.1f lost %zu\n",
           p->lat[measured / 2], p->lat[measured * 99 / 100], p->lat[measured * 999 / 1000],
           measured, p->acked > 0 ? (double)p->acked / ((p->last_ack - t_first) / 1e6) : 0.0,
           p->lat[measured - 1], lost);
    if (rate > 0)
        fprintf(stderr, "latency: paced %.0f/s, ", rate);
    else
        fprintf(stderr, "latency: unpaced, ");
    fprintf(stderr,
            "%zu events (%zu warm-up) in %zu requests of up to %zu, window %zu, most in "
            "flight %u, %zu duplicates, %zu requests NACKed%s%s\n",
            p->total, p->warm_n, reqs, batch, window, p->inflight_max, p->dups, p->nacked,
            p->nacked ? ", first: " : "", p->first_nack);
    status = 0;
    goto out;
oom:
    fprintf(stderr, "latency: out of memory\n");
    goto out;
fail:
    fprintf(stderr, "latency: %s: %s%s%s\n", argv[optind], er_strerror(rc),
            err.code == rc && rc != 0 ? " " : "", err.code == rc && rc != 0 ? err.message : "");
out:
    er_client_free(c);
    free(evs);
    free(ids);
    if (p)
        free(p->lat);
    free(p);
    return status;
}

int main(int argc, char **argv)
{
    int i;

    signal(SIGPIPE, SIG_IGN);
    for (i = 1; i < argc; i++)
        if (strncmp(argv[i], "-r", 2) == 0)
            return paced(argc, argv);
    return roundtrip(argc, argv);
}
