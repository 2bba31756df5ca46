#!/bin/bash
# Store maintenance through eventctl against the real daemon (lmdb):
# `store check` on a consistent store, `store backup DIR` taken while a
# publisher keeps publishing with durable acks, refused into a non-empty
# directory, `store compact` (a report: lmdb does not compact in place);
# then the restore of eventrouterd(8): a daemon started on the backup
# directory checks clean and holds every event acked before the backup
# began. The memory store answers `unsupported` for backup.
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
[ -x "$EVENTROUTERD" ] || { echo "no $EVENTROUTERD"; exit 77; }
[ -x "$EVENTCTL" ] || { echo "no $EVENTCTL"; exit 77; }

PUB=
cleanup_all() {
    [ -n "$PUB" ] && kill "$PUB" 2>/dev/null && wait "$PUB" 2>/dev/null
    er_cleanup
}
trap cleanup_all EXIT

er_tmpdir
OUT=$ER_TMP/out
ERR=$ER_TMP/err
er_write_config
er_start_daemon
ctl() { # status in $rc, output in $OUT and $ERR
    "$EVENTCTL" --socket "$ER_SOCK" --admin-socket "$ER_TMP/admin.sock" "$@" >"$OUT" 2>"$ERR"
    rc=$?
}
# The lmdb store's own "events" figure in `stats`.
stored() {
    "$EVENTCTL" --admin-socket "$ER_TMP/admin.sock" --json stats |
        grep -o '"lmdb":{[^}]*' | grep -o '"events":[0-9]*' | cut -d: -f2
}

# An empty store is consistent.
ctl store check
[ "$rc" -eq 0 ] || fail "check of an empty store: exit $rc: $(cat "$OUT" "$ERR")"
grep -q '^store check: 0 events, .*: consistent$' "$OUT" || fail "check output: $(cat "$OUT")"

# Usage errors: exit 2.
ctl store
[ "$rc" -eq 2 ] || fail "store without a subcommand: exit $rc"
ctl store backup
[ "$rc" -eq 2 ] || fail "backup without DIR: exit $rc"
ctl store frobnicate
[ "$rc" -eq 2 ] || fail "unknown subcommand: exit $rc"

# Acked before the backup starts: everything up to $last.
ctl publish --type Before --count 3000 --batch 50
[ "$rc" -eq 0 ] || fail "publish Before: $(cat "$ERR")"
ctl publish --type Marker
[ "$rc" -eq 0 ] || fail "publish Marker: $(cat "$ERR")"
last=$(cat "$OUT")
[ "$last" -ge 3001 ] || fail "marker seq $last"

# A publisher that goes on during the backup (durable acks).
(
    while "$EVENTCTL" --socket "$ER_SOCK" publish --type During --count 200 --batch 10 \
        >/dev/null 2>&1; do :; done
) &
PUB=$!
sleep 0.2
ctl store backup "$ER_TMP/backup"
[ "$rc" -eq 0 ] || fail "backup: exit $rc: $(cat "$OUT" "$ERR")"
grep -q "^backup in $ER_TMP/backup: [0-9]* bytes .* in [0-9.]* s$" "$OUT" ||
    fail "backup output: $(cat "$OUT")"
sleep 0.2
kill "$PUB" 2>/dev/null
wait "$PUB" 2>/dev/null
PUB=
during=$(stored)
[ "$during" -gt "$last" ] || fail "the publisher stored nothing around the backup ($during <= $last)"
[ -f "$ER_TMP/backup/data.mdb" ] || fail "no data.mdb in the backup"

# Not into a directory that holds something; a relative DIR is made absolute.
ctl store backup "$ER_TMP/backup"
[ "$rc" -eq 1 ] || fail "backup into a non-empty directory: exit $rc"
grep -q "refused (invalid): .*is not empty" "$ERR" || fail "non-empty refusal: $(cat "$ERR")"
(cd "$ER_TMP" && "$EVENTCTL" --admin-socket "$ER_TMP/admin.sock" store backup rel/b >"$OUT" 2>"$ERR") ||
    fail "relative backup: $(cat "$ERR")"
[ -f "$ER_TMP/rel/b/data.mdb" ] || fail "relative DIR not taken from eventctl's directory"

# compact reports and says what it did (nothing, for lmdb).
ctl store compact
[ "$rc" -eq 0 ] || fail "compact: exit $rc: $(cat "$ERR")"
grep -q '^store file: [0-9]* bytes.*reclaimable: .*; not compacted$' "$OUT" ||
    fail "compact output: $(cat "$OUT")"
ctl --json store check
[ "$rc" -eq 0 ] || fail "check after the backup: exit $rc: $(cat "$OUT")"
grep -q '"ok":true' "$OUT" || fail "check --json: $(cat "$OUT")"
er_stop_daemon
[ "$ER_STATUS" -eq 0 ] || fail "daemon exit $ER_STATUS"

# Restore (eventrouterd(8)): point store.path at the backup and start.
mv "$ER_TMP/daemon.log" "$ER_TMP/daemon1.log"
er_write_config "store:
  plugin: lmdb
  path: $ER_TMP/backup
  map_size: 4GiB"
er_start_daemon
ctl store check
[ "$rc" -eq 0 ] || fail "check of the restored store: exit $rc: $(cat "$OUT" "$ERR")"
grep -q ': consistent$' "$OUT" || fail "restored check: $(cat "$OUT")"
n=$(stored)
[ "$n" -ge "$last" ] || fail "the backup holds $n events, $last were acked before it began"
[ "$n" -le "$during" ] || fail "the backup holds $n events, more than the $during ever stored"
# The sequence goes on after what the backup holds.
ctl publish --type After
[ "$rc" -eq 0 ] || fail "publish into the restored store: $(cat "$ERR")"
[ "$(cat "$OUT")" -gt "$n" ] || fail "seq after restore $(cat "$OUT") <= $n"
er_stop_daemon
[ "$ER_STATUS" -eq 0 ] || fail "restored daemon exit $ER_STATUS"

# The memory store: check works, backup is unsupported.
mv "$ER_TMP/daemon.log" "$ER_TMP/daemon2.log"
er_write_config "store:
  plugin: memory"
er_start_daemon
ctl store check
[ "$rc" -eq 0 ] || fail "memory check: exit $rc: $(cat "$OUT" "$ERR")"
ctl store backup "$ER_TMP/mem-backup"
[ "$rc" -eq 1 ] || fail "memory backup: exit $rc"
grep -q "refused (unsupported): the memory store does not support backup" "$ERR" ||
    fail "memory backup refusal: $(cat "$ERR")"
er_stop_daemon
exit 0
