/* An operations table that declares itself too small to hold handle(). */
#include "bad_common.h"

static const er_handler_ops_t ops = {
    .size = offsetof(er_handler_ops_t, handle),
    .create = ok_create,
    .start = ok_start,
    .stop = ok_stop,
    .destroy = ok_destroy,
    .handle = ok_handle,
};

ER_PLUGIN_DEFINE = {
    ER_PLUGIN_HEADER,
    .kind = ER_PLUGIN_HANDLER,
    .name = "bad",
    .ops = &ops,
};
