/*
 * The raw baseline of the durable-ingest scenario: what LMDB alone does
 * with the events the daemon stores, with nothing of the daemon around it.
 * It writes COUNT events shaped like the ingest benchmark's (`eventctl
 * publish --type BenchIngest --stream bench:ingest --data
 * '{"user":"123","ok":true}'` once the daemon has completed the envelope:
 * id, time, content_type, seq, received, origin), msgpack-encoded with
 * msgpack-c into an LMDB environment in DIR laid out as the `lmdb` store
 * lays it out (plugins/stores/lmdb/lmdb.c): `events` keyed by the 8-byte
 * big-endian seq, and the by_stream, by_correlation_id, by_id and by_type
 * indexes (MDB_DUPSORT|MDB_DUPFIXED, the seq as data) holding an entry for
 * each field the event has. One write transaction and one commit (fsync)
 * per BATCH events, with the store's flags under `sync: batch`.
 *
 * The ids are made before the clock starts (the daemon makes them on
 * ingest, not in its store); encoding and every put are timed. Prints one
 * line on stdout: "raw_lmdb: N events in S s: R events/s".
 *
 * usage: raw_lmdb DIR COUNT BATCH
 *
 * With -r it is the raw baseline of the catchup scenario instead: it reads
 * every event of the store in DIR (the daemon stopped) in seq order, as a
 * destination catching up does, with nothing of the daemon around it: one
 * short read transaction per ROWS rows (default 1024, the daemon's
 * catch-up batch), each started at the next seq (MDB_SET_RANGE) and then
 * MDB_NEXT, each event's bytes copied out of the map into their own
 * allocation (as a store's reader thread must before the transaction
 * ends) and freed; no decoding. Prints "raw_lmdb read: N events in S s: R
 * events/s".
 *
 * usage: raw_lmdb -r DIR [ROWS]
 *
 * With -q it is the raw baseline of the query scenario: one stream's
 * events read through the stream index directly, RUNS times after WARMUP
 * untimed ones, each in one read transaction: by_stream at STREAM
 * (MDB_SET), every seq of its run of duplicates (MDB_NEXT_DUP, in seq
 * order), each event's bytes got from `events` (mdb_get) and copied out
 * into their own allocation, then freed; no decoding. Prints
 * "p50_us P p99_us P max_us M rows R n RUNS".
 *
 * usage: raw_lmdb -q DIR STREAM RUNS [WARMUP]
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <msgpack.h>

#define MAP_SIZE (64ull << 30)
#define ID_LEN   36

enum { DB_EVENTS, DB_STREAM, DB_CORR, DB_ID, DB_TYPE, DB_COUNT };

static const char *const db_names[DB_COUNT] = {"events", "by_stream", "by_correlation_id", "by_id",
                                               "by_type"};

static const char TYPE[] = "BenchIngest";
static const char STREAM[] = "bench:ingest";
static const char CONTENT_TYPE[] = "application/json";
static const char DATA[] = "{\"user\":\"123\",\"ok\":true}";

static void die(const char *what, int rc)
{
    fprintf(stderr, "raw_lmdb: %s: %s\n", what, rc > 0 ? strerror(rc) : mdb_strerror(rc));
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

#define KEY(pk, lit) pack_str((pk), (lit), sizeof(lit) - 1)

/* The event as the daemon's codec encodes it: the same keys in the same
 * order (lib/event.c er__event_pack). */
static void encode(msgpack_sbuffer *sb, const char *id, uint64_t seq, int64_t t, const char *host,
                   size_t host_len)
{
    msgpack_packer pk;

    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 9);
    KEY(&pk, "type");
    pack_str(&pk, TYPE, sizeof(TYPE) - 1);
    KEY(&pk, "time");
    msgpack_pack_int64(&pk, t);
    KEY(&pk, "id");
    pack_str(&pk, id, ID_LEN);
    KEY(&pk, "stream");
    pack_str(&pk, STREAM, sizeof(STREAM) - 1);
    KEY(&pk, "content_type");
    pack_str(&pk, CONTENT_TYPE, sizeof(CONTENT_TYPE) - 1);
    KEY(&pk, "data");
    pack_str(&pk, DATA, sizeof(DATA) - 1);
    KEY(&pk, "seq");
    msgpack_pack_uint64(&pk, seq);
    KEY(&pk, "received");
    msgpack_pack_int64(&pk, t);
    KEY(&pk, "origin");
    msgpack_pack_map(&pk, 4);
    KEY(&pk, "pid");
    msgpack_pack_int64(&pk, 4242);
    KEY(&pk, "uid");
    msgpack_pack_uint32(&pk, 1000);
    KEY(&pk, "gid");
    msgpack_pack_uint32(&pk, 1000);
    KEY(&pk, "host");
    pack_str(&pk, host, host_len);
}

/* A UUIDv7-shaped id per event (unique; the daemon's are made on ingest). */
static char *make_ids(size_t count)
{
    char *ids = malloc(count * (ID_LEN + 1));
    uint64_t ms = (uint64_t)now_us() / 1000;
    size_t i;

    if (ids == NULL)
        die("ids", ENOMEM);
    for (i = 0; i < count; i++)
        snprintf(ids + i * (ID_LEN + 1), ID_LEN + 1, "%08llx-%04llx-7%03llx-8%03llx-%012llx",
                 (unsigned long long)((ms >> 16) & 0xffffffff), (unsigned long long)(ms & 0xffff),
                 (unsigned long long)((i >> 48) & 0xfff), (unsigned long long)((i >> 36) & 0xfff),
                 (unsigned long long)(i & 0xffffffffffffull));
    return ids;
}

/* -r: read every event in batches of `rows`. */
static int read_all(const char *dir, size_t rows)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *c;
    MDB_val k, v;
    uint64_t next = 1, be, sum = 0;
    size_t done = 0, n;
    double t0, secs;
    int rc;

    if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, 16)) != 0 ||
        (rc = mdb_env_open(env, dir, MDB_NOTLS | MDB_RDONLY, 0640)) != 0)
        die(dir, rc);
    if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0 ||
        (rc = mdb_dbi_open(txn, db_names[DB_EVENTS], 0, &dbi)) != 0)
        die(db_names[DB_EVENTS], rc);
    /* Committed, not aborted: an abort would close the new handle. */
    if ((rc = mdb_txn_commit(txn)) != 0)
        die("commit", rc);
    t0 = now_s();
    for (;;) {
        if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0)
            die("begin", rc);
        if ((rc = mdb_cursor_open(txn, dbi, &c)) != 0)
            die("cursor", rc);
        be = htobe64(next);
        k.mv_size = 8;
        k.mv_data = &be;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        for (n = 0; rc == 0 && n < rows; n++) {
            void *copy = malloc(v.mv_size);
            if (copy == NULL)
                die("copy", ENOMEM);
            memcpy(copy, v.mv_data, v.mv_size);
            sum += ((const uint8_t *)copy)[v.mv_size - 1];
            free(copy);
            memcpy(&be, k.mv_data, 8);
            next = be64toh(be) + 1;
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        }
        if (rc != 0 && rc != MDB_NOTFOUND)
            die("read", rc);
        mdb_cursor_close(c);
        mdb_txn_abort(txn);
        done += n;
        if (rc == MDB_NOTFOUND)
            break;
    }
    secs = now_s() - t0;
    printf("raw_lmdb read: %zu events in %.3f s: %.0f events/s\n", done, secs, (double)done / secs);
    fprintf(stderr, "raw_lmdb read: checksum %llu\n", (unsigned long long)sum);
    mdb_env_close(env);
    return done > 0 ? 0 : 1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* -q: one stream's events by the stream index, timed per read. */
static int query_stream(const char *dir, const char *stream, size_t runs, size_t warmup)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi[DB_COUNT];
    MDB_cursor *c;
    MDB_val k, v, ek, ev;
    size_t i, rows = 0, first_rows = 0;
    double *lat, t0;
    uint64_t sum = 0;
    int rc, d;

    if ((lat = calloc(runs, sizeof(*lat))) == NULL)
        die("latencies", ENOMEM);
    if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, 16)) != 0 ||
        (rc = mdb_env_open(env, dir, MDB_NOTLS | MDB_RDONLY, 0640)) != 0)
        die(dir, rc);
    if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0)
        die("begin", rc);
    for (d = 0; d < DB_COUNT; d++)
        if ((rc = mdb_dbi_open(txn, db_names[d], 0, &dbi[d])) != 0)
            die(db_names[d], rc);
    if ((rc = mdb_txn_commit(txn)) != 0)
        die("commit", rc);
    for (i = 0; i < warmup + runs; i++) {
        t0 = now_s();
        if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0 ||
            (rc = mdb_cursor_open(txn, dbi[DB_STREAM], &c)) != 0)
            die("begin", rc);
        k.mv_size = strlen(stream);
        k.mv_data = (void *)stream;
        rows = 0;
        for (rc = mdb_cursor_get(c, &k, &v, MDB_SET); rc == 0;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
            void *copy;
            ek = v; /* the seq, 8 bytes big-endian: the events key */
            if ((rc = mdb_get(txn, dbi[DB_EVENTS], &ek, &ev)) != 0)
                die("get", rc);
            if ((copy = malloc(ev.mv_size)) == NULL)
                die("copy", ENOMEM);
            memcpy(copy, ev.mv_data, ev.mv_size);
            sum += ((const uint8_t *)copy)[ev.mv_size - 1];
            free(copy);
            rows++;
        }
        if (rc != MDB_NOTFOUND)
            die("read", rc);
        mdb_cursor_close(c);
        mdb_txn_abort(txn);
        if (i >= warmup)
            lat[i - warmup] = (now_s() - t0) * 1e6;
        if (i == 0)
            first_rows = rows;
        if (rows != first_rows || rows == 0)
            die("rows", EINVAL);
    }
    qsort(lat, runs, sizeof(*lat), cmp_double);
    printf("p50_us %.0f p99_us %.0f max_us %.0f rows %zu n %zu\n", lat[(runs * 50 + 99) / 100 - 1],
           lat[(runs * 99 + 99) / 100 - 1], lat[runs - 1], rows, runs);
    fprintf(stderr, "raw_lmdb query: checksum %llu\n", (unsigned long long)sum);
    mdb_env_close(env);
    free(lat);
    return 0;
}

int main(int argc, char **argv)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi[DB_COUNT];
    MDB_cursor *c[DB_COUNT];
    MDB_val k, v;
    msgpack_sbuffer sb;
    char host[256], *ids, *end;
    size_t count, batch, done = 0, host_len, i;
    uint64_t seq = 1;
    uint8_t kb[8];
    double t0, secs;
    int rc, d;

    if (argc >= 3 && argc <= 4 && strcmp(argv[1], "-r") == 0) {
        size_t rows = argc == 4 ? strtoull(argv[3], &end, 10) : 1024;
        if (rows == 0 || (argc == 4 && *end != '\0')) {
            fprintf(stderr, "raw_lmdb: ROWS is a positive integer\n");
            return 2;
        }
        return read_all(argv[2], rows);
    }
    if (argc >= 5 && argc <= 6 && strcmp(argv[1], "-q") == 0) {
        size_t runs = strtoull(argv[4], &end, 10);
        if (runs == 0 || *end != '\0') {
            fprintf(stderr, "raw_lmdb: RUNS is a positive integer\n");
            return 2;
        }
        return query_stream(argv[2], argv[3], runs, argc == 6 ? strtoull(argv[5], NULL, 10) : 0);
    }
    if (argc != 4) {
        fprintf(stderr,
                "usage: raw_lmdb DIR COUNT BATCH | raw_lmdb -r DIR [ROWS] | raw_lmdb -q DIR "
                "STREAM RUNS [WARMUP]\n");
        return 2;
    }
    count = strtoull(argv[2], &end, 10);
    batch = *end == '\0' ? strtoull(argv[3], &end, 10) : 0;
    if (*end != '\0' || count == 0 || batch == 0) {
        fprintf(stderr, "raw_lmdb: COUNT and BATCH are positive integers\n");
        return 2;
    }
    if (mkdir(argv[1], 0750) != 0 && errno != EEXIST)
        die(argv[1], errno);
    if (gethostname(host, sizeof(host) - 1) != 0)
        strcpy(host, "localhost");
    host[sizeof(host) - 1] = '\0';
    host_len = strlen(host);
    ids = make_ids(count);

    /* The store's environment under sync: batch. */
    if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_maxdbs(env, 16)) != 0 ||
        (rc = mdb_env_set_mapsize(env, MAP_SIZE)) != 0 ||
        (rc = mdb_env_open(env, argv[1], MDB_NOTLS, 0640)) != 0)
        die(argv[1], rc);
    if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
        die("begin", rc);
    for (d = 0; d < DB_COUNT; d++)
        if ((rc = mdb_dbi_open(txn, db_names[d],
                               MDB_CREATE | (d == DB_EVENTS ? 0 : MDB_DUPSORT | MDB_DUPFIXED),
                               &dbi[d])) != 0)
            die(db_names[d], rc);
    /* Go on after what a previous run left. */
    if ((rc = mdb_cursor_open(txn, dbi[DB_EVENTS], &c[0])) != 0)
        die("cursor", rc);
    if (mdb_cursor_get(c[0], &k, &v, MDB_LAST) == 0 && k.mv_size == 8) {
        memcpy(&seq, k.mv_data, 8);
        seq = be64toh(seq) + 1;
    }
    mdb_cursor_close(c[0]);
    if ((rc = mdb_txn_commit(txn)) != 0)
        die("commit", rc);

    msgpack_sbuffer_init(&sb);
    t0 = now_s();
    while (done < count) {
        size_t n = count - done < batch ? count - done : batch;

        if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0)
            die("begin", rc);
        for (d = 0; d < DB_COUNT; d++)
            if ((rc = mdb_cursor_open(txn, dbi[d], &c[d])) != 0)
                die("cursor", rc);
        for (i = 0; i < n; i++, seq++) {
            const char *id = ids + (done + i) * (ID_LEN + 1);
            uint64_t be = htobe64(seq);
            MDB_val sv = {8, kb};

            sb.size = 0;
            encode(&sb, id, seq, now_us(), host, host_len);
            memcpy(kb, &be, 8);
            k.mv_size = 8;
            k.mv_data = kb;
            v.mv_size = sb.size;
            v.mv_data = sb.data;
            if ((rc = mdb_cursor_put(c[DB_EVENTS], &k, &v, MDB_APPEND)) != 0)
                die("put", rc);
            /* The event's index entries: stream, id, type (no
             * correlation_id, as the benchmark publishes none). */
            k.mv_size = sizeof(STREAM) - 1;
            k.mv_data = (void *)STREAM;
            if ((rc = mdb_cursor_put(c[DB_STREAM], &k, &sv, MDB_APPENDDUP)) != 0)
                die("put", rc);
            k.mv_size = ID_LEN;
            k.mv_data = (void *)id;
            if ((rc = mdb_cursor_put(c[DB_ID], &k, &sv, MDB_APPENDDUP)) != 0)
                die("put", rc);
            k.mv_size = sizeof(TYPE) - 1;
            k.mv_data = (void *)TYPE;
            if ((rc = mdb_cursor_put(c[DB_TYPE], &k, &sv, MDB_APPENDDUP)) != 0)
                die("put", rc);
        }
        if ((rc = mdb_txn_commit(txn)) != 0) /* frees the cursors */
            die("commit", rc);
        done += n;
    }
    secs = now_s() - t0;
    printf("raw_lmdb: %zu events in %.3f s: %.0f events/s\n", count, secs, (double)count / secs);
    msgpack_sbuffer_destroy(&sb);
    mdb_env_close(env);
    free(ids);
    return 0;
}
