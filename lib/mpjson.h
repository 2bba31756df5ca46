/*
 * msgpack ⇄ JSON values, for ADMIN args and REPLY bodies.
 */
#ifndef ER_MPJSON_H
#define ER_MPJSON_H

#include <jansson.h>

#include "buf.h"
#include "eventrouter.h"
#include "mpread.h"

#define ER_MPJSON_MAX_DEPTH 16

/* Append j (borrowed until return) as msgpack. Returns 0, -ENOMEM or
 * ER_EDEPTH (nested deeper than ER_MPJSON_MAX_DEPTH). */
int er__json_pack(er_buf_t *b, const json_t *j);

/* Read one value; *out is a new reference. Refuses bin/ext, non-str keys,
 * duplicate keys, invalid UTF-8 and nesting past the limit. */
int er__mp_read_json(er_mp_reader_t *r, json_t **out, er_error_t *err);

#endif
