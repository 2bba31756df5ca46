/*
 * What only the `lmdb` store does (the behaviour every store shares is the
 * conformance suite's, tests/store/): the files it makes and refuses, the
 * lock that keeps a second daemon out, the clean-stop flag across a crash,
 * a full map, group commit and the sync option. Driven through the store
 * harness (tests/store/storetest.h): the daemon's real loader, host and
 * tokens on a real loop. Every refusal is checked by its errno and its
 * exact message.
 *
 * Each test makes its own directory under one root made by main() and
 * removed at the end. Counts are small enough for valgrind: none is scaled.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lmdb.h>

#include "storetest.h"

static char root[512];
static char dir[600];

/* -------------------------------------------------------------- helpers */

static void new_dir(void)
{
    snprintf(dir, sizeof(dir), "%s/t.XXXXXX", root);
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
}

/* A harness on `path` with extra options (NULL: none). */
static er_st_t *store_at(const char *path, const char *extra)
{
    char yaml[2048];

    snprintf(yaml, sizeof(yaml), "path: %s\n%s%s", path,
             extra && strstr(extra, "map_size") ? "" : "map_size: 64MiB\n", extra ? extra : "");
    return er_st_new("lmdb", yaml);
}

static er_st_t *opened(const char *extra)
{
    er_st_t *st = store_at(dir, extra);

    ck_assert_msg(er_st_open(st) == ER_OK, "open: %s", st->errmsg);
    return st;
}

static void file_at(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

/* Append events seq from..from+n-1 in batches of `batch`, with a payload
 * of `data` bytes each. */
static void append_n(er_st_t *st, uint64_t from, size_t n, size_t batch, size_t data)
{
    er_ev_t **evs = calloc(batch, sizeof(*evs));
    char *payload = malloc(data + 1);
    er_event_t f;
    size_t i, k;

    ck_assert_ptr_nonnull(evs);
    ck_assert_ptr_nonnull(payload);
    memset(payload, 'x', data);
    for (i = 0; i < n; i += k) {
        for (k = 0; k < batch && i + k < n; k++) {
            memset(&f, 0, sizeof(f));
            f.type = er_str("LmdbTest");
            f.stream = er_str("lmdb:test");
            f.data.ptr = payload;
            f.data.len = data;
            evs[k] = er_st_ev_new(&f, from + i + k);
        }
        ck_assert_msg(er_st_append(st, evs, k) == ER_OK, "append at %" PRIu64 ": %s",
                      (uint64_t)(from + i), st->errmsg);
        while (k-- > 0)
            er_st_ev_unref(evs[k]);
        k = batch;
    }
    free(evs);
    free(payload);
}

static size_t count_rows(er_st_t *st)
{
    er_store_filter_t f = {.size = sizeof(f)};
    er_st_rows_t rows = {0};
    size_t n;

    ck_assert_msg(er_st_query(st, &f, &rows) == ER_OK, "query: %s", st->errmsg);
    n = rows.n;
    er_st_rows_free(&rows);
    return n;
}

static int64_t stat_of(er_st_t *st, const char *name)
{
    int64_t v = -1;

    ck_assert_msg(er_st_stat(st, name, &v) == 0, "no stats figure \"%s\"", name);
    return v;
}

/* The open() of a refused directory: its status, errno and exact text. */
static void expect_refused(er_status_t status, int err, const char *message)
{
    er_st_t *st = store_at(dir, NULL);
    int rc = er_st_open(st);

    ck_assert_msg(rc == (int)status, "open returned %d (%s), expected %d", rc, st->errmsg,
                  (int)status);
    ck_assert_msg(st->err == err, "errno %d (%s), expected %d", st->err, st->errmsg, err);
    ck_assert_msg(strcmp(st->errmsg, message) == 0, "message\n  \"%s\"\nexpected\n  \"%s\"",
                  st->errmsg, message);
    er_st_free(st);
}

/* Read the environment directly with LMDB: meta[key] into buf. Returns
 * its length, or -1 when absent. */
static long raw_meta(const char *key, void *buf, size_t cap)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {strlen(key), (void *)key}, v;
    long n = -1;

    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 16), 0);
    ck_assert_int_eq(mdb_env_open(env, dir, MDB_RDONLY, 0640), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    if (mdb_get(txn, dbi, &k, &v) == 0) {
        n = (long)v.mv_size;
        memcpy(buf, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
    }
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return n;
}

/* Write meta[key] directly with LMDB (a store left as another build
 * would leave it). */
static void raw_meta_put(const char *key, const void *p, size_t n)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {strlen(key), (void *)key}, v = {n, (void *)p};

    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 16), 0);
    ck_assert_int_eq(mdb_env_open(env, dir, 0, 0640), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/* ------------------------------------------------------------ the files */

START_TEST(test_created_then_clean)
{
    er_st_t *st;

    new_dir();
    st = opened(NULL);
    ck_assert(st->head.created);
    ck_assert(!st->head.clean); /* a new store has no clean stop behind it */
    ck_assert_uint_eq(st->head.events, 0);
    append_n(st, 1, 10, 5, 16);
    ck_assert_int_eq(er_st_reserve(st, 100), ER_OK);
    ck_assert_int_eq(er_st_reopen(st), ER_OK);
    ck_assert(!st->head.created);
    ck_assert(st->head.clean);
    ck_assert_uint_eq(st->head.events, 10);
    ck_assert_uint_eq(st->head.first_seq, 1);
    ck_assert_uint_eq(st->head.last_seq, 10);
    ck_assert_uint_eq(st->head.reserved, 100);
    er_st_free(st);
}
END_TEST

START_TEST(test_missing_directories_are_made)
{
    char path[700];
    struct stat sb;
    er_st_t *st;

    new_dir();
    snprintf(path, sizeof(path), "%s/a/b/store", dir);
    st = store_at(path, NULL);
    ck_assert_msg(er_st_open(st) == ER_OK, "open: %s", st->errmsg);
    ck_assert(st->head.created);
    er_st_free(st);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert(S_ISDIR(sb.st_mode));
    ck_assert_uint_eq(sb.st_mode & 07777, 0750);
}
END_TEST

START_TEST(test_format_record)
{
    char file[700], pid[32] = "";
    uint8_t buf[64];
    uint8_t clean = 9;
    long n;
    int fd;
    er_st_t *st;

    new_dir();
    st = opened(NULL);
    /* While open: the lock file names us, the clean flag is down. */
    file_at(file, sizeof(file), "eventrouter.lock");
    ck_assert_int_ge(fd = open(file, O_RDONLY), 0);
    ck_assert_int_gt(read(fd, pid, sizeof(pid) - 1), 0);
    close(fd);
    ck_assert_int_eq(atol(pid), (long)getpid());
    ck_assert_int_eq(raw_meta("clean", &clean, 1), 1);
    ck_assert_uint_eq(clean, 0);
    er_st_free(st);

    n = raw_meta("format", buf, sizeof(buf));
    ck_assert_int_eq(n, 20);
    ck_assert(memcmp(buf, "eventrouter.lmdb", 16) == 0);
    ck_assert_uint_eq(buf[16] << 24 | buf[17] << 16 | buf[18] << 8 | buf[19], 1);
    ck_assert_int_eq(raw_meta("clean", &clean, 1), 1);
    ck_assert_uint_eq(clean, 1);
    ck_assert_int_eq(raw_meta("created", buf, sizeof(buf)), 8);
}
END_TEST

START_TEST(test_foreign_file_refused)
{
    char file[700], msg[1024];
    unsigned char junk[16384];
    size_t i;
    int fd;

    new_dir();
    file_at(file, sizeof(file), "data.mdb");
    srand(7);
    for (i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)rand();
    ck_assert_int_ge(fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0640), 0);
    ck_assert_int_eq(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    close(fd);
    snprintf(msg, sizeof(msg),
             "%s/data.mdb is not an LMDB database (or its header is corrupt): refusing to use it",
             dir);
    expect_refused(ER_FAIL, -EINVAL, msg);
}
END_TEST

START_TEST(test_truncated_file_refused)
{
    char file[700], msg[1024];
    struct stat sb;
    er_st_t *st;

    new_dir();
    st = opened(NULL);
    append_n(st, 1, 200, 50, 1000); /* ~200 KiB: dozens of pages */
    er_st_free(st);
    file_at(file, sizeof(file), "data.mdb");
    ck_assert_int_eq(stat(file, &sb), 0);

    /* Cut in the middle: the header is intact, pages are missing. */
    ck_assert_int_eq(truncate(file, sb.st_size / 2), 0);
    snprintf(msg, sizeof(msg),
             "%s/data.mdb is truncated: %lld bytes, but its header says %lld (restore it from a "
             "backup or move it away)",
             dir, (long long)sb.st_size / 2, (long long)sb.st_size);
    expect_refused(ER_FAIL, -EINVAL, msg);

    /* Cut inside the header pages. */
    ck_assert_int_eq(truncate(file, 100), 0);
    snprintf(msg, sizeof(msg),
             "%s/data.mdb is not an LMDB database (or its header is corrupt): refusing to use it",
             dir);
    expect_refused(ER_FAIL, -EINVAL, msg);
}
END_TEST

START_TEST(test_foreign_lmdb_refused)
{
    char msg[1024];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {3, "key"}, v = {5, "value"};

    new_dir();
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 4), 0);
    ck_assert_int_eq(mdb_env_open(env, dir, 0, 0640), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, "someone_elses", MDB_CREATE, &dbi), 0);
    ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    snprintf(msg, sizeof(msg),
             "%s holds an LMDB environment that is not an eventrouter store (it has no format "
             "record): refusing to use it",
             dir);
    expect_refused(ER_FAIL, -EINVAL, msg);
}
END_TEST

START_TEST(test_newer_format_refused)
{
    uint8_t fmt[20];
    char msg[1024];
    er_st_t *st;

    new_dir();
    st = opened(NULL);
    er_st_free(st);
    ck_assert_int_eq(raw_meta("format", fmt, sizeof(fmt)), 20);
    fmt[19] = 2;
    raw_meta_put("format", fmt, sizeof(fmt));
    snprintf(msg, sizeof(msg),
             "%s was written by a newer eventrouter (store format 2; this build reads format "
             "1): refusing to use it",
             dir);
    expect_refused(ER_FAIL, -EINVAL, msg);
}
END_TEST

/* The directory on a read-only file system (as root, permissions do not
 * stop anything: a read-only bind mount of the directory does). */
START_TEST(test_read_only_directory)
{
    char msg[1024];
    int rc;

    new_dir();
    if (geteuid() == 0) {
        if (mount(dir, dir, "none", MS_BIND, NULL) != 0) {
            printf("test_read_only_directory: skipped: running as root and cannot bind-mount "
                   "(%s)\n",
                   strerror(errno));
            return;
        }
        if (mount("none", dir, "none", MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0) {
            printf("test_read_only_directory: skipped: cannot remount read-only (%s)\n",
                   strerror(errno));
            umount(dir);
            return;
        }
        snprintf(msg, sizeof(msg),
                 "cannot open the store's lock file %s/eventrouter.lock: Read-only file system",
                 dir);
        expect_refused(ER_FAIL, -EROFS, msg);
        rc = umount(dir);
        ck_assert_msg(rc == 0, "umount %s: %s", dir, strerror(errno));
    } else {
        ck_assert_int_eq(chmod(dir, 0500), 0);
        snprintf(msg, sizeof(msg),
                 "cannot open the store's lock file %s/eventrouter.lock: Permission denied", dir);
        expect_refused(ER_FAIL, -EACCES, msg);
        ck_assert_int_eq(chmod(dir, 0700), 0);
    }
}
END_TEST

/* --------------------------------------------------------- the lock */

/* A second daemon on the path: a child process holds the store open
 * until told to stop. */
START_TEST(test_second_instance_refused)
{
    int up[2], go[2], status;
    char c = 0, msg[2048];
    er_st_t *st;
    pid_t pid;

    new_dir();
    ck_assert_int_eq(pipe(up), 0);
    ck_assert_int_eq(pipe(go), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(up[0]);
        close(go[1]);
        st = opened(NULL);
        if (write(up[1], "1", 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(2);
        er_st_free(st);
        _exit(0);
    }
    close(up[1]);
    close(go[0]);
    ck_assert_int_eq(read(up[0], &c, 1), 1);

    st = store_at(dir, NULL);
    ck_assert_int_eq(er_st_open(st), ER_RETRY);
    ck_assert_int_eq(st->err, -EBUSY);
    snprintf(msg, sizeof(msg),
             "store %s is in use by another process (pid %ld holds %s/eventrouter.lock); one "
             "daemon per store path",
             dir, (long)pid, dir);
    ck_assert_msg(strcmp(st->errmsg, msg) == 0, "message\n  \"%s\"\nexpected\n  \"%s\"", st->errmsg,
                  msg);

    /* Once the first has stopped, the path is free. */
    ck_assert_int_eq(write(go[1], "1", 1), 1);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    ck_assert_msg(er_st_reopen(st) == ER_OK, "open after the first stopped: %s", st->errmsg);
    ck_assert(st->head.clean);
    er_st_free(st);
    close(up[0]);
    close(go[1]);
}
END_TEST

/* ------------------------------------------------------- crash, clean */

START_TEST(test_clean_flag_after_crash)
{
    er_st_t *st;
    int status;
    pid_t pid;

    new_dir();
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        /* A daemon that dies without stop(): no clean flag. */
        st = opened(NULL);
        append_n(st, 1, 25, 10, 32);
        ck_assert_int_eq(er_st_reserve(st, 1000), ER_OK);
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);

    st = opened(NULL);
    ck_assert(!st->head.clean);
    ck_assert(!st->head.created);
    ck_assert_uint_eq(st->head.events, 25);
    ck_assert_uint_eq(st->head.last_seq, 25);
    ck_assert_uint_eq(st->head.reserved, 1000);
    ck_assert_uint_eq(count_rows(st), 25);
    ck_assert_int_eq(er_st_reopen(st), ER_OK);
    ck_assert(st->head.clean);
    er_st_free(st);
}
END_TEST

/* ------------------------------------------------------------- full */

static er_ev_t *ev_with_data(uint64_t seq, size_t data)
{
    er_event_t f;
    char *payload = malloc(data);
    er_ev_t *ev;

    ck_assert_ptr_nonnull(payload);
    memset(payload, 'y', data);
    memset(&f, 0, sizeof(f));
    f.type = er_str("LmdbFull");
    f.stream = er_str("lmdb:full");
    f.data.ptr = payload;
    f.data.len = data;
    ev = er_st_ev_new(&f, seq);
    free(payload);
    return ev;
}

START_TEST(test_map_full)
{
    char msg[1024];
    er_st_cursors_t cur = {0};
    er_st_t *st;
    er_ev_t *ev;
    uint64_t seq, stored, trimmed = 0;
    int rc = ER_OK;

    new_dir();
    st = opened("map_size: 1MiB\n");
    ck_assert_int_eq(stat_of(st, "map_size"), 1 << 20);
    for (seq = 1; seq < 10000; seq++) {
        ev = ev_with_data(seq, 2000);
        rc = er_st_append1(st, ev);
        er_st_ev_unref(ev);
        if (rc != ER_OK)
            break;
    }
    stored = seq - 1;
    ck_assert_int_eq(rc, ER_FAIL);
    ck_assert_int_eq(st->err, -ENOSPC);
    snprintf(msg, sizeof(msg),
             "store full: map_size 1048576 reached in %s (raise store.map_size or trim with "
             "store.retention)",
             dir);
    ck_assert_msg(strcmp(st->errmsg, msg) == 0, "message\n  \"%s\"\nexpected\n  \"%s\"", st->errmsg,
                  msg);
    ck_assert_uint_gt(stored, 100);
    er_st_check_log(st);

    /* What was stored before stays readable. */
    ck_assert_uint_eq(count_rows(st), stored);
    ck_assert_int_eq(stat_of(st, "events"), (int64_t)stored);

    /* Trimming makes room for small writes, then for events again. */
    ck_assert_msg(er_st_trim(st, stored / 2, 0, &trimmed) == ER_OK, "trim: %s", st->errmsg);
    ck_assert_uint_eq(trimmed, stored / 2 - 1);
    ck_assert_msg(er_st_cursor_set(st, "after-trim", stored) == ER_OK, "cursor_set: %s",
                  st->errmsg);
    ck_assert_int_eq(er_st_cursor_list(st, &cur), ER_OK);
    ck_assert_uint_eq(cur.n, 1);
    ck_assert_str_eq(cur.names[0], "after-trim");
    ck_assert_uint_eq(cur.seqs[0], stored);
    er_st_cursors_free(&cur);
    ev = ev_with_data(seq, 2000);
    ck_assert_msg(er_st_append1(st, ev) == ER_OK, "append after trim: %s", st->errmsg);
    er_st_ev_unref(ev);
    ck_assert_uint_eq(count_rows(st), stored - (stored / 2 - 1) + 1);
    er_st_free(st);
}
END_TEST

/* In one round, only the append that does not fit fails: the round is
 * re-run one transaction per op. */
START_TEST(test_map_full_fails_only_what_does_not_fit)
{
    er_st_call_t calls[3];
    er_ev_t *evs[3];
    er_st_rows_t rows = {0};
    er_store_filter_t all = {.size = sizeof(all)};
    er_st_t *st;
    int i;

    new_dir();
    st = opened("map_size: 1MiB\n");
    evs[0] = ev_with_data(1, 100);
    evs[1] = ev_with_data(2, 3 << 20); /* more than the whole map */
    evs[2] = ev_with_data(3, 100);
    memset(calls, 0, sizeof(calls));
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(er_st_submit_append(st, &calls[i], &evs[i], 1), ER_PENDING);
    er_st_wait_all(st, calls, 3);
    ck_assert_int_eq(calls[0].status, ER_OK);
    ck_assert_int_eq(calls[1].status, ER_FAIL);
    ck_assert_int_eq(calls[1].err, -ENOSPC);
    ck_assert_int_eq(calls[2].status, ER_OK);
    ck_assert(calls[0].order < calls[1].order && calls[1].order < calls[2].order);
    ck_assert_int_eq(er_st_query(st, &all, &rows), ER_OK);
    ck_assert_uint_eq(rows.n, 2);
    er_st_assert_same(rows.evs[0], evs[0], "first");
    er_st_assert_same(rows.evs[1], evs[2], "third");
    er_st_rows_free(&rows);
    for (i = 0; i < 3; i++)
        er_st_ev_unref(evs[i]);
    er_st_check_log(st);
    er_st_free(st);
}
END_TEST

/* ------------------------------------------------------ group commit */

/* Not scaled: the point is the ratio, and 10,000 small appends take a
 * few seconds even under valgrind (where about 1 in 30 commits, natively
 * fewer than 1 in 150). */
START_TEST(test_group_commit)
{
    size_t n = 10000, i;
    er_st_call_t *calls = calloc(n, sizeof(*calls));
    er_ev_t **evs = calloc(n, sizeof(*evs));
    int64_t before, after, depth;
    er_st_t *st;

    ck_assert_ptr_nonnull(calls);
    ck_assert_ptr_nonnull(evs);
    new_dir();
    st = opened(NULL);
    before = stat_of(st, "commits");
    for (i = 0; i < n; i++) {
        evs[i] = er_st_ev(i + 1, "Grouped", "lmdb:group", NULL, NULL, 1700000000000000ll);
        ck_assert_int_eq(er_st_submit_append(st, &calls[i], &evs[i], 1), ER_PENDING);
    }
    depth = stat_of(st, "queue_depth");
    ck_assert_int_le(depth, (int64_t)n);
    er_st_wait_all(st, calls, n);
    after = stat_of(st, "commits");
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(calls[i].status, ER_OK);
        if (i > 0)
            ck_assert_uint_gt(calls[i].order, calls[i - 1].order);
    }
    printf("test_group_commit: %zu appends in %" PRId64 " commits\n", n, after - before);
    ck_assert_int_ge(after - before, 1);
    ck_assert_msg((size_t)(after - before) <= n / 10, "%zu appends took %" PRId64 " commits", n,
                  after - before);
    ck_assert_int_eq(stat_of(st, "events"), (int64_t)n);
    ck_assert_int_eq(stat_of(st, "queue_depth"), 0);
    ck_assert_int_gt(stat_of(st, "used_bytes"), 0);
    ck_assert_int_gt(stat_of(st, "commit_max_us"), 0);
    ck_assert_uint_eq(count_rows(st), n);
    ck_assert_int_ge(stat_of(st, "reads"), 1);
    for (i = 0; i < n; i++)
        er_st_ev_unref(evs[i]);
    free(evs);
    free(calls);
    er_st_free(st);
}
END_TEST

/* Chunk boundaries of a query, seen from its rows: a chunk is delivered
 * in one loop iteration, and the next one only after the loop took it, so
 * a row in a later iteration than the previous row starts a chunk. */
static uv_check_t iter_check;
static uint64_t iterations, last_iteration;
static int chunk_boundaries;

static void on_iteration(uv_check_t *h)
{
    (void)h;
    iterations++;
}

static int count_chunk_boundaries(void *arg, er_ev_t *ev, size_t index)
{
    (void)arg;
    (void)ev;
    if (index == 0 || iterations != last_iteration)
        chunk_boundaries++;
    last_iteration = iterations;
    return 0;
}

/* stop() while a query is being read ends the query at its next chunk
 * (-ECANCELED, "is stopping") instead of reading the rest first, so a
 * shutdown does not grow with a query's size; then stop's done. */
START_TEST(test_stop_during_a_query)
{
    size_t n = er_st_scale(20000);
    er_store_filter_t f = {.size = sizeof(f)};
    er_st_rows_t rows = {0};
    er_st_call_t call = {0};
    er_st_t *st;

    new_dir();
    st = opened(NULL);
    append_n(st, 1, n, 500, 16);
    ck_assert_int_eq(er_st_submit_query(st, &call, &f, &rows), ER_PENDING);
    er_st_stop(st);
    ck_assert(call.done);
    ck_assert_int_eq(call.status, ER_RETRY); /* -ECANCELED: worth asking again */
    ck_assert_int_eq(call.err, -ECANCELED);
    ck_assert_msg(strstr(call.errmsg, "is stopping") != NULL, "%s", call.errmsg);
    ck_assert_uint_le(rows.n, 1024); /* the chunk in hand and at most one more */
    ck_assert_uint_lt(rows.n, n);
    er_st_rows_free(&rows);
    er_st_free(st);
}
END_TEST

/* A chunk holds at most 512 rows or 8 MiB of events, so 20 events of
 * 1 MiB come in several chunks, not one of 20 MiB. */
START_TEST(test_query_chunks_bounded_in_bytes)
{
    er_store_filter_t f = {.size = sizeof(f)};
    er_st_rows_t rows = {0};
    er_st_t *st;

    new_dir();
    st = opened(NULL);
    append_n(st, 1, 20, 1, 1 << 20);
    ck_assert_int_eq(uv_check_init(&st->loop, &iter_check), 0);
    ck_assert_int_eq(uv_check_start(&iter_check, on_iteration), 0);
    chunk_boundaries = 0;
    rows.hook = count_chunk_boundaries;
    ck_assert_int_eq(er_st_query(st, &f, &rows), ER_OK);
    uv_close((uv_handle_t *)&iter_check, NULL);
    ck_assert_uint_eq(rows.n, 20);
    /* 8 MiB per chunk: at least 3 chunks for 20 MiB of rows. */
    ck_assert_int_ge(chunk_boundaries, 3);
    er_st_rows_free(&rows);
    er_st_free(st);
}
END_TEST

/* ------------------------------------------------------------- sync */

START_TEST(test_sync_option)
{
    er_st_t *st;

    new_dir();
    st = opened("sync: none\n");
    ck_assert_int_eq(er_st_durability(st), ER_DURABILITY_PROCESS);
    append_n(st, 1, 10, 10, 16);
    ck_assert_int_eq(er_st_reopen(st), ER_OK);
    ck_assert(st->head.clean);
    ck_assert_uint_eq(st->head.events, 10);
    er_st_free(st);

    st = opened("sync: batch\n");
    ck_assert_int_eq(er_st_durability(st), ER_DURABILITY_DISK);
    er_st_free(st);
}
END_TEST

START_TEST(test_relative_path_refused)
{
    char err[1024] = "";
    er_st_t *st = NULL;

    ck_assert_int_eq(er_st_try_new("lmdb", "path: relative/dir\n", &st, err, sizeof(err)), -EINVAL);
    ck_assert_ptr_null(st);
}
END_TEST

/* ---------------------------------------------------------- maintenance */

/* A raw LMDB write on the closed store: put (del false) or delete one
 * (key, be64 seq) of a named database. */
static void raw_index(const char *db, const char *key, uint64_t seq, bool del)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    uint8_t sb[8];
    MDB_val k = {strlen(key), (void *)key}, v = {8, sb};
    int i;

    for (i = 0; i < 8; i++)
        sb[i] = (uint8_t)(seq >> (56 - 8 * i));
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_maxdbs(env, 16), 0);
    ck_assert_int_eq(mdb_env_open(env, dir, 0, 0640), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, db, MDB_DUPSORT | MDB_DUPFIXED, &dbi), 0);
    if (del)
        ck_assert_int_eq(mdb_del(txn, dbi, &k, &v), 0);
    else
        ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void print_report(const er_st_report_t *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        fprintf(stderr, "  %s %s = %" PRId64 "%s%s\n",
                r->v[i].kind == ER_STORE_FIGURE    ? "figure"
                : r->v[i].kind == ER_STORE_PROBLEM ? "problem"
                                                   : "note",
                r->v[i].name, r->v[i].value, r->v[i].text ? ": " : "",
                r->v[i].text ? r->v[i].text : "");
}

/* Index entries broken behind the store's back (one missing, one naming a
 * seq that is not stored, one under the wrong value) are each found. */
START_TEST(test_check_finds_corrupt_index)
{
    er_st_t *st;
    er_st_report_t r = {0};

    new_dir();
    st = opened(NULL);
    append_n(st, 1, 200, 50, 16);
    ck_assert_int_eq(er_st_check(st, &r), ER_OK);
    ck_assert_int_eq(er_st_report_figure(&r, "problems"), 0);
    ck_assert_int_eq(er_st_report_figure(&r, "events"), 200);
    ck_assert_int_eq(er_st_report_figure(&r, "index_entries"), 400); /* stream and type */
    er_st_report_free(&r);
    er_st_destroy(st);

    raw_index("by_stream", "lmdb:test", 5, true);  /* seq 5 loses its stream entry */
    raw_index("by_type", "LmdbTest", 999, false);  /* an entry for no event */
    raw_index("by_stream", "elsewhere", 7, false); /* seq 7 under a stream it is not in */

    ck_assert_int_eq(er_st_create(st), 0);
    ck_assert_msg(er_st_open(st) == ER_OK, "open: %s", st->errmsg);
    ck_assert_int_eq(er_st_check(st, &r), ER_OK);
    print_report(&r);
    ck_assert_int_eq(er_st_report_figure(&r, "events"), 200);
    ck_assert_int_eq(er_st_report_figure(&r, "problems"), 3);
    ck_assert_uint_eq(er_st_report_count(&r, ER_STORE_PROBLEM, "index_missing"), 1);
    ck_assert_uint_eq(er_st_report_count(&r, ER_STORE_PROBLEM, "index_dangling"), 1);
    ck_assert_uint_eq(er_st_report_count(&r, ER_STORE_PROBLEM, "index_wrong_key"), 1);
    for (size_t i = 0; i < r.n; i++) {
        if (r.v[i].kind != ER_STORE_PROBLEM)
            continue;
        if (strcmp(r.v[i].name, "index_missing") == 0)
            ck_assert_int_eq(r.v[i].value, 5);
        else if (strcmp(r.v[i].name, "index_dangling") == 0)
            ck_assert_int_eq(r.v[i].value, 999);
        else
            ck_assert_int_eq(r.v[i].value, 7);
    }
    er_st_report_free(&r);
    er_st_free(st);
}
END_TEST

/* A dead letter whose event was trimmed is a note, not a problem. */
START_TEST(test_check_notes_trimmed_dead_letter)
{
    er_st_t *st;
    er_st_report_t r = {0};
    er_dead_letter_t dl = {.seq = 2, .destination = er_str("d"), .reason = er_str("failed")};
    uint64_t id, trimmed;

    new_dir();
    st = opened(NULL);
    append_n(st, 1, 20, 10, 8);
    ck_assert_int_eq(er_st_dlq_add(st, &dl, &id), ER_OK);
    ck_assert_int_eq(er_st_trim(st, 5, 0, &trimmed), ER_OK);
    ck_assert_int_eq(er_st_check(st, &r), ER_OK);
    ck_assert_int_eq(er_st_report_figure(&r, "problems"), 0);
    ck_assert_int_eq(er_st_report_figure(&r, "notes"), 1);
    ck_assert_uint_eq(er_st_report_count(&r, ER_STORE_NOTE, "dlq_event_missing"), 1);
    ck_assert_int_eq(er_st_report_figure(&r, "dead_letters"), 1);
    er_st_report_free(&r);
    er_st_free(st);
}
END_TEST

static int keep_going(void *arg, er_ev_t *ev, size_t index)
{
    (void)arg;
    (void)ev;
    (void)index;
    return 0;
}

/*
 * A backup taken while appends keep coming holds every event whose append
 * completed before the backup was asked for, opens as a store of its own
 * (as after a crash) and checks clean; the appends were not held up. A
 * second backup into the same directory is refused.
 */
START_TEST(test_backup_while_appending)
{
    char bdir[700];
    er_st_t *st;
    er_st_call_t b = {0}, a = {0};
    er_st_report_t r = {0};
    uint64_t next, bytes, during = 0;
    er_ev_t *ev;

    new_dir();
    snprintf(bdir, sizeof(bdir), "%s/backup/one", dir);
    st = opened(NULL);
    append_n(st, 1, 3000, 100, 200);
    next = 3001;
    ck_assert_int_eq(er_st_submit_backup(st, &b, bdir), ER_PENDING);
    while (!b.done) { /* appends go on, one at a time, while it copies */
        ev = er_st_ev(next, "During", "s", NULL, NULL, 0);
        ck_assert_int_eq(er_st_submit_append(st, &a, &ev, 1), ER_PENDING);
        ck_assert_int_eq(er_st_wait(st, &a), ER_OK);
        er_st_ev_unref(ev);
        next++;
        during += !b.done;
    }
    ck_assert_msg(er_st_wait(st, &b) == ER_OK, "backup: %s", st->errmsg);
    ck_assert_uint_gt(b.u64, 0);
    fprintf(stderr, "backup: %" PRIu64 " bytes, %" PRIu64 " appends completed during it\n", b.u64,
            during);
    /* Not into a directory that has something in it. */
    ck_assert_int_eq(er_st_backup(st, bdir, &bytes), ER_FAIL);
    ck_assert_int_eq(st->err, -EEXIST);
    /* Compact reports, and says it changed nothing. */
    ck_assert_int_eq(er_st_compact(st, &r), ER_OK);
    ck_assert_int_gt(er_st_report_figure(&r, "file_bytes"), 0);
    ck_assert_int_ge(er_st_report_figure(&r, "reclaimable_bytes"), 0);
    ck_assert_int_eq(er_st_report_figure(&r, "compacted"), 0);
    ck_assert_uint_eq(er_st_report_count(&r, ER_STORE_NOTE, NULL), 1);
    er_st_report_free(&r);
    er_st_free(st);

    st = store_at(bdir, NULL);
    ck_assert_msg(er_st_open(st) == ER_OK, "open the backup: %s", st->errmsg);
    ck_assert(!st->head.created);
    ck_assert(!st->head.clean); /* copied from a store in use: opened as after a crash */
    ck_assert_uint_eq(st->head.first_seq, 1);
    ck_assert_uint_ge(st->head.last_seq, 3000);
    ck_assert_uint_lt(st->head.last_seq, next);
    ck_assert_uint_eq(st->head.events, st->head.last_seq);
    ck_assert_uint_eq(count_rows(st), st->head.events);
    {
        er_store_filter_t f = {.size = sizeof(f), .to_seq = 3000};
        er_st_rows_t rows = {.hook = keep_going};
        ck_assert_int_eq(er_st_query(st, &f, &rows), ER_OK);
        ck_assert_uint_eq(rows.n, 3000);
        ck_assert_uint_eq(er_st_ev_seq(rows.evs[2999]), 3000);
        er_st_rows_free(&rows);
    }
    ck_assert_int_eq(er_st_check(st, &r), ER_OK);
    ck_assert_int_eq(er_st_report_figure(&r, "problems"), 0);
    er_st_report_free(&r);
    er_st_free(st);
}
END_TEST

/* ------------------------------------------------------------- main */

static Suite *suite(void)
{
    Suite *s = suite_create("lmdb");
    TCase *tc = tcase_create("lmdb");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_created_then_clean);
    tcase_add_test(tc, test_stop_during_a_query);
    tcase_add_test(tc, test_query_chunks_bounded_in_bytes);
    tcase_add_test(tc, test_missing_directories_are_made);
    tcase_add_test(tc, test_format_record);
    tcase_add_test(tc, test_foreign_file_refused);
    tcase_add_test(tc, test_truncated_file_refused);
    tcase_add_test(tc, test_foreign_lmdb_refused);
    tcase_add_test(tc, test_newer_format_refused);
    tcase_add_test(tc, test_read_only_directory);
    tcase_add_test(tc, test_second_instance_refused);
    tcase_add_test(tc, test_clean_flag_after_crash);
    tcase_add_test(tc, test_map_full);
    tcase_add_test(tc, test_map_full_fails_only_what_does_not_fit);
    tcase_add_test(tc, test_group_commit);
    tcase_add_test(tc, test_sync_option);
    tcase_add_test(tc, test_relative_path_refused);
    tcase_add_test(tc, test_check_finds_corrupt_index);
    tcase_add_test(tc, test_check_notes_trimmed_dead_letter);
    tcase_add_test(tc, test_backup_while_appending);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    SRunner *sr;
    int failed;

    /* Not er_st_mkdtemp: Check's assertions work only inside a test. */
    snprintf(root, sizeof(root), "%s/check_lmdb.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(root) == NULL) {
        fprintf(stderr, "check_lmdb: mkdtemp %s: %s\n", root, strerror(errno));
        return EXIT_FAILURE;
    }
    sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    er_st_rmtree(root);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
