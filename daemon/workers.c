/*
 * Worker threads (see workers.h): a mutex-guarded FIFO of jobs with a
 * condition variable, and one mailbox that carries finished jobs and each
 * thread's exit back to the loop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "workers.h"

/* A thread's last mail: it will not post again. */
struct er_workers_exit_s {
    er_mail_t mail; /* first: a mail is its exit */
    er_workers_t *w;
};

/* Mails are either a job (er_work_t, whose first member is its mail) or
 * an exit; an exit's mail address lies inside w->exits. */
static bool is_exit(const er_workers_t *w, const er_mail_t *m)
{
    return (const char *)m >= (const char *)w->exits &&
           (const char *)m < (const char *)(w->exits + w->n);
}

static void on_mb_closed(er_mailbox_t *mb);

static void on_mail(er_mailbox_t *mb, er_mail_t *m)
{
    er_workers_t *w = mb->data;
    er_work_t *job;

    if (is_exit(w, m)) {
        w->exited++;
        if (w->stopping && w->exited == w->running) {
            /* Every thread said it is done: joining returns at once. */
            for (size_t i = 0; i < w->running; i++)
                uv_thread_join(&w->threads[i]);
            w->running = 0;
            er__mailbox_close(&w->mb, on_mb_closed);
        }
        return;
    }
    job = (er_work_t *)m;
    job->done(job, job->result, job->cancelled);
}

static void worker(void *arg)
{
    struct er_workers_exit_s *me = arg;
    er_workers_t *w = me->w;
    er_work_t *job;

    for (;;) {
        pthread_mutex_lock(&w->lock);
        while (!w->quit && w->head == NULL)
            pthread_cond_wait(&w->cond, &w->lock);
        if (w->quit) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        job = w->head;
        w->head = job->next;
        if (w->head == NULL)
            w->tail = NULL;
        pthread_mutex_unlock(&w->lock);
        job->result = job->run(job);
        job->cancelled = false;
        er__mailbox_post(&w->mb, &job->mail);
    }
    er__mailbox_post(&w->mb, &me->mail);
}

er_workers_t *er__workers_start(uv_loop_t *loop, size_t n, int *err)
{
    er_workers_t *w = calloc(1, sizeof(*w));
    size_t i;
    int rc = 0;

    if (n == 0)
        n = 1;
    if (w == NULL || (w->threads = calloc(n, sizeof(*w->threads))) == NULL ||
        (w->exits = calloc(n, sizeof(*w->exits))) == NULL) {
        if (w)
            free(w->threads);
        free(w);
        *err = -ENOMEM;
        return NULL;
    }
    w->n = n;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->mb.data = w;
    if ((rc = er__mailbox_init(&w->mb, loop, on_mail)) != 0) {
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        free(w->threads);
        free(w->exits);
        free(w);
        *err = rc;
        return NULL;
    }
    for (i = 0; i < n; i++) {
        w->exits[i].w = w;
        if ((rc = uv_thread_create(&w->threads[i], worker, &w->exits[i])) != 0)
            break;
        w->running++;
    }
    if (w->running < n) {
        er__workers_stop(w, NULL, NULL); /* frees itself later */
        *err = rc;
        return NULL;
    }
    return w;
}

void er__workers_submit(er_workers_t *w, er_work_t *job)
{
    job->next = NULL;
    job->cancelled = false;
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = job;
    else
        w->head = job;
    w->tail = job;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* The mailbox is closed: nothing of the pool runs any more. */
static void on_mb_closed(er_mailbox_t *mb)
{
    er_workers_t *w = mb->data;

    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    free(w->threads);
    free(w->exits);
    if (w->closed)
        w->closed(w, w->closed_arg);
    free(w);
}

void er__workers_stop(er_workers_t *w, er_workers_closed_cb closed, void *arg)
{
    er_work_t *job, *next;

    w->stopping = true;
    w->closed = closed;
    w->closed_arg = arg;
    pthread_mutex_lock(&w->lock);
    w->quit = true;
    job = w->head;
    w->head = w->tail = NULL;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    /* Jobs never started go back on a later turn, through the mailbox,
     * like every other answer. */
    for (; job != NULL; job = next) {
        next = job->next;
        job->cancelled = true;
        er__mailbox_post(&w->mb, &job->mail);
    }
    if (w->running == 0)
        er__mailbox_close(&w->mb, on_mb_closed);
}
