/*
 * A destination's progress (daemon/track.c) as a property test: a
 * simulated destination walks a sequence where a random subset of seqs is
 * routed to it, with a window of deliveries in flight, completions in any
 * order, retries that hold their slot, pauses, operator cursor moves
 * (replays and skips) and restarts from the persisted cursor — random
 * interleavings, checked at every step against a model that knows each
 * seq's status:
 *
 *   - the low-water mark is exactly the highest seq below which every seq
 *     is settled (not routed here, done, or moved past by an operator);
 *   - it never passes a delivery still in flight, and never moves back
 *     except by an operator's move;
 *   - after any run, every routed seq was delivered at least once, and a
 *     seq was delivered again only if a restart found it after the
 *     persisted cursor or an operator replayed it.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "track.h"

#define N 4000

enum { UNSEEN = 0, SKIPPED, INFLIGHT, DONE };

typedef struct sim_s {
    er_track_t t;
    bool routed[N + 2];
    int status[N + 2];
    unsigned delivered[N + 2];
    bool may_repeat[N + 2]; /* a restart or a replay allows a second delivery */
    /* Deliveries in flight: seq, slot, and whether it began before the
     * last reset (then its completion must not count). */
    struct {
        uint64_t seq, slot;
        bool stale;
    } fl[4 * N];
    size_t nfl;
    uint64_t scan;      /* the model's next seq to examine */
    uint64_t base;      /* every seq below it is settled (last reset/restart) */
    uint64_t mlow;      /* the model's low-water mark, last computed */
    uint64_t last_low;  /* monotone check */
    uint64_t persisted; /* the cursor "written to the store" */
    size_t window;
    bool paused;
    unsigned seed, seed0;
} sim_t;

static unsigned rnd(sim_t *s, unsigned n)
{
    return (unsigned)(rand_r(&s->seed) % n);
}

static size_t live_inflight(const sim_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nfl; i++)
        n += !s->fl[i].stale;
    return n;
}

/* The model's low-water mark: every seq from base up to it is settled.
 * (Settled seqs stay settled until a reset or restart moves base, so the
 * walk goes on from the previous answer.) */
static uint64_t model_low(sim_t *s)
{
    uint64_t q = s->mlow + 1 > s->base ? s->mlow + 1 : s->base;
    while (q < s->scan && (s->status[q] == SKIPPED || s->status[q] == DONE))
        q++;
    s->mlow = q - 1;
    return s->mlow;
}

/* Checked at every step: plain comparisons, since every ck_assert marks
 * its place through a pipe (millions of writes here). */
static void check(sim_t *s)
{
    uint64_t low = er__track_low(&s->t), model = model_low(s);

    if (low != model)
        ck_abort_msg("seed %u: low %llu, model %llu", s->seed0, (unsigned long long)low,
                     (unsigned long long)model);
    if (low < s->last_low)
        ck_abort_msg("seed %u: low went back from %llu to %llu", s->seed0,
                     (unsigned long long)s->last_low, (unsigned long long)low);
    if (s->t.scan != s->scan)
        ck_abort_msg("seed %u: scan %llu, model %llu", s->seed0, (unsigned long long)s->t.scan,
                     (unsigned long long)s->scan);
    for (size_t i = 0; i < s->nfl; i++)
        if (!s->fl[i].stale && s->fl[i].seq <= low)
            ck_abort_msg("seed %u: low %llu passed seq %llu in flight", s->seed0,
                         (unsigned long long)low, (unsigned long long)s->fl[i].seq);
    s->last_low = low;
}

static void begin_next(sim_t *s)
{
    uint64_t q = s->scan;

    if (q > N || s->paused || live_inflight(s) >= s->window)
        return;
    if (!s->routed[q]) {
        er__track_skip(&s->t, q + 1);
        s->status[q] = SKIPPED;
    } else {
        if (er__track_begin(&s->t, q, &s->fl[s->nfl].slot) != 0)
            ck_abort_msg("out of memory");
        s->fl[s->nfl].seq = q;
        s->fl[s->nfl].stale = false;
        s->nfl++;
        s->status[q] = INFLIGHT;
        s->delivered[q]++;
        if (s->delivered[q] > 1 && !s->may_repeat[q])
            ck_abort_msg("seed %u: seq %llu delivered twice without a restart or replay", s->seed0,
                         (unsigned long long)q);
    }
    s->scan = q + 1;
}

/* A delivery in flight finishes: done (OK or dead-lettered), or RETRY
 * (it keeps its slot and goes on later). */
static void complete_one(sim_t *s)
{
    size_t i;

    if (s->nfl == 0)
        return;
    i = rnd(s, (unsigned)s->nfl);
    if (!s->fl[i].stale && rnd(s, 4) == 0)
        return; /* RETRY: still in flight */
    er__track_done(&s->t, s->fl[i].slot);
    if (!s->fl[i].stale)
        s->status[s->fl[i].seq] = DONE;
    s->fl[i] = s->fl[--s->nfl];
}

/* Settle everything below seq, forget the rest from seq on. */
static void restart_at(sim_t *s, uint64_t seq)
{
    for (uint64_t q = seq; q <= N; q++) {
        if (s->status[q] != UNSEEN)
            s->may_repeat[q] = true;
        s->status[q] = UNSEEN;
    }
    for (uint64_t q = 1; q < seq && q <= N; q++)
        if (s->status[q] == UNSEEN || s->status[q] == INFLIGHT)
            s->status[q] = DONE; /* moved past */
    s->scan = seq;
    s->base = seq;
    s->mlow = seq - 1;
    s->last_low = seq - 1;
}

/* An operator moves the cursor: deliveries in flight finish but no longer
 * count. */
static void cursor_set(sim_t *s)
{
    /* Back (a replay) or ahead (a skip), by up to 100. */
    uint64_t seq = s->scan + rnd(s, 200) > 100 ? s->scan + rnd(s, 200) - 100 : 0;

    if (seq > N)
        seq = N;
    er__track_reset(&s->t, seq + 1);
    for (size_t i = 0; i < s->nfl; i++)
        s->fl[i].stale = true;
    restart_at(s, seq + 1);
}

/* The daemon restarts from the persisted cursor (a crash: what was done
 * after it is delivered again). */
static void restart(sim_t *s)
{
    er__track_free(&s->t);
    ck_assert_int_eq(er__track_init(&s->t, s->persisted + 1), 0);
    s->nfl = 0;
    restart_at(s, s->persisted + 1);
}

static void run(unsigned seed, size_t window)
{
    sim_t *s = calloc(1, sizeof(*s));
    unsigned steps = 0;

    ck_assert_ptr_nonnull(s);
    s->seed = s->seed0 = seed;
    s->window = window;
    for (uint64_t q = 1; q <= N; q++)
        s->routed[q] = rnd(s, 10) < 7;
    s->scan = s->base = 1;
    ck_assert_int_eq(er__track_init(&s->t, 1), 0);
    check(s);
    /* Random interleavings until everything is delivered and settled. */
    while (model_low(s) < N || s->nfl > 0) {
        unsigned r = rnd(s, 1000);
        if (++steps >= 1000000)
            ck_abort_msg("seed %u: no end after %u steps", s->seed0, steps);
        if (r < 500) {
            begin_next(s);
        } else if (r < 900) {
            complete_one(s);
        } else if (r < 950) {
            s->persisted = er__track_low(&s->t); /* a cursor write completes */
        } else if (r < 980) {
            s->paused = !s->paused;
        } else if (r < 985 && steps < 30000) {
            cursor_set(s);
        } else if (r < 988 && steps < 30000) {
            restart(s);
        } else if (s->paused && r < 995) {
            s->paused = false;
        }
        check(s);
    }
    er__track_free(&s->t);
    free(s);
}

/* Without operator moves every routed seq is delivered at least once. */
static void run_at_least_once(unsigned seed)
{
    sim_t *s = calloc(1, sizeof(*s));
    unsigned steps = 0;

    ck_assert_ptr_nonnull(s);
    s->seed = s->seed0 = seed;
    s->window = 1 + seed % 64;
    for (uint64_t q = 1; q <= N; q++)
        s->routed[q] = rnd(s, 10) < 7;
    s->scan = s->base = 1;
    ck_assert_int_eq(er__track_init(&s->t, 1), 0);
    while (model_low(s) < N || s->nfl > 0) {
        unsigned r = rnd(s, 1000);
        if (++steps >= 1000000)
            ck_abort_msg("seed %u: no end after %u steps", s->seed0, steps);
        if (r < 500)
            begin_next(s);
        else if (r < 900)
            complete_one(s);
        else if (r < 960)
            s->persisted = er__track_low(&s->t);
        else if (r < 990)
            s->paused = !s->paused;
        else if (r < 993 && steps < 30000)
            restart(s);
        else
            s->paused = false;
        check(s);
    }
    for (uint64_t q = 1; q <= N; q++)
        if (s->routed[q])
            ck_assert_msg(s->delivered[q] >= 1, "seed %u: seq %llu never delivered", seed,
                          (unsigned long long)q);
    er__track_free(&s->t);
    free(s);
}

START_TEST(interleavings)
{
    for (unsigned seed = 1; seed <= 200; seed++)
        run(seed, 1 + seed % 32);
}
END_TEST

START_TEST(at_least_once_across_restarts)
{
    for (unsigned seed = 1000; seed < 1200; seed++)
        run_at_least_once(seed);
}
END_TEST

START_TEST(completions_out_of_order)
{
    er_track_t t;
    uint64_t a, b, c;

    ck_assert_int_eq(er__track_init(&t, 10), 0);
    ck_assert_uint_eq(er__track_low(&t), 9);
    er__track_skip(&t, 12); /* 10, 11 not routed here */
    ck_assert_uint_eq(er__track_low(&t), 11);
    ck_assert_int_eq(er__track_begin(&t, 12, &a), 0);
    ck_assert_int_eq(er__track_begin(&t, 15, &b), 0); /* 13, 14 skipped */
    ck_assert_int_eq(er__track_begin(&t, 16, &c), 0);
    ck_assert_uint_eq(er__track_low(&t), 11);
    ck_assert_uint_eq(er__track_oldest(&t), 12);
    er__track_done(&t, c);
    er__track_done(&t, b);
    ck_assert_uint_eq(er__track_low(&t), 11); /* 12 still in flight */
    er__track_done(&t, a);
    ck_assert_uint_eq(er__track_low(&t), 16);
    ck_assert_uint_eq(er__track_inflight(&t), 0);
    /* A reset forgets what is in flight; its finish is ignored. */
    ck_assert_int_eq(er__track_begin(&t, 20, &a), 0);
    er__track_reset(&t, 5);
    ck_assert_uint_eq(er__track_low(&t), 4);
    er__track_done(&t, a);
    ck_assert_uint_eq(er__track_low(&t), 4);
    er__track_free(&t);
}
END_TEST

START_TEST(grows_past_its_first_ring)
{
    er_track_t t;
    uint64_t slots[1000];

    ck_assert_int_eq(er__track_init(&t, 1), 0);
    for (uint64_t q = 1; q <= 1000; q++)
        ck_assert_int_eq(er__track_begin(&t, q, &slots[q - 1]), 0);
    for (size_t i = 999; i >= 1; i--)
        er__track_done(&t, slots[i]);
    ck_assert_uint_eq(er__track_low(&t), 0);
    er__track_done(&t, slots[0]);
    ck_assert_uint_eq(er__track_low(&t), 1000);
    er__track_free(&t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("track");
    TCase *tc = tcase_create("track");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, completions_out_of_order);
    tcase_add_test(tc, grows_past_its_first_ring);
    tcase_add_test(tc, interleavings);
    tcase_add_test(tc, at_least_once_across_restarts);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
