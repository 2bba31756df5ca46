/*
 * Unit tests for the plugin testing kit (lib/testing.c) itself, with a
 * probe plugin compiled into the test (er_test_use) whose behaviour each
 * test picks: fake time and timers (due order, repeats, a stop from inside
 * the callback), asynchronous completion, publish and plugin tokens, the
 * in-memory state, metrics and health, admin replies, stop() waiting on a
 * timer, and every ABI violation the kit exists to catch.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <eventrouter/testing.h>

/* ------------------------------------------------------------- probe */

enum mode {
    M_OK,            /* return ER_OK */
    M_LATER,         /* ER_PENDING, complete from a 100 ms timer */
    M_INSIDE,        /* complete inside handle(), return ER_PENDING */
    M_INSIDE_AND_OK, /* complete inside handle() and return ER_OK */
    M_TWICE,         /* ER_PENDING, complete twice from the timer */
    M_PUBLISH,       /* build an event, publish it with a token */
    M_STATE,         /* state_get "k" with a token, then state_set "k2" */
    M_LEAK,          /* take a reference and never drop it */
    M_OFF_THREAD,    /* call set_health from another thread */
};

typedef struct probe_s {
    const er_host_t *host;
    er_plugin_ctx_t *ctx;
    er_token_t *pending;
    er_timer_t *timer;
    er_metric_t *handled;
    int stop_delay; /* ms stop() waits on a timer before done; -1: leave a timer */
    er_done_cb done;
    void *done_arg;
} probe_t;

static enum mode mode;
static int publish_status = -100, state_status = -100, set_status = -100;
static const void *state_value;
static size_t state_len;
static char state_copy[64];
static er_ev_t *leaked; /* M_LEAK's reference, dropped after the check */

static int p_create(const er_host_t *host, er_plugin_ctx_t *ctx, const er_options_t *opts,
                    void **instance)
{
    probe_t *p = host->alloc(sizeof(*p));
    int64_t delay = 0;

    memset(p, 0, sizeof(*p));
    p->host = host;
    p->ctx = ctx;
    host->opt_int(opts, "stop_delay", &delay);
    p->stop_delay = (int)delay;
    *instance = p;
    return host->metric_counter(ctx, "handled", "events handled", &p->handled);
}

static int p_start(void *instance)
{
    probe_t *p = instance;

    p->host->set_health(p->ctx, ER_HEALTH_DEGRADED, "warming up");
    p->host->set_health(p->ctx, ER_HEALTH_UP, NULL);
    return 0;
}

static void stop_timer_fired(void *arg)
{
    probe_t *p = arg;

    p->host->timer_stop(p->timer);
    p->timer = NULL;
    p->done(p->done_arg);
}

static void noop(void *arg)
{
}

static void p_stop(void *instance, er_done_cb done, void *done_arg)
{
    probe_t *p = instance;

    p->done = done;
    p->done_arg = done_arg;
    if (p->stop_delay > 0) {
        p->host->timer_start(p->ctx, (uint64_t)p->stop_delay, 0, stop_timer_fired, p, &p->timer);
        return;
    }
    if (p->stop_delay < 0)
        p->host->timer_start(p->ctx, 1000, 0, noop, p, &p->timer); /* forgotten */
    done(done_arg);
}

static void p_destroy(void *instance)
{
    probe_t *p = instance;
    p->host->free(p);
}

static void later(void *arg)
{
    probe_t *p = arg;

    p->host->timer_stop(p->timer); /* from inside its own callback */
    p->timer = NULL;
    p->host->complete(p->pending, ER_OK);
    if (mode == M_TWICE)
        p->host->complete(p->pending, ER_FAIL);
    p->pending = NULL;
}

static void published(void *arg, er_status_t status)
{
    publish_status = (int)status;
}

/* state_get's value is valid only until this callback returns: copy it. */
static void got_state(void *arg, er_status_t status)
{
    size_t n = state_value != NULL && state_len < sizeof(state_copy) ? state_len : 0;

    state_status = (int)status;
    memcpy(state_copy, state_value ? state_value : "", n);
    state_copy[n] = '\0';
}

static void set_state(void *arg, er_status_t status)
{
    set_status = (int)status;
}

static void *off_thread(void *arg)
{
    probe_t *p = arg;
    p->host->set_health(p->ctx, ER_HEALTH_DOWN, "from a thread");
    return NULL;
}

static int p_handle(void *instance, er_ev_t *ev, er_token_t *token)
{
    probe_t *p = instance;
    er_event_t fields = {0};
    er_ev_t *made;
    er_token_t *mine;
    pthread_t th;
    int rc;

    p->host->metric_add(p->handled, 1);
    switch (mode) {
    case M_OK:
        return ER_OK;
    case M_LATER:
    case M_TWICE:
        p->pending = token;
        p->host->timer_start(p->ctx, 100, 0, later, p, &p->timer);
        return ER_PENDING;
    case M_INSIDE:
        p->host->complete(token, ER_OK);
        return ER_PENDING;
    case M_INSIDE_AND_OK:
        p->host->complete(token, ER_FAIL);
        return ER_OK;
    case M_PUBLISH:
        fields.type = er_str("Derived");
        fields.stream = er_str("$probe");
        if ((rc = p->host->event_new(p->ctx, &fields, sizeof(fields), &made)) != 0)
            return rc;
        if ((rc = p->host->token_new(p->ctx, published, NULL, &mine)) != 0) {
            p->host->event_unref(made);
            return rc;
        }
        rc = p->host->publish(p->ctx, made, mine);
        if (rc != 0)
            p->host->token_free(mine);
        p->host->event_unref(made);
        return rc == 0 ? ER_OK : rc;
    case M_STATE:
        if ((rc = p->host->token_new(p->ctx, got_state, NULL, &mine)) != 0)
            return rc;
        if ((rc = p->host->state_get(p->ctx, "k", &state_value, &state_len, mine)) != 0) {
            p->host->token_free(mine);
            return rc;
        }
        if ((rc = p->host->token_new(p->ctx, set_state, NULL, &mine)) != 0)
            return rc;
        return p->host->state_set(p->ctx, "k2", "v2", 2, mine) == 0 ? ER_OK : ER_RETRY;
    case M_LEAK:
        leaked = p->host->event_ref(ev);
        return ER_OK;
    case M_OFF_THREAD:
        pthread_create(&th, NULL, off_thread, p);
        pthread_join(th, NULL);
        return ER_OK;
    }
    return ER_FAIL;
}

static int p_admin(void *instance, const char *command, const char *args_json, er_token_t *token)
{
    probe_t *p = instance;

    if (strcmp(command, "echo") != 0)
        return ER_FAIL;
    p->host->admin_reply(token, args_json);
    return ER_OK;
}

static const er_option_t probe_options[] = {
    {.key = "stop_delay",
     .type = ER_OPTION_INT,
     .def = "0",
     .min = -1,
     .max = 100000,
     .description = "ms stop() waits before done; -1 leaves a timer behind"},
    {.key = "label", .type = ER_OPTION_STRING, .def = "x", .description = "any text"},
    {.key = NULL},
};

static const er_handler_ops_t probe_ops = {
    .size = sizeof(er_handler_ops_t),
    .create = p_create,
    .start = p_start,
    .stop = p_stop,
    .destroy = p_destroy,
    .handle = p_handle,
    .admin = p_admin,
};

static const er_plugin_t probe = {
    ER_PLUGIN_HEADER, .kind = ER_PLUGIN_HANDLER, .name = "probe",
    .version = "0",   .options = probe_options,  .ops = &probe_ops,
};

/* ------------------------------------------------------------ helpers */

static er_test_t *kit(const char *yaml)
{
    er_test_t *t = er_test_new();

    ck_assert_msg(er_test_use(t, &probe) == 0, "%s", er_test_error(t));
    ck_assert_msg(er_test_options_yaml(t, yaml) == 0, "%s", er_test_error(t));
    ck_assert_int_eq(er_test_create(t, "p1"), 0);
    ck_assert_int_eq(er_test_start(t), 0);
    mode = M_OK;
    return t;
}

static uint64_t deliver(er_test_t *t, int want)
{
    uint64_t tok = 0;
    ck_assert_int_eq(er_test_handle_json(t, "{\"type\":\"Probe\"}", &tok), want);
    return tok;
}

static void done_with(er_test_t *t, size_t violations)
{
    ck_assert_int_eq(er_test_stop(t), 0);
    er_test_destroy(t);
    ck_assert_uint_eq(er_test_violations(t), violations);
    er_test_free(t);
}

/* -------------------------------------------------------------- tests */

START_TEST(test_sync_and_metrics)
{
    er_test_t *t = kit("");
    const char *reason = "unset";
    int64_t v;

    ck_assert_uint_eq(deliver(t, ER_OK), 1);
    ck_assert_uint_eq(deliver(t, ER_OK), 2);
    ck_assert_int_eq(er_test_status(t, 2), ER_OK);
    ck_assert_int_eq(er_test_status(t, 3), -ENOENT);
    ck_assert_uint_eq(er_test_ncompletions(t), 2);
    ck_assert_uint_eq(er_test_completion(t, 1)->token, 2);
    ck_assert(!er_test_completion(t, 1)->async);
    ck_assert_int_eq(er_test_metric(t, "handled", &v), 0);
    ck_assert_int_eq(v, 2);
    ck_assert_int_eq(er_test_health(t, &reason), ER_HEALTH_UP);
    ck_assert_str_eq(reason, "");
    ck_assert_uint_eq(er_test_health_changes(t), 2);
    done_with(t, 0);
}
END_TEST

START_TEST(test_pending_completed_by_timer)
{
    er_test_t *t = kit("");
    uint64_t tok;

    mode = M_LATER;
    tok = deliver(t, ER_PENDING);
    ck_assert_int_eq(er_test_status(t, tok), ER_PENDING);
    ck_assert_uint_eq(er_test_timers(t), 1);
    ck_assert_uint_eq(er_test_advance(t, 99), 0);
    ck_assert_int_eq(er_test_status(t, tok), ER_PENDING);
    ck_assert_uint_eq(er_test_advance(t, 1), 1);
    ck_assert_int_eq(er_test_status(t, tok), ER_OK);
    ck_assert(er_test_completion(t, 0)->async);
    ck_assert_uint_eq(er_test_timers(t), 0);
    ck_assert_uint_eq(er_test_now(t), 100);
    done_with(t, 0);
}
END_TEST

static int order[8], norder;
static void tick_a(void *arg)
{
    order[norder++] = 1;
}
static void tick_b(void *arg)
{
    order[norder++] = 2;
}

START_TEST(test_timer_order_and_repeat)
{
    er_test_t *t = kit("");
    const er_host_t *h = er_test_host(t);
    probe_t *p = er_test_instance(t);
    er_timer_t *a, *b;

    norder = 0;
    ck_assert_int_eq(h->timer_start(p->ctx, 100, 100, tick_a, NULL, &a), 0);
    ck_assert_int_eq(h->timer_start(p->ctx, 150, 0, tick_b, NULL, &b), 0);
    ck_assert_uint_eq(er_test_advance(t, 350), 4); /* a@100 b@150 a@200 a@300 */
    ck_assert_int_eq(norder, 4);
    ck_assert_int_eq(order[0], 1);
    ck_assert_int_eq(order[1], 2);
    ck_assert_int_eq(order[2], 1);
    ck_assert_int_eq(order[3], 1);
    h->timer_stop(a);
    h->timer_stop(b); /* a fired one-shot still needs its stop */
    ck_assert_uint_eq(er_test_timers(t), 0);
    done_with(t, 0);
}
END_TEST

START_TEST(test_publish)
{
    er_test_t *t = kit("");
    const er_event_t *e;

    mode = M_PUBLISH;
    publish_status = -100;
    deliver(t, ER_OK);
    ck_assert_int_eq(publish_status, ER_OK); /* delivered on the next loop turn */
    ck_assert_uint_eq(er_test_npublished(t), 1);
    e = er_test_published(t, 0);
    ck_assert_int_eq((int)e->type.len, 7);
    ck_assert_int_eq(memcmp(e->type.ptr, "Derived", 7), 0);
    ck_assert_int_eq(memcmp(e->via.plugin.ptr, "p1", 2), 0);
    ck_assert_uint_eq(e->hops, 1);
    ck_assert_uint_eq(e->seq, 1);
    ck_assert(e->has & ER_HAS_ORIGIN);

    /* Failure injection: publish fails, the plugin frees its token. */
    er_test_fail_requests(t, -EIO);
    deliver(t, -EIO);
    ck_assert_uint_eq(er_test_npublished(t), 1);
    done_with(t, 0);
}
END_TEST

START_TEST(test_state)
{
    er_test_t *t = kit("");
    const void *v;
    size_t len;

    ck_assert_int_eq(er_test_state_set(t, "k", "hello", 5), 0);
    mode = M_STATE;
    state_status = set_status = -100;
    state_value = NULL;
    deliver(t, ER_OK);
    ck_assert_int_eq(state_status, ER_OK);
    ck_assert_int_eq(set_status, ER_OK);
    ck_assert_str_eq(state_copy, "hello");
    ck_assert_int_eq(er_test_state_get(t, "k2", &v, &len), 0);
    ck_assert_uint_eq(len, 2);
    ck_assert_int_eq(memcmp(v, "v2", 2), 0);
    ck_assert_int_eq(er_test_state_get(t, "nope", &v, &len), -ENOENT);
    done_with(t, 0);
}
END_TEST

START_TEST(test_admin_reply)
{
    er_test_t *t = kit("");
    uint64_t tok;

    ck_assert_int_eq(er_test_admin(t, "echo", "{\"a\":1}", &tok), ER_OK);
    ck_assert_str_eq(er_test_admin_reply(t, tok), "{\"a\":1}");
    ck_assert_int_eq(er_test_admin(t, "echo", "[1]", &tok), ER_OK);
    ck_assert_ptr_null(er_test_admin_reply(t, tok));
    done_with(t, 1); /* a reply that is not an object */
}
END_TEST

START_TEST(test_stop_waits_for_timer)
{
    er_test_t *t = kit("stop_delay: 5000\n");

    ck_assert_int_eq(er_test_stop(t), 0);
    ck_assert_uint_eq(er_test_now(t), 5000);
    er_test_destroy(t);
    ck_assert_uint_eq(er_test_violations(t), 0);
    er_test_free(t);
}
END_TEST

/* Each broken rule is one violation, logged. */
static void expect_violation(enum mode m, const char *needle, int ret)
{
    er_test_t *t = kit("");

    mode = m;
    deliver(t, ret);
    if (m == M_TWICE)
        er_test_advance(t, 100);
    mode = M_OK;
    ck_assert_int_eq(er_test_stop(t), 0);
    er_test_destroy(t);
    ck_assert_msg(er_test_log_count(t, ER_PLOG_ERROR, needle) == 1, "no \"%s\"", needle);
    ck_assert_uint_eq(er_test_violations(t), 1);
    if (leaked != NULL)
        er_test_host(t)->event_unref(leaked);
    leaked = NULL;
    er_test_free(t);
}

START_TEST(test_violations)
{
    expect_violation(M_INSIDE, "ABI violation: token 1 completed from inside the call", ER_PENDING);
    expect_violation(M_TWICE, "ABI violation: token 1 completed twice", ER_PENDING);
    expect_violation(M_OFF_THREAD, "ABI violation: set_health() called off the loop thread", ER_OK);
    expect_violation(M_LEAK, "ABI violation: the plugin still holds 1 event reference", ER_OK);
}
END_TEST

START_TEST(test_violation_inside_and_return)
{
    er_test_t *t = kit("");
    uint64_t tok;

    mode = M_INSIDE_AND_OK;
    tok = deliver(t, ER_OK);
    ck_assert_int_eq(er_test_status(t, tok), ER_OK); /* the return wins */
    ck_assert_uint_eq(er_test_violations(t), 2);     /* inside, and both */
    ck_assert_uint_eq(er_test_log_count(t, ER_PLOG_ERROR, "returned 0 and also completed"), 1);
    done_with(t, 2);
}
END_TEST

START_TEST(test_timer_left_at_done)
{
    er_test_t *t = kit("stop_delay: -1\n");

    done_with(t, 1);
}
END_TEST

START_TEST(test_options)
{
    er_test_t *t = er_test_new();

    ck_assert_ptr_null(er_test_plugin(t));
    ck_assert_int_eq(er_test_options_yaml(t, "a: 1\n"), -EINVAL);
    ck_assert_int_eq(er_test_use(t, &probe), 0);
    ck_assert_int_eq(er_test_options_yaml(t, "stop_delay: 7\nbogus: 1\n"), -EINVAL);
    ck_assert_msg(strncmp(er_test_error(t), "test.yaml:2:1: ", 15) == 0, "%s", er_test_error(t));
    ck_assert_int_eq(er_test_options_yaml(t, "- a\n"), -EINVAL);
    ck_assert_int_eq(
        er_test_options_kv(t, (const char *[]){"stop_delay=12", "label=a \"q\" $HOME\\", NULL}), 0);
    {
        const char *s;
        int64_t i;
        ck_assert_int_eq(er_test_host(t)->opt_string(er_test_options(t), "label", &s), 0);
        ck_assert_str_eq(s, "a \"q\" $HOME\\");
        ck_assert_int_eq(er_test_host(t)->opt_int(er_test_options(t), "stop_delay", &i), 0);
        ck_assert_int_eq(i, 12);
    }
    ck_assert_int_eq(er_test_options_kv(t, (const char *[]){"=x", NULL}), -EINVAL);
    ck_assert_int_eq(er_test_use(t, &probe), -EBUSY);
    er_test_free(t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("testing kit");
    TCase *tc = tcase_create("kit");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_sync_and_metrics);
    tcase_add_test(tc, test_pending_completed_by_timer);
    tcase_add_test(tc, test_timer_order_and_repeat);
    tcase_add_test(tc, test_publish);
    tcase_add_test(tc, test_state);
    tcase_add_test(tc, test_admin_reply);
    tcase_add_test(tc, test_stop_waits_for_timer);
    tcase_add_test(tc, test_violations);
    tcase_add_test(tc, test_violation_inside_and_return);
    tcase_add_test(tc, test_timer_left_at_done);
    tcase_add_test(tc, test_options);
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
