/*
 * Unit tests of the daemon's configuration (daemon/config.c): the shipped
 * conf/eventrouter.yaml and an empty file both give the DESIGN §5
 * defaults; every limit's bounds; the cross-checks between limits; refused
 * and unknown sections; modes, log levels and formats; unreadable files;
 * the dump. Messages and positions are asserted exactly.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "proto.h"

#ifndef ER_SRCDIR
#define ER_SRCDIR "."
#endif

static er_diag_t diag;
static er_config_t *cfg;
static char tmpdir[64];
static char path[128];

static void setup(void)
{
    er__diag_init(&diag);
    cfg = NULL;
    strcpy(tmpdir, "/tmp/check_config.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(path, sizeof(path), "%s/eventrouter.yaml", tmpdir);
}

static void teardown(void)
{
    char cmd[128];

    er__config_free(cfg);
    er__diag_free(&diag);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Write text to the test's eventrouter.yaml and load it. */
static int load(const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    er__config_free(cfg);
    cfg = NULL;
    er__diag_free(&diag);
    return er__config_load(path, &cfg, &diag);
}

/* Error i, with the temp dir cut off the file name: "eventrouter.yaml:L:C: ..." */
static const char *msg(size_t i)
{
    static char buf[1024];
    size_t skip = strlen(tmpdir) + 1;

    ck_assert_msg(i < diag.count, "only %zu errors", diag.count);
    er__diag_format(&diag, i, buf, sizeof(buf));
    ck_assert(strncmp(buf, path, skip) == 0);
    return buf + skip;
}

static const char *one_error(const char *text)
{
    ck_assert_int_eq(load(text), -EINVAL);
    ck_assert_msg(diag.count == 1, "%zu errors, first: %s", diag.count, diag.count ? msg(0) : "");
    return msg(0);
}

static void assert_defaults(const er_config_t *c, const char *rundir)
{
    char sock[128], admin[128];

    snprintf(sock, sizeof(sock), "%s/events.sock", rundir);
    snprintf(admin, sizeof(admin), "%s/admin.sock", rundir);
    ck_assert_str_eq(c->listen.socket, sock);
    ck_assert_uint_eq(c->listen.mode, 0660);
    ck_assert_ptr_null(c->listen.group);
    ck_assert_str_eq(c->listen.admin_socket, admin);
    ck_assert_uint_eq(c->listen.admin_mode, 0660);
    ck_assert_ptr_null(c->listen.admin_group);
    ck_assert_uint_eq(c->limits.max_frame, 1u << 20);
    ck_assert_uint_eq(c->limits.max_event_size, 512u << 10);
    ck_assert_uint_eq(c->limits.max_batch, 1024);
    ck_assert_uint_eq(c->limits.max_connections, 1024);
    ck_assert_uint_eq(c->limits.max_inflight_per_connection, 4096);
    ck_assert_uint_eq(c->limits.max_connection_memory, 4u << 20);
    ck_assert_uint_eq(c->limits.frame_timeout_ms, 10000);
    ck_assert_uint_eq(c->limits.idle_timeout_ms, 0);
    ck_assert_uint_eq(c->limits.fresh_cache, 64u << 20);
    ck_assert_uint_eq(c->limits.max_hops, 8);
    ck_assert_uint_eq(c->limits.dedupe_window_ms, 600000);
    ck_assert_uint_eq(c->limits.dedupe_max, 1000000);
    ck_assert_int_eq(c->log.level, ER_LOG_INFO);
    ck_assert_int_eq(c->log.format, ER_LOG_FORMAT_TEXT);
    ck_assert_uint_eq(c->shutdown_timeout_ms, 10000);
}

/* ============================================================== defaults */

START_TEST(empty_file_is_all_defaults)
{
    ck_assert_int_eq(load(""), 0);
    ck_assert_uint_eq(diag.count, 0);
    ck_assert_str_eq(cfg->path, path);
    assert_defaults(cfg, "/run/eventrouter");
    ck_assert_int_eq(load("# nothing but comments\n---\n"), 0);
    assert_defaults(cfg, "/run/eventrouter");
    /* Empty sections are empty maps. */
    ck_assert_int_eq(load("listen:\nlimits:\nlog:\n"), 0);
    assert_defaults(cfg, "/run/eventrouter");
}
END_TEST

START_TEST(shipped_file_is_the_defaults)
{
    const char *shipped = ER_SRCDIR "/conf/eventrouter.yaml";

    setenv("EVENTROUTER_RUNDIR", tmpdir, 1);
    ck_assert_msg(er__config_load(shipped, &cfg, &diag) == 0, "%s",
                  diag.count ? diag.items[0].msg : "");
    assert_defaults(cfg, tmpdir);
    er__config_free(cfg);
    cfg = NULL;

    /* Without the variable: the installed paths. */
    unsetenv("EVENTROUTER_RUNDIR");
    ck_assert_int_eq(er__config_load(shipped, &cfg, &diag), 0);
    assert_defaults(cfg, "/run/eventrouter");
}
END_TEST

START_TEST(schema_table_is_sound)
{
    char err[256];

    ck_assert_msg(er__schema_check(er__config_schema(), err, sizeof(err)) == 0, "%s", err);
}
END_TEST

START_TEST(all_keys_given)
{
    ck_assert_int_eq(load("listen:\n"
                          "  socket: /tmp/e.sock\n"
                          "  mode: 0600\n"
                          "  group: apps\n"
                          "  admin_socket: /tmp/a.sock\n"
                          "  admin_mode: \"0640\"\n"
                          "  admin_group: wheel\n"
                          "limits:\n"
                          "  max_frame: 2MiB\n"
                          "  max_event_size: 1MiB\n"
                          "  max_batch: 10\n"
                          "  max_connections: 20\n"
                          "  max_inflight_per_connection: 30\n"
                          "  max_connection_memory: 8MiB\n"
                          "  frame_timeout: 500ms\n"
                          "  idle_timeout: 5m\n"
                          "  fresh_cache: 1GiB\n"
                          "  max_hops: 3\n"
                          "  dedupe_window: off\n"
                          "  dedupe_max: 50\n"
                          "log:\n"
                          "  level: debug\n"
                          "  format: json\n"
                          "shutdown_timeout: 0\n"),
                     0);
    ck_assert_str_eq(cfg->listen.socket, "/tmp/e.sock");
    ck_assert_uint_eq(cfg->listen.mode, 0600);
    ck_assert_str_eq(cfg->listen.group, "apps");
    ck_assert_str_eq(cfg->listen.admin_socket, "/tmp/a.sock");
    ck_assert_uint_eq(cfg->listen.admin_mode, 0640);
    ck_assert_str_eq(cfg->listen.admin_group, "wheel");
    ck_assert_uint_eq(cfg->limits.max_frame, 2u << 20);
    ck_assert_uint_eq(cfg->limits.max_event_size, 1u << 20);
    ck_assert_uint_eq(cfg->limits.max_batch, 10);
    ck_assert_uint_eq(cfg->limits.max_connections, 20);
    ck_assert_uint_eq(cfg->limits.max_inflight_per_connection, 30);
    ck_assert_uint_eq(cfg->limits.max_connection_memory, 8u << 20);
    ck_assert_uint_eq(cfg->limits.frame_timeout_ms, 500);
    ck_assert_uint_eq(cfg->limits.idle_timeout_ms, 300000);
    ck_assert_uint_eq(cfg->limits.fresh_cache, 1u << 30);
    ck_assert_uint_eq(cfg->limits.max_hops, 3);
    ck_assert_uint_eq(cfg->limits.dedupe_window_ms, 0);
    ck_assert_uint_eq(cfg->limits.dedupe_max, 50);
    ck_assert_int_eq(cfg->log.level, ER_LOG_DEBUG);
    ck_assert_int_eq(cfg->log.format, ER_LOG_FORMAT_JSON);
    ck_assert_uint_eq(cfg->shutdown_timeout_ms, 0);
}
END_TEST

START_TEST(log_levels_match_the_log_module)
{
    static const char *const names[] = {"error", "warn", "notice", "info", "debug"};
    char text[64];
    size_t i;

    for (i = 0; i < 5; i++) {
        snprintf(text, sizeof(text), "log: {level: %s}\n", names[i]);
        ck_assert_int_eq(load(text), 0);
        ck_assert_int_eq(cfg->log.level, er__log_level_parse(names[i]));
        ck_assert_int_eq(cfg->log.level, ER_LOG_ERROR + (int)i);
    }
    ck_assert_str_eq(one_error("log:\n  level: verbose\n"),
                     "eventrouter.yaml:2:10: log.level: expected one of error, warn, notice, "
                     "info, debug, got \"verbose\"");
    ck_assert_str_eq(one_error("log:\n  format: xml\n"),
                     "eventrouter.yaml:2:11: log.format: expected one of text, json, got \"xml\"");
}
END_TEST

/* ================================================================ listen */

START_TEST(listen_checks)
{
    char text[512], longpath[200];

    ck_assert_int_eq(load("listen: {mode: 0660}\n"), 0);
    ck_assert_uint_eq(cfg->listen.mode, 0660);
    ck_assert_int_eq(load("listen: {mode: '0600'}\n"), 0);
    ck_assert_uint_eq(cfg->listen.mode, 0600);
    ck_assert_str_eq(one_error("listen:\n  mode: rw-rw----\n"),
                     "eventrouter.yaml:2:9: listen.mode: expected an octal file mode such as "
                     "\"0660\", got \"rw-rw----\"");
    ck_assert_str_eq(one_error("listen:\n  admin_mode: 4770\n"),
                     "eventrouter.yaml:2:15: listen.admin_mode: must be at most 0777, got 4770");
    ck_assert_str_eq(one_error("listen:\n  socket: ''\n"),
                     "eventrouter.yaml:2:11: listen.socket: expected a path, got \"\"");

    /* 107 bytes is the most a Unix socket path can hold. */
    memset(longpath, 'x', sizeof(longpath));
    longpath[0] = '/';
    longpath[107] = '\0';
    snprintf(text, sizeof(text), "listen:\n  socket: %s\n", longpath);
    ck_assert_int_eq(load(text), 0);
    longpath[107] = 'x';
    longpath[108] = '\0';
    snprintf(text, sizeof(text), "listen:\n  socket: %s\n", longpath);
    ck_assert_str_eq(one_error(text), "eventrouter.yaml:2:11: listen.socket: must be at most 107 "
                                      "bytes long, got 108 bytes");

    unsetenv("ER_T_UNSET_DIR");
    ck_assert_str_eq(one_error("listen:\n  socket: ${ER_T_UNSET_DIR}/events.sock\n"),
                     "eventrouter.yaml:2:11: environment variable ER_T_UNSET_DIR is not set "
                     "(${ER_T_UNSET_DIR:-default} gives a default)");
}
END_TEST

/* ================================================================ limits */

START_TEST(limit_bounds)
{
    static const struct {
        const char *text;
        const char *error;
    } cases[] = {
        {"max_frame: 512", "limits.max_frame: must be between 1KiB and 64MiB, got 512"},
        {"max_frame: 65MiB", "limits.max_frame: must be between 1KiB and 64MiB, got 65MiB"},
        {"max_frame: lots", "limits.max_frame: expected a size such as 1MiB, got \"lots\""},
        {"max_event_size: 100", "limits.max_event_size: must be between 256B and 64MiB, got 100"},
        {"max_batch: 0", "limits.max_batch: must be between 1 and 65536, got 0"},
        {"max_batch: 65537", "limits.max_batch: must be between 1 and 65536, got 65537"},
        {"max_connections: 0", "limits.max_connections: must be between 1 and 1000000, got 0"},
        {"max_inflight_per_connection: 1000001",
         "limits.max_inflight_per_connection: must be between 1 and 1000000, got 1000001"},
        {"max_connection_memory: 2GiB",
         "limits.max_connection_memory: must be between 64KiB and 1GiB, got 2GiB"},
        {"frame_timeout: 10ms", "limits.frame_timeout: must be between 100ms and 1h, got 10ms"},
        {"frame_timeout: off", "limits.frame_timeout: expected a duration such as 30s (units d, "
                               "h, m, s, ms), got \"off\""},
        {"frame_timeout: 10", "limits.frame_timeout: expected a duration such as 30s (units d, h, "
                              "m, s, ms), got \"10\""},
        {"idle_timeout: 31d", "limits.idle_timeout: must be between 1s and 30d, got 31d"},
        {"fresh_cache: 1KiB", "limits.fresh_cache: must be between 1MiB and 1TiB, got 1KiB"},
        {"max_hops: 256", "limits.max_hops: must be between 1 and 255, got 256"},
        {"dedupe_window: 0", "limits.dedupe_window: must be between 1s and 30d, got 0"},
        {"dedupe_max: 0", "limits.dedupe_max: must be between 1 and 100000000, got 0"},
    };
    char text[256], expect[512];
    size_t i, col;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "limits:\n  %s\n", cases[i].text);
        col = (size_t)(strchr(cases[i].text, ':') - cases[i].text) + 5;
        snprintf(expect, sizeof(expect), "eventrouter.yaml:2:%zu: %s", col, cases[i].error);
        ck_assert_str_eq(one_error(text), expect);
    }
    ck_assert_str_eq(one_error("shutdown_timeout: 2h\n"),
                     "eventrouter.yaml:1:19: shutdown_timeout: must be at most 1h, got 2h");
    ck_assert_int_eq(load("limits: {idle_timeout: off, dedupe_window: off}\n"), 0);
    ck_assert_uint_eq(cfg->limits.idle_timeout_ms, 0);
    ck_assert_uint_eq(cfg->limits.dedupe_window_ms, 0);
}
END_TEST

START_TEST(cross_checks)
{
    /* Both given: reported at max_frame. */
    ck_assert_str_eq(one_error("limits:\n  max_frame: 600KiB\n  max_event_size: 600KiB\n"),
                     "eventrouter.yaml:2:14: limits.max_frame: must be at least max_event_size "
                     "(600KiB) + 32 bytes of framing, got 600KiB");
    /* Only max_event_size given: reported there. */
    ck_assert_str_eq(one_error("limits:\n  max_event_size: 1MiB\n"),
                     "eventrouter.yaml:2:19: limits.max_event_size: must be at most max_frame "
                     "(1MiB) - 32 bytes of framing, got 1MiB");
    /* Only max_frame given. */
    ck_assert_str_eq(one_error("limits:\n  max_frame: 4KiB\n"),
                     "eventrouter.yaml:2:14: limits.max_frame: must be at least max_event_size "
                     "(512KiB) + 32 bytes of framing, got 4KiB");
    /* Exactly the overhead apart is fine. */
    ck_assert_int_eq(load("limits:\n  max_frame: 1048608\n  max_event_size: 1MiB\n"), 0);
    ck_assert_uint_eq(cfg->limits.max_frame, (1u << 20) + ER_FRAME_OVERHEAD);
    /* A connection must be able to hold one frame. */
    ck_assert_str_eq(one_error("limits:\n  max_frame: 8MiB\n"),
                     "eventrouter.yaml:2:14: limits.max_frame: must be at most "
                     "max_connection_memory (4MiB), got 8MiB");
    ck_assert_str_eq(one_error("limits:\n  max_connection_memory: 512KiB\n"),
                     "eventrouter.yaml:2:26: limits.max_connection_memory: must be at least "
                     "max_frame (1MiB), got 512KiB");
}
END_TEST

/* ====================================================== keys and files */

START_TEST(refused_and_unknown_sections)
{
    static const char *const refused[] = {
        "store", "handlers", "brokers",     "sources",      "routes",           "dead_letter",
        "acl",   "metrics",  "plugin_path", "handlers_dir", "handlers_conf_dir"};
    char text[128], expect[256];
    size_t i;

    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        snprintf(text, sizeof(text), "log: {level: info}\n%s: {}\n", refused[i]);
        snprintf(expect, sizeof(expect), "eventrouter.yaml:2:1: %s: not supported in this version",
                 refused[i]);
        ck_assert_str_eq(one_error(text), expect);
    }
    ck_assert_str_eq(one_error("listen:\n  sokcet: /x\n"),
                     "eventrouter.yaml:2:3: listen.sokcet: unknown key (did you mean \"socket\"?)");
    ck_assert_str_eq(one_error("logging: {}\n"), "eventrouter.yaml:1:1: logging: unknown key");
    ck_assert_str_eq(one_error("limits:\n  max_frame: 1MiB\n  max_frame: 2MiB\n"),
                     "eventrouter.yaml:3:3: duplicate key \"max_frame\" (first at line 2)");
}
END_TEST

START_TEST(several_errors_at_once)
{
    ck_assert_int_eq(load("listen:\n"
                          "  mode: 888\n"
                          "limits:\n"
                          "  max_frame: lots\n"
                          "  max_batch: -1\n"
                          "store:\n"
                          "  plugin: lmdb\n"
                          "extra: 1\n"),
                     -EINVAL);
    ck_assert_uint_eq(diag.count, 5);
    ck_assert_str_eq(msg(0), "eventrouter.yaml:2:9: listen.mode: expected an octal file mode such "
                             "as \"0660\", got \"888\"");
    ck_assert_str_eq(msg(1), "eventrouter.yaml:4:14: limits.max_frame: expected a size such as "
                             "1MiB, got \"lots\"");
    ck_assert_str_eq(msg(2), "eventrouter.yaml:5:14: limits.max_batch: expected a non-negative "
                             "integer, got \"-1\"");
    ck_assert_str_eq(msg(3), "eventrouter.yaml:6:1: store: not supported in this version");
    ck_assert_str_eq(msg(4), "eventrouter.yaml:8:1: extra: unknown key");
}
END_TEST

START_TEST(unreadable_files)
{
    char missing[160];

    snprintf(missing, sizeof(missing), "%s/nope.yaml", tmpdir);
    ck_assert_int_eq(er__config_load(missing, &cfg, &diag), -ENOENT);
    ck_assert_ptr_null(cfg);
    ck_assert_uint_eq(diag.count, 1);
    ck_assert_str_eq(msg(0), "nope.yaml: cannot open: No such file or directory");
    er__diag_free(&diag);
    ck_assert_int_eq(er__config_load(tmpdir, &cfg, &diag), -EISDIR);
    ck_assert_str_eq(diag.items[0].msg, "cannot read: Is a directory");
    ck_assert_str_eq(diag.items[0].file, tmpdir);
    ck_assert_str_eq(one_error("a: [1\n"), "eventrouter.yaml:2:1: YAML syntax error: did not find "
                                           "expected ',' or ']' (while parsing a flow sequence at "
                                           "line 1, column 4)");
}
END_TEST

START_TEST(dump_loads_back)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f;
    er_config_t *again = NULL;

    ck_assert_int_eq(load("listen: {group: apps, mode: 0600}\n"
                          "limits: {idle_timeout: 90s, max_frame: 1536KiB}\n"
                          "log: {format: json}\n"),
                     0);
    f = open_memstream(&out, &len);
    ck_assert_int_eq(er__config_dump(cfg, f), 0);
    fclose(f);
    ck_assert(strstr(out, "  mode: \"0600\"\n") != NULL);
    ck_assert(strstr(out, "  group: \"apps\"\n") != NULL);
    ck_assert(strstr(out, "  # admin_group: not set\n") != NULL);
    ck_assert(strstr(out, "  idle_timeout: 1m30s\n") != NULL);
    ck_assert(strstr(out, "  max_frame: 1536KiB\n") != NULL);
    ck_assert(strstr(out, "  format: json\n") != NULL);
    ck_assert(strstr(out, "\nshutdown_timeout: 10s\n") != NULL);

    ck_assert_int_eq(load(out), 0);
    free(out);
    again = cfg;
    ck_assert_uint_eq(again->listen.mode, 0600);
    ck_assert_str_eq(again->listen.group, "apps");
    ck_assert_uint_eq(again->limits.idle_timeout_ms, 90000);
    ck_assert_uint_eq(again->limits.max_frame, 1536u << 10);
    ck_assert_int_eq(again->log.format, ER_LOG_FORMAT_JSON);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, empty_file_is_all_defaults);
    tcase_add_test(tc, shipped_file_is_the_defaults);
    tcase_add_test(tc, schema_table_is_sound);
    tcase_add_test(tc, all_keys_given);
    tcase_add_test(tc, log_levels_match_the_log_module);
    tcase_add_test(tc, listen_checks);
    tcase_add_test(tc, limit_bounds);
    tcase_add_test(tc, cross_checks);
    tcase_add_test(tc, refused_and_unknown_sections);
    tcase_add_test(tc, several_errors_at_once);
    tcase_add_test(tc, unreadable_files);
    tcase_add_test(tc, dump_loads_back);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
