/*
 * Tests of the `log` handler, driven through the testing kit exactly as a
 * third-party plugin's tests would be: the built log.so is loaded with
 * er_test_load and fed events. Checked: the exact JSON line per event
 * (payload as JSON and as base64), one line per event with nothing else in
 * the file, the file's mode, rotation by rename + reopen, refusals of an
 * unusable path at create(), standard output by default, write errors
 * retried and logged once, and stats. No test may cause an ABI violation.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <eventrouter/testing.h>

#define PLUGIN ER_BUILDDIR "/plugins/handlers/log/.libs/log.so"

static char dir[64];
static char out[128];

static void setup(void)
{
    strcpy(dir, "/tmp/er-test-log.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(out, sizeof(out), "%s/events.jsonl", dir);
}

static void teardown(void)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* The whole file (caller frees). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 65536);
    size_t n;

    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* A kit with log.so loaded, options from YAML, created and started. */
static er_test_t *started(const char *yaml)
{
    er_test_t *t = er_test_new();

    ck_assert_ptr_nonnull(t);
    ck_assert_msg(er_test_load(t, PLUGIN) == 0, "%s", er_test_error(t));
    ck_assert_msg(er_test_options_yaml(t, yaml) == 0, "%s", er_test_error(t));
    ck_assert_msg(er_test_create(t, "audit-log") == 0, "%s", er_test_error(t));
    ck_assert_int_eq(er_test_start(t), 0);
    return t;
}

static char *path_yaml(const char *path)
{
    static char yaml[256];
    snprintf(yaml, sizeof(yaml), "path: %s\n", path);
    return yaml;
}

static void finish(er_test_t *t)
{
    ck_assert_int_eq(er_test_stop(t), 0);
    er_test_destroy(t);
    ck_assert_msg(er_test_violations(t) == 0, "%zu ABI violations", er_test_violations(t));
    er_test_free(t);
}

static int64_t stat_of(er_test_t *t, const char *name)
{
    int64_t v = -1;
    ck_assert_int_eq(er_test_stat(t, name, &v), 0);
    return v;
}

START_TEST(test_descriptor)
{
    er_test_t *t = er_test_new();
    const er_plugin_t *d;

    ck_assert_int_eq(er_test_load(t, PLUGIN), 0);
    d = er_test_plugin(t);
    ck_assert_str_eq(d->name, "log");
    ck_assert_int_eq(d->kind, ER_PLUGIN_HANDLER);
    ck_assert_str_eq(d->options[0].key, "path");
    ck_assert_ptr_null(d->options[1].key);
    er_test_free(t);
}
END_TEST

START_TEST(test_lines_exact)
{
    er_test_t *t = started(path_yaml(out));
    uint64_t tok1, tok2;
    char *text;
    struct stat st;

    ck_assert_int_eq(er_test_handle_json(t,
                                         "{\"type\":\"OrderCreated\",\"id\":\"o-1\","
                                         "\"time\":1700000000000000,\"topic\":\"orders.created\","
                                         "\"stream\":\"order:1\",\"data\":{\"total\":42}}",
                                         &tok1),
                     ER_OK);
    ck_assert_int_eq(er_test_handle_json(t,
                                         "{\"seq\":7,\"type\":\"UserLoggedIn\",\"priority\":"
                                         "\"high\",\"meta\":{\"tenant\":\"acme\"},"
                                         "\"data\":[1,\"two\",null]}",
                                         &tok2),
                     ER_OK);
    ck_assert_int_eq(er_test_status(t, tok1), ER_OK);
    ck_assert_int_eq(er_test_status(t, tok2), ER_OK);
    ck_assert_int_eq(er_test_ncompletions(t), 2);
    ck_assert(!er_test_completion(t, 0)->async);

    text = slurp(out);
    ck_assert_str_eq(text, "{\"type\":\"OrderCreated\",\"topic\":\"orders.created\","
                           "\"id\":\"o-1\",\"time\":1700000000000000,\"stream\":\"order:1\","
                           "\"data\":{\"total\":42}}\n"
                           "{\"seq\":7,\"type\":\"UserLoggedIn\",\"priority\":\"high\","
                           "\"meta\":{\"tenant\":\"acme\"},\"data\":[1,\"two\",null]}\n");
    ck_assert_int_eq(stat_of(t, "lines"), 2);
    ck_assert_int_eq(stat_of(t, "bytes"), (int64_t)strlen(text));
    ck_assert_int_eq(stat_of(t, "errors"), 0);
    free(text);

    ck_assert_int_eq(stat(out, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0640 & ~0022 & 0777);
    finish(t);
}
END_TEST

START_TEST(test_data_base64)
{
    er_test_t *t = started(path_yaml(out));
    er_event_t ev = {0};
    char *text;

    /* Binary payload: never altered, so base64. */
    ev.type = er_str("BlobStored");
    ev.content_type = er_str("application/octet-stream");
    ev.data.ptr = "\x00\x01\xff";
    ev.data.len = 3;
    ck_assert_int_eq(er_test_handle(t, &ev, NULL), ER_OK);
    /* Says JSON but does not parse: base64 too. */
    ev.type = er_str("Broken");
    ev.content_type = er_str("application/json");
    ev.data = er_str("{not json");
    ck_assert_int_eq(er_test_handle(t, &ev, NULL), ER_OK);
    /* +json media types embed. */
    ev.type = er_str("Problem");
    ev.content_type = er_str("application/problem+json");
    ev.data = er_str("{\"status\":500}");
    ck_assert_int_eq(er_test_handle(t, &ev, NULL), ER_OK);

    text = slurp(out);
    ck_assert_str_eq(text, "{\"type\":\"BlobStored\",\"content_type\":\"application/octet-stream\","
                           "\"data_base64\":\"AAH/\"}\n"
                           "{\"type\":\"Broken\",\"content_type\":\"application/json\","
                           "\"data_base64\":\"e25vdCBqc29u\"}\n"
                           "{\"type\":\"Problem\",\"content_type\":\"application/problem+json\","
                           "\"data\":{\"status\":500}}\n");
    free(text);
    finish(t);
}
END_TEST

START_TEST(test_rotation)
{
    er_test_t *t = started(path_yaml(out));
    char rotated[160], *a, *b;

    snprintf(rotated, sizeof(rotated), "%s.1", out);
    ck_assert_int_eq(er_test_handle_json(t, "{\"type\":\"A\"}", NULL), ER_OK);
    ck_assert_int_eq(rename(out, rotated), 0);
    /* Until reopen the descriptor still names the moved file. */
    ck_assert_int_eq(er_test_handle_json(t, "{\"type\":\"B\"}", NULL), ER_OK);
    ck_assert_int_eq(er_test_reopen(t), 0);
    ck_assert_int_eq(er_test_handle_json(t, "{\"type\":\"C\"}", NULL), ER_OK);

    a = slurp(rotated);
    b = slurp(out);
    ck_assert_str_eq(a, "{\"type\":\"A\"}\n{\"type\":\"B\"}\n");
    ck_assert_str_eq(b, "{\"type\":\"C\"}\n");
    ck_assert_uint_eq(er_test_log_count(t, ER_PLOG_INFO, "reopened"), 1);
    free(a);
    free(b);
    finish(t);
}
END_TEST

START_TEST(test_reopen_failure_keeps_file)
{
    er_test_t *t = started(path_yaml(out));

    ck_assert_int_eq(er_test_handle_json(t, "{\"type\":\"A\"}", NULL), ER_OK);
    /* The directory is gone: reopen fails, writing goes on to the old file. */
    ck_assert_int_eq(unlink(out), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    ck_assert_int_eq(er_test_reopen(t), -ENOENT);
    ck_assert_uint_eq(er_test_log_count(t, ER_PLOG_ERROR, "still writing to the old file"), 1);
    ck_assert_int_eq(er_test_handle_json(t, "{\"type\":\"B\"}", NULL), ER_OK);
    ck_assert_int_eq(stat_of(t, "lines"), 2);
    ck_assert_int_eq(mkdir(dir, 0700), 0); /* for teardown */
    finish(t);
}
END_TEST

/* create() refuses what start() could not open, naming the path. */
static void refused(const char *yaml, int want, const char *needle)
{
    er_test_t *t = er_test_new();

    ck_assert_int_eq(er_test_load(t, PLUGIN), 0);
    ck_assert_msg(er_test_options_yaml(t, yaml) == 0, "%s", er_test_error(t));
    ck_assert_int_eq(er_test_create(t, "bad"), want);
    ck_assert_msg(er_test_log_count(t, ER_PLOG_ERROR, needle) == 1, "no error line with \"%s\"",
                  needle);
    ck_assert_uint_eq(er_test_violations(t), 0);
    er_test_free(t);
}

START_TEST(test_unwritable_path)
{
    char yaml[256];

    refused("path: /nonexistent-er-dir/events.jsonl\n", -ENOENT,
            "cannot write /nonexistent-er-dir/events.jsonl: No such file or directory");
    snprintf(yaml, sizeof(yaml), "path: %s\n", dir);
    refused(yaml, -EISDIR, "Is a directory");
    refused("path: events.jsonl\n", -EINVAL,
            "path \"events.jsonl\" is relative: give an absolute path");
    if (geteuid() != 0) {
        ck_assert_int_eq(chmod(dir, 0500), 0);
        refused(path_yaml(out), -EACCES, "Permission denied");
        ck_assert_int_eq(chmod(dir, 0700), 0);
    }
}
END_TEST

START_TEST(test_stdout_default)
{
    er_test_t *t;
    int saved = dup(STDOUT_FILENO), fd;
    char *text;

    fflush(stdout);
    fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    t = started("");
    ck_assert_int_eq(er_test_handle_json(t, "{\"type\":\"ToStdout\"}", NULL), ER_OK);
    ck_assert_int_eq(er_test_reopen(t), 0); /* nothing to reopen */
    finish(t);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    text = slurp(out);
    ck_assert_str_eq(text, "{\"type\":\"ToStdout\"}\n");
    free(text);
}
END_TEST

START_TEST(test_write_error_retried)
{
    er_test_t *t;
    uint64_t tok;

    if (access("/dev/full", W_OK) != 0)
        return;
    t = started("path: /dev/full\n");
    ck_assert_int_eq(er_test_handle_json(t, "{\"type\":\"X\"}", &tok), ER_RETRY);
    ck_assert_int_eq(er_test_status(t, tok), ER_RETRY);
    ck_assert_int_eq(er_test_handle_json(t, "{\"type\":\"Y\"}", NULL), ER_RETRY);
    ck_assert_int_eq(stat_of(t, "errors"), 2);
    ck_assert_int_eq(stat_of(t, "lines"), 0);
    /* Logged once: the second error falls in the same interval. */
    ck_assert_uint_eq(er_test_log_count(t, ER_PLOG_ERROR,
                                        "cannot write to /dev/full: No space "
                                        "left on device; the event will be "
                                        "retried"),
                      1);
    finish(t);
}
END_TEST

START_TEST(test_bad_options)
{
    er_test_t *t = er_test_new();

    ck_assert_int_eq(er_test_load(t, PLUGIN), 0);
    ck_assert_int_eq(er_test_options_yaml(t, "path: /tmp/x\nsize: 3\n"), -EINVAL);
    ck_assert_msg(strstr(er_test_error(t), "test.yaml:2:1:") != NULL, "%s", er_test_error(t));
    ck_assert_int_eq(er_test_options_kv(t, (const char *[]){"path=/tmp/a b", NULL}), 0);
    er_test_free(t);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("log handler");
    TCase *tc = tcase_create("log");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_descriptor);
    tcase_add_test(tc, test_lines_exact);
    tcase_add_test(tc, test_data_base64);
    tcase_add_test(tc, test_rotation);
    tcase_add_test(tc, test_reopen_failure_keeps_file);
    tcase_add_test(tc, test_unwritable_path);
    tcase_add_test(tc, test_stdout_default);
    tcase_add_test(tc, test_write_error_retried);
    tcase_add_test(tc, test_bad_options);
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
