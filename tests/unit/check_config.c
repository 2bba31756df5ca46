/*
 * Unit tests of the daemon's configuration (daemon/config.c): the shipped
 * conf/eventrouter.yaml and an empty file both give the DESIGN §5
 * defaults; every limit's bounds; the cross-checks between limits; refused
 * and unknown sections; modes, log levels and formats; unreadable files;
 * handlers (host keys, plugin loading, plugin options checked against the
 * plugin's table — tests/plugins/test_handler.so has one of every type),
 * routes (match keys, globs, priorities, destinations), plugin_path,
 * dead_letter.forward_to, fingerprints; the dump; drop-in handlers
 * (handlers_dir with copies of the test plugins, their NAME.yaml option
 * files, names, clashes, the ownership checks, fingerprints of replaced
 * files). Messages and positions are asserted exactly.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "plugin.h"
#include "proto.h"

#ifndef ER_SRCDIR
#define ER_SRCDIR "."
#endif
#ifndef ER_BUILDDIR
#define ER_BUILDDIR "."
#endif
/* A handler with an option of every type (tests/plugins/test_handler.c). */
#define TEST_PLUGIN_DIR ER_BUILDDIR "/tests/plugins/.libs"
#define TEST_PLUGIN     TEST_PLUGIN_DIR "/test_handler.so"

static er_diag_t diag;
static er_config_t *cfg;
static char tmpdir[64];
static char path[128];

static void setup(void)
{
    unsetenv("EVENTROUTER_PLUGIN_PATH");
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

/* text with every "@P" replaced by the test plugin's absolute path. */
static const char *with_plugin(const char *text)
{
    static char buf[4096];
    const char *at;
    size_t o = 0;

    while ((at = strstr(text, "@P")) != NULL) {
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%.*s%s", (int)(at - text), text,
                              TEST_PLUGIN);
        text = at + 2;
    }
    snprintf(buf + o, sizeof(buf) - o, "%s", text);
    ck_assert(strlen(buf) < sizeof(buf) - 1);
    return buf;
}

static int loadp(const char *text)
{
    return load(with_plugin(text));
}

static const char *one_errorp(const char *text)
{
    return one_error(with_plugin(text));
}

/* A valid test_handler block named h, for files about routes. */
#define HANDLER(name) "  " name ":\n    plugin: @P\n    endpoint: e\n"

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

/* The shipped file's one handler and one route (DESIGN §2: a log handler
 * to stdout, every event to it). */
static void assert_shipped_routing(const er_config_t *c)
{
    const char *out_path = "";

    ck_assert_uint_eq(c->nhandlers, 1);
    ck_assert_str_eq(c->handlers[0].name, "events");
    ck_assert_str_eq(c->handlers[0].plugin, "log");
    ck_assert_ptr_nonnull(c->handlers[0].lib);
    ck_assert_int_eq(er__opt_string(c->handlers[0].options, "path", &out_path), -ENODATA);
    ck_assert_uint_eq(c->handlers[0].window, 256);
    ck_assert_uint_eq(c->nroutes, 1);
    ck_assert(c->routes[0].match_all);
    ck_assert_uint_eq(c->routes[0].nto, 1);
    ck_assert_str_eq(c->routes[0].to[0], "events");
    ck_assert(!c->routes[0].cont);
    ck_assert(!c->routes[0].retry.set);
    ck_assert_ptr_null(c->plugin_path);
    ck_assert_ptr_null(c->dead_letter_to);
}

/* ============================================================== defaults */

START_TEST(empty_file_is_all_defaults)
{
    ck_assert_int_eq(load(""), 0);
    ck_assert_uint_eq(diag.count, 0);
    ck_assert_str_eq(cfg->path, path);
    assert_defaults(cfg, "/run/eventrouter");
    ck_assert_uint_eq(cfg->nhandlers, 0);
    ck_assert_uint_eq(cfg->nroutes, 0);
    ck_assert_ptr_null(cfg->plugin_path);
    ck_assert_ptr_null(cfg->dead_letter_to);
    ck_assert_int_eq(load("# nothing but comments\n---\n"), 0);
    assert_defaults(cfg, "/run/eventrouter");
    /* Empty sections are empty maps. */
    ck_assert_int_eq(load("listen:\nlimits:\nlog:\n"), 0);
    assert_defaults(cfg, "/run/eventrouter");
    ck_assert_int_eq(load("handlers:\nroutes:\nplugin_path:\n"), 0);
    ck_assert_uint_eq(cfg->nhandlers, 0);
    ck_assert_uint_eq(cfg->nroutes, 0);
    ck_assert_int_eq(load("handlers: {}\nroutes: []\nplugin_path: []\n"), 0);
    ck_assert_ptr_nonnull(cfg->plugin_path);
    ck_assert_ptr_null(cfg->plugin_path[0]);
}
END_TEST

START_TEST(shipped_file_is_the_defaults)
{
    const char *shipped = ER_SRCDIR "/conf/eventrouter.yaml";

    setenv("EVENTROUTER_RUNDIR", tmpdir, 1);
    ck_assert_msg(er__config_load(shipped, &cfg, &diag) == 0, "%s",
                  diag.count ? diag.items[0].msg : "");
    assert_defaults(cfg, tmpdir);
    assert_shipped_routing(cfg);
    er__config_free(cfg);
    cfg = NULL;

    /* Without the variable: the installed paths. */
    unsetenv("EVENTROUTER_RUNDIR");
    ck_assert_int_eq(er__config_load(shipped, &cfg, &diag), 0);
    assert_defaults(cfg, "/run/eventrouter");
    assert_shipped_routing(cfg);
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
    static const char *const refused[] = {"brokers", "sources", "metrics"};
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

/* acl: read rules by uid, gid, user or group (names resolved at load,
 * root being there on every system); publish rules are not built yet. */
START_TEST(acl_rules)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    ck_assert_int_eq(load("acl:\n  - {uid: 1000, read: true}\n  - {group: root, read: true}\n"
                          "  - user: root\n  - {gid: 42}\n"),
                     0);
    ck_assert_uint_eq(cfg->nacl, 4);
    ck_assert(!cfg->acl[0].by_gid && cfg->acl[0].id == 1000 && cfg->acl[0].read);
    ck_assert_ptr_null(cfg->acl[0].name);
    ck_assert(cfg->acl[1].by_gid && cfg->acl[1].id == 0 && cfg->acl[1].read);
    ck_assert_str_eq(cfg->acl[1].name, "root");
    ck_assert(!cfg->acl[2].by_gid && cfg->acl[2].id == 0 && !cfg->acl[2].read);
    ck_assert(cfg->acl[3].by_gid && cfg->acl[3].id == 42 && !cfg->acl[3].read);
    ck_assert_uint_eq(cfg->acl[2].pos.line, 4);
    /* The effective configuration shows the ids resolved. */
    f = open_memstream(&text, &len);
    ck_assert_int_eq(er__config_dump(cfg, f), 0);
    fclose(f);
    ck_assert_msg(
        strstr(text, "acl:\n  - uid: 1000\n    read: true\n  - gid: 0  # group \"root\"\n") != NULL,
        "%s", text);
    free(text);
    ck_assert_int_eq(load("acl:\n  - {uid: 7, read: true}\n"), 0);
    ck_assert(!cfg->acl[0].by_gid && cfg->acl[0].id == 7 && cfg->acl[0].read);
    ck_assert_int_eq(load("acl: []\n"), 0);
    ck_assert_uint_eq(cfg->nacl, 0);

    ck_assert_str_eq(
        one_error("acl:\n  - {read: true}\n"),
        "eventrouter.yaml:2:5: acl[0]: say whom it is for: one of uid, gid, user, group");
    ck_assert_str_eq(one_error("acl:\n  - {uid: 1, user: root}\n"),
                     "eventrouter.yaml:2:14: acl[0].user: a rule is for one of uid, gid, user, "
                     "group (uid given)");
    ck_assert_str_eq(one_error("acl:\n  - {user: no-such-user-er}\n"),
                     "eventrouter.yaml:2:12: acl[0].user: no user named \"no-such-user-er\"");
    ck_assert_str_eq(one_error("acl:\n  - {group: no-such-group-er, read: true}\n"),
                     "eventrouter.yaml:2:13: acl[0].group: no group named \"no-such-group-er\"");
    ck_assert_str_eq(one_error("acl:\n  - {uid: 1, publish: {types: [A]}}\n"),
                     "eventrouter.yaml:2:14: acl[0].publish: not supported in this version");
    ck_assert_str_eq(
        one_error("acl:\n  - {uid: -1}\n"),
        "eventrouter.yaml:2:11: acl[0].uid: expected a non-negative integer, got \"-1\"");
    ck_assert_str_eq(one_error("acl: {uid: 1}\n"),
                     "eventrouter.yaml:1:6: acl: expected a list of rules, got a map");
}
END_TEST

/* The store block: `plugin` is the host's (default lmdb), `retention` the
 * host's too (max_bytes only with a store that reports its used bytes),
 * the rest the plugin's options. */
START_TEST(store_block)
{
    er_config_t *c;

    ck_assert_int_eq(load("log: {level: info}\n"), 0);
    c = cfg;
    ck_assert_str_eq(c->store.plugin, "lmdb");
    ck_assert_ptr_nonnull(c->store.lib);
    ck_assert_str_eq(c->store.lib->desc->name, "lmdb");
    ck_assert_int_eq(load("store:\n  plugin: memory\n  max_events: 10\n"), 0);
    ck_assert_str_eq(cfg->store.lib->desc->name, "memory");
    ck_assert_int_eq(load("store:\n  retention: {max_age: 30d, max_events: 1000, force: true}\n"),
                     0);
    ck_assert_uint_eq(cfg->store.retention.max_age_ms, 30ull * 24 * 3600 * 1000);
    ck_assert_uint_eq(cfg->store.retention.max_events, 1000);
    ck_assert(cfg->store.retention.force);
    ck_assert_int_eq(load("store:\n  plugin: memory\n"), 0);
    ck_assert_uint_eq(cfg->store.retention.max_age_ms, 0);
    ck_assert_uint_eq(cfg->store.retention.max_events, 0);
    ck_assert_int_eq(load("store:\n  retention: {max_bytes: 10GiB}\n"), 0);
    ck_assert_uint_eq(cfg->store.retention.max_bytes, 10ull << 30);
    ck_assert_int_eq(load("store:\n  plugin: memory\n  retention: {max_bytes: 64KiB}\n"), 0);
    ck_assert_uint_eq(cfg->store.retention.max_bytes, 64 << 10);
    ck_assert_int_eq(load("store:\n  retention: {max_bytes: off}\n"), 0);
    ck_assert_uint_eq(cfg->store.retention.max_bytes, 0);
    ck_assert_int_eq(load("store:\n  plugin: " TEST_PLUGIN_DIR "/store_v12.so\n"), 0);
    ck_assert_str_eq(one_error("store:\n  plugin: " TEST_PLUGIN_DIR "/store_v12.so\n"
                               "  retention: {max_events: 10, max_bytes: 1GiB}\n"),
                     "eventrouter.yaml:3:31: store.retention.max_bytes: the store plugin "
                     "\"store_v12\" cannot report the bytes it uses (it has no used_bytes, store "
                     "ABI 1.3): bound it with max_events or max_age instead");
    ck_assert_str_eq(one_error("store:\n  retention: {max_bytes: 1KiB}\n"),
                     "eventrouter.yaml:2:26: store.retention.max_bytes: must be between 64KiB and "
                     "16TiB, got 1KiB");
    ck_assert_str_eq(one_error("store:\n  retention: {max_age: 10ms}\n"),
                     "eventrouter.yaml:2:24: store.retention.max_age: must be between 1s and "
                     "36500d, got 10ms");
    ck_assert_str_eq(one_error("store:\n  plugin: lmdb\n  map_size: lots\n"),
                     "eventrouter.yaml:3:13: store.map_size: expected a size such as 1MiB, got "
                     "\"lots\"");
    ck_assert_str_eq(one_error("store:\n  plugin: memory\n  bogus: 1\n"),
                     "eventrouter.yaml:3:3: store.bogus: unknown key");
    ck_assert(strstr(one_error("store:\n  plugin: nosuch\n"),
                     "eventrouter.yaml:2:11: store.plugin: nosuch.so: store plugin not found "
                     "(searched: ") != NULL);
    ck_assert_str_eq(one_error("store: [lmdb]\n"),
                     "eventrouter.yaml:1:8: store: expected a map (plugin and its options), got "
                     "a list");
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
                          "  sync: sometimes\n"
                          "extra: 1\n"),
                     -EINVAL);
    ck_assert_uint_eq(diag.count, 5);
    ck_assert_str_eq(msg(0), "eventrouter.yaml:2:9: listen.mode: expected an octal file mode such "
                             "as \"0660\", got \"888\"");
    ck_assert_str_eq(msg(1), "eventrouter.yaml:4:14: limits.max_frame: expected a size such as "
                             "1MiB, got \"lots\"");
    ck_assert_str_eq(msg(2), "eventrouter.yaml:5:14: limits.max_batch: expected a non-negative "
                             "integer, got \"-1\"");
    ck_assert_str_eq(msg(3), "eventrouter.yaml:8:9: store.sync: expected one of batch, none, "
                             "got \"sometimes\"");
    ck_assert_str_eq(msg(4), "eventrouter.yaml:9:1: extra: unknown key");
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

/* ============================================================== handlers */

START_TEST(handler_defaults)
{
    const er_handler_conf_t *h;
    const char *v;
    uint64_t u;

    ck_assert_int_eq(loadp("handlers:\n  h1:\n    plugin: @P\n    endpoint: e\n"), 0);
    ck_assert_uint_eq(cfg->nhandlers, 1);
    h = &cfg->handlers[0];
    ck_assert_str_eq(h->name, "h1");
    ck_assert_str_eq(h->plugin, TEST_PLUGIN);
    ck_assert_ptr_nonnull(h->lib);
    ck_assert_str_eq(h->lib->desc->name, "test_handler");
    ck_assert_uint_eq(h->timeout_ms, 0);
    ck_assert_uint_eq(h->window, 256);
    ck_assert(!h->retry.set);
    ck_assert_uint_eq(h->retry.max_attempts, 5);
    ck_assert_uint_eq(h->retry.initial_ms, 100);
    ck_assert_uint_eq(h->retry.max_ms, 30000);
    ck_assert(h->retry.multiplier == 2.0);
    ck_assert(h->retry.jitter == 0.2);
    ck_assert_uint_eq(h->concurrency, 1);
    ck_assert(h->subscribe);
    ck_assert_int_eq(h->start, ER_START_HEAD);
    ck_assert_uint_eq(h->max_lag, 0);
    ck_assert_ptr_eq(h->pos.file, cfg->path);
    ck_assert_uint_eq(h->pos.line, 2);
    ck_assert_uint_eq(h->pos.col, 3);
    ck_assert_ptr_nonnull(h->fingerprint);
    /* The plugin's options, defaults included. */
    ck_assert_int_eq(er__opt_string(h->options, "endpoint", &v), 0);
    ck_assert_str_eq(v, "e");
    ck_assert_int_eq(er__opt_uint(h->options, "delay", &u), 0);
    ck_assert_uint_eq(u, 100);
    ck_assert_int_eq(er__opt_string(h->options, "dir", &v), -ENODATA);
    /* The host's keys are not the plugin's options. */
    ck_assert_int_eq(er__opt_uint(h->options, "window", &u), -ENOENT);
}
END_TEST

START_TEST(handler_every_key)
{
    const er_handler_conf_t *h;
    const char *v;
    size_t pos = 0;
    const char *k;
    char text[512];

    snprintf(text, sizeof(text), "%s/pw", tmpdir);
    {
        FILE *f = fopen(text, "w");
        ck_assert_ptr_nonnull(f);
        fputs("s3cret\n", f);
        fclose(f);
    }
    snprintf(text, sizeof(text),
             "handlers:\n"
             "  a.b-c_9:\n"
             "    plugin: @P\n"
             "    timeout: 5s\n"
             "    window: 65536\n"
             "    retry: {max_attempts: 9, initial: 1s, max: 1m, multiplier: 1.5, jitter: 0}\n"
             "    concurrency: 4\n"
             "    subscribe: off\n"
             "    start: earliest\n"
             "    max_lag: off\n"
             "    endpoint: \"0660\"\n"
             "    mode: paranoid\n"
             "    types: [A, B]\n"
             "    properties: {acks: all}\n"
             "    password_file: %s/pw\n",
             tmpdir);
    ck_assert_msg(loadp(text) == 0, "%s", diag.count ? msg(0) : "");
    h = &cfg->handlers[0];
    ck_assert_str_eq(h->name, "a.b-c_9");
    ck_assert_uint_eq(h->timeout_ms, 5000);
    ck_assert_uint_eq(h->window, 65536);
    ck_assert(h->retry.set);
    ck_assert_uint_eq(h->retry.max_attempts, 9);
    ck_assert_uint_eq(h->retry.initial_ms, 1000);
    ck_assert_uint_eq(h->retry.max_ms, 60000);
    ck_assert(h->retry.multiplier == 1.5);
    ck_assert(h->retry.jitter == 0);
    ck_assert_uint_eq(h->concurrency, 4);
    ck_assert(!h->subscribe);
    ck_assert_int_eq(h->start, ER_START_EARLIEST);
    ck_assert_uint_eq(h->max_lag, 0);
    ck_assert_int_eq(er__opt_string(h->options, "endpoint", &v), 0);
    ck_assert_str_eq(v, "0660"); /* a string option keeps the text */
    ck_assert_int_eq(er__opt_string(h->options, "mode", &v), 0);
    ck_assert_str_eq(v, "paranoid");
    ck_assert_int_eq(er__opt_list(h->options, "types", 1, &v), 0);
    ck_assert_str_eq(v, "B");
    ck_assert_int_eq(er__opt_map_next(h->options, "properties", &pos, &k, &v), 1);
    ck_assert_str_eq(v, "all");
    ck_assert_int_eq(er__opt_string(h->options, "password", &v), 0);
    ck_assert_str_eq(v, "s3cret");

    /* Found on plugin_path by name; the same .so is shared. */
    snprintf(text, sizeof(text),
             "plugin_path: %s\nhandlers:\n  x: {plugin: test_handler, endpoint: e}\n"
             "  y: {plugin: test_handler, endpoint: f}\n",
             TEST_PLUGIN_DIR);
    ck_assert_msg(load(text) == 0, "%s", diag.count ? msg(0) : "");
    ck_assert_ptr_eq(cfg->handlers[0].lib, cfg->handlers[1].lib);
    ck_assert_str_eq(cfg->plugin_path[0], TEST_PLUGIN_DIR);
    ck_assert_ptr_null(cfg->plugin_path[1]);
    /* ... and through $EVENTROUTER_PLUGIN_PATH. */
    setenv("EVENTROUTER_PLUGIN_PATH", TEST_PLUGIN_DIR, 1);
    ck_assert_int_eq(load("handlers:\n  x: {plugin: test_handler, endpoint: e}\n"), 0);
    unsetenv("EVENTROUTER_PLUGIN_PATH");
}
END_TEST

START_TEST(handler_errors)
{
    static const struct {
        const char *text; /* after "handlers:\n  h:\n    plugin: @P\n" (line 4 on) */
        const char *error;
    } cases[] = {
        /* Host keys. */
        {"    endpoint: e\n    window: 0\n",
         "5:13: handlers.h.window: must be between 1 and 65536, got 0"},
        {"    endpoint: e\n    timeout: 10\n",
         "5:14: handlers.h.timeout: expected a duration such as 30s (units d, h, m, s, ms) or "
         "off, got \"10\""},
        {"    endpoint: e\n    timeout: 2d\n",
         "5:14: handlers.h.timeout: must be at most 1d, got 2d"},
        {"    endpoint: e\n    concurrency: 0\n",
         "5:18: handlers.h.concurrency: must be between 1 and 1024, got 0"},
        {"    endpoint: e\n    subscribe: maybe\n",
         "5:16: handlers.h.subscribe: expected true or false (or yes/no, on/off), got \"maybe\""},
        {"    endpoint: e\n    start: tail\n",
         "5:12: handlers.h.start: expected one of head, earliest, got \"tail\""},
        {"    endpoint: e\n    max_lag: -1\n",
         "5:14: handlers.h.max_lag: expected a non-negative integer or off, got \"-1\""},
        {"    endpoint: e\n    retry: 3\n", "5:12: handlers.h.retry: expected a map, got \"3\""},
        {"    endpoint: e\n    retry: {jitter: 1.5}\n",
         "5:21: handlers.h.retry.jitter: must be between 0 and 1, got 1.5"},
        {"    endpoint: e\n    retry: {multiplier: x2}\n",
         "5:25: handlers.h.retry.multiplier: expected a number such as 1.5, got \"x2\""},
        {"    endpoint: e\n    retry: {multiplier: 0.5}\n",
         "5:25: handlers.h.retry.multiplier: must be between 1 and 100, got 0.5"},
        {"    endpoint: e\n    retry: {max_attempts: 0}\n",
         "5:27: handlers.h.retry.max_attempts: must be between 1 and 1000, got 0"},
        {"    endpoint: e\n    retry: {initial: 1m}\n",
         "5:22: handlers.h.retry.initial: must be at most retry.max (30s), got 1m"},
        {"    endpoint: e\n    retry: {max: 50ms}\n",
         "5:18: handlers.h.retry.max: must be at least retry.initial (100ms), got 50ms"},
        {"    endpoint: e\n    retry: {tries: 3}\n", "5:13: handlers.h.retry.tries: unknown key"},
        /* The plugin's options, at their positions. */
        {"    label: x\n", "3:5: handlers.h.endpoint: required key is missing"},
        {"    endpoint: e\n    count: many\n",
         "5:12: handlers.h.count: expected a non-negative integer, got \"many\""},
        {"    endpoint: e\n    count: 1001\n",
         "5:12: handlers.h.count: must be between 1 and 1000, got 1001"},
        {"    endpoint: e\n    level: -11\n",
         "5:12: handlers.h.level: must be between -10 and 10, got -11"},
        {"    endpoint: e\n    verbose: 1\n",
         "5:14: handlers.h.verbose: expected true or false (or yes/no, on/off), got \"1\""},
        {"    endpoint: e\n    delay: 100\n",
         "5:12: handlers.h.delay: expected a duration such as 30s (units d, h, m, s, ms), got "
         "\"100\""},
        {"    endpoint: e\n    buffer: 2GiB\n",
         "5:13: handlers.h.buffer: must be between 1KiB and 1GiB, got 2GiB"},
        {"    endpoint: e\n    mode: quick\n",
         "5:11: handlers.h.mode: expected one of fast, safe, paranoid, got \"quick\""},
        {"    endpoint: e\n    types: A\n",
         "5:12: handlers.h.types: expected a list of strings, got \"A\""},
        {"    endpoint: e\n    properties: {a: {b: c}}\n",
         "5:21: handlers.h.properties.a: expected a string, got a map"},
        {"    endpoint: e\n    levl: 3\n",
         "5:5: handlers.h.levl: unknown key (did you mean \"level\"?)"},
        {"    endpoint: e\n    windw: 3\n",
         "5:5: handlers.h.windw: unknown key (did you mean \"window\"?)"},
        {"    endpoint: e\n    password: x\n    password_file: /x\n",
         "6:5: handlers.h.password: give password or password_file, not both"},
    };
    char text[1024], expect[512];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "handlers:\n  h:\n    plugin: @P\n%s", cases[i].text);
        snprintf(expect, sizeof(expect), "eventrouter.yaml:%s", cases[i].error);
        ck_assert_str_eq(one_errorp(text), expect);
    }
}
END_TEST

START_TEST(handler_shape_errors)
{
    char name[80], text[256], expect[256];

    ck_assert_str_eq(one_error("handlers: [a]\n"), "eventrouter.yaml:1:11: handlers: expected a "
                                                   "map of handler names to blocks, got a list");
    ck_assert_str_eq(one_error("handlers:\n  h: log\n"),
                     "eventrouter.yaml:2:6: handlers.h: expected a map (plugin and its options), "
                     "got \"log\"");
    ck_assert_str_eq(one_error("handlers:\n  h:\n"),
                     "eventrouter.yaml:2:3: handlers.h.plugin: required key is missing");
    ck_assert_str_eq(one_error("handlers:\n  h:\n    window: 3\n"),
                     "eventrouter.yaml:3:5: handlers.h.plugin: required key is missing");
    ck_assert_str_eq(one_error("handlers:\n  h: {plugin: [log]}\n"),
                     "eventrouter.yaml:2:15: handlers.h.plugin: expected a string, got a list");
    ck_assert_str_eq(one_error("handlers:\n  bad name:\n    plugin: log\n"),
                     "eventrouter.yaml:2:3: handlers: invalid handler name \"bad name\": a name is "
                     "1 to 64 of A-Z a-z 0-9 _ . -");
    ck_assert_str_eq(one_error("handlers:\n  a/b: {plugin: log}\n"),
                     "eventrouter.yaml:2:3: handlers: invalid handler name \"a/b\": a name is 1 to "
                     "64 of A-Z a-z 0-9 _ . -");
    memset(name, 'n', 65);
    name[65] = '\0';
    snprintf(text, sizeof(text), "handlers:\n  %s: {plugin: log}\n", name);
    snprintf(expect, sizeof(expect),
             "eventrouter.yaml:2:3: handlers: invalid handler name \"%s\": a name is 1 to 64 of "
             "A-Z a-z 0-9 _ . -",
             name);
    ck_assert_str_eq(one_error(text), expect);
    name[64] = '\0';
    snprintf(text, sizeof(text), "handlers:\n  %s:\n    plugin: @P\n    endpoint: e\n", name);
    ck_assert_int_eq(loadp(text), 0);
    /* Duplicate names are duplicate YAML keys. */
    ck_assert_str_eq(one_errorp("handlers:\n" HANDLER("h") HANDLER("h")),
                     "eventrouter.yaml:5:3: duplicate key \"h\" (first at line 2)");
}
END_TEST

START_TEST(plugin_load_errors)
{
    static const char not_found[] = "eventrouter.yaml:4:13: handlers.h.plugin: nope.so: handler "
                                    "plugin not found (searched: /nonexistent/a, /nonexistent/b, ";
    const char *m;

    /* Neither a name nor an absolute path. */
    ck_assert_str_eq(one_error("handlers:\n  h:\n    plugin: ./x.so\n"),
                     "eventrouter.yaml:3:13: handlers.h.plugin: expected a plugin's name or an "
                     "absolute path to a .so, got \"./x.so\"");
    ck_assert_str_eq(one_error("handlers:\n  h:\n    plugin: lib/x\n"),
                     "eventrouter.yaml:3:13: handlers.h.plugin: expected a plugin's name or an "
                     "absolute path to a .so, got \"lib/x\"");
    /* Not found: the message names every directory searched. */
    m = one_error("plugin_path: [/nonexistent/a, /nonexistent/b]\nhandlers:\n  h:\n"
                  "    plugin: nope\n    whatever: 1\n");
    ck_assert_msg(strncmp(m, not_found, strlen(not_found)) == 0, "%s", m);
    ck_assert_msg(strstr(m, "/eventrouter/handlers)") != NULL, "%s", m);
    /* An absolute path that is not there. */
    m = one_error("handlers:\n  h:\n    plugin: /nonexistent/x.so\n");
    ck_assert_str_eq(m, "eventrouter.yaml:3:13: handlers.h.plugin: /nonexistent/x.so: No such "
                        "file or directory");
    /* A file that is not a plugin. */
    m = one_error("handlers:\n  h:\n    plugin: /dev/null\n");
    ck_assert_str_eq(m, "eventrouter.yaml:3:13: handlers.h.plugin: /dev/null: refusing to load: "
                        "not a regular file");
    /* A regular file that is no shared object. */
    m = one_error("handlers:\n  h:\n    plugin: " ER_SRCDIR "/conf/eventrouter.yaml\n");
    ck_assert_msg(strstr(m, "eventrouter.yaml:3:13: handlers.h.plugin: /") == m, "%s", m);
    ck_assert_msg(strstr(m, "/conf/eventrouter.yaml: cannot load: ") != NULL, "%s", m);
}
END_TEST

START_TEST(fingerprints)
{
    char *first;

    ck_assert_int_eq(loadp("handlers:\n  h: {plugin: @P, endpoint: e, password: p, window: 8}\n"),
                     0);
    first = strdup(cfg->handlers[0].fingerprint);
    /* Same values, other order and spelling: same fingerprint. */
    ck_assert_int_eq(loadp("handlers:\n  h:\n    window: 8\n    password: p\n    endpoint: \"e\"\n"
                           "    plugin: @P\n    delay: 100ms\n    timeout: off\n"),
                     0);
    ck_assert_str_eq(cfg->handlers[0].fingerprint, first);
    /* A host key, an option, a secret: each a change. */
    ck_assert_int_eq(loadp("handlers:\n  h: {plugin: @P, endpoint: e, password: p, window: 9}\n"),
                     0);
    ck_assert_str_ne(cfg->handlers[0].fingerprint, first);
    ck_assert_int_eq(loadp("handlers:\n  h: {plugin: @P, endpoint: f, password: p, window: 8}\n"),
                     0);
    ck_assert_str_ne(cfg->handlers[0].fingerprint, first);
    ck_assert_int_eq(loadp("handlers:\n  h: {plugin: @P, endpoint: e, password: q, window: 8}\n"),
                     0);
    ck_assert_str_ne(cfg->handlers[0].fingerprint, first);
    free(first);
}
END_TEST

/* ================================================================ routes */

START_TEST(routes_hybrid_example)
{
    const er_route_conf_t *r;

    ck_assert_msg(loadp("handlers:\n" HANDLER("audit-log") HANDLER("analytics") HANDLER(
                      "all") "routes:\n"
                             "  - match: { type: [CriticalEvent, RealTimeEvent] }\n"
                             "    to: [audit-log]\n"
                             "  - match: { topic: \"analytics.**\" }\n"
                             "    to: analytics\n"
                             "    retry: { max_attempts: 5, initial: 100ms, max: 30s }\n"
                             "  - match: \"*\"\n"
                             "    to: [audit-log, all]\n"
                             "    continue: true\n"
                             "  - match:\n"
                             "      priority: [high, critical]\n"
                             "      source: billing\n"
                             "      stream: \"user:\"\n"
                             "      from: kafka-main\n"
                             "      meta.tenant: [acme, globex]\n"
                             "    to: all\n") == 0,
                  "%s", diag.count ? msg(0) : "");
    ck_assert_uint_eq(cfg->nroutes, 4);
    r = &cfg->routes[0];
    ck_assert(!r->match_all);
    ck_assert_uint_eq(r->nkeys, 1);
    ck_assert_str_eq(r->keys[0].key, "type");
    ck_assert_uint_eq(r->keys[0].nvalues, 2);
    ck_assert_str_eq(r->keys[0].values[1], "RealTimeEvent");
    ck_assert_ptr_null(r->keys[0].values[2]);
    ck_assert_uint_eq(r->nto, 1);
    ck_assert_str_eq(r->to[0], "audit-log");
    ck_assert_ptr_null(r->to[1]);
    ck_assert(!r->cont);
    ck_assert(!r->retry.set);
    ck_assert_ptr_eq(r->pos.file, cfg->path);
    ck_assert_uint_eq(r->pos.line, 12);
    ck_assert_uint_eq(r->pos.col, 5);
    r = &cfg->routes[1];
    ck_assert_str_eq(r->keys[0].values[0], "analytics.**");
    ck_assert_str_eq(r->to[0], "analytics");
    ck_assert(r->retry.set);
    ck_assert_uint_eq(r->retry.max_attempts, 5);
    ck_assert_uint_eq(r->retry.max_ms, 30000);
    ck_assert(r->retry.jitter == 0.2); /* the keys not given: the defaults */
    r = &cfg->routes[2];
    ck_assert(r->match_all);
    ck_assert_uint_eq(r->nkeys, 0);
    ck_assert_uint_eq(r->nto, 2);
    ck_assert(r->cont);
    r = &cfg->routes[3];
    ck_assert_uint_eq(r->nkeys, 5);
    ck_assert_str_eq(r->keys[0].key, "priority");
    ck_assert_str_eq(r->keys[3].key, "from");
    ck_assert_str_eq(r->keys[4].key, "meta.tenant");
    ck_assert_str_eq(r->keys[4].values[1], "globex");
}
END_TEST

START_TEST(route_errors)
{
    static const struct {
        const char *route; /* the list's text, from line 4 */
        const char *error;
    } cases[] = {
        /* Destinations. */
        {"  - match: \"*\"\n    to: [h, nope]\n",
         "5:13: routes[0].to[1]: \"nope\" is not a declared handler"},
        {"  - match: \"*\"\n    to: nope\n",
         "5:9: routes[0].to: \"nope\" is not a declared handler"},
        {"  - match: \"*\"\n    to: [h, h]\n", "5:13: routes[0].to[1]: \"h\" is listed twice"},
        {"  - match: \"*\"\n    to: []\n",
         "5:9: routes[0].to: expected a handler's name or a non-empty list of them, got an empty "
         "list"},
        {"  - match: \"*\"\n    to: {h: 1}\n",
         "5:9: routes[0].to: expected a handler's name or a non-empty list of them, got a map"},
        {"  - match: \"*\"\n    to: [[h]]\n",
         "5:10: routes[0].to[0]: expected a handler's name, got a list"},
        {"  - match: \"*\"\n", "4:5: routes[0].to: required key is missing"},
        {"  - to: h\n", "4:5: routes[0].match: required key is missing"},
        /* Match. */
        {"  - match: all\n    to: h\n",
         "4:12: routes[0].match: expected \"*\" or a map of match keys, got \"all\""},
        {"  - match: [a]\n    to: h\n",
         "4:12: routes[0].match: expected \"*\" or a map of match keys, got a list"},
        {"  - match: {}\n    to: h\n",
         "4:12: routes[0].match: no match keys (\"*\" matches every event)"},
        {"  - match: {tpye: A}\n    to: h\n",
         "4:13: routes[0].match.tpye: unknown key (did you mean \"type\"?)"},
        {"  - match: {meta.: x}\n    to: h\n",
         "4:13: routes[0].match.meta.: a meta key needs a name (meta.KEY)"},
        {"  - match: {meta: {a: b}}\n    to: h\n", "4:13: routes[0].match.meta: unknown key"},
        {"  - match: {type: Bad Type}\n    to: h\n",
         "4:19: routes[0].match.type: invalid event type \"Bad Type\": an event type is 1 to 128 "
         "of A-Z a-z 0-9 _ . -"},
        {"  - match: {type: []}\n    to: h\n",
         "4:19: routes[0].match.type: expected a value or a non-empty list of values, got an "
         "empty list"},
        {"  - match: {type: [A, '']}\n    to: h\n",
         "4:23: routes[0].match.type[1]: expected a non-empty string, got an empty one"},
        {"  - match: {priority: urgent}\n    to: h\n",
         "4:23: routes[0].match.priority: invalid priority \"urgent\": expected one of low, "
         "normal, high, critical"},
        {"  - match: {priority: [high, 3]}\n    to: h\n",
         "4:30: routes[0].match.priority[1]: invalid priority \"3\": expected one of low, normal, "
         "high, critical"},
        {"  - match: {topic: \"a.**.b\"}\n    to: h\n",
         "4:20: routes[0].match.topic: invalid topic glob \"a.**.b\": ** must be the last segment"},
        {"  - match: {topic: \"a..b\"}\n    to: h\n",
         "4:20: routes[0].match.topic: invalid topic glob \"a..b\": empty segment"},
        {"  - match: {topic: \"a.\"}\n    to: h\n",
         "4:20: routes[0].match.topic: invalid topic glob \"a.\": empty segment"},
        {"  - match: {topic: \"a*.b\"}\n    to: h\n",
         "4:20: routes[0].match.topic: invalid topic glob \"a*.b\": a segment is * or ** or made "
         "of A-Z a-z 0-9 _ - (got \"a*\")"},
        {"  - match: {topic: [ok, \"***\"]}\n    to: h\n",
         "4:25: routes[0].match.topic[1]: invalid topic glob \"***\": a segment is * or ** or "
         "made of A-Z a-z 0-9 _ - (got \"***\")"},
        {"  - match: {from: \"kafka main\"}\n    to: h\n",
         "4:19: routes[0].match.from: invalid broker name \"kafka main\": a name is 1 to 64 of "
         "A-Z a-z 0-9 _ . -"},
        {"  - match: {stream: \"a\\tb\"}\n    to: h\n",
         "4:21: routes[0].match.stream: invalid stream prefix \"a\\x09b\": control characters "
         "never occur in events"},
        /* The route itself. */
        {"  - match: \"*\"\n    to: h\n    contine: true\n",
         "6:5: routes[0].contine: unknown key (did you mean \"continue\"?)"},
        {"  - match: \"*\"\n    to: h\n    continue: maybe\n",
         "6:15: routes[0].continue: expected true or false (or yes/no, on/off), got \"maybe\""},
        {"  - match: \"*\"\n    to: h\n    retry: {max: 1ms}\n",
         "6:18: routes[0].retry.max: must be at least retry.initial (100ms), got 1ms"},
        {"  - \"*\"\n", "4:5: routes[0]: expected a map with match and to, got \"*\""},
    };
    char text[1024], expect[512];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "handlers:\n  h: {plugin: @P, endpoint: e}\nroutes:\n%s",
                 cases[i].route);
        snprintf(expect, sizeof(expect), "eventrouter.yaml:%s", cases[i].error);
        ck_assert_str_eq(one_errorp(text), expect);
    }
    ck_assert_str_eq(one_error("routes: {a: 1}\n"),
                     "eventrouter.yaml:1:9: routes: expected a list of routes, got a map");
    /* The second route's errors name it. */
    ck_assert_str_eq(one_errorp("handlers:\n  h: {plugin: @P, endpoint: e}\nroutes:\n"
                                "  - {match: \"*\", to: h}\n  - {match: {type: A}, to: x}\n"),
                     "eventrouter.yaml:5:28: routes[1].to: \"x\" is not a declared handler");
    /* Brokers are not supported yet: a name under brokers: is no handler. */
    ck_assert_int_eq(load("brokers:\n  redis-main: {plugin: redis}\n"
                          "routes:\n  - match: \"*\"\n    to: [redis-main]\n"),
                     -EINVAL);
    ck_assert_uint_eq(diag.count, 2);
    ck_assert_str_eq(msg(0), "eventrouter.yaml:1:1: brokers: not supported in this version");
    ck_assert_str_eq(msg(1),
                     "eventrouter.yaml:5:10: routes[0].to[0]: \"redis-main\" is not a declared "
                     "handler");
}
END_TEST

/* ========================================================== dead_letter */

/* dead_letter: {forward_to: NAME}: a declared handler, positioned errors. */
START_TEST(dead_letter_forward_to)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f;

    ck_assert_int_eq(
        loadp("handlers:\n" HANDLER("h") HANDLER("parked") "dead_letter:\n  forward_to: parked\n"),
        0);
    ck_assert_str_eq(cfg->dead_letter_to, "parked");
    ck_assert_int_eq(loadp("handlers:\n" HANDLER("h") "dead_letter: {forward_to: h}\n"), 0);
    ck_assert_str_eq(cfg->dead_letter_to, "h");
    /* Absent, empty: no forwarding. */
    ck_assert_int_eq(loadp("handlers:\n" HANDLER("h") "dead_letter:\n"), 0);
    ck_assert_ptr_null(cfg->dead_letter_to);
    ck_assert_int_eq(loadp("handlers:\n" HANDLER("h") "dead_letter: {}\n"), 0);
    ck_assert_ptr_null(cfg->dead_letter_to);

    /* The name must be a declared handler: reported at the value. */
    ck_assert_str_eq(one_errorp("handlers:\n" HANDLER("h") "dead_letter:\n  forward_to: nope\n"),
                     "eventrouter.yaml:6:15: dead_letter.forward_to: no handler named \"nope\"");
    ck_assert_str_eq(one_error("dead_letter: {forward_to: h}\n"),
                     "eventrouter.yaml:1:27: dead_letter.forward_to: no handler named \"h\"");
    /* Brokers are not supported yet: a broker's name is no handler. */
    ck_assert_int_eq(load("brokers:\n  redis-main: {plugin: redis}\n"
                          "dead_letter: {forward_to: redis-main}\n"),
                     -EINVAL);
    ck_assert_uint_eq(diag.count, 2);
    ck_assert_str_eq(msg(1), "eventrouter.yaml:3:27: dead_letter.forward_to: no handler named "
                             "\"redis-main\"");

    /* Shapes and keys. */
    ck_assert_str_eq(one_errorp("handlers:\n" HANDLER("h") "dead_letter:\n  forwad_to: h\n"),
                     "eventrouter.yaml:6:3: dead_letter.forwad_to: unknown key (did you mean "
                     "\"forward_to\"?)");
    ck_assert_str_eq(
        one_errorp("handlers:\n" HANDLER("h") "dead_letter: {forward_to: h, also: x}\n"),
        "eventrouter.yaml:5:30: dead_letter.also: unknown key");
    ck_assert_str_eq(one_errorp("handlers:\n" HANDLER("h") "dead_letter: h\n"),
                     "eventrouter.yaml:5:14: dead_letter: expected a map with forward_to, got "
                     "\"h\"");
    ck_assert_str_eq(one_errorp("handlers:\n" HANDLER("h") "dead_letter: [h]\n"),
                     "eventrouter.yaml:5:14: dead_letter: expected a map with forward_to, got a "
                     "list");
    ck_assert_str_eq(one_errorp("handlers:\n" HANDLER("h") "dead_letter: {forward_to: [h]}\n"),
                     "eventrouter.yaml:5:27: dead_letter.forward_to: expected a string, got a "
                     "list");
    ck_assert_str_eq(one_errorp("handlers:\n" HANDLER("h") "dead_letter: {forward_to: ''}\n"),
                     "eventrouter.yaml:5:27: dead_letter.forward_to: expected a string, got \"\"");

    /* The dump shows it and loads back. */
    ck_assert_int_eq(loadp("handlers:\n" HANDLER("h") "dead_letter: {forward_to: h}\n"), 0);
    f = open_memstream(&out, &len);
    ck_assert_int_eq(er__config_dump(cfg, f), 0);
    fclose(f);
    ck_assert_msg(strstr(out, "\ndead_letter:\n  forward_to: \"h\"\n") != NULL, "%s", out);
    ck_assert_msg(load(out) == 0, "%s", diag.count ? msg(0) : "");
    free(out);
    ck_assert_str_eq(cfg->dead_letter_to, "h");
    ck_assert_int_eq(load(""), 0);
    out = NULL;
    f = open_memstream(&out, &len);
    ck_assert_int_eq(er__config_dump(cfg, f), 0);
    fclose(f);
    ck_assert_msg(strstr(out, "\nroutes: []\n# dead_letter: not set\n") != NULL, "%s", out);
    free(out);
}
END_TEST

START_TEST(plugin_path_forms)
{
    ck_assert_int_eq(load("plugin_path: /a\n"), 0);
    ck_assert_str_eq(cfg->plugin_path[0], "/a");
    ck_assert_ptr_null(cfg->plugin_path[1]);
    ck_assert_int_eq(load("plugin_path: [/a, \"/b c\"]\n"), 0);
    ck_assert_str_eq(cfg->plugin_path[1], "/b c");
    ck_assert_str_eq(one_error("plugin_path: lib\n"),
                     "eventrouter.yaml:1:14: plugin_path: expected an absolute directory, got "
                     "\"lib\"");
    ck_assert_str_eq(one_error("plugin_path: [/a, lib]\n"),
                     "eventrouter.yaml:1:19: plugin_path[1]: expected an absolute directory, got "
                     "\"lib\"");
    ck_assert_str_eq(one_error("plugin_path: {a: b}\n"),
                     "eventrouter.yaml:1:14: plugin_path: expected a directory or a list of "
                     "directories, got a map");
}
END_TEST

START_TEST(many_errors_across_sections)
{
    ck_assert_int_eq(loadp("limits: {max_batch: 0}\n"
                           "handlers:\n"
                           "  good: {plugin: @P, endpoint: e}\n"
                           "  bad: {plugin: @P, count: 0}\n"
                           "routes:\n"
                           "  - match: {priority: urgent}\n"
                           "    to: [good, missing]\n"),
                     -EINVAL);
    ck_assert_uint_eq(diag.count, 5);
    ck_assert_str_eq(msg(0),
                     "eventrouter.yaml:1:21: limits.max_batch: must be between 1 and 65536, got 0");
    ck_assert_str_eq(msg(1),
                     "eventrouter.yaml:4:8: handlers.bad.endpoint: required key is missing");
    ck_assert_msg(strstr(msg(2), ": handlers.bad.count: must be between 1 and 1000, got 0") != NULL,
                  "%s", msg(2));
    ck_assert_str_eq(msg(3), "eventrouter.yaml:6:23: routes[0].match.priority: invalid priority "
                             "\"urgent\": expected one of low, normal, high, critical");
    ck_assert_str_eq(
        msg(4), "eventrouter.yaml:7:16: routes[0].to[1]: \"missing\" is not a declared handler");
}
END_TEST

START_TEST(dump_handlers_and_routes)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f;

    ck_assert_int_eq(loadp("plugin_path: [/opt/p]\n"
                           "handlers:\n"
                           "  h:\n"
                           "    plugin: @P\n"
                           "    endpoint: \"a$$b\"\n"
                           "    password: hunter2\n"
                           "    properties: {api_token: t0k, acks: all}\n"
                           "    retry: {multiplier: 1.5}\n"
                           "routes:\n"
                           "  - match: {type: [A, B], meta.k: v}\n"
                           "    to: h\n"
                           "    continue: yes\n"
                           "    retry: {max_attempts: 2}\n"
                           "  - match: \"*\"\n"
                           "    to: [h]\n"),
                     0);
    f = open_memstream(&out, &len);
    ck_assert_int_eq(er__config_dump(cfg, f), 0);
    fclose(f);
    ck_assert_msg(strstr(out, "hunter2") == NULL && strstr(out, "t0k") == NULL, "%s", out);
    ck_assert_msg(strstr(out, "\nplugin_path: [\"/opt/p\"]\nstore:\n  plugin: \"lmdb\"\n") != NULL,
                  "%s", out);
    ck_assert_msg(strstr(out, "\n  path: \"/var/lib/eventrouter\"\n  map_size: 64GiB\n") != NULL,
                  "%s", out);
    ck_assert_msg(strstr(out, "\nhandlers:\n  \"h\":\n    plugin: ") != NULL, "%s", out);
    ck_assert(strstr(out, "    window: 256\n    retry:\n      max_attempts: 5\n") != NULL);
    ck_assert(strstr(out, "      multiplier: 1.5\n      jitter: 0.2\n") != NULL);
    ck_assert(strstr(out, "    timeout: off\n") != NULL);
    ck_assert(strstr(out, "    endpoint: \"a$$b\"\n") != NULL);
    ck_assert(strstr(out, "    password: \"<redacted>\"\n") != NULL);
    ck_assert(strstr(out, "      \"api_token\": \"<redacted>\"\n") != NULL);
    ck_assert(strstr(out, "    # dir: not set\n") != NULL);
    ck_assert(strstr(out, "routes:\n  - match:\n      \"type\": [\"A\", \"B\"]\n      \"meta.k\": "
                          "[\"v\"]\n    to: [\"h\"]\n    continue: true\n    retry:\n      "
                          "max_attempts: 2\n") != NULL);
    ck_assert(strstr(out, "  - match: \"*\"\n    to: [\"h\"]\n    continue: false\n") != NULL);

    /* It loads back (the redacted secret becomes the text "<redacted>"). */
    ck_assert_msg(load(out) == 0, "%s", diag.count ? msg(0) : "");
    free(out);
    ck_assert_uint_eq(cfg->nhandlers, 1);
    ck_assert(cfg->handlers[0].retry.multiplier == 1.5);
    ck_assert_uint_eq(cfg->nroutes, 2);
    ck_assert(cfg->routes[0].cont);
    ck_assert_uint_eq(cfg->routes[0].retry.max_attempts, 2);
    ck_assert_str_eq(cfg->routes[0].keys[1].key, "meta.k");

    /* Nothing configured. */
    ck_assert_int_eq(load(""), 0);
    out = NULL;
    f = open_memstream(&out, &len);
    ck_assert_int_eq(er__config_dump(cfg, f), 0);
    fclose(f);
    ck_assert_msg(strstr(out, "\n# plugin_path: not set\nstore:\n  plugin: \"lmdb\"\n") != NULL,
                  "%s", out);
    ck_assert_msg(strstr(out, "\n  sync: batch\nhandlers: {}\nroutes: []\n") != NULL, "%s", out);
    free(out);
}
END_TEST

/* ============================================================== drop-ins */

/* Drop-ins are copies of built plugins in TMP/handlers.d (mode 0755),
 * their option files in TMP/handlers.conf.d. */
#define GOOD_PLUGIN TEST_PLUGIN_DIR "/good.so"
#define LOG_PLUGIN  ER_BUILDDIR "/plugins/handlers/log/.libs/log.so"

/* TMP/REL into buf. */
static const char *in_tmp(const char *rel, char *buf, size_t cap)
{
    ck_assert((size_t)snprintf(buf, cap, "%s/%s", tmpdir, rel) < cap);
    return buf;
}

static void make_dropin_dirs(void)
{
    char d[256];

    ck_assert_int_eq(mkdir(in_tmp("handlers.d", d, sizeof(d)), 0755), 0);
    ck_assert_int_eq(mkdir(in_tmp("handlers.conf.d", d, sizeof(d)), 0755), 0);
}

/* Copy src to TMP/REL with the given mode (no umask). */
static void copy_file(const char *src, const char *rel, mode_t mode)
{
    char dst[256], buf[65536];
    FILE *in = fopen(src, "rb"), *out;
    size_t n;

    ck_assert_msg(in != NULL, "%s: %s", src, strerror(errno));
    ck_assert_ptr_nonnull(out = fopen(in_tmp(rel, dst, sizeof(dst)), "wb"));
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
    ck_assert_int_eq(chmod(dst, mode), 0);
}

/* Write text to TMP/REL (mode 0644). */
static void write_file(const char *rel, const char *text)
{
    char p[256];
    FILE *f = fopen(in_tmp(rel, p, sizeof(p)), "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* Load a file whose first lines are handlers_dir and handlers_conf_dir
 * (values at 1:15 and 2:20), then `rest`. */
static int load_dropins(const char *rest)
{
    static char text[4096];

    snprintf(text, sizeof(text),
             "handlers_dir: %s/handlers.d\nhandlers_conf_dir: %s/handlers.conf.d\n%s", tmpdir,
             tmpdir, rest);
    return loadp(text);
}

/* load_dropins("") with exactly one error: that error. */
static const char *dropin_error(void)
{
    ck_assert_int_eq(load_dropins(""), -EINVAL);
    ck_assert_msg(diag.count == 1, "%zu errors, first: %s", diag.count, diag.count ? msg(0) : "");
    return msg(0);
}

static const er_handler_conf_t *handler_named(const char *name)
{
    size_t i;

    for (i = 0; i < cfg->nhandlers; i++)
        if (strcmp(cfg->handlers[i].name, name) == 0)
            return &cfg->handlers[i];
    ck_abort_msg("no handler %s", name);
    return NULL;
}

/* A copy of `fmt` with every "%T" the temp dir (for expected messages). */
static const char *expect(const char *fmt)
{
    static char buf[1024];
    const char *at;
    size_t o = 0;

    while ((at = strstr(fmt, "%T")) != NULL) {
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%.*s%s", (int)(at - fmt), fmt, tmpdir);
        fmt = at + 2;
    }
    snprintf(buf + o, sizeof(buf) - o, "%s", fmt);
    return buf;
}

START_TEST(dropin_with_defaults)
{
    const er_handler_conf_t *h;
    char so[256], d[256];
    const char *v;

    make_dropin_dirs();
    copy_file(GOOD_PLUGIN, "handlers.d/zeta.so", 0755);
    copy_file(GOOD_PLUGIN, "handlers.d/alpha.so", 0755);
    /* Not drop-ins: other names, hidden files, directories. */
    write_file("handlers.d/README", "not a plugin\n");
    write_file("handlers.d/alpha.so.bak", "not a plugin\n");
    write_file("handlers.d/.hidden.so", "not a plugin\n");
    ck_assert_int_eq(mkdir(in_tmp("handlers.d/sub.so", d, sizeof(d)), 0755), 0);
    ck_assert_msg(
        load_dropins("handlers:\n" HANDLER("events") "routes:\n"
                                                     "  - match: \"*\"\n    to: [alpha, events]\n"
                                                     "dead_letter: {forward_to: zeta}\n") == 0,
        "%s", diag.count ? msg(0) : "");
    /* The file's handlers first, then the drop-ins by name. */
    ck_assert_uint_eq(cfg->nhandlers, 3);
    ck_assert_str_eq(cfg->handlers[0].name, "events");
    ck_assert_ptr_null(cfg->handlers[0].dropin);
    ck_assert_str_eq(cfg->handlers[1].name, "alpha");
    ck_assert_str_eq(cfg->handlers[2].name, "zeta");
    h = handler_named("alpha");
    in_tmp("handlers.d/alpha.so", so, sizeof(so));
    ck_assert_str_eq(h->dropin, so);
    ck_assert_str_eq(h->plugin, so);
    ck_assert_ptr_null(h->dropin_conf);
    ck_assert_str_eq(h->pos.file, so);
    ck_assert_uint_eq(h->pos.line, 0);
    ck_assert_str_eq(h->lib->desc->name, "good");
    ck_assert_uint_eq(h->window, 256);
    ck_assert(!h->retry.set);
    ck_assert_uint_eq(h->retry.max_attempts, 5);
    ck_assert(h->subscribe);
    ck_assert_int_eq(er__opt_string(h->options, "greeting", &v), 0);
    ck_assert_str_eq(v, "hello");
    ck_assert_ptr_nonnull(h->fingerprint);
    ck_assert_str_eq(cfg->routes[0].to[0], "alpha");
    ck_assert_str_eq(cfg->dead_letter_to, "zeta");
    ck_assert_str_eq(cfg->handlers_dir, in_tmp("handlers.d", d, sizeof(d)));

    /* An empty directory: no drop-ins; without handlers_dir, none either
     * (handlers_conf_dir alone is not read). */
    ck_assert_int_eq(unlink(so), 0);
    ck_assert_int_eq(unlink(in_tmp("handlers.d/zeta.so", so, sizeof(so))), 0);
    ck_assert_int_eq(load_dropins(""), 0);
    ck_assert_uint_eq(cfg->nhandlers, 0);
    ck_assert_int_eq(load("handlers_conf_dir: /nonexistent\n"), 0);
    ck_assert_uint_eq(cfg->nhandlers, 0);
    ck_assert_ptr_null(cfg->handlers_dir);
}
END_TEST

START_TEST(dropin_with_options)
{
    const er_handler_conf_t *h;
    char conf[256];
    const char *v;

    make_dropin_dirs();
    copy_file(TEST_PLUGIN, "handlers.d/t.so", 0755);
    write_file("handlers.conf.d/t.yaml", "# the test handler\n"
                                         "endpoint: e1\n"
                                         "window: 8\n"
                                         "timeout: 2s\n"
                                         "retry: {max_attempts: 2}\n"
                                         "subscribe: false\n"
                                         "start: earliest\n"
                                         "label: x\n");
    ck_assert_msg(load_dropins("") == 0, "%s", diag.count ? msg(0) : "");
    ck_assert_uint_eq(cfg->nhandlers, 1);
    h = &cfg->handlers[0];
    ck_assert_str_eq(h->name, "t");
    ck_assert_str_eq(h->dropin_conf, in_tmp("handlers.conf.d/t.yaml", conf, sizeof(conf)));
    ck_assert_uint_eq(h->window, 8);
    ck_assert_uint_eq(h->timeout_ms, 2000);
    ck_assert(h->retry.set);
    ck_assert_uint_eq(h->retry.max_attempts, 2);
    ck_assert(!h->subscribe);
    ck_assert_int_eq(h->start, ER_START_EARLIEST);
    ck_assert_int_eq(er__opt_string(h->options, "endpoint", &v), 0);
    ck_assert_str_eq(v, "e1");
    ck_assert_int_eq(er__opt_string(h->options, "label", &v), 0);
    ck_assert_str_eq(v, "x");

    /* An empty option file is all defaults. */
    copy_file(GOOD_PLUGIN, "handlers.d/g.so", 0755);
    write_file("handlers.conf.d/g.yaml", "# nothing\n");
    ck_assert_msg(load_dropins("") == 0, "%s", diag.count ? msg(0) : "");
    ck_assert_uint_eq(cfg->nhandlers, 2);
    ck_assert_str_eq(cfg->handlers[0].name, "g");
    ck_assert_ptr_nonnull(cfg->handlers[0].dropin_conf);
    ck_assert_uint_eq(cfg->handlers[0].window, 256);
}
END_TEST

/* Errors in NAME.yaml point into NAME.yaml; a required option without a
 * file names the file that is missing. */
START_TEST(dropin_option_file_errors)
{
    make_dropin_dirs();
    copy_file(TEST_PLUGIN, "handlers.d/t.so", 0755);
    write_file("handlers.conf.d/t.yaml", "endpoint: e\n"
                                         "window: 0\n"
                                         "plugin: log\n"
                                         "count: 0\n"
                                         "retry: {initial: 1m}\n"
                                         "windw: 3\n");
    ck_assert_int_eq(load_dropins(""), -EINVAL);
    ck_assert_uint_eq(diag.count, 5);
    ck_assert_str_eq(msg(0), "handlers.conf.d/t.yaml:2:9: window: must be between 1 and 65536, "
                             "got 0");
    ck_assert_str_eq(msg(1), expect("handlers.conf.d/t.yaml:3:1: plugin: not allowed in a "
                                    "drop-in's option file (the plugin is %T/handlers.d/t.so)"));
    ck_assert_str_eq(msg(2), "handlers.conf.d/t.yaml:4:8: count: must be between 1 and 1000, "
                             "got 0");
    ck_assert_str_eq(msg(3), "handlers.conf.d/t.yaml:5:18: retry.initial: must be at most "
                             "retry.max (30s), got 1m");
    ck_assert_str_eq(msg(4), "handlers.conf.d/t.yaml:6:1: windw: unknown key (did you mean "
                             "\"window\"?)");

    /* YAML errors, and a file that is not a map. */
    write_file("handlers.conf.d/t.yaml", "endpoint: [e\n");
    ck_assert_str_eq(dropin_error(), "handlers.conf.d/t.yaml:2:1: YAML syntax error: did not find "
                                     "expected ',' or ']' (while parsing a flow sequence at line "
                                     "1, column 11)");
    write_file("handlers.conf.d/t.yaml", "- endpoint: e\n");
    ck_assert_int_eq(load_dropins(""), -EINVAL);
    ck_assert_str_eq(msg(0), "handlers.conf.d/t.yaml:1:1: expected a map of handler t's keys "
                             "(those of a handlers: entry but plugin), got a list");

    /* A required option and no file to give it; an empty file. */
    write_file("handlers.conf.d/t.yaml", "");
    ck_assert_str_eq(dropin_error(), "handlers.conf.d/t.yaml: endpoint: required key is missing");
    ck_assert_int_eq(unlink(expect("%T/handlers.conf.d/t.yaml")), 0);
    ck_assert_int_eq(load_dropins(""), -EINVAL);
    ck_assert_str_eq(msg(0), expect("eventrouter.yaml:1:15: handlers_dir: %T/handlers.d/t.so: "
                                    "option endpoint is required, and there is no "
                                    "%T/handlers.conf.d/t.yaml"));
    ck_assert_int_eq(load(expect("handlers_dir: %T/handlers.d\n")), -EINVAL);
    ck_assert_str_eq(msg(0), expect("eventrouter.yaml:1:15: handlers_dir: %T/handlers.d/t.so: "
                                    "option endpoint is required, and handlers_conf_dir is not "
                                    "set"));
}
END_TEST

START_TEST(dropin_name_clash)
{
    make_dropin_dirs();
    copy_file(GOOD_PLUGIN, "handlers.d/events.so", 0755);
    ck_assert_int_eq(
        load_dropins("handlers:\n" HANDLER("events") "routes:\n"
                                                     "  - match: \"*\"\n    to: events\n"),
        -EINVAL);
    ck_assert_msg(diag.count == 1, "%zu errors", diag.count);
    ck_assert_str_eq(msg(0), expect("eventrouter.yaml:1:15: handlers_dir: %T/handlers.d/events.so: "
                                    "drop-in handler \"events\" has the name of handlers.events "
                                    "(line 4): rename one of them"));
}
END_TEST

START_TEST(dropin_bad_names)
{
    char rel[128];

    make_dropin_dirs();
    copy_file(GOOD_PLUGIN, "handlers.d/bad name.so", 0755);
    memset(rel, 0, sizeof(rel));
    strcpy(rel, "handlers.d/");
    memset(rel + strlen(rel), 'x', 65);
    strcat(rel, ".so");
    copy_file(GOOD_PLUGIN, rel, 0755);
    copy_file(GOOD_PLUGIN, "handlers.d/ok.so", 0755);
    ck_assert_int_eq(load_dropins("routes:\n  - match: \"*\"\n    to: ok\n"), -EINVAL);
    ck_assert_uint_eq(diag.count, 2);
    ck_assert_str_eq(msg(0),
                     expect("eventrouter.yaml:1:15: handlers_dir: %T/handlers.d/bad name.so: "
                            "invalid handler name \"bad name\": a name is 1 to 64 of A-Z "
                            "a-z 0-9 _ . -"));
    ck_assert(strstr(msg(1), "/handlers.d/xxxxxxxxxx") != NULL);
    ck_assert(strstr(msg(1), ".so: invalid handler name \"xxxxxxxx") != NULL);
}
END_TEST

/* The checks sshd makes of its files, on the directory and each .so
 * (through symlinks); a refused file refuses the whole configuration. */
START_TEST(dropin_ownership)
{
    char d[256], target[256], link[256];

    make_dropin_dirs();
    copy_file(GOOD_PLUGIN, "handlers.d/evil.so", 0664);
    ck_assert_int_eq(load_dropins(""), -EINVAL);
    ck_assert_ptr_null(cfg);
    ck_assert_msg(diag.count == 1, "%zu errors", diag.count);
    ck_assert_str_eq(msg(0), expect("eventrouter.yaml:1:15: handlers_dir: %T/handlers.d/evil.so "
                                    "is group-writable (mode 0664): refusing to load it"));
    ck_assert_int_eq(chmod(expect("%T/handlers.d/evil.so"), 0646), 0);
    ck_assert_str_eq(dropin_error(), expect("eventrouter.yaml:1:15: handlers_dir: "
                                            "%T/handlers.d/evil.so is world-writable (mode 0646): "
                                            "refusing to load it"));
    ck_assert_int_eq(chmod(expect("%T/handlers.d/evil.so"), 0755), 0);
    ck_assert_int_eq(load_dropins(""), 0);

    /* A symlink is judged by its target, and both are named. */
    ck_assert_int_eq(mkdir(in_tmp("lib", d, sizeof(d)), 0755), 0);
    copy_file(GOOD_PLUGIN, "lib/real.so", 0664);
    ck_assert_int_eq(symlink(in_tmp("lib/real.so", target, sizeof(target)),
                             in_tmp("handlers.d/link.so", link, sizeof(link))),
                     0);
    ck_assert_str_eq(dropin_error(), expect("eventrouter.yaml:1:15: handlers_dir: "
                                            "%T/handlers.d/link.so -> %T/lib/real.so is "
                                            "group-writable (mode 0664): refusing to load it"));
    ck_assert_int_eq(chmod(target, 0755), 0);
    ck_assert_msg(load_dropins("") == 0, "%s", diag.count ? msg(0) : "");
    ck_assert_str_eq(handler_named("link")->lib->desc->name, "good");
    ck_assert_int_eq(unlink(link), 0);

    /* The directory. */
    ck_assert_int_eq(chmod(in_tmp("handlers.d", d, sizeof(d)), 0775), 0);
    ck_assert_str_eq(dropin_error(), expect("eventrouter.yaml:1:15: handlers_dir: %T/handlers.d "
                                            "is group-writable (mode 0775): refusing to load "
                                            "drop-ins from it"));
    ck_assert_int_eq(chmod(d, 0755), 0);

    /* The owner: root or the daemon's euid (chown needs root). */
    if (geteuid() != 0) {
        printf("SKIP: dropin_ownership: the owner checks need root\n");
        return;
    }
    ck_assert_int_eq(chown(expect("%T/handlers.d/evil.so"), 1, 0), 0);
    ck_assert_str_eq(dropin_error(), expect("eventrouter.yaml:1:15: handlers_dir: "
                                            "%T/handlers.d/evil.so is owned by uid 1 (mode 0755), "
                                            "not root: refusing to load it"));
    ck_assert_int_eq(chown(expect("%T/handlers.d/evil.so"), 0, 0), 0);
    ck_assert_int_eq(chown(d, 1, 0), 0);
    ck_assert_str_eq(dropin_error(), expect("eventrouter.yaml:1:15: handlers_dir: %T/handlers.d "
                                            "is owned by uid 1 (mode 0755), not root: refusing to "
                                            "load drop-ins from it"));
}
END_TEST

START_TEST(dropin_directories)
{
    make_dropin_dirs();
    ck_assert_str_eq(one_error(expect("handlers_dir: %T/nope\n")),
                     expect("eventrouter.yaml:1:15: handlers_dir: %T/nope: No such file or "
                            "directory"));
    write_file("file", "");
    ck_assert_str_eq(one_error(expect("handlers_dir: %T/file\n")),
                     expect("eventrouter.yaml:1:15: handlers_dir: %T/file: not a directory"));
    ck_assert_str_eq(one_error("handlers_dir: handlers.d\n"),
                     "eventrouter.yaml:1:15: handlers_dir: expected an absolute directory, got "
                     "\"handlers.d\"");
    ck_assert_str_eq(one_error(expect("handlers_dir: %T/handlers.d\nhandlers_conf_dir: %T/nope\n")),
                     expect("eventrouter.yaml:2:20: handlers_conf_dir: %T/nope: No such file or "
                            "directory"));
    ck_assert_str_eq(one_error("handlers_dir:\n"),
                     "eventrouter.yaml:1:14: handlers_dir: expected a path, got an empty value");
}
END_TEST

/* A regular file that is no shared object, a broken symlink, a handler
 * directory holding a store plugin: refused, naming the file. */
START_TEST(dropin_not_a_plugin)
{
    char link[256];
    const char *m;

    make_dropin_dirs();
    write_file("handlers.d/junk.so", "not an ELF file\n");
    m = dropin_error();
    ck_assert_msg(strstr(m, expect("eventrouter.yaml:1:15: handlers_dir: %T/handlers.d/junk.so: "
                                   "cannot load: ")) == m,
                  "%s", m);
    ck_assert_int_eq(unlink(expect("%T/handlers.d/junk.so")), 0);
    ck_assert_int_eq(symlink("/nonexistent.so", in_tmp("handlers.d/gone.so", link, sizeof(link))),
                     0);
    ck_assert_str_eq(dropin_error(), expect("eventrouter.yaml:1:15: handlers_dir: "
                                            "%T/handlers.d/gone.so: No such file or directory"));
    ck_assert_int_eq(unlink(link), 0);
    copy_file(ER_BUILDDIR "/plugins/stores/memory/.libs/memory.so", "handlers.d/mem.so", 0755);
    m = dropin_error();
    ck_assert_msg(
        strstr(m, expect("eventrouter.yaml:1:15: handlers_dir: %T/handlers.d/mem.so: ")) == m, "%s",
        m);
}
END_TEST

/* A drop-in's fingerprint: the same files give the same text; a replaced
 * .so (another inode, mtime or size) or a changed option is a change. */
START_TEST(dropin_fingerprints)
{
    char *first, so[256], tmp[256];
    struct timespec times[2] = {{0, UTIME_OMIT}, {1000000000, 0}};

    make_dropin_dirs();
    copy_file(TEST_PLUGIN, "handlers.d/t.so", 0755);
    write_file("handlers.conf.d/t.yaml", "endpoint: e\n");
    ck_assert_int_eq(load_dropins(""), 0);
    first = strdup(cfg->handlers[0].fingerprint);
    ck_assert(strstr(first, expect("\"so\":\"%T/handlers.d/t.so\"")) != NULL);
    ck_assert_int_eq(load_dropins(""), 0);
    ck_assert_str_eq(cfg->handlers[0].fingerprint, first);
    /* Same values, other spelling: unchanged. */
    write_file("handlers.conf.d/t.yaml", "# a comment\nendpoint: \"e\"\nwindow: 256\n");
    ck_assert_int_eq(load_dropins(""), 0);
    ck_assert_str_eq(cfg->handlers[0].fingerprint, first);
    /* An option. */
    write_file("handlers.conf.d/t.yaml", "endpoint: f\n");
    ck_assert_int_eq(load_dropins(""), 0);
    ck_assert_str_ne(cfg->handlers[0].fingerprint, first);
    write_file("handlers.conf.d/t.yaml", "endpoint: e\n");
    ck_assert_int_eq(load_dropins(""), 0);
    ck_assert_str_eq(cfg->handlers[0].fingerprint, first);
    /* The file's mtime. */
    in_tmp("handlers.d/t.so", so, sizeof(so));
    ck_assert_int_eq(utimensat(AT_FDCWD, so, times, 0), 0);
    ck_assert_int_eq(load_dropins(""), 0);
    ck_assert_str_ne(cfg->handlers[0].fingerprint, first);
    free(first);
    first = strdup(cfg->handlers[0].fingerprint);
    /* The same bytes, replaced by rename with the same mtime: another inode. */
    er__config_free(cfg);
    cfg = NULL;
    copy_file(TEST_PLUGIN, "handlers.d/t.so.new", 0755);
    ck_assert_int_eq(utimensat(AT_FDCWD, in_tmp("handlers.d/t.so.new", tmp, sizeof(tmp)), times, 0),
                     0);
    ck_assert_int_eq(rename(tmp, so), 0);
    ck_assert_int_eq(load_dropins(""), 0);
    ck_assert_str_ne(cfg->handlers[0].fingerprint, first);
    free(first);
}
END_TEST

START_TEST(dropin_dump)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f;

    make_dropin_dirs();
    copy_file(GOOD_PLUGIN, "handlers.d/g.so", 0755);
    copy_file(TEST_PLUGIN, "handlers.d/t.so", 0755);
    write_file("handlers.conf.d/t.yaml", "endpoint: e\npassword: hunter2\n");
    ck_assert_int_eq(load_dropins(""), 0);
    f = open_memstream(&out, &len);
    ck_assert_int_eq(er__config_dump(cfg, f), 0);
    fclose(f);
    ck_assert_msg(strstr(out, expect("\nhandlers_dir: \"%T/handlers.d\"\nhandlers_conf_dir: "
                                     "\"%T/handlers.conf.d\"\n")) != NULL,
                  "%s", out);
    ck_assert_msg(strstr(out, expect("\n  \"g\":\n    # drop-in from handlers_dir, options from "
                                     "(none: defaults)\n    plugin: \"%T/handlers.d/g.so\"\n")) !=
                      NULL,
                  "%s", out);
    ck_assert_msg(strstr(out, expect("\n  \"t\":\n    # drop-in from handlers_dir, options from "
                                     "%T/handlers.conf.d/t.yaml\n")) != NULL,
                  "%s", out);
    ck_assert(strstr(out, "hunter2") == NULL);
    free(out);
    ck_assert_int_eq(load(""), 0);
    out = NULL;
    f = open_memstream(&out, &len);
    ck_assert_int_eq(er__config_dump(cfg, f), 0);
    fclose(f);
    ck_assert_msg(strstr(out, "\n# handlers_dir: not set\n") != NULL, "%s", out);
    free(out);
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
    tcase_add_test(tc, store_block);
    tcase_add_test(tc, several_errors_at_once);
    tcase_add_test(tc, unreadable_files);
    tcase_add_test(tc, dump_loads_back);
    tcase_add_test(tc, handler_defaults);
    tcase_add_test(tc, handler_every_key);
    tcase_add_test(tc, handler_errors);
    tcase_add_test(tc, handler_shape_errors);
    tcase_add_test(tc, plugin_load_errors);
    tcase_add_test(tc, fingerprints);
    tcase_add_test(tc, routes_hybrid_example);
    tcase_add_test(tc, route_errors);
    tcase_add_test(tc, dead_letter_forward_to);
    tcase_add_test(tc, acl_rules);
    tcase_add_test(tc, plugin_path_forms);
    tcase_add_test(tc, many_errors_across_sections);
    tcase_add_test(tc, dump_handlers_and_routes);
    tcase_add_test(tc, dropin_with_defaults);
    tcase_add_test(tc, dropin_with_options);
    tcase_add_test(tc, dropin_option_file_errors);
    tcase_add_test(tc, dropin_name_clash);
    tcase_add_test(tc, dropin_bad_names);
    tcase_add_test(tc, dropin_ownership);
    tcase_add_test(tc, dropin_directories);
    tcase_add_test(tc, dropin_not_a_plugin);
    tcase_add_test(tc, dropin_fingerprints);
    tcase_add_test(tc, dropin_dump);
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
