/*
 * The loop mailbox (see mailbox.h): a mutex-guarded intrusive FIFO that any
 * thread appends to and a uv_async_t callback drains on the loop thread.
 *
 * Wake-ups: a post wakes the loop only when it finds the queue empty. That
 * is enough: a non-empty queue means the post that made it non-empty has
 * sent (or is about to send) a wake-up whose callback has not yet taken the
 * queue, and that callback takes everything queued when it runs, this mail
 * included. Posts to a busy mailbox therefore cost a lock and two pointer
 * writes, no system call.
 *
 * Linking: not part of libercore (libeventrouter.so links no libuv): the
 * daemon and each plugin that uses a mailbox compile this file in.
 */
#include <errno.h>
#include <stdlib.h>

#include "mailbox.h"

/* Take the whole queue (in post order), leaving it empty. */
static er_mail_t *take_all(er_mailbox_t *mb)
{
    er_mail_t *list;

    pthread_mutex_lock(&mb->lock);
    list = mb->head;
    mb->head = mb->tail = NULL;
    pthread_mutex_unlock(&mb->lock);
    return list;
}

/* Deliver a taken list; deliver() may free or re-post each mail, so next
 * is read first. */
static void deliver_list(er_mailbox_t *mb, er_mail_t *m)
{
    while (m != NULL) {
        er_mail_t *next = m->next;
        m->next = NULL;
        mb->deliver(mb, m);
        m = next;
    }
}

/* One wake-up: deliver what is queued now. Mails posted by deliver() or
 * by other threads meanwhile found the queue empty and sent a new wake-up,
 * so they are delivered on the next callback rather than starving the
 * loop's other work. */
static void on_async(uv_async_t *h)
{
    er_mailbox_t *mb = h->data;

    deliver_list(mb, take_all(mb));
}

int er__mailbox_init(er_mailbox_t *mb, uv_loop_t *loop, er_mail_deliver_cb deliver)
{
    int rc;

    mb->head = mb->tail = NULL;
    mb->deliver = deliver;
    mb->closed = NULL;
    mb->closing = false;
    if ((rc = pthread_mutex_init(&mb->lock, NULL)) != 0)
        return -rc;
    if ((rc = uv_async_init(loop, &mb->async, on_async)) != 0) {
        pthread_mutex_destroy(&mb->lock);
        return rc;
    }
    mb->async.data = mb;
    return 0;
}

void er__mailbox_post(er_mailbox_t *mb, er_mail_t *m)
{
    bool was_empty;

    m->next = NULL;
    pthread_mutex_lock(&mb->lock);
    was_empty = mb->head == NULL;
    if (was_empty)
        mb->head = m;
    else
        mb->tail->next = m;
    mb->tail = m;
    pthread_mutex_unlock(&mb->lock);
    if (was_empty)
        uv_async_send(&mb->async);
}

static void on_closed(uv_handle_t *h)
{
    er_mailbox_t *mb = h->data;

    pthread_mutex_destroy(&mb->lock);
    if (mb->closed != NULL)
        mb->closed(mb);
}

void er__mailbox_close(er_mailbox_t *mb, er_mailbox_closed_cb closed)
{
    er_mail_t *m;

    if (mb->closing)
        abort(); /* closed twice: the first close's callback may free mb */
    mb->closing = true;
    mb->closed = closed;
    /* Everything left, including what deliver() posts while we drain. */
    while ((m = take_all(mb)) != NULL)
        deliver_list(mb, m);
    uv_close((uv_handle_t *)&mb->async, on_closed);
}
