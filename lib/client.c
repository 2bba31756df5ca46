/*
 * The client of <eventrouter.h>: a non-blocking core (one Unix socket, an
 * output buffer, the frame reader, a table of requests in flight) that any
 * event loop can drive through er_client_fd()/er_client_events()/
 * er_client_process(), and blocking wrappers that drive it with poll(2).
 *
 * Pipelining costs no syscall or allocation per request: requests are
 * encoded into one output buffer, which is written when it holds
 * WRITE_EAGER bytes or when the caller processes POLLOUT; answers are read
 * in large chunks and matched by request id in an open-addressing table.
 *
 * A client is used by one thread at a time. Callbacks run inside
 * er_client_process() (and so inside the blocking wrappers); they may queue
 * requests but must not call er_client_free() or a blocking wrapper.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "eventrouter.h"
#include "frame.h"
#include "proto.h"

#include <jansson.h>

/* Write as soon as this much is queued, so a pipelining producer's frames
 * leave in large chunks while the peer is already working. */
#define WRITE_EAGER (64u * 1024)
/* Refuse new requests (-ENOBUFS) while this much is still unwritten. */
#define OUT_LIMIT (4u * 1024 * 1024)
/* Read at least this much per read(2) when the buffer allows. */
#define READ_MIN  (16u * 1024)
#define TABLE_MIN 64u

enum state {
    ST_IDLE,       /* never connected */
    ST_CONNECTING, /* connect(2) in progress */
    ST_OPEN,       /* connected (WELCOME may still be on its way) */
    ST_GOAWAY,     /* GOAWAY received: answers still read, nothing sent */
    ST_DEAD,       /* unusable: `error` says why */
};

enum req_kind { REQ_PUBLISH = 1, REQ_BATCH, REQ_PING, REQ_ADMIN, REQ_QUERY, REQ_TAIL };

/* A request in flight; req 0 marks an empty slot. */
struct slot {
    uint32_t req;
    uint32_t nevents; /* events in a PUBLISH/PUBLISH_BATCH */
    uint8_t kind;
};

/* What a blocking wrapper waits for: the answer to `req`. */
struct waiter {
    uint32_t req; /* 0: nobody waits */
    bool done;
    int rc; /* 0 (ACK/PONG) or ER_ENACK */
    er_ack_t ack;
    er_nack_t nack;
    char *reply; /* REPLY as compact JSON (er_admin) */
    /* er_query: where rows go, whether it stopped them (CANCEL sent),
     * frames seen (each restarts the timeout) and END's count. */
    er_row_cb row;
    void *row_arg;
    bool stopped;
    uint64_t progress;
    uint64_t count;
};

struct er_client_s {
    const er_client_cbs_t *cbs;
    void *ud;
    int fd;
    enum state state;
    int error; /* ST_DEAD: what every call returns */
    er_ack_mode_t ack_mode;
    bool have_welcome;
    bool conn_nacked; /* a NACK with request id 0 came: the daemon closes */
    er_welcome_t welcome;
    er_nack_t conn_nack;

    er_buf_t out;
    size_t out_off; /* bytes of out already written */
    er_framer_t in;

    uint32_t next_req;
    struct slot *slots; /* power-of-two table, linear probing */
    size_t mask;
    size_t nslots_used;

    er_dup_t *dups; /* ACK decode buffer, grown to the largest batch sent */
    size_t dups_cap;
    er_dup_t *res_dups; /* er_publish_batch's result, valid until the next call */
    size_t res_dups_cap;
    struct waiter wait;
};

/* Limits that apply before WELCOME. */
static const er_welcome_t default_limits = {
    ER_PROTOCOL_VERSION,  false,
    ER_DEFAULT_MAX_FRAME, ER_DEFAULT_MAX_EVENT_SIZE,
    ER_DEFAULT_MAX_BATCH, ER_DEFAULT_MAX_INFLIGHT,
};

static const er_welcome_t *limits(const er_client_t *c)
{
    return c->have_welcome ? &c->welcome : &default_limits;
}

static size_t out_pending(const er_client_t *c)
{
    return c->out.len - c->out_off;
}

/* ------------------------------------------------- requests in flight */

/*
 * Request ids are a counter, so the requests in flight are (nearly) a
 * window of consecutive ids: a table indexed directly by id & mask holds
 * them with O(1) insert, lookup and removal. When two ids in flight would
 * share a slot, the table doubles until they do not; its size follows the
 * span of ids this client has in flight, never what the peer claims.
 */

static struct slot *table_find(const er_client_t *c, uint32_t req)
{
    struct slot *s;
    if (c->slots == NULL || req == 0)
        return NULL;
    s = &c->slots[req & c->mask];
    return s->req == req ? s : NULL;
}

/* Rehash into ncap slots; fails (returns 1) on a collision, -ENOMEM. */
static int table_rehash(er_client_t *c, size_t ncap)
{
    size_t cap = c->slots ? c->mask + 1 : 0, i;
    struct slot *ns = calloc(ncap, sizeof(*ns));

    if (ns == NULL)
        return -ENOMEM;
    for (i = 0; i < cap; i++) {
        uint32_t req = c->slots[i].req;
        if (req == 0)
            continue;
        if (ns[req & (ncap - 1)].req != 0) {
            free(ns);
            return 1;
        }
        ns[req & (ncap - 1)] = c->slots[i];
    }
    free(c->slots);
    c->slots = ns;
    c->mask = ncap - 1;
    return 0;
}

/* Make the slot of req free. Returns 0 or -ENOMEM. */
static int table_reserve(er_client_t *c, uint32_t req)
{
    size_t ncap = c->slots ? (c->mask + 1) * 2 : TABLE_MIN;
    int rc;

    if (c->slots != NULL && c->slots[req & c->mask].req == 0)
        return 0;
    for (;; ncap *= 2) {
        if (ncap > ((size_t)1 << 32) || (rc = table_rehash(c, ncap)) < 0)
            return -ENOMEM;
        if (rc == 0 && c->slots[req & c->mask].req == 0)
            return 0;
    }
}

static void table_put(er_client_t *c, const struct slot *s)
{
    c->slots[s->req & c->mask] = *s;
    c->nslots_used++;
}

static void table_remove(er_client_t *c, struct slot *s)
{
    s->req = 0;
    c->nslots_used--;
}

static void table_clear(er_client_t *c)
{
    if (c->slots)
        memset(c->slots, 0, (c->mask + 1) * sizeof(*c->slots));
    c->nslots_used = 0;
}

/* The next request id: a uint32 counter from 1 that skips 0 on wrap and
 * any id still in flight. Only consumed once the request is queued. */
static uint32_t peek_req(const er_client_t *c)
{
    uint32_t r = c->next_req;
    while (r == 0 || table_find(c, r) != NULL)
        r++;
    return r;
}

static void take_req(er_client_t *c, uint32_t r)
{
    c->next_req = r + 1 ? r + 1 : 1;
}

/* -------------------------------------------------------------- failure */

static int fail(er_client_t *c, int err)
{
    if (c->state != ST_DEAD) {
        c->state = ST_DEAD;
        c->error = err;
        table_clear(c);
        c->out.len = c->out_off = 0;
    }
    return c->error;
}

/* The peer closed (or reset) the connection: why it matters to the caller. */
static int peer_closed(er_client_t *c)
{
    if (c->conn_nacked)
        return fail(c, ER_ENACK);
    if (c->state == ST_GOAWAY)
        return fail(c, ER_EGOAWAY);
    return fail(c, ER_ECLOSED);
}

/* ------------------------------------------------------------- dispatch */

static void wait_capture_ack(er_client_t *c, uint32_t req, const er_ack_t *ack)
{
    if (c->wait.req != req || req == 0)
        return;
    c->wait.done = true;
    c->wait.rc = 0;
    c->wait.ack = *ack;
    if (ack->ndups > c->res_dups_cap) {
        er_dup_t *nd = realloc(c->res_dups, ack->ndups * sizeof(*nd));
        if (nd == NULL) {
            c->wait.rc = -ENOMEM;
            return;
        }
        c->res_dups = nd;
        c->res_dups_cap = ack->ndups;
    }
    if (ack->ndups)
        memcpy(c->res_dups, ack->dups, ack->ndups * sizeof(*ack->dups));
    c->wait.ack.dups = c->res_dups;
}

static void wait_capture_nack(er_client_t *c, uint32_t req, const er_nack_t *nack)
{
    if (c->wait.req != req || req == 0)
        return;
    c->wait.done = true;
    c->wait.rc = ER_ENACK;
    c->wait.nack = *nack;
}

static int on_welcome(er_client_t *c, const er_msg_t *m)
{
    er_welcome_t w;

    if (c->have_welcome || er__welcome_decode(m, &w, NULL) != 0)
        return fail(c, ER_EPROTO);
    /* A zero limit would make every request wait forever. */
    if (w.max_frame == 0 || w.max_event_size == 0 || w.max_batch == 0 || w.max_inflight == 0)
        return fail(c, ER_EPROTO);
    c->welcome = w;
    c->have_welcome = true;
    /* Answers are small but ROWS may be as large as the daemon's frames:
     * accept what it announced, and never less than the default. */
    c->in.max_frame = w.max_frame > ER_DEFAULT_MAX_FRAME ? w.max_frame : ER_DEFAULT_MAX_FRAME;
    if (c->cbs && c->cbs->on_welcome)
        c->cbs->on_welcome(c, &c->welcome, c->ud);
    return 0;
}

static int grow_dups(er_client_t *c, size_t n)
{
    er_dup_t *nd;
    if (n <= c->dups_cap)
        return 0;
    if ((nd = realloc(c->dups, n * sizeof(*nd))) == NULL)
        return -ENOMEM;
    c->dups = nd;
    c->dups_cap = n;
    return 0;
}

static int on_ack(er_client_t *c, const er_msg_t *m)
{
    struct slot *s = table_find(c, m->req);
    er_ack_t ack;
    uint32_t nevents;
    size_t i;

    if (m->req == 0 || s == NULL || (s->kind != REQ_PUBLISH && s->kind != REQ_BATCH))
        return fail(c, ER_EPROTO);
    nevents = s->nevents;
    if (grow_dups(c, nevents) != 0)
        return fail(c, -ENOMEM);
    if (er__ack_decode(m, &ack, c->dups, nevents, NULL) != 0)
        return fail(c, ER_EPROTO);
    /* Every event of the request is either newly stored or a duplicate. */
    if (ack.ndups > nevents || (uint64_t)ack.count + ack.ndups != nevents)
        return fail(c, ER_EPROTO);
    for (i = 0; i < ack.ndups; i++)
        if (ack.dups[i].index >= nevents)
            return fail(c, ER_EPROTO);
    table_remove(c, s);
    wait_capture_ack(c, m->req, &ack);
    if (c->cbs && c->cbs->on_ack)
        c->cbs->on_ack(c, m->req, &ack, c->ud);
    return 0;
}

static int on_nack(er_client_t *c, const er_msg_t *m)
{
    struct slot *s = NULL;
    er_nack_t nack;

    if (er__nack_decode(m, &nack, NULL) != 0)
        return fail(c, ER_EPROTO);
    if (m->req == 0) {
        /* About the connection itself: the daemon closes it next. */
        c->conn_nacked = true;
        c->conn_nack = nack;
    } else if ((s = table_find(c, m->req)) != NULL) {
        table_remove(c, s);
    } else if (c->ack_mode != ER_ACK_NONE) {
        /* Under ack mode none, PUBLISHes are not tracked, so a NACK may
         * name any id; otherwise the id must be one in flight. */
        return fail(c, ER_EPROTO);
    }
    wait_capture_nack(c, m->req, &nack);
    if (c->cbs && c->cbs->on_nack)
        c->cbs->on_nack(c, m->req, &nack, c->ud);
    return 0;
}

static int on_pong(er_client_t *c, const er_msg_t *m)
{
    struct slot *s = table_find(c, m->req);
    er_ack_t none = {0, 0, NULL, 0};

    if (m->req == 0 || s == NULL || s->kind != REQ_PING || er__nil_decode(m, NULL) != 0)
        return fail(c, ER_EPROTO);
    table_remove(c, s);
    wait_capture_ack(c, m->req, &none);
    if (c->cbs && c->cbs->on_pong)
        c->cbs->on_pong(c, m->req, c->ud);
    return 0;
}

static int on_reply(er_client_t *c, const er_msg_t *m)
{
    struct slot *s = table_find(c, m->req);
    json_t *j;

    if (m->req == 0 || s == NULL || s->kind != REQ_ADMIN)
        return fail(c, ER_EPROTO);
    if (er__reply_decode(m, &j, NULL) != 0)
        return fail(c, ER_EPROTO);
    table_remove(c, s);
    if (c->wait.req == m->req) {
        c->wait.done = true;
        free(c->wait.reply);
        c->wait.reply = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
        c->wait.rc = c->wait.reply ? 0 : -ENOMEM;
    }
    json_decref(j);
    return 0;
}

/* ROWS of a query in flight: each event to the waiting er_query, unless
 * its callback stopped it (then CANCEL is on its way). */
static int on_rows(er_client_t *c, const er_msg_t *m)
{
    struct slot *s = table_find(c, m->req);
    er_mp_reader_t r;
    er_event_t ev;
    uint32_t n, i;
    bool deliver = c->wait.req == m->req && c->wait.row != NULL;

    if (m->req == 0 || s == NULL || (s->kind != REQ_QUERY && s->kind != REQ_TAIL))
        return fail(c, ER_EPROTO);
    if (er__rows_begin(m, &r, &n, NULL) != 0)
        return fail(c, ER_EPROTO);
    for (i = 0; i < n; i++) {
        if (er__event_read(&r, &ev, 0, limits(c)->max_event_size, NULL) != 0)
            return fail(c, ER_EPROTO);
        if (!deliver || c->wait.stopped)
            continue;
        if (c->wait.row(c->wait.row_arg, &ev) != 0) {
            c->wait.stopped = true;
            if (er__nil_encode(&c->out, ER_OP_CANCEL, m->req) != 0)
                return fail(c, -ENOMEM);
        }
    }
    if (er__rows_end(&r, NULL) != 0)
        return fail(c, ER_EPROTO);
    if (c->wait.req == m->req)
        c->wait.progress++;
    return 0;
}

static int on_end(er_client_t *c, const er_msg_t *m)
{
    struct slot *s = table_find(c, m->req);
    uint64_t count;

    if (m->req == 0 || s == NULL || (s->kind != REQ_QUERY && s->kind != REQ_TAIL) ||
        er__end_decode(m, &count, NULL) != 0)
        return fail(c, ER_EPROTO);
    table_remove(c, s);
    if (c->wait.req == m->req) {
        c->wait.done = true;
        c->wait.rc = c->wait.stopped ? -ECANCELED : 0;
        c->wait.count = count;
    }
    return 0;
}

static int on_goaway(er_client_t *c, const er_msg_t *m)
{
    char reason[256];

    if (er__goaway_decode(m, reason, sizeof reason, NULL) != 0)
        return fail(c, ER_EPROTO);
    if (c->state == ST_OPEN)
        c->state = ST_GOAWAY;
    if (c->cbs && c->cbs->on_goaway)
        c->cbs->on_goaway(c, reason, c->ud);
    return 0;
}

/* One frame from the daemon. WELCOME comes first; before it only a NACK
 * about the connection or a GOAWAY may. */
static int dispatch(er_client_t *c, const uint8_t *payload, size_t len)
{
    er_msg_t m;

    if (er__msg_parse(payload, len, &m, NULL) != 0)
        return fail(c, ER_EPROTO);
    if (!c->have_welcome && m.op != ER_OP_WELCOME && m.op != ER_OP_GOAWAY &&
        !(m.op == ER_OP_NACK && m.req == 0))
        return fail(c, ER_EPROTO);
    switch (m.op) {
    case ER_OP_WELCOME:
        return on_welcome(c, &m);
    case ER_OP_ACK:
        return on_ack(c, &m);
    case ER_OP_NACK:
        return on_nack(c, &m);
    case ER_OP_PONG:
        return on_pong(c, &m);
    case ER_OP_GOAWAY:
        return on_goaway(c, &m);
    case ER_OP_REPLY:
        return on_reply(c, &m);
    case ER_OP_ROWS:
        return on_rows(c, &m);
    case ER_OP_END:
        return on_end(c, &m);
    default:
        return fail(c, ER_EPROTO);
    }
}

/* ------------------------------------------------------------------ I/O */

/* Read until the socket is empty, dispatching every complete frame. */
static int read_in(er_client_t *c)
{
    const uint8_t *payload;
    uint8_t *p;
    size_t n, len;
    ssize_t r;
    int rc;

    for (;;) {
        if (er__framer_space(&c->in, READ_MIN, &p, &n) != 0)
            return fail(c, -ENOMEM);
        r = read(c->fd, p, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == ECONNRESET)
                return peer_closed(c);
            return fail(c, -errno);
        }
        if (r == 0)
            return peer_closed(c);
        er__framer_commit(&c->in, (size_t)r);
        while ((rc = er__framer_next(&c->in, &payload, &len)) == 1) {
            if (dispatch(c, payload, len) != 0)
                return c->error;
        }
        if (rc < 0)
            return fail(c, ER_EPROTO);
        if ((size_t)r < n)
            break; /* the socket had less than we could take: it is empty */
    }
    er__framer_shrink(&c->in);
    return 0;
}

/* Write as much of the output buffer as the socket takes. */
static int flush_out(er_client_t *c)
{
    ssize_t w;

    while (out_pending(c) > 0) {
        w = send(c->fd, c->out.data + c->out_off, out_pending(c), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EPIPE || errno == ECONNRESET) {
                /* The daemon closed: what it said last (GOAWAY, a NACK)
                 * explains why, so read it before reporting. */
                if (read_in(c) != 0)
                    return c->error;
                return peer_closed(c);
            }
            return fail(c, -errno);
        }
        c->out_off += (size_t)w;
    }
    if (c->out_off == c->out.len) {
        c->out.len = c->out_off = 0;
    } else if (c->out_off >= WRITE_EAGER && c->out_off >= c->out.len / 2) {
        er__buf_consume(&c->out, c->out_off);
        c->out_off = 0;
    }
    return 0;
}

/* ------------------------------------------------------------ the core */

const char *er_default_socket(void)
{
    const char *s = getenv("EVENTROUTER_SOCKET");
    return s && *s ? s : ER_DEFAULT_SOCKET;
}

const char *er_default_admin_socket(void)
{
    const char *s = getenv("EVENTROUTER_ADMIN_SOCKET");
    return s && *s ? s : ER_DEFAULT_ADMIN_SOCKET;
}

er_client_t *er_client_new(const er_client_cbs_t *cbs, void *ud)
{
    er_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->cbs = cbs;
    c->ud = ud;
    c->fd = -1;
    c->next_req = 1;
    er__framer_init(&c->in, ER_DEFAULT_MAX_FRAME);
    return c;
}

void er_client_free(er_client_t *c)
{
    if (c == NULL)
        return;
    if (c->fd >= 0)
        close(c->fd);
    er__buf_free(&c->out);
    er__framer_free(&c->in);
    free(c->slots);
    free(c->dups);
    free(c->res_dups);
    free(c->wait.reply);
    free(c);
}

/* Forget a previous connection so the client can connect again. The
 * request counter keeps running, so ids are not reused soon. */
static void reset(er_client_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = ST_IDLE;
    c->error = 0;
    c->have_welcome = false;
    c->conn_nacked = false;
    c->out.len = c->out_off = 0;
    er__framer_free(&c->in);
    er__framer_init(&c->in, ER_DEFAULT_MAX_FRAME);
    table_clear(c);
}

int er_client_connect(er_client_t *c, const char *path, const char *client_name, er_ack_mode_t ack)
{
    struct sockaddr_un sa;
    size_t n;
    int fd, rc;

    if (c->state == ST_CONNECTING || c->state == ST_OPEN || c->state == ST_GOAWAY)
        return -EISCONN;
    if (ack != ER_ACK_NONE && ack != ER_ACK_RECEIVED && ack != ER_ACK_DURABLE)
        return -EINVAL;
    if (path == NULL)
        path = er_default_socket();
    n = strlen(path);
    if (n == 0)
        return -EINVAL;
    if (n >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    reset(c);

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (errno != EINPROGRESS) {
            /* EAGAIN here means the listen backlog is full: retry later. */
            rc = -errno;
            close(fd);
            return rc;
        }
        c->state = ST_CONNECTING;
    } else {
        c->state = ST_OPEN;
    }
    c->fd = fd;
    c->ack_mode = ack;
    if ((rc = er__hello_encode(&c->out, 0, client_name ? client_name : "libeventrouter", ack)) !=
        0) {
        reset(c);
        return rc;
    }
    return 0;
}

int er_client_fd(const er_client_t *c)
{
    return c->fd;
}

unsigned er_client_events(const er_client_t *c)
{
    if (c->fd < 0 || c->state == ST_DEAD || c->state == ST_IDLE)
        return 0;
    if (c->state == ST_CONNECTING)
        return ER_POLLOUT;
    return ER_POLLIN | (out_pending(c) > 0 ? ER_POLLOUT : 0);
}

int er_client_process(er_client_t *c, unsigned revents)
{
    int rc;

    if (c->state == ST_DEAD)
        return c->error;
    if (c->fd < 0)
        return -ENOTCONN;
    if (c->state == ST_CONNECTING) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (!(revents & (ER_POLLIN | ER_POLLOUT)))
            return 0;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
            return fail(c, -errno);
        if (soerr != 0)
            return fail(c, -soerr);
        c->state = ST_OPEN;
    }
    if ((revents & ER_POLLIN) && (rc = read_in(c)) != 0)
        return rc;
    /* Also without POLLOUT: callbacks may just have queued frames, and a
     * non-blocking send costs nothing when the socket is full. */
    if (out_pending(c) > 0 && (rc = flush_out(c)) != 0)
        return rc;
    return 0;
}

/* May a new request be queued now? 0, or the reason not. */
static int can_send(er_client_t *c, bool counted)
{
    if (c->state == ST_DEAD)
        return c->error;
    if (c->state == ST_GOAWAY)
        return ER_EGOAWAY;
    if (c->state == ST_IDLE)
        return -ENOTCONN;
    if (counted && c->nslots_used >= limits(c)->max_inflight)
        return -ENOBUFS;
    if (out_pending(c) >= OUT_LIMIT) {
        if (c->state == ST_OPEN && flush_out(c) != 0)
            return c->error;
        if (out_pending(c) >= OUT_LIMIT)
            return -ENOBUFS;
    }
    return 0;
}

/* Bytes msgpack uses for the request id of a frame header. */
static size_t uint_size(uint32_t v)
{
    return v < 128 ? 1 : v < 256 ? 2 : v < 65536 ? 3 : 5;
}

/* Record a queued request and write eagerly once enough is queued. */
static int queued(er_client_t *c, uint32_t req, enum req_kind kind, uint32_t nevents,
                  uint32_t *out_req)
{
    take_req(c, req);
    if (kind == REQ_PING || kind == REQ_ADMIN || kind == REQ_QUERY || kind == REQ_TAIL ||
        c->ack_mode != ER_ACK_NONE) {
        struct slot s = {req, nevents, (uint8_t)kind};
        table_put(c, &s);
    }
    if (out_req)
        *out_req = req;
    if (out_pending(c) >= WRITE_EAGER && c->state == ST_OPEN && flush_out(c) != 0)
        return c->error;
    return 0;
}

int er_client_publish_async(er_client_t *c, const er_event_t *ev, uint32_t *req, er_error_t *err)
{
    const er_welcome_t *lim = limits(c);
    size_t mark, size;
    uint32_t id;
    int rc;

    /* can_send may write out and compact the buffer: mark after it. */
    if ((rc = can_send(c, c->ack_mode != ER_ACK_NONE)) != 0)
        return rc;
    mark = c->out.len;
    if ((rc = er_event_validate(ev, ER_VALIDATE_CLIENT, err)) != 0)
        return rc;
    id = peek_req(c);
    if (table_reserve(c, id) != 0)
        return -ENOMEM;
    if ((rc = er__publish_encode(&c->out, id, ev)) != 0) {
        c->out.len = mark;
        c->out.err = 0;
        return rc;
    }
    /* Frame: length, [op, req, event]: the event is what the header leaves. */
    size = c->out.len - mark - ER_FRAME_HDR - 2 - uint_size(id);
    if (size > lim->max_event_size || c->out.len - mark - ER_FRAME_HDR > lim->max_frame) {
        c->out.len = mark;
        return er__error_set(err, ER_ETOOBIG, -1,
                             "event: encoded size %zu exceeds max_event_size (%u)", size,
                             lim->max_event_size);
    }
    return queued(c, id, REQ_PUBLISH, 1, req);
}

/* Every event of the batch frame at out[mark..] within max_event_size.
 * Only walked when the whole frame is larger than the limit. */
static int check_event_sizes(er_client_t *c, size_t mark, size_t n, er_error_t *err)
{
    const er_welcome_t *lim = limits(c);
    er_mp_reader_t r;
    er_mp_obj_t o;
    size_t i;
    int k;

    er__mp_init(&r, c->out.data + mark + ER_FRAME_HDR, c->out.len - mark - ER_FRAME_HDR);
    for (k = 0; k < 4; k++) /* [ op req [ */
        if (er__mp_next(&r, &o) != 0)
            return -EINVAL;
    for (i = 0; i < n; i++) {
        const uint8_t *start = r.p;
        if (er__mp_skip(&r, ER_MP_MAX_DEPTH) != 0)
            return -EINVAL;
        if ((size_t)(r.p - start) > lim->max_event_size)
            return er__error_set(err, ER_ETOOBIG, (int)i,
                                 "event: encoded size %zu exceeds max_event_size (%u)",
                                 (size_t)(r.p - start), lim->max_event_size);
    }
    return 0;
}

int er_client_publish_batch_async(er_client_t *c, const er_event_t *evs, size_t n, uint32_t *req,
                                  er_error_t *err)
{
    const er_welcome_t *lim = limits(c);
    size_t mark, i, payload;
    uint32_t id;
    int rc;

    if ((rc = can_send(c, c->ack_mode != ER_ACK_NONE)) != 0)
        return rc;
    mark = c->out.len; /* after can_send, which may compact the buffer */
    if (n == 0)
        return er__error_set(err, ER_ERULE, -1, "batch: empty");
    if (n > lim->max_batch)
        return er__error_set(err, ER_ETOOBIG, -1, "batch: %zu events, above max_batch (%u)", n,
                             lim->max_batch);
    for (i = 0; i < n; i++) {
        if ((rc = er_event_validate(&evs[i], ER_VALIDATE_CLIENT, err)) != 0) {
            if (err)
                err->index = (int)i;
            return rc;
        }
    }
    id = peek_req(c);
    if (table_reserve(c, id) != 0 || grow_dups(c, n) != 0)
        return -ENOMEM;
    if ((rc = er__batch_encode(&c->out, id, evs, n)) != 0) {
        c->out.len = mark;
        c->out.err = 0;
        return rc;
    }
    payload = c->out.len - mark - ER_FRAME_HDR;
    if (payload > lim->max_frame) {
        c->out.len = mark;
        return er__error_set(err, ER_ETOOBIG, -1, "batch: encoded size %zu exceeds max_frame (%u)",
                             payload, lim->max_frame);
    }
    if (payload > lim->max_event_size && (rc = check_event_sizes(c, mark, n, err)) != 0) {
        c->out.len = mark;
        return rc;
    }
    return queued(c, id, REQ_BATCH, (uint32_t)n, req);
}

int er_client_ping_async(er_client_t *c, uint32_t *req)
{
    size_t mark;
    uint32_t id;
    int rc;

    if ((rc = can_send(c, true)) != 0)
        return rc;
    mark = c->out.len; /* after can_send, which may compact the buffer */
    id = peek_req(c);
    if (table_reserve(c, id) != 0)
        return -ENOMEM;
    if ((rc = er__nil_encode(&c->out, ER_OP_PING, id)) != 0) {
        c->out.len = mark;
        c->out.err = 0;
        return rc;
    }
    return queued(c, id, REQ_PING, 0, req);
}

size_t er_client_inflight(const er_client_t *c)
{
    return c->nslots_used;
}

const er_welcome_t *er_client_welcome(const er_client_t *c)
{
    return c->have_welcome ? &c->welcome : NULL;
}

/* ----------------------------------------------------- blocking wrappers */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline (-1: none), as a poll(2) timeout. */
static int remaining(int64_t deadline)
{
    int64_t left;
    if (deadline < 0)
        return -1;
    left = deadline - now_ms();
    return left <= 0 ? 0 : left > 1000000 ? 1000000 : (int)left;
}

static int64_t deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

int er_client_wait(er_client_t *c, int timeout_ms)
{
    struct pollfd pfd;
    unsigned ev, rev = 0;
    int rc;

    if (c->state == ST_DEAD)
        return c->error;
    if (c->fd < 0)
        return -ENOTCONN;
    ev = er_client_events(c);
    pfd.fd = c->fd;
    pfd.events = (short)((ev & ER_POLLIN ? POLLIN : 0) | (ev & ER_POLLOUT ? POLLOUT : 0));
    pfd.revents = 0;
    rc = poll(&pfd, 1, timeout_ms);
    if (rc < 0)
        return errno == EINTR ? 0 : -errno;
    if (rc == 0)
        return 0;
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
        rev |= ER_POLLIN;
    if (pfd.revents & (POLLOUT | POLLERR))
        rev |= ER_POLLOUT;
    return er_client_process(c, rev);
}

int er_client_drain(er_client_t *c, int timeout_ms)
{
    int64_t deadline = deadline_of(timeout_ms);
    int rc;

    for (;;) {
        if (c->state == ST_DEAD)
            return c->error;
        if (out_pending(c) == 0 && c->nslots_used == 0 && c->state != ST_CONNECTING)
            return 0;
        if (deadline >= 0 && remaining(deadline) == 0)
            return -ETIMEDOUT;
        if ((rc = er_client_wait(c, remaining(deadline))) != 0)
            return rc;
    }
}

/* Wait for the answer to req. Returns 0 (ACK/PONG), ER_ENACK with
 * c->wait.nack filled, -ETIMEDOUT, or the connection's error. Each ROWS
 * of a query restarts the timeout. */
static int wait_answer(er_client_t *c, uint32_t req, int timeout_ms)
{
    int64_t deadline = deadline_of(timeout_ms);
    uint64_t seen = c->wait.progress = 0;
    int rc = 0;

    c->wait.req = req;
    c->wait.done = false;
    while (!c->wait.done) {
        if (c->wait.progress != seen) {
            seen = c->wait.progress;
            deadline = deadline_of(timeout_ms);
        }
        if (deadline >= 0 && remaining(deadline) == 0) {
            rc = -ETIMEDOUT;
            break;
        }
        if ((rc = er_client_wait(c, remaining(deadline))) != 0) {
            if (c->wait.done) /* answered before the connection ended */
                rc = 0;
            else if (rc == ER_ENACK)
                c->wait.nack = c->conn_nack;
            break;
        }
    }
    c->wait.req = 0;
    return c->wait.done ? c->wait.rc : rc;
}

/* Wait until everything queued is written (ack mode none). */
static int wait_written(er_client_t *c)
{
    int rc;
    while (out_pending(c) > 0 || c->state == ST_CONNECTING)
        if ((rc = er_client_wait(c, -1)) != 0)
            return rc;
    return 0;
}

static void copy_nack(er_client_t *c, int rc, er_nack_t *nack)
{
    if (rc == ER_ENACK && nack)
        *nack = c->wait.nack;
}

/* A call that fails with ER_ENACK without an answer of its own (the
 * connection died of a NACK with request id 0, earlier or while writing)
 * fills *nack with that NACK, as ER_ENACK promises. */
static int conn_refused(er_client_t *c, int rc, er_nack_t *nack)
{
    if (rc == ER_ENACK && nack)
        *nack = c->conn_nack;
    return rc;
}

int er_publish(er_client_t *c, const er_event_t *ev, uint64_t *seq, er_nack_t *nack,
               er_error_t *err)
{
    er_ack_t ack;
    uint32_t req;
    int rc;

    if (seq)
        *seq = 0;
    while ((rc = er_client_publish_async(c, ev, &req, err)) == -ENOBUFS)
        if ((rc = er_client_wait(c, -1)) != 0)
            return conn_refused(c, rc, nack);
    if (rc != 0)
        return conn_refused(c, rc, nack);
    if (c->ack_mode == ER_ACK_NONE)
        return conn_refused(c, wait_written(c), nack);
    rc = wait_answer(c, req, -1);
    copy_nack(c, rc, nack);
    if (rc == 0 && seq) {
        ack = c->wait.ack;
        *seq = ack.count > 0 ? ack.seq : ack.ndups > 0 ? ack.dups[0].seq : 0;
    }
    return rc;
}

int er_publish_batch(er_client_t *c, const er_event_t *evs, size_t n, er_ack_t *ack,
                     er_nack_t *nack, er_error_t *err)
{
    uint32_t req;
    int rc;

    if (ack)
        memset(ack, 0, sizeof(*ack));
    while ((rc = er_client_publish_batch_async(c, evs, n, &req, err)) == -ENOBUFS)
        if ((rc = er_client_wait(c, -1)) != 0)
            return conn_refused(c, rc, nack);
    if (rc != 0)
        return conn_refused(c, rc, nack);
    if (c->ack_mode == ER_ACK_NONE)
        return conn_refused(c, wait_written(c), nack);
    rc = wait_answer(c, req, -1);
    copy_nack(c, rc, nack);
    if (rc == 0 && ack)
        *ack = c->wait.ack;
    return rc;
}

int er_ping(er_client_t *c, int timeout_ms)
{
    int64_t deadline = deadline_of(timeout_ms);
    uint32_t req;
    int rc;

    while ((rc = er_client_ping_async(c, &req)) == -ENOBUFS) {
        if (deadline >= 0 && remaining(deadline) == 0)
            return -ETIMEDOUT;
        if ((rc = er_client_wait(c, remaining(deadline))) != 0)
            return rc;
    }
    if (rc != 0)
        return rc;
    return wait_answer(c, req, remaining(deadline));
}

/* A JSON object from text (NULL text: none). Returns 0 or ER_EJSON. */
static int parse_object(const char *text, json_t **out)
{
    *out = NULL;
    if (text == NULL)
        return 0;
    *out = json_loads(text, 0, NULL);
    if (*out == NULL || !json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return ER_EJSON;
    }
    return 0;
}

/* The blocking admin and query calls' start: wait for room to send (until
 * deadline), reserve an id, encode the request (ADMIN cmd with body, or
 * QUERY with body as the filter) and queue it; *req names it. */
static int send_request(er_client_t *c, int kind, const char *cmd, json_t *body, int64_t deadline,
                        er_nack_t *nack, uint32_t *req)
{
    size_t mark;
    uint32_t id;
    int rc;

    while ((rc = can_send(c, true)) == -ENOBUFS) {
        if ((deadline >= 0 && remaining(deadline) == 0) ||
            (rc = er_client_wait(c, remaining(deadline))) != 0)
            break;
    }
    if (rc == -ENOBUFS)
        rc = -ETIMEDOUT;
    if (rc != 0) {
        conn_refused(c, rc, nack);
        return rc;
    }
    id = peek_req(c);
    if (table_reserve(c, id) != 0)
        return -ENOMEM;
    mark = c->out.len;
    if (kind == REQ_QUERY || kind == REQ_TAIL)
        rc = er__query_encode(&c->out, kind == REQ_TAIL ? ER_OP_TAIL : ER_OP_QUERY, id, body);
    else
        rc = er__admin_encode(&c->out, id, cmd, body);
    if (rc != 0) {
        c->out.len = mark;
        c->out.err = 0;
        return rc;
    }
    return queued(c, id, kind, 0, req);
}

int er_admin(er_client_t *c, const char *cmd, const char *args_json, char **reply_json,
             er_nack_t *nack, int timeout_ms)
{
    int64_t deadline = deadline_of(timeout_ms);
    json_t *args;
    uint32_t req;
    int rc;

    *reply_json = NULL;
    if ((rc = parse_object(args_json, &args)) != 0)
        return rc;
    if ((rc = send_request(c, REQ_ADMIN, cmd, args, deadline, nack, &req)) == 0) {
        rc = wait_answer(c, req, remaining(deadline));
        copy_nack(c, rc, nack);
        if (rc == 0) {
            *reply_json = c->wait.reply;
            c->wait.reply = NULL;
        }
    }
    json_decref(args);
    return rc;
}

/* Wait for the end of tail req: rows go to the callback as they come;
 * after idle_ms without a row (or a signal) it is asked with NULL whether
 * to go on, and a non-zero answer sends CANCEL. */
static int wait_tail(er_client_t *c, uint32_t req, int idle_ms)
{
    uint64_t seen;
    int rc = 0;

    c->wait.req = req;
    c->wait.done = false;
    c->wait.progress = 0;
    while (!c->wait.done) {
        seen = c->wait.progress;
        if ((rc = er_client_wait(c, c->wait.stopped ? -1 : idle_ms)) != 0) {
            if (c->wait.done)
                rc = 0;
            else if (rc == ER_ENACK)
                c->wait.nack = c->conn_nack;
            break;
        }
        if (c->wait.done || c->wait.stopped || c->wait.progress != seen)
            continue;
        if (c->wait.row(c->wait.row_arg, NULL) != 0) {
            c->wait.stopped = true;
            if ((rc = er__nil_encode(&c->out, ER_OP_CANCEL, req)) != 0)
                break;
        }
    }
    c->wait.req = 0;
    return c->wait.done ? c->wait.rc : rc;
}

/* QUERY (timeout_ms per answer) or TAIL (idle_ms between idle calls):
 * the request, then its rows to row(arg, ev) until it ends. */
static int stream_rows(er_client_t *c, int kind, const char *filter_json, er_row_cb row, void *arg,
                       uint64_t *count, er_nack_t *nack, int timeout_ms, int idle_ms)
{
    json_t *filter;
    uint32_t req;
    int rc;

    if (count)
        *count = 0;
    if ((rc = parse_object(filter_json, &filter)) != 0)
        return rc;
    rc = send_request(c, kind, NULL, filter, kind == REQ_TAIL ? -1 : deadline_of(timeout_ms), nack,
                      &req);
    if (rc == 0) {
        c->wait.row = row;
        c->wait.row_arg = arg;
        c->wait.stopped = false;
        c->wait.count = 0;
        rc = kind == REQ_TAIL ? wait_tail(c, req, idle_ms) : wait_answer(c, req, timeout_ms);
        c->wait.row = NULL;
        copy_nack(c, rc, nack);
        if ((rc == 0 || rc == -ECANCELED) && count)
            *count = c->wait.count;
    }
    json_decref(filter);
    return rc;
}

int er_query(er_client_t *c, const char *filter_json, er_row_cb row, void *arg, uint64_t *count,
             er_nack_t *nack, int timeout_ms)
{
    return stream_rows(c, REQ_QUERY, filter_json, row, arg, count, nack, timeout_ms, -1);
}

int er_tail(er_client_t *c, const char *filter_json, er_row_cb row, void *arg, int idle_ms,
            uint64_t *count, er_nack_t *nack)
{
    return stream_rows(c, REQ_TAIL, filter_json, row, arg, count, nack, -1, idle_ms);
}

int er_connect(const char *path, const char *client_name, er_ack_mode_t ack, int timeout_ms,
               er_client_t **out)
{
    int64_t deadline = deadline_of(timeout_ms);
    er_client_t *c;
    int rc;

    *out = NULL;
    if ((c = er_client_new(NULL, NULL)) == NULL)
        return -ENOMEM;
    /* A full listen backlog (EAGAIN) clears as the daemon accepts: retry. */
    while ((rc = er_client_connect(c, path, client_name, ack)) == -EAGAIN) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        if (deadline >= 0 && remaining(deadline) == 0)
            break;
        nanosleep(&ts, NULL);
    }
    while (rc == 0 && !c->have_welcome) {
        if (deadline >= 0 && remaining(deadline) == 0)
            rc = -ETIMEDOUT;
        else
            rc = er_client_wait(c, remaining(deadline));
    }
    if (rc != 0) {
        er_client_free(c);
        return rc;
    }
    *out = c;
    return 0;
}
