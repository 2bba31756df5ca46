/*
 * What the C integration tests of the delivery engine share beyond the
 * harness: waiting under valgrind, paths in a daemon's directory, and the
 * admin socket (a command's JSON reply, one destination as `destinations`
 * shows it). Check assertions fail the test on any error.
 */
#ifndef ER_ITEST_ADMIN_H
#define ER_ITEST_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "harness.h"

/* Is the daemon wrapped ($ER_TEST_WRAPPER: valgrind), so everything is
 * slower? */
bool er_itest_slowed(void);
/* How long to wait for what a daemon does, in seconds. */
int er_itest_patience(void);
double er_itest_now_s(void);
void er_itest_sleep_ms(int ms);
/* dir/file of daemon d. */
void er_itest_path(char *buf, size_t cap, const er_test_daemon_t *d, const char *file);

/* Run admin command cmd (args: JSON text or NULL) on d's admin socket and
 * return its reply (a new reference); a NACK fails the test. */
json_t *er_itest_admin(const er_test_daemon_t *d, const char *cmd, const char *args);
/* Destination `name` as `destinations` shows it (a new reference). */
json_t *er_itest_dest(const er_test_daemon_t *d, const char *name);
/* Wait until `name` is live with every seq up to the head done and
 * written to the store, and nothing in flight; returns the head. */
uint64_t er_itest_wait_caught_up(const er_test_daemon_t *d, const char *name);
/* o's integer member key (failing the test when there is none). */
long long er_itest_num(const json_t *o, const char *key);

/* The seqs a log handler's file holds, in line order (malloc'd, *n of
 * them; NULL when the file does not exist). Every line must be whole and
 * start with its seq. */
uint64_t *er_itest_read_seqs(const char *path, size_t *n);

#endif
