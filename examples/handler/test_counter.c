/*
 * Unit test of the counter plugin against the eventrouter testing kit
 * (<eventrouter/testing.h>): load the built counter.so, feed it events,
 * check what it logged, its stats, and that it broke no ABI rule. No test
 * framework needed; exits 0 on success.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <eventrouter/testing.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    const char *so = argc > 1 ? argv[1] : "./counter.so";
    er_test_t *t = er_test_new();
    int64_t v;
    int i;

    CHECK(t != NULL);
    if (er_test_load(t, so) != 0) {
        fprintf(stderr, "%s\n", er_test_error(t));
        return 1;
    }
    CHECK(strcmp(er_test_plugin(t)->name, "counter") == 0);

    /* Options are checked against the plugin's schema, as the daemon does. */
    CHECK(er_test_options_yaml(t, "every: 0\n") != 0);
    CHECK(strstr(er_test_error(t), "test.yaml:1:") != NULL);
    CHECK(er_test_options_yaml(t, "every: 2\n") == 0);

    CHECK(er_test_create(t, "counts") == 0);
    CHECK(er_test_start(t) == 0);
    for (i = 0; i < 3; i++)
        CHECK(er_test_handle_json(t, "{\"type\":\"OrderCreated\"}", NULL) == ER_OK);
    CHECK(er_test_handle_json(t, "{\"type\":\"UserLoggedIn\"}", NULL) == ER_OK);

    /* Every event completed OK at once, in order. */
    CHECK(er_test_ncompletions(t) == 4);
    CHECK(er_test_completion(t, 3)->status == ER_OK);
    /* A line every 2 events. */
    CHECK(er_test_log_count(t, ER_PLOG_NOTICE, "2 events, 1 types, most: OrderCreated (2)") == 1);
    CHECK(er_test_log_count(t, ER_PLOG_NOTICE, "4 events, 2 types, most: OrderCreated (3)") == 1);
    CHECK(er_test_stat(t, "total", &v) == 0 && v == 4);
    CHECK(er_test_stat(t, "UserLoggedIn", &v) == 0 && v == 1);

    CHECK(er_test_stop(t) == 0);
    er_test_destroy(t);
    CHECK(er_test_violations(t) == 0);
    er_test_free(t);
    printf("counter: all checks passed\n");
    return 0;
}
