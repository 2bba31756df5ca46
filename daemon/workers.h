/*
 * Worker threads for the blocking handlers (DESIGN §7, §8): a pool of
 * threads of its own per destination (`concurrency`), never libuv's thread
 * pool, so a handler that blocks for seconds holds only its own threads.
 * Jobs are taken in submission order; each runs on a worker, and its
 * result comes back to the loop thread through a mailbox (lib/mailbox.c).
 *
 * Threads: start, submit, stop on the loop thread; run() on a worker;
 * done() on the loop thread.
 */
#ifndef ER_WORKERS_H
#define ER_WORKERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "mailbox.h"

typedef struct er_work_s er_work_t;
typedef struct er_workers_s er_workers_t;

/* A job: embed it in your own struct. */
struct er_work_s {
    er_mail_t mail; /* the way back to the loop */
    er_work_t *next;
    /* On a worker: do the work, return its result. */
    int (*run)(er_work_t *w);
    /* On the loop: result is run()'s, or cancelled is true when the pool
     * stopped before the job ran (run() was never called). */
    void (*done)(er_work_t *w, int result, bool cancelled);
    int result;
    bool cancelled;
};

typedef void (*er_workers_closed_cb)(er_workers_t *w, void *arg);

struct er_workers_s {
    /* Private. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    er_work_t *head, *tail; /* waiting, guarded by lock */
    bool quit;              /* guarded by lock */
    uv_thread_t *threads;
    size_t n, running, exited;
    struct er_workers_exit_s *exits; /* one mail per thread: "I am done" */
    er_mailbox_t mb;
    bool stopping;
    er_workers_closed_cb closed;
    void *closed_arg;
};

/* Start a pool of n threads. Returns it, or NULL with *err a negative
 * errno (the threads that started are stopped and the pool freed by
 * itself). */
er_workers_t *er__workers_start(uv_loop_t *loop, size_t n, int *err);

/* Queue job (the pool's until its done() runs). Not after stop. */
void er__workers_submit(er_workers_t *w, er_work_t *job);

/*
 * Stop: jobs not yet started are handed back (done with cancelled), the
 * running ones finish (their done() runs as usual), every thread is joined
 * once it has said it exited (the loop never waits for a job), then
 * closed(w, arg) runs (closed may be NULL) on a later loop turn and the
 * pool frees itself.
 */
void er__workers_stop(er_workers_t *w, er_workers_closed_cb closed, void *arg);

#endif
