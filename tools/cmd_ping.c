/*
 * eventctl ping: connect, PING, wait for PONG and print the round trip; the
 * quickest check that a daemon is there and answering (exit 3 when not).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>

#include <jansson.h>

#include "eventctl.h"

/* The --json line: the round trip and what WELCOME said. */
static void print_json(const er_welcome_t *w, int64_t rtt_us)
{
    json_t *o = json_pack("{s:I, s:I, s:b, s:{s:I, s:I, s:I, s:I}}", "rtt_us", (json_int_t)rtt_us,
                          "version", (json_int_t)w->version, "durable", w->durable, "limits",
                          "max_frame", (json_int_t)w->max_frame, "max_event_size",
                          (json_int_t)w->max_event_size, "max_batch", (json_int_t)w->max_batch,
                          "max_inflight", (json_int_t)w->max_inflight);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s)
        puts(s);
    free(s);
    json_decref(o);
}

int ctl_cmd_ping(ctl_t *ctl, const ctl_cmd_t *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"count", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t count = 1, timeout_s = 5, i;
    ctl_session_t s;
    int c, status;

    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (ctl_common_option(cmd, c, argv, &status))
            return status;
        switch (c) {
        case 'c':
            if (!ctl_parse_uint(optarg, 1, UINT32_MAX, &count))
                return ctl_usage_error(cmd, "--count must be a positive integer, not '%s'", optarg);
            break;
        case 't':
            if (!ctl_parse_uint(optarg, 1, 3600, &timeout_s))
                return ctl_usage_error(cmd, "--timeout must be 1-3600 seconds, not '%s'", optarg);
            break;
        }
    }
    if (optind < argc)
        return ctl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);

    if ((status = ctl_open(ctl, &s, ER_ACK_RECEIVED, NULL, NULL)) != CTL_OK)
        return status;
    for (i = 0; i < count; i++) {
        int64_t t0 = ctl_now_us(), rtt;
        int rc = er_ping(s.c, (int)timeout_s * 1000);
        if (rc == -ETIMEDOUT) {
            ctl_err("%s: no PONG within %llu s", s.path, (unsigned long long)timeout_s);
            status = CTL_UNREACHABLE;
            break;
        }
        if (rc != 0) {
            status = ctl_fail(&s, rc);
            break;
        }
        rtt = ctl_now_us() - t0;
        if (ctl->json)
            print_json(er_client_welcome(s.c), rtt);
        else
            printf("pong %lldus\n", (long long)rtt);
        fflush(stdout);
    }
    ctl_close(&s);
    return status;
}
