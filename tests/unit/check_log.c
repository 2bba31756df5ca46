/*
 * Unit tests for daemon/log.c: level filtering before formatting, the
 * component prefix, JSON lines, "<N>" prefixes when stderr is the journal,
 * and rate limiting of repeats at one call site.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static char path[] = "/tmp/er-check-log.XXXXXX";
static int saved_fd = -1;

/* Point stderr at a fresh temp file. */
static void capture_start(void)
{
    int fd;
    strcpy(path, "/tmp/er-check-log.XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    saved_fd = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    close(fd);
}

/* Restore stderr and return what was written (caller frees). */
static char *capture_end(void)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 65536);
    size_t n;
    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
    dup2(saved_fd, STDERR_FILENO);
    close(saved_fd);
    return buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static int formatted;
static const char *side_effect(void)
{
    formatted++;
    return "x";
}

START_TEST(level_filter_skips_formatting)
{
    char *out;
    unsetenv("JOURNAL_STREAM");
    capture_start();
    er__log_init(ER_LOG_WARN, ER_LOG_FORMAT_TEXT);
    formatted = 0;
    er_log(ER_LOG_INFO, "test", "hidden %s", side_effect());
    er_log(ER_LOG_DEBUG, "test", "hidden %s", side_effect());
    ck_assert_int_eq(formatted, 0); /* arguments not even evaluated */
    er_log(ER_LOG_WARN, "test", "shown %d", 42);
    er_log(ER_LOG_ERROR, "broker:kafka-main", "failed: %s", "boom");
    out = capture_end();
    ck_assert_int_eq(count_lines(out), 2);
    ck_assert_ptr_nonnull(strstr(out, "warn   [test] shown 42\n"));
    ck_assert_ptr_nonnull(strstr(out, "error  [broker:kafka-main] failed: boom\n"));
    ck_assert_ptr_null(strstr(out, "hidden"));
    /* A UTC timestamp starts each line. */
    ck_assert_int_eq(out[4], '-');
    ck_assert_int_eq(out[10], 'T');
    ck_assert_ptr_nonnull(strchr(out, 'Z'));
    free(out);
}
END_TEST

START_TEST(json_format)
{
    char *out;
    unsetenv("JOURNAL_STREAM");
    capture_start();
    er__log_init(ER_LOG_INFO, ER_LOG_FORMAT_JSON);
    er_log(ER_LOG_NOTICE, "server", "quote \" and newline \n inside");
    out = capture_end();
    ck_assert_int_eq(count_lines(out), 1);
    ck_assert_ptr_nonnull(strstr(out, "{\"level\":\"notice\",\"component\":\"server\","
                                      "\"msg\":\"quote \\\" and newline \\n inside\",\"time\":"));
    free(out);
}
END_TEST

START_TEST(journal_prefix_only_when_stderr_is_the_journal)
{
    struct stat st;
    char js[64], *out;

    capture_start();
    ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
    snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", js, 1);
    er__log_init(ER_LOG_INFO, ER_LOG_FORMAT_TEXT);
    er_log(ER_LOG_WARN, "main", "to the journal");
    /* JOURNAL_STREAM naming another file: plain lines. */
    setenv("JOURNAL_STREAM", "1:2", 1);
    er__log_init(ER_LOG_INFO, ER_LOG_FORMAT_TEXT);
    er_log(ER_LOG_WARN, "main", "not the journal");
    unsetenv("JOURNAL_STREAM");
    out = capture_end();
    ck_assert_ptr_nonnull(strstr(out, "<4>[main] to the journal\n"));
    ck_assert_ptr_nonnull(strstr(out, "warn   [main] not the journal\n"));
    ck_assert_ptr_null(strstr(out, "<4>[main] not the journal"));
    free(out);
}
END_TEST

START_TEST(rate_limited_repeats)
{
    char *out;
    int i;
    unsetenv("JOURNAL_STREAM");
    capture_start();
    er__log_init(ER_LOG_INFO, ER_LOG_FORMAT_TEXT);
    for (i = 0; i < 100; i++)
        er_log_limited(ER_LOG_WARN, "server", "refused %d", i);
    out = capture_end();
    /* The burst, then silence within the window. */
    ck_assert_int_eq(count_lines(out), ER_LOG_RATE_BURST);
    ck_assert_ptr_nonnull(strstr(out, "refused 9\n"));
    ck_assert_ptr_null(strstr(out, "refused 10\n"));
    free(out);
}
END_TEST

START_TEST(rate_window_reports_suppressed)
{
    er_log_rate_t r = {0};
    char *out;
    int i, ok = 0;
    unsetenv("JOURNAL_STREAM");
    capture_start();
    er__log_init(ER_LOG_INFO, ER_LOG_FORMAT_TEXT);
    for (i = 0; i < 25; i++)
        ok += er__log_rate_ok(&r, ER_LOG_WARN, "server");
    ck_assert_int_eq(ok, ER_LOG_RATE_BURST);
    /* Pretend the window ended. */
    r.window_start_ms -= ER_LOG_RATE_INTERVAL_MS + 1;
    ck_assert(er__log_rate_ok(&r, ER_LOG_WARN, "server"));
    out = capture_end();
    ck_assert_ptr_nonnull(strstr(out, "[server] 15 similar messages suppressed in the last 10 s\n"));
    free(out);
}
END_TEST

START_TEST(level_names)
{
    ck_assert_int_eq(er__log_level_parse("error"), ER_LOG_ERROR);
    ck_assert_int_eq(er__log_level_parse("warn"), ER_LOG_WARN);
    ck_assert_int_eq(er__log_level_parse("notice"), ER_LOG_NOTICE);
    ck_assert_int_eq(er__log_level_parse("info"), ER_LOG_INFO);
    ck_assert_int_eq(er__log_level_parse("debug"), ER_LOG_DEBUG);
    ck_assert_int_eq(er__log_level_parse("warning"), -1);
    ck_assert_int_eq(er__log_level_parse("INFO"), -1);
    ck_assert_str_eq(er__log_level_name(ER_LOG_NOTICE), "notice");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, level_filter_skips_formatting);
    tcase_add_test(tc, json_format);
    tcase_add_test(tc, journal_prefix_only_when_stderr_is_the_journal);
    tcase_add_test(tc, rate_limited_repeats);
    tcase_add_test(tc, rate_window_reports_suppressed);
    tcase_add_test(tc, level_names);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
