/*
 * Integration-test harness: start the real eventrouterd (from the build
 * tree) on a temporary config in a fresh temporary directory, wait until its
 * socket answers, and stop it by PID. Shared by every C integration test;
 * tests/integration/lib.sh is the same for shell tests.
 *
 * $ER_TEST_WRAPPER (e.g. "valgrind --error-exitcode=9 --leak-check=full")
 * is put in front of the daemon; $ER_TEST_SCALE (0 < s <= 1) shrinks
 * counts, never assertions.
 */
#ifndef ER_TEST_HARNESS_H
#define ER_TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

typedef struct er_test_daemon_s {
    pid_t pid;
    pid_t owner;      /* the test process that started it (Check forks) */
    char dir[256];    /* temporary directory, removed by cleanup */
    char sock[320];   /* publish socket path */
    char config[320]; /* config file path */
    char log[320];    /* the daemon's stderr */
} er_test_daemon_t;

/* Write a config (listen.socket and admin.sock in the temp dir, the lmdb
 * store in its `store` subdirectory unless `extra` has a store section, plus `extra`
 * YAML appended with "@DIR@" replaced by the temp dir; may be NULL), start
 * the daemon and wait until both sockets answer.
 * Returns 0 or -1 (the reason printed on stderr, with the daemon's log). */
int er_test_daemon_start(er_test_daemon_t *d, const char *extra);

/* Start the daemon again on the same directory and config (after a stop:
 * its store and log are kept; the log is appended to). Returns 0 or -1. */
int er_test_daemon_restart(er_test_daemon_t *d);

/* Send sig, wait for the daemon (up to timeout_s) and return its exit
 * status (128+N when killed by signal N, -1 on timeout). */
int er_test_daemon_stop(er_test_daemon_t *d, int sig, int timeout_s);

/* Kill the daemon if it still runs and remove the temp dir. */
void er_test_daemon_cleanup(er_test_daemon_t *d);

/* Print the daemon's log to stderr (for failing tests). */
void er_test_daemon_dump_log(const er_test_daemon_t *d);

/* A plain connected socket to the Unix socket at path (for tests that
 * write frames by hand), or -1 with errno set. */
int er_test_connect_raw(const char *path);

/* n scaled by $ER_TEST_SCALE (at least 1). */
size_t er_test_scale(size_t n);

/* Path of a build-tree binary, e.g. "daemon/eventrouterd". Static buffer. */
const char *er_test_bin(const char *rel);

#endif
