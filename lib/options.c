/*
 * A plugin instance's validated options (options.h). The plugin's
 * er_option_t table is compiled into a schema table (lib/schema.h) whose
 * target is an array of one slot per option, so a plugin's options are
 * typed from raw text, bounded, defaulted, read from KEY_file and reported
 * with file:line:column exactly like the daemon's own keys. The host's keys
 * of a block become CUSTOM entries: skipped here, yet still offered by
 * "did you mean". Nothing here is on a hot path: options are built when the
 * configuration loads and read when an instance is created.
 */
#include "options.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "schema.h"

#define SECRET_SUFFIX "_file"
#define REDACTED      "<redacted>"
#define KEY_MAX       64 /* longest option key */

/* One option's value, where the compiled schema stores it. */
typedef struct slot_s {
    union {
        char *str;           /* STRING, PATH */
        bool b;              /* BOOL */
        int64_t i;           /* INT */
        uint64_t u;          /* UINT, DURATION (ms), SIZE (bytes) */
        int en;              /* ENUM: index into the choices */
        er_strlist_t list;   /* LIST */
        er_conf_tree_t *map; /* MAP (NULL: empty) */
    } v;
    bool set; /* given, or defaulted */
} slot_t;

struct er_options_s {
    const er_option_t *table;   /* the plugin's, borrowed for our lifetime */
    size_t count;               /* options in table */
    er_schema_entry_t *entries; /* count options, then the host keys while building */
    size_t nentries;            /* count + host keys while building, then count */
    char **choice_text;         /* per option: its choices, split in place (ENUM) */
    const char ***choices;      /* per option: NULL-terminated words (ENUM) */
    slot_t *slots;              /* per option */
};

/* ============================================================ compiling */

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* Split "a|b|c" into words; every word non-empty and distinct. */
static int split_choices(const er_option_t *opt, char **text, const char ***words, char *err,
                         size_t cap)
{
    size_t n = 1, i, j;
    const char *c;
    char *p;

    if (opt->choices == NULL || opt->choices[0] == '\0') {
        snprintf(err, cap, "%s: an enum needs choices (\"a|b|c\")", opt->key);
        return -EINVAL;
    }
    for (c = opt->choices; *c != '\0'; c++)
        n += *c == '|';
    if ((*text = strdup(opt->choices)) == NULL || (*words = calloc(n + 1, sizeof(**words))) == NULL)
        return -ENOMEM;
    for (i = 0, p = *text; i < n; i++) {
        (*words)[i] = p;
        p += strcspn(p, "|");
        if (*p == '|')
            *p++ = '\0';
        if ((*words)[i][0] == '\0') {
            snprintf(err, cap, "%s: empty word in choices \"%s\"", opt->key, opt->choices);
            return -EINVAL;
        }
        for (j = 0; j < i; j++) {
            if (strcmp((*words)[j], (*words)[i]) == 0) {
                snprintf(err, cap, "%s: choice \"%s\" listed twice", opt->key, (*words)[i]);
                return -EINVAL;
            }
        }
    }
    return 0;
}

/* What the plugin ABI's types become in a schema entry. */
static const er_schema_type_t schema_type[] = {
    [ER_OPTION_STRING] = ER_SCHEMA_STRING, [ER_OPTION_PATH] = ER_SCHEMA_PATH,
    [ER_OPTION_BOOL] = ER_SCHEMA_BOOL,     [ER_OPTION_INT] = ER_SCHEMA_INT,
    [ER_OPTION_UINT] = ER_SCHEMA_UINT,     [ER_OPTION_DURATION] = ER_SCHEMA_DURATION,
    [ER_OPTION_SIZE] = ER_SCHEMA_SIZE,     [ER_OPTION_ENUM] = ER_SCHEMA_ENUM,
    [ER_OPTION_LIST] = ER_SCHEMA_STRLIST,  [ER_OPTION_MAP] = ER_SCHEMA_MAP,
};

static bool known_type(er_option_type_t t)
{
    return t >= ER_OPTION_STRING && t <= ER_OPTION_MAP;
}

/* Does the type read min/max (as a count or length for strings and lists)? */
static bool takes_bounds(er_option_type_t t)
{
    return t != ER_OPTION_BOOL && t != ER_OPTION_ENUM && t != ER_OPTION_MAP;
}

/* Checks of one option the schema cannot make (it never sees the ABI's
 * own fields). */
static int check_option(const er_option_t *opt, char *err, size_t cap)
{
    size_t i, len;

    if (opt->key == NULL || opt->key[0] == '\0') {
        snprintf(err, cap, "an option has no key");
        return -EINVAL;
    }
    len = strlen(opt->key);
    for (i = 0; i < len; i++)
        if (!key_char(opt->key[i]))
            break;
    if (len > KEY_MAX || i < len) {
        snprintf(err, cap, "%.*s: a key is 1 to %d of A-Z a-z 0-9 _ -", KEY_MAX, opt->key, KEY_MAX);
        return -EINVAL;
    }
    if (!known_type(opt->type)) {
        snprintf(err, cap, "%s: unknown type %d", opt->key, (int)opt->type);
        return -EINVAL;
    }
    if (opt->flags & ~(unsigned)(ER_OPTION_REQUIRED | ER_OPTION_SECRET)) {
        snprintf(err, cap, "%s: unknown flags 0x%x", opt->key, opt->flags);
        return -EINVAL;
    }
    if (opt->choices != NULL && opt->type != ER_OPTION_ENUM) {
        snprintf(err, cap, "%s: choices on an option that is not an enum", opt->key);
        return -EINVAL;
    }
    if (opt->min < opt->max && !takes_bounds(opt->type)) {
        snprintf(err, cap, "%s: bounds on an option of a type that has none", opt->key);
        return -EINVAL;
    }
    if (opt->min < opt->max && opt->type != ER_OPTION_INT && opt->min < 0) {
        snprintf(err, cap, "%s: negative bound on an unsigned quantity", opt->key);
        return -EINVAL;
    }
    return 0;
}

static void compile_entry(const er_option_t *opt, size_t i, const char *const *words,
                          er_schema_entry_t *e)
{
    bool bounded = opt->min < opt->max;

    e->key = opt->key;
    e->type = schema_type[opt->type];
    e->def = opt->def;
    e->desc = opt->description;
    e->choices = words;
    e->offset = i * sizeof(slot_t) + offsetof(slot_t, v);
    if (opt->flags & ER_OPTION_REQUIRED)
        e->flags |= ER_SCHEMA_REQUIRED;
    if (opt->flags & ER_OPTION_SECRET)
        e->flags |= ER_SCHEMA_SECRET;
    if (opt->type == ER_OPTION_STRING)
        e->flags |= ER_SCHEMA_EMPTY; /* "" is a string; `key:` alone is still nothing */
    if (opt->type == ER_OPTION_MAP)
        e->flags |= ER_SCHEMA_SCALARS;
    if (opt->type == ER_OPTION_INT && bounded) {
        e->imin = opt->min;
        e->imax = opt->max;
    } else if (bounded) {
        e->min = (uint64_t)opt->min;
        e->max = (uint64_t)opt->max;
    }
}

void er__options_free(er_options_t *o)
{
    er_schema_t s;
    size_t i;

    if (o == NULL)
        return;
    if (o->slots != NULL) {
        s = (er_schema_t){o->entries, o->count};
        er__schema_free(&s, o->slots);
    }
    for (i = 0; o->choice_text != NULL && i < o->count; i++) {
        free(o->choice_text[i]);
        free(o->choices[i]);
    }
    free(o->choice_text);
    free(o->choices);
    free(o->entries);
    free(o->slots);
    free(o);
}

/*
 * Compile table (NULL: no options) into *out, with host_keys (NULL-
 * terminated, may be NULL) as CUSTOM entries after the options. Returns 0,
 * -EINVAL with the reason in err, or -ENOMEM.
 */
static int compile(const er_option_t *table, const char *const *host_keys, er_options_t **out,
                   char *err, size_t cap)
{
    er_options_t *o;
    size_t i, j, nhost = 0;
    int rc = -ENOMEM;

    *out = NULL;
    if ((o = calloc(1, sizeof(*o))) == NULL)
        return -ENOMEM;
    o->table = table;
    while (table != NULL && table[o->count].key != NULL)
        o->count++;
    while (host_keys != NULL && host_keys[nhost] != NULL)
        nhost++;
    o->nentries = o->count + nhost;
    if ((o->entries = calloc(o->nentries + 1, sizeof(*o->entries))) == NULL ||
        (o->slots = calloc(o->count + 1, sizeof(*o->slots))) == NULL ||
        (o->choice_text = calloc(o->count + 1, sizeof(*o->choice_text))) == NULL ||
        (o->choices = calloc(o->count + 1, sizeof(*o->choices))) == NULL)
        goto fail;
    for (i = 0; i < o->count; i++) {
        const er_option_t *opt = &table[i];
        if ((rc = check_option(opt, err, cap)) != 0)
            goto fail;
        if (opt->type == ER_OPTION_ENUM &&
            (rc = split_choices(opt, &o->choice_text[i], &o->choices[i], err, cap)) != 0)
            goto fail;
        compile_entry(opt, i, o->choices[i], &o->entries[i]);
        for (j = 0; j < nhost; j++) {
            if (strcmp(opt->key, host_keys[j]) == 0) {
                snprintf(err, cap, "%s: clashes with the host's key of that name", opt->key);
                rc = -EINVAL;
                goto fail;
            }
        }
    }
    for (j = 0; j < nhost; j++) {
        er_schema_entry_t *e = &o->entries[o->count + j];
        e->key = host_keys[j];
        e->type = ER_SCHEMA_CUSTOM;
        e->desc = "the host's key";
    }
    *out = o;
    return 0;

fail:
    if (rc == -ENOMEM)
        snprintf(err, cap, "%s", strerror(ENOMEM));
    er__options_free(o);
    return rc;
}

int er__options_check_table(const er_option_t *table, char *err, size_t cap)
{
    er_options_t *o;
    er_schema_t s;
    int rc;

    if ((rc = compile(table, NULL, &o, err, cap)) != 0)
        return rc;
    s = (er_schema_t){o->entries, o->count};
    rc = er__schema_check(&s, err, cap);
    er__options_free(o);
    return rc;
}

/* ============================================================= building */

/* Did the block give option opt (as KEY, or KEY_file for a secret)? */
static bool given(const er_conf_node_t *block, const er_option_t *opt)
{
    char key[KEY_MAX + sizeof(SECRET_SUFFIX)];

    if (er__conf_map_find(block, opt->key) != NULL)
        return true;
    if (!(opt->flags & ER_OPTION_SECRET))
        return false;
    snprintf(key, sizeof(key), "%s%s", opt->key, SECRET_SUFFIX);
    return er__conf_map_find(block, key) != NULL;
}

int er__options_build(const er_option_t *table, const er_conf_node_t *block,
                      const char *const *host_keys, const char *where, er_options_t **out,
                      er_diag_t *diag)
{
    er_conf_pos_t pos = {NULL, 0, 0};
    er_options_t *o = NULL;
    er_schema_t s;
    char err[256];
    size_t i;
    int rc;

    *out = NULL;
    if (block != NULL)
        pos = block->pos;
    rc = compile(table, host_keys, &o, err, sizeof(err));
    if (rc == 0) {
        s = (er_schema_t){o->entries, o->count};
        rc = er__schema_check(&s, err, sizeof(err));
    }
    if (rc == -ENOMEM) {
        er__options_free(o);
        return -ENOMEM;
    }
    if (rc != 0) {
        er__options_free(o);
        er__diag_add(diag, &pos, "%s: the plugin's option table is invalid: %s",
                     where != NULL ? where : "options", err);
        return diag->nomem ? -ENOMEM : -EINVAL;
    }
    s = (er_schema_t){o->entries, o->nentries};
    rc = er__schema_apply_node(&s, block, &pos, where, o->slots, diag);
    if (rc != 0) {
        er__options_free(o);
        return rc;
    }
    for (i = 0; i < o->count; i++)
        o->slots[i].set = o->table[i].def != NULL || given(block, &o->table[i]);
    o->nentries = o->count; /* the host's keys were borrowed until return */
    *out = o;
    return 0;
}

/* ============================================================== getters */

/* The slot of key, or -ENOENT; -EINVAL when its type is none of a, b, c. */
static int lookup(const er_options_t *o, const char *key, er_option_type_t a, er_option_type_t b,
                  er_option_type_t c, const slot_t **slot, size_t *index)
{
    size_t i;

    if (o == NULL || key == NULL)
        return -ENOENT;
    for (i = 0; i < o->count; i++) {
        const er_option_t *opt = &o->table[i];
        if (strcmp(opt->key, key) != 0)
            continue;
        if (opt->type != a && opt->type != b && opt->type != c)
            return -EINVAL;
        *slot = &o->slots[i];
        if (index != NULL)
            *index = i;
        return (*slot)->set ? 0 : -ENODATA;
    }
    return -ENOENT;
}

int er__opt_string(const er_options_t *o, const char *key, const char **out)
{
    const slot_t *s;
    size_t i;
    int rc = lookup(o, key, ER_OPTION_STRING, ER_OPTION_PATH, ER_OPTION_ENUM, &s, &i);

    *out = NULL;
    if (rc == 0)
        *out = o->table[i].type == ER_OPTION_ENUM ? o->choices[i][s->v.en] : s->v.str;
    return rc;
}

int er__opt_int(const er_options_t *o, const char *key, int64_t *out)
{
    const slot_t *s;
    int rc = lookup(o, key, ER_OPTION_INT, ER_OPTION_INT, ER_OPTION_INT, &s, NULL);

    *out = rc == 0 ? s->v.i : 0;
    return rc;
}

int er__opt_uint(const er_options_t *o, const char *key, uint64_t *out)
{
    const slot_t *s;
    int rc = lookup(o, key, ER_OPTION_UINT, ER_OPTION_DURATION, ER_OPTION_SIZE, &s, NULL);

    *out = rc == 0 ? s->v.u : 0;
    return rc;
}

int er__opt_bool(const er_options_t *o, const char *key, bool *out)
{
    const slot_t *s;
    int rc = lookup(o, key, ER_OPTION_BOOL, ER_OPTION_BOOL, ER_OPTION_BOOL, &s, NULL);

    *out = rc == 0 ? s->v.b : false;
    return rc;
}

int er__opt_list(const er_options_t *o, const char *key, size_t i, const char **out)
{
    const slot_t *s;
    int rc = lookup(o, key, ER_OPTION_LIST, ER_OPTION_LIST, ER_OPTION_LIST, &s, NULL);

    *out = NULL;
    if (rc != 0)
        return rc;
    if (i >= s->v.list.count)
        return -ERANGE;
    *out = s->v.list.items[i];
    return 0;
}

int er__opt_map_next(const er_options_t *o, const char *key, size_t *pos, const char **k,
                     const char **v)
{
    const er_conf_node_t *map;
    const slot_t *s;
    int rc = lookup(o, key, ER_OPTION_MAP, ER_OPTION_MAP, ER_OPTION_MAP, &s, NULL);

    *k = NULL;
    *v = NULL;
    if (rc != 0)
        return rc;
    map = s->v.map != NULL ? s->v.map->root : NULL;
    if (*pos >= er__conf_count(map))
        return 0;
    *k = map->pairs[*pos].key->text;
    *v = map->pairs[*pos].value->text;
    (*pos)++;
    return 1;
}

/* ============================================================ comparing */

/* Flat maps of scalars, in any order. */
static bool maps_equal(const er_conf_tree_t *a, const er_conf_tree_t *b)
{
    const er_conf_node_t *ma = a != NULL ? a->root : NULL, *mb = b != NULL ? b->root : NULL;
    size_t i;

    if (er__conf_count(ma) != er__conf_count(mb))
        return false;
    for (i = 0; i < er__conf_count(ma); i++) {
        const er_conf_node_t *other = er__conf_map_get(mb, ma->pairs[i].key->text);
        if (other == NULL || strcmp(other->text, ma->pairs[i].value->text) != 0)
            return false;
    }
    return true;
}

/* Option i of a and b (same key and type). */
static bool slots_equal(const er_options_t *oa, const er_options_t *ob, size_t i)
{
    const slot_t *a = &oa->slots[i], *b = &ob->slots[i];
    size_t k;

    if (a->set != b->set)
        return false;
    if (!a->set)
        return true;
    switch (oa->table[i].type) {
    case ER_OPTION_STRING:
    case ER_OPTION_PATH:
        return strcmp(a->v.str, b->v.str) == 0;
    case ER_OPTION_BOOL:
        return a->v.b == b->v.b;
    case ER_OPTION_INT:
        return a->v.i == b->v.i;
    case ER_OPTION_UINT:
    case ER_OPTION_DURATION:
    case ER_OPTION_SIZE:
        return a->v.u == b->v.u;
    case ER_OPTION_ENUM: /* by word: a reloaded plugin may order its choices anew */
        return strcmp(oa->choices[i][a->v.en], ob->choices[i][b->v.en]) == 0;
    case ER_OPTION_LIST:
        if (a->v.list.count != b->v.list.count)
            return false;
        for (k = 0; k < a->v.list.count; k++)
            if (strcmp(a->v.list.items[k], b->v.list.items[k]) != 0)
                return false;
        return true;
    case ER_OPTION_MAP:
        return maps_equal(a->v.map, b->v.map);
    }
    return false;
}

bool er__options_equal(const er_options_t *a, const er_options_t *b)
{
    size_t i;

    if (a == NULL || b == NULL)
        return a == b;
    if (a->count != b->count)
        return false;
    for (i = 0; i < a->count; i++) {
        const er_option_t *oa = &a->table[i], *ob = &b->table[i];
        if (strcmp(oa->key, ob->key) != 0 || oa->type != ob->type || !slots_equal(a, b, i))
            return false;
    }
    return true;
}

/* ============================================================== output */

/* Option i as a JSON value (new reference; NULL on ENOMEM), secrets and
 * secret-looking map values redacted when `redact`. Durations and sizes
 * are their canonical text ("30s", "64KiB"), as a file would give them. */
static json_t *value_json(const er_options_t *o, size_t i, bool redact)
{
    const er_option_t *opt = &o->table[i];
    const slot_t *s = &o->slots[i];
    const er_conf_node_t *map;
    char buf[64];
    json_t *j;
    size_t k;

    if (redact && (opt->flags & ER_OPTION_SECRET))
        return json_string(REDACTED);
    switch (opt->type) {
    case ER_OPTION_STRING:
    case ER_OPTION_PATH:
        return json_string(s->v.str);
    case ER_OPTION_BOOL:
        return json_boolean(s->v.b);
    case ER_OPTION_INT:
        return json_integer((json_int_t)s->v.i);
    case ER_OPTION_UINT:
        if (s->v.u <= (uint64_t)INT64_MAX)
            return json_integer((json_int_t)s->v.u);
        snprintf(buf, sizeof(buf), "%" PRIu64, s->v.u);
        return json_string(buf);
    case ER_OPTION_DURATION:
        er__format_duration(s->v.u, buf, sizeof(buf));
        return json_string(buf);
    case ER_OPTION_SIZE:
        er__format_size(s->v.u, buf, sizeof(buf));
        return json_string(buf);
    case ER_OPTION_ENUM:
        return json_string(o->choices[i][s->v.en]);
    case ER_OPTION_LIST:
        if ((j = json_array()) == NULL)
            return NULL;
        for (k = 0; k < s->v.list.count; k++)
            if (json_array_append_new(j, json_string(s->v.list.items[k])) != 0)
                goto nomem;
        return j;
    case ER_OPTION_MAP:
        if ((j = json_object()) == NULL)
            return NULL;
        map = s->v.map != NULL ? s->v.map->root : NULL;
        for (k = 0; k < er__conf_count(map); k++) {
            const char *key = map->pairs[k].key->text;
            const char *val =
                redact && er__schema_secret_key(key) ? REDACTED : map->pairs[k].value->text;
            if (json_object_set_new(j, key, json_string(val)) != 0)
                goto nomem;
        }
        return j;
    }
    return json_null();

nomem:
    json_decref(j);
    return NULL;
}

void er__options_dump(const er_options_t *o, FILE *f)
{
    const char *sep = "";
    size_t i;

    for (i = 0; o != NULL && i < o->count; i++) {
        json_t *key, *val;
        char *k = NULL, *v = NULL;

        if (!o->slots[i].set)
            continue;
        key = json_string(o->table[i].key);
        val = value_json(o, i, true);
        if (key != NULL && val != NULL) {
            k = json_dumps(key, JSON_ENCODE_ANY | JSON_COMPACT);
            v = json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS);
        }
        if (k != NULL && v != NULL) {
            fprintf(f, "%s%s: %s", sep, k, v);
            sep = ", ";
        }
        free(k);
        free(v);
        json_decref(key);
        json_decref(val);
    }
}

int er__options_dump_yaml(const er_options_t *o, unsigned indent, FILE *f)
{
    size_t i;

    for (i = 0; o != NULL && i < o->count; i++) {
        er_schema_t one = {&o->entries[i], 1};
        if (!o->slots[i].set)
            fprintf(f, "%*s# %s: not set\n", (int)indent, "", o->table[i].key);
        else if (er__schema_dump_indent(&one, o->slots, indent, f) != 0)
            return -EIO;
    }
    return ferror(f) || fflush(f) != 0 ? -EIO : 0;
}

char *er__options_canonical(const er_options_t *o)
{
    json_t *all = json_array();
    char *text = NULL;
    size_t i;

    if (all == NULL)
        return NULL;
    /* An array of [key, value] pairs keeps the table's order; unset
     * options are [key] alone, so "unset" and any value differ. */
    for (i = 0; o != NULL && i < o->count; i++) {
        json_t *pair = json_pack("[s]", o->table[i].key);
        if (pair == NULL || json_array_append_new(all, pair) != 0)
            goto out;
        if (o->slots[i].set && json_array_append_new(pair, value_json(o, i, false)) != 0)
            goto out;
    }
    text = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
out:
    json_decref(all);
    return text;
}

void er__options_help(const er_option_t *table, FILE *f)
{
    er_options_t *o;
    er_schema_t s;
    char err[256];

    if (table == NULL || table[0].key == NULL) {
        fputs("(no options)\n", f);
        return;
    }
    if (compile(table, NULL, &o, err, sizeof(err)) != 0) {
        fprintf(f, "(the option table is invalid: %s)\n", err);
        return;
    }
    s = (er_schema_t){o->entries, o->count};
    er__schema_help(&s, f);
    er__options_free(o);
}
