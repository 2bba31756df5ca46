/*
 * A minimal handler plugin for the daemon's own tests. It declares one
 * option of every type the ABI has — string, path, bool, bounded int,
 * uint, duration, size, enum, list, map, a required one and a secret one —
 * so the configuration tests exercise every check against a real .so
 * loaded the real way, and handle() completes every event ER_OK at once.
 * Its `types` list becomes its declared event types (an implicit route),
 * for router and integration tests. It holds no handles, so stop() calls
 * done at once.
 */
#include <errno.h>
#include <stddef.h>

#include <eventrouter/plugin.h>

#define MAX_TYPES 64

typedef struct instance_s {
    const er_host_t *host;
    er_plugin_ctx_t *ctx;
    const char *types[MAX_TYPES + 1]; /* borrowed from the options; NULL-terminated */
} instance_t;

static const er_option_t options[] = {
    {.key = "endpoint",
     .type = ER_OPTION_STRING,
     .flags = ER_OPTION_REQUIRED,
     .description = "where deliveries pretend to go (required)"},
    {.key = "label",
     .type = ER_OPTION_STRING,
     .def = "test",
     .min = 1,
     .max = 32,
     .description = "a label of 1 to 32 bytes"},
    {.key = "dir", .type = ER_OPTION_PATH, .description = "a directory (no default)"},
    {.key = "verbose", .type = ER_OPTION_BOOL, .def = "false", .description = "talk more"},
    {.key = "level",
     .type = ER_OPTION_INT,
     .def = "0",
     .min = -10,
     .max = 10,
     .description = "a signed level, -10 to 10"},
    {.key = "count",
     .type = ER_OPTION_UINT,
     .def = "10",
     .min = 1,
     .max = 1000,
     .description = "a count, 1 to 1000"},
    {.key = "delay",
     .type = ER_OPTION_DURATION,
     .def = "100ms",
     .min = 0,
     .max = 3600000,
     .description = "a delay, at most 1h"},
    {.key = "buffer",
     .type = ER_OPTION_SIZE,
     .def = "64KiB",
     .min = 1024,
     .max = 1 << 30,
     .description = "a buffer size, 1KiB to 1GiB"},
    {.key = "mode",
     .type = ER_OPTION_ENUM,
     .def = "safe",
     .choices = "fast|safe|paranoid",
     .description = "how careful to be"},
    {.key = "types",
     .type = ER_OPTION_LIST,
     .max = MAX_TYPES,
     .description = "event types this handler declares (an implicit route)"},
    {.key = "properties", .type = ER_OPTION_MAP, .description = "pass-through settings"},
    {.key = "password",
     .type = ER_OPTION_STRING,
     .flags = ER_OPTION_SECRET,
     .description = "a secret (or password_file)"},
    {.key = NULL},
};

static int create(const er_host_t *host, er_plugin_ctx_t *ctx, const er_options_t *opts, void **out)
{
    instance_t *in;
    size_t i;

    if ((in = host->alloc(sizeof(*in))) == NULL)
        return -ENOMEM;
    in->host = host;
    in->ctx = ctx;
    for (i = 0; i < MAX_TYPES && host->opt_list(opts, "types", i, &in->types[i]) == 0; i++)
        ;
    in->types[i] = NULL;
    *out = in;
    return 0;
}

static int start(void *instance)
{
    instance_t *in = instance;

    in->host->set_health(in->ctx, ER_HEALTH_UP, NULL);
    return 0;
}

static void stop(void *instance, er_done_cb done, void *done_arg)
{
    (void)instance;
    done(done_arg);
}

static void destroy(void *instance)
{
    instance_t *in = instance;

    in->host->free(in);
}

static int handle(void *instance, er_ev_t *ev, er_token_t *token)
{
    (void)instance;
    (void)ev;
    (void)token;
    return ER_OK;
}

static const char *const *types(void *instance)
{
    instance_t *in = instance;

    return in->types[0] != NULL ? in->types : NULL;
}

static const er_handler_ops_t ops = {
    .size = sizeof(er_handler_ops_t),
    .create = create,
    .start = start,
    .stop = stop,
    .destroy = destroy,
    .handle = handle,
    .types = types,
};

ER_PLUGIN_DEFINE = {
    ER_PLUGIN_HEADER,
    .kind = ER_PLUGIN_HANDLER,
    .name = "test_handler",
    .version = "1.0",
    .description = "test handler: an option of every type; completes every event OK",
    .options = options,
    .ops = &ops,
};
