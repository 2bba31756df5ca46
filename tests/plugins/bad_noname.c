/* No name: nothing for plugin: to refer to. */
#include "bad_common.h"

static const er_handler_ops_t ops = {OK_OPS_MEMBERS};

ER_PLUGIN_DEFINE = {
    ER_PLUGIN_HEADER,
    .kind = ER_PLUGIN_HANDLER,
    .ops = &ops,
};
