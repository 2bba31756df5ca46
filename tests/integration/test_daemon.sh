#!/bin/bash
# eventrouterd as a process: command line and exit codes, the socket file
# (mode, stale file replaced, live daemon refused, long path refused,
# removed at exit), SIGTERM exit 0.
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
[ -x "$EVENTROUTERD" ] || { echo "no $EVENTROUTERD"; exit 77; }

# --- command line
"$EVENTROUTERD" --version | grep -q '^eventrouterd [0-9]' || fail "--version"
"$EVENTROUTERD" --help | grep -q -- '--check-config' || fail "--help lists --check-config"
"$EVENTROUTERD" --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "unknown option must exit 2"
"$EVENTROUTERD" -c /nonexistent/er.yaml 2>"${TMPDIR:-/tmp}/er-err.$$"; rc=$?
grep -q '/nonexistent/er.yaml' "${TMPDIR:-/tmp}/er-err.$$" || fail "missing config file not named"
rm -f "${TMPDIR:-/tmp}/er-err.$$"
[ $rc -eq 1 ] || fail "missing config must exit 1, got $rc"

# --- start, socket mode, live-socket refusal
er_tmpdir
er_write_config
er_start_daemon
mode=$(stat -c %a "$ER_SOCK")
[ "$mode" = 660 ] || fail "socket mode is $mode, expected 660"

# A second daemon with its own store on the same socket: refused.
sed "s|path: $ER_TMP/store|path: $ER_TMP/store2|" "$ER_CONFIG" > "$ER_TMP/second.yaml"
"$EVENTROUTERD" -c "$ER_TMP/second.yaml" > "$ER_TMP/second.log" 2>&1; rc=$?
[ $rc -eq 1 ] || fail "second daemon on the same socket must exit 1, got $rc"
grep -q "another daemon is listening on $ER_SOCK" "$ER_TMP/second.log" ||
    fail "second daemon does not say why: $(cat "$ER_TMP/second.log")"
[ -S "$ER_SOCK" ] || fail "the refused daemon removed the live socket"
"$EVENTCTL" --socket "$ER_SOCK" ping >/dev/null || fail "first daemon no longer answers"

# --- SIGTERM: exit 0 and the socket file is gone
er_stop_daemon TERM
[ "$ER_STATUS" -eq 0 ] || fail "SIGTERM exit status $ER_STATUS"
[ -e "$ER_SOCK" ] && fail "socket file left behind after a clean stop"
grep -q 'stopped:' "$ER_TMP/daemon.log" || fail "no 'stopped' line in the log"

# --- a stale socket file (daemon killed) is replaced
er_start_daemon
er_stop_daemon KILL
[ -S "$ER_SOCK" ] || fail "expected a stale socket after SIGKILL"
er_start_daemon
grep -q "removing stale socket $ER_SOCK" "$ER_TMP/daemon.log" || fail "stale socket not reported"
er_stop_daemon TERM
[ "$ER_STATUS" -eq 0 ] || fail "exit status $ER_STATUS after stale replacement"

# --- a regular file where the socket should be is not deleted
: > "$ER_SOCK"
"$EVENTROUTERD" -c "$ER_CONFIG" > "$ER_TMP/file.log" 2>&1; rc=$?
[ $rc -eq 1 ] || fail "a regular file at the socket path must refuse start, got $rc"
[ -f "$ER_SOCK" ] || fail "the regular file was removed"
grep -q "exists and is not a socket" "$ER_TMP/file.log" || fail "no reason for the refusal"
rm -f "$ER_SOCK"

# --- a socket path longer than sun_path is refused, not truncated
long=$ER_TMP/$(printf 'x%.0s' $(seq 1 120)).sock
printf 'listen:\n  socket: %s\n' "$long" > "$ER_TMP/long.yaml"
"$EVENTROUTERD" -c "$ER_TMP/long.yaml" > "$ER_TMP/long.log" 2>&1; rc=$?
[ $rc -eq 1 ] || fail "a too-long socket path must refuse start, got $rc"
grep -q "long.yaml:2:11: listen.socket: must be at most 107 bytes long" "$ER_TMP/long.log" ||
    fail "long path not explained: $(cat "$ER_TMP/long.log")"

echo "test_daemon: all checks passed"
