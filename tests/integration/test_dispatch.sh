#!/bin/bash
# Delivery statuses through the real daemon and a real handler .so
# (tests/plugins/test_handler: TestFail → FAIL, TestRetry → RETRY always,
# TestPending → PENDING then OK from a timer, TestHang → PENDING until
# cancelled, else OK): OK is delivered, RETRY is redelivered up to
# retry.max_attempts with the policy's back-off and then given up, FAIL is
# logged, counted and dead-lettered, PENDING completes later, a delivery past
# `timeout` is cancelled and retried — through a window of 4, so most
# events wait in the queue first. Counts come from `eventctl handlers` and
# from the plugin's own stats.
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
[ -x "$EVENTROUTERD" ] || { echo "no $EVENTROUTERD"; exit 77; }
so=$ER_BUILDDIR/tests/plugins/.libs/test_handler.so
[ -f "$so" ] || { echo "no $so"; exit 77; }

er_tmpdir
er_write_config "handlers:
  t:
    plugin: $so
    endpoint: test
    password: hunter2-not-for-logs
    window: 4
    retry: { max_attempts: 3, initial: 100ms }
  watcher:
    plugin: $so
    endpoint: watch
    types: [TestPending]
routes:
  - match: \"*\"
    to: [t]"
er_start_daemon
# The first occurrence of "NAME":number in the handlers reply (handler t).
field() { grep -o "\"$1\":[0-9]*" "$ER_TMP/h.json" | head -1 | cut -d: -f2; }

fail_seq=$(ctl publish --type TestFail) || fail "publish TestFail"
ctl publish --type TestRetry >/dev/null || fail "publish TestRetry"
ctl publish --type TestPending --count 50 --batch 10 2>/dev/null || fail "publish TestPending"
ctl publish --type Other --count 20 2>/dev/null || fail "publish Other"

# Retries take 2 x 100 ms; wait for every delivery to settle.
for _ in $(seq 1 1000); do
    ctl --json handlers > "$ER_TMP/h.json" || fail "handlers"
    [ "$(field delivered)" = 70 ] && [ "$(field gave_up)" = 1 ] && break
    sleep 0.01
done
[ "$(field delivered)" = 70 ] || fail "delivered $(field delivered), expected 70: $(cat "$ER_TMP/h.json")"
[ "$(field failed)" = 1 ] || fail "failed $(field failed), expected 1"
[ "$(field retried)" = 2 ] || fail "retried $(field retried), expected 2 (3 attempts)"
[ "$(field gave_up)" = 1 ] || fail "gave_up $(field gave_up), expected 1"
[ "$(field inflight)" = 0 ] && [ "$(field queued)" = 0 ] || fail "deliveries left over"
# The plugin saw: 1 FAIL, 3 RETRY attempts, 50 PENDING, 20 OK.
[ "$(field calls)" = 74 ] || fail "plugin calls $(field calls), expected 74"
[ "$(field pending)" = 50 ] || fail "plugin pending $(field pending), expected 50"
[ "$(field ok)" = 70 ] || fail "plugin ok $(field ok), expected 70"
grep -q "\[handler:t\] seq $fail_seq (TestFail): FAIL, dead-lettered" "$ER_TMP/daemon.log" ||
    fail "FAIL not logged"
grep -q "(TestRetry): still failing after 3 attempts, dead-lettered" "$ER_TMP/daemon.log" ||
    fail "giving up not logged"

# The effective configuration is shown with the secret redacted, and the
# secret is in no log line either.
ctl config > "$ER_TMP/config.out" || fail "config"
grep -q 'endpoint: "test"' "$ER_TMP/config.out" || fail "config lacks the handler's options"
grep -q 'password: "<redacted>"' "$ER_TMP/config.out" || fail "config does not show a redacted secret"
grep -q 'hunter2' "$ER_TMP/config.out" "$ER_TMP/daemon.log" && fail "the secret leaked"

# A handler declaring types is an implicit continue route at the top: the
# watcher got every TestPending, and they still reached t.
ctl routes > "$ER_TMP/routes.out"
head -1 "$ER_TMP/routes.out" | grep -q 'implicit type=\["TestPending"\]  -> watcher  (continue)' ||
    fail "implicit route not first: $(cat "$ER_TMP/routes.out")"
ctl --json handlers | grep -q '"name":"watcher".*"delivered":50,' || fail "watcher did not get 50"
ctl route --type TestPending | grep -q '^destinations: t watcher$' || fail "route TestPending"

er_stop_ok

# Shutdown waits for deliveries in flight; a second SIGTERM stops waiting:
# a TestHang delivery is only completed by the handler's stop().
er_write_config "shutdown_timeout: 1h
handlers:
  t:
    plugin: $so
    endpoint: test
routes:
  - match: \"*\"
    to: [t]"
er_start_daemon
hang0=$(ctl publish --type TestHang) || fail "publish TestHang"
kill -TERM "$ER_PID"
for _ in $(seq 1 500); do
    grep -q 'Terminated: shutting down' "$ER_TMP/daemon.log" && break
    sleep 0.01
done
sleep 0.3
kill -0 "$ER_PID" 2>/dev/null || fail "the daemon did not wait for its delivery in flight"
er_stop_daemon TERM
[ "$ER_STATUS" -eq 0 ] || fail "exit status $ER_STATUS after the second SIGTERM"
grep -q 'asked again with 1 deliveries in flight: stopping the handlers' "$ER_TMP/daemon.log" ||
    fail "the cut-short drain is not logged"

# Retry policy: back-off from `initial`, times `multiplier`, capped at
# `max` (attempt gaps 200, 400, 600 ms here, each within +-50 %), given up
# after exactly max_attempts; a route's override (the first matching route
# with one) wins for its events; `timeout` cancels a delivery that does not
# answer (the plugin completes it CANCELLED), which is retried like RETRY.
er_write_config "handlers:
  t:
    plugin: $so
    endpoint: test
    timeout: 200ms
    retry: { max_attempts: 4, initial: 200ms, multiplier: 2, max: 600ms, jitter: 0 }
routes:
  - match: { stream: \"override:\" }
    to: [t]
    retry: { max_attempts: 2, initial: 50ms, jitter: 0 }
  - match: \"*\"
    to: [t]"
er_start_daemon
# The TestHang cut short by the shutdown above was not done: its cursor
# stayed before it, so this daemon delivers it again (at-least-once) — and
# it times out four times too.
for _ in $(seq 1 1000); do
    grep -q "seq $hang0 (TestHang): still failing after 4 attempts" "$ER_TMP/daemon.log" && break
    sleep 0.01
done
grep -q "seq $hang0 (TestHang): still failing after 4 attempts, dead-lettered" \
    "$ER_TMP/daemon.log" || fail "the TestHang cut short by a shutdown was not delivered again"
seq=$(ctl publish --type TestRetry --stream plain:1) || fail "publish TestRetry"
oseq=$(ctl publish --type TestRetry --stream override:1) || fail "publish TestRetry (override)"
hseq=$(ctl publish --type TestHang) || fail "publish TestHang"
for _ in $(seq 1 1000); do
    [ "$(grep -cE "seq ($seq|$oseq|$hseq) \(Test(Retry|Hang)\): still failing after" \
        "$ER_TMP/daemon.log")" -ge 3 ] && break
    sleep 0.01
done
grep -q "seq $seq (TestRetry): still failing after 4 attempts, dead-lettered" "$ER_TMP/daemon.log" ||
    fail "the handler's policy: not given up after 4 attempts"
grep -q "seq $oseq (TestRetry): still failing after 2 attempts, dead-lettered" "$ER_TMP/daemon.log" ||
    fail "the route's override: not given up after 2 attempts"
[ "$(grep -c "TestRetry seq $seq attempt at" "$ER_TMP/daemon.log")" = 4 ] ||
    fail "seq $seq: $(grep -c "TestRetry seq $seq attempt at" "$ER_TMP/daemon.log") attempts, expected 4"
grep "TestRetry seq $seq attempt at" "$ER_TMP/daemon.log" | sed 's/.* at \([0-9]*\) ms$/\1/' |
    awk 'NR > 1 { print $1 - prev } { prev = $1 }' > "$ER_TMP/gaps"
paste -sd' ' "$ER_TMP/gaps" | {
    read -r g1 g2 g3
    [ "$g1" -ge 100 ] && [ "$g1" -le 300 ] && [ "$g2" -ge 200 ] && [ "$g2" -le 600 ] &&
        [ "$g3" -ge 300 ] && [ "$g3" -le 900 ] ||
        fail "retry gaps $g1 $g2 $g3 ms, expected 200 400 600 (+-50 %)"
}
[ "$(grep -c "seq $hseq (TestHang): no answer after 200 ms (timeout): cancelling" "$ER_TMP/daemon.log")" = 4 ] ||
    fail "TestHang: expected 4 timed-out attempts: $(grep TestHang "$ER_TMP/daemon.log")"
grep -q "seq $hseq (TestHang): still failing after 4 attempts, dead-lettered" "$ER_TMP/daemon.log" ||
    fail "TestHang: not given up after 4 cancelled attempts"
ctl --json handlers > "$ER_TMP/h.json" || fail "handlers"
[ "$(field timed_out)" = 8 ] || fail "timed_out $(field timed_out), expected 8 (4 + 4)"
[ "$(field gave_up)" = 4 ] || fail "gave_up $(field gave_up), expected 4"
# They are dead letters now (with the earlier daemons' TestFail and
# TestRetry: the store is the same directory).
ctl dlq list --destination t > "$ER_TMP/dlq.out" || fail "dlq list"
for want in "$seq t retries_exhausted 4" "$oseq t retries_exhausted 2" \
    "$hseq t retries_exhausted 4" "$fail_seq t failed 1"; do
    awk '{ print $2, $3, $4, $5 }' "$ER_TMP/dlq.out" | grep -qx "$want" ||
        fail "dlq list lacks '$want': $(cat "$ER_TMP/dlq.out")"
done
[ "$(ctl --json dlq list --limit 2 | grep -o '"reason"' | wc -l)" = 2 ] || fail "dlq list --limit 2"
ctl dlq list --destination nobody | grep -qx 'no dead letters' || fail "dlq list of nobody"
er_stop_ok

# Dead letters survive a restart; `dlq retry` sends one back to its
# destination (removed once delivered), `dlq drop` deletes them; unknown
# ids are reported. TestFlaky fails while $ER_TMP/flaky exists.
er_write_config "handlers:
  t:
    plugin: $so
    endpoint: test
    dir: $ER_TMP
routes:
  - match: \"*\"
    to: [t]"
er_start_daemon
touch "$ER_TMP/flaky"
flaky=$(ctl publish --type TestFlaky) || fail "publish TestFlaky"
dlq_id() { # the dead letter id of seq $1 for t, or nothing
    ctl dlq list --destination t | awk -v s="$1" '$2 == s { print $1 }'
}
for _ in $(seq 1 500); do [ -n "$(dlq_id "$flaky")" ] && break; sleep 0.01; done
er_stop_daemon TERM
er_start_daemon
id=$(dlq_id "$flaky")
[ -n "$id" ] || fail "the TestFlaky dead letter did not survive a restart"
rm -f "$ER_TMP/flaky"
out=$(ctl dlq retry "$id") || fail "dlq retry $id"
[ "$out" = "1 dead letters sent back to their destinations" ] || fail "dlq retry said: $out"
for _ in $(seq 1 500); do [ -z "$(dlq_id "$flaky")" ] && break; sleep 0.01; done
[ -z "$(dlq_id "$flaky")" ] || fail "dead letter $id still listed after a successful retry"
ctl --json handlers > "$ER_TMP/h.json" || fail "handlers"
[ "$(field delivered)" = 1 ] || fail "the retried dead letter was not delivered: $(cat "$ER_TMP/h.json")"
ctl dlq retry 999999 2>"$ER_TMP/err"; rc=$?
[ $rc -eq 1 ] && grep -q 'not found: 999999' "$ER_TMP/err" ||
    fail "dlq retry of an unknown id: exit $rc, $(cat "$ER_TMP/err")"
before=$(ctl dlq list --destination t | awk '$1 ~ /^[0-9]+$/' | wc -l)
rid=$(dlq_id "$seq")
out=$(ctl dlq drop "$rid") || fail "dlq drop $rid"
[ "$out" = "1 dead letters dropped" ] || fail "dlq drop said: $out"
[ -z "$(dlq_id "$seq")" ] || fail "dead letter $rid still listed after dlq drop"
out=$(ctl dlq drop --destination t --all) || fail "dlq drop --all"
[ "$out" = "$((before - 1)) dead letters dropped" ] || fail "dlq drop --all said: $out (had $before)"
ctl dlq list --destination t | grep -qx 'no dead letters' || fail "dead letters left after drop --all"
er_stop_ok

# Plugin state lives in the store: set by one daemon, read by the next
# (same store directory), per instance, absent keys reported as such.
er_write_config "handlers:
  t:
    plugin: $so
    endpoint: test
  u:
    plugin: $so
    endpoint: other
routes:
  - match: { type: TestStateSet }
    to: [t]
  - match: { type: TestStateGet }
    to: [t, u]"
er_start_daemon
ctl publish --type TestStateSet --stream greeting --data '"hello, state"' >/dev/null ||
    fail "publish TestStateSet"
er_stop_ok
er_start_daemon
ctl publish --type TestStateGet --stream greeting >/dev/null || fail "publish TestStateGet"
for _ in $(seq 1 500); do
    [ "$(grep -c 'state greeting = ' "$ER_TMP/daemon.log")" -ge 2 ] && break
    sleep 0.01
done
grep -q '\[handler:t\] state greeting = "hello, state"$' "$ER_TMP/daemon.log" ||
    fail "handler t did not read its state back after a restart"
grep -q '\[handler:u\] state greeting = (absent)$' "$ER_TMP/daemon.log" ||
    fail "handler u must not see t's state"
er_stop_ok
echo "test_dispatch: all checks passed"
