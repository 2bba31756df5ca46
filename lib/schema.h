/*
 * Schema tables (STYLE 8): every component — the daemon's own sections now,
 * each plugin's options later — declares its keys as a constant table of
 * er_schema_entry_t (key, type, default, bounds, flags, description, and
 * where the value goes in the component's struct). er__schema_apply walks a
 * conftree map with a table, types every scalar from its raw text (never
 * from YAML 1.1 resolution: `0660` is a mode, `on` a string where a string
 * is wanted — DESIGN §12), fills the struct, and reports every problem with
 * the offending node's file:line:column. No option name is ever matched by
 * an if/else chain: the table is the only list.
 *
 * The same table prints itself as help text (er__schema_help, for
 * `eventrouterd --help-plugin`) and dumps a filled struct back as YAML with
 * secrets redacted (er__schema_dump, for the `config` admin command).
 *
 * Typing rules (also in eventrouter.yaml(5)):
 *  - bool: true/false, yes/no, on/off (lower case) only.
 *  - integer: decimal digits, no leading zeros, `-` for signed entries.
 *  - duration: one or more NUMBER UNIT groups, units from largest to
 *    smallest: d (days), h, m, s, ms, e.g. 100ms, 30s, 1h30m. A bare number
 *    is refused (100 could mean seconds or milliseconds), except 0. `off`
 *    (= 0) where the entry has ER_SCHEMA_OFF. Stored in milliseconds.
 *  - size: NUMBER with an optional unit: B (or none), KiB, MiB, GiB, TiB
 *    (powers of 1024), KB, MB, GB, TB (powers of 1000). `off` (= 0) where
 *    the entry has ER_SCHEMA_OFF. Stored in bytes.
 *  - file mode: octal digits, with or without a leading 0, quoted or not:
 *    0660, "0660" and 660 all mean rw-rw----. At most 07777.
 *  - number (double): decimal digits with an optional fraction and sign,
 *    no exponent, no leading zeros: 2, 1.5, 0.25, -3.
 *  - Quoting never changes how a typed key reads its text; a plain empty
 *    value (`key:` with nothing) is "nothing" and refused for scalar types,
 *    while for a section, list or map it means empty.
 */
#ifndef ER_SCHEMA_H
#define ER_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conftree.h"

/* What a key holds, and the C type stored at its offset. */
typedef enum er_schema_type_e {
    ER_SCHEMA_STRING = 0, /* char *, new string (freed by er__schema_free) */
    ER_SCHEMA_PATH,       /* char *, a non-empty file system path */
    ER_SCHEMA_BOOL,       /* bool */
    ER_SCHEMA_INT,        /* int64_t, bounds imin..imax */
    ER_SCHEMA_UINT,       /* uint64_t, bounds min..max */
    ER_SCHEMA_DURATION,   /* uint64_t milliseconds, bounds min..max in ms */
    ER_SCHEMA_SIZE,       /* uint64_t bytes, bounds min..max in bytes */
    ER_SCHEMA_MODE,       /* unsigned (permission bits), bounds min..max */
    ER_SCHEMA_ENUM,       /* int: enum_value(word), or the word's index */
    ER_SCHEMA_STRLIST,    /* er_strlist_t; min..max bound the item count */
    ER_SCHEMA_SECTION,    /* a nested struct at offset, filled by `section` */
    ER_SCHEMA_MAP,        /* er_conf_tree_t *: a pass-through map (a copy) */
    ER_SCHEMA_REFUSED,    /* a known key whose feature is not built yet */
    ER_SCHEMA_DOUBLE,     /* double, bounds dmin..dmax */
    ER_SCHEMA_CUSTOM,     /* a known key the caller types itself: accepted as
                           * it is (any node), never stored, defaulted, dumped
                           * or freed here; it still counts for "did you mean" */
} er_schema_type_t;

enum er_schema_flag {
    /* The key must be given (a section: must be present). */
    ER_SCHEMA_REQUIRED = 1u << 0,
    /* String or path never printed (dump shows "<redacted>"); instead of
     * KEY the file may give KEY_file: PATH, the value then being that
     * file's content without its trailing newline. */
    ER_SCHEMA_SECRET = 1u << 1,
    /* Duration, size or unsigned: the word `off` is accepted, stored as 0. */
    ER_SCHEMA_OFF = 1u << 2,
    /* String: the empty string "" is accepted. */
    ER_SCHEMA_EMPTY = 1u << 3,
    /* Map: every value must be a scalar (a flat map of strings, as a
     * plugin's pass-through `properties:`), reported at the value. */
    ER_SCHEMA_SCALARS = 1u << 4,
};

typedef struct er_schema_s er_schema_t;

/*
 * One key. Unused fields stay zero. Bounds: for unsigned kinds (UINT,
 * DURATION, SIZE, MODE) the value must be >= min and, when max != 0,
 * <= max; for STRING and PATH the same bounds apply to the length in bytes
 * and for STRLIST to the number of items. For INT, imin..imax apply when
 * imin < imax; for DOUBLE, dmin..dmax (inclusive) when dmin < dmax. `off`
 * (ER_SCHEMA_OFF) is exempt from the bounds.
 *
 * A default is file text, typed by the same code as a given value; for
 * STRLIST and MAP it is YAML flow text ("[a, b]", "{k: v}").
 */
typedef struct er_schema_entry_s {
    const char *key;
    er_schema_type_t type;
    unsigned flags;                      /* enum er_schema_flag */
    const char *def;                     /* default, as file text; NULL: none */
    uint64_t min, max;                   /* see above */
    int64_t imin, imax;                  /* INT */
    double dmin, dmax;                   /* DOUBLE */
    const char *const *choices;          /* ENUM: accepted words, NULL-terminated */
    int (*enum_value)(const char *word); /* ENUM: word → value (< 0: bug); NULL: index */
    const er_schema_t *section;          /* SECTION: the nested table */
    size_t offset;                       /* offsetof(target struct, field) */
    const char *desc;                    /* one line, for help and docs */
} er_schema_entry_t;

/* A table: `count` entries (use ER_SCHEMA_COUNT on a static array). */
struct er_schema_s {
    const er_schema_entry_t *entries;
    size_t count;
};

#define ER_SCHEMA_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* What an ER_SCHEMA_STRLIST stores: `count` new strings. */
typedef struct er_strlist_s {
    char **items;
    size_t count;
} er_strlist_t;

/* ------------------------------------------------------------- applying */

/*
 * Fill target (a zeroed struct of the table's shape; borrowed until
 * return) from tree's root map (tree borrowed until return; NULL or an
 * empty file means all defaults). Every entry is set: given values, else
 * defaults, else zero/NULL. Every problem is added to diag with the
 * offending node's position, and the walk goes on so that all are
 * reported. Returns 0, -EINVAL when errors were added, or -ENOMEM.
 * Whatever the result, free target with er__schema_free.
 */
int er__schema_apply(const er_schema_t *s, const er_conf_tree_t *tree, void *target,
                     er_diag_t *diag);

/*
 * The same on any map node (borrowed until return; NULL = absent, then
 * `where` is the position missing required keys are reported at). `prefix`
 * names the map in messages ("handlers.audit-log"; "" or NULL at the top):
 * every message starts with the dotted path of its key.
 */
int er__schema_apply_node(const er_schema_t *s, const er_conf_node_t *map,
                          const er_conf_pos_t *where, const char *prefix, void *target,
                          er_diag_t *diag);

/* Free everything er__schema_apply stored in target and zero those fields. */
void er__schema_free(const er_schema_t *s, void *target);

/* The entry for key, or NULL. */
const er_schema_entry_t *er__schema_find(const er_schema_t *s, const char *key);

/*
 * Check a table itself (for unit tests of every component): keys unique,
 * non-empty and not ending in "_file" where a secret would claim it, every
 * default parses and is within bounds, enums have choices and map each to
 * a value, sections have a table (checked too). Returns 0 or -EINVAL with a
 * reason in err[cap].
 */
int er__schema_check(const er_schema_t *s, char *err, size_t cap);

/* ------------------------------------------------------- text and output */

/*
 * Print the table as help text, one block per key (nested sections with
 * dotted names): "KEY (TYPE, FLAGS, default D, BOUNDS)" then the
 * description indented. Returns 0 or -EIO.
 */
int er__schema_help(const er_schema_t *s, FILE *f);

/*
 * Write target (filled by er__schema_apply) as YAML that loads back into
 * the same values, every secret as "<redacted>" (and, in pass-through maps,
 * every value whose key mentions password, secret, token or credential).
 * Unset optional values appear as comments. Returns 0 or -EIO.
 */
int er__schema_dump(const er_schema_t *s, const void *target, FILE *f);
/* The same with every line indented by `indent` spaces (a table nested
 * under a key the caller wrote). */
int er__schema_dump_indent(const er_schema_t *s, const void *target, unsigned indent, FILE *f);

/* Write s as a YAML double-quoted scalar that loads back to exactly s:
 * escapes, and "$$" for "$" when is_value (values are expanded at load,
 * keys are not). */
void er__schema_write_quoted(FILE *f, const char *s, bool is_value);

/* Does a pass-through map's key name a secret (password, passwd, secret,
 * token, credential, in any case)? Its value is then never shown. */
bool er__schema_secret_key(const char *key);

/* ------------------------------------------------------------- parsers */

/*
 * The scalar parsers the schema uses, for callers that type text
 * themselves (typed getters over a pass-through map). Each takes a
 * NUL-terminated text (borrowed until return) and returns 0, -EINVAL for
 * text of the wrong form, or -ERANGE on overflow. None accepts `off`.
 */
int er__parse_bool(const char *s, bool *out);
int er__parse_uint(const char *s, uint64_t *out);
int er__parse_int(const char *s, int64_t *out);
int er__parse_duration(const char *s, uint64_t *ms);
int er__parse_size(const char *s, uint64_t *bytes);
int er__parse_mode(const char *s, unsigned *mode);
/* -?DIGITS[.DIGITS], no exponent, no leading zeros; -ERANGE when it does
 * not fit a finite double. */
int er__parse_double(const char *s, double *out);

/*
 * Canonical text for a value, as the parsers read it back: a size in the
 * largest unit that divides it exactly (1MiB, 1536KiB, 3MB, 1000001B), a
 * duration as groups from days down (90000 ms -> 1m30s, 5400000 -> 1h30m);
 * zero is "0". Return snprintf's result.
 */
int er__format_size(uint64_t bytes, char *buf, size_t cap);
int er__format_duration(uint64_t ms, char *buf, size_t cap);
/* The shortest decimal text er__parse_double reads back as d (2, 0.2,
 * 1.5); d must be finite. Any double fits in ER_DOUBLE_TEXT_MAX bytes. */
#define ER_DOUBLE_TEXT_MAX 700
int er__format_double(double d, char *buf, size_t cap);

#endif
