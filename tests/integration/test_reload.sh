#!/bin/bash
# Reload refusals and removed handlers (DESIGN §5, eventrouterd(8) Reload,
# eventctl(1) reload), asserted on what the `log` handlers wrote — one line
# per delivered event, in delivery order:
#   - a file that changes listen.socket, one that changes store.map_size,
#     one with a YAML error and one with a schema error are refused (exit 1,
#     the key named, or FILE:LINE:COLUMN), through eventctl and through
#     SIGHUP; each of them also changes the handlers and routes, and none of
#     that happens: the daemon goes on delivering on its old configuration,
#     and a good file is then reloaded;
#   - concurrent `eventctl reload`s are each answered (they share reloads);
#   - a handler removed by a reload and added again by the next one, with
#     `start: earliest`, gets every stored event again (these reloads also
#     re-create a changed handler, while nothing is in flight: the removed
#     ones stop at once);
#   - a removed handler's cursor is deleted from the store: a daemon started
#     afterwards on a file that has it again begins it per its `start`
#     (earliest: everything; head: nothing old), not where it was.
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
[ -x "$EVENTROUTERD" ] || { echo "no $EVENTROUTERD"; exit 77; }

# The destinations' names, sorted, on one line.
names() { ctl --json destinations | grep -o '"name":"[^"]*"' | cut -d'"' -f4 | sort | paste -sd' '; }

# The daemon's file: listen and store as given (SOCKET MAP_SIZE), then
# BODY; written aside and moved into place.
conf() { # SOCKET MAP_SIZE BODY
    printf 'listen:\n  socket: %s\n  admin_socket: %s\nlog:\n  level: debug\n' \
        "$1" "$ER_TMP/admin.sock" > "$ER_TMP/next.yaml"
    printf 'store:\n  plugin: lmdb\n  path: %s\n  map_size: %s\n%s\n' \
        "$ER_TMP/store" "$2" "$3" >> "$ER_TMP/next.yaml"
    mv "$ER_TMP/next.yaml" "$ER_CONFIG"
}
# Reload outcomes in the daemon's log so far: each reload logs exactly one,
# "reloaded: ..." or "reload refused ...".
outcomes() { grep -cE '\[dispatch\] reloaded: |\[reload\] reload refused' "$ER_TMP/daemon.log"; }
# SIGHUP, then wait for its outcome and print it.
hup() {
    local before _
    before=$(outcomes)
    kill -HUP "$ER_PID" || fail "SIGHUP"
    for _ in $(seq 1 6000); do
        [ "$(outcomes)" -gt "$before" ] && break
        alive
        sleep 0.02
    done
    [ "$(outcomes)" -eq $((before + 1)) ] || fail "SIGHUP: $(($(outcomes) - before)) reload outcomes"
    grep -E '\[dispatch\] reloaded: |\[reload\] reload refused' "$ER_TMP/daemon.log" | tail -1
}
# `eventctl reload` must be refused: exit 1, nothing on stdout, and stderr
# matching the extended regular expression $1 (whole, one line per reason).
expect_refused() { # ERE WHAT
    local rc
    ctl reload >"$ER_TMP/out" 2>"$ER_TMP/err"; rc=$?
    [ $rc -eq 1 ] || fail "$2: eventctl reload exited $rc: $(cat "$ER_TMP/out" "$ER_TMP/err")"
    [ -s "$ER_TMP/out" ] && fail "$2: eventctl reload printed: $(cat "$ER_TMP/out")"
    grep -qxE "$1" "$ER_TMP/err" && [ "$(wc -l < "$ER_TMP/err")" = 1 ] ||
        fail "$2: eventctl reload said: $(cat "$ER_TMP/err") (expected $1)"
}
# A literal string as an extended regular expression.
ere() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|/]/\\&/g'; }

# --------------------------------------------- refused: the old one stays
er_tmpdir
ER_SOCK=$ER_TMP/events.sock
ER_CONFIG=$ER_TMP/eventrouter.yaml
cfg=$(ere "$ER_CONFIG")
running="handlers:
  d: { plugin: log, path: $ER_TMP/d.jsonl }
routes:
  - match: \"*\"
    to: [d]"
# What every refused file would also do: add e, route only to it.
other="handlers:
  d: { plugin: log, path: $ER_TMP/d.jsonl }
  e: { plugin: log, path: $ER_TMP/e.jsonl }
routes:
  - match: \"*\"
    to: [e]"
conf "$ER_SOCK" 4GiB "$running"
er_start_daemon
publish 5
wait_cursor d 5
total=5
# Publish one more on the (old) socket and see d deliver it, and nothing
# of the refused file in force.
still_old() { # WHAT
    publish 1
    total=$((total + 1))
    wait_cursor d $total
    expect_seqs "$ER_TMP/d.jsonl" "$(range 1 $total)" "$1"
    [ "$(names)" = d ] || fail "$1: destinations $(names)"
    [ -e "$ER_TMP/e.jsonl" ] && fail "$1: e delivered"
    [ "$(ctl --json routes | grep -o '"to":\[[^]]*\]')" = '"to":["d"]' ] ||
        fail "$1: routes $(ctl routes)"
}

# listen.socket: named, through eventctl and through SIGHUP.
conf "$ER_TMP/other.sock" 4GiB "$other"
expect_refused "eventctl: reload: refused \(invalid\): $cfg(:[0-9]+:[0-9]+)?: listen\.socket changed: it needs a restart \(nothing was reloaded\)" \
    "listen.socket"
still_old "after listen.socket was refused"
out=$(hup)
case $out in *"reload refused"*"listen.socket changed"*) ;; *) fail "SIGHUP, listen.socket: $out" ;; esac
still_old "after listen.socket was refused (SIGHUP)"
[ -e "$ER_TMP/other.sock" ] && fail "the daemon listens on other.sock"

# store.map_size: the store (or the key) named.
conf "$ER_SOCK" 2GiB "$other"
expect_refused "eventctl: reload: refused \(invalid\): $cfg(:[0-9]+:[0-9]+)?: store(\.map_size)? changed: it needs a restart \(nothing was reloaded\)" \
    "store.map_size"
still_old "after store.map_size was refused"
out=$(hup)
case $out in *"reload refused"*"store"*" changed"*) ;; *) fail "SIGHUP, store.map_size: $out" ;; esac
still_old "after store.map_size was refused (SIGHUP)"

# A YAML error: FILE:LINE:COLUMN. The file's line 11 is "  bad: x: y",
# whose second colon (column 9) is the error.
conf "$ER_SOCK" 4GiB "handlers:
  bad: x: y
  e: { plugin: log, path: $ER_TMP/e.jsonl }
routes:
  - match: \"*\"
    to: [e]"
[ "$(sed -n 11p "$ER_CONFIG")" = "  bad: x: y" ] || fail "the bad line is not line 11"
expect_refused "eventctl: reload: refused \(invalid\): $cfg:11:9: .+" "a YAML error"
still_old "after a YAML error"
out=$(hup)
case $out in *"reload refused"*"$ER_CONFIG:11:9: "?*) ;; *) fail "SIGHUP, a YAML error: $out" ;; esac
still_old "after a YAML error (SIGHUP)"

# A schema error: an unknown key in e's block, at its line and column;
# the file is otherwise good.
conf "$ER_SOCK" 4GiB "handlers:
  d: { plugin: log, path: $ER_TMP/d.jsonl }
  e: { plugin: log, path: $ER_TMP/e.jsonl, colour: red }
routes:
  - match: \"*\"
    to: [e]"
line=$(grep -n 'colour: red' "$ER_CONFIG" | cut -d: -f1)
col=$(($(sed -n "${line}p" "$ER_CONFIG" | grep -bo 'colour' | cut -d: -f1) + 1))
expect_refused "eventctl: reload: refused \(invalid\): $cfg:$line:$col: .*colour.*" "an unknown key"
still_old "after an unknown key"

# And a good file is reloaded: the machinery is not stuck.
conf "$ER_SOCK" 4GiB "$other"
out=$(ctl reload) || fail "reload of a good file"
[ "$out" = "reloaded: 1 destinations kept, 0 changed, 1 added, 0 removed; 1 routes" ] ||
    fail "reload said: $out"
publish 1
total=$((total + 1))
wait_cursor e $total
expect_seqs "$ER_TMP/e.jsonl" "$total" "e, added at the head"
expect_seqs "$ER_TMP/d.jsonl" "$(range 1 $((total - 1)))" "d, no longer routed to"
[ "$(outcomes)" = 8 ] || fail "$(outcomes) reload outcomes logged, expected 8"

# The file is read on a thread of its own; requests that come while it is
# read make one more reload, which each of them waits for: five at once
# are all answered, and at most two reloads run.
pids=
for i in 1 2 3 4 5; do
    ctl reload >"$ER_TMP/r$i.out" 2>&1 &
    pids="$pids $!"
done
for p in $pids; do wait "$p"; done # not `wait`: the daemon is a child too
for i in 1 2 3 4 5; do
    grep -q '^reloaded: 2 destinations kept, 0 changed, 0 added, 0 removed; 1 routes$' \
        "$ER_TMP/r$i.out" || fail "concurrent reload $i: $(cat "$ER_TMP/r$i.out")"
done
n=$(outcomes)
[ "$n" -ge 9 ] && [ "$n" -le 13 ] || fail "$((n - 8)) reloads for five concurrent requests"
er_stop_ok
rm -rf "$ER_TMP"
ER_TMP=

# ------------------------------------------ removed, then added again
er_tmpdir
ER_SOCK=$ER_TMP/events.sock
ER_CONFIG=$ER_TMP/eventrouter.yaml
with="handlers:
  d: { plugin: log, path: $ER_TMP/d.jsonl }
  early: { plugin: log, path: $ER_TMP/early.jsonl, start: earliest }
  late: { plugin: log, path: $ER_TMP/late.jsonl, start: head }
routes:
  - match: \"*\"
    to: [d, early, late]"
# d changes too (its window) whenever early and late come or go: a reload
# that re-creates one handler while it removes others, nothing in flight.
without="handlers:
  d: { plugin: log, path: $ER_TMP/d.jsonl, window: 32 }
routes:
  - match: \"*\"
    to: [d]"
conf "$ER_SOCK" 4GiB "$with"
er_start_daemon
publish 10
for n in d early late; do wait_cursor $n 10; done

# Removed (by SIGHUP): they get nothing more.
conf "$ER_SOCK" 4GiB "$without"
out=$(hup)
case $out in *"reloaded: 1 destinations (0 kept, 1 changed, 0 added), 2 removed, 1 routes") ;;
*) fail "SIGHUP, removing early and late: $out" ;; esac
[ "$(names)" = d ] || fail "after the removal: destinations $(names)"
publish 5
wait_cursor d 15

# Added again (by eventctl): early gets all 15 stored events again, late
# only what comes next.
conf "$ER_SOCK" 4GiB "$with"
out=$(ctl reload) || fail "reload adding early and late again"
[ "$out" = "reloaded: 0 destinations kept, 1 changed, 2 added, 0 removed; 1 routes" ] ||
    fail "reload said: $out"
wait_cursor early 15
wait_cursor late 15
[ "$(field early read_from_store)" = 15 ] ||
    fail "early read $(field early read_from_store) events from the store, expected 15"
publish 1
for n in d early late; do wait_cursor $n 16; done
expect_seqs "$ER_TMP/early.jsonl" "$(range 1 10) $(range 1 16)" "early, removed and added again"
expect_seqs "$ER_TMP/late.jsonl" "$(range 1 10) 16" "late, removed and added again"
expect_seqs "$ER_TMP/d.jsonl" "$(range 1 16)" "d"

# Removed again, then the daemon restarts on a file that has them: their
# cursors (16) were deleted, so each begins per its start — not at 16.
conf "$ER_SOCK" 4GiB "$without"
out=$(ctl reload) || fail "reload removing early and late"
[ "$out" = "reloaded: 0 destinations kept, 1 changed, 0 added, 2 removed; 1 routes" ] ||
    fail "reload said: $out"
publish 4
wait_cursor d 20
er_stop_ok
conf "$ER_SOCK" 4GiB "$with"
er_start_daemon
wait_cursor early 20
[ "$(field late cursor)" = 20 ] || fail "late after the restart: $(dest late)"
publish 1
for n in d early late; do wait_cursor $n 21; done
expect_seqs "$ER_TMP/early.jsonl" "$(range 1 10) $(range 1 16) $(range 1 21)" \
    "early, after its cursor was deleted and a restart"
expect_seqs "$ER_TMP/late.jsonl" "$(range 1 10) 16 21" "late, after its cursor was deleted and a restart"
er_stop_ok
echo "test_reload: all checks passed"
