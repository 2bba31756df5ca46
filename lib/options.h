/*
 * A plugin instance's validated options (the plugin ABI's er_options_t):
 * built from a configuration block (a conftree map) against the plugin's
 * er_option_t table — types from the raw YAML text, defaults, bounds,
 * required keys, enum choices, KEY_file secrets — with the core's
 * file:line:column errors, and read back through the typed getters of the
 * host table. Shared by the daemon and the testing kit.
 */
#ifndef ER_OPTIONS_H
#define ER_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "conftree.h"
#include "eventrouter/plugin.h"

/*
 * Validate `block` (a map, borrowed until return; NULL = empty) against
 * `table` (borrowed for the options' lifetime). Keys listed in `host_keys`
 * (NULL-terminated; the host's own keys such as "plugin", "timeout",
 * "window") are skipped. `where` names the block in messages
 * ("handlers.audit-log"). On success *out is new options (free with
 * er__options_free). On failure every error is added to diag with its
 * position and -EINVAL is returned (-ENOMEM when out of memory).
 *
 * How a table reads (for plugin authors; eventrouter-plugin(7)): min/max,
 * when min < max, bound INT values (signed), UINT, DURATION (ms) and SIZE
 * (bytes) values (unsigned), STRING and PATH lengths in bytes and LIST item
 * counts; BOOL, ENUM and MAP take no bounds. A STRING may be "" (a plain
 * `key:` with nothing is still refused). A MAP is a flat map of scalars.
 * LIST and MAP defaults are YAML flow text ("[a, b]", "{k: v}"); every
 * default is typed by the code that types the file. An option key may not
 * be one of the host's keys.
 */
int er__options_build(const er_option_t *table, const er_conf_node_t *block,
                      const char *const *host_keys, const char *where, er_options_t **out,
                      er_diag_t *diag);
void er__options_free(er_options_t *o);

/*
 * The getters of the host table (see <eventrouter/plugin.h>). Which reads
 * which type: opt_string STRING, PATH and ENUM (the chosen word); opt_int
 * INT; opt_uint UINT, DURATION (milliseconds) and SIZE (bytes); opt_bool
 * BOOL; opt_list LIST; opt_map_next MAP. Any other pairing is -EINVAL.
 * On every error the outputs are NULL / 0.
 */
int er__opt_string(const er_options_t *o, const char *key, const char **out);
int er__opt_int(const er_options_t *o, const char *key, int64_t *out);
int er__opt_uint(const er_options_t *o, const char *key, uint64_t *out);
int er__opt_bool(const er_options_t *o, const char *key, bool *out);
int er__opt_list(const er_options_t *o, const char *key, size_t i, const char **out);
int er__opt_map_next(const er_options_t *o, const char *key, size_t *pos, const char **k,
                     const char **v);

/* True when the two option sets hold the same values (reload: an unchanged
 * block keeps its instance). */
bool er__options_equal(const er_options_t *a, const er_options_t *b);

/* Write the options as JSON-compatible "key": value pairs to f with
 * secrets redacted ("<redacted>"), for the `config` admin command. */
void er__options_dump(const er_options_t *o, FILE *f);

/* The same as YAML block-map lines indented by `indent` spaces, in table
 * order, loadable back (the daemon's `config` dump of a handler block);
 * options without a value appear as comments. Returns 0 or -EIO. */
int er__options_dump_yaml(const er_options_t *o, unsigned indent, FILE *f);

/* Every value, secrets included, as one line of canonical JSON (table
 * order, map keys sorted) for a block's fingerprint: equal text means
 * equal options. Never print it. A new string (free()), or NULL on
 * ENOMEM. */
char *er__options_canonical(const er_options_t *o);

/* Check a plugin's table itself (unique keys, known types, defaults that
 * parse, choices for enums). Returns 0 or -EINVAL with a message in err. */
int er__options_check_table(const er_option_t *table, char *err, size_t cap);

/* Print the table as help text (key, type, default, bounds, description),
 * for `eventrouterd --help-plugin`. */
void er__options_help(const er_option_t *table, FILE *f);

#endif
