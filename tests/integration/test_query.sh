#!/bin/bash
# eventctl query against the real daemon: every filter and combinations of
# them on a known set of events (streams, correlation ids, types, ids and
# client-set times), RFC 3339 and relative TIME, usage errors (exit 2), the
# publish socket refusing QUERY (exit 1), and the round trip: `query |
# publish --from-file - --reimport` into a second daemon gives the same
# envelopes, and a second re-import stores nothing new (de-duplicated by id).
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
[ -x "$EVENTROUTERD" ] || { echo "no $EVENTROUTERD"; exit 77; }
[ -x "$EVENTCTL" ] || { echo "no $EVENTCTL"; exit 77; }

PID2=
cleanup_both() {
    if [ -n "$PID2" ] && kill -0 "$PID2" 2>/dev/null; then
        kill -KILL "$PID2" 2>/dev/null
        wait "$PID2" 2>/dev/null
    fi
    er_cleanup
}
trap cleanup_both EXIT

er_tmpdir
OUT=$ER_TMP/out
ERR=$ER_TMP/err
er_write_config
er_start_daemon
ADMIN=$ER_TMP/admin.sock

ctl() { # eventctl on daemon 1; status in $rc
    "$EVENTCTL" --socket "$ER_SOCK" --admin-socket "$ADMIN" "$@" >"$OUT" 2>"$ERR"
    rc=$?
}
# The seqs of the lines in $OUT, space-separated.
seqs() { sed 's/^{"seq":\([0-9]*\),.*/\1/' "$OUT" | tr '\n' ' ' | sed 's/ $//'; }
expect_seqs() { # WANT QUERY-ARGS...
    local want=$1
    shift
    ctl query "$@"
    [ "$rc" -eq 0 ] || fail "query $*: exit $rc: $(cat "$ERR")"
    [ "$(seqs)" = "$want" ] || fail "query $*: seqs '$(seqs)', want '$want'"
    [ ! -s "$ERR" ] || fail "query $*: stderr: $(cat "$ERR")"
}

# --- a known set: seq = line number
T0=1704067200000000 # 2024-01-01T00:00:00Z
H=3600000000
cat >"$ER_TMP/known.jsonl" <<EOF
{"type":"OrderPlaced","stream":"order:1","correlation_id":"r1","time":$T0,"id":"o1-placed","data":{"n":1}}
{"type":"OrderPaid","stream":"order:1","correlation_id":"r1","time":$((T0 + H))}
{"type":"OrderPlaced","stream":"order:2","correlation_id":"r2","time":$((T0 + 2 * H)),"data_base64":"AAEC","content_type":"application/octet-stream"}
{"type":"UserLoggedIn","stream":"user:1","correlation_id":"r1","time":$((T0 + 3 * H)),"id":"u-1","meta":{"k":"v"}}
{"type":"OrderPlaced","stream":"order:1","correlation_id":"r3","time":$((T0 + 24 * H)),"priority":"high"}
EOF
ctl publish --from-file "$ER_TMP/known.jsonl"
[ "$rc" -eq 0 ] || fail "publish known set: exit $rc: $(cat "$ERR")"
ctl publish --type Recent --stream now:1
[ "$rc" -eq 0 ] && [ "$(cat "$OUT")" = 6 ] || fail "publish Recent: $(cat "$OUT") $(cat "$ERR")"

expect_seqs "1 2 3 4 5 6"
expect_seqs "1 2 5" --stream order:1
expect_seqs "1 2 4" --correlation-id r1
expect_seqs "1 3 5" --type OrderPlaced
expect_seqs "4" --id u-1
expect_seqs "" --id nothing-has-this
expect_seqs "3 4 5 6" --since 2024-01-01T02:00:00Z
expect_seqs "3 4 5 6" --since 2024-01-01T03:00:00+01:00
expect_seqs "1 2" --until 2024-01-01T02:00:00Z
expect_seqs "2" --since 2024-01-01T00:00:00.000001Z --until 2024-01-01T02:00:00Z
expect_seqs "6" --since -1h
expect_seqs "6" --since -2d
expect_seqs "1 2 3 4 5" --until -30m
expect_seqs "3 4 5 6" --from-seq 3
expect_seqs "1 2" --limit 2
expect_seqs "1 5" --stream order:1 --type OrderPlaced
expect_seqs "2" --stream order:1 --correlation-id r1 --from-seq 2
expect_seqs "5" --type OrderPlaced --since 2024-01-01T12:00:00Z --until -1h
expect_seqs "3" --type OrderPlaced --from-seq 2 --limit 1
expect_seqs "" --stream order:2 --correlation-id r1

# The JSON shape: what was published comes back.
ctl query --id o1-placed
grep -q '"data":{"n":1}' "$OUT" || fail "data not as JSON: $(cat "$OUT")"
ctl query --stream order:2
grep -q '"data_base64":"AAEC"' "$OUT" || fail "binary data not base64: $(cat "$OUT")"
ctl query --id u-1
grep -q '"meta":{"k":"v"}' "$OUT" || fail "meta missing: $(cat "$OUT")"

# --- usage and refusals
ctl query --since yesterday
[ "$rc" -eq 2 ] || fail "--since yesterday: exit $rc, want 2"
grep -q -- '--since' "$ERR" || fail "--since yesterday: $(cat "$ERR")"
ctl query --limit 0
[ "$rc" -eq 2 ] || fail "--limit 0: exit $rc, want 2"
ctl query extra
[ "$rc" -eq 2 ] || fail "extra argument: exit $rc, want 2"
for cmd in query tail replay; do # the usage, and nothing run
    ctl $cmd --help
    [ "$rc" -eq 0 ] && grep -q -- '--correlation-id' "$OUT" || fail "$cmd --help"
    grep -q '^{' "$OUT" && fail "$cmd --help also ran: $(cat "$OUT")"
done
ctl query --to d
[ "$rc" -eq 2 ] && grep -q "unknown option '--to'" "$ERR" || fail "query --to: exit $rc: $(cat "$ERR")"
ctl replay --publish-socket --to d
[ "$rc" -eq 2 ] || fail "replay --publish-socket: exit $rc, want 2"
"$EVENTCTL" --admin-socket "$ER_SOCK" query >"$OUT" 2>"$ERR"
rc=$?
[ "$rc" -eq 1 ] || fail "query on the publish socket: exit $rc, want 1"
grep -q 'forbidden' "$ERR" || fail "query on the publish socket: $(cat "$ERR")"
[ ! -s "$OUT" ] || fail "query on the publish socket printed: $(cat "$OUT")"
"$EVENTCTL" --admin-socket "$ER_TMP/nothing.sock" query >"$OUT" 2>"$ERR"
rc=$?
[ "$rc" -eq 3 ] || fail "query without a daemon: exit $rc, want 3"

# --- round trip into a second daemon
mkdir "$ER_TMP/d2"
SOCK2=$ER_TMP/d2/events.sock
ADMIN2=$ER_TMP/d2/admin.sock
printf 'listen:\n  socket: %s\n  admin_socket: %s\nstore:\n  plugin: lmdb\n  path: %s\n  map_size: 4GiB\n' \
    "$SOCK2" "$ADMIN2" "$ER_TMP/d2/store" >"$ER_TMP/d2/eventrouter.yaml"
# shellcheck disable=SC2086
${ER_TEST_WRAPPER:-} "$EVENTROUTERD" -c "$ER_TMP/d2/eventrouter.yaml" >>"$ER_TMP/daemon2.log" 2>&1 &
PID2=$!
er_wait_socket "$SOCK2" && er_wait_socket "$ADMIN2" || fail "daemon 2 did not start: $(cat "$ER_TMP/daemon2.log")"

# Enough events of ~1 KB that the result spans several frames.
PAD=$(printf '%01000d' 0)
: >"$ER_TMP/many.jsonl"
for i in $(seq 1 2000); do
    printf '{"type":"Bulk","stream":"bulk:%d","data":{"i":%d,"pad":"%s"}}\n' $((i % 7)) "$i" "$PAD"
done >>"$ER_TMP/many.jsonl"
ctl publish --from-file "$ER_TMP/many.jsonl"
[ "$rc" -eq 0 ] || fail "publish many: exit $rc: $(cat "$ERR")"

"$EVENTCTL" --admin-socket "$ADMIN" query >"$ER_TMP/q1" 2>"$ERR" || fail "query 1: $(cat "$ERR")"
[ "$(wc -l <"$ER_TMP/q1")" -eq 2006 ] || fail "query 1: $(wc -l <"$ER_TMP/q1") lines, want 2006"
"$EVENTCTL" --admin-socket "$ADMIN" query |
    "$EVENTCTL" --socket "$SOCK2" publish --from-file - --reimport >"$ER_TMP/import1" 2>"$ERR" ||
    fail "re-import: $(cat "$ERR")"
[ "$(wc -l <"$ER_TMP/import1")" -eq 2006 ] || fail "re-import printed $(wc -l <"$ER_TMP/import1") seqs"
"$EVENTCTL" --admin-socket "$ADMIN2" query >"$ER_TMP/q2" 2>"$ERR" || fail "query 2: $(cat "$ERR")"

# Identical envelopes once the daemon's own fields are gone.
envelope() {
    sed -e 's/"seq":[0-9]*,//' -e 's/"received":[0-9]*,//' -e 's/,"origin":{[^}]*}//' \
        -e 's/,"via":{[^}]*}//' -e 's/,"hops":[0-9]*//' "$1"
}
envelope "$ER_TMP/q1" >"$ER_TMP/e1"
envelope "$ER_TMP/q2" >"$ER_TMP/e2"
cmp -s "$ER_TMP/e1" "$ER_TMP/e2" || fail "envelopes differ: $(diff "$ER_TMP/e1" "$ER_TMP/e2" | head -5)"
grep -q '"origin"' "$ER_TMP/e1" && fail "origin not stripped by the comparison"

# A second re-import: every event is a duplicate, answered with its seq.
"$EVENTCTL" --admin-socket "$ADMIN" query |
    "$EVENTCTL" --socket "$SOCK2" publish --from-file - --reimport >"$ER_TMP/import2" 2>"$ERR" ||
    fail "second re-import: $(cat "$ERR")"
cmp -s "$ER_TMP/import1" "$ER_TMP/import2" || fail "second re-import got new seqs"
"$EVENTCTL" --admin-socket "$ADMIN2" query >"$ER_TMP/q3" 2>"$ERR" || fail "query 3: $(cat "$ERR")"
cmp -s "$ER_TMP/q2" "$ER_TMP/q3" || fail "the second re-import stored something"
"$EVENTCTL" --admin-socket "$ADMIN2" stats >"$OUT" 2>"$ERR" || fail "stats 2: $(cat "$ERR")"
grep -q 'duplicates.*2006' "$OUT" || fail "daemon 2 counted no 2006 duplicates: $(cat "$OUT")"

kill -TERM "$PID2"
wait "$PID2" || fail "daemon 2 exit $?: $(cat "$ER_TMP/daemon2.log")"
PID2=
er_stop_daemon TERM
[ "$ER_STATUS" -eq 0 ] || fail "daemon exit $ER_STATUS"
echo "ok"
