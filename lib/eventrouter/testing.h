/*
 * <eventrouter/testing.h> — the plugin testing kit (eventrouter-plugin(7)).
 *
 * A fake host for unit-testing a plugin without the daemon: its own
 * er_host_t over the real event objects and option validation, so a plugin
 * sees exactly the table, events and options it gets in production, while
 * the test drives it step by step and inspects everything it did:
 *
 *     er_test_t *t = er_test_new();
 *     er_test_load(t, "./.libs/myhandler.so");       (or er_test_use)
 *     er_test_options_yaml(t, "path: /tmp/out.jsonl\n");
 *     er_test_create(t, "my-instance");
 *     er_test_start(t);
 *     er_test_handle_json(t, "{\"type\":\"OrderCreated\"}", &tok);
 *     assert(er_test_status(t, tok) == ER_OK);
 *     er_test_stop(t);
 *     assert(er_test_violations(t) == 0);
 *     er_test_free(t);
 *
 * What it records: completions (status per token, in order), events the
 * plugin published, log lines (level and text), health changes, metrics,
 * the plugin's key-value state (an in-memory map, so state_get/state_set
 * work), admin replies. Time is fake: timers fire only when the test calls
 * er_test_advance(). fd watches fire from er_test_poll(), which poll(2)s the
 * watched descriptors for real.
 *
 * It is also strict where the daemon is forgiving, so plugin bugs show up
 * in tests: completing a token twice or from inside the call that received
 * it, returning a final status and completing as well, calling a loop-only
 * member off the test's thread, timers or watches or tokens still open when
 * stop()'s done is called, event references leaked at destroy() — each is
 * an "ABI violation", counted by er_test_violations() and logged as an
 * ER_PLOG_ERROR line starting "ABI violation: ".
 *
 * Linking: `pkg-config --cflags --libs libeventrouter-testing` (a static
 * library with no Check or libuv dependency). The host's uv_loop member
 * returns NULL unless the test supplies a loop (er_test_set_uv_loop).
 *
 * Threads: every er_test_* function is called from the test's thread, the
 * kit's "loop thread". The plugin may call the members the ABI allows off
 * the loop (log, allocation, events, metric_add/set, publish) from other
 * threads; the kit locks what they touch.
 *
 * Conventions as in <eventrouter.h>: functions return 0 (or a count) or a
 * negative errno; the reason of the last failure is er_test_error(t).
 * Ownership is stated on every pointer.
 */
#ifndef EVENTROUTER_TESTING_H
#define EVENTROUTER_TESTING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <eventrouter.h>
#include <eventrouter/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct er_test_s er_test_t;

/* ------------------------------------------------------------ the kit */

/* A new fake host with nothing loaded. Returns NULL on ENOMEM. Free with
 * er_test_free(). */
er_test_t *er_test_new(void);

/*
 * Stop (if started and not stopped), destroy (if created) and unload the
 * plugin, then free everything the kit recorded. Pointers the kit handed
 * out (events, log lines, replies) are invalid afterwards. The .so is not
 * dlclosed when $ER_NO_DLCLOSE=1 (for valgrind and sanitizer runs, so leak
 * reports keep their symbols). NULL is a no-op.
 */
void er_test_free(er_test_t *t);

/* Why the last call that failed failed: one line, never NULL, borrowed
 * until the next call on t. "" when nothing failed. */
const char *er_test_error(const er_test_t *t);

/* ------------------------------------------------------------ plugins */

/*
 * Load a handler plugin from path (borrowed until return) with dlopen
 * RTLD_NOW|RTLD_LOCAL and check its descriptor as the daemon does (magic,
 * ABI version, declared sizes, kind, name, operations, options schema;
 * the daemon's file ownership and permission checks are not applied).
 * Returns 0, or -ENOEXEC / -EINVAL with the daemon's refusal in
 * er_test_error(). One plugin per kit.
 */
int er_test_load(er_test_t *t, const char *path);

/*
 * Use a descriptor linked into the test itself (desc borrowed for the
 * kit's lifetime: usually &er_plugin_entry of the plugin's source compiled
 * into the test). Checked as er_test_load checks it.
 */
int er_test_use(er_test_t *t, const er_plugin_t *desc);

/* The checked descriptor (a host-side copy, borrowed while t lives), or
 * NULL before a plugin is loaded. */
const er_plugin_t *er_test_plugin(const er_test_t *t);

/* ------------------------------------------------------------ options */

/*
 * The instance's options from YAML text (a block map, as under the
 * plugin's entry in eventrouter.yaml, without the host's keys; yaml
 * borrowed until return), validated against the plugin's schema. On
 * failure returns -EINVAL and er_test_error() holds every error as
 * "test.yaml:LINE:COL: message", joined by "; ". Replaces options set
 * before. A plugin must be loaded first.
 */
int er_test_options_yaml(er_test_t *t, const char *yaml);

/*
 * The same from "key=value" strings (pairs borrowed until return,
 * NULL-terminated), each value taken as the text of a scalar exactly as
 * written (no ${VAR} expansion). Lists and maps need er_test_options_yaml.
 * Example: er_test_options_kv(t, (const char *[]){"path=/tmp/x", NULL}).
 */
int er_test_options_kv(er_test_t *t, const char *const *pairs);

/* The validated options the instance gets (borrowed until options are set
 * again or t is freed), or NULL before any are set. */
const er_options_t *er_test_options(const er_test_t *t);

/* ---------------------------------------------------------- lifecycle */

/*
 * create(): make the instance named `name` (borrowed until return; the
 * host's instance_name) from the options set before, or from the schema's
 * defaults when none were set (which fails when a key is required).
 * Returns what create() returned; on failure no instance exists.
 */
int er_test_create(er_test_t *t, const char *name);

/* start(). Returns what it returned. */
int er_test_start(er_test_t *t);

/*
 * stop(done), then run until done is called: deliver queued completions,
 * poll watched fds and, when nothing else is pending, advance the fake
 * clock to the next timer. Returns 0 once done was called, -ETIMEDOUT if
 * it was not within 10 s of real time (a violation). Checks at done:
 * timers, watches and tokens still open are violations.
 */
int er_test_stop(er_test_t *t);

/* destroy(). Event references the plugin still holds are a violation
 * (counted by the kit's event_ref/event_unref). */
void er_test_destroy(er_test_t *t);

/* reload(new options from YAML) (yaml borrowed until return). Returns
 * -ENOTSUP when the plugin has no reload, else what reload() returned;
 * on 0 the new options replace the old. */
int er_test_reload_yaml(er_test_t *t, const char *yaml);

/* reopen() (SIGUSR1). Returns -ENOTSUP when not implemented. */
int er_test_reopen(er_test_t *t);

/* types() (borrowed from the instance), or NULL. */
const char *const *er_test_types(er_test_t *t);

/* ------------------------------------------------------------- events */

/*
 * Deliver one event: build it from fields (borrowed until return; copied,
 * checked with er_event_validate, daemon fields kept as given so a test
 * can set seq), call handle(ev, token) and record the outcome under a new
 * token id stored in *token (may be NULL), 1 for the first delivery,
 * then 2, ... Returns what handle() returned: ER_OK, ER_RETRY, ER_FAIL,
 * ER_PENDING or a negative errno; a refused event returns its ER_E* code
 * before handle() is called (*token = 0, er_test_error() says why).
 * Queued completions (from publish or state calls) are delivered after.
 */
int er_test_handle(er_test_t *t, const er_event_t *fields, uint64_t *token);

/* The same from the event's JSON shape (json borrowed until return), as
 * eventctl publish --from-file reads it. */
int er_test_handle_json(er_test_t *t, const char *json, uint64_t *token);

/* cancel(token) for a delivery still pending. -ENOTSUP when the plugin
 * has no cancel, -ENOENT for an unknown or completed token. */
int er_test_cancel(er_test_t *t, uint64_t token);

/*
 * admin(command, args_json, token) (borrowed until return). Returns what
 * admin() returned (-ENOTSUP when not implemented); the token id goes to
 * *token. The reply is er_test_admin_reply(t, id) once completed.
 */
int er_test_admin(er_test_t *t, const char *command, const char *args_json, uint64_t *token);

/* The JSON the plugin gave admin_reply for token id (borrowed while t
 * lives), or NULL. */
const char *er_test_admin_reply(const er_test_t *t, uint64_t token);

/* ------------------------------------------------------------ outcomes */

/* One completion. status is ER_OK, ER_RETRY, ER_FAIL, ER_CANCELLED, or
 * the negative errno handle() returned. */
typedef struct er_test_completion_s {
    uint64_t token;
    int status;
    bool async; /* by complete()/complete_batch(), not handle()'s return */
} er_test_completion_t;

/* Completions in the order they happened. */
size_t er_test_ncompletions(const er_test_t *t);
/* The i-th (borrowed while t lives), or NULL past the end. */
const er_test_completion_t *er_test_completion(const er_test_t *t, size_t i);

/* The outcome of token id: its final status as above, ER_PENDING while
 * open, or -ENOENT for an id never handed out. */
int er_test_status(const er_test_t *t, uint64_t token);

/* Events the plugin published, in order. Each is a copy with the
 * envelope the daemon would add: seq 1, 2, ..., received (now), origin
 * (this process), via.plugin (the instance name), hops + 1. */
size_t er_test_npublished(const er_test_t *t);
/* The i-th as a view (borrowed while t lives), or NULL past the end. */
const er_event_t *er_test_published(const er_test_t *t, size_t i);

/* A log line: level ER_PLOG_*, text without the component prefix. */
typedef struct er_test_log_s {
    int level;
    const char *text;
} er_test_log_t;

size_t er_test_nlogs(const er_test_t *t);
/* The i-th line (borrowed while t lives), or NULL past the end. */
const er_test_log_t *er_test_log(const er_test_t *t, size_t i);
/* How many lines at `level` (-1: any) contain `needle` (borrowed until
 * return). */
size_t er_test_log_count(const er_test_t *t, int level, const char *needle);
/* Echo every line to stderr as it is logged (for debugging a test); also
 * on when $ER_TEST_LOG is set. */
void er_test_log_echo(er_test_t *t, bool on);

/* The health the plugin last set (ER_HEALTH_UP before any) and its reason
 * (borrowed until the next change; may be NULL). */
er_health_t er_test_health(const er_test_t *t, const char **reason);
/* How many times set_health changed the state. */
size_t er_test_health_changes(const er_test_t *t);

/* A registered metric's value: 0, or -ENOENT. */
int er_test_metric(const er_test_t *t, const char *name, int64_t *value);

/* One figure of the plugin's stats(): 0, -ENOENT, or -ENOTSUP without
 * stats(). */
int er_test_stat(er_test_t *t, const char *name, int64_t *value);

/* ABI violations seen so far (each also an ER_PLOG_ERROR log line). */
size_t er_test_violations(const er_test_t *t);

/* -------------------------------------------------------------- state */

/* The plugin's key-value state, as state_get/state_set see it. get: 0 with
 * *value (borrowed until the key changes) and *len, or -ENOENT. set copies
 * value (borrowed until return); value NULL deletes the key. */
int er_test_state_get(const er_test_t *t, const char *key, const void **value, size_t *len);
int er_test_state_set(er_test_t *t, const char *key, const void *value, size_t len);

/* Make every state_get/state_set/publish fail with err (a negative errno;
 * 0 restores), to test a plugin's error paths. */
void er_test_fail_requests(er_test_t *t, int err);

/* ---------------------------------------------------------- time, I/O */

/* The fake clock in milliseconds (starts at 0). */
uint64_t er_test_now(const er_test_t *t);

/* Move the clock forward by ms, firing every timer that falls due, in due
 * order, at its due time (repeating ones as often as they fall due), then
 * deliver queued completions. Returns the number of timer callbacks run. */
size_t er_test_advance(er_test_t *t, uint64_t ms);

/* Deliver queued completions (publish, state calls, plugin tokens) as the
 * loop would on its next turn. Returns how many. */
size_t er_test_run(er_test_t *t);

/* poll(2) the watched fds for up to timeout_ms (0: just look) and run the
 * callbacks of those ready, then deliver queued completions. Returns the
 * number of callbacks run, or a negative errno. */
int er_test_poll(er_test_t *t, int timeout_ms);

/* Active timers and watches (stopped ones not counted). */
size_t er_test_timers(const er_test_t *t);
size_t er_test_watches(const er_test_t *t);

/* What the host's uv_loop member returns (borrowed; NULL by default). A
 * test that links libuv may give the plugin a loop and run it itself. */
void er_test_set_uv_loop(er_test_t *t, void *loop);

/* The fake host table itself, and the instance (for tests that call the
 * plugin's operations directly). Borrowed while t lives. */
const er_host_t *er_test_host(const er_test_t *t);
void *er_test_instance(const er_test_t *t);

/* The event view of an er_ev_t (borrowed while the reference is held). */
const er_event_t *er_test_event_view(const er_ev_t *ev);

#ifdef __cplusplus
}
#endif
#endif /* EVENTROUTER_TESTING_H */
