/*
 * eventctl publish: one event built from flags (prints its seq), or N
 * copies pipelined (--count, prints a rate on stderr). --from-file lives in
 * cmd_publish_file.c; this file parses every publish option and hands
 * --from-file over.
 *
 * Choices (documented in eventctl(1)):
 *  - the event is checked locally first, so a bad event exits 1 with the
 *    daemon's own message even when no daemon runs;
 *  - --data is sent as given (str), after checking that it is JSON;
 *  - --data-file is sent as bin; its content type is --content-type, else
 *    application/json when the bytes parse as JSON, else
 *    application/octet-stream;
 *  - --count without --id sends no id (the daemon generates one per event);
 *    --id X --count N sends X-1 ... X-N, so re-running the same command is
 *    de-duplicated by the daemon instead of storing N more events.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "eventctl.h"

/* The largest --data-file read into memory (the daemon's max_event_size
 * is the real bound; this only stops a mistaken path to a huge file). */
#define MAX_DATA_FILE  (64u * 1024 * 1024)
#define MAX_META_FLAGS 64

enum {
    O_TYPE = 256,
    O_TOPIC,
    O_PRIORITY,
    O_STREAM,
    O_CORRELATION_ID,
    O_CAUSATION_ID,
    O_SOURCE,
    O_ID,
    O_META,
    O_CONTENT_TYPE,
    O_DATA,
    O_DATA_FILE,
    O_ACK,
    O_COUNT,
    O_BATCH,
    O_FROM_FILE,
    O_REIMPORT,
};

static const struct option opts[] = {
    {"type", required_argument, NULL, O_TYPE},
    {"topic", required_argument, NULL, O_TOPIC},
    {"priority", required_argument, NULL, O_PRIORITY},
    {"stream", required_argument, NULL, O_STREAM},
    {"correlation-id", required_argument, NULL, O_CORRELATION_ID},
    {"causation-id", required_argument, NULL, O_CAUSATION_ID},
    {"source", required_argument, NULL, O_SOURCE},
    {"id", required_argument, NULL, O_ID},
    {"meta", required_argument, NULL, O_META},
    {"content-type", required_argument, NULL, O_CONTENT_TYPE},
    {"data", required_argument, NULL, O_DATA},
    {"data-file", required_argument, NULL, O_DATA_FILE},
    {"ack", required_argument, NULL, O_ACK},
    {"count", required_argument, NULL, O_COUNT},
    {"batch", required_argument, NULL, O_BATCH},
    {"from-file", required_argument, NULL, O_FROM_FILE},
    {"reimport", no_argument, NULL, O_REIMPORT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Options that only set a string field of the event. */
static const struct {
    int opt;
    size_t off;
} str_opts[] = {
    {O_TYPE, offsetof(er_event_t, type)},
    {O_TOPIC, offsetof(er_event_t, topic)},
    {O_STREAM, offsetof(er_event_t, stream)},
    {O_CORRELATION_ID, offsetof(er_event_t, correlation_id)},
    {O_CAUSATION_ID, offsetof(er_event_t, causation_id)},
    {O_SOURCE, offsetof(er_event_t, source)},
    {O_ID, offsetof(er_event_t, id)},
    {O_CONTENT_TYPE, offsetof(er_event_t, content_type)},
};

struct pub {
    er_event_t ev;
    er_meta_t meta[MAX_META_FLAGS];
    size_t nmeta;
    const char *data, *data_file, *from_file;
    char *file_data;
    er_ack_mode_t ack;
    uint64_t count, batch;
    bool have_count, have_batch, reimport, event_flags;
};

/* What the pipelined --count run learns from the answers. */
struct run {
    uint64_t stored, dups, refused;
    uint64_t batch;
    uint32_t last_req; /* the last request, whose batch may be shorter */
    uint64_t last_n;
    bool have_nack;
    er_nack_t first_nack;
};

/* ------------------------------------------------------------ options */

static bool set_str_opt(struct pub *p, int c, const char *arg)
{
    size_t i;
    for (i = 0; i < sizeof(str_opts) / sizeof(str_opts[0]); i++) {
        if (str_opts[i].opt == c) {
            *(er_str_t *)(void *)((char *)&p->ev + str_opts[i].off) = er_str(arg);
            p->event_flags = true;
            return true;
        }
    }
    return false;
}

static int parse_priority(const char *s)
{
    uint64_t v;
    int p = er_priority_parse(s, strlen(s));
    if (p >= 0)
        return p;
    if (ctl_parse_uint(s, ER_PRIORITY_LOW, ER_PRIORITY_CRITICAL, &v))
        return (int)v;
    return -1;
}

/* Parse the command line into p. Returns -1 to go on, or an exit status. */
static int parse(const ctl_cmd_t *cmd, struct pub *p, int argc, char **argv)
{
    int c, status, v;
    char *eq;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (ctl_common_option(cmd, c, argv, &status))
            return status;
        if (set_str_opt(p, c, optarg))
            continue;
        switch (c) {
        case O_PRIORITY:
            if ((v = parse_priority(optarg)) < 0)
                return ctl_usage_error(cmd,
                                       "--priority must be low, normal, high, critical or 0-3, "
                                       "not '%s'",
                                       optarg);
            p->ev.priority = v;
            p->ev.has |= ER_HAS_PRIORITY;
            p->event_flags = true;
            break;
        case O_META:
            if ((eq = strchr(optarg, '=')) == NULL || eq == optarg)
                return ctl_usage_error(cmd, "--meta takes KEY=VALUE, not '%s'", optarg);
            if (p->nmeta == MAX_META_FLAGS)
                return ctl_usage_error(cmd, "at most %d --meta entries", MAX_META_FLAGS);
            p->meta[p->nmeta].key.ptr = optarg;
            p->meta[p->nmeta].key.len = (size_t)(eq - optarg);
            p->meta[p->nmeta].value = er_str(eq + 1);
            p->nmeta++;
            p->event_flags = true;
            break;
        case O_DATA:
            p->data = optarg;
            break;
        case O_DATA_FILE:
            p->data_file = optarg;
            break;
        case O_ACK:
            if ((v = er_ack_mode_parse(optarg)) < 0)
                return ctl_usage_error(cmd, "--ack must be none, received or durable, not '%s'",
                                       optarg);
            p->ack = (er_ack_mode_t)v;
            break;
        case O_COUNT:
            if (!ctl_parse_uint(optarg, 1, UINT64_MAX / 2, &p->count))
                return ctl_usage_error(cmd, "--count must be a positive integer, not '%s'", optarg);
            p->have_count = true;
            break;
        case O_BATCH:
            if (!ctl_parse_uint(optarg, 1, UINT32_MAX, &p->batch))
                return ctl_usage_error(cmd, "--batch must be a positive integer, not '%s'", optarg);
            p->have_batch = true;
            break;
        case O_FROM_FILE:
            p->from_file = optarg;
            break;
        case O_REIMPORT:
            p->reimport = true;
            break;
        }
    }
    if (optind < argc)
        return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    return -1;
}

/* The combinations that make sense. Returns -1 or CTL_USAGE. */
static int check_combination(const ctl_cmd_t *cmd, const struct pub *p)
{
    if (p->from_file) {
        if (p->event_flags || p->data || p->data_file)
            return ctl_usage_error(cmd, "--from-file takes the events from the file; "
                                        "event options cannot be combined with it");
        if (p->have_count || p->have_batch)
            return ctl_usage_error(cmd, "--count and --batch cannot be combined with --from-file");
        return -1;
    }
    if (p->reimport)
        return ctl_usage_error(cmd, "--reimport needs --from-file");
    if (p->ev.type.ptr == NULL)
        return ctl_usage_error(cmd, "--type is required");
    if (p->data && p->data_file)
        return ctl_usage_error(cmd, "--data and --data-file cannot be combined");
    if (p->have_batch && !p->have_count)
        return ctl_usage_error(cmd, "--batch needs --count");
    return -1;
}

/* ----------------------------------------------------------- payloads */

/* Read all of path ("-": stdin) into *out (caller frees). Returns 0 or a
 * negative errno (-EFBIG past MAX_DATA_FILE). */
static int read_all(const char *path, char **out, size_t *len)
{
    size_t cap = 64 * 1024, n = 0;
    char *buf = NULL, *nb;
    ssize_t r;
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return -errno;
    for (;;) {
        if (buf == NULL || n == cap) {
            if (buf != NULL)
                cap *= 2;
            if (cap > MAX_DATA_FILE + 1)
                cap = MAX_DATA_FILE + 1;
            if (buf != NULL && n == cap) {
                rc = -EFBIG;
                break;
            }
            if ((nb = realloc(buf, cap)) == NULL) {
                rc = -ENOMEM;
                break;
            }
            buf = nb;
        }
        r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (fd != 0)
        close(fd);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = n;
    return 0;
}

static bool is_json(const char *p, size_t n, json_error_t *jerr)
{
    json_t *v = json_loadb(p, n, JSON_DECODE_ANY, jerr);
    json_decref(v);
    return v != NULL;
}

/* Attach --data or --data-file. Returns -1 or an exit status. */
static int set_payload(const ctl_cmd_t *cmd, struct pub *p)
{
    json_error_t jerr;
    size_t n = 0;
    int rc;

    if (p->data) {
        if (!is_json(p->data, strlen(p->data), &jerr))
            return ctl_usage_error(cmd, "--data is not valid JSON (column %d: %s)", jerr.column,
                                   jerr.text);
        p->ev.data = er_str(p->data);
        p->ev.data_is_str = true;
        if (p->ev.content_type.ptr == NULL)
            p->ev.content_type = er_str("application/json");
    } else if (p->data_file) {
        if ((rc = read_all(p->data_file, &p->file_data, &n)) != 0) {
            ctl_err("publish: --data-file %s: %s", p->data_file,
                    rc == -EFBIG ? "larger than 64 MiB" : er_strerror(rc));
            return CTL_USAGE;
        }
        p->ev.data.ptr = p->file_data ? p->file_data : "";
        p->ev.data.len = n;
        p->ev.data_is_str = false;
        if (p->ev.content_type.ptr == NULL)
            p->ev.content_type =
                er_str(is_json(p->ev.data.ptr, n, &jerr) ? "application/json"
                                                         : "application/octet-stream");
    }
    return -1;
}

/* ------------------------------------------------------- one event */

static void none_on_nack(er_client_t *c, uint32_t req, const er_nack_t *nack, void *ud)
{
    (void)c;
    (void)req;
    if (!((struct run *)ud)->have_nack) {
        ((struct run *)ud)->have_nack = true;
        ((struct run *)ud)->first_nack = *nack;
    }
}

static void print_seq(const ctl_t *ctl, uint64_t seq)
{
    if (ctl->json)
        printf("{\"seq\":%llu}\n", (unsigned long long)seq);
    else
        printf("%llu\n", (unsigned long long)seq);
}

static int publish_one(ctl_t *ctl, struct pub *p)
{
    static const er_client_cbs_t cbs = {NULL, NULL, none_on_nack, NULL, NULL};
    struct run run;
    ctl_session_t s;
    er_nack_t nack;
    er_error_t err;
    uint64_t seq;
    int rc, status;

    memset(&run, 0, sizeof(run));
    if ((status = ctl_open(ctl, &s, p->ack, &cbs, &run)) != CTL_OK)
        return status;
    memset(&err, 0, sizeof(err));
    rc = er_publish(s.c, &p->ev, &seq, &nack, &err);
    /* Under ack mode none only a NACK answers: a PING round trip makes sure
     * one would have arrived (the daemon answers in order). */
    if (rc == 0 && p->ack == ER_ACK_NONE)
        rc = er_ping(s.c, -1);
    if (rc == 0 && run.have_nack)
        status = ctl_refused(NULL, run.first_nack.code, run.first_nack.message);
    else if (rc == 0) {
        if (p->ack != ER_ACK_NONE)
            print_seq(ctl, seq);
    } else if (rc == ER_ENACK && !s.conn_nacked)
        status = ctl_refused(NULL, nack.code, nack.message);
    else if (err.code == rc)
        status = ctl_refused_local(NULL, rc, &err);
    else
        status = ctl_fail(&s, rc);
    ctl_close(&s);
    return status;
}

/* ---------------------------------------------------------- --count */

static void run_on_ack(er_client_t *c, uint32_t req, const er_ack_t *ack, void *ud)
{
    struct run *r = ud;
    (void)c;
    (void)req;
    r->stored += ack->count;
    r->dups += ack->ndups;
}

static void run_on_nack(er_client_t *c, uint32_t req, const er_nack_t *nack, void *ud)
{
    struct run *r = ud;
    none_on_nack(c, req, nack, ud);
    r->refused += req == r->last_req ? r->last_n : r->batch;
}

static void print_summary(const ctl_t *ctl, const struct pub *p, const struct run *r, int64_t us)
{
    double secs = (double)us / 1e6, rate = secs > 0 ? (double)p->count / secs : 0;

    fprintf(stderr, "%llu events in %.6f s: %.0f events/s\n", (unsigned long long)p->count, secs,
            rate);
    if (r->dups > 0)
        ctl_err("%llu of them were duplicates of stored events", (unsigned long long)r->dups);
    if (ctl->json) {
        json_t *o = json_pack("{s:I, s:f, s:f}", "events", (json_int_t)p->count, "seconds", secs,
                              "events_per_second", rate);
        if (o && p->ack != ER_ACK_NONE) {
            json_object_set_new(o, "stored", json_integer((json_int_t)r->stored));
            json_object_set_new(o, "duplicates", json_integer((json_int_t)r->dups));
        }
        if (o)
            json_object_set_new(o, "refused", json_integer((json_int_t)r->refused));
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s)
            puts(s);
        free(s);
        json_decref(o);
    }
}

/* Send p->count events in batches of p->batch, pipelined: the client keeps
 * up to max_inflight requests outstanding and this loop waits only when it
 * says -ENOBUFS. */
static int publish_count(ctl_t *ctl, const ctl_cmd_t *cmd, struct pub *p)
{
    static const er_client_cbs_t cbs = {NULL, run_on_ack, run_on_nack, NULL, NULL};
    er_event_t *evs = NULL;
    char(*ids)[80] = NULL;
    const char *id_prefix = p->ev.id.ptr;
    uint64_t sent = 0;
    struct run run;
    ctl_session_t s;
    er_error_t err;
    int64_t t0;
    size_t i, n;
    uint32_t req;
    int rc = 0, status;

    memset(&run, 0, sizeof(run));
    run.batch = p->batch;
    if ((status = ctl_open(ctl, &s, p->ack, &cbs, &run)) != CTL_OK)
        return status;
    if (p->batch > er_client_welcome(s.c)->max_batch) {
        status = ctl_usage_error(cmd, "--batch %llu is above the daemon's max_batch (%u)",
                                 (unsigned long long)p->batch, er_client_welcome(s.c)->max_batch);
        goto out;
    }
    evs = malloc(p->batch * sizeof(*evs));
    if (id_prefix)
        ids = malloc(p->batch * sizeof(*ids));
    if (evs == NULL || (id_prefix && ids == NULL)) {
        ctl_err("out of memory");
        status = CTL_REFUSED;
        goto out;
    }
    for (i = 0; i < p->batch; i++)
        evs[i] = p->ev;

    t0 = ctl_now_us();
    while (sent < p->count) {
        n = p->count - sent < p->batch ? (size_t)(p->count - sent) : (size_t)p->batch;
        for (i = 0; id_prefix && i < n; i++) {
            snprintf(ids[i], sizeof(ids[i]), "%.*s-%llu", (int)p->ev.id.len, id_prefix,
                     (unsigned long long)(sent + i + 1));
            evs[i].id = er_str(ids[i]);
        }
        memset(&err, 0, sizeof(err));
        while ((rc = n == 1 && p->batch == 1
                         ? er_client_publish_async(s.c, evs, &req, &err)
                         : er_client_publish_batch_async(s.c, evs, n, &req, &err)) == -ENOBUFS) {
            if ((rc = er_client_wait(s.c, -1)) != 0)
                break;
        }
        if (rc != 0)
            break;
        run.last_req = req;
        run.last_n = n;
        sent += n;
    }
    if (rc == 0)
        rc = er_client_drain(s.c, -1);
    if (rc == 0 && p->ack == ER_ACK_NONE)
        rc = er_ping(s.c, -1);
    if (rc != 0) {
        status = err.code == rc && rc != 0 ? ctl_refused_local(NULL, rc, &err) : ctl_fail(&s, rc);
        goto out;
    }
    print_summary(ctl, p, &run, ctl_now_us() - t0);
    if (run.have_nack) {
        ctl_refused(NULL, run.first_nack.code, run.first_nack.message);
        ctl_err("%llu of %llu events refused", (unsigned long long)run.refused,
                (unsigned long long)p->count);
        status = CTL_REFUSED;
    }
out:
    free(evs);
    free(ids);
    ctl_close(&s);
    return status;
}

/* ------------------------------------------------------------- entry */

int ctl_cmd_publish(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    struct pub p;
    er_error_t err;
    int status, rc;

    memset(&p, 0, sizeof(p));
    p.ack = ER_ACK_DURABLE;
    p.count = 1;
    p.batch = 1;
    if ((status = parse(cmd, &p, argc, argv)) >= 0 || (status = check_combination(cmd, &p)) >= 0)
        return status;
    if (p.from_file)
        return ctl_publish_from_file(ctl, p.from_file, p.ack, p.reimport);
    if ((status = set_payload(cmd, &p)) >= 0)
        goto out;
    if (p.nmeta > 0) {
        p.ev.meta = p.meta;
        p.ev.meta_count = p.nmeta;
    }

    /* Check locally first (with the first id --count would send). */
    {
        er_event_t probe = p.ev;
        char id[80];
        if (p.have_count && p.ev.id.ptr) {
            snprintf(id, sizeof id, "%.*s-1", (int)p.ev.id.len, p.ev.id.ptr);
            probe.id = er_str(id);
        }
        memset(&err, 0, sizeof(err));
        if ((rc = er_event_validate(&probe, ER_VALIDATE_CLIENT, &err)) != 0) {
            status = ctl_refused_local(NULL, rc, &err);
            goto out;
        }
    }
    status = p.have_count ? publish_count(ctl, cmd, &p) : publish_one(ctl, &p);
out:
    free(p.file_data);
    return status;
}
