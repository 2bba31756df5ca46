/*
 * eventrouterd: command line, process set-up (SIGPIPE, RLIMIT_NOFILE),
 * signals, and the lifetime of the loop. Everything else is in its own file.
 *
 * Exit status: 0 after a clean shutdown (SIGTERM/SIGINT) or a good
 * --check-config; 1 when start-up fails (one line says why) or the config is
 * bad; 2 for a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <uv.h>

#include "admin.h"
#include "build-config.h" /* autoconf: PACKAGE_VERSION */
#include "config.h"
#include "dispatch.h"
#include "host.h"
#include "log.h"
#include "plugin.h"
#include "reload.h"
#include "replay.h"
#include "retention.h"
#include "server.h"
#include "store.h"

#define COMPONENT "main"
#define DEFAULT_CONFIG "/etc/eventrouter/eventrouter.yaml"

typedef struct daemon_s {
    uv_loop_t *loop;
    er_config_t *cfg;
    er_store_t store;
    er_server_t server;
    er_dispatch_t dispatch;
    er_admin_env_t admin;
    er_reload_t reload;
    er_retention_t retention;
    er_replays_t replays;
    uv_signal_t sig_term, sig_int, sig_hup, sig_usr1;
    bool started;           /* the sockets are open */
    bool stop_when_started; /* a SIGTERM came while starting */
    int exit_code;
} daemon_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: eventrouterd [-c FILE] [--check-config] [--help-plugin KIND/NAME]\n"
            "                    [--version] [--help]\n"
            "\n"
            "The eventrouter daemon: receives events on a Unix socket, sequences and\n"
            "stores them, acknowledges them, and routes them to handler plugins (see\n"
            "eventrouterd(8)).\n"
            "Runs in the foreground; logs to standard error.\n"
            "\n"
            "  -c, --config FILE      configuration file (default: $EVENTROUTER_CONFIG,\n"
            "                         else " DEFAULT_CONFIG ")\n"
            "  -t, --check-config     validate the configuration, print \"ok\" or each\n"
            "                         error as FILE:LINE:COLUMN: message, and exit 0/1\n"
            "      --help-plugin KIND/NAME\n"
            "                         describe a plugin's options\n"
            "  -V, --version          print the version and exit\n"
            "  -h, --help             print this help and exit\n");
}

/* Raise the soft RLIMIT_NOFILE to the hard limit: every client is an fd. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            er_log(ER_LOG_WARN, COMPONENT, "cannot raise RLIMIT_NOFILE: %s", strerror(errno));
    }
}

static void close_signals(daemon_t *d)
{
    er__reload_stop(&d->reload);
    uv_close((uv_handle_t *)&d->sig_term, NULL);
    uv_close((uv_handle_t *)&d->sig_int, NULL);
    uv_close((uv_handle_t *)&d->sig_hup, NULL);
    uv_close((uv_handle_t *)&d->sig_usr1, NULL);
}

static void on_store_stopped(er_store_t *st, int err, const char *message)
{
    daemon_t *d = (daemon_t *)((char *)st - offsetof(daemon_t, store));

    (void)err;
    (void)message;
    close_signals(d);
    if (d->exit_code == 0)
        er_log(ER_LOG_NOTICE, COMPONENT,
               "stopped: %llu events stored, %llu duplicates answered, %llu connections served",
               (unsigned long long)st->stats.appended, (unsigned long long)st->stats.duplicates,
               (unsigned long long)d->server.stats.accepted);
}

/* The handlers are stopped: flush and close the store last. */
static void on_dispatch_done(er_dispatch_t *dp)
{
    daemon_t *d = (daemon_t *)((char *)dp - offsetof(daemon_t, dispatch));

    er__host_set_store(NULL);
    er__replays_close(&d->replays);
    d->store.committed_cb = NULL;
    d->store.stored_cb = NULL;
    er_log(ER_LOG_INFO, COMPONENT, "handlers stopped: %llu events routed, %llu unrouted",
           (unsigned long long)dp->routed, (unsigned long long)dp->unrouted);
    er__store_stop(&d->store, on_store_stopped);
}

/* Clients are gone: let the deliveries in flight finish, then stop the
 * handlers. */
static void on_server_done(er_server_t *s)
{
    daemon_t *d = (daemon_t *)((char *)s - offsetof(daemon_t, server));

    er__retention_stop(&d->retention);
    er__replays_stop(&d->replays);
    er__dispatch_stop(&d->dispatch, on_dispatch_done);
}

/* Start-up failed after the store was opened: undo in order, exit 1. */
static void start_failed(daemon_t *d, const char *why)
{
    er_log(ER_LOG_ERROR, COMPONENT, "%s", why);
    fprintf(stderr, "eventrouterd: cannot start: %s\n", why);
    d->exit_code = 1;
}

static void on_dispatch_ready(er_dispatch_t *dp, int err, const char *message);

/* The store is open (or failed to open): start the handlers; the sockets
 * open once every destination knows where it resumes. */
static void on_store_started(er_store_t *st, int err, const char *message)
{
    daemon_t *d = (daemon_t *)((char *)st - offsetof(daemon_t, store));
    const er_config_t *cfg = d->cfg;
    char why[512];
    int rc;

    if (err != 0) {
        start_failed(d, message != NULL ? message : er_strerror(err));
        er__store_stop(st, on_store_stopped);
        return;
    }
    er__host_set_store(st); /* handlers may read their state as they start */
    if ((rc = er__dispatch_start(&d->dispatch, d->loop, cfg, st, on_dispatch_ready, why,
                                 sizeof(why))) != 0) {
        start_failed(d, why);
        er__dispatch_stop(&d->dispatch, on_dispatch_done);
        return;
    }
    st->committed_cb = er__dispatch_committed;
    st->committed_arg = &d->dispatch;
    st->stored_cb = er__server_stored;
    st->stored_arg = &d->server;
}

/* Every destination knows where it resumes: open the sockets. */
static void on_dispatch_ready(er_dispatch_t *dp, int err, const char *message)
{
    daemon_t *d = (daemon_t *)((char *)dp - offsetof(daemon_t, dispatch));
    const er_config_t *cfg = d->cfg;
    char why[512];
    int rc;

    if (err != 0) {
        start_failed(d, message);
        er__dispatch_stop(dp, on_dispatch_done);
        return;
    }
    d->admin.cfg = cfg;
    d->admin.server = &d->server;
    d->admin.dispatch = dp;
    d->admin.store = &d->store;
    d->admin.reload = &d->reload;
    d->admin.replays = &d->replays;
    er__replays_init(&d->replays, dp, &d->store);
    d->reload.dispatch = dp;
    d->reload.server = &d->server;
    d->reload.store = &d->store;
    d->reload.admin = &d->admin;
    d->admin.started_us = er_now_us();
    if ((rc = er__server_start(&d->server, d->loop, cfg)) != 0) {
        snprintf(why, sizeof(why), "%s (see the log above)", er_strerror(rc));
        start_failed(d, why);
        er__dispatch_stop(dp, on_dispatch_done);
        return;
    }
    d->server.store = &d->store;
    d->server.dispatch = dp;
    d->server.admin = &d->admin;
    d->store.ready_cb = er__server_store_ready;
    d->store.drained_cb = er__server_store_drained;
    d->store.ready_arg = &d->server;
    d->started = true;
    er__retention_start(&d->retention, d->loop, &d->store, dp, &cfg->store.retention);
    d->admin.retention = &d->retention;
    er_log(ER_LOG_NOTICE, COMPONENT,
           "eventrouterd %s ready: socket %s, admin socket %s, %zu handler(s), %zu route(s), "
           "store %s, pid %d",
           PACKAGE_VERSION, cfg->listen.socket, cfg->listen.admin_socket, cfg->nhandlers,
           cfg->nroutes, cfg->store.plugin, (int)getpid());
    if (d->stop_when_started)
        er__server_shutdown(&d->server, "shutting down", on_server_done);
}

static void on_signal(uv_signal_t *h, int signum)
{
    daemon_t *d = h->data;

    switch (signum) {
    case SIGTERM:
    case SIGINT:
        if (!d->started) {
            /* Still starting (the store opening): stop once it is open. */
            er_log(ER_LOG_NOTICE, COMPONENT, "%s while starting: will stop once started",
                   strsignal(signum));
            d->stop_when_started = true;
            break;
        }
        if (d->server.stopping) {
            er_log(ER_LOG_NOTICE, COMPONENT,
                   "%s again: closing connections and stopping the handlers now",
                   strsignal(signum));
            if (d->dispatch.stopping)
                er__dispatch_stop(&d->dispatch, on_dispatch_done);
        } else {
            er_log(ER_LOG_NOTICE, COMPONENT, "%s: shutting down (up to %llu ms)",
                   strsignal(signum), (unsigned long long)d->cfg->shutdown_timeout_ms);
        }
        er__server_shutdown(&d->server, "shutting down", on_server_done);
        break;
    case SIGHUP:
        if (!d->started || d->server.stopping)
            er_log(ER_LOG_NOTICE, COMPONENT, "SIGHUP while %s: not reloading",
                   d->started ? "shutting down" : "starting");
        else
            er__reload_request(&d->reload);
        break;
    case SIGUSR1:
        er_log(ER_LOG_INFO, COMPONENT, "SIGUSR1: reopening the handlers' files");
        er__dispatch_reopen(&d->dispatch);
        break;
    }
}

static void signal_start(daemon_t *d, uv_signal_t *h, int signum)
{
    uv_signal_init(d->loop, h);
    h->data = d;
    uv_signal_start(h, on_signal, signum);
}

/* Load the configuration; on failure print each error and return NULL. */
static er_config_t *load_config(const char *path)
{
    er_config_t *cfg = NULL;
    er_diag_t diag;
    int rc;

    er__diag_init(&diag);
    rc = er__config_load(path, &cfg, &diag);
    if (rc != 0) {
        er__diag_print(&diag, stderr);
        if (er__diag_count(&diag) == 0)
            fprintf(stderr, "%s: %s\n", path, er_strerror(rc));
        er__diag_free(&diag);
        return NULL;
    }
    er__diag_free(&diag);
    return cfg;
}

/* Run the daemon on cfg (taken: freed here, or the configuration a reload
 * put in its place) from the file at path. */
static int run(er_config_t *cfg, const char *path)
{
    daemon_t d;
    int rc;

    memset(&d, 0, sizeof(d));
    d.cfg = cfg;
    d.loop = uv_default_loop();
    raise_nofile();
    er__reload_init(&d.reload, d.loop, path, &d.cfg);

    /* Signals first: once the socket accepts, a SIGTERM must find the
     * handler installed. */
    signal_start(&d, &d.sig_term, SIGTERM);
    signal_start(&d, &d.sig_int, SIGINT);
    signal_start(&d, &d.sig_hup, SIGHUP);
    signal_start(&d, &d.sig_usr1, SIGUSR1);
    er__host_init(d.loop);
    if ((rc = er__store_start(&d.store, d.loop, cfg, on_store_started)) != 0) {
        fprintf(stderr, "eventrouterd: cannot start: store %s: %s\n", cfg->store.plugin,
                er_strerror(rc));
        close_signals(&d);
        uv_run(d.loop, UV_RUN_DEFAULT);
        uv_loop_close(d.loop);
        er__reload_close(&d.reload);
        er__config_free(d.cfg);
        return 1;
    }
    uv_run(d.loop, UV_RUN_DEFAULT);
    er__reload_close(&d.reload);
    er__config_free(d.cfg);

    rc = uv_loop_close(d.loop);
    if (rc != 0) {
        er_log(ER_LOG_ERROR, COMPONENT, "loop closed with handles still open: %s",
               uv_strerror(rc));
        return 1;
    }
    return d.exit_code;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 't'},
        {"help-plugin", required_argument, NULL, 'P'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *plugin = NULL;
    bool check = false;
    er_config_t *cfg;
    int c;

    /* A write to a peer that has gone must be an EPIPE, not our death. */
    signal(SIGPIPE, SIG_IGN);

    while ((c = getopt_long(argc, argv, "c:tVh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 't':
            check = true;
            break;
        case 'P':
            plugin = optarg;
            break;
        case 'V':
            printf("eventrouterd %s (protocol %d)\n", PACKAGE_VERSION, ER_PROTOCOL_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "eventrouterd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (plugin) {
        /* The search path without a config: $EVENTROUTER_PLUGIN_PATH, the
         * build tree, the installed plugins (or an absolute path). */
        return er__plugin_help(plugin, NULL, stdout) == 0 ? 0 : 1;
    }
    if (path == NULL)
        path = getenv("EVENTROUTER_CONFIG");
    if (path == NULL || path[0] == '\0')
        path = DEFAULT_CONFIG;

    cfg = load_config(path);
    if (cfg == NULL)
        return 1;
    if (check) {
        printf("ok\n");
        er__config_free(cfg);
        return 0;
    }
    er__log_init(cfg->log.level, cfg->log.format);
    return run(cfg, path);
}
