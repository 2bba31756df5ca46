/*
 * Integration-test harness (see harness.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

const char *er_test_bin(const char *rel)
{
    static char path[1024];
    const char *b = getenv("ER_BUILDDIR");
    snprintf(path, sizeof(path), "%s/%s", b && b[0] ? b : ".", rel);
    return path;
}

int er_test_connect_raw(const char *path)
{
    struct sockaddr_un sa;
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return -1;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

size_t er_test_scale(size_t n)
{
    const char *s = getenv("ER_TEST_SCALE");
    double f = s ? atof(s) : 1.0;
    size_t v;
    if (f <= 0 || f > 1)
        f = 1;
    v = (size_t)((double)n * f);
    return v ? v : 1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int socket_answers(const char *path)
{
    int fd = er_test_connect_raw(path);

    if (fd < 0)
        return 0;
    close(fd);
    return 1;
}

void er_test_daemon_dump_log(const er_test_daemon_t *d)
{
    char buf[4096];
    size_t n;
    FILE *f = fopen(d->log, "r");
    if (f == NULL)
        return;
    fprintf(stderr, "---- daemon log %s ----\n", d->log);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, stderr);
    fprintf(stderr, "---- end of daemon log ----\n");
    fclose(f);
}

/* Daemons started and not yet cleaned up: a failing Check assertion exits
 * the test process, and this still stops them and removes their dirs. */
#define MAX_LIVE 16
static er_test_daemon_t *live[MAX_LIVE];

static void cleanup_live(void)
{
    int i;
    /* Only in the process that started them: a forked Check test that
     * exits must not stop a daemon its parent's fixture owns. */
    for (i = 0; i < MAX_LIVE; i++)
        if (live[i] && live[i]->owner == getpid())
            er_test_daemon_cleanup(live[i]);
}

static void track(er_test_daemon_t *d, bool add)
{
    static bool registered;
    int i;
    if (!registered) {
        atexit(cleanup_live);
        registered = true;
    }
    for (i = 0; i < MAX_LIVE; i++) {
        if (add && live[i] == NULL) {
            live[i] = d;
            return;
        }
        if (!add && live[i] == d)
            live[i] = NULL;
    }
}

int er_test_daemon_start(er_test_daemon_t *d, const char *extra)
{
    const char *tmp = getenv("TMPDIR");
    FILE *f;

    memset(d, 0, sizeof(*d));
    d->owner = getpid();
    snprintf(d->dir, sizeof(d->dir), "%s/er-itest.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(d->dir) == NULL) {
        perror("mkdtemp");
        return -1;
    }
    track(d, true);
    snprintf(d->sock, sizeof(d->sock), "%s/events.sock", d->dir);
    snprintf(d->config, sizeof(d->config), "%s/eventrouter.yaml", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/daemon.log", d->dir);
    f = fopen(d->config, "w");
    if (f == NULL) {
        perror(d->config);
        return -1;
    }
    fprintf(f, "listen:\n  socket: %s\n  admin_socket: %s/admin.sock\nlog:\n  level: debug\n",
            d->sock, d->dir);
    /* The default store, in the test's directory, unless the test
     * configures its own; a map_size valgrind can map (its address space
     * is 64 GiB, the default map_size). */
    if (extra == NULL || (strncmp(extra, "store:", 6) != 0 && strstr(extra, "\nstore:") == NULL))
        fprintf(f, "store:\n  plugin: lmdb\n  path: %s/store\n  map_size: 4GiB\n", d->dir);
    /* "@DIR@" in extra stands for the test's directory. */
    for (const char *p = extra ? extra : "", *at; *p; p = at + 5) {
        if ((at = strstr(p, "@DIR@")) == NULL) {
            fputs(p, f);
            break;
        }
        fprintf(f, "%.*s%s", (int)(at - p), p, d->dir);
    }
    fclose(f);
    return er_test_daemon_restart(d);
}

int er_test_daemon_restart(er_test_daemon_t *d)
{
    const char *wrapper = getenv("ER_TEST_WRAPPER");
    char *argv[64];
    char wbuf[1024], admin[300];
    int argc = 0, i;

    if (wrapper && wrapper[0]) {
        char *save = NULL, *tok;
        snprintf(wbuf, sizeof(wbuf), "%s", wrapper);
        for (tok = strtok_r(wbuf, " ", &save); tok && argc < 48; tok = strtok_r(NULL, " ", &save))
            argv[argc++] = tok;
    }
    argv[argc++] = (char *)er_test_bin("daemon/eventrouterd");
    argv[argc++] = "-c";
    argv[argc++] = d->config;
    argv[argc] = NULL;

    d->pid = fork();
    if (d->pid < 0) {
        perror("fork");
        return -1;
    }
    if (d->pid == 0) {
        /* Never outlive the test process. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
        execvp(argv[0], argv);
        perror(argv[0]);
        _exit(127);
    }
    /* Up to 30 s: valgrind takes a while to start. Both sockets: the
     * admin socket is bound just after the publish socket. */
    snprintf(admin, sizeof(admin), "%s/admin.sock", d->dir);
    for (i = 0; i < 3000; i++) {
        int st;
        if (socket_answers(d->sock) && socket_answers(admin))
            return 0;
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            fprintf(stderr, "daemon exited during start-up\n");
            d->pid = 0;
            er_test_daemon_dump_log(d);
            return -1;
        }
        sleep_ms(10);
    }
    fprintf(stderr, "daemon socket %s did not answer in 30 s\n", d->sock);
    er_test_daemon_dump_log(d);
    return -1;
}

int er_test_daemon_stop(er_test_daemon_t *d, int sig, int timeout_s)
{
    int st, i;

    if (d->pid <= 0)
        return -1;
    kill(d->pid, sig);
    for (i = 0; i < timeout_s * 100; i++) {
        pid_t r = waitpid(d->pid, &st, WNOHANG);
        if (r == d->pid) {
            d->pid = 0;
            if (WIFEXITED(st))
                return WEXITSTATUS(st);
            return 128 + WTERMSIG(st);
        }
        sleep_ms(10);
    }
    return -1;
}

static void rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

void er_test_daemon_cleanup(er_test_daemon_t *d)
{
    track(d, false);
    if (d->pid > 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
        d->pid = 0;
    }
    if (d->dir[0])
        rm_rf(d->dir);
    d->dir[0] = '\0';
}
