/*
 * msgpack ⇄ JSON values (libjansson), for the bodies that carry free-form
 * maps: ADMIN's args and REPLY (eventrouter-protocol(7)). Reading uses the
 * bounds-checked reader with a depth limit; only what JSON can hold is
 * accepted (str keys, str/int/float/bool/nil/array/map values; strings
 * valid UTF-8).
 */
#include <errno.h>
#include <string.h>

#include <jansson.h>
#include <msgpack.h>

#include "mpjson.h"
#include "proto.h"

static int pack(msgpack_packer *pk, const json_t *j, int depth)
{
    const char *k;
    json_t *v;
    size_t i, n;

    if (depth > ER_MPJSON_MAX_DEPTH)
        return ER_EDEPTH;
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        msgpack_pack_map(pk, json_object_size(j));
        json_object_foreach((json_t *)j, k, v)
        {
            n = strlen(k);
            msgpack_pack_str(pk, n);
            msgpack_pack_str_body(pk, k, n);
            if (pack(pk, v, depth + 1) != 0)
                return ER_EDEPTH;
        }
        return 0;
    case JSON_ARRAY:
        msgpack_pack_array(pk, json_array_size(j));
        json_array_foreach((json_t *)j, i, v)
        {
            if (pack(pk, v, depth + 1) != 0)
                return ER_EDEPTH;
        }
        return 0;
    case JSON_STRING:
        n = json_string_length(j);
        msgpack_pack_str(pk, n);
        msgpack_pack_str_body(pk, json_string_value(j), n);
        return 0;
    case JSON_INTEGER:
        msgpack_pack_int64(pk, json_integer_value(j));
        return 0;
    case JSON_REAL:
        msgpack_pack_double(pk, json_real_value(j));
        return 0;
    case JSON_TRUE:
        msgpack_pack_true(pk);
        return 0;
    case JSON_FALSE:
        msgpack_pack_false(pk);
        return 0;
    case JSON_NULL:
        msgpack_pack_nil(pk);
        return 0;
    }
    return ER_ETYPE;
}

int er__json_pack(er_buf_t *b, const json_t *j)
{
    msgpack_packer pk;
    size_t before = b->len;
    int rc;

    msgpack_packer_init(&pk, b, er__buf_mp_write);
    rc = pack(&pk, j, 0);
    if (rc == 0 && b->err != 0)
        rc = -ENOMEM;
    if (rc != 0) {
        b->len = before;
        b->err = 0;
    }
    return rc;
}

static int read_value(er_mp_reader_t *r, json_t **out, int depth, er_error_t *err)
{
    er_mp_obj_t o;
    json_t *j = NULL;
    uint32_t i;
    int rc;

    *out = NULL;
    if ((rc = er__mp_next(r, &o)) != 0)
        return er__error_set(err, rc, -1, "%s", er_strerror(rc));
    switch (o.type) {
    case ER_MP_NIL:
        j = json_null();
        break;
    case ER_MP_BOOL:
        j = json_boolean(o.v.b);
        break;
    case ER_MP_UINT:
        if (o.v.u > INT64_MAX)
            return er__error_set(err, ER_ERULE, -1, "integer out of range");
        j = json_integer((json_int_t)o.v.u);
        break;
    case ER_MP_INT:
        j = json_integer((json_int_t)o.v.i);
        break;
    case ER_MP_FLOAT:
        j = json_real(o.v.f);
        break;
    case ER_MP_STR:
        if ((rc = er__utf8_check(o.v.s.ptr, o.v.s.len)) != 0)
            return er__error_set(err, rc, -1, "string: %s", er_strerror(rc));
        j = json_stringn(o.v.s.ptr, o.v.s.len);
        break;
    case ER_MP_ARRAY:
    case ER_MP_MAP:
        if (depth >= ER_MPJSON_MAX_DEPTH)
            return er__error_set(err, ER_EDEPTH, -1, "nested deeper than %d",
                                 ER_MPJSON_MAX_DEPTH);
        j = o.type == ER_MP_ARRAY ? json_array() : json_object();
        if (j == NULL)
            return -ENOMEM;
        for (i = 0; i < o.v.n; i++) {
            json_t *v;
            if (o.type == ER_MP_MAP) {
                er_mp_obj_t k;
                char key[256];
                if ((rc = er__mp_next(r, &k)) != 0 || k.type != ER_MP_STR) {
                    json_decref(j);
                    return er__error_set(err, rc ? rc : ER_ETYPE, -1, "map keys must be str");
                }
                if (k.v.s.len >= sizeof(key) || er__utf8_check(k.v.s.ptr, k.v.s.len) != 0) {
                    json_decref(j);
                    return er__error_set(err, ER_ERULE, -1, "map key too long or not UTF-8");
                }
                memcpy(key, k.v.s.ptr, k.v.s.len);
                key[k.v.s.len] = '\0';
                if (json_object_get(j, key) != NULL) {
                    json_decref(j);
                    return er__error_set(err, ER_EDUPKEY, -1, "duplicate key \"%s\"", key);
                }
                if ((rc = read_value(r, &v, depth + 1, err)) != 0) {
                    json_decref(j);
                    return rc;
                }
                json_object_set_new(j, key, v);
            } else {
                if ((rc = read_value(r, &v, depth + 1, err)) != 0) {
                    json_decref(j);
                    return rc;
                }
                json_array_append_new(j, v);
            }
        }
        break;
    default:
        return er__error_set(err, ER_ETYPE, -1, "bin and ext values are not accepted here");
    }
    if (j == NULL)
        return -ENOMEM;
    *out = j;
    return 0;
}

int er__mp_read_json(er_mp_reader_t *r, json_t **out, er_error_t *err)
{
    return read_value(r, out, 0, err);
}
