/*
 * The JSON shape of an event (lib/json.c) and its base64 codec
 * (lib/base64.c): exact output for every field, round trips, the data vs
 * data_base64 rule for each kind of content type, and the exact refusal
 * (code and message) for bad JSON, unknown keys and each wrong type.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "eventrouter.h"
#include "mpread.h"
#include "proto.h"

/* ------------------------------------------------------------ helpers */

static bool str_eq(er_str_t a, er_str_t b)
{
    if (a.ptr == NULL || b.ptr == NULL)
        return a.ptr == b.ptr;
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

#define ck_str(a, b) ck_assert_msg(str_eq((a), (b)), "string field differs: %s", #a)

/* Field-by-field equality of two events (meta walked with er_meta_next). */
static void ck_event_eq(const er_event_t *a, const er_event_t *b)
{
    size_t pa = 0, pb = 0;
    er_str_t ka, va, kb, vb;

    ck_assert_uint_eq(a->has, b->has);
    ck_str(a->type, b->type);
    ck_assert_uint_eq(a->version, b->version);
    ck_str(a->topic, b->topic);
    ck_assert_int_eq(a->priority, b->priority);
    ck_str(a->id, b->id);
    ck_assert_int_eq(a->time, b->time);
    ck_str(a->stream, b->stream);
    ck_str(a->correlation_id, b->correlation_id);
    ck_str(a->causation_id, b->causation_id);
    ck_str(a->source, b->source);
    ck_str(a->traceparent, b->traceparent);
    ck_str(a->tracestate, b->tracestate);
    ck_str(a->content_type, b->content_type);
    ck_str(a->data, b->data);
    ck_assert_uint_eq(a->meta_count, b->meta_count);
    while (er_meta_next(a, &pa, &ka, &va)) {
        ck_assert(er_meta_next(b, &pb, &kb, &vb));
        ck_str(ka, kb);
        ck_str(va, vb);
    }
    ck_assert_uint_eq(a->seq, b->seq);
    ck_assert_int_eq(a->received, b->received);
    ck_assert_int_eq(a->origin.pid, b->origin.pid);
    ck_assert_uint_eq(a->origin.uid, b->origin.uid);
    ck_assert_uint_eq(a->origin.gid, b->origin.gid);
    ck_str(a->origin.host, b->origin.host);
    ck_str(a->via.broker, b->via.broker);
    ck_str(a->via.source, b->via.source);
    ck_str(a->via.plugin, b->via.plugin);
    ck_assert_uint_eq(a->hops, b->hops);
}

/* Parse text; expect success. Caller frees *storage. */
static void parse_ok(const char *text, er_event_t *ev, void **storage)
{
    er_error_t err;
    int rc;

    memset(&err, 0, sizeof(err));
    rc = er_event_from_json(text, strlen(text), ev, storage, &err);
    ck_assert_msg(rc == 0, "%s: %s (%s)", text, err.message, er_err_name(rc));
}

/* Parse text; expect refusal with this code and exact message. */
static void parse_fails(const char *text, int code, const char *message)
{
    er_error_t err;
    er_event_t ev;
    void *storage = (void *)1;
    int rc;

    memset(&err, 0, sizeof(err));
    rc = er_event_from_json(text, strlen(text), &ev, &storage, &err);
    ck_assert_msg(rc == code, "%s: got %s (%s), want %s", text, er_err_name(rc), err.message,
                  er_err_name(code));
    ck_assert_int_eq(err.code, code);
    ck_assert_str_eq(err.message, message);
    ck_assert_ptr_null(storage);
    ck_assert_ptr_null(ev.type.ptr);
}

/* to_json of ev must be exactly want. */
static void ck_json(const er_event_t *ev, const char *want)
{
    char *got = er_event_to_json(ev);
    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, want);
    free(got);
}

static const er_meta_t full_meta[] = {
    {{"tenant", 6}, {"acme", 4}},
    {{"k\xc3\xa9y", 4}, {"v\"al\\ue", 7}},
};

/* An event with every field, daemon fields included. */
static void full_event(er_event_t *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->has = ER_HAS_VERSION | ER_HAS_PRIORITY | ER_HAS_TIME | ER_HAS_SEQ | ER_HAS_RECEIVED |
              ER_HAS_ORIGIN | ER_HAS_HOPS;
    ev->seq = 9007199254740993ull; /* 2^53 + 1: exact as a JSON integer */
    ev->type = er_str("OrderCreated");
    ev->version = 3;
    ev->topic = er_str("orders.created");
    ev->priority = ER_PRIORITY_HIGH;
    ev->id = er_str("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
    ev->time = 1700000000123456;
    ev->received = 1700000000123999;
    ev->stream = er_str("user:123");
    ev->correlation_id = er_str("corr-1");
    ev->causation_id = er_str("cause-1");
    ev->source = er_str("shop");
    ev->traceparent = er_str("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    ev->tracestate = er_str("vendor=value");
    ev->content_type = er_str("application/json");
    ev->data = er_str("{\"total\":12.5,\"items\":[1,2,null,true,\"x\"]}");
    ev->data_is_str = true;
    ev->meta = full_meta;
    ev->meta_count = 2;
    ev->origin.pid = 4242;
    ev->origin.uid = 1000;
    ev->origin.gid = 100;
    ev->origin.host = er_str("web-1");
    ev->via.broker = er_str("redis-main");
    ev->via.source = er_str("events:orders");
    ev->via.plugin = er_str("audit");
    ev->hops = 2;
}

static const char full_json[] =
    "{\"seq\":9007199254740993,\"type\":\"OrderCreated\",\"version\":3,"
    "\"topic\":\"orders.created\",\"priority\":\"high\","
    "\"id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\",\"time\":1700000000123456,"
    "\"received\":1700000000123999,\"stream\":\"user:123\",\"correlation_id\":\"corr-1\","
    "\"causation_id\":\"cause-1\",\"source\":\"shop\","
    "\"traceparent\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\","
    "\"tracestate\":\"vendor=value\",\"content_type\":\"application/json\","
    "\"meta\":{\"tenant\":\"acme\",\"k\xc3\xa9y\":\"v\\\"al\\\\ue\"},"
    "\"origin\":{\"pid\":4242,\"uid\":1000,\"gid\":100,\"host\":\"web-1\"},"
    "\"via\":{\"broker\":\"redis-main\",\"source\":\"events:orders\",\"plugin\":\"audit\"},"
    "\"hops\":2,\"data\":{\"total\":12.5,\"items\":[1,2,null,true,\"x\"]}}";

/* -------------------------------------------------------------- to JSON */

START_TEST(to_json_every_field)
{
    er_event_t ev;
    full_event(&ev);
    ck_json(&ev, full_json);
}
END_TEST

START_TEST(to_json_minimal)
{
    er_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = er_str("A");
    ck_json(&ev, "{\"type\":\"A\"}");
}
END_TEST

START_TEST(to_json_partial_via_and_origin_without_host)
{
    er_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = er_str("A");
    ev.has = ER_HAS_ORIGIN;
    ev.origin.pid = 1;
    ev.via.plugin = er_str("p");
    ck_json(&ev, "{\"type\":\"A\",\"origin\":{\"pid\":1,\"uid\":0,\"gid\":0},"
                 "\"via\":{\"plugin\":\"p\"}}");
}
END_TEST

START_TEST(to_json_packed_meta)
{
    /* A decoded event carries meta as msgpack bytes: same JSON. */
    er_buf_t b = ER_BUF_INIT;
    er_mp_reader_t r;
    er_event_t ev, dec;
    er_error_t err;

    full_event(&ev);
    ck_assert_int_eq(er__event_pack(&b, &ev), 0);
    er__mp_init(&r, b.data, b.len);
    ck_assert_int_eq(er__event_read(&r, &dec, 0, 1 << 20, &err), 0);
    ck_assert_ptr_null(dec.meta);
    ck_json(&dec, full_json);
    er__buf_free(&b);
}
END_TEST

/* -------------------------------------------------------- round trips */

START_TEST(round_trip_every_field)
{
    er_event_t ev, back;
    void *storage;
    char *text;

    full_event(&ev);
    text = er_event_to_json(&ev);
    ck_assert_ptr_nonnull(text);
    parse_ok(text, &back, &storage);
    ck_event_eq(&ev, &back);
    ck_assert(back.data_is_str);
    free(storage);
    free(text);
}
END_TEST

START_TEST(round_trip_binary_and_empty)
{
    static const char bin[] = {'\0', '\x01', '\xff', '\xfe', 'a'};
    er_event_t ev, back;
    void *storage;
    char *text;
    size_t len;

    for (len = 0; len <= sizeof bin; len++) {
        memset(&ev, 0, sizeof(ev));
        ev.type = er_str("Bin");
        ev.content_type = er_str("application/octet-stream");
        ev.data.ptr = bin;
        ev.data.len = len;
        text = er_event_to_json(&ev);
        ck_assert_ptr_nonnull(text);
        parse_ok(text, &back, &storage);
        ck_event_eq(&ev, &back);
        ck_assert(!back.data_is_str);
        free(storage);
        free(text);
    }
}
END_TEST

START_TEST(storage_holds_every_string)
{
    er_event_t ev;
    void *storage;
    char *base;
    size_t pos = 0;
    er_str_t k, v;

    parse_ok(full_json, &ev, &storage);
    base = storage;
    /* Views point into the block and are NUL-terminated. */
    ck_assert(ev.type.ptr > base && ev.type.ptr[ev.type.len] == '\0');
    ck_assert(ev.via.plugin.ptr > base && ev.via.plugin.ptr[ev.via.plugin.len] == '\0');
    ck_assert(ev.data.ptr > base && ev.data.ptr[ev.data.len] == '\0');
    ck_assert_ptr_eq((const void *)ev.meta, storage);
    ck_assert(er_meta_next(&ev, &pos, &k, &v));
    ck_assert_str_eq(k.ptr, "tenant");
    ck_assert(er_meta_next(&ev, &pos, &k, &v));
    ck_assert_str_eq(v.ptr, "v\"al\\ue");
    ck_assert(!er_meta_next(&ev, &pos, &k, &v));
    free(storage);
}
END_TEST

/* ------------------------------------------------------- data vs base64 */

static const struct {
    const char *content_type; /* NULL: absent */
    const char *data;
    const char *json; /* expected output after "type" */
} data_cases[] = {
    {NULL, "{\"a\":1}", ",\"data\":{\"a\":1}"},
    {"application/json", "[1,\"x\"]", ",\"content_type\":\"application/json\",\"data\":[1,\"x\"]"},
    {"application/cloudevents+json", "\"s\"",
     ",\"content_type\":\"application/cloudevents+json\",\"data\":\"s\""},
    {"Application/JSON; charset=utf-8", "42",
     ",\"content_type\":\"Application/JSON; charset=utf-8\",\"data\":42"},
    /* Not compact in the bytes: the value is re-emitted compactly. */
    {NULL, " { \"a\" : [ 1 , 2 ] } ", ",\"data\":{\"a\":[1,2]}"},
    /* Reals at their shortest exact form. */
    {NULL, "[0.1,2.5,1e300,3.141592653589793]", ",\"data\":[0.1,2.5,1e300,3.141592653589793]"},
    /* JSON content type but not JSON bytes: base64, nothing lost. */
    {"application/json", "{bad",
     ",\"content_type\":\"application/json\",\"data_base64\":\"e2JhZA==\""},
    {NULL, "", ",\"data_base64\":\"\""},
    /* Duplicate keys would lose one value: base64. */
    {NULL, "{\"a\":1,\"a\":2}", ",\"data_base64\":\"eyJhIjoxLCJhIjoyfQ==\""},
    /* Two values are not one JSON value. */
    {NULL, "1 2", ",\"data_base64\":\"MSAy\""},
    /* Not a JSON content type: base64 even though the bytes parse. */
    {"text/plain", "{\"a\":1}",
     ",\"content_type\":\"text/plain\",\"data_base64\":\"eyJhIjoxfQ==\""},
    {"application/octet-stream", "hi",
     ",\"content_type\":\"application/octet-stream\",\"data_base64\":\"aGk=\""},
    {"application/jsonx", "1", ",\"content_type\":\"application/jsonx\",\"data_base64\":\"MQ==\""},
    {"json", "1", ",\"content_type\":\"json\",\"data_base64\":\"MQ==\""},
};

START_TEST(data_or_base64)
{
    er_event_t ev;
    char want[512];

    memset(&ev, 0, sizeof(ev));
    ev.type = er_str("T");
    ev.content_type = er_str(data_cases[_i].content_type);
    ev.data = er_str(data_cases[_i].data);
    snprintf(want, sizeof want, "{\"type\":\"T\"%s}", data_cases[_i].json);
    ck_json(&ev, want);
}
END_TEST

START_TEST(data_value_becomes_compact_str)
{
    er_event_t ev;
    void *storage;

    parse_ok("{\"type\":\"T\",\"data\": { \"b\" : [ 0.1 , true ] , \"a\" : null } }", &ev,
             &storage);
    ck_assert(ev.data_is_str);
    ck_assert_str_eq(ev.data.ptr, "{\"b\":[0.1,true],\"a\":null}");
    ck_assert_ptr_null(ev.content_type.ptr);
    free(storage);

    parse_ok("{\"type\":\"T\",\"data\":\"just a string\",\"content_type\":\"x/y+json\"}", &ev,
             &storage);
    ck_assert_str_eq(ev.data.ptr, "\"just a string\"");
    free(storage);
}
END_TEST

START_TEST(data_base64_becomes_bin)
{
    er_event_t ev;
    void *storage;

    parse_ok("{\"type\":\"T\",\"data_base64\":\"AAEC/w==\",\"content_type\":\"a/b\"}", &ev,
             &storage);
    ck_assert(!ev.data_is_str);
    ck_assert_uint_eq(ev.data.len, 4);
    ck_assert(memcmp(ev.data.ptr, "\x00\x01\x02\xff", 4) == 0);
    free(storage);
}
END_TEST

/* ------------------------------------------------------------ refusals */

START_TEST(invalid_json)
{
    parse_fails("", ER_EJSON,
                "invalid JSON at line 1, column 0: '[' or '{' expected near end of file");
    parse_fails("{\"type\":", ER_EJSON,
                "invalid JSON at line 1, column 8: unexpected token near end of file");
    parse_fails("{\"type\":\"A\"}\n{", ER_EJSON,
                "invalid JSON at line 2, column 1: end of file expected near '{'");
    parse_fails("{\"type\":\"A\",\"type\":\"B\"}", ER_EJSON,
                "invalid JSON at line 1, column 18: duplicate object key near '\"type\"'");
    parse_fails("{\"type\":\"A\\u0000\"}", ER_EJSON,
                "invalid JSON at line 1, column 17: \\u0000 is not allowed without "
                "JSON_ALLOW_NUL near '\"A\\u0000\"'");
    parse_fails("{\"type\":\"\xff\"}", ER_EJSON,
                "invalid JSON at line 1, column 9: unable to decode byte 0xff near '\"'");
}
END_TEST

START_TEST(not_an_object)
{
    parse_fails("[1]", ER_ETYPE, "event: must be a JSON object");
}
END_TEST

START_TEST(unknown_keys)
{
    parse_fails("{\"type\":\"A\",\"frob\":1}", ER_EUNKNOWNKEY, "frob: unknown key");
    parse_fails("{\"Type\":\"A\"}", ER_EUNKNOWNKEY, "Type: unknown key");
    parse_fails("{\"origin\":{\"pid\":1,\"port\":2}}", ER_EUNKNOWNKEY, "origin.port: unknown key");
    parse_fails("{\"via\":{\"queue\":\"q\"}}", ER_EUNKNOWNKEY, "via.queue: unknown key");
}
END_TEST

static const struct {
    const char *json;
    int code;
    const char *message;
} type_cases[] = {
    {"{\"type\":1}", ER_ETYPE, "type: must be a string"},
    {"{\"version\":\"1\"}", ER_ETYPE, "version: must be an integer"},
    {"{\"version\":1.0}", ER_ETYPE, "version: must be an integer"},
    {"{\"version\":-1}", ER_ERULE, "version: must be an integer in 0-4294967295"},
    {"{\"version\":4294967296}", ER_ERULE, "version: must be an integer in 0-4294967295"},
    {"{\"topic\":[]}", ER_ETYPE, "topic: must be a string"},
    {"{\"priority\":true}", ER_ETYPE, "priority: must be low, normal, high, critical or 0-3"},
    {"{\"priority\":\"urgent\"}", ER_ERULE, "priority: must be low, normal, high, critical or 0-3"},
    {"{\"priority\":4}", ER_ERULE, "priority: must be low, normal, high, critical or 0-3"},
    {"{\"priority\":-1}", ER_ERULE, "priority: must be low, normal, high, critical or 0-3"},
    {"{\"id\":7}", ER_ETYPE, "id: must be a string"},
    {"{\"time\":\"2024-01-01\"}", ER_ETYPE, "time: must be an integer"},
    {"{\"time\":1.5}", ER_ETYPE, "time: must be an integer"},
    {"{\"stream\":null}", ER_ETYPE, "stream: must be a string"},
    {"{\"correlation_id\":{}}", ER_ETYPE, "correlation_id: must be a string"},
    {"{\"causation_id\":false}", ER_ETYPE, "causation_id: must be a string"},
    {"{\"source\":1}", ER_ETYPE, "source: must be a string"},
    {"{\"traceparent\":1}", ER_ETYPE, "traceparent: must be a string"},
    {"{\"tracestate\":1}", ER_ETYPE, "tracestate: must be a string"},
    {"{\"content_type\":1}", ER_ETYPE, "content_type: must be a string"},
    {"{\"meta\":[]}", ER_ETYPE, "meta: must be an object of strings"},
    {"{\"meta\":{\"a\":\"b\",\"n\":1}}", ER_ETYPE, "meta.n: must be a string"},
    {"{\"seq\":\"1\"}", ER_ETYPE, "seq: must be an integer"},
    {"{\"seq\":-5}", ER_ERULE, "seq: must be a non-negative integer"},
    {"{\"received\":true}", ER_ETYPE, "received: must be an integer"},
    {"{\"origin\":\"me\"}", ER_ETYPE, "origin: must be an object"},
    {"{\"origin\":{\"pid\":\"1\"}}", ER_ETYPE, "origin.pid: must be an integer"},
    {"{\"origin\":{\"uid\":-1}}", ER_ERULE, "origin.uid: must be an integer in 0-4294967295"},
    {"{\"origin\":{\"gid\":[]}}", ER_ETYPE, "origin.gid: must be an integer"},
    {"{\"origin\":{\"host\":1}}", ER_ETYPE, "origin.host: must be a string"},
    {"{\"via\":[]}", ER_ETYPE, "via: must be an object"},
    {"{\"via\":{\"broker\":1}}", ER_ETYPE, "via.broker: must be a string"},
    {"{\"hops\":\"2\"}", ER_ETYPE, "hops: must be an integer"},
    {"{\"data_base64\":1}", ER_ETYPE, "data_base64: must be a string"},
    {"{\"data_base64\":\"abc\"}", ER_ERULE, "data_base64: must be standard base64 with padding"},
    {"{\"data_base64\":\"QR==\"}", ER_ERULE, "data_base64: must be standard base64 with padding"},
    {"{\"data\":1,\"data_base64\":\"MQ==\"}", ER_ERULE,
     "data_base64: cannot be given together with data"},
    {"{\"data_base64\":\"MQ==\",\"data\":1}", ER_ERULE,
     "data_base64: cannot be given together with data"},
    {"{\"data\":\"x\",\"content_type\":\"text/plain\"}", ER_ERULE,
     "data: a JSON value needs a JSON content_type; use data_base64 for other payloads"},
};

START_TEST(wrong_types)
{
    parse_fails(type_cases[_i].json, type_cases[_i].code, type_cases[_i].message);
}
END_TEST

/* ---------------------------------------------------- priority, meta */

START_TEST(priority_names_and_numbers)
{
    static const char *const names[] = {"low", "normal", "high", "critical"};
    char text[80], want[80];
    er_event_t ev;
    void *storage;
    int p;

    for (p = 0; p <= 3; p++) {
        snprintf(text, sizeof text, "{\"type\":\"A\",\"priority\":\"%s\"}", names[p]);
        parse_ok(text, &ev, &storage);
        ck_assert_int_eq(ev.priority, p);
        ck_assert(ev.has & ER_HAS_PRIORITY);
        ck_json(&ev, text);
        free(storage);

        snprintf(text, sizeof text, "{\"type\":\"A\",\"priority\":%d}", p);
        parse_ok(text, &ev, &storage);
        ck_assert_int_eq(ev.priority, p);
        snprintf(want, sizeof want, "{\"type\":\"A\",\"priority\":\"%s\"}", names[p]);
        ck_json(&ev, want);
        free(storage);
    }
}
END_TEST

START_TEST(meta_object)
{
    er_event_t ev;
    void *storage;
    er_error_t err;

    parse_ok("{\"type\":\"A\",\"meta\":{}}", &ev, &storage);
    ck_assert_uint_eq(ev.meta_count, 0);
    ck_json(&ev, "{\"type\":\"A\"}");
    free(storage);

    parse_ok("{\"type\":\"A\",\"meta\":{\"z\":\"1\",\"a\":\"\",\"m\":\"\xe2\x82\xac\"}}", &ev,
             &storage);
    ck_assert_uint_eq(ev.meta_count, 3);
    ck_assert_str_eq(ev.meta[0].key.ptr, "z");
    ck_assert_str_eq(ev.meta[1].key.ptr, "a");
    ck_assert_uint_eq(ev.meta[1].value.len, 0);
    ck_json(&ev, "{\"type\":\"A\",\"meta\":{\"z\":\"1\",\"a\":\"\",\"m\":\"\xe2\x82\xac\"}}");
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), 0);
    free(storage);
}
END_TEST

/* ----------------------------------------------------------- reimport */

START_TEST(reimport_strips_daemon_fields)
{
    er_event_t ev;
    er_error_t err;
    void *storage;
    int rc;

    parse_ok(full_json, &ev, &storage);
    memset(&err, 0, sizeof(err));
    rc = er_event_validate(&ev, ER_VALIDATE_CLIENT, &err);
    ck_assert_int_eq(rc, ER_EDAEMONFIELD);
    ck_assert_str_eq(err.message, "seq: set by the daemon, clients must not send it");

    er_event_strip_daemon_fields(&ev);
    ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), 0);
    /* id kept, so a re-import de-duplicates. */
    ck_json(&ev, "{\"type\":\"OrderCreated\",\"version\":3,\"topic\":\"orders.created\","
                 "\"priority\":\"high\",\"id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\","
                 "\"time\":1700000000123456,\"stream\":\"user:123\",\"correlation_id\":\"corr-1\","
                 "\"causation_id\":\"cause-1\",\"source\":\"shop\","
                 "\"traceparent\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\","
                 "\"tracestate\":\"vendor=value\",\"content_type\":\"application/json\","
                 "\"meta\":{\"tenant\":\"acme\",\"k\xc3\xa9y\":\"v\\\"al\\\\ue\"},"
                 "\"data\":{\"total\":12.5,\"items\":[1,2,null,true,\"x\"]}}");
    free(storage);
}
END_TEST

START_TEST(each_daemon_field_refused_by_name)
{
    static const struct {
        const char *json, *message;
    } cases[] = {
        {"{\"type\":\"A\",\"received\":1}",
         "received: set by the daemon, clients must not send it"},
        {"{\"type\":\"A\",\"origin\":{}}", "origin: set by the daemon, clients must not send it"},
        {"{\"type\":\"A\",\"via\":{\"broker\":\"b\"}}",
         "via: set by the daemon, clients must not send it"},
        {"{\"type\":\"A\",\"hops\":0}", "hops: set by the daemon, clients must not send it"},
    };
    size_t i;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        er_event_t ev;
        er_error_t err;
        void *storage;
        parse_ok(cases[i].json, &ev, &storage);
        ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), ER_EDAEMONFIELD);
        ck_assert_str_eq(err.message, cases[i].message);
        er_event_strip_daemon_fields(&ev);
        ck_assert_int_eq(er_event_validate(&ev, ER_VALIDATE_CLIENT, &err), 0);
        free(storage);
    }
}
END_TEST

/* ------------------------------------------------------------- base64 */

START_TEST(base64_vectors)
{
    /* RFC 4648 §10. */
    static const char *const vec[][2] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    char out[16];
    uint8_t dec[16];
    size_t i, n, dn;

    for (i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        n = strlen(vec[i][0]);
        ck_assert_uint_eq(er__base64_encoded_len(n), strlen(vec[i][1]));
        ck_assert_uint_eq(er__base64_encode((const uint8_t *)vec[i][0], n, out), strlen(vec[i][1]));
        ck_assert(memcmp(out, vec[i][1], strlen(vec[i][1])) == 0);
        ck_assert_int_eq(er__base64_decode(vec[i][1], strlen(vec[i][1]), dec, &dn), 0);
        ck_assert_uint_eq(dn, n);
        ck_assert(memcmp(dec, vec[i][0], n) == 0);
    }
}
END_TEST

START_TEST(base64_all_bytes)
{
    uint8_t in[256], dec[256];
    char enc[344];
    size_t i, n, dn;

    for (i = 0; i < 256; i++)
        in[i] = (uint8_t)i;
    for (n = 0; n <= 256; n += 1) {
        size_t en = er__base64_encode(in + 256 - n, n, enc);
        ck_assert_int_eq(er__base64_decode(enc, en, dec, &dn), 0);
        ck_assert_uint_eq(dn, n);
        ck_assert(memcmp(dec, in + 256 - n, n) == 0);
    }
}
END_TEST

START_TEST(base64_refusals)
{
    static const char *const bad[] = {
        "Zg",       /* no padding */
        "Zg=",      /* short padding */
        "Zh==",     /* non-zero trailing bits */
        "Zm9=",     /* non-zero trailing bits */
        "Z===",     /* padding too long */
        "=Zg=",     /* padding first */
        "Zg==Zg==", /* padding in the middle */
        "Zm 9",     /* whitespace */
        "Zm-_",     /* base64url alphabet */
        "Zm9v\n",
    };
    uint8_t dec[16];
    size_t i, dn;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(er__base64_decode(bad[i], strlen(bad[i]), dec, &dn) == -EINVAL, "%s", bad[i]);
}
END_TEST

/* --------------------------------------------------------------- main */

static Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc;

    tc = tcase_create("to_json");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, to_json_every_field);
    tcase_add_test(tc, to_json_minimal);
    tcase_add_test(tc, to_json_partial_via_and_origin_without_host);
    tcase_add_test(tc, to_json_packed_meta);
    suite_add_tcase(s, tc);

    tc = tcase_create("round_trip");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, round_trip_every_field);
    tcase_add_test(tc, round_trip_binary_and_empty);
    tcase_add_test(tc, storage_holds_every_string);
    suite_add_tcase(s, tc);

    tc = tcase_create("data");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, data_or_base64, 0, (int)(sizeof data_cases / sizeof data_cases[0]));
    tcase_add_test(tc, data_value_becomes_compact_str);
    tcase_add_test(tc, data_base64_becomes_bin);
    suite_add_tcase(s, tc);

    tc = tcase_create("refusals");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, invalid_json);
    tcase_add_test(tc, not_an_object);
    tcase_add_test(tc, unknown_keys);
    tcase_add_loop_test(tc, wrong_types, 0, (int)(sizeof type_cases / sizeof type_cases[0]));
    suite_add_tcase(s, tc);

    tc = tcase_create("fields");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, priority_names_and_numbers);
    tcase_add_test(tc, meta_object);
    tcase_add_test(tc, reimport_strips_daemon_fields);
    tcase_add_test(tc, each_daemon_field_refused_by_name);
    suite_add_tcase(s, tc);

    tc = tcase_create("base64");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, base64_vectors);
    tcase_add_test(tc, base64_all_bytes);
    tcase_add_test(tc, base64_refusals);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(json_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
