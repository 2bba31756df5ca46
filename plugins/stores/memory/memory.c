/*
 * The `memory` store: the event log, cursors, dead letters, the
 * reservation mark and plugin state kept in the daemon's memory and lost
 * with the process (durability NONE). It is the store for tests and
 * benchmarks (DESIGN §10: transport figures are measured against it), not
 * for keeping anything.
 *
 * Everything runs on the loop thread. A store never completes a token
 * inside the call that took it, so every operation is queued (with what it
 * needs copied out of the caller's borrowed arguments) in submission order
 * and one host timer (0 ms) drains the queue on a later loop turn: each
 * operation is applied and its token completed in that order, so writes
 * apply in submission order and a read sees every write submitted before
 * it. Calls before open() return -ENOTCONN. stop() marks the instance
 * stopping (later calls return -ESHUTDOWN), lets the drain finish what was
 * queued, then calls done from the timer.
 *
 * Data: events in an array of (seq, reference) ordered by seq — an append
 * whose seqs do not rise above every seq appended before completes -EINVAL
 * and stores none of its events — trimmed from the front; delete_stream leaves
 * holes that are compacted away once they are half the array. An append is
 * O(1) amortised per event (one queue entry per call, one reference per
 * event), so ingest benchmarks run at millions of events per second. There
 * are no indexes: query scans the seq range (binary search for from_seq /
 * to_seq) and checks every filter member, which is what a test store
 * needs. Cursors, dead letters and state are small arrays.
 *
 * Options: `max_events` (0: unlimited) — an append that would hold more
 * live events completes -ENOSPC (the daemon answers `store_full`);
 * `path` is accepted and ignored, so a config switches between lmdb and
 * memory by changing one word.
 *
 * used_bytes (ABI 1.3, what store.retention.max_bytes bounds): the sum of
 * the live events' encodings plus one slot each, kept as events come and go.
 *
 * Only er_plugin_entry is exported.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <eventrouter.h>
#include <eventrouter/plugin.h>

#include "build-config.h" /* PACKAGE_VERSION */

/* ---------------------------------------------------------------- types */

typedef struct slot_s {
    uint64_t seq;
    er_ev_t *ev; /* a reference; NULL: deleted by delete_stream (a hole) */
} slot_t;

typedef struct cursor_s {
    char *name;
    uint64_t seq;
} cursor_t;

typedef struct dead_s {
    er_dead_letter_t dl; /* destination and reason point at owned copies */
} dead_t;

typedef struct state_s {
    char *scope, *key;
    void *value; /* owned, at least one byte */
    size_t len;
} state_t;

/* A query's filter with its strings copied behind it. */
typedef struct filter_s {
    er_store_filter_t f;
    char bytes[];
} filter_t;

enum op_kind {
    OP_OPEN,
    OP_APPEND,
    OP_RESERVE,
    OP_QUERY,
    OP_CURSOR_LIST,
    OP_CURSOR_SET,
    OP_CURSOR_DELETE,
    OP_DLQ_ADD,
    OP_DLQ_LIST,
    OP_DLQ_DELETE,
    OP_STATE_GET,
    OP_STATE_SET,
    OP_TRIM,
    OP_DELETE_STREAM,
    OP_CHECK,
};

/* One queued operation: what the call took, copied where it was only
 * borrowed until return. */
typedef struct op_s {
    enum op_kind kind;
    er_token_t *token;
    union {
        er_store_head_t *head;
        struct {
            er_ev_t **evs; /* host->alloc'd copy of the array; NULL when n == 1 */
            er_ev_t *one;
            size_t n;
        } append;
        uint64_t upto;
        struct {
            filter_t *filter;
            er_store_row_cb row;
            void *arg;
        } query;
        struct {
            er_store_cursor_cb each;
            void *arg;
        } cursor_list;
        struct {
            char *name;
            uint64_t seq;
        } cursor;
        struct {
            dead_t *dead; /* the copy to insert */
            uint64_t *id;
        } dlq_add;
        struct {
            char *destination; /* NULL: every one */
            uint64_t after_id, max;
            er_store_dlq_cb each;
            void *arg;
        } dlq_list;
        uint64_t dlq_id;
        struct {
            char *scope, *key;
            const void **value;
            size_t *len;
        } state_get;
        struct {
            char *scope, *key;
            void *value; /* NULL: delete */
            size_t len;
        } state_set;
        struct {
            uint64_t before_seq, max;
            uint64_t *out;
        } trim;
        struct {
            char *stream;
            uint64_t max;
            uint64_t *out;
        } del;
        struct {
            er_store_report_cb report;
            void *arg;
        } check;
    } u;
} op_t;

typedef struct mem_s {
    const er_host_t *host;
    er_plugin_ctx_t *ctx;
    uint64_t max_events; /* 0: unlimited */

    /* Events: slots [start, end) of v, ordered by seq. */
    slot_t *v;
    size_t start, end, cap;
    size_t holes;     /* slots in [start, end) whose ev is NULL */
    uint64_t max_seq; /* highest seq ever appended: appends must go above */
    uint64_t reserved;

    cursor_t *cursors; /* ordered by name */
    size_t ncursors, capcursors;
    dead_t *dead; /* ordered by dlq_id */
    size_t ndead, capdead;
    uint64_t next_dlq_id;
    state_t *state;
    size_t nstate, capstate;

    /* The queue: a ring of ops, `qcap` a power of two. */
    op_t *q;
    size_t qhead, qcount, qcap;
    er_timer_t *timer; /* armed while the queue needs draining */

    bool opened;   /* open() was called: other calls queue behind it */
    bool stopping; /* stop() was called: no more calls */
    er_done_cb stop_done;
    void *stop_arg;

    uint64_t appends, appended, queries, trimmed, deleted;
    uint64_t bytes; /* used_bytes: the live events' encodings and slots */
} mem_t;

/* ---------------------------------------------------------------- helpers */

static char *dupstr(mem_t *m, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = m->host->alloc(n);

    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static size_t live(const mem_t *m)
{
    return m->end - m->start - m->holes;
}

/* What one stored event counts in used_bytes: its encoding and its slot
 * (what the store holds for it; the reference's own overhead is the
 * host's). */
static uint64_t ev_bytes(const mem_t *m, const er_ev_t *ev)
{
    const uint8_t *p;
    size_t n = 0;

    if (m->host->event_encoded(ev, &p, &n) != 0)
        n = 0;
    return (uint64_t)n + sizeof(slot_t);
}

/* Release a stored event's reference and its bytes. */
static void ev_drop(mem_t *m, er_ev_t *ev)
{
    uint64_t b = ev_bytes(m, ev);

    m->bytes -= b < m->bytes ? b : m->bytes;
    m->host->event_unref(ev);
}

/* Grow *v (elements of `size` bytes) to hold at least need; 0 or -ENOMEM. */
static int grow(mem_t *m, void **v, size_t *cap, size_t need, size_t size)
{
    size_t ncap = *cap ? *cap : 16;
    void *nv;

    if (need <= *cap)
        return 0;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / size)
            return -ENOMEM;
        ncap *= 2;
    }
    if ((nv = m->host->realloc(*v, ncap * size)) == NULL)
        return -ENOMEM;
    *v = nv;
    *cap = ncap;
    return 0;
}

static bool str_is(er_str_t want, er_str_t have)
{
    return have.ptr != NULL && have.len == want.len && memcmp(have.ptr, want.ptr, want.len) == 0;
}

/* The first slot index in [start, end) with seq >= seq (end if none). */
static size_t lower_bound(const mem_t *m, uint64_t seq)
{
    size_t lo = m->start, hi = m->end;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->v[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Drop holes at both ends, so v[start] and v[end - 1] are events. */
static void shed_holes(mem_t *m)
{
    while (m->start < m->end && m->v[m->start].ev == NULL) {
        m->start++;
        m->holes--;
    }
    while (m->end > m->start && m->v[m->end - 1].ev == NULL) {
        m->end--;
        m->holes--;
    }
    if (m->start == m->end)
        m->start = m->end = 0;
}

/* Squeeze the holes out once they are half the slots. */
static void compact(mem_t *m)
{
    size_t i, w = 0;

    if (m->holes == 0 || m->holes * 2 < m->end - m->start)
        return;
    for (i = m->start; i < m->end; i++)
        if (m->v[i].ev != NULL)
            m->v[w++] = m->v[i];
    m->start = 0;
    m->end = w;
    m->holes = 0;
}

/* Room for n more slots at the end: move the live part down when the
 * front is mostly trimmed, grow otherwise. */
static int slots_reserve(mem_t *m, size_t n)
{
    size_t used = m->end - m->start;
    void *v = m->v;
    int rc;

    if (m->end + n <= m->cap)
        return 0;
    if (m->start > 0 && used + n <= m->cap && m->start >= m->cap / 2) {
        memmove(m->v, m->v + m->start, used * sizeof(*m->v));
        m->start = 0;
        m->end = used;
        return 0;
    }
    if (used + n < used)
        return -ENOMEM;
    if (m->start > 0) {
        memmove(m->v, m->v + m->start, used * sizeof(*m->v));
        m->start = 0;
        m->end = used;
    }
    rc = grow(m, &v, &m->cap, used + n, sizeof(*m->v));
    m->v = v;
    return rc;
}

static void fail(mem_t *m, er_token_t *token, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Complete token with err and a one-line reason. */
static void fail(mem_t *m, er_token_t *token, int err, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    m->host->complete_errno(token, err, msg);
}

/* ------------------------------------------------------------- the queue */

static void drain(void *arg);

static int arm(mem_t *m)
{
    if (m->timer != NULL)
        return 0;
    return m->host->timer_start(m->ctx, 0, 0, drain, m, &m->timer);
}

/* Queue op (taken on success). Returns 0, -ENOMEM, or the timer's error
 * (nothing queued then). */
static int push(mem_t *m, const op_t *op)
{
    int rc;

    if (m->qcount == m->qcap) {
        size_t ncap = m->qcap ? m->qcap * 2 : 64, i;
        op_t *nq;
        if (ncap > SIZE_MAX / sizeof(*nq) || (nq = m->host->alloc(ncap * sizeof(*nq))) == NULL)
            return -ENOMEM;
        for (i = 0; i < m->qcount; i++)
            nq[i] = m->q[(m->qhead + i) & (m->qcap - 1)];
        m->host->free(m->q);
        m->q = nq;
        m->qhead = 0;
        m->qcap = ncap;
    }
    if ((rc = arm(m)) != 0)
        return rc;
    m->q[(m->qhead + m->qcount) & (m->qcap - 1)] = *op;
    m->qcount++;
    return 0;
}

static void pop(mem_t *m, op_t *op)
{
    *op = m->q[m->qhead];
    m->qhead = (m->qhead + 1) & (m->qcap - 1);
    m->qcount--;
}

/* What a queued op owns (after it ran, or at destroy). */
static void op_free(mem_t *m, op_t *op)
{
    const er_host_t *h = m->host;

    switch (op->kind) {
    case OP_APPEND:
        h->free(op->u.append.evs);
        break;
    case OP_QUERY:
        h->free(op->u.query.filter);
        break;
    case OP_CURSOR_SET:
    case OP_CURSOR_DELETE:
        h->free(op->u.cursor.name);
        break;
    case OP_DLQ_ADD:
        if (op->u.dlq_add.dead != NULL) {
            h->free((char *)op->u.dlq_add.dead->dl.destination.ptr);
            h->free((char *)op->u.dlq_add.dead->dl.reason.ptr);
            h->free(op->u.dlq_add.dead);
        }
        break;
    case OP_DLQ_LIST:
        h->free(op->u.dlq_list.destination);
        break;
    case OP_STATE_GET:
        h->free(op->u.state_get.scope);
        h->free(op->u.state_get.key);
        break;
    case OP_STATE_SET:
        h->free(op->u.state_set.scope);
        h->free(op->u.state_set.key);
        h->free(op->u.state_set.value);
        break;
    case OP_DELETE_STREAM:
        h->free(op->u.del.stream);
        break;
    default:
        break;
    }
}

/* May a call be taken now (open() called, stop() not)? 0, or the errno
 * the call returns. */
static int accepting(const mem_t *m, const er_token_t *token)
{
    if (token == NULL)
        return -EINVAL;
    if (m->stopping)
        return -ESHUTDOWN;
    if (!m->opened)
        return -ENOTCONN;
    return 0;
}

/* Queue op, or undo what it owns when that fails. */
static int submit(mem_t *m, op_t *op)
{
    int rc = push(m, op);

    if (rc != 0) {
        op_free(m, op);
        return rc;
    }
    return ER_PENDING;
}

/* ------------------------------------------------------ applying: events */

static void do_open(mem_t *m, op_t *op)
{
    er_store_head_t h, *out = op->u.head;
    size_t n;

    memset(&h, 0, sizeof(h));
    h.size = out->size;
    if (live(m) > 0) {
        h.first_seq = m->v[m->start].seq;
        h.last_seq = m->v[m->end - 1].seq;
    }
    h.reserved = m->reserved;
    h.events = live(m);
    h.clean = false;  /* nothing survives a stop: there was no previous instance */
    h.created = true; /* every instance starts empty */
    n = out->size < sizeof(h) ? out->size : sizeof(h);
    memcpy(out, &h, n);
    m->host->complete(op->token, ER_OK);
}

static void do_append(mem_t *m, op_t *op)
{
    er_ev_t *const *evs = op->u.append.n == 1 ? &op->u.append.one : op->u.append.evs;
    size_t n = op->u.append.n, i;
    uint64_t prev = m->max_seq;
    er_event_t view;

    if (m->max_events > 0 && (live(m) + n < n || live(m) + n > m->max_events)) {
        fail(m, op->token, -ENOSPC, "memory store full: max_events %" PRIu64, m->max_events);
        return;
    }
    if (slots_reserve(m, n) != 0) {
        fail(m, op->token, -ENOMEM, "memory store: out of memory for %zu events", n);
        return;
    }
    /* All or none: fill the slots past end, move end only when every event
     * is acceptable. */
    for (i = 0; i < n; i++) {
        int rc = m->host->event_get(evs[i], &view, sizeof(view));
        if (rc == 0 && ((view.has & ER_HAS_SEQ) == 0 || view.seq <= prev))
            rc = -EINVAL;
        if (rc != 0) {
            size_t j;
            for (j = 0; j < i; j++)
                m->host->event_unref(m->v[m->end + j].ev);
            if (rc == -EINVAL)
                fail(m, op->token, -EINVAL,
                     "append: event %zu of %zu has seq %" PRIu64
                     ", not above the last stored seq %" PRIu64,
                     i + 1, n, view.seq, prev);
            else
                fail(m, op->token, rc, "append: event %zu of %zu unreadable", i + 1, n);
            return;
        }
        prev = view.seq;
        m->v[m->end + i].seq = view.seq;
        m->v[m->end + i].ev = m->host->event_ref(evs[i]);
    }
    for (i = 0; i < n; i++)
        m->bytes += ev_bytes(m, evs[i]);
    m->end += n;
    m->max_seq = prev;
    m->appends++;
    m->appended += n;
    m->host->complete(op->token, ER_OK);
}

static void do_reserve(mem_t *m, op_t *op)
{
    m->reserved = op->u.upto;
    m->host->complete(op->token, ER_OK);
}


/* Scan the seq range the filter allows, in its direction. */
static void do_query(mem_t *m, op_t *op)
{
    const er_store_filter_t *f = &op->u.query.filter->f;
    bool desc = (f->flags & ER_STORE_DESCENDING) != 0;
    uint64_t lo_seq = desc ? f->to_seq : f->from_seq, hi_seq = desc ? f->from_seq : f->to_seq;
    size_t lo = lo_seq ? lower_bound(m, lo_seq) : m->start;
    size_t hi = hi_seq ? (hi_seq == UINT64_MAX ? m->end : lower_bound(m, hi_seq + 1)) : m->end;
    uint64_t rows = 0;
    er_event_t view;
    size_t k;

    m->queries++;
    for (k = 0; lo + k < hi; k++) {
        slot_t *s = &m->v[desc ? hi - 1 - k : lo + k];
        if (s->ev == NULL || m->host->event_get(s->ev, &view, sizeof(view)) != 0 ||
            !er_store_filter_match(f, &view))
            continue;
        /* row() may queue more calls, never apply them: v stays put. */
        if (op->u.query.row(op->u.query.arg, s->ev) != 0)
            break;
        if (f->limit > 0 && ++rows >= f->limit)
            break;
    }
    m->host->complete(op->token, ER_OK);
}

static void do_trim(mem_t *m, op_t *op)
{
    uint64_t n = 0, max = op->u.trim.max;

    while (m->start < m->end && m->v[m->start].seq < op->u.trim.before_seq &&
           (max == 0 || n < max)) {
        slot_t *s = &m->v[m->start++];
        if (s->ev != NULL) {
            ev_drop(m, s->ev);
            n++;
        } else {
            m->holes--;
        }
    }
    shed_holes(m);
    m->trimmed += n;
    *op->u.trim.out = n;
    m->host->complete(op->token, ER_OK);
}

static void do_delete_stream(mem_t *m, op_t *op)
{
    er_str_t stream = {op->u.del.stream, strlen(op->u.del.stream)};
    uint64_t n = 0, max = op->u.del.max;
    er_event_t view;
    size_t i;

    for (i = m->start; i < m->end && (max == 0 || n < max); i++) {
        slot_t *s = &m->v[i];
        if (s->ev == NULL || m->host->event_get(s->ev, &view, sizeof(view)) != 0 ||
            !str_is(stream, view.stream))
            continue;
        ev_drop(m, s->ev);
        s->ev = NULL;
        m->holes++;
        n++;
    }
    shed_holes(m);
    compact(m);
    m->deleted += n;
    *op->u.del.out = n;
    m->host->complete(op->token, ER_OK);
}

/* ----------------------------------------------------- applying: tables */

/* The cursor named name, or where it would go (*found false). */
static size_t cursor_find(const mem_t *m, const char *name, bool *found)
{
    size_t lo = 0, hi = m->ncursors;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->cursors[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void do_cursor_list(mem_t *m, op_t *op)
{
    size_t i;

    for (i = 0; i < m->ncursors; i++)
        if (op->u.cursor_list.each(op->u.cursor_list.arg, m->cursors[i].name, m->cursors[i].seq) !=
            0)
            break;
    m->host->complete(op->token, ER_OK);
}

static void do_cursor_set(mem_t *m, op_t *op)
{
    bool found;
    size_t i = cursor_find(m, op->u.cursor.name, &found);
    void *v = m->cursors;

    if (found) {
        m->cursors[i].seq = op->u.cursor.seq;
    } else {
        if (grow(m, &v, &m->capcursors, m->ncursors + 1, sizeof(*m->cursors)) != 0) {
            fail(m, op->token, -ENOMEM, "memory store: out of memory for cursor %s",
                 op->u.cursor.name);
            return;
        }
        m->cursors = v;
        memmove(&m->cursors[i + 1], &m->cursors[i], (m->ncursors - i) * sizeof(*m->cursors));
        m->cursors[i].name = op->u.cursor.name; /* taken from the op */
        m->cursors[i].seq = op->u.cursor.seq;
        op->u.cursor.name = NULL;
        m->ncursors++;
    }
    m->host->complete(op->token, ER_OK);
}

static void do_cursor_delete(mem_t *m, op_t *op)
{
    bool found;
    size_t i = cursor_find(m, op->u.cursor.name, &found);

    /* Deleting an absent cursor is done: the name no longer has one. */
    if (found) {
        m->host->free(m->cursors[i].name);
        memmove(&m->cursors[i], &m->cursors[i + 1], (m->ncursors - i - 1) * sizeof(*m->cursors));
        m->ncursors--;
    }
    m->host->complete(op->token, ER_OK);
}

static void do_dlq_add(mem_t *m, op_t *op)
{
    void *v = m->dead;

    if (grow(m, &v, &m->capdead, m->ndead + 1, sizeof(*m->dead)) != 0) {
        fail(m, op->token, -ENOMEM, "memory store: out of memory for a dead letter");
        return;
    }
    m->dead = v;
    op->u.dlq_add.dead->dl.dlq_id = m->next_dlq_id++;
    m->dead[m->ndead++] = *op->u.dlq_add.dead; /* the strings are taken */
    m->host->free(op->u.dlq_add.dead);
    op->u.dlq_add.dead = NULL;
    *op->u.dlq_add.id = m->dead[m->ndead - 1].dl.dlq_id;
    m->host->complete(op->token, ER_OK);
}

/* The first dead letter with dlq_id > id. */
static size_t dead_after(const mem_t *m, uint64_t id)
{
    size_t lo = 0, hi = m->ndead;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (m->dead[mid].dl.dlq_id <= id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void do_dlq_list(mem_t *m, op_t *op)
{
    const char *dest = op->u.dlq_list.destination;
    size_t dlen = dest != NULL ? strlen(dest) : 0, i;
    uint64_t n = 0, max = op->u.dlq_list.max;

    for (i = dead_after(m, op->u.dlq_list.after_id); i < m->ndead && (max == 0 || n < max); i++) {
        const er_dead_letter_t *dl = &m->dead[i].dl;
        if (dest != NULL && !str_is((er_str_t){dest, dlen}, dl->destination))
            continue;
        n++;
        if (op->u.dlq_list.each(op->u.dlq_list.arg, dl) != 0)
            break;
    }
    m->host->complete(op->token, ER_OK);
}

static void do_dlq_delete(mem_t *m, op_t *op)
{
    uint64_t id = op->u.dlq_id;
    size_t i = id > 0 ? dead_after(m, id - 1) : m->ndead;

    if (i >= m->ndead || m->dead[i].dl.dlq_id != id) {
        fail(m, op->token, -ENOENT, "dead letter %" PRIu64 " not found", id);
        return;
    }
    m->host->free((char *)m->dead[i].dl.destination.ptr);
    m->host->free((char *)m->dead[i].dl.reason.ptr);
    memmove(&m->dead[i], &m->dead[i + 1], (m->ndead - i - 1) * sizeof(*m->dead));
    m->ndead--;
    m->host->complete(op->token, ER_OK);
}

static state_t *state_find(const mem_t *m, const char *scope, const char *key)
{
    size_t i;

    for (i = 0; i < m->nstate; i++)
        if (strcmp(m->state[i].scope, scope) == 0 && strcmp(m->state[i].key, key) == 0)
            return &m->state[i];
    return NULL;
}

static void do_state_get(mem_t *m, op_t *op)
{
    state_t *s = state_find(m, op->u.state_get.scope, op->u.state_get.key);

    /* The value stays ours and unchanged until complete() returns. */
    *op->u.state_get.value = s != NULL ? s->value : NULL;
    *op->u.state_get.len = s != NULL ? s->len : 0;
    m->host->complete(op->token, ER_OK);
}

static void do_state_set(mem_t *m, op_t *op)
{
    state_t *s = state_find(m, op->u.state_set.scope, op->u.state_set.key);
    void *v = m->state;

    if (op->u.state_set.value == NULL) {
        if (s != NULL) {
            m->host->free(s->scope);
            m->host->free(s->key);
            m->host->free(s->value);
            *s = m->state[--m->nstate];
        }
    } else if (s != NULL) {
        m->host->free(s->value);
        s->value = op->u.state_set.value;
        s->len = op->u.state_set.len;
        op->u.state_set.value = NULL;
    } else {
        if (grow(m, &v, &m->capstate, m->nstate + 1, sizeof(*m->state)) != 0) {
            fail(m, op->token, -ENOMEM, "memory store: out of memory for state %s",
                 op->u.state_set.key);
            return;
        }
        m->state = v;
        s = &m->state[m->nstate++];
        s->scope = op->u.state_set.scope;
        s->key = op->u.state_set.key;
        s->value = op->u.state_set.value;
        s->len = op->u.state_set.len;
        op->u.state_set.scope = op->u.state_set.key = NULL;
        op->u.state_set.value = NULL;
    }
    m->host->complete(op->token, ER_OK);
}

/* check: there are no indexes to disagree with the events, and the array
 * is in seq order by construction; the figures are reported. */
static void do_check(mem_t *m, op_t *op)
{
    static const char *const names[] = {"events",       "index_entries", "cursors",
                                        "dead_letters", "problems",      "notes"};
    uint64_t values[] = {live(m), 0, m->ncursors, m->ndead, 0, 0};
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (op->u.check.report(op->u.check.arg, ER_STORE_FIGURE, names[i], (int64_t)values[i],
                               NULL) != 0)
            break;
    m->host->complete(op->token, ER_OK);
}

static void apply(mem_t *m, op_t *op)
{
    switch (op->kind) {
    case OP_OPEN:
        do_open(m, op);
        break;
    case OP_APPEND:
        do_append(m, op);
        break;
    case OP_RESERVE:
        do_reserve(m, op);
        break;
    case OP_QUERY:
        do_query(m, op);
        break;
    case OP_CURSOR_LIST:
        do_cursor_list(m, op);
        break;
    case OP_CURSOR_SET:
        do_cursor_set(m, op);
        break;
    case OP_CURSOR_DELETE:
        do_cursor_delete(m, op);
        break;
    case OP_DLQ_ADD:
        do_dlq_add(m, op);
        break;
    case OP_DLQ_LIST:
        do_dlq_list(m, op);
        break;
    case OP_DLQ_DELETE:
        do_dlq_delete(m, op);
        break;
    case OP_STATE_GET:
        do_state_get(m, op);
        break;
    case OP_STATE_SET:
        do_state_set(m, op);
        break;
    case OP_TRIM:
        do_trim(m, op);
        break;
    case OP_DELETE_STREAM:
        do_delete_stream(m, op);
        break;
    case OP_CHECK:
        do_check(m, op);
        break;
    }
    op_free(m, op);
}

/*
 * The timer: apply what was queued when it fired, in order (calls made by
 * the completions go to the next round, so a caller that submits from its
 * completion cannot hold the loop forever in one callback). After stop(),
 * once the queue is empty, call done — the last thing done with m, since
 * the host may destroy the instance from done.
 */
static void drain(void *arg)
{
    mem_t *m = arg;
    size_t n = m->qcount;
    op_t op;

    m->host->timer_stop(m->timer);
    m->timer = NULL;
    for (;;) {
        while (n-- > 0) {
            pop(m, &op);
            apply(m, &op);
        }
        if (m->qcount == 0)
            break;
        if (arm(m) == 0)
            return;
        n = m->qcount; /* no timer: keep going here rather than stall */
    }
    if (m->stopping && m->stop_done != NULL) {
        er_done_cb done = m->stop_done;
        /* stop() from a completion above armed a timer: no timer may
         * outlive done. */
        if (m->timer != NULL) {
            m->host->timer_stop(m->timer);
            m->timer = NULL;
        }
        m->stop_done = NULL;
        done(m->stop_arg);
    }
}

/* ------------------------------------------------------------ operations */

static int mem_open(void *instance, er_store_head_t *head, er_token_t *token)
{
    mem_t *m = instance;
    op_t op = {.kind = OP_OPEN, .token = token};
    int rc;

    if (token == NULL || head == NULL)
        return -EINVAL;
    if (m->stopping)
        return -ESHUTDOWN;
    if (m->opened)
        return -EALREADY;
    op.u.head = head;
    if ((rc = submit(m, &op)) == ER_PENDING)
        m->opened = true; /* calls queue behind it from now on */
    return rc;
}

static int mem_append(void *instance, er_ev_t *const *evs, size_t n, er_token_t *token)
{
    mem_t *m = instance;
    op_t op = {.kind = OP_APPEND, .token = token};
    int rc;

    if ((rc = accepting(m, token)) != 0)
        return rc;
    if (evs == NULL && n > 0)
        return -EINVAL;
    op.u.append.n = n;
    if (n == 1) {
        op.u.append.one = evs[0];
    } else if (n > 1) {
        /* The array is borrowed until return; the events until completion. */
        if (n > SIZE_MAX / sizeof(*evs) ||
            (op.u.append.evs = m->host->alloc(n * sizeof(*evs))) == NULL)
            return -ENOMEM;
        memcpy(op.u.append.evs, evs, n * sizeof(*evs));
    }
    return submit(m, &op);
}

static int mem_reserve(void *instance, uint64_t upto, er_token_t *token)
{
    mem_t *m = instance;
    op_t op = {.kind = OP_RESERVE, .token = token};
    int rc;

    if ((rc = accepting(m, token)) != 0)
        return rc;
    op.u.upto = upto;
    return submit(m, &op);
}

/* Copy s into *w (moving it on) and point s at the copy. */
static void place(er_str_t *s, char **w)
{
    if (s->len == 0) {
        *s = (er_str_t){NULL, 0};
        return;
    }
    memcpy(*w, s->ptr, s->len);
    s->ptr = *w;
    *w += s->len;
}

static int mem_query(void *instance, const er_store_filter_t *filter, er_store_row_cb row,
                     void *arg, er_token_t *token)
{
    mem_t *m = instance;
    op_t op = {.kind = OP_QUERY, .token = token};
    er_store_filter_t f;
    size_t bytes = 0;
    char *w;
    int rc;

    if ((rc = accepting(m, token)) != 0)
        return rc;
    if (row == NULL)
        return -EINVAL;
    /* Read only what the host's size covers; the rest is "not filtering". */
    memset(&f, 0, sizeof(f));
    if (filter != NULL)
        memcpy(&f, filter, filter->size < sizeof(f) ? filter->size : sizeof(f));
    f.size = sizeof(f);
    if ((f.stream.len > 0 && f.stream.ptr == NULL) ||
        (f.correlation_id.len > 0 && f.correlation_id.ptr == NULL) ||
        (f.id.len > 0 && f.id.ptr == NULL) || (f.type.len > 0 && f.type.ptr == NULL))
        return -EINVAL;
    bytes = f.stream.len + f.correlation_id.len + f.id.len + f.type.len;
    if (bytes > SIZE_MAX - sizeof(filter_t) ||
        (op.u.query.filter = m->host->alloc(sizeof(filter_t) + bytes)) == NULL)
        return -ENOMEM;
    w = op.u.query.filter->bytes;
    place(&f.stream, &w);
    place(&f.correlation_id, &w);
    place(&f.id, &w);
    place(&f.type, &w);
    op.u.query.filter->f = f;
    op.u.query.row = row;
    op.u.query.arg = arg;
    return submit(m, &op);
}

static int mem_cursor_list(void *instance, er_store_cursor_cb each, void *arg, er_token_t *token)
{
    mem_t *m = instance;
    op_t op = {.kind = OP_CURSOR_LIST, .token = token};
    int rc;

    if ((rc = accepting(m, token)) != 0)
        return rc;
    if (each == NULL)
        return -EINVAL;
    op.u.cursor_list.each = each;
    op.u.cursor_list.arg = arg;
    return submit(m, &op);
}

static int mem_check(void *instance, er_store_report_cb report, void *arg, er_token_t *token)
{
    mem_t *m = instance;
    op_t op = {.kind = OP_CHECK, .token = token};
    int rc;

    if ((rc = accepting(m, token)) != 0)
        return rc;
    if (report == NULL)
        return -EINVAL;
    op.u.check.report = report;
    op.u.check.arg = arg;
    return submit(m, &op);
}

static int cursor_op(mem_t *m, enum op_kind kind, const char *name, uint64_t seq, er_token_t *token)
{
    op_t op = {.kind = kind, .token = token};
    int rc;

    if ((rc = accepting(m, token)) != 0)
        return rc;
    if (name == NULL || *name == '\0')
        return -EINVAL;
    if ((op.u.cursor.name = dupstr(m, name)) == NULL)
        return -ENOMEM;
    op.u.cursor.seq = seq;
    return submit(m, &op);
}

static int mem_cursor_set(void *instance, const char *name, uint64_t seq, er_token_t *token)
{
    return cursor_op(instance, OP_CURSOR_SET, name, seq, token);
}

static int mem_cursor_delete(void *instance, const char *name, er_token_t *token)
{
    return cursor_op(instance, OP_CURSOR_DELETE, name, 0, token);
}

/* A copy of s as an owned er_str_t (NUL-terminated; absent stays absent). */
static int copy_str(mem_t *m, er_str_t s, er_str_t *out)
{
    char *p;

    *out = (er_str_t){NULL, 0};
    if (s.ptr == NULL)
        return 0;
    if (s.len == SIZE_MAX || (p = m->host->alloc(s.len + 1)) == NULL)
        return -ENOMEM;
    memcpy(p, s.ptr, s.len);
    p[s.len] = '\0';
    *out = (er_str_t){p, s.len};
    return 0;
}

static int mem_dlq_add(void *instance, const er_dead_letter_t *dl, uint64_t *dlq_id,
                       er_token_t *token)
{
    mem_t *m = instance;
    op_t op = {.kind = OP_DLQ_ADD, .token = token};
    dead_t *d;
    int rc;

    if ((rc = accepting(m, token)) != 0)
        return rc;
    if (dl == NULL || dlq_id == NULL)
        return -EINVAL;
    if ((d = m->host->alloc(sizeof(*d))) == NULL)
        return -ENOMEM;
    d->dl = *dl;
    if (copy_str(m, dl->destination, &d->dl.destination) != 0 ||
        copy_str(m, dl->reason, &d->dl.reason) != 0) {
        m->host->free((char *)d->dl.destination.ptr);
        m->host->free(d);
        return -ENOMEM;
    }
    op.u.dlq_add.dead = d;
    op.u.dlq_add.id = dlq_id;
    return submit(m, &op);
}

static int mem_dlq_list(void *instance, const char *destination, uint64_t after_id, uint64_t max,
                        er_store_dlq_cb each, void *arg, er_token_t *token)
{
    mem_t *m = instance;
    op_t op = {.kind = OP_DLQ_LIST, .token = token};
    int rc;

    if ((rc = accepting(m, token)) != 0)
        return rc;
    if (each == NULL)
        return -EINVAL;
    if (destination != NULL && (op.u.dlq_list.destination = dupstr(m, destination)) == NULL)
        return -ENOMEM;
    op.u.dlq_list.after_id = after_id;
    op.u.dlq_list.max = max;
    op.u.dlq_list.each = each;
    op.u.dlq_list.arg = arg;
    return submit(m, &op);
}

static int mem_dlq_delete(void *instance, uint64_t dlq_id, er_token_t *token)
{
    mem_t *m = instance;
    op_t op = {.kind = OP_DLQ_DELETE, .token = token};
    int rc;

    if ((rc = accepting(m, token)) != 0)
        return rc;
    op.u.dlq_id = dlq_id;
    return submit(m, &op);
}

static int mem_state_get(void *instance, const char *scope, const char *key, const void **value,
                         size_t *len, er_token_t *token)
{
    mem_t *m = instance;
    op_t op = {.kind = OP_STATE_GET, .token = token};
    int rc;

    if ((rc = accepting(m, token)) != 0)
        return rc;
    if (scope == NULL || key == NULL || value == NULL || len == NULL)
        return -EINVAL;
    op.u.state_get.scope = dupstr(m, scope);
    op.u.state_get.key = dupstr(m, key);
    op.u.state_get.value = value;
    op.u.state_get.len = len;
    if (op.u.state_get.scope == NULL || op.u.state_get.key == NULL) {
        op_free(m, &op);
        return -ENOMEM;
    }
    return submit(m, &op);
}

static int mem_state_set(void *instance, const char *scope, const char *key, const void *value,
                         size_t len, er_token_t *token)
{
    mem_t *m = instance;
    op_t op = {.kind = OP_STATE_SET, .token = token};
    int rc;

    if ((rc = accepting(m, token)) != 0)
        return rc;
    if (scope == NULL || key == NULL)
        return -EINVAL;
    op.u.state_set.scope = dupstr(m, scope);
    op.u.state_set.key = dupstr(m, key);
    if (value != NULL) {
        /* At least one byte, so an empty value is not mistaken for none. */
        if (len == SIZE_MAX || (op.u.state_set.value = m->host->alloc(len ? len : 1)) == NULL) {
            op_free(m, &op);
            return -ENOMEM;
        }
        if (len > 0)
            memcpy(op.u.state_set.value, value, len);
        op.u.state_set.len = len;
    }
    if (op.u.state_set.scope == NULL || op.u.state_set.key == NULL) {
        op_free(m, &op);
        return -ENOMEM;
    }
    return submit(m, &op);
}

static int mem_trim(void *instance, uint64_t before_seq, uint64_t max, uint64_t *trimmed,
                    er_token_t *token)
{
    mem_t *m = instance;
    op_t op = {.kind = OP_TRIM, .token = token};
    int rc;

    if ((rc = accepting(m, token)) != 0)
        return rc;
    if (trimmed == NULL)
        return -EINVAL;
    op.u.trim.before_seq = before_seq;
    op.u.trim.max = max;
    op.u.trim.out = trimmed;
    return submit(m, &op);
}

static int mem_delete_stream(void *instance, const char *stream, uint64_t max, uint64_t *deleted,
                             er_token_t *token)
{
    mem_t *m = instance;
    op_t op = {.kind = OP_DELETE_STREAM, .token = token};
    int rc;

    if ((rc = accepting(m, token)) != 0)
        return rc;
    if (stream == NULL || deleted == NULL)
        return -EINVAL;
    if ((op.u.del.stream = dupstr(m, stream)) == NULL)
        return -ENOMEM;
    op.u.del.max = max;
    op.u.del.out = deleted;
    return submit(m, &op);
}

static void mem_stats(void *instance, void (*emit)(void *arg, const char *name, int64_t value),
                      void *arg)
{
    mem_t *m = instance;

    emit(arg, "events", (int64_t)live(m));
    emit(arg, "first_seq", live(m) > 0 ? (int64_t)m->v[m->start].seq : 0);
    emit(arg, "last_seq", live(m) > 0 ? (int64_t)m->v[m->end - 1].seq : 0);
    emit(arg, "max_events", (int64_t)m->max_events);
    emit(arg, "appends", (int64_t)m->appends);
    emit(arg, "appended", (int64_t)m->appended);
    emit(arg, "queries", (int64_t)m->queries);
    emit(arg, "trimmed", (int64_t)m->trimmed);
    emit(arg, "deleted", (int64_t)m->deleted);
    emit(arg, "queue_depth", (int64_t)m->qcount);
    emit(arg, "cursors", (int64_t)m->ncursors);
    emit(arg, "dead_letters", (int64_t)m->ndead);
    emit(arg, "state_keys", (int64_t)m->nstate);
    emit(arg, "used_bytes", (int64_t)m->bytes);
}

/* ABI 1.3: the live events' encodings and slots (so tests can bound a
 * memory store with max_bytes; cursors, dead letters and state are not
 * counted: retention trims events only). */
static int mem_used_bytes(void *instance, uint64_t *bytes)
{
    const mem_t *m = instance;

    *bytes = m->bytes;
    return 0;
}

/* ------------------------------------------------------------- lifecycle */

static int mem_create(const er_host_t *host, er_plugin_ctx_t *ctx, const er_options_t *opts,
                      void **instance)
{
    uint64_t max_events = 0;
    mem_t *m;
    int rc;

    if (!ER_HOST_HAS(host, complete_errno)) {
        host->log(ctx, ER_PLOG_ERROR, "this daemon's host table predates the store ABI (1.1)");
        return -ENOTSUP;
    }
    rc = host->opt_uint(opts, "max_events", &max_events);
    if (rc != 0 && rc != -ENODATA) {
        host->log(ctx, ER_PLOG_ERROR, "option max_events: %s", strerror(-rc));
        return rc;
    }
    if ((m = host->alloc(sizeof(*m))) == NULL)
        return -ENOMEM;
    memset(m, 0, sizeof(*m));
    m->host = host;
    m->ctx = ctx;
    m->max_events = max_events;
    m->next_dlq_id = 1;
    *instance = m;
    return 0;
}

static void mem_stop(void *instance, er_done_cb done, void *done_arg)
{
    mem_t *m = instance;

    if (m->stopping) {
        m->host->log(m->ctx, ER_PLOG_ERROR, "plugin bug: stop() called twice; ignored");
        return;
    }
    m->stopping = true;
    m->stop_done = done;
    m->stop_arg = done_arg;
    /* done comes from the drain, after everything queued, on a later turn. */
    if (arm(m) != 0) {
        m->host->log(m->ctx, ER_PLOG_ERROR, "stop: no timer; finishing now");
        drain(m);
    }
}

static void mem_destroy(void *instance)
{
    mem_t *m = instance;
    const er_host_t *h = m->host;
    size_t i;
    op_t op;

    if (m->timer != NULL)
        h->timer_stop(m->timer);
    while (m->qcount > 0) {
        pop(m, &op);
        op_free(m, &op);
    }
    h->free(m->q);
    for (i = m->start; i < m->end; i++)
        if (m->v[i].ev != NULL)
            h->event_unref(m->v[i].ev);
    h->free(m->v);
    for (i = 0; i < m->ncursors; i++)
        h->free(m->cursors[i].name);
    h->free(m->cursors);
    for (i = 0; i < m->ndead; i++) {
        h->free((char *)m->dead[i].dl.destination.ptr);
        h->free((char *)m->dead[i].dl.reason.ptr);
    }
    h->free(m->dead);
    for (i = 0; i < m->nstate; i++) {
        h->free(m->state[i].scope);
        h->free(m->state[i].key);
        h->free(m->state[i].value);
    }
    h->free(m->state);
    h->free(m);
}

static er_durability_t mem_durability(void *instance)
{
    return ER_DURABILITY_NONE;
}

/* ---------------------------------------------------------- descriptor */

static const er_option_t mem_options[] = {
    {
        .key = "max_events",
        .type = ER_OPTION_UINT,
        .def = "0",
        .description = "most events held at once; an append past it fails with store_full "
                       "(0: no limit but memory)",
    },
    {
        .key = "path",
        .type = ER_OPTION_PATH,
        .description = "accepted and ignored (nothing is written to disk), so a configuration "
                       "switches between lmdb and memory by changing the plugin name alone",
    },
    {.key = NULL},
};

static const er_store_ops_t mem_ops = {
    .size = sizeof(er_store_ops_t),
    .create = mem_create,
    .open = mem_open,
    .stop = mem_stop,
    .destroy = mem_destroy,
    .durability = mem_durability,
    .append = mem_append,
    .reserve = mem_reserve,
    .query = mem_query,
    .cursor_list = mem_cursor_list,
    .cursor_set = mem_cursor_set,
    .cursor_delete = mem_cursor_delete,
    .dlq_add = mem_dlq_add,
    .dlq_list = mem_dlq_list,
    .dlq_delete = mem_dlq_delete,
    .state_get = mem_state_get,
    .state_set = mem_state_set,
    .trim = mem_trim,
    .delete_stream = mem_delete_stream,
    .stats = mem_stats,
    .check = mem_check,
    .used_bytes = mem_used_bytes,
    /* backup and compact: nothing on disk to copy or shrink */
};

ER_PLUGIN_DEFINE = {
    ER_PLUGIN_HEADER,
    .kind = ER_PLUGIN_STORE,
    .name = "memory",
    .version = PACKAGE_VERSION,
    .description = "keep events in memory, lost with the process (for tests and benchmarks)",
    .options = mem_options,
    .ops = &mem_ops,
};
