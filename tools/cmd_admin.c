/*
 * eventctl's admin commands: stats, health, routes, route (a dry run),
 * handlers and config. Each runs one ADMIN command on the admin socket and
 * prints the reply — as it is with --json, else as text for people.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eventctl.h"

int ctl_admin(ctl_session_t *s, const char *cmd, const char *args_json, json_t **reply)
{
    er_nack_t nack;
    char *text = NULL;
    int rc;

    *reply = NULL;
    rc = er_admin(s->c, cmd, args_json, &text, &nack, 30000);
    if (rc == ER_ENACK)
        return ctl_refused(cmd, nack.code, nack.message);
    if (rc == -ETIMEDOUT) {
        ctl_err("%s: no answer within 30 s", s->path);
        return CTL_UNREACHABLE;
    }
    if (rc != 0)
        return ctl_fail(s, rc);
    *reply = json_loads(text, 0, NULL);
    free(text);
    if (*reply == NULL) {
        ctl_err("%s: unreadable reply", cmd);
        return CTL_UNREACHABLE;
    }
    return CTL_OK;
}

static void print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    if (s)
        puts(s);
    free(s);
}

/* Commands without options: connect, run, print with fmt (or as JSON). */
static int simple(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv, const char *admin_cmd,
                  const char *args_json, void (*fmt)(const json_t *reply), json_t **keep)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    ctl_session_t s;
    json_t *reply;
    int c, status;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1)
        if (ctl_common_option(cmd, c, argv, &status))
            return status;
    if (optind < argc)
        return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if ((status = ctl_open_admin(ctl, &s)) != CTL_OK)
        return status;
    status = ctl_admin(&s, admin_cmd, args_json, &reply);
    ctl_close(&s);
    if (status != CTL_OK)
        return status;
    if (ctl->json)
        print_json(reply);
    else
        fmt(reply);
    if (keep)
        *keep = reply;
    else
        json_decref(reply);
    return CTL_OK;
}

/* ------------------------------------------------------------- stats */

static void print_flat(const char *prefix, const json_t *j)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v)
    {
        char key[256];
        snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "." : "", k);
        if (json_is_object(v)) {
            print_flat(key, v);
        } else if (json_is_string(v)) {
            printf("%-32s %s\n", key, json_string_value(v));
        } else {
            char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
            printf("%-32s %s\n", key, s ? s : "?");
            free(s);
        }
    }
}

static void fmt_stats(const json_t *r)
{
    print_flat("", r);
}

int ctl_cmd_stats(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    return simple(ctl, cmd, argc, argv, "stats", NULL, fmt_stats, NULL);
}

/* ------------------------------------------------------------ health */

static void fmt_health(const json_t *r)
{
    const char *k;
    json_t *v;
    printf("%s\n", json_string_value(json_object_get(r, "state")));
    json_object_foreach(json_object_get(r, "handlers"), k, v)
        printf("  handler %-24s %s\n", k, json_string_value(v));
}

int ctl_cmd_health(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    json_t *reply = NULL;
    const char *state;
    int status = simple(ctl, cmd, argc, argv, "health", NULL, fmt_health, &reply);

    if (status != CTL_OK)
        return status;
    /* eventctl(1): 0 UP, 1 DEGRADED or DOWN, 3 unreachable. */
    state = json_string_value(json_object_get(reply, "state"));
    status = state && strcmp(state, "UP") == 0 ? CTL_OK : CTL_REFUSED;
    json_decref(reply);
    return status;
}

/* ------------------------------------------------------------ routes */

/* "type=[A,B] topic=x.*" or "*" */
static void print_match(const json_t *m)
{
    const char *k;
    json_t *v;
    bool first = true;

    if (json_is_string(m)) {
        printf("%s", json_string_value(m));
        return;
    }
    json_object_foreach((json_t *)m, k, v)
    {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
        printf("%s%s=%s", first ? "" : " ", k, s ? s : "?");
        free(s);
        first = false;
    }
}

static void print_route(const json_t *r)
{
    json_t *to = json_object_get(r, "to"), *v;
    size_t i;

    printf("%3lld  %-8s ", (long long)json_integer_value(json_object_get(r, "index")),
           json_is_true(json_object_get(r, "implicit")) ? "implicit" : "");
    print_match(json_object_get(r, "match"));
    printf("  ->");
    json_array_foreach(to, i, v) printf(" %s", json_string_value(v));
    if (json_is_true(json_object_get(r, "continue")))
        printf("  (continue)");
    printf("\n");
}

static void fmt_routes(const json_t *r)
{
    json_t *routes = json_object_get(r, "routes"), *v;
    size_t i;
    if (json_array_size(routes) == 0)
        printf("no routes: every event is stored and counted as unrouted\n");
    json_array_foreach(routes, i, v) print_route(v);
}

int ctl_cmd_routes(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    return simple(ctl, cmd, argc, argv, "routes", NULL, fmt_routes, NULL);
}

static void fmt_route(const json_t *r)
{
    json_t *routes = json_object_get(r, "routes"), *dests = json_object_get(r, "destinations"), *v;
    size_t i;

    if (json_is_true(json_object_get(r, "unrouted"))) {
        printf("unrouted: no route matches (the event would be stored and counted)\n");
        return;
    }
    printf("matching routes:\n");
    json_array_foreach(routes, i, v) print_route(v);
    printf("destinations:");
    json_array_foreach(dests, i, v) printf(" %s", json_string_value(v));
    printf("\n");
}

int ctl_cmd_route(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"type", required_argument, NULL, 't'},
        {"topic", required_argument, NULL, 'o'},
        {"priority", required_argument, NULL, 'p'},
        {"stream", required_argument, NULL, 's'},
        {"source", required_argument, NULL, 'S'},
        {"from", required_argument, NULL, 'f'},
        {"meta", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    json_t *args = json_object(), *meta = json_object(), *reply;
    ctl_session_t s;
    char *text;
    int c, status;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        const char *key = NULL;
        if (ctl_common_option(cmd, c, argv, &status)) {
            json_decref(args);
            json_decref(meta);
            return status;
        }
        switch (c) {
        case 't':
            key = "type";
            break;
        case 'o':
            key = "topic";
            break;
        case 'p':
            key = "priority";
            break;
        case 's':
            key = "stream";
            break;
        case 'S':
            key = "source";
            break;
        case 'f':
            key = "from";
            break;
        case 'm': {
            char *eq = strchr(optarg, '=');
            if (eq == NULL || eq == optarg) {
                json_decref(args);
                json_decref(meta);
                return ctl_usage_error(cmd, "--meta takes K=V, not '%s'", optarg);
            }
            *eq = '\0';
            json_object_set_new(meta, optarg, json_string(eq + 1));
            break;
        }
        }
        if (key)
            json_object_set_new(args, key, json_string(optarg));
    }
    if (optind < argc || json_object_get(args, "type") == NULL) {
        json_decref(args);
        json_decref(meta);
        return optind < argc ? ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind])
                             : ctl_usage_error(cmd, "--type is required");
    }
    if (json_object_size(meta) > 0)
        json_object_set(args, "meta", meta);
    json_decref(meta);
    text = json_dumps(args, JSON_COMPACT);
    json_decref(args);
    if ((status = ctl_open_admin(ctl, &s)) != CTL_OK) {
        free(text);
        return status;
    }
    status = ctl_admin(&s, "route", text, &reply);
    free(text);
    ctl_close(&s);
    if (status != CTL_OK)
        return status;
    if (ctl->json)
        print_json(reply);
    else
        fmt_route(reply);
    json_decref(reply);
    return CTL_OK;
}

/* ---------------------------------------------------------- handlers */

static void fmt_handlers(const json_t *r)
{
    json_t *hs = json_object_get(r, "handlers"), *h;
    size_t i;

    if (json_array_size(hs) == 0)
        printf("no handlers configured\n");
    json_array_foreach(hs, i, h)
    {
        json_t *types = json_object_get(h, "types"), *t;
        size_t j;
        printf("%s: plugin %s (%s), %s, %s\n", json_string_value(json_object_get(h, "name")),
               json_string_value(json_object_get(h, "plugin")),
               json_string_value(json_object_get(h, "file")),
               json_string_value(json_object_get(h, "state")),
               json_string_value(json_object_get(h, "health")));
        printf("  delivered %lld, retried %lld, failed %lld, gave up %lld, timed out %lld, "
               "in flight %lld/%lld, queued %lld\n",
               (long long)json_integer_value(json_object_get(h, "delivered")),
               (long long)json_integer_value(json_object_get(h, "retried")),
               (long long)json_integer_value(json_object_get(h, "failed")),
               (long long)json_integer_value(json_object_get(h, "gave_up")),
               (long long)json_integer_value(json_object_get(h, "timed_out")),
               (long long)json_integer_value(json_object_get(h, "inflight")),
               (long long)json_integer_value(json_object_get(h, "window")),
               (long long)json_integer_value(json_object_get(h, "queued")));
        if (json_array_size(types) > 0) {
            printf("  declared types:");
            json_array_foreach(types, j, t) printf(" %s", json_string_value(t));
            printf("\n");
        }
    }
}

int ctl_cmd_handlers(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    return simple(ctl, cmd, argc, argv, "handlers", NULL, fmt_handlers, NULL);
}

/* ------------------------------------------------------------ config */

static void fmt_config(const json_t *r)
{
    fputs(json_string_value(json_object_get(r, "yaml")), stdout);
}

int ctl_cmd_config(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    return simple(ctl, cmd, argc, argv, "config", NULL, fmt_config, NULL);
}

/* ---------------------------------------------------------------- dlq */

static void fmt_dlq(const json_t *r)
{
    const json_t *rows = json_object_get(r, "dead_letters");
    size_t i;

    if (json_array_size(rows) == 0) {
        printf("no dead letters\n");
        return;
    }
    printf("%-8s %-10s %-20s %-18s %8s  %s\n", "id", "seq", "destination", "reason", "attempts",
           "last failure (us)");
    for (i = 0; i < json_array_size(rows); i++) {
        const json_t *d = json_array_get(rows, i);
        printf("%-8lld %-10lld %-20s %-18s %8lld  %lld\n",
               (long long)json_integer_value(json_object_get(d, "id")),
               (long long)json_integer_value(json_object_get(d, "seq")),
               json_string_value(json_object_get(d, "destination")),
               json_string_value(json_object_get(d, "reason")),
               (long long)json_integer_value(json_object_get(d, "attempts")),
               (long long)json_integer_value(json_object_get(d, "last_failure")));
    }
}

int ctl_cmd_dlq(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"destination", required_argument, NULL, 'd'},
        {"after", required_argument, NULL, 'a'},
        {"limit", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    json_t *args = json_object(), *reply;
    ctl_session_t s;
    char *text, *end;
    long long n;
    int c, status;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (ctl_common_option(cmd, c, argv, &status)) {
            json_decref(args);
            return status;
        }
        switch (c) {
        case 'd':
            json_object_set_new(args, "destination", json_string(optarg));
            break;
        case 'a':
        case 'l':
            n = strtoll(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || n < (c == 'a' ? 0 : 1)) {
                json_decref(args);
                return ctl_usage_error(cmd, "--%s takes %s, not '%s'", c == 'a' ? "after" : "limit",
                                       c == 'a' ? "a dead letter id" : "a count >= 1", optarg);
            }
            json_object_set_new(args, c == 'a' ? "after" : "limit", json_integer(n));
            break;
        }
    }
    if (optind >= argc || strcmp(argv[optind], "list") != 0 || optind + 1 != argc) {
        json_decref(args);
        return ctl_usage_error(cmd, "expected 'list' (retry and drop arrive with the delivery "
                                    "engine's next release)");
    }
    text = json_dumps(args, JSON_COMPACT);
    json_decref(args);
    if (text == NULL)
        return CTL_REFUSED;
    if ((status = ctl_open_admin(ctl, &s)) != CTL_OK) {
        free(text);
        return status;
    }
    status = ctl_admin(&s, "dlq.list", text, &reply);
    ctl_close(&s);
    free(text);
    if (status != CTL_OK)
        return status;
    if (ctl->json)
        print_json(reply);
    else
        fmt_dlq(reply);
    json_decref(reply);
    return CTL_OK;
}
