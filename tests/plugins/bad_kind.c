/* A broker plugin, loaded where a handler is wanted. */
#include "bad_common.h"

static const er_handler_ops_t ops = {OK_OPS_MEMBERS};

ER_PLUGIN_DEFINE = {
    ER_PLUGIN_HEADER,
    .kind = ER_PLUGIN_BROKER,
    .name = "bad",
    .ops = &ops,
};
