/*
 * Unit tests for daemon/host.c (the host table, contexts, tokens) and
 * lib/evobj.c (the event objects behind it), on a real libuv loop: the
 * token rules (a completion inside the submitting call deferred, a second
 * one ignored, a final return settling the token), complete_batch, timers
 * stopped from inside their callback, fd watches, metrics, health,
 * event_new's checks, admin replies, the loop-thread check, and that every
 * handle is gone at the end (uv_loop_close returns 0).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "buf.h"
#include "evobj.h"
#include "host.h"
#include "proto.h"

static uv_loop_t loop;
static const er_host_t *H;
static er_plugin_ctx_t *ctx;

static void setup(void)
{
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    er__host_init(&loop);
    H = er__host();
    ctx = er__plugin_ctx_new("probe", NULL, NULL, NULL);
    ck_assert_ptr_nonnull(ctx);
}

static void teardown(void)
{
    er__plugin_ctx_free(ctx);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

/* ------------------------------------------------------------ tokens */

static int completions;
static er_status_t last_status;
static size_t last_n;
static er_status_t last_statuses[4];

static void on_complete(er_token_t *t, er_status_t status, size_t n, const er_status_t *statuses)
{
    completions++;
    last_status = status;
    last_n = n;
    if (n > 0)
        memcpy(last_statuses, statuses, (n < 4 ? n : 4) * sizeof(*statuses));
}

static er_token_t token(void)
{
    er_token_t t;

    completions = 0;
    er__token_init(&t, on_complete, NULL, ctx);
    return t;
}

START_TEST(test_complete_later)
{
    er_token_t t = token();

    er__token_begin(&t);
    ck_assert_int_eq(er__token_returned(&t, ER_PENDING), ER_PENDING);
    ck_assert_int_eq(completions, 0);
    H->complete(&t, ER_FAIL);
    ck_assert_int_eq(completions, 1);
    ck_assert_int_eq(last_status, ER_FAIL);
    H->complete(&t, ER_OK); /* a second completion: logged, ignored */
    ck_assert_int_eq(completions, 1);
    er__token_clear(&t);
}
END_TEST

START_TEST(test_complete_inside_deferred)
{
    er_token_t t = token();

    er__token_begin(&t);
    H->complete(&t, ER_RETRY); /* inside the submitting call */
    ck_assert_int_eq(completions, 0);
    er__token_end(&t);
    ck_assert_int_eq(completions, 1);
    ck_assert_int_eq(last_status, ER_RETRY);
}
END_TEST

START_TEST(test_final_return_settles)
{
    er_token_t t = token();

    er__token_begin(&t);
    H->complete(&t, ER_FAIL); /* and then returns OK: a plugin bug */
    ck_assert_int_eq(er__token_returned(&t, ER_OK), ER_OK);
    ck_assert_int_eq(completions, 0);
    H->complete(&t, ER_OK);
    ck_assert_int_eq(completions, 0);

    t = token();
    er__token_begin(&t);
    ck_assert_int_eq(er__token_returned(&t, ER_CANCELLED), ER_RETRY); /* not a return value */
    ck_assert_int_eq(er__token_returned(&t, -EIO), -EIO);
    H->complete(&t, ER_OK);
    ck_assert_int_eq(completions, 0);
}
END_TEST

START_TEST(test_complete_batch)
{
    er_token_t t = token();
    er_status_t sts[3] = {ER_OK, ER_RETRY, ER_FAIL};

    er__token_begin(&t);
    H->complete_batch(&t, 3, sts);
    sts[1] = ER_OK; /* borrowed until return: the host copied it */
    ck_assert_int_eq(completions, 0);
    er__token_end(&t);
    ck_assert_int_eq(completions, 1);
    ck_assert_int_eq(last_status, ER_RETRY); /* the first that is not OK */
    ck_assert_uint_eq(last_n, 3);
    ck_assert_int_eq(last_statuses[1], ER_RETRY);
    ck_assert_int_eq(last_statuses[2], ER_FAIL);

    t = token();
    er__token_begin(&t);
    er__token_end(&t);
    sts[0] = sts[1] = sts[2] = ER_OK;
    H->complete_batch(&t, 3, sts);
    ck_assert_int_eq(last_status, ER_OK);
    er__token_clear(&t);
}
END_TEST

static int plugin_cb_status = -1;
static void plugin_cb(void *arg, er_status_t status)
{
    plugin_cb_status = (int)status;
}

START_TEST(test_plugin_tokens_and_nosys)
{
    er_token_t *t;
    const void *v;
    size_t len;

    ck_assert_int_eq(H->token_new(ctx, plugin_cb, NULL, &t), 0);
    /* No publisher open (the server opens it): -EAGAIN, see check_publish. */
    ck_assert_int_eq(H->publish(ctx, (er_ev_t *)1, t), -EAGAIN);
    ck_assert_int_eq(H->state_get(ctx, "k", &v, &len, t), -ENOSYS);
    ck_assert_int_eq(H->state_set(ctx, "k", "v", 1, t), -ENOSYS);
    ck_assert_int_eq(H->query(ctx, "{}", NULL, NULL, t), -ENOSYS);
    ck_assert_int_eq(H->ingest(ctx, (const uint8_t *)"", 0, NULL), -ENOSYS);
    H->token_free(t); /* its calls failed: the plugin releases it */

    /* When the host completes one, the callback runs and the host frees it. */
    ck_assert_int_eq(H->token_new(ctx, plugin_cb, NULL, &t), 0);
    H->complete(t, ER_OK);
    ck_assert_int_eq(plugin_cb_status, ER_OK);
}
END_TEST

START_TEST(test_admin_reply)
{
    er_token_t t = token();

    ck_assert_int_eq(H->admin_reply(&t, "{\"ok\":true}"), 0);
    ck_assert_str_eq(t.reply, "{\"ok\":true}");
    ck_assert_int_eq(H->admin_reply(&t, "[1,2]"), -EINVAL);
    ck_assert_int_eq(H->admin_reply(&t, "{bad"), -EINVAL);
    ck_assert_str_eq(t.reply, "{\"ok\":true}");
    H->complete(&t, ER_OK);
    ck_assert_int_eq(H->admin_reply(&t, "{}"), -EINVAL); /* after completion */
    er__token_clear(&t);
    ck_assert_ptr_null(t.reply);
}
END_TEST

/* ------------------------------------------------------------ handles */

static er_timer_t *timer;
static int fired;

static void once_then_stop(void *arg)
{
    fired++;
    if (fired == 3)
        H->timer_stop(timer); /* from inside its own callback */
}

START_TEST(test_timer_stop_inside)
{
    fired = 0;
    ck_assert_int_eq(H->timer_start(ctx, 1, 1, once_then_stop, NULL, &timer), 0);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0); /* ends: nothing left */
    ck_assert_int_eq(fired, 3);
    ck_assert_ptr_null(ctx->handles);
}
END_TEST

static void count(void *arg)
{
    fired++;
}

START_TEST(test_timer_left_open)
{
    er_timer_t *t;

    /* A plugin that forgets a timer: ctx_free closes it (teardown checks
     * the loop closes). */
    ck_assert_int_eq(H->timer_start(ctx, 100000, 0, count, NULL, &t), 0);
    ck_assert_ptr_nonnull(ctx->handles);
}
END_TEST

static er_watch_t *watch;
static unsigned watch_rev;

static void on_readable(void *arg, int fd, unsigned revents)
{
    char c;

    watch_rev = revents;
    ck_assert_int_eq(read(fd, &c, 1), 1);
    H->watch_stop(watch); /* from inside its callback */
}

START_TEST(test_watch)
{
    int p[2];

    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(H->watch_start(ctx, p[0], 0, on_readable, NULL, &watch), 0);
    ck_assert_int_eq(H->watch_update(watch, ER_WATCH_READ), 0);
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
    ck_assert_uint_eq(watch_rev, ER_WATCH_READ);
    ck_assert_int_eq(H->watch_start(ctx, -1, ER_WATCH_READ, on_readable, NULL, &watch), -EINVAL);
    close(p[0]);
    close(p[1]);
}
END_TEST

/* ------------------------------------------------------ metrics, health */

struct seen {
    char names[4][32];
    int64_t values[4];
    int n;
};

static void emit(void *arg, const char *name, int64_t value)
{
    struct seen *s = arg;

    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
    s->values[s->n++] = value;
}

START_TEST(test_metrics)
{
    er_metric_t *c, *g, *x;
    struct seen s = {.n = 0};

    ck_assert_int_eq(H->metric_counter(ctx, "lines", "lines written", &c), 0);
    ck_assert_int_eq(H->metric_gauge(ctx, "queue_depth", "queued", &g), 0);
    ck_assert_int_eq(H->metric_counter(ctx, "lines", "again", &x), -EEXIST);
    ck_assert_int_eq(H->metric_counter(ctx, "Bad-Name", "", &x), -EINVAL);
    H->metric_add(c, 5);
    H->metric_add(c, -1); /* a counter never goes down: ignored */
    H->metric_set(g, 42);
    H->metric_set(c, 0); /* not on a counter: ignored */
    er__plugin_ctx_metrics(ctx, emit, &s);
    ck_assert_int_eq(s.n, 2);
    ck_assert_str_eq(s.names[0], "queue_depth");
    ck_assert_int_eq(s.values[0], 42);
    ck_assert_str_eq(s.names[1], "lines");
    ck_assert_int_eq(s.values[1], 5);
}
END_TEST

START_TEST(test_health)
{
    ck_assert_int_eq(ctx->health, ER_HEALTH_UP);
    H->set_health(ctx, ER_HEALTH_DOWN, "connection refused");
    ck_assert_int_eq(ctx->health, ER_HEALTH_DOWN);
    ck_assert_str_eq(ctx->health_reason, "connection refused");
    H->set_health(ctx, (er_health_t)7, "nonsense"); /* ignored */
    ck_assert_int_eq(ctx->health, ER_HEALTH_DOWN);
    H->set_health(ctx, ER_HEALTH_UP, NULL);
    ck_assert_str_eq(ctx->health_reason, "");
    ck_assert_str_eq(H->instance_name(ctx), "probe");
    ck_assert_ptr_eq(H->uv_loop(ctx), &loop);
}
END_TEST

static void *off_loop(void *arg)
{
    H->set_health(ctx, ER_HEALTH_DOWN, "from a thread");
    return NULL;
}

START_TEST(test_off_loop_aborts)
{
    pthread_t th;

    pthread_create(&th, NULL, off_loop, NULL);
    pthread_join(th, NULL);
}
END_TEST

/* ------------------------------------------------------------- events */

START_TEST(test_event_copy)
{
    char type[] = "OrderCreated", data[] = "\x00\x01\x02";
    er_meta_t meta[2] = {{er_str("tenant"), er_str("acme")}, {er_str("empty"), {"", 0}}};
    er_event_t src = {0}, view;
    const er_event_t *v;
    er_ev_t *ev;
    er_str_t k, val;
    size_t pos = 0;

    src.type = er_str(type);
    src.id = (er_str_t){"", 0}; /* present and empty stays present */
    src.data = (er_str_t){data, 3};
    src.meta = meta;
    src.meta_count = 2;
    src.has = ER_HAS_SEQ;
    src.seq = 9;
    ev = er__ev_new(&src);
    ck_assert_ptr_nonnull(ev);
    memset(type, 'X', sizeof(type) - 1); /* the copy is deep */
    v = er__ev_view(ev);
    ck_assert_int_eq((int)v->type.len, 12);
    ck_assert_int_eq(memcmp(v->type.ptr, "OrderCreated", 12), 0);
    ck_assert_ptr_nonnull(v->id.ptr);
    ck_assert_uint_eq(v->id.len, 0);
    ck_assert_ptr_null(v->topic.ptr);
    ck_assert_int_eq(memcmp(v->data.ptr, "\x00\x01\x02", 3), 0);
    ck_assert_uint_eq(v->seq, 9);
    ck_assert_uint_eq(v->meta_count, 2);
    ck_assert_int_eq(er_meta_next(v, &pos, &k, &val), 1);
    ck_assert_int_eq(memcmp(val.ptr, "acme", 4), 0);

    /* event_get copies at most what both sides know; extra is zeroed. */
    {
        char big[sizeof(er_event_t) + 16];
        memset(big, 0x55, sizeof(big));
        ck_assert_int_eq(H->event_get(ev, (er_event_t *)big, sizeof(big)), 0);
        ck_assert_int_eq(big[sizeof(er_event_t)], 0);
        memset(&view, 0x55, sizeof(view));
        ck_assert_int_eq(H->event_get(ev, &view, offsetof(er_event_t, version)), 0);
        ck_assert_ptr_eq(view.type.ptr, v->type.ptr);
        ck_assert_uint_eq(view.version, 0x55555555u); /* not written */
        ck_assert_int_eq(H->event_get(NULL, &view, sizeof(view)), -EINVAL);
    }
    ck_assert_ptr_eq(H->event_ref(ev), ev);
    H->event_unref(ev);
    H->event_unref(ev);
}
END_TEST

START_TEST(test_event_encoded)
{
    er_event_t src = {0};
    er_buf_t b = ER_BUF_INIT;
    const uint8_t *p, *p2;
    size_t n, n2;
    er_ev_t *ev;

    src.type = er_str("A");
    src.topic = er_str("x.y");
    src.has = ER_HAS_PRIORITY | ER_HAS_HOPS;
    src.priority = ER_PRIORITY_HIGH;
    src.hops = 2;
    ev = er__ev_new(&src);
    ck_assert_int_eq(H->event_encoded(ev, &p, &n), 0);
    ck_assert_int_eq(H->event_encoded(ev, &p2, &n2), 0);
    ck_assert_ptr_eq(p, p2); /* made once, kept */
    ck_assert_int_eq(er__event_pack(&b, &src), 0);
    ck_assert_uint_eq(n, b.len);
    ck_assert_int_eq(memcmp(p, b.data, n), 0);
    er__buf_free(&b);
    er__ev_unref(ev);
}
END_TEST

START_TEST(test_event_new)
{
    er_event_t f = {0};
    er_ev_t *ev;

    f.type = er_str("Derived");
    f.stream = er_str("$internal"); /* plugins may use $ streams */
    f.has = ER_HAS_SEQ | ER_HAS_HOPS;
    f.seq = 77; /* daemon fields are the host's: dropped */
    f.hops = 3;
    ck_assert_int_eq(H->event_new(ctx, &f, sizeof(f), &ev), 0);
    ck_assert_uint_eq(er__ev_view(ev)->has & (ER_HAS_SEQ | ER_HAS_HOPS), 0);
    ck_assert_uint_eq(er__ev_view(ev)->seq, 0);
    H->event_unref(ev);

    f.type = er_str("bad type!");
    ck_assert_int_eq(H->event_new(ctx, &f, sizeof(f), &ev), ER_ERULE);
    ck_assert_ptr_null(ev);
    ck_assert_int_eq(H->event_new(ctx, &f, sizeof(f) - 8, &ev), -EINVAL);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("host");
    TCase *tc = tcase_create("host");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_complete_later);
    tcase_add_test(tc, test_complete_inside_deferred);
    tcase_add_test(tc, test_final_return_settles);
    tcase_add_test(tc, test_complete_batch);
    tcase_add_test(tc, test_plugin_tokens_and_nosys);
    tcase_add_test(tc, test_admin_reply);
    tcase_add_test(tc, test_timer_stop_inside);
    tcase_add_test(tc, test_timer_left_open);
    tcase_add_test(tc, test_watch);
    tcase_add_test(tc, test_metrics);
    tcase_add_test(tc, test_health);
    tcase_add_test(tc, test_event_copy);
    tcase_add_test(tc, test_event_encoded);
    tcase_add_test(tc, test_event_new);
    /* The daemon stops rather than race: only in a forked test. */
    if (getenv("CK_FORK") == NULL || strcmp(getenv("CK_FORK"), "no") != 0)
        tcase_add_test_raise_signal(tc, test_off_loop_aborts, SIGABRT);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
