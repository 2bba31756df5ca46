/*
 * Reload under load (DESIGN §5, reload.h, dispatch.h's er__dispatch_reload):
 * N events (200,000; at least 10,000 under $ER_TEST_SCALE) are published
 * without pause, durable acks, in pipelined batches from a thread, while
 * the main thread makes 20 reloads — config A, config B and a file with a
 * YAML error, in a fixed order; half through `eventctl reload` (its exit
 * status and output checked), half through SIGHUP (its outcome read from
 * the daemon's log). The record of what was delivered is what the `log`
 * handlers wrote, one JSON line per event:
 *
 *   - `always`, the same block in A and B, keeps its instance: it gets
 *     seqs 1..N exactly once each, in order — the acked seqs, which are
 *     also exactly what the store holds;
 *   - `changed`, whose block differs between A and B (its window), is
 *     re-created at each A<->B reload, the new instance resuming after the
 *     old one's cursor: every seq exactly once, in order;
 *   - `flip`, only in A (start: head), is removed by each B and added
 *     again by each A, its cursor deleted in between: it never gets a seq
 *     twice, and every seq it gets was published while A was in force —
 *     after the head at an A reload, and no later than the head at the
 *     next B reload (both bounded by what the publisher had had acked
 *     before asking and had sent once the reload was done);
 *   - the file with an error is refused with FILE:LINE:COLUMN and changes
 *     nothing: the deliveries above go on as if it had not been tried.
 *
 * At the end the daemon stops cleanly and its store, read through the
 * lmdb plugin, holds seqs 1..N and the cursors of all three at N.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "eventrouter.h"
#include "harness.h"
#include "itest_admin.h"
#include "storetest.h"

#define BATCH   64 /* events per PUBLISH_BATCH, at most */
#define WINDOW  16 /* requests in flight */
#define RELOADS 20

/* The 20 reloads, in order, from A (the file the daemon starts on): A and
 * B always alternate, with the bad file (x) between some of them. Even
 * ones go through `eventctl reload`, odd ones through SIGHUP, so each
 * kind is tried both ways. */
static const char SCHEDULE[RELOADS + 1] = "BxABAxBxABAxBAxBxABA";

static const char CONFIG_A[] = "handlers:\n"
                               "  always: { plugin: log, path: @DIR@/always.jsonl }\n"
                               "  changed: { plugin: log, path: @DIR@/changed.jsonl, window: 64 }\n"
                               "  flip: { plugin: log, path: @DIR@/flip.jsonl, start: head }\n"
                               "routes:\n"
                               "  - match: \"*\"\n"
                               "    to: [always, changed, flip]\n";

static const char CONFIG_B[] = "handlers:\n"
                               "  always: { plugin: log, path: @DIR@/always.jsonl }\n"
                               "  changed: { plugin: log, path: @DIR@/changed.jsonl, window: 32 }\n"
                               "routes:\n"
                               "  - match: \"*\"\n"
                               "    to: [always, changed]\n";

/* A YAML error on the line after `handlers:`, at the second colon. */
static const char CONFIG_BAD[] = "handlers:\n"
                                 "  bad: x: y\n"
                                 "routes: []\n";
#define BAD_COLUMN 9

/* The whole of a file (malloc'd, NUL-terminated); "" when it is absent. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *s;
    long n;

    if (f == NULL) {
        ck_assert_msg(errno == ENOENT, "%s: %s", path, strerror(errno));
        return strdup("");
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* ------------------------------------------------------------ publisher */

/* The publishing thread's state: the main thread reads the counters
 * (atomics) and raises `allowed`; the rest is the thread's until joined. */
typedef struct pub_s {
    const er_test_daemon_t *d;
    size_t n, batch;
    _Atomic size_t allowed;     /* may hand the client up to this many events */
    _Atomic size_t sent;        /* handed to the client (>= what the daemon received) */
    _Atomic size_t acked;       /* events acknowledged */
    _Atomic uint64_t acked_max; /* highest seq acknowledged (<= the daemon's head) */
    _Atomic bool failed;        /* err says why; the thread returns */
    unsigned char *seen;        /* seen[seq]: acknowledged */
    size_t dup_acks, bad_seqs, nacks;
    char err[400];
} pub_t;

static void on_ack(er_client_t *c, uint32_t req, const er_ack_t *ack, void *ud)
{
    pub_t *p = ud;
    uint64_t s, last = ack->seq + ack->count - 1;

    (void)c;
    (void)req;
    if (ack->ndups != 0 || ack->count == 0)
        p->dup_acks++;
    for (s = ack->seq; s <= last && ack->count > 0; s++) {
        if (s == 0 || s > p->n)
            p->bad_seqs++;
        else if (p->seen[s]++)
            p->dup_acks++;
    }
    if (last > atomic_load(&p->acked_max))
        atomic_store(&p->acked_max, last);
    atomic_fetch_add(&p->acked, ack->count);
}

static void on_nack(er_client_t *c, uint32_t req, const er_nack_t *nack, void *ud)
{
    pub_t *p = ud;

    (void)c;
    (void)req;
    if (p->nacks++ == 0)
        snprintf(p->err, sizeof(p->err), "refused: %s: %s", nack->code, nack->message);
}

static const er_client_cbs_t pub_cbs = {.on_ack = on_ack, .on_nack = on_nack};

/* Publish p->n events, never more than p->allowed handed over; stops at
 * the first error (in p->err). Check's assertions are the main thread's. */
static void *publisher(void *arg)
{
    pub_t *p = arg;
    er_client_t *c = er_client_new(&pub_cbs, p);
    er_event_t evs[BATCH];
    er_error_t err;
    size_t sent = 0, i, k;
    uint32_t req;
    int rc;

    if (c == NULL) {
        snprintf(p->err, sizeof(p->err), "er_client_new failed");
        atomic_store(&p->failed, true);
        return NULL;
    }
    for (i = 0; i < BATCH; i++) {
        memset(&evs[i], 0, sizeof(evs[i]));
        evs[i].type = er_str("Reloaded");
        evs[i].content_type = er_str("application/json");
        evs[i].data = er_str("{\"during\":\"reloads\"}");
    }
    if ((rc = er_client_connect(c, p->d->sock, "itest_reload", ER_ACK_DURABLE)) != 0) {
        snprintf(p->err, sizeof(p->err), "connect: %d", rc);
        goto out;
    }
    while (atomic_load(&p->acked) < p->n) {
        size_t allowed = atomic_load(&p->allowed);
        while (sent < p->n && sent < allowed && er_client_inflight(c) < WINDOW) {
            k = p->n - sent < p->batch ? p->n - sent : p->batch;
            if (k > allowed - sent)
                k = allowed - sent;
            if ((rc = er_client_publish_batch_async(c, evs, k, &req, &err)) != 0) {
                snprintf(p->err, sizeof(p->err), "publish: %d", rc);
                goto out;
            }
            sent += k;
            atomic_store(&p->sent, sent);
        }
        if ((rc = er_client_wait(c, 20)) != 0) {
            snprintf(p->err, sizeof(p->err), "connection failed (%d)", rc);
            goto out;
        }
        if (p->nacks > 0)
            goto out; /* err set by on_nack */
        if (p->dup_acks > 0 || p->bad_seqs > 0) {
            snprintf(p->err, sizeof(p->err), "%zu seqs acknowledged twice, %zu out of 1..%zu",
                     p->dup_acks, p->bad_seqs, p->n);
            goto out;
        }
    }
    er_client_free(c);
    return NULL;
out:
    atomic_store(&p->failed, true);
    er_client_free(c);
    return NULL;
}

/* ---------------------------------------------------------------- admin */

/* ------------------------------------------------------ the daemon's log */

/* The daemon's log read as it grows, whole lines only: each reload ends in
 * exactly one line saying it was done ("[dispatch] reloaded: ...") or
 * refused ("[reload] reload refused ..."); the last such line is kept. */
typedef struct logscan_s {
    char path[400];
    long off;
    size_t outcomes;
    char last[1024];
} logscan_t;

static void logscan(logscan_t *l)
{
    FILE *f = fopen(l->path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;

    ck_assert_ptr_nonnull(f);
    fseek(f, l->off, SEEK_SET);
    while ((len = getline(&line, &cap, f)) > 0) {
        if (line[len - 1] != '\n')
            break; /* being written: read again next time */
        l->off += (long)len;
        if (strstr(line, "[dispatch] reloaded: ") || strstr(line, "[reload] reload refused")) {
            l->outcomes++;
            snprintf(l->last, sizeof(l->last), "%.*s", (int)len - 1, line);
        }
    }
    free(line);
    fclose(f);
}

/* Is the daemon still running (not exited, not a zombie)? */
static bool daemon_runs(const er_test_daemon_t *d)
{
    char path[64], stat[256], *state;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)d->pid);
    if ((f = fopen(path, "r")) == NULL)
        return false;
    n = fread(stat, 1, sizeof(stat) - 1, f);
    fclose(f);
    stat[n] = '\0';
    /* "PID (COMM) STATE ...": the state follows the last ')'. */
    state = strrchr(stat, ')');
    return state != NULL && state[1] == ' ' && state[2] != 'Z' && state[2] != 'X';
}

/* Wait for the next reload's outcome line; returns it. */
static const char *next_outcome(const er_test_daemon_t *d, logscan_t *l)
{
    size_t before = l->outcomes;
    double deadline = er_itest_now_s() + er_itest_patience();

    for (logscan(l); l->outcomes == before; logscan(l)) {
        if (!daemon_runs(d)) {
            er_test_daemon_dump_log(d);
            ck_abort_msg("the daemon died during a reload");
        }
        if (er_itest_now_s() > deadline) {
            er_test_daemon_dump_log(d);
            ck_abort_msg("no reload outcome in the daemon's log after %d s", er_itest_patience());
        }
        er_itest_sleep_ms(5);
    }
    ck_assert_msg(l->outcomes == before + 1, "%zu reload outcomes for one reload",
                  l->outcomes - before);
    return l->last;
}

/* ------------------------------------------------------------- eventctl */

/* Run `eventctl reload`; its exit status, stdout and stderr (malloc'd). */
static int eventctl_reload(const er_test_daemon_t *d, char **out, char **err)
{
    char out_path[400], err_path[400], admin_sock[400];
    pid_t pid;
    int st;

    er_itest_path(out_path, sizeof(out_path), d, "ctl.out");
    er_itest_path(err_path, sizeof(err_path), d, "ctl.err");
    er_itest_path(admin_sock, sizeof(admin_sock), d, "admin.sock");
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, STDOUT_FILENO);
        dup2(e, STDERR_FILENO);
        execl(er_test_bin("tools/eventctl"), "eventctl", "--socket", d->sock, "--admin-socket",
              admin_sock, "reload", (char *)NULL);
        _exit(127);
    }
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st), "eventctl reload: killed by signal %d", WTERMSIG(st));
    *out = slurp(out_path);
    *err = slurp(err_path);
    return WEXITSTATUS(st);
}

/* --------------------------------------------------------------- config */

/* The daemon's file, atomically replaced: the harness's part (listen,
 * log, store: what a reload may not change) as the daemon started on it,
 * then body. Returns the line the body begins on. */
static int write_config(const er_test_daemon_t *d, const char *head, const char *body)
{
    char tmp[400];
    FILE *f;
    int line = 1;
    const char *p, *at;

    for (p = head; *p; p++)
        line += *p == '\n';
    er_itest_path(tmp, sizeof(tmp), d, "next.yaml");
    f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    fputs(head, f);
    for (p = body;; p = at + 5) {
        if ((at = strstr(p, "@DIR@")) == NULL) {
            fputs(p, f);
            break;
        }
        fprintf(f, "%.*s%s", (int)(at - p), p, d->dir);
    }
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(rename(tmp, d->config), 0);
    return line;
}

/* --------------------------------------------------------------- checks */

/* file holds seqs 1..n, once each, in increasing order; on failure, the
 * first missing and the first repeated seqs and how many of each. */
static void expect_exactly_once(const er_test_daemon_t *d, const char *file, uint64_t n)
{
    char path[400];
    size_t got, i, missing = 0, dups = 0, disorder = 0;
    uint64_t *seqs, first_missing = 0, first_dup = 0;
    unsigned *times = calloc(n + 1, sizeof(*times));

    ck_assert_ptr_nonnull(times);
    er_itest_path(path, sizeof(path), d, file);
    seqs = er_itest_read_seqs(path, &got);
    for (i = 0; i < got; i++) {
        ck_assert_msg(seqs[i] <= n, "%s: seq %llu was never published", file,
                      (unsigned long long)seqs[i]);
        if (times[seqs[i]]++ == 1 && dups++ == 0)
            first_dup = seqs[i];
        if (i > 0 && seqs[i] <= seqs[i - 1])
            disorder++;
    }
    for (i = 1; i <= n; i++)
        if (times[i] == 0 && missing++ == 0)
            first_missing = i;
    fprintf(stderr, "itest_reload: %s: %zu lines for %llu events, %zu missing, %zu repeated\n",
            file, got, (unsigned long long)n, missing, dups);
    ck_assert_msg(missing == 0, "%s: %zu seqs never delivered (the first: %llu)", file, missing,
                  (unsigned long long)first_missing);
    ck_assert_msg(dups == 0, "%s: %zu seqs delivered more than once (the first: %llu)", file, dups,
                  (unsigned long long)first_dup);
    ck_assert_msg(disorder == 0, "%s: %zu seqs out of order", file, disorder);
    ck_assert_uint_eq(got, n);
    free(seqs);
    free(times);
}

/* An interval of seqs (lo, hi] in which A was in force at some moment. */
typedef struct span_s {
    uint64_t lo, hi;
} span_t;

/* Every seq flip got lies in one of the spans, none twice, in order. */
static void expect_flip(const er_test_daemon_t *d, const span_t *spans, size_t nspans)
{
    char path[400];
    size_t got, i, j, per[RELOADS + 1] = {0};
    uint64_t *seqs;

    er_itest_path(path, sizeof(path), d, "flip.jsonl");
    seqs = er_itest_read_seqs(path, &got);
    for (i = 0; i < got; i++) {
        ck_assert_msg(i == 0 || seqs[i] > seqs[i - 1],
                      "flip.jsonl: seq %llu after %llu (line %zu): twice or out of order",
                      (unsigned long long)seqs[i], (unsigned long long)seqs[i - 1], i + 1);
        for (j = 0; j < nspans; j++)
            if (seqs[i] > spans[j].lo && seqs[i] <= spans[j].hi)
                break;
        ck_assert_msg(j < nspans,
                      "flip.jsonl: seq %llu (line %zu) was not published while A was "
                      "in force",
                      (unsigned long long)seqs[i], i + 1);
        per[j]++;
    }
    for (j = 0; j < nspans; j++) {
        fprintf(stderr, "itest_reload: flip in (%llu, %llu]: %zu events\n",
                (unsigned long long)spans[j].lo, (unsigned long long)spans[j].hi, per[j]);
        /* Half a slice at least was published and acknowledged well
         * inside the span: flip, live then, got some of it. */
        ck_assert_msg(per[j] > 0, "flip got nothing while A was in force in (%llu, %llu]",
                      (unsigned long long)spans[j].lo, (unsigned long long)spans[j].hi);
    }
    free(seqs);
}

/* A stopped daemon's store, read from a copy through the lmdb plugin: the
 * stored seqs are exactly 1..n, and each named destination's cursor is n. */
static void expect_store(const er_test_daemon_t *d, uint64_t n, const char *const *names)
{
    char cmd[1200], yaml[500];
    er_st_t *st;
    er_st_cursors_t cur;
    uint64_t next = 1;
    size_t i, k;

    snprintf(cmd, sizeof(cmd), "rm -rf '%s/store-copy' && cp -a '%s/store' '%s/store-copy'", d->dir,
             d->dir, d->dir);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(yaml, sizeof(yaml), "path: %s/store-copy\nmap_size: 4GiB\n", d->dir);
    st = er_st_new("lmdb", yaml);
    ck_assert_int_eq(er_st_open(st), ER_OK);
    ck_assert(st->head.clean);
    memset(&cur, 0, sizeof(cur));
    ck_assert_int_eq(er_st_cursor_list(st, &cur), ER_OK);
    for (k = 0; names[k] != NULL; k++) {
        long long c = -1;
        for (i = 0; i < cur.n; i++)
            if (strcmp(cur.names[i], names[k]) == 0)
                c = (long long)cur.seqs[i];
        ck_assert_msg(c == (long long)n, "the store's cursor of %s is %lld, expected %llu",
                      names[k], c, (unsigned long long)n);
    }
    er_st_cursors_free(&cur);
    for (;;) {
        er_store_filter_t f;
        er_st_rows_t rows;
        memset(&f, 0, sizeof(f));
        f.size = sizeof(f);
        f.from_seq = next;
        f.limit = 10000;
        memset(&rows, 0, sizeof(rows));
        ck_assert_int_eq(er_st_query(st, &f, &rows), ER_OK);
        for (i = 0; i < rows.n; i++, next++)
            ck_assert_msg(er_st_ev_seq(rows.evs[i]) == next, "stored seq %llu, expected %llu",
                          (unsigned long long)er_st_ev_seq(rows.evs[i]), (unsigned long long)next);
        er_st_rows_free(&rows);
        if (i < 10000)
            break;
    }
    ck_assert_msg(next == n + 1, "the store holds seqs 1..%llu, expected 1..%llu",
                  (unsigned long long)(next - 1), (unsigned long long)n);
    er_st_free(st);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s/store-copy'", d->dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* ---------------------------------------------------------------- tests */

/* What a reload to `to` (A or B, from the other) says, through eventctl
 * and in the daemon's log. */
static const char *ctl_summary(char to)
{
    return to == 'A' ? "reloaded: 1 destinations kept, 1 changed, 1 added, 0 removed; 1 routes\n"
                     : "reloaded: 1 destinations kept, 1 changed, 0 added, 1 removed; 1 routes\n";
}

static const char *log_summary(char to)
{
    return to == 'A' ? "reloaded: 3 destinations (1 kept, 1 changed, 1 added), 0 removed, 1 routes"
                     : "reloaded: 2 destinations (1 kept, 1 changed, 0 added), 1 removed, 1 routes";
}

START_TEST(twenty_reloads_while_publishing)
{
    double started = er_itest_now_s(), t0;
    er_test_daemon_t d;
    size_t n = er_test_scale(200000), slice, i, nspans = 0;
    pub_t p;
    pthread_t th;
    logscan_t log;
    span_t spans[RELOADS + 1];
    char *head, *body_at, where[500];
    char in_force = 'A';
    int st;
    double reload_s[2] = {0, 0};
    uint64_t during = 0; /* events acknowledged while a reload was being made */
    size_t busy = 0;     /* reloads made with events in flight */
    size_t reloads_by[2] = {0, 0};
    static const char *const all3[] = {"always", "changed", "flip", NULL};

    if (n < 10000)
        n = 10000;
    slice = n / (RELOADS + 2);
    ck_assert_int_eq(er_test_daemon_start(&d, CONFIG_A), 0);

    /* The harness's part of the file, kept as it is in every rewrite. */
    head = slurp(d.config);
    body_at = strstr(head, "handlers:\n");
    ck_assert_ptr_nonnull(body_at);
    *body_at = '\0';

    memset(&log, 0, sizeof(log));
    snprintf(log.path, sizeof(log.path), "%s", d.log);
    logscan(&log);
    ck_assert_uint_eq(log.outcomes, 0);

    memset(&p, 0, sizeof(p));
    p.d = &d;
    p.n = n;
    /* What may be in flight is a small part of a slice, also when the
     * counts shrink: every reload finds events in flight. */
    p.batch = slice / (4 * WINDOW);
    p.batch = p.batch < 1 ? 1 : p.batch > BATCH ? BATCH : p.batch;
    p.seen = calloc(n + 1, 1);
    ck_assert_ptr_nonnull(p.seen);
    atomic_store(&p.allowed, slice + slice / 2);
    ck_assert_int_eq(pthread_create(&th, NULL, publisher, &p), 0);

    /* flip from the start: the head was 0. */
    spans[nspans].lo = 0;
    for (i = 0; i < RELOADS; i++) {
        char kind = SCHEDULE[i];
        bool hup = i % 2 == 1;
        int body_line;
        uint64_t lo;

        /* Reload i once slice i+1 is acknowledged; meanwhile the
         * publisher goes on into the first half of the next slice. */
        while (atomic_load(&p.acked) < (i + 1) * slice) {
            ck_assert_msg(!atomic_load(&p.failed), "publisher: %s", p.err);
            ck_assert_msg(er_itest_now_s() - started < er_itest_patience(),
                          "publishing stalled at %zu of %zu", atomic_load(&p.acked), n);
            er_itest_sleep_ms(1);
        }
        body_line = write_config(&d, head,
                                 kind == 'A'   ? CONFIG_A
                                 : kind == 'B' ? CONFIG_B
                                               : CONFIG_BAD);
        snprintf(where, sizeof(where), "%s:%d:%d: ", d.config, body_line + 1, BAD_COLUMN);
        lo = atomic_load(&p.acked_max);
        t0 = er_itest_now_s();
        if (hup) {
            const char *outcome;
            ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
            outcome = next_outcome(&d, &log);
            if (kind == 'x')
                ck_assert_msg(strstr(outcome, "reload refused") && strstr(outcome, where),
                              "reload %zu (SIGHUP, the bad file): %s", i, outcome);
            else
                ck_assert_msg(strstr(outcome, log_summary(kind)) != NULL,
                              "reload %zu (SIGHUP, %c): %s", i, kind, outcome);
        } else {
            char *out, *err;
            int rc = eventctl_reload(&d, &out, &err);
            if (kind == 'x') {
                char want[600];
                snprintf(want, sizeof(want), "eventctl: reload: refused (invalid): %s", where);
                ck_assert_msg(rc == 1, "reload %zu (eventctl, the bad file): exit %d: %s", i, rc,
                              err);
                ck_assert_msg(
                    strncmp(err, want, strlen(want)) == 0 && strlen(err) > strlen(want) + 1 &&
                        strchr(err, '\n') == err + strlen(err) - 1,
                    "reload %zu (eventctl, the bad file) said: %s (expected one line %s...)", i,
                    err, want);
                ck_assert_str_eq(out, "");
            } else {
                ck_assert_msg(rc == 0, "reload %zu (eventctl, %c): exit %d: %s", i, kind, rc, err);
                ck_assert_str_eq(out, ctl_summary(kind));
                ck_assert_str_eq(err, "");
            }
            free(out);
            free(err);
            /* Its log line, to keep counting one outcome per reload. */
            next_outcome(&d, &log);
            ck_assert_msg(strstr(log.last, kind == 'x' ? "reload refused" : log_summary(kind)),
                          "reload %zu: %s", i, log.last);
        }
        reload_s[hup] += er_itest_now_s() - t0;
        during += atomic_load(&p.acked_max) - lo;
        busy += atomic_load(&p.sent) > lo;
        reloads_by[hup]++;
        if (kind != 'x') {
            /* B ends a span of A: flip got nothing after what had been
             * sent by now. A begins one: nothing up to what was acked
             * before it was asked for. */
            if (kind == 'B')
                spans[nspans++].hi = atomic_load(&p.sent);
            else
                spans[nspans].lo = lo;
            in_force = kind;
        }
        /* Half a slice more before the next reload: whatever the timing,
         * some events are published after this reload was done and
         * acknowledged before the next one is asked for. */
        atomic_store(&p.allowed, (i + 2) * slice + slice / 2);
        ck_assert_msg(atomic_load(&p.acked) < n, "publishing ended before reload %zu", i + 1);
    }
    atomic_store(&p.allowed, n);
    ck_assert_int_eq(in_force, 'A');
    spans[nspans++].hi = n;
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_msg(!atomic_load(&p.failed), "publisher: %s", p.err);
    ck_assert_uint_eq(p.dup_acks, 0);
    ck_assert_uint_eq(p.bad_seqs, 0);
    ck_assert_uint_eq(atomic_load(&p.acked), n);
    for (i = 1; i <= n; i++)
        ck_assert_msg(p.seen[i] == 1, "seq %zu acknowledged %u times", i, p.seen[i]);
    fprintf(stderr,
            "itest_reload: %zu events published in %.1f s; %zu reloads by eventctl took %.3f s, "
            "%zu by SIGHUP %.3f s; %zu of them with events in flight, %llu events acknowledged "
            "during them\n",
            n, er_itest_now_s() - started, reloads_by[0], reload_s[0], reloads_by[1], reload_s[1],
            busy, (unsigned long long)during);
    /* Made while publishing: (nearly) every reload with events sent and
     * not yet acknowledged. */
    ck_assert_msg(busy >= RELOADS / 2, "only %zu of %d reloads with events in flight", busy,
                  RELOADS);

    ck_assert_uint_eq(er_itest_wait_caught_up(&d, "always"), n);
    ck_assert_uint_eq(er_itest_wait_caught_up(&d, "changed"), n);
    ck_assert_uint_eq(er_itest_wait_caught_up(&d, "flip"), n);
    expect_exactly_once(&d, "always.jsonl", n);
    expect_exactly_once(&d, "changed.jsonl", n);
    expect_flip(&d, spans, nspans);

    st = er_test_daemon_stop(&d, SIGTERM, er_itest_patience());
    if (st != 0)
        er_test_daemon_dump_log(&d);
    ck_assert_msg(st == 0, "the daemon's exit status: %d", st);
    logscan(&log);
    ck_assert_uint_eq(log.outcomes, RELOADS);
    expect_store(&d, n, all3);
    free(p.seen);
    free(head);
    er_test_daemon_cleanup(&d);
    fprintf(stderr, "itest_reload: twenty_reloads_while_publishing took %.1f s\n",
            er_itest_now_s() - started);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("itest_reload");
    TCase *tc = tcase_create("reload");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 1800);
    tcase_add_test(tc, twenty_reloads_while_publishing);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
