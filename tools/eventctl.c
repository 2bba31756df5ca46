/*
 * eventctl: the command-line tool of eventrouter (eventctl(1)). This file
 * holds main, the global options, the command table (one entry per command,
 * looked up by name; no strcmp chains) and the helpers the commands share:
 * connecting to the daemon and turning errors into the exit status
 * 0 success, 1 refused, 2 usage error, 3 daemon unreachable.
 */
#include "build-config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>

#include "eventctl.h"
#include "proto.h"

static int cmd_help(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);

/* ------------------------------------------------------- command table */

static const ctl_cmd_t commands[] = {
    {"ping", "[--count N] [--timeout SECONDS]",
     "check that the daemon answers and show the round trip",
     "  --count N          send N pings, one after the other (default 1)\n"
     "  --timeout SECONDS  wait at most this long for each answer (default 5)\n"
     "Prints \"pong TIMEus\" per answer (with --json, an object with the round trip\n"
     "and the daemon's limits).\n",
     ctl_cmd_ping},
    {"publish",
     "--type T [--topic X] [--priority P] [--stream S] [--correlation-id C]\n"
     "        [--causation-id C] [--source S] [--id ID] [--meta K=V]... [--content-type CT]\n"
     "        [--data JSON | --data-file F] [--ack none|received|durable]\n"
     "        [--count N [--batch N]]\n"
     "   or: eventctl publish --from-file F [--reimport] [--ack none|received|durable]",
     "publish one event, N events, or a file of JSON lines",
     "  --type T             the event type (required unless --from-file)\n"
     "  --topic X            routing topic (default: the type)\n"
     "  --priority P         low, normal, high, critical or 0-3 (default normal)\n"
     "  --stream S           aggregate stream, e.g. user:123\n"
     "  --correlation-id C, --causation-id C, --source S\n"
     "  --id ID              the event id (the daemon de-duplicates on it); with\n"
     "                       --count, event k gets ID-k\n"
     "  --meta K=V           a meta entry (repeatable, at most 64)\n"
     "  --content-type CT    content type of the payload\n"
     "  --data JSON          a JSON payload, sent as given (application/json)\n"
     "  --data-file F        the payload is the bytes of F (- for stdin); content type\n"
     "                       application/json when they parse as JSON, else\n"
     "                       application/octet-stream, unless --content-type\n"
     "  --ack MODE           none, received or durable (default durable)\n"
     "  --count N            send N copies, pipelined; prints a rate on stderr\n"
     "  --batch N            with --count, N events per PUBLISH_BATCH (default 1)\n"
     "  --from-file F        send each JSON line of F (- for stdin) as it is\n"
     "  --reimport           with --from-file, drop seq, received, origin, via, hops\n"
     "Prints the assigned seq on stdout (one per accepted line with --from-file;\n"
     "nothing with --ack none).\n",
     ctl_cmd_publish},
    {"query",
     "[--stream S] [--correlation-id C] [--type T] [--id ID] [--since TIME]\n"
     "        [--until TIME] [--from-seq N] [--limit N] [--publish-socket]",
     "print stored events as JSON lines",
     "  --stream S, --correlation-id C, --type T, --id ID\n"
     "                     only events with exactly this value\n"
     "  --since TIME       only events whose time is TIME or later\n"
     "  --until TIME       only events whose time is before TIME\n"
     "  --from-seq N       only events with seq N or above\n"
     "  --limit N          at most N events\n"
     "  --publish-socket   ask on the publish socket (an acl rule must grant read)\n"
     "TIME is RFC 3339 (2024-05-01T12:00:00Z, ...+02:00, fractions allowed) or\n"
     "relative to now: -30s, -15m, -1h, -2d. Every filter given must hold.\n"
     "Prints one JSON line per event, in seq order, on stdout and nothing else\n"
     "there (publish --from-file --reimport reads them back) (admin socket).\n",
     ctl_cmd_query},
    {"tail",
     "[--stream S] [--correlation-id C] [--type T] [--id ID] [--since TIME]\n"
     "        [--until TIME] [--from-seq N] [--limit N] [--publish-socket]",
     "print events as they are stored, until interrupted",
     "  (the filters of query)\n"
     "  --from-seq N       begin with the stored events from seq N (default: only\n"
     "                     events stored after tail started)\n"
     "  --limit N          end after N events\n"
     "  --publish-socket   ask on the publish socket (an acl rule must grant read)\n"
     "Prints one JSON line per event as the store takes it, flushed at once.\n"
     "SIGINT or SIGTERM ends it (exit 0). A reader that falls more than\n"
     "limits.tail_max_lag events behind is dropped by the daemon (exit 1).\n",
     ctl_cmd_tail},
    {"replay",
     "[--stream S] [--correlation-id C] [--type T] [--id ID] [--since TIME]\n"
     "        [--until TIME] [--from-seq N] [--limit N] --to DESTINATION",
     "deliver stored events to a destination again",
     "  (the filters of query)\n"
     "  --to DESTINATION   the handler to deliver them to, whatever the routes say\n"
     "Every stored event that matches, up to the head stored when it starts, is\n"
     "delivered once more to DESTINATION with its retry policy; its cursor does\n"
     "not move. Progress on stderr; a summary on stdout (--json: the status).\n"
     "SIGINT or SIGTERM cancels it. Exit 1 when any event was not delivered\n"
     "(admin socket).\n",
     ctl_cmd_replay},
    {"stats", "", "show the daemon's counters (admin socket)",
     "Connections, requests, events sequenced, routed and unrouted, and the\n"
     "store's figures (events stored, commits, de-duplication), per the daemon.\n",
     ctl_cmd_stats},
    {"health", "", "show the daemon's health; exit 0 UP, 1 DEGRADED or DOWN",
     "Prints UP, DEGRADED or DOWN and each handler's state (admin socket).\n", ctl_cmd_health},
    {"handlers", "", "list the handlers with their state and counters",
     "Per handler: plugin and file, state, health, delivered, retried, failed,\n"
     "gave up, timed out, in flight, queued and declared types (admin socket).\n",
     ctl_cmd_handlers},
    {"routes", "", "show the effective routing table, implicit routes included",
     "One line per route in evaluation order: index, implicit or not, match,\n"
     "destinations, continue (admin socket).\n",
     ctl_cmd_routes},
    {"route",
     "--type T [--topic X] [--priority P] [--stream S] [--source S] [--from B]\n"
     "        [--meta K=V]...",
     "dry run: the routes and destinations an event would take",
     "  --type T        the event type (required)\n"
     "  --topic X       its topic (default: the type)\n"
     "  --priority P    low, normal, high or critical\n"
     "  --stream S, --source S, --from BROKER, --meta K=V (repeatable)\n"
     "Nothing is published (admin socket).\n",
     ctl_cmd_route},
    {"config", "", "print the effective configuration, secrets redacted",
     "The configuration the daemon runs with, every default included (admin socket).\n",
     ctl_cmd_config},
    {"delete-stream", "STREAM", "delete every stored event of a stream",
     "Every event of STREAM goes from the store (with its index entries), in\n"
     "chunks; waits until none is left and prints \"STREAM: N events deleted\".\n"
     "A destination that had not had them yet never will; a dead letter whose\n"
     "event went cannot be sent back (admin socket).\n",
     ctl_cmd_delete_stream},
    {"reload", "", "make the daemon read its configuration file again",
     "The daemon reads and checks the whole file again and applies it: unchanged\n"
     "destinations keep their instance, cursor and deliveries in flight; changed\n"
     "ones are re-created on the same cursor; removed ones finish what they have\n"
     "in flight, then their cursors are deleted; new ones start per `start`; the\n"
     "routing table is swapped between two events. Waits for the answer: prints\n"
     "\"reloaded: N destinations kept, ...\" and exits 0, or prints every reason\n"
     "(FILE:LINE:COLUMN: message) and exits 1, the running configuration\n"
     "untouched. A change to listen.*, store or limits.dedupe_* needs a restart\n"
     "and is refused naming the key (admin socket).\n",
     ctl_cmd_reload},
    {"destinations", "", "list the destinations with their state, cursor and lag",
     "One line per destination (admin socket):\n"
     "  NAME       the destination\n"
     "  STATE      live: delivering fresh events from memory; catching_up: reading\n"
     "             the store because it is behind; paused: nothing new delivered\n"
     "             until `eventctl resume` (or a restart); stopped: its plugin\n"
     "             is not running\n"
     "  CURSOR     every seq up to it is done for this destination\n"
     "  LAG        events stored after the cursor; LAG_S the age in seconds of the\n"
     "             oldest one not done yet (0 when none)\n"
     "  WINDOW     deliveries in flight / the window\n"
     "  RETRYING   events waiting for a retry\n"
     "  DELIVERED  events delivered; DEAD events dead-lettered\n"
     "--json shows every counter the daemon keeps (retried, failed, gave up, timed\n"
     "out, dropped, read from the store, the persisted cursor, the head, ...).\n",
     ctl_cmd_destinations},
    {"pause", "DEST", "stop delivering new events to a destination until resume",
     "Nothing new is delivered to DEST; deliveries in flight finish. Events keep\n"
     "being stored, and DEST catches up after `eventctl resume DEST`. A restart\n"
     "of the daemon un-pauses it.\n"
     "Prints \"DEST: paused (was STATE)\" (admin socket).\n",
     ctl_cmd_pause},
    {"resume", "DEST", "deliver to a paused destination again",
     "DEST goes on from its cursor (catching_up: reading the store for what it\n"
     "missed, or live when memory still holds it).\n"
     "Prints \"DEST: STATE (was paused)\" (admin socket).\n",
     ctl_cmd_resume},
    {"cursor", "set DEST SEQ|head", "move a destination's cursor: replay or skip events",
     "  set DEST SEQ   every event up to SEQ is treated as done for DEST, and\n"
     "                 delivery goes on at SEQ+1: lower than the cursor to replay\n"
     "                 stored events, higher to skip them\n"
     "  set DEST head  skip everything stored so far\n"
     "Prints \"DEST: cursor N (was M)\" (admin socket).\n",
     ctl_cmd_cursor},
    {"dlq",
     "list [--destination D] [--after ID] [--limit N]\n"
     "   or: eventctl dlq retry ID... | --destination D --all\n"
     "   or: eventctl dlq drop ID... | --destination D --all",
     "list, retry or drop dead letters: deliveries given up on",
     "list:\n"
     "  --destination D  only D's (default: every destination's)\n"
     "  --after ID       those after dead letter ID (for paging)\n"
     "  --limit N        at most N (default 1000)\n"
     "  One line each: id, seq, destination, reason (failed, retries_exhausted),\n"
     "  attempts, last failure in us since the epoch.\n"
     "retry: deliver each dead letter again to its destination, with that\n"
     "  destination's retry policy; its record goes once delivered (failing\n"
     "  again parks it again, under a new id). Prints \"N dead letters sent back\n"
     "  to their destinations\".\n"
     "drop: delete the records (the events stay stored). Prints \"N dead letters\n"
     "  dropped\".\n"
     "retry and drop take either\n"
     "  ID...                  the dead letters with these ids (see dlq list); ids\n"
     "                         not found are named on stderr, exit status 1\n"
     "  --destination D --all  every dead letter of D\n"
     "(admin socket)\n",
     ctl_cmd_dlq},
    {"store", "check | backup DIR | compact [--timeout SECONDS]",
     "check the store's indexes, back it up online, or see what compact frees",
     "  check       verify that every index entry names a stored event with that\n"
     "              value and every event has its entries; prints a summary and\n"
     "              each problem; exit status 1 when there are problems\n"
     "  backup DIR  a consistent copy of the store, taken while it runs (appends\n"
     "              go on), into DIR: a new or empty directory, made if missing\n"
     "              (relative to here); prints where, how big and how long.\n"
     "              Restore: eventrouterd(8), BACKUP AND RESTORE\n"
     "  compact     what the store can give back; lmdb reports its free and\n"
     "              reclaimable space and changes nothing (restore a backup to\n"
     "              shrink the file)\n"
     "  --timeout SECONDS  give up waiting after this long (default: wait)\n"
     "(admin socket; the memory store has no backup or compact: unsupported)\n",
     ctl_cmd_store},
    {"help", "[COMMAND]", "show the usage of eventctl or of a command", "", cmd_help},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const ctl_cmd_t *find_command(const char *name)
{
    size_t i;
    for (i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_main_usage(FILE *f)
{
    size_t i;

    fprintf(f, "usage: eventctl [--socket PATH] [--admin-socket PATH] [--json] COMMAND [ARGS]\n"
               "       eventctl --help | --version\n\ncommands:\n");
    for (i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\nThe publish socket is --socket, else $EVENTROUTER_SOCKET, else %s;\n"
            "the admin socket --admin-socket, else $EVENTROUTER_ADMIN_SOCKET, else\n"
            "%s.\n"
            "Exit status: 0 success, 1 refused, 2 usage error, 3 daemon unreachable.\n"
            "`eventctl help COMMAND` shows a command's options; see eventctl(1).\n",
            ER_DEFAULT_SOCKET, ER_DEFAULT_ADMIN_SOCKET);
}

static int cmd_help(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    const ctl_cmd_t *which;

    (void)ctl;
    if (argc > 2)
        return ctl_usage_error(cmd, "too many arguments");
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        print_main_usage(stdout);
        return CTL_OK;
    }
    if ((which = find_command(argv[1])) == NULL) {
        ctl_err("unknown command '%s' (see eventctl --help)", argv[1]);
        return CTL_USAGE;
    }
    ctl_print_help(which, stdout);
    return CTL_OK;
}

/* ------------------------------------------------------------- output */

void ctl_err(const char *fmt, ...)
{
    va_list ap;
    fputs("eventctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int ctl_usage_error(const ctl_cmd_t *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "eventctl: %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: eventctl %s %s\n", cmd->name, cmd->usage);
    return CTL_USAGE;
}

void ctl_print_help(const ctl_cmd_t *cmd, FILE *f)
{
    fprintf(f, "usage: eventctl %s %s\n\n%s\n%s", cmd->name, cmd->usage, cmd->summary, cmd->help);
}

int ctl_refused(const char *where, const char *code, const char *message)
{
    if (where)
        fprintf(stderr, "eventctl: %s: refused (%s): %s\n", where, code, message);
    else
        fprintf(stderr, "eventctl: refused (%s): %s\n", code, message);
    return CTL_REFUSED;
}

int ctl_refused_local(const char *where, int rc, const er_error_t *err)
{
    return ctl_refused(where, er__nack_code_for(rc),
                       err->message[0] ? err->message : er_strerror(rc));
}

/* ------------------------------------------------------------ parsing */

bool ctl_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    unsigned long long v;
    char *end;

    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool ctl_common_option(const ctl_cmd_t *cmd, int c, char **argv, int *status)
{
    switch (c) {
    case 'h':
        ctl_print_help(cmd, stdout);
        *status = CTL_OK;
        return true;
    case ':':
        *status = ctl_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
        return true;
    case '?':
        *status = ctl_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        return true;
    default:
        return false;
    }
}

/* --------------------------------------------------------- connection */

int64_t ctl_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void session_on_welcome(er_client_t *c, const er_welcome_t *w, void *ud)
{
    ctl_session_t *s = ud;
    if (s->cbs && s->cbs->on_welcome)
        s->cbs->on_welcome(c, w, s->ud);
}

static void session_on_ack(er_client_t *c, uint32_t req, const er_ack_t *ack, void *ud)
{
    ctl_session_t *s = ud;
    if (s->cbs && s->cbs->on_ack)
        s->cbs->on_ack(c, req, ack, s->ud);
}

static void session_on_nack(er_client_t *c, uint32_t req, const er_nack_t *nack, void *ud)
{
    ctl_session_t *s = ud;
    if (req == 0) {
        s->conn_nacked = true;
        s->conn_nack = *nack;
        return;
    }
    if (s->cbs && s->cbs->on_nack)
        s->cbs->on_nack(c, req, nack, s->ud);
}

static void session_on_pong(er_client_t *c, uint32_t req, void *ud)
{
    ctl_session_t *s = ud;
    if (s->cbs && s->cbs->on_pong)
        s->cbs->on_pong(c, req, s->ud);
}

static void session_on_goaway(er_client_t *c, const char *reason, void *ud)
{
    ctl_session_t *s = ud;
    s->goaway = true;
    snprintf(s->goaway_reason, sizeof s->goaway_reason, "%s", reason);
    if (s->cbs && s->cbs->on_goaway)
        s->cbs->on_goaway(c, reason, s->ud);
}

/* Why the connection could not be made or used, and the exit status. */
static int report(ctl_session_t *s, int rc, bool connecting)
{
    switch (rc) {
    case ER_ENACK:
        /* Not allowed on this socket: a refusal (1), not an absence (3). */
        if (connecting && strcmp(s->conn_nack.code, "forbidden") == 0)
            return ctl_refused(s->path, s->conn_nack.code, s->conn_nack.message);
        if (connecting) {
            ctl_err("%s: the daemon refused the connection (%s): %s", s->path, s->conn_nack.code,
                    s->conn_nack.message);
            return CTL_UNREACHABLE;
        }
        return ctl_refused(NULL, s->conn_nack.code, s->conn_nack.message);
    case ER_EGOAWAY:
        ctl_err("%s: the daemon is going away%s%s", s->path, s->goaway_reason[0] ? ": " : "",
                s->goaway_reason);
        return CTL_UNREACHABLE;
    case ER_ECLOSED:
        ctl_err("%s: connection closed by the daemon", s->path);
        return CTL_UNREACHABLE;
    case ER_EPROTO:
        ctl_err("%s: protocol violation by the daemon", s->path);
        return CTL_UNREACHABLE;
    case -ETIMEDOUT:
        ctl_err("%s: no answer from the daemon within %d s", s->path,
                CTL_CONNECT_TIMEOUT_MS / 1000);
        return CTL_UNREACHABLE;
    case -ENAMETOOLONG:
        ctl_err("%s: socket path too long (at most %zu bytes)", s->path,
                sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        return CTL_USAGE;
    default:
        if (connecting)
            ctl_err("cannot connect to %s: %s", s->path, er_strerror(rc));
        else
            ctl_err("%s: %s", s->path, er_strerror(rc));
        return CTL_UNREACHABLE;
    }
}

int ctl_fail(ctl_session_t *s, int rc)
{
    return report(s, rc, false);
}

/* Connect to path and wait for WELCOME. */
static int open_path(const char *path, ctl_session_t *s, er_ack_mode_t ack,
                     const er_client_cbs_t *cbs, void *ud)
{
    int64_t deadline = ctl_now_us() + (int64_t)CTL_CONNECT_TIMEOUT_MS * 1000;
    int rc;

    memset(s, 0, sizeof(*s));
    s->path = path;
    s->cbs = cbs;
    s->ud = ud;
    s->own.on_welcome = session_on_welcome;
    s->own.on_ack = session_on_ack;
    s->own.on_nack = session_on_nack;
    s->own.on_pong = session_on_pong;
    s->own.on_goaway = session_on_goaway;
    if ((s->c = er_client_new(&s->own, s)) == NULL) {
        ctl_err("out of memory");
        return CTL_UNREACHABLE;
    }
    /* EAGAIN: the listen backlog is full; it clears as the daemon accepts. */
    while ((rc = er_client_connect(s->c, s->path, "eventctl", ack)) == -EAGAIN &&
           ctl_now_us() < deadline) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    while (rc == 0 && er_client_welcome(s->c) == NULL) {
        int64_t left = deadline - ctl_now_us();
        if (left <= 0)
            rc = -ETIMEDOUT;
        else
            rc = er_client_wait(s->c, (int)((left + 999) / 1000));
    }
    if (rc != 0) {
        rc = report(s, rc, true);
        ctl_close(s);
        return rc;
    }
    return CTL_OK;
}

int ctl_open(ctl_t *ctl, ctl_session_t *s, er_ack_mode_t ack, const er_client_cbs_t *cbs, void *ud)
{
    return open_path(ctl->socket ? ctl->socket : er_default_socket(), s, ack, cbs, ud);
}

int ctl_open_admin(ctl_t *ctl, ctl_session_t *s)
{
    return open_path(ctl->admin_socket ? ctl->admin_socket : er_default_admin_socket(), s,
                     ER_ACK_RECEIVED, NULL, NULL);
}

void ctl_close(ctl_session_t *s)
{
    er_client_free(s->c);
    s->c = NULL;
}

/* ---------------------------------------------------------------- main */

enum { OPT_SOCKET = 256, OPT_ADMIN_SOCKET, OPT_JSON, OPT_VERSION };

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"admin-socket", required_argument, NULL, OPT_ADMIN_SOCKET},
        {"json", no_argument, NULL, OPT_JSON},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ctl_t ctl = {NULL, NULL, false};
    const ctl_cmd_t *cmd;
    const char *env;
    int c;

    opterr = 0;
    /* '+': stop at the command; its options are its own. */
    while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_SOCKET:
            ctl.socket = optarg;
            break;
        case OPT_ADMIN_SOCKET:
            ctl.admin_socket = optarg;
            break;
        case OPT_JSON:
            ctl.json = true;
            break;
        case OPT_VERSION:
            printf("eventctl (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
            return CTL_OK;
        case 'h':
            print_main_usage(stdout);
            return CTL_OK;
        case ':':
            ctl_err("option '%s' needs a value", argv[optind - 1]);
            return CTL_USAGE;
        default:
            ctl_err("unknown option '%s' (see eventctl --help)", argv[optind - 1]);
            return CTL_USAGE;
        }
    }
    if (ctl.admin_socket == NULL)
        ctl.admin_socket =
            (env = getenv("EVENTROUTER_ADMIN_SOCKET")) && *env ? env : ER_DEFAULT_ADMIN_SOCKET;
    if (optind >= argc) {
        print_main_usage(stderr);
        return CTL_USAGE;
    }
    if ((cmd = find_command(argv[optind])) == NULL) {
        ctl_err("unknown command '%s' (see eventctl --help)", argv[optind]);
        return CTL_USAGE;
    }
    argc -= optind;
    argv += optind;
    optind = 0; /* glibc: a full re-initialisation for the command's getopt */
    return cmd->run(&ctl, cmd, argc, argv);
}
