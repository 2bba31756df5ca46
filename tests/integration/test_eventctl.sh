#!/bin/bash
# eventctl against the real eventrouterd over a socket in a temp dir: usage
# and exit codes (0 ok, 1 refused, 2 usage, 3 unreachable), ping, publish
# (bare seq on stdout), --count (summary on stderr only, seqs advance by
# N), --from-file (a bad line is named and refused, the others stored),
# --reimport (daemon fields dropped, refused without it).
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
[ -x "$EVENTROUTERD" ] || { echo "no $EVENTROUTERD"; exit 77; }
[ -x "$EVENTCTL" ] || { echo "no $EVENTCTL"; exit 77; }

er_tmpdir
OUT=$ER_TMP/out
ERR=$ER_TMP/err

# Run eventctl with the test socket; status in $rc, output in $OUT/$ERR.
ctl() {
    "$EVENTCTL" --socket "$ER_SOCK" "$@" >"$OUT" 2>"$ERR"
    rc=$?
}
expect_rc() { # WANT WHAT
    [ "$rc" -eq "$1" ] || fail "$2: exit $rc, want $1 (stdout: $(cat "$OUT"); stderr: $(cat "$ERR"))"
}
expect_out() { # WANT WHAT
    [ "$(cat "$OUT")" = "$1" ] || fail "$2: stdout '$(cat "$OUT")', want '$1'"
}
expect_err() { # PATTERN WHAT
    grep -q -e "$1" "$ERR" || fail "$2: stderr does not match '$1': $(cat "$ERR")"
}

# --- usage, without a daemon
er_write_config
"$EVENTCTL" --help >"$OUT" 2>&1 || fail "--help exit $?"
grep -q 'publish' "$OUT" && grep -q 'ping' "$OUT" || fail "--help lists no commands"
"$EVENTCTL" help publish >"$OUT" 2>&1 || fail "help publish exit $?"
grep -q -- '--from-file' "$OUT" || fail "help publish does not show --from-file"
"$EVENTCTL" publish --help >"$OUT" 2>&1 || fail "publish --help exit $?"
grep -q -- '--reimport' "$OUT" || fail "publish --help does not show --reimport"
ctl frobnicate; expect_rc 2 "unknown command"
ctl; expect_rc 2 "no command"
ctl publish --type A --priority urgent; expect_rc 2 "invalid --priority"
expect_err "priority" "invalid --priority is named"
ctl publish --type A --ack sometimes; expect_rc 2 "invalid --ack"
ctl publish --type A --data '{bad'; expect_rc 2 "--data that is not JSON"
ctl publish --topic x; expect_rc 2 "missing --type"
ctl publish --type A --bogus; expect_rc 2 "unknown publish option"
ctl publish --from-file x --type A; expect_rc 2 "--from-file with event flags"
ctl publish --type A --reimport; expect_rc 2 "--reimport without --from-file"
ctl publish --type A --count 0; expect_rc 2 "--count 0"

# --- unreachable
ctl ping; expect_rc 3 "ping without a daemon"
expect_err "$ER_SOCK" "unreachable socket is named"
ctl publish --type A; expect_rc 3 "publish without a daemon"
# A bad event is refused locally even without a daemon.
ctl publish --type 'not a type'; expect_rc 1 "invalid type"
expect_err '^eventctl: refused (invalid): type: ' "invalid type reason"

# --- with the daemon
er_start_daemon

ctl ping; expect_rc 0 "ping"
grep -Eq '^pong [0-9]+us$' "$OUT" || fail "ping output: $(cat "$OUT")"
ctl --json ping; expect_rc 0 "--json ping"
grep -q '"max_batch":' "$OUT" || fail "--json ping output: $(cat "$OUT")"
EVENTROUTER_SOCKET=$ER_SOCK "$EVENTCTL" ping >/dev/null 2>&1 || fail "\$EVENTROUTER_SOCKET not used"

ctl publish --type OrderCreated; expect_rc 0 "publish"; expect_out 1 "first seq"
ctl publish --type OrderCreated --topic orders.created --priority high --stream user:1 \
    --correlation-id c1 --causation-id c0 --source shop --id order-1 --meta a=b --meta c=d \
    --data '{"total": 12.5}'
expect_rc 0 "publish with every flag"; expect_out 2 "second seq"

ctl publish --type Bulk --count 1000 --batch 64; expect_rc 0 "--count 1000 --batch 64"
expect_out "" "--count prints nothing on stdout"
grep -Eq '^1000 events in [0-9.]+ s: [0-9]+ events/s$' "$ERR" || fail "--count summary: $(cat "$ERR")"
ctl publish --type OrderCreated; expect_out 1003 "seq after --count 1000"

ctl publish --type Quiet --ack none; expect_rc 0 "--ack none"; expect_out "" "--ack none prints nothing"
ctl publish --type Bulk --count 100 --ack none; expect_rc 0 "--count --ack none"
ctl publish --type OrderCreated --ack received; expect_out 1105 "seq after --ack none events"

printf '{"type":"Blob"}' >"$ER_TMP/blob"
ctl publish --type WithFile --data-file "$ER_TMP/blob"; expect_out 1106 "--data-file"

# --from-file: the bad third line is named, the four others are stored.
cat >"$ER_TMP/lines.jsonl" <<'EOF'
{"type":"A","data":{"n":1}}
{"type":"B","meta":{"k":"v"},"priority":"low"}
{"type":"C","colour":"red"}

{"type":"D","data_base64":"AAEC","content_type":"application/octet-stream"}
{"type":"E"}
EOF
ctl publish --from-file "$ER_TMP/lines.jsonl"; expect_rc 1 "--from-file with a bad line"
expect_err '^eventctl: line 3: refused (invalid): colour: unknown key$' "bad line named"
[ "$(wc -l <"$ERR")" -eq 1 ] || fail "only line 3 is refused: $(cat "$ERR")"
expect_out "$(printf '1107\n1108\n1109\n1110')" "one seq per stored line"
ctl publish --type OrderCreated; expect_out 1111 "seq advanced by the good lines only"

ctl publish --from-file - <"$ER_TMP/lines.jsonl"; expect_rc 1 "--from-file - (stdin)"
[ "$(wc -l <"$OUT")" -eq 4 ] || fail "--from-file - stored $(wc -l <"$OUT") lines"

# --reimport: a line as query prints it, daemon fields included.
cat >"$ER_TMP/export.jsonl" <<'EOF'
{"seq":7,"type":"OrderCreated","id":"exp-1","time":1700000000000000,"received":1700000000000001,"origin":{"pid":1,"uid":0,"gid":0,"host":"h"},"hops":1}
EOF
ctl publish --from-file "$ER_TMP/export.jsonl"; expect_rc 1 "daemon fields without --reimport"
expect_err '^eventctl: line 1: refused (invalid): seq: ' "the daemon field is named"
ctl publish --from-file "$ER_TMP/export.jsonl" --reimport; expect_rc 0 "--reimport"
expect_out 1116 "--reimport stores the line"

# --- after the daemon: unreachable again
er_stop_daemon TERM
[ "$ER_STATUS" -eq 0 ] || fail "daemon exit status $ER_STATUS"
ctl ping; expect_rc 3 "ping after the daemon stopped"

echo "test_eventctl: ok"
