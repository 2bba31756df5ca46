#!/bin/bash
# acl read rules on the real daemon (DESIGN §9): peers of other users,
# made with setpriv, ask QUERY and TAIL on the publish socket. The first
# rule that matches a peer (its uid, its primary group, or a supplementary
# group the kernel reports with SO_PEERGROUPS) decides; no rule: refused
# (forbidden, exit 1), root included — root reads on the admin socket. A
# reload changes the rules for the connections made after it; a user name
# that does not exist is a configuration error at its line and column.
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
[ -x "$EVENTROUTERD" ] || { echo "no $EVENTROUTERD"; exit 77; }
[ -x "$EVENTCTL" ] || { echo "no $EVENTCTL"; exit 77; }
[ "$(id -u)" -eq 0 ] || { echo "needs root (peers of other users)"; exit 77; }
command -v setpriv >/dev/null || { echo "no setpriv"; exit 77; }

er_tmpdir
chmod 0755 "$ER_TMP" # other users reach the socket in it
OUT=$ER_TMP/out
ERR=$ER_TMP/err

rules() { # the acl section, then the socket open to everyone
    printf 'listen:\n  socket: %s\n  admin_socket: %s\n  mode: "0666"\n' \
        "$ER_TMP/events.sock" "$ER_TMP/admin.sock"
    printf 'store:\n  plugin: lmdb\n  path: %s\n  map_size: 4GiB\n' "$ER_TMP/store"
    printf 'acl:\n%s\n' "$1"
}
ER_SOCK=$ER_TMP/events.sock
ER_CONFIG=$ER_TMP/eventrouter.yaml
rules '  - {uid: 65533, read: false}
  - {user: nobody, read: true}
  - {gid: 4242, read: true}' >"$ER_CONFIG"
er_start_daemon

"$EVENTCTL" --socket "$ER_SOCK" publish --type Seen --count 5 2>/dev/null ||
    fail "publish failed"

as() { # UID GID GROUPS(comma list or "none") eventctl ARGS...; status in $rc
    local u=$1 g=$2 groups=$3
    shift 3
    if [ "$groups" = none ]; then
        setpriv --reuid="$u" --regid="$g" --clear-groups \
            "$EVENTCTL" --socket "$ER_SOCK" "$@" >"$OUT" 2>"$ERR"
    else
        setpriv --reuid="$u" --regid="$g" --groups="$groups" \
            "$EVENTCTL" --socket "$ER_SOCK" "$@" >"$OUT" 2>"$ERR"
    fi
    rc=$?
}
STORED=5
allowed() { # WHO... : query --publish-socket gives every stored event
    as "$@" query --publish-socket
    [ "$rc" -eq 0 ] || fail "$*: query exit $rc: $(cat "$ERR")"
    [ "$(wc -l <"$OUT")" -eq "$STORED" ] || fail "$*: $(wc -l <"$OUT") rows, want $STORED"
    grep -q '^{"seq":5,"type":"Seen"' "$OUT" || fail "$*: seq 5 missing: $(cat "$OUT")"
}
refused() { # WHO...
    as "$@" query --publish-socket
    [ "$rc" -eq 1 ] || fail "$*: query exit $rc, want 1 (refused)"
    grep -q 'refused (forbidden).*acl rule grants read' "$ERR" ||
        fail "$*: message: $(cat "$ERR")"
    [ ! -s "$OUT" ] || fail "$*: rows on stdout: $(cat "$OUT")"
}

allowed 65534 65534 none      # user nobody, by name
allowed 65532 65532 4242      # a supplementary group (SO_PEERGROUPS)
allowed 65532 4242 none       # the primary group
refused 65533 65533 4242      # its uid rule comes first and says no
refused 65531 65531 none      # no rule at all
refused 0 0 none              # root too: it reads on the admin socket
"$EVENTCTL" --socket "$ER_SOCK" --admin-socket "$ER_TMP/admin.sock" query >"$OUT" 2>"$ERR" ||
    fail "root on the admin socket: $(cat "$ERR")"
[ "$(wc -l <"$OUT")" -eq 5 ] || fail "root on the admin socket: $(wc -l <"$OUT") rows"

# TAIL on the publish socket: the stored ones from seq 3, then a live one.
setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$EVENTCTL" --socket "$ER_SOCK" tail --publish-socket --from-seq 3 --limit 4 \
    >"$OUT" 2>"$ERR" &
TAIL=$!
for _ in $(seq 1 500); do
    [ "$(wc -l <"$OUT")" -ge 3 ] && break
    sleep 0.02
done
"$EVENTCTL" --socket "$ER_SOCK" publish --type Later >/dev/null || fail "publish Later"
wait "$TAIL" || fail "tail exit $?: $(cat "$ERR")"
[ "$(sed 's/^{"seq":\([0-9]*\),"type":"\([A-Za-z]*\)".*/\1\2/' "$OUT" | tr '\n' ' ')" = \
    "3Seen 4Seen 5Seen 6Later " ] || fail "tail rows: $(cat "$OUT")"
STORED=6

# A reload: nobody's rule is gone for new connections.
rules '  - {gid: 4242, read: true}' >"$ER_CONFIG"
"$EVENTCTL" --admin-socket "$ER_TMP/admin.sock" reload >/dev/null 2>"$ERR" ||
    fail "reload: $(cat "$ERR")"
refused 65534 65534 none
allowed 65532 65532 4242

# A name that does not exist: refused with its place, the old rules stay.
rules '  - {user: no-such-user-er, read: true}' >"$ER_CONFIG"
"$EVENTCTL" --admin-socket "$ER_TMP/admin.sock" reload >/dev/null 2>"$ERR" &&
    fail "reload of an unknown user succeeded"
grep -q 'eventrouter.yaml:10:12: acl\[0\].user: no user named "no-such-user-er"' "$ERR" ||
    fail "reload message: $(cat "$ERR")"
"$EVENTROUTERD" --check-config -c "$ER_CONFIG" >"$OUT" 2>&1 && fail "--check-config passed"
grep -q 'eventrouter.yaml:10:12: acl\[0\].user: no user named' "$OUT" ||
    fail "--check-config: $(cat "$OUT")"
allowed 65532 65532 4242

er_stop_daemon
[ "$ER_STATUS" -eq 0 ] || fail "daemon exit $ER_STATUS"
echo "ok: acl read rules by uid, user, gid (primary and supplementary), first match, reload"
