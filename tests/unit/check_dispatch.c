/*
 * The retry back-off of a destination's policy (er__dispatch_backoff_ms):
 * initial × multiplier^(attempt-1), capped at max, spread by ±jitter, never
 * below 1 ms. The deliveries themselves are tested through the real daemon
 * (tests/integration/test_dispatch.sh).
 */
#include <check.h>
#include <stdlib.h>

#include "dispatch.h"

START_TEST(exponential_and_capped)
{
    er_retry_conf_t p = {.max_attempts = 10, .initial_ms = 100, .max_ms = 1000, .multiplier = 2};

    ck_assert_uint_eq(er__dispatch_backoff_ms(&p, 1), 100);
    ck_assert_uint_eq(er__dispatch_backoff_ms(&p, 2), 200);
    ck_assert_uint_eq(er__dispatch_backoff_ms(&p, 3), 400);
    ck_assert_uint_eq(er__dispatch_backoff_ms(&p, 4), 800);
    ck_assert_uint_eq(er__dispatch_backoff_ms(&p, 5), 1000);
    ck_assert_uint_eq(er__dispatch_backoff_ms(&p, 1000000), 1000); /* no overflow */
    p.multiplier = 1;
    ck_assert_uint_eq(er__dispatch_backoff_ms(&p, 7), 100);
    p.initial_ms = 0;
    ck_assert_uint_eq(er__dispatch_backoff_ms(&p, 1), 1);
}
END_TEST

START_TEST(jitter_within_bounds)
{
    er_retry_conf_t p = {
        .max_attempts = 5, .initial_ms = 1000, .max_ms = 30000, .multiplier = 2, .jitter = 0.2};
    uint64_t lo = UINT64_MAX, hi = 0, v;
    int i;

    for (i = 0; i < 10000; i++) {
        v = er__dispatch_backoff_ms(&p, 2); /* nominal 2000 */
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    ck_assert_uint_ge(lo, 1600);
    ck_assert_uint_le(hi, 2400);
    /* Spread, not a constant: both ends are reached closely. */
    ck_assert_uint_lt(lo, 1650);
    ck_assert_uint_gt(hi, 2350);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dispatch");
    TCase *tc = tcase_create("backoff");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, exponential_and_capped);
    tcase_add_test(tc, jitter_within_bounds);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
