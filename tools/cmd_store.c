/*
 * eventctl store: the store's maintenance through the admin socket —
 * `check` (are the indexes consistent with the events? exit 1 when not),
 * `backup DIR` (an online copy into a new or empty directory) and
 * `compact` (what the store can give back, and whether it did). The
 * daemon does the work on the store's own threads; eventctl only waits
 * for the answer, as long as it takes (a backup of a large store takes a
 * while), unless --timeout says otherwise.
 */
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "eventctl.h"

static long long int_of(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static void print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    if (s)
        puts(s);
    free(s);
}

/* "  problem KIND (seq N): MESSAGE" for each of list. */
static void print_items(const json_t *list, const char *what)
{
    const json_t *v;
    size_t i;

    json_array_foreach(list, i, v)
    {
        long long seq = int_of(v, "seq");
        const char *kind = json_string_value(json_object_get(v, "kind"));
        const char *msg = json_string_value(json_object_get(v, "message"));
        if (seq > 0)
            printf("  %s %s (seq %lld): %s\n", what, kind ? kind : "?", seq, msg ? msg : "");
        else
            printf("  %s %s: %s\n", what, kind ? kind : "?", msg ? msg : "");
    }
}

/* Bytes for people: "905216 bytes (884.0 KiB)". */
static void print_size(const char *label, long long n)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = -1;

    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    if (u < 0)
        printf("%s%lld bytes", label, n);
    else
        printf("%s%lld bytes (%.1f %s)", label, n, v, units[u]);
}

static int store_check(ctl_t *ctl, int timeout_ms)
{
    json_t *reply;
    long long problems;
    int status;

    if ((status = ctl_run_admin(ctl, "store.check", NULL, timeout_ms, &reply)) != CTL_OK)
        return status;
    problems = int_of(reply, "problems_total");
    if (ctl->json) {
        print_json(reply);
    } else {
        printf("store check: %lld events, %lld index entries, %lld cursors, %lld dead letters: ",
               int_of(reply, "events"), int_of(reply, "index_entries"), int_of(reply, "cursors"),
               int_of(reply, "dead_letters"));
        if (json_is_true(json_object_get(reply, "ok")))
            printf("consistent\n");
        else
            printf("%lld problem%s\n", problems, problems == 1 ? "" : "s");
        print_items(json_object_get(reply, "problems"), "problem");
        if (problems > (long long)json_array_size(json_object_get(reply, "problems")))
            printf("  (%lld more not listed)\n",
                   problems - (long long)json_array_size(json_object_get(reply, "problems")));
        print_items(json_object_get(reply, "notes"), "note");
    }
    status = json_is_true(json_object_get(reply, "ok")) ? CTL_OK : CTL_REFUSED;
    json_decref(reply);
    return status;
}

static int store_backup(ctl_t *ctl, const ctl_cmd_t *cmd, const char *dir, int timeout_ms)
{
    char abs[PATH_MAX], cwd[PATH_MAX];
    json_t *reply;
    int status;

    /* The daemon has its own working directory: send an absolute path. */
    if (dir[0] != '/') {
        if (getcwd(cwd, sizeof(cwd)) == NULL ||
            snprintf(abs, sizeof(abs), "%s/%s", cwd, dir) >= (int)sizeof(abs))
            return ctl_usage_error(cmd, "cannot make '%s' an absolute path", dir);
        dir = abs;
    }
    status = ctl_run_admin(ctl, "store.backup", json_pack("{s:s}", "dir", dir), timeout_ms, &reply);
    if (status != CTL_OK)
        return status;
    if (ctl->json) {
        print_json(reply);
    } else {
        printf("backup in %s: ", json_string_value(json_object_get(reply, "dir")));
        print_size("", int_of(reply, "bytes"));
        printf(" in %.3f s\n", json_number_value(json_object_get(reply, "seconds")));
    }
    json_decref(reply);
    return CTL_OK;
}

static int store_compact(ctl_t *ctl, int timeout_ms)
{
    json_t *reply;
    int status;

    if ((status = ctl_run_admin(ctl, "store.compact", NULL, timeout_ms, &reply)) != CTL_OK)
        return status;
    if (ctl->json) {
        print_json(reply);
    } else {
        print_size("store file: ", int_of(reply, "file_bytes"));
        print_size(", free: ", int_of(reply, "free_bytes"));
        print_size(", reclaimable: ", int_of(reply, "reclaimable_bytes"));
        printf("; %s\n", int_of(reply, "compacted") ? "compacted" : "not compacted");
        print_items(json_object_get(reply, "notes"), "note");
    }
    json_decref(reply);
    return CTL_OK;
}

int ctl_cmd_store(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t secs = 0;
    int c, status, timeout_ms;
    const char *sub;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (ctl_common_option(cmd, c, argv, &status))
            return status;
        if (c == 't' && !ctl_parse_uint(optarg, 0, INT32_MAX / 1000, &secs))
            return ctl_usage_error(cmd, "--timeout takes whole seconds (0: none), not '%s'",
                                   optarg);
    }
    timeout_ms = secs == 0 ? -1 : (int)(secs * 1000);
    if (optind >= argc)
        return ctl_usage_error(cmd, "expected check, backup DIR or compact");
    sub = argv[optind++];
    if (strcmp(sub, "backup") == 0) {
        if (optind >= argc)
            return ctl_usage_error(cmd, "backup: expected a directory");
        if (optind + 1 < argc)
            return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
        return store_backup(ctl, cmd, argv[optind], timeout_ms);
    }
    if (strcmp(sub, "check") != 0 && strcmp(sub, "compact") != 0)
        return ctl_usage_error(cmd, "unknown subcommand '%s' (expected check, backup or compact)",
                               sub);
    if (optind < argc)
        return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    return strcmp(sub, "check") == 0 ? store_check(ctl, timeout_ms)
                                     : store_compact(ctl, timeout_ms);
}
