/*
 * The sockets: listening, connections, framing, and the protocol state
 * machine of eventrouter-protocol(7) (HELLO first; content errors NACK and
 * continue, framing errors NACK with request id 0 and close). Two
 * listeners share it: the publish socket (PUBLISH, PUBLISH_BATCH, PING)
 * and the admin socket (ADMIN, QUERY, CANCEL, PING), which only uid 0,
 * the daemon's uid and members of listen.admin_group may use. Loop thread
 * only.
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
struct er_dispatch_s;
struct er_admin_env_s;
struct er_store_s;
struct er_publish_req_s;

enum er_role { ER_ROLE_PUBLISH = 0, ER_ROLE_ADMIN = 1 };

typedef struct er_listener_s {
    uv_pipe_t pipe;
    er_server_t *srv;
    int role;       /* enum er_role */
    char *path;     /* the socket path we bound (unlinked at close) */
    uint64_t inode; /* its inode, so we never unlink another daemon's socket */
    bool open;
    unsigned admin_gid; /* admin: the group allowed besides root and us */
    bool have_admin_gid;
} er_listener_t;

typedef void (*er_server_done_cb)(er_server_t *s);

struct er_server_s {
    uv_loop_t *loop;
    const er_config_t *cfg;
    er_ingest_t ingest;

    er_listener_t listeners[2];     /* indexed by enum er_role */
    struct er_store_s *store;       /* every event goes here (opened before the server) */
    struct er_dispatch_s *dispatch; /* routed events go here (may be NULL) */
    struct er_admin_env_s *admin;   /* runs ADMIN commands */

    er_conn_t *conns; /* doubly linked list of open connections */
    uint32_t nconns;
    uint32_t ntails; /* TAIL requests running, on every connection */

    bool stopping;
    er_server_done_cb done;
    uv_timer_t drain_timer;

    /* Plugins' events (host.h's publish): taken from er__server_start until
     * the shutdown begins; those the store's admission made wait, oldest
     * first, go before any connection when it is ready again. */
    bool publishing;
    struct er_publish_req_s *pub_head, *pub_tail;
    uint64_t pub_max_event_size; /* the limit the host has (cfg may be reloaded) */

    /* Scratch for decoding a batch on the loop: max_batch events and their
     * generated ids. */
    er_event_t *scratch;
    char (*idbuf)[37];
    er_dup_t *dups;

    struct {
        uint64_t accepted;
        uint64_t frames;
        uint64_t nacks;
        uint64_t closed_protocol;
        uint64_t refused_busy;
        uint64_t refused_admin;
        uint64_t admin_commands;
    } stats;
};

/*
 * Bind the publish and admin sockets of cfg (borrowed for the server's
 * lifetime), start accepting, and take the events plugins publish
 * (er__host_publish_open): each goes through the pipeline a client's
 * takes — store admission, de-duplication by a plugin-set id, sequence,
 * append, dispatch — as coming from the daemon (ingest.h), except that one
 * whose hops exceed limits.max_hops is stored, dead-lettered (destination
 * "$routing", reason "max_hops") and not routed. Its token completes once
 * the append holding it has (OK, FAIL when over max_hops, the store's
 * error otherwise), at once when it is a duplicate, RETRY when the store
 * refuses or the server stops first. A stale socket file is replaced; a live
 * one (another daemon answers on it) is refused with -EADDRINUSE. Paths
 * longer than sun_path are refused with -ENAMETOOLONG. On failure logs the
 * reason and returns a negative errno; listeners already open are closed
 * (run the loop to let them finish).
 */
int er__server_start(er_server_t *s, uv_loop_t *loop, const er_config_t *cfg);

/* The store's ready callback (store.h): resume the plugins' events and
 * the connections that were waiting for it. arg is the server. */
void er__server_store_ready(void *arg);

/* The store's drained callback: with no client left either, give the
 * heap's free pages back (malloc_trim). arg is the server. */
void er__server_store_drained(void *arg);

/* The store took these events (a completed append, consecutive seqs,
 * borrowed): live TAILs take what matches (the store's stored_cb). */
void er__server_stored(void *arg, struct er_ev_s *const *evs, size_t n);

/*
 * Shut down as DESIGN §9: stop accepting (plugins' publish() returns
 * -EAGAIN from now on; the events they published before are still taken),
 * send GOAWAY {reason} to every client, keep answering what they still
 * send until each connection is quiet or closed (bounded by
 * shutdown_timeout), close everything, unlink the socket, then call done
 * (on the loop, never from inside this call).
 */
void er__server_shutdown(er_server_t *s, const char *reason, er_server_done_cb done);

#endif
