/*
 * Dead letters through the real daemon: a delivery the handler FAILs and
 * one that is still RETRY after max_attempts are parked in the store's
 * dead-letter table — listed by the admin socket's dlq.list (filtered by
 * destination, paged by id and limit, and again after a restart), and read
 * back through the lmdb store plugin after the daemon has stopped, with
 * their seq, destination, reason, attempts and failure times — while a
 * delivery that succeeds leaves none.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "eventrouter.h"
#include "harness.h"
#include "storetest.h"

static uint64_t publish_type(er_client_t *c, const char *type)
{
    er_event_t ev;
    er_nack_t nack;
    uint64_t seq = 0;

    memset(&ev, 0, sizeof(ev));
    ev.type = er_str(type);
    ck_assert_msg(er_publish(c, &ev, &seq, &nack, NULL) == 0, "publish %s: %s", type, nack.message);
    return seq;
}

/* The admin socket's dlq.list with args_json: its dead_letters array (a
 * new reference). */
static json_t *dlq_list(const er_test_daemon_t *d, const char *args_json)
{
    char path[400], *reply = NULL;
    er_client_t *a = NULL;
    er_nack_t nack;
    json_t *j, *rows;

    snprintf(path, sizeof(path), "%s/admin.sock", d->dir);
    ck_assert_int_eq(er_connect(path, "itest_dlq", ER_ACK_RECEIVED, 5000, &a), 0);
    ck_assert_msg(er_admin(a, "dlq.list", args_json, &reply, &nack, 5000) == 0, "dlq.list: %s",
                  nack.message);
    j = json_loads(reply, 0, NULL);
    ck_assert_ptr_nonnull(j);
    rows = json_incref(json_object_get(j, "dead_letters"));
    ck_assert(json_is_array(rows));
    json_decref(j);
    free(reply);
    er_client_free(a);
    return rows;
}

static void expect_row(json_t *rows, size_t i, uint64_t seq, const char *reason, int attempts)
{
    json_t *r = json_array_get(rows, i);

    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(json_integer_value(json_object_get(r, "seq")), seq);
    ck_assert_str_eq(json_string_value(json_object_get(r, "destination")), "t");
    ck_assert_str_eq(json_string_value(json_object_get(r, "reason")), reason);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "attempts")), attempts);
}

/* The handler's counter `key` from the admin socket's `handlers`. */
static long long handler_count(const er_test_daemon_t *d, const char *key)
{
    char path[400], *reply = NULL;
    er_client_t *a = NULL;
    json_t *j, *h;
    long long v = -1;

    snprintf(path, sizeof(path), "%s/admin.sock", d->dir);
    ck_assert_int_eq(er_connect(path, "itest_dlq", ER_ACK_RECEIVED, 5000, &a), 0);
    ck_assert_int_eq(er_admin(a, "handlers", NULL, &reply, NULL, 5000), 0);
    j = json_loads(reply, 0, NULL);
    ck_assert_ptr_nonnull(j);
    h = json_array_get(json_object_get(j, "handlers"), 0);
    if (h != NULL)
        v = json_integer_value(json_object_get(h, key));
    json_decref(j);
    free(reply);
    er_client_free(a);
    return v;
}

START_TEST(failed_and_exhausted_are_parked)
{
    er_test_daemon_t d;
    er_client_t *c;
    char extra[1024], yaml[400];
    uint64_t fail_seq, retry_seq, ok_seq;
    int64_t before = er_now_us();
    er_st_t *st;
    er_st_dlqs_t dl = {0};
    json_t *rows;
    json_int_t first_id;
    char args[64];
    int i;

    snprintf(extra, sizeof(extra),
             "handlers:\n"
             "  t:\n"
             "    plugin: %s\n"
             "    endpoint: dlq\n"
             "    retry: { max_attempts: 3, initial: 10ms, jitter: 0 }\n"
             "routes:\n"
             "  - match: \"*\"\n"
             "    to: [t]\n",
             er_test_bin("tests/plugins/.libs/test_handler.so"));
    ck_assert_int_eq(er_test_daemon_start(&d, extra), 0);
    ck_assert_int_eq(er_connect(d.sock, "itest_dlq", ER_ACK_DURABLE, 5000, &c), 0);
    fail_seq = publish_type(c, "TestFail");
    retry_seq = publish_type(c, "TestRetry");
    ok_seq = publish_type(c, "Fine");
    er_client_free(c);
    for (i = 0; i < 1000 && handler_count(&d, "gave_up") < 1; i++)
        usleep(10 * 1000);
    ck_assert_int_eq(handler_count(&d, "gave_up"), 1);
    ck_assert_int_eq(handler_count(&d, "failed"), 1);
    ck_assert_int_eq(handler_count(&d, "delivered"), 1);

    /* Listed through the admin socket while running, filtered and paged,
     * and after a restart. */
    rows = dlq_list(&d, NULL);
    ck_assert_uint_eq(json_array_size(rows), 2);
    expect_row(rows, 0, fail_seq, "failed", 1);
    expect_row(rows, 1, retry_seq, "retries_exhausted", 3);
    first_id = json_integer_value(json_object_get(json_array_get(rows, 0), "id"));
    json_decref(rows);
    snprintf(args, sizeof(args), "{\"after\": %lld}", first_id);
    rows = dlq_list(&d, args);
    ck_assert_uint_eq(json_array_size(rows), 1);
    expect_row(rows, 0, retry_seq, "retries_exhausted", 3);
    json_decref(rows);
    rows = dlq_list(&d, "{\"limit\": 1}");
    ck_assert_uint_eq(json_array_size(rows), 1);
    expect_row(rows, 0, fail_seq, "failed", 1);
    json_decref(rows);
    rows = dlq_list(&d, "{\"destination\": \"nobody\"}");
    ck_assert_uint_eq(json_array_size(rows), 0);
    json_decref(rows);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    ck_assert_int_eq(er_test_daemon_restart(&d), 0);
    rows = dlq_list(&d, "{\"destination\": \"t\"}");
    ck_assert_uint_eq(json_array_size(rows), 2);
    expect_row(rows, 0, fail_seq, "failed", 1);
    json_decref(rows);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);

    /* The daemon has stopped: read its store through the plugin. */
    snprintf(yaml, sizeof(yaml), "path: %s/store\nmap_size: 4GiB\n", d.dir);
    st = er_st_new("lmdb", yaml);
    ck_assert_int_eq(er_st_open(st), ER_OK);
    ck_assert_int_eq(er_st_dlq_list(st, NULL, 0, 0, &dl), ER_OK);
    ck_assert_uint_eq(dl.n, 2);
    ck_assert_uint_eq(dl.v[0].seq, fail_seq);
    ck_assert_str_eq(dl.v[0].destination.ptr, "t");
    ck_assert_str_eq(dl.v[0].reason.ptr, "failed");
    ck_assert_uint_eq(dl.v[0].attempts, 1);
    ck_assert_uint_eq(dl.v[1].seq, retry_seq);
    ck_assert_str_eq(dl.v[1].destination.ptr, "t");
    ck_assert_str_eq(dl.v[1].reason.ptr, "retries_exhausted");
    ck_assert_uint_eq(dl.v[1].attempts, 3);
    ck_assert_uint_gt(dl.v[1].dlq_id, dl.v[0].dlq_id);
    for (i = 0; i < 2; i++) {
        ck_assert_int_ge(dl.v[i].first_failure_us, before);
        ck_assert_int_ge(dl.v[i].last_failure_us, dl.v[i].first_failure_us);
    }
    /* Three retries 10 ms apart at least: first and last failure differ. */
    ck_assert_int_ge(dl.v[1].last_failure_us - dl.v[1].first_failure_us, 15000);
    ck_assert_uint_ne(ok_seq, 0);
    er_st_dlqs_free(&dl);
    er_st_free(st);
    er_test_daemon_cleanup(&d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("itest_dlq");
    TCase *tc = tcase_create("dlq");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, failed_and_exhausted_are_parked);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
