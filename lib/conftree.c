/*
 * The YAML loader (see conftree.h): libyaml's event parser drives a small
 * recursive builder that keeps every node's position, refuses the YAML
 * features a configuration file has no use for (aliases, anchors, tags,
 * several documents, duplicate keys), and expands ${VAR} in scalar values.
 * Also the error list (er_diag_t) every configuration check fills.
 *
 * libyaml is only asked for events: its document API resolves nothing we
 * need and its aliases expand exponentially (DESIGN §12). Its marks are
 * 0-based; every position here is 1-based.
 */
#include "conftree.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* ============================================================ diagnostics */

void er__diag_init(er_diag_t *d)
{
    memset(d, 0, sizeof(*d));
}

void er__diag_free(er_diag_t *d)
{
    size_t i;

    for (i = 0; i < d->count; i++) {
        free(d->items[i].file);
        free(d->items[i].msg);
    }
    free(d->items);
    er__diag_init(d);
}

/* A new string from fmt and ap (ap is not consumed), or NULL. */
__attribute__((format(printf, 1, 0))) static char *format_msg(const char *fmt, va_list ap)
{
    va_list ap2;
    char *msg;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || (msg = malloc((size_t)n + 1)) == NULL)
        return NULL;
    va_copy(ap2, ap);
    vsnprintf(msg, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return msg;
}

int er__diag_addv(er_diag_t *d, const er_conf_pos_t *pos, const char *fmt, va_list ap)
{
    er_diag_item_t *it;
    char *msg = NULL;
    char *file = NULL;

    if (d->count >= ER_DIAG_MAX) {
        d->dropped++;
        return -EINVAL;
    }
    if (d->count == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 8;
        er_diag_item_t *n = realloc(d->items, ncap * sizeof(*n));
        if (n == NULL)
            goto nomem;
        d->items = n;
        d->cap = ncap;
    }
    if ((msg = format_msg(fmt, ap)) == NULL)
        goto nomem;
    if (pos != NULL && pos->file != NULL && (file = strdup(pos->file)) == NULL)
        goto nomem;
    it = &d->items[d->count];
    it->file = file;
    it->line = pos != NULL ? pos->line : 0;
    it->col = pos != NULL ? pos->col : 0;
    it->msg = msg;
    it->seq = d->count + d->dropped;
    d->count++;
    return -EINVAL;

nomem:
    free(msg);
    free(file);
    d->nomem = true;
    return -ENOMEM;
}

int er__diag_add(er_diag_t *d, const er_conf_pos_t *pos, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = er__diag_addv(d, pos, fmt, ap);
    va_end(ap);
    return rc;
}

size_t er__diag_count(const er_diag_t *d)
{
    return d->count + d->dropped;
}

static int diag_cmp(const void *a, const void *b)
{
    const er_diag_item_t *x = a, *y = b;
    int c = strcmp(x->file ? x->file : "", y->file ? y->file : "");

    if (c != 0)
        return c;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void er__diag_sort(er_diag_t *d)
{
    if (d->count > 1)
        qsort(d->items, d->count, sizeof(d->items[0]), diag_cmp);
}

int er__diag_format(const er_diag_t *d, size_t i, char *buf, size_t cap)
{
    const er_diag_item_t *it = &d->items[i];

    if (it->file == NULL)
        return snprintf(buf, cap, "%s", it->msg);
    if (it->line == 0)
        return snprintf(buf, cap, "%s: %s", it->file, it->msg);
    if (it->col == 0)
        return snprintf(buf, cap, "%s:%u: %s", it->file, it->line, it->msg);
    return snprintf(buf, cap, "%s:%u:%u: %s", it->file, it->line, it->col, it->msg);
}

int er__diag_print(const er_diag_t *d, FILE *f)
{
    size_t i;

    for (i = 0; i < d->count; i++) {
        const er_diag_item_t *it = &d->items[i];
        int n;

        if (it->file == NULL)
            n = fprintf(f, "%s\n", it->msg);
        else if (it->line == 0)
            n = fprintf(f, "%s: %s\n", it->file, it->msg);
        else if (it->col == 0)
            n = fprintf(f, "%s:%u: %s\n", it->file, it->line, it->msg);
        else
            n = fprintf(f, "%s:%u:%u: %s\n", it->file, it->line, it->col, it->msg);
        if (n < 0)
            return -EIO;
    }
    if (d->dropped > 0 && d->count > 0) {
        const char *file = d->items[d->count - 1].file;
        if (fprintf(f, "%s%s%zu more errors not shown\n", file ? file : "", file ? ": " : "",
                    d->dropped) < 0)
            return -EIO;
    }
    return fflush(f) == 0 ? 0 : -EIO;
}

/* ============================================================= tree nodes */

static er_conf_node_t *node_new(er_conf_kind_t kind, const er_conf_pos_t *pos)
{
    er_conf_node_t *n = calloc(1, sizeof(*n));

    if (n == NULL)
        return NULL;
    n->kind = kind;
    n->pos = *pos;
    return n;
}

static void node_free(er_conf_node_t *n)
{
    size_t i;

    if (n == NULL)
        return;
    for (i = 0; n->kind == ER_CONF_MAP && i < n->count; i++) {
        node_free(n->pairs[i].key);
        node_free(n->pairs[i].value);
    }
    for (i = 0; n->kind == ER_CONF_SEQ && i < n->count; i++)
        node_free(n->items[i]);
    free(n->pairs);
    free(n->items);
    free(n->text);
    free(n);
}

void er__conf_tree_free(er_conf_tree_t *tree)
{
    if (tree == NULL)
        return;
    node_free(tree->root);
    free(tree->file);
    free(tree);
}

/*
 * Maps and lists keep no capacity field: it is implicitly 4, then the
 * power of two at or above count, so a new array is needed exactly when
 * count is 0 or a power of two from 4 up.
 */
static bool must_grow(size_t count, size_t *ncap)
{
    if (count == 0) {
        *ncap = 4;
        return true;
    }
    if (count >= 4 && (count & (count - 1)) == 0) {
        *ncap = count * 2;
        return true;
    }
    return false;
}

/* Append to a map or list. Takes key/value (or item) on success only. */
static int map_append(er_conf_node_t *map, er_conf_node_t *key, er_conf_node_t *value)
{
    size_t ncap;

    if (must_grow(map->count, &ncap)) {
        er_conf_pair_t *p = realloc(map->pairs, ncap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        map->pairs = p;
    }
    map->pairs[map->count].key = key;
    map->pairs[map->count].value = value;
    map->count++;
    return 0;
}

static int seq_append(er_conf_node_t *seq, er_conf_node_t *item)
{
    size_t ncap;

    if (must_grow(seq->count, &ncap)) {
        er_conf_node_t **p = realloc(seq->items, ncap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        seq->items = p;
    }
    seq->items[seq->count++] = item;
    return 0;
}

static er_conf_node_t *node_clone(const er_conf_node_t *src, const char *file)
{
    er_conf_pos_t pos = {file, src->pos.line, src->pos.col};
    er_conf_node_t *n = node_new(src->kind, &pos);
    size_t i;

    if (n == NULL)
        return NULL;
    n->style = src->style;
    if (src->kind == ER_CONF_SCALAR) {
        if ((n->text = malloc(src->len + 1)) == NULL)
            goto fail;
        memcpy(n->text, src->text, src->len + 1);
        n->len = src->len;
    } else if (src->kind == ER_CONF_MAP && src->count > 0) {
        if ((n->pairs = calloc(src->count, sizeof(*n->pairs))) == NULL)
            goto fail;
        for (; n->count < src->count; n->count++) {
            er_conf_pair_t *d = &n->pairs[n->count];
            d->key = node_clone(src->pairs[n->count].key, file);
            d->value = node_clone(src->pairs[n->count].value, file);
            if (d->key == NULL || d->value == NULL) {
                n->count++; /* so node_free sees the half-built pair */
                goto fail;
            }
        }
    } else if (src->kind == ER_CONF_SEQ && src->count > 0) {
        if ((n->items = calloc(src->count, sizeof(*n->items))) == NULL)
            goto fail;
        for (i = 0; i < src->count; i++, n->count++)
            if ((n->items[i] = node_clone(src->items[i], file)) == NULL)
                goto fail;
    }
    return n;

fail:
    node_free(n);
    return NULL;
}

er_conf_tree_t *er__conf_tree_clone(const er_conf_node_t *node)
{
    er_conf_tree_t *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    if (node->pos.file != NULL && (t->file = strdup(node->pos.file)) == NULL)
        goto fail;
    if ((t->root = node_clone(node, t->file)) == NULL)
        goto fail;
    return t;

fail:
    er__conf_tree_free(t);
    return NULL;
}

/* ================================================================ lookups */

const er_conf_pair_t *er__conf_map_find(const er_conf_node_t *map, const char *key)
{
    size_t i, klen;

    if (map == NULL || map->kind != ER_CONF_MAP)
        return NULL;
    klen = strlen(key);
    for (i = 0; i < map->count; i++) {
        const er_conf_node_t *k = map->pairs[i].key;
        if (k->len == klen && memcmp(k->text, key, klen) == 0)
            return &map->pairs[i];
    }
    return NULL;
}

const er_conf_node_t *er__conf_map_get(const er_conf_node_t *map, const char *key)
{
    const er_conf_pair_t *p = er__conf_map_find(map, key);

    return p != NULL ? p->value : NULL;
}

size_t er__conf_count(const er_conf_node_t *node)
{
    return node != NULL && node->kind != ER_CONF_SCALAR ? node->count : 0;
}

const er_conf_pair_t *er__conf_pair_at(const er_conf_node_t *map, size_t i)
{
    if (map == NULL || map->kind != ER_CONF_MAP || i >= map->count)
        return NULL;
    return &map->pairs[i];
}

const er_conf_node_t *er__conf_item_at(const er_conf_node_t *seq, size_t i)
{
    if (seq == NULL || seq->kind != ER_CONF_SEQ || i >= seq->count)
        return NULL;
    return seq->items[i];
}

bool er__conf_is_empty(const er_conf_node_t *node)
{
    return node != NULL && node->kind == ER_CONF_SCALAR && node->style == ER_CONF_PLAIN &&
           node->len == 0;
}

const char *er__conf_kind_name(const er_conf_node_t *node)
{
    if (node == NULL)
        return "nothing";
    switch (node->kind) {
    case ER_CONF_MAP:
        return "a map";
    case ER_CONF_SEQ:
        return "a list";
    case ER_CONF_SCALAR:
        break;
    }
    return er__conf_is_empty(node) ? "an empty value" : "a scalar";
}

const char *er__conf_quote(const char *s, size_t len, char *buf, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, o = 0;

    if (cap < 8) {
        if (cap > 0)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        /* Room for the widest escape, the ellipsis and the closing quote. */
        if (o + 4 + 3 + 2 > cap) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        } else {
            buf[o++] = (char)c;
        }
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* ================================================================= loader */

typedef struct loader_s {
    yaml_parser_t parser;
    er_conf_tree_t *tree;
    er_diag_t *diag;
    const char *text; /* the input, to place reader errors */
    size_t len;
    size_t errors; /* errors this load added */
} loader_t;

__attribute__((format(printf, 3, 4))) static void lerror(loader_t *l, const er_conf_pos_t *pos,
                                                         const char *fmt, ...)
{
    va_list ap;

    l->errors++;
    va_start(ap, fmt);
    er__diag_addv(l->diag, pos, fmt, ap);
    va_end(ap);
}

static er_conf_pos_t mark_pos(const loader_t *l, yaml_mark_t m)
{
    er_conf_pos_t p = {l->tree->file, (unsigned)m.line + 1, (unsigned)m.column + 1};
    return p;
}

/* Reader errors carry a byte offset, not a mark. */
static er_conf_pos_t offset_pos(const loader_t *l, size_t off)
{
    er_conf_pos_t p = {l->tree->file, 1, 1};
    size_t i;

    for (i = 0; i < off && i < l->len; i++) {
        if (l->text[i] == '\n') {
            p.line++;
            p.col = 1;
        } else {
            p.col++;
        }
    }
    return p;
}

/* Turn libyaml's failure into one error; the load stops there. */
static int syntax_error(loader_t *l)
{
    const yaml_parser_t *p = &l->parser;
    const char *problem = p->problem != NULL ? p->problem : "malformed YAML";
    er_conf_pos_t pos;

    if (p->error == YAML_MEMORY_ERROR)
        return -ENOMEM;
    if (p->error == YAML_READER_ERROR) {
        pos = offset_pos(l, p->problem_offset);
        if (p->problem_value != -1)
            lerror(l, &pos, "invalid input: %s (#x%X)", problem, (unsigned)p->problem_value);
        else
            lerror(l, &pos, "invalid input: %s", problem);
        return -EINVAL;
    }
    pos = mark_pos(l, p->problem_mark);
    if (p->context != NULL)
        lerror(l, &pos, "YAML syntax error: %s (%s at line %zu, column %zu)", problem, p->context,
               p->context_mark.line + 1, p->context_mark.column + 1);
    else
        lerror(l, &pos, "YAML syntax error: %s", problem);
    return -EINVAL;
}

static int next_event(loader_t *l, yaml_event_t *ev)
{
    if (yaml_parser_parse(&l->parser, ev))
        return 0;
    return syntax_error(l);
}

/* Consume events up to the end of the collection whose start was just
 * read, so the load can go on after refusing it. */
static int skip_collection(loader_t *l)
{
    size_t level = 1;
    yaml_event_t ev;
    int rc;

    while (level > 0) {
        if ((rc = next_event(l, &ev)) != 0)
            return rc;
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT)
            level++;
        else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT)
            level--;
        yaml_event_delete(&ev);
    }
    return 0;
}

/* Anchors and tags on any node are refused; returns true if there were. */
static bool refuse_props(loader_t *l, const er_conf_pos_t *pos, const yaml_char_t *anchor,
                         const yaml_char_t *tag)
{
    bool bad = false;

    if (anchor != NULL) {
        lerror(l, pos, "YAML aliases/anchors are not supported");
        bad = true;
    }
    if (tag != NULL) {
        char q[80];
        lerror(l, pos, "YAML tags are not supported (%s): the schema gives every value its type",
               er__conf_quote((const char *)tag, strlen((const char *)tag), q, sizeof(q)));
        bad = true;
    }
    return bad;
}

/* ---------------------------------------------------- environment expansion */

typedef struct sbuf_s {
    char *p;
    size_t len;
    size_t cap;
} sbuf_t;

static int sbuf_put(sbuf_t *b, const char *s, size_t n)
{
    if (n > ER_CONF_MAX_FILE || b->len + n > ER_CONF_MAX_FILE)
        return -E2BIG;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 64;
        char *p;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        if ((p = realloc(b->p, ncap)) == NULL)
            return -ENOMEM;
        b->p = p;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

/*
 * Position of byte `off` of a scalar's text. Exact when the text sits on one
 * line exactly as written (plain, or quoted without escapes, all ASCII);
 * otherwise the scalar's own position.
 */
static er_conf_pos_t text_pos(const yaml_event_t *ev, const er_conf_pos_t *base, size_t off)
{
    const yaml_char_t *s = ev->data.scalar.value;
    size_t n = ev->data.scalar.length, i;
    size_t quotes;
    er_conf_pos_t p = *base;

    switch (ev->data.scalar.style) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        quotes = 1;
        break;
    case YAML_LITERAL_SCALAR_STYLE:
    case YAML_FOLDED_SCALAR_STYLE:
        return p;
    default:
        quotes = 0;
        break;
    }
    if (ev->start_mark.line != ev->end_mark.line ||
        ev->end_mark.column - ev->start_mark.column != n + 2 * quotes)
        return p;
    for (i = 0; i < n; i++)
        if (s[i] >= 0x80)
            return p;
    p.col += (unsigned)(quotes + off);
    return p;
}

static bool is_name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/*
 * The reference "${...}" that starts at s[i] (s[i + 1] is '{'), at
 * position *at: append its value to b and set *next past its "}". A form
 * other than ${VAR} and ${VAR:-default}, or an unset VAR without default,
 * is one error and -EINVAL. The value of VAR is taken as it is (never
 * expanded again).
 */
static int expand_ref(loader_t *l, const er_conf_pos_t *at, const char *s, size_t n, size_t i,
                      sbuf_t *b, size_t *next)
{
    const char *inner = s + i + 2, *close, *def = NULL, *val;
    size_t nlen, dlen = 0, reflen;
    char name[256], q[96];

    if ((close = memchr(inner, '}', n - i - 2)) == NULL) {
        lerror(l, at, "unterminated \"${\" (no closing \"}\")");
        return -EINVAL;
    }
    reflen = (size_t)(close - (s + i)) + 1;
    for (nlen = 0; inner + nlen < close && is_name_char(inner[nlen]); nlen++)
        ;
    if (nlen == 0 || (inner[0] >= '0' && inner[0] <= '9') || nlen >= sizeof(name)) {
        lerror(l, at, "invalid environment variable name in %s",
               er__conf_quote(s + i, reflen, q, sizeof(q)));
        return -EINVAL;
    }
    if (inner + nlen < close) {
        if (close - (inner + nlen) < 2 || inner[nlen] != ':' || inner[nlen + 1] != '-') {
            lerror(l, at, "unsupported expansion %s: only ${VAR} and ${VAR:-default}",
                   er__conf_quote(s + i, reflen, q, sizeof(q)));
            return -EINVAL;
        }
        def = inner + nlen + 2;
        dlen = (size_t)(close - def);
        if (memchr(def, '$', dlen) != NULL) {
            lerror(l, at, "the default in %s may not contain \"$\"",
                   er__conf_quote(s + i, reflen, q, sizeof(q)));
            return -EINVAL;
        }
    }
    memcpy(name, inner, nlen);
    name[nlen] = '\0';
    *next = i + reflen;
    val = getenv(name);
    if (def != NULL && (val == NULL || val[0] == '\0'))
        return sbuf_put(b, def, dlen);
    if (val != NULL)
        return sbuf_put(b, val, strlen(val));
    lerror(l, at, "environment variable %s is not set (${%s:-default} gives a default)", name,
           name);
    return -EINVAL;
}

/*
 * Expand ${VAR}, ${VAR:-default} and $$ in s[0..n), the text of the scalar
 * event ev at *base. On success *out is a new NUL-terminated string. On a
 * refused form, one error is added (at the "$" when its column is known)
 * and -EINVAL returned; -ENOMEM when out of memory.
 */
static int expand(loader_t *l, const yaml_event_t *ev, const er_conf_pos_t *base, const char *s,
                  size_t n, char **out, size_t *outlen)
{
    sbuf_t b = {NULL, 0, 0};
    size_t i = 0;
    int rc = 0;

    while (i < n && rc == 0) {
        const char *dollar = memchr(s + i, '$', n - i);
        er_conf_pos_t at;

        if (dollar == NULL) {
            rc = sbuf_put(&b, s + i, n - i);
            break;
        }
        if ((rc = sbuf_put(&b, s + i, (size_t)(dollar - (s + i)))) != 0)
            break;
        i = (size_t)(dollar - s);
        at = text_pos(ev, base, i);
        if (i + 1 < n && s[i + 1] == '$') {
            rc = sbuf_put(&b, "$", 1);
            i += 2;
        } else if (i + 1 < n && s[i + 1] == '{') {
            rc = expand_ref(l, &at, s, n, i, &b, &i);
        } else {
            lerror(l, &at, "a \"$\" must start ${VAR}, ${VAR:-default} or $$ (a literal \"$\")");
            rc = -EINVAL;
        }
    }
    if (rc == -E2BIG) {
        lerror(l, base, "value longer than %u bytes after expansion", ER_CONF_MAX_FILE);
        rc = -EINVAL;
    }
    if (rc == 0 && b.p == NULL)
        rc = sbuf_put(&b, "", 0);
    if (rc != 0) {
        free(b.p);
        return rc;
    }
    *out = b.p;
    *outlen = b.len;
    return 0;
}

/* -------------------------------------------------------------- builders */

static int parse_node(loader_t *l, yaml_event_t *ev, unsigned depth, bool is_key,
                      er_conf_node_t **out);

static er_conf_style_t style_of(yaml_scalar_style_t s)
{
    switch (s) {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE:
        return ER_CONF_SINGLE_QUOTED;
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
        return ER_CONF_DOUBLE_QUOTED;
    case YAML_LITERAL_SCALAR_STYLE:
        return ER_CONF_LITERAL;
    case YAML_FOLDED_SCALAR_STYLE:
        return ER_CONF_FOLDED;
    default:
        return ER_CONF_PLAIN;
    }
}

/* A scalar event (borrowed) → *out, or NULL after a refusal. */
static int build_scalar(loader_t *l, const yaml_event_t *ev, bool is_key, er_conf_node_t **out)
{
    const char *raw = (const char *)ev->data.scalar.value;
    size_t rawlen = ev->data.scalar.length;
    er_conf_pos_t pos = mark_pos(l, ev->start_mark);
    er_conf_node_t *n;
    int rc;

    *out = NULL;
    if (refuse_props(l, &pos, ev->data.scalar.anchor, ev->data.scalar.tag))
        return 0;
    if (memchr(raw, '\0', rawlen) != NULL) {
        lerror(l, &pos, "NUL characters are not allowed");
        return 0;
    }
    if ((n = node_new(ER_CONF_SCALAR, &pos)) == NULL)
        return -ENOMEM;
    n->style = style_of(ev->data.scalar.style);
    if (is_key) {
        if ((n->text = malloc(rawlen + 1)) == NULL) {
            node_free(n);
            return -ENOMEM;
        }
        memcpy(n->text, raw, rawlen);
        n->text[rawlen] = '\0';
        n->len = rawlen;
    } else if ((rc = expand(l, ev, &pos, raw, rawlen, &n->text, &n->len)) != 0) {
        node_free(n);
        return rc == -EINVAL ? 0 : rc;
    }
    *out = n;
    return 0;
}

static int build_seq(loader_t *l, er_conf_node_t *seq, unsigned depth)
{
    yaml_event_t ev;
    er_conf_node_t *item;
    int rc;

    for (;;) {
        if ((rc = next_event(l, &ev)) != 0)
            return rc;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        if ((rc = parse_node(l, &ev, depth + 1, false, &item)) != 0)
            return rc;
        if (item != NULL && (rc = seq_append(seq, item)) != 0) {
            node_free(item);
            return rc;
        }
    }
}

typedef struct keyref_s {
    const er_conf_node_t *key;
    size_t index;
} keyref_t;

static int keyref_cmp(const void *a, const void *b)
{
    const keyref_t *x = a, *y = b;
    size_t n = x->key->len < y->key->len ? x->key->len : y->key->len;
    int c = memcmp(x->key->text, y->key->text, n);

    if (c != 0)
        return c;
    if (x->key->len != y->key->len)
        return x->key->len < y->key->len ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * Refuse every repeated key (at the repeat, naming the first's line) and
 * drop the repeats from the map. Sorting keeps this O(n log n) for a map of
 * any size the file cap allows.
 */
static int refuse_duplicates(loader_t *l, er_conf_node_t *map)
{
    keyref_t *refs;
    size_t *first;
    size_t i, j, kept;

    if (map->count < 2)
        return 0;
    refs = malloc(map->count * sizeof(*refs));
    first = malloc(map->count * sizeof(*first));
    if (refs == NULL || first == NULL) {
        free(refs);
        free(first);
        return -ENOMEM;
    }
    for (i = 0; i < map->count; i++) {
        refs[i].key = map->pairs[i].key;
        refs[i].index = i;
        first[i] = SIZE_MAX;
    }
    qsort(refs, map->count, sizeof(*refs), keyref_cmp);
    for (i = 0; i < map->count; i = j) {
        for (j = i + 1; j < map->count && refs[j].key->len == refs[i].key->len &&
                        memcmp(refs[j].key->text, refs[i].key->text, refs[i].key->len) == 0;
             j++)
            first[refs[j].index] = refs[i].index;
    }
    /* Report first, then compact: compaction moves the first keys. */
    for (i = 0; i < map->count; i++) {
        const er_conf_node_t *k = map->pairs[i].key;
        char q[96];
        if (first[i] == SIZE_MAX)
            continue;
        lerror(l, &k->pos, "duplicate key %s (first at line %u)",
               er__conf_quote(k->text, k->len, q, sizeof(q)), map->pairs[first[i]].key->pos.line);
    }
    for (i = 0, kept = 0; i < map->count; i++) {
        if (first[i] != SIZE_MAX) {
            node_free(map->pairs[i].key);
            node_free(map->pairs[i].value);
            continue;
        }
        map->pairs[kept++] = map->pairs[i];
    }
    free(refs);
    free(first);
    map->count = kept;
    return 0;
}

static int build_map(loader_t *l, er_conf_node_t *map, unsigned depth)
{
    yaml_event_t ev;
    er_conf_node_t *key, *value;
    int rc;

    for (;;) {
        if ((rc = next_event(l, &ev)) != 0)
            return rc;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return refuse_duplicates(l, map);
        }
        if ((rc = parse_node(l, &ev, depth + 1, true, &key)) != 0)
            return rc;
        if ((rc = next_event(l, &ev)) != 0) {
            node_free(key);
            return rc;
        }
        if ((rc = parse_node(l, &ev, depth + 1, false, &value)) != 0) {
            node_free(key);
            return rc;
        }
        if (key != NULL && key->kind != ER_CONF_SCALAR) {
            lerror(l, &key->pos, "a key must be a scalar, not %s", er__conf_kind_name(key));
            node_free(key);
            key = NULL;
        }
        if (key == NULL || value == NULL) {
            node_free(key);
            node_free(value);
            continue;
        }
        if ((rc = map_append(map, key, value)) != 0) {
            node_free(key);
            node_free(value);
            return rc;
        }
    }
}

/*
 * Build the node that starts with ev (taken: always deleted). *out is NULL
 * when the node was refused (the error is recorded and the load goes on).
 * Returns 0, or a negative errno when the load must stop (syntax error,
 * out of memory).
 */
static int parse_node(loader_t *l, yaml_event_t *ev, unsigned depth, bool is_key,
                      er_conf_node_t **out)
{
    er_conf_pos_t pos = mark_pos(l, ev->start_mark);
    er_conf_node_t *n = NULL;
    bool bad;
    int rc = 0;

    *out = NULL;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        rc = build_scalar(l, ev, is_key, out);
        yaml_event_delete(ev);
        return rc;
    case YAML_ALIAS_EVENT:
        lerror(l, &pos, "YAML aliases/anchors are not supported");
        yaml_event_delete(ev);
        return 0;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        break;
    default:
        lerror(l, &pos, "unexpected YAML event %d", (int)ev->type);
        yaml_event_delete(ev);
        return -EINVAL;
    }

    if (ev->type == YAML_SEQUENCE_START_EVENT)
        bad = refuse_props(l, &pos, ev->data.sequence_start.anchor, ev->data.sequence_start.tag);
    else
        bad = refuse_props(l, &pos, ev->data.mapping_start.anchor, ev->data.mapping_start.tag);
    if (!bad && depth > ER_CONF_MAX_DEPTH) {
        lerror(l, &pos, "nested deeper than %u levels", ER_CONF_MAX_DEPTH);
        bad = true;
    }
    if (bad) {
        yaml_event_delete(ev);
        return skip_collection(l);
    }
    n = node_new(ev->type == YAML_SEQUENCE_START_EVENT ? ER_CONF_SEQ : ER_CONF_MAP, &pos);
    if (n == NULL) {
        yaml_event_delete(ev);
        return -ENOMEM;
    }
    if (ev->type == YAML_SEQUENCE_START_EVENT) {
        yaml_event_delete(ev);
        rc = build_seq(l, n, depth);
    } else {
        yaml_event_delete(ev);
        rc = build_map(l, n, depth);
    }
    if (rc != 0) {
        node_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

/* The stream: at most one document, whose root becomes the tree's. */
static int load_stream(loader_t *l)
{
    yaml_event_t ev;
    bool seen_doc = false;
    er_conf_node_t *root;
    int rc;

    if ((rc = next_event(l, &ev)) != 0) /* STREAM-START */
        return rc;
    yaml_event_delete(&ev);
    for (;;) {
        if ((rc = next_event(l, &ev)) != 0)
            return rc;
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        if (seen_doc) {
            er_conf_pos_t pos = mark_pos(l, ev.start_mark);
            lerror(l, &pos, "a second YAML document starts here: a file holds one");
            yaml_event_delete(&ev);
            return 0;
        }
        seen_doc = true;
        yaml_event_delete(&ev); /* DOCUMENT-START */
        if ((rc = next_event(l, &ev)) != 0)
            return rc;
        if ((rc = parse_node(l, &ev, 1, false, &root)) != 0)
            return rc;
        if (er__conf_is_empty(root)) { /* "---" alone: an empty document */
            node_free(root);
            root = NULL;
        }
        l->tree->root = root;
        if ((rc = next_event(l, &ev)) != 0) /* DOCUMENT-END */
            return rc;
        yaml_event_delete(&ev);
    }
}

int er__conf_load_string(const char *name, const char *text, size_t len, er_conf_tree_t **out,
                         er_diag_t *diag)
{
    loader_t l;
    int rc;

    *out = NULL;
    memset(&l, 0, sizeof(l));
    l.diag = diag;
    l.text = text;
    l.len = len;
    if ((l.tree = calloc(1, sizeof(*l.tree))) == NULL)
        return -ENOMEM;
    if ((l.tree->file = strdup(name)) == NULL) {
        er__conf_tree_free(l.tree);
        return -ENOMEM;
    }
    if (len > ER_CONF_MAX_FILE) {
        er_conf_pos_t pos = {name, 0, 0};
        er__diag_add(diag, &pos, "larger than %u MiB", ER_CONF_MAX_FILE >> 20);
        er__conf_tree_free(l.tree);
        return diag->nomem ? -ENOMEM : -EFBIG;
    }
    if (!yaml_parser_initialize(&l.parser)) {
        er__conf_tree_free(l.tree);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&l.parser, (const unsigned char *)text, len);
    rc = load_stream(&l);
    yaml_parser_delete(&l.parser);
    if (rc == 0 && l.errors > 0)
        rc = -EINVAL;
    if (diag->nomem)
        rc = -ENOMEM;
    er__diag_sort(diag);
    if (rc != 0) {
        er__conf_tree_free(l.tree);
        return rc;
    }
    *out = l.tree;
    return 0;
}

/* Read the whole file, refusing more than ER_CONF_MAX_FILE bytes. */
static int read_file(int fd, char **out, size_t *outlen)
{
    struct stat st;
    size_t cap = 64 << 10, len = 0;
    char *buf, *nb;
    ssize_t r;

    if (fstat(fd, &st) != 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    if (S_ISREG(st.st_mode)) {
        if ((uint64_t)st.st_size > ER_CONF_MAX_FILE)
            return -EFBIG;
        cap = (size_t)st.st_size + 1;
    }
    if ((buf = malloc(cap)) == NULL)
        return -ENOMEM;
    for (;;) {
        if (len == cap) {
            if (cap > ER_CONF_MAX_FILE) {
                free(buf);
                return -EFBIG;
            }
            cap = cap * 2 > ER_CONF_MAX_FILE + 1 ? ER_CONF_MAX_FILE + 1 : cap * 2;
            if ((nb = realloc(buf, cap)) == NULL) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
        }
        r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            return -e;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len > ER_CONF_MAX_FILE) {
        free(buf);
        return -EFBIG;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

int er__conf_load_file(const char *path, er_conf_tree_t **out, er_diag_t *diag)
{
    er_conf_pos_t pos = {path, 0, 0};
    char *buf = NULL;
    size_t len = 0;
    int fd, rc;

    *out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        rc = -errno;
        er__diag_add(diag, &pos, "cannot open: %s", strerror(-rc));
        return diag->nomem ? -ENOMEM : rc;
    }
    rc = read_file(fd, &buf, &len);
    close(fd);
    if (rc == -EFBIG)
        er__diag_add(diag, &pos, "larger than %u MiB", ER_CONF_MAX_FILE >> 20);
    else if (rc != 0 && rc != -ENOMEM)
        er__diag_add(diag, &pos, "cannot read: %s", strerror(-rc));
    if (rc != 0)
        return diag->nomem ? -ENOMEM : rc;
    rc = er__conf_load_string(path, buf, len, out, diag);
    free(buf);
    return rc;
}
