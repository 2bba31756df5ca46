/*
 * The `lmdb` store (the default): the daemon's log of events, its indexes,
 * the destinations' cursors, the dead letters, the sequence reservation
 * mark and the plugins' state, in one LMDB environment on local disk
 * (DESIGN §6, §7; the store ABI in <eventrouter/plugin.h>).
 *
 * Threads (DESIGN §8). A writer thread owns every write: it opens the
 * environment, applies everything queued for it in one write transaction
 * and commits once (group commit: one fsync covers the batch), then posts
 * the completions to the loop, in submission order, through a mailbox
 * (lib/mailbox.h). A reader thread serves query, cursor_list, dlq_list and
 * state_get with short read transactions (reset and renewed for every
 * chunk of at most CHUNK_ROWS results, so a long query never pins old
 * pages and the file does not grow under it); it produces the next chunk
 * of a query only once the loop has consumed the previous one. The loop
 * thread only queues operations, hands results over and completes tokens:
 * it never touches the store's files.
 *
 * On disk, in the directory `path` (created 0750 if missing):
 *   data.mdb, lock.mdb   the LMDB environment (sparse up to map_size)
 *   eventrouter.lock     flock()ed exclusively while a daemon has the
 *                        store open; holds that daemon's pid
 * Named databases (integers big-endian, so byte order is numeric order):
 *   meta          "format"   -> "eventrouter.lmdb" (16 bytes) + u32 version
 *                 "created"  -> i64 µs since the epoch
 *                 "clean"    -> u8: 1 once stop() completed, 0 while open
 *                 "reserved" -> u64 reservation mark (reserve())
 *                 "dlq_next" -> u64 next dead-letter id
 *                 "trimmed"  -> i64 µs: the last write that released a trim's
 *                               pages (release_freed_pages)
 *   events        u64 seq -> the event's msgpack encoding (daemon fields
 *                 included; host->event_encoded / host->event_decode)
 *   by_stream, by_correlation_id, by_id, by_type
 *                 field value (1..511 bytes) -> u64 seq, MDB_DUPSORT |
 *                 MDB_DUPFIXED: one sorted run of seqs per value; absent
 *                 (or empty) fields have no entry
 *   cursors       destination name -> u64 seq
 *   dead_letters  u64 dlq_id -> u64 seq, u32 attempts, i64 first failure,
 *                 i64 last failure, u16 destination length, destination,
 *                 reason (the rest)
 *   state         scope NUL key -> the plugin's bytes
 * FORMAT_VERSION changes with any incompatible change of this layout; a
 * store of a newer format is refused, never modified.
 *
 * Errors reach the host through complete_errno: -ENOSPC "store full" when
 * map_size is reached (or the disk is full), -EIO for LMDB failures (with
 * LMDB's text), -EINVAL for a refused file or request, -EBUSY for a store
 * locked by another process. Only er_plugin_entry is exported.
 *
 * used_bytes (ABI 1.3; what store.retention.max_bytes bounds) counts the
 * pages in use: the file's pages less those on LMDB's free list, measured
 * after the commits that delete (see measure_used()).
 *
 * Lifecycle: operations return ER_PENDING once open() was called (those
 * submitted before its completion wait for it and fail with its reason if
 * it failed), -ENOTCONN before open() or after a failed open completed,
 * -ESHUTDOWN once stop() was called. stop() works in every state (also
 * after a failed open); done() is called inline only when open() never
 * started the threads. destroy() before stop's done() would free memory
 * the threads use: it logs and keeps the instance instead.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <uv.h>

#include <eventrouter.h>
#include <eventrouter/plugin.h>

#include "build-config.h" /* PACKAGE_VERSION */
#include "buf.h"
#include "mailbox.h"
#include "mpread.h" /* delete_entries reads the indexed fields alone */
#include "proto.h"  /* er__event_pack: the one encoder of events */

/* Free space below which a failed write is taken for a full disk: a
 * transaction's worth (TXN_SOFT_BYTES), twice. */
#define DISK_FULL_MARGIN (2 * TXN_SOFT_BYTES)

#define FORMAT_MAGIC     "eventrouter.lmdb"
#define FORMAT_MAGIC_LEN 16
#define FORMAT_VERSION   1u
#define LOCK_NAME        "eventrouter.lock"
#define DATA_NAME        "data.mdb"
#define DIR_MODE         0750
#define FILE_MODE        0640
#define MAX_DBS          16  /* DB_COUNT and room for later formats */
#define MAX_KEY          511 /* LMDB's default maximum key size */
/* Results handed to the loop at a time (a query holds at most this many
 * decoded events). */
#define CHUNK_ROWS 512
/* ... or of this many encoded bytes, whichever comes first: 512 rows of
 * large events would otherwise be hundreds of MiB. */
#define CHUNK_BYTES (8u << 20)
/* Rows examined per read transaction before it is reset and renewed, so a
 * selective filter over a long range still reads in short transactions. */
#define SCAN_PER_TXN 4096
/* Events deleted per write transaction by trim and delete_stream. */
#define DELETE_PER_TXN 4096
/* A round commits early (and goes on in a new transaction) once it has
 * written about this much: some 14,000 small events, so the fsync is well
 * amortised, while LMDB's dirty-page list (sorted, kept by insertion)
 * stays short and far from its limit (MDB_TXN_FULL). Measured: a 64 MiB
 * transaction costs more per event than a few 4 MiB ones. */
#define TXN_SOFT_BYTES (4u << 20)
/* used_bytes is measured after a commit that deleted events, after any
 * other commit at most this often (it walks the free list's records), and
 * when the writer runs out of work with a commit not yet measured. */
#define USED_EVERY_US 100000

/* ------------------------------------------------------------ databases */

enum {
    DB_META,
    DB_EVENTS,
    DB_STREAM, /* the four indexes, in the order a query picks them */
    DB_CORR,
    DB_ID,
    DB_TYPE,
    DB_CURSORS,
    DB_DLQ,
    DB_STATE,
    DB_COUNT
};
#define INDEX_FIRST DB_STREAM
#define INDEX_COUNT 4

static const struct {
    const char *name;
    unsigned flags;
} db_table[DB_COUNT] = {
    [DB_META] = {"meta", 0},
    [DB_EVENTS] = {"events", 0},
    [DB_STREAM] = {"by_stream", MDB_DUPSORT | MDB_DUPFIXED},
    [DB_CORR] = {"by_correlation_id", MDB_DUPSORT | MDB_DUPFIXED},
    [DB_ID] = {"by_id", MDB_DUPSORT | MDB_DUPFIXED},
    [DB_TYPE] = {"by_type", MDB_DUPSORT | MDB_DUPFIXED},
    [DB_CURSORS] = {"cursors", 0},
    [DB_DLQ] = {"dead_letters", 0},
    [DB_STATE] = {"state", 0},
};

/* The event field each index holds, and its name for messages. */
static const struct {
    size_t offset;
    const char *field;
} index_table[INDEX_COUNT] = {
    {offsetof(er_event_t, stream), "stream"},
    {offsetof(er_event_t, correlation_id), "correlation_id"},
    {offsetof(er_event_t, id), "id"},
    {offsetof(er_event_t, type), "type"},
};

static er_str_t index_field(const er_event_t *v, int i)
{
    return *(const er_str_t *)((const char *)v + index_table[i].offset);
}

/* --------------------------------------------------------- operations */

enum op_kind {
    /* writer */
    OP_OPEN,
    OP_APPEND,
    OP_RESERVE,
    OP_CURSOR_SET,
    OP_CURSOR_DELETE,
    OP_DLQ_ADD,
    OP_DLQ_DELETE,
    OP_STATE_SET,
    OP_TRIM,
    OP_DELETE_STREAM,
    OP_STOP,
    /* maintenance: each on a thread of its own */
    OP_CHECK,
    OP_BACKUP,
    OP_COMPACT,
    /* reader: from OP_QUERY on (finish() counts them as reads) */
    OP_QUERY,
    OP_CURSOR_LIST,
    OP_DLQ_LIST,
    OP_STATE_GET,
    OP_READER_STOP,
};

typedef struct store_s store_t;
typedef struct op_s op_t;

/* A cursor or dead letter handed to the loop (one allocation each). */
typedef struct cursor_item_s {
    uint64_t seq;
    char name[];
} cursor_item_t;

typedef struct dlq_item_s {
    er_dead_letter_t dl; /* strings point into text */
    char text[];
} dlq_item_t;

/* One item check or compact reports (names are string constants). */
typedef struct report_item_s {
    er_store_report_kind_t kind;
    const char *name;
    int64_t value;
    char *text; /* malloc'ed; NULL for figures */
} report_item_t;

/* The reader's results travel to the loop in chunks; one is outstanding at
 * a time. `consumed` and `stop` are guarded by the store's rlock. */
typedef struct chunk_s {
    void **items; /* er_ev_t *, cursor_item_t * or dlq_item_t * */
    size_t n;
    bool last;     /* the op is finished: complete its token */
    bool consumed; /* the loop handed this chunk over */
    bool stop;     /* a callback asked to stop */
    size_t bytes;  /* encoded bytes of the rows in it (queries) */
} chunk_t;

typedef struct query_s {
    er_store_filter_t f; /* strings point into strs */
    char *strs;
    er_store_row_cb row;
    void *arg;
    int db;       /* DB_EVENTS (seq range) or the index used */
    er_str_t key; /* the index key */
    bool desc;
    uint64_t pos;    /* next seq to consider: ascending >= pos, descending <= pos */
    uint64_t lo, hi; /* inclusive seq bounds */
    uint64_t matched;
} query_t;

struct op_s {
    er_mail_t mail; /* first: a delivered mail converts back */
    op_t *next;     /* in the writer's or reader's queue */
    int kind;
    er_token_t *token;
    int err;   /* 0 or a negative errno */
    char *msg; /* the failure's one line (malloc'ed) */
    union {
        struct {
            er_store_head_t head;
            er_store_head_t *out;
        } open;
        struct {
            er_ev_t **evs; /* points behind the op; referenced until the writer is done */
            size_t n;
        } append;
        struct {
            uint64_t upto;
        } reserve;
        struct {
            char *name;
            uint64_t seq;
        } cursor;
        struct {
            uint8_t *rec; /* the encoded record */
            size_t len;
            uint64_t id;
            uint64_t *out;
        } dlq_add;
        struct {
            uint64_t id;
        } dlq_delete;
        struct {
            char *key; /* scope NUL key */
            size_t klen;
            void *value; /* NULL: delete */
            size_t len;
        } state_set;
        struct {
            char *stream; /* delete_stream; NULL for trim */
            uint64_t before, max;
            uint64_t done;    /* committed */
            uint64_t pending; /* in the open transaction */
            uint64_t *out;
        } del;
        struct {
            er_done_cb done;
            void *arg;
        } stop;
        /* reader */
        struct {
            chunk_t chunk;
            query_t q;
        } query;
        struct {
            chunk_t chunk;
            er_store_cursor_cb each;
            void *arg;
            char *after; /* last name handed over */
        } cursors;
        struct {
            chunk_t chunk;
            er_store_dlq_cb each;
            void *arg;
            char *destination; /* NULL: every one */
            uint64_t after, max, count;
        } dlq;
        struct {
            char *key;
            size_t klen;
            const void **value;
            size_t *len;
            void *buf; /* the value read; NULL when absent */
            size_t n;
        } state_get;
        /* maintenance (check, backup, compact) */
        struct {
            store_t *s;
            uv_thread_t thread;
            er_store_report_cb report;
            void *arg;
            report_item_t *items;
            size_t n, cap;
            uint64_t problems, notes; /* reported or not */
            char *dir;                /* backup */
            uint64_t bytes;
            uint64_t *out;
        } maint;
    } u;
};

typedef struct queue_s {
    op_t *head, *tail;
} queue_t;

/* Writer-side figures that a failed transaction must roll back. */
typedef struct wstate_s {
    uint64_t last_seq; /* highest stored seq */
    uint64_t events;   /* events stored */
    uint64_t dlq_next; /* next dead-letter id */
} wstate_t;

typedef enum {
    ST_NEW,      /* created: open() not called */
    ST_OPENING,  /* open() called, not completed */
    ST_OPEN,     /* open completed OK */
    ST_FAILED,   /* open completed with an error */
    ST_STOPPING, /* stop() called */
    ST_STOPPED,  /* stop's done called */
} state_t;

struct store_s {
    const er_host_t *host;
    er_plugin_ctx_t *ctx;
    char *path;
    uint64_t map_size;
    bool nosync;

    /* Loop thread. */
    state_t state;
    er_mailbox_t mb;
    bool threads;    /* writer and reader started (joined at stop) */
    bool mb_closing; /* the mailbox of a failed open() is still closing */
    uv_thread_t writer, reader;
    er_done_cb done;
    void *done_arg;

    /* The writer's queue. */
    uv_mutex_t wlock;
    uv_cond_t wcond;
    queue_t wq;

    /* The reader's queue and the chunk hand-back (chunk_t.consumed/stop). */
    uv_mutex_t rlock;
    uv_cond_t rcond;
    queue_t rq;

    /* The environment. The writer opens and closes it; elock guards
     * env_state, env_msg, rtxn and reader_exited, and is held by the reader
     * for each read transaction and by the writer while it closes or
     * reopens the environment. env and dbi change only under elock. */
    uv_mutex_t elock;
    uv_cond_t econd;
    MDB_env *env;
    MDB_dbi dbi[DB_COUNT];
    int env_state; /* 0: not yet, 1: open, -1: failed or closed */
    int env_err;
    char env_msg[320];
    MDB_txn *rtxn; /* the reader's transaction handle, reset between uses */
    bool reader_exited;
    /* Maintenance threads that may use env: counted when submitted (loop)
     * and until they posted their op; the writer closes or reopens env
     * only when none is left, so their ops reach the loop before STOP. */
    int maint;
    int lock_fd;
    size_t psize;

    _Atomic bool stopping; /* stop() was called: queries end at their next chunk */
    bool maint_busy;       /* loop: a check, backup or compact is running */

    /* Writer thread only. */
    wstate_t committed, tent;
    MDB_cursor *wc[DB_COUNT]; /* cursors of the open write transaction */
    size_t txn_bytes;
    er_buf_t enc; /* writer: the event being stored, encoded (reused) */
    uint64_t txn_start_us;
    bool used_stale;     /* events were deleted since used_bytes was measured */
    bool used_behind;    /* something was committed since (measured when idle) */
    uint64_t used_at_us; /* when it was (mono_us) */

    /* Figures for stats(); written by the threads, read on the loop. */
    _Atomic uint64_t st_events, st_commits, st_commit_last_us, st_commit_max_us;
    _Atomic uint64_t st_queue, st_map_size, st_used, st_alloc, st_reads;
};

/* -------------------------------------------------------------- helpers */

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, 8);
}

static uint64_t get_be64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return be64toh(v);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    v = htobe32(v);
    memcpy(p, &v, 4);
}

static uint32_t get_be32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return be32toh(v);
}

/* Record op's failure: err a negative errno, the message formatted. A
 * later failure replaces an earlier one. */
static void op_fail(op_t *op, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void op_fail(op_t *op, int err, const char *fmt, ...)
{
    va_list ap;
    char *m = NULL;

    va_start(ap, fmt);
    if (vasprintf(&m, fmt, ap) < 0)
        m = NULL; /* complete_errno then says strerror(err) */
    va_end(ap);
    free(op->msg);
    op->msg = m;
    op->err = err;
}

static void op_clear(op_t *op)
{
    free(op->msg);
    op->msg = NULL;
    op->err = 0;
}

/*
 * An LMDB (or system) error as a negative errno and a message naming what
 * was done: MDB_MAP_FULL and a full disk are -ENOSPC "store full", the
 * rest -EIO unless a system errno says more.
 */
static int mdb_errno(const store_t *s, int rc)
{
    switch (rc) {
    case MDB_MAP_FULL:
    case ENOSPC:
        return -ENOSPC;
    case MDB_TXN_FULL:
        return -E2BIG;
    case MDB_READERS_FULL:
        return -EAGAIN;
    case MDB_BAD_VALSIZE:
        return -EINVAL;
    default:
        return rc > 0 ? -rc : -EIO;
    }
}

/*
 * Is the filesystem holding the store (nearly) full? LMDB 0.9 reports a
 * short write as EIO, not ENOSPC, and that is what a full disk gives it:
 * a write that fails with the disk out of room is a full store.
 */
static bool disk_full(const store_t *s)
{
    struct statvfs v;

    return statvfs(s->path, &v) == 0 && (uint64_t)v.f_bavail * v.f_frsize < DISK_FULL_MARGIN;
}

static void op_fail_mdb(store_t *s, op_t *op, const char *what, int rc)
{
    if (rc == EIO && disk_full(s))
        rc = ENOSPC;
    if (rc == MDB_MAP_FULL)
        op_fail(op, -ENOSPC,
                "store full: map_size %" PRIu64 " reached in %s (raise store.map_size or trim "
                "with store.retention)",
                atomic_load(&s->st_map_size), s->path);
    else if (rc == ENOSPC)
        op_fail(op, -ENOSPC, "store full: no space left on the disk holding %s", s->path);
    else
        op_fail(op, mdb_errno(s, rc), "%s %s: %s", what, s->path, mdb_strerror(rc));
}

/* ------------------------------------------------------- the environment */

/* mkdir -p path, each missing directory DIR_MODE. */
static int make_dirs(const char *path)
{
    char buf[PATH_MAX];
    struct stat st;
    size_t len = strlen(path), i;

    if (len >= sizeof(buf))
        return -ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, DIR_MODE) != 0 && errno != EEXIST)
            return -errno;
        if (i == len || buf[i + 1] == '\0') {
            if (stat(buf, &st) != 0)
                return -errno;
            if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        }
        buf[i] = i == len ? '\0' : '/';
    }
    return 0;
}

/* Take the store's lock file, so two daemons cannot share the path, and
 * write our pid into it. On refusal op says who holds it. */
static int take_lock(store_t *s, op_t *op)
{
    char file[PATH_MAX], pid[32] = "";
    ssize_t n;
    int fd;

    if (snprintf(file, sizeof(file), "%s/%s", s->path, LOCK_NAME) >= (int)sizeof(file)) {
        op_fail(op, -ENAMETOOLONG, "store path %s is too long", s->path);
        return -ENAMETOOLONG;
    }
    if ((fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, FILE_MODE)) < 0) {
        int err = errno;
        op_fail(op, -err, "cannot open the store's lock file %s: %s", file, strerror(err));
        return -err;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        if (err == EWOULDBLOCK) {
            n = pread(fd, pid, sizeof(pid) - 1, 0);
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            if (pid[0] != '\0')
                op_fail(op, -EBUSY,
                        "store %s is in use by another process (pid %s holds %s); one daemon "
                        "per store path",
                        s->path, pid, file);
            else
                op_fail(op, -EBUSY,
                        "store %s is in use by another process (it holds %s); one daemon per "
                        "store path",
                        s->path, file);
            close(fd);
            return -EBUSY;
        }
        op_fail(op, -err, "cannot lock %s: %s", file, strerror(err));
        close(fd);
        return -err;
    }
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        /* The pid is only for the message above; the lock is what counts. */
    }
    s->lock_fd = fd;
    return 0;
}

/* The data file must hold every page its header claims: a truncated file
 * would fault (SIGBUS) when a missing page is touched. */
static int check_size(store_t *s, op_t *op)
{
    char file[PATH_MAX];
    MDB_envinfo info;
    MDB_stat st;
    struct stat fst;
    uint64_t need;

    snprintf(file, sizeof(file), "%s/%s", s->path, DATA_NAME);
    if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0 ||
        stat(file, &fst) != 0) {
        op_fail(op, -EIO, "cannot inspect %s: %s", file, strerror(errno));
        return -EIO;
    }
    s->psize = st.ms_psize;
    need = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    if ((uint64_t)fst.st_size < need) {
        op_fail(op, -EINVAL,
                "%s is truncated: %lld bytes, but its header says %" PRIu64
                " (restore it from a backup or move it away)",
                file, (long long)fst.st_size, need);
        return -EINVAL;
    }
    atomic_store(&s->st_map_size, (uint64_t)info.me_mapsize);
    atomic_store(&s->st_alloc, need);
    return 0;
}

/* ----------------------------------------------------------- used bytes */

/* In txn: the pages on LMDB's free list (FREE_DBI, dbi 0: one record per
 * freeing transaction, each an IDL whose first word is its count). */
static int count_free_pages(MDB_txn *txn, uint64_t *pages)
{
    MDB_cursor *c;
    MDB_val k, d;
    int rc;

    *pages = 0;
    if ((rc = mdb_cursor_open(txn, 0 /* FREE_DBI */, &c)) != 0)
        return rc;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT))
        if (d.mv_size >= sizeof(size_t)) {
            size_t n;
            memcpy(&n, d.mv_data, sizeof(n));
            *pages += n;
        }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/*
 * The figure used_bytes() reports and store.retention.max_bytes bounds:
 * the pages in use — the file's high-water mark (last_pgno + 1) less the
 * pages on the free list — times the page size, read in a short read
 * transaction right after a commit. It drops in the very commit that
 * trims: the pages a trim frees are on the free list as of that commit
 * (even those a reader still holds: they are reusable once it ends).
 * Meta pages, the main database and the free list's own pages count as
 * used. The sum of mdb_stat()'s branch, leaf and overflow pages over the
 * databases would be cheaper, but it misses the indexes' sub-databases:
 * LMDB counts the pages of an MDB_DUPSORT value's sub-database (a stream
 * or a type with more seqs than fit inline) only in that sub-database's
 * own record, so most of by_type's pages would go uncounted.
 * (last_pgno + 1) alone never drops: data.mdb never shrinks. Writer
 * thread, with no write transaction open (the newest meta is the
 * snapshot read); a failure leaves the previous figure.
 */
static void measure_used(store_t *s)
{
    MDB_txn *txn;
    MDB_envinfo info;
    uint64_t free_pages, total;

    s->used_at_us = mono_us();
    if (s->env == NULL || mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
        return;
    if (mdb_env_info(s->env, &info) == 0 && count_free_pages(txn, &free_pages) == 0) {
        total = (uint64_t)info.me_last_pgno + 1;
        atomic_store(&s->st_used, (total > free_pages ? total - free_pages : 0) * s->psize);
        s->used_stale = s->used_behind = false;
    }
    mdb_txn_abort(txn);
}

/* mdb_env_create + open with the store's flags; s->env set on success. */
static int env_start(store_t *s, op_t *op)
{
    unsigned flags = MDB_NOTLS | (s->nosync ? MDB_NOSYNC : 0);
    MDB_env *env;
    int rc;

    if ((rc = mdb_env_create(&env)) != 0) {
        op_fail_mdb(s, op, "cannot create an LMDB environment for", rc);
        return op->err;
    }
    if ((rc = mdb_env_set_maxdbs(env, MAX_DBS)) != 0 ||
        (rc = mdb_env_set_mapsize(env, (size_t)s->map_size)) != 0) {
        op_fail_mdb(s, op, "cannot configure the LMDB environment of", rc);
        mdb_env_close(env);
        return op->err;
    }
    if ((rc = mdb_env_open(env, s->path, flags, FILE_MODE)) != 0) {
        if (rc == MDB_INVALID)
            op_fail(op, -EINVAL,
                    "%s/%s is not an LMDB database (or its header is corrupt): refusing to use "
                    "it",
                    s->path, DATA_NAME);
        else if (rc == MDB_VERSION_MISMATCH)
            op_fail(op, -EINVAL, "%s/%s was written by an incompatible LMDB version", s->path,
                    DATA_NAME);
        else if (rc == EINVAL || rc == ENOMEM)
            /* mmap refused the map: not enough address space for
             * map_size (a ulimit -v, valgrind's 64 GiB limit). */
            op_fail(op, -rc,
                    "cannot open the store %s: %s (cannot map map_size %" PRIu64
                    " bytes of address space: lower store.map_size)",
                    s->path, strerror(rc), (uint64_t)s->map_size);
        else if (rc > 0)
            op_fail(op, -rc, "cannot open the store %s: %s", s->path, strerror(rc));
        else
            op_fail_mdb(s, op, "cannot open the store", rc);
        mdb_env_close(env);
        return op->err;
    }
    {
        /* LMDB clears its reader table only when it is the first to open
         * the environment: a reader that died while another process (a
         * backup tool) had it open would pin old pages for ever. */
        int dead = 0;
        if (mdb_reader_check(env, &dead) == 0 && dead > 0)
            s->host->log(s->ctx, ER_PLOG_NOTICE, "%s: cleared %d stale reader slot(s)", s->path,
                         dead);
    }
    s->env = env;
    if ((rc = check_size(s, op)) != 0) {
        mdb_env_close(env);
        s->env = NULL;
        return rc;
    }
    return 0;
}

static int meta_get(store_t *s, MDB_txn *txn, const char *key, MDB_val *v)
{
    MDB_val k = {strlen(key), (void *)key};
    return mdb_get(txn, s->dbi[DB_META], &k, v);
}

static int meta_put(store_t *s, MDB_txn *txn, const char *key, const void *p, size_t n)
{
    MDB_val k = {strlen(key), (void *)key}, v = {n, (void *)p};
    return mdb_put(txn, s->dbi[DB_META], &k, &v, 0);
}

static int meta_put64(store_t *s, MDB_txn *txn, const char *key, uint64_t x)
{
    uint8_t b[8];
    put_be64(b, x);
    return meta_put(s, txn, key, b, 8);
}

static uint64_t meta_u64(store_t *s, MDB_txn *txn, const char *key, uint64_t def)
{
    MDB_val v;
    if (meta_get(s, txn, key, &v) != 0 || v.mv_size != 8)
        return def;
    return get_be64(v.mv_data);
}

/* A refused environment: not ours, or not readable as ours. */
static int not_ours(store_t *s, op_t *op, const char *why)
{
    op_fail(op, -EINVAL,
            "%s holds an LMDB environment that is not an eventrouter store (%s): refusing to "
            "use it",
            s->path, why);
    return -EINVAL;
}

/*
 * In txn: check the format record, or make a new store when the
 * environment is empty (allowed only on first open). Opens every database
 * into s->dbi. *created says which.
 */
static int open_dbs(store_t *s, MDB_txn *txn, op_t *op, bool *created)
{
    MDB_dbi main_dbi, meta;
    MDB_stat st;
    MDB_val v;
    uint8_t fmt[FORMAT_MAGIC_LEN + 4];
    uint32_t version;
    int rc, i;

    *created = false;
    rc = mdb_dbi_open(txn, db_table[DB_META].name, db_table[DB_META].flags, &meta);
    if (rc == MDB_NOTFOUND) {
        if ((rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) != 0 ||
            (rc = mdb_stat(txn, main_dbi, &st)) != 0) {
            op_fail_mdb(s, op, "cannot read", rc);
            return op->err;
        }
        if (st.ms_entries != 0)
            return not_ours(s, op, "it has no format record");
        *created = true;
    } else if (rc == MDB_INCOMPATIBLE) {
        return not_ours(s, op, "\"meta\" is not a database");
    } else if (rc != 0) {
        op_fail_mdb(s, op, "cannot read", rc);
        return op->err;
    }
    for (i = 0; i < DB_COUNT; i++) {
        rc = mdb_dbi_open(txn, db_table[i].name, db_table[i].flags | MDB_CREATE, &s->dbi[i]);
        if (rc == MDB_INCOMPATIBLE)
            return not_ours(s, op, "a database has the wrong kind");
        if (rc != 0) {
            op_fail_mdb(s, op, "cannot open the databases of", rc);
            return op->err;
        }
    }
    if (*created) {
        memcpy(fmt, FORMAT_MAGIC, FORMAT_MAGIC_LEN);
        put_be32(fmt + FORMAT_MAGIC_LEN, FORMAT_VERSION);
        if ((rc = meta_put(s, txn, "format", fmt, sizeof(fmt))) != 0 ||
            (rc = meta_put64(s, txn, "created", (uint64_t)er_now_us())) != 0 ||
            (rc = meta_put64(s, txn, "dlq_next", 1)) != 0) {
            op_fail_mdb(s, op, "cannot initialise", rc);
            return op->err;
        }
        return 0;
    }
    if ((rc = meta_get(s, txn, "format", &v)) == MDB_NOTFOUND)
        return not_ours(s, op, "it has no format record");
    if (rc != 0) {
        op_fail_mdb(s, op, "cannot read", rc);
        return op->err;
    }
    if (v.mv_size != sizeof(fmt) || memcmp(v.mv_data, FORMAT_MAGIC, FORMAT_MAGIC_LEN) != 0)
        return not_ours(s, op, "its format record is foreign");
    version = get_be32((const uint8_t *)v.mv_data + FORMAT_MAGIC_LEN);
    if (version > FORMAT_VERSION) {
        op_fail(op, -EINVAL,
                "%s was written by a newer eventrouter (store format %u; this build reads "
                "format %u): refusing to use it",
                s->path, version, FORMAT_VERSION);
        return -EINVAL;
    }
    return 0;
}

/* In txn: what open() reports, and the writer's starting figures. */
static int read_head(store_t *s, MDB_txn *txn, op_t *op, er_store_head_t *h)
{
    MDB_cursor *c;
    MDB_val k, v;
    MDB_stat st;
    bool bad = false;
    int rc;

    if ((rc = mdb_stat(txn, s->dbi[DB_EVENTS], &st)) != 0 ||
        (rc = mdb_cursor_open(txn, s->dbi[DB_EVENTS], &c)) != 0) {
        op_fail_mdb(s, op, "cannot read", rc);
        return op->err;
    }
    h->events = st.ms_entries;
    if ((rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
        bad = k.mv_size != 8;
        h->first_seq = bad ? 0 : get_be64(k.mv_data);
        if ((rc = mdb_cursor_get(c, &k, &v, MDB_LAST)) == 0) {
            bad = bad || k.mv_size != 8;
            h->last_seq = bad ? 0 : get_be64(k.mv_data);
        }
    }
    mdb_cursor_close(c);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        op_fail_mdb(s, op, "cannot read", rc);
        return op->err;
    }
    if (bad)
        return not_ours(s, op, "an event key is not a sequence number");
    h->reserved = meta_u64(s, txn, "reserved", 0);
    rc = meta_get(s, txn, "clean", &v);
    h->clean = rc == 0 && v.mv_size == 1 && *(const uint8_t *)v.mv_data == 1;
    s->committed.last_seq = h->last_seq;
    s->committed.events = h->events;
    s->committed.dlq_next = meta_u64(s, txn, "dlq_next", 1);
    return 0;
}

/*
 * Open the environment in s->path (the writer thread): the lock, LMDB, the
 * format, the head; record "not clean" durably. head NULL: a reopen after
 * MDB_PANIC (the lock is already held; creating is not allowed). Returns 0
 * or op's error.
 */
static int env_open(store_t *s, op_t *op, er_store_head_t *head)
{
    er_store_head_t h;
    MDB_txn *txn;
    bool created;
    uint8_t zero = 0;
    int rc;

    memset(&h, 0, sizeof(h));
    if (head != NULL) {
        if ((rc = make_dirs(s->path)) != 0) {
            op_fail(op, rc, "cannot create the store directory %s: %s", s->path, strerror(-rc));
            return rc;
        }
        if ((rc = take_lock(s, op)) != 0)
            return rc;
    }
    if ((rc = env_start(s, op)) != 0)
        goto fail;
    if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
        op_fail_mdb(s, op, "cannot write to", rc);
        rc = op->err;
        goto fail_env;
    }
    if ((rc = open_dbs(s, txn, op, &created)) != 0 || (rc = read_head(s, txn, op, &h)) != 0) {
        mdb_txn_abort(txn);
        goto fail_env;
    }
    if (created && head == NULL) {
        mdb_txn_abort(txn);
        rc = not_ours(s, op, "it was emptied while open");
        goto fail_env;
    }
    h.created = created;
    if ((rc = meta_put(s, txn, "clean", &zero, 1)) != 0) {
        mdb_txn_abort(txn);
        op_fail_mdb(s, op, "cannot write to", rc);
        rc = op->err;
        goto fail_env;
    }
    if ((rc = mdb_txn_commit(txn)) != 0) { /* frees txn also when it fails */
        op_fail_mdb(s, op, "cannot write to", rc);
        rc = op->err;
        goto fail_env;
    }
    /* "Not clean" must be on disk before anything else happens, also
     * under sync none. */
    if (s->nosync && (rc = mdb_env_sync(s->env, 1)) != 0) {
        op_fail_mdb(s, op, "cannot sync", rc);
        rc = op->err;
        goto fail_env;
    }
    s->tent = s->committed;
    atomic_store(&s->st_events, s->committed.events);
    measure_used(s);
    if (head != NULL)
        *head = h;
    return 0;

fail_env:
    mdb_env_close(s->env);
    s->env = NULL;
fail:
    if (head != NULL && s->lock_fd >= 0) {
        close(s->lock_fd);
        s->lock_fd = -1;
    }
    return rc;
}

/* ------------------------------------------------------- writer: applying */

/* The open write transaction's cursor on db (closed by LMDB with it). */
static int wcursor(store_t *s, MDB_txn *txn, int db, MDB_cursor **c)
{
    int rc = 0;

    if (s->wc[db] == NULL)
        rc = mdb_cursor_open(txn, s->dbi[db], &s->wc[db]);
    *c = s->wc[db];
    return rc;
}

/*
 * Store an append's events and their index entries. A refused event (no
 * seq, a seq not above the last stored one, an index key over MAX_KEY
 * bytes) fails the op; when events of it were already put, *tainted tells
 * the caller to abort the transaction (so the append stores none).
 */
static int apply_append(store_t *s, MDB_txn *txn, op_t *op, bool *tainted)
{
    const er_host_t *host = s->host;
    MDB_cursor *ce, *ci;
    MDB_val k, d;
    er_event_t v;
    const uint8_t *p;
    uint8_t kb[8];
    size_t i, n;
    int rc, x;

    if ((rc = wcursor(s, txn, DB_EVENTS, &ce)) != 0)
        return rc;
    for (i = 0; i < op->u.append.n; i++) {
        er_ev_t *ev = op->u.append.evs[i];

        if ((rc = host->event_get(ev, &v, sizeof(v))) != 0 || !(v.has & ER_HAS_SEQ)) {
            op_fail(op, -EINVAL, "append: event %zu of %zu has no seq", i, op->u.append.n);
            goto refused;
        }
        if (v.seq <= s->tent.last_seq) {
            op_fail(op, -EINVAL,
                    "append: seq %" PRIu64 " is not above the last stored seq %" PRIu64, v.seq,
                    s->tent.last_seq);
            goto refused;
        }
        for (x = 0; x < INDEX_COUNT; x++)
            if (index_field(&v, x).len > MAX_KEY) {
                op_fail(op, -EINVAL, "append: seq %" PRIu64 ": %s is longer than %d bytes", v.seq,
                        index_table[x].field, MAX_KEY);
                goto refused;
            }
        /* Encoded into the writer's own buffer, with the one codec
         * (lib/proto.c): no allocation per event, nothing cached on it. */
        s->enc.len = 0;
        if ((rc = er__event_pack(&s->enc, &v)) != 0) {
            op_fail(op, rc, "append: cannot encode seq %" PRIu64 ": %s", v.seq, strerror(-rc));
            goto refused;
        }
        p = s->enc.data;
        n = s->enc.len;
        put_be64(kb, v.seq);
        k.mv_size = 8;
        k.mv_data = kb;
        d.mv_size = n;
        d.mv_data = (void *)p;
        if ((rc = mdb_cursor_put(ce, &k, &d, MDB_APPEND)) != 0)
            return rc;
        for (x = 0; x < INDEX_COUNT; x++) {
            er_str_t f = index_field(&v, x);
            MDB_val fk = {f.len, (void *)f.ptr}, fd = {8, kb};
            if (f.len == 0)
                continue;
            /* Seqs only grow, so each is the last duplicate of its key. */
            if ((rc = wcursor(s, txn, INDEX_FIRST + x, &ci)) != 0 ||
                (rc = mdb_cursor_put(ci, &fk, &fd, MDB_APPENDDUP)) != 0)
                return rc;
        }
        s->tent.last_seq = v.seq;
        s->tent.events++;
        s->txn_bytes += n + 64;
    }
    return 0;

refused:
    *tainted = i > 0;
    return 0;
}

/* Delete the index entries of the stored event (seq, bytes). An event
 * that does not decode loses only its row (logged). */
/*
 * The indexed fields of a stored encoding, read straight from its msgpack
 * map (the keys are the field names, index_table): trims delete millions
 * of events, and a whole decode (allocation, validation, UTF-8 checks)
 * per event was a fifth of the writer's time in bench's trim scenario.
 * Returns false for anything but a map whose indexed keys hold strings
 * (the caller then decodes the event the usual way). The values are copied
 * into buf (INDEX_COUNT * MAX_KEY bytes; longer ones have no index entry
 * and are left empty): bytes points into the map, valid only until the
 * next write of the transaction.
 */
static bool raw_index_fields(const MDB_val *bytes, er_str_t f[INDEX_COUNT], char *buf)
{
    er_mp_reader_t r;
    er_mp_obj_t k, v;
    uint32_t n, i;
    int x;

    memset(f, 0, sizeof(er_str_t) * INDEX_COUNT);
    er__mp_init(&r, bytes->mv_data, bytes->mv_size);
    if (er__mp_next(&r, &k) != 0 || k.type != ER_MP_MAP)
        return false;
    for (n = k.v.n, i = 0; i < n; i++) {
        if (er__mp_next(&r, &k) != 0 || k.type != ER_MP_STR)
            return false;
        for (x = 0; x < INDEX_COUNT; x++)
            if (k.v.s.len == strlen(index_table[x].field) &&
                memcmp(k.v.s.ptr, index_table[x].field, k.v.s.len) == 0)
                break;
        if (x == INDEX_COUNT) {
            if (er__mp_skip(&r, ER_MP_MAX_DEPTH) != 0)
                return false;
            continue;
        }
        if (er__mp_next(&r, &v) != 0 || v.type != ER_MP_STR)
            return false;
        if (v.v.s.len > MAX_KEY)
            continue; /* never indexed */
        memcpy(buf + x * MAX_KEY, v.v.s.ptr, v.v.s.len);
        f[x].ptr = buf + x * MAX_KEY;
        f[x].len = v.v.s.len;
    }
    return true;
}

static int delete_entries(store_t *s, MDB_txn *txn, uint64_t seq, const MDB_val *bytes)
{
    er_ev_t *ev = NULL;
    er_event_t v;
    er_str_t fields[INDEX_COUNT];
    char buf[INDEX_COUNT * MAX_KEY];
    uint8_t kb[8];
    int rc = 0, x;

    if (raw_index_fields(bytes, fields, buf)) {
        /* the fields as they are */
    } else if (s->host->event_decode(s->ctx, bytes->mv_data, bytes->mv_size, &ev) != 0 ||
               s->host->event_get(ev, &v, sizeof(v)) != 0) {
        s->host->log(s->ctx, ER_PLOG_WARN,
                     "%s: seq %" PRIu64 " does not decode; deleting it, its index entries stay",
                     s->path, seq);
        s->host->event_unref(ev);
        return 0;
    } else {
        for (x = 0; x < INDEX_COUNT; x++)
            fields[x] = index_field(&v, x);
    }
    put_be64(kb, seq);
    for (x = 0; x < INDEX_COUNT && rc == 0; x++) {
        er_str_t f = fields[x];
        MDB_val fk = {f.len, (void *)f.ptr}, fd = {8, kb};
        if (f.len == 0 || f.len > MAX_KEY)
            continue;
        rc = mdb_del(txn, s->dbi[INDEX_FIRST + x], &fk, &fd);
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    s->host->event_unref(ev);
    return rc;
}

/* Delete one stored event and its entries. */
static int delete_event(store_t *s, MDB_txn *txn, uint64_t seq, const MDB_val *bytes)
{
    uint8_t kb[8];
    MDB_val k = {8, kb};
    int rc;

    if ((rc = delete_entries(s, txn, seq, bytes)) != 0)
        return rc;
    put_be64(kb, seq);
    if ((rc = mdb_del(txn, s->dbi[DB_EVENTS], &k, NULL)) != 0)
        return rc;
    s->tent.events--;
    s->txn_bytes += bytes->mv_size + 64;
    s->used_stale = true;
    return 0;
}

static bool del_budget_left(const op_t *op)
{
    return op->u.del.max == 0 || op->u.del.done + op->u.del.pending < op->u.del.max;
}

/* trim: the oldest events below `before`, DELETE_PER_TXN per transaction
 * (*more: go on in the next one). */
static int apply_trim(store_t *s, MDB_txn *txn, op_t *op, bool *more)
{
    MDB_cursor *c;
    MDB_val k, d;
    unsigned budget = DELETE_PER_TXN;
    uint64_t seq;
    int rc;

    if ((rc = wcursor(s, txn, DB_EVENTS, &c)) != 0)
        return rc;
    while (del_budget_left(op)) {
        if (budget-- == 0) {
            *more = true;
            return 0;
        }
        if ((rc = mdb_cursor_get(c, &k, &d, MDB_FIRST)) == MDB_NOTFOUND)
            return 0;
        if (rc != 0)
            return rc;
        if (k.mv_size != 8 || (seq = get_be64(k.mv_data)) >= op->u.del.before)
            return 0;
        if ((rc = delete_event(s, txn, seq, &d)) != 0)
            return rc;
        op->u.del.pending++;
    }
    return 0;
}

/* delete_stream: the stream's events, oldest first, DELETE_PER_TXN per
 * transaction. */
static int apply_delete_stream(store_t *s, MDB_txn *txn, op_t *op, bool *more)
{
    MDB_cursor *c;
    MDB_val key, k, d, ev;
    unsigned budget = DELETE_PER_TXN;
    uint64_t seq;
    int rc;

    if ((rc = wcursor(s, txn, DB_STREAM, &c)) != 0)
        return rc;
    while (del_budget_left(op)) {
        if (budget-- == 0) {
            *more = true;
            return 0;
        }
        key.mv_size = strlen(op->u.del.stream);
        key.mv_data = op->u.del.stream;
        if ((rc = mdb_cursor_get(c, &key, &d, MDB_SET)) == MDB_NOTFOUND)
            return 0;
        if (rc != 0 || (rc = mdb_cursor_get(c, &key, &d, MDB_FIRST_DUP)) != 0)
            return rc;
        if (d.mv_size != 8)
            return MDB_CORRUPTED;
        seq = get_be64(d.mv_data);
        k.mv_size = 8;
        k.mv_data = d.mv_data;
        rc = mdb_get(txn, s->dbi[DB_EVENTS], &k, &ev);
        if (rc == MDB_NOTFOUND) {
            /* An entry without its event: drop the entry alone. */
            if ((rc = mdb_cursor_del(c, 0)) != 0)
                return rc;
            continue;
        }
        if (rc != 0 || (rc = delete_event(s, txn, seq, &ev)) != 0)
            return rc;
        op->u.del.pending++;
    }
    return 0;
}

static int apply_dlq_delete(store_t *s, MDB_txn *txn, op_t *op)
{
    uint8_t kb[8];
    MDB_val k = {8, kb};
    int rc;

    put_be64(kb, op->u.dlq_delete.id);
    rc = mdb_del(txn, s->dbi[DB_DLQ], &k, NULL);
    if (rc == MDB_NOTFOUND) {
        op_fail(op, -ENOENT, "no dead letter %" PRIu64, op->u.dlq_delete.id);
        return 0;
    }
    return rc;
}

static int apply_dlq_add(store_t *s, MDB_txn *txn, op_t *op)
{
    uint8_t kb[8];
    MDB_val k = {8, kb}, v = {op->u.dlq_add.len, op->u.dlq_add.rec};
    uint64_t id = s->tent.dlq_next;
    int rc;

    put_be64(kb, id);
    if ((rc = mdb_put(txn, s->dbi[DB_DLQ], &k, &v, MDB_NOOVERWRITE)) != 0 ||
        (rc = meta_put64(s, txn, "dlq_next", id + 1)) != 0)
        return rc;
    s->tent.dlq_next = id + 1;
    op->u.dlq_add.id = id;
    return 0;
}

/*
 * Apply one writer op in txn. Returns 0 or an LMDB error (the transaction
 * is then unusable); a refusal of the op alone is recorded in op->err.
 * *more: the op is only partly done, commit and apply it again; *tainted:
 * refused after writing part of it, abort the transaction.
 */
static int apply(store_t *s, MDB_txn *txn, op_t *op, bool *more, bool *tainted)
{
    uint8_t b[8];
    MDB_val k, v;
    int rc;

    *more = *tainted = false;
    op_clear(op);
    switch (op->kind) {
    case OP_APPEND:
        return apply_append(s, txn, op, tainted);
    case OP_RESERVE:
        s->txn_bytes += 64;
        return meta_put64(s, txn, "reserved", op->u.reserve.upto);
    case OP_CURSOR_SET:
        put_be64(b, op->u.cursor.seq);
        k.mv_size = strlen(op->u.cursor.name);
        k.mv_data = op->u.cursor.name;
        v.mv_size = 8;
        v.mv_data = b;
        s->txn_bytes += k.mv_size + 64;
        return mdb_put(txn, s->dbi[DB_CURSORS], &k, &v, 0);
    case OP_CURSOR_DELETE:
        k.mv_size = strlen(op->u.cursor.name);
        k.mv_data = op->u.cursor.name;
        rc = mdb_del(txn, s->dbi[DB_CURSORS], &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    case OP_DLQ_ADD:
        s->txn_bytes += op->u.dlq_add.len + 64;
        return apply_dlq_add(s, txn, op);
    case OP_DLQ_DELETE:
        return apply_dlq_delete(s, txn, op);
    case OP_STATE_SET:
        k.mv_size = op->u.state_set.klen;
        k.mv_data = op->u.state_set.key;
        s->txn_bytes += k.mv_size + op->u.state_set.len + 64;
        if (op->u.state_set.value == NULL) {
            rc = mdb_del(txn, s->dbi[DB_STATE], &k, NULL);
            return rc == MDB_NOTFOUND ? 0 : rc;
        }
        v.mv_size = op->u.state_set.len;
        v.mv_data = op->u.state_set.value;
        return mdb_put(txn, s->dbi[DB_STATE], &k, &v, 0);
    case OP_TRIM:
        return apply_trim(s, txn, op, more);
    case OP_DELETE_STREAM:
        return apply_delete_stream(s, txn, op, more);
    default:
        op_fail(op, -EINVAL, "internal error: op %d on the writer", op->kind);
        return 0;
    }
}

/* -------------------------------------------------------- writer: rounds */

static int txn_begin(store_t *s, MDB_txn **txn)
{
    memset(s->wc, 0, sizeof(s->wc));
    s->txn_bytes = 0;
    s->txn_start_us = mono_us();
    s->tent = s->committed;
    return mdb_txn_begin(s->env, NULL, 0, txn);
}

static int txn_commit(store_t *s, MDB_txn *txn)
{
    MDB_envinfo info;
    uint64_t us, max;
    int rc;

    memset(s->wc, 0, sizeof(s->wc));
    if ((rc = mdb_txn_commit(txn)) != 0)
        return rc == EIO && disk_full(s) ? ENOSPC : rc;
    s->committed = s->tent;
    us = mono_us() - s->txn_start_us;
    atomic_store(&s->st_commit_last_us, us);
    max = atomic_load(&s->st_commit_max_us);
    if (us > max)
        atomic_store(&s->st_commit_max_us, us);
    atomic_fetch_add(&s->st_commits, 1);
    atomic_store(&s->st_events, s->committed.events);
    if (mdb_env_info(s->env, &info) == 0)
        atomic_store(&s->st_alloc, ((uint64_t)info.me_last_pgno + 1) * s->psize);
    s->used_behind = true;
    if (s->used_stale || mono_us() - s->used_at_us >= USED_EVERY_US)
        measure_used(s);
    return 0;
}

static void txn_abort(store_t *s, MDB_txn *txn)
{
    memset(s->wc, 0, sizeof(s->wc));
    mdb_txn_abort(txn);
    s->tent = s->committed;
}

/* The deletes of ops[from..to) are committed or rolled back. Returns
 * whether committed deletes freed pages. */
static bool settle(op_t **ops, size_t from, size_t to, bool committed)
{
    bool freed = false;
    size_t i;

    for (i = from; i < to; i++)
        if (ops[i]->kind == OP_TRIM || ops[i]->kind == OP_DELETE_STREAM) {
            freed = freed || ops[i]->u.del.pending > 0;
            if (committed)
                ops[i]->u.del.done += ops[i]->u.del.pending;
            ops[i]->u.del.pending = 0;
        }
    return committed && freed;
}

/*
 * LMDB reuses the pages a transaction freed only from the second
 * transaction after it (the first may still be read through the previous
 * meta page). So after deletes, one small write (meta "trimmed", the time)
 * makes their pages usable by the very next round: a full store that was
 * just trimmed takes new events at once. Only when the file has used most
 * of map_size, though: otherwise the next rounds release them anyway, and
 * the extra commit (an fsync) after every trim would hold up the appends
 * queued behind it — retention trims in steps of a few hundred events,
 * one after another, while publishers wait for their commits. A failure
 * here is harmless.
 */
static void release_freed_pages(store_t *s)
{
    MDB_txn *txn;
    int rc;

    if (atomic_load(&s->st_alloc) < atomic_load(&s->st_map_size) / 4 * 3)
        return;
    if ((rc = txn_begin(s, &txn)) != 0)
        return;
    if ((rc = meta_put64(s, txn, "trimmed", (uint64_t)er_now_us())) != 0) {
        txn_abort(s, txn);
        return;
    }
    if ((rc = txn_commit(s, txn)) != 0)
        s->host->log(s->ctx, ER_PLOG_DEBUG, "%s: commit after a trim: %s", s->path,
                     mdb_strerror(rc));
}

static void fail_range(store_t *s, op_t **ops, size_t from, size_t to, const char *what, int rc)
{
    size_t i;

    for (i = from; i < to; i++)
        op_fail_mdb(s, ops[i], what, rc);
}

static void fail_range_closed(store_t *s, op_t **ops, size_t from, size_t to)
{
    size_t i;

    for (i = from; i < to; i++)
        op_fail(ops[i], s->env_err ? s->env_err : -EIO, "store not open: %s", s->env_msg);
}

static void post(store_t *s, op_t *op)
{
    er__mailbox_post(&s->mb, &op->mail);
}

/* ops[from..to) are done (committed or failed): release their events, no
 * longer needed (here rather than on the loop, and at once, so their
 * encodings' memory is reused by the next ones), and hand them to the loop
 * in order. */
static void hand_back(store_t *s, op_t **ops, size_t from, size_t to)
{
    size_t i, k;

    for (i = from; i < to; i++) {
        op_t *op = ops[i];
        if (op->kind == OP_APPEND && op->u.append.evs != NULL) {
            for (k = 0; k < op->u.append.n; k++)
                s->host->event_unref(op->u.append.evs[k]);
            op->u.append.evs = NULL;
        }
        post(s, op);
    }
}

static void panic_reopen(store_t *s, int rc);

/*
 * Apply ops[0..n) in as few write transactions as possible: one, unless a
 * round is very large (TXN_SOFT_BYTES) or a trim goes on for long; the ops
 * of each transaction are handed back as soon as it is committed. When
 * the map is full (or a transaction is refused as too large, or an op
 * failed or was refused mid-way), the transaction is aborted and the ops
 * are applied again one transaction each, so only those that do not fit
 * fail.
 */
static void run_ops(store_t *s, op_t **ops, size_t n, bool single)
{
    size_t start = 0, end, k;

    while (start < n) {
        MDB_txn *txn;
        bool more = false, tainted = false, at_commit = false;
        int rc;

        if (s->env == NULL) {
            fail_range_closed(s, ops, start, n);
            hand_back(s, ops, start, n);
            return;
        }
        if ((rc = txn_begin(s, &txn)) == MDB_PANIC) {
            /* An earlier round left the environment fatal (a failed meta
             * write): reopen before failing this unrelated round, and try
             * again once. */
            panic_reopen(s, rc);
            if (s->env == NULL) {
                fail_range_closed(s, ops, start, n);
                hand_back(s, ops, start, n);
                return;
            }
            rc = txn_begin(s, &txn);
        }
        if (rc != 0) {
            fail_range(s, ops, start, n, "cannot write to", rc);
            hand_back(s, ops, start, n);
            if (rc == MDB_PANIC)
                panic_reopen(s, rc);
            return;
        }
        end = start;
        rc = 0;
        while (end < n) {
            rc = apply(s, txn, ops[end], &more, &tainted);
            if (rc != 0 || tainted || more)
                break;
            end++;
            if (s->txn_bytes >= TXN_SOFT_BYTES)
                break;
        }
        k = end + (end < n && (more || rc != 0 || tainted) ? 1 : 0);
        if (rc == 0 && !tainted) {
            if ((rc = txn_commit(s, txn)) == 0) {
                if (settle(ops, start, k, true) && !more)
                    release_freed_pages(s);
                hand_back(s, ops, start, end); /* with more, ops[end] goes on */
                start = end;
                continue;
            }
            at_commit = true;
            s->tent = s->committed;
        } else {
            txn_abort(s, txn);
        }
        settle(ops, start, k, false);
        if (rc == MDB_PANIC) {
            fail_range(s, ops, start, n, "cannot write to", rc);
            hand_back(s, ops, start, n);
            panic_reopen(s, rc);
            return;
        }
        if (single && tainted) {
            hand_back(s, ops, start, n); /* the op's own refusal stands */
            return;
        }
        /* One transaction per op, so only the ops that fail fail: after an
         * op's error, a refusal mid-way, or a full map or disk. A commit
         * that failed otherwise (I/O) fails the whole round. */
        if (!single && (!at_commit || rc == MDB_MAP_FULL || rc == MDB_TXN_FULL || rc == ENOSPC)) {
            for (k = start; k < n; k++)
                run_ops(s, &ops[k], 1, true);
            return;
        }
        if (rc == MDB_MAP_FULL)
            s->host->log(s->ctx, ER_PLOG_WARN,
                         "store full: map_size %" PRIu64 " reached in %s; writes fail until "
                         "events are trimmed or map_size is raised",
                         atomic_load(&s->st_map_size), s->path);
        else
            s->host->log(s->ctx, ER_PLOG_ERROR, "write to %s failed: %s", s->path,
                         mdb_strerror(rc));
        fail_range(s, ops, start, n, "cannot write to", rc);
        hand_back(s, ops, start, n);
        return;
    }
}

/*
 * MDB_PANIC: the environment is unusable until reopened. The reader's
 * handle goes first (under elock, so no read is running); the round's ops
 * have failed with -EIO already, so their owners retry.
 */
static void panic_reopen(store_t *s, int rc)
{
    op_t tmp;

    s->host->log(s->ctx, ER_PLOG_ERROR, "%s: LMDB panic (%s): reopening the environment", s->path,
                 mdb_strerror(rc));
    memset(&tmp, 0, sizeof(tmp));
    uv_mutex_lock(&s->elock);
    while (s->maint > 0) /* a check or backup reads env without elock */
        uv_cond_wait(&s->econd, &s->elock);
    if (s->rtxn != NULL)
        mdb_txn_abort(s->rtxn);
    s->rtxn = NULL;
    mdb_env_close(s->env);
    s->env = NULL;
    if (env_open(s, &tmp, NULL) == 0) {
        s->env_state = 1;
        s->host->log(s->ctx, ER_PLOG_NOTICE, "%s: reopened", s->path);
    } else {
        s->env_state = -1;
        s->env_err = tmp.err;
        snprintf(s->env_msg, sizeof(s->env_msg), "%s", tmp.msg ? tmp.msg : strerror(-tmp.err));
        s->host->log(s->ctx, ER_PLOG_ERROR, "%s", s->env_msg);
    }
    uv_cond_broadcast(&s->econd);
    uv_mutex_unlock(&s->elock);
    op_clear(&tmp);
}

/* ------------------------------------------------------ writer: the thread */

static void writer_open(store_t *s, op_t *op)
{
    int rc = env_open(s, op, &op->u.open.head);

    uv_mutex_lock(&s->elock);
    s->env_state = rc == 0 ? 1 : -1;
    if (rc != 0) {
        s->env_err = op->err;
        snprintf(s->env_msg, sizeof(s->env_msg), "%s", op->msg ? op->msg : strerror(-op->err));
    }
    uv_cond_broadcast(&s->econd);
    uv_mutex_unlock(&s->elock);
    if (rc != 0)
        s->host->log(s->ctx, ER_PLOG_ERROR, "%s", s->env_msg);
}

/* stop: everything before it is committed; record the clean stop, wait
 * for the reader to leave, close. */
static void writer_stop(store_t *s)
{
    MDB_txn *txn;
    uint8_t one = 1;
    int rc;

    if (s->env != NULL) {
        if ((rc = txn_begin(s, &txn)) == 0) {
            if ((rc = meta_put(s, txn, "clean", &one, 1)) != 0)
                txn_abort(s, txn);
            else
                rc = txn_commit(s, txn);
        }
        if (rc == 0 && s->nosync)
            rc = mdb_env_sync(s->env, 1);
        if (rc != 0)
            s->host->log(s->ctx, ER_PLOG_ERROR,
                         "%s: cannot record the clean stop: %s (the next start recovers as "
                         "after a crash)",
                         s->path, mdb_strerror(rc));
    }
    uv_mutex_lock(&s->elock);
    while (!s->reader_exited || s->maint > 0) /* a backup in progress ends first */
        uv_cond_wait(&s->econd, &s->elock);
    if (s->rtxn != NULL)
        mdb_txn_abort(s->rtxn);
    s->rtxn = NULL;
    if (s->env != NULL)
        mdb_env_close(s->env);
    s->env = NULL;
    s->env_state = -1;
    uv_mutex_unlock(&s->elock);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    s->lock_fd = -1;
}

static void writer_main(void *arg)
{
    store_t *s = arg;
    op_t **ops = NULL, *list, *op, *one = NULL;
    size_t cap = 0, n;

    for (;;) {
        uv_mutex_lock(&s->wlock);
        if (s->wq.head == NULL && s->used_behind) {
            /* Idle: the figure catches up with the last commits. */
            uv_mutex_unlock(&s->wlock);
            measure_used(s);
            uv_mutex_lock(&s->wlock);
        }
        while (s->wq.head == NULL)
            uv_cond_wait(&s->wcond, &s->wlock);
        list = s->wq.head;
        s->wq.head = s->wq.tail = NULL;
        uv_mutex_unlock(&s->wlock);

        /* Runs of ordinary ops between OPEN and STOP, each run in one
         * round; completions posted in submission order. */
        while (list != NULL) {
            n = 0;
            while (list != NULL && list->kind != OP_OPEN && list->kind != OP_STOP) {
                if (n == cap) {
                    size_t ncap = cap ? cap * 2 : 256;
                    op_t **grown = ops == &one ? NULL : realloc(ops, ncap * sizeof(*ops));
                    if (grown == NULL && cap > 0)
                        break; /* run what we have; the rest in the next round */
                    if (grown == NULL) {
                        ops = &one; /* out of memory: one op per round */
                        cap = 1;
                    } else {
                        ops = grown;
                        cap = ncap;
                    }
                }
                ops[n++] = list;
                list = list->next;
            }
            if (n > 0) {
                atomic_fetch_sub(&s->st_queue, n);
                run_ops(s, ops, n, false); /* hands every op back */
                if (ops == &one) {
                    ops = NULL;
                    cap = 0;
                }
                continue;
            }
            if (list == NULL)
                break;
            op = list;
            list = list->next;
            atomic_fetch_sub(&s->st_queue, 1);
            if (op->kind == OP_OPEN) {
                writer_open(s, op);
                post(s, op);
                continue;
            }
            /* OP_STOP: the last op the host may submit. */
            writer_stop(s);
            free(ops);
            post(s, op);
            return;
        }
    }
}

/* ------------------------------------------------------- reader: chunks */

/* Hand the op's chunk to the loop; unless it is the last, wait until the
 * loop has consumed it. Returns true when the reader should go on. */
static bool chunk_post(store_t *s, op_t *op, chunk_t *ch, bool last)
{
    bool stop;

    ch->last = last;
    ch->consumed = false;
    post(s, op);
    if (last)
        return false; /* the op is the loop's now */
    uv_mutex_lock(&s->rlock);
    while (!ch->consumed)
        uv_cond_wait(&s->rcond, &s->rlock);
    stop = ch->stop;
    uv_mutex_unlock(&s->rlock);
    ch->n = 0;
    ch->bytes = 0;
    if (!stop && atomic_load(&s->stopping)) {
        /* The store is stopping: the rest of the query is not read. */
        op_fail(op, -ECANCELED, "query cancelled: the store %s is stopping", s->path);
        stop = true;
    }
    if (stop) {
        chunk_post(s, op, ch, true);
        return false;
    }
    return true;
}

/* Begin (or renew) the reader's transaction; elock is held until
 * read_end. Returns 0, or non-zero with op failed (the store closed, or
 * LMDB's error). */
static int read_begin(store_t *s, op_t *op, MDB_txn **txn)
{
    int rc;

    uv_mutex_lock(&s->elock);
    if (s->env == NULL || s->env_state != 1) {
        op_fail(op, s->env_err ? s->env_err : -EIO, "store not open: %s", s->env_msg);
        uv_mutex_unlock(&s->elock);
        return -1;
    }
    if (s->rtxn != NULL)
        rc = mdb_txn_renew(s->rtxn);
    else
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn);
    if (rc != 0) {
        if (s->rtxn != NULL)
            mdb_txn_abort(s->rtxn);
        s->rtxn = NULL;
        uv_mutex_unlock(&s->elock);
        op_fail_mdb(s, op, "cannot read", rc);
        return rc;
    }
    *txn = s->rtxn;
    return 0;
}

static void read_end(store_t *s)
{
    mdb_txn_reset(s->rtxn);
    uv_mutex_unlock(&s->elock);
}

/* ------------------------------------------------------- reader: queries */

/* Where to (re)start: the first row at or past q->pos in q's direction;
 * *seq and *ev its seq and stored bytes. MDB_NOTFOUND at the end. */
static int q_seek(store_t *s, query_t *q, MDB_cursor *c, uint64_t *seq, MDB_val *ev)
{
    uint8_t kb[8];
    MDB_val k, d;
    int rc;

    if (q->db == DB_EVENTS) {
        if (!q->desc) {
            put_be64(kb, q->pos);
            k.mv_size = 8;
            k.mv_data = kb;
            rc = mdb_cursor_get(c, &k, ev, MDB_SET_RANGE);
        } else if (q->pos == UINT64_MAX) {
            rc = mdb_cursor_get(c, &k, ev, MDB_LAST);
        } else {
            put_be64(kb, q->pos + 1);
            k.mv_size = 8;
            k.mv_data = kb;
            /* The last key below pos + 1: before the first one above. */
            rc = mdb_cursor_get(c, &k, ev, MDB_SET_RANGE);
            if (rc == 0)
                rc = mdb_cursor_get(c, &k, ev, MDB_PREV);
            else if (rc == MDB_NOTFOUND)
                rc = mdb_cursor_get(c, &k, ev, MDB_LAST);
        }
        if (rc == 0)
            *seq = k.mv_size == 8 ? get_be64(k.mv_data) : 0;
        return rc;
    }
    /* An index: the key's run of seqs. */
    k.mv_size = q->key.len;
    k.mv_data = (void *)q->key.ptr;
    if (!q->desc) {
        put_be64(kb, q->pos);
        d.mv_size = 8;
        d.mv_data = kb;
        rc = mdb_cursor_get(c, &k, &d, MDB_GET_BOTH_RANGE);
    } else {
        if ((rc = mdb_cursor_get(c, &k, &d, MDB_SET)) != 0)
            return rc;
        if (q->pos == UINT64_MAX) {
            rc = mdb_cursor_get(c, &k, &d, MDB_LAST_DUP);
        } else {
            put_be64(kb, q->pos + 1);
            d.mv_size = 8;
            d.mv_data = kb;
            rc = mdb_cursor_get(c, &k, &d, MDB_GET_BOTH_RANGE);
            if (rc == 0)
                rc = mdb_cursor_get(c, &k, &d, MDB_PREV_DUP);
            else if (rc == MDB_NOTFOUND && (rc = mdb_cursor_get(c, &k, &d, MDB_SET)) == 0)
                rc = mdb_cursor_get(c, &k, &d, MDB_LAST_DUP);
        }
    }
    if (rc == 0)
        *seq = d.mv_size == 8 ? get_be64(d.mv_data) : 0;
    return rc;
}

/* The next row in q's direction. */
static int q_step(query_t *q, MDB_cursor *c, uint64_t *seq, MDB_val *ev)
{
    MDB_val k, d;
    int rc;

    if (q->db == DB_EVENTS) {
        rc = mdb_cursor_get(c, &k, ev, q->desc ? MDB_PREV : MDB_NEXT);
        if (rc == 0)
            *seq = k.mv_size == 8 ? get_be64(k.mv_data) : 0;
        return rc;
    }
    rc = mdb_cursor_get(c, &k, &d, q->desc ? MDB_PREV_DUP : MDB_NEXT_DUP);
    if (rc == 0)
        *seq = d.mv_size == 8 ? get_be64(d.mv_data) : 0;
    return rc;
}

/* Move q->pos past seq; false when the range is exhausted. */
static bool q_advance(query_t *q, uint64_t seq)
{
    if (!q->desc) {
        if (seq >= q->hi)
            return false;
        q->pos = seq + 1;
    } else {
        if (seq <= q->lo)
            return false;
        q->pos = seq - 1;
    }
    return true;
}

/*
 * One read transaction of a query: rows into the chunk until it is full,
 * SCAN_PER_TXN rows were examined, or the query is done (*done). Returns 0
 * or an LMDB error.
 */
static int q_read(store_t *s, op_t *op, MDB_txn *txn, bool *done)
{
    query_t *q = &op->u.query.q;
    chunk_t *ch = &op->u.query.chunk;
    const er_host_t *host = s->host;
    MDB_cursor *c;
    MDB_val ev, k;
    uint8_t kb[8];
    uint64_t seq = 0;
    unsigned scanned = 0;
    int rc;

    if ((rc = mdb_cursor_open(txn, s->dbi[q->db], &c)) != 0)
        return rc;
    for (rc = q_seek(s, q, c, &seq, &ev); rc == 0; rc = q_step(q, c, &seq, &ev)) {
        er_ev_t *e = NULL;
        er_event_t v;

        if (seq == 0 || (!q->desc && seq > q->hi) || (q->desc && seq < q->lo)) {
            rc = MDB_NOTFOUND;
            break;
        }
        scanned++;
        if (q->db != DB_EVENTS) {
            put_be64(kb, seq);
            k.mv_size = 8;
            k.mv_data = kb;
            rc = mdb_get(txn, s->dbi[DB_EVENTS], &k, &ev);
            if (rc != 0 && rc != MDB_NOTFOUND)
                break;
        }
        if (rc == 0) {
            rc = host->event_decode(s->ctx, ev.mv_data, ev.mv_size, &e);
            if (rc != 0) {
                host->log(s->ctx, ER_PLOG_WARN, "%s: seq %" PRIu64 " does not decode (%s); skipped",
                          s->path, seq, strerror(-rc));
            } else if (host->event_get(e, &v, sizeof(v)) == 0 && er_store_filter_match(&q->f, &v)) {
                ch->items[ch->n++] = e;
                ch->bytes += ev.mv_size;
                e = NULL;
                q->matched++;
            }
            host->event_unref(e);
            rc = 0;
        }
        if (!q_advance(q, seq) || (q->f.limit != 0 && q->matched >= q->f.limit)) {
            rc = MDB_NOTFOUND;
            break;
        }
        rc = 0;
        if (ch->n == CHUNK_ROWS || ch->bytes >= CHUNK_BYTES || scanned >= SCAN_PER_TXN)
            break;
    }
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND) {
        *done = true;
        rc = 0;
    }
    return rc;
}

static void run_query(store_t *s, op_t *op)
{
    chunk_t *ch = &op->u.query.chunk;
    bool done = false;
    MDB_txn *txn;
    int rc;

    if ((ch->items = malloc(CHUNK_ROWS * sizeof(void *))) == NULL) {
        op_fail(op, -ENOMEM, "query: out of memory");
        chunk_post(s, op, ch, true);
        return;
    }
    for (;;) {
        if (read_begin(s, op, &txn) != 0) {
            done = true;
        } else {
            rc = q_read(s, op, txn, &done);
            read_end(s);
            if (rc != 0) {
                op_fail_mdb(s, op, "cannot read", rc);
                done = true;
            }
        }
        if (done) {
            chunk_post(s, op, ch, true);
            return;
        }
        if ((ch->n == CHUNK_ROWS || ch->bytes >= CHUNK_BYTES) && !chunk_post(s, op, ch, false))
            return;
    }
}

/* ----------------------------------------------- reader: cursors, dlq, state */

static void run_cursor_list(store_t *s, op_t *op)
{
    chunk_t *ch = &op->u.cursors.chunk;
    MDB_cursor *c;
    MDB_txn *txn;
    MDB_val k, d;
    bool done = false;
    int rc;

    if ((ch->items = malloc(CHUNK_ROWS * sizeof(void *))) == NULL) {
        op_fail(op, -ENOMEM, "cursor_list: out of memory");
        chunk_post(s, op, ch, true);
        return;
    }
    while (!done) {
        if (read_begin(s, op, &txn) != 0) {
            break;
        }
        if ((rc = mdb_cursor_open(txn, s->dbi[DB_CURSORS], &c)) == 0) {
            if (op->u.cursors.after != NULL) {
                k.mv_size = strlen(op->u.cursors.after);
                k.mv_data = op->u.cursors.after;
                rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
                if (rc == 0 && k.mv_size == strlen(op->u.cursors.after) &&
                    memcmp(k.mv_data, op->u.cursors.after, k.mv_size) == 0)
                    rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
            } else {
                rc = mdb_cursor_get(c, &k, &d, MDB_FIRST);
            }
            for (; rc == 0 && ch->n < CHUNK_ROWS; rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
                cursor_item_t *it = malloc(sizeof(*it) + k.mv_size + 1);
                if (it == NULL) {
                    rc = ENOMEM;
                    break;
                }
                it->seq = d.mv_size == 8 ? get_be64(d.mv_data) : 0;
                memcpy(it->name, k.mv_data, k.mv_size);
                it->name[k.mv_size] = '\0';
                ch->items[ch->n++] = it;
            }
            mdb_cursor_close(c);
        }
        read_end(s);
        if (rc == MDB_NOTFOUND) {
            done = true;
        } else if (rc != 0) {
            op_fail_mdb(s, op, "cannot read", rc);
            break;
        } else {
            free(op->u.cursors.after);
            op->u.cursors.after = strdup(((cursor_item_t *)ch->items[ch->n - 1])->name);
            if (op->u.cursors.after == NULL) {
                op_fail(op, -ENOMEM, "cursor_list: out of memory");
                break;
            }
            if (!chunk_post(s, op, ch, false))
                return;
        }
    }
    chunk_post(s, op, ch, true);
}

/* A dead letter's record: see the layout at the top. */
#define DLQ_HEAD 30

static uint8_t *dlq_encode(const er_dead_letter_t *dl, size_t *len)
{
    size_t dn = dl->destination.len, rn = dl->reason.len;
    uint8_t *p;

    if (dn > UINT16_MAX || rn > SIZE_MAX - DLQ_HEAD - dn - 1)
        return NULL;
    if ((p = malloc(DLQ_HEAD + dn + rn + 1)) == NULL)
        return NULL;
    put_be64(p, dl->seq);
    put_be32(p + 8, dl->attempts);
    put_be64(p + 12, (uint64_t)dl->first_failure_us);
    put_be64(p + 20, (uint64_t)dl->last_failure_us);
    p[28] = (uint8_t)(dn >> 8);
    p[29] = (uint8_t)dn;
    if (dn)
        memcpy(p + DLQ_HEAD, dl->destination.ptr, dn);
    if (rn)
        memcpy(p + DLQ_HEAD + dn, dl->reason.ptr, rn);
    *len = DLQ_HEAD + dn + rn;
    return p;
}

/* A listed dead letter, or NULL (ENOMEM, or a record too short: *bad). */
static dlq_item_t *dlq_decode(uint64_t id, const MDB_val *v, bool *bad)
{
    const uint8_t *p = v->mv_data;
    size_t dn, rn;
    dlq_item_t *it;

    *bad = v->mv_size < DLQ_HEAD;
    if (*bad)
        return NULL;
    dn = (size_t)p[28] << 8 | p[29];
    if ((*bad = dn > v->mv_size - DLQ_HEAD))
        return NULL;
    rn = v->mv_size - DLQ_HEAD - dn;
    if ((it = malloc(sizeof(*it) + dn + rn + 2)) == NULL)
        return NULL;
    it->dl.dlq_id = id;
    it->dl.seq = get_be64(p);
    it->dl.attempts = get_be32(p + 8);
    it->dl.first_failure_us = (int64_t)get_be64(p + 12);
    it->dl.last_failure_us = (int64_t)get_be64(p + 20);
    memcpy(it->text, p + DLQ_HEAD, dn);
    it->text[dn] = '\0';
    memcpy(it->text + dn + 1, p + DLQ_HEAD + dn, rn);
    it->text[dn + 1 + rn] = '\0';
    it->dl.destination.ptr = it->text;
    it->dl.destination.len = dn;
    it->dl.reason.ptr = it->text + dn + 1;
    it->dl.reason.len = rn;
    return it;
}

static void run_dlq_list(store_t *s, op_t *op)
{
    chunk_t *ch = &op->u.dlq.chunk;
    const char *dest = op->u.dlq.destination;
    size_t dlen = dest ? strlen(dest) : 0;
    unsigned scanned;
    MDB_cursor *c;
    MDB_txn *txn;
    MDB_val k, d;
    uint8_t kb[8];
    bool done = false, bad;
    int rc;

    if ((ch->items = malloc(CHUNK_ROWS * sizeof(void *))) == NULL) {
        op_fail(op, -ENOMEM, "dlq_list: out of memory");
        chunk_post(s, op, ch, true);
        return;
    }
    while (!done) {
        if (op->u.dlq.after == UINT64_MAX ||
            (op->u.dlq.max != 0 && op->u.dlq.count >= op->u.dlq.max))
            break;
        if (read_begin(s, op, &txn) != 0) {
            break;
        }
        scanned = 0;
        if ((rc = mdb_cursor_open(txn, s->dbi[DB_DLQ], &c)) == 0) {
            put_be64(kb, op->u.dlq.after + 1);
            k.mv_size = 8;
            k.mv_data = kb;
            for (rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE); rc == 0;
                 rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
                uint64_t id = k.mv_size == 8 ? get_be64(k.mv_data) : 0;
                dlq_item_t *it = dlq_decode(id, &d, &bad);
                if (it == NULL && !bad) {
                    rc = ENOMEM;
                    break;
                }
                op->u.dlq.after = id;
                if (it != NULL && (dest == NULL || (it->dl.destination.len == dlen &&
                                                    memcmp(it->text, dest, dlen) == 0))) {
                    ch->items[ch->n++] = it;
                    op->u.dlq.count++;
                } else {
                    free(it);
                }
                if (id == UINT64_MAX || (op->u.dlq.max != 0 && op->u.dlq.count >= op->u.dlq.max)) {
                    rc = MDB_NOTFOUND;
                    break;
                }
                if (ch->n == CHUNK_ROWS || ++scanned >= SCAN_PER_TXN)
                    break;
            }
            mdb_cursor_close(c);
        }
        read_end(s);
        if (rc == MDB_NOTFOUND) {
            done = true;
        } else if (rc != 0) {
            op_fail_mdb(s, op, "cannot read", rc);
            break;
        } else if (ch->n == CHUNK_ROWS && !chunk_post(s, op, ch, false)) {
            return;
        }
    }
    chunk_post(s, op, ch, true);
}

static void run_state_get(store_t *s, op_t *op)
{
    MDB_txn *txn;
    MDB_val k = {op->u.state_get.klen, op->u.state_get.key}, v;
    int rc;

    if (read_begin(s, op, &txn) == 0) {
        rc = mdb_get(txn, s->dbi[DB_STATE], &k, &v);
        if (rc == 0) {
            if ((op->u.state_get.buf = malloc(v.mv_size ? v.mv_size : 1)) == NULL)
                op_fail(op, -ENOMEM, "state_get: out of memory");
            else
                memcpy(op->u.state_get.buf, v.mv_data, v.mv_size);
            op->u.state_get.n = v.mv_size;
        } else if (rc != MDB_NOTFOUND) {
            op_fail_mdb(s, op, "cannot read", rc);
        }
        read_end(s);
    }
    post(s, op);
}

static void reader_main(void *arg)
{
    store_t *s = arg;
    op_t *op;

    for (;;) {
        uv_mutex_lock(&s->rlock);
        while (s->rq.head == NULL)
            uv_cond_wait(&s->rcond, &s->rlock);
        op = s->rq.head;
        s->rq.head = op->next;
        if (s->rq.head == NULL)
            s->rq.tail = NULL;
        uv_mutex_unlock(&s->rlock);

        if (op->kind == OP_READER_STOP) {
            free(op);
            uv_mutex_lock(&s->elock);
            s->reader_exited = true;
            uv_cond_broadcast(&s->econd);
            uv_mutex_unlock(&s->elock);
            return;
        }
        /* Reads submitted before the open completed wait for it. */
        uv_mutex_lock(&s->elock);
        while (s->env_state == 0)
            uv_cond_wait(&s->econd, &s->elock);
        uv_mutex_unlock(&s->elock);

        switch (op->kind) {
        case OP_QUERY:
            run_query(s, op);
            break;
        case OP_CURSOR_LIST:
            run_cursor_list(s, op);
            break;
        case OP_DLQ_LIST:
            run_dlq_list(s, op);
            break;
        default:
            run_state_get(s, op);
            break;
        }
    }
}

/* ------------------------------------------------- maintenance: threads */

/*
 * check, backup and compact each run on a thread of their own, so neither
 * the writer (appends go on) nor the reader (queries, deliveries catching
 * up) waits for them. Each reads in one read transaction of its own: a
 * consistent snapshot, which pins the pages it sees until it ends (the
 * file may grow while a long check or backup runs). s->maint keeps env
 * open under them (see writer_stop and panic_reopen).
 */

/* Record one report item: problems and notes beyond
 * ER_STORE_CHECK_MAX_REPORTED are only counted. */
static void maint_report(op_t *op, er_store_report_kind_t kind, const char *name, int64_t value,
                         const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void maint_report(op_t *op, er_store_report_kind_t kind, const char *name, int64_t value,
                         const char *fmt, ...)
{
    report_item_t *it;
    va_list ap;
    char *text = NULL;

    if (kind == ER_STORE_PROBLEM && ++op->u.maint.problems > ER_STORE_CHECK_MAX_REPORTED)
        return;
    if (kind == ER_STORE_NOTE && ++op->u.maint.notes > ER_STORE_CHECK_MAX_REPORTED)
        return;
    if (op->u.maint.n == op->u.maint.cap) {
        size_t ncap = op->u.maint.cap ? op->u.maint.cap * 2 : 16;
        report_item_t *grown = realloc(op->u.maint.items, ncap * sizeof(*grown));
        if (grown == NULL)
            return; /* the totals still count it */
        op->u.maint.items = grown;
        op->u.maint.cap = ncap;
    }
    if (fmt != NULL) {
        va_start(ap, fmt);
        if (vasprintf(&text, fmt, ap) < 0)
            text = NULL;
        va_end(ap);
    }
    it = &op->u.maint.items[op->u.maint.n++];
    it->kind = kind;
    it->name = name;
    it->value = value;
    it->text = text;
}

static void maint_figure(op_t *op, const char *name, uint64_t value)
{
    maint_report(op, ER_STORE_FIGURE, name, (int64_t)value, NULL);
}

/* Does the stored event `seq` have field value `key` in index x? */
static int check_entry(store_t *s, MDB_txn *txn, int x, const MDB_val *key, uint64_t seq,
                       bool *stored, bool *same)
{
    MDB_val k, v;
    er_ev_t *ev = NULL;
    er_event_t e;
    uint8_t kb[8];
    er_str_t f;
    int rc;

    *stored = *same = false;
    put_be64(kb, seq);
    k.mv_size = 8;
    k.mv_data = kb;
    if ((rc = mdb_get(txn, s->dbi[DB_EVENTS], &k, &v)) == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return rc;
    *stored = true;
    if (s->host->event_decode(s->ctx, v.mv_data, v.mv_size, &ev) != 0 ||
        s->host->event_get(ev, &e, sizeof(e)) != 0) {
        s->host->event_unref(ev);
        *same = true; /* the event's own problem, reported with the events */
        return 0;
    }
    f = index_field(&e, x);
    *same = f.len == key->mv_size && (f.len == 0 || memcmp(f.ptr, key->mv_data, f.len) == 0);
    s->host->event_unref(ev);
    return 0;
}

/* The entries of index x that no stored event accounts for: some exist
 * (the index holds more entries than the events found in it). */
static int check_index_extra(store_t *s, op_t *op, MDB_txn *txn, int x)
{
    const char *db = db_table[INDEX_FIRST + x].name;
    MDB_cursor *c;
    MDB_val k, d;
    bool stored, same;
    uint64_t seq;
    int rc;

    if ((rc = mdb_cursor_open(txn, s->dbi[INDEX_FIRST + x], &c)) != 0)
        return rc;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        if (d.mv_size != 8) {
            maint_report(op, ER_STORE_PROBLEM, "index_bad_entry", 0,
                         "%s \"%.*s\": an entry of %zu bytes is not a seq", db,
                         (int)(k.mv_size > 64 ? 64 : k.mv_size), (const char *)k.mv_data,
                         d.mv_size);
            continue;
        }
        seq = get_be64(d.mv_data);
        if ((rc = check_entry(s, txn, x, &k, seq, &stored, &same)) != 0)
            break;
        if (!stored)
            maint_report(op, ER_STORE_PROBLEM, "index_dangling", (int64_t)seq,
                         "%s \"%.*s\" names seq %" PRIu64 ", which is not stored", db,
                         (int)(k.mv_size > 64 ? 64 : k.mv_size), (const char *)k.mv_data, seq);
        else if (!same)
            maint_report(op, ER_STORE_PROBLEM, "index_wrong_key", (int64_t)seq,
                         "%s \"%.*s\" names seq %" PRIu64 ", whose %s is not that", db,
                         (int)(k.mv_size > 64 ? 64 : k.mv_size), (const char *)k.mv_data, seq,
                         index_table[x].field);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Every event: decodes, has its seq, and has each of its index entries.
 * found[x] counts the entries of index x that were found. */
static int check_events(store_t *s, op_t *op, MDB_txn *txn, uint64_t found[INDEX_COUNT],
                        uint64_t *events, uint64_t *last_seq)
{
    MDB_cursor *c, *ic[INDEX_COUNT] = {NULL};
    MDB_val k, d;
    er_ev_t *ev;
    er_event_t e;
    uint64_t seq;
    int rc, x;

    if ((rc = mdb_cursor_open(txn, s->dbi[DB_EVENTS], &c)) != 0)
        return rc;
    for (x = 0; x < INDEX_COUNT && rc == 0; x++)
        rc = mdb_cursor_open(txn, s->dbi[INDEX_FIRST + x], &ic[x]);
    for (rc = rc ? rc : mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        (*events)++;
        if (k.mv_size != 8) {
            maint_report(op, ER_STORE_PROBLEM, "event_bad_key", 0,
                         "an event's key of %zu bytes is not a seq", k.mv_size);
            continue;
        }
        seq = *last_seq = get_be64(k.mv_data);
        ev = NULL;
        if (s->host->event_decode(s->ctx, d.mv_data, d.mv_size, &ev) != 0 ||
            s->host->event_get(ev, &e, sizeof(e)) != 0) {
            s->host->event_unref(ev);
            maint_report(op, ER_STORE_PROBLEM, "event_undecodable", (int64_t)seq,
                         "seq %" PRIu64 ": the stored event does not decode (%zu bytes)", seq,
                         d.mv_size);
            continue;
        }
        if (!(e.has & ER_HAS_SEQ) || e.seq != seq)
            maint_report(op, ER_STORE_PROBLEM, "event_wrong_seq", (int64_t)seq,
                         "seq %" PRIu64 ": the stored event carries seq %" PRIu64, seq,
                         (e.has & ER_HAS_SEQ) ? e.seq : 0);
        for (x = 0; x < INDEX_COUNT; x++) {
            er_str_t f = index_field(&e, x);
            MDB_val fk = {f.len, (void *)f.ptr}, fd = {8, k.mv_data};
            if (f.len == 0 || f.len > MAX_KEY)
                continue;
            rc = mdb_cursor_get(ic[x], &fk, &fd, MDB_GET_BOTH);
            if (rc == 0)
                found[x]++;
            else if (rc == MDB_NOTFOUND)
                maint_report(op, ER_STORE_PROBLEM, "index_missing", (int64_t)seq,
                             "seq %" PRIu64 ": %s has no entry for its %s \"%.*s\"", seq,
                             db_table[INDEX_FIRST + x].name, index_table[x].field,
                             (int)(f.len > 64 ? 64 : f.len), f.ptr);
            else
                break;
            rc = 0;
        }
        s->host->event_unref(ev);
        if (rc != 0)
            break;
    }
    for (x = 0; x < INDEX_COUNT; x++)
        if (ic[x] != NULL)
            mdb_cursor_close(ic[x]);
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* Cursors past the last stored seq and dead letters whose event is gone:
 * notes, not problems (trim removes events dead letters still name). */
static int check_refs(store_t *s, op_t *op, MDB_txn *txn, uint64_t last_seq, uint64_t *ncursors,
                      uint64_t *ndead)
{
    MDB_cursor *c;
    MDB_val k, d, ek, ed;
    dlq_item_t *it;
    uint8_t kb[8];
    bool bad;
    int rc;

    if ((rc = mdb_cursor_open(txn, s->dbi[DB_CURSORS], &c)) != 0)
        return rc;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        uint64_t seq = d.mv_size == 8 ? get_be64(d.mv_data) : 0;
        (*ncursors)++;
        if (d.mv_size != 8)
            maint_report(op, ER_STORE_PROBLEM, "cursor_bad_record", 0,
                         "cursor \"%.*s\": a record of %zu bytes is not a seq",
                         (int)(k.mv_size > 64 ? 64 : k.mv_size), (const char *)k.mv_data,
                         d.mv_size);
        else if (seq > last_seq)
            maint_report(op, ER_STORE_NOTE, "cursor_ahead", (int64_t)seq,
                         "cursor \"%.*s\" is at seq %" PRIu64 ", past the last stored seq %" PRIu64,
                         (int)(k.mv_size > 64 ? 64 : k.mv_size), (const char *)k.mv_data, seq,
                         last_seq);
    }
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND)
        return rc;
    if ((rc = mdb_cursor_open(txn, s->dbi[DB_DLQ], &c)) != 0)
        return rc;
    for (rc = mdb_cursor_get(c, &k, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &d, MDB_NEXT)) {
        uint64_t id = k.mv_size == 8 ? get_be64(k.mv_data) : 0;
        (*ndead)++;
        if ((it = dlq_decode(id, &d, &bad)) == NULL) {
            if (bad)
                maint_report(op, ER_STORE_PROBLEM, "dlq_bad_record", (int64_t)id,
                             "dead letter %" PRIu64 ": its record (%zu bytes) is unreadable", id,
                             d.mv_size);
            continue;
        }
        put_be64(kb, it->dl.seq);
        ek.mv_size = 8;
        ek.mv_data = kb;
        if (mdb_get(txn, s->dbi[DB_EVENTS], &ek, &ed) == MDB_NOTFOUND)
            maint_report(op, ER_STORE_NOTE, "dlq_event_missing", (int64_t)it->dl.seq,
                         "dead letter %" PRIu64 " (%s) names seq %" PRIu64
                         ", which is no longer stored (trimmed)",
                         id, it->text, it->dl.seq);
        free(it);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static void run_check(store_t *s, op_t *op, MDB_txn *txn)
{
    uint64_t found[INDEX_COUNT] = {0}, events = 0, last = 0, entries = 0, cursors = 0, dead = 0;
    MDB_stat st;
    int rc, x;

    if ((rc = check_events(s, op, txn, found, &events, &last)) != 0)
        goto fail;
    for (x = 0; x < INDEX_COUNT; x++) {
        if ((rc = mdb_stat(txn, s->dbi[INDEX_FIRST + x], &st)) != 0)
            goto fail;
        entries += st.ms_entries;
        /* Every entry found is a distinct (value, seq) of a stored event:
         * only an index holding more has entries to account for. */
        if (st.ms_entries > found[x] && (rc = check_index_extra(s, op, txn, x)) != 0)
            goto fail;
    }
    if ((rc = check_refs(s, op, txn, last, &cursors, &dead)) != 0)
        goto fail;
    maint_figure(op, "events", events);
    maint_figure(op, "index_entries", entries);
    maint_figure(op, "cursors", cursors);
    maint_figure(op, "dead_letters", dead);
    maint_figure(op, "problems", op->u.maint.problems);
    maint_figure(op, "notes", op->u.maint.notes);
    return;
fail:
    op_fail_mdb(s, op, "cannot check", rc);
}

/* dir exists (made DIR_MODE if missing) and is empty. */
static int backup_dir(op_t *op, const char *dir)
{
    struct dirent *de;
    DIR *d;
    int rc;

    if (dir[0] != '/') {
        op_fail(op, -EINVAL, "backup: %s is not an absolute path", dir);
        return -EINVAL;
    }
    if ((rc = make_dirs(dir)) != 0) {
        op_fail(op, rc, "backup: cannot create %s: %s", dir, strerror(-rc));
        return rc;
    }
    if ((d = opendir(dir)) == NULL) {
        rc = -errno;
        op_fail(op, rc, "backup: cannot read %s: %s", dir, strerror(-rc));
        return rc;
    }
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            break;
    closedir(d);
    if (de != NULL) {
        op_fail(op, -EEXIST,
                "backup: %s is not empty (a backup goes into a new or empty directory)", dir);
        return -EEXIST;
    }
    return 0;
}

/* fsync path (a file or a directory); 0 or a negative errno. */
static int sync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

/*
 * mdb_env_copy2 with MDB_CP_COMPACT: a read transaction's snapshot, free
 * pages left out, written to dir/data.mdb; appends go on meanwhile. Then
 * the copy and the directory are synced, so a backup that completed is on
 * disk.
 */
static void run_backup(store_t *s, op_t *op)
{
    const char *dir = op->u.maint.dir;
    char file[PATH_MAX];
    struct stat st;
    int rc;

    if (backup_dir(op, dir) != 0)
        return;
    if (snprintf(file, sizeof(file), "%s/%s", dir, DATA_NAME) >= (int)sizeof(file)) {
        op_fail(op, -ENAMETOOLONG, "backup: %s is too long", dir);
        return;
    }
    rc = mdb_env_copy2(s->env, dir, MDB_CP_COMPACT);
    if (rc != 0 && rc != ENOSPC && !(rc == EIO && disk_full(s))) {
        /* LMDB refuses to compact an environment that leaked pages: a
         * plain copy is as consistent, only larger. */
        s->host->log(s->ctx, ER_PLOG_WARN, "%s: compacting copy failed (%s); copying as it is",
                     s->path, mdb_strerror(rc));
        unlink(file);
        rc = mdb_env_copy2(s->env, dir, 0);
    }
    if (rc != 0) {
        op_fail(op, rc == ENOSPC ? -ENOSPC : mdb_errno(s, rc), "backup of %s to %s failed: %s",
                s->path, dir, mdb_strerror(rc));
        unlink(file);
        return;
    }
    if ((rc = sync_path(file)) != 0 || (rc = sync_path(dir)) != 0) {
        op_fail(op, rc, "backup: cannot sync %s: %s", file, strerror(-rc));
        return;
    }
    if (stat(file, &st) == 0)
        op->u.maint.bytes = (uint64_t)st.st_size;
}

/*
 * LMDB cannot shrink data.mdb in place: pages freed by trims go to its
 * free list and later writes reuse them. compact reports how much of the
 * file is free (and would be left out of a compacted copy); it changes
 * nothing. A backup is such a compacted copy.
 */
static void run_compact(store_t *s, op_t *op, MDB_txn *txn)
{
    char file[PATH_MAX];
    MDB_envinfo info;
    MDB_stat st;
    struct stat fst;
    uint64_t free_pages = 0, alloc, file_bytes = 0, live;
    int rc;

    snprintf(file, sizeof(file), "%s/%s", s->path, DATA_NAME);
    if ((rc = mdb_env_info(s->env, &info)) != 0 || (rc = mdb_env_stat(s->env, &st)) != 0 ||
        (rc = count_free_pages(txn, &free_pages)) != 0) {
        op_fail_mdb(s, op, "cannot inspect", rc);
        return;
    }
    if (stat(file, &fst) == 0)
        file_bytes = (uint64_t)fst.st_size;
    alloc = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    live = alloc - (free_pages * st.ms_psize < alloc ? free_pages * st.ms_psize : alloc);
    maint_figure(op, "file_bytes", file_bytes);
    maint_figure(op, "allocated_bytes", alloc);
    maint_figure(op, "used_bytes", live);
    maint_figure(op, "free_pages", free_pages);
    maint_figure(op, "free_bytes", free_pages * st.ms_psize);
    maint_figure(op, "reclaimable_bytes", file_bytes > live ? file_bytes - live : 0);
    maint_figure(op, "compacted", 0);
    maint_report(op, ER_STORE_NOTE, "not_in_place", 0,
                 "LMDB cannot shrink %s while it is open: free pages are reused by later "
                 "writes; to shrink the file, take a backup (a compacted copy) and restore it",
                 file);
}

static void maint_main(void *arg)
{
    op_t *op = arg;
    store_t *s = op->u.maint.s;
    MDB_txn *txn = NULL;
    bool open;
    int rc;

    /* Submitted before the open completed: wait for it. */
    uv_mutex_lock(&s->elock);
    while (s->env_state == 0)
        uv_cond_wait(&s->econd, &s->elock);
    open = s->env != NULL && s->env_state == 1;
    if (!open)
        op_fail(op, s->env_err ? s->env_err : -EIO, "store not open: %s", s->env_msg);
    uv_mutex_unlock(&s->elock);

    if (open && op->kind == OP_BACKUP) {
        run_backup(s, op);
    } else if (open) {
        if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn)) != 0) {
            op_fail_mdb(s, op, "cannot read", rc);
        } else {
            if (op->kind == OP_CHECK)
                run_check(s, op, txn);
            else
                run_compact(s, op, txn);
            mdb_txn_abort(txn);
        }
    }
    /* Posted under elock, so before the writer can post STOP. */
    uv_mutex_lock(&s->elock);
    s->maint--;
    post(s, op);
    uv_cond_broadcast(&s->econd);
    uv_mutex_unlock(&s->elock);
}

/* ------------------------------------------------------ loop: deliveries */

static void op_free(op_t *op)
{
    size_t i;

    switch (op->kind) {
    case OP_CURSOR_SET:
    case OP_CURSOR_DELETE:
        free(op->u.cursor.name);
        break;
    case OP_DLQ_ADD:
        free(op->u.dlq_add.rec);
        break;
    case OP_STATE_SET:
        free(op->u.state_set.key); /* the value shares its allocation */
        break;
    case OP_TRIM:
    case OP_DELETE_STREAM:
        free(op->u.del.stream);
        break;
    case OP_QUERY:
        free(op->u.query.q.strs);
        free(op->u.query.chunk.items);
        break;
    case OP_CURSOR_LIST:
        for (i = 0; i < op->u.cursors.chunk.n; i++)
            free(op->u.cursors.chunk.items[i]);
        free(op->u.cursors.chunk.items);
        free(op->u.cursors.after);
        break;
    case OP_DLQ_LIST:
        for (i = 0; i < op->u.dlq.chunk.n; i++)
            free(op->u.dlq.chunk.items[i]);
        free(op->u.dlq.chunk.items);
        free(op->u.dlq.destination);
        break;
    case OP_STATE_GET:
        free(op->u.state_get.key);
        free(op->u.state_get.buf);
        break;
    case OP_CHECK:
    case OP_BACKUP:
    case OP_COMPACT:
        for (i = 0; i < op->u.maint.n; i++)
            free(op->u.maint.items[i].text);
        free(op->u.maint.items);
        free(op->u.maint.dir);
        break;
    default:
        break;
    }
    free(op->msg);
    free(op);
}

/* Complete op's token (results were handed over already) and free it. */
static void finish(store_t *s, op_t *op)
{
    if (op->kind >= OP_QUERY)
        atomic_fetch_add(&s->st_reads, 1);
    if (op->err != 0)
        s->host->complete_errno(op->token, op->err, op->msg);
    else
        s->host->complete(op->token, ER_OK);
    op_free(op);
}

/* The head as open() found it, member by member as far as the host's
 * struct reaches. */
#define HEAD_SET(h, m, v)                                                                          \
    do {                                                                                           \
        if ((h)->size >= offsetof(er_store_head_t, m) + sizeof((h)->m))                            \
            (h)->m = (v);                                                                          \
    } while (0)

static void deliver_head(op_t *op)
{
    er_store_head_t *out = op->u.open.out, *h = &op->u.open.head;

    HEAD_SET(out, first_seq, h->first_seq);
    HEAD_SET(out, last_seq, h->last_seq);
    HEAD_SET(out, reserved, h->reserved);
    HEAD_SET(out, events, h->events);
    HEAD_SET(out, clean, h->clean);
    HEAD_SET(out, created, h->created);
}

/* A reader chunk: hand each item over (unless a callback said stop),
 * release it, then let the reader go on or complete the token. */
static void deliver_chunk(store_t *s, op_t *op, chunk_t *ch)
{
    size_t i;
    bool stop = ch->stop;

    for (i = 0; i < ch->n; i++) {
        void *it = ch->items[i];
        switch (op->kind) {
        case OP_QUERY:
            if (!stop && op->err == 0)
                stop = op->u.query.q.row(op->u.query.q.arg, it) != 0;
            s->host->event_unref(it);
            break;
        case OP_CURSOR_LIST:
            if (!stop && op->err == 0)
                stop = op->u.cursors.each(op->u.cursors.arg, ((cursor_item_t *)it)->name,
                                          ((cursor_item_t *)it)->seq) != 0;
            free(it);
            break;
        default: /* OP_DLQ_LIST */
            if (!stop && op->err == 0)
                stop = op->u.dlq.each(op->u.dlq.arg, &((dlq_item_t *)it)->dl) != 0;
            free(it);
            break;
        }
    }
    ch->n = 0;
    if (ch->last) {
        if (stop)
            op_clear(op); /* stopped early: OK, whatever came after */
        finish(s, op);
        return;
    }
    uv_mutex_lock(&s->rlock);
    ch->stop = stop;
    ch->consumed = true;
    uv_cond_broadcast(&s->rcond);
    uv_mutex_unlock(&s->rlock);
}

/* A maintenance op: its thread has posted it (its last act), so the join
 * is short; hand the reports over, then complete. */
static void deliver_maint(store_t *s, op_t *op)
{
    size_t i;
    bool stop = false;

    uv_thread_join(&op->u.maint.thread);
    s->maint_busy = false;
    if (op->err == 0 && op->u.maint.report != NULL)
        for (i = 0; i < op->u.maint.n && !stop; i++) {
            report_item_t *it = &op->u.maint.items[i];
            stop =
                op->u.maint.report(op->u.maint.arg, it->kind, it->name, it->value, it->text) != 0;
        }
    if (op->err == 0 && op->u.maint.out != NULL)
        *op->u.maint.out = op->u.maint.bytes;
    if (op->kind == OP_BACKUP && op->err == 0)
        s->host->log(s->ctx, ER_PLOG_NOTICE, "backup of %s written to %s (%" PRIu64 " bytes)",
                     s->path, op->u.maint.dir, op->u.maint.bytes);
    finish(s, op);
}

static void on_closed(er_mailbox_t *mb)
{
    store_t *s = mb->data;

    s->state = ST_STOPPED;
    s->done(s->done_arg);
}

static void on_mail(er_mailbox_t *mb, er_mail_t *m)
{
    store_t *s = mb->data;
    op_t *op = (op_t *)m;

    switch (op->kind) {
    case OP_OPEN:
        if (op->err == 0)
            deliver_head(op);
        if (s->state == ST_OPENING)
            s->state = op->err == 0 ? ST_OPEN : ST_FAILED;
        finish(s, op);
        break;
    case OP_DLQ_ADD:
        if (op->err == 0)
            *op->u.dlq_add.out = op->u.dlq_add.id;
        finish(s, op);
        break;
    case OP_TRIM:
    case OP_DELETE_STREAM:
        *op->u.del.out = op->u.del.done;
        finish(s, op);
        break;
    case OP_QUERY:
        deliver_chunk(s, op, &op->u.query.chunk);
        break;
    case OP_CURSOR_LIST:
        deliver_chunk(s, op, &op->u.cursors.chunk);
        break;
    case OP_DLQ_LIST:
        deliver_chunk(s, op, &op->u.dlq.chunk);
        break;
    case OP_STATE_GET:
        *op->u.state_get.value = op->u.state_get.buf;
        *op->u.state_get.len = op->u.state_get.buf ? op->u.state_get.n : 0;
        finish(s, op); /* the value stays valid until complete() returns */
        break;
    case OP_CHECK:
    case OP_BACKUP:
    case OP_COMPACT:
        deliver_maint(s, op);
        break;
    case OP_STOP:
        free(op);
        if (!s->threads)
            break; /* open() gave up on starting the reader: nothing to close */
        /* The writer posted this last, after the reader left. */
        uv_thread_join(&s->reader);
        uv_thread_join(&s->writer);
        s->threads = false;
        er__mailbox_close(&s->mb, on_closed);
        break;
    default:
        finish(s, op);
        break;
    }
}

/* ------------------------------------------------------- loop: submitting */

/* May an operation be submitted now? 0 or the negative errno to return. */
static int can_submit(const store_t *s, const er_token_t *token)
{
    if (token == NULL)
        return -EINVAL;
    switch (s->state) {
    case ST_OPENING:
    case ST_OPEN:
        return 0;
    case ST_NEW:
    case ST_FAILED:
        return -ENOTCONN;
    default:
        return -ESHUTDOWN;
    }
}

static op_t *op_new(int kind, er_token_t *token, size_t extra)
{
    op_t *op = calloc(1, sizeof(*op) + extra);

    if (op != NULL) {
        op->kind = kind;
        op->token = token;
    }
    return op;
}

static void queue_push(queue_t *q, op_t *op)
{
    op->next = NULL;
    if (q->tail != NULL)
        q->tail->next = op;
    else
        q->head = op;
    q->tail = op;
}

static int submit_write(store_t *s, op_t *op)
{
    atomic_fetch_add(&s->st_queue, 1);
    uv_mutex_lock(&s->wlock);
    queue_push(&s->wq, op);
    uv_cond_signal(&s->wcond);
    uv_mutex_unlock(&s->wlock);
    return ER_PENDING;
}

static int submit_read(store_t *s, op_t *op)
{
    uv_mutex_lock(&s->rlock);
    queue_push(&s->rq, op);
    uv_cond_broadcast(&s->rcond);
    uv_mutex_unlock(&s->rlock);
    return ER_PENDING;
}

/* "scope NUL key" as one allocation with room for `extra` bytes after it;
 * NULL on ENOMEM. -EINVAL (via *err) when it is longer than a key may be. */
static char *state_key(const char *scope, const char *key, size_t extra, size_t *klen, int *err)
{
    size_t a = strlen(scope), b = strlen(key);
    char *k;

    *err = 0;
    if (a + b + 1 > MAX_KEY || b == 0) {
        *err = -EINVAL;
        return NULL;
    }
    if (extra > UINT32_MAX) { /* LMDB's largest value, and no size overflow below */
        *err = -E2BIG;
        return NULL;
    }
    if ((k = malloc(a + b + 1 + extra + 1)) == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    memcpy(k, scope, a);
    k[a] = '\0';
    memcpy(k + a + 1, key, b);
    *klen = a + 1 + b;
    return k;
}

/* ------------------------------------------------------------ lifecycle */

static int lmdb_create(const er_host_t *host, er_plugin_ctx_t *ctx, const er_options_t *opts,
                       void **instance)
{
    const char *path = NULL, *sync = NULL;
    uint64_t map_size = 0;
    store_t *s;
    int rc;

    if (!ER_HOST_HAS(host, complete_errno) || !ER_HOST_HAS(host, event_decode)) {
        host->log(ctx, ER_PLOG_ERROR, "this store needs a host of plugin ABI 1.1 or later");
        return -ENOTSUP;
    }
    if ((rc = host->opt_string(opts, "path", &path)) != 0 ||
        (rc = host->opt_uint(opts, "map_size", &map_size)) != 0 ||
        (rc = host->opt_string(opts, "sync", &sync)) != 0) {
        host->log(ctx, ER_PLOG_ERROR, "options: %s", er_strerror(rc));
        return rc;
    }
    if (path[0] != '/') {
        host->log(ctx, ER_PLOG_ERROR, "path \"%s\" is relative: give an absolute path", path);
        return -EINVAL;
    }
    if ((uint64_t)(size_t)map_size != map_size) {
        host->log(ctx, ER_PLOG_ERROR, "map_size %" PRIu64 " does not fit this machine", map_size);
        return -ERANGE;
    }
    if ((s = host->alloc(sizeof(*s))) == NULL)
        return -ENOMEM;
    memset(s, 0, sizeof(*s));
    if ((s->path = strdup(path)) == NULL) {
        host->free(s);
        return -ENOMEM;
    }
    /* A trailing slash would double in file names. */
    while (strlen(s->path) > 1 && s->path[strlen(s->path) - 1] == '/')
        s->path[strlen(s->path) - 1] = '\0';
    s->host = host;
    s->ctx = ctx;
    s->map_size = map_size;
    s->nosync = strcmp(sync, "none") == 0;
    s->lock_fd = -1;
    s->state = ST_NEW;
    atomic_init(&s->st_map_size, map_size);
    if (uv_mutex_init(&s->wlock) != 0 || uv_cond_init(&s->wcond) != 0 ||
        uv_mutex_init(&s->rlock) != 0 || uv_cond_init(&s->rcond) != 0 ||
        uv_mutex_init(&s->elock) != 0 || uv_cond_init(&s->econd) != 0)
        abort(); /* glibc's mutex and condvar inits cannot fail */
    *instance = s;
    return 0;
}

/* The mailbox of an open() that failed to start its threads is closed. */
static void on_mb_closed_early(er_mailbox_t *mb)
{
    store_t *s = mb->data;
    er_done_cb done = s->done;

    s->mb_closing = false;
    s->done = NULL;
    if (done != NULL) /* stop() came while the mailbox was closing */
        done(s->done_arg);
}

static int lmdb_open(void *instance, er_store_head_t *head, er_token_t *token)
{
    store_t *s = instance;
    uv_loop_t *loop;
    op_t *op;
    int rc;

    if (s->state != ST_NEW)
        return -EALREADY;
    if (head == NULL || token == NULL)
        return -EINVAL;
    if ((loop = s->host->uv_loop(s->ctx)) == NULL)
        return -ENOTCONN;
    if ((op = op_new(OP_OPEN, token, 0)) == NULL)
        return -ENOMEM;
    op->u.open.out = head;
    op->u.open.head.size = sizeof(er_store_head_t);
    if ((rc = er__mailbox_init(&s->mb, loop, on_mail)) != 0) {
        free(op);
        return rc;
    }
    s->mb.data = s;
    if ((rc = uv_thread_create(&s->writer, writer_main, s)) != 0) {
        free(op);
        s->mb_closing = true;
        er__mailbox_close(&s->mb, on_mb_closed_early);
        return rc;
    }
    if ((rc = uv_thread_create(&s->reader, reader_main, s)) != 0) {
        /* Stop the writer before it has anything to do. */
        op->kind = OP_STOP;
        s->reader_exited = true;
        submit_write(s, op);
        uv_thread_join(&s->writer);
        s->mb_closing = true; /* the STOP mail is freed as the mailbox closes */
        er__mailbox_close(&s->mb, on_mb_closed_early);
        return rc;
    }
    s->threads = true;
    s->state = ST_OPENING;
    return submit_write(s, op);
}

static void lmdb_stop(void *instance, er_done_cb done, void *done_arg)
{
    store_t *s = instance;
    op_t *rstop, *wstop;

    if (s->state == ST_STOPPING) {
        s->host->log(s->ctx, ER_PLOG_ERROR, "plugin bug: stop() called twice; ignored");
        return;
    }
    if (!s->threads) {
        /* Never opened: nothing runs, nothing is pending. If a failed open
         * is still closing the mailbox, done waits for it. */
        s->state = ST_STOPPED;
        if (s->mb_closing) {
            s->done = done;
            s->done_arg = done_arg;
            return;
        }
        done(done_arg);
        return;
    }
    atomic_store(&s->stopping, true); /* a running query ends at its next chunk */
    s->state = ST_STOPPING;
    s->done = done;
    s->done_arg = done_arg;
    rstop = op_new(OP_READER_STOP, NULL, 0);
    wstop = op_new(OP_STOP, NULL, 0);
    if (rstop == NULL || wstop == NULL)
        abort(); /* two small allocations; without them the threads cannot end */
    submit_read(s, rstop);
    submit_write(s, wstop);
}

static void lmdb_destroy(void *instance)
{
    store_t *s = instance;

    if (s->threads || s->mb_closing) {
        /* Freeing under running threads (or an async handle still
         * closing) would crash them: keep it. */
        s->host->log(s->ctx, ER_PLOG_ERROR,
                     "destroy() before stop() was done: the store %s stays open", s->path);
        return;
    }
    er__buf_free(&s->enc);
    uv_mutex_destroy(&s->wlock);
    uv_cond_destroy(&s->wcond);
    uv_mutex_destroy(&s->rlock);
    uv_cond_destroy(&s->rcond);
    uv_mutex_destroy(&s->elock);
    uv_cond_destroy(&s->econd);
    free(s->path);
    s->host->free(s);
}

static er_durability_t lmdb_durability(void *instance)
{
    store_t *s = instance;

    return s->nosync ? ER_DURABILITY_PROCESS : ER_DURABILITY_DISK;
}

/* ------------------------------------------------------------ operations */

static int lmdb_append(void *instance, er_ev_t *const *evs, size_t n, er_token_t *token)
{
    store_t *s = instance;
    op_t *op;
    size_t i;
    int rc;

    if ((rc = can_submit(s, token)) != 0)
        return rc;
    if (n > 0 && evs == NULL)
        return -EINVAL;
    if (n > (SIZE_MAX - sizeof(op_t)) / sizeof(er_ev_t *))
        return -E2BIG;
    if ((op = op_new(OP_APPEND, token, n * sizeof(er_ev_t *))) == NULL)
        return -ENOMEM;
    op->u.append.evs = (er_ev_t **)(op + 1);
    op->u.append.n = n;
    for (i = 0; i < n; i++)
        op->u.append.evs[i] = s->host->event_ref(evs[i]);
    return submit_write(s, op);
}

static int lmdb_reserve(void *instance, uint64_t upto, er_token_t *token)
{
    store_t *s = instance;
    op_t *op;
    int rc;

    if ((rc = can_submit(s, token)) != 0)
        return rc;
    if ((op = op_new(OP_RESERVE, token, 0)) == NULL)
        return -ENOMEM;
    op->u.reserve.upto = upto;
    return submit_write(s, op);
}

static int cursor_op(store_t *s, int kind, const char *name, uint64_t seq, er_token_t *token)
{
    op_t *op;
    int rc;

    if ((rc = can_submit(s, token)) != 0)
        return rc;
    if (name == NULL || name[0] == '\0' || strlen(name) > MAX_KEY)
        return -EINVAL;
    if ((op = op_new(kind, token, 0)) == NULL)
        return -ENOMEM;
    if ((op->u.cursor.name = strdup(name)) == NULL) {
        free(op);
        return -ENOMEM;
    }
    op->u.cursor.seq = seq;
    return submit_write(s, op);
}

static int lmdb_cursor_set(void *instance, const char *name, uint64_t seq, er_token_t *token)
{
    return cursor_op(instance, OP_CURSOR_SET, name, seq, token);
}

static int lmdb_cursor_delete(void *instance, const char *name, er_token_t *token)
{
    return cursor_op(instance, OP_CURSOR_DELETE, name, 0, token);
}

static int lmdb_dlq_add(void *instance, const er_dead_letter_t *dl, uint64_t *dlq_id,
                        er_token_t *token)
{
    store_t *s = instance;
    op_t *op;
    int rc;

    if ((rc = can_submit(s, token)) != 0)
        return rc;
    if (dl == NULL || dlq_id == NULL || (dl->destination.len && !dl->destination.ptr) ||
        (dl->reason.len && !dl->reason.ptr))
        return -EINVAL;
    if (dl->destination.len > UINT16_MAX)
        return -ENAMETOOLONG;
    if ((op = op_new(OP_DLQ_ADD, token, 0)) == NULL)
        return -ENOMEM;
    if ((op->u.dlq_add.rec = dlq_encode(dl, &op->u.dlq_add.len)) == NULL) {
        free(op);
        return -ENOMEM;
    }
    op->u.dlq_add.out = dlq_id;
    return submit_write(s, op);
}

static int lmdb_dlq_delete(void *instance, uint64_t dlq_id, er_token_t *token)
{
    store_t *s = instance;
    op_t *op;
    int rc;

    if ((rc = can_submit(s, token)) != 0)
        return rc;
    if ((op = op_new(OP_DLQ_DELETE, token, 0)) == NULL)
        return -ENOMEM;
    op->u.dlq_delete.id = dlq_id;
    return submit_write(s, op);
}

static int lmdb_state_set(void *instance, const char *scope, const char *key, const void *value,
                          size_t len, er_token_t *token)
{
    store_t *s = instance;
    op_t *op;
    char *k;
    size_t klen;
    int rc;

    if ((rc = can_submit(s, token)) != 0)
        return rc;
    if (scope == NULL || key == NULL || (value == NULL && len != 0))
        return -EINVAL;
    if ((op = op_new(OP_STATE_SET, token, 0)) == NULL)
        return -ENOMEM;
    if ((k = state_key(scope, key, value ? len : 0, &klen, &rc)) == NULL) {
        free(op);
        return rc;
    }
    op->u.state_set.key = k;
    op->u.state_set.klen = klen;
    if (value != NULL) {
        op->u.state_set.value = k + klen + 1;
        memcpy(op->u.state_set.value, value, len);
        op->u.state_set.len = len;
    }
    return submit_write(s, op);
}

static int lmdb_trim(void *instance, uint64_t before_seq, uint64_t max, uint64_t *trimmed,
                     er_token_t *token)
{
    store_t *s = instance;
    op_t *op;
    int rc;

    if ((rc = can_submit(s, token)) != 0)
        return rc;
    if (trimmed == NULL)
        return -EINVAL;
    if ((op = op_new(OP_TRIM, token, 0)) == NULL)
        return -ENOMEM;
    op->u.del.before = before_seq;
    op->u.del.max = max;
    op->u.del.out = trimmed;
    return submit_write(s, op);
}

static int lmdb_delete_stream(void *instance, const char *stream, uint64_t max, uint64_t *deleted,
                              er_token_t *token)
{
    store_t *s = instance;
    op_t *op;
    int rc;

    if ((rc = can_submit(s, token)) != 0)
        return rc;
    if (stream == NULL || stream[0] == '\0' || strlen(stream) > MAX_KEY || deleted == NULL)
        return -EINVAL;
    if ((op = op_new(OP_DELETE_STREAM, token, 0)) == NULL)
        return -ENOMEM;
    if ((op->u.del.stream = strdup(stream)) == NULL) {
        free(op);
        return -ENOMEM;
    }
    op->u.del.max = max;
    op->u.del.out = deleted;
    return submit_write(s, op);
}

/* The filter (borrowed until return) as the reader's plan: the index to
 * use and the seq bounds, with copies of its strings. */
static int query_plan(query_t *q, const er_store_filter_t *filter)
{
    size_t n = filter->size < sizeof(q->f) ? filter->size : sizeof(q->f), total = 0, i;
    er_str_t *strs[4] = {&q->f.stream, &q->f.correlation_id, &q->f.id, &q->f.type};
    char *p;

    memset(&q->f, 0, sizeof(q->f));
    memcpy(&q->f, filter, n);
    q->f.size = sizeof(q->f);
    for (i = 0; i < 4; i++) {
        if (strs[i]->len > 0 && strs[i]->ptr == NULL)
            return -EINVAL;
        total += strs[i]->len + 1;
    }
    if ((q->strs = p = malloc(total)) == NULL)
        return -ENOMEM;
    q->db = DB_EVENTS;
    for (i = 0; i < 4; i++) {
        size_t len = strs[i]->len;
        memcpy(p, strs[i]->ptr ? strs[i]->ptr : "", len);
        p[len] = '\0';
        strs[i]->ptr = p;
        p += len + 1;
        if (len > 0 && q->db == DB_EVENTS) {
            q->db = INDEX_FIRST + (int)i;
            q->key = *strs[i];
        }
    }
    q->desc = (q->f.flags & ER_STORE_DESCENDING) != 0;
    if (!q->desc) {
        q->lo = q->f.from_seq;
        q->hi = q->f.to_seq ? q->f.to_seq : UINT64_MAX;
        q->pos = q->lo;
    } else {
        q->hi = q->f.from_seq ? q->f.from_seq : UINT64_MAX;
        q->lo = q->f.to_seq;
        q->pos = q->hi;
    }
    return 0;
}

static int lmdb_query(void *instance, const er_store_filter_t *filter, er_store_row_cb row,
                      void *arg, er_token_t *token)
{
    store_t *s = instance;
    op_t *op;
    int rc;

    if ((rc = can_submit(s, token)) != 0)
        return rc;
    if (filter == NULL || row == NULL || filter->size < offsetof(er_store_filter_t, stream))
        return -EINVAL;
    if ((op = op_new(OP_QUERY, token, 0)) == NULL)
        return -ENOMEM;
    if ((rc = query_plan(&op->u.query.q, filter)) != 0) {
        op_free(op);
        return rc;
    }
    op->u.query.q.row = row;
    op->u.query.q.arg = arg;
    return submit_read(s, op);
}

static int lmdb_cursor_list(void *instance, er_store_cursor_cb each, void *arg, er_token_t *token)
{
    store_t *s = instance;
    op_t *op;
    int rc;

    if ((rc = can_submit(s, token)) != 0)
        return rc;
    if (each == NULL)
        return -EINVAL;
    if ((op = op_new(OP_CURSOR_LIST, token, 0)) == NULL)
        return -ENOMEM;
    op->u.cursors.each = each;
    op->u.cursors.arg = arg;
    return submit_read(s, op);
}

static int lmdb_dlq_list(void *instance, const char *destination, uint64_t after_id, uint64_t max,
                         er_store_dlq_cb each, void *arg, er_token_t *token)
{
    store_t *s = instance;
    op_t *op;
    int rc;

    if ((rc = can_submit(s, token)) != 0)
        return rc;
    if (each == NULL)
        return -EINVAL;
    if ((op = op_new(OP_DLQ_LIST, token, 0)) == NULL)
        return -ENOMEM;
    if (destination != NULL && (op->u.dlq.destination = strdup(destination)) == NULL) {
        free(op);
        return -ENOMEM;
    }
    op->u.dlq.each = each;
    op->u.dlq.arg = arg;
    op->u.dlq.after = after_id;
    op->u.dlq.max = max;
    return submit_read(s, op);
}

static int lmdb_state_get(void *instance, const char *scope, const char *key, const void **value,
                          size_t *len, er_token_t *token)
{
    store_t *s = instance;
    op_t *op;
    int rc;

    if ((rc = can_submit(s, token)) != 0)
        return rc;
    if (scope == NULL || key == NULL || value == NULL || len == NULL)
        return -EINVAL;
    if ((op = op_new(OP_STATE_GET, token, 0)) == NULL)
        return -ENOMEM;
    if ((op->u.state_get.key = state_key(scope, key, 0, &op->u.state_get.klen, &rc)) == NULL) {
        free(op);
        return rc;
    }
    op->u.state_get.value = value;
    op->u.state_get.len = len;
    return submit_read(s, op);
}

/* Start a maintenance op on a thread of its own; one at a time. */
static int submit_maint(store_t *s, int kind, er_token_t *token, er_store_report_cb report,
                        void *arg, const char *dir, uint64_t *bytes)
{
    op_t *op;
    int rc;

    if ((rc = can_submit(s, token)) != 0)
        return rc;
    if (s->maint_busy)
        return -EBUSY;
    if ((op = op_new(kind, token, 0)) == NULL)
        return -ENOMEM;
    if (dir != NULL && (op->u.maint.dir = strdup(dir)) == NULL) {
        free(op);
        return -ENOMEM;
    }
    op->u.maint.s = s;
    op->u.maint.report = report;
    op->u.maint.arg = arg;
    op->u.maint.out = bytes;
    uv_mutex_lock(&s->elock);
    s->maint++;
    uv_mutex_unlock(&s->elock);
    if ((rc = uv_thread_create(&op->u.maint.thread, maint_main, op)) != 0) {
        uv_mutex_lock(&s->elock);
        s->maint--;
        uv_cond_broadcast(&s->econd);
        uv_mutex_unlock(&s->elock);
        op_free(op);
        return rc;
    }
    s->maint_busy = true;
    return ER_PENDING;
}

static int lmdb_check(void *instance, er_store_report_cb report, void *arg, er_token_t *token)
{
    if (report == NULL)
        return -EINVAL;
    return submit_maint(instance, OP_CHECK, token, report, arg, NULL, NULL);
}

static int lmdb_backup(void *instance, const char *dir, uint64_t *bytes, er_token_t *token)
{
    if (dir == NULL || dir[0] != '/' || strlen(dir) >= PATH_MAX - sizeof(DATA_NAME) - 1 ||
        bytes == NULL)
        return -EINVAL;
    return submit_maint(instance, OP_BACKUP, token, NULL, NULL, dir, bytes);
}

static int lmdb_compact(void *instance, er_store_report_cb report, void *arg, er_token_t *token)
{
    if (report == NULL)
        return -EINVAL;
    return submit_maint(instance, OP_COMPACT, token, report, arg, NULL, NULL);
}

static void lmdb_stats(void *instance, void (*emit)(void *arg, const char *name, int64_t value),
                       void *arg)
{
    store_t *s = instance;

    emit(arg, "events", (int64_t)atomic_load(&s->st_events));
    emit(arg, "commits", (int64_t)atomic_load(&s->st_commits));
    emit(arg, "commit_last_us", (int64_t)atomic_load(&s->st_commit_last_us));
    emit(arg, "commit_max_us", (int64_t)atomic_load(&s->st_commit_max_us));
    emit(arg, "queue_depth", (int64_t)atomic_load(&s->st_queue));
    emit(arg, "map_size", (int64_t)atomic_load(&s->st_map_size));
    emit(arg, "used_bytes", (int64_t)atomic_load(&s->st_used));
    emit(arg, "allocated_bytes", (int64_t)atomic_load(&s->st_alloc));
    emit(arg, "reads", (int64_t)atomic_load(&s->st_reads));
}

/* ABI 1.3: the figure measure_used() keeps (0 until the store is open:
 * an open store always uses some pages). */
static int lmdb_used_bytes(void *instance, uint64_t *bytes)
{
    store_t *s = instance;

    if ((*bytes = atomic_load(&s->st_used)) == 0)
        return -EAGAIN;
    return 0;
}

/* ---------------------------------------------------------- descriptor */

static const er_option_t lmdb_options[] = {
    {
        .key = "path",
        .type = ER_OPTION_PATH,
        .def = "/var/lib/eventrouter",
        .description = "directory of the LMDB environment (data.mdb, lock.mdb and "
                       "eventrouter.lock): an absolute path, created with mode 0750 if "
                       "missing. One daemon at a time: a second one on the same path is "
                       "refused",
    },
    {
        .key = "map_size",
        .type = ER_OPTION_SIZE,
        .def = "64GiB",
        .min = 1 << 20,
        .max = 1ll << 44, /* 16TiB: more is surely a typo */
        .description = "the most data.mdb may grow to. The file is sparse and grows as "
                       "events are stored, so this is address space, not disk; when it is "
                       "reached, appends fail with store_full until events are trimmed or it "
                       "is raised (a restart with a larger value)",
    },
    {
        .key = "sync",
        .type = ER_OPTION_ENUM,
        .def = "batch",
        .choices = "batch|none",
        .description = "batch: one fsync per group commit, so a completed append (a durable "
                       "ack) is on disk; none: no fsync, appends survive a daemon crash but "
                       "not a power cut or kernel crash (durability \"process\")",
    },
    {.key = NULL},
};

static const er_store_ops_t lmdb_ops = {
    .size = sizeof(er_store_ops_t),
    .create = lmdb_create,
    .open = lmdb_open,
    .stop = lmdb_stop,
    .destroy = lmdb_destroy,
    .durability = lmdb_durability,
    .append = lmdb_append,
    .reserve = lmdb_reserve,
    .query = lmdb_query,
    .cursor_list = lmdb_cursor_list,
    .cursor_set = lmdb_cursor_set,
    .cursor_delete = lmdb_cursor_delete,
    .dlq_add = lmdb_dlq_add,
    .dlq_list = lmdb_dlq_list,
    .dlq_delete = lmdb_dlq_delete,
    .state_get = lmdb_state_get,
    .state_set = lmdb_state_set,
    .trim = lmdb_trim,
    .delete_stream = lmdb_delete_stream,
    .stats = lmdb_stats,
    .check = lmdb_check,
    .backup = lmdb_backup,
    .compact = lmdb_compact,
    .used_bytes = lmdb_used_bytes,
};

ER_PLUGIN_DEFINE = {
    ER_PLUGIN_HEADER,
    .kind = ER_PLUGIN_STORE,
    .name = "lmdb",
    .version = PACKAGE_VERSION,
    .description = "the embedded store: events, indexes, cursors and dead letters in LMDB on "
                   "local disk, group-committed by one writer thread",
    .options = lmdb_options,
    .ops = &lmdb_ops,
};
