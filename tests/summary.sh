#!/bin/sh
# Print the plain closing line of a `make check` run from automake's
# test-suite.log: "check: N passed, N failed, N skipped". Exit status is
# the number of failures capped at 1.
log=${1:-build}/test-suite.log
[ -f "$log" ] || { echo "check: 0 passed, 1 failed (no $log)"; exit 1; }
count() { sed -n "s/^# $1: *\([0-9][0-9]*\).*/\1/p" "$log" | head -1; }
pass=$(count PASS); fail=$(count FAIL); err=$(count ERROR); xpass=$(count XPASS); skip=$(count SKIP)
failed=$(( ${fail:-0} + ${err:-0} + ${xpass:-0} ))
echo "check: ${pass:-0} passed, $failed failed, ${skip:-0} skipped"
[ "$failed" -eq 0 ]
