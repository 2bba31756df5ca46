/*
 * The protocol vectors (tests/vectors/) against the real daemon: for each
 * file, a daemon with the file's limits; for each vector sent to the
 * daemon, a fresh connection (after HELLO when the vector's session is
 * "ready"), the exact bytes, and the exact answer the vector names — op,
 * request id, NACK code and index, ACK count — then a close or, when the
 * connection must survive, a PING answered by PONG.
 *
 * The codec side of the same vectors is tests/unit/check_vectors.c.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "harness.h"
#include "proto.h"

static const char *const files[] = {"session", "publish", "batch", "framing", "ops"};

static char hello_hex[256];

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex) / 2, i;
    ck_assert_uint_le(n, cap);
    for (i = 0; i < n; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

/* Load tests/vectors/NAME.json; NULL (reason on stderr) on failure. */
static json_t *load(const char *name)
{
    const char *src = getenv("ER_SRCDIR");
    char path[1024];
    json_error_t e;
    json_t *j;
    snprintf(path, sizeof(path), "%s/tests/vectors/%s.json", src && src[0] ? src : ".", name);
    j = json_load_file(path, 0, &e);
    if (j == NULL)
        fprintf(stderr, "%s:%d: %s\n", path, e.line, e.text);
    return j;
}

static int conn(const er_test_daemon_t *d)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, d->sock, strlen(d->sock) + 1);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the daemon may close before reading it all */
        p += w;
        n -= (size_t)w;
    }
}

/* 1: one frame read into buf; 0: closed; -1: nothing within 5 s. */
static int read_frame(int fd, uint8_t *buf, size_t cap, size_t *len)
{
    uint8_t h[4];
    size_t got = 0, need = 4;
    uint8_t *dst = h;
    int phase = 0;

    while (phase < 2) {
        struct pollfd pfd = {fd, POLLIN, 0};
        ssize_t r;
        if (poll(&pfd, 1, 5000) <= 0)
            return -1;
        r = recv(fd, dst + got, need - got, 0);
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return 0;
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
        if (got == need) {
            if (phase == 0) {
                need = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
                ck_assert_uint_le(need, cap);
                dst = buf;
                got = 0;
            }
            phase++;
        }
    }
    *len = need;
    return 1;
}

static const char *op_of(uint32_t op)
{
    const char *n = er__op_name(op);
    return n ? n : "?";
}

static void run_vector(const er_test_daemon_t *d, json_t *v)
{
    const char *name = json_string_value(json_object_get(v, "name"));
    json_t *exp = json_object_get(v, "daemon");
    const char *then = json_string_value(json_object_get(v, "then"));
    const char *session = json_string_value(json_object_get(v, "session"));
    const char *answer = json_string_value(json_object_get(exp, "answer"));
    static uint8_t bytes[1 << 20], buf[1 << 16];
    size_t n, len;
    er_msg_t m;
    er_error_t err;
    int fd, rc;

    fd = conn(d);
    if (session && strcmp(session, "ready") == 0) {
        n = unhex(hello_hex, bytes, sizeof(bytes));
        send_all(fd, bytes, n);
        ck_assert_msg(read_frame(fd, buf, sizeof(buf), &len) == 1, "%s: no WELCOME", name);
    }
    n = unhex(json_string_value(json_object_get(v, "hex")), bytes, sizeof(bytes));
    send_all(fd, bytes, n);
    if (then && strcmp(then, "eof") == 0)
        shutdown(fd, SHUT_WR);

    rc = read_frame(fd, buf, sizeof(buf), &len);
    if (answer == NULL) {
        ck_assert_msg(rc == 0, "%s: expected a close without an answer, got %d", name, rc);
        close(fd);
        return;
    }
    ck_assert_msg(rc == 1, "%s: expected %s, got %s", name, answer, rc == 0 ? "close" : "nothing");
    ck_assert_int_eq(er__msg_parse(buf, len, &m, &err), 0);
    ck_assert_msg(strcmp(op_of(m.op), answer) == 0, "%s: expected %s, got %s", name, answer,
                  op_of(m.op));
    if (json_object_get(exp, "request_id"))
        ck_assert_msg(m.req == json_integer_value(json_object_get(exp, "request_id")),
                      "%s: request id %u", name, m.req);
    if (m.op == ER_OP_NACK) {
        er_nack_t nack;
        json_t *idx = json_object_get(exp, "index");
        ck_assert_int_eq(er__nack_decode(&m, &nack, &err), 0);
        ck_assert_msg(strcmp(nack.code, json_string_value(json_object_get(exp, "code"))) == 0,
                      "%s: NACK %s (%s)", name, nack.code, nack.message);
        if (idx && json_is_integer(idx))
            ck_assert_msg(nack.index == json_integer_value(idx), "%s: index %lld", name,
                          (long long)nack.index);
        else
            ck_assert_msg(nack.index == -1, "%s: unexpected index %lld", name,
                          (long long)nack.index);
    } else if (m.op == ER_OP_ACK) {
        er_ack_t ack;
        ck_assert_int_eq(er__ack_decode(&m, &ack, NULL, 0, &err), 0);
        if (json_object_get(exp, "count"))
            ck_assert_msg(ack.count == json_integer_value(json_object_get(exp, "count")),
                          "%s: ACK count %u", name, ack.count);
    }
    if (json_is_true(json_object_get(exp, "close"))) {
        rc = read_frame(fd, buf, sizeof(buf), &len);
        ck_assert_msg(rc == 0, "%s: connection not closed", name);
    } else if (!(then && strcmp(then, "eof") == 0)) {
        static const uint8_t ping[] = {0, 0, 0, 6, 0x93, 0x04, 0xcd, 0x12, 0x34, 0xc0};
        send_all(fd, ping, sizeof(ping));
        /* The hello vector itself is not "ready": it may have been answered
         * by WELCOME only; skip anything before the PONG. */
        do {
            rc = read_frame(fd, buf, sizeof(buf), &len);
            ck_assert_msg(rc == 1, "%s: connection not usable afterwards", name);
            ck_assert_int_eq(er__msg_parse(buf, len, &m, &err), 0);
        } while (m.op != ER_OP_PONG);
        ck_assert_uint_eq(m.req, 0x1234);
    }
    close(fd);
}

static void run_file(const char *file)
{
    json_t *doc = load(file), *lim, *v;
    er_test_daemon_t d;
    char extra[512];
    size_t i, ran = 0;

    ck_assert_ptr_nonnull(doc);
    lim = json_object_get(doc, "limits");
    snprintf(extra, sizeof(extra),
             "limits:\n  max_frame: %lld\n  max_event_size: %lld\n  max_batch: %lld\n"
             "  frame_timeout: %s\n",
             (long long)json_integer_value(json_object_get(lim, "max_frame")),
             (long long)json_integer_value(json_object_get(lim, "max_event_size")),
             (long long)json_integer_value(json_object_get(lim, "max_batch")),
             json_string_value(json_object_get(lim, "frame_timeout")));
    ck_assert_int_eq(er_test_daemon_start(&d, extra), 0);
    json_array_foreach(json_object_get(doc, "vectors"), i, v)
    {
        const char *dir = json_string_value(json_object_get(v, "direction"));
        if (dir && strcmp(dir, "to_daemon") == 0 && json_object_get(v, "daemon")) {
            run_vector(&d, v);
            ran++;
        }
    }
    fprintf(stderr, "%s.json: %zu vectors against the daemon\n", file, ran);
    ck_assert_uint_gt(ran, 0);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    er_test_daemon_cleanup(&d);
    json_decref(doc);
}

START_TEST(vectors_file)
{
    run_file(files[_i]);
}
END_TEST

static void find_hello(void)
{
    json_t *doc = load("session"), *v;
    size_t i;
    if (doc == NULL)
        return;
    json_array_foreach(json_object_get(doc, "vectors"), i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "name")), "hello-received") == 0)
            snprintf(hello_hex, sizeof(hello_hex), "%s",
                     json_string_value(json_object_get(v, "hex")));
    }
    json_decref(doc);
}

int main(void)
{
    Suite *s = suite_create("itest_vectors");
    TCase *tc = tcase_create("vectors");
    SRunner *sr;
    int failed;

    find_hello();
    if (hello_hex[0] == '\0') {
        fprintf(stderr, "no hello-received vector\n");
        return EXIT_FAILURE;
    }
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, vectors_file, 0, (int)(sizeof(files) / sizeof(files[0])));
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
