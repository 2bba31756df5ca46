/*
 * Unit tests of the streaming framer (lib/frame.c): frames fed one byte at
 * a time and many at once, refusal of length 0 and of lengths above
 * max_frame from the 4 header bytes alone, the memory bound (the buffer
 * never grows past 4 + max_frame, whatever a peer claims), giving memory
 * back after a large frame, and the partial/expected accessors the daemon
 * logs from.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "eventrouter.h"
#include "frame.h"

/* The framer's initial capacity (frame.c INITIAL_CAP); a frame larger than
 * this makes the buffer grow, and shrink gives the memory back. */
#define INITIAL 65536u

/* --------------------------------------------------------------- helpers */

/* Append a frame with payload bytes i*7+len (so each frame is
 * recognisable) to out; returns the new length. */
static size_t put_frame(uint8_t *out, size_t off, size_t len)
{
    size_t i;
    out[off] = (uint8_t)(len >> 24);
    out[off + 1] = (uint8_t)(len >> 16);
    out[off + 2] = (uint8_t)(len >> 8);
    out[off + 3] = (uint8_t)len;
    for (i = 0; i < len; i++)
        out[off + 4 + i] = (uint8_t)(i * 7 + len);
    return off + 4 + len;
}

/* Hot loops test with plain ifs: each passing ck_assert costs Check a
 * write(2) to record the checkpoint. */
static void check_payload(const uint8_t *p, size_t got, size_t len)
{
    size_t i;
    if (got != len)
        ck_abort_msg("frame of %zu bytes, expected %zu", got, len);
    for (i = 0; i < len; i++)
        if (p[i] != (uint8_t)(i * 7 + len))
            ck_abort_msg("payload byte %zu of %zu", i, len);
}

/* Feed n bytes in reads of at most `chunk` bytes (each read also bounded
 * by the space handed out), asserting the memory bound after every read.
 * After each read, frames are taken and their lengths appended to lens[]
 * (checked for content). Returns how many frames came out, or the error
 * er__framer_next returned. */
static int feed(er_framer_t *f, const uint8_t *data, size_t n, size_t chunk, const size_t *lens,
                size_t maxlens)
{
    size_t done = 0, count = 0;

    while (done < n) {
        uint8_t *p;
        size_t room, k;
        const uint8_t *payload;
        size_t len;
        int rc;

        if (er__framer_space(f, 1, &p, &room) != 0)
            ck_abort_msg("er__framer_space failed");
        if (room < 1)
            ck_abort_msg("no space handed out");
        if (f->cap > ER_FRAME_HDR + f->max_frame)
            ck_abort_msg("buffer %zu above 4 + max_frame %zu", f->cap, f->max_frame);
        k = n - done;
        if (k > chunk)
            k = chunk;
        if (k > room)
            k = room;
        memcpy(p, data + done, k);
        er__framer_commit(f, k);
        done += k;
        while ((rc = er__framer_next(f, &payload, &len)) == 1) {
            if (count >= maxlens)
                ck_abort_msg("more frames than were sent");
            check_payload(payload, len, lens[count]);
            count++;
        }
        if (rc < 0)
            return rc;
    }
    return (int)count;
}

/* ------------------------------------------------------------------ tests */

START_TEST(test_single_frame)
{
    er_framer_t f;
    uint8_t data[64];
    size_t n = put_frame(data, 0, 10), lens[] = {10};

    er__framer_init(&f, 1024);
    ck_assert_int_eq(feed(&f, data, n, n, lens, 1), 1);
    ck_assert_uint_eq(er__framer_partial(&f), 0);
    ck_assert_uint_eq(er__framer_expected(&f), 0);
    er__framer_free(&f);
    ck_assert_ptr_null(f.buf);
}
END_TEST

START_TEST(test_byte_at_a_time)
{
    static const size_t sizes[] = {1, 2, 3, 100, 1, 1000, 5, 4096};
    size_t n = 0, i;
    uint8_t *data = malloc(16384);
    er_framer_t f;

    ck_assert(data != NULL);
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        n = put_frame(data, n, sizes[i]);
    er__framer_init(&f, 4096);
    ck_assert_int_eq(feed(&f, data, n, 1, sizes, 8), 8);
    ck_assert_uint_eq(er__framer_partial(&f), 0);
    er__framer_free(&f);
    free(data);
}
END_TEST

START_TEST(test_partial_and_expected)
{
    er_framer_t f;
    uint8_t data[64], *p;
    size_t n = put_frame(data, 0, 10), room, len, k;
    const uint8_t *payload;

    er__framer_init(&f, 1024);
    for (k = 0; k < n; k++) {
        ck_assert_uint_eq(er__framer_partial(&f), k);
        ck_assert_uint_eq(er__framer_expected(&f), k < 4 ? 0 : 10);
        ck_assert_int_eq(er__framer_next(&f, &payload, &len), 0);
        ck_assert_int_eq(er__framer_space(&f, 1, &p, &room), 0);
        *p = data[k];
        er__framer_commit(&f, 1);
    }
    ck_assert_uint_eq(er__framer_partial(&f), 14);
    ck_assert_int_eq(er__framer_next(&f, &payload, &len), 1);
    check_payload(payload, len, 10);
    ck_assert_uint_eq(er__framer_partial(&f), 0);
    ck_assert_uint_eq(er__framer_expected(&f), 0);
    ck_assert_int_eq(er__framer_next(&f, &payload, &len), 0);
    er__framer_free(&f);
}
END_TEST

START_TEST(test_many_frames_one_read)
{
    enum { N = 2000 };
    static size_t lens[N];
    size_t n = 0, i;
    uint8_t *data = malloc(N * (4 + 40));
    er_framer_t f;
    uint8_t *p;
    size_t room, len;
    const uint8_t *payload[N];
    size_t plen[N];

    ck_assert(data != NULL);
    for (i = 0; i < N; i++) {
        lens[i] = 1 + i % 40;
        n = put_frame(data, n, lens[i]);
    }
    ck_assert_uint_lt(n, INITIAL);
    er__framer_init(&f, INITIAL);
    ck_assert_int_eq(er__framer_space(&f, n, &p, &room), 0);
    ck_assert_uint_ge(room, n);
    memcpy(p, data, n);
    er__framer_commit(&f, n);
    /* Every frame comes out of one read, and each view stays valid until
     * the next er__framer_space. */
    for (i = 0; i < N; i++)
        if (er__framer_next(&f, &payload[i], &plen[i]) != 1)
            ck_abort_msg("frame %zu did not come out", i);
    ck_assert_int_eq(er__framer_next(&f, &payload[0], &len), 0);
    for (i = 0; i < N; i++)
        check_payload(payload[i], plen[i], lens[i]);
    er__framer_free(&f);
    free(data);
}
END_TEST

START_TEST(test_frames_split_across_reads)
{
    /* A deterministic mix of frame sizes and read sizes, including frames
     * larger than the initial buffer and max_frame exactly. */
    enum { N = 300 };
    size_t lens[N], n = 0, i, chunk;
    const size_t max_frame = 200000;
    uint8_t *data;
    uint32_t x = 12345;
    size_t total = 0;

    for (i = 0; i < N; i++) {
        x = x * 1103515245 + 12345;
        lens[i] = 1 + (x >> 8) % (i % 50 == 0 ? max_frame : 3000);
        if (i == 7)
            lens[i] = max_frame;
        total += 4 + lens[i];
    }
    data = malloc(total);
    ck_assert(data != NULL);
    for (i = 0; i < N; i++)
        n = put_frame(data, n, lens[i]);
    for (chunk = 1; chunk <= 1u << 20; chunk = chunk * 7 + 3) {
        er_framer_t f;
        er__framer_init(&f, max_frame);
        ck_assert_int_eq(feed(&f, data, n, chunk, lens, N), N);
        ck_assert_uint_eq(er__framer_partial(&f), 0);
        er__framer_free(&f);
    }
    free(data);
}
END_TEST

START_TEST(test_zero_length)
{
    er_framer_t f;
    static const uint8_t zero[4] = {0, 0, 0, 0};
    uint8_t data[32];
    size_t n, lens[] = {3};
    const uint8_t *payload;
    size_t len;

    /* Alone. */
    er__framer_init(&f, 1024);
    ck_assert_int_eq(feed(&f, zero, 4, 4, NULL, 0), ER_EFRAME);
    /* It stays refused: the stream cannot resynchronise. */
    ck_assert_int_eq(er__framer_next(&f, &payload, &len), ER_EFRAME);
    er__framer_free(&f);

    /* After a good frame, in the same read: the good frame comes first. */
    n = put_frame(data, 0, 3);
    memcpy(data + n, zero, 4);
    er__framer_init(&f, 1024);
    {
        uint8_t *p;
        size_t room;
        ck_assert_int_eq(er__framer_space(&f, 1, &p, &room), 0);
        memcpy(p, data, n + 4);
        er__framer_commit(&f, n + 4);
    }
    ck_assert_int_eq(er__framer_next(&f, &payload, &len), 1);
    check_payload(payload, len, lens[0]);
    ck_assert_int_eq(er__framer_next(&f, &payload, &len), ER_EFRAME);
    er__framer_free(&f);
}
END_TEST

/* Feed only the 4 header bytes of a frame claiming `claim` bytes. */
static int header_only(size_t max_frame, uint32_t claim, er_framer_t *f)
{
    uint8_t hdr[4] = {(uint8_t)(claim >> 24), (uint8_t)(claim >> 16), (uint8_t)(claim >> 8),
                      (uint8_t)claim};
    uint8_t *p;
    size_t room, len;
    const uint8_t *payload;
    int rc;

    er__framer_init(f, max_frame);
    ck_assert_int_eq(er__framer_space(f, 1, &p, &room), 0);
    ck_assert_uint_ge(room, 4);
    memcpy(p, hdr, 4);
    er__framer_commit(f, 4);
    rc = er__framer_next(f, &payload, &len);
    ck_assert_uint_eq(er__framer_expected(f), claim);
    ck_assert_uint_eq(er__framer_partial(f), 4);
    return rc;
}

START_TEST(test_too_big_from_header)
{
    er_framer_t f;
    uint8_t *p;
    size_t room;

    /* One above: refused before a payload byte arrives. */
    ck_assert_int_eq(header_only(1024, 1025, &f), ER_ETOOBIG);
    er__framer_free(&f);
    /* Exactly max_frame: wait for the bytes. */
    ck_assert_int_eq(header_only(1024, 1024, &f), 0);
    er__framer_free(&f);
    /* 4 GiB - 1: refused, and asking for space does not allocate what the
     * peer claims. */
    ck_assert_int_eq(header_only(1u << 20, 0xffffffffu, &f), ER_ETOOBIG);
    ck_assert_int_eq(er__framer_space(&f, 1, &p, &room), 0);
    ck_assert_uint_le(f.cap, 4 + (1u << 20));
    ck_assert_uint_le(f.cap, INITIAL);
    er__framer_free(&f);
    /* Just above the default max_frame. */
    ck_assert_int_eq(header_only(1u << 20, (1u << 20) + 1, &f), ER_ETOOBIG);
    er__framer_free(&f);
}
END_TEST

START_TEST(test_buffer_bound_small_max)
{
    /* max_frame below the initial capacity: the buffer is sized to one
     * frame, never the initial 64 KiB. */
    er_framer_t f;
    uint8_t data[4 * (4 + 100)], *p;
    size_t n = 0, i, room, lens[4] = {100, 1, 100, 50};

    for (i = 0; i < 4; i++)
        n = put_frame(data, n, lens[i]);
    er__framer_init(&f, 100);
    ck_assert_int_eq(er__framer_space(&f, 1, &p, &room), 0);
    ck_assert_uint_le(f.cap, 104);
    /* Even when asked for a lot. */
    ck_assert_int_eq(er__framer_space(&f, 1u << 20, &p, &room), 0);
    ck_assert_uint_le(f.cap, 104);
    ck_assert_int_eq(feed(&f, data, n, 7, lens, 4), 4);
    er__framer_free(&f);
}
END_TEST

START_TEST(test_buffer_grows_to_frame_only)
{
    /* A 300 KB frame under a 1 MiB max_frame: the buffer grows to hold
     * that frame, not max_frame. */
    const size_t len = 300000, max_frame = 1u << 20;
    uint8_t *data = malloc(4 + len), *p;
    size_t lens[] = {len}, room;
    er_framer_t f;

    ck_assert(data != NULL);
    put_frame(data, 0, len);
    er__framer_init(&f, max_frame);
    ck_assert_int_eq(er__framer_space(&f, 1, &p, &room), 0);
    memcpy(p, data, 4);
    er__framer_commit(&f, 4);
    ck_assert_int_eq(er__framer_space(&f, 1, &p, &room), 0);
    /* The whole frame fits in what is handed out now: one read can take it. */
    ck_assert_uint_ge(room, len);
    ck_assert_uint_le(f.cap, 4 + len);
    memcpy(p, data + 4, 1000);
    er__framer_commit(&f, 1000);
    ck_assert_int_eq(feed(&f, data + 1004, len - 1000, 1u << 20, lens, 1), 1);
    ck_assert_uint_le(f.cap, 4 + len);
    er__framer_free(&f);
    free(data);
}
END_TEST

START_TEST(test_shrink)
{
    const size_t len = 200000;
    uint8_t *data = malloc(2 * (4 + len)), *p;
    size_t lens[] = {len}, n, room;
    er_framer_t f;
    const uint8_t *payload;
    size_t plen;

    ck_assert(data != NULL);
    n = put_frame(data, 0, len);
    er__framer_init(&f, 1u << 20);
    ck_assert_int_eq(feed(&f, data, n, 65536, lens, 1), 1);
    ck_assert_uint_gt(f.cap, INITIAL);
    /* Nothing buffered and the buffer grew: the memory goes back. */
    er__framer_shrink(&f);
    ck_assert_ptr_null(f.buf);
    ck_assert_uint_eq(f.cap, 0);
    /* And the framer still works afterwards. */
    ck_assert_int_eq(feed(&f, data, n, 100000, lens, 1), 1);
    er__framer_shrink(&f);
    ck_assert_ptr_null(f.buf);

    /* With a partial frame buffered, shrink keeps everything. */
    ck_assert_int_eq(feed(&f, data, n, n, lens, 1), 1);
    ck_assert_int_eq(er__framer_space(&f, 1, &p, &room), 0);
    memcpy(p, data, 10);
    er__framer_commit(&f, 10);
    ck_assert_int_eq(er__framer_next(&f, &payload, &plen), 0);
    er__framer_shrink(&f);
    ck_assert_ptr_nonnull(f.buf);
    ck_assert_uint_eq(er__framer_partial(&f), 10);
    ck_assert_uint_eq(er__framer_expected(&f), len);
    ck_assert_int_eq(feed(&f, data + 10, n - 10, 4096, lens, 1), 1);
    er__framer_free(&f);

    /* A buffer that never grew past the initial size is kept. */
    er__framer_init(&f, 1u << 20);
    n = put_frame(data, 0, 10);
    lens[0] = 10;
    ck_assert_int_eq(feed(&f, data, n, n, lens, 1), 1);
    er__framer_shrink(&f);
    ck_assert_ptr_nonnull(f.buf);
    er__framer_free(&f);
    free(data);
}
END_TEST

START_TEST(test_compaction)
{
    /* Frames consumed from the front leave room that is reused: a stream
     * of frames through a max_frame-sized buffer never needs more. */
    enum { N = 500 };
    size_t lens[N], n = 0, i;
    uint8_t *data = malloc(N * (4 + 900));
    er_framer_t f;

    ck_assert(data != NULL);
    for (i = 0; i < N; i++) {
        lens[i] = 300 + (i * 37) % 600;
        n = put_frame(data, n, lens[i]);
    }
    er__framer_init(&f, 1000);
    ck_assert_int_eq(feed(&f, data, n, 333, lens, N), N);
    ck_assert_uint_le(f.cap, 1004);
    er__framer_free(&f);
    free(data);
}
END_TEST

START_TEST(test_min_read)
{
    er_framer_t f;
    uint8_t *p;
    size_t room;

    /* Without a header, what fits the initial buffer. */
    er__framer_init(&f, 1u << 20);
    ck_assert_int_eq(er__framer_space(&f, 1, &p, &room), 0);
    ck_assert_uint_ge(room, 1);
    ck_assert_uint_le(room, INITIAL);
    /* A larger min_read is honoured up to 4 + max_frame. */
    ck_assert_int_eq(er__framer_space(&f, 100000, &p, &room), 0);
    ck_assert_uint_ge(room, 100000);
    ck_assert_int_eq(er__framer_space(&f, 10u << 20, &p, &room), 0);
    ck_assert_uint_le(f.cap, 4 + (1u << 20));
    er__framer_free(&f);
}
END_TEST

START_TEST(test_free_twice)
{
    er_framer_t f;
    er__framer_init(&f, 10);
    er__framer_free(&f);
    er__framer_free(&f);
    er__framer_shrink(&f);
    ck_assert_ptr_null(f.buf);
}
END_TEST

static Suite *frame_suite(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("framing");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_single_frame);
    tcase_add_test(tc, test_byte_at_a_time);
    tcase_add_test(tc, test_partial_and_expected);
    tcase_add_test(tc, test_many_frames_one_read);
    tcase_add_test(tc, test_frames_split_across_reads);
    suite_add_tcase(s, tc);

    tc = tcase_create("refusals");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_zero_length);
    tcase_add_test(tc, test_too_big_from_header);
    suite_add_tcase(s, tc);

    tc = tcase_create("memory");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_buffer_bound_small_max);
    tcase_add_test(tc, test_buffer_grows_to_frame_only);
    tcase_add_test(tc, test_shrink);
    tcase_add_test(tc, test_compaction);
    tcase_add_test(tc, test_min_read);
    tcase_add_test(tc, test_free_twice);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(frame_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
