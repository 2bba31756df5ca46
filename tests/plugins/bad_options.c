/* An options schema the host cannot use: the same key twice. */
#include "bad_common.h"

static const er_option_t options[] = {
    {.key = "path", .type = ER_OPTION_PATH, .description = "one"},
    {.key = "path", .type = ER_OPTION_STRING, .description = "two"},
    {.key = NULL},
};

static const er_handler_ops_t ops = {OK_OPS_MEMBERS};

ER_PLUGIN_DEFINE = {
    ER_PLUGIN_HEADER, .kind = ER_PLUGIN_HANDLER, .name = "bad", .options = options, .ops = &ops,
};
