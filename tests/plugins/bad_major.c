/* Built for ABI major 2, which this host does not speak. */
#include "bad_common.h"

static const er_handler_ops_t ops = {OK_OPS_MEMBERS};

ER_PLUGIN_DEFINE = {
    .magic = ER_PLUGIN_MAGIC,
    .abi_major = 2,
    .abi_minor = 0,
    .size = sizeof(er_plugin_t),
    .kind = ER_PLUGIN_HANDLER,
    .name = "bad",
    .version = "0",
    .ops = &ops,
};
