/*
 * A mailbox: messages from any thread to the libuv loop thread (DESIGN §8).
 * A poster embeds an er_mail_t in its own struct and posts it; the loop
 * thread gets each mail back, in post order, through the mailbox's
 * deliver() callback. Behind it: an intrusive singly linked FIFO guarded by
 * a mutex and one uv_async_t whose callback drains the queue completely
 * (uv_async_send coalesces wake-ups, so one callback may deliver many
 * mails). Used by the store's writer and reader threads and the blocking
 * handlers' workers.
 *
 * Threads: init and close on the loop thread; post from any thread
 * (including the loop thread: the mail is then delivered on a later loop
 * turn, never inside post). deliver() and closed() run on the loop thread.
 *
 * Ordering: mails are delivered in the order the posts took the mailbox's
 * lock — per posting thread that is program order; between threads, the
 * order the posts happened.
 *
 * Lifetime: a mail belongs to the mailbox from post until deliver() is
 * called with it; deliver() may then free or reuse it (even post it again).
 * The er_mailbox_t itself must stay valid (not moved) from init until its
 * closed() callback has run.
 */
#ifndef ER_MAILBOX_H
#define ER_MAILBOX_H

#include <pthread.h>
#include <stdbool.h>

#include <uv.h>

typedef struct er_mail_s er_mail_t;
typedef struct er_mailbox_s er_mailbox_t;

/* Embed in the message; the mailbox only uses `next`. */
struct er_mail_s {
    er_mail_t *next;
};

typedef void (*er_mail_deliver_cb)(er_mailbox_t *mb, er_mail_t *mail);
typedef void (*er_mailbox_closed_cb)(er_mailbox_t *mb);

struct er_mailbox_s {
    void *data; /* the owner's; the mailbox never touches it */

    /* Private. */
    uv_async_t async;
    pthread_mutex_t lock;
    er_mail_t *head, *tail; /* guarded by lock */
    er_mail_deliver_cb deliver;
    er_mailbox_closed_cb closed;
    bool closing;
};

/*
 * Make mb ready on loop (borrowed until closed() has run). deliver is
 * called on the loop thread once per mail. Returns 0 or a negative errno
 * (nothing to close then). Loop thread. The async handle keeps the loop
 * alive until er__mailbox_close().
 */
int er__mailbox_init(er_mailbox_t *mb, uv_loop_t *loop, er_mail_deliver_cb deliver);

/*
 * Queue m (taken: the mailbox's until delivered) for delivery on the loop
 * thread, after every mail posted before it. Never fails, never blocks for
 * longer than the mailbox's lock is held (a few pointer writes). Any
 * thread, until er__mailbox_close() is called: posting after that is a bug.
 */
void er__mailbox_post(er_mailbox_t *mb, er_mail_t *m);

/*
 * Close mb: deliver every mail still queued (synchronously, in order),
 * close the async handle, then call closed(mb) (may be NULL) from the
 * handle's close callback on a later loop turn; after closed() the owner
 * may free mb. Call it on the loop thread once every thread that posts
 * has been joined (or can no longer post), and only once.
 */
void er__mailbox_close(er_mailbox_t *mb, er_mailbox_closed_cb closed);

#endif
