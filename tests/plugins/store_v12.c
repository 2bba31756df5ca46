/*
 * A store plugin as one built against ABI 1.2 would load: its operations
 * table ends before used_bytes (ABI 1.3), so the host sees that member
 * NULL. The config loader must refuse store.retention.max_bytes with it
 * (tests/unit/check_config.c). Its operations are never called: the tests
 * only load and check a configuration.
 */
#include <errno.h>
#include <stddef.h>

#include <eventrouter/plugin.h>

#define NOT_CALLED(...) return -ENOSYS

static int v12_create(const er_host_t *host, er_plugin_ctx_t *ctx, const er_options_t *opts,
                      void **instance)
{
    static int dummy;

    (void)host, (void)ctx, (void)opts;
    *instance = &dummy;
    return 0;
}

static int v12_open(void *i, er_store_head_t *h, er_token_t *t)
{
    (void)i, (void)h, (void)t;
    NOT_CALLED();
}

static void v12_stop(void *i, er_done_cb done, void *arg)
{
    (void)i;
    done(arg);
}

static void v12_destroy(void *i)
{
    (void)i;
}

static er_durability_t v12_durability(void *i)
{
    (void)i;
    return ER_DURABILITY_NONE;
}

static int v12_append(void *i, er_ev_t *const *evs, size_t n, er_token_t *t)
{
    (void)i, (void)evs, (void)n, (void)t;
    NOT_CALLED();
}

static int v12_reserve(void *i, uint64_t upto, er_token_t *t)
{
    (void)i, (void)upto, (void)t;
    NOT_CALLED();
}

static int v12_query(void *i, const er_store_filter_t *f, er_store_row_cb row, void *arg,
                     er_token_t *t)
{
    (void)i, (void)f, (void)row, (void)arg, (void)t;
    NOT_CALLED();
}

static int v12_cursor_list(void *i, er_store_cursor_cb each, void *arg, er_token_t *t)
{
    (void)i, (void)each, (void)arg, (void)t;
    NOT_CALLED();
}

static int v12_cursor_set(void *i, const char *name, uint64_t seq, er_token_t *t)
{
    (void)i, (void)name, (void)seq, (void)t;
    NOT_CALLED();
}

static int v12_cursor_delete(void *i, const char *name, er_token_t *t)
{
    (void)i, (void)name, (void)t;
    NOT_CALLED();
}

static int v12_dlq_add(void *i, const er_dead_letter_t *dl, uint64_t *id, er_token_t *t)
{
    (void)i, (void)dl, (void)id, (void)t;
    NOT_CALLED();
}

static int v12_dlq_list(void *i, const char *d, uint64_t after, uint64_t max, er_store_dlq_cb each,
                        void *arg, er_token_t *t)
{
    (void)i, (void)d, (void)after, (void)max, (void)each, (void)arg, (void)t;
    NOT_CALLED();
}

static int v12_dlq_delete(void *i, uint64_t id, er_token_t *t)
{
    (void)i, (void)id, (void)t;
    NOT_CALLED();
}

static int v12_state_get(void *i, const char *scope, const char *key, const void **value,
                         size_t *len, er_token_t *t)
{
    (void)i, (void)scope, (void)key, (void)value, (void)len, (void)t;
    NOT_CALLED();
}

static int v12_state_set(void *i, const char *scope, const char *key, const void *value, size_t len,
                         er_token_t *t)
{
    (void)i, (void)scope, (void)key, (void)value, (void)len, (void)t;
    NOT_CALLED();
}

static int v12_trim(void *i, uint64_t before, uint64_t max, uint64_t *n, er_token_t *t)
{
    (void)i, (void)before, (void)max, (void)n, (void)t;
    NOT_CALLED();
}

static int v12_delete_stream(void *i, const char *stream, uint64_t max, uint64_t *n, er_token_t *t)
{
    (void)i, (void)stream, (void)max, (void)n, (void)t;
    NOT_CALLED();
}

static const er_store_ops_t v12_ops = {
    .size = offsetof(er_store_ops_t, used_bytes), /* what a 1.2 plugin declares */
    .create = v12_create,
    .open = v12_open,
    .stop = v12_stop,
    .destroy = v12_destroy,
    .durability = v12_durability,
    .append = v12_append,
    .reserve = v12_reserve,
    .query = v12_query,
    .cursor_list = v12_cursor_list,
    .cursor_set = v12_cursor_set,
    .cursor_delete = v12_cursor_delete,
    .dlq_add = v12_dlq_add,
    .dlq_list = v12_dlq_list,
    .dlq_delete = v12_dlq_delete,
    .state_get = v12_state_get,
    .state_set = v12_state_set,
    .trim = v12_trim,
    .delete_stream = v12_delete_stream,
};

ER_PLUGIN_DEFINE = {
    .magic = ER_PLUGIN_MAGIC,
    .abi_major = ER_PLUGIN_ABI_MAJOR,
    .abi_minor = 2,
    .size = sizeof(er_plugin_t),
    .kind = ER_PLUGIN_STORE,
    .name = "store_v12",
    .version = "1.2.0",
    .description = "a store built against ABI 1.2 (no used_bytes)",
    .ops = &v12_ops,
};
