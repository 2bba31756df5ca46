/*
 * The store test harness (see storetest.h): a store plugin loaded by the
 * daemon's loader, its options validated from YAML like the daemon's, run
 * on a real loop through the daemon's host table, with synchronous and
 * submitted wrappers around every operation, an event builder, the log
 * check for plugin bugs and a teardown that insists on a clean loop.
 * Failures are reported through Check (ck_abort_msg), so it is for Check
 * tests; loop thread only.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conftree.h"
#include "evobj.h"
#include "options.h"
#include "storetest.h"

/* The harness alive now (one at a time), for callbacks that carry only
 * the caller's argument. */
static er_st_t *current;

/* ------------------------------------------------------- log capture */

/* While a harness exists the daemon's stderr goes to an unlinked temp
 * file; er_st_check_log copies what is new to the real stderr. */
static int capture_fd = -1;
static int saved_stderr = -1;
static off_t capture_read;

static void capture_start(void)
{
    char path[512];
    const char *tmp = getenv("TMPDIR");
    int fd;

    if (capture_fd >= 0)
        return;
    snprintf(path, sizeof(path), "%s/er-storetest-log.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    fd = mkstemp(path);
    ck_assert_msg(fd >= 0, "mkstemp %s: %s", path, strerror(errno));
    unlink(path);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    ck_assert_int_ge(saved_stderr, 0);
    ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
    capture_fd = fd;
    capture_read = 0;
}

/* Copy what the capture holds past capture_read to the real stderr;
 * count plugin-bug and error lines in it. */
static void capture_drain(unsigned *bugs, unsigned *errors, char *first_bug, size_t cap)
{
    char buf[65536], line[2048];
    size_t used = 0;
    ssize_t n;

    *bugs = *errors = 0;
    if (first_bug != NULL && cap > 0)
        first_bug[0] = '\0';
    if (capture_fd < 0)
        return;
    fflush(stderr);
    while ((n = pread(capture_fd, buf, sizeof(buf), capture_read)) > 0) {
        ssize_t i;
        if (write(saved_stderr, buf, (size_t)n) < 0) {
            /* the copy is a courtesy; the counts below still hold */
        }
        capture_read += n;
        for (i = 0; i < n; i++) {
            if (buf[i] != '\n') {
                if (used < sizeof(line) - 1)
                    line[used++] = buf[i];
                continue;
            }
            line[used] = '\0';
            used = 0;
            if (strstr(line, "plugin bug") != NULL) {
                if (*bugs == 0 && first_bug != NULL)
                    snprintf(first_bug, cap, "%s", line);
                (*bugs)++;
            }
            if (strstr(line, " error  [") != NULL || strstr(line, "\"level\":\"error\"") != NULL ||
                strncmp(line, "<3>", 3) == 0)
                (*errors)++;
        }
    }
}

static void capture_stop(void)
{
    unsigned bugs, errors;

    if (capture_fd < 0)
        return;
    capture_drain(&bugs, &errors, NULL, 0);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    close(capture_fd);
    capture_fd = saved_stderr = -1;
}

int er_st_check_log(er_st_t *st)
{
    unsigned bugs, errors;
    char first[2048];

    capture_drain(&bugs, &errors, first, sizeof(first));
    ck_assert_msg(bugs == 0, "%s: the host logged %u plugin-bug line(s), the first: %s", st->plugin,
                  bugs, first);
    ck_assert_msg(st->off_loop == 0, "%s: %llu callback(s) ran off the loop thread", st->plugin,
                  (unsigned long long)st->off_loop);
    return (int)errors;
}

/* ------------------------------------------------------- loop running */

static void note_thread(er_st_t *st)
{
    uv_thread_t self = uv_thread_self();

    if (st != NULL && !uv_thread_equal(&self, &st->loop_thread))
        st->off_loop++;
}

static void on_watchdog(uv_timer_t *t)
{
    er_st_t *st = t->data;

    st->watchdog_fired = true;
}

void er_st_run_until(er_st_t *st, bool (*done)(void *arg), void *arg, const char *what)
{
    if (done(arg))
        return;
    st->watchdog_fired = false;
    ck_assert_int_eq(uv_timer_start(&st->watchdog, on_watchdog, st->timeout_ms, 0), 0);
    while (!done(arg)) {
        int alive = uv_run(&st->loop, UV_RUN_ONCE);
        if (done(arg))
            break;
        if (st->watchdog_fired)
            ck_abort_msg("%s: %s did not complete within %u ms", st->plugin, what, st->timeout_ms);
        if (alive == 0)
            ck_abort_msg("%s: %s is not complete and the plugin has nothing left on the loop "
                         "(a token that will never be completed)",
                         st->plugin, what);
    }
    uv_timer_stop(&st->watchdog);
    ck_assert_msg(st->off_loop == 0, "%s: %llu callback(s) ran off the loop thread", st->plugin,
                  (unsigned long long)st->off_loop);
}

/* ------------------------------------------------------------- tokens */

static void on_complete(er_token_t *t, er_status_t status, size_t n, const er_status_t *statuses)
{
    er_st_call_t *c = (er_st_call_t *)t;
    er_st_t *st = c->st;

    note_thread(st);
    c->status = status;
    c->err = t->err;
    snprintf(c->errmsg, sizeof(c->errmsg), "%s", t->errmsg != NULL ? t->errmsg : "");
    c->order = ++st->completions;
    if (strcmp(c->op, "state_get") == 0 && status == ER_OK) {
        c->value_present = c->value != NULL;
        if (c->value != NULL) {
            c->value_copy = malloc(c->len > 0 ? c->len : 1);
            ck_assert_ptr_nonnull(c->value_copy);
            if (c->len > 0)
                memcpy(c->value_copy, c->value, c->len);
        } else {
            ck_assert_msg(c->len == 0, "%s: state_get of an absent key set len %zu", st->plugin,
                          c->len);
        }
        c->value = NULL; /* store memory: valid only until now */
    }
    er__token_clear(t);
    c->done = true;
    if (c->on_done != NULL)
        c->on_done(c, c->on_done_arg);
}

static void call_begin(er_st_t *st, er_st_call_t *c, const char *op)
{
    void (*on_done)(er_st_call_t *, void *) = c->on_done;
    void *on_done_arg = c->on_done_arg;

    ck_assert_msg(st->instance != NULL, "%s: %s() without an instance", st->plugin, op);
    memset(c, 0, sizeof(*c));
    c->on_done = on_done;
    c->on_done_arg = on_done_arg;
    c->st = st;
    c->op = op;
    er__token_init(&c->tok, on_complete, c, st->ctx);
    er__token_begin(&c->tok);
}

/* The ABI's rules on what a store call returned (see storetest.h). */
static int call_end(er_st_call_t *c, int rc)
{
    er_st_t *st = c->st;

    c->rc = rc;
    if (c->tok.deferred)
        ck_abort_msg("%s: %s() completed its token inside the call (a store completes on a "
                     "later loop turn)",
                     st->plugin, c->op);
    if (rc >= 0 && rc != ER_PENDING)
        ck_abort_msg("%s: %s() returned status %d at once (a store returns ER_PENDING and "
                     "completes the token later, or a negative errno)",
                     st->plugin, c->op, rc);
    rc = er__token_returned(&c->tok, rc);
    if (rc < 0) {
        c->done = true;
        c->err = rc;
        snprintf(c->errmsg, sizeof(c->errmsg), "%s() returned %s", c->op, er_strerror(rc));
        er__token_clear(&c->tok);
    }
    return rc;
}

static bool call_done(void *arg)
{
    return ((er_st_call_t *)arg)->done;
}

int er_st_wait(er_st_t *st, er_st_call_t *c)
{
    char what[64];

    snprintf(what, sizeof(what), "%s()", c->op);
    er_st_run_until(st, call_done, c, what);
    st->err = c->err;
    snprintf(st->errmsg, sizeof(st->errmsg), "%s", c->errmsg);
    return c->rc < 0 ? c->rc : (int)c->status;
}

typedef struct calls_s {
    er_st_call_t *cs;
    size_t n;
} calls_t;

static bool all_done(void *arg)
{
    calls_t *a = arg;
    size_t i;

    for (i = 0; i < a->n; i++)
        if (!a->cs[i].done)
            return false;
    return true;
}

void er_st_wait_all(er_st_t *st, er_st_call_t *cs, size_t n)
{
    calls_t a = {cs, n};

    er_st_run_until(st, all_done, &a, "a set of submitted calls");
}

/* ----------------------------------------------------- result callbacks */

static int on_row(void *arg, er_ev_t *ev)
{
    er_st_rows_t *r = arg;
    int stop = 0;

    note_thread(current);
    r->calls++;
    if (r->hook != NULL)
        stop = r->hook(r->hook_arg, ev, r->n);
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        er_ev_t **v = realloc(r->evs, cap * sizeof(*v));
        ck_assert_ptr_nonnull(v);
        r->evs = v;
        r->cap = cap;
    }
    r->evs[r->n++] = er__host()->event_ref(ev);
    if (r->stop_after > 0 && r->n >= r->stop_after)
        return 1;
    return stop;
}

static int on_cursor(void *arg, const char *name, uint64_t seq)
{
    er_st_cursors_t *c = arg;

    note_thread(current);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        c->names = realloc(c->names, cap * sizeof(*c->names));
        c->seqs = realloc(c->seqs, cap * sizeof(*c->seqs));
        ck_assert(c->names != NULL && c->seqs != NULL);
        c->cap = cap;
    }
    c->names[c->n] = strdup(name);
    ck_assert_ptr_nonnull(c->names[c->n]);
    c->seqs[c->n++] = seq;
    return 0;
}

static er_str_t dup_str(er_str_t s)
{
    char *p;

    if (s.ptr == NULL)
        return s;
    p = malloc(s.len + 1);
    ck_assert_ptr_nonnull(p);
    memcpy(p, s.ptr, s.len);
    p[s.len] = '\0';
    return (er_str_t){p, s.len};
}

static int on_dlq(void *arg, const er_dead_letter_t *dl)
{
    er_st_dlqs_t *d = arg;
    er_dead_letter_t *copy;

    note_thread(current);
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        d->v = realloc(d->v, cap * sizeof(*d->v));
        ck_assert_ptr_nonnull(d->v);
        d->cap = cap;
    }
    copy = &d->v[d->n++];
    *copy = *dl;
    copy->destination = dup_str(dl->destination);
    copy->reason = dup_str(dl->reason);
    return d->stop_after > 0 && d->n >= d->stop_after;
}

void er_st_rows_free(er_st_rows_t *rows)
{
    size_t i;

    for (i = 0; i < rows->n; i++)
        er__host()->event_unref(rows->evs[i]);
    free(rows->evs);
    rows->evs = NULL;
    rows->n = rows->cap = rows->calls = 0;
}

void er_st_cursors_free(er_st_cursors_t *c)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        free(c->names[i]);
    free(c->names);
    free(c->seqs);
    memset(c, 0, sizeof(*c));
}

void er_st_dlqs_free(er_st_dlqs_t *d)
{
    size_t i;

    for (i = 0; i < d->n; i++) {
        free((char *)d->v[i].destination.ptr);
        free((char *)d->v[i].reason.ptr);
    }
    free(d->v);
    memset(d, 0, sizeof(*d));
}

/* ---------------------------------------------------------- submitting */

int er_st_submit_append(er_st_t *st, er_st_call_t *c, er_ev_t *const *evs, size_t n)
{
    call_begin(st, c, "append");
    return call_end(c, st->ops->append(st->instance, evs, n, &c->tok));
}

int er_st_submit_query(er_st_t *st, er_st_call_t *c, const er_store_filter_t *filter,
                       er_st_rows_t *rows)
{
    er_store_filter_t f = {0};

    if (filter != NULL)
        f = *filter;
    f.size = sizeof(f);
    call_begin(st, c, "query");
    return call_end(c, st->ops->query(st->instance, &f, on_row, rows, &c->tok));
}

int er_st_submit_cursor_set(er_st_t *st, er_st_call_t *c, const char *name, uint64_t seq)
{
    call_begin(st, c, "cursor_set");
    return call_end(c, st->ops->cursor_set(st->instance, name, seq, &c->tok));
}

int er_st_submit_state_set(er_st_t *st, er_st_call_t *c, const char *scope, const char *key,
                           const void *value, size_t len)
{
    call_begin(st, c, "state_set");
    return call_end(c, st->ops->state_set(st->instance, scope, key, value, len, &c->tok));
}

int er_st_submit_state_get(er_st_t *st, er_st_call_t *c, const char *scope, const char *key)
{
    call_begin(st, c, "state_get");
    return call_end(c, st->ops->state_get(st->instance, scope, key, &c->value, &c->len, &c->tok));
}

int er_st_submit_dlq_add(er_st_t *st, er_st_call_t *c, const er_dead_letter_t *dl)
{
    call_begin(st, c, "dlq_add");
    return call_end(c, st->ops->dlq_add(st->instance, dl, &c->u64, &c->tok));
}

int er_st_submit_trim(er_st_t *st, er_st_call_t *c, uint64_t before_seq, uint64_t max)
{
    call_begin(st, c, "trim");
    return call_end(c, st->ops->trim(st->instance, before_seq, max, &c->u64, &c->tok));
}

int er_st_submit_backup(er_st_t *st, er_st_call_t *c, const char *dir)
{
    call_begin(st, c, "backup");
    if (st->ops->backup == NULL) {
        c->done = true;
        c->rc = c->err = -ENOTSUP;
        snprintf(c->errmsg, sizeof(c->errmsg), "backup() is not implemented");
        er__token_clear(&c->tok);
        return -ENOTSUP;
    }
    return call_end(c, st->ops->backup(st->instance, dir, &c->u64, &c->tok));
}

/* ----------------------------------------------------------- waiting */

/* Submit-then-wait for the calls that have no submit_ variant. */
#define SYNC(st, c, opname, expr)                                                                  \
    do {                                                                                           \
        int rc_;                                                                                   \
        call_begin((st), (c), opname);                                                             \
        rc_ = call_end((c), (expr));                                                               \
        if (rc_ < 0) {                                                                             \
            (st)->err = (c)->err;                                                                  \
            snprintf((st)->errmsg, sizeof((st)->errmsg), "%s", (c)->errmsg);                       \
            return rc_;                                                                            \
        }                                                                                          \
    } while (0)

static int submitted(er_st_t *st, er_st_call_t *c, int rc)
{
    if (rc < 0) {
        st->err = c->err;
        snprintf(st->errmsg, sizeof(st->errmsg), "%s", c->errmsg);
        return rc;
    }
    return er_st_wait(st, c);
}

int er_st_open(er_st_t *st)
{
    er_st_call_t c = {.st = NULL};
    int rc;

    call_begin(st, &c, "open");
    c.head.size = sizeof(c.head);
    rc = call_end(&c, st->ops->open(st->instance, &c.head, &c.tok));
    if (rc >= 0)
        rc = er_st_wait(st, &c);
    else
        submitted(st, &c, rc);
    st->open_called = true;
    st->head = c.head;
    st->opened = rc == ER_OK;
    return rc;
}

int er_st_append(er_st_t *st, er_ev_t *const *evs, size_t n)
{
    er_st_call_t c = {.st = NULL};

    return submitted(st, &c, er_st_submit_append(st, &c, evs, n));
}

int er_st_append1(er_st_t *st, er_ev_t *ev)
{
    return er_st_append(st, &ev, 1);
}

int er_st_reserve(er_st_t *st, uint64_t upto)
{
    er_st_call_t c = {.st = NULL};

    SYNC(st, &c, "reserve", st->ops->reserve(st->instance, upto, &c.tok));
    return er_st_wait(st, &c);
}

int er_st_query(er_st_t *st, const er_store_filter_t *filter, er_st_rows_t *rows)
{
    er_st_call_t c = {.st = NULL};

    return submitted(st, &c, er_st_submit_query(st, &c, filter, rows));
}

int er_st_cursor_list(er_st_t *st, er_st_cursors_t *out)
{
    er_st_call_t c = {.st = NULL};

    SYNC(st, &c, "cursor_list", st->ops->cursor_list(st->instance, on_cursor, out, &c.tok));
    return er_st_wait(st, &c);
}

int er_st_cursor_set(er_st_t *st, const char *name, uint64_t seq)
{
    er_st_call_t c = {.st = NULL};

    return submitted(st, &c, er_st_submit_cursor_set(st, &c, name, seq));
}

int er_st_cursor_delete(er_st_t *st, const char *name)
{
    er_st_call_t c = {.st = NULL};

    SYNC(st, &c, "cursor_delete", st->ops->cursor_delete(st->instance, name, &c.tok));
    return er_st_wait(st, &c);
}

int er_st_dlq_add(er_st_t *st, const er_dead_letter_t *dl, uint64_t *dlq_id)
{
    er_st_call_t c = {.st = NULL};
    int rc = submitted(st, &c, er_st_submit_dlq_add(st, &c, dl));

    if (dlq_id != NULL)
        *dlq_id = rc == ER_OK ? c.u64 : 0;
    return rc;
}

int er_st_dlq_list(er_st_t *st, const char *destination, uint64_t after_id, uint64_t max,
                   er_st_dlqs_t *out)
{
    er_st_call_t c = {.st = NULL};

    SYNC(st, &c, "dlq_list",
         st->ops->dlq_list(st->instance, destination, after_id, max, on_dlq, out, &c.tok));
    return er_st_wait(st, &c);
}

int er_st_dlq_delete(er_st_t *st, uint64_t dlq_id)
{
    er_st_call_t c = {.st = NULL};

    SYNC(st, &c, "dlq_delete", st->ops->dlq_delete(st->instance, dlq_id, &c.tok));
    return er_st_wait(st, &c);
}

int er_st_state_get(er_st_t *st, const char *scope, const char *key, void **value, size_t *len)
{
    er_st_call_t c = {.st = NULL};
    int rc = submitted(st, &c, er_st_submit_state_get(st, &c, scope, key));

    *value = c.value_copy;
    *len = c.value_copy != NULL ? c.len : 0;
    return rc;
}

int er_st_state_set(er_st_t *st, const char *scope, const char *key, const void *value, size_t len)
{
    er_st_call_t c = {.st = NULL};

    return submitted(st, &c, er_st_submit_state_set(st, &c, scope, key, value, len));
}

int er_st_trim(er_st_t *st, uint64_t before_seq, uint64_t max, uint64_t *trimmed)
{
    er_st_call_t c = {.st = NULL};
    int rc = submitted(st, &c, er_st_submit_trim(st, &c, before_seq, max));

    if (trimmed != NULL)
        *trimmed = c.u64;
    return rc;
}

static int on_report(void *arg, er_store_report_kind_t kind, const char *name, int64_t value,
                     const char *text)
{
    er_st_report_t *r = arg;
    er_st_report_item_t *it;

    note_thread(current);
    ck_assert_ptr_nonnull(name);
    ck_assert_msg(kind == ER_STORE_FIGURE || text != NULL, "%s: a %s report without text", name,
                  kind == ER_STORE_PROBLEM ? "problem" : "note");
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        er_st_report_item_t *v = realloc(r->v, cap * sizeof(*v));
        ck_assert_ptr_nonnull(v);
        r->v = v;
        r->cap = cap;
    }
    it = &r->v[r->n++];
    it->kind = kind;
    it->name = strdup(name);
    it->value = value;
    it->text = text ? strdup(text) : NULL;
    return 0;
}

int er_st_check(er_st_t *st, er_st_report_t *out)
{
    er_st_call_t c = {.st = NULL};

    if (st->ops->check == NULL)
        return -ENOTSUP;
    SYNC(st, &c, "check", st->ops->check(st->instance, on_report, out, &c.tok));
    return er_st_wait(st, &c);
}

int er_st_backup(er_st_t *st, const char *dir, uint64_t *bytes)
{
    er_st_call_t c = {.st = NULL};
    int rc = submitted(st, &c, er_st_submit_backup(st, &c, dir));

    if (bytes != NULL)
        *bytes = c.u64;
    return rc;
}

int er_st_compact(er_st_t *st, er_st_report_t *out)
{
    er_st_call_t c = {.st = NULL};

    if (st->ops->compact == NULL)
        return -ENOTSUP;
    SYNC(st, &c, "compact", st->ops->compact(st->instance, on_report, out, &c.tok));
    return er_st_wait(st, &c);
}

int64_t er_st_report_figure(const er_st_report_t *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        if (r->v[i].kind == ER_STORE_FIGURE && strcmp(r->v[i].name, name) == 0)
            return r->v[i].value;
    return -1;
}

size_t er_st_report_count(const er_st_report_t *r, er_store_report_kind_t kind, const char *name)
{
    size_t i, n = 0;

    for (i = 0; i < r->n; i++)
        if (r->v[i].kind == kind && (name == NULL || strcmp(r->v[i].name, name) == 0))
            n++;
    return n;
}

void er_st_report_free(er_st_report_t *r)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        free(r->v[i].name);
        free(r->v[i].text);
    }
    free(r->v);
    memset(r, 0, sizeof(*r));
}

int er_st_delete_stream(er_st_t *st, const char *stream, uint64_t max, uint64_t *deleted)
{
    er_st_call_t c = {.st = NULL};
    int rc;

    SYNC(st, &c, "delete_stream",
         st->ops->delete_stream(st->instance, stream, max, &c.u64, &c.tok));
    rc = er_st_wait(st, &c);
    if (deleted != NULL)
        *deleted = c.u64;
    return rc;
}

/* ----------------------------------------------------------- lifecycle */

/* The options of a store block from YAML text, errors into err. */
static int build_options(const er_plugin_lib_t *lib, const char *yaml, er_options_t **out,
                         char *err, size_t cap)
{
    er_conf_tree_t *tree = NULL;
    const er_conf_node_t *root = NULL;
    er_diag_t diag;
    size_t i, used = 0;
    int rc;

    er__diag_init(&diag);
    rc = er__conf_load_string("options.yaml", yaml, strlen(yaml), &tree, &diag);
    if (rc == 0) {
        root = tree->root;
        if (root != NULL && root->kind != ER_CONF_MAP) {
            er__diag_add(&diag, &root->pos, "store options: expected a map");
            rc = -EINVAL;
        } else {
            rc = er__options_build(lib->desc->options, root, NULL, "store", out, &diag);
        }
    }
    if (cap > 0)
        err[0] = '\0';
    for (i = 0; i < diag.count && used < cap; i++) {
        char line[512];
        er__diag_format(&diag, i, line, sizeof(line));
        used += (size_t)snprintf(err + used, cap - used, "%s%s", i ? "; " : "", line);
    }
    if (rc != 0 && cap > 0 && err[0] == '\0')
        snprintf(err, cap, "options: %s", er_strerror(rc));
    er__diag_free(&diag);
    er__conf_tree_free(tree);
    return rc;
}

int er_st_create(er_st_t *st)
{
    int rc;

    ck_assert_ptr_null(st->instance);
    st->ctx = er__plugin_ctx_new("test", st->lib, st->opts, st);
    ck_assert_ptr_nonnull(st->ctx);
    st->opened = st->stopped = st->open_called = false;
    rc = st->ops->create(er__host(), st->ctx, st->opts, &st->instance);
    if (rc != 0) {
        st->instance = NULL;
        er__plugin_ctx_free(st->ctx);
        st->ctx = NULL;
    }
    return rc;
}

static void lib_free(er_st_t *st)
{
    if (st->lib != NULL)
        er__plugin_unload(st->lib);
    st->lib = NULL;
    er__options_free(st->opts);
    st->opts = NULL;
}

/* Run the loop until nothing is left or 10 s passed. */
static void run_out(er_st_t *st)
{
    uint64_t end = uv_hrtime() + 10000000000ull;

    while (uv_run(&st->loop, UV_RUN_NOWAIT) != 0 && uv_hrtime() < end)
        usleep(1000);
}

static void describe_handle(uv_handle_t *h, void *arg)
{
    char *buf = arg;
    size_t used = strlen(buf);

    snprintf(buf + used, 512 - used, " %s%s", uv_handle_type_name(uv_handle_get_type(h)),
             uv_is_closing(h) ? "(closing)" : "");
}

static void loop_close(er_st_t *st)
{
    char open_handles[512] = "";
    int rc;

    if (!uv_is_closing((uv_handle_t *)&st->watchdog))
        uv_close((uv_handle_t *)&st->watchdog, NULL);
    run_out(st);
    rc = uv_loop_close(&st->loop);
    if (rc != 0) {
        uv_walk(&st->loop, describe_handle, open_handles);
        ck_abort_msg("%s: uv_loop_close() = %s: handles still open:%s", st->plugin, uv_strerror(rc),
                     open_handles);
    }
}

int er_st_try_new(const char *plugin, const char *yaml, er_st_t **out, char *err, size_t cap)
{
    er_st_t *st;
    int rc;

    *out = NULL;
    if (current != NULL) {
        /* Left by a test that failed without forking (CK_FORK=no): that
         * run has failed already; abandon it (leaked) rather than fail
         * every test after it. */
        capture_stop();
        fprintf(stderr, "storetest: abandoning the harness of %s left by a failed test\n",
                current->plugin);
        current = NULL;
    }
    st = calloc(1, sizeof(*st));
    ck_assert_ptr_nonnull(st);
    snprintf(st->plugin, sizeof(st->plugin), "%s", plugin);
    st->timeout_ms = ER_ST_TIMEOUT_MS;
    st->loop_thread = uv_thread_self();
    ck_assert_int_eq(uv_loop_init(&st->loop), 0);
    ck_assert_int_eq(uv_timer_init(&st->loop, &st->watchdog), 0);
    st->watchdog.data = st;
    uv_unref((uv_handle_t *)&st->watchdog);
    er__host_init(&st->loop);
    capture_start();
    current = st;

    rc = er__plugin_load(ER_PLUGIN_STORE, plugin, NULL, &st->lib, err, cap);
    if (rc != 0) {
        st->lib = NULL;
        goto fail;
    }
    st->ops = st->lib->ops;
    if ((rc = build_options(st->lib, yaml != NULL ? yaml : "", &st->opts, err, cap)) != 0)
        goto fail;
    if ((rc = er_st_create(st)) != 0) {
        /* What the plugin logged says why: it is in the test's log. */
        snprintf(err, cap, "%s: create() failed: %s (see the log above)", plugin, er_strerror(rc));
        goto fail;
    }
    *out = st;
    return 0;

fail:
    lib_free(st);
    loop_close(st);
    current = NULL;
    capture_stop();
    free(st);
    return rc;
}

er_st_t *er_st_new(const char *plugin, const char *yaml)
{
    char err[2048] = "";
    er_st_t *st;
    int rc = er_st_try_new(plugin, yaml, &st, err, sizeof(err));

    ck_assert_msg(rc == 0, "store %s: %s (%s)", plugin, err, er_strerror(rc));
    return st;
}

static bool stop_done_flag;
static bool in_stop;

static void on_stop_done(void *arg)
{
    er_st_t *st = arg;

    note_thread(st);
    ck_assert_msg(!stop_done_flag, "%s: stop()'s done called twice", st->plugin);
    if (in_stop)
        st->stop_done_inline = true;
    stop_done_flag = true;
}

static bool stop_done(void *arg)
{
    return stop_done_flag;
}

void er_st_stop(er_st_t *st)
{
    if (st->instance == NULL || st->stopped)
        return;
    stop_done_flag = false;
    st->stop_done_inline = false;
    in_stop = true;
    st->ops->stop(st->instance, on_stop_done, st);
    in_stop = false;
    er_st_run_until(st, stop_done, NULL, "stop()");
    st->stopped = true;
    st->opened = false;
    /* The host unloads only after done plus one more loop turn. */
    uv_run(&st->loop, UV_RUN_NOWAIT);
}

void er_st_destroy(er_st_t *st)
{
    if (st->instance == NULL)
        return;
    if (st->open_called)
        er_st_stop(st);
    st->ops->destroy(st->instance);
    st->instance = NULL;
    er__plugin_ctx_free(st->ctx);
    st->ctx = NULL;
    uv_run(&st->loop, UV_RUN_NOWAIT);
}

int er_st_reopen(er_st_t *st)
{
    int rc;

    er_st_destroy(st);
    rc = er_st_create(st);
    ck_assert_msg(rc == 0, "%s: create() again failed: %s", st->plugin, er_strerror(rc));
    return er_st_open(st);
}

void er_st_free(er_st_t *st)
{
    if (st == NULL)
        return;
    er_st_destroy(st);
    lib_free(st);
    loop_close(st);
    er_st_check_log(st);
    current = NULL;
    capture_stop();
    free(st);
}

er_durability_t er_st_durability(er_st_t *st)
{
    return st->ops->durability(st->instance);
}

typedef struct stat_find_s {
    const char *name;
    int64_t value;
    bool found;
} stat_find_t;

static void on_stat(void *arg, const char *name, int64_t value)
{
    stat_find_t *f = arg;

    if (strcmp(name, f->name) == 0) {
        f->value = value;
        f->found = true;
    }
}

int er_st_stat(er_st_t *st, const char *name, int64_t *value)
{
    stat_find_t f = {name, 0, false};

    *value = 0;
    if (st->ops->stats == NULL)
        return -ENOENT;
    st->ops->stats(st->instance, on_stat, &f);
    *value = f.value;
    return f.found ? 0 : -ENOENT;
}

/* --------------------------------------------------------------- events */

er_ev_t *er_st_ev_new(const er_event_t *fields, uint64_t seq)
{
    er_event_t f = *fields;
    er_ev_t *ev;

    f.has |= ER_HAS_SEQ;
    f.seq = seq;
    ev = er__ev_new(&f);
    ck_assert_ptr_nonnull(ev);
    return ev;
}

er_ev_t *er_st_ev(uint64_t seq, const char *type, const char *stream, const char *correlation_id,
                  const char *id, int64_t time_us)
{
    er_event_t f = {0};

    f.type = er_str(type != NULL ? type : "Test");
    f.stream = er_str(stream);
    f.correlation_id = er_str(correlation_id);
    f.id = er_str(id);
    if (time_us != 0) {
        f.has |= ER_HAS_TIME | ER_HAS_RECEIVED;
        f.time = time_us;
        f.received = time_us;
    }
    return er_st_ev_new(&f, seq);
}

void er_st_ev_unref(er_ev_t *ev)
{
    er__ev_unref(ev);
}

const er_event_t *er_st_ev_view(const er_ev_t *ev)
{
    return er__ev_view(ev);
}

uint64_t er_st_ev_seq(const er_ev_t *ev)
{
    return er__ev_view(ev)->seq;
}

bool er_st_ev_same(const er_ev_t *a, const er_ev_t *b)
{
    const uint8_t *pa, *pb;
    size_t na, nb;

    ck_assert_int_eq(er__host()->event_encoded(a, &pa, &na), 0);
    ck_assert_int_eq(er__host()->event_encoded(b, &pb, &nb), 0);
    return na == nb && memcmp(pa, pb, na) == 0;
}

void er_st_assert_same(const er_ev_t *got, const er_ev_t *want, const char *what)
{
    char *g, *w;

    if (er_st_ev_same(got, want))
        return;
    g = er_event_to_json(er__ev_view(got));
    w = er_event_to_json(er__ev_view(want));
    ck_abort_msg("%s: the event differs from what was stored:\n  got:  %s\n  want: %s", what,
                 g ? g : "?", w ? w : "?");
}

/* ----------------------------------------------------------------- misc */

size_t er_st_scale(size_t n)
{
    const char *s = getenv("ER_TEST_SCALE");
    double f = 1.0, v;
    char *end;

    if (s != NULL && *s) {
        v = strtod(s, &end);
        if (*end == '\0' && v > 0)
            f = v;
    }
    v = (double)n * f;
    return v < 1 ? 1 : (size_t)v;
}

char *er_st_mkdtemp(char *buf, size_t cap, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");

    snprintf(buf, cap, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
    ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp %s: %s", buf, strerror(errno));
    return buf;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

void er_st_rmtree(const char *path)
{
    if (path == NULL || *path == '\0')
        return;
    nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}
