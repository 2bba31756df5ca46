#!/bin/bash
# Poison events: a handler that crashes the daemon (SIGSEGV) on one event.
# A supervisor restarts the daemon like systemd's Restart=on-failure. After
# each unclean stop the handlers run in recovery: one delivery at a time,
# each preceded by a durable record of what is being attempted; the event
# that was being attempted in three crashes in a row is dead-lettered with
# reason `crashed` instead of attempted again. Every other event reaches
# every destination, and the daemon then runs on.
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
[ -x "$EVENTROUTERD" ] || { echo "no $EVENTROUTERD"; exit 77; }
so=$ER_BUILDDIR/tests/plugins/.libs/test_crash.so
[ -f "$so" ] || { echo "no $so"; exit 77; }

er_tmpdir
er_write_config "handlers:
  crashy:
    plugin: $so
    record: $ER_TMP/crashy.txt
  rec:
    plugin: log
    path: $ER_TMP/rec.jsonl
routes:
  - match: \"*\"
    to: [crashy, rec]"
distinct() { awk '{ print $1 }' "$1" | sort -un | wc -l; }

er_start_daemon
# Stored first (crashy paused), then delivered: the poison event is in the
# store when it crashes the daemon.
ctl pause crashy >/dev/null || fail "pause"
ctl publish --type A --count 500 --batch 50 2>/dev/null || fail "publish A"
poison=$(ctl publish --type Poison) || fail "publish Poison"
ctl publish --type B --count 499 --batch 50 2>/dev/null || fail "publish B"
# (The daemon may crash while answering: the resume delivers at once.)
ctl resume crashy >/dev/null 2>&1
wait "$ER_PID"
status=$?
[ "$status" -ne 0 ] || fail "the daemon did not crash on the poison event (exit $status)"
ER_PID=

# The supervisor: restart while it dies, at most 5 times.
restarts=0
while :; do
    # (Not er_start_daemon: this start may crash before it binds its socket.)
    # shellcheck disable=SC2086
    ${ER_TEST_WRAPPER:-} "$EVENTROUTERD" -c "$ER_CONFIG" >> "$ER_TMP/daemon.log" 2>&1 &
    ER_PID=$!
    # Alive and done with recovery, or dead again?
    for _ in $(seq 1 1000); do
        kill -0 "$ER_PID" 2>/dev/null || break
        grep -q 'recovery done' "$ER_TMP/daemon.log" && break
        sleep 0.01
    done
    if kill -0 "$ER_PID" 2>/dev/null; then
        break
    fi
    wait "$ER_PID"
    ER_PID=
    restarts=$((restarts + 1))
    [ "$restarts" -le 5 ] || fail "still crashing after $restarts restarts"
done
restarts=$((restarts + 1)) # the start that survived
[ "$restarts" = 3 ] || fail "survived after $restarts restarts, expected 3"
er_wait_socket "$ER_TMP/admin.sock" || fail "no admin socket"
grep -q "seq $poison was being delivered when the daemon crashed 3 times in a row: dead-lettered" \
    "$ER_TMP/daemon.log" || fail "no crashed dead letter logged for seq $poison"
ctl dlq list --destination crashy | awk -v s="$poison" '$2 == s { print $4, $5 }' |
    grep -qx 'crashed 3' || fail "dlq list: $(ctl dlq list)"
# Everything else reached both destinations (at least once).
for _ in $(seq 1 1000); do
    [ -f "$ER_TMP/crashy.txt" ] && [ "$(distinct "$ER_TMP/crashy.txt")" -ge 999 ] &&
        [ "$(grep -o '"seq":[0-9]*' "$ER_TMP/rec.jsonl" | sort -u | wc -l)" -ge 1000 ] && break
    sleep 0.01
done
[ "$(distinct "$ER_TMP/crashy.txt")" = 999 ] || fail "crashy got $(distinct "$ER_TMP/crashy.txt") of 999"
grep -q "^$poison " "$ER_TMP/crashy.txt" && fail "the poison event was answered"
[ "$(grep -o '"seq":[0-9]*' "$ER_TMP/rec.jsonl" | sort -u | wc -l)" = 1000 ] ||
    fail "rec got $(grep -o '"seq":[0-9]*' "$ER_TMP/rec.jsonl" | sort -u | wc -l) of 1000"
# And it runs on: a new event is delivered to both.
last=$(ctl publish --type After) || fail "publish After"
for _ in $(seq 1 500); do grep -q "^$last " "$ER_TMP/crashy.txt" && break; sleep 0.01; done
grep -q "^$last After" "$ER_TMP/crashy.txt" || fail "no delivery after recovery"
er_stop_ok
echo "test_poison: all checks passed (seq $poison dead-lettered after 3 crashes)"
