/*
 * The publish socket (see server.h): accept, read frames, answer them.
 *
 * Reading goes straight into each connection's framer (the alloc callback
 * hands out its space); every complete frame is handled in the same read
 * callback; answers are encoded into the connection's `out` buffer and
 * written once per read callback, with one write in flight at a time
 * (`wbuf`), so a pipelining client costs one write(2) per read(2), not one
 * per request.
 */
#include <errno.h>
#include <grp.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin.h"
#include "dispatch.h"
#include "frame.h"
#include "host.h"
#include "log.h"
#include "evobj.h"
#include "proto.h"
#include "server.h"
#include "store.h"

#define COMPONENT "server"

/* During shutdown a connection that sent nothing for this long has taken
 * its GOAWAY to heart and is closed. */
#define QUIET_MS 100

/* A query reads the store this many rows at a time, and a connection runs
 * at most this many queries at once. */
#define QUERY_PAGE  512u
#define MAX_QUERIES 16u

typedef struct query_s query_t;

struct er_conn_s {
    uv_pipe_t pipe;
    uv_timer_t timer;
    er_server_t *srv;
    er_conn_t *prev, *next;

    er_framer_t framer;
    er_buf_t out;  /* answers not yet handed to libuv */
    er_buf_t wbuf; /* the bytes of the write in flight */
    uv_write_t wreq;

    uint64_t id; /* for log lines */
    int role;    /* enum er_role: which socket it came in on */
    er_origin_t peer;
    er_ack_mode_t ack;
    char client[64];
    uint64_t last_read_ms;     /* last bytes read (idle_timeout, shutdown quiet) */
    uint64_t partial_since_ms; /* first byte of the incomplete frame, 0: none */

    int handles;      /* handles not yet closed; freed at 0 (and no waiters) */
    uint32_t waiters; /* durable acks, admin commands and queries (each holds c) */
    query_t *queries; /* QUERY and TAIL requests streaming on this connection */
    uint32_t nqueries;
    bool may_read; /* QUERY and TAIL allowed: the admin socket, or an acl rule */
    bool hello;
    bool store_paused; /* not read, frames left unhandled: the store said wait */
    bool eof;          /* the peer closed its side while store_paused */
    bool writing;
    bool reading_paused;
    bool close_after_flush;
    bool closing;
    bool goaway; /* GOAWAY sent: close once quiet */
};

static void conn_close(er_conn_t *c);
static void conn_free(er_conn_t *c);
static void arm_timer(er_conn_t *c);
static void check_done(er_server_t *s);
static void queries_resume(er_conn_t *c);
static void queries_drop(er_conn_t *c);

/* ------------------------------------------------------------------ output */

static void on_write(uv_write_t *req, int status);

static void flush(er_conn_t *c)
{
    er_buf_t tmp;
    uv_buf_t b;
    int rc;

    if (c->closing || c->writing)
        return;
    if (c->out.len == 0) {
        if (c->close_after_flush)
            conn_close(c);
        return;
    }
    tmp = c->wbuf;
    c->wbuf = c->out;
    c->out = tmp;
    c->out.len = 0;
    b = uv_buf_init((char *)c->wbuf.data, (unsigned)c->wbuf.len);
    rc = uv_write(&c->wreq, (uv_stream_t *)&c->pipe, &b, 1, on_write);
    if (rc != 0) {
        er_log(ER_LOG_DEBUG, COMPONENT, "conn %llu: write: %s", (unsigned long long)c->id,
               uv_strerror(rc));
        conn_close(c);
        return;
    }
    c->writing = true;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void on_write(uv_write_t *req, int status)
{
    er_conn_t *c = req->data;

    c->writing = false;
    c->wbuf.len = 0;
    if (c->closing)
        return;
    if (status < 0) {
        er_log(ER_LOG_DEBUG, COMPONENT, "conn %llu: write: %s", (unsigned long long)c->id,
               uv_strerror(status));
        conn_close(c);
        return;
    }
    if (c->reading_paused && !c->close_after_flush) {
        c->reading_paused = false;
        if (c->partial_since_ms)
            c->partial_since_ms = uv_now(c->srv->loop); /* its clock did not run while paused */
        uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
        arm_timer(c);
    }
    flush(c);
    queries_resume(c);
}

/* Queue a NACK. Content errors leave the connection open; callers close for
 * framing errors. */
static void nack(er_conn_t *c, uint32_t req, const char *code, int64_t index, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Queue a NACK telling the client when to come back (retry_ms < 0: nil). */
static void nack_retry(er_conn_t *c, uint32_t req, const char *code, int64_t index,
                       int64_t retry_ms, const char *msg)
{
    c->srv->stats.nacks++;
    er_log_limited(ER_LOG_INFO, COMPONENT, "conn %llu (%s, pid %lld uid %u): NACK %s: %s",
                   (unsigned long long)c->id, c->client[0] ? c->client : "-",
                   (long long)c->peer.pid, c->peer.uid, code, msg);
    if (er__nack_encode(&c->out, req, code, msg, index, retry_ms) != 0)
        conn_close(c);
}

static void nack(er_conn_t *c, uint32_t req, const char *code, int64_t index, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    nack_retry(c, req, code, index, -1, msg);
}

/* A framing error: NACK with request id 0, then close once it is written. */
static void protocol_error(er_conn_t *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void protocol_error(er_conn_t *c, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    nack(c, 0, code, -1, "%s", msg);
    c->srv->stats.closed_protocol++;
    c->close_after_flush = true;
}

/* Errors that mean the frame is not exactly one msgpack [op, id, body]. */
static bool is_framing_error(int rc)
{
    return rc == ER_ETRUNC || rc == ER_ETRAILING || rc == ER_EFRAME || rc == ER_EBADOP;
}

/* A body failed to decode: framing errors close, content errors continue. */
static void body_error(er_conn_t *c, uint32_t req, int rc, const er_error_t *err)
{
    if (is_framing_error(rc))
        protocol_error(c, "protocol", "%s", err->message);
    else
        nack(c, req, er__nack_code_for(rc), err->index, "%s", err->message);
}

/* ------------------------------------------------------------------- ops */

static void op_hello(er_conn_t *c, const er_msg_t *m)
{
    er_server_t *s = c->srv;
    er_hello_t h;
    er_error_t err;
    er_welcome_t w;
    int rc;

    if (c->hello) {
        nack(c, m->req, "protocol", -1, "HELLO already received on this connection");
        return;
    }
    if ((rc = er__hello_decode(m, &h, &err)) != 0) {
        protocol_error(c, is_framing_error(rc) ? "protocol" : "invalid", "%s", err.message);
        return;
    }
    if (h.version != ER_PROTOCOL_VERSION) {
        protocol_error(c, "unsupported", "protocol version %u is not supported (this daemon: %d)",
                       h.version, ER_PROTOCOL_VERSION);
        return;
    }
    c->hello = true;
    c->ack = h.ack;
    snprintf(c->client, sizeof(c->client), "%.*s", (int)h.client.len,
             h.client.ptr ? h.client.ptr : "");
    memset(&w, 0, sizeof(w));
    w.version = ER_PROTOCOL_VERSION;
    w.durable = s->store != NULL && s->store->durability == ER_DURABILITY_DISK;
    w.max_frame = (uint32_t)s->cfg->limits.max_frame;
    w.max_event_size = (uint32_t)s->cfg->limits.max_event_size;
    w.max_batch = (uint32_t)s->cfg->limits.max_batch;
    w.max_inflight = (uint32_t)s->cfg->limits.max_inflight_per_connection;
    if (er__welcome_encode(&c->out, &w) != 0) {
        conn_close(c);
        return;
    }
    er_log(ER_LOG_DEBUG, COMPONENT, "conn %llu: HELLO from \"%s\" (pid %lld uid %u), ack %s",
           (unsigned long long)c->id, c->client, (long long)c->peer.pid, c->peer.uid,
           er_ack_mode_name(c->ack));
}

/* A durable ack waiting for the store: the request's answer, kept until
 * the events (and any originals its duplicates name) are stored. */
typedef struct ack_wait_s {
    er_store_waiter_t w; /* first: the store hands it back */
    er_conn_t *c;
    uint32_t req;
    uint32_t count;
    uint64_t seq;
    size_t ndups;
    er_dup_t dups[];
} ack_wait_t;

static void on_stored(er_store_waiter_t *w, int err, const char *message)
{
    ack_wait_t *aw = (ack_wait_t *)w;
    er_conn_t *c = aw->c;

    c->waiters--;
    if (!c->closing) {
        if (err == 0) {
            if (er__ack_encode(&c->out, aw->req, aw->seq, aw->count, aw->dups, aw->ndups) != 0)
                conn_close(c);
        } else {
            nack_retry(c, aw->req, err == -ENOSPC ? "store_full" : "unavailable", -1, 1000,
                       message);
        }
        flush(c);
        arm_timer(c);
    } else if (c->waiters == 0 && c->handles == 0) {
        conn_free(c);
    }
    free(aw);
}

/* Answer a publish request of `count` new events from seq and ndups
 * duplicates, now (ack received) or once stored (durable). */
static void answer_publish(er_conn_t *c, uint32_t req, uint64_t seq, uint32_t count,
                           const er_dup_t *dups, size_t ndups)
{
    er_server_t *s = c->srv;
    ack_wait_t *aw;

    if (c->ack == ER_ACK_NONE)
        return;
    if (c->ack == ER_ACK_DURABLE) {
        aw = malloc(sizeof(*aw) + ndups * sizeof(*dups));
        if (aw == NULL) {
            nack(c, req, "unavailable", -1, "out of memory: the events were taken, not confirmed");
            return;
        }
        aw->w.cb = on_stored;
        aw->c = c;
        aw->req = req;
        aw->seq = seq;
        aw->count = count;
        aw->ndups = ndups;
        if (ndups)
            memcpy(aw->dups, dups, ndups * sizeof(*dups));
        if (er__store_wait(s->store, &aw->w) == 0) {
            c->waiters++;
            return;
        }
        free(aw); /* nothing pending: stored already */
    }
    if (er__ack_encode(&c->out, req, seq, count, dups, ndups) != 0)
        conn_close(c);
}

/*
 * Complete, de-duplicate, sequence, store, dispatch and answer n decoded
 * events (DESIGN §6): an event whose client-set id was stored recently is
 * answered with its original seq and goes nowhere; the others get
 * consecutive seqs, go to this iteration's append and to their
 * destinations at once.
 */
static void accept_events(er_conn_t *c, uint32_t req, er_event_t *evs, uint32_t n)
{
    er_server_t *s = c->srv;
    er_store_t *st = s->store;
    int64_t now = er_now_us(), retry_ms;
    const char *code;
    char msg[300];
    uint64_t first, h[2], orig;
    uint32_t i, k = 0;
    size_t ndups = 0;

    if (er__store_admit(st, n, &code, msg, sizeof(msg), &retry_ms) != ER_ADMIT_OK) {
        /* A wait here means the frame loop's check (for max_batch) was
         * passed by this very frame: a client can retry at once. */
        if (retry_ms < 0 && strcmp(code, "shutting_down") != 0)
            retry_ms = 0;
        nack_retry(c, req, code, -1, retry_ms, msg);
        return;
    }
    if (c->ack == ER_ACK_DURABLE && c->waiters >= s->cfg->limits.max_inflight_per_connection) {
        snprintf(msg, sizeof(msg),
                 "%u requests of this connection are waiting for the store "
                 "(max_inflight_per_connection)",
                 c->waiters);
        nack_retry(c, req, "busy", -1, 10, msg);
        return;
    }
    er__dedupe_expire(&st->dedupe, now);
    first = st->next_seq;
    for (i = 0; i < n; i++) {
        bool client_id = evs[i].id.ptr != NULL;
        er__ingest_complete(&s->ingest, &evs[i], now, &c->peer, s->idbuf[i]);
        if (client_id) {
            er__dedupe_hash(&st->dedupe, evs[i].id.ptr, evs[i].id.len, h);
            if ((orig = er__dedupe_find(&st->dedupe, h)) != 0) {
                s->dups[ndups].index = i;
                s->dups[ndups].seq = orig;
                ndups++;
                continue;
            }
            if (er__dedupe_insert(&st->dedupe, h, first + k, now) != 0)
                er_log_limited(ER_LOG_WARN, COMPONENT,
                               "out of memory: id not remembered for de-duplication");
        }
        if (k != i)
            evs[k] = evs[i];
        k++;
    }
    st->stats.duplicates += ndups;
    if (k > 0) {
        er__ingest_sequence(&s->ingest, evs, k, er__store_sequence(st, k));
        for (i = 0; i < k; i++) {
            er_ev_t *ev = er__ev_new(&evs[i]);
            if (ev == NULL || er__store_append(st, er__ev_ref(ev)) != 0) {
                /* The events before i are taken; the rest are refused. */
                er__ev_unref(ev);
                er__dedupe_forget_from(&st->dedupe, first + i);
                nack(c, req, "unavailable", (int64_t)i,
                     "out of memory: events from index %u on were not taken", i);
                return;
            }
            if (s->dispatch)
                er__dispatch_event(s->dispatch, ev);
            er__ev_unref(ev);
        }
    }
    answer_publish(c, req, k > 0 ? first : 0, k, s->dups, ndups);
}

/* ------------------------------------------------------ plugins' events */

/* A plugin's event taken, waiting for the append that holds it. */
typedef struct plugin_wait_s {
    er_store_waiter_t w; /* first: the store hands it back */
    er_server_t *s;
    er_publish_req_t *req;
    uint64_t seq;
    uint32_t hops;
    bool over; /* hops over limits.max_hops: dead-lettered once stored */
} plugin_wait_t;

/* The dead letter of an event that went over limits.max_hops: it names
 * no destination of the config but the routing itself. */
static void dead_letter_hops(er_server_t *s, plugin_wait_t *pw)
{
    const er_event_t *v = er__ev_view(pw->req->ev);
    er_dead_letter_t dl;

    er_log_limited(ER_LOG_WARN, pw->req->component,
                   "seq %llu (%.*s): hops %u over limits.max_hops (%llu): stored, not routed, "
                   "dead-lettered",
                   (unsigned long long)pw->seq, (int)v->type.len, v->type.ptr, pw->hops,
                   (unsigned long long)s->cfg->limits.max_hops);
    if (s->store->stopping) {
        er_log_limited(ER_LOG_ERROR, COMPONENT, "seq %llu: dead letter not stored: store closing",
                       (unsigned long long)pw->seq);
        return;
    }
    memset(&dl, 0, sizeof(dl));
    dl.seq = pw->seq;
    dl.destination = er_str("$routing");
    dl.reason = er_str("max_hops");
    dl.attempts = 0;
    dl.first_failure_us = dl.last_failure_us = er_now_us();
    er__store_dead_letter(s->store, &dl);
}

static void on_plugin_stored(er_store_waiter_t *w, int err, const char *message)
{
    plugin_wait_t *pw = (plugin_wait_t *)w;
    er_publish_req_t *req = pw->req;
    const er_event_t *v = er__ev_view(req->ev);

    if (err != 0) {
        er_log_limited(ER_LOG_WARN, req->component, "seq %llu (%.*s) published, not stored: %s",
                       (unsigned long long)pw->seq, (int)v->type.len, v->type.ptr, message);
        er__publish_req_end(req, ER_RETRY, err, message);
    } else if (pw->over) {
        dead_letter_hops(pw->s, pw);
        er__publish_req_end(req, ER_FAIL, 0, NULL);
    } else {
        er__publish_req_end(req, ER_OK, 0, NULL);
    }
    free(pw);
}

/*
 * Take one plugin's event through the pipeline of accept_events(): store
 * admission, de-duplication by the id the plugin set (a duplicate is
 * answered OK at once and goes nowhere), sequence, append, dispatch — not
 * for an event over max_hops, which is dead-lettered once stored. Returns
 * false, req untouched, when the store says wait; else req is finished
 * now or once its append completes.
 */
static bool plugin_take(er_server_t *s, er_publish_req_t *req)
{
    er_store_t *st = s->store;
    const er_event_t *v = er__ev_view(req->ev);
    int64_t now = er_now_us(), retry_ms;
    plugin_wait_t *pw;
    const char *code;
    char msg[300], idbuf[37];
    uint64_t h[2], orig, first;
    er_event_t f;
    er_ev_t *ev;
    bool own_id;

    if (st == NULL) {
        er__publish_req_end(req, ER_RETRY, -EAGAIN, "the daemon is not running");
        return true;
    }
    if (s->pub_max_event_size != s->cfg->limits.max_event_size) {
        /* A reload changed it: publish() checks against the new one. */
        s->pub_max_event_size = s->cfg->limits.max_event_size;
        er__host_publish_limits(s->pub_max_event_size);
    }
    switch (er__store_admit(st, 1, &code, msg, sizeof(msg), &retry_ms)) {
    case ER_ADMIT_WAIT:
        return false;
    case ER_ADMIT_REFUSE:
        er_log_limited(ER_LOG_WARN, req->component, "published event (%.*s) refused: %s: %s",
                       (int)v->type.len, v->type.ptr, code, msg);
        er__publish_req_end(req, ER_RETRY, 0, NULL);
        return true;
    }
    if ((pw = malloc(sizeof(*pw))) == NULL) {
        er_log_limited(ER_LOG_ERROR, req->component,
                       "out of memory: published event (%.*s) not taken", (int)v->type.len,
                       v->type.ptr);
        er__publish_req_end(req, ER_RETRY, -ENOMEM, "out of memory: the event was not taken");
        return true;
    }
    f = *v;
    own_id = f.id.ptr != NULL;
    er__ingest_complete_plugin(&s->ingest, &f, now, req->name, req->hops, idbuf);
    first = st->next_seq;
    if (own_id) {
        er__dedupe_expire(&st->dedupe, now);
        er__dedupe_hash(&st->dedupe, f.id.ptr, f.id.len, h);
        if ((orig = er__dedupe_find(&st->dedupe, h)) != 0) {
            st->stats.duplicates++;
            er_log(ER_LOG_DEBUG, req->component, "published id %.*s: a duplicate of seq %llu",
                   (int)f.id.len, f.id.ptr, (unsigned long long)orig);
            free(pw);
            er__publish_req_end(req, ER_OK, 0, NULL);
            return true;
        }
        if (er__dedupe_insert(&st->dedupe, h, first, now) != 0)
            er_log_limited(ER_LOG_WARN, COMPONENT,
                           "out of memory: id not remembered for de-duplication");
    }
    er__ingest_sequence(&s->ingest, &f, 1, er__store_sequence(st, 1));
    ev = er__ev_new(&f);
    if (ev == NULL || er__store_append(st, er__ev_ref(ev)) != 0) {
        er__ev_unref(ev);
        er__dedupe_forget_from(&st->dedupe, first);
        er_log_limited(ER_LOG_ERROR, req->component,
                       "out of memory: published event (%.*s) not taken", (int)v->type.len,
                       v->type.ptr);
        free(pw);
        er__publish_req_end(req, ER_RETRY, -ENOMEM, "out of memory: the event was not taken");
        return true;
    }
    st->stats.plugin_published++;
    pw->s = s;
    pw->req = req;
    pw->seq = f.seq;
    pw->hops = f.hops;
    pw->over = f.hops > s->cfg->limits.max_hops;
    pw->w.cb = on_plugin_stored;
    if (pw->over)
        st->stats.hops_exceeded++;
    else if (s->dispatch)
        er__dispatch_event(s->dispatch, ev);
    er__ev_unref(ev);
    if (er__store_wait(st, &pw->w) != 0)
        on_plugin_stored(&pw->w, 0, NULL); /* cannot happen: it was just queued */
    return true;
}

/* The host's publisher (er__host_publish_open): one event from a plugin,
 * on the loop thread, in publish() order; behind those already waiting. */
static void plugin_publish(void *arg, er_publish_req_t *req)
{
    er_server_t *s = arg;

    req->next = NULL;
    if (s->pub_head == NULL && plugin_take(s, req))
        return;
    if (s->pub_tail != NULL)
        s->pub_tail->next = req;
    else
        s->pub_head = req;
    s->pub_tail = req;
}

/* The store takes events again: the plugins' events waiting go on, in
 * order, until it says wait once more. */
static void plugin_resume(er_server_t *s)
{
    er_publish_req_t *req;

    while ((req = s->pub_head) != NULL) {
        s->pub_head = req->next;
        if (s->pub_head == NULL)
            s->pub_tail = NULL;
        if (!plugin_take(s, req)) {
            req->next = s->pub_head;
            s->pub_head = req;
            if (s->pub_tail == NULL)
                s->pub_tail = req;
            return;
        }
    }
}

/* The server is done: plugins' events still waiting for the store are
 * not taken (their plugins may publish them again after a restart). */
static void plugin_drop_waiting(er_server_t *s)
{
    er_publish_req_t *req;

    while ((req = s->pub_head) != NULL) {
        s->pub_head = req->next;
        er__publish_req_end(req, ER_RETRY, 0, NULL);
    }
    s->pub_tail = NULL;
}

static void op_publish(er_conn_t *c, const er_msg_t *m)
{
    er_server_t *s = c->srv;
    er_mp_reader_t r;
    er_error_t err;
    int rc;

    er__mp_init(&r, m->body, m->body_len);
    rc =
        er__event_read(&r, &s->scratch[0], ER_VALIDATE_CLIENT, s->cfg->limits.max_event_size, &err);
    if (rc == 0 && er__mp_left(&r) != 0)
        rc = er__error_set(&err, ER_ETRAILING, -1, "PUBLISH: %zu trailing bytes after the event",
                           er__mp_left(&r));
    if (rc != 0) {
        body_error(c, m->req, rc, &err);
        return;
    }
    accept_events(c, m->req, s->scratch, 1);
}

static void op_publish_batch(er_conn_t *c, const er_msg_t *m)
{
    er_server_t *s = c->srv;
    er_mp_reader_t r;
    er_error_t err;
    uint32_t n, i;
    int rc;

    if ((rc = er__batch_begin(m, &r, &n, s->cfg->limits.max_batch, &err)) != 0) {
        body_error(c, m->req, rc, &err);
        return;
    }
    for (i = 0; i < n; i++) {
        rc = er__event_read(&r, &s->scratch[i], ER_VALIDATE_CLIENT, s->cfg->limits.max_event_size,
                            &err);
        if (rc != 0) {
            /* The whole batch is refused; the index names the event. */
            if (is_framing_error(rc))
                protocol_error(c, "protocol", "event %u: %s", i, err.message);
            else
                nack(c, m->req, er__nack_code_for(rc), i, "event %u: %s", i, err.message);
            return;
        }
    }
    if ((rc = er__batch_end(&r, &err)) != 0) {
        body_error(c, m->req, rc, &err);
        return;
    }
    accept_events(c, m->req, s->scratch, n);
}

static void op_ping(er_conn_t *c, const er_msg_t *m)
{
    er_error_t err;
    int rc;

    if ((rc = er__nil_decode(m, &err)) != 0) {
        body_error(c, m->req, rc, &err);
        return;
    }
    if (er__nil_encode(&c->out, ER_OP_PONG, m->req) != 0)
        conn_close(c);
}

/* An admin command answered later (it reads the store): the connection
 * is kept (a waiter) until the answer is written or dropped. */
typedef struct admin_wait_s {
    er_conn_t *c;
    uint32_t req;
} admin_wait_t;

static void answer_admin(er_conn_t *c, uint32_t req, const char *code, json_t *reply,
                         const char *msg)
{
    if (code != NULL)
        nack(c, req, code, -1, "%s", msg != NULL ? msg : "");
    else if (er__reply_encode(&c->out, req, reply) != 0)
        nack(c, req, "unavailable", -1, "the reply could not be encoded (too large?)");
}

static void on_admin_done(void *arg, const char *code, json_t *reply, const char *msg)
{
    admin_wait_t *aw = arg;
    er_conn_t *c = aw->c;

    c->waiters--;
    if (!c->closing) {
        answer_admin(c, aw->req, code, reply, msg);
        flush(c);
        arm_timer(c);
    } else if (c->waiters == 0 && c->handles == 0) {
        conn_free(c);
    }
    json_decref(reply);
    free(aw);
}

static void op_admin(er_conn_t *c, const er_msg_t *m)
{
    er_server_t *s = c->srv;
    er_error_t err;
    er_str_t cmd;
    json_t *args = NULL, *reply = NULL;
    admin_wait_t *aw;
    const char *code;
    char msg[512];
    int rc;

    if ((rc = er__admin_decode(m, &cmd, &args, &err)) != 0) {
        body_error(c, m->req, rc, &err);
        return;
    }
    s->stats.admin_commands++;
    if ((aw = malloc(sizeof(*aw))) == NULL) {
        nack(c, m->req, "unavailable", -1, "out of memory");
        json_decref(args);
        return;
    }
    aw->c = c;
    aw->req = m->req;
    code = er__admin_run(s->admin, cmd.ptr, cmd.len, args, &reply, msg, sizeof(msg), on_admin_done,
                         aw);
    if (code == ER_ADMIN_ASYNC)
        c->waiters++; /* aw is on_admin_done's now */
    else {
        free(aw);
        answer_admin(c, m->req, code, reply, msg);
    }
    er_log(ER_LOG_DEBUG, COMPONENT, "conn %llu: ADMIN %.*s: %s", (unsigned long long)c->id,
           (int)cmd.len, cmd.ptr, code ? code : "ok");
    json_decref(reply);
    json_decref(args);
}

/* ------------------------------------------------------------- queries */

/*
 * QUERY (DESIGN §4): the matching stored events, in seq order, as ROWS
 * frames then END {count}. The store is read a page (QUERY_PAGE rows) at a
 * time, and the next page only once the connection's answers have drained
 * below half of max_connection_memory, so a slow reader never makes the
 * daemon buffer more than that plus one event. The result is what was
 * committed when the query came: events stored meanwhile are not in it.
 * Each query holds the connection (a waiter) until it ends.
 *
 * TAIL is the same request that does not end at the stored head: it reads
 * the store from its from_seq (default: the head when it came) until it
 * has caught up, then waits, and takes each append the store completes
 * straight from memory (er__server_stored) — committed events only, so a
 * tail never shows what a crash would lose. When its reader falls behind
 * (answers above half of max_connection_memory) it stops taking them and
 * reads the store again once drained: publishers never wait for a tail.
 * A tail that had caught up and then falls more than limits.tail_max_lag
 * events behind is ended with NACK busy; CANCEL ends it with END, a
 * shutdown with NACK shutting_down.
 */
struct query_s {
    query_t *next;
    er_conn_t *c;
    uint32_t req;
    er_store_filter_t f; /* strings point into strs */
    char *strs;
    uint64_t limit;     /* 0: none */
    uint64_t count;     /* rows sent */
    uint64_t next_seq;  /* where the next page starts */
    uint64_t page_rows; /* rows of the page being read */
    uint64_t page_max;  /* the limit that page was asked with */
    er_buf_t rows;      /* encoded events not yet in a ROWS frame */
    uint32_t nrows;
    bool reading;         /* a page is being read from the store */
    bool cut;             /* the page was cut short for the output buffer */
    bool cancelled;       /* CANCEL came: END at the next chance */
    bool oom;             /* rows could not be kept: NACK at the end of the page */
    bool ending;          /* in query_end: a close on the way does not free it */
    bool tail;            /* TAIL: goes on past the stored head */
    bool live;            /* TAIL: has caught up with the stored head once */
    bool waiting;         /* TAIL: caught up, takes appends as they are stored */
    const char *end_code; /* NACK this at the next chance (a tail dropped) */
    char end_msg[160];
};

/* Answers waiting to be written: at or above half of
 * max_connection_memory no more rows are read for this connection. */
static bool query_out_full(const er_conn_t *c, size_t extra)
{
    return c->out.len + c->wbuf.len + extra >= c->srv->cfg->limits.max_connection_memory / 2;
}

/* Put the rows gathered so far into a ROWS frame. Returns 0 or -ENOMEM
 * (the rows are dropped). */
static int query_flush_rows(query_t *q)
{
    er_conn_t *c = q->c;
    int rc = 0;

    if (q->nrows == 0 || c->closing)
        return 0;
    if ((rc = er__rows_encode(&c->out, q->req, q->rows.data, q->rows.len, q->nrows)) != 0)
        er_log_limited(ER_LOG_ERROR, COMPONENT, "conn %llu: QUERY %u: out of memory for ROWS",
                       (unsigned long long)c->id, q->req);
    q->rows.len = 0;
    q->nrows = 0;
    return rc;
}

/* Unlink and free q; the connection goes too when it was closed and this
 * was the last thing holding it. */
static void query_free(query_t *q)
{
    er_conn_t *c = q->c;
    query_t **pp;

    for (pp = &c->queries; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == q) {
            *pp = q->next;
            break;
        }
    }
    c->nqueries--;
    if (q->tail)
        c->srv->ntails--;
    er__buf_free(&q->rows);
    free(q->strs);
    free(q);
    if (--c->waiters == 0 && c->closing && c->handles == 0)
        conn_free(c);
}

/* End q with END {count} (or a NACK when code is set) and free it. */
static void query_end(query_t *q, const char *code, const char *msg)
{
    er_conn_t *c = q->c;

    q->ending = true;
    if (!c->closing) {
        if (code == NULL && (q->oom || query_flush_rows(q) != 0)) {
            code = "busy";
            msg = "out of memory: the query ended early";
        }
        if (code != NULL)
            nack_retry(c, q->req, code, -1, 1000, msg);
        else if (er__end_encode(&c->out, q->req, q->count) != 0)
            conn_close(c);
        er_log(ER_LOG_DEBUG, COMPONENT, "conn %llu: %s %u: %llu rows%s%s",
               (unsigned long long)c->id, q->tail ? "TAIL" : "QUERY", q->req,
               (unsigned long long)q->count, q->cancelled ? ", cancelled" : "",
               code ? ", failed" : "");
    }
    query_free(q);
    if (!c->closing) {
        flush(c);
        arm_timer(c);
    }
}

static void query_next(query_t *q);

/* Add ev to the rows of q (a ROWS frame is closed first when it would
 * pass max_frame). Returns 0, or -ENOMEM (q->oom set). */
static int rows_add(query_t *q, er_ev_t *ev)
{
    size_t room = q->c->srv->cfg->limits.max_frame - ER_ROWS_OVERHEAD;
    const uint8_t *p;
    size_t n;

    if (er__ev_encoded(ev, &p, &n) != 0 ||
        (q->nrows > 0 && q->rows.len + n > room && query_flush_rows(q) != 0) ||
        er__buf_append(&q->rows, p, n) != 0) {
        q->oom = true;
        return -ENOMEM;
    }
    q->nrows++;
    q->count++;
    return 0;
}

static int query_row(void *arg, er_ev_t *ev)
{
    query_t *q = arg;
    er_conn_t *c = q->c;

    if (c->closing || q->cancelled || q->end_code != NULL)
        return 1;
    if (rows_add(q, ev) != 0)
        return 1;
    q->page_rows++;
    q->next_seq = er__ev_view(ev)->seq + 1;
    if (q->limit != 0 && q->count >= q->limit)
        return 1;
    if (query_out_full(c, q->rows.len)) {
        /* The reader is behind: go on once it has caught up. */
        q->cut = true;
        return 1;
    }
    return 0;
}

/* A tail not reading the store: wait for appends once caught up, else
 * read on (when its reader has drained what it was sent). */
static void tail_go(query_t *q)
{
    er_conn_t *c = q->c;

    if (q->next_seq > c->srv->store->committed) {
        q->waiting = true;
        q->live = true;
        return;
    }
    if (!query_out_full(c, 0))
        query_next(q);
}

static void query_page_done(void *arg, int err, const char *message)
{
    query_t *q = arg;
    er_conn_t *c = q->c;
    bool whole; /* the page read everything up to f.to_seq */

    if (c->closing) {
        query_free(q);
        return;
    }
    q->reading = false;
    if (err != 0) {
        query_end(q, err == -EAGAIN ? "shutting_down" : "unavailable",
                  message ? message : er_strerror(err));
        return;
    }
    if (q->end_code != NULL) {
        query_end(q, q->end_code, q->end_msg);
        return;
    }
    whole = (!q->cut && q->page_rows < q->page_max) || q->next_seq > q->f.to_seq;
    if (q->cancelled || q->oom || (q->limit != 0 && q->count >= q->limit) || (whole && !q->tail)) {
        query_end(q, NULL, NULL);
        return;
    }
    if (whole && q->next_seq <= q->f.to_seq)
        q->next_seq = q->f.to_seq + 1; /* the rest up to it did not match */
    if (query_flush_rows(q) != 0) {
        query_end(q, "busy", "out of memory: the query ended early");
        return;
    }
    /* A failed write closes c and frees q: look at c only. */
    flush(c);
    if (c->closing)
        return;
    if (q->tail)
        tail_go(q);
    else if (!query_out_full(c, 0))
        query_next(q);
}

/* Read the next page, unless the reader is still behind (on_write comes
 * back through queries_resume). */
static void query_next(query_t *q)
{
    er_conn_t *c = q->c;
    uint64_t left = q->limit ? q->limit - q->count : QUERY_PAGE;
    int rc;

    q->waiting = false;
    if (q->tail)
        q->f.to_seq = c->srv->store->committed;
    q->f.from_seq = q->next_seq;
    q->f.limit = q->page_max = left < QUERY_PAGE ? left : QUERY_PAGE;
    q->page_rows = 0;
    q->cut = false;
    rc = er__store_query(c->srv->store, &q->f, query_row, q, query_page_done, q);
    if (rc != 0) {
        query_end(q, rc == -EAGAIN ? "shutting_down" : "unavailable",
                  rc == -EAGAIN ? "the store is closing" : er_strerror(rc));
        return;
    }
    q->reading = true;
}

/* The connection's answers were written: queries waiting for that go on. */
static void queries_resume(er_conn_t *c)
{
    query_t *q, *next;

    for (q = c->queries; q != NULL && !c->closing; q = next) {
        next = q->next;
        if (q->reading || q->waiting || query_out_full(c, 0))
            continue;
        if (q->tail)
            tail_go(q);
        else
            query_next(q);
    }
}

/* End tail q with NACK code (when its page is done if it is reading). */
static void tail_stop(query_t *q, const char *code, const char *fmt, ...)
{
    va_list ap;

    if (q->end_code != NULL || q->ending)
        return;
    q->end_code = code;
    va_start(ap, fmt);
    vsnprintf(q->end_msg, sizeof(q->end_msg), fmt, ap);
    va_end(ap);
    if (!q->reading)
        query_end(q, q->end_code, q->end_msg);
}

/* A waiting tail takes the events of an append (consecutive seqs) that
 * match, until its reader falls behind: then it reads the store again
 * from the first one it did not take, once drained. */
static void tail_take(query_t *q, er_ev_t *const *evs, size_t n)
{
    er_conn_t *c = q->c;
    size_t i;

    for (i = 0; i < n; i++) {
        const er_event_t *v = er__ev_view(evs[i]);
        if (v->seq < q->next_seq)
            continue;
        if (query_out_full(c, q->rows.len)) {
            q->waiting = false; /* queries_resume reads from here */
            break;
        }
        q->next_seq = v->seq + 1;
        if (!er_store_filter_match(&q->f, v))
            continue;
        if (rows_add(q, evs[i]) != 0) {
            query_end(q, "busy", "out of memory: the tail ended early");
            return;
        }
        if (q->limit != 0 && q->count >= q->limit) {
            query_end(q, NULL, NULL);
            return;
        }
    }
    if (query_flush_rows(q) != 0) {
        query_end(q, "busy", "out of memory: the tail ended early");
        return;
    }
    flush(c);
}

void er__server_stored(void *arg, er_ev_t *const *evs, size_t n)
{
    er_server_t *s = arg;
    uint64_t head = s->store->committed, max_lag = s->cfg->limits.tail_max_lag;
    er_conn_t *c, *cnext;
    query_t *q, *qnext;

    if (s->ntails == 0 || n == 0)
        return;
    for (c = s->conns; c != NULL; c = cnext) {
        cnext = c->next; /* a failed write closes c */
        for (q = c->queries; q != NULL && !c->closing; q = qnext) {
            qnext = q->next;
            if (!q->tail || q->ending)
                continue;
            if (q->waiting)
                tail_take(q, evs, n);
            else if (q->live && head >= q->next_seq && head - q->next_seq >= max_lag)
                tail_stop(q, "busy",
                          "the tail fell %llu events behind the stored head "
                          "(limits.tail_max_lag %llu): read faster, or resume from seq %llu",
                          (unsigned long long)(head - q->next_seq + 1), (unsigned long long)max_lag,
                          (unsigned long long)q->next_seq);
        }
    }
}

/* The daemon stops: every tail ends (queries end on their own). */
static void tails_stop(er_server_t *s)
{
    er_conn_t *c, *cnext;
    query_t *q, *qnext;

    for (c = s->conns; c != NULL && s->ntails > 0; c = cnext) {
        cnext = c->next;
        for (q = c->queries; q != NULL && !c->closing; q = qnext) {
            qnext = q->next;
            if (q->tail)
                tail_stop(q, "shutting_down", "the daemon is stopping");
        }
    }
}

/* The connection closes: queries not reading the store go now, those
 * reading go when their page is done (query_row stops them). */
static void queries_drop(er_conn_t *c)
{
    query_t *q, *next;

    for (q = c->queries; q != NULL; q = next) {
        next = q->next;
        if (!q->reading && !q->ending)
            query_free(q);
    }
}

/* Copy the filter's strings (views into the frame) into q->strs. */
static int query_copy_filter(query_t *q, const er_query_t *in)
{
    const er_str_t *src[] = {&in->stream, &in->correlation_id, &in->type, &in->id};
    er_str_t *dst[] = {&q->f.stream, &q->f.correlation_id, &q->f.type, &q->f.id};
    size_t total = 0, i;
    char *p;

    for (i = 0; i < 4; i++)
        total += src[i]->len + 1;
    if ((q->strs = p = malloc(total)) == NULL)
        return -ENOMEM;
    for (i = 0; i < 4; i++) {
        if (src[i]->len == 0)
            continue;
        memcpy(p, src[i]->ptr, src[i]->len);
        p[src[i]->len] = '\0';
        dst[i]->ptr = p;
        dst[i]->len = src[i]->len;
        p += src[i]->len + 1;
    }
    return 0;
}

static void op_query(er_conn_t *c, const er_msg_t *m, bool tail)
{
    er_server_t *s = c->srv;
    er_query_t in;
    er_error_t err;
    query_t *q;
    int rc;

    if ((rc = er__query_decode(m, &in, &err)) != 0) {
        body_error(c, m->req, rc, &err);
        return;
    }
    for (q = c->queries; q != NULL; q = q->next) {
        if (q->req == m->req) {
            nack(c, m->req, "invalid", -1, "request id %u is already streaming", m->req);
            return;
        }
    }
    if (c->nqueries >= MAX_QUERIES) {
        nack_retry(c, m->req, "busy", -1, 100, "too many queries running on this connection");
        return;
    }
    if (s->store == NULL || s->store->stopping) {
        nack(c, m->req, "shutting_down", -1, "the store is closing");
        return;
    }
    if ((q = calloc(1, sizeof(*q))) == NULL || query_copy_filter(q, &in) != 0) {
        free(q);
        nack(c, m->req, "busy", -1, "out of memory");
        return;
    }
    q->c = c;
    q->req = m->req;
    q->f.size = sizeof(q->f);
    q->f.since_us = in.since_us;
    q->f.until_us = in.until_us;
    q->f.to_seq = s->store->committed;
    q->limit = in.limit;
    q->next_seq = in.from_seq;
    q->tail = tail;
    q->next = c->queries;
    c->queries = q;
    c->nqueries++;
    c->waiters++;
    if (tail) {
        s->ntails++;
        if (q->next_seq == 0)
            q->next_seq = q->f.to_seq + 1; /* from now on */
        er_log(ER_LOG_DEBUG, COMPONENT, "conn %llu: TAIL %u from seq %llu",
               (unsigned long long)c->id, m->req, (unsigned long long)q->next_seq);
        tail_go(q);
        return;
    }
    er_log(ER_LOG_DEBUG, COMPONENT, "conn %llu: QUERY %u up to seq %llu", (unsigned long long)c->id,
           m->req, (unsigned long long)q->f.to_seq);
    if (q->f.to_seq == 0 || q->next_seq > q->f.to_seq) {
        query_end(q, NULL, NULL); /* nothing stored, or nothing from from_seq */
        return;
    }
    if (q->next_seq == 0)
        q->next_seq = 1;
    query_next(q);
}

static void op_cancel(er_conn_t *c, const er_msg_t *m)
{
    er_error_t err;
    query_t *q;
    int rc;

    if ((rc = er__nil_decode(m, &err)) != 0) {
        body_error(c, m->req, rc, &err);
        return;
    }
    for (q = c->queries; q != NULL; q = q->next)
        if (q->req == m->req)
            break;
    /* Nothing streams under that id (it may just have ended: its END is
     * on the way): nothing to do. */
    if (q == NULL)
        return;
    q->cancelled = true;
    if (!q->reading && !q->ending)
        query_end(q, NULL, NULL);
}

static void handle_frame(er_conn_t *c, const uint8_t *p, size_t n)
{
    er_msg_t m;
    er_error_t err;
    int rc;

    c->srv->stats.frames++;
    if ((rc = er__msg_parse(p, n, &m, &err)) != 0) {
        protocol_error(c, "protocol", "%s", err.message);
        return;
    }
    if (!c->hello && m.op != ER_OP_HELLO) {
        protocol_error(c, "protocol", "%s before HELLO: HELLO must be the first frame",
                       er__op_name(m.op));
        return;
    }
    if (c->role == ER_ROLE_ADMIN && (m.op == ER_OP_PUBLISH || m.op == ER_OP_PUBLISH_BATCH)) {
        nack(c, m.req, "forbidden", -1, "%s is served on the publish socket (listen.socket)",
             er__op_name(m.op));
        return;
    }
    switch (m.op) {
    case ER_OP_HELLO:
        op_hello(c, &m);
        break;
    case ER_OP_PUBLISH:
        op_publish(c, &m);
        break;
    case ER_OP_PUBLISH_BATCH:
        op_publish_batch(c, &m);
        break;
    case ER_OP_PING:
        op_ping(c, &m);
        break;
    case ER_OP_QUERY:
    case ER_OP_TAIL:
        if (c->may_read)
            op_query(c, &m, m.op == ER_OP_TAIL);
        else
            nack(c, m.req, "forbidden", -1,
                 "%s is served on the admin socket (listen.admin_socket), and on this one "
                 "only to peers an acl rule grants read",
                 er__op_name(m.op));
        break;
    case ER_OP_CANCEL:
        if (c->may_read)
            op_cancel(c, &m);
        else
            nack(c, m.req, "forbidden", -1,
                 "CANCEL ends a QUERY or TAIL: served on the admin socket "
                 "(listen.admin_socket), and on this one only to peers an acl rule grants "
                 "read");
        break;
    case ER_OP_ADMIN:
        if (c->role == ER_ROLE_ADMIN)
            op_admin(c, &m);
        else
            nack(c, m.req, "forbidden", -1, "ADMIN is served on the admin socket only");
        break;
    default:
        protocol_error(c, "protocol", "%s is sent by the daemon, not by clients",
                       er__op_name(m.op));
        break;
    }
}

/* ------------------------------------------------------------------- input */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    er_conn_t *c = h->data;
    uint8_t *p;
    size_t n;

    (void)suggested;
    if (er__framer_space(&c->framer, 1, &p, &n) != 0) {
        *buf = uv_buf_init(NULL, 0); /* on_read gets UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init((char *)p, (unsigned)(n > UINT32_MAX ? UINT32_MAX : n));
}

/* Must a publish connection's next frame wait for the store? (Asked for
 * a whole batch, so the frame cannot be refused for want of seqs.) */
static bool store_says_wait(er_conn_t *c)
{
    const char *code;
    char msg[8];
    int64_t retry_ms;

    return c->role == ER_ROLE_PUBLISH && c->srv->store != NULL &&
           er__store_admit(c->srv->store, (uint32_t)c->srv->cfg->limits.max_batch, &code, msg,
                           sizeof(msg), &retry_ms) == ER_ADMIT_WAIT;
}

/*
 * Handle every complete frame buffered, then write the answers and re-arm
 * the timer. When the store says wait, the connection stops being read
 * with its frames left in the framer; er__server_store_ready resumes it.
 */
static void process_input(er_conn_t *c)
{
    const uint8_t *p;
    size_t n, frames = 0;
    int rc = 0;

    while (!c->closing && !c->close_after_flush) {
        if (store_says_wait(c)) {
            if (!c->store_paused) {
                c->store_paused = true;
                uv_read_stop((uv_stream_t *)&c->pipe);
            }
            break;
        }
        if ((rc = er__framer_next(&c->framer, &p, &n)) != 1)
            break;
        handle_frame(c, p, n);
        frames++;
    }
    if (rc == ER_EFRAME)
        protocol_error(c, "protocol", "frame length 0");
    else if (rc == ER_ETOOBIG)
        protocol_error(c, "too_large", "frame of %zu bytes is above max_frame (%zu)",
                       er__framer_expected(&c->framer), (size_t)c->srv->cfg->limits.max_frame);
    if (c->closing)
        return;
    er__framer_shrink(&c->framer);
    /* The incomplete frame's clock starts with its first byte: this read's
     * if a frame completed in it, else an earlier one's. */
    if (er__framer_partial(&c->framer) == 0)
        c->partial_since_ms = 0;
    else if (c->partial_since_ms == 0 || frames > 0)
        c->partial_since_ms = c->last_read_ms;
    if (c->close_after_flush)
        uv_read_stop((uv_stream_t *)&c->pipe);
    flush(c);
    if (!c->closing)
        arm_timer(c);
    /* Back-pressure: a client that does not read its answers stops being
     * read until they are written, so answers, read buffer and the next
     * read stay within max_connection_memory. */
    if (!c->closing && c->writing && !c->reading_paused && !c->close_after_flush &&
        c->out.len + c->wbuf.len + c->framer.cap >= c->srv->cfg->limits.max_connection_memory / 2) {
        uv_read_stop((uv_stream_t *)&c->pipe);
        c->reading_paused = true;
        arm_timer(c); /* the partial frame's clock stops */
    }
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    er_conn_t *c = st->data;

    (void)buf;
    if (nread < 0) {
        if (nread != UV_EOF)
            er_log(ER_LOG_DEBUG, COMPONENT, "conn %llu: read: %s", (unsigned long long)c->id,
                   uv_strerror((int)nread));
        /* The peer closed (or half-closed) its side: answer what was read,
         * then close. A partial frame is dropped; complete frames still
         * waiting for the store are answered first. */
        uv_read_stop(st);
        if (c->store_paused) {
            c->eof = true;
            return;
        }
        c->close_after_flush = true;
        flush(c);
        return;
    }
    if (nread == 0)
        return;
    er__framer_commit(&c->framer, (size_t)nread);
    c->last_read_ms = uv_now(c->srv->loop);
    process_input(c);
}

void er__server_store_ready(void *arg)
{
    er_server_t *s = arg;
    er_conn_t *c, *next;

    plugin_resume(s);
    for (c = s->conns; c != NULL; c = next) {
        next = c->next;
        if (!c->store_paused)
            continue;
        c->store_paused = false;
        if (c->partial_since_ms != 0)
            c->partial_since_ms = uv_now(s->loop); /* its clock did not run while paused */
        process_input(c);
        if (c->closing || c->store_paused)
            continue;
        if (c->eof) {
            c->close_after_flush = true;
            flush(c);
        } else if (!c->reading_paused && !c->close_after_flush) {
            uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
        }
    }
}

/* ------------------------------------------------------ connection life */

static void conn_free(er_conn_t *c)
{
    er_server_t *s = c->srv;

    er__framer_free(&c->framer);
    er__buf_free(&c->out);
    er__buf_free(&c->wbuf);
    free(c);
    /* The last client gone: give the heap's free pages back, so a burst
     * of connections does not leave the daemon's memory high (again once
     * the store has taken what they sent). */
    if (s->nconns == 0)
        malloc_trim(0);
    check_done(s);
}

void er__server_store_drained(void *arg)
{
    er_server_t *s = arg;

    if (s->nconns == 0)
        malloc_trim(0);
}

static void on_conn_closed(uv_handle_t *h)
{
    er_conn_t *c = h->data;

    if (--c->handles > 0 || c->waiters > 0)
        return;
    conn_free(c);
}

static void conn_close(er_conn_t *c)
{
    er_server_t *s = c->srv;

    if (c->closing)
        return;
    c->closing = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    queries_drop(c);
    er_log(ER_LOG_DEBUG, COMPONENT, "conn %llu: closed", (unsigned long long)c->id);
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
    uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

/*
 * One timer per connection serves every deadline it has: the incomplete
 * frame (frame_timeout, counted from the frame's first byte so trickling
 * cannot stretch it), idleness (idle_timeout) and, after GOAWAY, the quiet
 * period. arm_timer() sets it to the earliest of them after every read.
 */
static void on_conn_timer(uv_timer_t *t);

/* A partial frame's deadline runs only while the daemon reads the
 * connection: not while the store made it wait, nor while the client's
 * unread answers did (back-pressure), since the rest of the frame cannot
 * arrive then. */
static bool frame_clock_runs(const er_conn_t *c)
{
    return c->partial_since_ms != 0 && !c->store_paused && !c->reading_paused;
}

static void arm_timer(er_conn_t *c)
{
    const er_config_t *cfg = c->srv->cfg;
    uint64_t now = uv_now(c->srv->loop), due = UINT64_MAX;

    if (c->closing || c->close_after_flush) {
        uv_timer_stop(&c->timer);
        return;
    }
    if (frame_clock_runs(c))
        due = c->partial_since_ms + cfg->limits.frame_timeout_ms;
    if (cfg->limits.idle_timeout_ms && c->queries == NULL &&
        c->last_read_ms + cfg->limits.idle_timeout_ms < due)
        due = c->last_read_ms + cfg->limits.idle_timeout_ms;
    if (c->goaway && c->waiters == 0 && !c->store_paused && c->last_read_ms + QUIET_MS < due)
        due = c->last_read_ms + QUIET_MS;
    if (due == UINT64_MAX) {
        uv_timer_stop(&c->timer);
        return;
    }
    uv_timer_start(&c->timer, on_conn_timer, due > now ? due - now : 0, 0);
}

static void on_conn_timer(uv_timer_t *t)
{
    er_conn_t *c = t->data;
    const er_config_t *cfg = c->srv->cfg;
    uint64_t now = uv_now(c->srv->loop);

    if (frame_clock_runs(c) && now - c->partial_since_ms >= cfg->limits.frame_timeout_ms) {
        protocol_error(
            c, "protocol", "incomplete frame: %zu of %zu bytes received in %llu ms (frame_timeout)",
            er__framer_partial(&c->framer), er__framer_expected(&c->framer) + ER_FRAME_HDR,
            (unsigned long long)cfg->limits.frame_timeout_ms);
    } else if (c->goaway && c->waiters == 0 && !c->store_paused &&
               now - c->last_read_ms >= QUIET_MS) {
        c->close_after_flush = true;
    } else if (cfg->limits.idle_timeout_ms && c->queries == NULL &&
               now - c->last_read_ms >= cfg->limits.idle_timeout_ms) {
        er_log_limited(ER_LOG_INFO, COMPONENT, "conn %llu: idle for %llu ms, closing",
                       (unsigned long long)c->id, (unsigned long long)cfg->limits.idle_timeout_ms);
        if (er__goaway_encode(&c->out, "idle_timeout") != 0) {
            conn_close(c);
            return;
        }
        c->close_after_flush = true;
    }
    if (c->close_after_flush)
        uv_read_stop((uv_stream_t *)&c->pipe);
    flush(c);
    arm_timer(c);
}

static void send_goaway(er_conn_t *c, const char *reason)
{
    if (c->closing || c->goaway)
        return;
    c->goaway = true;
    if (er__goaway_encode(&c->out, reason) != 0) {
        conn_close(c);
        return;
    }
    flush(c);
    arm_timer(c);
}

/* A peer's groups, fetched (SO_PEERGROUPS) the first time they are
 * needed: up to 256 supplementary ones are looked at. */
typedef struct peer_groups_s {
    gid_t g[256];
    size_t n;
    bool fetched;
} peer_groups_t;

static bool peer_has_gid(int fd, const er_origin_t *peer, peer_groups_t *gs, gid_t gid)
{
    size_t i;

    if (peer->gid == gid)
        return true;
    if (!gs->fetched) {
        socklen_t len = sizeof(gs->g);
        gs->fetched = true;
        gs->n =
            getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, gs->g, &len) == 0 ? len / sizeof(gid_t) : 0;
    }
    for (i = 0; i < gs->n; i++)
        if (gs->g[i] == gid)
            return true;
    return false;
}

/* May this peer use the admin socket? uid 0, the daemon's uid, or a member
 * (primary or supplementary, via SO_PEERGROUPS) of listen.admin_group. */
static bool admin_peer_ok(const er_listener_t *l, int fd, const er_origin_t *peer)
{
    peer_groups_t gs = {.fetched = false};

    if (peer->uid == 0 || peer->uid == geteuid())
        return true;
    return l->have_admin_gid && peer_has_gid(fd, peer, &gs, l->admin_gid);
}

/* The acl (DESIGN §9) for a publish-socket peer: the first rule for its
 * uid or one of its groups decides whether it may read (QUERY, TAIL). */
static bool acl_may_read(const er_config_t *cfg, int fd, const er_origin_t *peer)
{
    peer_groups_t gs = {.fetched = false};
    size_t i;

    for (i = 0; i < cfg->nacl; i++) {
        const er_acl_rule_t *r = &cfg->acl[i];
        if (r->by_gid ? peer_has_gid(fd, peer, &gs, (gid_t)r->id) : peer->uid == r->id)
            return r->read;
    }
    return false;
}

static void on_connection(uv_stream_t *ls, int status)
{
    er_listener_t *l = ls->data;
    er_server_t *s = l->srv;
    er_conn_t *c;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    uv_os_fd_t fd;
    int rc;

    if (status < 0) {
        er_log_limited(ER_LOG_WARN, COMPONENT, "accept: %s", uv_strerror(status));
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        er_log_limited(ER_LOG_ERROR, COMPONENT, "accept: out of memory");
        return;
    }
    c->srv = s;
    c->pipe.data = c;
    c->timer.data = c;
    c->wreq.data = c;
    c->id = ++s->stats.accepted;
    c->role = l->role;
    c->ack = ER_ACK_RECEIVED;
    er__framer_init(&c->framer, s->cfg->limits.max_frame);
    uv_pipe_init(s->loop, &c->pipe, 0);
    uv_timer_init(s->loop, &c->timer);
    c->handles = 2;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;

    if ((rc = uv_accept(ls, (uv_stream_t *)&c->pipe)) != 0) {
        er_log_limited(ER_LOG_WARN, COMPONENT, "accept: %s", uv_strerror(rc));
        conn_close(c);
        return;
    }
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        /* Never taken for root (the zeroed peer) when the kernel cannot
         * say who it is. */
        er_log_limited(ER_LOG_WARN, COMPONENT, "accept: the peer's credentials are unknown: %s",
                       strerror(errno));
        conn_close(c);
        return;
    }
    c->peer.pid = cred.pid;
    c->peer.uid = cred.uid;
    c->peer.gid = cred.gid;
    c->last_read_ms = uv_now(s->loop);
    c->may_read = l->role == ER_ROLE_ADMIN || acl_may_read(s->cfg, fd, &c->peer);
    if (l->role == ER_ROLE_ADMIN && !admin_peer_ok(l, fd, &c->peer)) {
        s->stats.refused_admin++;
        er_log_limited(ER_LOG_WARN, COMPONENT,
                       "refusing admin connection from pid %lld uid %u gid %u: not root, not "
                       "uid %u, not in listen.admin_group",
                       (long long)c->peer.pid, c->peer.uid, c->peer.gid, (unsigned)geteuid());
        if (er__nack_encode(&c->out, 0, "forbidden",
                            "the admin socket serves root, the daemon's user and "
                            "listen.admin_group",
                            -1, -1) != 0) {
            conn_close(c);
            return;
        }
        c->close_after_flush = true;
        flush(c);
        return;
    }
    if (s->nconns > s->cfg->limits.max_connections) {
        /* Accepted only to be told why: a connection left in the backlog
         * would stall the listener. */
        s->stats.refused_busy++;
        er_log_limited(ER_LOG_WARN, COMPONENT,
                       "refusing connection from pid %lld uid %u: max_connections (%llu) reached",
                       (long long)c->peer.pid, c->peer.uid,
                       (unsigned long long)s->cfg->limits.max_connections);
        if (er__nack_encode(&c->out, 0, "busy", "too many connections (max_connections)", -1,
                            1000) != 0) {
            conn_close(c);
            return;
        }
        c->close_after_flush = true;
        flush(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
    er_log(ER_LOG_DEBUG, COMPONENT, "conn %llu: accepted on the %s socket (pid %lld uid %u gid %u)",
           (unsigned long long)c->id, l->role == ER_ROLE_ADMIN ? "admin" : "publish",
           (long long)c->peer.pid, c->peer.uid, c->peer.gid);
    if (s->stopping)
        send_goaway(c, "shutting down");
}

/* ------------------------------------------------------------- listening */

/*
 * A socket file already at path: if a daemon answers on it, refuse; if it
 * is a dead socket (connection refused), remove it; anything else that is
 * not a socket is refused rather than deleted.
 */
static int clear_stale_socket(const char *path, const char *key)
{
    struct sockaddr_un sa;
    struct stat st;
    int fd, rc;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISSOCK(st.st_mode)) {
        er_log(ER_LOG_ERROR, COMPONENT, "%s exists and is not a socket; refusing to replace it",
               path);
        return -EEXIST;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    close(fd);
    if (rc == 0) {
        er_log(ER_LOG_ERROR, COMPONENT, "another daemon is listening on %s; stop it or set %s",
               path, key);
        return -EADDRINUSE;
    }
    if (errno != ECONNREFUSED)
        return -errno;
    er_log(ER_LOG_NOTICE, COMPONENT, "removing stale socket %s", path);
    if (unlink(path) != 0 && errno != ENOENT)
        return -errno;
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    er_listener_t *l = h->data;
    struct stat st;

    /* Remove our socket file, unless someone replaced it meanwhile. */
    if (l->path && lstat(l->path, &st) == 0 && (uint64_t)st.st_ino == l->inode)
        unlink(l->path);
    free(l->path);
    l->path = NULL;
    l->open = false;
    check_done(l->srv);
}

/* Resolve a group name (at start, never on the loop's hot path). */
static int group_gid(const char *group, const char *key, unsigned *gid)
{
    struct group gr, *res = NULL;
    char buf[4096];

    if (getgrnam_r(group, &gr, buf, sizeof(buf), &res) != 0 || res == NULL) {
        er_log(ER_LOG_ERROR, COMPONENT, "%s: no such group \"%s\"", key, group);
        return -ENOENT;
    }
    *gid = gr.gr_gid;
    return 0;
}

static int apply_owner_mode(const char *path, unsigned mode, const char *group,
                            const char *group_key)
{
    unsigned gid;
    int rc;

    if (group && group[0]) {
        if ((rc = group_gid(group, group_key, &gid)) != 0)
            return rc;
        if (chown(path, (uid_t)-1, gid) != 0) {
            rc = -errno;
            er_log(ER_LOG_ERROR, COMPONENT, "chown %s to group %s: %s", path, group,
                   strerror(errno));
            return rc;
        }
    }
    if (chmod(path, mode) != 0) {
        rc = -errno;
        er_log(ER_LOG_ERROR, COMPONENT, "chmod %s %04o: %s", path, mode, strerror(errno));
        return rc;
    }
    return 0;
}

static void listener_close(er_listener_t *l)
{
    if (l->open && !uv_is_closing((uv_handle_t *)&l->pipe))
        uv_close((uv_handle_t *)&l->pipe, on_listener_closed);
}

static int listener_open(er_server_t *s, er_listener_t *l, int role, const char *path,
                         unsigned mode, const char *group, const char *key)
{
    struct sockaddr_un sa;
    struct stat st;
    mode_t old;
    int rc;

    l->srv = s;
    l->role = role;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        er_log(ER_LOG_ERROR, COMPONENT, "%s: %s is %zu bytes; a Unix socket path must be under %zu",
               key, path, strlen(path), sizeof(sa.sun_path));
        return -ENAMETOOLONG;
    }
    if (role == ER_ROLE_ADMIN && group && group[0]) {
        if ((rc = group_gid(group, "listen.admin_group", &l->admin_gid)) != 0)
            return rc;
        l->have_admin_gid = true;
    }
    if ((rc = clear_stale_socket(path, key)) != 0) {
        if (rc != -EADDRINUSE && rc != -EEXIST)
            er_log(ER_LOG_ERROR, COMPONENT, "%s: %s", path, strerror(-rc));
        return rc;
    }
    uv_pipe_init(s->loop, &l->pipe, 0);
    l->pipe.data = l;
    l->open = true;
    /* uv_pipe_chmod cannot give 0660: bind under a umask that leaves at most
     * rw for user and group, then set the configured mode (DESIGN §12). */
    old = umask(0117);
    rc = uv_pipe_bind(&l->pipe, path);
    umask(old);
    if (rc != 0) {
        er_log(ER_LOG_ERROR, COMPONENT, "cannot bind %s: %s", path, uv_strerror(rc));
        listener_close(l);
        return rc;
    }
    /* From here on the file is ours: the close callback unlinks it. */
    l->path = strdup(path);
    if (lstat(path, &st) == 0)
        l->inode = (uint64_t)st.st_ino;
    if (l->path == NULL) {
        unlink(path);
        listener_close(l);
        return -ENOMEM;
    }
    if ((rc = apply_owner_mode(path, mode, group,
                               role == ER_ROLE_ADMIN ? "listen.admin_group" : "listen.group")) !=
        0) {
        listener_close(l);
        return rc;
    }
    if ((rc = uv_listen((uv_stream_t *)&l->pipe, 511, on_connection)) != 0) {
        er_log(ER_LOG_ERROR, COMPONENT, "cannot listen on %s: %s", path, uv_strerror(rc));
        listener_close(l);
        return rc;
    }
    return 0;
}

int er__server_start(er_server_t *s, uv_loop_t *loop, const er_config_t *cfg)
{
    int rc;

    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->cfg = cfg;
    er__ingest_init(&s->ingest);
    uv_timer_init(loop, &s->drain_timer);
    s->drain_timer.data = s;
    s->scratch = calloc(cfg->limits.max_batch, sizeof(*s->scratch));
    s->idbuf = calloc(cfg->limits.max_batch, sizeof(*s->idbuf));
    s->dups = calloc(cfg->limits.max_batch, sizeof(*s->dups));
    if (s->scratch == NULL || s->idbuf == NULL || s->dups == NULL) {
        rc = -ENOMEM;
        goto fail;
    }
    rc = listener_open(s, &s->listeners[ER_ROLE_PUBLISH], ER_ROLE_PUBLISH, cfg->listen.socket,
                       cfg->listen.mode, cfg->listen.group, "listen.socket");
    if (rc == 0)
        rc = listener_open(s, &s->listeners[ER_ROLE_ADMIN], ER_ROLE_ADMIN, cfg->listen.admin_socket,
                           cfg->listen.admin_mode, cfg->listen.admin_group, "listen.admin_socket");
    if (rc == 0 &&
        (rc = er__host_publish_open(loop, cfg->limits.max_event_size, plugin_publish, s)) != 0)
        er_log(ER_LOG_ERROR, COMPONENT, "cannot take plugins' events: %s", er_strerror(rc));
    if (rc == 0) {
        s->publishing = true;
        s->pub_max_event_size = cfg->limits.max_event_size;
        return 0;
    }
fail:
    /* The caller runs the loop to let the closes finish (no done callback). */
    s->stopping = true;
    listener_close(&s->listeners[ER_ROLE_PUBLISH]);
    listener_close(&s->listeners[ER_ROLE_ADMIN]);
    uv_close((uv_handle_t *)&s->drain_timer, NULL);
    free(s->scratch);
    free(s->idbuf);
    free(s->dups);
    s->scratch = NULL;
    s->idbuf = NULL;
    s->dups = NULL;
    return rc;
}

/* ------------------------------------------------------------- shutdown */

static void on_drain_timer_closed(uv_handle_t *h)
{
    er_server_t *s = h->data;
    er_server_done_cb done = s->done;

    plugin_drop_waiting(s);
    free(s->scratch);
    free(s->idbuf);
    free(s->dups);
    s->scratch = NULL;
    s->idbuf = NULL;
    s->dups = NULL;
    if (done)
        done(s);
}

static void check_done(er_server_t *s)
{
    if (!s->stopping || s->listeners[0].open || s->listeners[1].open || s->nconns > 0 ||
        s->done == NULL)
        return;
    if (uv_is_closing((uv_handle_t *)&s->drain_timer))
        return;
    uv_close((uv_handle_t *)&s->drain_timer, on_drain_timer_closed);
}

static void on_drain_timeout(uv_timer_t *t)
{
    er_server_t *s = t->data;

    if (s->nconns > 0)
        er_log(ER_LOG_WARN, COMPONENT,
               "shutdown_timeout reached: closing %u connection(s) that did not finish", s->nconns);
    while (s->conns)
        conn_close(s->conns);
}

void er__server_shutdown(er_server_t *s, const char *reason, er_server_done_cb done)
{
    er_conn_t *c, *next;

    if (s->stopping) {
        /* A second request: stop waiting for clients. */
        if (s->done)
            on_drain_timeout(&s->drain_timer);
        return;
    }
    s->stopping = true;
    s->done = done;
    if (s->publishing) {
        /* What plugins published before is taken now, from here. */
        s->publishing = false;
        er__host_publish_close();
    }
    listener_close(&s->listeners[ER_ROLE_PUBLISH]);
    listener_close(&s->listeners[ER_ROLE_ADMIN]);
    tails_stop(s);
    for (c = s->conns; c; c = next) {
        next = c->next;
        send_goaway(c, reason);
    }
    uv_timer_start(&s->drain_timer, on_drain_timeout, s->cfg->shutdown_timeout_ms, 0);
    check_done(s);
}
