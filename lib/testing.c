/*
 * The plugin testing kit (<eventrouter/testing.h>): a fake host, with its
 * own er_host_t over the real event objects (evobj.c), option validation
 * (options.c) and descriptor checks (plugdesc.c), that records everything
 * a plugin does and flags every ABI rule it breaks. No libuv: time is a
 * counter the test advances, fd watches are poll(2)ed on request, and the
 * "loop" is whatever thread created the kit.
 *
 * Tokens, timers and watches are never freed before er_test_free, even
 * once completed or stopped: a plugin that touches one again is then
 * reported as a violation instead of corrupting memory.
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "conftree.h"
#include "evobj.h"
#include "eventrouter/testing.h"
#include "options.h"
#include "plugdesc.h"

/* ================================================================ types */

/* The instance context the plugin sees: just the way back to the kit. */
struct er_plugin_ctx_s {
    er_test_t *t;
};

enum token_kind { TK_DELIVERY, TK_ADMIN, TK_PLUGIN };
enum token_state { TS_OPEN, TS_DONE };
enum request { RQ_NONE, RQ_PUBLISH, RQ_STATE_GET, RQ_STATE_SET };

struct er_token_s {
    er_test_t *t;
    struct er_token_s *next; /* every token of the kit */
    uint64_t id;
    enum token_kind kind;
    enum token_state state;
    int status;   /* final, once TS_DONE */
    bool in_call; /* the call that received it is running */
    bool inside;  /* completed from inside that call */
    int inside_status;
    bool queued; /* a host completion is queued (plugin tokens) */
    er_ev_t *ev; /* a delivery's event: the kit's reference */
    char *reply; /* admin_reply */
    /* Plugin tokens (token_new). */
    void (*cb)(void *arg, er_status_t status);
    void *arg;
    enum request req;
    const void **get_value; /* state_get outputs, filled at completion */
    size_t *get_len;
    char *get_key;
    void *get_copy; /* the value handed out, valid until cb returns */
};

typedef struct completion_q_s {
    er_token_t *tok;
    er_status_t status;
    struct completion_q_s *next;
} completion_q_t;

struct er_timer_s {
    er_test_t *t;
    struct er_timer_s *next;
    uint64_t due, repeat;
    er_timer_cb cb;
    void *arg;
    uint64_t seq; /* creation order breaks ties */
    bool stopped; /* timer_stop called */
    bool armed;   /* will fire (a fired one-shot is not) */
};

struct er_watch_s {
    er_test_t *t;
    struct er_watch_s *next;
    int fd;
    unsigned events;
    er_watch_cb cb;
    void *arg;
    bool stopped;
};

struct er_metric_s {
    struct er_metric_s *next;
    er_test_t *t;
    bool counter;
    _Atomic int64_t value;
    char *name;
};

typedef struct state_entry_s {
    struct state_entry_s *next;
    char *key;
    void *value;
    size_t len;
} state_entry_t;

/* A growable array of pointers. */
typedef struct vec_s {
    void **v;
    size_t n, cap;
} vec_t;

struct er_test_s {
    pthread_t loop_thread;
    pthread_mutex_t lock; /* logs, published, queue, violations: any thread */
    char err[2048];

    /* The plugin. */
    void *dl;
    char *path;
    bool loaded;
    er_plugin_desc_t checked;
    const er_option_t *table;
    er_options_t *opts;

    /* The instance. */
    struct er_plugin_ctx_s ctx;
    char *name;
    void *instance;
    bool created, started, stopped, destroyed, done_called;
    void *uv_loop;

    /* Records. */
    er_token_t *tokens;
    uint64_t next_token;
    vec_t completions; /* er_test_completion_t * */
    vec_t published;   /* er_ev_t * */
    vec_t logs;        /* er_test_log_t * (text owned) */
    size_t violations;
    bool echo;
    er_health_t health;
    char *health_reason;
    size_t health_changes;
    struct er_metric_s *metrics;
    state_entry_t *state;
    int fail_err;
    long refs_base; /* refs_held at create() */
    uint64_t pubseq;

    /* The loop. */
    completion_q_t *queue, **queue_tail;
    struct er_timer_s *timers;
    struct er_watch_s *watches;
    uint64_t now, timer_seq;
};

static const er_host_t fake_host;
static atomic_long refs_held;

/* ============================================================== helpers */

static int vec_push(vec_t *v, void *p)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        void **nv = realloc(v->v, cap * sizeof(*nv));
        if (nv == NULL)
            return -ENOMEM;
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = p;
    return 0;
}

static void set_error(er_test_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_error(er_test_t *t, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(t->err, sizeof(t->err), fmt, ap);
    va_end(ap);
}

static const char *level_name(int level)
{
    static const char *const names[] = {"error", "warn", "notice", "info", "debug"};
    return level >= ER_PLOG_ERROR && level <= ER_PLOG_DEBUG ? names[level - ER_PLOG_ERROR] : "?";
}

/* Record one log line (any thread). */
static void record_log(er_test_t *t, int level, const char *text)
{
    er_test_log_t *l = malloc(sizeof(*l));
    char *copy = strdup(text);

    if (l == NULL || copy == NULL) {
        free(l);
        free(copy);
        return;
    }
    l->level = level;
    l->text = copy;
    pthread_mutex_lock(&t->lock);
    if (vec_push(&t->logs, l) != 0) {
        free(copy);
        free(l);
    }
    pthread_mutex_unlock(&t->lock);
    if (t->echo)
        fprintf(stderr, "[handler:%s] %s: %s\n", t->name ? t->name : "-", level_name(level), text);
}

/* An ABI rule the plugin broke. */
static void violation(er_test_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void violation(er_test_t *t, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    int n;

    n = snprintf(msg, sizeof(msg), "ABI violation: ");
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&t->lock);
    t->violations++;
    pthread_mutex_unlock(&t->lock);
    record_log(t, ER_PLOG_ERROR, msg);
}

static bool on_loop(er_test_t *t)
{
    return pthread_equal(pthread_self(), t->loop_thread);
}

/* Loop-only members: a call from another thread is a violation. */
static void loop_only(er_test_t *t, const char *what)
{
    if (!on_loop(t))
        violation(t, "%s() called off the loop thread", what);
}

static er_test_t *ctx_test(er_plugin_ctx_t *ctx)
{
    return ctx != NULL ? ctx->t : NULL;
}

/* ============================================================ the kit */

er_test_t *er_test_new(void)
{
    er_test_t *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    if (pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t);
        return NULL;
    }
    t->loop_thread = pthread_self();
    t->ctx.t = t;
    t->queue_tail = &t->queue;
    t->health = ER_HEALTH_UP;
    t->echo = getenv("ER_TEST_LOG") != NULL;
    return t;
}

const char *er_test_error(const er_test_t *t)
{
    return t->err;
}

const er_host_t *er_test_host(const er_test_t *t)
{
    return &fake_host;
}

void *er_test_instance(const er_test_t *t)
{
    return t->instance;
}

void er_test_set_uv_loop(er_test_t *t, void *loop)
{
    t->uv_loop = loop;
}

const er_event_t *er_test_event_view(const er_ev_t *ev)
{
    return er__ev_view(ev);
}

/* ============================================================ plugins */

static const er_option_t no_options[] = {{.key = NULL}};

static int adopt(er_test_t *t, const void *entry, size_t sym_size, const char *file)
{
    int rc;

    if (t->loaded) {
        set_error(t, "%s: a plugin is already loaded in this kit", file);
        return -EBUSY;
    }
    rc = er__plugdesc_check(entry, sym_size, ER_PLUGIN_HANDLER, file, &t->checked, t->err,
                            sizeof(t->err));
    if (rc != 0)
        return rc;
    t->table = t->checked.desc.options ? t->checked.desc.options : no_options;
    t->loaded = true;
    t->err[0] = '\0';
    return 0;
}

int er_test_load(er_test_t *t, const char *path)
{
    Dl_info info;
    const ElfW(Sym) *sym = NULL;
    void *dl, *entry;
    size_t size = 0;
    int rc;

    if (t->loaded) {
        set_error(t, "%s: a plugin is already loaded in this kit", path);
        return -EBUSY;
    }
    dlerror();
    if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        set_error(t, "%s: cannot load: %s", path, dlerror());
        return -ENOEXEC;
    }
    if ((entry = dlsym(dl, "er_plugin_entry")) == NULL) {
        set_error(t, "%s: not an eventrouter plugin (no er_plugin_entry symbol)", path);
        dlclose(dl);
        return -ENOEXEC;
    }
    if (dladdr1(entry, &info, (void **)&sym, RTLD_DL_SYMENT) != 0 && sym != NULL)
        size = (size_t)sym->st_size;
    if ((rc = adopt(t, entry, size, path)) != 0 || (t->path = strdup(path)) == NULL) {
        t->loaded = false;
        dlclose(dl);
        return rc != 0 ? rc : -ENOMEM;
    }
    t->dl = dl;
    return 0;
}

int er_test_use(er_test_t *t, const er_plugin_t *desc)
{
    if (desc == NULL) {
        set_error(t, "er_test_use: no descriptor");
        return -EINVAL;
    }
    return adopt(t, desc, 0, "(linked descriptor)");
}

const er_plugin_t *er_test_plugin(const er_test_t *t)
{
    return t->loaded ? &t->checked.desc : NULL;
}

/* ============================================================ options */

/* Options from YAML text, or the error text in t->err. */
static int build_options(er_test_t *t, const char *yaml, er_options_t **out)
{
    er_conf_tree_t *tree = NULL;
    const er_conf_node_t *root;
    er_diag_t diag;
    size_t i, used = 0;
    int rc;

    *out = NULL;
    if (!t->loaded) {
        set_error(t, "no plugin loaded");
        return -EINVAL;
    }
    er__diag_init(&diag);
    rc = er__conf_load_string("test.yaml", yaml, strlen(yaml), &tree, &diag);
    if (rc == 0) {
        root = tree->root;
        if (root != NULL && root->kind != ER_CONF_MAP) {
            er__diag_add(&diag, &root->pos, "options: expected a map, got %s",
                         er__conf_kind_name(root));
            rc = -EINVAL;
        } else {
            rc = er__options_build(t->table, root, NULL, "test", out, &diag);
        }
    }
    t->err[0] = '\0';
    for (i = 0; i < diag.count && used < sizeof(t->err); i++) {
        char line[512];
        er__diag_format(&diag, i, line, sizeof(line));
        used += (size_t)snprintf(t->err + used, sizeof(t->err) - used, "%s%s", i ? "; " : "", line);
    }
    if (rc != 0 && t->err[0] == '\0')
        set_error(t, "options: %s", er_strerror(rc));
    er__diag_free(&diag);
    er__conf_tree_free(tree);
    return rc;
}

int er_test_options_yaml(er_test_t *t, const char *yaml)
{
    er_options_t *o;
    int rc;

    if ((rc = build_options(t, yaml ? yaml : "", &o)) != 0)
        return rc;
    er__options_free(t->opts);
    t->opts = o;
    return 0;
}

/* Append s to a growing string; -ENOMEM on failure. */
static int append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t ncap = (*len + n + 1) * 2;
        char *nb = realloc(*buf, ncap);
        if (nb == NULL)
            return -ENOMEM;
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
    return 0;
}

int er_test_options_kv(er_test_t *t, const char *const *pairs)
{
    char *yaml = NULL, esc[8];
    size_t len = 0, cap = 0;
    const char *eq, *p;
    int rc = 0;

    if ((rc = append(&yaml, &len, &cap, "", 0)) != 0)
        return rc;
    /* Each value becomes a double-quoted scalar: quoting never changes how
     * a typed option reads its text, and every byte survives escaping. */
    for (; pairs != NULL && *pairs != NULL && rc == 0; pairs++) {
        if ((eq = strchr(*pairs, '=')) == NULL || eq == *pairs) {
            set_error(t, "\"%s\": expected key=value", *pairs);
            free(yaml);
            return -EINVAL;
        }
        rc = append(&yaml, &len, &cap, *pairs, (size_t)(eq - *pairs));
        rc = rc ? rc : append(&yaml, &len, &cap, ": \"", 3);
        for (p = eq + 1; *p && rc == 0; p++) {
            if (*p == '"' || *p == '\\')
                snprintf(esc, sizeof(esc), "\\%c", *p);
            else if ((unsigned char)*p < 0x20)
                snprintf(esc, sizeof(esc), "\\x%02x", (unsigned char)*p);
            else if (*p == '$')
                snprintf(esc, sizeof(esc), "$$"); /* no ${VAR} expansion */
            else
                snprintf(esc, sizeof(esc), "%c", *p);
            rc = append(&yaml, &len, &cap, esc, strlen(esc));
        }
        rc = rc ? rc : append(&yaml, &len, &cap, "\"\n", 2);
    }
    if (rc == 0)
        rc = er_test_options_yaml(t, yaml);
    else
        set_error(t, "out of memory");
    free(yaml);
    return rc;
}

const er_options_t *er_test_options(const er_test_t *t)
{
    return t->opts;
}

/* ============================================================ records */

static void record_completion(er_test_t *t, er_token_t *tok, int status, bool async)
{
    er_test_completion_t *c = malloc(sizeof(*c));

    tok->state = TS_DONE;
    tok->status = status;
    /* The delivery is over: the kit's reference on its event goes. */
    er__ev_unref(tok->ev);
    tok->ev = NULL;
    if (c == NULL)
        return;
    c->token = tok->id;
    c->status = status;
    c->async = async;
    pthread_mutex_lock(&t->lock);
    if (vec_push(&t->completions, c) != 0)
        free(c);
    pthread_mutex_unlock(&t->lock);
}

size_t er_test_ncompletions(const er_test_t *t)
{
    return t->completions.n;
}

const er_test_completion_t *er_test_completion(const er_test_t *t, size_t i)
{
    return i < t->completions.n ? t->completions.v[i] : NULL;
}

static er_token_t *token_find(const er_test_t *t, uint64_t id)
{
    er_token_t *tok;

    for (tok = t->tokens; tok != NULL; tok = tok->next)
        if (tok->id == id && tok->kind != TK_PLUGIN)
            return tok;
    return NULL;
}

int er_test_status(const er_test_t *t, uint64_t id)
{
    er_token_t *tok = token_find(t, id);

    if (tok == NULL)
        return -ENOENT;
    return tok->state == TS_OPEN ? ER_PENDING : tok->status;
}

size_t er_test_npublished(const er_test_t *t)
{
    return t->published.n;
}

const er_event_t *er_test_published(const er_test_t *t, size_t i)
{
    return i < t->published.n ? er__ev_view(t->published.v[i]) : NULL;
}

size_t er_test_nlogs(const er_test_t *t)
{
    return t->logs.n;
}

const er_test_log_t *er_test_log(const er_test_t *t, size_t i)
{
    return i < t->logs.n ? t->logs.v[i] : NULL;
}

size_t er_test_log_count(const er_test_t *t, int level, const char *needle)
{
    size_t i, n = 0;

    for (i = 0; i < t->logs.n; i++) {
        const er_test_log_t *l = t->logs.v[i];
        if ((level < 0 || l->level == level) && (needle == NULL || strstr(l->text, needle)))
            n++;
    }
    return n;
}

void er_test_log_echo(er_test_t *t, bool on)
{
    t->echo = on;
}

er_health_t er_test_health(const er_test_t *t, const char **reason)
{
    if (reason != NULL)
        *reason = t->health_reason;
    return t->health;
}

size_t er_test_health_changes(const er_test_t *t)
{
    return t->health_changes;
}

int er_test_metric(const er_test_t *t, const char *name, int64_t *value)
{
    const struct er_metric_s *m;

    for (m = t->metrics; m != NULL; m = m->next) {
        if (strcmp(m->name, name) == 0) {
            *value = atomic_load(&m->value);
            return 0;
        }
    }
    return -ENOENT;
}

struct stat_find {
    const char *name;
    int64_t value;
    bool found;
};

static void stat_emit(void *arg, const char *name, int64_t value)
{
    struct stat_find *f = arg;

    if (name != NULL && strcmp(name, f->name) == 0) {
        f->value = value;
        f->found = true;
    }
}

int er_test_stat(er_test_t *t, const char *name, int64_t *value)
{
    struct stat_find f = {.name = name};

    if (!t->created || t->destroyed || t->checked.handler.stats == NULL)
        return -ENOTSUP;
    t->checked.handler.stats(t->instance, stat_emit, &f);
    if (!f.found)
        return -ENOENT;
    *value = f.value;
    return 0;
}

size_t er_test_violations(const er_test_t *t)
{
    return t->violations;
}

/* ============================================================== state */

static state_entry_t **state_find(er_test_t *t, const char *key)
{
    state_entry_t **pp;

    for (pp = &t->state; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->key, key) == 0)
            return pp;
    return pp;
}

int er_test_state_get(const er_test_t *t, const char *key, const void **value, size_t *len)
{
    state_entry_t **pp = state_find((er_test_t *)t, key);

    if (*pp == NULL)
        return -ENOENT;
    *value = (*pp)->value;
    *len = (*pp)->len;
    return 0;
}

int er_test_state_set(er_test_t *t, const char *key, const void *value, size_t len)
{
    state_entry_t **pp = state_find(t, key), *e = *pp;
    void *copy;

    if (value == NULL) {
        if (e != NULL) {
            *pp = e->next;
            free(e->key);
            free(e->value);
            free(e);
        }
        return 0;
    }
    if ((copy = malloc(len ? len : 1)) == NULL)
        return -ENOMEM;
    memcpy(copy, value, len);
    if (e == NULL) {
        if ((e = calloc(1, sizeof(*e))) == NULL || (e->key = strdup(key)) == NULL) {
            free(e);
            free(copy);
            return -ENOMEM;
        }
        *pp = e;
    }
    free(e->value);
    e->value = copy;
    e->len = len;
    return 0;
}

void er_test_fail_requests(er_test_t *t, int err)
{
    t->fail_err = err;
}

/* ============================================================== tokens */

static er_token_t *token_new(er_test_t *t, enum token_kind kind)
{
    er_token_t *tok = calloc(1, sizeof(*tok));

    if (tok == NULL)
        return NULL;
    tok->t = t;
    tok->kind = kind;
    tok->state = TS_OPEN;
    tok->id = kind == TK_PLUGIN ? 0 : ++t->next_token;
    tok->next = t->tokens;
    t->tokens = tok;
    return tok;
}

/* Queue a host completion of a plugin token for the next loop turn (any
 * thread: publish may run on a worker). */
static int queue_completion(er_test_t *t, er_token_t *tok, er_status_t status)
{
    completion_q_t *q = malloc(sizeof(*q));

    if (q == NULL)
        return -ENOMEM;
    q->tok = tok;
    q->status = status;
    q->next = NULL;
    pthread_mutex_lock(&t->lock);
    tok->queued = true;
    *t->queue_tail = q;
    t->queue_tail = &q->next;
    pthread_mutex_unlock(&t->lock);
    return 0;
}

/* A token a plugin hands to publish/state calls: its own, open, unused. */
static int request_token(er_test_t *t, er_token_t *tok, const char *what)
{
    if (tok == NULL)
        return 0;
    if (tok->kind != TK_PLUGIN) {
        violation(t, "%s() with a token the host gave the plugin (use token_new)", what);
        return -EINVAL;
    }
    if (tok->state != TS_OPEN || tok->queued || tok->req != RQ_NONE) {
        violation(t, "%s() with a token already used", what);
        return -EINVAL;
    }
    return 0;
}

size_t er_test_run(er_test_t *t)
{
    size_t n = 0;

    for (;;) {
        completion_q_t *q;
        er_token_t *tok;

        pthread_mutex_lock(&t->lock);
        q = t->queue;
        if (q != NULL) {
            t->queue = q->next;
            if (t->queue == NULL)
                t->queue_tail = &t->queue;
        }
        pthread_mutex_unlock(&t->lock);
        if (q == NULL)
            return n;
        tok = q->tok;
        tok->queued = false;
        if (tok->req == RQ_STATE_GET && q->status == ER_OK) {
            const void *v = NULL;
            size_t len = 0;
            if (er_test_state_get(t, tok->get_key, &v, &len) == 0 &&
                (tok->get_copy = malloc(len ? len : 1)) != NULL) {
                memcpy(tok->get_copy, v, len);
                v = tok->get_copy;
            } else {
                v = NULL;
                len = 0;
            }
            *tok->get_value = v;
            *tok->get_len = len;
        }
        tok->state = TS_DONE;
        tok->status = q->status;
        free(q);
        tok->cb(tok->arg, (er_status_t)tok->status);
        free(tok->get_copy);
        tok->get_copy = NULL;
        n++;
    }
}

/* =========================================================== lifecycle */

int er_test_create(er_test_t *t, const char *name)
{
    int rc;

    if (!t->loaded) {
        set_error(t, "no plugin loaded");
        return -EINVAL;
    }
    if (t->created) {
        set_error(t, "an instance already exists");
        return -EBUSY;
    }
    if (t->opts == NULL && (rc = er_test_options_yaml(t, "")) != 0)
        return rc;
    free(t->name);
    if ((t->name = strdup(name ? name : "test")) == NULL)
        return -ENOMEM;
    t->instance = NULL;
    t->refs_base = atomic_load(&refs_held);
    rc = t->checked.handler.create(&fake_host, &t->ctx, t->opts, &t->instance);
    if (rc != 0) {
        set_error(t, "create() returned %d (%s)", rc, er_strerror(rc));
        return rc;
    }
    t->created = true;
    t->err[0] = '\0';
    return 0;
}

int er_test_start(er_test_t *t)
{
    int rc;

    if (!t->created || t->destroyed) {
        set_error(t, "no instance: call er_test_create first");
        return -EINVAL;
    }
    rc = t->checked.handler.start(t->instance);
    if (rc != 0) {
        set_error(t, "start() returned %d (%s)", rc, er_strerror(rc));
        return rc;
    }
    t->started = true;
    er_test_run(t);
    return 0;
}

static void on_done(void *arg)
{
    er_test_t *t = arg;

    loop_only(t, "stop's done");
    if (t->done_called)
        violation(t, "stop()'s done called twice");
    t->done_called = true;
}

static uint64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct er_timer_s *next_timer(er_test_t *t)
{
    struct er_timer_s *tm, *best = NULL;

    for (tm = t->timers; tm != NULL; tm = tm->next)
        if (tm->armed && !tm->stopped &&
            (best == NULL || tm->due < best->due || (tm->due == best->due && tm->seq < best->seq)))
            best = tm;
    return best;
}

/* What stop() must have finished before done. */
static void check_drained(er_test_t *t)
{
    size_t timers = er_test_timers(t), watches = er_test_watches(t), open = 0;
    er_token_t *tok;

    for (tok = t->tokens; tok != NULL; tok = tok->next)
        open += tok->state == TS_OPEN && tok->kind != TK_PLUGIN;
    if (timers > 0)
        violation(t, "%zu timer(s) not stopped before stop()'s done", timers);
    if (watches > 0)
        violation(t, "%zu watch(es) not stopped before stop()'s done", watches);
    if (open > 0)
        violation(t, "%zu token(s) not completed before stop()'s done", open);
}

int er_test_stop(er_test_t *t)
{
    uint64_t deadline = real_ms() + 10000;

    if (!t->created || t->destroyed || t->stopped) {
        set_error(t, "no running instance to stop");
        return -EINVAL;
    }
    t->stopped = true;
    t->done_called = false;
    t->checked.handler.stop(t->instance, on_done, t);
    while (!t->done_called) {
        size_t n = er_test_run(t);
        struct er_timer_s *tm;
        int p = 0;

        if (er_test_watches(t) > 0 && (p = er_test_poll(t, n > 0 ? 0 : 10)) < 0)
            p = 0;
        if (t->done_called)
            break;
        if (n == 0 && p == 0 && (tm = next_timer(t)) != NULL) {
            er_test_advance(t, tm->due > t->now ? tm->due - t->now : 0);
            continue;
        }
        if (n == 0 && p == 0 && er_test_watches(t) == 0 && t->queue == NULL) {
            violation(t, "stop() did not call done and nothing it waits for is pending");
            set_error(t, "stop() never called done");
            return -ETIMEDOUT;
        }
        if (n == 0 && p == 0) {
            struct timespec ms1 = {0, 1000000};
            nanosleep(&ms1, NULL); /* watches with nothing to poll: do not spin */
        }
        if (real_ms() > deadline) {
            violation(t, "stop() did not call done within 10 s");
            set_error(t, "stop() never called done");
            return -ETIMEDOUT;
        }
    }
    er_test_run(t);
    check_drained(t);
    return 0;
}

void er_test_destroy(er_test_t *t)
{
    long refs;

    if (!t->created || t->destroyed)
        return;
    t->checked.handler.destroy(t->instance);
    t->destroyed = true;
    t->instance = NULL;
    refs = atomic_load(&refs_held) - t->refs_base;
    if (refs > 0)
        violation(t, "the plugin still holds %ld event reference(s) after destroy()", refs);
    else if (refs < 0)
        violation(t, "the plugin released %ld event reference(s) it did not hold", -refs);
}

int er_test_reload_yaml(er_test_t *t, const char *yaml)
{
    er_options_t *o;
    int rc;

    if (!t->created || t->destroyed) {
        set_error(t, "no instance");
        return -EINVAL;
    }
    if (t->checked.handler.reload == NULL)
        return -ENOTSUP;
    if ((rc = build_options(t, yaml ? yaml : "", &o)) != 0)
        return rc;
    rc = t->checked.handler.reload(t->instance, o);
    if (rc != 0) {
        set_error(t, "reload() returned %d (%s)", rc, er_strerror(rc));
        er__options_free(o);
        return rc;
    }
    er__options_free(t->opts);
    t->opts = o;
    return 0;
}

int er_test_reopen(er_test_t *t)
{
    if (!t->created || t->destroyed) {
        set_error(t, "no instance");
        return -EINVAL;
    }
    if (t->checked.handler.reopen == NULL)
        return -ENOTSUP;
    return t->checked.handler.reopen(t->instance);
}

const char *const *er_test_types(er_test_t *t)
{
    if (!t->created || t->destroyed || t->checked.handler.types == NULL)
        return NULL;
    return t->checked.handler.types(t->instance);
}

void er_test_free(er_test_t *t)
{
    const char *keep;
    er_token_t *tok;
    size_t i;

    if (t == NULL)
        return;
    if (t->started && !t->stopped)
        er_test_stop(t);
    er_test_destroy(t);
    /* Completions still queued are dropped: the instance is gone. */
    while (t->tokens != NULL) {
        tok = t->tokens;
        t->tokens = tok->next;
        er__ev_unref(tok->ev);
        free(tok->reply);
        free(tok->get_key);
        free(tok);
    }
    while (t->queue != NULL) {
        completion_q_t *q = t->queue;
        t->queue = q->next;
        free(q);
    }
    while (t->timers != NULL) {
        struct er_timer_s *tm = t->timers;
        t->timers = tm->next;
        free(tm);
    }
    while (t->watches != NULL) {
        struct er_watch_s *w = t->watches;
        t->watches = w->next;
        free(w);
    }
    while (t->metrics != NULL) {
        struct er_metric_s *m = t->metrics;
        t->metrics = m->next;
        free(m->name);
        free(m);
    }
    while (t->state != NULL)
        er_test_state_set(t, t->state->key, NULL, 0);
    for (i = 0; i < t->completions.n; i++)
        free(t->completions.v[i]);
    for (i = 0; i < t->published.n; i++)
        er__ev_unref(t->published.v[i]);
    for (i = 0; i < t->logs.n; i++) {
        er_test_log_t *l = t->logs.v[i];
        free((char *)l->text);
        free(l);
    }
    free(t->completions.v);
    free(t->published.v);
    free(t->logs.v);
    er__options_free(t->opts);
    keep = getenv("ER_NO_DLCLOSE");
    if (t->dl != NULL && (keep == NULL || strcmp(keep, "1") != 0))
        dlclose(t->dl);
    free(t->path);
    free(t->name);
    free(t->health_reason);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

/* ============================================================== events */

/* Run a token-taking call's aftermath: the ABI's rules on its result. */
static int settle(er_test_t *t, er_token_t *tok, int rc, const char *what)
{
    tok->in_call = false;
    if (rc == ER_PENDING) {
        if (t->checked.desc.flags & ER_PLUGIN_BLOCKING)
            violation(t, "a blocking handler's %s() returned ER_PENDING", what);
        if (tok->inside)
            record_completion(t, tok, tok->inside_status, true);
        return rc;
    }
    if (rc == ER_CANCELLED || rc > ER_CANCELLED) {
        violation(t, "%s() returned %d, not a status it may return", what, rc);
        rc = ER_RETRY;
    }
    if (tok->inside)
        violation(t, "%s() returned %d and also completed token %llu", what, rc,
                  (unsigned long long)tok->id);
    record_completion(t, tok, rc, false);
    return rc;
}

int er_test_handle(er_test_t *t, const er_event_t *fields, uint64_t *token)
{
    er_token_t *tok;
    er_error_t e;
    int rc;

    if (token != NULL)
        *token = 0;
    if (!t->started || t->stopped) {
        set_error(t, "the instance is not started");
        return -EINVAL;
    }
    if ((rc = er_event_validate(fields, 0, &e)) != 0) {
        set_error(t, "event refused: %s", e.message);
        return rc;
    }
    if ((tok = token_new(t, TK_DELIVERY)) == NULL || (tok->ev = er__ev_new(fields)) == NULL) {
        if (tok != NULL)
            tok->state = TS_DONE;
        set_error(t, "out of memory");
        return -ENOMEM;
    }
    if (token != NULL)
        *token = tok->id;
    tok->in_call = true;
    rc = t->checked.handler.handle(t->instance, tok->ev, tok);
    rc = settle(t, tok, rc, "handle");
    er_test_run(t);
    return rc;
}

int er_test_handle_json(er_test_t *t, const char *json, uint64_t *token)
{
    er_event_t ev;
    er_error_t e;
    void *storage = NULL;
    int rc;

    if (token != NULL)
        *token = 0;
    if ((rc = er_event_from_json(json, strlen(json), &ev, &storage, &e)) != 0) {
        set_error(t, "event JSON refused: %s", e.message);
        free(storage);
        return rc;
    }
    rc = er_test_handle(t, &ev, token);
    free(storage);
    return rc;
}

int er_test_cancel(er_test_t *t, uint64_t id)
{
    er_token_t *tok = token_find(t, id);

    if (t->checked.handler.cancel == NULL)
        return -ENOTSUP;
    if (tok == NULL || tok->state != TS_OPEN || !t->created || t->destroyed)
        return -ENOENT;
    t->checked.handler.cancel(t->instance, tok);
    er_test_run(t);
    return 0;
}

int er_test_admin(er_test_t *t, const char *command, const char *args_json, uint64_t *token)
{
    er_token_t *tok;
    int rc;

    if (token != NULL)
        *token = 0;
    if (!t->created || t->destroyed) {
        set_error(t, "no instance");
        return -EINVAL;
    }
    if (t->checked.handler.admin == NULL)
        return -ENOTSUP;
    if ((tok = token_new(t, TK_ADMIN)) == NULL)
        return -ENOMEM;
    if (token != NULL)
        *token = tok->id;
    tok->in_call = true;
    rc = t->checked.handler.admin(t->instance, command, args_json ? args_json : "{}", tok);
    rc = settle(t, tok, rc, "admin");
    er_test_run(t);
    return rc;
}

const char *er_test_admin_reply(const er_test_t *t, uint64_t id)
{
    er_token_t *tok = token_find(t, id);
    return tok != NULL ? tok->reply : NULL;
}

/* ========================================================= time, I/O */

uint64_t er_test_now(const er_test_t *t)
{
    return t->now;
}

size_t er_test_advance(er_test_t *t, uint64_t ms)
{
    uint64_t target = t->now + ms;
    struct er_timer_s *tm;
    size_t fired = 0;

    while ((tm = next_timer(t)) != NULL && tm->due <= target) {
        if (tm->due > t->now)
            t->now = tm->due;
        if (tm->repeat > 0)
            tm->due += tm->repeat;
        else
            tm->armed = false;
        tm->cb(tm->arg); /* may stop tm: it stays allocated until er_test_free */
        fired++;
        er_test_run(t);
    }
    t->now = target;
    er_test_run(t);
    return fired;
}

int er_test_poll(er_test_t *t, int timeout_ms)
{
    struct pollfd *pfds;
    struct er_watch_s **ws, *w;
    size_t n = 0, i;
    int rc, ran = 0;

    for (w = t->watches; w != NULL; w = w->next)
        n += !w->stopped && w->events != 0;
    if (n == 0)
        return 0;
    pfds = calloc(n, sizeof(*pfds));
    ws = calloc(n, sizeof(*ws));
    if (pfds == NULL || ws == NULL) {
        free(pfds);
        free(ws);
        return -ENOMEM;
    }
    for (i = 0, w = t->watches; w != NULL; w = w->next) {
        if (w->stopped || w->events == 0)
            continue;
        pfds[i].fd = w->fd;
        pfds[i].events = (short)(((w->events & ER_WATCH_READ) ? POLLIN : 0) |
                                 ((w->events & ER_WATCH_WRITE) ? POLLOUT : 0));
        ws[i++] = w;
    }
    rc = poll(pfds, n, timeout_ms);
    if (rc < 0) {
        rc = -errno;
        free(pfds);
        free(ws);
        return rc == -EINTR ? 0 : rc;
    }
    for (i = 0; i < n; i++) {
        unsigned rev = 0;
        if (pfds[i].revents == 0 || ws[i]->stopped) /* stopped by an earlier callback */
            continue;
        if (pfds[i].revents & (POLLERR | POLLHUP | POLLNVAL))
            rev = ER_WATCH_READ | ER_WATCH_WRITE;
        if (pfds[i].revents & POLLIN)
            rev |= ER_WATCH_READ;
        if (pfds[i].revents & POLLOUT)
            rev |= ER_WATCH_WRITE;
        ws[i]->cb(ws[i]->arg, ws[i]->fd, rev);
        ran++;
    }
    free(pfds);
    free(ws);
    er_test_run(t);
    return ran;
}

size_t er_test_timers(const er_test_t *t)
{
    const struct er_timer_s *tm;
    size_t n = 0;

    for (tm = t->timers; tm != NULL; tm = tm->next)
        n += !tm->stopped;
    return n;
}

size_t er_test_watches(const er_test_t *t)
{
    const struct er_watch_s *w;
    size_t n = 0;

    for (w = t->watches; w != NULL; w = w->next)
        n += !w->stopped;
    return n;
}

/* ========================================================= host table */

static void host_log(er_plugin_ctx_t *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void host_log(er_plugin_ctx_t *ctx, int level, const char *fmt, ...)
{
    er_test_t *t = ctx_test(ctx);
    va_list ap;
    char *text;

    if (t == NULL || fmt == NULL)
        return;
    if (level < ER_PLOG_ERROR)
        level = ER_PLOG_ERROR;
    if (level > ER_PLOG_DEBUG)
        level = ER_PLOG_DEBUG;
    va_start(ap, fmt);
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    va_end(ap);
    if (text != NULL)
        record_log(t, level, text);
    free(text);
}

static void *host_alloc(size_t n)
{
    return malloc(n);
}

static void *host_realloc(void *p, size_t n)
{
    return realloc(p, n);
}

static void host_free(void *p)
{
    free(p);
}

/* The plugin's event references, for the leak check at destroy(). An
 * er_ev_t does not know its kit, so the count is process-wide and each kit
 * compares it with its value at create(): kits of one test run one after
 * the other, not concurrently. */
static er_ev_t *host_event_ref(er_ev_t *ev)
{
    if (ev == NULL)
        return NULL;
    atomic_fetch_add(&refs_held, 1);
    return er__ev_ref(ev);
}

static void host_event_unref(er_ev_t *ev)
{
    if (ev == NULL)
        return;
    atomic_fetch_sub(&refs_held, 1);
    er__ev_unref(ev);
}

static int host_event_get(const er_ev_t *ev, er_event_t *out, size_t out_size)
{
    return er__ev_get(ev, out, out_size);
}

static int host_event_encoded(const er_ev_t *ev, const uint8_t **p, size_t *n)
{
    if (ev == NULL || p == NULL || n == NULL)
        return -EINVAL;
    return er__ev_encoded((er_ev_t *)ev, p, n);
}

static int host_event_new(er_plugin_ctx_t *ctx, const er_event_t *fields, size_t fields_size,
                          er_ev_t **out)
{
    er_test_t *t = ctx_test(ctx);
    er_event_t f;
    er_error_t e;
    int rc;

    if (out == NULL)
        return -EINVAL;
    *out = NULL;
    if (t == NULL || fields == NULL || fields_size < sizeof(er_event_t))
        return -EINVAL;
    memcpy(&f, fields, sizeof(f));
    er_event_strip_daemon_fields(&f);
    if ((rc = er_event_validate(&f, 0, &e)) != 0) {
        record_log(t, ER_PLOG_WARN, e.message);
        return rc;
    }
    if ((*out = er__ev_new(&f)) == NULL)
        return -ENOMEM;
    atomic_fetch_add(&refs_held, 1);
    return 0;
}

static int host_publish(er_plugin_ctx_t *ctx, er_ev_t *ev, er_token_t *token)
{
    er_test_t *t = ctx_test(ctx);
    er_event_t view;
    er_ev_t *copy;
    char host[256];
    int rc;

    if (t == NULL || ev == NULL)
        return -EINVAL;
    if ((rc = request_token(t, token, "publish")) != 0)
        return rc;
    if (t->fail_err != 0)
        return t->fail_err;
    view = *er__ev_view(ev);
    if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    view.has |= ER_HAS_SEQ | ER_HAS_RECEIVED | ER_HAS_ORIGIN | ER_HAS_HOPS;
    view.received = er_now_us();
    view.origin.pid = getpid();
    view.origin.uid = getuid();
    view.origin.gid = getgid();
    view.origin.host = er_str(host);
    view.via.broker.ptr = NULL;
    view.via.source.ptr = NULL;
    view.via.plugin = er_str(t->name ? t->name : "test");
    view.hops = (er__ev_view(ev)->has & ER_HAS_HOPS ? er__ev_view(ev)->hops : 0) + 1;
    pthread_mutex_lock(&t->lock);
    view.seq = ++t->pubseq;
    copy = er__ev_new(&view);
    rc = copy == NULL ? -ENOMEM : vec_push(&t->published, copy);
    pthread_mutex_unlock(&t->lock);
    if (rc != 0) {
        er__ev_unref(copy);
        return rc;
    }
    if (token != NULL) {
        token->req = RQ_PUBLISH;
        return queue_completion(t, token, ER_OK);
    }
    return 0;
}

static int host_ingest(er_plugin_ctx_t *ctx, const uint8_t *msgpack, size_t n, void *ack_token)
{
    return -ENOSYS;
}

static void host_complete_status(er_token_t *tok, int status, const char *what)
{
    er_test_t *t;

    if (tok == NULL)
        return;
    t = tok->t;
    loop_only(t, what);
    if (tok->kind == TK_PLUGIN) {
        violation(t, "%s() of the plugin's own token (the host completes those)", what);
        return;
    }
    if (tok->state == TS_DONE || tok->inside) {
        violation(t, "token %llu completed twice", (unsigned long long)tok->id);
        return;
    }
    if (status != ER_OK && status != ER_RETRY && status != ER_FAIL && status != ER_CANCELLED) {
        violation(t, "token %llu completed with %d, not a final status",
                  (unsigned long long)tok->id, status);
        status = ER_RETRY;
    }
    if (tok->in_call) {
        violation(t, "token %llu completed from inside the call that received it",
                  (unsigned long long)tok->id);
        tok->inside = true;
        tok->inside_status = status;
        return;
    }
    record_completion(t, tok, status, true);
}

static void host_complete(er_token_t *tok, er_status_t status)
{
    if (tok == NULL)
        return;
    host_complete_status(tok, (int)status, "complete");
}

static void host_complete_errno(er_token_t *tok, int err, const char *message)
{
    if (tok == NULL)
        return;
    if (err >= 0)
        violation(tok->t, "complete_errno() with %d, not a negative errno", err);
    if (message != NULL)
        record_log(tok->t, ER_PLOG_INFO, message);
    host_complete_status(tok, (int)er__plugin_errno_status(err < 0 ? err : -EIO),
                         "complete_errno");
}

static int host_event_decode(er_plugin_ctx_t *ctx, const uint8_t *p, size_t n, er_ev_t **out)
{
    (void)ctx;
    return er__ev_decode(p, n, out);
}

static void host_complete_batch(er_token_t *tok, size_t n, const er_status_t *statuses)
{
    if (tok == NULL)
        return;
    if (n != 1 || statuses == NULL) {
        violation(tok->t, "complete_batch() of a handler's token with %zu statuses (one expected)",
                  n);
        host_complete_status(tok, ER_RETRY, "complete_batch");
        return;
    }
    host_complete_status(tok, (int)statuses[0], "complete_batch");
}

static void host_set_health(er_plugin_ctx_t *ctx, er_health_t state, const char *reason)
{
    er_test_t *t = ctx_test(ctx);
    char *copy;

    if (t == NULL)
        return;
    loop_only(t, "set_health");
    if (state != ER_HEALTH_UP && state != ER_HEALTH_DEGRADED && state != ER_HEALTH_DOWN) {
        violation(t, "set_health(%d): no such state", (int)state);
        return;
    }
    if ((copy = strdup(reason ? reason : "")) != NULL) {
        free(t->health_reason);
        t->health_reason = copy;
    }
    if (state != t->health)
        t->health_changes++;
    t->health = state;
}

static int metric_new(er_plugin_ctx_t *ctx, bool counter, const char *name, er_metric_t **out)
{
    er_test_t *t = ctx_test(ctx);
    struct er_metric_s *m;
    const char *p;

    if (t == NULL || name == NULL || out == NULL)
        return -EINVAL;
    loop_only(t, counter ? "metric_counter" : "metric_gauge");
    for (p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            break;
    if (*name == '\0' || *p != '\0' || strlen(name) > 64) {
        violation(t, "metric name \"%s\" is not 1-64 of [a-z0-9_]", name);
        return -EINVAL;
    }
    for (m = t->metrics; m != NULL; m = m->next)
        if (strcmp(m->name, name) == 0)
            return -EEXIST;
    if ((m = calloc(1, sizeof(*m))) == NULL || (m->name = strdup(name)) == NULL) {
        free(m);
        return -ENOMEM;
    }
    m->t = t;
    m->counter = counter;
    atomic_init(&m->value, 0);
    m->next = t->metrics;
    t->metrics = m;
    *out = m;
    return 0;
}

static int host_metric_counter(er_plugin_ctx_t *ctx, const char *name, const char *help,
                               er_metric_t **out)
{
    return metric_new(ctx, true, name, out);
}

static int host_metric_gauge(er_plugin_ctx_t *ctx, const char *name, const char *help,
                             er_metric_t **out)
{
    return metric_new(ctx, false, name, out);
}

static void host_metric_add(er_metric_t *m, int64_t delta)
{
    if (m == NULL)
        return;
    if (m->counter && delta < 0) {
        violation(m->t, "counter %s decremented", m->name);
        return;
    }
    atomic_fetch_add(&m->value, delta);
}

static void host_metric_set(er_metric_t *m, int64_t value)
{
    if (m == NULL)
        return;
    if (m->counter) {
        violation(m->t, "metric_set() on counter %s", m->name);
        return;
    }
    atomic_store(&m->value, value);
}

static int host_timer_start(er_plugin_ctx_t *ctx, uint64_t ms, uint64_t repeat_ms, er_timer_cb cb,
                            void *arg, er_timer_t **out)
{
    er_test_t *t = ctx_test(ctx);
    struct er_timer_s *tm;

    if (t == NULL || cb == NULL || out == NULL)
        return -EINVAL;
    loop_only(t, "timer_start");
    if ((tm = calloc(1, sizeof(*tm))) == NULL)
        return -ENOMEM;
    tm->t = t;
    tm->due = t->now + ms;
    tm->repeat = repeat_ms;
    tm->cb = cb;
    tm->arg = arg;
    tm->seq = ++t->timer_seq;
    tm->armed = true;
    tm->next = t->timers;
    t->timers = tm;
    *out = tm;
    return 0;
}

static void host_timer_stop(er_timer_t *tm)
{
    if (tm == NULL)
        return;
    loop_only(tm->t, "timer_stop");
    if (tm->stopped) {
        violation(tm->t, "timer_stop() of a timer already stopped");
        return;
    }
    tm->stopped = true;
    tm->armed = false;
}

static int host_watch_start(er_plugin_ctx_t *ctx, int fd, unsigned events, er_watch_cb cb,
                            void *arg, er_watch_t **out)
{
    er_test_t *t = ctx_test(ctx);
    struct er_watch_s *w;

    if (t == NULL || cb == NULL || out == NULL || fd < 0 ||
        (events & ~(ER_WATCH_READ | ER_WATCH_WRITE)) != 0)
        return -EINVAL;
    loop_only(t, "watch_start");
    for (w = t->watches; w != NULL; w = w->next) {
        if (!w->stopped && w->fd == fd) {
            violation(t, "watch_start() on fd %d, already watched", fd);
            return -EEXIST;
        }
    }
    if ((w = calloc(1, sizeof(*w))) == NULL)
        return -ENOMEM;
    w->t = t;
    w->fd = fd;
    w->events = events;
    w->cb = cb;
    w->arg = arg;
    w->next = t->watches;
    t->watches = w;
    *out = w;
    return 0;
}

static int host_watch_update(er_watch_t *w, unsigned events)
{
    if (w == NULL || (events & ~(ER_WATCH_READ | ER_WATCH_WRITE)) != 0)
        return -EINVAL;
    loop_only(w->t, "watch_update");
    if (w->stopped) {
        violation(w->t, "watch_update() of a stopped watch");
        return -EINVAL;
    }
    w->events = events;
    return 0;
}

static void host_watch_stop(er_watch_t *w)
{
    if (w == NULL)
        return;
    loop_only(w->t, "watch_stop");
    if (w->stopped) {
        violation(w->t, "watch_stop() of a watch already stopped");
        return;
    }
    w->stopped = true;
}

static int host_state_get(er_plugin_ctx_t *ctx, const char *key, const void **value, size_t *len,
                          er_token_t *token)
{
    er_test_t *t = ctx_test(ctx);
    int rc;

    if (t == NULL || key == NULL || value == NULL || len == NULL || token == NULL)
        return -EINVAL;
    loop_only(t, "state_get");
    if ((rc = request_token(t, token, "state_get")) != 0)
        return rc;
    if (t->fail_err != 0)
        return t->fail_err;
    if ((token->get_key = strdup(key)) == NULL)
        return -ENOMEM;
    token->req = RQ_STATE_GET;
    token->get_value = value;
    token->get_len = len;
    return queue_completion(t, token, ER_OK);
}

static int host_state_set(er_plugin_ctx_t *ctx, const char *key, const void *value, size_t len,
                          er_token_t *token)
{
    er_test_t *t = ctx_test(ctx);
    int rc;

    if (t == NULL || key == NULL || token == NULL)
        return -EINVAL;
    loop_only(t, "state_set");
    if ((rc = request_token(t, token, "state_set")) != 0)
        return rc;
    if (t->fail_err != 0)
        return t->fail_err;
    if ((rc = er_test_state_set(t, key, value, len)) != 0)
        return rc;
    token->req = RQ_STATE_SET;
    return queue_completion(t, token, ER_OK);
}

static int host_query(er_plugin_ctx_t *ctx, const char *filter_json,
                      void (*row)(void *arg, er_ev_t *ev), void *arg, er_token_t *token)
{
    return -ENOSYS;
}

static void *host_uv_loop(er_plugin_ctx_t *ctx)
{
    er_test_t *t = ctx_test(ctx);
    return t != NULL ? t->uv_loop : NULL;
}

static const char *host_instance_name(er_plugin_ctx_t *ctx)
{
    er_test_t *t = ctx_test(ctx);
    return t != NULL && t->name != NULL ? t->name : "";
}

static int host_admin_reply(er_token_t *tok, const char *json)
{
    json_error_t jerr;
    json_t *v;
    char *copy;

    if (tok == NULL || json == NULL)
        return -EINVAL;
    loop_only(tok->t, "admin_reply");
    if (tok->kind != TK_ADMIN || tok->state != TS_OPEN) {
        violation(tok->t, "admin_reply() on a token that is not an open admin() token");
        return -EINVAL;
    }
    v = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (v == NULL || !json_is_object(v)) {
        violation(tok->t, "admin_reply() with %s", v == NULL ? jerr.text : "a non-object");
        json_decref(v);
        return -EINVAL;
    }
    json_decref(v);
    if ((copy = strdup(json)) == NULL)
        return -ENOMEM;
    free(tok->reply);
    tok->reply = copy;
    return 0;
}

static int host_token_new(er_plugin_ctx_t *ctx, void (*cb)(void *arg, er_status_t status),
                          void *arg, er_token_t **out)
{
    er_test_t *t = ctx_test(ctx);
    er_token_t *tok;

    if (t == NULL || cb == NULL || out == NULL)
        return -EINVAL;
    loop_only(t, "token_new");
    if ((tok = token_new(t, TK_PLUGIN)) == NULL)
        return -ENOMEM;
    tok->cb = cb;
    tok->arg = arg;
    *out = tok;
    return 0;
}

static void host_token_free(er_token_t *tok)
{
    if (tok == NULL)
        return;
    loop_only(tok->t, "token_free");
    if (tok->kind != TK_PLUGIN)
        violation(tok->t, "token_free() of a token the host gave the plugin");
    else if (tok->queued || tok->state == TS_DONE)
        violation(tok->t, "token_free() of a token the host completes (or completed)");
    else
        tok->state = TS_DONE; /* freed with the kit */
}

static const er_host_t fake_host = {
    .size = sizeof(er_host_t),
    .abi_major = ER_PLUGIN_ABI_MAJOR,
    .abi_minor = ER_PLUGIN_ABI_MINOR,
    .log = host_log,
    .alloc = host_alloc,
    .realloc = host_realloc,
    .free = host_free,
    .event_ref = host_event_ref,
    .event_unref = host_event_unref,
    .event_get = host_event_get,
    .event_encoded = host_event_encoded,
    .event_new = host_event_new,
    .publish = host_publish,
    .ingest = host_ingest,
    .complete = host_complete,
    .complete_batch = host_complete_batch,
    /* lib/options.h's getters have the table's signatures exactly. */
    .opt_string = er__opt_string,
    .opt_int = er__opt_int,
    .opt_uint = er__opt_uint,
    .opt_bool = er__opt_bool,
    .opt_list = er__opt_list,
    .opt_map_next = er__opt_map_next,
    .set_health = host_set_health,
    .metric_counter = host_metric_counter,
    .metric_gauge = host_metric_gauge,
    .metric_add = host_metric_add,
    .metric_set = host_metric_set,
    .timer_start = host_timer_start,
    .timer_stop = host_timer_stop,
    .watch_start = host_watch_start,
    .watch_update = host_watch_update,
    .watch_stop = host_watch_stop,
    .state_get = host_state_get,
    .state_set = host_state_set,
    .query = host_query,
    .uv_loop = host_uv_loop,
    .instance_name = host_instance_name,
    .admin_reply = host_admin_reply,
    .token_new = host_token_new,
    .token_free = host_token_free,
    .complete_errno = host_complete_errno,
    .event_decode = host_event_decode,
};
