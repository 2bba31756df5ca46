#!/bin/bash
# Operator control of delivery and where destinations begin (DESIGN §6,
# eventctl(1)), asserted on what the `log` handler wrote — one line per
# delivered event, in delivery order:
#   - `cursor set DEST head` while paused skips the backlog; `cursor set DEST
#     SEQ` above the cursor skips up to SEQ, below it replays SEQ+1.. in
#     order; the moved cursor holds across a restart; an unknown destination
#     or a SEQ past the head is refused (exit 1) and moves nothing;
#   - a destination added to the config after events exist begins per its
#     `start`: earliest (everything stored) or head (the default: only what
#     is published from then on), and only the first time;
#   - dead_letter.forward_to delivers each dead-lettered event to its handler
#     exactly once: not again after a restart, nor when a dead letter sent
#     back with `dlq retry` fails again;
#   - `replay --to DEST` delivers every matching stored event again to DEST
#     whatever the routes, in seq order, with a summary, never moving its
#     cursor; failures are dead-lettered and make it exit 1; --from-seq and
#     --limit bound it; SIGINT cancels it (what was queued still arrives);
#     an unknown destination is refused, --to is required.
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
[ -x "$EVENTROUTERD" ] || { echo "no $EVENTROUTERD"; exit 77; }
so=$ER_BUILDDIR/tests/plugins/.libs/test_handler.so
[ -f "$so" ] || { echo "no $so"; exit 77; }


# ------------------------------------------------------------ cursor set
er_tmpdir
er_write_config "handlers:
  d: { plugin: log, path: $ER_TMP/d.jsonl }
routes:
  - match: \"*\"
    to: [d]"
er_start_daemon
publish 10
wait_cursor d 10
out=$(ctl pause d) || fail "pause d"
[ "$out" = "d: paused (was live)" ] || fail "pause said: $out"
publish 20
[ "$(field d head)" = 30 ] || fail "head $(field d head), expected 30"
[ "$(field d cursor)" = 10 ] && [ "$(field d lag_events)" = 20 ] && [ "$(state d)" = paused ] ||
    fail "paused d: $(dest d)"

# Refusals move nothing.
ctl cursor set nobody 3 >"$ER_TMP/out" 2>"$ER_TMP/err"; rc=$?
[ $rc -eq 1 ] || fail "cursor set of an unknown destination: exit $rc"
[ "$(cat "$ER_TMP/err")" = 'eventctl: cursor: refused (invalid): no destination named "nobody"' ] ||
    fail "cursor set of an unknown destination said: $(cat "$ER_TMP/err")"
[ -s "$ER_TMP/out" ] && fail "cursor set of an unknown destination printed: $(cat "$ER_TMP/out")"
ctl cursor set d 31 >"$ER_TMP/out" 2>"$ER_TMP/err"; rc=$?
[ $rc -eq 1 ] || fail "cursor set past the head: exit $rc"
[ "$(cat "$ER_TMP/err")" = 'eventctl: cursor: refused (invalid): seq 31 is past the last assigned seq 30' ] ||
    fail "cursor set past the head said: $(cat "$ER_TMP/err")"
ctl cursor set d 99999999 2>/dev/null && fail "cursor set d 99999999 accepted"
[ "$(field d cursor)" = 10 ] && [ "$(state d)" = paused ] || fail "a refused cursor set moved d: $(dest d)"

# Skip: head while paused with a lag; after resume nothing old, only new.
out=$(ctl cursor set d head) || fail "cursor set d head"
[ "$out" = "d: cursor 30 (was 10)" ] || fail "cursor set d head said: $out"
[ "$(field d cursor)" = 30 ] && [ "$(field d lag_events)" = 0 ] || fail "after cursor set head: $(dest d)"
ctl resume d >/dev/null || fail "resume d"
publish 5
wait_cursor d 35
expect_seqs "$ER_TMP/d.jsonl" "$(range 1 10) $(range 31 35)" "skip to head"
[ "$(field d delivered)" = 15 ] || fail "delivered $(field d delivered), expected 15"

# Skip part of a backlog: cursor set above the cursor, below the head.
ctl pause d >/dev/null || fail "pause d"
publish 10
out=$(ctl cursor set d 42) || fail "cursor set d 42"
[ "$out" = "d: cursor 42 (was 35)" ] || fail "cursor set d 42 said: $out"
ctl resume d >/dev/null || fail "resume d"
wait_cursor d 45
expect_seqs "$ER_TMP/d.jsonl" "$(range 1 10) $(range 31 35) $(range 43 45)" "skip to 42"

# Replay: back to S, and S+1.. come again, in order (from the store: the
# skipped 11..30 too, which d never had).
out=$(ctl cursor set d 5) || fail "cursor set d 5"
[ "$out" = "d: cursor 5 (was 45)" ] || fail "cursor set d 5 said: $out"
wait_cursor d 45
expect_seqs "$ER_TMP/d.jsonl" "$(range 1 10) $(range 31 35) $(range 43 45) $(range 6 45)" "replay from 5"
# Back to 0: everything again.
out=$(ctl cursor set d 0) || fail "cursor set d 0"
[ "$out" = "d: cursor 0 (was 45)" ] || fail "cursor set d 0 said: $out"
wait_cursor d 45
expect_seqs "$ER_TMP/d.jsonl" \
    "$(range 1 10) $(range 31 35) $(range 43 45) $(range 6 45) $(range 1 45)" "replay from 0"

# The cursor persists: a restart delivers nothing again, then what is new.
er_stop_ok
before=$(seqs "$ER_TMP/d.jsonl")
er_start_daemon
[ "$(field d cursor)" = 45 ] || fail "after a restart: $(dest d)"
publish 1
wait_cursor d 46
expect_seqs "$ER_TMP/d.jsonl" "$before 46" "after a restart"
er_stop_ok
rm -rf "$ER_TMP"
ER_TMP=

# --------------------------------------------------- start: earliest | head
er_tmpdir
er_write_config "handlers:
  a: { plugin: log, path: $ER_TMP/a.jsonl }
routes:
  - match: \"*\"
    to: [a]"
er_start_daemon
publish 10
wait_cursor a 10
er_stop_ok
# Three destinations join the ten stored events.
er_write_config "handlers:
  a: { plugin: log, path: $ER_TMP/a.jsonl }
  early: { plugin: log, path: $ER_TMP/early.jsonl, start: earliest }
  late: { plugin: log, path: $ER_TMP/late.jsonl, start: head }
  dflt: { plugin: log, path: $ER_TMP/dflt.jsonl }
routes:
  - match: \"*\"
    to: [a, early, late, dflt]"
er_start_daemon
wait_cursor early 10
[ "$(field early read_from_store)" = 10 ] || fail "early read $(field early read_from_store) from the store, expected 10"
[ "$(field late cursor)" = 10 ] && [ "$(field dflt cursor)" = 10 ] ||
    fail "start: head did not begin at the head: $(dest late) $(dest dflt)"
publish 5
for n in a early late dflt; do wait_cursor $n 15; done
expect_seqs "$ER_TMP/a.jsonl" "$(range 1 15)" "a"
expect_seqs "$ER_TMP/early.jsonl" "$(range 1 15)" "start: earliest"
expect_seqs "$ER_TMP/late.jsonl" "$(range 11 15)" "start: head"
expect_seqs "$ER_TMP/dflt.jsonl" "$(range 11 15)" "start by default"
# `start` is where a destination begins, once: after a restart each goes on
# from its cursor.
er_stop_ok
er_start_daemon
publish 1
for n in a early late dflt; do wait_cursor $n 16; done
expect_seqs "$ER_TMP/early.jsonl" "$(range 1 16)" "start: earliest after a restart"
expect_seqs "$ER_TMP/late.jsonl" "$(range 11 16)" "start: head after a restart"
expect_seqs "$ER_TMP/dflt.jsonl" "$(range 11 16)" "start by default after a restart"
er_stop_ok
rm -rf "$ER_TMP"
ER_TMP=

# ------------------------------------------------- dead_letter.forward_to
er_tmpdir
er_write_config "handlers:
  t:
    plugin: $so
    endpoint: forward
    dir: $ER_TMP
    retry: { max_attempts: 2, initial: 10ms, jitter: 0 }
  parked: { plugin: log, path: $ER_TMP/parked.jsonl }
routes:
  - match: \"*\"
    to: [t]
dead_letter:
  forward_to: parked"
er_start_daemon
fail_seq=$(ctl publish --type TestFail) || fail "publish TestFail"
publish 3
retry_seq=$(ctl publish --type TestRetry) || fail "publish TestRetry"
publish 3
wait_cursor t 8
for _ in $(seq 1 6000); do [ "$(field parked delivered)" = 2 ] && break; sleep 0.02; done
expect_seqs "$ER_TMP/parked.jsonl" "$fail_seq $retry_seq" "forwarded dead letters"
grep -q "^{\"seq\":$fail_seq,\"type\":\"TestFail\"," "$ER_TMP/parked.jsonl" || fail "forwarded TestFail"
[ "$(field t dead_lettered)" = 2 ] && [ "$(field t delivered)" = 6 ] || fail "t: $(dest t)"
[ "$(field parked dead_lettered)" = 0 ] && [ "$(field parked cursor)" = 8 ] || fail "parked: $(dest parked)"
ctl dlq list --destination t | awk '$1 ~ /^[0-9]+$/ { print $2, $3, $4 }' > "$ER_TMP/dlq.out"
[ "$(cat "$ER_TMP/dlq.out")" = "$fail_seq t failed
$retry_seq t retries_exhausted" ] || fail "dlq list: $(cat "$ER_TMP/dlq.out")"
ctl dlq list --destination parked | grep -qx 'no dead letters' || fail "parked has dead letters"

# A dead letter sent back that fails again is parked again, not forwarded
# again.
touch "$ER_TMP/flaky"
flaky_seq=$(ctl publish --type TestFlaky) || fail "publish TestFlaky"
for _ in $(seq 1 6000); do [ "$(field parked delivered)" = 3 ] && break; sleep 0.02; done
expect_seqs "$ER_TMP/parked.jsonl" "$fail_seq $retry_seq $flaky_seq" "forwarded TestFlaky"
id=$(ctl dlq list --destination t | awk -v s="$flaky_seq" '$2 == s { print $1 }')
[ -n "$id" ] || fail "no dead letter for seq $flaky_seq"
ctl dlq retry "$id" >/dev/null || fail "dlq retry $id"
for _ in $(seq 1 6000); do [ "$(field t dead_lettered)" = 4 ] && break; sleep 0.02; done
[ "$(field t dead_lettered)" = 4 ] || fail "the retried TestFlaky was not parked again: $(dest t)"
[ "$(ctl dlq list --destination t | awk -v s="$flaky_seq" '$2 == s' | wc -l)" = 1 ] ||
    fail "TestFlaky: $(ctl dlq list --destination t)"
sleep 0.2
expect_seqs "$ER_TMP/parked.jsonl" "$fail_seq $retry_seq $flaky_seq" "a dead letter failing again"

# Nor after a restart.
er_stop_ok
er_start_daemon
last=$(ctl publish --type Plain) || fail "publish"
wait_cursor t "$last"
wait_cursor parked "$last"
expect_seqs "$ER_TMP/parked.jsonl" "$fail_seq $retry_seq $flaky_seq" "forwarded, after a restart"
er_stop_ok
rm -rf "$ER_TMP"
ER_TMP=

# ------------------------------------------------------------------ replay
# audit takes only type A by its route; t (test_handler) takes nothing.
er_tmpdir
er_write_config "handlers:
  audit: { plugin: log, path: $ER_TMP/audit.jsonl }
  t:
    plugin: $so
    endpoint: replay
    dir: $ER_TMP
    retry: { max_attempts: 2, initial: 10ms, jitter: 0 }
routes:
  - match: { type: A }
    to: [audit]"
er_start_daemon
publish 10 A
nb=3000
publish "$nb" B
publish 3 TestFail
last=$((10 + nb + 3))
wait_cursor audit "$last"
expect_seqs "$ER_TMP/audit.jsonl" "$(range 1 10)" "audit before the replay"

ctl replay --type B --to audit >"$ER_TMP/replay.out" 2>"$ER_TMP/replay.err" ||
    fail "replay B: exit $?: $(cat "$ER_TMP/replay.err")"
grep -qx "replayed $nb events to audit: $nb delivered, 0 dead-lettered, 0 dropped ([0-9.]* s)" \
    "$ER_TMP/replay.out" || fail "replay summary: $(cat "$ER_TMP/replay.out")"
expect_seqs "$ER_TMP/audit.jsonl" "$(range 1 $((10 + nb)))" "audit after replaying B"
# Its cursor did not move, in memory or in the store.
o=$(dest audit)
[ "$(num "$o" cursor)" = "$last" ] && [ "$(num "$o" persisted)" = "$last" ] ||
    fail "audit's cursor moved: $o"

# Bounds: from seq 12, five of them.
ctl replay --from-seq 12 --limit 5 --to audit >"$ER_TMP/replay.out" 2>&1 || fail "replay bounds"
grep -q '^replayed 5 events to audit: 5 delivered' "$ER_TMP/replay.out" ||
    fail "bounded replay: $(cat "$ER_TMP/replay.out")"
expect_seqs "$ER_TMP/audit.jsonl" "$(range 1 $((10 + nb))) $(range 12 16)" "bounded replay"

# Failures are dead letters of the destination, and the exit status says so.
ctl replay --type TestFail --to t >"$ER_TMP/replay.out" 2>"$ER_TMP/replay.err" &&
    fail "a replay with dead letters exited 0"
grep -q '^replayed 3 events to t: 0 delivered, 3 dead-lettered, 0 dropped' "$ER_TMP/replay.out" ||
    fail "failing replay: $(cat "$ER_TMP/replay.out")"
grep -q 'not every event was delivered' "$ER_TMP/replay.err" || fail "$(cat "$ER_TMP/replay.err")"
[ "$(ctl dlq list --destination t | awk '$3 == "t" && $4 == "failed"' | wc -l)" = 3 ] ||
    fail "dead letters of t: $(ctl dlq list --destination t)"

# SIGINT cancels: while audit is paused only the first page is queued;
# after the resume what was queued is delivered and nothing more.
ctl pause audit >/dev/null || fail "pause"
"$EVENTCTL" --admin-socket "$ER_TMP/admin.sock" --json replay --type B --to audit \
    >"$ER_TMP/replay.out" 2>"$ER_TMP/replay.err" &
rp=$! # eventctl itself, not a subshell
for _ in $(seq 1 6000); do
    [ "$(field audit side_queued)" -gt 0 ] 2>/dev/null && break
    sleep 0.02
done
[ "$(field audit side_queued)" -gt 0 ] || fail "the replay queued nothing: $(dest audit)"
kill -INT "$rp"
sleep 0.3
ctl resume audit >/dev/null || fail "resume"
wait "$rp" && fail "a cancelled replay exited 0"
grep -q '"state":"cancelled"' "$ER_TMP/replay.out" || fail "cancel: $(cat "$ER_TMP/replay.out")"
queued=$(num "$(cat "$ER_TMP/replay.out")" matched)
[ "$queued" -gt 0 ] && [ "$queued" -lt "$nb" ] || fail "cancelled after $queued of $nb"
[ "$(num "$(cat "$ER_TMP/replay.out")" delivered)" = "$queued" ] || fail "$(cat "$ER_TMP/replay.out")"
[ "$(wc -l <"$ER_TMP/audit.jsonl")" -eq $((10 + nb + 5 + queued)) ] ||
    fail "audit has $(wc -l <"$ER_TMP/audit.jsonl") lines after the cancel, want $((10 + nb + 5 + queued))"

# Refusals.
ctl replay --to nosuch >/dev/null 2>"$ER_TMP/replay.err"
[ $? -eq 1 ] && grep -q 'no destination named "nosuch"' "$ER_TMP/replay.err" ||
    fail "unknown destination: $(cat "$ER_TMP/replay.err")"
ctl replay --type B >/dev/null 2>&1
[ $? -eq 2 ] || fail "replay without --to: not a usage error"

# A restart delivers nothing again: no cursor was moved.
lines=$(wc -l <"$ER_TMP/audit.jsonl")
er_stop_ok
er_start_daemon
last=$(ctl publish --type A) || fail "publish"
wait_cursor audit "$last"
[ "$(wc -l <"$ER_TMP/audit.jsonl")" -eq $((lines + 1)) ] || fail "audit got events again after a restart"
er_stop_ok
echo "test_delivery: all checks passed"
