/*
 * libFuzzer harness for everything that reads wire bytes: the streaming
 * framer (fed in chunks whose sizes come from the input), the frame header,
 * every body decoder, and the event decoder. A decoded event is re-encoded
 * and decoded again, which must succeed: what the decoder accepts, the
 * encoder can write and the decoder reads back.
 *
 * ADMIN and REPLY bodies go through the msgpack → JSON reader.
 *
 * Build and run: make fuzz (FUZZ_SECONDS, default 60). Seeds: corpus/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "frame.h"
#include "proto.h"

static void check_round_trip(const er_event_t *ev)
{
    er_buf_t b = ER_BUF_INIT;
    er_mp_reader_t r;
    er_event_t back;
    er_error_t err;

    if (er__event_pack(&b, ev) != 0)
        abort();
    er__mp_init(&r, b.data, b.len);
    if (er__event_read(&r, &back, 0, SIZE_MAX, &err) != 0 || er__mp_left(&r) != 0)
        abort();
    if (back.type.len != ev->type.len || back.seq != ev->seq || back.meta_count != ev->meta_count)
        abort();
    er__buf_free(&b);
}

static void decode_frame(const uint8_t *p, size_t n)
{
    er_msg_t m;
    er_error_t err;
    er_event_t ev;
    er_mp_reader_t r;
    er_hello_t h;
    er_welcome_t w;
    er_ack_t ack;
    er_dup_t dups[8];
    er_nack_t nack;
    char reason[64];
    uint32_t cnt, i;

    if (er__msg_parse(p, n, &m, &err) != 0)
        return;
    switch (m.op) {
    case ER_OP_HELLO:
        er__hello_decode(&m, &h, &err);
        break;
    case ER_OP_PUBLISH:
        er__mp_init(&r, m.body, m.body_len);
        if (er__event_read(&r, &ev, ER_VALIDATE_CLIENT, 1u << 20, &err) == 0)
            check_round_trip(&ev);
        break;
    case ER_OP_PUBLISH_BATCH:
        if (er__batch_begin(&m, &r, &cnt, 1024, &err) != 0)
            break;
        for (i = 0; i < cnt; i++) {
            if (er__event_read(&r, &ev, 0, 1u << 20, &err) != 0)
                break;
            check_round_trip(&ev);
        }
        if (i == cnt)
            er__batch_end(&r, &err);
        break;
    case ER_OP_WELCOME:
        er__welcome_decode(&m, &w, &err);
        break;
    case ER_OP_ACK:
        er__ack_decode(&m, &ack, dups, 8, &err);
        break;
    case ER_OP_NACK:
        er__nack_decode(&m, &nack, &err);
        break;
    case ER_OP_GOAWAY:
        er__goaway_decode(&m, reason, sizeof(reason), &err);
        break;
    case ER_OP_ADMIN: {
        er_str_t cmd;
        json_t *args;
        if (er__admin_decode(&m, &cmd, &args, &err) == 0)
            json_decref(args);
        break;
    }
    case ER_OP_REPLY: {
        json_t *reply;
        if (er__reply_decode(&m, &reply, &err) == 0)
            json_decref(reply);
        break;
    }
    default:
        er__nil_decode(&m, &err);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    er_framer_t f;
    size_t off = 1, chunk;
    const uint8_t *p;
    size_t n;
    int rc;

    if (size < 1)
        return 0;
    /* The first byte picks the read size, so frames straddle reads. */
    chunk = (size_t)data[0] % 64 + 1;
    er__framer_init(&f, 64 * 1024);
    while (off < size) {
        uint8_t *space;
        size_t avail, take;
        if (er__framer_space(&f, 1, &space, &avail) != 0)
            abort();
        take = size - off < chunk ? size - off : chunk;
        if (take > avail)
            take = avail;
        memcpy(space, data + off, take);
        er__framer_commit(&f, take);
        off += take;
        while ((rc = er__framer_next(&f, &p, &n)) == 1)
            decode_frame(p, n);
        if (rc < 0)
            break;
        if (f.cap > ER_FRAME_HDR + 64 * 1024 && f.cap > 64 * 1024)
            abort(); /* never more than one max_frame buffered */
    }
    er__framer_free(&f);
    return 0;
}
