/* The control: a correct handler every loader test starts from. */
#include "bad_common.h"

static const er_option_t options[] = {
    {.key = "greeting", .type = ER_OPTION_STRING, .def = "hello", .description = "what to say"},
    {.key = NULL},
};

static const er_handler_ops_t ops = {OK_OPS_MEMBERS};

ER_PLUGIN_DEFINE = {
    ER_PLUGIN_HEADER,
    .kind = ER_PLUGIN_HANDLER,
    .name = "good",
    .version = "1.2.3",
    .description = "a plugin the loader accepts",
    .options = options,
    .ops = &ops,
};
