/*
 * The store under bad conditions, through the real daemon: each is a clear
 * error at start (exit 1, one line naming the path and the reason) or a
 * NACK with a reason while running, and nothing acknowledged is lost.
 *   - a foreign file where data.mdb should be; a truncated data.mdb;
 *   - a store directory another daemon holds;
 *   - a full store (map_size reached) and a full disk (a small tmpfs):
 *     publishers get NACK store_full, the daemon stays up, and after a
 *     restart every acknowledged id is still stored under its seq (a
 *     resend is answered as a duplicate with that seq);
 *   - a read-only directory (a read-only tmpfs).
 * The tmpfs cases need root (mount); without it they are skipped with the
 * reason printed.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eventrouter.h"
#include "harness.h"

/* The daemon's whole log, for assertions on its lines. */
static char *read_log(const er_test_daemon_t *d)
{
    static char buf[1 << 16];
    FILE *f = fopen(d->log, "r");
    size_t n = 0;

    buf[0] = '\0';
    if (f != NULL) {
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    return buf;
}

/* Start on d's existing config, expecting start-up to fail with `want` in
 * the log (the daemon's stderr). */
static void expect_start_refused(er_test_daemon_t *d, const char *want)
{
    char *log;

    ck_assert_int_ne(er_test_daemon_restart(d), 0);
    log = read_log(d);
    ck_assert_msg(strstr(log, want) != NULL, "expected \"%s\" in the log:\n%s", want, log);
    ck_assert_msg(strstr(log, "eventrouterd: cannot start: ") != NULL, "%s", log);
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
    close(fd);
}

START_TEST(foreign_file)
{
    er_test_daemon_t d;
    char path[400], junk[8192];
    size_t i;

    ck_assert_int_eq(er_test_daemon_start(&d, NULL), 0);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    /* Replace the store with bytes that are not LMDB. */
    snprintf(path, sizeof(path), "%s/store/data.mdb", d.dir);
    for (i = 0; i < sizeof(junk); i++)
        junk[i] = (char)(i * 7 + 3);
    write_file(path, junk, sizeof(junk));
    snprintf(path, sizeof(path), "%s/store/lock.mdb", d.dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/store", d.dir);
    expect_start_refused(&d, path);
    ck_assert_msg(strstr(read_log(&d), "not an eventrouter store") != NULL ||
                      strstr(read_log(&d), "not an LMDB") != NULL,
                  "%s", read_log(&d));
    er_test_daemon_cleanup(&d);
}
END_TEST

START_TEST(truncated_file)
{
    er_test_daemon_t d;
    er_client_t *c;
    char path[400];
    uint64_t seq;
    er_event_t ev;

    ck_assert_int_eq(er_test_daemon_start(&d, NULL), 0);
    ck_assert_int_eq(er_connect(d.sock, "bad", ER_ACK_DURABLE, 5000, &c), 0);
    memset(&ev, 0, sizeof(ev));
    ev.type = er_str("Truncated");
    ck_assert_int_eq(er_publish(c, &ev, &seq, NULL, NULL), 0);
    er_client_free(c);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    snprintf(path, sizeof(path), "%s/store/data.mdb", d.dir);
    ck_assert_int_eq(truncate(path, 100), 0);
    snprintf(path, sizeof(path), "%s/store", d.dir);
    expect_start_refused(&d, path);
    er_test_daemon_cleanup(&d);
}
END_TEST

START_TEST(path_held_by_another_daemon)
{
    er_test_daemon_t a, b;
    char extra[600], want[600];

    ck_assert_int_eq(er_test_daemon_start(&a, NULL), 0);
    /* b: its own sockets, a's store directory. */
    snprintf(extra, sizeof(extra), "store:\n  plugin: lmdb\n  path: %s/store\n  map_size: 4GiB\n",
             a.dir);
    ck_assert_int_ne(er_test_daemon_start(&b, extra), 0);
    snprintf(want, sizeof(want), "store %s/store is in use by another process (pid %d", a.dir,
             (int)a.pid);
    ck_assert_msg(strstr(read_log(&b), want) != NULL, "%s", read_log(&b));
    /* a is untouched, and once it has stopped the directory is b's. */
    ck_assert_int_eq(er_test_daemon_stop(&a, SIGTERM, 30), 0);
    ck_assert_int_eq(er_test_daemon_restart(&b), 0);
    ck_assert_int_eq(er_test_daemon_stop(&b, SIGTERM, 30), 0);
    er_test_daemon_cleanup(&b);
    er_test_daemon_cleanup(&a);
}
END_TEST

/*
 * Publish batches with ids of their own in durable mode until the store
 * refuses with `want_code`; returns how many events were acknowledged
 * (their seqs in seqs[], ids "full-N").
 */
static size_t fill_until_refused(er_test_daemon_t *d, const char *want_code, uint64_t *seqs,
                                 size_t cap)
{
    er_client_t *c;
    er_event_t evs[64];
    char ids[64][32];
    static char payload[2000];
    er_ack_t ack;
    er_nack_t nack;
    size_t acked = 0, i;
    int rc = 0;

    memset(payload, 'x', sizeof(payload) - 1);
    ck_assert_int_eq(er_connect(d->sock, "filler", ER_ACK_DURABLE, 5000, &c), 0);
    while (acked + 64 <= cap) {
        for (i = 0; i < 64; i++) {
            snprintf(ids[i], sizeof(ids[i]), "full-%zu", acked + i);
            memset(&evs[i], 0, sizeof(evs[i]));
            evs[i].type = er_str("Filling");
            evs[i].id = er_str(ids[i]);
            evs[i].content_type = er_str("text/plain");
            evs[i].data = er_str(payload);
        }
        rc = er_publish_batch(c, evs, 64, &ack, &nack, NULL);
        if (rc != 0)
            break;
        ck_assert_uint_eq(ack.count, 64);
        for (i = 0; i < 64; i++)
            seqs[acked + i] = ack.seq + i;
        acked += 64;
    }
    ck_assert_msg(rc == ER_ENACK, "expected a NACK, got %s", er_strerror(rc));
    ck_assert_str_eq(nack.code, want_code);
    ck_assert_int_ge(nack.retry_after_ms, 0);
    /* The daemon is still up and says the same to the next request. */
    ck_assert_int_eq(er_ping(c, 5000), 0);
    er_client_free(c);
    return acked;
}

/* After a restart, every acknowledged id is still stored under its seq. */
static void check_nothing_lost(er_test_daemon_t *d, const uint64_t *seqs, size_t acked)
{
    er_client_t *c;
    er_event_t ev;
    char id[32];
    uint64_t seq;
    size_t i;

    ck_assert_int_eq(er_connect(d->sock, "checker", ER_ACK_RECEIVED, 5000, &c), 0);
    for (i = 0; i < acked; i++) {
        snprintf(id, sizeof(id), "full-%zu", i);
        memset(&ev, 0, sizeof(ev));
        ev.type = er_str("Filling");
        ev.id = er_str(id);
        ck_assert_int_eq(er_publish(c, &ev, &seq, NULL, NULL), 0);
        ck_assert_msg(seq == seqs[i], "%s: acked as %llu, now %llu", id,
                      (unsigned long long)seqs[i], (unsigned long long)seq);
    }
    er_client_free(c);
}

START_TEST(map_full)
{
    er_test_daemon_t d;
    static uint64_t seqs[100000];
    size_t acked;

    ck_assert_int_eq(
        er_test_daemon_start(&d, "store:\n  plugin: lmdb\n  path: @DIR@/store\n  map_size: 1MiB\n"),
        0);
    acked = fill_until_refused(&d, "store_full", seqs, 100000);
    ck_assert_uint_gt(acked, 0);
    ck_assert_msg(strstr(read_log(&d), "store full: map_size") != NULL, "%s", read_log(&d));
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    ck_assert_int_eq(er_test_daemon_restart(&d), 0);
    check_nothing_lost(&d, seqs, acked);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    er_test_daemon_cleanup(&d);
}
END_TEST

/* The tmpfs a test mounted, unmounted by the teardown fixture even when
 * an assertion ends the test early (its directory could not be removed
 * otherwise). */
static char mounted[400];

static bool mount_tmpfs(const char *dir, const char *opts)
{
    if (geteuid() != 0) {
        fprintf(stderr, "SKIP: mounting a tmpfs needs root\n");
        return false;
    }
    if (mount("tmpfs", dir, "tmpfs", 0, opts) != 0) {
        fprintf(stderr, "SKIP: cannot mount a tmpfs on %s: %s\n", dir, strerror(errno));
        return false;
    }
    snprintf(mounted, sizeof(mounted), "%s", dir);
    return true;
}

static void unmount_left(void)
{
    if (mounted[0] != '\0')
        umount2(mounted, MNT_DETACH);
    mounted[0] = '\0';
}

START_TEST(disk_full)
{
    er_test_daemon_t d;
    static uint64_t seqs[100000];
    char dir[400];
    size_t acked;

    /* Start once to make the directory, then put a 2 MiB tmpfs under the
     * store. */
    ck_assert_int_eq(er_test_daemon_start(&d, NULL), 0);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    snprintf(dir, sizeof(dir), "%s/store", d.dir);
    {
        char cmd[900];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir '%s'", dir, dir);
        ck_assert_int_eq(system(cmd), 0);
    }
    if (!mount_tmpfs(dir, "size=2m")) {
        er_test_daemon_cleanup(&d);
        return;
    }
    ck_assert_int_eq(er_test_daemon_restart(&d), 0);
    acked = fill_until_refused(&d, "store_full", seqs, 100000);
    ck_assert_uint_gt(acked, 0);
    ck_assert_msg(strstr(read_log(&d), "no space left on the disk") != NULL, "%s", read_log(&d));
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    /* More room, then everything acked must be there. */
    ck_assert_int_eq(mount("tmpfs", dir, "tmpfs", MS_REMOUNT, "size=64m"), 0);
    ck_assert_int_eq(er_test_daemon_restart(&d), 0);
    check_nothing_lost(&d, seqs, acked);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    unmount_left();
    er_test_daemon_cleanup(&d);
}
END_TEST

START_TEST(read_only_directory)
{
    er_test_daemon_t d;
    char dir[400], want[500];

    ck_assert_int_eq(er_test_daemon_start(&d, NULL), 0);
    ck_assert_int_eq(er_test_daemon_stop(&d, SIGTERM, 30), 0);
    snprintf(dir, sizeof(dir), "%s/ro", d.dir);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    if (!mount_tmpfs(dir, "size=1m")) {
        er_test_daemon_cleanup(&d);
        return;
    }
    ck_assert_int_eq(mount("tmpfs", dir, "tmpfs", MS_REMOUNT | MS_RDONLY, "size=1m"), 0);
    /* Point the store at the read-only directory. */
    {
        char cmd[900];
        snprintf(cmd, sizeof(cmd), "sed -i 's|path: %s/store|path: %s/ro/store|' '%s'", d.dir,
                 d.dir, d.config);
        ck_assert_int_eq(system(cmd), 0);
    }
    snprintf(want, sizeof(want), "%s/ro/store", d.dir);
    expect_start_refused(&d, want);
    ck_assert_msg(strstr(read_log(&d), "Read-only file system") != NULL, "%s", read_log(&d));
    unmount_left();
    er_test_daemon_cleanup(&d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("itest_store_bad");
    TCase *tc = tcase_create("bad");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, NULL, unmount_left);
    tcase_add_test(tc, foreign_file);
    tcase_add_test(tc, truncated_file);
    tcase_add_test(tc, path_held_by_another_daemon);
    tcase_add_test(tc, map_full);
    tcase_add_test(tc, disk_full);
    tcase_add_test(tc, read_only_directory);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
