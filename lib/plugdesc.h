/*
 * Checking a plugin's descriptor (er_plugin_entry, <eventrouter/plugin.h>)
 * before anything of it is called: magic, ABI major and minor, the sizes
 * the plugin declares, kind, name, the operations table and the options
 * schema. What passes is copied into host-side structs of the host's own
 * sizes, zero-filled past what the plugin declared, so the rest of the host
 * never reads plugin memory past a declared size and a NULL callback simply
 * means "not implemented".
 *
 * Shared by the daemon's loader (daemon/plugin.c) and the testing kit
 * (lib/testing.c), so a plugin is refused by both in the same words. No
 * global state; any thread.
 */
#ifndef ER_PLUGDESC_H
#define ER_PLUGDESC_H

#include <stddef.h>
#include <stdint.h>

#include "eventrouter/plugin.h"

/* What the ABI requires: the descriptor through `flags`, a handler's
 * operations through `handle` (1.0), a store's through `delete_stream`
 * (1.1). Later members are optional by the append-only rule. */
#define ER_PLUGIN_DESC_MIN_SIZE (offsetof(er_plugin_t, flags) + sizeof(uint64_t))
#define ER_HANDLER_OPS_MIN_SIZE                                                                    \
    (offsetof(er_handler_ops_t, handle) + sizeof(((er_handler_ops_t *)0)->handle))

#define ER_STORE_OPS_MIN_SIZE                                                                      \
    (offsetof(er_store_ops_t, delete_stream) + sizeof(((er_store_ops_t *)0)->delete_stream))

/* A checked plugin, in the host's layout. Strings and tables the members
 * point to live in the plugin (valid until it is unloaded). */
typedef struct er_plugin_desc_s {
    er_plugin_t desc;         /* ops points at `handler` or `store` below */
    er_handler_ops_t handler; /* a handler's operations; zero for other kinds */
    er_store_ops_t store;     /* a store's operations; zero for other kinds */
    size_t ops_size;          /* the operations table's size as declared */
} er_plugin_desc_t;

/*
 * Check the descriptor at `entry` (borrowed until return) found in `file`
 * (borrowed until return; named in every message) for a plugin of `kind`.
 * `sym_size` is the size of the exported symbol when the loader knows it
 * (from the ELF symbol table), or 0 when the descriptor was handed over
 * directly; a declared size larger than a known symbol is refused. On
 * success fills *out and returns 0. On failure returns -EINVAL (-ENOTSUP
 * for a kind this version cannot host) with one line in err[cap] such as
 * "/x/bad.so: wrong ABI major 2 (plugin ABI 2.0, this daemon speaks 1.0)".
 */
int er__plugdesc_check(const void *entry, size_t sym_size, er_plugin_kind_t kind, const char *file,
                       er_plugin_desc_t *out, char *err, size_t cap);

/* "handler" / "broker" / "store", or "unknown". */
const char *er__plugdesc_kind_name(int kind);

/* The kind named by word ("handler", ...), or -1. */
int er__plugdesc_kind_parse(const char *word, size_t len);

/* The status a token completed by complete_errno(err) has (plugin.h):
 * ER_FAIL for the permanent errnos, ER_RETRY otherwise. */
er_status_t er__plugin_errno_status(int err);

/* Write a refusal (printf-style) into err[cap] and return code: the one way
 * the loader and the descriptor check word their messages. */
int er__plugin_refuse(char *err, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
