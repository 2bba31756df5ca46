/*
 * eventctl query and tail: the stored events a filter matches, in seq
 * order, one JSON line each on stdout (the JSON shape of eventctl(1),
 * which `publish --from-file` reads back) and nothing else there. They ask
 * on the admin socket (QUERY and TAIL, DESIGN §4), or with
 * --publish-socket on the publish socket (a peer an acl rule grants read);
 * the daemon streams the result in pages, so a result of any size goes
 * through in bounded memory on both sides. tail goes on with each event
 * stored after it started until interrupted (SIGINT, SIGTERM: CANCEL, then
 * exit 0) or --limit events came.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "eventctl.h"

/* How long to wait for each answer of the daemon (query). */
#define QUERY_TIMEOUT_MS 30000
/* How often a quiet tail looks whether it was interrupted. */
#define TAIL_IDLE_MS 200

/* ------------------------------------------------------------- TIME */

/* "-N" followed by s, m, h or d: that long before now. */
static bool parse_relative(const char *s, int64_t *out)
{
    static const struct {
        char unit;
        int64_t us;
    } units[] = {{'s', 1000000}, {'m', 60000000}, {'h', 3600000000}, {'d', 86400000000}};
    uint64_t n;
    size_t len = strlen(s), i;
    char num[24];

    if (len < 3 || len - 2 >= sizeof(num) || s[0] != '-')
        return false;
    memcpy(num, s + 1, len - 2);
    num[len - 2] = '\0';
    if (!ctl_parse_uint(num, 0, INT64_MAX / 86400000000, &n))
        return false;
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (s[len - 1] == units[i].unit) {
            *out = er_now_us() - (int64_t)n * units[i].us;
            return true;
        }
    }
    return false;
}

/* RFC 3339: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM). */
static bool parse_rfc3339(const char *s, int64_t *out)
{
    struct tm tm;
    int y, mo, d, h, mi, sec, off = 0, oh, om, used = 0, digits = 0;
    int64_t frac = 0;
    time_t t;
    const char *p;

    if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3 || used != 10)
        return false;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        return false;
    if (sscanf(s + 11, "%2d:%2d:%2d%n", &h, &mi, &sec, &used) != 3 || used != 8)
        return false;
    p = s + 19;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 6)
                frac = frac * 10 + (*p - '0');
        if (digits == 0)
            return false;
        for (; digits < 6; digits++)
            frac *= 10;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        off = 0;
    } else if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d%n", &oh, &om, &used) == 2 &&
               used == 5 && p[6] == '\0' && oh <= 23 && om <= 59) {
        off = (*p == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    } else {
        return false;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    *out = ((int64_t)t - off) * 1000000 + frac;
    return true;
}

/* TIME of eventctl(1): RFC 3339 or relative to now. µs since the epoch. */
static bool parse_time(const char *s, int64_t *out)
{
    return parse_relative(s, out) || parse_rfc3339(s, out);
}

/* --------------------------------------------------------------- rows */

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
    signal(sig, SIG_DFL); /* a second one ends eventctl at once */
}

typedef struct rows_s {
    int failed; /* errno of a failed write to stdout */
    bool tail;  /* flush each line; NULL rows ask whether to stop */
} rows_t;

static int print_row(void *arg, const er_event_t *ev)
{
    rows_t *r = arg;
    char *line;

    if (ev == NULL)
        return interrupted != 0;
    if ((line = er_event_to_json(ev)) == NULL || fputs(line, stdout) == EOF ||
        putchar('\n') == EOF || (r->tail && fflush(stdout) == EOF)) {
        r->failed = line == NULL ? ENOMEM : errno;
        free(line);
        return 1;
    }
    free(line);
    return r->tail && interrupted != 0;
}

/* ------------------------------------------------------------ command */

/*
 * The options query, tail and replay share: the filter (into *filter),
 * and --publish-socket (query, tail: publish_socket not NULL) or --to
 * (replay: to not NULL). Returns true to go on; false when the command
 * ends here (--help, a usage error) with *status its exit status.
 */
static bool filter_options(const ctl_cmd_t *cmd, int argc, char **argv, json_t *filter,
                           bool *publish_socket, const char **to, int *status)
{
    static const struct option opts[] = {
        {"stream", required_argument, NULL, 's'},
        {"correlation-id", required_argument, NULL, 'c'},
        {"type", required_argument, NULL, 't'},
        {"id", required_argument, NULL, 'i'},
        {"since", required_argument, NULL, 'S'},
        {"until", required_argument, NULL, 'U'},
        {"from-seq", required_argument, NULL, 'f'},
        {"limit", required_argument, NULL, 'l'},
        {"publish-socket", no_argument, NULL, 'P'},
        {"to", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const char *const keys[] = {
        ['s'] = "stream", ['c'] = "correlation_id", ['t'] = "type", ['i'] = "id"};
    uint64_t u;
    int64_t t;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        if (ctl_common_option(cmd, c, argv, status))
            return false;
        switch (c) {
        case 's':
        case 'c':
        case 't':
        case 'i':
            json_object_set_new(filter, keys[c], json_string(optarg));
            break;
        case 'S':
        case 'U':
            if (!parse_time(optarg, &t) || t < 0) {
                *status = ctl_usage_error(cmd, "--%s: '%s' is not a time (RFC 3339 or -N[smhd])",
                                          c == 'S' ? "since" : "until", optarg);
                return false;
            }
            json_object_set_new(filter, c == 'S' ? "since" : "until", json_integer(t));
            break;
        case 'f':
        case 'l':
            if (!ctl_parse_uint(optarg, c == 'l' ? 1 : 0, INT64_MAX, &u)) {
                *status = ctl_usage_error(cmd, "--%s: '%s' is not a number%s",
                                          c == 'l' ? "limit" : "from-seq", optarg,
                                          c == 'l' ? " >= 1" : "");
                return false;
            }
            json_object_set_new(filter, c == 'l' ? "limit" : "from_seq",
                                json_integer((json_int_t)u));
            break;
        case 'P':
        case 'T':
            if ((c == 'P' && publish_socket == NULL) || (c == 'T' && to == NULL)) {
                *status = ctl_usage_error(cmd, "unknown option '--%s'",
                                          c == 'P' ? "publish-socket" : "to");
                return false;
            }
            if (c == 'P')
                *publish_socket = true;
            else
                *to = optarg;
            break;
        default:
            *status = ctl_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
            return false;
        }
    }
    if (optind < argc) {
        *status = ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        return false;
    }
    *status = CTL_OK;
    return true;
}

/* query, or tail when tail is set. */
static int read_events(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv, bool tail)
{
    json_t *filter = json_object();
    ctl_session_t s;
    er_nack_t nack;
    rows_t rows = {0, tail};
    uint64_t count = 0;
    char *text = NULL;
    bool publish_socket = false;
    int status, rc;

    if (filter == NULL) {
        ctl_err("out of memory");
        return CTL_REFUSED;
    }
    if (!filter_options(cmd, argc, argv, filter, &publish_socket, NULL, &status))
        goto out;
    if ((text = json_dumps(filter, JSON_COMPACT)) == NULL) {
        ctl_err("out of memory");
        status = CTL_REFUSED;
        goto out;
    }
    status =
        publish_socket ? ctl_open(ctl, &s, ER_ACK_RECEIVED, NULL, NULL) : ctl_open_admin(ctl, &s);
    if (status != CTL_OK)
        goto out;
    if (tail) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal; /* no SA_RESTART: the wait returns */
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        rc = er_tail(s.c, text, print_row, &rows, TAIL_IDLE_MS, &count, &nack);
    } else {
        rc = er_query(s.c, text, print_row, &rows, &count, &nack, QUERY_TIMEOUT_MS);
    }
    if (fflush(stdout) == EOF && rows.failed == 0)
        rows.failed = errno;
    if (rc == ER_ENACK) {
        status = ctl_refused(cmd->name, nack.code, nack.message);
    } else if (rc == -ETIMEDOUT) {
        ctl_err("%s: no answer within %d s", s.path, QUERY_TIMEOUT_MS / 1000);
        status = CTL_UNREACHABLE;
    } else if (rc != 0 && rc != -ECANCELED) {
        status = ctl_fail(&s, rc);
    } else if (rows.failed != 0) {
        ctl_err("stdout: %s", strerror(rows.failed));
        status = CTL_REFUSED;
    }
    ctl_close(&s);
out:
    free(text);
    json_decref(filter);
    return status;
}

int ctl_cmd_query(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    return read_events(ctl, cmd, argc, argv, false);
}

int ctl_cmd_tail(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    return read_events(ctl, cmd, argc, argv, true);
}

/* ------------------------------------------------------------- replay */

/* How often replay asks how far it got, and prints it (on stderr). */
#define REPLAY_POLL_MS     200
#define REPLAY_PROGRESS_MS 1000

static long long num(const json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

/*
 * replay [filters] --to DESTINATION: start the replay (admin `replay`),
 * print its progress on stderr about once a second while it runs, and a
 * summary at the end (stdout; --json: the final status). SIGINT or
 * SIGTERM cancels it (what is queued is still delivered). Exit 0 when
 * every matching event was delivered, 1 when some were dead-lettered or
 * dropped, or the replay failed or was cancelled.
 */
int ctl_cmd_replay(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    json_t *filter = json_object(), *reply = NULL, *st = NULL;
    const char *to = NULL, *state;
    ctl_session_t s;
    char *text = NULL, args[64];
    long long id;
    int64_t last_print = ctl_now_us(); /* the first line after a second */
    bool cancelled = false;
    int status;

    if (filter == NULL) {
        ctl_err("out of memory");
        return CTL_REFUSED;
    }
    if (!filter_options(cmd, argc, argv, filter, NULL, &to, &status))
        goto out;
    if (to == NULL) {
        status = ctl_usage_error(cmd, "--to DESTINATION is required");
        goto out;
    }
    json_object_set_new(filter, "destination", json_string(to));
    if ((text = json_dumps(filter, JSON_COMPACT)) == NULL) {
        ctl_err("out of memory");
        status = CTL_REFUSED;
        goto out;
    }
    if ((status = ctl_open_admin(ctl, &s)) != CTL_OK)
        goto out;
    if ((status = ctl_admin(&s, "replay", text, &reply)) != CTL_OK)
        goto close;
    id = num(reply, "id");
    snprintf(args, sizeof(args), "{\"id\":%lld}", id);
    {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    for (;;) {
        struct timespec ts = {0, REPLAY_POLL_MS * 1000000L};
        json_decref(st);
        st = NULL;
        if (interrupted && !cancelled) {
            cancelled = true;
            if ((status = ctl_admin(&s, "replay.cancel", args, &st)) != CTL_OK)
                goto close;
            json_decref(st);
            st = NULL;
        }
        if ((status = ctl_admin(&s, "replay.status", args, &st)) != CTL_OK)
            goto close;
        state = json_string_value(json_object_get(st, "state"));
        if (state == NULL)
            state = "?";
        if (strcmp(state, "running") != 0 && num(st, "pending") == 0)
            break;
        if (ctl_now_us() - last_print >= REPLAY_PROGRESS_MS * 1000LL) {
            last_print = ctl_now_us();
            fprintf(stderr,
                    "replay %lld to %s: %lld of the stored events up to seq %lld, %lld "
                    "delivered, %lld dead-lettered, %lld pending\n",
                    id, to, num(st, "matched"), num(st, "to_seq"), num(st, "delivered"),
                    num(st, "dead_lettered"), num(st, "pending"));
        }
        nanosleep(&ts, NULL);
    }
    if (ctl->json) {
        char *out = json_dumps(st, JSON_COMPACT);
        if (out != NULL)
            printf("%s\n", out);
        free(out);
    } else {
        printf("replayed %lld events to %s: %lld delivered, %lld dead-lettered, %lld dropped "
               "(%.3f s)\n",
               num(st, "matched"), to, num(st, "delivered"), num(st, "dead_lettered"),
               num(st, "dropped"), json_number_value(json_object_get(st, "seconds")));
    }
    if (strcmp(state, "done") != 0) {
        const char *why = json_string_value(json_object_get(st, "error"));
        ctl_err("replay %lld %s%s%s", id, state, why ? ": " : "", why ? why : "");
        status = CTL_REFUSED;
    } else if (num(st, "dead_lettered") > 0 || num(st, "dropped") > 0) {
        ctl_err("replay %lld: not every event was delivered (dead letters: eventctl dlq list "
                "--destination %s)",
                id, to);
        status = CTL_REFUSED;
    }
close:
    ctl_close(&s);
out:
    json_decref(st);
    json_decref(reply);
    free(text);
    json_decref(filter);
    return status;
}
