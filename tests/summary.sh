#!/bin/sh
# Print the plain closing line of `make check` runs from automake's
# test-suite.log in each build directory given (default build/):
# "check: N passed, N failed, N skipped", totalled. Exits 1 on any failure
# or a missing log.
[ $# -gt 0 ] || set -- build
pass=0 failed=0 skip=0
count() { sed -n "s/^# $1: *\([0-9][0-9]*\).*/\1/p" "$2" | head -1; }
for dir in "$@"; do
    log=$dir/test-suite.log
    if [ ! -f "$log" ]; then
        echo "summary: no $log" >&2
        failed=$((failed + 1))
        continue
    fi
    pass=$((pass + $(count PASS "$log")))
    failed=$((failed + $(count FAIL "$log") + $(count ERROR "$log") + $(count XPASS "$log")))
    skip=$((skip + $(count SKIP "$log")))
done
echo "check: $pass passed, $failed failed, $skip skipped"
[ "$failed" -eq 0 ]
