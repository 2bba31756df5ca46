#!/bin/bash
# Reload of a changed handler block whose plugin implements reload()
# (tests/plugins/test_crash applies a new `record` in place): the instance
# is kept — not stopped and started again — and takes the new options and
# host keys; events go on exactly once across the change.
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
[ -x "$EVENTROUTERD" ] || { echo "no $EVENTROUTERD"; exit 77; }
so=$ER_BUILDDIR/tests/plugins/.libs/test_crash.so
[ -f "$so" ] || { echo "no $so"; exit 77; }

er_tmpdir
conf() { # record file, window
    er_write_config "handlers:
  h:
    plugin: $so
    record: $ER_TMP/$1
    window: $2
routes:
  - match: \"*\"
    to: [h]"
}
lines() { if [ -f "$1" ]; then grep -c . "$1"; else echo 0; fi; }

conf one.txt 8
er_start_daemon
ctl publish --type A --count 100 --batch 10 2>/dev/null || fail "publish A"
for _ in $(seq 1 500); do [ "$(lines "$ER_TMP/one.txt")" -ge 100 ] && break; sleep 0.01; done
conf two.txt 32
out=$(ctl reload) || fail "reload: $out"
[ "$out" = "reloaded: 0 destinations kept, 1 changed, 0 added, 0 removed; 1 routes" ] ||
    fail "reload said: $out"
grep -q '\[handler:h\] changed by the reload: options applied in place' "$ER_TMP/daemon.log" ||
    fail "not applied in place"
grep -q "\[handler:h\] reloaded in place: record $ER_TMP/two.txt" "$ER_TMP/daemon.log" ||
    fail "the plugin's reload() was not called with the new options"
[ "$(grep -c '\[handler:h\] started' "$ER_TMP/daemon.log")" = 1 ] ||
    fail "the instance was re-created"
ctl handlers | grep -q 'in flight 0/32' || fail "the new window is not in force: $(ctl handlers)"
ctl publish --type B --count 100 --batch 10 2>/dev/null || fail "publish B"
for _ in $(seq 1 500); do [ "$(lines "$ER_TMP/two.txt")" -ge 100 ] && break; sleep 0.01; done
[ "$(lines "$ER_TMP/one.txt")" = 100 ] || fail "one.txt has $(lines "$ER_TMP/one.txt")"
[ "$(lines "$ER_TMP/two.txt")" = 100 ] || fail "two.txt has $(lines "$ER_TMP/two.txt")"
[ "$(grep -c ' B$' "$ER_TMP/two.txt")" = 100 ] || fail "two.txt holds other events"
er_stop_ok
echo "test_reload_inplace: all checks passed"
