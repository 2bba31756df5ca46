/* See itest_admin.h. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eventrouter.h"
#include "itest_admin.h"

bool er_itest_slowed(void)
{
    const char *w = getenv("ER_TEST_WRAPPER");

    return w != NULL && w[0] != '\0';
}

int er_itest_patience(void)
{
    return er_itest_slowed() ? 600 : 120;
}

double er_itest_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void er_itest_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

void er_itest_path(char *buf, size_t cap, const er_test_daemon_t *d, const char *file)
{
    snprintf(buf, cap, "%s/%s", d->dir, file);
}

json_t *er_itest_admin(const er_test_daemon_t *d, const char *cmd, const char *args)
{
    char path[400], *reply = NULL;
    er_client_t *a = NULL;
    er_nack_t nack;
    json_t *j;

    memset(&nack, 0, sizeof(nack));
    er_itest_path(path, sizeof(path), d, "admin.sock");
    ck_assert_int_eq(er_connect(path, "itest", ER_ACK_RECEIVED, 30000, &a), 0);
    ck_assert_msg(er_admin(a, cmd, args, &reply, &nack, 60000) == 0, "%s: %s: %s", cmd, nack.code,
                  nack.message);
    j = json_loads(reply, 0, NULL);
    ck_assert_ptr_nonnull(j);
    free(reply);
    er_client_free(a);
    return j;
}

json_t *er_itest_dest(const er_test_daemon_t *d, const char *name)
{
    json_t *r = er_itest_admin(d, "destinations", NULL), *v, *found = NULL;
    size_t i;

    json_array_foreach(json_object_get(r, "destinations"), i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "name")), name) == 0)
            found = json_incref(v);
    }
    json_decref(r);
    ck_assert_msg(found != NULL, "no destination %s", name);
    return found;
}

long long er_itest_num(const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    ck_assert_msg(json_is_integer(v), "no integer %s", key);
    return json_integer_value(v);
}

uint64_t *er_itest_read_seqs(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    char *line = NULL, *end;
    size_t cap = 0, vcap = 0;
    ssize_t len;
    uint64_t *v = NULL;

    *n = 0;
    if (f == NULL) {
        ck_assert_msg(errno == ENOENT, "%s: %s", path, strerror(errno));
        return NULL;
    }
    while ((len = getline(&line, &cap, f)) > 0) {
        unsigned long long seq;
        ck_assert_msg(line[len - 1] == '\n', "%s: line %zu is cut short: %s", path, *n + 1, line);
        ck_assert_msg(strncmp(line, "{\"seq\":", 7) == 0, "%s: line %zu: %s", path, *n + 1, line);
        seq = strtoull(line + 7, &end, 10);
        ck_assert_msg(*end == ',' && seq > 0, "%s: line %zu: %s", path, *n + 1, line);
        if (*n == vcap) {
            vcap = vcap ? vcap * 2 : 4096;
            v = realloc(v, vcap * sizeof(*v));
            ck_assert_ptr_nonnull(v);
        }
        v[(*n)++] = seq;
    }
    free(line);
    fclose(f);
    return v;
}

uint64_t er_itest_wait_caught_up(const er_test_daemon_t *d, const char *name)
{
    double deadline = er_itest_now_s() + er_itest_patience();
    json_t *o = NULL;
    uint64_t head;

    for (;;) {
        o = er_itest_dest(d, name);
        if (strcmp(json_string_value(json_object_get(o, "state")), "live") == 0 &&
            er_itest_num(o, "cursor") == er_itest_num(o, "head") &&
            er_itest_num(o, "persisted") == er_itest_num(o, "head") &&
            er_itest_num(o, "lag_events") == 0 && er_itest_num(o, "inflight") == 0)
            break;
        if (er_itest_now_s() > deadline) {
            char *text = json_dumps(o, JSON_COMPACT);
            er_test_daemon_dump_log(d);
            ck_abort_msg("%s did not catch up in %d s: %s", name, er_itest_patience(), text);
        }
        json_decref(o);
        er_itest_sleep_ms(20);
    }
    head = (uint64_t)er_itest_num(o, "head");
    json_decref(o);
    return head;
}
