/*
 * Unit tests of plugin options (lib/options.c) on a table with an option of
 * every ABI type and flag: typing from raw text (a string keeps "0660" and
 * "on"; only booleans read on/off), defaults typed by the same code (lists
 * and maps from YAML flow text), bounds, required keys, enum choices, flat
 * maps, KEY_file secrets, unknown keys with suggestions, the host's keys
 * skipped, every getter's errors, equality, the JSON and YAML dumps with
 * secrets redacted, the canonical text, help, and the table self-check.
 * Messages and positions are asserted exactly.
 */
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "options.h"

static const er_option_t table[] = {
    {.key = "endpoint",
     .type = ER_OPTION_STRING,
     .flags = ER_OPTION_REQUIRED,
     .description = "where to connect"},
    {.key = "label",
     .type = ER_OPTION_STRING,
     .def = "main",
     .min = 1,
     .max = 8,
     .description = "a short label"},
    {.key = "dir", .type = ER_OPTION_PATH, .description = "a directory"},
    {.key = "verbose", .type = ER_OPTION_BOOL, .def = "no", .description = "talk more"},
    {.key = "level",
     .type = ER_OPTION_INT,
     .def = "-1",
     .min = -10,
     .max = 10,
     .description = "a signed level"},
    {.key = "count",
     .type = ER_OPTION_UINT,
     .def = "10",
     .min = 1,
     .max = 1000,
     .description = "a count"},
    {.key = "delay",
     .type = ER_OPTION_DURATION,
     .def = "1s500ms",
     .max = 3600000,
     .description = "a delay"},
    {.key = "buffer",
     .type = ER_OPTION_SIZE,
     .def = "64KiB",
     .min = 1024,
     .max = 1 << 30,
     .description = "a buffer"},
    {.key = "mode",
     .type = ER_OPTION_ENUM,
     .def = "safe",
     .choices = "fast|safe|paranoid",
     .description = "how careful"},
    {.key = "tags", .type = ER_OPTION_LIST, .def = "[a, b]", .description = "tags"},
    {.key = "hosts", .type = ER_OPTION_LIST, .max = 3, .description = "at most 3 hosts"},
    {.key = "properties", .type = ER_OPTION_MAP, .description = "pass-through"},
    {.key = "headers", .type = ER_OPTION_MAP, .def = "{x: y}", .description = "headers"},
    {.key = "password",
     .type = ER_OPTION_STRING,
     .flags = ER_OPTION_SECRET,
     .description = "a password"},
    {.key = NULL},
};

static const char *const host_keys[] = {"plugin", "timeout", "window", "retry", NULL};

static er_diag_t diag;
static er_conf_tree_t *tree;
static er_options_t *opts;
static char tmpdir[64];

static void setup(void)
{
    er__diag_init(&diag);
    tree = NULL;
    opts = NULL;
    strcpy(tmpdir, "/tmp/check_options.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char cmd[128];

    er__options_free(opts);
    er__conf_tree_free(tree);
    er__diag_free(&diag);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Load text as "opts.yaml" and build the options from its root map. */
static int build_with(const er_option_t *t, const char *text)
{
    er__options_free(opts);
    opts = NULL;
    er__conf_tree_free(tree);
    tree = NULL;
    er__diag_free(&diag);
    ck_assert_int_eq(er__conf_load_string("opts.yaml", text, strlen(text), &tree, &diag), 0);
    return er__options_build(t, tree->root, host_keys, "handlers.h", &opts, &diag);
}

static int build(const char *text)
{
    return build_with(table, text);
}

static const char *msg(size_t i)
{
    static char buf[512];

    ck_assert_msg(i < diag.count, "only %zu errors", diag.count);
    er__diag_format(&diag, i, buf, sizeof(buf));
    return buf;
}

static const char *one_error(const char *text)
{
    ck_assert_int_eq(build(text), -EINVAL);
    ck_assert_ptr_null(opts);
    ck_assert_msg(diag.count == 1, "%zu errors, first: %s", diag.count, diag.count ? msg(0) : "");
    return msg(0);
}

/* ============================================================ the table */

START_TEST(table_is_sound)
{
    char err[256] = "";

    ck_assert_msg(er__options_check_table(table, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(er__options_check_table(NULL, err, sizeof(err)), 0);
}
END_TEST

START_TEST(bad_tables_are_refused)
{
    static const struct {
        er_option_t opt;
        const char *error;
    } cases[] = {
        {{.key = "", .type = ER_OPTION_STRING, .description = "d"}, "an option has no key"},
        {{.key = "a b", .type = ER_OPTION_STRING, .description = "d"},
         "a b: a key is 1 to 64 of A-Z a-z 0-9 _ -"},
        {{.key = "k", .type = (er_option_type_t)42, .description = "d"}, "k: unknown type 42"},
        {{.key = "k", .type = ER_OPTION_STRING, .flags = 8, .description = "d"},
         "k: unknown flags 0x8"},
        {{.key = "k", .type = ER_OPTION_ENUM, .description = "d"},
         "k: an enum needs choices (\"a|b|c\")"},
        {{.key = "k", .type = ER_OPTION_ENUM, .choices = "a||b", .description = "d"},
         "k: empty word in choices \"a||b\""},
        {{.key = "k", .type = ER_OPTION_ENUM, .choices = "a|b|a", .description = "d"},
         "k: choice \"a\" listed twice"},
        {{.key = "k", .type = ER_OPTION_STRING, .choices = "a|b", .description = "d"},
         "k: choices on an option that is not an enum"},
        {{.key = "k", .type = ER_OPTION_BOOL, .min = 0, .max = 1, .description = "d"},
         "k: bounds on an option of a type that has none"},
        {{.key = "k", .type = ER_OPTION_UINT, .min = -1, .max = 5, .description = "d"},
         "k: negative bound on an unsigned quantity"},
        {{.key = "k", .type = ER_OPTION_INT, .flags = ER_OPTION_SECRET, .description = "d"},
         "k: only strings and paths can be secret"},
        {{.key = "k",
          .type = ER_OPTION_STRING,
          .flags = ER_OPTION_REQUIRED,
          .def = "x",
          .description = "d"},
         "k: required and with a default"},
        {{.key = "k", .type = ER_OPTION_UINT, .def = "ten", .description = "d"},
         "k: default \"ten\" does not parse (Invalid argument)"},
        {{.key = "k", .type = ER_OPTION_UINT, .def = "50", .min = 1, .max = 10, .description = "d"},
         "k: default \"50\" does not parse (Numerical result out of range)"},
        {{.key = "k", .type = ER_OPTION_LIST, .def = "{a: b}", .description = "d"},
         "k: default \"{a: b}\" does not parse"},
        {{.key = "k", .type = ER_OPTION_MAP, .def = "{a: [b]}", .description = "d"},
         "k: default \"{a: [b]}\" does not parse"},
        {{.key = "k", .type = ER_OPTION_STRING}, "k: no description"},
    };
    er_option_t t[2];
    char err[256];
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(t, 0, sizeof(t));
        t[0] = cases[i].opt;
        err[0] = '\0';
        ck_assert_int_eq(er__options_check_table(t, err, sizeof(err)), -EINVAL);
        ck_assert_str_eq(err, cases[i].error);
    }
}
END_TEST

START_TEST(duplicate_and_clashing_keys)
{
    er_option_t dup[] = {
        {.key = "a", .type = ER_OPTION_STRING, .description = "d"},
        {.key = "a", .type = ER_OPTION_BOOL, .description = "d"},
        {.key = NULL},
    };
    er_option_t clash[] = {
        {.key = "pw", .type = ER_OPTION_STRING, .flags = ER_OPTION_SECRET, .description = "d"},
        {.key = "pw_file", .type = ER_OPTION_PATH, .description = "d"},
        {.key = NULL},
    };
    er_option_t host[] = {
        {.key = "window", .type = ER_OPTION_UINT, .description = "d"},
        {.key = NULL},
    };
    char err[256];

    ck_assert_int_eq(er__options_check_table(dup, err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "a: key declared twice");
    ck_assert_int_eq(er__options_check_table(clash, err, sizeof(err)), -EINVAL);
    ck_assert_str_eq(err, "pw_file: clashes with the secret pw");

    /* Building against a bad table is one error at the block. */
    ck_assert_int_eq(build_with(dup, "a: x\n"), -EINVAL);
    ck_assert_str_eq(msg(0), "opts.yaml:1:1: handlers.h: the plugin's option table is invalid: "
                             "a: key declared twice");
    /* An option may not take a host key's name. */
    ck_assert_int_eq(er__options_check_table(host, err, sizeof(err)), 0);
    ck_assert_int_eq(build_with(host, "window: 3\n"), -EINVAL);
    ck_assert_str_eq(msg(0), "opts.yaml:1:1: handlers.h: the plugin's option table is invalid: "
                             "window: clashes with the host's key of that name");
}
END_TEST

/* ============================================================ building */

START_TEST(defaults_and_getters)
{
    const char *s;
    int64_t i;
    uint64_t u;
    bool b;
    size_t pos = 0;
    const char *k, *v;

    ck_assert_int_eq(build("endpoint: e\n"), 0);
    ck_assert_uint_eq(diag.count, 0);
    ck_assert_int_eq(er__opt_string(opts, "endpoint", &s), 0);
    ck_assert_str_eq(s, "e");
    ck_assert_int_eq(er__opt_string(opts, "label", &s), 0);
    ck_assert_str_eq(s, "main");
    ck_assert_int_eq(er__opt_bool(opts, "verbose", &b), 0);
    ck_assert(!b);
    ck_assert_int_eq(er__opt_int(opts, "level", &i), 0);
    ck_assert_int_eq(i, -1);
    ck_assert_int_eq(er__opt_uint(opts, "count", &u), 0);
    ck_assert_uint_eq(u, 10);
    ck_assert_int_eq(er__opt_uint(opts, "delay", &u), 0);
    ck_assert_uint_eq(u, 1500);
    ck_assert_int_eq(er__opt_uint(opts, "buffer", &u), 0);
    ck_assert_uint_eq(u, 65536);
    ck_assert_int_eq(er__opt_string(opts, "mode", &s), 0);
    ck_assert_str_eq(s, "safe");
    ck_assert_int_eq(er__opt_list(opts, "tags", 0, &s), 0);
    ck_assert_str_eq(s, "a");
    ck_assert_int_eq(er__opt_list(opts, "tags", 1, &s), 0);
    ck_assert_str_eq(s, "b");
    ck_assert_int_eq(er__opt_list(opts, "tags", 2, &s), -ERANGE);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(er__opt_map_next(opts, "headers", &pos, &k, &v), 1);
    ck_assert_str_eq(k, "x");
    ck_assert_str_eq(v, "y");
    ck_assert_int_eq(er__opt_map_next(opts, "headers", &pos, &k, &v), 0);

    /* Absent without default: NULL / 0 and -ENODATA. */
    s = "x";
    ck_assert_int_eq(er__opt_string(opts, "dir", &s), -ENODATA);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(er__opt_string(opts, "password", &s), -ENODATA);
    ck_assert_int_eq(er__opt_list(opts, "hosts", 0, &s), -ENODATA);
    pos = 0;
    ck_assert_int_eq(er__opt_map_next(opts, "properties", &pos, &k, &v), -ENODATA);
    ck_assert_ptr_null(k);
}
END_TEST

START_TEST(getter_errors)
{
    const char *s;
    int64_t i = 7;
    uint64_t u = 7;
    bool b = true;
    size_t pos = 0;
    const char *k, *v;

    ck_assert_int_eq(build("endpoint: e\n"), 0);
    /* Unknown keys. */
    ck_assert_int_eq(er__opt_string(opts, "nope", &s), -ENOENT);
    ck_assert_int_eq(er__opt_int(opts, "nope", &i), -ENOENT);
    ck_assert_int_eq(er__opt_string(NULL, "endpoint", &s), -ENOENT);
    /* The host's keys are not options. */
    ck_assert_int_eq(er__opt_uint(opts, "window", &u), -ENOENT);
    /* Wrong types, outputs cleared. */
    ck_assert_int_eq(er__opt_int(opts, "count", &i), -EINVAL);
    ck_assert_int_eq(i, 0);
    ck_assert_int_eq(er__opt_uint(opts, "level", &u), -EINVAL);
    ck_assert_uint_eq(u, 0);
    ck_assert_int_eq(er__opt_bool(opts, "endpoint", &b), -EINVAL);
    ck_assert(!b);
    ck_assert_int_eq(er__opt_string(opts, "count", &s), -EINVAL);
    ck_assert_int_eq(er__opt_string(opts, "tags", &s), -EINVAL);
    ck_assert_int_eq(er__opt_list(opts, "endpoint", 0, &s), -EINVAL);
    ck_assert_int_eq(er__opt_map_next(opts, "tags", &pos, &k, &v), -EINVAL);
}
END_TEST

START_TEST(every_key_given)
{
    const char *s, *k, *v;
    int64_t i;
    uint64_t u;
    bool b;
    size_t pos = 0;

    ck_assert_int_eq(build("plugin: x\n"
                           "endpoint: 0660\n"
                           "label: \"on\"\n"
                           "dir: /var/lib/x\n"
                           "verbose: on\n"
                           "level: -10\n"
                           "count: 1000\n"
                           "delay: 1h\n"
                           "buffer: 1GiB\n"
                           "mode: paranoid\n"
                           "tags: []\n"
                           "hosts: [a, \"b\", 'c']\n"
                           "properties: {acks: all, linger.ms: 5, empty: \"\"}\n"
                           "headers:\n"
                           "password: \"\"\n"
                           "window: 3\n"),
                     0);
    /* Typed from the raw text: a string keeps "0660" and "on". */
    ck_assert_int_eq(er__opt_string(opts, "endpoint", &s), 0);
    ck_assert_str_eq(s, "0660");
    ck_assert_int_eq(er__opt_string(opts, "label", &s), 0);
    ck_assert_str_eq(s, "on");
    ck_assert_int_eq(er__opt_string(opts, "dir", &s), 0);
    ck_assert_str_eq(s, "/var/lib/x");
    ck_assert_int_eq(er__opt_bool(opts, "verbose", &b), 0);
    ck_assert(b);
    ck_assert_int_eq(er__opt_int(opts, "level", &i), 0);
    ck_assert_int_eq(i, -10);
    ck_assert_int_eq(er__opt_uint(opts, "count", &u), 0);
    ck_assert_uint_eq(u, 1000);
    ck_assert_int_eq(er__opt_uint(opts, "delay", &u), 0);
    ck_assert_uint_eq(u, 3600000);
    ck_assert_int_eq(er__opt_uint(opts, "buffer", &u), 0);
    ck_assert_uint_eq(u, 1u << 30);
    ck_assert_int_eq(er__opt_string(opts, "mode", &s), 0);
    ck_assert_str_eq(s, "paranoid");
    /* An empty list given is given: no default, no -ENODATA. */
    ck_assert_int_eq(er__opt_list(opts, "tags", 0, &s), -ERANGE);
    ck_assert_int_eq(er__opt_list(opts, "hosts", 2, &s), 0);
    ck_assert_str_eq(s, "c");
    ck_assert_int_eq(er__opt_map_next(opts, "properties", &pos, &k, &v), 1);
    ck_assert_str_eq(k, "acks");
    ck_assert_str_eq(v, "all");
    ck_assert_int_eq(er__opt_map_next(opts, "properties", &pos, &k, &v), 1);
    ck_assert_str_eq(k, "linger.ms");
    ck_assert_str_eq(v, "5");
    ck_assert_int_eq(er__opt_map_next(opts, "properties", &pos, &k, &v), 1);
    ck_assert_str_eq(v, "");
    ck_assert_int_eq(er__opt_map_next(opts, "properties", &pos, &k, &v), 0);
    /* `headers:` with nothing is an empty map, not its default. */
    pos = 0;
    ck_assert_int_eq(er__opt_map_next(opts, "headers", &pos, &k, &v), 0);
    /* A string option may be "". */
    ck_assert_int_eq(er__opt_string(opts, "password", &s), 0);
    ck_assert_str_eq(s, "");
}
END_TEST

START_TEST(value_errors)
{
    static const struct {
        const char *line;
        const char *error;
    } cases[] = {
        {"label: \"\"", "handlers.h.label: must be between 1 and 8 bytes long, got 0 bytes"},
        {"label: waytoolong", "handlers.h.label: must be between 1 and 8 bytes long, got 10 bytes"},
        {"label: [a]", "handlers.h.label: expected a string, got a list"},
        {"dir: \"\"", "handlers.h.dir: expected a path, got \"\""},
        {"verbose: 1", "handlers.h.verbose: expected true or false (or yes/no, on/off), got \"1\""},
        {"verbose: True",
         "handlers.h.verbose: expected true or false (or yes/no, on/off), got \"True\""},
        {"level: 11", "handlers.h.level: must be between -10 and 10, got 11"},
        {"level: 010", "handlers.h.level: expected an integer, got \"010\""},
        {"count: 0", "handlers.h.count: must be between 1 and 1000, got 0"},
        {"count: -1", "handlers.h.count: expected a non-negative integer, got \"-1\""},
        {"count: 1.5", "handlers.h.count: expected a non-negative integer, got \"1.5\""},
        {"delay: 100",
         "handlers.h.delay: expected a duration such as 30s (units d, h, m, s, ms), got \"100\""},
        {"delay: 2h", "handlers.h.delay: must be at most 1h, got 2h"},
        {"buffer: 1023", "handlers.h.buffer: must be between 1KiB and 1GiB, got 1023"},
        {"buffer: 1kb", "handlers.h.buffer: expected a size such as 1MiB, got \"1kb\""},
        {"mode: reckless",
         "handlers.h.mode: expected one of fast, safe, paranoid, got \"reckless\""},
        {"hosts: a", "handlers.h.hosts: expected a list of strings, got \"a\""},
        {"hosts: [a, b, c, d]", "handlers.h.hosts: must have at most 3 items, got 4"},
        {"properties: [a]", "handlers.h.properties: expected a map, got a list"},
    };
    char text[256], expect[512];
    size_t i, col;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(text, sizeof(text), "endpoint: e\n%s\n", cases[i].line);
        col = (size_t)(strchr(cases[i].line, ':') - cases[i].line) + 3;
        snprintf(expect, sizeof(expect), "opts.yaml:2:%zu: %s", col, cases[i].error);
        ck_assert_str_eq(one_error(text), expect);
    }
    /* Inside a list, inside a map: at the item. */
    ck_assert_str_eq(one_error("endpoint: e\nhosts: [a, [b]]\n"),
                     "opts.yaml:2:12: handlers.h.hosts[1]: expected a non-empty string, got a "
                     "list");
    ck_assert_str_eq(one_error("endpoint: e\nproperties:\n  a: 1\n  b: {c: d}\n"),
                     "opts.yaml:4:6: handlers.h.properties.b: expected a string, got a map");
    ck_assert_str_eq(one_error("endpoint: e\nproperties: {a: }\n"),
                     "opts.yaml:2:17: handlers.h.properties.a: expected a string, got an empty "
                     "value");
}
END_TEST

START_TEST(required_unknown_and_host_keys)
{
    ck_assert_str_eq(one_error("label: x\n"),
                     "opts.yaml:1:1: handlers.h.endpoint: required key is missing");
    ck_assert_str_eq(one_error("endpoint: e\nlabl: x\n"),
                     "opts.yaml:2:1: handlers.h.labl: unknown key (did you mean \"label\"?)");
    /* Host keys are skipped, whatever their value, yet suggested. */
    ck_assert_int_eq(build("endpoint: e\nplugin: [whatever]\nretry: {x: 1}\n"), 0);
    ck_assert_str_eq(one_error("endpoint: e\nwindw: 3\n"),
                     "opts.yaml:2:1: handlers.h.windw: unknown key (did you mean \"window\"?)");
    ck_assert_str_eq(one_error("endpoint: e\nzzz: 1\n"),
                     "opts.yaml:2:1: handlers.h.zzz: unknown key");
    /* No block at all: required keys are reported at the block's place. */
    er__options_free(opts);
    opts = NULL;
    er__diag_free(&diag);
    ck_assert_int_eq(er__options_build(table, NULL, NULL, "handlers.h", &opts, &diag), -EINVAL);
    ck_assert_str_eq(msg(0), "handlers.h.endpoint: required key is missing");
    /* No table: any key is unknown; an empty block is fine. */
    ck_assert_int_eq(build_with(NULL, "plugin: x\n"), 0);
    ck_assert_int_eq(build_with(NULL, "path: x\n"), -EINVAL);
    ck_assert_str_eq(msg(0), "opts.yaml:1:1: handlers.h.path: unknown key");
}
END_TEST

START_TEST(several_errors_sorted)
{
    ck_assert_int_eq(build("count: many\nmode: x\nbogus: 1\n"), -EINVAL);
    ck_assert_uint_eq(diag.count, 4);
    ck_assert_str_eq(msg(0), "opts.yaml:1:1: handlers.h.endpoint: required key is missing");
    ck_assert_str_eq(msg(1),
                     "opts.yaml:1:8: handlers.h.count: expected a non-negative integer, got "
                     "\"many\"");
    ck_assert_str_eq(msg(2),
                     "opts.yaml:2:7: handlers.h.mode: expected one of fast, safe, paranoid, got "
                     "\"x\"");
    ck_assert_str_eq(msg(3), "opts.yaml:3:1: handlers.h.bogus: unknown key");
}
END_TEST

/* ============================================================== secrets */

static const char *write_file(const char *name, const char *content)
{
    static char path[128];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    ck_assert_ptr_nonnull(f = fopen(path, "w"));
    fputs(content, f);
    fclose(f);
    return path;
}

START_TEST(secret_from_file)
{
    char text[256];
    const char *s;

    snprintf(text, sizeof(text), "endpoint: e\npassword_file: %s\n", write_file("pw", "s3cret\n"));
    ck_assert_int_eq(build(text), 0);
    ck_assert_int_eq(er__opt_string(opts, "password", &s), 0);
    ck_assert_str_eq(s, "s3cret");

    snprintf(text, sizeof(text), "endpoint: e\npassword: x\npassword_file: %s/pw\n", tmpdir);
    ck_assert_str_eq(one_error(text), "opts.yaml:3:1: handlers.h.password: give password or "
                                      "password_file, not both");
    snprintf(text, sizeof(text), "endpoint: e\npassword_file: %s/missing\n", tmpdir);
    ck_assert_int_eq(build(text), -EINVAL);
    ck_assert(strstr(msg(0), "handlers.h.password_file: cannot open") != NULL);
    /* A file for a key that is not secret is an unknown key. */
    ck_assert_str_eq(one_error("endpoint: e\nlabel_file: /x\n"),
                     "opts.yaml:2:1: handlers.h.label_file: unknown key");
}
END_TEST

/* ===================================================== compare and show */

START_TEST(equality)
{
    er_options_t *a;

    ck_assert_int_eq(build("endpoint: e\nproperties: {a: 1, b: 2}\npassword: p\nmode: fast\n"), 0);
    a = opts;
    opts = NULL;
    ck_assert_int_eq(build("mode: fast\npassword: p\nproperties: {b: 2, a: 1}\nendpoint: e\n"), 0);
    ck_assert(er__options_equal(a, opts));
    ck_assert(er__options_equal(opts, opts));
    ck_assert_int_eq(build("endpoint: e\nproperties: {a: 1, b: 2}\npassword: q\nmode: fast\n"), 0);
    ck_assert(!er__options_equal(a, opts)); /* a secret changed */
    ck_assert_int_eq(build("endpoint: e\nproperties: {a: 1}\npassword: p\nmode: fast\n"), 0);
    ck_assert(!er__options_equal(a, opts));
    ck_assert_int_eq(build("endpoint: e\nproperties: {a: 1, b: 2}\npassword: p\nmode: safe\n"), 0);
    ck_assert(!er__options_equal(a, opts));
    /* Given as its default's value: the same options. */
    ck_assert_int_eq(build("endpoint: e\nproperties: {a: 1, b: 2}\npassword: p\nmode: fast\n"
                           "count: 10\ndelay: 1500ms\n"),
                     0);
    ck_assert(er__options_equal(a, opts));
    /* Set versus unset. */
    ck_assert_int_eq(build("endpoint: e\nproperties: {a: 1, b: 2}\nmode: fast\n"), 0);
    ck_assert(!er__options_equal(a, opts));
    ck_assert(!er__options_equal(a, NULL));
    ck_assert(er__options_equal(NULL, NULL));
    er__options_free(a);
}
END_TEST

/* Run er__options_dump into a string. */
static char *dump_json(const er_options_t *o)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    fputc('{', f);
    er__options_dump(o, f);
    fputc('}', f);
    fclose(f);
    return out;
}

START_TEST(json_dump_redacts)
{
    json_error_t jerr;
    json_t *j;
    char *out;

    ck_assert_int_eq(build("endpoint: \"a\\\"b\"\npassword: hunter2\nhosts: [x]\n"
                           "properties: {api_token: t0k, acks: all}\n"),
                     0);
    out = dump_json(opts);
    ck_assert_msg(strstr(out, "hunter2") == NULL, "%s", out);
    ck_assert_msg(strstr(out, "t0k") == NULL, "%s", out);
    ck_assert_ptr_nonnull(j = json_loads(out, 0, &jerr));
    ck_assert_str_eq(json_string_value(json_object_get(j, "endpoint")), "a\"b");
    ck_assert_str_eq(json_string_value(json_object_get(j, "password")), "<redacted>");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(j, "properties"), "api_token")),
        "<redacted>");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "properties"), "acks")),
                     "all");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "level")), -1);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "count")), 10);
    ck_assert_str_eq(json_string_value(json_object_get(j, "delay")), "1s500ms");
    ck_assert_str_eq(json_string_value(json_object_get(j, "buffer")), "64KiB");
    ck_assert_str_eq(json_string_value(json_object_get(j, "mode")), "safe");
    ck_assert(json_is_false(json_object_get(j, "verbose")));
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "hosts"), 0)), "x");
    /* Unset options are left out. */
    ck_assert_ptr_null(json_object_get(j, "dir"));
    json_decref(j);
    free(out);
    /* No options: nothing. */
    out = dump_json(NULL);
    ck_assert_str_eq(out, "{}");
    free(out);
}
END_TEST

START_TEST(yaml_dump_loads_back)
{
    char *out = NULL, *text;
    size_t len = 0;
    er_options_t *first;
    FILE *f;

    ck_assert_int_eq(build("endpoint: \"c$$d\"\nlabel: \"0660\"\nhosts: [a, b]\nmode: fast\n"
                           "properties: {acks: all}\ndelay: 90s\nbuffer: 1536KiB\n"),
                     0);
    f = open_memstream(&out, &len);
    ck_assert_int_eq(er__options_dump_yaml(opts, 2, f), 0);
    fclose(f);
    ck_assert_msg(strstr(out, "  endpoint: \"c$$d\"\n") != NULL, "%s", out);
    ck_assert(strstr(out, "  label: \"0660\"\n") != NULL);
    ck_assert(strstr(out, "  # dir: not set\n") != NULL);
    ck_assert(strstr(out, "  delay: 1m30s\n") != NULL);
    ck_assert(strstr(out, "  buffer: 1536KiB\n") != NULL);
    ck_assert(strstr(out, "  mode: fast\n") != NULL);
    ck_assert(strstr(out, "  hosts: [\"a\", \"b\"]\n") != NULL);
    first = opts;
    opts = NULL;
    text = out;
    ck_assert_int_eq(build(text), 0);
    ck_assert(er__options_equal(first, opts));
    er__options_free(first);
    free(out);
}
END_TEST

START_TEST(canonical_text)
{
    char *a, *b;

    ck_assert_int_eq(build("endpoint: e\npassword: p1\nproperties: {x: 1, y: 2}\n"), 0);
    ck_assert_ptr_nonnull(a = er__options_canonical(opts));
    ck_assert(strstr(a, "p1") != NULL); /* secrets count */
    ck_assert_int_eq(build("properties: {y: 2, x: 1}\npassword: p1\nendpoint: e\n"), 0);
    ck_assert_ptr_nonnull(b = er__options_canonical(opts));
    ck_assert_str_eq(a, b);
    free(b);
    ck_assert_int_eq(build("endpoint: e\npassword: p2\nproperties: {x: 1, y: 2}\n"), 0);
    ck_assert_ptr_nonnull(b = er__options_canonical(opts));
    ck_assert_str_ne(a, b);
    free(b);
    /* Unset and set to something differ. */
    ck_assert_int_eq(build("endpoint: e\nproperties: {x: 1, y: 2}\n"), 0);
    ck_assert_ptr_nonnull(b = er__options_canonical(opts));
    ck_assert_str_ne(a, b);
    ck_assert(strstr(b, "[\"password\"]") != NULL);
    free(a);
    free(b);
}
END_TEST

START_TEST(help_text)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    er__options_help(table, f);
    er__options_help(NULL, f);
    fclose(f);
    ck_assert_msg(strstr(out, "endpoint (string, required)\n    where to connect\n") != NULL, "%s",
                  out);
    ck_assert(strstr(out, "label (string, default main, between 1 and 8 bytes)\n") != NULL);
    ck_assert(strstr(out, "level (integer, default -1, between -10 and 10)\n") != NULL);
    ck_assert(strstr(out, "delay (duration, default 1s500ms, at most 1h)\n") != NULL);
    ck_assert(strstr(out, "mode (enum: fast, safe, paranoid, default safe)\n") != NULL);
    ck_assert(strstr(out, "tags (list of strings, default [a, b])\n") != NULL);
    ck_assert(strstr(out, "password (string, secret: or password_file: FILE)\n") != NULL);
    ck_assert(strstr(out, "(no options)\n") != NULL);
    free(out);
}
END_TEST

static Suite *options_suite(void)
{
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, table_is_sound);
    tcase_add_test(tc, bad_tables_are_refused);
    tcase_add_test(tc, duplicate_and_clashing_keys);
    tcase_add_test(tc, defaults_and_getters);
    tcase_add_test(tc, getter_errors);
    tcase_add_test(tc, every_key_given);
    tcase_add_test(tc, value_errors);
    tcase_add_test(tc, required_unknown_and_host_keys);
    tcase_add_test(tc, several_errors_sorted);
    tcase_add_test(tc, secret_from_file);
    tcase_add_test(tc, equality);
    tcase_add_test(tc, json_dump_redacts);
    tcase_add_test(tc, yaml_dump_loads_back);
    tcase_add_test(tc, canonical_text);
    tcase_add_test(tc, help_text);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(options_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
