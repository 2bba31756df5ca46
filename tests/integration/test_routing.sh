#!/bin/bash
# Hybrid routing as the original system did it, through the real daemon and
# the real log handler: CriticalEvent and RealTimeEvent to one handler,
# everything else to another, an audit handler seeing both through a
# `continue` route. Counts and content are checked in the log files; the
# admin commands (routes, route, handlers, stats, config) are checked
# against the same daemon; SIGUSR1 reopens a moved log file.
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
[ -x "$EVENTROUTERD" ] || { echo "no $EVENTROUTERD"; exit 77; }

er_tmpdir
er_write_config "handlers:
  critical:
    plugin: log
    path: $ER_TMP/critical.jsonl
  everything:
    plugin: log
    path: $ER_TMP/rest.jsonl
  audit:
    plugin: log
    path: $ER_TMP/audit.jsonl
routes:
  - match: { type: [CriticalEvent, RealTimeEvent] }
    to: [critical]
  - match: { topic: \"auth.**\" }
    to: [audit]
    continue: true
  - match: \"*\"
    to: [everything]"
er_start_daemon

count() { if [ -f "$2" ]; then grep -c "$1" "$2"; else echo 0; fi; }

# --- publish a known mix
ctl publish --type CriticalEvent --stream s:1 --data '{"n":1}' >/dev/null || fail "publish critical"
ctl publish --type CriticalEvent --count 40 --batch 8 2>/dev/null || fail "publish critical x40"
ctl publish --type RealTimeEvent --count 25 2>/dev/null || fail "publish realtime x25"
ctl publish --type UserLoggedIn --topic auth.login.ok --count 30 --batch 10 2>/dev/null ||
    fail "publish auth x30"
ctl publish --type PageViewed --count 100 --batch 50 2>/dev/null || fail "publish pages x100"
seq=$(ctl publish --type Marker --data '{"last":true}') || fail "publish marker"
[ "$seq" = 197 ] || fail "marker seq is $seq, expected 197"

# The log handler writes before it completes; wait for the marker line.
for _ in $(seq 1 500); do
    grep -q '"type":"Marker"' "$ER_TMP/rest.jsonl" 2>/dev/null && break
    sleep 0.01
done

crit=$ER_TMP/critical.jsonl rest=$ER_TMP/rest.jsonl audit=$ER_TMP/audit.jsonl
[ "$(count . "$crit")" = 66 ] || fail "critical.jsonl has $(count . "$crit") lines, expected 66"
[ "$(count '"type":"CriticalEvent"' "$crit")" = 41 ] || fail "critical: CriticalEvent count"
[ "$(count '"type":"RealTimeEvent"' "$crit")" = 25 ] || fail "critical: RealTimeEvent count"
# First match wins: nothing critical reaches the catch-all.
[ "$(count 'CriticalEvent\|RealTimeEvent' "$rest")" = 0 ] || fail "critical events leaked to rest"
[ "$(count . "$rest")" = 131 ] || fail "rest.jsonl has $(count . "$rest") lines, expected 131"
# continue: auth events reach audit AND the catch-all.
[ "$(count . "$audit")" = 30 ] || fail "audit.jsonl has $(count . "$audit") lines, expected 30"
[ "$(count '"type":"UserLoggedIn"' "$rest")" = 30 ] || fail "continue: auth missing from rest"
# Content: the JSON shape with daemon fields and the payload as JSON.
grep -q '^{.*"type":"CriticalEvent".*"stream":"s:1".*"data":{"n":1}' "$crit" ||
    fail "critical line content: $(head -1 "$crit")"
grep -q '"seq":197' "$rest" || fail "marker seq not in rest.jsonl"
grep -q '"origin":{"pid":[0-9]*,"uid":[0-9]*,"gid":[0-9]*,"host":' "$crit" ||
    fail "origin missing: $(head -1 "$crit")"
# Every seq 1..197 appears exactly once across critical + rest.
dups=$(cat "$crit" "$rest" | sed -n 's/.*"seq":\([0-9]*\).*/\1/p' | sort -n | uniq -d | wc -l)
total=$(cat "$crit" "$rest" | sed -n 's/.*"seq":\([0-9]*\).*/\1/p' | sort -n | uniq | wc -l)
[ "$dups" = 0 ] && [ "$total" = 197 ] || fail "seqs: $total distinct, $dups duplicated"

# --- admin: routes, route dry runs, handlers, stats, config
ctl routes > "$ER_TMP/routes.out" || fail "routes exit $?"
grep -q 'type=\["CriticalEvent","RealTimeEvent"\]  -> critical' "$ER_TMP/routes.out" ||
    fail "routes: $(cat "$ER_TMP/routes.out")"
grep -q '(continue)' "$ER_TMP/routes.out" || fail "routes: continue not shown"
ctl route --type RealTimeEvent | grep -q '^destinations: critical$' || fail "route RealTimeEvent"
ctl route --type UserLoggedIn --topic auth.login | grep -q "^destinations: everything audit$" ||
    fail "route auth: $(ctl route --type UserLoggedIn --topic auth.login)"
ctl route --type Other | grep -q '^destinations: everything$' || fail "route Other"
ctl --json route --type Other | grep -q '"unrouted":false' || fail "route --json"
ctl route 2>/dev/null; [ $? = 2 ] || fail "route without --type must exit 2"
ctl --json handlers > "$ER_TMP/handlers.json" || fail "handlers"
grep -q '"name":"critical","plugin":"log"' "$ER_TMP/handlers.json" || fail "handlers content"
grep -q '"delivered":66' "$ER_TMP/handlers.json" || fail "handlers: critical delivered != 66"
ctl --json stats | grep -q '"sequenced":197' || fail "stats sequenced"
ctl --json stats | grep -q '"routed":197,"unrouted":0' || fail "stats routed/unrouted"
ctl config | grep -q "critical.jsonl" || fail "config does not show the handlers"
ctl health | grep -q '^UP$' || fail "health"
ctl frobnicate 2>/dev/null; [ $? = 2 ] || fail "unknown command must exit 2"

# --- the admin socket's peer check: with its mode opened to everyone, a
# user who is not root, the daemon's user or in admin_group is still refused
chmod 0666 "$ER_TMP/admin.sock"
chmod 0755 "$ER_TMP"
setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$EVENTCTL" --admin-socket "$ER_TMP/admin.sock" stats > "$ER_TMP/nobody.out" 2>&1
rc=$?
[ $rc = 1 ] || fail "nobody on the admin socket: exit $rc, expected 1 ($(cat "$ER_TMP/nobody.out"))"
grep -q 'refused (forbidden)' "$ER_TMP/nobody.out" || fail "nobody: $(cat "$ER_TMP/nobody.out")"
chmod 0660 "$ER_TMP/admin.sock"

# --- SIGUSR1: the log handler reopens its file (rotation)
mv "$rest" "$rest.1"
kill -USR1 "$ER_PID"
sleep 0.2
ctl publish --type AfterRotation >/dev/null || fail "publish after rotation"
for _ in $(seq 1 500); do
    [ -s "$rest" ] && break
    sleep 0.01
done
[ "$(count . "$rest")" = 1 ] || fail "after SIGUSR1 the new rest.jsonl has $(count . "$rest") lines"
grep -q AfterRotation "$rest" || fail "rotated file content"
[ "$(count AfterRotation "$rest.1")" = 0 ] || fail "the old file got the new event"

er_stop_ok
grep -q 'handlers stopped: 198 events routed, 0 unrouted' "$ER_TMP/daemon.log" &&
    grep -q 'stopped: 198 events stored, 0 duplicates answered' "$ER_TMP/daemon.log" ||
    fail "final log line"
echo "test_routing: all checks passed"
