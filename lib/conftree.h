/*
 * The one YAML loader of eventrouter (STYLE 8, DESIGN §5 and §12): it reads a
 * configuration file with libyaml's event parser and builds a tree of
 * scalars, maps and lists in which every node remembers the file, line and
 * column (1-based) it came from, so that every later error can point at it.
 *
 * Scalars keep their text exactly as written (after ${VAR} expansion) and
 * their style; nothing is resolved to a YAML 1.1 type here, because `0660`
 * must stay a file mode and `on` a string where the schema wants one
 * (lib/schema.c types scalars). Refused at load: duplicate keys, aliases and
 * anchors, tags, non-scalar keys, several documents, NUL characters in
 * scalars, files over ER_CONF_MAX_FILE bytes and nesting deeper than
 * ER_CONF_MAX_DEPTH.
 *
 * Errors are collected in an er_diag_t, one "FILE:LINE:COL: message" each.
 * Nothing here has global state; a tree is immutable once loaded.
 */
#ifndef ER_CONFTREE_H
#define ER_CONFTREE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Largest file the loader reads: a bound on memory, not a format limit. */
#define ER_CONF_MAX_FILE (16u << 20)
/* Deepest nesting of maps and lists (the root map is depth 1). */
#define ER_CONF_MAX_DEPTH 64u

/* ------------------------------------------------------------ diagnostics */

/*
 * Where something is: file, 1-based line and column. line == 0 means the
 * whole file (printed "FILE: message"); col == 0 with a line prints
 * "FILE:LINE: message". `file` is borrowed from whatever owns the position
 * (a tree, a caller's string).
 */
typedef struct er_conf_pos_s {
    const char *file;
    unsigned line;
    unsigned col;
} er_conf_pos_t;

/* One collected error; every string owned by the list. */
typedef struct er_diag_item_s {
    char *file;
    unsigned line;
    unsigned col;
    char *msg;
    size_t seq; /* insertion order: keeps er__diag_sort stable */
} er_diag_item_t;

/* At most this many errors are kept; one more line says the rest were cut. */
#define ER_DIAG_MAX 100u

/*
 * A list of errors, filled by the loader, the schema and the config checks.
 * Zero-initialised (or er__diag_init) is empty. An allocation failure while
 * adding is remembered in `nomem` so the caller can return -ENOMEM.
 */
typedef struct er_diag_s {
    er_diag_item_t *items;
    size_t count;
    size_t cap;
    size_t dropped; /* errors not kept past ER_DIAG_MAX */
    bool nomem;
} er_diag_t;

void er__diag_init(er_diag_t *d);
void er__diag_free(er_diag_t *d);

/*
 * Add an error at pos (borrowed until return; NULL = no position, printed
 * as the message alone). Returns -EINVAL (the code a failed load returns),
 * or -ENOMEM when the entry could not be stored (d->nomem is set too), so
 * callers may write `return er__diag_add(...)`.
 */
int er__diag_add(er_diag_t *d, const er_conf_pos_t *pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int er__diag_addv(er_diag_t *d, const er_conf_pos_t *pos, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Total errors seen, kept or not. */
size_t er__diag_count(const er_diag_t *d);

/* Order by file, line, column; equal positions keep their insertion order. */
void er__diag_sort(er_diag_t *d);

/*
 * Format item i as "FILE:LINE:COL: message" into buf (always NUL-terminated,
 * cut to cap). Returns the length the full line needs, like snprintf.
 */
int er__diag_format(const er_diag_t *d, size_t i, char *buf, size_t cap);

/*
 * Write every error as "FILE:LINE:COL: message\n" to f, then, if errors were
 * dropped past ER_DIAG_MAX, "FILE: N more errors not shown\n". This is
 * exactly what `eventrouterd --check-config` prints on stderr. Returns 0 or
 * -EIO.
 */
int er__diag_print(const er_diag_t *d, FILE *f);

/* ------------------------------------------------------------------- tree */

typedef enum er_conf_kind_e {
    ER_CONF_SCALAR = 0,
    ER_CONF_MAP = 1,
    ER_CONF_SEQ = 2,
} er_conf_kind_t;

/* How a scalar was written; the text never depends on it being typed. */
typedef enum er_conf_style_e {
    ER_CONF_PLAIN = 0,
    ER_CONF_SINGLE_QUOTED = 1,
    ER_CONF_DOUBLE_QUOTED = 2,
    ER_CONF_LITERAL = 3, /* | */
    ER_CONF_FOLDED = 4,  /* > */
} er_conf_style_t;

typedef struct er_conf_node_s er_conf_node_t;

/* A map entry: the key is always a scalar, with its own position. */
typedef struct er_conf_pair_s {
    er_conf_node_t *key;
    er_conf_node_t *value;
} er_conf_pair_t;

/*
 * A node. Read-only for everyone but the loader. For a scalar, `text` is
 * NUL-terminated, `len` bytes long, and holds no NUL; a plain scalar with
 * len 0 is an empty value (`key:` with nothing after it). For a map, `pairs`
 * holds `count` entries in file order with unique keys; for a list, `items`
 * holds `count` nodes.
 */
struct er_conf_node_s {
    er_conf_kind_t kind;
    er_conf_style_t style; /* scalars only */
    er_conf_pos_t pos;     /* pos.file borrowed from the tree */
    char *text;
    size_t len;
    size_t count;
    er_conf_pair_t *pairs;
    er_conf_node_t **items;
};

/*
 * A loaded file. `root` is NULL when the file holds no document or only an
 * empty one (an empty file is a valid, empty configuration). `file` is the
 * name given to the loader, used in every position.
 */
typedef struct er_conf_tree_s {
    char *file;
    er_conf_node_t *root;
} er_conf_tree_t;

/*
 * Load the file at path (borrowed until return). On success *out is a new
 * tree (caller frees with er__conf_tree_free) and 0 is returned. On failure
 * returns -EINVAL with every error found added to diag (sorted by
 * position), or -ENOMEM; *out is NULL. A file that cannot be opened or read
 * is one error naming the path and strerror.
 *
 * Expansion of environment variables is applied to the text of every scalar
 * value (not to keys): ${VAR} (an unset VAR is an error naming it and its
 * position), ${VAR:-default} (default when VAR is unset or empty; the
 * default is literal and may not contain "$"), and $$ for one "$". Any other
 * "$" is an error.
 */
int er__conf_load_file(const char *path, er_conf_tree_t **out, er_diag_t *diag);

/* The same on text[0..len) (borrowed until return), named `name` in
 * positions. Used by tests and by callers that already hold the bytes. */
int er__conf_load_string(const char *name, const char *text, size_t len, er_conf_tree_t **out,
                         er_diag_t *diag);

void er__conf_tree_free(er_conf_tree_t *tree);

/*
 * A new tree holding a deep copy of node (borrowed until return), with its
 * own copy of the file name, so it may outlive the tree node came from.
 * Returns NULL when out of memory.
 */
er_conf_tree_t *er__conf_tree_clone(const er_conf_node_t *node);

/* ---------------------------------------------------------------- lookups */

/* The value for key in map, or NULL when map is NULL, not a map, or has no
 * such key. Borrowed from the tree. */
const er_conf_node_t *er__conf_map_get(const er_conf_node_t *map, const char *key);
/* The same, returning the pair (so the key's position is at hand). */
const er_conf_pair_t *er__conf_map_find(const er_conf_node_t *map, const char *key);

/* Entries of a map or items of a list; 0 for a scalar or NULL. */
size_t er__conf_count(const er_conf_node_t *node);
/* The i-th pair of a map / item of a list; NULL past the end or on the
 * wrong kind. Iterate with `for (i = 0; i < er__conf_count(n); i++)`. */
const er_conf_pair_t *er__conf_pair_at(const er_conf_node_t *map, size_t i);
const er_conf_node_t *er__conf_item_at(const er_conf_node_t *seq, size_t i);

/* True for a scalar written as nothing at all (`key:`): YAML's null. */
bool er__conf_is_empty(const er_conf_node_t *node);

/* "a map", "a list", "an empty value", "a scalar": for "got ..." messages. */
const char *er__conf_kind_name(const er_conf_node_t *node);

/*
 * Write s[0..len) into buf[cap] as a double-quoted string fit for a
 * one-line message: `"` and `\` escaped, control bytes as \xNN, cut with
 * "..." when it does not fit. Returns buf. cap should be at least 8.
 */
const char *er__conf_quote(const char *s, size_t len, char *buf, size_t cap);

#endif
