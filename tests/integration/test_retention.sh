#!/bin/bash
# store.retention: a timer trims the oldest events past max_events, while
# the store uses more than max_bytes, and those received more than max_age
# ago, in chunks — but never what a
# destination's cursor or a dead letter still needs (unless force), and a
# destination more than its max_lag behind is skipped instead (counted).
# Counts come from `eventctl stats` (the store's events) and the log
# handlers' files.
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
[ -x "$EVENTROUTERD" ] || { echo "no $EVENTROUTERD"; exit 77; }
so=$ER_BUILDDIR/tests/plugins/.libs/test_handler.so
[ -f "$so" ] || { echo "no $so"; exit 77; }

er_tmpdir
stored() { ctl --json stats | grep -o '"events":[0-9]*' | tail -1 | cut -d: -f2; }
lines() { if [ -f "$1" ]; then grep -c . "$1"; else echo 0; fi; }
# Wait until the store holds $1 events (up to 30 s).
wait_stored() {
    for _ in $(seq 1 3000); do [ "$(stored)" = "$1" ] && return 0; sleep 0.01; done
    return 1
}
conf() { # retention, extra handler keys for slow
    rm -rf "$ER_TMP/store" "$ER_TMP/slow.jsonl"
    er_write_config "store:
  plugin: lmdb
  path: $ER_TMP/store
  map_size: 4GiB
  retention: $1
handlers:
  slow:
    plugin: log
    path: $ER_TMP/slow.jsonl
    $2
  t:
    plugin: $so
    endpoint: test
routes:
  - match: { type: TestFail }
    to: [t]
  - match: \"*\"
    to: [slow]"
}

# 1. max_events, and a paused destination holding what it has not had.
conf "{ max_events: 100 }" "window: 16"
er_start_daemon
ctl pause slow >/dev/null || fail "pause"
ctl publish --type A --count 300 --batch 50 2>/dev/null || fail "publish 300"
sleep 2.5 # two retention passes
[ "$(stored)" = 300 ] || fail "a paused destination's events were trimmed: $(stored) stored"
ctl --json stats | grep -q '"held_by":"the cursor of slow"' || fail "not held by slow: $(ctl --json stats)"
ctl resume slow >/dev/null || fail "resume"
for _ in $(seq 1 1000); do [ "$(lines "$ER_TMP/slow.jsonl")" -ge 300 ] && break; sleep 0.01; done
[ "$(lines "$ER_TMP/slow.jsonl")" = 300 ] || fail "slow got $(lines "$ER_TMP/slow.jsonl") of 300"
wait_stored 100 || fail "max_events 100: $(stored) stored"
echo "ok - max_events trims exactly to 100, never what a paused cursor needs"

# 2. A dead letter holds its event (and what follows).
fseq=$(ctl publish --type TestFail) || fail "publish TestFail"
ctl publish --type B --count 200 --batch 50 2>/dev/null || fail "publish 200"
sleep 2.5
# The store keeps from the dead letter's seq on: 201 events.
[ "$(stored)" = 201 ] || fail "with a dead letter at $fseq: $(stored) stored, expected 201"
ctl --json stats | grep -q "\"held_by\":\"a dead letter (seq $fseq)\"" || fail "not held by the dead letter"
ctl dlq drop --destination t --all >/dev/null || fail "dlq drop"
wait_stored 100 || fail "after the dead letter was dropped: $(stored) stored"
echo "ok - a dead letter's event is kept until the dead letter goes"
er_stop_ok

# 3. max_lag: a paused destination too far behind is skipped.
conf "{ max_events: 100 }" "max_lag: 150"
er_start_daemon
ctl pause slow >/dev/null || fail "pause"
ctl publish --type A --count 400 --batch 50 2>/dev/null || fail "publish 400"
wait_stored 100 || fail "max_lag: $(stored) stored, expected 100"
ctl --json destinations | grep -o '"skipped":[0-9]*' | head -1 | grep -qx '"skipped":300' ||
    fail "skipped: $(ctl --json destinations)"
grep -q '\[handler:slow\] 400 events behind (max_lag 150): retention skips it' "$ER_TMP/daemon.log" ||
    fail "the skip is not logged"
ctl resume slow >/dev/null || fail "resume"
for _ in $(seq 1 500); do [ "$(lines "$ER_TMP/slow.jsonl")" -ge 100 ] && break; sleep 0.01; done
[ "$(lines "$ER_TMP/slow.jsonl")" = 100 ] || fail "after the skip slow got $(lines "$ER_TMP/slow.jsonl"), expected the last 100"
echo "ok - max_lag skips a destination too far behind (counted, logged)"
er_stop_daemon TERM

# 4. force: past a paused cursor.
conf "{ max_events: 50, force: true }" ""
er_start_daemon
ctl pause slow >/dev/null || fail "pause"
ctl publish --type A --count 200 --batch 50 2>/dev/null || fail "publish 200"
wait_stored 50 || fail "force: $(stored) stored, expected 50"
echo "ok - force trims past a paused cursor"
er_stop_daemon TERM

# 5. max_age, by `received`.
conf "{ max_age: 2s }" ""
er_start_daemon
ctl publish --type Old --count 100 --batch 50 2>/dev/null || fail "publish Old"
sleep 2.2
ctl publish --type New --count 10 2>/dev/null || fail "publish New"
wait_stored 10 || fail "max_age 2s: $(stored) stored, expected the 10 new"
echo "ok - max_age trims what was received longer ago"
er_stop_ok

# 7. max_bytes: the store's used bytes (lmdb: pages in use) bounded by
# trimming the oldest events — never past a paused destination's cursor.
# Events of about 1 KiB, so 2,500 of them are well over 1 MiB.
pad=$(printf '%01000d' 0)
used() { ctl --json stats | grep -o '"used_bytes":[0-9]*' | tail -1 | cut -d: -f2; }
first_seq() { ctl query --limit 1 | grep -o '"seq":[0-9]*' | head -1 | cut -d: -f2; }
conf "{ max_bytes: 1MiB }" "window: 16"
er_start_daemon
ctl publish --type A --data "{\"pad\":\"$pad\"}" --count 500 --batch 50 2>/dev/null ||
    fail "publish 500"
for _ in $(seq 1 1000); do [ "$(lines "$ER_TMP/slow.jsonl")" -ge 500 ] && break; sleep 0.01; done
[ "$(lines "$ER_TMP/slow.jsonl")" = 500 ] || fail "slow got $(lines "$ER_TMP/slow.jsonl") of 500"
ctl pause slow >/dev/null || fail "pause"
ctl publish --type A --data "{\"pad\":\"$pad\"}" --count 2500 --batch 50 2>/dev/null ||
    fail "publish 2500"
# Over the bound, the passes trim what slow has had (seqs 1-500) and stop
# at its cursor: exactly the 2,500 it has not had remain.
wait_stored 2500 || fail "max_bytes with slow paused at 500: $(stored) stored, expected 2500"
sleep 2.5 # two more passes: nothing more goes
[ "$(stored)" = 2500 ] || fail "a paused destination's events were trimmed: $(stored) stored"
[ "$(first_seq)" = 501 ] || fail "first stored seq $(first_seq), expected 501"
[ "$(used)" -gt 1048576 ] || fail "used_bytes $(used) is not over max_bytes with 2500 events held"
ctl --json stats | grep -q '"held_by":"the cursor of slow"' || fail "not held by slow: $(ctl --json stats)"
ctl --json stats | grep -q '"max_bytes":1048576' || fail "stats lack max_bytes: $(ctl --json stats)"
grep -q 'over max_bytes 1048576: trimming the oldest events' "$ER_TMP/daemon.log" ||
    fail "going over max_bytes is not logged"
ctl resume slow >/dev/null || fail "resume"
for _ in $(seq 1 1000); do [ "$(lines "$ER_TMP/slow.jsonl")" -ge 3000 ] && break; sleep 0.01; done
[ "$(lines "$ER_TMP/slow.jsonl")" = 3000 ] || fail "slow got $(lines "$ER_TMP/slow.jsonl") of 3000"
# Then the oldest go until the store is within the bound (up to 30 s).
for _ in $(seq 1 300); do [ "$(used)" -le 1048576 ] && break; sleep 0.1; done
[ "$(used)" -le 1048576 ] || fail "used_bytes $(used) still over max_bytes 1MiB ($(stored) stored)"
n=$(stored)
[ "$n" -gt 0 ] && [ "$n" -lt 2500 ] || fail "within max_bytes with $n stored"
# The newest $n remain, nothing between: the first is 3001 - n.
[ "$(first_seq)" = $((3001 - n)) ] || fail "first stored seq $(first_seq) with $n stored, expected $((3001 - n))"
# The estimate errs low: no pass trims far past the bound, so more than
# half of what 1 MiB holds is kept (about 1.2 KiB each here, with indexes).
[ "$n" -ge 300 ] || fail "max_bytes trimmed too far: $n stored"
# The next pass sees it and says so.
for _ in $(seq 1 300); do
    grep -q 'the store uses [0-9]* bytes: within max_bytes 1048576 again' "$ER_TMP/daemon.log" &&
        break
    sleep 0.1
done
grep -q 'the store uses [0-9]* bytes: within max_bytes 1048576 again' "$ER_TMP/daemon.log" ||
    fail "coming back within max_bytes is not logged"
echo "ok - max_bytes trims the oldest to within the bound ($n kept), never past a paused cursor"
er_stop_ok

# 6. delete-stream: every event of one stream goes, in chunks.
conf "{ max_age: off }" ""
er_start_daemon
ctl publish --type A --stream s:a --count 30 --batch 10 2>/dev/null || fail "publish s:a"
ctl publish --type A --stream s:b --count 20 --batch 10 2>/dev/null || fail "publish s:b"
wait_stored 50 || fail "before delete-stream: $(stored) stored"
out=$(ctl delete-stream s:a) || fail "delete-stream: $out"
[ "$out" = "s:a: 30 events deleted" ] || fail "delete-stream said: $out"
[ "$(stored)" = 20 ] || fail "after delete-stream: $(stored) stored, expected 20"
out=$(ctl delete-stream s:a) || fail "delete-stream again: $out"
[ "$out" = "s:a: 0 events deleted" ] || fail "delete-stream again said: $out"
ctl delete-stream 2>/dev/null; [ $? -eq 2 ] || fail "delete-stream without a stream must be a usage error"
echo "ok - delete-stream"
er_stop_ok
echo "test_retention: all checks passed"
