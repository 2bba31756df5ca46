/*
 * Unit tests for daemon/plugin.c, the plugin loader: every refusal against
 * its purpose-built bad plugin (tests/plugins/bad.mk) with the exact
 * message, which always names the file; the file checks (group- or world-
 * writable file or directory, foreign owner); the search path (order,
 * and the directories listed when nothing is found); sharing one file
 * loaded twice; and --help-plugin's output.
 *
 * Every plugin is first copied into a private 0700 directory, so the
 * permission checks do not depend on the build tree's umask.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin.h"

#define LIBS ER_BUILDDIR "/tests/plugins/.libs"

static char dir[64];

static void copy_file(const char *from, const char *to, mode_t mode)
{
    char buf[65536];
    int in = open(from, O_RDONLY), out;
    ssize_t n;

    ck_assert_msg(in >= 0, "%s: %s", from, strerror(errno));
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_msg(out >= 0, "%s: %s", to, strerror(errno));
    while ((n = read(in, buf, sizeof(buf))) > 0)
        ck_assert_int_eq(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
    ck_assert_int_eq(chmod(to, mode), 0);
}

/* The copy of tests/plugins/NAME.so in the private directory. */
static const char *plugin(const char *name)
{
    static char path[4][256];
    static int next;
    char *p = path[next++ % 4];
    char from[256];
    struct stat st;

    snprintf(p, 256, "%s/%s.so", dir, name);
    if (stat(p, &st) != 0) {
        snprintf(from, sizeof(from), "%s/%s.so", LIBS, name);
        copy_file(from, p, 0644);
    }
    return p;
}

static void setup(void)
{
    strcpy(dir, "/tmp/er-check-loader.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    unsetenv("EVENTROUTER_PLUGIN_PATH");
}

static void teardown(void)
{
    char cmd[128];

    chmod(dir, 0700);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* Load path as a handler: it must fail with rc and exactly `want`, where
 * "%s" stands for the path. */
static void refused(const char *path, int rc, const char *want)
{
    er_plugin_lib_t *lib = (er_plugin_lib_t *)1;
    char err[1024], expected[1024];
    const char *mark = strstr(want, "%s");

    ck_assert_ptr_nonnull(mark);
    snprintf(expected, sizeof(expected), "%.*s%s%s", (int)(mark - want), want, path, mark + 2);
    ck_assert_int_eq(er__plugin_load(ER_PLUGIN_HANDLER, path, NULL, &lib, err, sizeof(err)), rc);
    ck_assert_ptr_null(lib);
    ck_assert_str_eq(err, expected);
}

/* ------------------------------------------------------------ accepted */

START_TEST(test_good)
{
    er_plugin_lib_t *lib, *again;
    const er_handler_ops_t *ops;
    char err[512] = "";
    const char *path = plugin("good");

    ck_assert_int_eq(er__plugin_load(ER_PLUGIN_HANDLER, path, NULL, &lib, err, sizeof(err)), 0);
    ck_assert_str_eq(lib->path, path);
    ck_assert_str_eq(lib->desc->name, "good");
    ck_assert_str_eq(lib->desc->version, "1.2.3");
    ck_assert_int_eq(lib->desc->kind, ER_PLUGIN_HANDLER);
    ck_assert_str_eq(lib->desc->options[0].key, "greeting");
    ck_assert_int_eq(lib->refs, 1);
    ck_assert_uint_eq(lib->ops_size, sizeof(er_handler_ops_t));
    ops = lib->ops;
    ck_assert_ptr_nonnull(ops->handle);
    ck_assert_ptr_null(ops->reopen); /* not implemented: NULL */

    /* The same file again is shared. */
    ck_assert_int_eq(er__plugin_load(ER_PLUGIN_HANDLER, path, NULL, &again, err, sizeof(err)), 0);
    ck_assert_ptr_eq(again, lib);
    ck_assert_int_eq(lib->refs, 2);
    er__plugin_unload(again);
    ck_assert_int_eq(lib->refs, 1);
    er__plugin_unload(lib);
}
END_TEST

START_TEST(test_shared_through_symlink)
{
    er_plugin_lib_t *a, *b;
    char err[512], link[256];
    const char *path = plugin("good");

    snprintf(link, sizeof(link), "%s/alias.so", dir);
    ck_assert_int_eq(symlink(path, link), 0);
    ck_assert_int_eq(er__plugin_load(ER_PLUGIN_HANDLER, path, NULL, &a, err, sizeof(err)), 0);
    ck_assert_int_eq(er__plugin_load(ER_PLUGIN_HANDLER, link, NULL, &b, err, sizeof(err)), 0);
    ck_assert_ptr_eq(a, b);
    ck_assert_int_eq(a->refs, 2);
    er__plugin_unload(b);
    er__plugin_unload(a);
}
END_TEST

/* ----------------------------------------------------------- refusals */

START_TEST(test_bad_magic)
{
    refused(plugin("bad_magic"), -EINVAL,
            "%s: not an eventrouter plugin (bad magic 0x12345678, expected 0x45525047)");
}
END_TEST

START_TEST(test_bad_major)
{
    refused(plugin("bad_major"), -EINVAL,
            "%s: wrong ABI major 2 (plugin ABI 2.0, this daemon speaks 1.3)");
}
END_TEST

START_TEST(test_bad_minor)
{
    refused(plugin("bad_minor"), -EINVAL,
            "%s: plugin ABI 1.4 is newer than this daemon's 1.3 (upgrade the daemon or rebuild "
            "the plugin)");
}
END_TEST

START_TEST(test_bad_size)
{
    char want[256];

    snprintf(want, sizeof(want),
             "%%s: plugin descriptor too small (16 bytes declared, at least %zu required)",
             offsetof(er_plugin_t, flags) + sizeof(uint64_t));
    refused(plugin("bad_size"), -EINVAL, want);
}
END_TEST

START_TEST(test_missing_symbol)
{
    refused(plugin("bad_nosym"), -ENOEXEC,
            "%s: not an eventrouter plugin (no er_plugin_entry symbol)");
}
END_TEST

START_TEST(test_unresolved_symbol)
{
    refused(plugin("bad_undef"), -ENOEXEC,
            "%s: cannot load: undefined symbol: er_bad_no_such_function");
}
END_TEST

START_TEST(test_wrong_kind)
{
    refused(plugin("bad_kind"), -EINVAL, "%s: is a broker plugin, not a handler");
}
END_TEST

START_TEST(test_no_name)
{
    refused(plugin("bad_noname"), -EINVAL,
            "%s: plugin descriptor has no valid name (1-64 printable characters, no '/' or "
            "spaces)");
}
END_TEST

START_TEST(test_no_ops)
{
    refused(plugin("bad_noops"), -EINVAL, "%s: handler has no operations table (ops is NULL)");
}
END_TEST

START_TEST(test_no_handle)
{
    refused(plugin("bad_nohandle"), -EINVAL, "%s: handler does not implement handle()");
}
END_TEST

START_TEST(test_ops_too_small)
{
    char want[256];

    snprintf(want, sizeof(want),
             "%%s: handler operations table too small (%zu bytes declared, at least %zu "
             "required)",
             offsetof(er_handler_ops_t, handle),
             offsetof(er_handler_ops_t, handle) + sizeof(void *));
    refused(plugin("bad_opsize"), -EINVAL, want);
}
END_TEST

START_TEST(test_bad_options)
{
    er_plugin_lib_t *lib;
    char err[1024];
    const char *path = plugin("bad_options");
    size_t n = strlen(path);

    ck_assert_int_eq(er__plugin_load(ER_PLUGIN_HANDLER, path, NULL, &lib, err, sizeof(err)),
                     -EINVAL);
    /* The table check's own words follow; the file and the reason lead. */
    ck_assert_msg(strncmp(err, path, n) == 0 && strncmp(err + n, ": bad options table: ", 21) == 0,
                  "%s", err);
    ck_assert_msg(strstr(err, "path") != NULL, "%s", err);
}
END_TEST

START_TEST(test_not_a_plugin)
{
    char path[256];

    FILE *f;

    /* A file that is no shared object at all. */
    snprintf(path, sizeof(path), "%s/junk.so", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%s\n", "This is a text file, long enough to hold an ELF header, but not one.");
    fclose(f);
    refused(path, -ENOEXEC, "%s: cannot load: invalid ELF header");
}
END_TEST

START_TEST(test_broker_kind_unsupported)
{
    er_plugin_lib_t *lib;
    char err[512], want[512];
    const char *path = plugin("bad_kind");

    snprintf(want, sizeof(want), "%s: broker plugins are not supported in this version", path);
    ck_assert_int_eq(er__plugin_load(ER_PLUGIN_BROKER, path, NULL, &lib, err, sizeof(err)),
                     -ENOTSUP);
    ck_assert_str_eq(err, want);
}
END_TEST

/* ------------------------------------------------------------- files */

START_TEST(test_group_writable)
{
    const char *path = plugin("good");

    ck_assert_int_eq(chmod(path, 0664), 0);
    refused(path, -EPERM, "%s: refusing to load: file is group-writable (mode 0664)");
}
END_TEST

START_TEST(test_world_writable)
{
    const char *path = plugin("good");

    ck_assert_int_eq(chmod(path, 0646), 0);
    refused(path, -EPERM, "%s: refusing to load: file is world-writable (mode 0646)");
}
END_TEST

START_TEST(test_directory_world_writable)
{
    char want[512];
    const char *path = plugin("good");

    ck_assert_int_eq(chmod(dir, 0777), 0);
    snprintf(want, sizeof(want),
             "%%s: refusing to load: directory %s is world-writable (mode 0777)", dir);
    refused(path, -EPERM, want);
    /* A symlink from a safe directory does not hide the unsafe one. */
    {
        char safe[128], link[256];
        snprintf(safe, sizeof(safe), "%s/safe", dir);
        ck_assert_int_eq(mkdir(safe, 0755), 0);
        snprintf(link, sizeof(link), "%s/good.so", safe);
        ck_assert_int_eq(symlink(path, link), 0);
        snprintf(want, sizeof(want),
                 "%%s: refusing to load: directory %s is world-writable (mode 0777)", dir);
        refused(link, -EPERM, want);
    }
}
END_TEST

START_TEST(test_foreign_owner)
{
    const char *path = plugin("good");
    char want[256];

    if (geteuid() != 0)
        return; /* only root can give a file away */
    ck_assert_int_eq(chown(path, 65534, 65534), 0);
    snprintf(want, sizeof(want),
             "%%s: refusing to load: file is owned by uid 65534 (must be root)");
    refused(path, -EPERM, want);
}
END_TEST

START_TEST(test_not_regular)
{
    refused(dir, -EPERM, "%s: refusing to load: not a regular file");
}
END_TEST

START_TEST(test_check_file_ok)
{
    char err[256] = "";

    ck_assert_int_eq(er__plugin_check_file(plugin("good"), err, sizeof(err)), 0);
    ck_assert_str_eq(err, "");
}
END_TEST

/* -------------------------------------------------------- search path */

/* The build tree's and the installed directory for handler NAME. */
static void tail_dirs(const char *name, char *buf, size_t cap)
{
    char tree[PATH_MAX];

    ck_assert_ptr_nonnull(realpath(ER_BUILDDIR, tree));
    snprintf(buf, cap, "%s/plugins/handlers/%s/.libs, %s/eventrouter/handlers", tree, name,
             ER_LIBDIR);
}

START_TEST(test_not_found_lists_dirs)
{
    const char *const path[] = {"/cfg/one", "/cfg/two", NULL};
    er_plugin_lib_t *lib;
    char err[8192], want[8192], tail[6000];

    setenv("EVENTROUTER_PLUGIN_PATH", "/env/a::/env/b", 1);
    tail_dirs("nosuch", tail, sizeof(tail));
    snprintf(want, sizeof(want),
             "nosuch.so: handler plugin not found (searched: /env/a, /env/b, /cfg/one, /cfg/two, "
             "%s)",
             tail);
    ck_assert_int_eq(er__plugin_load(ER_PLUGIN_HANDLER, "nosuch", path, &lib, err, sizeof(err)),
                     -ENOENT);
    ck_assert_str_eq(err, want);
}
END_TEST

START_TEST(test_search_order)
{
    char first[128], second[128], from[256], to[256], err[512];
    const char *const path[] = {second, NULL};
    er_plugin_lib_t *lib;

    snprintf(first, sizeof(first), "%s/first", dir);
    snprintf(second, sizeof(second), "%s/second", dir);
    ck_assert_int_eq(mkdir(first, 0755), 0);
    ck_assert_int_eq(mkdir(second, 0755), 0);
    snprintf(from, sizeof(from), "%s/good.so", LIBS);
    snprintf(to, sizeof(to), "%s/good.so", second);
    copy_file(from, to, 0644);

    /* Only in the config's plugin_path. */
    ck_assert_int_eq(er__plugin_load(ER_PLUGIN_HANDLER, "good", path, &lib, err, sizeof(err)), 0);
    ck_assert_str_eq(lib->path, to);
    er__plugin_unload(lib);

    /* $EVENTROUTER_PLUGIN_PATH comes first. */
    snprintf(to, sizeof(to), "%s/good.so", first);
    copy_file(from, to, 0644);
    setenv("EVENTROUTER_PLUGIN_PATH", first, 1);
    ck_assert_int_eq(er__plugin_load(ER_PLUGIN_HANDLER, "good", path, &lib, err, sizeof(err)), 0);
    ck_assert_str_eq(lib->path, to);
    er__plugin_unload(lib);
}
END_TEST

START_TEST(test_bad_names)
{
    er_plugin_lib_t *lib;
    char err[512];

    ck_assert_int_eq(er__plugin_load(ER_PLUGIN_HANDLER, "sub/x.so", NULL, &lib, err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "sub/x.so: a plugin is a name on the plugin path or an absolute path");
    ck_assert_int_eq(er__plugin_load(ER_PLUGIN_HANDLER, "..", NULL, &lib, err, sizeof(err)),
                     -EINVAL);
    ck_assert_str_eq(err, "..: not a plugin name");
    ck_assert_int_eq(
        er__plugin_load(ER_PLUGIN_HANDLER, "/nonexistent/x.so", NULL, &lib, err, sizeof(err)),
        -ENOENT);
    ck_assert_str_eq(err, "/nonexistent/x.so: No such file or directory");
}
END_TEST

START_TEST(test_describe_path)
{
    const char *const path[] = {"/cfg", NULL};
    char buf[8192], want[8192], tree[PATH_MAX];

    setenv("EVENTROUTER_PLUGIN_PATH", "/env", 1);
    ck_assert_ptr_nonnull(realpath(ER_BUILDDIR, tree));
    snprintf(want, sizeof(want),
             "/env\n/cfg\n%s/plugins/handlers/*/.libs\n%s/eventrouter/handlers\n", tree, ER_LIBDIR);
    er__plugin_describe_path(ER_PLUGIN_HANDLER, path, buf, sizeof(buf));
    ck_assert_str_eq(buf, want);
}
END_TEST

/* ---------------------------------------------------------- --help-plugin */

START_TEST(test_help)
{
    char spec[300], *text = NULL, want[512];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    const char *path = plugin("good");

    snprintf(spec, sizeof(spec), "handler/%s", path);
    ck_assert_int_eq(er__plugin_help(spec, NULL, f), 0);
    fclose(f);
    snprintf(want, sizeof(want),
             "good 1.2.3: a plugin the loader accepts\n"
             "  kind:    handler\n"
             "  file:    %s\n"
             "  ABI:     1.3\n"
             "  flags:   none\n"
             "\n"
             "Options (in the handler's block of eventrouter.yaml):\n",
             path);
    ck_assert_msg(strncmp(text, want, strlen(want)) == 0, "%s", text);
    ck_assert_msg(strstr(text + strlen(want), "greeting") != NULL, "%s", text);
    free(text);

    f = open_memstream(&text, &len);
    ck_assert_int_eq(er__plugin_help("handler", NULL, f), -EINVAL);
    ck_assert_int_eq(er__plugin_help("plugin/x", NULL, f), -EINVAL);
    snprintf(spec, sizeof(spec), "handler/%s", plugin("bad_major"));
    ck_assert_int_eq(er__plugin_help(spec, NULL, f), -EINVAL);
    fclose(f);
    ck_assert_str_eq(text, ""); /* errors go to stderr, not to the help text */
    free(text);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("loader");
    TCase *tc = tcase_create("loader");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_good);
    tcase_add_test(tc, test_shared_through_symlink);
    tcase_add_test(tc, test_bad_magic);
    tcase_add_test(tc, test_bad_major);
    tcase_add_test(tc, test_bad_minor);
    tcase_add_test(tc, test_bad_size);
    tcase_add_test(tc, test_missing_symbol);
    tcase_add_test(tc, test_unresolved_symbol);
    tcase_add_test(tc, test_wrong_kind);
    tcase_add_test(tc, test_no_name);
    tcase_add_test(tc, test_no_ops);
    tcase_add_test(tc, test_no_handle);
    tcase_add_test(tc, test_ops_too_small);
    tcase_add_test(tc, test_bad_options);
    tcase_add_test(tc, test_not_a_plugin);
    tcase_add_test(tc, test_broker_kind_unsupported);
    tcase_add_test(tc, test_group_writable);
    tcase_add_test(tc, test_world_writable);
    tcase_add_test(tc, test_directory_world_writable);
    tcase_add_test(tc, test_foreign_owner);
    tcase_add_test(tc, test_not_regular);
    tcase_add_test(tc, test_check_file_ok);
    tcase_add_test(tc, test_not_found_lists_dirs);
    tcase_add_test(tc, test_search_order);
    tcase_add_test(tc, test_bad_names);
    tcase_add_test(tc, test_describe_path);
    tcase_add_test(tc, test_help);
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
