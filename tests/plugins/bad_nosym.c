/* Exports no er_plugin_entry (a misspelt one instead). */
#include "bad_common.h"

static const er_handler_ops_t ops = {OK_OPS_MEMBERS};

ER_PLUGIN_EXPORT const er_plugin_t er_plugin_entri = {
    ER_PLUGIN_HEADER,
    .kind = ER_PLUGIN_HANDLER,
    .name = "bad",
    .ops = &ops,
};
