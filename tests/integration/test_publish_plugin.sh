#!/bin/bash
# Plugins publishing events through the real daemon (the host's publish):
# tests/plugins/test_handler answers TestEcho by publishing a new
# TestEchoed event and completing the delivery once that publish has
# completed, TestLoop by publishing a new TestLoop (its own route: a
# feedback loop), TestBounce by publishing the event it was handed as it is.
# A `log` handler routed the published types shows what the daemon made of
# them: origin the daemon itself, via.plugin the instance, hops + 1, a seq
# after the event that caused it. A loop ends at limits.max_hops: the event
# over it is stored, not routed, and parked as one dead letter
# ($routing, max_hops); a plugin's event with an id already stored is a
# duplicate, taken once.
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
[ -x "$EVENTROUTERD" ] || { echo "no $EVENTROUTERD"; exit 77; }
so=$ER_BUILDDIR/tests/plugins/.libs/test_handler.so
[ -f "$so" ] || { echo "no $so"; exit 77; }

er_tmpdir
# "KEY":value of a JSON object on stdin (numbers, or strings without quotes).
jfield() { grep -o "\"$1\":\"\?[^,\"}]*" | head -1 | sed 's/^"[^"]*":"\?//'; }
# The stats' store section, e.g. store plugin_published.
stat() { ctl --json stats | sed 's/.*"store":{//' | jfield "$1"; }
# The log handler's line for seq $1.
line() { grep "^{\"seq\":$1," "$ER_TMP/sink.log"; }
wait_for() { # wait_for COMMAND...: up to 10 s
    for _ in $(seq 1 1000); do "$@" >/dev/null 2>&1 && return 0; sleep 0.01; done
    return 1
}

# The sink route comes first (continue) so it sees every TestLoop too.
er_write_config "limits:
  max_hops: 3
handlers:
  echo:
    plugin: $so
    endpoint: echo
  sink:
    plugin: log
    path: $ER_TMP/sink.log
routes:
  - match: { type: [TestEchoed, TestLoop, TestBounce] }
    to: [sink]
    continue: true
  - match: { type: [TestEcho, TestLoop, TestBounce] }
    to: [echo]"
er_start_daemon
pid=$(ctl --json stats | jfield pid)
[ -n "$pid" ] || fail "no pid in stats"

# ---- TestEcho: a new event, from the daemon, via the instance, hops 1.
seq=$(ctl publish --type TestEcho --id echo-1 --stream order:7 --correlation-id req-9 \
    --data '{"n":1}') || fail "publish TestEcho"
wait_for grep -q '"type":"TestEchoed"' "$ER_TMP/sink.log" || fail "no TestEchoed reached the sink"
echoed=$(grep '"type":"TestEchoed"' "$ER_TMP/sink.log")
eseq=$(echo "$echoed" | jfield seq)
[ "$eseq" -gt "$seq" ] || fail "TestEchoed seq $eseq is not after TestEcho's $seq"
[ "$(echo "$echoed" | sed 's/.*"origin"://' | jfield pid)" = "$pid" ] ||
    fail "origin.pid is not the daemon's ($pid): $echoed"
[ "$(echo "$echoed" | sed 's/.*"origin"://' | jfield uid)" = "$(id -u)" ] ||
    fail "origin.uid is not the daemon's: $echoed"
echo "$echoed" | grep -q '"via":{"plugin":"echo"}' || fail "via.plugin is not echo: $echoed"
[ "$(echo "$echoed" | jfield hops)" = 1 ] || fail "hops is not 1: $echoed"
[ "$(echo "$echoed" | jfield stream)" = order:7 ] || fail "stream not kept: $echoed"
[ "$(echo "$echoed" | jfield causation_id)" = echo-1 ] || fail "causation_id: $echoed"
[ "$(echo "$echoed" | jfield correlation_id)" = req-9 ] || fail "correlation_id: $echoed"
echo "$echoed" | grep -q '"data":{"n":1}' || fail "data not kept: $echoed"
echo "$echoed" | grep -q '"id":"echo-1"' && fail "the echo kept the original's id: $echoed"
# The TestEcho delivery completed (OK) once its publish had.
wait_for grep -q 'TestEchoed published: status 0' "$ER_TMP/daemon.log" ||
    fail "the publish's token did not complete OK"
wait_for sh -c "\"$EVENTCTL\" --admin-socket \"$ER_TMP/admin.sock\" --json handlers |
    grep -q '\"name\":\"echo\".*\"delivered\":1,'" || fail "the TestEcho delivery did not complete"
[ "$(stat plugin_published)" = 1 ] || fail "plugin_published $(stat plugin_published), expected 1"

# ---- TestBounce: the handed event itself, its id stored already: a
# duplicate, answered OK, stored once.
appended=$(stat appended)
dups=$(stat duplicates)
bseq=$(ctl publish --type TestBounce --id bounce-1) || fail "publish TestBounce"
wait_for grep -q "TestBounce seq $bseq hops 0: published, 0" "$ER_TMP/daemon.log" ||
    fail "TestBounce was not published"
wait_for test "$(stat duplicates)" = $((dups + 1)) || fail "the bounce is not a duplicate"
[ "$(stat appended)" = $((appended + 1)) ] || fail "the duplicate was stored"
[ "$(stat plugin_published)" = 1 ] || fail "the duplicate counts as published"

# ---- TestLoop: a fresh event each time, so only the host's record of the
# event being handled ends the loop: hops 0..3 are routed; the one with
# hops 4 (over max_hops 3) is stored, dead-lettered once, not routed.
# (The dispatcher records it around handle(): er__host_handling.)
if grep -q 'er__host_handling' "$ER_SRCDIR/daemon/dispatch.c"; then
    lseq=$(ctl publish --type TestLoop --stream loop:1) || fail "publish TestLoop"
    wait_for sh -c "\"$EVENTCTL\" --admin-socket \"$ER_TMP/admin.sock\" dlq list |
        grep -q max_hops" || fail "the loop did not end in a dead letter"
    ctl dlq list > "$ER_TMP/dlq.out" || fail "dlq list"
    [ "$(grep -c max_hops "$ER_TMP/dlq.out")" = 1 ] || fail "not one max_hops dead letter: $(cat "$ER_TMP/dlq.out")"
    dseq=$(awk '$4 == "max_hops" { print $2 }' "$ER_TMP/dlq.out")
    awk '$4 == "max_hops" { print $3, $5 }' "$ER_TMP/dlq.out" | grep -qx '\$routing 0' ||
        fail "dead letter: $(cat "$ER_TMP/dlq.out")"
    [ "$dseq" -eq $((lseq + 4)) ] || fail "dead letter of seq $dseq, expected $((lseq + 4))"
    grep -q "\[handler:echo\] seq $dseq (TestLoop): hops 4 over limits.max_hops (3): stored, not routed, dead-lettered" \
        "$ER_TMP/daemon.log" || fail "the dead letter is not logged"
    # The handler got hops 0..3; the sink saw the same 4, the last not.
    for h in 0 1 2 3; do
        grep -q "TestLoop seq $((lseq + h)) hops $h: published, 0" "$ER_TMP/daemon.log" ||
            fail "the handler did not get TestLoop seq $((lseq + h)) with hops $h"
    done
    wait_for test "$(grep -c '"type":"TestLoop"' "$ER_TMP/sink.log")" = 4 ||
        fail "the sink has $(grep -c '"type":"TestLoop"' "$ER_TMP/sink.log") TestLoop, expected 4"
    line "$dseq" && fail "the event over max_hops was routed"
    [ "$(line $((lseq + 3)) | jfield hops)" = 3 ] || fail "seq $((lseq + 3)): $(line $((lseq + 3)))"
    # Stored: the client's and the 4 published (hops 1..4).
    [ "$(stat plugin_published)" = 5 ] || fail "plugin_published $(stat plugin_published), expected 5"
    [ "$(stat hops_exceeded)" = 1 ] || fail "hops_exceeded $(stat hops_exceeded), expected 1"
    [ "$(stat appended)" = $((appended + 6)) ] || fail "appended $(stat appended), expected $((appended + 6))"
else
    echo "SKIP: TestLoop (daemon/dispatch.c does not call er__host_handling yet)"
fi
er_stop_ok

# ---- TestBounce without de-duplication: the handed event comes back with
# its daemon fields replaced (the seq, origin and via are the daemon's,
# hops one more) until max_hops 2: hops 0..2 routed, hops 3 dead-lettered.
rm -f "$ER_TMP/sink.log"
er_write_config "limits:
  max_hops: 2
  dedupe_window: off
handlers:
  echo:
    plugin: $so
    endpoint: echo
  sink:
    plugin: log
    path: $ER_TMP/sink.log
routes:
  - match: { type: TestBounce }
    to: [sink, echo]"
er_start_daemon
pid=$(ctl --json stats | jfield pid)
bseq=$(ctl publish --type TestBounce --id bounce-2 --stream b:1) || fail "publish TestBounce"
wait_for sh -c "\"$EVENTCTL\" --admin-socket \"$ER_TMP/admin.sock\" dlq list |
    awk '\$4 == \"max_hops\" { print \$2 }' | grep -qx $((bseq + 3))" ||
    fail "the bounce did not end at max_hops: $(ctl dlq list)"
wait_for test "$(grep -c '"type":"TestBounce"' "$ER_TMP/sink.log")" = 3 ||
    fail "the sink has $(grep -c '"type":"TestBounce"' "$ER_TMP/sink.log") TestBounce, expected 3"
for h in 1 2; do
    l=$(line $((bseq + h)))
    [ "$(echo "$l" | jfield hops)" = "$h" ] || fail "seq $((bseq + h)): hops: $l"
    [ "$(echo "$l" | jfield id)" = bounce-2 ] || fail "seq $((bseq + h)): id: $l"
    [ "$(echo "$l" | sed 's/.*"origin"://' | jfield pid)" = "$pid" ] || fail "origin: $l"
    echo "$l" | grep -q '"via":{"plugin":"echo"}' || fail "via: $l"
done
line "$bseq" | grep -q '"via"' && fail "the client's event has a via: $(line "$bseq")"
[ "$(stat hops_exceeded)" = 1 ] || fail "hops_exceeded $(stat hops_exceeded), expected 1"
er_stop_ok
exit 0
