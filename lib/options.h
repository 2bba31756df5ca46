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
 * position and -EINVAL is returned.
 */
int er__options_build(const er_option_t *table, const er_conf_node_t *block,
                      const char *const *host_keys, const char *where, er_options_t **out,
                      er_diag_t *diag);
void er__options_free(er_options_t *o);

/* The getters of the host table (see <eventrouter/plugin.h>). */
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

/* Check a plugin's table itself (unique keys, known types, defaults that
 * parse, choices for enums). Returns 0 or -EINVAL with a message in err. */
int er__options_check_table(const er_option_t *table, char *err, size_t cap);

/* Print the table as help text (key, type, default, bounds, description),
 * for `eventrouterd --help-plugin`. */
void er__options_help(const er_option_t *table, FILE *f);

#endif
