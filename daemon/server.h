/*
 * The publish socket: listening, connections, framing, and the protocol
 * state machine of eventrouter-protocol(7) (HELLO first, then PUBLISH,
 * PUBLISH_BATCH, PING; content errors NACK and continue, framing errors
 * NACK with request id 0 and close). Loop thread only.
 */
#ifndef ER_SERVER_H
#define ER_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "ingest.h"

typedef struct er_conn_s er_conn_t;
typedef struct er_server_s er_server_t;

typedef void (*er_server_done_cb)(er_server_t *s);

struct er_server_s {
    uv_loop_t *loop;
    const er_config_t *cfg;
    er_ingest_t ingest;

    uv_pipe_t listener;
    bool listening;
    char *path;     /* the socket path we bound (unlinked at close) */
    uint64_t inode; /* its inode, so we never unlink another daemon's socket */

    er_conn_t *conns; /* doubly linked list of open connections */
    uint32_t nconns;

    bool stopping;
    er_server_done_cb done;
    uv_timer_t drain_timer;

    /* Scratch for decoding a batch on the loop: max_batch events and their
     * generated ids. */
    er_event_t *scratch;
    char (*idbuf)[37];

    struct {
        uint64_t accepted;
        uint64_t frames;
        uint64_t nacks;
        uint64_t closed_protocol;
        uint64_t refused_busy;
    } stats;
};

/*
 * Bind the publish socket of cfg (borrowed for the server's lifetime) and
 * start accepting. A stale socket file is replaced; a live one (another
 * daemon answers on it) is refused with -EADDRINUSE. Paths longer than
 * sun_path are refused with -ENAMETOOLONG. On failure logs the reason and
 * returns a negative errno; nothing is left open.
 */
int er__server_start(er_server_t *s, uv_loop_t *loop, const er_config_t *cfg);

/*
 * Shut down as DESIGN §9: stop accepting, send GOAWAY {reason} to every
 * client, keep answering what they still send until each connection is
 * quiet or closed (bounded by shutdown_timeout), close everything, unlink
 * the socket, then call done (on the loop, never from inside this call).
 */
void er__server_shutdown(er_server_t *s, const char *reason, er_server_done_cb done);

#endif
