/*
 * Unit tests for the host's publish (daemon/host.c) on a real libuv loop,
 * with a fake publisher in place of the server: what publish() refuses
 * (-EINVAL for a NULL, invalid or oversized event or a token it did not
 * make, -EAGAIN while no publisher is open), the hops it gives (the
 * event's + 1, at least the handled event's + 1 inside handle(), per
 * instance and per thread), that the publisher gets each request on the
 * loop thread on a later turn — also from another thread — and never
 * inside the call, that closing runs what was queued, how
 * er__publish_req_end completes the plugin's token, and that every handle
 * is gone at the end (uv_loop_close returns 0).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "evobj.h"
#include "host.h"

static uv_loop_t loop;
static const er_host_t *H;
static er_plugin_ctx_t *ctx, *other;

/* What the fake publisher got, and what it answers. */
#define MAX_REQS 16
static er_publish_req_t *reqs[MAX_REQS];
static size_t nreqs;
static uv_thread_t run_thread;
static bool in_publish; /* set around the publish() calls made here */
static bool run_inside; /* the publisher ran inside one of them */
static bool keep;       /* keep the requests (else end them ER_OK at once) */

static void fake_run(void *arg, er_publish_req_t *req)
{
    ck_assert_ptr_eq(arg, &loop);
    run_thread = uv_thread_self();
    if (in_publish)
        run_inside = true;
    ck_assert_uint_lt(nreqs, MAX_REQS);
    reqs[nreqs++] = req;
    if (!keep)
        er__publish_req_end(req, ER_OK, 0, NULL);
}

static void setup(void)
{
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    er__host_init(&loop);
    H = er__host();
    ctx = er__plugin_ctx_new("probe", NULL, NULL, NULL);
    other = er__plugin_ctx_new("other", NULL, NULL, NULL);
    ck_assert_ptr_nonnull(ctx);
    ck_assert_ptr_nonnull(other);
    nreqs = 0;
    keep = false;
    run_inside = false;
}

static void teardown(void)
{
    er__host_publish_close();
    er__plugin_ctx_free(ctx);
    er__plugin_ctx_free(other);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

static void open_publisher(size_t max_event_size)
{
    ck_assert_int_eq(er__host_publish_open(&loop, max_event_size, fake_run, &loop), 0);
}

/* A new event (a reference) of type t, with hops when hops >= 0. */
static er_ev_t *event(const char *t, int64_t hops)
{
    er_event_t f;
    er_ev_t *ev;

    memset(&f, 0, sizeof(f));
    f.type = er_str(t);
    f.stream = er_str("s:1");
    f.data = er_str("{\"a\":1}");
    if (hops >= 0) {
        f.hops = (uint32_t)hops;
        f.has |= ER_HAS_HOPS;
    }
    ev = er__ev_new(&f);
    ck_assert_ptr_nonnull(ev);
    return ev;
}

static int publish(er_plugin_ctx_t *c, er_ev_t *ev, er_token_t *t)
{
    int rc;

    in_publish = true;
    rc = H->publish(c, ev, t);
    in_publish = false;
    return rc;
}

/* Run the loop until the publisher has n requests (bounded). */
static void run_until(size_t n)
{
    int i;

    for (i = 0; i < 1000 && nreqs < n; i++)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_uint_eq(nreqs, n);
}

static int cb_calls;
static er_status_t cb_status;

static void on_token(void *arg, er_status_t status)
{
    ck_assert_ptr_eq(arg, &cb_calls);
    ck_assert(!in_publish);
    cb_calls++;
    cb_status = status;
}

static er_token_t *token(void)
{
    er_token_t *t;

    cb_calls = 0;
    cb_status = -1;
    ck_assert_int_eq(H->token_new(ctx, on_token, &cb_calls, &t), 0);
    return t;
}

/* ------------------------------------------------------------ refusals */

START_TEST(test_closed_and_null)
{
    er_ev_t *ev = event("Thing", -1);
    er_token_t *t = token();

    /* Nothing takes plugins' events yet. */
    ck_assert_int_eq(publish(ctx, ev, t), -EAGAIN);
    ck_assert_int_eq(publish(ctx, NULL, t), -EINVAL);
    ck_assert_int_eq(publish(NULL, ev, t), -EINVAL);
    open_publisher(1024);
    ck_assert_int_eq(publish(ctx, NULL, NULL), -EINVAL);
    er__host_publish_close();
    ck_assert_int_eq(publish(ctx, ev, t), -EAGAIN);
    uv_run(&loop, UV_RUN_DEFAULT); /* the mailbox's handle closes */
    /* Open again once the last close is done. */
    open_publisher(1024);
    ck_assert_int_eq(er__host_publish_open(&loop, 1024, fake_run, &loop), -EBUSY);
    H->token_free(t); /* its calls failed: the plugin's to release */
    ck_assert_int_eq(cb_calls, 0);
    ck_assert_uint_eq(nreqs, 0);
    er__ev_unref(ev);
}
END_TEST

START_TEST(test_invalid_events)
{
    er_ev_t *bad = event("bad type!", -1), *big;
    er_event_t f;
    char data[600];
    er_token_t host_tok;

    open_publisher(512);
    ck_assert_int_eq(publish(ctx, bad, NULL), -EINVAL);
    /* Over max_event_size, encoded. */
    memset(data, 'x', sizeof(data));
    memset(&f, 0, sizeof(f));
    f.type = er_str("Big");
    f.data.ptr = data;
    f.data.len = sizeof(data);
    big = er__ev_new(&f);
    ck_assert_int_eq(publish(ctx, big, NULL), -EINVAL);
    /* A reload raised the limit. */
    er__host_publish_limits(1024);
    ck_assert_int_eq(publish(ctx, big, NULL), 0);
    run_until(1);
    nreqs = 0;
    er__host_publish_limits(512);
    /* A token the host did not make with token_new. */
    er__ev_unref(big);
    big = event("Fine", -1);
    er__token_init(&host_tok, NULL, NULL, ctx);
    ck_assert_int_eq(publish(ctx, big, &host_tok), -EINVAL);
    uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_uint_eq(nreqs, 0);
    er__ev_unref(bad);
    er__ev_unref(big);
}
END_TEST

/* ------------------------------------------------------------ requests */

START_TEST(test_later_on_the_loop)
{
    er_ev_t *ev = event("Thing", -1);
    er_token_t *t = token();
    uv_thread_t self = uv_thread_self();

    open_publisher(1024);
    keep = true;
    ck_assert_int_eq(publish(ctx, ev, t), 0);
    er__ev_unref(ev); /* borrowed until return: the request holds its own */
    ck_assert_uint_eq(nreqs, 0);
    run_until(1);
    ck_assert(!run_inside);
    ck_assert(uv_thread_equal(&run_thread, &self));
    ck_assert_uint_eq(reqs[0]->hops, 1);
    ck_assert_str_eq(reqs[0]->name, "probe");
    ck_assert_str_eq(reqs[0]->component, ctx->component);
    ck_assert_ptr_eq(reqs[0]->token, t);
    ck_assert_int_eq(er__ev_view(reqs[0]->ev)->type.len, 5);
    ck_assert_int_eq(cb_calls, 0);
    er__publish_req_end(reqs[0], ER_OK, 0, NULL);
    ck_assert_int_eq(cb_calls, 1);
    ck_assert_int_eq(cb_status, ER_OK);
}
END_TEST

START_TEST(test_order_and_statuses)
{
    er_token_t *t;
    er_ev_t *ev = event("Thing", -1);
    size_t i;

    open_publisher(1024);
    keep = true;
    for (i = 0; i < 4; i++)
        ck_assert_int_eq(publish(ctx, ev, i == 0 ? NULL : token()), 0);
    run_until(4);
    ck_assert_ptr_null(reqs[0]->token);
    er__publish_req_end(reqs[0], ER_OK, 0, NULL); /* nothing to complete */
    /* The store's errno: -ENOSPC fails, anything else retries. */
    t = reqs[1]->token;
    er__publish_req_end(reqs[1], ER_RETRY, -ENOSPC, "the store is full");
    ck_assert_int_eq(cb_status, ER_FAIL);
    er__publish_req_end(reqs[2], ER_RETRY, -EIO, "disk error");
    ck_assert_int_eq(cb_status, ER_RETRY);
    er__publish_req_end(reqs[3], ER_FAIL, 0, NULL);
    ck_assert_int_eq(cb_status, ER_FAIL);
    (void)t;
    er__ev_unref(ev);
}
END_TEST

START_TEST(test_daemon_fields_replaced)
{
    er_event_t f;
    er_ev_t *ev;

    open_publisher(1024);
    keep = true;
    /* What a plugin got from handle(): seq, origin, via and hops set. */
    memset(&f, 0, sizeof(f));
    f.type = er_str("Thing");
    f.seq = 42;
    f.received = 1;
    f.origin.pid = 7;
    f.origin.host = er_str("elsewhere");
    f.via.plugin = er_str("someone");
    f.hops = 5;
    f.has = ER_HAS_SEQ | ER_HAS_RECEIVED | ER_HAS_ORIGIN | ER_HAS_HOPS;
    ev = er__ev_new(&f);
    ck_assert_int_eq(publish(ctx, ev, NULL), 0);
    run_until(1);
    ck_assert_uint_eq(reqs[0]->hops, 6);
    er__publish_req_end(reqs[0], ER_OK, 0, NULL);
    er__ev_unref(ev);
}
END_TEST

START_TEST(test_hops_inside_handle)
{
    er_ev_t *handled = event("Handled", 7), *fresh = event("Fresh", -1), *hot = event("Hot", 9);

    open_publisher(1024);
    keep = true;
    er__host_handling(ctx, handled);
    ck_assert_int_eq(publish(ctx, fresh, NULL), 0);   /* 7 + 1 */
    ck_assert_int_eq(publish(ctx, hot, NULL), 0);     /* its own 9 + 1 */
    ck_assert_int_eq(publish(other, fresh, NULL), 0); /* another instance: 0 + 1 */
    er__host_handling(other, NULL);                   /* not ctx's record */
    ck_assert_int_eq(publish(ctx, fresh, NULL), 0);   /* still 7 + 1 */
    er__host_handling(ctx, NULL);
    ck_assert_int_eq(publish(ctx, fresh, NULL), 0); /* handle() returned: 0 + 1 */
    run_until(5);
    ck_assert_uint_eq(reqs[0]->hops, 8);
    ck_assert_uint_eq(reqs[1]->hops, 10);
    ck_assert_uint_eq(reqs[2]->hops, 1);
    ck_assert_str_eq(reqs[2]->name, "other");
    ck_assert_uint_eq(reqs[3]->hops, 8);
    ck_assert_uint_eq(reqs[4]->hops, 1);
    while (nreqs > 0)
        er__publish_req_end(reqs[--nreqs], ER_OK, 0, NULL);
    er__ev_unref(handled);
    er__ev_unref(fresh);
    er__ev_unref(hot);
}
END_TEST

/* ------------------------------------------------------- other threads */

typedef struct worker_s {
    er_ev_t *handled, *fresh;
    er_token_t *token;
    int rc[3];
} worker_t;

static void *worker(void *arg)
{
    worker_t *w = arg;

    /* A blocking handler's worker: its own record of what it handles. */
    er__host_handling(ctx, w->handled);
    w->rc[0] = H->publish(ctx, w->fresh, w->token);
    er__host_handling(ctx, NULL);
    w->rc[1] = H->publish(ctx, w->fresh, NULL);
    w->rc[2] = H->publish(ctx, NULL, NULL);
    return NULL;
}

START_TEST(test_off_the_loop)
{
    worker_t w = {.handled = event("Handled", 3), .fresh = event("Fresh", -1)};
    er_ev_t *loop_handled = event("LoopHandled", 20);
    uv_thread_t self = uv_thread_self();
    pthread_t th;

    open_publisher(1024);
    keep = true;
    w.token = token();
    er__host_handling(ctx, loop_handled); /* the loop's record: not the worker's */
    ck_assert_int_eq(pthread_create(&th, NULL, worker, &w), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    er__host_handling(ctx, NULL);
    ck_assert_int_eq(w.rc[0], 0);
    ck_assert_int_eq(w.rc[1], 0);
    ck_assert_int_eq(w.rc[2], -EINVAL);
    run_until(2);
    ck_assert(uv_thread_equal(&run_thread, &self)); /* on the loop thread */
    ck_assert_uint_eq(reqs[0]->hops, 4);
    ck_assert_uint_eq(reqs[1]->hops, 1);
    ck_assert_int_eq(cb_calls, 0);
    er__publish_req_end(reqs[0], ER_OK, 0, NULL);
    er__publish_req_end(reqs[1], ER_OK, 0, NULL);
    ck_assert_int_eq(cb_calls, 1);
    ck_assert_int_eq(cb_status, ER_OK);
    er__ev_unref(w.handled);
    er__ev_unref(w.fresh);
    er__ev_unref(loop_handled);
}
END_TEST

/* Many threads at once, against a close: every publish() that returned 0
 * reaches the publisher exactly once, on the loop; none after the close. */
#define THREADS    4
#define PER_THREAD 2000

typedef struct racer_s {
    er_ev_t *ev;
    int accepted;
} racer_t;

static void *racer(void *arg)
{
    racer_t *r = arg;
    int i;

    for (i = 0; i < PER_THREAD; i++)
        if (H->publish(ctx, r->ev, NULL) == 0)
            r->accepted++;
    return NULL;
}

static size_t raced;
static void count_run(void *arg, er_publish_req_t *req)
{
    raced++;
    er__publish_req_end(req, ER_OK, 0, NULL);
}

START_TEST(test_threads_and_close)
{
    racer_t r[THREADS];
    pthread_t th[THREADS];
    er_ev_t *ev = event("Thing", -1);
    int i, accepted = 0;

    raced = 0;
    ck_assert_int_eq(er__host_publish_open(&loop, 1024, count_run, NULL), 0);
    for (i = 0; i < THREADS; i++) {
        r[i].ev = ev;
        r[i].accepted = 0;
        ck_assert_int_eq(pthread_create(&th[i], NULL, racer, &r[i]), 0);
    }
    while (raced < 1000)
        uv_run(&loop, UV_RUN_ONCE);
    er__host_publish_close(); /* runs what is queued, refuses the rest */
    for (i = 0; i < THREADS; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
        accepted += r[i].accepted;
    }
    ck_assert_uint_eq(raced, (size_t)accepted);
    ck_assert_int_eq(H->publish(ctx, ev, NULL), -EAGAIN);
    er__ev_unref(ev);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("publish");
    TCase *tc = tcase_create("host");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_closed_and_null);
    tcase_add_test(tc, test_invalid_events);
    tcase_add_test(tc, test_later_on_the_loop);
    tcase_add_test(tc, test_order_and_statuses);
    tcase_add_test(tc, test_daemon_fields_replaced);
    tcase_add_test(tc, test_hops_inside_handle);
    tcase_add_test(tc, test_off_the_loop);
    tcase_add_test(tc, test_threads_and_close);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
