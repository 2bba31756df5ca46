#!/bin/bash
# Every man page is clean under mandoc -Tlint (warnings are failures).
set -u
src=${ER_SRCDIR:-.}
command -v mandoc >/dev/null || { echo "mandoc not installed"; exit 77; }
rc=0
for page in "$src"/man/*.[1-8]; do
    out=$(mandoc -Tlint -W warning "$page" 2>&1)
    if [ -n "$out" ]; then
        echo "$out"
        rc=1
    fi
done
exit $rc
