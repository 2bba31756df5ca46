/* Wrong magic: not an eventrouter descriptor. */
#include "bad_common.h"

static const er_handler_ops_t ops = {OK_OPS_MEMBERS};

ER_PLUGIN_DEFINE = {
    .magic = 0x12345678,
    .abi_major = ER_PLUGIN_ABI_MAJOR,
    .abi_minor = ER_PLUGIN_ABI_MINOR,
    .size = sizeof(er_plugin_t),
    .kind = ER_PLUGIN_HANDLER,
    .name = "bad",
    .version = "0",
    .ops = &ops,
};
