/*
 * Shared by the loader's purpose-built plugins (good.c, bad_*.c): the
 * operations of a handler that would work, so each bad_*.so differs from
 * good.so in exactly the one way its name says, and the loader test
 * (tests/unit/check_loader.c) can assert the one refusal it must cause.
 */
#ifndef ER_TESTS_BAD_COMMON_H
#define ER_TESTS_BAD_COMMON_H

#include <stddef.h>

#include <eventrouter/plugin.h>

/* Not every bad plugin uses every operation. */
#define OK_UNUSED __attribute__((unused))

OK_UNUSED static int ok_create(const er_host_t *host, er_plugin_ctx_t *ctx,
                               const er_options_t *opts, void **instance)
{
    static int dummy;
    *instance = &dummy;
    return 0;
}

OK_UNUSED static int ok_start(void *instance)
{
    return 0;
}

OK_UNUSED static void ok_stop(void *instance, er_done_cb done, void *arg)
{
    done(arg);
}

OK_UNUSED static void ok_destroy(void *instance)
{
}

OK_UNUSED static int ok_handle(void *instance, er_ev_t *ev, er_token_t *token)
{
    return ER_OK;
}

#define OK_OPS_MEMBERS                                                                             \
    .size = sizeof(er_handler_ops_t), .create = ok_create, .start = ok_start, .stop = ok_stop,     \
    .destroy = ok_destroy, .handle = ok_handle

#endif
