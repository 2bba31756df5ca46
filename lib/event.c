/*
 * The event envelope (DESIGN §3): field rules, the msgpack decoder that
 * reads an event map from wire bytes into views, and the encoder.
 *
 * Every refusal names the field and the rule, so a client developer can fix
 * the event from the NACK message alone.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <msgpack.h>

#include "eventrouter.h"
#include "mpread.h"
#include "proto.h"

/* ------------------------------------------------------------ field table */

enum field_id {
    F_TYPE,
    F_VERSION,
    F_TOPIC,
    F_PRIORITY,
    F_ID,
    F_TIME,
    F_STREAM,
    F_CORRELATION_ID,
    F_CAUSATION_ID,
    F_SOURCE,
    F_TRACEPARENT,
    F_TRACESTATE,
    F_CONTENT_TYPE,
    F_DATA,
    F_META,
    F_SEQ,
    F_RECEIVED,
    F_ORIGIN,
    F_VIA,
    F_HOPS,
    F_COUNT
};

static const struct {
    const char *name;
    uint8_t len;
    bool daemon; /* set by the daemon only */
} fields[F_COUNT] = {
#define FD(id, s, d) [id] = {s, sizeof(s) - 1, d}
    FD(F_TYPE, "type", false),
    FD(F_VERSION, "version", false),
    FD(F_TOPIC, "topic", false),
    FD(F_PRIORITY, "priority", false),
    FD(F_ID, "id", false),
    FD(F_TIME, "time", false),
    FD(F_STREAM, "stream", false),
    FD(F_CORRELATION_ID, "correlation_id", false),
    FD(F_CAUSATION_ID, "causation_id", false),
    FD(F_SOURCE, "source", false),
    FD(F_TRACEPARENT, "traceparent", false),
    FD(F_TRACESTATE, "tracestate", false),
    FD(F_CONTENT_TYPE, "content_type", false),
    FD(F_DATA, "data", false),
    FD(F_META, "meta", false),
    FD(F_SEQ, "seq", true),
    FD(F_RECEIVED, "received", true),
    FD(F_ORIGIN, "origin", true),
    FD(F_VIA, "via", true),
    FD(F_HOPS, "hops", true),
#undef FD
};

/* The field a key names, or -1: one candidate by length and first letters,
 * then one comparison (this runs for every key of every event). */
static int field_lookup(const char *p, size_t n)
{
    int f;

    switch (n) {
    case 2:
        f = F_ID;
        break;
    case 3:
        f = p[0] == 's' ? F_SEQ : F_VIA;
        break;
    case 4:
        f = p[0] == 't'   ? (p[1] == 'y' ? F_TYPE : F_TIME)
            : p[0] == 'd' ? F_DATA
            : p[0] == 'm' ? F_META
                          : F_HOPS;
        break;
    case 5:
        f = F_TOPIC;
        break;
    case 6:
        f = p[0] == 'o' ? F_ORIGIN : p[1] == 't' ? F_STREAM : F_SOURCE;
        break;
    case 7:
        f = F_VERSION;
        break;
    case 8:
        f = p[0] == 'p' ? F_PRIORITY : F_RECEIVED;
        break;
    case 10:
        f = F_TRACESTATE;
        break;
    case 11:
        f = F_TRACEPARENT;
        break;
    case 12:
        f = p[1] == 'a' ? F_CAUSATION_ID : F_CONTENT_TYPE;
        break;
    case 14:
        f = F_CORRELATION_ID;
        break;
    default:
        return -1;
    }
    return memcmp(fields[f].name, p, n) == 0 ? f : -1;
}

static bool plain_char(unsigned char c)
{
    return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* Printable form of a key for messages (see proto.h). */
const char *er__printable(const char *p, size_t n, char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, o = 0, need = 0, room;

    for (i = 0; i < n; i++)
        need += plain_char((unsigned char)p[i]) ? 1 : 4;
    /* All of it, or as much as fits before "..." and the NUL: a cut is
     * always marked. */
    room = need < cap ? cap - 1 : cap - 4;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (o + (plain_char(c) ? 1 : 4) > room)
            break;
        if (plain_char(c)) {
            out[o++] = (char)c;
        } else {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (i < n) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

/* --------------------------------------------------------------- helpers */

er_str_t er_str(const char *s)
{
    er_str_t v = {s, s ? strlen(s) : 0};
    return v;
}

int64_t er_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static const char *const priority_names[] = {"low", "normal", "high", "critical"};

const char *er_priority_name(int priority)
{
    if (priority < 0 || priority > ER_PRIORITY_CRITICAL)
        return "?";
    return priority_names[priority];
}

int er_priority_parse(const char *s, size_t len)
{
    int i;
    for (i = 0; i <= ER_PRIORITY_CRITICAL; i++)
        if (strlen(priority_names[i]) == len && memcmp(priority_names[i], s, len) == 0)
            return i;
    return -1;
}

const char *er_ack_mode_name(er_ack_mode_t mode)
{
    switch (mode) {
    case ER_ACK_NONE:
        return "none";
    case ER_ACK_RECEIVED:
        return "received";
    case ER_ACK_DURABLE:
        return "durable";
    }
    return "?";
}

int er_ack_mode_parse(const char *s)
{
    if (strcmp(s, "none") == 0)
        return ER_ACK_NONE;
    if (strcmp(s, "received") == 0)
        return ER_ACK_RECEIVED;
    if (strcmp(s, "durable") == 0)
        return ER_ACK_DURABLE;
    return -1;
}

int er_meta_next(const er_event_t *ev, size_t *pos, er_str_t *key, er_str_t *value)
{
    er_mp_reader_t r;
    er_mp_obj_t k, v;
    size_t i;

    if (*pos >= ev->meta_count)
        return 0;
    if (ev->meta != NULL) {
        *key = ev->meta[*pos].key;
        *value = ev->meta[*pos].value;
        (*pos)++;
        return 1;
    }
    /* Packed form: validated when decoded, so every entry is str → str.
     * Walk from the start; meta is small (≤ 64 entries). */
    er__mp_init(&r, ev->meta_packed.ptr, ev->meta_packed.len);
    if (er__mp_next(&r, &k) != 0)
        return 0;
    for (i = 0; i <= *pos; i++) {
        if (er__mp_next(&r, &k) != 0 || er__mp_next(&r, &v) != 0)
            return 0;
    }
    key->ptr = k.v.s.ptr;
    key->len = k.v.s.len;
    value->ptr = v.v.s.ptr;
    value->len = v.v.s.len;
    (*pos)++;
    return 1;
}

/* ------------------------------------------------------------ validation */

#define MAX_TYPE        128
#define MAX_TOPIC       255
#define MAX_ID          64
#define MAX_STREAM      255
#define MAX_CORRELATION 128
#define MAX_SOURCE      255
#define MAX_CONTENT     127
#define MAX_TRACESTATE  512
#define MAX_META        64
#define MAX_META_KEY    128
#define MAX_HOST        255
#define MAX_VIA         255

static bool is_type_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '.' || c == '-';
}

static bool is_segment_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

static bool is_lower_hex(const char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return false;
    return true;
}

static bool all_zero(const char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (p[i] != '0')
            return false;
    return true;
}

/* W3C trace context: version "-" trace-id "-" parent-id "-" flags, all
 * lowercase hex; version ff and all-zero ids are invalid. A future version
 * may append "-..." fields: printable ASCII, like the rest of the header
 * (so the tail cannot smuggle NUL, control bytes or invalid UTF-8). */
static bool traceparent_ok(er_str_t s)
{
    const char *p = s.ptr;
    size_t i;
    if (s.len < 55 || (s.len > 55 && (s.len < 57 || p[55] != '-')))
        return false;
    for (i = 56; i < s.len; i++)
        if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e)
            return false;
    if (!is_lower_hex(p, 2) || p[2] != '-' || !is_lower_hex(p + 3, 32) || p[35] != '-' ||
        !is_lower_hex(p + 36, 16) || p[52] != '-' || !is_lower_hex(p + 53, 2))
        return false;
    if (memcmp(p, "ff", 2) == 0 || all_zero(p + 3, 32) || all_zero(p + 36, 16))
        return false;
    if (memcmp(p, "00", 2) == 0 && s.len != 55)
        return false;
    return true;
}

/* W3C tracestate: comma-separated list-members key=value (≤ 32), keys of
 * [a-z0-9_*-/@], values of printable ASCII without ',' and '='. */
static bool tracestate_ok(er_str_t s)
{
    size_t i = 0, members = 0;

    if (s.len > MAX_TRACESTATE)
        return false;
    while (i <= s.len) {
        size_t start = i, end, eq = 0;
        bool have_eq = false;
        while (i < s.len && s.ptr[i] != ',')
            i++;
        end = i;
        while (start < end && (s.ptr[start] == ' ' || s.ptr[start] == '\t'))
            start++;
        while (end > start && (s.ptr[end - 1] == ' ' || s.ptr[end - 1] == '\t'))
            end--;
        if (end > start) {
            size_t j;
            if (++members > 32)
                return false;
            for (j = start; j < end; j++) {
                unsigned char c = (unsigned char)s.ptr[j];
                if (!have_eq && c == '=') {
                    have_eq = true;
                    eq = j;
                    continue;
                }
                if (!have_eq) {
                    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                          c == '-' || c == '*' || c == '/' || c == '@'))
                        return false;
                } else if (c < 0x20 || c > 0x7e || c == ',' || c == '=') {
                    return false;
                }
            }
            if (!have_eq || eq == start || eq + 1 == end || eq - start > 256 ||
                end - eq - 1 > 256)
                return false;
        }
        i++;
    }
    return true;
}

/* A string field: present strings are valid UTF-8 without NUL and within
 * [min, max] bytes (max 0: unbounded). */
static int check_text(er_str_t s, const char *name, size_t min, size_t max, er_error_t *err)
{
    int rc;
    if (s.ptr == NULL)
        return 0;
    rc = er__utf8_check(s.ptr, s.len);
    if (rc == ER_EUTF8)
        return er__error_set(err, rc, -1, "%s: not valid UTF-8", name);
    if (rc == ER_ENUL)
        return er__error_set(err, rc, -1, "%s: contains a NUL character", name);
    if (s.len < min || (max && s.len > max)) {
        if (min > 0)
            return er__error_set(err, ER_ERULE, -1, "%s: must be %zu-%zu bytes, got %zu", name,
                                 min, max, s.len);
        return er__error_set(err, ER_ERULE, -1, "%s: must be at most %zu bytes, got %zu", name,
                             max, s.len);
    }
    return 0;
}

int er_event_validate(const er_event_t *ev, unsigned flags, er_error_t *err)
{
    size_t i, pos;
    er_str_t k, v;
    int rc;

    /* type: required, 1-128 of [A-Za-z0-9_.-] */
    if (ev->type.ptr == NULL)
        return er__error_set(err, ER_EMISSING, -1, "type: required");
    if (ev->type.len < 1 || ev->type.len > MAX_TYPE)
        return er__error_set(err, ER_ERULE, -1,
                             "type: must be 1-128 characters of [A-Za-z0-9_.-], got %zu bytes",
                             ev->type.len);
    for (i = 0; i < ev->type.len; i++)
        if (!is_type_char((unsigned char)ev->type.ptr[i]))
            return er__error_set(err, ER_ERULE, -1,
                                 "type: must be 1-128 characters of [A-Za-z0-9_.-]");

    if ((ev->has & ER_HAS_VERSION) && ev->version < 1)
        return er__error_set(err, ER_ERULE, -1, "version: must be at least 1");

    /* topic: segments of [A-Za-z0-9_-]+ joined by '.', at most 255 */
    if (ev->topic.ptr != NULL) {
        bool seg_empty = true;
        if (ev->topic.len < 1 || ev->topic.len > MAX_TOPIC)
            return er__error_set(err, ER_ERULE, -1,
                                 "topic: must be 1-255 bytes of segments [A-Za-z0-9_-]+ "
                                 "joined by '.'");
        for (i = 0; i < ev->topic.len; i++) {
            unsigned char c = (unsigned char)ev->topic.ptr[i];
            if (c == '.') {
                if (seg_empty)
                    break;
                seg_empty = true;
            } else if (is_segment_char(c)) {
                seg_empty = false;
            } else {
                break;
            }
        }
        if (i < ev->topic.len || seg_empty)
            return er__error_set(err, ER_ERULE, -1,
                                 "topic: must be segments of [A-Za-z0-9_-]+ joined by '.'");
    }

    if ((ev->has & ER_HAS_PRIORITY) &&
        (ev->priority < ER_PRIORITY_LOW || ev->priority > ER_PRIORITY_CRITICAL))
        return er__error_set(err, ER_ERULE, -1,
                             "priority: must be low, normal, high, critical or 0-3");

    /* id: 1-64 printable ASCII, no space */
    if (ev->id.ptr != NULL) {
        if (ev->id.len < 1 || ev->id.len > MAX_ID)
            return er__error_set(err, ER_ERULE, -1,
                                 "id: must be 1-64 printable ASCII characters, got %zu bytes",
                                 ev->id.len);
        for (i = 0; i < ev->id.len; i++) {
            unsigned char c = (unsigned char)ev->id.ptr[i];
            if (c < 0x21 || c > 0x7e)
                return er__error_set(err, ER_ERULE, -1,
                                     "id: must be 1-64 printable ASCII characters "
                                     "(no space or control characters)");
        }
    }

    if ((ev->has & ER_HAS_TIME) && ev->time < 0)
        return er__error_set(err, ER_ERULE, -1, "time: must be microseconds since the epoch (>= 0)");

    /* stream: at most 255, no control characters; '$' reserved */
    if (ev->stream.ptr != NULL) {
        if ((rc = check_text(ev->stream, "stream", 1, MAX_STREAM, err)) != 0)
            return rc;
        for (i = 0; i < ev->stream.len; i++) {
            unsigned char c = (unsigned char)ev->stream.ptr[i];
            /* C0, DEL, and C1 (U+0080-U+009F, UTF-8 c2 80..c2 9f): the
             * Unicode control characters, which terminals interpret. */
            if (c < 0x20 || c == 0x7f ||
                (c == 0xc2 && i + 1 < ev->stream.len &&
                 (unsigned char)ev->stream.ptr[i + 1] <= 0x9f))
                return er__error_set(err, ER_ERULE, -1,
                                     "stream: must not contain control characters");
        }
        if ((flags & ER_VALIDATE_CLIENT) && ev->stream.ptr[0] == '$')
            return er__error_set(err, ER_ERESERVED, -1,
                                 "stream: streams starting with '$' are reserved for the daemon");
    }

    if ((rc = check_text(ev->correlation_id, "correlation_id", 0, MAX_CORRELATION, err)) != 0 ||
        (rc = check_text(ev->causation_id, "causation_id", 0, MAX_CORRELATION, err)) != 0 ||
        (rc = check_text(ev->source, "source", 0, MAX_SOURCE, err)) != 0 ||
        (rc = check_text(ev->content_type, "content_type", 0, MAX_CONTENT, err)) != 0)
        return rc;

    if (ev->traceparent.ptr != NULL && !traceparent_ok(ev->traceparent))
        return er__error_set(err, ER_ERULE, -1,
                             "traceparent: must be W3C trace context "
                             "(00-<32 hex>-<16 hex>-<2 hex>, lowercase, ids not all zero)");
    if (ev->tracestate.ptr != NULL && !tracestate_ok(ev->tracestate))
        return er__error_set(err, ER_ERULE, -1,
                             "tracestate: must be W3C tracestate (at most 32 key=value members, "
                             "at most 512 bytes)");

    if (ev->data.ptr != NULL && ev->data_is_str) {
        if ((rc = check_text(ev->data, "data", 0, 0, err)) != 0)
            return rc;
    }

    if (ev->meta_count > MAX_META)
        return er__error_set(err, ER_ERULE, -1, "meta: at most %d entries, got %zu", MAX_META,
                             ev->meta_count);
    pos = 0;
    while (er_meta_next(ev, &pos, &k, &v)) {
        char kb[64];
        if (k.len < 1 || k.len > MAX_META_KEY)
            return er__error_set(err, ER_ERULE, -1, "meta: keys must be 1-128 bytes");
        if ((rc = er__utf8_check(k.ptr, k.len)) != 0)
            return er__error_set(err, rc, -1, "meta: key %s",
                                 rc == ER_ENUL ? "contains a NUL character" : "not valid UTF-8");
        if ((rc = er__utf8_check(v.ptr, v.len)) != 0)
            return er__error_set(err, rc, -1, "meta.%s: %s",
                                 er__printable(k.ptr, k.len, kb, sizeof kb),
                                 rc == ER_ENUL ? "contains a NUL character" : "not valid UTF-8");
    }

    /* Daemon fields. */
    if (flags & ER_VALIDATE_CLIENT) {
        const char *name = NULL;
        if (ev->has & ER_HAS_SEQ)
            name = "seq";
        else if (ev->has & ER_HAS_RECEIVED)
            name = "received";
        else if (ev->has & ER_HAS_ORIGIN)
            name = "origin";
        else if (ev->via.broker.ptr || ev->via.source.ptr || ev->via.plugin.ptr)
            name = "via";
        else if (ev->has & ER_HAS_HOPS)
            name = "hops";
        if (name)
            return er__error_set(err, ER_EDAEMONFIELD, -1,
                                 "%s: set by the daemon, clients must not send it", name);
    } else {
        if ((rc = check_text(ev->origin.host, "origin.host", 0, MAX_HOST, err)) != 0 ||
            (rc = check_text(ev->via.broker, "via.broker", 0, MAX_VIA, err)) != 0 ||
            (rc = check_text(ev->via.source, "via.source", 0, MAX_VIA, err)) != 0 ||
            (rc = check_text(ev->via.plugin, "via.plugin", 0, MAX_VIA, err)) != 0)
            return rc;
    }
    return 0;
}

/* --------------------------------------------------------------- decoder */

static const char *mp_type_name(er_mp_type_t t)
{
    static const char *const names[] = {"nil", "bool", "uint", "int",  "float",
                                        "str", "bin",  "array", "map", "ext"};
    return names[t];
}

static int want_type(const er_mp_obj_t *o, er_mp_type_t t, const char *name, er_error_t *err)
{
    if (o->type == t)
        return 0;
    return er__error_set(err, ER_ETYPE, -1, "%s: expected %s, got %s", name, mp_type_name(t),
                         mp_type_name(o->type));
}

static int read_str(er_mp_reader_t *r, er_str_t *out, const char *name, er_error_t *err)
{
    er_mp_obj_t o;
    int rc = er__mp_next(r, &o);
    if (rc != 0)
        return er__error_set(err, rc, -1, "%s: %s", name, er_strerror(rc));
    if ((rc = want_type(&o, ER_MP_STR, name, err)) != 0)
        return rc;
    out->ptr = o.v.s.ptr;
    out->len = o.v.s.len;
    return 0;
}

static int read_uint(er_mp_reader_t *r, uint64_t max, uint64_t *out, const char *name,
                     er_error_t *err)
{
    er_mp_obj_t o;
    int rc = er__mp_next(r, &o);
    if (rc != 0)
        return er__error_set(err, rc, -1, "%s: %s", name, er_strerror(rc));
    if (o.type == ER_MP_INT)
        return er__error_set(err, ER_ERULE, -1, "%s: must not be negative", name);
    if ((rc = want_type(&o, ER_MP_UINT, name, err)) != 0)
        return rc;
    if (o.v.u > max)
        return er__error_set(err, ER_ERULE, -1, "%s: at most %llu", name,
                             (unsigned long long)max);
    *out = o.v.u;
    return 0;
}

static int read_int(er_mp_reader_t *r, int64_t *out, const char *name, er_error_t *err)
{
    er_mp_obj_t o;
    int rc = er__mp_next(r, &o);
    if (rc != 0)
        return er__error_set(err, rc, -1, "%s: %s", name, er_strerror(rc));
    if (o.type == ER_MP_INT) {
        *out = o.v.i;
        return 0;
    }
    if (o.type == ER_MP_UINT && o.v.u <= INT64_MAX) {
        *out = (int64_t)o.v.u;
        return 0;
    }
    if (o.type == ER_MP_UINT)
        return er__error_set(err, ER_ERULE, -1, "%s: out of range", name);
    return er__error_set(err, ER_ETYPE, -1, "%s: expected int, got %s", name,
                         mp_type_name(o.type));
}

/* Read a map header for a nested field and return its entry count. */
static int read_map(er_mp_reader_t *r, uint32_t *n, const char *name, er_error_t *err)
{
    er_mp_obj_t o;
    int rc = er__mp_next(r, &o);
    if (rc != 0)
        return er__error_set(err, rc, -1, "%s: %s", name, er_strerror(rc));
    if ((rc = want_type(&o, ER_MP_MAP, name, err)) != 0)
        return rc;
    *n = o.v.n;
    return 0;
}

static int read_meta(er_mp_reader_t *r, er_event_t *ev, er_error_t *err)
{
    const uint8_t *start = r->p;
    uint32_t n, i, j;
    er_str_t keys[MAX_META];
    int rc;

    if ((rc = read_map(r, &n, "meta", err)) != 0)
        return rc;
    if (n > MAX_META)
        return er__error_set(err, ER_ERULE, -1, "meta: at most %d entries, got %u", MAX_META, n);
    for (i = 0; i < n; i++) {
        er_str_t v;
        if ((rc = read_str(r, &keys[i], "meta key", err)) != 0)
            return rc;
        for (j = 0; j < i; j++) {
            if (keys[j].len == keys[i].len && memcmp(keys[j].ptr, keys[i].ptr, keys[i].len) == 0) {
                char kb[64];
                return er__error_set(err, ER_EDUPKEY, -1, "meta: duplicate key \"%s\"",
                                     er__printable(keys[i].ptr, keys[i].len, kb, sizeof kb));
            }
        }
        if ((rc = read_str(r, &v, "meta value", err)) != 0)
            return rc;
    }
    ev->meta = NULL;
    ev->meta_count = n;
    ev->meta_packed.ptr = (const char *)start;
    ev->meta_packed.len = (size_t)(r->p - start);
    return 0;
}

/* Read a small map of string-named sub-fields (origin, via). `names` lists
 * them; `slot` receives the index per key read. */
typedef int (*sub_reader)(er_mp_reader_t *r, er_event_t *ev, int which, er_error_t *err);

static int read_sub(er_mp_reader_t *r, er_event_t *ev, const char *field, const char *const *names,
                    int count, sub_reader fn, er_error_t *err)
{
    uint32_t n, i;
    unsigned seen = 0;
    int rc, which;

    if ((rc = read_map(r, &n, field, err)) != 0)
        return rc;
    for (i = 0; i < n; i++) {
        er_str_t k;
        char kb[64];
        if ((rc = read_str(r, &k, field, err)) != 0)
            return rc;
        for (which = 0; which < count; which++)
            if (er__mp_str_eq(k.ptr, k.len, names[which]))
                break;
        if (which == count)
            return er__error_set(err, ER_EUNKNOWNKEY, -1, "%s: unknown key \"%s\"", field,
                                 er__printable(k.ptr, k.len, kb, sizeof kb));
        if (seen & (1u << which))
            return er__error_set(err, ER_EDUPKEY, -1, "%s: duplicate key \"%s\"", field,
                                 names[which]);
        seen |= 1u << which;
        if ((rc = fn(r, ev, which, err)) != 0)
            return rc;
    }
    return 0;
}

static const char *const origin_keys[] = {"pid", "uid", "gid", "host"};
static const char *const via_keys[] = {"broker", "source", "plugin"};

static int origin_field(er_mp_reader_t *r, er_event_t *ev, int which, er_error_t *err)
{
    uint64_t u;
    int rc;
    switch (which) {
    case 0:
        return read_int(r, &ev->origin.pid, "origin.pid", err);
    case 1:
    case 2:
        rc = read_uint(r, UINT32_MAX, &u, which == 1 ? "origin.uid" : "origin.gid", err);
        if (rc == 0)
            *(which == 1 ? &ev->origin.uid : &ev->origin.gid) = (uint32_t)u;
        return rc;
    default:
        return read_str(r, &ev->origin.host, "origin.host", err);
    }
}

static int via_field(er_mp_reader_t *r, er_event_t *ev, int which, er_error_t *err)
{
    static const char *const names[] = {"via.broker", "via.source", "via.plugin"};
    er_str_t *slot = which == 0 ? &ev->via.broker : which == 1 ? &ev->via.source : &ev->via.plugin;
    return read_str(r, slot, names[which], err);
}

static int read_priority(er_mp_reader_t *r, er_event_t *ev, er_error_t *err)
{
    er_mp_obj_t o;
    int rc = er__mp_next(r, &o), p = -1;

    if (rc != 0)
        return er__error_set(err, rc, -1, "priority: %s", er_strerror(rc));
    if (o.type == ER_MP_STR)
        p = er_priority_parse(o.v.s.ptr, o.v.s.len);
    else if (o.type == ER_MP_UINT && o.v.u <= ER_PRIORITY_CRITICAL)
        p = (int)o.v.u;
    else if (o.type != ER_MP_UINT && o.type != ER_MP_INT)
        return er__error_set(err, ER_ETYPE, -1, "priority: expected str or uint, got %s",
                             mp_type_name(o.type));
    if (p < 0)
        return er__error_set(err, ER_ERULE, -1,
                             "priority: must be low, normal, high, critical or 0-3");
    ev->priority = p;
    ev->has |= ER_HAS_PRIORITY;
    return 0;
}

static int read_field(er_mp_reader_t *r, er_event_t *ev, int f, er_error_t *err)
{
    er_mp_obj_t o;
    uint64_t u;
    int rc;

    switch (f) {
    case F_TYPE:
        return read_str(r, &ev->type, "type", err);
    case F_TOPIC:
        return read_str(r, &ev->topic, "topic", err);
    case F_ID:
        return read_str(r, &ev->id, "id", err);
    case F_STREAM:
        return read_str(r, &ev->stream, "stream", err);
    case F_CORRELATION_ID:
        return read_str(r, &ev->correlation_id, "correlation_id", err);
    case F_CAUSATION_ID:
        return read_str(r, &ev->causation_id, "causation_id", err);
    case F_SOURCE:
        return read_str(r, &ev->source, "source", err);
    case F_TRACEPARENT:
        return read_str(r, &ev->traceparent, "traceparent", err);
    case F_TRACESTATE:
        return read_str(r, &ev->tracestate, "tracestate", err);
    case F_CONTENT_TYPE:
        return read_str(r, &ev->content_type, "content_type", err);
    case F_VERSION:
        if ((rc = read_uint(r, UINT32_MAX, &u, "version", err)) != 0)
            return rc;
        ev->version = (uint32_t)u;
        ev->has |= ER_HAS_VERSION;
        return 0;
    case F_PRIORITY:
        return read_priority(r, ev, err);
    case F_TIME:
        if ((rc = read_int(r, &ev->time, "time", err)) != 0)
            return rc;
        ev->has |= ER_HAS_TIME;
        return 0;
    case F_DATA:
        if ((rc = er__mp_next(r, &o)) != 0)
            return er__error_set(err, rc, -1, "data: %s", er_strerror(rc));
        if (o.type != ER_MP_BIN && o.type != ER_MP_STR)
            return er__error_set(err, ER_ETYPE, -1, "data: expected bin or str, got %s",
                                 mp_type_name(o.type));
        ev->data.ptr = o.v.s.ptr;
        ev->data.len = o.v.s.len;
        ev->data_is_str = o.type == ER_MP_STR;
        return 0;
    case F_META:
        return read_meta(r, ev, err);
    case F_SEQ:
        if ((rc = read_uint(r, UINT64_MAX, &ev->seq, "seq", err)) != 0)
            return rc;
        ev->has |= ER_HAS_SEQ;
        return 0;
    case F_RECEIVED:
        if ((rc = read_int(r, &ev->received, "received", err)) != 0)
            return rc;
        ev->has |= ER_HAS_RECEIVED;
        return 0;
    case F_ORIGIN:
        ev->has |= ER_HAS_ORIGIN;
        return read_sub(r, ev, "origin", origin_keys, 4, origin_field, err);
    case F_VIA:
        return read_sub(r, ev, "via", via_keys, 3, via_field, err);
    case F_HOPS:
        if ((rc = read_uint(r, UINT32_MAX, &u, "hops", err)) != 0)
            return rc;
        ev->hops = (uint32_t)u;
        ev->has |= ER_HAS_HOPS;
        return 0;
    }
    return ER_EUNKNOWNKEY;
}

int er__event_read(er_mp_reader_t *r, er_event_t *ev, unsigned flags, size_t max_event_size,
                   er_error_t *err)
{
    const uint8_t *start = r->p;
    uint32_t n, i;
    uint32_t seen = 0;
    er_mp_obj_t o;
    int rc;

    memset(ev, 0, sizeof(*ev));
    if ((rc = er__mp_next(r, &o)) != 0)
        return er__error_set(err, rc, -1, "event: %s", er_strerror(rc));
    if (o.type != ER_MP_MAP)
        return er__error_set(err, ER_ETYPE, -1, "event: expected map, got %s",
                             mp_type_name(o.type));
    n = o.v.n;
    for (i = 0; i < n; i++) {
        char kb[64];
        int f;
        if ((rc = er__mp_next(r, &o)) != 0)
            return er__error_set(err, rc, -1, "event: %s", er_strerror(rc));
        if (o.type != ER_MP_STR)
            return er__error_set(err, ER_ETYPE, -1, "event: keys must be str, got %s",
                                 mp_type_name(o.type));
        f = field_lookup(o.v.s.ptr, o.v.s.len);
        if (f < 0)
            return er__error_set(err, ER_EUNKNOWNKEY, -1, "unknown field \"%s\"",
                                 er__printable(o.v.s.ptr, o.v.s.len, kb, sizeof kb));
        if (seen & (1u << f))
            return er__error_set(err, ER_EDUPKEY, -1, "duplicate field \"%s\"", fields[f].name);
        seen |= 1u << f;
        if (fields[f].daemon && (flags & ER_VALIDATE_CLIENT))
            return er__error_set(err, ER_EDAEMONFIELD, -1,
                                 "%s: set by the daemon, clients must not send it",
                                 fields[f].name);
        if ((rc = read_field(r, ev, f, err)) != 0)
            return rc;
        if ((size_t)(r->p - start) > max_event_size)
            break;
    }
    if ((size_t)(r->p - start) > max_event_size)
        return er__error_set(err, ER_ETOOBIG, -1,
                             "event: larger than max_event_size (%zu bytes)", max_event_size);
    return er_event_validate(ev, flags, err);
}

/* --------------------------------------------------------------- encoder */

static void pack_key(msgpack_packer *pk, const char *k, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, k, n);
}

#define KEY(pk, lit) pack_key((pk), lit, sizeof(lit) - 1)

static void pack_strv(msgpack_packer *pk, er_str_t s)
{
    msgpack_pack_str(pk, s.len);
    msgpack_pack_str_body(pk, s.ptr, s.len);
}

int er__event_pack(er_buf_t *b, const er_event_t *ev)
{
    msgpack_packer pk;
    size_t n = 0, before = b->len, i;
    const er_str_t *strs[] = {&ev->topic,          &ev->id,          &ev->stream,
                              &ev->correlation_id, &ev->causation_id, &ev->source,
                              &ev->traceparent,    &ev->tracestate,   &ev->content_type};
    static const struct {
        const char *name;
        size_t len;
    } str_names[] = {{"topic", 5},        {"id", 2},          {"stream", 6},
                     {"correlation_id", 14}, {"causation_id", 12}, {"source", 6},
                     {"traceparent", 11},  {"tracestate", 10},  {"content_type", 12}};
    bool has_via = ev->via.broker.ptr || ev->via.source.ptr || ev->via.plugin.ptr;

    n += ev->type.ptr != NULL;
    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        n += strs[i]->ptr != NULL;
    n += !!(ev->has & ER_HAS_VERSION) + !!(ev->has & ER_HAS_PRIORITY) + !!(ev->has & ER_HAS_TIME);
    n += ev->data.ptr != NULL;
    n += ev->meta_count > 0;
    n += !!(ev->has & ER_HAS_SEQ) + !!(ev->has & ER_HAS_RECEIVED) + !!(ev->has & ER_HAS_ORIGIN);
    n += has_via + !!(ev->has & ER_HAS_HOPS);

    if (er__buf_reserve(b, 64 + ev->data.len + ev->meta_packed.len) != 0)
        return -ENOMEM;
    msgpack_packer_init(&pk, b, er__buf_mp_write);
    msgpack_pack_map(&pk, n);
    if (ev->type.ptr) {
        KEY(&pk, "type");
        pack_strv(&pk, ev->type);
    }
    if (ev->has & ER_HAS_VERSION) {
        KEY(&pk, "version");
        msgpack_pack_uint32(&pk, ev->version);
    }
    if (ev->has & ER_HAS_PRIORITY) {
        KEY(&pk, "priority");
        pack_key(&pk, er_priority_name(ev->priority), strlen(er_priority_name(ev->priority)));
    }
    if (ev->has & ER_HAS_TIME) {
        KEY(&pk, "time");
        msgpack_pack_int64(&pk, ev->time);
    }
    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (strs[i]->ptr == NULL)
            continue;
        pack_key(&pk, str_names[i].name, str_names[i].len);
        pack_strv(&pk, *strs[i]);
    }
    if (ev->data.ptr) {
        KEY(&pk, "data");
        if (ev->data_is_str) {
            pack_strv(&pk, ev->data);
        } else {
            msgpack_pack_bin(&pk, ev->data.len);
            msgpack_pack_bin_body(&pk, ev->data.ptr, ev->data.len);
        }
    }
    if (ev->meta_count > 0) {
        KEY(&pk, "meta");
        if (ev->meta != NULL) {
            msgpack_pack_map(&pk, ev->meta_count);
            for (i = 0; i < ev->meta_count; i++) {
                pack_strv(&pk, ev->meta[i].key);
                pack_strv(&pk, ev->meta[i].value);
            }
        } else {
            er__buf_mp_write(b, ev->meta_packed.ptr, ev->meta_packed.len);
        }
    }
    if (ev->has & ER_HAS_SEQ) {
        KEY(&pk, "seq");
        msgpack_pack_uint64(&pk, ev->seq);
    }
    if (ev->has & ER_HAS_RECEIVED) {
        KEY(&pk, "received");
        msgpack_pack_int64(&pk, ev->received);
    }
    if (ev->has & ER_HAS_ORIGIN) {
        KEY(&pk, "origin");
        msgpack_pack_map(&pk, ev->origin.host.ptr ? 4 : 3);
        KEY(&pk, "pid");
        msgpack_pack_int64(&pk, ev->origin.pid);
        KEY(&pk, "uid");
        msgpack_pack_uint32(&pk, ev->origin.uid);
        KEY(&pk, "gid");
        msgpack_pack_uint32(&pk, ev->origin.gid);
        if (ev->origin.host.ptr) {
            KEY(&pk, "host");
            pack_strv(&pk, ev->origin.host);
        }
    }
    if (has_via) {
        KEY(&pk, "via");
        msgpack_pack_map(&pk, (ev->via.broker.ptr != NULL) + (ev->via.source.ptr != NULL) +
                                  (ev->via.plugin.ptr != NULL));
        if (ev->via.broker.ptr) {
            KEY(&pk, "broker");
            pack_strv(&pk, ev->via.broker);
        }
        if (ev->via.source.ptr) {
            KEY(&pk, "source");
            pack_strv(&pk, ev->via.source);
        }
        if (ev->via.plugin.ptr) {
            KEY(&pk, "plugin");
            pack_strv(&pk, ev->via.plugin);
        }
    }
    if (ev->has & ER_HAS_HOPS) {
        KEY(&pk, "hops");
        msgpack_pack_uint32(&pk, ev->hops);
    }
    /* The packer's writes fail only on ENOMEM, which the buffer records. */
    if (b->err != 0) {
        b->len = before;
        b->err = 0;
        return -ENOMEM;
    }
    return 0;
}
