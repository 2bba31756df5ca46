/*
 * Unit tests of the schema tables (lib/schema.c) on a table that uses every
 * type and flag: typing from raw text (modes, bools vs strings, durations
 * and sizes with every unit), bounds, required keys, unknown and refused
 * keys, `*_file` secrets and their redaction, pass-through maps, help text,
 * the redacted dump (and that it loads back), and the table self-check.
 * Messages and positions are asserted exactly.
 */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "schema.h"

/* ------------------------------------------------------------ the table */

typedef struct server_s {
    char *host;
    uint64_t port;
    char *password;
} server_t;

typedef struct target_s {
    char *name;
    char *path;
    char *label;
    bool flag;
    int64_t offset;
    uint64_t count;
    uint64_t timeout_ms;
    uint64_t idle_ms;
    uint64_t buf;
    uint64_t limit;
    unsigned mode;
    int color;
    er_strlist_t tags;
    er_conf_tree_t *props;
    server_t server;
} target_t;

static const char *const colors[] = {"red", "green", "blue", NULL};

static int level_value(const char *w)
{
    return strcmp(w, "low") == 0 ? 10 : strcmp(w, "high") == 0 ? 20 : -1;
}

static const char *const levels[] = {"low", "high", NULL};

static const er_schema_entry_t server_entries[] = {
    {.key = "host",
     .type = ER_SCHEMA_STRING,
     .def = "localhost",
     .offset = offsetof(server_t, host),
     .desc = "server host"},
    {.key = "port",
     .type = ER_SCHEMA_UINT,
     .def = "6379",
     .min = 1,
     .max = 65535,
     .offset = offsetof(server_t, port),
     .desc = "server port"},
    {.key = "password",
     .type = ER_SCHEMA_STRING,
     .flags = ER_SCHEMA_SECRET | ER_SCHEMA_REQUIRED,
     .max = 64,
     .offset = offsetof(server_t, password),
     .desc = "server password"},
};
static const er_schema_t server_schema = {server_entries, ER_SCHEMA_COUNT(server_entries)};

static const er_schema_entry_t entries[] = {
    {.key = "name",
     .type = ER_SCHEMA_STRING,
     .flags = ER_SCHEMA_REQUIRED,
     .offset = offsetof(target_t, name),
     .desc = "a name"},
    {.key = "path",
     .type = ER_SCHEMA_PATH,
     .def = "/var/lib/x",
     .offset = offsetof(target_t, path),
     .desc = "a path"},
    {.key = "label",
     .type = ER_SCHEMA_STRING,
     .flags = ER_SCHEMA_EMPTY,
     .max = 8,
     .offset = offsetof(target_t, label),
     .desc = "a short label"},
    {.key = "flag",
     .type = ER_SCHEMA_BOOL,
     .def = "off",
     .offset = offsetof(target_t, flag),
     .desc = "a flag"},
    {.key = "offset",
     .type = ER_SCHEMA_INT,
     .def = "0",
     .imin = -10,
     .imax = 10,
     .offset = offsetof(target_t, offset),
     .desc = "a signed number"},
    {.key = "count",
     .type = ER_SCHEMA_UINT,
     .def = "5",
     .min = 1,
     .max = 100,
     .offset = offsetof(target_t, count),
     .desc = "a count"},
    {.key = "timeout",
     .type = ER_SCHEMA_DURATION,
     .def = "30s",
     .min = 100,
     .max = 2 * 86400000,
     .offset = offsetof(target_t, timeout_ms),
     .desc = "a timeout"},
    {.key = "idle",
     .type = ER_SCHEMA_DURATION,
     .flags = ER_SCHEMA_OFF,
     .def = "off",
     .min = 1000,
     .offset = offsetof(target_t, idle_ms),
     .desc = "an optional timeout"},
    {.key = "buf",
     .type = ER_SCHEMA_SIZE,
     .def = "64KiB",
     .min = 1024,
     .max = 1ull << 30,
     .offset = offsetof(target_t, buf),
     .desc = "a buffer size"},
    {.key = "limit",
     .type = ER_SCHEMA_SIZE,
     .flags = ER_SCHEMA_OFF,
     .def = "0",
     .offset = offsetof(target_t, limit),
     .desc = "an unbounded size"},
    {.key = "mode",
     .type = ER_SCHEMA_MODE,
     .def = "0640",
     .max = 0777,
     .offset = offsetof(target_t, mode),
     .desc = "a file mode"},
    {.key = "color",
     .type = ER_SCHEMA_ENUM,
     .def = "green",
     .choices = colors,
     .offset = offsetof(target_t, color),
     .desc = "a color"},
    {.key = "tags",
     .type = ER_SCHEMA_STRLIST,
     .max = 3,
     .offset = offsetof(target_t, tags),
     .desc = "some tags"},
    {.key = "properties",
     .type = ER_SCHEMA_MAP,
     .offset = offsetof(target_t, props),
     .desc = "passed through"},
    {.key = "server",
     .type = ER_SCHEMA_SECTION,
     .section = &server_schema,
     .offset = offsetof(target_t, server),
     .desc = "a server"},
    {.key = "future", .type = ER_SCHEMA_REFUSED, .desc = "a later feature"},
};
static const er_schema_t schema = {entries, ER_SCHEMA_COUNT(entries)};

/* --------------------------------------------------------------- helpers */

static er_diag_t diag;
static er_conf_tree_t *tree;
static target_t t;
static char tmpdir[64];

static void setup(void)
{
    er__diag_init(&diag);
    tree = NULL;
    memset(&t, 0, sizeof(t));
    strcpy(tmpdir, "/tmp/check_schema.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];

    er__schema_free(&schema, &t);
    er__conf_tree_free(tree);
    er__diag_free(&diag);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/*
 * Load text as "t.yaml" and apply the table to a fresh target. The
 * required keys are given unless the text names them, so tests show only
 * what they are about.
 */
static int apply(const char *text)
{
    int rc;

    er__schema_free(&schema, &t);
    er__conf_tree_free(tree);
    tree = NULL;
    er__diag_free(&diag);
    rc = er__conf_load_string("t.yaml", text, strlen(text), &tree, &diag);
    ck_assert_msg(rc == 0, "load failed: %s", diag.count ? diag.items[0].msg : "?");
    return er__schema_apply(&schema, tree, &t, &diag);
}

static const char *msg(size_t i)
{
    static char buf[1024];

    ck_assert_msg(i < diag.count, "only %zu errors", diag.count);
    er__diag_format(&diag, i, buf, sizeof(buf));
    return buf;
}

/* Apply "KEY: VALUE" (with the required keys) and return the one error. */
static const char *one_error(const char *key, const char *value)
{
    char text[512];

    snprintf(text, sizeof(text), "name: n\nserver: {password: p}\n%s: %s\n", key, value);
    ck_assert_int_eq(apply(text), -EINVAL);
    ck_assert_msg(diag.count == 1, "%zu errors, first %s", diag.count, msg(0));
    return msg(0);
}

static void ok(const char *key, const char *value)
{
    char text[512];

    snprintf(text, sizeof(text), "name: n\nserver: {password: p}\n%s: %s\n", key, value);
    ck_assert_msg(apply(text) == 0, "%s: %s: %s", key, value, diag.count ? msg(0) : "");
}

static char *write_file(const char *name, const char *content)
{
    static char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(content, f);
    fclose(f);
    return path;
}

/* ============================================================== defaults */

START_TEST(defaults)
{
    ck_assert_int_eq(apply("name: x\nserver:\n  password: p\n"), 0);
    ck_assert_str_eq(t.name, "x");
    ck_assert_str_eq(t.path, "/var/lib/x");
    ck_assert_ptr_null(t.label);
    ck_assert(!t.flag);
    ck_assert_int_eq(t.offset, 0);
    ck_assert_uint_eq(t.count, 5);
    ck_assert_uint_eq(t.timeout_ms, 30000);
    ck_assert_uint_eq(t.idle_ms, 0);
    ck_assert_uint_eq(t.buf, 65536);
    ck_assert_uint_eq(t.mode, 0640);
    ck_assert_int_eq(t.color, 1);
    ck_assert_uint_eq(t.tags.count, 0);
    ck_assert_ptr_null(t.props);
    ck_assert_str_eq(t.server.host, "localhost");
    ck_assert_uint_eq(t.server.port, 6379);
    ck_assert_str_eq(t.server.password, "p");
}
END_TEST

START_TEST(required_keys)
{
    /* An empty file: reported for the whole file. */
    ck_assert_int_eq(apply(""), -EINVAL);
    ck_assert_uint_eq(diag.count, 2);
    ck_assert_str_eq(msg(0), "t.yaml: name: required key is missing");
    ck_assert_str_eq(msg(1),
                     "t.yaml: server.password: required key is missing (or give password_file)");
    /* Defaults are still filled. */
    ck_assert_uint_eq(t.server.port, 6379);

    /* At the position of the map that lacks them. */
    ck_assert_int_eq(apply("\ncount: 3\nserver:\n    host: h\n"), -EINVAL);
    ck_assert_uint_eq(diag.count, 2);
    ck_assert_str_eq(msg(0), "t.yaml:2:1: name: required key is missing");
    ck_assert_str_eq(
        msg(1), "t.yaml:4:5: server.password: required key is missing (or give password_file)");

    /* A section written as nothing is an empty section. */
    ck_assert_int_eq(apply("name: n\nserver:\n"), -EINVAL);
    ck_assert_str_eq(
        msg(0), "t.yaml:2:8: server.password: required key is missing (or give password_file)");
}
END_TEST

/* ================================================================ typing */

START_TEST(strings_stay_strings)
{
    ck_assert_int_eq(apply("name: on\nserver: {password: 0660, host: no}\npath: ~\n"), 0);
    ck_assert_str_eq(t.name, "on");
    ck_assert_str_eq(t.server.password, "0660");
    ck_assert_str_eq(t.server.host, "no");
    ck_assert_str_eq(t.path, "~");
    ok("label", "''");
    ck_assert_str_eq(t.label, "");
    ck_assert_int_eq(apply("name:\nserver: {password: p}\n"), -EINVAL);
    ck_assert_str_eq(msg(0), "t.yaml:1:6: name: expected a string, got an empty value");
    ck_assert_str_eq(one_error("path", "''"), "t.yaml:3:7: path: expected a path, got \"\"");
    ck_assert_str_eq(one_error("label", "{a: 1}"),
                     "t.yaml:3:8: label: expected a string, got a map");
    ck_assert_str_eq(one_error("label", "[a]"), "t.yaml:3:8: label: expected a string, got a list");
    ck_assert_str_eq(one_error("label", "123456789"),
                     "t.yaml:3:8: label: must be at most 8 bytes long, got 9 bytes");
}
END_TEST

START_TEST(bools)
{
    static const char *const yes[] = {"true", "yes", "on", "\"on\""};
    static const char *const no[] = {"false", "no", "off", "'off'"};
    size_t i;

    for (i = 0; i < 4; i++) {
        ok("flag", yes[i]);
        ck_assert(t.flag);
        ok("flag", no[i]);
        ck_assert(!t.flag);
    }
    ck_assert_str_eq(one_error("flag", "True"),
                     "t.yaml:3:7: flag: expected true or false (or yes/no, on/off), got \"True\"");
    ck_assert_str_eq(one_error("flag", "1"),
                     "t.yaml:3:7: flag: expected true or false (or yes/no, on/off), got \"1\"");
    ck_assert_str_eq(one_error("flag", "y"),
                     "t.yaml:3:7: flag: expected true or false (or yes/no, on/off), got \"y\"");
}
END_TEST

START_TEST(integers)
{
    ok("count", "100");
    ck_assert_uint_eq(t.count, 100);
    ok("count", "\"7\"");
    ck_assert_uint_eq(t.count, 7);
    ok("offset", "-10");
    ck_assert_int_eq(t.offset, -10);
    ck_assert_str_eq(one_error("count", "0"),
                     "t.yaml:3:8: count: must be between 1 and 100, got 0");
    ck_assert_str_eq(one_error("count", "101"),
                     "t.yaml:3:8: count: must be between 1 and 100, got 101");
    ck_assert_str_eq(one_error("count", "010"),
                     "t.yaml:3:8: count: expected a non-negative integer, got \"010\"");
    ck_assert_str_eq(one_error("count", "-1"),
                     "t.yaml:3:8: count: expected a non-negative integer, got \"-1\"");
    ck_assert_str_eq(one_error("count", "1e2"),
                     "t.yaml:3:8: count: expected a non-negative integer, got \"1e2\"");
    ck_assert_str_eq(one_error("count", "99999999999999999999"),
                     "t.yaml:3:8: count: must be between 1 and 100, got 99999999999999999999");
    ck_assert_str_eq(one_error("offset", "11"),
                     "t.yaml:3:9: offset: must be between -10 and 10, got 11");
    ck_assert_str_eq(one_error("offset", "+1"),
                     "t.yaml:3:9: offset: expected an integer, got \"+1\"");
}
END_TEST

START_TEST(modes)
{
    ok("mode", "0660");
    ck_assert_uint_eq(t.mode, 0660);
    ok("mode", "\"0600\"");
    ck_assert_uint_eq(t.mode, 0600);
    ok("mode", "'0644'");
    ck_assert_uint_eq(t.mode, 0644);
    ok("mode", "660");
    ck_assert_uint_eq(t.mode, 0660);
    ok("mode", "0");
    ck_assert_uint_eq(t.mode, 0);
    ck_assert_str_eq(
        one_error("mode", "0888"),
        "t.yaml:3:7: mode: expected an octal file mode such as \"0660\", got \"0888\"");
    ck_assert_str_eq(one_error("mode", "rw-rw----"),
                     "t.yaml:3:7: mode: expected an octal file mode such as \"0660\", "
                     "got \"rw-rw----\"");
    ck_assert_str_eq(
        one_error("mode", "0o660"),
        "t.yaml:3:7: mode: expected an octal file mode such as \"0660\", got \"0o660\"");
    ck_assert_str_eq(one_error("mode", "01777"),
                     "t.yaml:3:7: mode: must be at most 0777, got 01777");
}
END_TEST

START_TEST(durations)
{
    static const struct {
        const char *text;
        uint64_t ms;
    } good[] = {
        {"100ms", 100},     {"30s", 30000},     {"5m", 300000},
        {"2h", 7200000},    {"1d", 86400000},   {"1h30m", 5400000},
        {"1m500ms", 60500}, {"\"45s\"", 45000}, {"1d2h3m4s5ms", 93784005},
    };
    static const char *const bad[] = {"100",   "1.5s", "30 s", "s",    "1m1h",
                                      "10sec", "1S",   "-1s",  "1h1h", "ms"};
    size_t i;
    char expect[256];

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ok("timeout", good[i].text);
        ck_assert_uint_eq(t.timeout_ms, good[i].ms);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(expect, sizeof(expect),
                 "t.yaml:3:10: timeout: expected a duration such as 30s (units d, h, m, s, ms), "
                 "got \"%s\"",
                 bad[i]);
        ck_assert_str_eq(one_error("timeout", bad[i]), expect);
    }
    ck_assert_str_eq(one_error("timeout", "50ms"),
                     "t.yaml:3:10: timeout: must be between 100ms and 2d, got 50ms");
    ck_assert_str_eq(one_error("timeout", "0"),
                     "t.yaml:3:10: timeout: must be between 100ms and 2d, got 0");
    ck_assert_str_eq(one_error("timeout", "off"), "t.yaml:3:10: timeout: expected a duration such "
                                                  "as 30s (units d, h, m, s, ms), got \"off\"");
    ck_assert_str_eq(one_error("timeout", "999999999999999999d"),
                     "t.yaml:3:10: timeout: must be between 100ms and 2d, got 999999999999999999d");
    /* off where allowed; its bounds do not apply to off. */
    ok("idle", "10s");
    ck_assert_uint_eq(t.idle_ms, 10000);
    ok("idle", "off");
    ck_assert_uint_eq(t.idle_ms, 0);
    ck_assert_str_eq(one_error("idle", "500ms"),
                     "t.yaml:3:7: idle: must be at least 1s, got 500ms");
    ck_assert_str_eq(one_error("idle", "on"), "t.yaml:3:7: idle: expected a duration such as 30s "
                                              "(units d, h, m, s, ms) or off, got \"on\"");
}
END_TEST

START_TEST(sizes)
{
    static const struct {
        const char *text;
        uint64_t bytes;
    } good[] = {
        {"1024", 1024},       {"2048B", 2048}, {"64KiB", 64ull << 10}, {"10MiB", 10ull << 20},
        {"1GiB", 1ull << 30}, {"2KB", 2000},   {"3MB", 3000000},       {"1GB", 1000000000},
    };
    static const char *const bad[] = {"lots",  "1.5MiB", "1 MiB", "1mib",  "1K",
                                      "01MiB", "-1KiB",  "MiB",   "1KiBB", "1k"};
    size_t i;
    char expect[256];

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ok("buf", good[i].text);
        ck_assert_uint_eq(t.buf, good[i].bytes);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(expect, sizeof(expect),
                 "t.yaml:3:6: buf: expected a size such as 1MiB, got \"%s\"", bad[i]);
        ck_assert_str_eq(one_error("buf", bad[i]), expect);
    }
    ck_assert_str_eq(one_error("buf", "512"),
                     "t.yaml:3:6: buf: must be between 1KiB and 1GiB, got 512");
    ck_assert_str_eq(one_error("buf", "2GiB"),
                     "t.yaml:3:6: buf: must be between 1KiB and 1GiB, got 2GiB");
    /* Unbounded: the largest units, and overflow. */
    ok("limit", "2TiB");
    ck_assert_uint_eq(t.limit, 2ull << 40);
    ok("limit", "5TB");
    ck_assert_uint_eq(t.limit, 5000000000000ull);
    ok("limit", "off");
    ck_assert_uint_eq(t.limit, 0);
    ck_assert_str_eq(one_error("limit", "99999999TiB"),
                     "t.yaml:3:8: limit: \"99999999TiB\" is too large");
    ck_assert_str_eq(one_error("limit", "x"),
                     "t.yaml:3:8: limit: expected a size such as 1MiB or off, got \"x\"");
}
END_TEST

START_TEST(enums)
{
    ok("color", "blue");
    ck_assert_int_eq(t.color, 2);
    ok("color", "red");
    ck_assert_int_eq(t.color, 0);
    ck_assert_str_eq(one_error("color", "Red"),
                     "t.yaml:3:8: color: expected one of red, green, blue, got \"Red\"");
    ck_assert_str_eq(one_error("color", "[red]"),
                     "t.yaml:3:8: color: expected one of red, green, blue, got a list");
}
END_TEST

START_TEST(string_lists)
{
    ok("tags", "[a, \"b c\", on]");
    ck_assert_uint_eq(t.tags.count, 3);
    ck_assert_str_eq(t.tags.items[0], "a");
    ck_assert_str_eq(t.tags.items[1], "b c");
    ck_assert_str_eq(t.tags.items[2], "on");
    ok("tags", "");
    ck_assert_uint_eq(t.tags.count, 0);
    ok("tags", "[]");
    ck_assert_uint_eq(t.tags.count, 0);
    ck_assert_str_eq(one_error("tags", "a"),
                     "t.yaml:3:7: tags: expected a list of strings, got \"a\"");
    ck_assert_str_eq(one_error("tags", "[a, {b: 1}]"),
                     "t.yaml:3:11: tags[1]: expected a non-empty string, got a map");
    ck_assert_str_eq(one_error("tags", "[a, '']"),
                     "t.yaml:3:11: tags[1]: expected a non-empty string, got an empty one");
    ck_assert_str_eq(one_error("tags", "[a, b, c, d]"),
                     "t.yaml:3:7: tags: must have at most 3 items, got 4");
}
END_TEST

START_TEST(pass_through_map)
{
    const er_conf_node_t *v;

    ok("properties", "\n  linger.ms: 5\n  nested: {x: [1]}\n");
    ck_assert_ptr_nonnull(t.props);
    /* A copy: the loaded tree may go. */
    er__conf_tree_free(tree);
    tree = NULL;
    v = er__conf_map_get(t.props->root, "linger.ms");
    ck_assert_str_eq(v->text, "5");
    ck_assert_uint_eq(v->pos.line, 4);
    ck_assert_uint_eq(v->pos.col, 14);
    ck_assert_str_eq(v->pos.file, "t.yaml");
    ck_assert_str_eq(one_error("properties", "[1]"),
                     "t.yaml:3:13: properties: expected a map, got a list");
}
END_TEST

/* ============================================================ key checks */

START_TEST(unknown_and_refused_keys)
{
    ck_assert_int_eq(apply("name: n\n"
                           "server:\n"
                           "  password: p\n"
                           "  prot: 1\n"
                           "  database: 2\n"
                           "coutn: 3\n"
                           "future:\n"
                           "  anything: [1]\n"
                           "zzz: 1\n"),
                     -EINVAL);
    ck_assert_uint_eq(diag.count, 5);
    ck_assert_str_eq(msg(0), "t.yaml:4:3: server.prot: unknown key (did you mean \"port\"?)");
    ck_assert_str_eq(msg(1), "t.yaml:5:3: server.database: unknown key");
    ck_assert_str_eq(msg(2), "t.yaml:6:1: coutn: unknown key (did you mean \"count\"?)");
    ck_assert_str_eq(msg(3), "t.yaml:7:1: future: not supported in this version");
    ck_assert_str_eq(msg(4), "t.yaml:9:1: zzz: unknown key");
    /* A non-secret key has no _file form. */
    ck_assert_str_eq(one_error("name_file", "/x"), "t.yaml:3:1: name_file: unknown key");
}
END_TEST

START_TEST(wrong_shapes)
{
    ck_assert_int_eq(apply("name: n\nserver: x\n"), -EINVAL);
    ck_assert_uint_eq(diag.count, 2);
    ck_assert_str_eq(msg(0), "t.yaml:2:9: server: expected a map, got \"x\"");
    ck_assert_str_eq(
        msg(1), "t.yaml:2:9: server.password: required key is missing (or give password_file)");
    ck_assert_int_eq(apply("- a\n"), -EINVAL);
    ck_assert_str_eq(msg(0), "t.yaml:1:1: the top level: expected a map, got a list");
    ck_assert_int_eq(apply("just text\n"), -EINVAL);
    ck_assert_str_eq(msg(0), "t.yaml:1:1: the top level: expected a map, got a scalar");
}
END_TEST

START_TEST(collects_all_errors_sorted)
{
    ck_assert_int_eq(apply("server:\n"
                           "  port: 0\n"
                           "  password_file: /nonexistent/pw\n"
                           "count: x\n"
                           "buf: lots\n"
                           "mode: 999\n"
                           "future: 1\n"),
                     -EINVAL);
    ck_assert_uint_eq(diag.count, 7);
    ck_assert_str_eq(msg(0), "t.yaml:1:1: name: required key is missing");
    ck_assert_str_eq(msg(1), "t.yaml:2:9: server.port: must be between 1 and 65535, got 0");
    ck_assert_str_eq(msg(2), "t.yaml:3:18: server.password_file: cannot open \"/nonexistent/pw\": "
                             "No such file or directory");
    ck_assert_str_eq(msg(3), "t.yaml:4:8: count: expected a non-negative integer, got \"x\"");
    ck_assert_str_eq(msg(4), "t.yaml:5:6: buf: expected a size such as 1MiB, got \"lots\"");
    ck_assert_str_eq(msg(5),
                     "t.yaml:6:7: mode: expected an octal file mode such as \"0660\", got \"999\"");
    ck_assert_str_eq(msg(6), "t.yaml:7:1: future: not supported in this version");
}
END_TEST

/* =============================================================== secrets */

START_TEST(secret_from_file)
{
    char text[256];

    snprintf(text, sizeof(text), "name: n\nserver:\n  password_file: %s\n",
             write_file("pw", "s3cr3t\n"));
    ck_assert_int_eq(apply(text), 0);
    ck_assert_str_eq(t.server.password, "s3cr3t");

    /* Only one trailing newline goes (CRLF too); inner ones stay. */
    snprintf(text, sizeof(text), "name: n\nserver:\n  password_file: %s\n",
             write_file("pw2", "two\nlines\r\n"));
    ck_assert_int_eq(apply(text), 0);
    ck_assert_str_eq(t.server.password, "two\nlines");

    /* The path itself may use ${VAR}. */
    setenv("ER_T_DIR", tmpdir, 1);
    ck_assert_int_eq(apply("name: n\nserver:\n  password_file: ${ER_T_DIR}/pw\n"), 0);
    ck_assert_str_eq(t.server.password, "s3cr3t");
    unsetenv("ER_T_DIR");
}
END_TEST

START_TEST(secret_errors)
{
    char text[512], *path;

    path = write_file("pw", "x\n");
    snprintf(text, sizeof(text), "name: n\nserver:\n  password: inline\n  password_file: %s\n",
             path);
    ck_assert_int_eq(apply(text), -EINVAL);
    ck_assert_uint_eq(diag.count, 1);
    ck_assert_str_eq(msg(0), "t.yaml:4:3: server.password: give password or password_file, "
                             "not both");

    snprintf(text, sizeof(text), "name: n\nserver:\n  password_file: %s\n  password: inline\n",
             path);
    ck_assert_int_eq(apply(text), -EINVAL);
    ck_assert_str_eq(msg(0), "t.yaml:4:3: server.password: give password or password_file, "
                             "not both");

    ck_assert_int_eq(apply("name: n\nserver:\n  password_file: /nonexistent/pw\n"), -EINVAL);
    ck_assert_str_eq(msg(0), "t.yaml:3:18: server.password_file: cannot open \"/nonexistent/pw\": "
                             "No such file or directory");

    path = write_file("empty", "\n");
    snprintf(text, sizeof(text), "name: n\nserver:\n  password_file: %s\n", path);
    ck_assert_int_eq(apply(text), -EINVAL);
    ck_assert(strstr(msg(0), "t.yaml:3:18: server.password_file: \"") == msg(0));
    ck_assert(strstr(msg(0), "/empty\" is empty") != NULL);

    ck_assert_int_eq(apply("name: n\nserver:\n  password_file: ''\n"), -EINVAL);
    ck_assert_str_eq(msg(0), "t.yaml:3:18: server.password_file: expected a path, got an empty "
                             "value");

    ck_assert_int_eq(apply("name: n\nserver:\n  password_file: [a]\n"), -EINVAL);
    ck_assert_str_eq(msg(0), "t.yaml:3:18: server.password_file: expected a path, got a list");

    /* Bounds name the length, never the secret. */
    path = write_file("long",
                      "0123456789012345678901234567890123456789012345678901234567890123456789");
    snprintf(text, sizeof(text), "name: n\nserver:\n  password_file: %s\n", path);
    ck_assert_int_eq(apply(text), -EINVAL);
    ck_assert(strstr(msg(0), "must be at most 64 bytes long, got 70 bytes") != NULL);
    ck_assert(strstr(msg(0), "0123456789") == NULL);
    ck_assert_int_eq(
        apply("name: n\nserver:\n  password: "
              "0123456789012345678901234567890123456789012345678901234567890123456789\n"),
        -EINVAL);
    ck_assert_str_eq(msg(0),
                     "t.yaml:3:13: server.password: must be at most 64 bytes long, got 70 bytes");
    ck_assert_int_eq(apply("name: n\nserver:\n  password: ''\n"), -EINVAL);
    ck_assert_str_eq(msg(0), "t.yaml:3:13: server.password: expected a string, got a value (not "
                             "shown: secret)");
}
END_TEST

/* ===================================================== help, dump, check */

START_TEST(help_text)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    ck_assert_int_eq(er__schema_help(&schema, f), 0);
    fclose(f);
    ck_assert_msg(strstr(out, "name (string, required)\n    a name\n") == out, "%s", out);
    ck_assert(strstr(out, "\nbuf (size, default 64KiB, between 1KiB and 1GiB)\n    a buffer "
                          "size\n") != NULL);
    ck_assert(strstr(out, "\nidle (duration, default off, at least 1s)\n") != NULL);
    ck_assert(strstr(out, "\nmode (file mode, default 0640, at most 0777)\n") != NULL);
    ck_assert(strstr(out, "\ncolor (enum: red, green, blue, default green)\n") != NULL);
    ck_assert(strstr(out, "\ntags (list of strings, at most 3 items)\n") != NULL);
    ck_assert(strstr(out, "\nserver.port (integer, default 6379, between 1 and 65535)\n") != NULL);
    ck_assert(strstr(out, "\nserver.password (string, required, secret: or password_file: FILE, "
                          "at most 64 bytes)\n") != NULL);
    ck_assert(strstr(out, "\nfuture (not supported in this version)\n    a later feature\n") !=
              NULL);
    free(out);
}
END_TEST

START_TEST(dump_redacts_and_round_trips)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f;
    target_t again;

    ck_assert_int_eq(apply("name: \"a \\\"q\\\" $$HOME\"\n"
                           "tags: [x, y]\n"
                           "idle: 90s\n"
                           "buf: 1536KiB\n"
                           "mode: 0600\n"
                           "color: blue\n"
                           "properties:\n"
                           "  sasl.password: hunter2\n"
                           "  linger.ms: 5\n"
                           "server:\n"
                           "  password: hunter2\n"),
                     0);
    ck_assert_str_eq(t.name, "a \"q\" $HOME");
    f = open_memstream(&out, &len);
    ck_assert_int_eq(er__schema_dump(&schema, &t, f), 0);
    fclose(f);
    ck_assert_msg(strstr(out, "hunter2") == NULL, "secret in dump:\n%s", out);
    ck_assert_str_eq(out, "name: \"a \\\"q\\\" $$HOME\"\n"
                          "path: \"/var/lib/x\"\n"
                          "# label: not set\n"
                          "flag: false\n"
                          "offset: 0\n"
                          "count: 5\n"
                          "timeout: 30s\n"
                          "idle: 1m30s\n"
                          "buf: 1536KiB\n"
                          "limit: off\n"
                          "mode: \"0600\"\n"
                          "color: blue\n"
                          "tags: [\"x\", \"y\"]\n"
                          "properties:\n"
                          "  \"sasl.password\": \"<redacted>\"\n"
                          "  \"linger.ms\": \"5\"\n"
                          "server:\n"
                          "  host: \"localhost\"\n"
                          "  port: 6379\n"
                          "  password: \"<redacted>\"\n");

    /* What it prints loads back to the same values (secrets aside). */
    er__conf_tree_free(tree);
    tree = NULL;
    ck_assert_int_eq(er__conf_load_string("dump.yaml", out, len, &tree, &diag), 0);
    memset(&again, 0, sizeof(again));
    ck_assert_int_eq(er__schema_apply(&schema, tree, &again, &diag), 0);
    ck_assert_str_eq(again.name, t.name);
    ck_assert_uint_eq(again.idle_ms, t.idle_ms);
    ck_assert_uint_eq(again.buf, t.buf);
    ck_assert_uint_eq(again.mode, t.mode);
    ck_assert_int_eq(again.color, t.color);
    ck_assert_uint_eq(again.tags.count, 2);
    ck_assert_str_eq(again.server.password, "<redacted>");
    er__schema_free(&schema, &again);
    free(out);
}
END_TEST

START_TEST(table_self_check)
{
    static const er_schema_entry_t bad_default[] = {
        {.key = "a", .type = ER_SCHEMA_SIZE, .def = "lots", .desc = "d"}};
    static const er_schema_entry_t out_of_bounds[] = {
        {.key = "a", .type = ER_SCHEMA_UINT, .def = "0", .min = 1, .desc = "d"}};
    static const er_schema_entry_t twice[] = {{.key = "a", .type = ER_SCHEMA_BOOL, .desc = "d"},
                                              {.key = "a", .type = ER_SCHEMA_BOOL, .desc = "d"}};
    static const er_schema_entry_t clash[] = {
        {.key = "pw", .type = ER_SCHEMA_STRING, .flags = ER_SCHEMA_SECRET, .desc = "d"},
        {.key = "pw_file", .type = ER_SCHEMA_PATH, .desc = "d"}};
    static const er_schema_entry_t no_choices[] = {
        {.key = "e", .type = ER_SCHEMA_ENUM, .desc = "d"}};
    static const er_schema_entry_t secret_bool[] = {
        {.key = "b", .type = ER_SCHEMA_BOOL, .flags = ER_SCHEMA_SECRET, .desc = "d"}};
    static const er_schema_entry_t bad_value[] = {{.key = "l",
                                                   .type = ER_SCHEMA_ENUM,
                                                   .choices = levels,
                                                   .enum_value = level_value,
                                                   .def = "low",
                                                   .desc = "d"},
                                                  {.key = "m",
                                                   .type = ER_SCHEMA_ENUM,
                                                   .choices = colors,
                                                   .enum_value = level_value,
                                                   .desc = "d"}};
    static const er_schema_entry_t no_desc[] = {{.key = "a", .type = ER_SCHEMA_BOOL}};
#define CHECK(table, expect)                                                                       \
    do {                                                                                           \
        er_schema_t s_ = {table, ER_SCHEMA_COUNT(table)};                                          \
        ck_assert_int_eq(er__schema_check(&s_, err, sizeof(err)), -EINVAL);                        \
        ck_assert_str_eq(err, expect);                                                             \
    } while (0)
    char err[256];

    ck_assert_int_eq(er__schema_check(&schema, err, sizeof(err)), 0);
    CHECK(bad_default, "a: default \"lots\" does not parse (Invalid argument)");
    CHECK(out_of_bounds, "a: default \"0\" does not parse (Numerical result out of range)");
    CHECK(twice, "a: key declared twice");
    CHECK(clash, "pw_file: clashes with the secret pw");
    CHECK(no_choices, "e: enum without choices");
    CHECK(secret_bool, "b: only strings and paths can be secret");
    CHECK(bad_value, "m: choice red has no value");
    CHECK(no_desc, "a: no description");
#undef CHECK
}
END_TEST

START_TEST(enum_values_from_a_function)
{
    static const er_schema_entry_t e[] = {{.key = "level",
                                           .type = ER_SCHEMA_ENUM,
                                           .choices = levels,
                                           .enum_value = level_value,
                                           .def = "low",
                                           .desc = "d"}};
    er_schema_t s = {e, 1};
    int level = 0;

    ck_assert_int_eq(er__conf_load_string("t.yaml", "level: high\n", 12, &tree, &diag), 0);
    ck_assert_int_eq(er__schema_apply(&s, tree, &level, &diag), 0);
    ck_assert_int_eq(level, 20);
    ck_assert_int_eq(er__schema_apply(&s, NULL, &level, &diag), 0);
    ck_assert_int_eq(level, 10);
    ck_assert_ptr_eq(er__schema_find(&schema, "count"), &entries[5]);
    ck_assert_ptr_null(er__schema_find(&schema, "nope"));
}
END_TEST

/* ====================================================== parsers directly */

START_TEST(parsers_and_formatters)
{
    uint64_t u;
    int64_t i;
    unsigned m;
    bool b;
    char buf[64];

    ck_assert_int_eq(er__parse_uint("18446744073709551615", &u), 0);
    ck_assert_uint_eq(u, UINT64_MAX);
    ck_assert_int_eq(er__parse_uint("18446744073709551616", &u), -ERANGE);
    ck_assert_int_eq(er__parse_uint("", &u), -EINVAL);
    ck_assert_int_eq(er__parse_int("-9223372036854775808", &i), 0);
    ck_assert_int_eq(i, INT64_MIN);
    ck_assert_int_eq(er__parse_int("9223372036854775808", &i), -ERANGE);
    ck_assert_int_eq(er__parse_int("-", &i), -EINVAL);
    ck_assert_int_eq(er__parse_bool("off", &b), 0);
    ck_assert(!b);
    ck_assert_int_eq(er__parse_bool("", &b), -EINVAL);
    ck_assert_int_eq(er__parse_duration("0", &u), 0);
    ck_assert_uint_eq(u, 0);
    ck_assert_int_eq(er__parse_duration("", &u), -EINVAL);
    ck_assert_int_eq(er__parse_duration("0s", &u), 0);
    ck_assert_int_eq(er__parse_duration("213503982335d", &u), -ERANGE);
    ck_assert_int_eq(er__parse_duration("213503982334d", &u), 0);
    ck_assert_int_eq(er__parse_duration("off", &u), -EINVAL);
    ck_assert_int_eq(er__parse_size("0", &u), 0);
    ck_assert_int_eq(er__parse_size("16777216TiB", &u), -ERANGE);
    ck_assert_int_eq(er__parse_size("16777215TiB", &u), 0);
    ck_assert_int_eq(er__parse_mode("7777", &m), 0);
    ck_assert_uint_eq(m, 07777);
    ck_assert_int_eq(er__parse_mode("10000", &m), -ERANGE);
    ck_assert_int_eq(er__parse_mode("000660", &m), -EINVAL);
    ck_assert_int_eq(er__parse_mode("", &m), -EINVAL);

    er__format_size(1ull << 20, buf, sizeof(buf));
    ck_assert_str_eq(buf, "1MiB");
    er__format_size(1536ull << 10, buf, sizeof(buf));
    ck_assert_str_eq(buf, "1536KiB");
    er__format_size(3000000, buf, sizeof(buf));
    ck_assert_str_eq(buf, "3MB");
    er__format_size(1000001, buf, sizeof(buf));
    ck_assert_str_eq(buf, "1000001B");
    er__format_size(0, buf, sizeof(buf));
    ck_assert_str_eq(buf, "0");
    er__format_duration(5400000, buf, sizeof(buf));
    ck_assert_str_eq(buf, "1h30m");
    er__format_duration(93784005, buf, sizeof(buf));
    ck_assert_str_eq(buf, "1d2h3m4s5ms");
    er__format_duration(0, buf, sizeof(buf));
    ck_assert_str_eq(buf, "0");
    ck_assert_int_eq(er__format_duration(93784005, buf, 4), 11);
    ck_assert_str_eq(buf, "1d2");
}
END_TEST

/* ====================================== numbers, custom keys, tree defaults */

typedef struct extra_s {
    double ratio;
    double any;
    er_strlist_t tags;
    er_conf_tree_t *props;
} extra_t;

static const er_schema_entry_t extra_entries[] = {
    {.key = "ratio",
     .type = ER_SCHEMA_DOUBLE,
     .def = "0.5",
     .dmin = 0,
     .dmax = 1,
     .offset = offsetof(extra_t, ratio),
     .desc = "a fraction"},
    {.key = "any",
     .type = ER_SCHEMA_DOUBLE,
     .def = "2",
     .offset = offsetof(extra_t, any),
     .desc = "any number"},
    {.key = "tags",
     .type = ER_SCHEMA_STRLIST,
     .def = "[x, y]",
     .max = 3,
     .offset = offsetof(extra_t, tags),
     .desc = "tags"},
    {.key = "props",
     .type = ER_SCHEMA_MAP,
     .flags = ER_SCHEMA_SCALARS,
     .def = "{k: v}",
     .offset = offsetof(extra_t, props),
     .desc = "flat map"},
    {.key = "custom", .type = ER_SCHEMA_CUSTOM, .desc = "the caller's"},
};
static const er_schema_t extra_schema = {extra_entries, ER_SCHEMA_COUNT(extra_entries)};

/* Apply text to a fresh extra_t; the one error (or "" when none). */
static const char *apply_extra(const char *text, extra_t *e)
{
    er__schema_free(&extra_schema, e);
    memset(e, 0, sizeof(*e));
    er__conf_tree_free(tree);
    tree = NULL;
    er__diag_free(&diag);
    ck_assert_int_eq(er__conf_load_string("t.yaml", text, strlen(text), &tree, &diag), 0);
    if (er__schema_apply(&extra_schema, tree, e, &diag) == 0)
        return "";
    ck_assert_uint_eq(diag.count, 1);
    return msg(0);
}

START_TEST(numbers_custom_keys_and_tree_defaults)
{
    extra_t e;
    char err[256], *out = NULL;
    size_t len = 0;
    FILE *f;

    memset(&e, 0, sizeof(e));
    ck_assert_str_eq(apply_extra("", &e), "");
    ck_assert(e.ratio == 0.5);
    ck_assert(e.any == 2);
    ck_assert_uint_eq(e.tags.count, 2);
    ck_assert_str_eq(e.tags.items[1], "y");
    ck_assert_str_eq(er__conf_map_get(e.props->root, "k")->text, "v");

    ck_assert_str_eq(apply_extra("ratio: 1\nany: -3.25\ntags: []\nprops: {a: \"1\"}\n"
                                 "custom: [anything, {at: all}]\n",
                                 &e),
                     "");
    ck_assert(e.ratio == 1);
    ck_assert(e.any == -3.25);
    ck_assert_uint_eq(e.tags.count, 0);
    ck_assert_ptr_null(er__conf_map_get(e.props->root, "k"));

    ck_assert_str_eq(apply_extra("ratio: 1.5\n", &e),
                     "t.yaml:1:8: ratio: must be between 0 and 1, got 1.5");
    ck_assert_str_eq(apply_extra("ratio: 1e-3\n", &e),
                     "t.yaml:1:8: ratio: expected a number such as 1.5, got \"1e-3\"");
    ck_assert_str_eq(apply_extra("ratio: .5\n", &e),
                     "t.yaml:1:8: ratio: expected a number such as 1.5, got \".5\"");
    ck_assert_str_eq(apply_extra("any: 01.5\n", &e),
                     "t.yaml:1:6: any: expected a number such as 1.5, got \"01.5\"");
    ck_assert_str_eq(apply_extra("any: 1.\n", &e),
                     "t.yaml:1:6: any: expected a number such as 1.5, got \"1.\"");
    ck_assert_str_eq(apply_extra("props: {a: [b]}\n", &e),
                     "t.yaml:1:12: props.a: expected a string, got a list");
    ck_assert_str_eq(apply_extra("props:\n  a:\n", &e),
                     "t.yaml:2:5: props.a: expected a string, got an empty value");
    ck_assert_str_eq(apply_extra("cusotm: 1\n", &e),
                     "t.yaml:1:1: cusotm: unknown key (did you mean \"custom\"?)");

    /* The dump shows numbers read back exactly, and no custom key. */
    ck_assert_str_eq(apply_extra("ratio: 0.1\nany: 100\ncustom: 1\n", &e), "");
    f = open_memstream(&out, &len);
    ck_assert_int_eq(er__schema_dump(&extra_schema, &e, f), 0);
    fclose(f);
    ck_assert_str_eq(out, "ratio: 0.1\nany: 100\ntags: [\"x\", \"y\"]\nprops:\n  \"k\": \"v\"\n");
    free(out);
    er__schema_free(&extra_schema, &e);

    /* Help shows the tree defaults. */
    out = NULL;
    f = open_memstream(&out, &len);
    ck_assert_int_eq(er__schema_help(&extra_schema, f), 0);
    fclose(f);
    ck_assert_msg(strstr(out, "ratio (number, default 0.5, between 0 and 1)\n") != NULL, "%s", out);
    ck_assert(strstr(out, "tags (list of strings, default [x, y], at most 3 items)\n") != NULL);
    ck_assert(strstr(out, "custom (see the manual)\n") != NULL);
    free(out);

    ck_assert_msg(er__schema_check(&extra_schema, err, sizeof(err)) == 0, "%s", err);
}
END_TEST

START_TEST(new_table_checks)
{
    static const struct {
        er_schema_entry_t e;
        const char *error;
    } cases[] = {
        {{.key = "d", .type = ER_SCHEMA_DOUBLE, .def = "2", .dmin = 0, .dmax = 1, .desc = "x"},
         "d: default \"2\" does not parse (Numerical result out of range)"},
        {{.key = "d", .type = ER_SCHEMA_DOUBLE, .def = "1e3", .desc = "x"},
         "d: default \"1e3\" does not parse (Invalid argument)"},
        {{.key = "s", .type = ER_SCHEMA_STRING, .flags = ER_SCHEMA_SCALARS, .desc = "x"},
         "s: only maps can be maps of scalars"},
        {{.key = "c", .type = ER_SCHEMA_CUSTOM, .def = "1", .desc = "x"},
         "c: this type takes no default"},
        {{.key = "l", .type = ER_SCHEMA_STRLIST, .def = "a: b", .desc = "x"},
         "l: default \"a: b\" does not parse"},
        {{.key = "l", .type = ER_SCHEMA_STRLIST, .def = "[a, b]", .max = 1, .desc = "x"},
         "l: default \"[a, b]\" does not parse"},
        {{.key = "m", .type = ER_SCHEMA_MAP, .def = "[", .desc = "x"},
         "m: default \"[\" does not parse"},
    };
    char err[256];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        er_schema_t one = {&cases[i].e, 1};
        err[0] = '\0';
        ck_assert_int_eq(er__schema_check(&one, err, sizeof(err)), -EINVAL);
        ck_assert_str_eq(err, cases[i].error);
    }
}
END_TEST

START_TEST(doubles)
{
    static const struct {
        const char *text;
        int rc;
        double value;
    } parse[] = {
        {"0", 0, 0},         {"2", 0, 2},          {"0.25", 0, 0.25},   {"-1.5", 0, -1.5},
        {"-0", 0, 0},        {"10.0", 0, 10},      {"", -EINVAL, 0},    {"-", -EINVAL, 0},
        {"+1", -EINVAL, 0},  {"01", -EINVAL, 0},   {"1.", -EINVAL, 0},  {".5", -EINVAL, 0},
        {"1e3", -EINVAL, 0}, {"0x10", -EINVAL, 0}, {"inf", -EINVAL, 0}, {"nan", -EINVAL, 0},
        {" 1", -EINVAL, 0},  {"1 ", -EINVAL, 0},
    };
    static const struct {
        double value;
        const char *text;
    } format[] = {
        {2, "2"},
        {0.2, "0.2"},
        {1.5, "1.5"},
        {100, "100"},
        {0, "0"},
        {-2.5, "-2.5"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1e20, "100000000000000000000"},
        {1e-20, "0.00000000000000000001"},
    };
    char buf[ER_DOUBLE_TEXT_MAX];
    double d;
    size_t i;

    for (i = 0; i < sizeof(parse) / sizeof(parse[0]); i++) {
        d = -99;
        ck_assert_msg(er__parse_double(parse[i].text, &d) == parse[i].rc, "\"%s\"", parse[i].text);
        if (parse[i].rc == 0)
            ck_assert_msg(d == parse[i].value, "\"%s\" read as %g", parse[i].text, d);
    }
    ck_assert_int_eq(er__parse_double("1"
                                      "000000000000000000000000000000000000000000000000000000000"
                                      "00000000000000000000000000000000000000000000000000000000000"
                                      "00000000000000000000000000000000000000000000000000000000000"
                                      "00000000000000000000000000000000000000000000000000000000000"
                                      "00000000000000000000000000000000000000000000000000000000000"
                                      "0000000000000000000000000000000000000000000000000000000000",
                                      &d),
                     -ERANGE);
    for (i = 0; i < sizeof(format) / sizeof(format[0]); i++) {
        er__format_double(format[i].value, buf, sizeof(buf));
        ck_assert_str_eq(buf, format[i].text);
        ck_assert_int_eq(er__parse_double(buf, &d), 0);
        ck_assert(d == format[i].value);
    }
    /* The extremes fit and read back. */
    ck_assert_int_lt(er__format_double(-1.7976931348623157e308, buf, sizeof(buf)),
                     ER_DOUBLE_TEXT_MAX);
    ck_assert_int_eq(er__parse_double(buf, &d), 0);
    ck_assert(d == -1.7976931348623157e308);
    er__format_double(2.2250738585072014e-308, buf, sizeof(buf));
    ck_assert_int_eq(er__parse_double(buf, &d), 0);
    ck_assert(d == 2.2250738585072014e-308);
}
END_TEST

static Suite *schema_suite(void)
{
    Suite *s = suite_create("schema");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, required_keys);
    tcase_add_test(tc, strings_stay_strings);
    tcase_add_test(tc, bools);
    tcase_add_test(tc, integers);
    tcase_add_test(tc, modes);
    tcase_add_test(tc, durations);
    tcase_add_test(tc, sizes);
    tcase_add_test(tc, enums);
    tcase_add_test(tc, string_lists);
    tcase_add_test(tc, pass_through_map);
    tcase_add_test(tc, unknown_and_refused_keys);
    tcase_add_test(tc, wrong_shapes);
    tcase_add_test(tc, collects_all_errors_sorted);
    tcase_add_test(tc, secret_from_file);
    tcase_add_test(tc, secret_errors);
    tcase_add_test(tc, help_text);
    tcase_add_test(tc, dump_redacts_and_round_trips);
    tcase_add_test(tc, table_self_check);
    tcase_add_test(tc, enum_values_from_a_function);
    tcase_add_test(tc, parsers_and_formatters);
    tcase_add_test(tc, numbers_custom_keys_and_tree_defaults);
    tcase_add_test(tc, new_table_checks);
    tcase_add_test(tc, doubles);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(schema_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
