/* Declares a descriptor smaller than ABI 1.0's. */
#include "bad_common.h"

static const er_handler_ops_t ops = {OK_OPS_MEMBERS};

ER_PLUGIN_DEFINE = {
    .magic = ER_PLUGIN_MAGIC,
    .abi_major = ER_PLUGIN_ABI_MAJOR,
    .abi_minor = ER_PLUGIN_ABI_MINOR,
    .size = 16,
    .kind = ER_PLUGIN_HANDLER,
    .name = "bad",
    .version = "0",
    .ops = &ops,
};
