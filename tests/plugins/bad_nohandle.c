/* A handler that does not implement handle(). */
#include "bad_common.h"

static const er_handler_ops_t ops = {
    .size = sizeof(er_handler_ops_t),
    .create = ok_create,
    .start = ok_start,
    .stop = ok_stop,
    .destroy = ok_destroy,
};

ER_PLUGIN_DEFINE = {
    ER_PLUGIN_HEADER,
    .kind = ER_PLUGIN_HANDLER,
    .name = "bad",
    .ops = &ops,
};
