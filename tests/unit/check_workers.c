/*
 * The blocking handlers' worker threads (daemon/workers.c): jobs run off
 * the loop thread, in submission order per thread, their results come back
 * on the loop; the loop keeps turning while a job blocks; stopping hands
 * back the jobs not started (cancelled), lets the running one finish, and
 * closes only after every thread has exited.
 */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "workers.h"

typedef struct job_s {
    er_work_t work; /* first */
    int id;
    int sleep_ms;
    pthread_t ran_on;
    int result;
    bool done, cancelled;
} job_t;

static int order[16], norder;
static bool closed;
static int ticks;

static int run(er_work_t *w)
{
    job_t *j = (job_t *)w;
    j->ran_on = pthread_self();
    if (j->sleep_ms)
        usleep((useconds_t)j->sleep_ms * 1000);
    return 100 + j->id;
}

static void done(er_work_t *w, int result, bool cancelled)
{
    job_t *j = (job_t *)w;
    j->done = true;
    j->cancelled = cancelled;
    j->result = result;
    order[norder++] = j->id;
}

static void on_closed(er_workers_t *w, void *arg)
{
    (void)w;
    (void)arg;
    closed = true;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    ticks++;
}

static void init(job_t *j, int id, int sleep_ms)
{
    memset(j, 0, sizeof(*j));
    j->id = id;
    j->sleep_ms = sleep_ms;
    j->work.run = run;
    j->work.done = done;
}

START_TEST(runs_off_the_loop_and_stops_cleanly)
{
    uv_loop_t loop;
    uv_timer_t tick;
    er_workers_t *w;
    job_t j[4];
    int err;
    int i;

    norder = 0;
    closed = false;
    ticks = 0;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_ptr_nonnull(w = er__workers_start(&loop, 1, &err));
    init(&j[0], 0, 300); /* blocks its thread */
    for (i = 1; i < 4; i++)
        init(&j[i], i, 0);
    for (i = 0; i < 4; i++)
        er__workers_submit(w, &j[i].work);
    /* The loop turns while job 0 sleeps: a 10 ms timer fires many times. */
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_tick, 10, 10);
    while (!j[0].done)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_ge(ticks, 5);
    ck_assert(!pthread_equal(j[0].ran_on, pthread_self()));
    ck_assert_int_eq(j[0].result, 100);
    ck_assert(!j[0].cancelled);
    /* Let the rest finish, in order. */
    while (norder < 4)
        uv_run(&loop, UV_RUN_ONCE);
    for (i = 0; i < 4; i++) {
        ck_assert_int_eq(order[i], i);
        ck_assert_int_eq(j[i].result, 100 + i);
    }
    /* Stop with one running and two waiting: the running one finishes,
     * the waiting ones come back cancelled, then closed. */
    norder = 0;
    init(&j[0], 10, 200);
    init(&j[1], 11, 0);
    init(&j[2], 12, 0);
    for (i = 0; i < 3; i++)
        er__workers_submit(w, &j[i].work);
    usleep(50 * 1000); /* job 10 is running */
    er__workers_stop(w, on_closed, NULL);
    uv_close((uv_handle_t *)&tick, NULL);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(norder, 3);
    ck_assert(j[0].done && !j[0].cancelled);
    ck_assert_int_eq(j[0].result, 110);
    ck_assert(j[1].done && j[1].cancelled);
    ck_assert(j[2].done && j[2].cancelled);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(several_threads_share_the_queue)
{
    uv_loop_t loop;
    er_workers_t *w;
    job_t j[8];
    int err;
    struct timespec a, b;
    int i, n = 0;

    norder = 0;
    closed = false;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_ptr_nonnull(w = er__workers_start(&loop, 4, &err));
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (i = 0; i < 8; i++) {
        init(&j[i], i, 200);
        er__workers_submit(w, &j[i].work);
    }
    while (norder < 8)
        uv_run(&loop, UV_RUN_ONCE);
    clock_gettime(CLOCK_MONOTONIC, &b);
    /* 8 × 200 ms on 4 threads: about 400 ms, far less than 1600. */
    ck_assert_int_lt((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000, 1400);
    for (i = 0; i < 8; i++)
        n += !j[i].cancelled;
    ck_assert_int_eq(n, 8);
    er__workers_stop(w, on_closed, NULL);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("workers");
    TCase *tc = tcase_create("workers");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, runs_off_the_loop_and_stops_cleanly);
    tcase_add_test(tc, several_threads_share_the_queue);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
