/*
 * The JSON shape of an event (DESIGN §11), the one codec `query`, `tail`,
 * the log handler and `publish --from-file` share. One table lists every
 * key with its kind and place in er_event_t; both directions walk it, so
 * the key set and its order (seq first, then the §3 order) live in one
 * place. All JSON goes through libjansson.
 *
 * Payload rule: `data` holds the payload as a JSON value when content_type
 * is absent, application/json or ends in +json (media type compared
 * case-insensitively, parameters after ';' ignored) and the bytes parse as
 * exactly one JSON value without duplicate keys; otherwise `data_base64`
 * holds it, so no payload is ever altered or lost on the way to JSON.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "base64.h"
#include "eventrouter.h"
#include "proto.h"

/* ------------------------------------------------------------ key tables */

enum kind {
    K_STR,      /* er_str_t */
    K_U32,      /* uint32_t */
    K_I64,      /* int64_t */
    K_U64,      /* uint64_t */
    K_PRIORITY, /* int, as its name */
    K_META,     /* object of strings */
    K_ORIGIN,   /* {pid, uid, gid, host} */
    K_VIA,      /* {broker, source, plugin} */
    K_DATA,     /* the payload as a JSON value */
    K_DATA_B64, /* the payload as base64 */
};

struct field {
    const char *key;
    enum kind kind;
    size_t off;   /* in the struct the table describes */
    uint32_t has; /* ER_HAS_* bit for non-strings; 0: present with the parent */
};

#define EV(name, kind, has)                                                                        \
    {                                                                                              \
#name, kind, offsetof(er_event_t, name), has                                               \
    }

static const struct field event_fields[] = {
    EV(seq, K_U64, ER_HAS_SEQ),
    EV(type, K_STR, 0),
    EV(version, K_U32, ER_HAS_VERSION),
    EV(topic, K_STR, 0),
    EV(priority, K_PRIORITY, ER_HAS_PRIORITY),
    EV(id, K_STR, 0),
    EV(time, K_I64, ER_HAS_TIME),
    EV(received, K_I64, ER_HAS_RECEIVED),
    EV(stream, K_STR, 0),
    EV(correlation_id, K_STR, 0),
    EV(causation_id, K_STR, 0),
    EV(source, K_STR, 0),
    EV(traceparent, K_STR, 0),
    EV(tracestate, K_STR, 0),
    EV(content_type, K_STR, 0),
    EV(meta, K_META, 0),
    EV(origin, K_ORIGIN, ER_HAS_ORIGIN),
    EV(via, K_VIA, 0),
    EV(hops, K_U32, ER_HAS_HOPS),
    {"data", K_DATA, offsetof(er_event_t, data), 0},
    {"data_base64", K_DATA_B64, offsetof(er_event_t, data), 0},
};

static const struct field origin_fields[] = {
    {"pid", K_I64, offsetof(er_origin_t, pid), 0},
    {"uid", K_U32, offsetof(er_origin_t, uid), 0},
    {"gid", K_U32, offsetof(er_origin_t, gid), 0},
    {"host", K_STR, offsetof(er_origin_t, host), 0},
};

static const struct field via_fields[] = {
    {"broker", K_STR, offsetof(er_via_t, broker), 0},
    {"source", K_STR, offsetof(er_via_t, source), 0},
    {"plugin", K_STR, offsetof(er_via_t, plugin), 0},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const struct field *field_find(const struct field *tab, size_t n, const char *key)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (strcmp(tab[i].key, key) == 0)
            return &tab[i];
    return NULL;
}

#define AT(base, f, type)  ((type *)(void *)((char *)(base) + (f)->off))
#define CAT(base, f, type) ((const type *)(const void *)((const char *)(base) + (f)->off))

/*
 * True when the payload of this content_type is JSON: absent,
 * application/json, or a +json suffix; case-insensitive, parameters ignored.
 */
static bool json_content_type(er_str_t ct)
{
    size_t n = 0;
    if (ct.ptr == NULL)
        return true;
    while (n < ct.len && ct.ptr[n] != ';')
        n++;
    while (n > 0 && (ct.ptr[n - 1] == ' ' || ct.ptr[n - 1] == '\t'))
        n--;
    if (n == 16 && strncasecmp(ct.ptr, "application/json", 16) == 0)
        return true;
    return n >= 5 && strncasecmp(ct.ptr + n - 5, "+json", 5) == 0;
}

/*
 * jansson prints reals with a fixed precision (17 digits by default, so
 * 0.1 becomes 0.10000000000000001). The precision this returns is the
 * smallest that prints every real in v so it reads back as the same double.
 */
static int real_precision(const json_t *v)
{
    int p = 1, q;
    size_t i;
    const char *key;
    json_t *item;

    switch (json_typeof(v)) {
    case JSON_REAL: {
        double d = json_real_value(v);
        char buf[40];
        for (p = 1; p < 17; p++) {
            snprintf(buf, sizeof buf, "%.*g", p, d);
            if (strtod(buf, NULL) == d)
                break;
        }
        return p;
    }
    case JSON_ARRAY:
        json_array_foreach(v, i, item)
        {
            if ((q = real_precision(item)) > p)
                p = q;
        }
        return p;
    case JSON_OBJECT:
        json_object_foreach((json_t *)v, key, item)
        {
            if ((q = real_precision(item)) > p)
                p = q;
        }
        return p;
    default:
        return p;
    }
}

/* Compact text of a JSON value with reals at their shortest exact form.
 * Caller frees; NULL on ENOMEM. */
static char *dump_compact(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(real_precision(v)));
}

/* ------------------------------------------------------------ to JSON */

/* Each returns 0, or -1 when jansson failed (ENOMEM, or a string that is
 * not UTF-8). */
static int put_str(json_t *obj, const char *key, er_str_t s)
{
    json_t *v;
    if (s.ptr == NULL)
        return 0;
    v = json_stringn(s.ptr, s.len);
    return v ? json_object_set_new(obj, key, v) : -1;
}

static int put_int(json_t *obj, const char *key, json_int_t i)
{
    json_t *v = json_integer(i);
    return v ? json_object_set_new(obj, key, v) : -1;
}

/* The scalar members of a table (strings and integers) from base. */
static int put_scalars(json_t *obj, const struct field *tab, size_t n, const void *base,
                       uint32_t has)
{
    size_t i;
    for (i = 0; i < n; i++) {
        const struct field *f = &tab[i];
        if (f->has && !(has & f->has))
            continue;
        switch (f->kind) {
        case K_STR:
            if (put_str(obj, f->key, *CAT(base, f, er_str_t)) != 0)
                return -1;
            break;
        case K_U32:
            if (put_int(obj, f->key, *CAT(base, f, uint32_t)) != 0)
                return -1;
            break;
        case K_I64:
            if (put_int(obj, f->key, *CAT(base, f, int64_t)) != 0)
                return -1;
            break;
        case K_U64:
            /* seq is below 2^63 in any store's lifetime. */
            if (put_int(obj, f->key, (json_int_t)*CAT(base, f, uint64_t)) != 0)
                return -1;
            break;
        default:
            break;
        }
    }
    return 0;
}

static int put_meta(json_t *obj, const er_event_t *ev)
{
    json_t *m;
    size_t pos = 0;
    er_str_t k, v;

    if (ev->meta_count == 0)
        return 0;
    if ((m = json_object()) == NULL || json_object_set_new(obj, "meta", m) != 0)
        return -1;
    while (er_meta_next(ev, &pos, &k, &v)) {
        json_t *s = json_stringn(v.ptr, v.len);
        if (s == NULL || json_object_setn_new(m, k.ptr, k.len, s) != 0)
            return -1;
    }
    return 0;
}

static int put_sub(json_t *obj, const char *key, const struct field *tab, size_t n,
                   const void *base)
{
    json_t *sub = json_object();
    if (sub == NULL || json_object_set_new(obj, key, sub) != 0)
        return -1;
    return put_scalars(sub, tab, n, base, 0);
}

static int put_data(json_t *obj, const er_event_t *ev)
{
    json_t *v;
    char *b64;
    size_t n;

    if (ev->data.ptr == NULL)
        return 0;
    if (json_content_type(ev->content_type)) {
        v = json_loadb(ev->data.ptr, ev->data.len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
        if (v != NULL)
            return json_object_set_new(obj, "data", v);
    }
    n = er__base64_encoded_len(ev->data.len);
    if (n == SIZE_MAX || (b64 = malloc(n + 1)) == NULL)
        return -1;
    er__base64_encode((const uint8_t *)ev->data.ptr, ev->data.len, b64);
    v = json_stringn_nocheck(b64, n);
    free(b64);
    return v ? json_object_set_new(obj, "data_base64", v) : -1;
}

char *er_event_to_json(const er_event_t *ev)
{
    json_t *obj = json_object();
    char *text = NULL;
    size_t i;

    if (obj == NULL)
        return NULL;
    for (i = 0; i < COUNT(event_fields); i++) {
        const struct field *f = &event_fields[i];
        int rc = 0;
        switch (f->kind) {
        case K_PRIORITY:
            if (!(ev->has & ER_HAS_PRIORITY))
                break;
            if (ev->priority >= ER_PRIORITY_LOW && ev->priority <= ER_PRIORITY_CRITICAL)
                rc = json_object_set_new(obj, f->key, json_string(er_priority_name(ev->priority)));
            else
                rc = put_int(obj, f->key, ev->priority);
            break;
        case K_META:
            rc = put_meta(obj, ev);
            break;
        case K_ORIGIN:
            if (ev->has & ER_HAS_ORIGIN)
                rc = put_sub(obj, f->key, origin_fields, COUNT(origin_fields), &ev->origin);
            break;
        case K_VIA:
            if (ev->via.broker.ptr || ev->via.source.ptr || ev->via.plugin.ptr)
                rc = put_sub(obj, f->key, via_fields, COUNT(via_fields), &ev->via);
            break;
        case K_DATA:
            rc = put_data(obj, ev);
            break;
        case K_DATA_B64:
            break; /* written by put_data */
        default:
            rc = put_scalars(obj, f, 1, ev, ev->has);
            break;
        }
        if (rc != 0)
            goto out;
    }
    text = dump_compact(obj);
out:
    json_decref(obj);
    return text;
}

/* ---------------------------------------------------------- from JSON */

/*
 * Parsing state: first every value is checked and ev's views point into
 * jansson's tree (or into `data`, a buffer of our own); then one block is
 * allocated and every view is copied into it.
 */
struct parse {
    er_event_t *ev;
    er_error_t *err;
    json_t *meta;  /* the meta object, copied in the second step */
    char *data;    /* the payload's bytes (malloc'd), ev->data points here */
    size_t nbytes; /* string bytes to copy, NUL terminators included */
    bool data_json;
};

static int type_error(struct parse *ps, const char *prefix, const char *key, const char *what)
{
    return er__error_set(ps->err, ER_ETYPE, -1, "%s%s: must be %s", prefix, key, what);
}

/* One scalar member (K_STR, K_U32, K_I64, K_U64) into base. */
static int get_scalar(struct parse *ps, const struct field *f, json_t *v, void *base,
                      const char *prefix)
{
    json_int_t i;

    if (f->kind == K_STR) {
        er_str_t *s = AT(base, f, er_str_t);
        if (!json_is_string(v))
            return type_error(ps, prefix, f->key, "a string");
        s->ptr = json_string_value(v);
        s->len = json_string_length(v);
        ps->nbytes += s->len + 1;
        return 0;
    }
    if (!json_is_integer(v))
        return type_error(ps, prefix, f->key, "an integer");
    i = json_integer_value(v);
    switch (f->kind) {
    case K_U32:
        if (i < 0 || i > (json_int_t)UINT32_MAX)
            return er__error_set(ps->err, ER_ERULE, -1, "%s%s: must be an integer in 0-%u", prefix,
                                 f->key, UINT32_MAX);
        *AT(base, f, uint32_t) = (uint32_t)i;
        break;
    case K_I64:
        *AT(base, f, int64_t) = i;
        break;
    case K_U64:
        if (i < 0)
            return er__error_set(ps->err, ER_ERULE, -1, "%s%s: must be a non-negative integer",
                                 prefix, f->key);
        *AT(base, f, uint64_t) = (uint64_t)i;
        break;
    default:
        break;
    }
    ps->ev->has |= f->has;
    return 0;
}

/* origin or via: an object whose members are all scalars of tab. */
static int get_sub(struct parse *ps, const char *name, json_t *obj, const struct field *tab,
                   size_t n, void *base)
{
    const char *key;
    json_t *v;
    char prefix[16];
    int rc;

    if (!json_is_object(obj))
        return type_error(ps, "", name, "an object");
    snprintf(prefix, sizeof prefix, "%s.", name);
    json_object_foreach(obj, key, v)
    {
        const struct field *f = field_find(tab, n, key);
        if (f == NULL)
            return er__error_set(ps->err, ER_EUNKNOWNKEY, -1, "%s%.100s: unknown key", prefix, key);
        if ((rc = get_scalar(ps, f, v, base, prefix)) != 0)
            return rc;
    }
    return 0;
}

static int get_meta(struct parse *ps, json_t *obj)
{
    const char *key;
    json_t *v;

    if (!json_is_object(obj))
        return type_error(ps, "", "meta", "an object of strings");
    json_object_foreach(obj, key, v)
    {
        if (!json_is_string(v))
            return er__error_set(ps->err, ER_ETYPE, -1, "meta.%.100s: must be a string", key);
        ps->nbytes += strlen(key) + 1 + json_string_length(v) + 1;
    }
    ps->meta = obj;
    ps->ev->meta_count = json_object_size(obj);
    return 0;
}

static int get_priority(struct parse *ps, json_t *v)
{
    static const char rule[] = "priority: must be low, normal, high, critical or 0-3";
    int p;

    if (json_is_string(v)) {
        p = er_priority_parse(json_string_value(v), json_string_length(v));
        if (p < 0)
            return er__error_set(ps->err, ER_ERULE, -1, rule);
    } else if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < ER_PRIORITY_LOW || i > ER_PRIORITY_CRITICAL)
            return er__error_set(ps->err, ER_ERULE, -1, rule);
        p = (int)i;
    } else {
        return er__error_set(ps->err, ER_ETYPE, -1, rule);
    }
    ps->ev->priority = p;
    ps->ev->has |= ER_HAS_PRIORITY;
    return 0;
}

static int get_data(struct parse *ps, json_t *v, bool base64)
{
    er_event_t *ev = ps->ev;
    size_t n;

    if (ps->data != NULL)
        return er__error_set(ps->err, ER_ERULE, -1,
                             "data_base64: cannot be given together with data");
    if (!base64) {
        /* The value itself, re-serialised compactly: these are the bytes. */
        if ((ps->data = dump_compact(v)) == NULL)
            return er__error_set(ps->err, -ENOMEM, -1, "data: out of memory");
        ev->data.len = strlen(ps->data);
        ev->data_is_str = true;
        ps->data_json = true;
    } else {
        const char *s;
        if (!json_is_string(v))
            return type_error(ps, "", "data_base64", "a string");
        s = json_string_value(v);
        n = json_string_length(v);
        /* +1: never malloc(0), so an empty payload is present, not absent. */
        if ((ps->data = malloc(er__base64_decoded_max(n) + 1)) == NULL)
            return er__error_set(ps->err, -ENOMEM, -1, "data_base64: out of memory");
        if (er__base64_decode(s, n, (uint8_t *)ps->data, &ev->data.len) != 0)
            return er__error_set(ps->err, ER_ERULE, -1,
                                 "data_base64: must be standard base64 with padding");
        ev->data_is_str = false;
    }
    ev->data.ptr = ps->data;
    ps->nbytes += ev->data.len + 1;
    return 0;
}

static int get_member(struct parse *ps, const char *key, json_t *v)
{
    const struct field *f = field_find(event_fields, COUNT(event_fields), key);
    er_event_t *ev = ps->ev;
    int rc;

    if (f == NULL)
        return er__error_set(ps->err, ER_EUNKNOWNKEY, -1, "%.100s: unknown key", key);
    switch (f->kind) {
    case K_PRIORITY:
        return get_priority(ps, v);
    case K_META:
        return get_meta(ps, v);
    case K_ORIGIN:
        rc = get_sub(ps, f->key, v, origin_fields, COUNT(origin_fields), &ev->origin);
        if (rc == 0)
            ev->has |= ER_HAS_ORIGIN;
        return rc;
    case K_VIA:
        return get_sub(ps, f->key, v, via_fields, COUNT(via_fields), &ev->via);
    case K_DATA:
    case K_DATA_B64:
        return get_data(ps, v, f->kind == K_DATA_B64);
    default:
        return get_scalar(ps, f, v, ev, "");
    }
}

/* Copy s into the block at *w, NUL-terminated, and point s there. */
static void relocate(er_str_t *s, char **w)
{
    if (s->ptr == NULL)
        return;
    memcpy(*w, s->ptr, s->len);
    (*w)[s->len] = '\0';
    s->ptr = *w;
    *w += s->len + 1;
}

/* The second step: one block holding the meta array, then every string. */
static int build_storage(struct parse *ps, void **storage)
{
    static const size_t str_offs[] = {
        offsetof(er_event_t, type),
        offsetof(er_event_t, topic),
        offsetof(er_event_t, id),
        offsetof(er_event_t, stream),
        offsetof(er_event_t, correlation_id),
        offsetof(er_event_t, causation_id),
        offsetof(er_event_t, source),
        offsetof(er_event_t, traceparent),
        offsetof(er_event_t, tracestate),
        offsetof(er_event_t, content_type),
        offsetof(er_event_t, data),
        offsetof(er_event_t, origin.host),
        offsetof(er_event_t, via.broker),
        offsetof(er_event_t, via.source),
        offsetof(er_event_t, via.plugin),
    };
    er_event_t *ev = ps->ev;
    size_t i, meta_bytes = ev->meta_count * sizeof(er_meta_t);
    er_meta_t *meta;
    char *block, *w;
    const char *key;
    json_t *v;

    if ((block = malloc(meta_bytes + ps->nbytes + 1)) == NULL)
        return er__error_set(ps->err, -ENOMEM, -1, "out of memory");
    meta = (er_meta_t *)(void *)block;
    w = block + meta_bytes;
    for (i = 0; i < COUNT(str_offs); i++)
        relocate((er_str_t *)(void *)((char *)ev + str_offs[i]), &w);
    i = 0;
    if (ps->meta != NULL) {
        json_object_foreach(ps->meta, key, v)
        {
            meta[i].key.ptr = key;
            meta[i].key.len = strlen(key);
            meta[i].value.ptr = json_string_value(v);
            meta[i].value.len = json_string_length(v);
            relocate(&meta[i].key, &w);
            relocate(&meta[i].value, &w);
            i++;
        }
        ev->meta = meta;
    }
    *storage = block;
    return 0;
}

int er_event_from_json(const char *text, size_t len, er_event_t *ev, void **storage,
                       er_error_t *err)
{
    struct parse ps = {ev, err, NULL, NULL, 0, false};
    json_error_t jerr;
    json_t *root, *v;
    const char *key;
    int rc = 0;

    memset(ev, 0, sizeof(*ev));
    *storage = NULL;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return er__error_set(err, ER_EJSON, -1, "invalid JSON at line %d, column %d: %s", jerr.line,
                             jerr.column, jerr.text);
    if (!json_is_object(root)) {
        rc = er__error_set(err, ER_ETYPE, -1, "event: must be a JSON object");
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        if ((rc = get_member(&ps, key, v)) != 0)
            goto out;
    }
    if (ps.data_json && !json_content_type(ev->content_type)) {
        rc = er__error_set(err, ER_ERULE, -1,
                           "data: a JSON value needs a JSON content_type; "
                           "use data_base64 for other payloads");
        goto out;
    }
    rc = build_storage(&ps, storage);
out:
    if (rc != 0)
        memset(ev, 0, sizeof(*ev));
    free(ps.data);
    json_decref(root);
    return rc;
}

void er_event_strip_daemon_fields(er_event_t *ev)
{
    ev->has &= ~(uint32_t)(ER_HAS_SEQ | ER_HAS_RECEIVED | ER_HAS_ORIGIN | ER_HAS_HOPS);
    ev->seq = 0;
    ev->received = 0;
    memset(&ev->origin, 0, sizeof(ev->origin));
    memset(&ev->via, 0, sizeof(ev->via));
    ev->hops = 0;
}
