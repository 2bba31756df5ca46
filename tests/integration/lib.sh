# Shell helpers for integration tests: sourced, never run. The same job as
# harness.c for C tests: a temp dir, the real daemon from the build tree on
# a temporary config, stopped by PID and cleaned up on exit.
#
#   . "$ER_SRCDIR/tests/integration/lib.sh"
#   er_tmpdir                    # -> $ER_TMP (removed at exit)
#   er_write_config [EXTRA_YAML] # -> $ER_CONFIG, $ER_SOCK
#   er_start_daemon [CONFIG]     # -> $ER_PID (waits for the socket)
#   er_stop_daemon [SIGNAL]      # -> $ER_STATUS (exit status)
#   er_stop_ok                   # SIGTERM, and the daemon must exit 0
#   fail MESSAGE                 # print, dump the daemon log, exit 1
#   ctl ARGS...                  # eventctl on this daemon's two sockets
#   dest NAME, field NAME KEY, state NAME
#                                # a destination as `destinations` shows it
#   alive                        # fail at once when the daemon died
#   num|str JSON KEY             # a number or a string member of JSON
#   seqs FILE, range A B, expect_seqs FILE WANT WHAT
#                                # the seqs a `log` handler wrote
#   wait_cursor NAME SEQ         # NAME live, caught up to SEQ, written
#   publish COUNT [TYPE]         # COUNT events of TYPE (default Plain)

: "${ER_BUILDDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${ER_SRCDIR:=$ER_BUILDDIR}"
EVENTROUTERD=$ER_BUILDDIR/daemon/eventrouterd
EVENTCTL=$ER_BUILDDIR/tools/eventctl
ER_PID=
ER_TMP=

er_cleanup() {
    if [ -n "$ER_PID" ] && kill -0 "$ER_PID" 2>/dev/null; then
        kill -KILL "$ER_PID" 2>/dev/null
        wait "$ER_PID" 2>/dev/null
    fi
    [ -n "$ER_TMP" ] && rm -rf "$ER_TMP"
}
trap er_cleanup EXIT

er_tmpdir() {
    ER_TMP=$(mktemp -d "${TMPDIR:-/tmp}/er-itest.XXXXXX") || exit 99
}

fail() {
    echo "FAIL: $*" >&2
    if [ -n "$ER_TMP" ] && [ -f "$ER_TMP/daemon.log" ]; then
        echo "---- daemon log ----" >&2
        cat "$ER_TMP/daemon.log" >&2
    fi
    exit 1
}

er_write_config() {
    [ -n "$ER_TMP" ] || er_tmpdir
    ER_SOCK=$ER_TMP/events.sock
    ER_CONFIG=$ER_TMP/eventrouter.yaml
    {
        printf 'listen:\n  socket: %s\n  admin_socket: %s\nlog:\n  level: debug\n' \
            "$ER_SOCK" "$ER_TMP/admin.sock"
        # The default store, in the test's directory, unless the test
        # configures its own; a map_size valgrind can map (its address
        # space is 64 GiB, the default map_size).
        case "${1:-}" in
        store:* | *"
store:"*) ;;
        *) printf 'store:\n  plugin: lmdb\n  path: %s\n  map_size: 4GiB\n' "$ER_TMP/store" ;;
        esac
        [ -n "${1:-}" ] && printf '%s\n' "$1"
    } > "$ER_CONFIG"
}

# Wait until something accepts on socket $1 (up to 30 s).
er_wait_socket() {
    local i
    for i in $(seq 1 3000); do
        "$EVENTCTL" --socket "$1" ping >/dev/null 2>&1 && return 0
        [ -n "$ER_PID" ] && ! kill -0 "$ER_PID" 2>/dev/null && return 1
        sleep 0.01
    done
    return 1
}

er_start_daemon() {
    [ -n "${1:-}" ] && ER_CONFIG=$1
    [ -n "${ER_CONFIG:-}" ] || er_write_config
    # shellcheck disable=SC2086
    ${ER_TEST_WRAPPER:-} "$EVENTROUTERD" -c "$ER_CONFIG" >> "$ER_TMP/daemon.log" 2>&1 &
    ER_PID=$!
    er_wait_socket "$ER_SOCK" || fail "daemon did not start on $ER_SOCK"
    # The admin socket is bound just after the publish socket.
    if grep -q "admin_socket: $ER_TMP/admin.sock" "$ER_CONFIG"; then
        er_wait_socket "$ER_TMP/admin.sock" || fail "no admin socket at $ER_TMP/admin.sock"
    fi
}

er_stop_daemon() {
    local i
    kill "-${1:-TERM}" "$ER_PID" 2>/dev/null
    for i in $(seq 1 3000); do
        kill -0 "$ER_PID" 2>/dev/null || break
        sleep 0.01
    done
    wait "$ER_PID" 2>/dev/null
    ER_STATUS=$?
    ER_PID=
}

er_stop_ok() {
    er_stop_daemon TERM
    [ "$ER_STATUS" -eq 0 ] || fail "exit status $ER_STATUS"
}

# ------------------------------------------------ eventctl and destinations

ctl() { "$EVENTCTL" --socket "$ER_SOCK" --admin-socket "$ER_TMP/admin.sock" "$@"; }
# Destination $1's object in `destinations`; a number or a string in JSON.
dest() { ctl --json destinations | grep -o "{\"name\":\"$1\",[^}]*}"; }
num() { printf '%s' "$1" | grep -o "\"$2\":[0-9]*" | cut -d: -f2; }
str() { printf '%s' "$1" | grep -o "\"$2\":\"[^\"]*\"" | cut -d'"' -f4; }
field() { num "$(dest "$1")" "$2"; }
state() { str "$(dest "$1")" state; }
# The daemon still runs (a crash fails at once, not after a timeout).
alive() { kill -0 "$ER_PID" 2>/dev/null || fail "the daemon died"; }
# The seqs in log file $1, in line order, on one line.
seqs() { [ -f "$1" ] && sed 's/^{"seq":\([0-9]*\),.*/\1/' "$1" | paste -sd' '; }
# "A B" -> the numbers A..B on one line (nothing when B < A).
range() { seq "$1" "$2" | paste -sd' '; }
expect_seqs() { # FILE EXPECTED WHAT
    local got
    got=$(seqs "$1")
    [ "$got" = "$2" ] || fail "$3: $(basename "$1") has seqs [$got], expected [$2]"
}
# Wait until destination $1 is live with its cursor at $2, written to the
# store, and nothing in flight (up to 120 s: valgrind).
wait_cursor() {
    local _ o
    for _ in $(seq 1 6000); do
        o=$(dest "$1")
        [ "$(str "$o" state)" = live ] && [ "$(num "$o" cursor)" = "$2" ] &&
            [ "$(num "$o" persisted)" = "$2" ] && [ "$(num "$o" inflight)" = 0 ] && return 0
        alive
        sleep 0.02
    done
    fail "$1 did not reach cursor $2: $o"
}
publish() { # COUNT [TYPE]: publish COUNT events; prints nothing
    ctl publish --type "${2:-Plain}" --count "$1" --batch 16 >/dev/null 2>&1 ||
        fail "publish $1 ${2:-Plain}"
}
