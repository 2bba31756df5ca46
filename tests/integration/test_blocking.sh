#!/bin/bash
# Blocking handlers (ER_PLUGIN_BLOCKING, tests/plugins/test_blocking) run on
# their destination's own worker threads (`concurrency`): while one of its
# threads sleeps 10 s inside handle(), the daemon goes on — publishers get
# their durable acks, another destination receives everything, the same
# handler's other thread handles the rest — and a shutdown waits for the
# sleeping call to return, then delivers nothing twice after a restart.
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
[ -x "$EVENTROUTERD" ] || { echo "no $EVENTROUTERD"; exit 77; }
so=$ER_BUILDDIR/tests/plugins/.libs/test_blocking.so
[ -f "$so" ] || { echo "no $so"; exit 77; }

er_tmpdir
er_write_config "shutdown_timeout: 1s
handlers:
  slow:
    plugin: $so
    record: $ER_TMP/slow.txt
    concurrency: 2
  fast:
    plugin: log
    path: $ER_TMP/fast.jsonl
routes:
  - match: \"*\"
    to: [slow, fast]"
er_start_daemon
lines() { if [ -f "$1" ]; then grep -c . "$1"; else echo 0; fi; }
grep -q '\[handler:slow\] started (plugin test_blocking 1, window 256, blocking: 2 worker threads)' \
    "$ER_TMP/daemon.log" || fail "slow did not start with 2 worker threads"

# 10 s, or 30 s when the daemon runs under valgrind (everything else is
# slower; the sleep must outlast the other work for the check to mean
# something).
nap=10000
[ -n "${ER_TEST_WRAPPER:-}" ] && nap=30000
sleep_seq=$(ctl publish --type BlockSleep --data $nap) || fail "publish BlockSleep"
t0=$(date +%s%N)
for _ in $(seq 1 1000); do
    grep -q "seq $sleep_seq: sleeping $nap ms" "$ER_TMP/daemon.log" && break
    sleep 0.01
done
grep -q "seq $sleep_seq: sleeping $nap ms on thread" "$ER_TMP/daemon.log" ||
    fail "the sleep did not start"
# While it sleeps: 200 durable publishes, one at a time, each acked.
for i in $(seq 1 200); do
    ctl publish --type Other --stream "s:$i" >/dev/null || fail "publish $i while a handler blocks"
done
ctl publish --type Other --count 1000 --batch 100 2>/dev/null || fail "publish 1000"
ctl ping >/dev/null || fail "ping while a handler blocks"
# fast got all 1201; slow's other thread answered the 1200 others — while
# the sleeping call is still sleeping.
for _ in $(seq 1 $((nap / 10))); do
    [ "$(lines "$ER_TMP/fast.jsonl")" -ge 1201 ] && [ "$(lines "$ER_TMP/slow.txt")" -ge 1200 ] &&
        break
    sleep 0.01
done
t1=$(date +%s%N)
elapsed=$(((t1 - t0) / 1000000))
[ "$(lines "$ER_TMP/fast.jsonl")" = 1201 ] || fail "fast has $(lines "$ER_TMP/fast.jsonl") of 1201"
[ "$(lines "$ER_TMP/slow.txt")" = 1200 ] ||
    fail "slow's other thread answered $(lines "$ER_TMP/slow.txt") of 1200"
grep -q "^$sleep_seq " "$ER_TMP/slow.txt" &&
    fail "the other work took $elapsed ms: it waited for the sleeping handler"
# Two threads: the sleeper's and the one that did everything else.
sleeper=$(sed -n "s/.*seq $sleep_seq: sleeping $nap ms on thread \([0-9]*\).*/\1/p" \
    "$ER_TMP/daemon.log")
[ "$(awk '{ print $3 }' "$ER_TMP/slow.txt" | sort -u)" != "$sleeper" ] ||
    fail "the other events ran on the sleeping thread"
# The loop thread's id is the daemon's pid: no call ran there.
! awk '{ print $3 }' "$ER_TMP/slow.txt" | grep -qx "$ER_PID" || fail "handle() ran on the loop thread"

# Shutdown waits for the sleeping call (drain cut at shutdown_timeout: 1s,
# then the worker's call returns), delivers it, and writes the cursor.
er_stop_ok
grep -q "^$sleep_seq BlockSleep " "$ER_TMP/slow.txt" || fail "the sleeping call's event was lost"
[ "$(lines "$ER_TMP/slow.txt")" = 1201 ] || fail "slow answered $(lines "$ER_TMP/slow.txt")"
er_start_daemon
ctl publish --type Last >/dev/null || fail "publish Last"
for _ in $(seq 1 500); do [ "$(lines "$ER_TMP/slow.txt")" -ge 1202 ] && break; sleep 0.01; done
[ "$(lines "$ER_TMP/slow.txt")" = 1202 ] ||
    fail "after a restart slow has $(lines "$ER_TMP/slow.txt") lines, expected 1202 (nothing twice)"
[ "$(awk '{ print $1 }' "$ER_TMP/slow.txt" | sort -n | uniq -d | wc -l)" = 0 ] ||
    fail "an event was answered twice"
# FAIL from a worker is dead-lettered like any FAIL.
fseq=$(ctl publish --type BlockFail) || fail "publish BlockFail"
for _ in $(seq 1 500); do
    ctl dlq list --destination slow | awk '{ print $2, $4 }' | grep -qx "$fseq failed" && break
    sleep 0.01
done
ctl dlq list --destination slow | awk '{ print $2, $4 }' | grep -qx "$fseq failed" ||
    fail "BlockFail not dead-lettered"
er_stop_ok
echo "test_blocking: all checks passed (other work done in $elapsed ms while a handler slept $nap ms)"
