/*
 * Unit tests of the client core (lib/client.c) against a fake server that
 * the test drives byte by byte: a listening Unix socket in a mkdtemp
 * directory, accepted in this process, whose frames are built with the
 * project's own encoders (lib/proto.h) and whose input is read with
 * er__msg_parse. They pin what the daemon's integration tests cannot
 * provoke: HELLO first, WELCOME's limits enforced locally, answers matched
 * by request id out of order, every protocol violation by the peer turning
 * into ER_EPROTO, NACKs and GOAWAY as the blocking and non-blocking APIs
 * report them, and refusal of oversized frames without allocating them.
 *
 * Everything is single-threaded and deterministic: request ids are
 * predictable (they start at 1), so a test may write the server's answers
 * before the blocking call that reads them; the socket buffer holds them.
 * Waiting is poll(2) with a timeout, never a sleep.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "eventrouter.h"
#include "frame.h"
#include "proto.h"

/* How long any single wait may take before the test fails. */
#define WAIT_MS 5000

/* ------------------------------------------------------------ fake server */

/* The directory, made once per TCase by an unchecked fixture (in the
 * parent when Check forks), so it is removed even when a test fails before
 * its own teardown could run. */
static char dir[64];

/* The checked fixture: one listening socket, at most one accepted
 * connection and one client; teardown releases whatever is set. */
static struct {
    char path[128];
    int lfd;
    int sfd;
    er_client_t *c;
    er_buf_t out;
    uint8_t *frame; /* the last frame srv_expect() read */
} F;

static void dir_setup(void)
{
    strcpy(dir, "/tmp/check_client.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void dir_teardown(void)
{
    char path[128];

    snprintf(path, sizeof(path), "%s/events.sock", dir);
    unlink(path);
    ck_assert_int_eq(rmdir(dir), 0);
}

static void setup(void)
{
    struct sockaddr_un sa;

    memset(&F, 0, sizeof(F));
    F.lfd = F.sfd = -1;
    snprintf(F.path, sizeof(F.path), "%s/events.sock", dir);
    unlink(F.path); /* left by a failed test */
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, F.path);
    F.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(F.lfd, 0);
    ck_assert_int_eq(bind(F.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(F.lfd, 8), 0);
}

static void teardown(void)
{
    er_client_free(F.c);
    if (F.sfd >= 0)
        close(F.sfd);
    if (F.lfd >= 0)
        close(F.lfd);
    er__buf_free(&F.out);
    free(F.frame);
    unlink(F.path);
    memset(&F, 0, sizeof(F));
}

/* Create a client (cbs/ud borrowed), connect it to the fake server and
 * accept the connection. The client is freed by teardown. */
static er_client_t *cli_open(const er_client_cbs_t *cbs, void *ud, const char *name,
                             er_ack_mode_t ack)
{
    struct pollfd pfd = {F.lfd, POLLIN, 0};

    F.c = er_client_new(cbs, ud);
    ck_assert_ptr_nonnull(F.c);
    ck_assert_int_eq(er_client_connect(F.c, F.path, name, ack), 0);
    ck_assert_int_eq(poll(&pfd, 1, WAIT_MS), 1);
    F.sfd = accept4(F.lfd, NULL, NULL, SOCK_CLOEXEC);
    ck_assert_int_ge(F.sfd, 0);
    return F.c;
}

/* Write everything encoded into F.out to the client, then empty F.out. */
static void srv_flush(void)
{
    size_t off = 0;

    ck_assert_int_eq(F.out.err, 0);
    while (off < F.out.len) {
        ssize_t w = send(F.sfd, F.out.data + off, F.out.len - off, MSG_NOSIGNAL);
        ck_assert_int_gt(w, 0);
        off += (size_t)w;
    }
    F.out.len = 0;
}

static void srv_raw(const void *p, size_t n)
{
    ck_assert_int_eq(er__buf_append(&F.out, p, n), 0);
    srv_flush();
}

static void srv_welcome(uint32_t max_frame, uint32_t max_event_size, uint32_t max_batch,
                        uint32_t max_inflight)
{
    er_welcome_t w = {1, true, max_frame, max_event_size, max_batch, max_inflight};
    ck_assert_int_eq(er__welcome_encode(&F.out, &w), 0);
    srv_flush();
}

static void srv_default_welcome(void)
{
    srv_welcome(ER_DEFAULT_MAX_FRAME, ER_DEFAULT_MAX_EVENT_SIZE, ER_DEFAULT_MAX_BATCH,
                ER_DEFAULT_MAX_INFLIGHT);
}

static void srv_ack(uint32_t req, uint64_t seq, uint32_t count, const er_dup_t *dups, size_t ndups)
{
    ck_assert_int_eq(er__ack_encode(&F.out, req, seq, count, dups, ndups), 0);
    srv_flush();
}

static void srv_nack(uint32_t req, const char *code, const char *msg, int64_t index, int64_t retry)
{
    ck_assert_int_eq(er__nack_encode(&F.out, req, code, msg, index, retry), 0);
    srv_flush();
}

static void srv_nil(uint32_t op, uint32_t req)
{
    ck_assert_int_eq(er__nil_encode(&F.out, op, req), 0);
    srv_flush();
}

static void srv_goaway(const char *reason)
{
    ck_assert_int_eq(er__goaway_encode(&F.out, reason), 0);
    srv_flush();
}

/* Read exactly n bytes from the client, each wait bounded by WAIT_MS. */
static void srv_read_exact(uint8_t *p, size_t n)
{
    size_t off = 0;

    while (off < n) {
        struct pollfd pfd = {F.sfd, POLLIN, 0};
        ssize_t r;
        ck_assert_msg(poll(&pfd, 1, WAIT_MS) == 1, "the client sent nothing");
        r = read(F.sfd, p + off, n - off);
        ck_assert_msg(r > 0, "the client closed (%zd)", r);
        off += (size_t)r;
    }
}

/* The next frame the client sent, parsed into *m (views into F.frame). The
 * client must have written it already (cli_flush). */
static void srv_expect(er_msg_t *m)
{
    uint8_t hdr[ER_FRAME_HDR];
    uint32_t len;

    srv_read_exact(hdr, sizeof(hdr));
    len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    ck_assert_uint_gt(len, 0);
    ck_assert_uint_le(len, ER_DEFAULT_MAX_FRAME);
    free(F.frame);
    F.frame = malloc(len);
    ck_assert_ptr_nonnull(F.frame);
    srv_read_exact(F.frame, len);
    ck_assert_int_eq(er__msg_parse(F.frame, len, m, NULL), 0);
}

/* Expect HELLO and nothing more about it. */
static void srv_skip_hello(void)
{
    er_msg_t m;
    srv_expect(&m);
    ck_assert_uint_eq(m.op, ER_OP_HELLO);
}

/* Let the client write what it has queued (without waiting for input). */
static void cli_flush(er_client_t *c)
{
    ck_assert_int_eq(er_client_process(c, ER_POLLOUT), 0);
}

/* Wait until the client's socket is readable, then let it process. Returns
 * what er_client_process() returned. */
static int cli_pump(er_client_t *c)
{
    struct pollfd pfd = {er_client_fd(c), POLLIN, 0};

    ck_assert_msg(poll(&pfd, 1, WAIT_MS) == 1, "nothing for the client to read");
    return er_client_process(c, ER_POLLIN | ER_POLLOUT);
}

/* Pump until the client reports an error (a close may be seen one read
 * after the bytes before it). Returns that error. */
static int cli_pump_to_error(er_client_t *c)
{
    int i, rc;

    for (i = 0; i < 16; i++)
        if ((rc = cli_pump(c)) != 0)
            return rc;
    ck_abort_msg("the client saw no error");
    return 0;
}

/* A client that has been welcomed with the given limits and whose HELLO the
 * server has read. */
static er_client_t *cli_welcomed(const er_client_cbs_t *cbs, void *ud, er_ack_mode_t ack,
                                 uint32_t max_event_size, uint32_t max_batch, uint32_t max_inflight)
{
    er_client_t *c = cli_open(cbs, ud, "check-client", ack);

    cli_flush(c);
    srv_skip_hello();
    srv_welcome(ER_DEFAULT_MAX_FRAME, max_event_size, max_batch, max_inflight);
    ck_assert_int_eq(cli_pump(c), 0);
    ck_assert_ptr_nonnull(er_client_welcome(c));
    return c;
}

static er_client_t *cli_default(const er_client_cbs_t *cbs, void *ud)
{
    return cli_welcomed(cbs, ud, ER_ACK_RECEIVED, ER_DEFAULT_MAX_EVENT_SIZE, ER_DEFAULT_MAX_BATCH,
                        ER_DEFAULT_MAX_INFLIGHT);
}

/* An event whose data is `size` bytes of 'x' (size <= 4096). */
static er_event_t event_of(size_t size)
{
    static char data[4096];
    er_event_t ev;

    ck_assert_uint_le(size, sizeof(data));
    memset(data, 'x', size);
    memset(&ev, 0, sizeof(ev));
    ev.type = er_str("check.client");
    ev.data.ptr = data;
    ev.data.len = size;
    return ev;
}

/* The encoded size of ev's map, as the client measures it against
 * max_event_size: the PUBLISH frame minus length, array, op and id. */
static size_t event_size(const er_event_t *ev)
{
    er_buf_t b = ER_BUF_INIT;
    size_t n;

    ck_assert_int_eq(er__publish_encode(&b, 1, ev), 0);
    n = b.len - ER_FRAME_HDR - 3;
    er__buf_free(&b);
    return n;
}

/* What the callbacks saw. */
struct seen {
    int welcomes;
    size_t nacks, nnacks, npongs, ngoaways;
    uint32_t ack_req[8];
    er_ack_t ack[8];
    er_dup_t dup[8];
    uint32_t nack_req[8];
    er_nack_t nack[8];
    uint32_t pong_req[8];
    char goaway[256];
};

static void rec_welcome(er_client_t *c, const er_welcome_t *w, void *ud)
{
    struct seen *s = ud;
    (void)c;
    (void)w;
    s->welcomes++;
}

static void rec_ack(er_client_t *c, uint32_t req, const er_ack_t *ack, void *ud)
{
    struct seen *s = ud;
    (void)c;
    ck_assert_uint_lt(s->nacks, 8);
    s->ack_req[s->nacks] = req;
    s->ack[s->nacks] = *ack;
    if (ack->ndups > 0)
        s->dup[s->nacks] = ack->dups[0];
    s->ack[s->nacks].dups = NULL;
    s->nacks++;
}

static void rec_nack(er_client_t *c, uint32_t req, const er_nack_t *nack, void *ud)
{
    struct seen *s = ud;
    (void)c;
    ck_assert_uint_lt(s->nnacks, 8);
    s->nack_req[s->nnacks] = req;
    s->nack[s->nnacks] = *nack;
    s->nnacks++;
}

static void rec_pong(er_client_t *c, uint32_t req, void *ud)
{
    struct seen *s = ud;
    (void)c;
    ck_assert_uint_lt(s->npongs, 8);
    s->pong_req[s->npongs++] = req;
}

static void rec_goaway(er_client_t *c, const char *reason, void *ud)
{
    struct seen *s = ud;
    (void)c;
    s->ngoaways++;
    snprintf(s->goaway, sizeof(s->goaway), "%s", reason);
}

static const er_client_cbs_t rec_cbs = {rec_welcome, rec_ack, rec_nack, rec_pong, rec_goaway};

/* Every new request on a dead client fails with err. */
static void assert_dead(er_client_t *c, int err)
{
    er_event_t ev = event_of(4);
    uint32_t req = 77;

    ck_assert_int_eq(er_client_process(c, ER_POLLIN | ER_POLLOUT), err);
    ck_assert_int_eq(er_client_publish_async(c, &ev, &req, NULL), err);
    ck_assert_int_eq(er_client_ping_async(c, &req), err);
    ck_assert_uint_eq(req, 77);
    ck_assert_uint_eq(er_client_events(c), 0);
    ck_assert_uint_eq(er_client_inflight(c), 0);
}

/* ------------------------------------------------------------- handshake */

START_TEST(test_hello_first)
{
    /* Each ack mode, and the name as given, in the first frame (id 0). */
    static const er_ack_mode_t modes[] = {ER_ACK_NONE, ER_ACK_RECEIVED, ER_ACK_DURABLE};
    er_client_t *c = cli_open(NULL, NULL, "check-client/1", modes[_i]);
    er_hello_t h;
    er_msg_t m;

    /* Queued by connect, written on the first process. */
    ck_assert_uint_eq(er_client_events(c), ER_POLLIN | ER_POLLOUT);
    cli_flush(c);
    ck_assert_uint_eq(er_client_events(c), ER_POLLIN);
    srv_expect(&m);
    ck_assert_uint_eq(m.op, ER_OP_HELLO);
    ck_assert_uint_eq(m.req, 0);
    ck_assert_int_eq(er__hello_decode(&m, &h, NULL), 0);
    ck_assert_uint_eq(h.version, ER_PROTOCOL_VERSION);
    ck_assert_int_eq(h.ack, modes[_i]);
    ck_assert_uint_eq(h.client.len, strlen("check-client/1"));
    ck_assert_mem_eq(h.client.ptr, "check-client/1", h.client.len);
}
END_TEST

START_TEST(test_welcome_recorded)
{
    struct seen s;
    er_client_t *c;
    const er_welcome_t *w;

    memset(&s, 0, sizeof(s));
    c = cli_open(&rec_cbs, &s, "w", ER_ACK_RECEIVED);
    ck_assert_ptr_null(er_client_welcome(c));
    cli_flush(c);
    srv_skip_hello();
    srv_welcome(2u << 20, 1000, 7, 9);
    ck_assert_int_eq(cli_pump(c), 0);
    ck_assert_int_eq(s.welcomes, 1);
    w = er_client_welcome(c);
    ck_assert_ptr_nonnull(w);
    ck_assert_uint_eq(w->version, 1);
    ck_assert(w->durable);
    ck_assert_uint_eq(w->max_frame, 2u << 20);
    ck_assert_uint_eq(w->max_event_size, 1000);
    ck_assert_uint_eq(w->max_batch, 7);
    ck_assert_uint_eq(w->max_inflight, 9);

    /* A second WELCOME is a protocol violation. */
    srv_default_welcome();
    ck_assert_int_eq(cli_pump(c), ER_EPROTO);
    assert_dead(c, ER_EPROTO);
}
END_TEST

START_TEST(test_request_ids_start_at_1)
{
    er_client_t *c = cli_default(NULL, NULL);
    er_event_t evs[2] = {event_of(1), event_of(2)};
    uint32_t r1 = 0, r2 = 0, r3 = 0;
    er_msg_t m;

    ck_assert_int_eq(er_client_ping_async(c, &r1), 0);
    ck_assert_int_eq(er_client_publish_async(c, &evs[0], &r2, NULL), 0);
    ck_assert_int_eq(er_client_publish_batch_async(c, evs, 2, &r3, NULL), 0);
    ck_assert_uint_eq(r1, 1);
    ck_assert_uint_eq(r2, 2);
    ck_assert_uint_eq(r3, 3);
    ck_assert_uint_eq(er_client_inflight(c), 3);
    cli_flush(c);
    srv_expect(&m);
    ck_assert_uint_eq(m.op, ER_OP_PING);
    ck_assert_uint_eq(m.req, 1);
    srv_expect(&m);
    ck_assert_uint_eq(m.op, ER_OP_PUBLISH);
    ck_assert_uint_eq(m.req, 2);
    srv_expect(&m);
    ck_assert_uint_eq(m.op, ER_OP_PUBLISH_BATCH);
    ck_assert_uint_eq(m.req, 3);
}
END_TEST

/* ----------------------------------------------------------- WELCOME limits */

START_TEST(test_max_event_size)
{
    er_event_t ev = event_of(300);
    size_t size = event_size(&ev);
    er_client_t *c = cli_welcomed(NULL, NULL, ER_ACK_RECEIVED, (uint32_t)size - 1, 16, 16);
    er_error_t err;
    uint32_t req = 0;
    er_msg_t m;

    /* One byte over: refused locally, no id consumed, nothing queued. */
    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(er_client_publish_async(c, &ev, &req, &err), ER_ETOOBIG);
    ck_assert_int_eq(err.code, ER_ETOOBIG);
    ck_assert_int_eq(err.index, -1);
    ck_assert_ptr_nonnull(strstr(err.message, "max_event_size"));
    ck_assert_uint_eq(req, 0);
    ck_assert_uint_eq(er_client_inflight(c), 0);
    ck_assert_uint_eq(er_client_events(c), ER_POLLIN);
    /* The blocking wrapper refuses it the same way, before sending. */
    ck_assert_int_eq(er_publish(c, &ev, NULL, NULL, &err), ER_ETOOBIG);
    /* So is a batch holding it (index names it). */
    {
        er_event_t evs[2] = {event_of(1), ev};
        ck_assert_int_eq(er_client_publish_batch_async(c, evs, 2, &req, &err), ER_ETOOBIG);
        ck_assert_int_eq(err.index, 1);
    }

    /* The next frame is what comes next, with id 1: the PING. */
    ck_assert_int_eq(er_client_ping_async(c, &req), 0);
    ck_assert_uint_eq(req, 1);
    cli_flush(c);
    srv_expect(&m);
    ck_assert_uint_eq(m.op, ER_OP_PING);
    ck_assert_uint_eq(m.req, 1);
}
END_TEST

START_TEST(test_max_event_size_exact)
{
    er_event_t ev = event_of(300);
    size_t size = event_size(&ev);
    er_client_t *c = cli_welcomed(NULL, NULL, ER_ACK_RECEIVED, (uint32_t)size, 16, 16);
    uint32_t req = 0;
    er_msg_t m;

    ck_assert_int_eq(er_client_publish_async(c, &ev, &req, NULL), 0);
    ck_assert_uint_eq(req, 1);
    cli_flush(c);
    srv_expect(&m);
    ck_assert_uint_eq(m.op, ER_OP_PUBLISH);
    ck_assert_uint_eq(m.body_len, size);
}
END_TEST

START_TEST(test_max_batch)
{
    er_client_t *c = cli_welcomed(NULL, NULL, ER_ACK_RECEIVED, ER_DEFAULT_MAX_EVENT_SIZE, 2, 16);
    er_event_t evs[3] = {event_of(1), event_of(2), event_of(3)};
    er_error_t err;
    uint32_t req = 0;
    er_msg_t m;

    ck_assert_int_eq(er_client_publish_batch_async(c, evs, 3, &req, &err), ER_ETOOBIG);
    ck_assert_int_eq(err.code, ER_ETOOBIG);
    ck_assert_int_eq(err.index, -1);
    ck_assert_ptr_nonnull(strstr(err.message, "max_batch"));
    ck_assert_uint_eq(req, 0);
    ck_assert_int_eq(er_client_publish_batch_async(c, evs, 0, &req, &err), ER_ERULE);
    ck_assert_uint_eq(er_client_inflight(c), 0);

    /* Exactly max_batch goes out, as request 1 with 2 events. */
    ck_assert_int_eq(er_client_publish_batch_async(c, evs, 2, &req, &err), 0);
    ck_assert_uint_eq(req, 1);
    cli_flush(c);
    srv_expect(&m);
    ck_assert_uint_eq(m.op, ER_OP_PUBLISH_BATCH);
    ck_assert_uint_eq(m.req, 1);
    ck_assert_uint_eq(m.body[0], 0x92); /* fixarray of 2 */
}
END_TEST

START_TEST(test_max_inflight)
{
    er_client_t *c = cli_welcomed(NULL, NULL, ER_ACK_RECEIVED, ER_DEFAULT_MAX_EVENT_SIZE, 16, 3);
    er_event_t ev = event_of(8);
    uint32_t req = 0, i;

    for (i = 1; i <= 3; i++) {
        ck_assert_int_eq(er_client_publish_async(c, &ev, &req, NULL), 0);
        ck_assert_uint_eq(req, i);
        ck_assert_uint_eq(er_client_inflight(c), i);
    }
    req = 0;
    ck_assert_int_eq(er_client_publish_async(c, &ev, &req, NULL), -ENOBUFS);
    ck_assert_int_eq(er_client_publish_batch_async(c, &ev, 1, &req, NULL), -ENOBUFS);
    ck_assert_int_eq(er_client_ping_async(c, &req), -ENOBUFS);
    ck_assert_uint_eq(req, 0);
    ck_assert_uint_eq(er_client_inflight(c), 3);

    /* One answer makes room for one request, which takes id 4. */
    cli_flush(c);
    srv_ack(2, 20, 1, NULL, 0);
    ck_assert_int_eq(cli_pump(c), 0);
    ck_assert_uint_eq(er_client_inflight(c), 2);
    ck_assert_int_eq(er_client_ping_async(c, &req), 0);
    ck_assert_uint_eq(req, 4);
    ck_assert_int_eq(er_client_publish_async(c, &ev, &req, NULL), -ENOBUFS);
}
END_TEST

/* A reader for the fake server's end on its own thread: every frame the
 * client writes is parsed and must be the next PUBLISH in order. */
struct drain {
    pthread_t thread;
    atomic_bool stop;
    atomic_size_t frames; /* PUBLISH frames seen, with ids 1, 2, ... */
    atomic_int bad;       /* a frame out of order or unparseable */
};

static void *drain_main(void *arg)
{
    struct drain *d = arg;
    er_framer_t fr;
    const uint8_t *p;
    uint8_t *space;
    size_t n, cap;
    er_msg_t m;

    er__framer_init(&fr, ER_DEFAULT_MAX_FRAME);
    while (!atomic_load(&d->stop)) {
        struct pollfd pfd = {F.sfd, POLLIN, 0};
        ssize_t r;
        if (poll(&pfd, 1, 10) <= 0)
            continue;
        if (er__framer_space(&fr, 65536, &space, &cap) != 0 || (r = read(F.sfd, space, cap)) <= 0)
            break;
        er__framer_commit(&fr, (size_t)r);
        while (er__framer_next(&fr, &p, &n) == 1) {
            if (er__msg_parse(p, n, &m, NULL) != 0 || m.op != ER_OP_PUBLISH ||
                m.req != atomic_load(&d->frames) + 1)
                atomic_store(&d->bad, 1);
            atomic_fetch_add(&d->frames, 1);
        }
        er__framer_shrink(&fr);
    }
    er__framer_free(&fr);
    return NULL;
}

/*
 * The client keeps up to 4 MiB unwritten; the publish that finds the
 * buffer full writes it out first, which may empty or compact it. (A
 * publish once measured its frame against the buffer's length from before
 * that write, and failed with a huge "encoded size".) Rounds of: fill
 * while the server does not read, then publish on while a thread drains.
 */
START_TEST(test_publish_after_the_buffer_was_written_out)
{
    er_client_t *c = cli_welcomed(NULL, NULL, ER_ACK_NONE, ER_DEFAULT_MAX_EVENT_SIZE,
                                  ER_DEFAULT_MAX_BATCH, ER_DEFAULT_MAX_INFLIGHT);
    er_event_t ev = event_of(4000);
    struct drain d;
    size_t sent = 0, i;
    uint32_t req;
    int round, rc, waited;

    memset(&d, 0, sizeof(d));
    for (round = 0; round < 6; round++) {
        while ((rc = er_client_publish_async(c, &ev, &req, NULL)) == 0)
            sent++;
        ck_assert_int_eq(rc, -ENOBUFS);
        atomic_store(&d.stop, false);
        ck_assert_int_eq(pthread_create(&d.thread, NULL, drain_main, &d), 0);
        for (i = 0; i < 3000;) {
            rc = er_client_publish_async(c, &ev, &req, NULL);
            if (rc == -ENOBUFS) {
                usleep(100);
                continue;
            }
            ck_assert_msg(rc == 0, "publish after the buffer was written out: %s", er_strerror(rc));
            ck_assert_uint_eq(req, sent + 1);
            sent++;
            i++;
        }
        ck_assert_int_eq(er_client_drain(c, WAIT_MS), 0);
        for (waited = 0; atomic_load(&d.frames) < sent && waited < WAIT_MS; waited++)
            usleep(1000);
        atomic_store(&d.stop, true);
        pthread_join(d.thread, NULL);
        ck_assert_uint_eq(atomic_load(&d.frames), sent);
        ck_assert_int_eq(atomic_load(&d.bad), 0);
    }
}
END_TEST

START_TEST(test_ack_none_not_counted)
{
    /* Under ack mode none a PUBLISH is answered only by a NACK: it does not
     * count, and a NACK may name it. */
    struct seen s;
    er_client_t *c;
    er_event_t ev = event_of(8);
    uint32_t req = 0, i;

    memset(&s, 0, sizeof(s));
    c = cli_welcomed(&rec_cbs, &s, ER_ACK_NONE, ER_DEFAULT_MAX_EVENT_SIZE, 16, 2);
    for (i = 1; i <= 4; i++) {
        ck_assert_int_eq(er_client_publish_async(c, &ev, &req, NULL), 0);
        ck_assert_uint_eq(req, i);
    }
    ck_assert_uint_eq(er_client_inflight(c), 0);
    ck_assert_int_eq(er_publish(c, &ev, NULL, NULL, NULL), 0);
    srv_nack(3, "invalid", "type: bad", -1, -1);
    ck_assert_int_eq(cli_pump(c), 0);
    ck_assert_uint_eq(s.nnacks, 1);
    ck_assert_uint_eq(s.nack_req[0], 3);
}
END_TEST

/* ---------------------------------------------------------------- answers */

START_TEST(test_acks_out_of_order)
{
    struct seen s;
    er_client_t *c;
    er_event_t evs[3] = {event_of(1), event_of(2), event_of(3)};
    uint32_t req;

    memset(&s, 0, sizeof(s));
    c = cli_default(&rec_cbs, &s);
    ck_assert_int_eq(er_client_publish_async(c, &evs[0], &req, NULL), 0);
    ck_assert_int_eq(er_client_publish_batch_async(c, evs, 3, &req, NULL), 0);
    ck_assert_int_eq(er_client_ping_async(c, &req), 0);
    ck_assert_int_eq(er_client_publish_async(c, &evs[1], &req, NULL), 0);
    ck_assert_uint_eq(req, 4);
    cli_flush(c);

    /* Answers in the order 4, 2, 3, 1, in one write. */
    ck_assert_int_eq(er__ack_encode(&F.out, 4, 400, 1, NULL, 0), 0);
    ck_assert_int_eq(er__ack_encode(&F.out, 2, 200, 3, NULL, 0), 0);
    ck_assert_int_eq(er__nil_encode(&F.out, ER_OP_PONG, 3), 0);
    ck_assert_int_eq(er__ack_encode(&F.out, 1, 100, 1, NULL, 0), 0);
    srv_flush();
    ck_assert_int_eq(cli_pump(c), 0);

    ck_assert_uint_eq(s.nacks, 3);
    ck_assert_uint_eq(s.ack_req[0], 4);
    ck_assert_uint_eq(s.ack[0].seq, 400);
    ck_assert_uint_eq(s.ack[0].count, 1);
    ck_assert_uint_eq(s.ack_req[1], 2);
    ck_assert_uint_eq(s.ack[1].seq, 200);
    ck_assert_uint_eq(s.ack[1].count, 3);
    ck_assert_uint_eq(s.ack_req[2], 1);
    ck_assert_uint_eq(s.ack[2].seq, 100);
    ck_assert_uint_eq(s.npongs, 1);
    ck_assert_uint_eq(s.pong_req[0], 3);
    ck_assert_uint_eq(er_client_inflight(c), 0);

    /* An id answered once is no longer in flight. */
    srv_ack(4, 400, 1, NULL, 0);
    ck_assert_int_eq(cli_pump(c), ER_EPROTO);
}
END_TEST

START_TEST(test_ack_unknown_id)
{
    er_client_t *c = cli_default(NULL, NULL);
    er_event_t ev = event_of(1);
    uint32_t req;

    ck_assert_int_eq(er_client_publish_async(c, &ev, &req, NULL), 0);
    cli_flush(c);
    srv_ack(9, 1, 1, NULL, 0);
    ck_assert_int_eq(cli_pump(c), ER_EPROTO);
    assert_dead(c, ER_EPROTO);
    ck_assert_int_eq(er_publish(c, &ev, NULL, NULL, NULL), ER_EPROTO);
    ck_assert_int_eq(er_ping(c, 100), ER_EPROTO);
}
END_TEST

START_TEST(test_ack_to_ping)
{
    /* An ACK naming a PING's id is not an answer to it. */
    er_client_t *c = cli_default(NULL, NULL);
    uint32_t req;

    ck_assert_int_eq(er_client_ping_async(c, &req), 0);
    cli_flush(c);
    srv_ack(req, 1, 0, NULL, 0);
    ck_assert_int_eq(cli_pump(c), ER_EPROTO);
    assert_dead(c, ER_EPROTO);
}
END_TEST

START_TEST(test_ack_count_mismatch)
{
    /* _i 0: a batch of 3 acked with count 2 and no dups; 1: count 2 plus a
     * dup; 2: a single event acked with count 1 plus a dup; 3: a dup whose
     * index is outside the batch. */
    static const struct {
        uint32_t nevents, count;
        size_t ndups;
        uint32_t dup_index;
    } cases[] = {{3, 2, 0, 0}, {3, 2, 2, 0}, {1, 1, 1, 0}, {3, 2, 1, 3}};
    er_client_t *c = cli_default(NULL, NULL);
    er_event_t evs[3] = {event_of(1), event_of(2), event_of(3)};
    er_dup_t dups[2] = {{cases[_i].dup_index, 5}, {1, 6}};
    uint32_t req;

    ck_assert_int_eq(er_client_publish_batch_async(c, evs, cases[_i].nevents, &req, NULL), 0);
    cli_flush(c);
    srv_ack(req, 10, cases[_i].count, dups, cases[_i].ndups);
    ck_assert_int_eq(cli_pump(c), ER_EPROTO);
    assert_dead(c, ER_EPROTO);
}
END_TEST

START_TEST(test_ack_dups)
{
    er_client_t *c = cli_default(NULL, NULL);
    er_event_t evs[3] = {event_of(1), event_of(2), event_of(3)};
    er_dup_t dup1 = {0, 42}, dup2 = {1, 7};
    er_ack_t ack;
    uint64_t seq = 99;
    er_msg_t m;

    /* A single duplicate: er_publish gives the original seq. */
    srv_ack(1, 0, 0, &dup1, 1);
    ck_assert_int_eq(er_publish(c, &evs[0], &seq, NULL, NULL), 0);
    ck_assert_uint_eq(seq, 42);

    /* A batch of 3 with event 1 a duplicate: 2 new from seq 100. */
    srv_ack(2, 100, 2, &dup2, 1);
    ck_assert_int_eq(er_publish_batch(c, evs, 3, &ack, NULL, NULL), 0);
    ck_assert_uint_eq(ack.seq, 100);
    ck_assert_uint_eq(ack.count, 2);
    ck_assert_uint_eq(ack.ndups, 1);
    ck_assert_uint_eq(ack.dups[0].index, 1);
    ck_assert_uint_eq(ack.dups[0].seq, 7);

    /* A new event: its own seq. */
    srv_ack(3, 101, 1, NULL, 0);
    ck_assert_int_eq(er_publish(c, &evs[2], &seq, NULL, NULL), 0);
    ck_assert_uint_eq(seq, 101);

    /* And the requests did go out, in order. */
    srv_expect(&m);
    ck_assert_uint_eq(m.op, ER_OP_PUBLISH);
    ck_assert_uint_eq(m.req, 1);
    srv_expect(&m);
    ck_assert_uint_eq(m.op, ER_OP_PUBLISH_BATCH);
    ck_assert_uint_eq(m.req, 2);
    srv_expect(&m);
    ck_assert_uint_eq(m.op, ER_OP_PUBLISH);
    ck_assert_uint_eq(m.req, 3);
}
END_TEST

START_TEST(test_nack_with_id)
{
    er_client_t *c = cli_default(NULL, NULL);
    er_event_t evs[2] = {event_of(1), event_of(2)};
    er_nack_t nack;
    uint64_t seq = 5;

    srv_nack(1, "store_full", "stream orders: full", -1, 250);
    memset(&nack, 0, sizeof(nack));
    ck_assert_int_eq(er_publish(c, &evs[0], &seq, &nack, NULL), ER_ENACK);
    ck_assert_uint_eq(seq, 0);
    ck_assert_str_eq(nack.code, "store_full");
    ck_assert_str_eq(nack.message, "stream orders: full");
    ck_assert_int_eq(nack.index, -1);
    ck_assert_int_eq(nack.retry_after_ms, 250);

    srv_nack(2, "invalid", "type: must be 1-128 characters", 1, -1);
    ck_assert_int_eq(er_publish_batch(c, evs, 2, NULL, &nack, NULL), ER_ENACK);
    ck_assert_str_eq(nack.code, "invalid");
    ck_assert_str_eq(nack.message, "type: must be 1-128 characters");
    ck_assert_int_eq(nack.index, 1);
    ck_assert_int_eq(nack.retry_after_ms, -1);

    /* The connection continues. */
    ck_assert_uint_eq(er_client_inflight(c), 0);
    srv_nil(ER_OP_PONG, 3);
    ck_assert_int_eq(er_ping(c, WAIT_MS), 0);
}
END_TEST

START_TEST(test_nack_unknown_id)
{
    er_client_t *c = cli_default(NULL, NULL);

    srv_nack(3, "invalid", "x", -1, -1);
    ck_assert_int_eq(cli_pump(c), ER_EPROTO);
    assert_dead(c, ER_EPROTO);
}
END_TEST

START_TEST(test_nack_connection)
{
    /* A NACK with id 0 then the close: the waiting call returns ER_ENACK
     * with that NACK, and so does every later call (which once left *nack
     * untouched: lib/client.c conn_refused()). */
    struct seen s;
    er_client_t *c;
    er_event_t ev = event_of(1);
    er_nack_t nack;
    char *out = NULL;

    memset(&s, 0, sizeof(s));
    c = cli_default(&rec_cbs, &s);
    srv_nack(0, "protocol", "frame: length 0", -1, -1);
    ck_assert_int_eq(cli_pump(c), 0);
    ck_assert_uint_eq(s.nnacks, 1);
    ck_assert_uint_eq(s.nack_req[0], 0);
    ck_assert_str_eq(s.nack[0].code, "protocol");
    close(F.sfd);
    F.sfd = -1;

    memset(&nack, 0, sizeof(nack));
    ck_assert_int_eq(er_publish(c, &ev, NULL, &nack, NULL), ER_ENACK);
    ck_assert_str_eq(nack.code, "protocol");
    ck_assert_str_eq(nack.message, "frame: length 0");
    assert_dead(c, ER_ENACK);

    memset(&nack, 0, sizeof(nack));
    ck_assert_int_eq(er_publish(c, &ev, NULL, &nack, NULL), ER_ENACK);
    ck_assert_str_eq(nack.code, "protocol");
    memset(&nack, 0, sizeof(nack));
    ck_assert_int_eq(er_publish_batch(c, &ev, 1, NULL, &nack, NULL), ER_ENACK);
    ck_assert_str_eq(nack.code, "protocol");
    memset(&nack, 0, sizeof(nack));
    ck_assert_int_eq(er_admin(c, "stats", NULL, &out, &nack, WAIT_MS), ER_ENACK);
    ck_assert_ptr_null(out);
    ck_assert_str_eq(nack.message, "frame: length 0");
}
END_TEST

START_TEST(test_nack_connection_async)
{
    /* Non-blocking: the NACK is a callback, the close is ER_ENACK. */
    struct seen s;
    er_client_t *c;

    memset(&s, 0, sizeof(s));
    c = cli_default(&rec_cbs, &s);
    srv_nack(0, "busy", "too many connections", -1, 1000);
    close(F.sfd);
    F.sfd = -1;
    ck_assert_int_eq(cli_pump_to_error(c), ER_ENACK);
    ck_assert_uint_eq(s.nnacks, 1);
    ck_assert_int_eq(s.nack[0].retry_after_ms, 1000);
    assert_dead(c, ER_ENACK);
}
END_TEST

START_TEST(test_closed)
{
    /* A plain close, nothing said: ER_ECLOSED, also for the waiting call. */
    er_client_t *c = cli_default(NULL, NULL);
    er_event_t ev = event_of(1);

    close(F.sfd);
    F.sfd = -1;
    ck_assert_int_eq(er_publish(c, &ev, NULL, NULL, NULL), ER_ECLOSED);
    assert_dead(c, ER_ECLOSED);
}
END_TEST

/* ----------------------------------------------------------------- GOAWAY */

START_TEST(test_goaway)
{
    struct seen s;
    er_client_t *c;
    er_event_t ev = event_of(1);
    uint32_t r1, r2, r3, req = 0;

    memset(&s, 0, sizeof(s));
    c = cli_default(&rec_cbs, &s);
    ck_assert_int_eq(er_client_publish_async(c, &ev, &r1, NULL), 0);
    ck_assert_int_eq(er_client_publish_async(c, &ev, &r2, NULL), 0);
    ck_assert_int_eq(er_client_ping_async(c, &r3), 0);
    cli_flush(c);

    srv_goaway("reloading");
    ck_assert_int_eq(cli_pump(c), 0);
    ck_assert_uint_eq(s.ngoaways, 1);
    ck_assert_str_eq(s.goaway, "reloading");
    ck_assert_int_eq(er_client_publish_async(c, &ev, &req, NULL), ER_EGOAWAY);
    ck_assert_int_eq(er_client_publish_batch_async(c, &ev, 1, &req, NULL), ER_EGOAWAY);
    ck_assert_int_eq(er_client_ping_async(c, &req), ER_EGOAWAY);
    ck_assert_uint_eq(req, 0);
    ck_assert_uint_eq(er_client_inflight(c), 3);

    /* Answers to what is in flight still arrive. */
    srv_ack(r2, 8, 1, NULL, 0);
    srv_nack(r1, "shutting_down", "bye", -1, -1);
    srv_nil(ER_OP_PONG, r3);
    ck_assert_int_eq(cli_pump(c), 0);
    ck_assert_uint_eq(s.nacks, 1);
    ck_assert_uint_eq(s.ack_req[0], r2);
    ck_assert_uint_eq(s.nnacks, 1);
    ck_assert_uint_eq(s.nack_req[0], r1);
    ck_assert_str_eq(s.nack[0].code, "shutting_down");
    ck_assert_uint_eq(s.npongs, 1);
    ck_assert_uint_eq(er_client_inflight(c), 0);

    close(F.sfd);
    F.sfd = -1;
    ck_assert_int_eq(cli_pump_to_error(c), ER_EGOAWAY);
    assert_dead(c, ER_EGOAWAY);
}
END_TEST

START_TEST(test_goaway_blocking)
{
    /* GOAWAY, the answer, the close all queued: er_publish returns the
     * answer, the next call ER_EGOAWAY. */
    er_client_t *c = cli_default(NULL, NULL);
    er_event_t ev = event_of(1);
    uint64_t seq = 0;

    srv_goaway("shutdown");
    srv_ack(1, 77, 1, NULL, 0);
    close(F.sfd);
    F.sfd = -1;
    ck_assert_int_eq(er_publish(c, &ev, &seq, NULL, NULL), 0);
    ck_assert_uint_eq(seq, 77);
    ck_assert_int_eq(er_publish(c, &ev, &seq, NULL, NULL), ER_EGOAWAY);
    ck_assert_int_eq(er_ping(c, WAIT_MS), ER_EGOAWAY);
}
END_TEST

START_TEST(test_goaway_before_welcome)
{
    struct seen s;
    er_client_t *c;

    memset(&s, 0, sizeof(s));
    c = cli_open(&rec_cbs, &s, "g", ER_ACK_RECEIVED);
    cli_flush(c);
    srv_goaway("starting");
    ck_assert_int_eq(cli_pump(c), 0);
    ck_assert_uint_eq(s.ngoaways, 1);
    ck_assert_str_eq(s.goaway, "starting");
    ck_assert_ptr_null(er_client_welcome(c));
    close(F.sfd);
    F.sfd = -1;
    ck_assert_int_eq(cli_pump_to_error(c), ER_EGOAWAY);
}
END_TEST

/* -------------------------------------------------------------- PING/PONG */

START_TEST(test_ping_pong)
{
    struct seen s;
    er_client_t *c;
    uint32_t req = 0;
    er_msg_t m;

    memset(&s, 0, sizeof(s));
    c = cli_default(&rec_cbs, &s);
    ck_assert_int_eq(er_client_ping_async(c, &req), 0);
    ck_assert_uint_eq(req, 1);
    cli_flush(c);
    srv_expect(&m);
    ck_assert_uint_eq(m.op, ER_OP_PING);
    ck_assert_uint_eq(m.req, 1);
    ck_assert_int_eq(er__nil_decode(&m, NULL), 0);
    srv_nil(ER_OP_PONG, 1);
    ck_assert_int_eq(cli_pump(c), 0);
    ck_assert_uint_eq(s.npongs, 1);
    ck_assert_uint_eq(s.pong_req[0], 1);
    ck_assert_uint_eq(er_client_inflight(c), 0);

    /* Blocking. */
    srv_nil(ER_OP_PONG, 2);
    ck_assert_int_eq(er_ping(c, WAIT_MS), 0);
    srv_expect(&m);
    ck_assert_uint_eq(m.op, ER_OP_PING);
    ck_assert_uint_eq(m.req, 2);

    /* No answer: a timeout, and the client stays usable. */
    ck_assert_int_eq(er_ping(c, 0), -ETIMEDOUT);
}
END_TEST

START_TEST(test_pong_wrong_id)
{
    /* _i 0: an id never used; 1: the id of a PUBLISH. */
    er_client_t *c = cli_default(NULL, NULL);
    er_event_t ev = event_of(1);
    uint32_t ping, pub;

    ck_assert_int_eq(er_client_ping_async(c, &ping), 0);
    ck_assert_int_eq(er_client_publish_async(c, &ev, &pub, NULL), 0);
    cli_flush(c);
    srv_nil(ER_OP_PONG, _i == 0 ? ping + 7 : pub);
    ck_assert_int_eq(cli_pump(c), ER_EPROTO);
    assert_dead(c, ER_EPROTO);
}
END_TEST

/* ------------------------------------------------------------------ ADMIN */

START_TEST(test_admin_reply)
{
    er_client_t *c = cli_default(NULL, NULL);
    json_t *reply = json_pack("{s:s, s:i, s:[i, s, b], s:n}", "status", "ok", "connections", 3,
                              "list", 1, "a", 1, "none");
    json_t *got, *args;
    char *out = NULL;
    er_nack_t nack;
    er_str_t cmd;
    er_msg_t m;

    ck_assert_ptr_nonnull(reply);
    ck_assert_int_eq(er__reply_encode(&F.out, 1, reply), 0);
    srv_flush();
    ck_assert_int_eq(er_admin(c, "stats", "{\"verbose\": true, \"n\": 2}", &out, &nack, WAIT_MS),
                     0);
    ck_assert_ptr_nonnull(out);
    got = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(got);
    ck_assert(json_equal(got, reply));
    ck_assert_ptr_null(strchr(out, '\n'));
    json_decref(got);
    free(out);

    /* What the server got: ADMIN, id 1, the command and its args. */
    srv_expect(&m);
    ck_assert_uint_eq(m.op, ER_OP_ADMIN);
    ck_assert_uint_eq(m.req, 1);
    ck_assert_int_eq(er__admin_decode(&m, &cmd, &args, NULL), 0);
    ck_assert_uint_eq(cmd.len, 5);
    ck_assert_mem_eq(cmd.ptr, "stats", 5);
    ck_assert(json_is_true(json_object_get(args, "verbose")));
    ck_assert_int_eq(json_integer_value(json_object_get(args, "n")), 2);
    ck_assert_uint_eq(json_object_size(args), 2);
    json_decref(args);

    /* A NACK to an admin command. */
    srv_nack(2, "unsupported", "no such command", -1, -1);
    ck_assert_int_eq(er_admin(c, "nope", NULL, &out, &nack, WAIT_MS), ER_ENACK);
    ck_assert_ptr_null(out);
    ck_assert_str_eq(nack.code, "unsupported");

    /* A REPLY to a PUBLISH's id is a protocol violation. */
    {
        er_event_t ev = event_of(1);
        uint32_t req;
        ck_assert_int_eq(er_client_publish_async(c, &ev, &req, NULL), 0);
        cli_flush(c);
        ck_assert_int_eq(er__reply_encode(&F.out, req, reply), 0);
        srv_flush();
        ck_assert_int_eq(cli_pump(c), ER_EPROTO);
    }
    json_decref(reply);
}
END_TEST

START_TEST(test_admin_bad_args)
{
    static const char *const bad[] = {"{", "[1, 2]", "\"x\"", "{\"a\": 1} trailing", ""};
    er_client_t *c = cli_default(NULL, NULL);
    char *out = (char *)"untouched";
    uint32_t req = 0;
    size_t i;
    er_msg_t m;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(er_admin(c, "stats", bad[i], &out, NULL, WAIT_MS), ER_EJSON);
        ck_assert_ptr_null(out);
    }
    /* Nothing was sent, no id consumed. */
    ck_assert_uint_eq(er_client_inflight(c), 0);
    ck_assert_int_eq(er_client_ping_async(c, &req), 0);
    ck_assert_uint_eq(req, 1);
    cli_flush(c);
    srv_expect(&m);
    ck_assert_uint_eq(m.op, ER_OP_PING);
}
END_TEST

/* ------------------------------------------------------ hostile framing */

START_TEST(test_frame_before_welcome)
{
    /* _i 0: an ACK to a request sent before WELCOME; 1: a PONG; 2: a NACK
     * with a request id (only id 0 may come before WELCOME). */
    er_client_t *c = cli_open(NULL, NULL, "early", ER_ACK_RECEIVED);
    er_event_t ev = event_of(1);
    uint32_t pub, ping;

    ck_assert_int_eq(er_client_publish_async(c, &ev, &pub, NULL), 0);
    ck_assert_int_eq(er_client_ping_async(c, &ping), 0);
    cli_flush(c);
    srv_skip_hello();
    if (_i == 0)
        srv_ack(pub, 1, 1, NULL, 0);
    else if (_i == 1)
        srv_nil(ER_OP_PONG, ping);
    else
        srv_nack(pub, "invalid", "x", -1, -1);
    ck_assert_int_eq(cli_pump(c), ER_EPROTO);
    ck_assert_ptr_null(er_client_welcome(c));
    assert_dead(c, ER_EPROTO);
}
END_TEST

START_TEST(test_bad_frames)
{
    /* _i 0: not msgpack; 1: an unknown op; 2: a client-bound op the client
     * never gets (ROWS is not handled by the core); 3: a WELCOME with a
     * zero limit; 4: a PONG body that is not nil. */
    static const uint8_t frames[][12] = {
        {0, 0, 0, 1, 0xc1},
        {0, 0, 0, 4, 0x93, 0x63, 0x00, 0xc0},
        {0, 0, 0, 4, 0x93, ER_OP_ROWS, 0x00, 0x90},
        {0},
        {0, 0, 0, 4, 0x93, ER_OP_PONG, 0x01, 0x01},
    };
    er_client_t *c = cli_open(NULL, NULL, "bad", ER_ACK_RECEIVED);
    uint32_t req;

    cli_flush(c);
    srv_skip_hello();
    if (_i == 3) {
        srv_welcome(ER_DEFAULT_MAX_FRAME, ER_DEFAULT_MAX_EVENT_SIZE, 0, 16);
    } else {
        srv_default_welcome();
        ck_assert_int_eq(cli_pump(c), 0);
        ck_assert_int_eq(er_client_ping_async(c, &req), 0);
        ck_assert_uint_eq(req, 1);
        cli_flush(c);
        srv_raw(frames[_i], 4u + frames[_i][3]);
    }
    ck_assert_int_eq(cli_pump(c), ER_EPROTO);
    assert_dead(c, ER_EPROTO);
}
END_TEST

/* Bytes of heap in use (main arena and mmapped blocks). */
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

START_TEST(test_frame_too_long)
{
    /* Only the 4 length bytes are sent: the client refuses at once, never
     * waiting for (or allocating) what the peer merely claims. _i 0: 4 GiB;
     * 1: one byte above the WELCOME's max_frame (2 MiB), which the client
     * adopted since it is above the default; 2: length 0. */
    static const uint32_t claims[] = {0xfffffff0u, (2u << 20) + 1, 0};
    er_client_t *c = cli_open(NULL, NULL, "big", ER_ACK_RECEIVED);
    uint8_t hdr[4];
    size_t before;

    cli_flush(c);
    srv_skip_hello();
    srv_welcome(2u << 20, ER_DEFAULT_MAX_EVENT_SIZE, 16, 16);
    ck_assert_int_eq(cli_pump(c), 0);
    hdr[0] = (uint8_t)(claims[_i] >> 24);
    hdr[1] = (uint8_t)(claims[_i] >> 16);
    hdr[2] = (uint8_t)(claims[_i] >> 8);
    hdr[3] = (uint8_t)claims[_i];
    before = heap_in_use();
    srv_raw(hdr, sizeof(hdr));
    ck_assert_int_eq(cli_pump(c), ER_EPROTO);
    ck_assert_uint_lt(heap_in_use(), before + (1u << 20));
    assert_dead(c, ER_EPROTO);
}
END_TEST

START_TEST(test_frame_at_max_accepted)
{
    /* The counterpart: a frame above the default max_frame but within the
     * WELCOME's is read whole. It is larger than the socket buffer, so the
     * server writes it piecewise while the client reads. The admin request
     * is made with timeout 0, so it stays in flight and its REPLY is
     * consumed by the non-blocking core. */
    er_client_t *c = cli_open(NULL, NULL, "max", ER_ACK_RECEIVED);
    json_t *reply;
    char *pad, *out = NULL;
    size_t off = 0;
    er_msg_t m;

    cli_flush(c);
    srv_skip_hello();
    srv_welcome(2u << 20, ER_DEFAULT_MAX_EVENT_SIZE, 16, 16);
    ck_assert_int_eq(cli_pump(c), 0);
    ck_assert_int_eq(er_admin(c, "config", NULL, &out, NULL, 0), -ETIMEDOUT);
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(er_client_inflight(c), 1);
    cli_flush(c);
    srv_expect(&m);
    ck_assert_uint_eq(m.op, ER_OP_ADMIN);

    pad = malloc(1500000);
    ck_assert_ptr_nonnull(pad);
    memset(pad, 'p', 1499999);
    pad[1499999] = '\0';
    reply = json_pack("{s:s}", "pad", pad);
    ck_assert_ptr_nonnull(reply);
    ck_assert_int_eq(er__reply_encode(&F.out, m.req, reply), 0);
    ck_assert_uint_gt(F.out.len - ER_FRAME_HDR, ER_DEFAULT_MAX_FRAME);
    ck_assert_uint_le(F.out.len - ER_FRAME_HDR, 2u << 20);
    while (off < F.out.len) {
        ssize_t w = send(F.sfd, F.out.data + off, F.out.len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            ck_assert_int_eq(errno, EAGAIN);
            ck_assert_int_eq(cli_pump(c), 0);
            continue;
        }
        off += (size_t)w;
    }
    F.out.len = 0;
    while (er_client_inflight(c) > 0)
        ck_assert_int_eq(cli_pump(c), 0);
    free(pad);
    json_decref(reply);
}
END_TEST

/* ---------------------------------------------------------------- connect */

START_TEST(test_path_too_long)
{
    struct sockaddr_un sa;
    char path[sizeof(sa.sun_path) + 8];
    er_client_t *c = er_client_new(NULL, NULL), *b = NULL;

    ck_assert_ptr_nonnull(c);
    F.c = c;
    /* sun_path bytes (no room for the NUL) is already too long. */
    memset(path, 'a', sizeof(path));
    path[0] = '/';
    path[sizeof(sa.sun_path)] = '\0';
    ck_assert_int_eq(er_client_connect(c, path, "x", ER_ACK_RECEIVED), -ENAMETOOLONG);
    ck_assert_int_eq(er_client_fd(c), -1);
    ck_assert_int_eq(er_client_process(c, ER_POLLIN), -ENOTCONN);
    ck_assert_int_eq(er_connect(path, "x", ER_ACK_RECEIVED, WAIT_MS, &b), -ENAMETOOLONG);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(er_client_connect(c, "", "x", ER_ACK_RECEIVED), -EINVAL);
}
END_TEST

START_TEST(test_connect_missing)
{
    char path[160];
    er_client_t *c = er_client_new(NULL, NULL), *b = NULL;

    ck_assert_ptr_nonnull(c);
    F.c = c;
    snprintf(path, sizeof(path), "%s/absent.sock", dir);
    ck_assert_int_eq(er_client_connect(c, path, "x", ER_ACK_RECEIVED), -ENOENT);
    ck_assert_int_eq(er_client_fd(c), -1);
    ck_assert_int_eq(er_connect(path, "x", ER_ACK_RECEIVED, WAIT_MS, &b), -ENOENT);
    ck_assert_ptr_null(b);
}
END_TEST

START_TEST(test_connect_dead_socket)
{
    /* The socket file remains, nobody listens. */
    er_client_t *c = er_client_new(NULL, NULL), *b = NULL;

    ck_assert_ptr_nonnull(c);
    F.c = c;
    close(F.lfd);
    F.lfd = -1;
    ck_assert_int_eq(er_client_connect(c, F.path, "x", ER_ACK_RECEIVED), -ECONNREFUSED);
    ck_assert_int_eq(er_client_fd(c), -1);
    ck_assert_int_eq(er_connect(F.path, "x", ER_ACK_RECEIVED, WAIT_MS, &b), -ECONNREFUSED);
    ck_assert_ptr_null(b);
}
END_TEST

/* ----------------------------------------------------------------- suite */

static Suite *client_suite(void)
{
    Suite *s = suite_create("client");
    TCase *tc;

    tc = tcase_create("handshake");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_hello_first, 0, 3);
    tcase_add_test(tc, test_welcome_recorded);
    tcase_add_test(tc, test_request_ids_start_at_1);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_max_event_size);
    tcase_add_test(tc, test_max_event_size_exact);
    tcase_add_test(tc, test_max_batch);
    tcase_add_test(tc, test_max_inflight);
    tcase_add_test(tc, test_publish_after_the_buffer_was_written_out);
    tcase_add_test(tc, test_ack_none_not_counted);
    suite_add_tcase(s, tc);

    tc = tcase_create("answers");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_acks_out_of_order);
    tcase_add_test(tc, test_ack_unknown_id);
    tcase_add_test(tc, test_ack_to_ping);
    tcase_add_loop_test(tc, test_ack_count_mismatch, 0, 4);
    tcase_add_test(tc, test_ack_dups);
    tcase_add_test(tc, test_nack_with_id);
    tcase_add_test(tc, test_nack_unknown_id);
    tcase_add_test(tc, test_nack_connection);
    tcase_add_test(tc, test_nack_connection_async);
    tcase_add_test(tc, test_closed);
    tcase_add_test(tc, test_goaway);
    tcase_add_test(tc, test_goaway_blocking);
    tcase_add_test(tc, test_goaway_before_welcome);
    tcase_add_test(tc, test_ping_pong);
    tcase_add_loop_test(tc, test_pong_wrong_id, 0, 2);
    tcase_add_test(tc, test_admin_reply);
    tcase_add_test(tc, test_admin_bad_args);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_frame_before_welcome, 0, 3);
    tcase_add_loop_test(tc, test_bad_frames, 0, 5);
    tcase_add_loop_test(tc, test_frame_too_long, 0, 3);
    tcase_add_test(tc, test_frame_at_max_accepted);
    suite_add_tcase(s, tc);

    tc = tcase_create("connect");
    tcase_add_unchecked_fixture(tc, dir_setup, dir_teardown);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_path_too_long);
    tcase_add_test(tc, test_connect_missing);
    tcase_add_test(tc, test_connect_dead_socket);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(client_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
