/*
 * Descriptor checks shared by the daemon's loader and the testing kit (see
 * plugdesc.h). The order matters: the first 8 bytes (magic, major, minor)
 * are the only layout every ABI major shares, so they are read and checked
 * before the declared size, and the size before any other member.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "options.h"
#include "plugdesc.h"

static const char *const kind_names[] = {
    [ER_PLUGIN_HANDLER] = "handler",
    [ER_PLUGIN_BROKER] = "broker",
    [ER_PLUGIN_STORE] = "store",
};

const char *er__plugdesc_kind_name(int kind)
{
    if (kind < ER_PLUGIN_HANDLER || kind > ER_PLUGIN_STORE)
        return "unknown";
    return kind_names[kind];
}

int er__plugdesc_kind_parse(const char *word, size_t len)
{
    int k;

    for (k = ER_PLUGIN_HANDLER; k <= ER_PLUGIN_STORE; k++)
        if (strlen(kind_names[k]) == len && memcmp(kind_names[k], word, len) == 0)
            return k;
    return -1;
}

int er__plugin_refuse(char *err, size_t cap, int code, const char *fmt, ...)
{
    va_list ap;

    if (cap > 0) {
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* A name is what `plugin:` and `--help-plugin KIND/NAME` use: printable
 * ASCII without '/' or spaces. */
static bool name_ok(const char *name)
{
    const char *p;

    if (name == NULL || *name == '\0' || strlen(name) > 64)
        return false;
    for (p = name; *p; p++)
        if (*p <= ' ' || *p > '~' || *p == '/')
            return false;
    return true;
}

/* One required callback of an operations table. */
typedef struct required_s {
    const char *name;
    size_t off;
} required_t;

#define REQ(type, m) {#m, offsetof(type, m)}

static const required_t handler_required[] = {
    REQ(er_handler_ops_t, create), REQ(er_handler_ops_t, start), REQ(er_handler_ops_t, stop),
    REQ(er_handler_ops_t, destroy), REQ(er_handler_ops_t, handle), {NULL, 0},
};

static const required_t store_required[] = {
    REQ(er_store_ops_t, create),        REQ(er_store_ops_t, open),
    REQ(er_store_ops_t, stop),          REQ(er_store_ops_t, destroy),
    REQ(er_store_ops_t, durability),    REQ(er_store_ops_t, append),
    REQ(er_store_ops_t, reserve),       REQ(er_store_ops_t, query),
    REQ(er_store_ops_t, cursor_list),   REQ(er_store_ops_t, cursor_set),
    REQ(er_store_ops_t, cursor_delete), REQ(er_store_ops_t, dlq_add),
    REQ(er_store_ops_t, dlq_list),      REQ(er_store_ops_t, dlq_delete),
    REQ(er_store_ops_t, state_get),     REQ(er_store_ops_t, state_set),
    REQ(er_store_ops_t, trim),          REQ(er_store_ops_t, delete_stream),
    {NULL, 0},
};

/*
 * A kind's operations table: size first, then copy no more than declared
 * into the host's copy (`host_ops`, `host_size` bytes) and check that every
 * required callback is there.
 */
static int check_ops(const void *ops, const char *what, size_t min_size, const required_t *req,
                     void *host_ops, size_t host_size, const char *file, er_plugin_desc_t *out,
                     char *err, size_t cap)
{
    size_t declared;

    if (ops == NULL)
        return er__plugin_refuse(err, cap, -EINVAL,
                                 "%s: %s has no operations table (ops is NULL)", file, what);
    memcpy(&declared, ops, sizeof(declared));
    if (declared < min_size)
        return er__plugin_refuse(
            err, cap, -EINVAL,
            "%s: %s operations table too small (%zu bytes declared, at least %zu required)",
            file, what, declared, min_size);
    memset(host_ops, 0, host_size);
    memcpy(host_ops, ops, declared < host_size ? declared : host_size);
    out->ops_size = declared;
    for (; req->name != NULL; req++) {
        void (*fn)(void);
        memcpy(&fn, (const char *)host_ops + req->off, sizeof(fn));
        if (fn == NULL)
            return er__plugin_refuse(err, cap, -EINVAL, "%s: %s does not implement %s()", file,
                                     what, req->name);
    }
    out->desc.ops = host_ops;
    return 0;
}

int er__plugdesc_check(const void *entry, size_t sym_size, er_plugin_kind_t kind, const char *file,
                       er_plugin_desc_t *out, char *err, size_t cap)
{
    struct {
        uint32_t magic;
        uint16_t abi_major;
        uint16_t abi_minor;
    } head;
    size_t declared;
    char oerr[256];
    int rc;

    memset(out, 0, sizeof(*out));
    if (sym_size != 0 && sym_size < sizeof(head) + sizeof(size_t))
        return er__plugin_refuse(
            err, cap, -EINVAL,
            "%s: er_plugin_entry is %zu bytes, too small for a plugin descriptor", file, sym_size);
    memcpy(&head, entry, sizeof(head));
    if (head.magic != ER_PLUGIN_MAGIC)
        return er__plugin_refuse(
            err, cap, -EINVAL, "%s: not an eventrouter plugin (bad magic 0x%08x, expected 0x%08x)",
            file, head.magic, ER_PLUGIN_MAGIC);
    if (head.abi_major != ER_PLUGIN_ABI_MAJOR)
        return er__plugin_refuse(
            err, cap, -EINVAL,
            "%s: wrong ABI major %u (plugin ABI %u.%u, this daemon speaks %u.%u)", file,
            head.abi_major, head.abi_major, head.abi_minor, ER_PLUGIN_ABI_MAJOR,
            ER_PLUGIN_ABI_MINOR);
    if (head.abi_minor > ER_PLUGIN_ABI_MINOR)
        return er__plugin_refuse(
            err, cap, -EINVAL,
            "%s: plugin ABI %u.%u is newer than this daemon's %u.%u (upgrade the "
            "daemon or rebuild the plugin)",
            file, head.abi_major, head.abi_minor, ER_PLUGIN_ABI_MAJOR, ER_PLUGIN_ABI_MINOR);
    memcpy(&declared, (const char *)entry + offsetof(er_plugin_t, size), sizeof(declared));
    if (declared < ER_PLUGIN_DESC_MIN_SIZE)
        return er__plugin_refuse(
            err, cap, -EINVAL,
            "%s: plugin descriptor too small (%zu bytes declared, at least %zu "
            "required)",
            file, declared, (size_t)ER_PLUGIN_DESC_MIN_SIZE);
    if (sym_size != 0 && declared > sym_size)
        return er__plugin_refuse(
            err, cap, -EINVAL,
            "%s: plugin descriptor declares %zu bytes but er_plugin_entry is %zu", file, declared,
            sym_size);
    memcpy(&out->desc, entry, declared < sizeof(out->desc) ? declared : sizeof(out->desc));
    out->desc.size = declared;

    if (out->desc.kind < ER_PLUGIN_HANDLER || out->desc.kind > ER_PLUGIN_STORE)
        return er__plugin_refuse(err, cap, -EINVAL, "%s: unknown plugin kind %d, not a %s", file,
                                 (int)out->desc.kind, er__plugdesc_kind_name(kind));
    if (out->desc.kind != kind)
        return er__plugin_refuse(err, cap, -EINVAL, "%s: is a %s plugin, not a %s", file,
                                 er__plugdesc_kind_name(out->desc.kind),
                                 er__plugdesc_kind_name(kind));
    if (!name_ok(out->desc.name))
        return er__plugin_refuse(
            err, cap, -EINVAL,
            "%s: plugin descriptor has no valid name (1-64 printable characters, no "
            "'/' or spaces)",
            file);
    if (out->desc.options != NULL &&
        (rc = er__options_check_table(out->desc.options, oerr, sizeof(oerr))) != 0)
        return er__plugin_refuse(err, cap, -EINVAL, "%s: bad options table: %s", file, oerr);

    switch (kind) {
    case ER_PLUGIN_HANDLER:
        return check_ops(out->desc.ops, "handler", ER_HANDLER_OPS_MIN_SIZE, handler_required,
                         &out->handler, sizeof(out->handler), file, out, err, cap);
    case ER_PLUGIN_STORE:
        return check_ops(out->desc.ops, "store", ER_STORE_OPS_MIN_SIZE, store_required,
                         &out->store, sizeof(out->store), file, out, err, cap);
    default:
        return er__plugin_refuse(err, cap, -ENOTSUP,
                                 "%s: %s plugins are not supported in this version", file,
                                 er__plugdesc_kind_name(kind));
    }
}

er_status_t er__plugin_errno_status(int err)
{
    switch (err) {
    case -ENOSPC:
    case -EINVAL:
    case -ENOENT:
    case -EEXIST:
    case -EROFS:
    case -EACCES:
    case -EPERM:
        return ER_FAIL;
    default:
        return ER_RETRY;
    }
}
