/*
 * Reload (see reload.h): load, compare the keys that need a restart,
 * hand over, and keep the replaced configurations while they are used.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "options.h"
#include "plugin.h"
#include "reload.h"

#define COMPONENT "reload"

static void on_loaded(uv_async_t *a);

void er__reload_init(er_reload_t *r, uv_loop_t *loop, const char *path, er_config_t **current)
{
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->path = path;
    r->current = current;
    r->first = *current;
    uv_timer_init(loop, &r->soon);
    r->soon.data = r;
    uv_async_init(loop, &r->loaded, on_loaded);
    r->loaded.data = r;
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The first store option whose value differs (compared as canonical
 * text, secrets included: a changed password is a change; wiped after),
 * as "store.KEY" in buf; NULL when they are the same. */
static const char *changed_option(const er_options_t *a, const er_options_t *b, char *buf,
                                  size_t cap)
{
    char *x = er__options_canonical(a), *y = er__options_canonical(b);
    json_t *jx = x ? json_loads(x, 0, NULL) : NULL, *jy = y ? json_loads(y, 0, NULL) : NULL;
    const char *found = NULL;
    size_t i;

    /* Both are [[key, value] or [key], ...] in the plugin's table order. */
    if (!json_is_array(jx) || !json_is_array(jy) || json_array_size(jx) != json_array_size(jy)) {
        if (x == NULL || y == NULL || strcmp(x, y) != 0)
            found = "store";
    } else {
        for (i = 0; found == NULL && i < json_array_size(jx); i++) {
            json_t *p = json_array_get(jx, i);
            if (!json_equal(p, json_array_get(jy, i))) {
                snprintf(buf, cap, "store.%s", json_string_value(json_array_get(p, 0)));
                found = buf;
            }
        }
    }
    json_decref(jx);
    json_decref(jy);
    if (x)
        memset(x, 0, strlen(x));
    if (y)
        memset(y, 0, strlen(y));
    free(x);
    free(y);
    return found;
}

/* The first key of those needing a restart whose value differs, or NULL.
 * The listeners and the store are the first configuration's, for the
 * daemon's life; the de-duplication set was sized at start. */
static const char *restart_key(const er_config_t *o, const er_config_t *n, char *buf, size_t cap)
{
    const char *opt;

    if (!same_str(o->listen.socket, n->listen.socket))
        return "listen.socket";
    if (o->listen.mode != n->listen.mode)
        return "listen.mode";
    if (!same_str(o->listen.group, n->listen.group))
        return "listen.group";
    if (!same_str(o->listen.admin_socket, n->listen.admin_socket))
        return "listen.admin_socket";
    if (o->listen.admin_mode != n->listen.admin_mode)
        return "listen.admin_mode";
    if (!same_str(o->listen.admin_group, n->listen.admin_group))
        return "listen.admin_group";
    if (!same_str(o->store.lib->path, n->store.lib->path))
        return "store.plugin";
    if ((opt = changed_option(o->store.options, n->store.options, buf, cap)) != NULL)
        return opt;
    if (o->limits.dedupe_window_ms != n->limits.dedupe_window_ms)
        return "limits.dedupe_window";
    if (o->limits.dedupe_max != n->limits.dedupe_max)
        return "limits.dedupe_max";
    return NULL;
}

/* Free the replaced configurations no destination uses any more. */
static void collect(er_reload_t *r)
{
    size_t i, k = 0;

    for (i = 0; i < r->nretired; i++) {
        er_config_t *c = r->retired[i];
        if (c != r->first && !er__dispatch_uses_config(r->dispatch, c))
            er__config_free(c);
        else
            r->retired[k++] = c;
    }
    r->nretired = k;
}

/* ------------------------------------------------------ the load thread */

/* On the load thread: read and check the file (YAML, schema, plugins'
 * options, acl names: nothing the loop may wait on), then wake the loop. */
static void load_main(void *arg)
{
    er_reload_t *r = arg;
    er_diag_t diag;
    size_t i, off = 0, cap = sizeof(r->load_err);
    char *err = r->load_err;

    err[0] = '\0';
    er__diag_init(&diag);
    r->load_rc = er__config_load(r->path, &r->ncfg, &diag);
    if (r->load_rc != 0) {
        for (i = 0; i < diag.count && off + 1 < cap; i++) {
            int n = er__diag_format(&diag, i, err + off, cap - off);
            if (n < 0)
                break;
            off += (size_t)n < cap - off ? (size_t)n : cap - off - 1;
            if (off + 1 < cap && i + 1 < diag.count)
                err[off++] = '\n';
            err[off] = '\0';
        }
        if (diag.count == 0)
            snprintf(err, cap, "%s: %s", r->path, er_strerror(r->load_rc));
    }
    er__diag_free(&diag);
    uv_async_send(&r->loaded);
}

/* ------------------------------------------------------------ applying */

/* Hand the loaded configuration over (loop thread). Returns 0 with
 * *summary, or a negative errno with err saying why. */
static int apply(er_reload_t *r, json_t **summary, char *err, size_t cap)
{
    er_config_t *ncfg = r->ncfg, *old = *r->current, **nr;
    const char *key;
    char keybuf[96];
    int rc = r->load_rc;

    r->ncfg = NULL;
    *summary = NULL;
    if (rc != 0) {
        snprintf(err, cap, "%s", r->load_err);
        goto failed;
    }
    if (r->dispatch == NULL || r->dispatch->stopping) {
        snprintf(err, cap, "the daemon is %s", r->dispatch ? "shutting down" : "starting");
        er__config_free(ncfg);
        rc = -EAGAIN;
        goto failed;
    }
    if ((key = restart_key(r->first, ncfg, keybuf, sizeof(keybuf))) != NULL) {
        if (strncmp(key, "store", 5) == 0 && ncfg->store.pos.line > 0)
            snprintf(err, cap, "%s:%u:%u: %s changed: it needs a restart (nothing was reloaded)",
                     r->path, ncfg->store.pos.line, ncfg->store.pos.col, key);
        else
            snprintf(err, cap, "%s: %s changed: it needs a restart (nothing was reloaded)", r->path,
                     key);
        er__config_free(ncfg);
        rc = -EINVAL;
        goto failed;
    }
    if ((nr = realloc(r->retired, (r->nretired + 1) * sizeof(*nr))) == NULL) {
        snprintf(err, cap, "out of memory");
        er__config_free(ncfg);
        rc = -ENOMEM;
        goto failed;
    }
    r->retired = nr;
    if ((rc = er__dispatch_reload(r->dispatch, ncfg, summary, err, cap)) != 0) {
        er__config_free(ncfg);
        goto failed;
    }
    /* In force from here on. */
    *r->current = ncfg;
    r->server->cfg = ncfg;
    r->store->cfg = ncfg;
    r->admin->cfg = ncfg;
    er__log_init(ncfg->log.level, ncfg->log.format);
    r->retired[r->nretired++] = old;
    collect(r);
    r->done++;
    if (*summary)
        json_object_set_new(*summary, "routes",
                            json_integer((json_int_t)er__router_nroutes(r->dispatch->router)));
    return 0;

failed:
    r->failed++;
    er_log(ER_LOG_ERROR, COMPONENT, "reload refused, the running configuration stays: %s", err);
    return rc;
}

static void begin_load(er_reload_t *r);

/* Tell every waiter of a round its outcome (and free them). */
static void answer(er_reload_waiter_t *w, int rc, json_t *summary, const char *err)
{
    while (w != NULL) {
        er_reload_waiter_t *next = w->next;
        w->cb(w->arg, rc, summary, err);
        free(w);
        w = next;
    }
}

/* The file was read: apply it, answer the round's waiters, then start the
 * next round when requests came meanwhile. */
static void on_loaded(uv_async_t *a)
{
    er_reload_t *r = a->data;
    er_reload_waiter_t *w = r->waiters;
    json_t *summary = NULL;
    char err[1024] = "";
    int rc;

    if (!r->loading)
        return;
    uv_thread_join(&r->thread);
    r->loading = false;
    r->waiters = NULL;
    rc = apply(r, &summary, err, sizeof(err));
    answer(w, rc, summary, err);
    json_decref(summary);
    if (r->again && !r->stopping) {
        r->again = false;
        r->waiters = r->next_waiters;
        r->next_waiters = NULL;
        begin_load(r);
    }
}

static void begin_load(er_reload_t *r)
{
    int rc;

    r->ncfg = NULL;
    r->load_rc = 0;
    r->loading = true;
    if ((rc = uv_thread_create(&r->thread, load_main, r)) != 0) {
        er_reload_waiter_t *w = r->waiters;
        char err[128];
        r->loading = false;
        r->waiters = NULL;
        r->failed++;
        snprintf(err, sizeof(err), "cannot start the thread that reads the file: %s",
                 uv_strerror(rc));
        er_log(ER_LOG_ERROR, COMPONENT, "reload refused: %s", err);
        answer(w, -EAGAIN, NULL, err);
    }
}

int er__reload_start(er_reload_t *r, er_reload_done_cb cb, void *arg)
{
    er_reload_waiter_t *w = NULL;

    if (r->stopping)
        return -EAGAIN;
    if (cb != NULL) {
        if ((w = calloc(1, sizeof(*w))) == NULL)
            return -ENOMEM;
        w->cb = cb;
        w->arg = arg;
    }
    if (r->loading) {
        /* The file may have changed since this load began: one more round
         * once it is done, for every request that came meanwhile. */
        r->again = true;
        if (w != NULL) {
            w->next = r->next_waiters;
            r->next_waiters = w;
        }
        return 0;
    }
    if (w != NULL) {
        w->next = r->waiters;
        r->waiters = w;
    }
    begin_load(r);
    return 0;
}

static void on_soon(uv_timer_t *t)
{
    er_reload_t *r = t->data;

    r->pending = false;
    er__reload_start(r, NULL, NULL);
}

void er__reload_request(er_reload_t *r)
{
    if (r->pending || r->again) {
        er_log(ER_LOG_INFO, COMPONENT, "SIGHUP: a reload is already due (coalesced)");
        return;
    }
    r->pending = true;
    er_log(ER_LOG_NOTICE, COMPONENT, "SIGHUP: reloading %s", r->path);
    uv_timer_start(&r->soon, on_soon, 0, 0);
}

void er__reload_stop(er_reload_t *r)
{
    er_reload_waiter_t *w;

    r->stopping = true;
    uv_timer_stop(&r->soon);
    uv_close((uv_handle_t *)&r->soon, NULL);
    if (r->loading) {
        /* Reading a file: short, but its thread must end before the
         * handle that wakes the loop closes. */
        uv_thread_join(&r->thread);
        r->loading = false;
        if (r->load_rc == 0)
            er__config_free(r->ncfg);
        r->ncfg = NULL;
    }
    uv_close((uv_handle_t *)&r->loaded, NULL);
    w = r->waiters;
    r->waiters = NULL;
    answer(w, -EAGAIN, NULL, "the daemon is shutting down");
    w = r->next_waiters;
    r->next_waiters = NULL;
    answer(w, -EAGAIN, NULL, "the daemon is shutting down");
}

void er__reload_close(er_reload_t *r)
{
    size_t i;

    for (i = 0; i < r->nretired; i++)
        if (r->retired[i] != *r->current)
            er__config_free(r->retired[i]);
    free(r->retired);
    r->retired = NULL;
    r->nretired = 0;
}
