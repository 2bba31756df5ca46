/*
 * Schema tables (see schema.h): typing raw scalar text, applying a table to
 * a conftree map with every error positioned, `KEY_file` secrets, and the
 * table's own help text and redacted dump. Generic on purpose: it knows
 * nothing of the daemon, so plugin option tables use it unchanged.
 */
#include "schema.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET_SUFFIX     "_file"
#define SECRET_SUFFIX_LEN (sizeof(SECRET_SUFFIX) - 1)
#define SECRET_FILE_MAX   (64u << 10)
#define REDACTED          "<redacted>"
#define PATH_MAX_TEXT     256 /* dotted key paths in messages are cut here */

/* The field entry e describes in a target struct. */
#define FIELD(target, e, type)  ((type *)(void *)((char *)(target) + (e)->offset))
#define CFIELD(target, e, type) ((const type *)(const void *)((const char *)(target) + (e)->offset))

/* ================================================================ parsers */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Read one or more digits at *p into *out, advancing *p. */
static int read_digits(const char **p, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;

    if (!is_digit(*s))
        return -EINVAL;
    for (; is_digit(*s); s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -ERANGE;
        v = v * 10 + d;
    }
    *p = s;
    *out = v;
    return 0;
}

int er__parse_uint(const char *s, uint64_t *out)
{
    const char *p = s;
    int rc;

    if (s[0] == '0' && s[1] != '\0')
        return -EINVAL; /* 0660 is not a decimal number: refuse, don't guess */
    if ((rc = read_digits(&p, out)) != 0)
        return rc;
    return *p == '\0' ? 0 : -EINVAL;
}

int er__parse_int(const char *s, int64_t *out)
{
    bool neg = s[0] == '-';
    uint64_t v;
    int rc;

    if ((rc = er__parse_uint(s + neg, &v)) != 0)
        return rc;
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return -ERANGE;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return -ERANGE;
        *out = (int64_t)v;
    }
    return 0;
}

int er__parse_bool(const char *s, bool *out)
{
    static const struct {
        const char *word;
        bool value;
    } words[] = {
        {"true", true},   {"yes", true}, {"on", true},
        {"false", false}, {"no", false}, {"off", false},
    };
    size_t i;

    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strcmp(s, words[i].word) == 0) {
            *out = words[i].value;
            return 0;
        }
    }
    return -EINVAL;
}

/* Units by decreasing size; a duration's groups must follow this order. */
static const struct {
    const char *name;
    uint64_t ms;
} duration_units[] = {
    {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1},
};
#define N_DURATION_UNITS (sizeof(duration_units) / sizeof(duration_units[0]))

int er__parse_duration(const char *s, uint64_t *ms)
{
    const char *p = s;
    uint64_t total = 0;
    size_t next_unit = 0; /* units before this one are used up */

    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    if (*p == '\0')
        return -EINVAL;
    while (*p != '\0') {
        const char *u;
        uint64_t n;
        size_t i;
        int rc;

        if ((rc = read_digits(&p, &n)) != 0)
            return rc;
        for (u = p; *p >= 'a' && *p <= 'z'; p++)
            ;
        for (i = next_unit; i < N_DURATION_UNITS; i++)
            if (strlen(duration_units[i].name) == (size_t)(p - u) &&
                memcmp(duration_units[i].name, u, (size_t)(p - u)) == 0)
                break;
        if (i == N_DURATION_UNITS)
            return -EINVAL; /* no unit, an unknown one, or out of order */
        if (n > UINT64_MAX / duration_units[i].ms || n * duration_units[i].ms > UINT64_MAX - total)
            return -ERANGE;
        total += n * duration_units[i].ms;
        next_unit = i + 1;
    }
    *ms = total;
    return 0;
}

static const struct {
    const char *name;
    uint64_t bytes;
} size_units[] = {
    {"TiB", 1ull << 40}, {"GiB", 1ull << 30},      {"MiB", 1ull << 20},
    {"KiB", 1ull << 10}, {"TB", 1000000000000ull}, {"GB", 1000000000ull},
    {"MB", 1000000ull},  {"KB", 1000ull},          {"B", 1},
};
#define N_SIZE_UNITS (sizeof(size_units) / sizeof(size_units[0]))

int er__parse_size(const char *s, uint64_t *bytes)
{
    const char *p = s;
    uint64_t n;
    size_t i;
    int rc;

    if (s[0] == '0' && is_digit(s[1]))
        return -EINVAL;
    if ((rc = read_digits(&p, &n)) != 0)
        return rc;
    if (*p == '\0') {
        *bytes = n;
        return 0;
    }
    for (i = 0; i < N_SIZE_UNITS; i++) {
        if (strcmp(p, size_units[i].name) == 0) {
            if (n > UINT64_MAX / size_units[i].bytes)
                return -ERANGE;
            *bytes = n * size_units[i].bytes;
            return 0;
        }
    }
    return -EINVAL;
}

int er__parse_mode(const char *s, unsigned *mode)
{
    unsigned v = 0;
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        if (s[i] < '0' || s[i] > '7' || i >= 5)
            return -EINVAL;
        v = v * 8 + (unsigned)(s[i] - '0');
    }
    if (i == 0)
        return -EINVAL;
    if (v > 07777)
        return -ERANGE;
    *mode = v;
    return 0;
}

int er__parse_double(const char *s, double *out)
{
    const char *p = s + (s[0] == '-');
    char *end;
    double d;

    /* The form first, so strtod's extras (hex, inf, nan, exponents,
     * leading spaces or '+') never get in. */
    if (!is_digit(p[0]) || (p[0] == '0' && is_digit(p[1])))
        return -EINVAL;
    while (is_digit(*p))
        p++;
    if (*p == '.') {
        p++;
        if (!is_digit(*p))
            return -EINVAL;
        while (is_digit(*p))
            p++;
    }
    if (*p != '\0')
        return -EINVAL;
    errno = 0;
    d = strtod(s, &end);
    if (end != p || errno == ERANGE || !isfinite(d))
        return -ERANGE;
    *out = d == 0 ? 0 : d; /* no -0 */
    return 0;
}

int er__format_double(double d, char *buf, size_t cap)
{
    char tmp[ER_DOUBLE_TEXT_MAX];
    double back;
    int prec;

    /* The shortest %g that reads back exactly. %g's exponent form is not
     * something the parser takes: skip it, and for huge or tiny values
     * take the fewest decimals of %f that read back (a rare, slower path:
     * table bounds and configured numbers are small). */
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strchr(tmp, 'e') == NULL && er__parse_double(tmp, &back) == 0 && back == d)
            return snprintf(buf, cap, "%s", tmp);
    }
    for (prec = 0; prec < 340; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*f", prec, d);
        if (er__parse_double(tmp, &back) == 0 && back == d)
            break;
    }
    return snprintf(buf, cap, "%s", tmp);
}

int er__format_size(uint64_t bytes, char *buf, size_t cap)
{
    size_t i;

    if (bytes == 0)
        return snprintf(buf, cap, "0");
    for (i = 0; i < N_SIZE_UNITS; i++)
        if (bytes % size_units[i].bytes == 0)
            break;
    return snprintf(buf, cap, "%" PRIu64 "%s", bytes / size_units[i].bytes, size_units[i].name);
}

int er__format_duration(uint64_t ms, char *buf, size_t cap)
{
    size_t i, o = 0;
    int n;

    if (ms == 0)
        return snprintf(buf, cap, "0");
    for (i = 0; i < N_DURATION_UNITS; i++) {
        uint64_t q = ms / duration_units[i].ms;
        if (q == 0)
            continue;
        ms -= q * duration_units[i].ms;
        n = snprintf(buf + (o < cap ? o : cap), o < cap ? cap - o : 0, "%" PRIu64 "%s", q,
                     duration_units[i].name);
        if (n < 0)
            return n;
        o += (size_t)n;
    }
    return (int)o;
}

/* ========================================================== typing values */

/* A typed scalar before it is stored. */
typedef union value_u {
    char *str;
    bool b;
    int64_t i;
    uint64_t u;
    unsigned mode;
    int en;
    double d;
} value_t;

static bool takes_scalar(er_schema_type_t t)
{
    return t <= ER_SCHEMA_ENUM || t == ER_SCHEMA_DOUBLE;
}

static bool has_dbounds(const er_schema_entry_t *e)
{
    return e->dmin < e->dmax;
}

static bool has_umax(const er_schema_entry_t *e)
{
    return e->max != 0;
}

static bool has_ibounds(const er_schema_entry_t *e)
{
    return e->imin < e->imax;
}

/* One bound as text in the entry's own unit. */
static void bound_text(const er_schema_entry_t *e, uint64_t v, char *buf, size_t cap)
{
    switch (e->type) {
    case ER_SCHEMA_SIZE:
        er__format_size(v, buf, cap);
        break;
    case ER_SCHEMA_DURATION:
        er__format_duration(v, buf, cap);
        break;
    case ER_SCHEMA_MODE:
        snprintf(buf, cap, "0%o", (unsigned)v);
        break;
    default:
        snprintf(buf, cap, "%" PRIu64, v);
        break;
    }
}

/* "between 1KiB and 64MiB", "at least 1", "at most 0777", or "" (none). */
static void bounds_text(const er_schema_entry_t *e, char *buf, size_t cap)
{
    char lo[32], hi[32];

    buf[0] = '\0';
    if (e->type == ER_SCHEMA_INT) {
        if (has_ibounds(e))
            snprintf(buf, cap, "between %" PRId64 " and %" PRId64, e->imin, e->imax);
        return;
    }
    if (e->type == ER_SCHEMA_DOUBLE) {
        if (has_dbounds(e)) {
            er__format_double(e->dmin, lo, sizeof(lo));
            er__format_double(e->dmax, hi, sizeof(hi));
            snprintf(buf, cap, "between %s and %s", lo, hi);
        }
        return;
    }
    bound_text(e, e->min, lo, sizeof(lo));
    bound_text(e, e->max, hi, sizeof(hi));
    if (e->min > 0 && has_umax(e))
        snprintf(buf, cap, "between %s and %s", lo, hi);
    else if (has_umax(e))
        snprintf(buf, cap, "at most %s", hi);
    else if (e->min > 0)
        snprintf(buf, cap, "at least %s", lo);
}

/* What the entry expects, for "expected ..., got ..." messages. */
static const char *expected_text(const er_schema_entry_t *e, char *buf, size_t cap)
{
    const char *off = e->flags & ER_SCHEMA_OFF ? " or off" : "";
    size_t i, o;

    switch (e->type) {
    case ER_SCHEMA_STRING:
        return "a string";
    case ER_SCHEMA_PATH:
        return "a path";
    case ER_SCHEMA_BOOL:
        return "true or false (or yes/no, on/off)";
    case ER_SCHEMA_INT:
        return "an integer";
    case ER_SCHEMA_UINT:
        snprintf(buf, cap, "a non-negative integer%s", off);
        return buf;
    case ER_SCHEMA_DURATION:
        snprintf(buf, cap, "a duration such as 30s (units d, h, m, s, ms)%s", off);
        return buf;
    case ER_SCHEMA_SIZE:
        snprintf(buf, cap, "a size such as 1MiB%s", off);
        return buf;
    case ER_SCHEMA_MODE:
        return "an octal file mode such as \"0660\"";
    case ER_SCHEMA_ENUM:
        o = (size_t)snprintf(buf, cap, "one of");
        for (i = 0; e->choices != NULL && e->choices[i] != NULL && o < cap; i++)
            o += (size_t)snprintf(buf + o, cap - o, "%s %s", i ? "," : "", e->choices[i]);
        return buf;
    case ER_SCHEMA_STRLIST:
        return "a list of strings";
    case ER_SCHEMA_SECTION:
    case ER_SCHEMA_MAP:
        return "a map";
    case ER_SCHEMA_DOUBLE:
        return "a number such as 1.5";
    case ER_SCHEMA_REFUSED:
    case ER_SCHEMA_CUSTOM:
        break;
    }
    return "nothing";
}

static int enum_value_of(const er_schema_entry_t *e, size_t index)
{
    return e->enum_value != NULL ? e->enum_value(e->choices[index]) : (int)index;
}

/*
 * Type text[0..len) for e into *v. Returns 0; -EINVAL (wrong form);
 * -ERANGE (overflow or outside the bounds); -ENOMEM. On 0 for a string
 * type, v->str is a new string.
 */
static int parse_value(const er_schema_entry_t *e, const char *text, size_t len, value_t *v)
{
    bool off = (e->flags & ER_SCHEMA_OFF) && strcmp(text, "off") == 0;
    size_t i;
    int rc = 0;

    memset(v, 0, sizeof(*v));
    switch (e->type) {
    case ER_SCHEMA_STRING:
    case ER_SCHEMA_PATH:
        if (len == 0 && (e->type == ER_SCHEMA_PATH || !(e->flags & ER_SCHEMA_EMPTY)))
            return -EINVAL;
        if (len < e->min || (has_umax(e) && len > e->max))
            return -ERANGE;
        if ((v->str = malloc(len + 1)) == NULL)
            return -ENOMEM;
        memcpy(v->str, text, len);
        v->str[len] = '\0';
        return 0;
    case ER_SCHEMA_BOOL:
        return er__parse_bool(text, &v->b);
    case ER_SCHEMA_INT:
        if ((rc = er__parse_int(text, &v->i)) != 0)
            return rc;
        return has_ibounds(e) && (v->i < e->imin || v->i > e->imax) ? -ERANGE : 0;
    case ER_SCHEMA_UINT:
    case ER_SCHEMA_DURATION:
    case ER_SCHEMA_SIZE:
        if (off) {
            v->u = 0;
            return 0;
        }
        if (e->type == ER_SCHEMA_UINT)
            rc = er__parse_uint(text, &v->u);
        else if (e->type == ER_SCHEMA_DURATION)
            rc = er__parse_duration(text, &v->u);
        else
            rc = er__parse_size(text, &v->u);
        if (rc != 0)
            return rc;
        return v->u < e->min || (has_umax(e) && v->u > e->max) ? -ERANGE : 0;
    case ER_SCHEMA_MODE:
        if ((rc = er__parse_mode(text, &v->mode)) != 0)
            return rc;
        return v->mode < e->min || (has_umax(e) && v->mode > e->max) ? -ERANGE : 0;
    case ER_SCHEMA_ENUM:
        for (i = 0; e->choices != NULL && e->choices[i] != NULL; i++) {
            if (strcmp(text, e->choices[i]) == 0) {
                v->en = enum_value_of(e, i);
                return v->en < 0 ? -EINVAL : 0;
            }
        }
        return -EINVAL;
    case ER_SCHEMA_DOUBLE:
        if ((rc = er__parse_double(text, &v->d)) != 0)
            return rc;
        return has_dbounds(e) && (v->d < e->dmin || v->d > e->dmax) ? -ERANGE : 0;
    default:
        return -EINVAL;
    }
}

static void store_value(const er_schema_entry_t *e, void *target, value_t *v)
{
    switch (e->type) {
    case ER_SCHEMA_STRING:
    case ER_SCHEMA_PATH:
        free(*FIELD(target, e, char *));
        *FIELD(target, e, char *) = v->str;
        v->str = NULL;
        break;
    case ER_SCHEMA_BOOL:
        *FIELD(target, e, bool) = v->b;
        break;
    case ER_SCHEMA_INT:
        *FIELD(target, e, int64_t) = v->i;
        break;
    case ER_SCHEMA_UINT:
    case ER_SCHEMA_DURATION:
    case ER_SCHEMA_SIZE:
        *FIELD(target, e, uint64_t) = v->u;
        break;
    case ER_SCHEMA_MODE:
        *FIELD(target, e, unsigned) = v->mode;
        break;
    case ER_SCHEMA_ENUM:
        *FIELD(target, e, int) = v->en;
        break;
    case ER_SCHEMA_DOUBLE:
        *FIELD(target, e, double) = v->d;
        break;
    default:
        break;
    }
}

/* ================================================================ applying */

typedef struct apply_s {
    er_diag_t *diag;
    size_t errors;
    bool nomem;
} apply_t;

__attribute__((format(printf, 3, 4))) static void aerror(apply_t *a, const er_conf_pos_t *pos,
                                                         const char *fmt, ...)
{
    va_list ap;

    a->errors++;
    va_start(ap, fmt);
    if (er__diag_addv(a->diag, pos, fmt, ap) == -ENOMEM)
        a->nomem = true;
    va_end(ap);
}

/* "prefix.key" (or "key" at the top) into buf. */
static const char *key_path(const char *prefix, const char *key, size_t keylen, char *buf,
                            size_t cap)
{
    if (prefix == NULL || prefix[0] == '\0')
        snprintf(buf, cap, "%.*s", (int)keylen, key);
    else
        snprintf(buf, cap, "%s.%.*s", prefix, (int)keylen, key);
    return buf;
}

/* How to show what was given: the text quoted, or the node's kind. */
static const char *got_text(const er_schema_entry_t *e, const er_conf_node_t *n, char *buf,
                            size_t cap)
{
    if (n->kind != ER_CONF_SCALAR || er__conf_is_empty(n))
        return er__conf_kind_name(n);
    if (e->flags & ER_SCHEMA_SECRET)
        return "a value (not shown: secret)";
    return er__conf_quote(n->text, n->len, buf, cap);
}

/* Report a refused scalar: wrong form or out of bounds. */
static void scalar_error(apply_t *a, const er_schema_entry_t *e, const char *path,
                         const er_conf_node_t *n, int rc)
{
    char exp[160], got[96], bounds[96];

    bounds_text(e, bounds, sizeof(bounds));
    if (rc == -ERANGE && (e->type == ER_SCHEMA_STRING || e->type == ER_SCHEMA_PATH))
        aerror(a, &n->pos, "%s: must be %s bytes long, got %zu bytes", path, bounds, n->len);
    else if (rc == -ERANGE && bounds[0] != '\0')
        aerror(a, &n->pos, "%s: must be %s, got %s", path, bounds,
               e->flags & ER_SCHEMA_SECRET ? "a value (not shown: secret)" : n->text);
    else if (rc == -ERANGE)
        aerror(a, &n->pos, "%s: %s is too large", path, got_text(e, n, got, sizeof(got)));
    else
        aerror(a, &n->pos, "%s: expected %s, got %s", path, expected_text(e, exp, sizeof(exp)),
               got_text(e, n, got, sizeof(got)));
}

/* A scalar entry given node n. */
static void apply_scalar(apply_t *a, const er_schema_entry_t *e, const char *path,
                         const er_conf_node_t *n, void *target)
{
    value_t v;
    int rc;

    if (n->kind != ER_CONF_SCALAR || er__conf_is_empty(n)) {
        scalar_error(a, e, path, n, -EINVAL);
        return;
    }
    rc = parse_value(e, n->text, n->len, &v);
    if (rc == -ENOMEM) {
        a->nomem = true;
        return;
    }
    if (rc != 0) {
        scalar_error(a, e, path, n, rc);
        return;
    }
    store_value(e, target, &v);
}

static void apply_strlist(apply_t *a, const er_schema_entry_t *e, const char *path,
                          const er_conf_node_t *n, void *target);
static void apply_map(apply_t *a, const er_schema_entry_t *e, const char *path,
                      const er_conf_node_t *n, void *target);

/*
 * A list's or map's default: its YAML flow text loaded as a one-document
 * file and applied as if the file gave it. Returns 0, -EINVAL (the text
 * does not load; errors in *d, which the caller frees) or -ENOMEM.
 */
static int load_default_tree(const er_schema_entry_t *e, er_conf_tree_t **t, er_diag_t *d)
{
    return er__conf_load_string("(default)", e->def, strlen(e->def), t, d);
}

static void apply_tree_default(apply_t *a, const er_schema_entry_t *e, const char *path,
                               const er_conf_pos_t *where, void *target)
{
    er_conf_tree_t *t = NULL;
    er_diag_t d;
    size_t before = a->errors;
    int rc;

    er__diag_init(&d);
    rc = load_default_tree(e, &t, &d);
    er__diag_free(&d);
    if (rc == -ENOMEM) {
        a->nomem = true;
        return;
    }
    if (rc == 0 && t->root != NULL) {
        if (e->type == ER_SCHEMA_STRLIST)
            apply_strlist(a, e, path, t->root, target);
        else
            apply_map(a, e, path, t->root, target);
    }
    if (rc != 0 || a->errors > before)
        aerror(a, where, "%s: invalid default \"%s\" in the schema (a bug)", path, e->def);
    er__conf_tree_free(t);
}

/* An entry's default (or zero when it has none). A default that does not
 * parse is a bug in the table; er__schema_check catches it in tests. */
static void apply_default(apply_t *a, const er_schema_entry_t *e, const char *path,
                          const er_conf_pos_t *where, void *target)
{
    value_t v;
    int rc;

    if (e->def != NULL && (e->type == ER_SCHEMA_STRLIST || e->type == ER_SCHEMA_MAP)) {
        apply_tree_default(a, e, path, where, target);
        return;
    }
    if (e->def == NULL || !takes_scalar(e->type))
        return;
    rc = parse_value(e, e->def, strlen(e->def), &v);
    if (rc == -ENOMEM) {
        a->nomem = true;
        return;
    }
    if (rc != 0) {
        aerror(a, where, "%s: invalid default \"%s\" in the schema (a bug)", path, e->def);
        return;
    }
    store_value(e, target, &v);
}

static void apply_strlist(apply_t *a, const er_schema_entry_t *e, const char *path,
                          const er_conf_node_t *n, void *target)
{
    er_strlist_t *l = FIELD(target, e, er_strlist_t);
    size_t i, count = er__conf_count(n);
    char bounds[96], item[PATH_MAX_TEXT + 24];

    if (er__conf_is_empty(n))
        return;
    if (n->kind != ER_CONF_SEQ) {
        char got[96];
        aerror(a, &n->pos, "%s: expected a list of strings, got %s", path,
               got_text(e, n, got, sizeof(got)));
        return;
    }
    if (count < e->min || (has_umax(e) && count > e->max)) {
        bounds_text(e, bounds, sizeof(bounds));
        aerror(a, &n->pos, "%s: must have %s items, got %zu", path, bounds, count);
        return;
    }
    if (count > 0 && (l->items = calloc(count, sizeof(*l->items))) == NULL) {
        a->nomem = true;
        return;
    }
    for (i = 0; i < count; i++) {
        const er_conf_node_t *it = n->items[i];
        snprintf(item, sizeof(item), "%s[%zu]", path, i);
        if (it->kind != ER_CONF_SCALAR || it->len == 0) {
            aerror(a, &it->pos, "%s: expected a non-empty string, got %s", item,
                   it->kind == ER_CONF_SCALAR ? "an empty one" : er__conf_kind_name(it));
            continue;
        }
        if ((l->items[l->count] = strdup(it->text)) == NULL) {
            a->nomem = true;
            return;
        }
        l->count++;
    }
}

static void apply_map(apply_t *a, const er_schema_entry_t *e, const char *path,
                      const er_conf_node_t *n, void *target)
{
    er_conf_tree_t **t = FIELD(target, e, er_conf_tree_t *);

    if (er__conf_is_empty(n))
        return;
    if (n->kind != ER_CONF_MAP) {
        char got[96];
        aerror(a, &n->pos, "%s: expected a map, got %s", path, got_text(e, n, got, sizeof(got)));
        return;
    }
    if (e->flags & ER_SCHEMA_SCALARS) {
        size_t i, before = a->errors;
        char item[PATH_MAX_TEXT];
        for (i = 0; i < n->count; i++) {
            const er_conf_pair_t *p = &n->pairs[i];
            if (p->value->kind == ER_CONF_SCALAR && !er__conf_is_empty(p->value))
                continue;
            key_path(path, p->key->text, p->key->len, item, sizeof(item));
            aerror(a, &p->value->pos, "%s: expected a string, got %s", item,
                   er__conf_kind_name(p->value));
        }
        if (a->errors > before)
            return;
    }
    er__conf_tree_free(*t);
    if ((*t = er__conf_tree_clone(n)) == NULL)
        a->nomem = true;
}

/* Read a secret from the file KEY_file names (n: the path's node). */
static void apply_secret_file(apply_t *a, const er_schema_entry_t *e, const char *path,
                              const er_conf_node_t *n, void *target)
{
    char fpath[PATH_MAX_TEXT + 8], q[PATH_MAX_TEXT], bounds[96];
    char *buf = NULL;
    size_t len = 0;
    ssize_t r;
    int fd;

    snprintf(fpath, sizeof(fpath), "%s%s", path, SECRET_SUFFIX);
    if (n->kind != ER_CONF_SCALAR || n->len == 0) {
        aerror(a, &n->pos, "%s: expected a path, got %s", fpath,
               n->kind == ER_CONF_SCALAR ? "an empty value" : er__conf_kind_name(n));
        return;
    }
    er__conf_quote(n->text, n->len, q, sizeof(q));
    if ((fd = open(n->text, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
        aerror(a, &n->pos, "%s: cannot open %s: %s", fpath, q, strerror(errno));
        return;
    }
    if ((buf = malloc(SECRET_FILE_MAX + 1)) == NULL) {
        a->nomem = true;
        goto out;
    }
    while (len <= SECRET_FILE_MAX) {
        r = read(fd, buf + len, SECRET_FILE_MAX + 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            aerror(a, &n->pos, "%s: cannot read %s: %s", fpath, q, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len > SECRET_FILE_MAX) {
        aerror(a, &n->pos, "%s: %s is larger than %u KiB", fpath, q, SECRET_FILE_MAX >> 10);
        goto out;
    }
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len > 0 && buf[len - 1] == '\r')
        len--;
    buf[len] = '\0';
    if (memchr(buf, '\0', len) != NULL) {
        aerror(a, &n->pos, "%s: %s holds a NUL byte", fpath, q);
    } else if (len == 0) {
        aerror(a, &n->pos, "%s: %s is empty", fpath, q);
    } else if (len < e->min || (has_umax(e) && len > e->max)) {
        bounds_text(e, bounds, sizeof(bounds));
        aerror(a, &n->pos, "%s: the secret in %s must be %s bytes long, got %zu bytes", fpath, q,
               bounds, len);
    } else {
        free(*FIELD(target, e, char *));
        *FIELD(target, e, char *) = buf;
        buf = NULL;
    }

out:
    if (buf != NULL) {
        /* It held the secret: do not leave it in freed memory. */
        memset(buf, 0, SECRET_FILE_MAX + 1);
        free(buf);
    }
    close(fd);
}

/* Edit distance, for "did you mean" on unknown keys (short keys only). */
static size_t edit_distance(const char *s, size_t n, const char *t)
{
    size_t m = strlen(t), i, j;
    size_t row[65];

    if (n > 64 || m > 64)
        return SIZE_MAX;
    for (j = 0; j <= m; j++)
        row[j] = j;
    for (i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t best = diag + (s[i - 1] != t[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[m];
}

static void unknown_key(apply_t *a, const er_schema_t *s, const char *prefix,
                        const er_conf_node_t *key)
{
    const char *best = NULL;
    size_t i, best_d = 3; /* suggest at distance 1 or 2 only */
    char path[PATH_MAX_TEXT];

    for (i = 0; i < s->count; i++) {
        size_t d = edit_distance(key->text, key->len, s->entries[i].key);
        if (d < best_d && d < strlen(s->entries[i].key)) {
            best_d = d;
            best = s->entries[i].key;
        }
    }
    key_path(prefix, key->text, key->len, path, sizeof(path));
    if (best != NULL)
        aerror(a, &key->pos, "%s: unknown key (did you mean \"%s\"?)", path, best);
    else
        aerror(a, &key->pos, "%s: unknown key", path);
}

/* The entry a file key stands for; *via_file when it is SECRET's KEY_file. */
static const er_schema_entry_t *lookup(const er_schema_t *s, const er_conf_node_t *key,
                                       bool *via_file)
{
    size_t i, base;

    *via_file = false;
    for (i = 0; i < s->count; i++)
        if (strlen(s->entries[i].key) == key->len &&
            memcmp(s->entries[i].key, key->text, key->len) == 0)
            return &s->entries[i];
    if (key->len <= SECRET_SUFFIX_LEN ||
        memcmp(key->text + key->len - SECRET_SUFFIX_LEN, SECRET_SUFFIX, SECRET_SUFFIX_LEN) != 0)
        return NULL;
    base = key->len - SECRET_SUFFIX_LEN;
    for (i = 0; i < s->count; i++) {
        const er_schema_entry_t *e = &s->entries[i];
        if ((e->flags & ER_SCHEMA_SECRET) && strlen(e->key) == base &&
            memcmp(e->key, key->text, base) == 0) {
            *via_file = true;
            return e;
        }
    }
    return NULL;
}

static void apply_table(apply_t *a, const er_schema_t *s, const er_conf_node_t *map,
                        const er_conf_pos_t *where, const char *prefix, void *target);

/* Entry e given as pair p (p->key may be KEY_file). */
static void apply_given(apply_t *a, const er_schema_entry_t *e, bool via_file,
                        const er_conf_pair_t *p, const char *path, void *target)
{
    if (via_file) {
        apply_secret_file(a, e, path, p->value, target);
        return;
    }
    switch (e->type) {
    case ER_SCHEMA_STRLIST:
        apply_strlist(a, e, path, p->value, target);
        break;
    case ER_SCHEMA_MAP:
        apply_map(a, e, path, p->value, target);
        break;
    case ER_SCHEMA_SECTION:
        if (!er__conf_is_empty(p->value) && p->value->kind != ER_CONF_MAP) {
            char got[96];
            aerror(a, &p->value->pos, "%s: expected a map, got %s", path,
                   got_text(e, p->value, got, sizeof(got)));
            apply_table(a, e->section, NULL, &p->value->pos, path, FIELD(target, e, char));
        } else {
            apply_table(a, e->section, er__conf_is_empty(p->value) ? NULL : p->value,
                        &p->value->pos, path, FIELD(target, e, char));
        }
        break;
    case ER_SCHEMA_REFUSED:
        aerror(a, &p->key->pos, "%s: not supported in this version", path);
        break;
    case ER_SCHEMA_CUSTOM:
        break; /* the caller's */
    default:
        apply_scalar(a, e, path, p->value, target);
        break;
    }
}

/*
 * Apply table s to map (NULL: absent or empty) into target: first every
 * given key in file order, then defaults and "required" for the others.
 */
static void apply_table(apply_t *a, const er_schema_t *s, const er_conf_node_t *map,
                        const er_conf_pos_t *where, const char *prefix, void *target)
{
    const er_conf_pair_t **given;
    const er_conf_pos_t *at = map != NULL ? &map->pos : where;
    char path[PATH_MAX_TEXT];
    size_t i;

    if ((given = calloc(s->count ? s->count : 1, sizeof(*given))) == NULL) {
        a->nomem = true;
        return;
    }
    for (i = 0; i < er__conf_count(map); i++) {
        const er_conf_pair_t *p = &map->pairs[i];
        const er_schema_entry_t *e;
        bool via_file;
        size_t idx;

        if ((e = lookup(s, p->key, &via_file)) == NULL) {
            unknown_key(a, s, prefix, p->key);
            continue;
        }
        idx = (size_t)(e - s->entries);
        key_path(prefix, e->key, strlen(e->key), path, sizeof(path));
        if (given[idx] != NULL) { /* only KEY and KEY_file can meet here */
            aerror(a, &p->key->pos, "%s: give %s or %s%s, not both", path, e->key, e->key,
                   SECRET_SUFFIX);
            continue;
        }
        given[idx] = p;
        apply_given(a, e, via_file, p, path, target);
    }
    for (i = 0; i < s->count; i++) {
        const er_schema_entry_t *e = &s->entries[i];
        if (given[i] != NULL)
            continue;
        key_path(prefix, e->key, strlen(e->key), path, sizeof(path));
        if (e->flags & ER_SCHEMA_REQUIRED) {
            if (e->flags & ER_SCHEMA_SECRET)
                aerror(a, at, "%s: required key is missing (or give %s%s)", path, e->key,
                       SECRET_SUFFIX);
            else
                aerror(a, at, "%s: required key is missing", path);
        }
        if (e->type == ER_SCHEMA_SECTION)
            apply_table(a, e->section, NULL, at, path, FIELD(target, e, char));
        else
            apply_default(a, e, path, at, target);
    }
    free(given);
}

int er__schema_apply_node(const er_schema_t *s, const er_conf_node_t *map,
                          const er_conf_pos_t *where, const char *prefix, void *target,
                          er_diag_t *diag)
{
    apply_t a = {diag, 0, false};

    if (map != NULL && er__conf_is_empty(map))
        map = NULL;
    if (map != NULL && map->kind != ER_CONF_MAP) {
        const char *name = prefix != NULL && prefix[0] != '\0' ? prefix : "the top level";
        aerror(&a, &map->pos, "%s: expected a map, got %s", name, er__conf_kind_name(map));
        where = &map->pos;
        map = NULL;
    }
    apply_table(&a, s, map, where, prefix, target);
    er__diag_sort(diag);
    if (a.nomem || diag->nomem)
        return -ENOMEM;
    return a.errors > 0 ? -EINVAL : 0;
}

int er__schema_apply(const er_schema_t *s, const er_conf_tree_t *tree, void *target,
                     er_diag_t *diag)
{
    er_conf_pos_t whole = {tree != NULL ? tree->file : NULL, 0, 0};

    return er__schema_apply_node(s, tree != NULL ? tree->root : NULL, &whole, NULL, target, diag);
}

void er__schema_free(const er_schema_t *s, void *target)
{
    size_t i, j;

    for (i = 0; i < s->count; i++) {
        const er_schema_entry_t *e = &s->entries[i];
        switch (e->type) {
        case ER_SCHEMA_STRING:
        case ER_SCHEMA_PATH: {
            char **p = FIELD(target, e, char *);
            if (*p != NULL && (e->flags & ER_SCHEMA_SECRET))
                memset(*p, 0, strlen(*p));
            free(*p);
            *p = NULL;
            break;
        }
        case ER_SCHEMA_STRLIST: {
            er_strlist_t *l = FIELD(target, e, er_strlist_t);
            for (j = 0; j < l->count; j++)
                free(l->items[j]);
            free(l->items);
            l->items = NULL;
            l->count = 0;
            break;
        }
        case ER_SCHEMA_MAP:
            er__conf_tree_free(*FIELD(target, e, er_conf_tree_t *));
            *FIELD(target, e, er_conf_tree_t *) = NULL;
            break;
        case ER_SCHEMA_SECTION:
            er__schema_free(e->section, FIELD(target, e, char));
            break;
        default:
            break;
        }
    }
}

const er_schema_entry_t *er__schema_find(const er_schema_t *s, const char *key)
{
    size_t i;

    for (i = 0; i < s->count; i++)
        if (strcmp(s->entries[i].key, key) == 0)
            return &s->entries[i];
    return NULL;
}

/* ========================================================== table checks */

/* A list's or map's default must load and apply without an error. */
static int check_tree_default(const er_schema_entry_t *e, char *err, size_t cap)
{
    union {
        er_strlist_t list;
        er_conf_tree_t *map;
    } scratch;
    er_schema_entry_t copy = *e;
    er_schema_t one = {&copy, 1};
    er_conf_pos_t where = {"(default)", 0, 0};
    er_diag_t d;
    apply_t a;

    memset(&scratch, 0, sizeof(scratch));
    copy.offset = 0;
    er__diag_init(&d);
    a = (apply_t){&d, 0, false};
    apply_tree_default(&a, &copy, e->key, &where, &scratch);
    er__schema_free(&one, &scratch);
    er__diag_free(&d);
    if (a.nomem)
        return -ENOMEM;
    if (a.errors > 0) {
        snprintf(err, cap, "%s: default \"%s\" does not parse", e->key, e->def);
        return -EINVAL;
    }
    return 0;
}

static int check_entry(const er_schema_t *s, const er_schema_entry_t *e, char *err, size_t cap)
{
    size_t j, klen;
    value_t v;
    int rc;

    if (e->key == NULL || e->key[0] == '\0') {
        snprintf(err, cap, "an entry has no key");
        return -EINVAL;
    }
    klen = strlen(e->key);
    for (j = 0; &s->entries[j] != e; j++) {
        if (strcmp(s->entries[j].key, e->key) == 0) {
            snprintf(err, cap, "%s: key declared twice", e->key);
            return -EINVAL;
        }
    }
    for (j = 0; j < s->count; j++) {
        const er_schema_entry_t *o = &s->entries[j];
        if ((o->flags & ER_SCHEMA_SECRET) && klen == strlen(o->key) + SECRET_SUFFIX_LEN &&
            strncmp(e->key, o->key, strlen(o->key)) == 0 &&
            strcmp(e->key + strlen(o->key), SECRET_SUFFIX) == 0) {
            snprintf(err, cap, "%s: clashes with the secret %s", e->key, o->key);
            return -EINVAL;
        }
    }
    if ((e->flags & ER_SCHEMA_SECRET) && e->type != ER_SCHEMA_STRING && e->type != ER_SCHEMA_PATH) {
        snprintf(err, cap, "%s: only strings and paths can be secret", e->key);
        return -EINVAL;
    }
    if ((e->flags & ER_SCHEMA_OFF) && e->type != ER_SCHEMA_DURATION && e->type != ER_SCHEMA_SIZE &&
        e->type != ER_SCHEMA_UINT) {
        snprintf(err, cap, "%s: only durations, sizes and unsigned integers can be off", e->key);
        return -EINVAL;
    }
    if (e->desc == NULL || e->desc[0] == '\0') {
        snprintf(err, cap, "%s: no description", e->key);
        return -EINVAL;
    }
    if (e->type == ER_SCHEMA_ENUM) {
        if (e->choices == NULL || e->choices[0] == NULL) {
            snprintf(err, cap, "%s: enum without choices", e->key);
            return -EINVAL;
        }
        for (j = 0; e->choices[j] != NULL; j++) {
            if (enum_value_of(e, j) < 0) {
                snprintf(err, cap, "%s: choice %s has no value", e->key, e->choices[j]);
                return -EINVAL;
            }
        }
    }
    if (e->type == ER_SCHEMA_SECTION) {
        char sub[256];
        if (e->section == NULL) {
            snprintf(err, cap, "%s: section without a table", e->key);
            return -EINVAL;
        }
        if (er__schema_check(e->section, sub, sizeof(sub)) != 0) {
            snprintf(err, cap, "%s.%s", e->key, sub);
            return -EINVAL;
        }
    }
    if ((e->flags & ER_SCHEMA_SCALARS) && e->type != ER_SCHEMA_MAP) {
        snprintf(err, cap, "%s: only maps can be maps of scalars", e->key);
        return -EINVAL;
    }
    if (e->def != NULL && (e->type == ER_SCHEMA_STRLIST || e->type == ER_SCHEMA_MAP))
        return check_tree_default(e, err, cap);
    if (e->def != NULL) {
        if (!takes_scalar(e->type)) {
            snprintf(err, cap, "%s: this type takes no default", e->key);
            return -EINVAL;
        }
        rc = parse_value(e, e->def, strlen(e->def), &v);
        if (rc == 0 && (e->type == ER_SCHEMA_STRING || e->type == ER_SCHEMA_PATH))
            free(v.str);
        if (rc != 0) {
            snprintf(err, cap, "%s: default \"%s\" does not parse (%s)", e->key, e->def,
                     strerror(-rc));
            return -EINVAL;
        }
    }
    if ((e->flags & ER_SCHEMA_REQUIRED) && e->def != NULL) {
        snprintf(err, cap, "%s: required and with a default", e->key);
        return -EINVAL;
    }
    return 0;
}

int er__schema_check(const er_schema_t *s, char *err, size_t cap)
{
    size_t i;
    int rc;

    for (i = 0; i < s->count; i++)
        if ((rc = check_entry(s, &s->entries[i], err, cap)) != 0)
            return rc;
    return 0;
}

/* ============================================================ help text */

static const char *type_name(er_schema_type_t t)
{
    static const char *const names[] = {
        [ER_SCHEMA_STRING] = "string",
        [ER_SCHEMA_PATH] = "path",
        [ER_SCHEMA_BOOL] = "bool",
        [ER_SCHEMA_INT] = "integer",
        [ER_SCHEMA_UINT] = "integer",
        [ER_SCHEMA_DURATION] = "duration",
        [ER_SCHEMA_SIZE] = "size",
        [ER_SCHEMA_MODE] = "file mode",
        [ER_SCHEMA_ENUM] = "enum",
        [ER_SCHEMA_STRLIST] = "list of strings",
        [ER_SCHEMA_SECTION] = "section",
        [ER_SCHEMA_MAP] = "map",
        [ER_SCHEMA_REFUSED] = "not supported in this version",
        [ER_SCHEMA_DOUBLE] = "number",
        [ER_SCHEMA_CUSTOM] = "see the manual",
    };
    return (size_t)t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

static int help_table(const er_schema_t *s, const char *prefix, FILE *f)
{
    char path[PATH_MAX_TEXT], bounds[96], exp[160];
    size_t i;

    for (i = 0; i < s->count; i++) {
        const er_schema_entry_t *e = &s->entries[i];
        int n;

        key_path(prefix, e->key, strlen(e->key), path, sizeof(path));
        n = fprintf(f, "%s (%s", path, type_name(e->type));
        if (e->type == ER_SCHEMA_ENUM)
            n = fprintf(f, ": %s", expected_text(e, exp, sizeof(exp)) + strlen("one of "));
        if (e->flags & ER_SCHEMA_REQUIRED)
            n = fprintf(f, ", required");
        if (e->flags & ER_SCHEMA_SECRET)
            n = fprintf(f, ", secret: or %s%s: FILE", e->key, SECRET_SUFFIX);
        if (e->def != NULL)
            n = fprintf(f, ", default %s", e->def);
        if ((e->flags & ER_SCHEMA_OFF) && (e->def == NULL || strcmp(e->def, "off") != 0))
            n = fprintf(f, ", or off");
        if (e->type == ER_SCHEMA_STRING || e->type == ER_SCHEMA_PATH) {
            bounds_text(e, bounds, sizeof(bounds));
            if (bounds[0] != '\0')
                n = fprintf(f, ", %s bytes", bounds);
        } else if (e->type == ER_SCHEMA_STRLIST) {
            bounds_text(e, bounds, sizeof(bounds));
            if (bounds[0] != '\0')
                n = fprintf(f, ", %s items", bounds);
        } else if (takes_scalar(e->type)) {
            bounds_text(e, bounds, sizeof(bounds));
            if (bounds[0] != '\0')
                n = fprintf(f, ", %s", bounds);
        }
        if (n < 0 || fprintf(f, ")\n    %s\n", e->desc != NULL ? e->desc : "") < 0)
            return -EIO;
        if (e->type == ER_SCHEMA_SECTION && help_table(e->section, path, f) != 0)
            return -EIO;
    }
    return 0;
}

int er__schema_help(const er_schema_t *s, FILE *f)
{
    if (help_table(s, NULL, f) != 0)
        return -EIO;
    return fflush(f) == 0 ? 0 : -EIO;
}

/* =================================================================== dump */

/* A YAML double-quoted scalar that loads back to exactly s: escapes, and
 * "$$" for "$" because values are expanded at load. */
static void dump_quoted(FILE *f, const char *s, bool is_value)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else if (c == '$' && is_value)
            fputs("$$", f);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void er__schema_write_quoted(FILE *f, const char *s, bool is_value)
{
    dump_quoted(f, s, is_value);
}

/* Keys of pass-through maps whose values are never printed. */
static bool looks_secret(const char *key)
{
    static const char *const words[] = {"password", "passwd", "secret", "token", "credential"};
    size_t i, j, n = strlen(key);

    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        size_t w = strlen(words[i]);
        for (j = 0; j + w <= n; j++)
            if (strncasecmp(key + j, words[i], w) == 0)
                return true;
    }
    return false;
}

bool er__schema_secret_key(const char *key)
{
    return looks_secret(key);
}

/* Write n after its "key:" or "-": a scalar on the same line, a map or a
 * list on the next lines, indented. */
static void dump_node(FILE *f, const er_conf_node_t *n, unsigned indent, bool redact)
{
    size_t i;

    switch (n->kind) {
    case ER_CONF_SCALAR:
        fputc(' ', f);
        if (redact)
            fputs("\"" REDACTED "\"", f);
        else
            dump_quoted(f, n->text, true);
        fputc('\n', f);
        break;
    case ER_CONF_MAP:
        fputs(n->count == 0 ? " {}\n" : "\n", f);
        for (i = 0; i < n->count; i++) {
            const er_conf_pair_t *p = &n->pairs[i];
            fprintf(f, "%*s", (int)indent, "");
            dump_quoted(f, p->key->text, false);
            fputc(':', f);
            dump_node(f, p->value, indent + 2, redact || looks_secret(p->key->text));
        }
        break;
    case ER_CONF_SEQ:
        fputs(n->count == 0 ? " []\n" : "\n", f);
        for (i = 0; i < n->count; i++) {
            fprintf(f, "%*s-", (int)indent, "");
            dump_node(f, n->items[i], indent + 2, redact);
        }
        break;
    }
}

static void dump_table(const er_schema_t *s, const void *target, unsigned indent, FILE *f)
{
    char buf[64];
    size_t i, j;

    for (i = 0; i < s->count; i++) {
        const er_schema_entry_t *e = &s->entries[i];
        const char *str;
        uint64_t u;

        if (e->type == ER_SCHEMA_REFUSED || e->type == ER_SCHEMA_CUSTOM)
            continue;
        fprintf(f, "%*s", (int)indent, "");
        switch (e->type) {
        case ER_SCHEMA_STRING:
        case ER_SCHEMA_PATH:
            str = *CFIELD(target, e, char *);
            if (str == NULL) {
                fprintf(f, "# %s: not set\n", e->key);
            } else if (e->flags & ER_SCHEMA_SECRET) {
                fprintf(f, "%s: \"" REDACTED "\"\n", e->key);
            } else {
                fprintf(f, "%s: ", e->key);
                dump_quoted(f, str, true);
                fputc('\n', f);
            }
            break;
        case ER_SCHEMA_BOOL:
            fprintf(f, "%s: %s\n", e->key, *CFIELD(target, e, bool) ? "true" : "false");
            break;
        case ER_SCHEMA_INT:
            fprintf(f, "%s: %" PRId64 "\n", e->key, *CFIELD(target, e, int64_t));
            break;
        case ER_SCHEMA_UINT:
        case ER_SCHEMA_DURATION:
        case ER_SCHEMA_SIZE:
            u = *CFIELD(target, e, uint64_t);
            if (u == 0 && (e->flags & ER_SCHEMA_OFF))
                snprintf(buf, sizeof(buf), "off");
            else if (e->type == ER_SCHEMA_DURATION)
                er__format_duration(u, buf, sizeof(buf));
            else if (e->type == ER_SCHEMA_SIZE)
                er__format_size(u, buf, sizeof(buf));
            else
                snprintf(buf, sizeof(buf), "%" PRIu64, u);
            fprintf(f, "%s: %s\n", e->key, buf);
            break;
        case ER_SCHEMA_DOUBLE: {
            char dbuf[ER_DOUBLE_TEXT_MAX];
            er__format_double(*CFIELD(target, e, double), dbuf, sizeof(dbuf));
            fprintf(f, "%s: %s\n", e->key, dbuf);
            break;
        }
        case ER_SCHEMA_MODE:
            fprintf(f, "%s: \"%04o\"\n", e->key, *CFIELD(target, e, unsigned));
            break;
        case ER_SCHEMA_ENUM:
            str = NULL;
            for (j = 0; e->choices[j] != NULL && str == NULL; j++)
                if (enum_value_of(e, j) == *CFIELD(target, e, int))
                    str = e->choices[j];
            if (str != NULL)
                fprintf(f, "%s: %s\n", e->key, str);
            else
                fprintf(f, "# %s: not set\n", e->key);
            break;
        case ER_SCHEMA_STRLIST: {
            const er_strlist_t *l = CFIELD(target, e, er_strlist_t);
            fprintf(f, "%s: [", e->key);
            for (j = 0; j < l->count; j++) {
                if (j > 0)
                    fputs(", ", f);
                dump_quoted(f, l->items[j], true);
            }
            fputs("]\n", f);
            break;
        }
        case ER_SCHEMA_SECTION:
            fprintf(f, "%s:\n", e->key);
            dump_table(e->section, CFIELD(target, e, char), indent + 2, f);
            break;
        case ER_SCHEMA_MAP: {
            const er_conf_tree_t *t = *CFIELD(target, e, er_conf_tree_t *);
            if (t == NULL || t->root == NULL) {
                fprintf(f, "%s: {}\n", e->key);
            } else {
                fprintf(f, "%s:", e->key);
                dump_node(f, t->root, indent + 2, false);
            }
            break;
        }
        case ER_SCHEMA_REFUSED:
        case ER_SCHEMA_CUSTOM:
            break;
        }
    }
}

int er__schema_dump(const er_schema_t *s, const void *target, FILE *f)
{
    return er__schema_dump_indent(s, target, 0, f);
}

int er__schema_dump_indent(const er_schema_t *s, const void *target, unsigned indent, FILE *f)
{
    dump_table(s, target, indent, f);
    return ferror(f) || fflush(f) != 0 ? -EIO : 0;
}
