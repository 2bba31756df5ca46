/*
 * The raw baseline for the ingest and latency benchmarks: the least a
 * server can do with the same frames — a libuv reader that answers HELLO
 * with WELCOME, decodes every event of every PUBLISH/PUBLISH_BATCH with the
 * same decoder, and ACKs each request with a counter. No envelope
 * completion, no ids, no logging, no limits. eventrouterd's figures are
 * printed as ratios against this one, measured in the same run.
 *
 * usage: raw_server SOCKET_PATH   (runs until SIGTERM/SIGINT)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "frame.h"
#include "proto.h"

typedef struct rconn_s {
    uv_pipe_t pipe;
    er_framer_t fr;
    er_buf_t out;
    er_buf_t wbuf;
    uv_write_t wreq;
    int writing;
} rconn_t;

static uint64_t next_seq = 1;
static er_event_t scratch[4096];

static void on_write(uv_write_t *req, int status);

static void flush(rconn_t *c)
{
    er_buf_t t;
    uv_buf_t b;
    if (c->writing || c->out.len == 0)
        return;
    t = c->wbuf;
    c->wbuf = c->out;
    c->out = t;
    c->out.len = 0;
    b = uv_buf_init((char *)c->wbuf.data, (unsigned)c->wbuf.len);
    if (uv_write(&c->wreq, (uv_stream_t *)&c->pipe, &b, 1, on_write) == 0)
        c->writing = 1;
}

static void on_write(uv_write_t *req, int status)
{
    rconn_t *c = req->data;
    c->writing = 0;
    if (status == 0)
        flush(c);
}

static void on_close(uv_handle_t *h)
{
    rconn_t *c = h->data;
    er__framer_free(&c->fr);
    er__buf_free(&c->out);
    er__buf_free(&c->wbuf);
    free(c);
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
    rconn_t *c = h->data;
    uint8_t *p;
    size_t n;
    (void)sz;
    if (er__framer_space(&c->fr, 1, &p, &n) != 0)
        *buf = uv_buf_init(NULL, 0);
    else
        *buf = uv_buf_init((char *)p, (unsigned)n);
}

static void handle(rconn_t *c, const uint8_t *p, size_t n)
{
    er_msg_t m;
    er_mp_reader_t r;
    er_error_t err;
    uint32_t cnt = 1, i;

    if (er__msg_parse(p, n, &m, &err) != 0)
        return;
    switch (m.op) {
    case ER_OP_HELLO: {
        er_welcome_t w = {1, false, ER_DEFAULT_MAX_FRAME, ER_DEFAULT_MAX_EVENT_SIZE,
                          ER_DEFAULT_MAX_BATCH, ER_DEFAULT_MAX_INFLIGHT};
        er__welcome_encode(&c->out, &w);
        return;
    }
    case ER_OP_PUBLISH:
        er__mp_init(&r, m.body, m.body_len);
        if (er__event_read(&r, &scratch[0], ER_VALIDATE_CLIENT, ER_DEFAULT_MAX_EVENT_SIZE,
                           &err) != 0)
            return;
        break;
    case ER_OP_PUBLISH_BATCH:
        if (er__batch_begin(&m, &r, &cnt, ER_DEFAULT_MAX_BATCH, &err) != 0)
            return;
        for (i = 0; i < cnt; i++)
            if (er__event_read(&r, &scratch[i], ER_VALIDATE_CLIENT, ER_DEFAULT_MAX_EVENT_SIZE,
                               &err) != 0)
                return;
        break;
    case ER_OP_PING:
        er__nil_encode(&c->out, ER_OP_PONG, m.req);
        return;
    default:
        return;
    }
    er__ack_encode(&c->out, m.req, next_seq, cnt, NULL, 0);
    next_seq += cnt;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    rconn_t *c = s->data;
    const uint8_t *p;
    size_t n;
    (void)buf;
    if (nread < 0) {
        uv_close((uv_handle_t *)&c->pipe, on_close);
        return;
    }
    er__framer_commit(&c->fr, (size_t)nread);
    while (er__framer_next(&c->fr, &p, &n) == 1)
        handle(c, p, n);
    flush(c);
}

static void on_conn(uv_stream_t *l, int status)
{
    rconn_t *c;
    if (status < 0)
        return;
    c = calloc(1, sizeof(*c));
    uv_pipe_init(l->loop, &c->pipe, 0);
    c->pipe.data = c;
    c->wreq.data = c;
    er__framer_init(&c->fr, ER_DEFAULT_MAX_FRAME);
    if (uv_accept(l, (uv_stream_t *)&c->pipe) != 0) {
        uv_close((uv_handle_t *)&c->pipe, on_close);
        return;
    }
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

static void on_signal(uv_signal_t *h, int sig)
{
    (void)sig;
    uv_stop(h->loop);
}

int main(int argc, char **argv)
{
    uv_loop_t *loop = uv_default_loop();
    uv_pipe_t l;
    uv_signal_t st, si;

    if (argc != 2) {
        fprintf(stderr, "usage: raw_server SOCKET_PATH\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    unlink(argv[1]);
    uv_pipe_init(loop, &l, 0);
    if (uv_pipe_bind(&l, argv[1]) != 0 || uv_listen((uv_stream_t *)&l, 511, on_conn) != 0) {
        perror(argv[1]);
        return 1;
    }
    uv_signal_init(loop, &st);
    uv_signal_init(loop, &si);
    uv_signal_start(&st, on_signal, SIGTERM);
    uv_signal_start(&si, on_signal, SIGINT);
    uv_run(loop, UV_RUN_DEFAULT);
    unlink(argv[1]);
    return 0;
}
