/*
 * eventctl's index (as tmux's tmux.h): the command table's entry type, the
 * global options every command sees, and the helpers commands share for
 * connecting, reporting refusals and mapping errors to the exit status of
 * eventctl(1). One file per command group implements the commands.
 */
#ifndef EVENTCTL_H
#define EVENTCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "eventrouter.h"

/* Exit status, the contract of eventctl(1) and DESIGN §11. */
enum ctl_exit {
    CTL_OK = 0,
    CTL_REFUSED = 1,     /* the daemon (or the local check) refused; reason on stderr */
    CTL_USAGE = 2,       /* bad command line or unreadable input file */
    CTL_UNREACHABLE = 3, /* no daemon, or the connection was lost */
};

/* How long to wait for a connection and WELCOME. */
#define CTL_CONNECT_TIMEOUT_MS 5000
/* How long an admin command's answer is waited for. */
#define CTL_ADMIN_TIMEOUT_MS 30000

/* Global options, parsed before the command. */
typedef struct ctl_s {
    const char *socket;       /* --socket, else NULL: er_default_socket() */
    const char *admin_socket; /* --admin-socket, $EVENTROUTER_ADMIN_SOCKET or the default */
    bool json;                /* --json: machine-readable output on stdout */
} ctl_t;

typedef struct ctl_cmd_s ctl_cmd_t;

/* A command: argv[0] is its name, the options follow. Returns an exit status. */
typedef int (*ctl_run_fn)(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);

struct ctl_cmd_s {
    const char *name;
    const char *usage;   /* what follows "eventctl NAME" */
    const char *summary; /* one line for the command list */
    const char *help;    /* the options, one per line, for `help NAME` */
    ctl_run_fn run;
};

/* Commands (one file each group). */
int ctl_cmd_ping(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
/* Admin commands (cmd_admin.c). */
int ctl_cmd_stats(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
int ctl_cmd_health(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
int ctl_cmd_routes(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
int ctl_cmd_route(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
int ctl_cmd_handlers(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
int ctl_cmd_config(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
int ctl_cmd_dlq(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
/* store check|backup|compact (cmd_store.c): the store's maintenance. */
int ctl_cmd_store(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
int ctl_cmd_destinations(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
int ctl_cmd_pause(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
int ctl_cmd_resume(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
int ctl_cmd_cursor(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
int ctl_cmd_reload(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
int ctl_cmd_delete_stream(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
int ctl_cmd_publish(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
/* query and tail (cmd_query.c): stored events as JSON lines. */
int ctl_cmd_query(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
int ctl_cmd_tail(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
int ctl_cmd_replay(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv);
/* publish --from-file (cmd_publish_file.c): path "-" is stdin. */
int ctl_publish_from_file(ctl_t *ctl, const char *path, er_ack_mode_t ack, bool reimport);

/* ---- output */

/* "eventctl: ..." on stderr. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "eventctl: NAME: ..." and the command's usage line on stderr; returns CTL_USAGE. */
int ctl_usage_error(const ctl_cmd_t *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The command's usage and help on f (for --help, `help NAME`). */
void ctl_print_help(const ctl_cmd_t *cmd, FILE *f);
/* "eventctl: [WHERE: ]refused (CODE): MESSAGE" on stderr; returns CTL_REFUSED. */
int ctl_refused(const char *where, const char *code, const char *message);
/* The same for a local refusal (an ER_E* code from validation). */
int ctl_refused_local(const char *where, int rc, const er_error_t *err);

/* ---- parsing */

/* A decimal integer in [min, max], the whole string. */
bool ctl_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * The common option handling of a command's getopt_long loop: `c` is what
 * getopt_long returned. Handles 'h' (help, returns CTL_OK through *status),
 * '?' and ':' (usage errors). Returns true when it handled c.
 */
bool ctl_common_option(const ctl_cmd_t *cmd, int c, char **argv, int *status);

/* ---- the connection */

/*
 * A connection to the daemon's publish socket. Callbacks (cbs, ud) are the
 * command's; the session sees connection-level NACKs and GOAWAY first so
 * errors can be reported with their reason.
 */
typedef struct ctl_session_s {
    er_client_t *c;
    const char *path;
    const er_client_cbs_t *cbs; /* the command's, may be NULL */
    void *ud;
    er_client_cbs_t own; /* forwards to cbs */
    bool conn_nacked;
    er_nack_t conn_nack;
    bool goaway;
    char goaway_reason[256];
} ctl_session_t;

/* Connect and wait for WELCOME (CTL_CONNECT_TIMEOUT_MS). Returns CTL_OK or
 * the exit status after printing why. */
int ctl_open(ctl_t *ctl, ctl_session_t *s, er_ack_mode_t ack, const er_client_cbs_t *cbs, void *ud);
/* The same on the admin socket (--admin-socket, $EVENTROUTER_ADMIN_SOCKET,
 * else the default). */
int ctl_open_admin(ctl_t *ctl, ctl_session_t *s);
void ctl_close(ctl_session_t *s);

/* Run an admin command on an open admin session and return its reply (a new
 * reference) in *reply; on failure print why and return the exit status. */
struct json_t;
int ctl_admin(ctl_session_t *s, const char *cmd, const char *args_json, struct json_t **reply);
/* The same, waiting timeout_ms (< 0: for ever) instead of
 * CTL_ADMIN_TIMEOUT_MS (for what a store takes long to do). */
int ctl_admin_wait(ctl_session_t *s, const char *cmd, const char *args_json, int timeout_ms,
                   struct json_t **reply);
/* On a connection of its own: args (taken; NULL: none). */
int ctl_run_admin(ctl_t *ctl, const char *cmd, struct json_t *args, int timeout_ms,
                  struct json_t **reply);
/* Report a client error rc (not a refusal of one request) and return the
 * exit status it maps to. */
int ctl_fail(ctl_session_t *s, int rc);

/* Monotonic microseconds. */
int64_t ctl_now_us(void);

#endif
