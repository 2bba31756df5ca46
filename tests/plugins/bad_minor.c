/* Built for a minor newer than the host's: it may rely on members the host lacks. */
#include "bad_common.h"

static const er_handler_ops_t ops = {OK_OPS_MEMBERS};

ER_PLUGIN_DEFINE = {
    .magic = ER_PLUGIN_MAGIC,
    .abi_major = ER_PLUGIN_ABI_MAJOR,
    .abi_minor = ER_PLUGIN_ABI_MINOR + 1,
    .size = sizeof(er_plugin_t),
    .kind = ER_PLUGIN_HANDLER,
    .name = "bad",
    .version = "0",
    .ops = &ops,
};
