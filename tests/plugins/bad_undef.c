/*
 * References a function nothing defines: RTLD_NOW makes dlopen fail at
 * once, naming the symbol, instead of crashing at the first call.
 */
#include "bad_common.h"

extern int er_bad_no_such_function(void);

static int undef_create(const er_host_t *host, er_plugin_ctx_t *ctx, const er_options_t *opts,
                        void **instance)
{
    *instance = NULL;
    return er_bad_no_such_function();
}

static const er_handler_ops_t ops = {
    .size = sizeof(er_handler_ops_t),
    .create = undef_create,
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
