/*
 * A publisher app: the login flow of the original in-process event bus,
 * published to eventrouterd through libeventrouter (<eventrouter.h>).
 *
 * For each login it publishes UserLoginAttempted, then AuthSucceeded and
 * UserLoggedIn — or AuthFailed (priority high: security cares) — all on
 * the user's stream, one correlation id per login, each event's
 * causation_id the id of the event that caused it. Successful logins go as
 * one PUBLISH_BATCH; every event is acknowledged `durable` (the default of
 * eventctl, and what an application that must not lose a login wants).
 *
 * usage: login [SOCKET] [USER...]   (SOCKET: $EVENTROUTER_SOCKET or the
 * default; a user whose name starts with '!' fails to log in)
 * Prints one line per login: "USER ok|failed seq FIRST..LAST".
 */
#include <stdio.h>
#include <string.h>

#include <eventrouter.h>

/* Fill the fields every event of one login shares. */
static void base(er_event_t *ev, const char *type, const char *stream, const char *corr,
                 const char *id, const char *caused_by)
{
    memset(ev, 0, sizeof(*ev));
    ev->type = er_str(type);
    ev->stream = er_str(stream);
    ev->correlation_id = er_str(corr);
    ev->causation_id = er_str(caused_by);
    ev->id = er_str(id);
    ev->source = er_str("login-service");
    ev->content_type = er_str("application/json");
    ev->data_is_str = true;
}

static int login(er_client_t *c, const char *user)
{
    static const er_meta_t meta[] = {{{"app", 3}, {"example", 7}}};
    bool fails = user[0] == '!';
    const char *name = fails ? user + 1 : user;
    char stream[160], corr[40], ids[3][40], data[3][200];
    er_event_t evs[3];
    er_nack_t nack;
    er_error_t err = {0};
    er_ack_t ack;
    uint64_t seq, last;
    int i, rc;

    snprintf(stream, sizeof(stream), "user:%s", name);
    er_uuid7(corr);
    for (i = 0; i < 3; i++)
        er_uuid7(ids[i]);

    /* 1. The attempt, on its own: its seq is the login's first. */
    base(&evs[0], "UserLoginAttempted", stream, corr, ids[0], NULL);
    snprintf(data[0], sizeof(data[0]), "{\"user\":\"%s\",\"method\":\"password\"}", name);
    evs[0].data = er_str(data[0]);
    evs[0].meta = meta;
    evs[0].meta_count = 1;
    if ((rc = er_publish(c, &evs[0], &seq, &nack, &err)) != 0)
        goto refused;

    if (fails) {
        /* 2'. Failure: one event, high priority, caused by the attempt. */
        base(&evs[1], "AuthFailed", stream, corr, ids[1], ids[0]);
        evs[1].topic = er_str("auth.failed");
        evs[1].priority = ER_PRIORITY_HIGH;
        evs[1].has |= ER_HAS_PRIORITY;
        snprintf(data[1], sizeof(data[1]), "{\"user\":\"%s\",\"reason\":\"bad password\"}", name);
        evs[1].data = er_str(data[1]);
        if ((rc = er_publish(c, &evs[1], &last, &nack, &err)) != 0)
            goto refused;
        printf("%s failed seq %llu..%llu\n", name, (unsigned long long)seq,
               (unsigned long long)last);
        return 0;
    }
    /* 2. Success: both events in one batch, each caused by the one before. */
    base(&evs[1], "AuthSucceeded", stream, corr, ids[1], ids[0]);
    evs[1].topic = er_str("auth.succeeded");
    snprintf(data[1], sizeof(data[1]), "{\"user\":\"%s\"}", name);
    evs[1].data = er_str(data[1]);
    base(&evs[2], "UserLoggedIn", stream, corr, ids[2], ids[1]);
    snprintf(data[2], sizeof(data[2]), "{\"user\":\"%s\",\"session\":\"%.8s\"}", name, ids[2]);
    evs[2].data = er_str(data[2]);
    if ((rc = er_publish_batch(c, &evs[1], 2, &ack, &nack, &err)) != 0)
        goto refused;
    printf("%s ok seq %llu..%llu\n", name, (unsigned long long)seq,
           (unsigned long long)(ack.seq + ack.count - 1));
    return 0;

refused:
    if (rc == ER_ENACK)
        fprintf(stderr, "login: %s: refused (%s): %s\n", name, nack.code, nack.message);
    else if (err.message[0]) /* the event failed the local check */
        fprintf(stderr, "login: %s: %s\n", name, err.message);
    else
        fprintf(stderr, "login: %s: %s\n", name, er_strerror(rc));
    return 1;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : NULL;
    er_client_t *c;
    int i, rc, status = 0;

    if ((rc = er_connect(path, "login-example", ER_ACK_DURABLE, 5000, &c)) != 0) {
        fprintf(stderr, "login: cannot connect to %s: %s\n", path ? path : er_default_socket(),
                er_strerror(rc));
        return 3;
    }
    if (argc <= 2) {
        status |= login(c, "alice");
        status |= login(c, "!mallory");
    }
    for (i = 2; i < argc; i++)
        status |= login(c, argv[i]);
    er_client_free(c);
    return status;
}
