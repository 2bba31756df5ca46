/*
 * eventctl publish --from-file: send each line of a file (or stdin) in the
 * JSON shape of eventctl(1) as one PUBLISH, pipelined, and print the
 * assigned seqs in line order. Lines are sent individually, not batched, so
 * a refused line refuses only itself: it is reported on stderr as
 * "eventctl: line N: refused (CODE): REASON", the exit status becomes 1 and
 * the following lines are still sent. Blank lines are skipped.
 *
 * Input is read in chunks with read(2); while it waits for input, the
 * connection is served (answers read, seqs printed, queued frames written),
 * so a slow producer such as `tail -f` sees its events go out at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eventctl.h"

#define MAX_LINE   (64u * 1024 * 1024)
#define READ_CHUNK (64u * 1024)
/* Lines remembered: the answers to at most this many may be outstanding
 * (under ack mode none: how far back a late NACK can still be matched to
 * its line). */
#define RING 65536u

enum ent_state { ENT_PENDING, ENT_ACKED, ENT_NACKED, ENT_SENT };

struct ent {
    uint64_t line;
    uint64_t seq;
    uint32_t req;
    uint8_t state;
};

struct ff {
    const ctl_t *ctl;
    ctl_session_t s;
    bool none;
    int status;

    struct ent *ring; /* RING entries, indexed by send order */
    uint64_t head;    /* the oldest line not yet printed */
    uint64_t tail;    /* the next line sent */

    int fd; /* input */
    char *buf;
    size_t off, len, cap;
    bool eof, skipping;
    uint64_t line;
    int conn_rc; /* a connection error met while waiting for input */
};

/* ------------------------------------------------------------- answers */

static struct ent *find(struct ff *f, uint32_t req)
{
    uint64_t k, lo;

    if (!f->none) {
        /* Answers mostly come in order: the match is usually at head. */
        for (k = f->head; k < f->tail; k++) {
            struct ent *e = &f->ring[k % RING];
            if (e->req == req && e->state == ENT_PENDING)
                return e;
        }
        return NULL;
    }
    lo = f->tail > RING ? f->tail - RING : 0;
    for (k = f->tail; k > lo; k--)
        if (f->ring[(k - 1) % RING].req == req)
            return &f->ring[(k - 1) % RING];
    return NULL;
}

static void on_ack(er_client_t *c, uint32_t req, const er_ack_t *ack, void *ud)
{
    struct ff *f = ud;
    struct ent *e = find(f, req);

    (void)c;
    if (e == NULL)
        return;
    e->state = ENT_ACKED;
    e->seq = ack->count > 0 ? ack->seq : ack->ndups > 0 ? ack->dups[0].seq : 0;
}

static void on_nack(er_client_t *c, uint32_t req, const er_nack_t *nack, void *ud)
{
    struct ff *f = ud;
    struct ent *e = find(f, req);
    char where[48];

    (void)c;
    if (e != NULL) {
        snprintf(where, sizeof where, "line %llu", (unsigned long long)e->line);
        if (e->state == ENT_PENDING)
            e->state = ENT_NACKED;
    } else {
        snprintf(where, sizeof where, "request %u", req);
    }
    f->status = ctl_refused(where, nack->code, nack->message);
}

/* Print the seqs of the lines answered, in line order. */
static void print_ready(struct ff *f)
{
    while (f->head < f->tail && f->ring[f->head % RING].state != ENT_PENDING) {
        struct ent *e = &f->ring[f->head % RING];
        if (e->state == ENT_ACKED) {
            if (f->ctl->json)
                printf("{\"line\":%llu,\"seq\":%llu}\n", (unsigned long long)e->line,
                       (unsigned long long)e->seq);
            else
                printf("%llu\n", (unsigned long long)e->seq);
        }
        f->head++;
    }
}

/* --------------------------------------------------------------- input */

/* Wait until the input is readable, serving the connection meanwhile.
 * Returns 0, or -1 with f->conn_rc set (or errno for poll). */
static int wait_input(struct ff *f)
{
    for (;;) {
        unsigned ev = er_client_events(f->s.c), rev = 0;
        struct pollfd p[2] = {
            {f->fd, POLLIN, 0},
            {er_client_fd(f->s.c),
             (short)((ev & ER_POLLIN ? POLLIN : 0) | (ev & ER_POLLOUT ? POLLOUT : 0)), 0},
        };
        fflush(stdout);
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            f->conn_rc = -errno;
            return -1;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR))
            rev |= ER_POLLIN;
        if (p[1].revents & (POLLOUT | POLLERR))
            rev |= ER_POLLOUT;
        if (rev && (f->conn_rc = er_client_process(f->s.c, rev)) != 0)
            return -1;
        print_ready(f);
        if (p[0].revents)
            return 0;
    }
}

/* Read more input. Returns 0, -1 (connection error in f->conn_rc) or a
 * negative errno of the input. */
static int fill(struct ff *f)
{
    ssize_t r;
    char *nb;

    if (f->off > 0) {
        memmove(f->buf, f->buf + f->off, f->len - f->off);
        f->len -= f->off;
        f->off = 0;
    }
    if (f->len == f->cap) {
        if (f->cap >= MAX_LINE) {
            /* A line that long is refused; drop it up to its newline. */
            char where[48];
            snprintf(where, sizeof where, "line %llu", (unsigned long long)f->line + 1);
            f->status = ctl_refused(where, "too_large", "line longer than 64 MiB");
            f->skipping = true;
            f->len = 0;
        } else {
            size_t cap = f->cap ? f->cap * 2 : READ_CHUNK;
            if ((nb = realloc(f->buf, cap)) == NULL)
                return -ENOMEM;
            f->buf = nb;
            f->cap = cap;
        }
    }
    if (wait_input(f) != 0)
        return -1;
    do
        r = read(f->fd, f->buf + f->len, f->cap - f->len);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    if (r == 0)
        f->eof = true;
    f->len += (size_t)r;
    return 0;
}

/* The next line, without its line end, in *p and *n (valid until the
 * next call). Returns 1, 0 at the end of the input, or what fill() failed with. */
static int next_line(struct ff *f, char **p, size_t *n)
{
    int rc;

    for (;;) {
        char *start = f->buf + f->off, *nl = NULL;
        if (f->len > f->off)
            nl = memchr(start, '\n', f->len - f->off);
        if (nl == NULL && f->eof && f->len > f->off)
            nl = f->buf + f->len; /* a last line without a newline */
        if (nl != NULL) {
            f->off = (size_t)(nl - f->buf) + (nl < f->buf + f->len);
            f->line++;
            if (f->skipping) {
                f->skipping = false;
                continue;
            }
            *p = start;
            *n = (size_t)(nl - start);
            if (*n > 0 && start[*n - 1] == '\r')
                (*n)--;
            return 1;
        }
        if (f->eof)
            return 0;
        if ((rc = fill(f)) != 0)
            return rc;
    }
}

static bool blank(const char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t')
            return false;
    return true;
}

/* ---------------------------------------------------------------- send */

/* Queue one parsed line. Returns 0 (sent or refused locally) or a
 * connection error. */
static int send_line(struct ff *f, const er_event_t *ev)
{
    char where[48];
    er_error_t err;
    uint32_t req;
    int rc;

    for (;;) {
        memset(&err, 0, sizeof(err));
        if (!f->none && f->tail - f->head >= RING)
            rc = -ENOBUFS;
        else
            rc = er_client_publish_async(f->s.c, ev, &req, &err);
        if (rc != -ENOBUFS)
            break;
        if ((rc = er_client_wait(f->s.c, -1)) != 0)
            return rc;
        print_ready(f);
    }
    if (rc != 0 && err.code == rc) {
        snprintf(where, sizeof where, "line %llu", (unsigned long long)f->line);
        f->status = ctl_refused_local(where, rc, &err);
        return 0;
    }
    if (rc != 0)
        return rc;
    f->ring[f->tail % RING] = (struct ent){f->line, 0, req, f->none ? ENT_SENT : ENT_PENDING};
    f->tail++;
    return 0;
}

static int run(struct ff *f, bool reimport)
{
    char where[48];
    er_error_t err;
    er_event_t ev;
    void *storage;
    char *p = NULL;
    size_t n = 0;
    int rc;

    while ((rc = next_line(f, &p, &n)) == 1) {
        if (blank(p, n))
            continue;
        memset(&err, 0, sizeof(err));
        if ((rc = er_event_from_json(p, n, &ev, &storage, &err)) != 0) {
            snprintf(where, sizeof where, "line %llu", (unsigned long long)f->line);
            f->status = ctl_refused_local(where, rc, &err);
            free(storage);
            continue;
        }
        if (reimport)
            er_event_strip_daemon_fields(&ev);
        rc = send_line(f, &ev);
        free(storage); /* the event was encoded into the output buffer */
        if (rc != 0)
            return ctl_fail(&f->s, rc);
        print_ready(f);
    }
    if (rc == -1)
        return ctl_fail(&f->s, f->conn_rc);
    if (rc < 0) {
        ctl_err("publish: --from-file: %s", er_strerror(rc));
        return CTL_USAGE;
    }
    /* Every answer; under ack mode none, a PING round trip brings every
     * NACK still on its way (the daemon answers in order). */
    if ((rc = er_client_drain(f->s.c, -1)) == 0 && f->none)
        rc = er_ping(f->s.c, -1);
    print_ready(f);
    if (rc != 0)
        return ctl_fail(&f->s, rc);
    return f->status;
}

int ctl_publish_from_file(ctl_t *ctl, const char *path, er_ack_mode_t ack, bool reimport)
{
    static const er_client_cbs_t cbs = {NULL, on_ack, on_nack, NULL, NULL};
    struct ff *f;
    int status;

    if ((f = calloc(1, sizeof(*f))) == NULL || (f->ring = calloc(RING, sizeof(*f->ring))) == NULL) {
        ctl_err("out of memory");
        free(f);
        return CTL_REFUSED;
    }
    f->ctl = ctl;
    f->none = ack == ER_ACK_NONE;
    f->fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        ctl_err("publish: --from-file %s: %s", path, er_strerror(-errno));
        status = CTL_USAGE;
        goto out;
    }
    if ((status = ctl_open(ctl, &f->s, ack, &cbs, f)) != CTL_OK)
        goto out;
    status = run(f, reimport);
    ctl_close(&f->s);
out:
    if (f->fd > 0)
        close(f->fd);
    fflush(stdout);
    free(f->buf);
    free(f->ring);
    free(f);
    return status;
}
