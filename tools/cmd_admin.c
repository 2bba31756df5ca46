/*
 * eventctl's admin commands: stats, health, routes, route (a dry run),
 * handlers, config, destinations, pause, resume, cursor and dlq. Each runs
 * one ADMIN command on the admin socket and prints the reply — as it is
 * with --json, else as text for people.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "eventctl.h"

int ctl_admin_wait(ctl_session_t *s, const char *cmd, const char *args_json, int timeout_ms,
                   json_t **reply)
{
    er_nack_t nack;
    char *text = NULL;
    int rc;

    *reply = NULL;
    rc = er_admin(s->c, cmd, args_json, &text, &nack, timeout_ms);
    if (rc == ER_ENACK)
        return ctl_refused(cmd, nack.code, nack.message);
    if (rc == -ETIMEDOUT) {
        ctl_err("%s: %s: no answer within %d s (the daemon may still be doing it)", s->path, cmd,
                timeout_ms / 1000);
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

int ctl_admin(ctl_session_t *s, const char *cmd, const char *args_json, json_t **reply)
{
    return ctl_admin_wait(s, cmd, args_json, CTL_ADMIN_TIMEOUT_MS, reply);
}

static void print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    if (s)
        puts(s);
    free(s);
}

int ctl_run_admin(ctl_t *ctl, const char *admin_cmd, json_t *args, int timeout_ms, json_t **reply)
{
    ctl_session_t s;
    char *text = NULL;
    int status;

    *reply = NULL;
    if (args != NULL) {
        text = json_dumps(args, JSON_COMPACT);
        json_decref(args);
        if (text == NULL) {
            ctl_err("out of memory");
            return CTL_REFUSED;
        }
    }
    if ((status = ctl_open_admin(ctl, &s)) == CTL_OK) {
        status = ctl_admin_wait(&s, admin_cmd, text, timeout_ms, reply);
        ctl_close(&s);
    }
    free(text);
    return status;
}

/*
 * The getopt loop of a command whose only option is --help. Returns true
 * when the command is over (help printed, or a usage error), its exit
 * status in *status; else optind is the first positional argument.
 */
static bool only_help(const ctl_cmd_t *cmd, int argc, char **argv, int *status)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1)
        if (ctl_common_option(cmd, c, argv, status))
            return true;
    return false;
}

/* A reply's member k as text or an integer; "?" or 0 when absent. */
static const char *str_of(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v != NULL ? v : "?";
}

static long long int_of(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

/* Commands without options: connect, run, print with fmt (or as JSON). */
static int simple(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv, const char *admin_cmd,
                  const char *args_json, void (*fmt)(const json_t *reply), json_t **keep)
{
    ctl_session_t s;
    json_t *reply;
    int status;

    if (only_help(cmd, argc, argv, &status))
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

/* ------------------------------------------------------ destinations */

/* The columns of `destinations`: the first two are text, left-aligned;
 * the others numbers, right-aligned. */
enum { DEST_COLS = 9, DEST_CELL = 80 };

static void destination_row(const json_t *d, char cells[DEST_COLS][DEST_CELL])
{
    snprintf(cells[0], DEST_CELL, "%s", str_of(d, "name"));
    snprintf(cells[1], DEST_CELL, "%s", str_of(d, "state"));
    snprintf(cells[2], DEST_CELL, "%lld", int_of(d, "cursor"));
    snprintf(cells[3], DEST_CELL, "%lld", int_of(d, "lag_events"));
    snprintf(cells[4], DEST_CELL, "%.1f", json_number_value(json_object_get(d, "lag_seconds")));
    snprintf(cells[5], DEST_CELL, "%lld/%lld", int_of(d, "inflight"), int_of(d, "window"));
    snprintf(cells[6], DEST_CELL, "%lld", int_of(d, "retrying"));
    snprintf(cells[7], DEST_CELL, "%lld", int_of(d, "delivered"));
    snprintf(cells[8], DEST_CELL, "%lld", int_of(d, "dead_lettered"));
}

static void print_row(char cells[DEST_COLS][DEST_CELL], const int *width)
{
    int c;

    for (c = 0; c < DEST_COLS; c++) {
        if (c < 2)
            printf("%-*s  ", width[c], cells[c]);
        else
            printf("%*s%s", width[c], cells[c], c + 1 < DEST_COLS ? "  " : "\n");
    }
}

static void fmt_destinations(const json_t *r)
{
    static const char *const head[DEST_COLS] = {"NAME",   "STATE",    "CURSOR",    "LAG", "LAG_S",
                                                "WINDOW", "RETRYING", "DELIVERED", "DEAD"};
    const json_t *ds = json_object_get(r, "destinations");
    size_t n = json_array_size(ds), i;
    char(*cells)[DEST_COLS][DEST_CELL];
    char header[DEST_COLS][DEST_CELL];
    int width[DEST_COLS], c;

    if (n == 0) {
        printf("no destinations configured\n");
        return;
    }
    if ((cells = calloc(n, sizeof(*cells))) == NULL) {
        ctl_err("out of memory");
        return;
    }
    for (c = 0; c < DEST_COLS; c++) {
        snprintf(header[c], DEST_CELL, "%s", head[c]);
        width[c] = (int)strlen(head[c]);
    }
    for (i = 0; i < n; i++) {
        destination_row(json_array_get(ds, i), cells[i]);
        for (c = 0; c < DEST_COLS; c++)
            if ((int)strlen(cells[i][c]) > width[c])
                width[c] = (int)strlen(cells[i][c]);
    }
    print_row(header, width);
    for (i = 0; i < n; i++)
        print_row(cells[i], width);
    free(cells);
}

int ctl_cmd_destinations(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    return simple(ctl, cmd, argc, argv, "destinations", NULL, fmt_destinations, NULL);
}

/* ----------------------------------------------------- pause, resume */

/* A command's one operand, a name: *args = {key: NAME}, or a usage error
 * (missing: `missing` says what is wanted). */
static int one_name(const ctl_cmd_t *cmd, int argc, char **argv, const char *key,
                    const char *missing, json_t **args)
{
    if (optind >= argc)
        return ctl_usage_error(cmd, "%s", missing);
    if (optind + 1 < argc)
        return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    if (argv[optind][0] == '\0' || (*args = json_pack("{s:s}", key, argv[optind])) == NULL)
        return ctl_usage_error(cmd, "'%s' is not a %s's name", argv[optind], key);
    return CTL_OK;
}

/* `pause DEST` and `resume DEST`: the same request and reply. */
static int change_state(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv,
                        const char *admin_cmd)
{
    json_t *args, *reply;
    int status;

    if (only_help(cmd, argc, argv, &status))
        return status;
    if ((status = one_name(cmd, argc, argv, "destination",
                           "which destination? (eventctl destinations lists them)", &args)) !=
        CTL_OK)
        return status;
    if ((status = ctl_run_admin(ctl, admin_cmd, args, CTL_ADMIN_TIMEOUT_MS, &reply)) != CTL_OK)
        return status;
    if (ctl->json)
        print_json(reply);
    else
        printf("%s: %s (was %s)\n", str_of(reply, "destination"), str_of(reply, "state"),
               str_of(reply, "was"));
    json_decref(reply);
    return CTL_OK;
}

int ctl_cmd_pause(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    return change_state(ctl, cmd, argc, argv, "pause");
}

int ctl_cmd_resume(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    return change_state(ctl, cmd, argc, argv, "resume");
}

/* ------------------------------------------------------------ reload */

/* `reload`: the daemon reads its file again; the answer comes once the new
 * configuration is in force (or refused, with every reason). */
int ctl_cmd_reload(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    json_t *reply;
    int status;

    if (only_help(cmd, argc, argv, &status))
        return status;
    if (optind < argc)
        return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if ((status = ctl_run_admin(ctl, "reload", json_object(), CTL_ADMIN_TIMEOUT_MS, &reply)) !=
        CTL_OK)
        return status;
    if (ctl->json)
        print_json(reply);
    else
        printf("reloaded: %lld destinations kept, %lld changed, %lld added, %lld removed; "
               "%lld routes\n",
               int_of(reply, "kept"), int_of(reply, "changed"), int_of(reply, "added"),
               int_of(reply, "removed"), int_of(reply, "routes"));
    json_decref(reply);
    return CTL_OK;
}

/* ----------------------------------------------------- delete-stream */

/* `delete-stream S`: every stored event of stream S goes; waits for it. */
int ctl_cmd_delete_stream(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    json_t *args, *reply;
    int status;

    if (only_help(cmd, argc, argv, &status))
        return status;
    if ((status = one_name(cmd, argc, argv, "stream", "which stream?", &args)) != CTL_OK)
        return status;
    if ((status = ctl_run_admin(ctl, "delete-stream", args, CTL_ADMIN_TIMEOUT_MS, &reply)) !=
        CTL_OK)
        return status;
    if (ctl->json)
        print_json(reply);
    else
        printf("%s: %lld events deleted\n", str_of(reply, "stream"), int_of(reply, "deleted"));
    json_decref(reply);
    return CTL_OK;
}

/* ------------------------------------------------------------ cursor */

/* `cursor set DEST SEQ|head`: SEQ a decimal integer >= 0 (a json_int_t). */
int ctl_cmd_cursor(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    json_t *args, *reply;
    const char *dest, *seq;
    uint64_t n = 0;
    int status;

    if (only_help(cmd, argc, argv, &status))
        return status;
    if (optind >= argc)
        return ctl_usage_error(cmd, "expected 'set'");
    if (strcmp(argv[optind], "set") != 0)
        return ctl_usage_error(cmd, "unknown subcommand '%s' (expected 'set')", argv[optind]);
    if (argc - optind < 3)
        return ctl_usage_error(cmd, "expected a destination and a seq (or 'head')");
    if (argc - optind > 3)
        return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind + 3]);
    dest = argv[optind + 1];
    seq = argv[optind + 2];
    if (strcmp(seq, "head") != 0 && !ctl_parse_uint(seq, 0, INT64_MAX, &n))
        return ctl_usage_error(cmd, "SEQ is a sequence number >= 0 or 'head', not '%s'", seq);
    if (strcmp(seq, "head") == 0)
        args = json_pack("{s:s, s:s}", "destination", dest, "seq", "head");
    else
        args = json_pack("{s:s, s:I}", "destination", dest, "seq", (json_int_t)n);
    if (args == NULL)
        return ctl_usage_error(cmd, "'%s' is not a destination's name", dest);
    if ((status = ctl_run_admin(ctl, "cursor", args, CTL_ADMIN_TIMEOUT_MS, &reply)) != CTL_OK)
        return status;
    if (ctl->json)
        print_json(reply);
    else
        printf("%s: cursor %lld (was %lld)\n", str_of(reply, "destination"),
               int_of(reply, "cursor"), int_of(reply, "previous"));
    json_decref(reply);
    return CTL_OK;
}

/* ---------------------------------------------------------------- dlq */

/* The options of every dlq subcommand; each checks those it takes. */
typedef struct dlq_opts_s {
    const char *destination; /* --destination, or NULL */
    long long after, limit;  /* -1: not given */
    bool all;                /* --all */
} dlq_opts_t;

typedef struct dlq_sub_s dlq_sub_t;

/* A subcommand: its positional arguments are pos[0..npos). */
typedef int (*dlq_run_fn)(ctl_t *ctl, const ctl_cmd_t *cmd, const dlq_sub_t *sub,
                          const dlq_opts_t *o, int npos, char **pos);

struct dlq_sub_s {
    const char *name;
    dlq_run_fn run;
    const char *admin_cmd;
    const char *count_key; /* retry, drop: the reply's count */
    const char *done;      /* retry, drop: "N dead letters DONE" */
};

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
        printf("%-8lld %-10lld %-20s %-18s %8lld  %lld\n", int_of(d, "id"), int_of(d, "seq"),
               str_of(d, "destination"), str_of(d, "reason"), int_of(d, "attempts"),
               int_of(d, "last_failure"));
    }
}

static int dlq_list(ctl_t *ctl, const ctl_cmd_t *cmd, const dlq_sub_t *sub, const dlq_opts_t *o,
                    int npos, char **pos)
{
    json_t *args, *reply;
    int status;

    if (o->all)
        return ctl_usage_error(cmd, "--all goes with retry and drop, not list");
    if (npos > 0)
        return ctl_usage_error(cmd, "unexpected argument '%s'", pos[0]);
    if ((args = json_object()) == NULL) {
        ctl_err("out of memory");
        return CTL_REFUSED;
    }
    if (o->destination != NULL)
        json_object_set_new(args, "destination", json_string(o->destination));
    if (o->after >= 0)
        json_object_set_new(args, "after", json_integer(o->after));
    if (o->limit >= 0)
        json_object_set_new(args, "limit", json_integer(o->limit));
    if ((status = ctl_run_admin(ctl, sub->admin_cmd, args, CTL_ADMIN_TIMEOUT_MS, &reply)) != CTL_OK)
        return status;
    if (ctl->json)
        print_json(reply);
    else
        fmt_dlq(reply);
    json_decref(reply);
    return CTL_OK;
}

/*
 * retry and drop: IDs, or --destination D --all. Prints the count; the ids
 * the daemon did not find are named on stderr and make the status 1.
 */
static int dlq_mutate(ctl_t *ctl, const ctl_cmd_t *cmd, const dlq_sub_t *sub, const dlq_opts_t *o,
                      int npos, char **pos)
{
    json_t *args, *ids, *reply, *missing, *v;
    uint64_t id;
    size_t i;
    int k, status;

    if (o->after >= 0 || o->limit >= 0)
        return ctl_usage_error(cmd, "--%s goes with list, not %s",
                               o->after >= 0 ? "after" : "limit", sub->name);
    if (o->all && npos > 0)
        return ctl_usage_error(cmd, "give dead letter ids or --destination D --all, not both");
    if (o->all && o->destination == NULL)
        return ctl_usage_error(cmd, "--all needs --destination D");
    if (!o->all && o->destination != NULL)
        return ctl_usage_error(cmd, "--destination D needs --all here (or give dead letter ids "
                                    "alone)");
    if (!o->all && npos == 0)
        return ctl_usage_error(cmd, "which dead letters? give their ids or --destination D --all");
    if (o->all) {
        args = json_pack("{s:s, s:b}", "destination", o->destination, "all", 1);
        if (args == NULL)
            return ctl_usage_error(cmd, "'%s' is not a destination's name", o->destination);
    } else {
        if ((args = json_object()) == NULL || (ids = json_array()) == NULL) {
            json_decref(args);
            ctl_err("out of memory");
            return CTL_REFUSED;
        }
        json_object_set_new(args, "ids", ids);
        for (k = 0; k < npos; k++) {
            if (!ctl_parse_uint(pos[k], 0, INT64_MAX, &id)) {
                json_decref(args);
                return ctl_usage_error(cmd, "'%s' is not a dead letter id", pos[k]);
            }
            json_array_append_new(ids, json_integer((json_int_t)id));
        }
    }
    if ((status = ctl_run_admin(ctl, sub->admin_cmd, args, CTL_ADMIN_TIMEOUT_MS, &reply)) != CTL_OK)
        return status;
    if (ctl->json)
        print_json(reply);
    else
        printf("%lld dead letters %s\n", int_of(reply, sub->count_key), sub->done);
    missing = json_object_get(reply, "missing");
    if (json_array_size(missing) > 0) {
        fflush(stdout); /* the count first, also when both go to one pipe */
        fputs("eventctl: not found:", stderr);
        json_array_foreach(missing, i, v)
            fprintf(stderr, " %lld", (long long)json_integer_value(v));
        fputc('\n', stderr);
        status = CTL_REFUSED;
    }
    json_decref(reply);
    return status;
}

static const dlq_sub_t dlq_subs[] = {
    {"list", dlq_list, "dlq.list", NULL, NULL},
    {"retry", dlq_mutate, "dlq.retry", "retried", "sent back to their destinations"},
    {"drop", dlq_mutate, "dlq.drop", "dropped", "dropped"},
};

int ctl_cmd_dlq(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"destination", required_argument, NULL, 'd'},
        {"after", required_argument, NULL, 'a'},
        {"limit", required_argument, NULL, 'l'},
        {"all", no_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    dlq_opts_t o = {NULL, -1, -1, false};
    char *end;
    long long n;
    size_t i;
    int c, status;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (ctl_common_option(cmd, c, argv, &status))
            return status;
        switch (c) {
        case 'd':
            o.destination = optarg;
            break;
        case 'A':
            o.all = true;
            break;
        case 'a':
        case 'l':
            n = strtoll(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || n < (c == 'a' ? 0 : 1))
                return ctl_usage_error(cmd, "--%s takes %s, not '%s'", c == 'a' ? "after" : "limit",
                                       c == 'a' ? "a dead letter id" : "a count >= 1", optarg);
            *(c == 'a' ? &o.after : &o.limit) = n;
            break;
        }
    }
    if (optind >= argc)
        return ctl_usage_error(cmd, "expected list, retry or drop");
    for (i = 0; i < sizeof(dlq_subs) / sizeof(dlq_subs[0]); i++)
        if (strcmp(dlq_subs[i].name, argv[optind]) == 0)
            return dlq_subs[i].run(ctl, cmd, &dlq_subs[i], &o, argc - optind - 1,
                                   argv + optind + 1);
    return ctl_usage_error(cmd, "unknown subcommand '%s' (expected list, retry or drop)",
                           argv[optind]);
}
