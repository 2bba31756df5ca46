#!/bin/bash
# `eventrouterd -c FILE --check-config` on the real binary (DESIGN §11): it
# prints "ok" and exits 0 for the shipped conf/eventrouter.yaml and for an
# empty file; for a bad file it prints every error as FILE:LINE:COL: message
# on stderr, nothing on stdout, and exits 1. Positions are asserted exactly.
# Skipped (77) only when the daemon has not been built.
set -u

: "${ER_BUILDDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${ER_SRCDIR:=$ER_BUILDDIR}"
EVENTROUTERD=$ER_BUILDDIR/daemon/eventrouterd

if [ ! -x "$EVENTROUTERD" ]; then
    echo "SKIP: $EVENTROUTERD is not built"
    exit 77
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/er-check-config.XXXXXX") || exit 99
trap 'rm -rf "$TMP"' EXIT
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# expect_ok NAME FILE: "ok" on stdout, nothing on stderr, exit 0.
expect_ok() {
    local name=$1 file=$2 out rc
    out=$("$EVENTROUTERD" -c "$file" --check-config 2>"$TMP/stderr")
    rc=$?
    [ "$rc" -eq 0 ] || fail "$name: exit $rc, stderr: $(cat "$TMP/stderr")"
    [ "$out" = ok ] || fail "$name: stdout \"$out\", expected \"ok\""
    [ -s "$TMP/stderr" ] && fail "$name: unexpected stderr: $(cat "$TMP/stderr")"
    echo "ok - $name"
}

# expect_errors NAME YAML EXPECTED: writes NAME.yaml into the temp dir and
# checks it from there (so messages name "NAME.yaml"): exit 1, nothing on
# stdout, stderr exactly EXPECTED (one line per error).
expect_errors() {
    local name=$1 yaml=$2 expected=$3 rc
    printf '%s' "$yaml" >"$TMP/$name.yaml"
    (cd "$TMP" && "$EVENTROUTERD" -c "$name.yaml" --check-config >"$TMP/stdout" 2>"$TMP/stderr")
    rc=$?
    [ "$rc" -eq 1 ] || fail "$name: exit $rc, expected 1"
    [ -s "$TMP/stdout" ] && fail "$name: unexpected stdout: $(cat "$TMP/stdout")"
    printf '%s\n' "$expected" >"$TMP/expected"
    if ! diff -u "$TMP/expected" "$TMP/stderr" >"$TMP/diff"; then
        fail "$name: stderr differs:"
        cat "$TMP/diff" >&2
    fi
    echo "ok - $name"
}

# ------------------------------------------------------------ valid files

EVENTROUTER_RUNDIR=$TMP/run expect_ok "shipped config with EVENTROUTER_RUNDIR" \
    "$ER_SRCDIR/conf/eventrouter.yaml"
(unset EVENTROUTER_RUNDIR; expect_ok "shipped config with the installed paths" \
    "$ER_SRCDIR/conf/eventrouter.yaml") || failures=$((failures + 1))
: >"$TMP/empty.yaml"
expect_ok "empty file" "$TMP/empty.yaml"
printf '# only comments\n---\n' >"$TMP/comments.yaml"
expect_ok "comments only" "$TMP/comments.yaml"
printf 'listen:\n  mode: 0600\n  socket: %s/e.sock\nlimits:\n  max_frame: 2MiB\n  max_event_size: 1MiB\n  idle_timeout: 5m\nlog: {level: debug, format: json}\n' \
    "$TMP" >"$TMP/custom.yaml"
expect_ok "custom values" "$TMP/custom.yaml"

# -------------------------------------------------------------- bad files

expect_errors bad-size 'limits:
  max_event_size: 64KiB
  max_frame: lots
' 'bad-size.yaml:3:14: limits.max_frame: expected a size such as 1MiB, got "lots"'

expect_errors unknown-key '# comment
listen:
  socket: /tmp/x.sock
  sokcet: /tmp/y.sock
' 'unknown-key.yaml:4:3: listen.sokcet: unknown key (did you mean "socket"?)'

expect_errors unknown-top 'bogus: 1
' 'unknown-top.yaml:1:1: bogus: unknown key'

expect_errors refused-section 'log:
  level: info
store:
  plugin: lmdb
' 'refused-section.yaml:3:1: store: not supported in this version'

expect_errors duplicate-key 'limits:
  max_batch: 10
  max_hops: 3
  max_batch: 20
' 'duplicate-key.yaml:4:3: duplicate key "max_batch" (first at line 2)'

expect_errors bad-mode 'listen:
  mode: rw-rw----
  admin_mode: 01777
' 'bad-mode.yaml:2:9: listen.mode: expected an octal file mode such as "0660", got "rw-rw----"
bad-mode.yaml:3:15: listen.admin_mode: must be at most 0777, got 01777'

expect_errors cross-check 'limits:
  max_frame: 64KiB
' 'cross-check.yaml:2:14: limits.max_frame: must be at least max_event_size (512KiB) + 32 bytes of framing, got 64KiB'

unset ER_CHECK_CONFIG_UNSET
expect_errors unset-variable 'listen:
  socket: ${ER_CHECK_CONFIG_UNSET}/events.sock
' 'unset-variable.yaml:2:11: environment variable ER_CHECK_CONFIG_UNSET is not set (${ER_CHECK_CONFIG_UNSET:-default} gives a default)'

expect_errors alias 'a: &x 1
' 'alias.yaml:1:4: YAML aliases/anchors are not supported'

expect_errors several 'listen:
  mode: 999
limits:
  frame_timeout: 10
  max_batch: 0
routes: []
extra: 1
' 'several.yaml:2:9: listen.mode: expected an octal file mode such as "0660", got "999"
several.yaml:4:18: limits.frame_timeout: expected a duration such as 30s (units d, h, m, s, ms), got "10"
several.yaml:5:14: limits.max_batch: must be between 1 and 65536, got 0
several.yaml:6:1: routes: not supported in this version
several.yaml:7:1: extra: unknown key'

expect_errors syntax 'limits:
  max_frame: [1
' 'syntax.yaml:3:1: YAML syntax error: did not find expected '"','"' or '"']'"' (while parsing a flow sequence at line 2, column 14)'

# A file that cannot be read: one line naming it, exit 1.
(cd "$TMP" && "$EVENTROUTERD" -c missing.yaml --check-config >"$TMP/stdout" 2>"$TMP/stderr")
rc=$?
[ "$rc" -eq 1 ] || fail "missing file: exit $rc, expected 1"
[ "$(cat "$TMP/stderr")" = "missing.yaml: cannot open: No such file or directory" ] ||
    fail "missing file: stderr: $(cat "$TMP/stderr")"
echo "ok - missing file"

# Without -c the file comes from $EVENTROUTER_CONFIG.
(cd "$TMP" && EVENTROUTER_CONFIG=bad-size.yaml "$EVENTROUTERD" --check-config \
    >"$TMP/stdout" 2>"$TMP/stderr")
rc=$?
[ "$rc" -eq 1 ] || fail "EVENTROUTER_CONFIG: exit $rc, expected 1"
grep -qx 'bad-size.yaml:3:14: limits.max_frame: expected a size such as 1MiB, got "lots"' \
    "$TMP/stderr" || fail "EVENTROUTER_CONFIG: stderr: $(cat "$TMP/stderr")"
echo "ok - EVENTROUTER_CONFIG"

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
exit 0
