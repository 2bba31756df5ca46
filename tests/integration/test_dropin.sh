#!/bin/bash
# Drop-in handlers (DESIGN §5 and §7) through the real daemon: the shipped
# log plugin copied to handlers.d/audit.so is handler "audit", its options
# from handlers.conf.d/audit.yaml, and receives the events a route sends to
# `audit` (the rest go to a handler of the file). A drop-in that fails the
# ownership checks (group-writable; owned by another uid, as root only)
# makes the daemon refuse to start with a message naming the file, and
# `eventrouterd --check-config` reports the same line.
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
[ -x "$EVENTROUTERD" ] || { echo "no $EVENTROUTERD"; exit 77; }
logso=$ER_BUILDDIR/plugins/handlers/log/.libs/log.so
[ -f "$logso" ] || { echo "no $logso"; exit 77; }

er_tmpdir
hd=$ER_TMP/handlers.d
mkdir -m 0755 "$hd" "$ER_TMP/handlers.conf.d"
install -m 0755 "$logso" "$hd/audit.so"
printf 'path: %s\nwindow: 16\n' "$ER_TMP/audit.jsonl" >"$ER_TMP/handlers.conf.d/audit.yaml"
# Not drop-ins: ignored.
printf 'notes\n' >"$hd/README"
mkdir -m 0755 "$hd/old.so"
er_write_config "handlers_dir: $hd
handlers_conf_dir: $ER_TMP/handlers.conf.d
handlers:
  rest:
    plugin: log
    path: $ER_TMP/rest.jsonl
routes:
  - match: { type: AuditEvent }
    to: [audit]
  - match: \"*\"
    to: [rest]"
count() { if [ -f "$2" ]; then grep -c "$1" "$2"; else echo 0; fi; }

# --check-config: the same file is valid.
out=$("$EVENTROUTERD" -c "$ER_CONFIG" --check-config 2>"$ER_TMP/stderr") ||
    fail "--check-config: $(cat "$ER_TMP/stderr")"
[ "$out" = ok ] || fail "--check-config printed \"$out\""
echo "ok - --check-config accepts the drop-in"

# --- the drop-in receives what is routed to it
er_start_daemon
ctl publish --type AuditEvent --count 20 --batch 5 2>/dev/null || fail "publish AuditEvent x20"
ctl publish --type Other --count 7 2>/dev/null || fail "publish Other x7"
ctl publish --type AuditEvent --data '{"last":true}' >/dev/null || fail "publish last"
for _ in $(seq 1 1000); do
    grep -q '"last":true' "$ER_TMP/audit.jsonl" 2>/dev/null &&
        [ "$(count . "$ER_TMP/rest.jsonl")" = 7 ] && break
    sleep 0.01
done
[ "$(count . "$ER_TMP/audit.jsonl")" = 21 ] ||
    fail "audit.jsonl has $(count . "$ER_TMP/audit.jsonl") lines, expected 21"
[ "$(count '"type":"AuditEvent"' "$ER_TMP/audit.jsonl")" = 21 ] || fail "audit.jsonl: other types"
[ "$(count . "$ER_TMP/rest.jsonl")" = 7 ] ||
    fail "rest.jsonl has $(count . "$ER_TMP/rest.jsonl") lines, expected 7"
[ "$(count AuditEvent "$ER_TMP/rest.jsonl")" = 0 ] || fail "audit events reached rest"
echo "ok - the drop-in receives the events routed to it"

ctl handlers >"$ER_TMP/handlers.txt" || fail "eventctl handlers"
grep -q "^audit: plugin log ($hd/audit.so)" "$ER_TMP/handlers.txt" ||
    fail "handlers: $(cat "$ER_TMP/handlers.txt")"
grep -q "in flight 0/16" "$ER_TMP/handlers.txt" ||
    fail "handlers: window 16 from audit.yaml not shown: $(cat "$ER_TMP/handlers.txt")"
ctl config >"$ER_TMP/config.txt" || fail "eventctl config"
grep -q "^handlers_dir: \"$hd\"" "$ER_TMP/config.txt" || fail "config: $(cat "$ER_TMP/config.txt")"
echo "ok - eventctl handlers and config show it"

# --- a reload: an unchanged drop-in is kept; one replaced at its path
# (install, a new inode) is re-created and runs the new file's code.
out=$(ctl reload) || fail "reload: $out"
[ "$out" = "reloaded: 2 destinations kept, 0 changed, 0 added, 0 removed; 2 routes" ] ||
    fail "reload said: $out"
crashso=$ER_BUILDDIR/tests/plugins/.libs/test_crash.so
install -m 0755 "$crashso" "$hd/audit.so"
printf 'record: %s\n' "$ER_TMP/audit2.txt" >"$ER_TMP/handlers.conf.d/audit.yaml"
out=$(ctl reload) || fail "reload after replacing audit.so: $out"
[ "$out" = "reloaded: 1 destinations kept, 1 changed, 0 added, 0 removed; 2 routes" ] ||
    fail "reload said: $out"
ctl handlers | grep -q "^audit: plugin test_crash ($hd/audit.so)" ||
    fail "the replaced drop-in still runs the old code: $(ctl handlers)"
seq2=$(ctl publish --type AuditEvent) || fail "publish after the reload"
for _ in $(seq 1 500); do grep -q "^$seq2 AuditEvent" "$ER_TMP/audit2.txt" 2>/dev/null && break; sleep 0.01; done
grep -q "^$seq2 AuditEvent" "$ER_TMP/audit2.txt" || fail "the new audit.so did not get seq $seq2"
echo "ok - a drop-in replaced at its path is re-created by a reload and runs the new code"
er_stop_daemon
[ "$ER_STATUS" = 0 ] || fail "daemon exit status $ER_STATUS"

# --- refused files refuse the whole configuration
line=$(grep -n '^handlers_dir:' "$ER_CONFIG" | cut -d: -f1)

# expect_refused WHAT MESSAGE: the daemon does not start (exit 1, the
# message on stderr) and --check-config prints exactly that error.
expect_refused() {
    local what=$1 expected="$ER_CONFIG:$line:15: handlers_dir: $2" rc
    # shellcheck disable=SC2086
    timeout 60 ${ER_TEST_WRAPPER:-} "$EVENTROUTERD" -c "$ER_CONFIG" >"$ER_TMP/start.out" 2>&1
    rc=$?
    [ "$rc" = 1 ] || fail "$what: the daemon exited $rc, expected 1: $(cat "$ER_TMP/start.out")"
    grep -qxF "$expected" "$ER_TMP/start.out" ||
        fail "$what: start did not say \"$expected\": $(cat "$ER_TMP/start.out")"
    [ -S "$ER_SOCK" ] && fail "$what: the daemon bound $ER_SOCK"
    "$EVENTROUTERD" -c "$ER_CONFIG" --check-config >"$ER_TMP/stdout" 2>"$ER_TMP/stderr"
    rc=$?
    [ "$rc" = 1 ] || fail "$what: --check-config exited $rc, expected 1"
    [ -s "$ER_TMP/stdout" ] && fail "$what: --check-config stdout: $(cat "$ER_TMP/stdout")"
    [ "$(cat "$ER_TMP/stderr")" = "$expected" ] ||
        fail "$what: --check-config said \"$(cat "$ER_TMP/stderr")\", expected \"$expected\""
    echo "ok - $what refused"
}

rm -f "$ER_SOCK"
chmod 0775 "$hd/audit.so"
expect_refused "a group-writable drop-in" \
    "$hd/audit.so is group-writable (mode 0775): refusing to load it"
chmod 0755 "$hd/audit.so"

if [ "$(id -u)" = 0 ]; then
    chown 1 "$hd/audit.so"
    expect_refused "a drop-in owned by uid 1" \
        "$hd/audit.so is owned by uid 1 (mode 0755), not root: refusing to load it"
    chown 0 "$hd/audit.so"
else
    echo "SKIP: the owner checks need root"
fi

chmod 0757 "$hd"
expect_refused "a world-writable handlers_dir" \
    "$hd is world-writable (mode 0757): refusing to load drop-ins from it"
chmod 0755 "$hd"
exit 0
