/*
 * The de-duplication set (daemon/dedupe.c) against a simple model: random
 * inserts, lookups, expiries by age and forgets of the newest, checked at
 * every step — the ring evicts oldest first by count and by age, the
 * open-addressing table finds every remembered id and nothing else after
 * any sequence of backward-shift deletions, and growth keeps everything.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedupe.h"

/* The model: the remembered (id number, seq, time) in insertion order. */
typedef struct model_s {
    uint64_t *id, *seq;
    int64_t *t;
    size_t head, n, cap;
} model_t;

static void id_of(uint64_t k, char *buf, size_t cap)
{
    snprintf(buf, cap, "id-%llu", (unsigned long long)k);
}

static uint64_t model_find(const model_t *m, uint64_t k)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->id[m->head + i] == k)
            return m->seq[m->head + i];
    return 0;
}

static void check_all(er_dedupe_t *d, const model_t *m, uint64_t max_id)
{
    char buf[32];
    uint64_t h[2];

    ck_assert_uint_eq(d->count, m->n);
    for (uint64_t k = 0; k < max_id; k++) {
        id_of(k, buf, sizeof(buf));
        er__dedupe_hash(d, buf, strlen(buf), h);
        ck_assert_msg(er__dedupe_find(d, h) == model_find(m, k), "id %llu: set %llu, model %llu",
                      (unsigned long long)k, (unsigned long long)er__dedupe_find(d, h),
                      (unsigned long long)model_find(m, k));
    }
}

START_TEST(random_against_a_model)
{
    const size_t max = 700, ids = 3000, steps = 40000;
    er_dedupe_t d;
    model_t m;
    uint64_t seq = 1, h[2];
    int64_t now = 1000000;
    char buf[32];
    size_t step;

    srand(12345);
    memset(&m, 0, sizeof(m));
    m.cap = steps + 1;
    m.id = calloc(m.cap, sizeof(*m.id));
    m.seq = calloc(m.cap, sizeof(*m.seq));
    m.t = calloc(m.cap, sizeof(*m.t));
    ck_assert(m.id && m.seq && m.t);
    ck_assert_int_eq(er__dedupe_init(&d, max, 5000), 0); /* 5 s window */
    for (step = 0; step < steps; step++) {
        int op = rand() % 100;
        uint64_t k = (uint64_t)(rand() % (int)ids);

        now += rand() % 2000; /* µs: the 5 s window turns over several times */
        if (op < 70) {
            /* An event with id k: a duplicate if remembered, else new. */
            id_of(k, buf, sizeof(buf));
            er__dedupe_hash(&d, buf, strlen(buf), h);
            ck_assert_uint_eq(er__dedupe_find(&d, h), model_find(&m, k));
            if (model_find(&m, k) == 0) {
                ck_assert_int_eq(er__dedupe_insert(&d, h, seq, now), 0);
                if (m.n == max) { /* the set is full: the oldest goes */
                    m.head++;
                    m.n--;
                }
                m.id[m.head + m.n] = k;
                m.seq[m.head + m.n] = seq;
                m.t[m.head + m.n] = now;
                m.n++;
                seq++;
            }
        } else if (op < 95) {
            er__dedupe_expire(&d, now);
            while (m.n > 0 && m.t[m.head] < now - 5000000) {
                m.head++;
                m.n--;
            }
        } else {
            /* An append failed: its seqs (the newest few) are forgotten. */
            uint64_t from = seq > 3 ? seq - (uint64_t)(rand() % 3) : 1;
            er__dedupe_forget_from(&d, from);
            while (m.n > 0 && m.seq[m.head + m.n - 1] >= from)
                m.n--;
        }
        if (step % 997 == 0)
            check_all(&d, &m, ids);
    }
    check_all(&d, &m, ids);
    ck_assert_uint_le(d.cap, max);
    ck_assert_uint_ge(d.nslots, 2 * d.count);
    er__dedupe_free(&d);
    free(m.id);
    free(m.seq);
    free(m.t);
}
END_TEST

/* A set that is off (dedupe_window off) remembers nothing. */
START_TEST(window_off)
{
    er_dedupe_t d;
    uint64_t h[2];

    ck_assert_int_eq(er__dedupe_init(&d, 100, 0), 0);
    er__dedupe_hash(&d, "x", 1, h);
    ck_assert_int_eq(er__dedupe_insert(&d, h, 7, 1), 0);
    ck_assert_uint_eq(er__dedupe_find(&d, h), 0);
    ck_assert_uint_eq(er__dedupe_bytes(&d), 0);
    er__dedupe_free(&d);
}
END_TEST

/* Two sets hash the same id differently (a per-process secret), and one
 * set the same id the same way. */
START_TEST(keyed_hash)
{
    er_dedupe_t a, b;
    uint64_t ha[2], ha2[2], hb[2];

    ck_assert_int_eq(er__dedupe_init(&a, 10, 1000), 0);
    ck_assert_int_eq(er__dedupe_init(&b, 10, 1000), 0);
    er__dedupe_hash(&a, "order-42", 8, ha);
    er__dedupe_hash(&a, "order-42", 8, ha2);
    er__dedupe_hash(&b, "order-42", 8, hb);
    ck_assert(ha[0] == ha2[0] && ha[1] == ha2[1]);
    ck_assert(ha[0] != hb[0] || ha[1] != hb[1]);
    er__dedupe_free(&a);
    er__dedupe_free(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dedupe");
    TCase *tc = tcase_create("core");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, random_against_a_model);
    tcase_add_test(tc, window_off);
    tcase_add_test(tc, keyed_hash);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
