/*
 * The plugin loader: finds a plugin's .so on the plugin path, checks the
 * file (ownership and permissions, as sshd checks its files), dlopens it
 * RTLD_NOW|RTLD_LOCAL, and checks the descriptor (magic, ABI major and
 * minor, declared sizes, kind, name, options table) before anything of it
 * is called. Every refusal names the file and the reason. Loop thread.
 *
 * The search path, in order: $EVENTROUTER_PLUGIN_PATH (colon-separated),
 * the config's plugin_path, the build tree's plugins/<kind>s/<name>/.libs
 * when the daemon runs from its build tree, then
 * $(libdir)/eventrouter/<kind>s. A `plugin:` that is an absolute path is
 * used as it is.
 */
#ifndef ER_PLUGIN_H
#define ER_PLUGIN_H

#include <stddef.h>
#include <stdio.h>

#include "eventrouter/plugin.h"

typedef struct er_plugin_lib_s {
    char *path;               /* the file loaded */
    void *dl;                 /* dlopen handle */
    const er_plugin_t *desc;  /* host-side copy of er_plugin_entry (zero past its size) */
    const void *ops;          /* host-side copy of the kind's ops table, of the host's
                               * size, zero past ops_size: NULL = not implemented */
    size_t ops_size;          /* what the plugin declared */
    int refs;                 /* instances using it */
} er_plugin_lib_t;

/*
 * Load plugin `name` (a name on the search path or an absolute path to a
 * .so) of the given kind; `plugin_path` is the config's list (NULL-
 * terminated, may be NULL). The same file loaded twice is shared (refs).
 * On failure returns a negative errno and writes one line naming the file
 * and the reason into err (e.g. "/x/bad.so: wrong ABI major 2 (this daemon
 * speaks 1)").
 */
int er__plugin_load(er_plugin_kind_t kind, const char *name, const char *const *plugin_path,
                    er_plugin_lib_t **out, char *err, size_t cap);

/* Drop a reference; the last one dlcloses (unless $ER_NO_DLCLOSE=1, for
 * sanitizer and valgrind runs). Call only after the instance's stop() done
 * callback and one more loop turn. */
void er__plugin_unload(er_plugin_lib_t *lib);
/* One more reference to a loaded plugin (released by er__plugin_unload).
 * Loading, referencing and unloading may happen on the loop and on a
 * reload's thread at once. */
void er__plugin_ref(er_plugin_lib_t *lib);

/* "handler" / "broker" / "store", or "?". */
const char *er__plugin_kind_name(er_plugin_kind_t kind);

/* The directories searched for a kind, for messages and --help-plugin
 * (one per line into buf). */
void er__plugin_describe_path(er_plugin_kind_t kind, const char *const *plugin_path, char *buf,
                              size_t cap);

/*
 * `eventrouterd --help-plugin KIND/NAME`: load the plugin (NAME a name on
 * the search path or an absolute path; plugin_path as for er__plugin_load)
 * and print its name, version, description, kind, file, ABI, flags and
 * options (er__options_help) to out. Returns 0, or a negative errno after
 * printing one line saying why on stderr. Before the loop starts.
 */
int er__plugin_help(const char *kind_slash_name, const char *const *plugin_path, FILE *out);

/* Is the file safe to load? Owned by root or the daemon's uid, not group-
 * or world-writable, and the same for its directory. Returns 0 or -EPERM
 * with the reason in err. */
int er__plugin_check_file(const char *path, char *err, size_t cap);

#endif
