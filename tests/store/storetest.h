/*
 * The store test harness: drives one store plugin (memory, lmdb, later
 * redis and postgres) the way the daemon does, for the conformance suite
 * and each store's own tests. It loads the plugin through the daemon's
 * real loader (er__plugin_load: a name is found in the build tree, or an
 * absolute path is used as it is), validates options given as YAML text
 * against the plugin's schema like the daemon's config loader, and runs the
 * instance on a real uv loop with the daemon's real host table
 * (er__host_init), so tokens, timers, complete_errno and the plugin-bug
 * checks are the production ones.
 *
 * Every store operation has a synchronous wrapper: it sets the token up as
 * daemon code does (er__token_init, er__token_begin, the call,
 * er__token_returned), then runs the loop until the token completes and
 * returns the final status (ER_OK, ER_RETRY, ER_FAIL), or the negative
 * errno the call returned (the token is then never completed). The
 * completion's errno and message (complete_errno) are left in st->err and
 * st->errmsg. A token not completed within st->timeout_ms, a store that
 * returns a final status at once (the store ABI completes every token
 * asynchronously), a callback run off the loop thread, or a loop with
 * nothing left to run while a token is pending fail the test (Check).
 *
 * For ordering and concurrency tests the same operations can be submitted
 * without waiting (er_st_submit_* with an er_st_call_t the caller owns),
 * then waited for (er_st_wait) or run until all are done (er_st_wait_all).
 *
 * The daemon's log (stderr) is captured while a harness exists, copied to
 * the real stderr whenever it is checked, and every "plugin bug" line the
 * host logged (an ABI violation) fails the test at er_st_check_log and at
 * er_st_free. er_st_free also asserts that uv_loop_close() returns 0: every
 * handle the plugin opened is closed.
 *
 * One harness at a time per process (the host's loop is process-wide).
 * Names: er_st_* (store test). Loop thread (the test's thread) only.
 */
#ifndef ER_STORETEST_H
#define ER_STORETEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "eventrouter/plugin.h"
#include "host.h"
#include "plugin.h"

/* Default time a token may take before the test fails (valgrind is slow). */
#define ER_ST_TIMEOUT_MS 60000u

typedef struct er_st_s er_st_t;
typedef struct er_st_call_s er_st_call_t;

/* Rows of a query: references held by the harness (released by
 * er_st_rows_free), in the order row() gave them. */
typedef struct er_st_rows_s {
    er_ev_t **evs;
    size_t n, cap;
    /* Set before the query, both optional: row() returns non-zero once
     * stop_after rows are collected (0: never); hook runs for every row
     * before it is collected (index = rows seen so far) and may submit
     * more operations; its non-zero return stops the query too. */
    size_t stop_after;
    int (*hook)(void *arg, er_ev_t *ev, size_t index);
    void *hook_arg;
    size_t calls; /* how often row() was called */
} er_st_rows_t;

/* Cursors as cursor_list gave them (names owned). */
typedef struct er_st_cursors_s {
    char **names;
    uint64_t *seqs;
    size_t n, cap;
} er_st_cursors_t;

/* Dead letters as dlq_list gave them (strings owned, NUL-terminated). */
typedef struct er_st_dlqs_s {
    er_dead_letter_t *v;
    size_t n, cap;
    size_t stop_after; /* each() returns non-zero after this many (0: never) */
} er_st_dlqs_t;

/*
 * One submitted operation. Owned by the caller and kept until it is done;
 * the results live here. er_st_submit_* clear it except on_done and
 * on_done_arg (zero the call first, or set them before submitting).
 */
struct er_st_call_s {
    er_token_t tok; /* the host's token (must stay first) */
    er_st_t *st;
    const char *op; /* "append", "query", ... for messages */
    int rc;         /* what the call returned */
    bool done;      /* completed (or settled by its return) */
    er_status_t status;
    int err; /* complete_errno()'s errno, 0: none */
    char errmsg[256];
    uint64_t order; /* completion order, counted from 1 per harness */
    /* Outputs the store writes before completing. */
    er_store_head_t head;
    uint64_t u64;      /* dlq_id, trimmed, deleted */
    const void *value; /* state_get (store memory until completion) */
    size_t len;
    void *value_copy; /* state_get's value copied at completion (malloc; NULL: absent) */
    bool value_present;
    /* Optional: run at completion, after the fields above are set. */
    void (*on_done)(er_st_call_t *c, void *arg);
    void *on_done_arg;
};

struct er_st_s {
    uv_loop_t loop;
    uv_timer_t watchdog;
    bool watchdog_fired;
    char plugin[256];          /* as given */
    er_plugin_lib_t *lib;      /* the harness's own reference */
    const er_store_ops_t *ops; /* the loader's copy of the table */
    er_options_t *opts;
    er_plugin_ctx_t *ctx; /* NULL between destroy and create */
    void *instance;
    bool opened, stopped;
    bool open_called;     /* open() was called on this instance */
    er_store_head_t head; /* as the last er_st_open found it */
    unsigned timeout_ms;  /* ER_ST_TIMEOUT_MS unless changed */
    uint64_t completions; /* tokens completed so far */
    uint64_t off_loop;    /* callbacks the plugin ran off the loop thread */
    uv_thread_t loop_thread;
    bool stop_done_inline; /* the last stop() called done from inside itself */
    /* The last synchronous call. */
    int err;
    char errmsg[256];
};

/* ------------------------------------------------------------ lifecycle */

/*
 * Load store plugin `plugin` (a name on the daemon's plugin path — the
 * build tree's plugins/stores/NAME/.libs is searched — or an absolute
 * path), validate `yaml` (options as the store's block would hold them,
 * borrowed until return; NULL or "" for none) and create an instance named
 * "test" on a new loop. Not opened. Returns 0 with *out a new harness, or
 * a negative errno with one line saying why in err (load failure, the
 * options' file:line errors, create()'s error); nothing is left over then.
 */
int er_st_try_new(const char *plugin, const char *yaml, er_st_t **out, char *err, size_t cap);

/* er_st_try_new that fails the test when it fails. */
er_st_t *er_st_new(const char *plugin, const char *yaml);

/* open(): returns the final status; st->head is what the store reported. */
int er_st_open(er_st_t *st);

/* stop(done), run until done (at most st->timeout_ms). Idempotent. */
void er_st_stop(er_st_t *st);

/* destroy() and free the context (stop first if needed); a later
 * er_st_create makes a new instance with the same options. */
void er_st_destroy(er_st_t *st);

/* A new instance after er_st_destroy. Returns 0 or create()'s error. */
int er_st_create(er_st_t *st);

/* Stop, destroy, create and open again (persistent stores keep their
 * data): returns open's status. */
int er_st_reopen(er_st_t *st);

/*
 * Stop and destroy what is left, unload the plugin, run the loop out and
 * assert uv_loop_close() == 0, check the log for plugin bugs and restore
 * stderr. NULL is a no-op.
 */
void er_st_free(er_st_t *st);

/* The plugin's durability(). */
er_durability_t er_st_durability(er_st_t *st);

/* The plugin's stats figure `name` into *value: 0, or -ENOENT when the
 * plugin did not emit it (or has no stats). */
int er_st_stat(er_st_t *st, const char *name, int64_t *value);

/* Copy the log captured so far to the real stderr and fail the test if
 * the host logged a "plugin bug" line. Returns the error lines (level
 * "error") seen since the last check. */
int er_st_check_log(er_st_t *st);

/* ------------------------------------------------- synchronous wrappers */

/* Each returns the final status or the call's negative errno; st->err and
 * st->errmsg hold complete_errno's errno and message (0 / "" otherwise). */
int er_st_append(er_st_t *st, er_ev_t *const *evs, size_t n);
int er_st_append1(er_st_t *st, er_ev_t *ev);
int er_st_reserve(er_st_t *st, uint64_t upto);
/* rows: set its stop_after/hook first (or zero it); rows are added. */
int er_st_query(er_st_t *st, const er_store_filter_t *filter, er_st_rows_t *rows);
int er_st_cursor_list(er_st_t *st, er_st_cursors_t *out);
int er_st_cursor_set(er_st_t *st, const char *name, uint64_t seq);
int er_st_cursor_delete(er_st_t *st, const char *name);
int er_st_dlq_add(er_st_t *st, const er_dead_letter_t *dl, uint64_t *dlq_id);
int er_st_dlq_list(er_st_t *st, const char *destination, uint64_t after_id, uint64_t max,
                   er_st_dlqs_t *out);
int er_st_dlq_delete(er_st_t *st, uint64_t dlq_id);
/* *value: a malloc'd copy (free()) or NULL when absent; *len its length. */
int er_st_state_get(er_st_t *st, const char *scope, const char *key, void **value, size_t *len);
int er_st_state_set(er_st_t *st, const char *scope, const char *key, const void *value, size_t len);
int er_st_trim(er_st_t *st, uint64_t before_seq, uint64_t max, uint64_t *trimmed);
int er_st_delete_stream(er_st_t *st, const char *stream, uint64_t max, uint64_t *deleted);

/* What check or compact reported, in order (names and texts owned). */
typedef struct er_st_report_item_s {
    er_store_report_kind_t kind;
    char *name;
    int64_t value;
    char *text; /* NULL for figures */
} er_st_report_item_t;

typedef struct er_st_report_s {
    er_st_report_item_t *v;
    size_t n, cap;
} er_st_report_t;

/* Maintenance (ABI 1.2): -ENOTSUP when the plugin does not implement the
 * operation (its member is NULL), else as the wrappers above. backup's
 * *bytes is the copy's size. */
int er_st_check(er_st_t *st, er_st_report_t *out);
int er_st_backup(er_st_t *st, const char *dir, uint64_t *bytes);
int er_st_compact(er_st_t *st, er_st_report_t *out);
/* The figure `name`, or -1 when it was not reported. */
int64_t er_st_report_figure(const er_st_report_t *r, const char *name);
/* Items of `kind` (name NULL: any name). */
size_t er_st_report_count(const er_st_report_t *r, er_store_report_kind_t kind, const char *name);
void er_st_report_free(er_st_report_t *r);

/* ------------------------------------------------ submitted, not waited */

/*
 * Submit without running the loop: c (owned by the caller, cleared here but
 * for on_done) records the result when the token completes. Arrays, filters and
 * strings are borrowed until return (as the ABI says); events until
 * completion (the caller keeps its references). Returns the call's
 * return value (ER_PENDING, or a negative errno: c is then done).
 */
int er_st_submit_append(er_st_t *st, er_st_call_t *c, er_ev_t *const *evs, size_t n);
int er_st_submit_query(er_st_t *st, er_st_call_t *c, const er_store_filter_t *filter,
                       er_st_rows_t *rows);
int er_st_submit_cursor_set(er_st_t *st, er_st_call_t *c, const char *name, uint64_t seq);
int er_st_submit_state_set(er_st_t *st, er_st_call_t *c, const char *scope, const char *key,
                           const void *value, size_t len);
int er_st_submit_state_get(er_st_t *st, er_st_call_t *c, const char *scope, const char *key);
int er_st_submit_dlq_add(er_st_t *st, er_st_call_t *c, const er_dead_letter_t *dl);
int er_st_submit_trim(er_st_t *st, er_st_call_t *c, uint64_t before_seq, uint64_t max);
/* backup into dir (borrowed until return); c->u64 the copy's size. */
int er_st_submit_backup(er_st_t *st, er_st_call_t *c, const char *dir);

/* Run the loop until c is done; returns its final status (or rc). */
int er_st_wait(er_st_t *st, er_st_call_t *c);
/* Run the loop until every call in cs[0..n) is done. */
void er_st_wait_all(er_st_t *st, er_st_call_t *cs, size_t n);
/* Run the loop until done() returns true (at most st->timeout_ms; what
 * is waited for is named in the failure). */
void er_st_run_until(er_st_t *st, bool (*done)(void *arg), void *arg, const char *what);

/* --------------------------------------------------------------- events */

/*
 * A new event (a new reference; free with er_st_ev_unref) with seq set
 * (ER_HAS_SEQ) from fields (borrowed until return; copied deeply).
 */
er_ev_t *er_st_ev_new(const er_event_t *fields, uint64_t seq);

/* A small event: type (NULL: "Test"), stream, correlation_id and id (NULL:
 * absent), time_us (0: absent; received is set to it too). */
er_ev_t *er_st_ev(uint64_t seq, const char *type, const char *stream, const char *correlation_id,
                  const char *id, int64_t time_us);

void er_st_ev_unref(er_ev_t *ev);
/* The event's view (valid while a reference is held). */
const er_event_t *er_st_ev_view(const er_ev_t *ev);
uint64_t er_st_ev_seq(const er_ev_t *ev);
/* Do a and b have the same encoding (host event_encoded), byte for byte? */
bool er_st_ev_same(const er_ev_t *a, const er_ev_t *b);
/* Fail the test unless they do; the message shows both as JSON. */
void er_st_assert_same(const er_ev_t *got, const er_ev_t *want, const char *what);

void er_st_rows_free(er_st_rows_t *rows);
void er_st_cursors_free(er_st_cursors_t *c);
void er_st_dlqs_free(er_st_dlqs_t *d);

/* ---------------------------------------------------------------- misc */

/* n scaled by $ER_TEST_SCALE (a float, default 1), at least 1. */
size_t er_st_scale(size_t n);

/* A new empty directory under $TMPDIR (default /tmp) into buf; fails the
 * test when it cannot be made. Returns buf. */
char *er_st_mkdtemp(char *buf, size_t cap, const char *prefix);
/* Remove a directory tree (what er_st_mkdtemp made). */
void er_st_rmtree(const char *path);

#endif
