#!/bin/bash
# stage.sh DEST: a built copy of this package in DEST (dist/ compiled from
# src/), for the C suite's test_node.sh and bench/run.sh, which must not
# write into the source tree (distcheck makes it read-only). node_modules:
# this directory's when `make deps` (npm ci) put them here, else `npm ci`
# in DEST (kept there for the next run while the lockfile is unchanged).
# Exit 0 when DEST/dist is built; on failure, a message on stderr.
set -u
SRC=$(cd "$(dirname "$0")" && pwd)
DEST=${1:?usage: stage.sh DEST}
mkdir -p "$DEST" || exit 1
DEST=$(cd "$DEST" && pwd)

if [ "$SRC" != "$DEST" ]; then
    rm -rf "$DEST/src" "$DEST/test" "$DEST/dist"
    cp -R "$SRC/src" "$SRC/test" "$DEST/" &&
        cp "$SRC/package.json" "$SRC/package-lock.json" "$SRC/tsconfig.json" "$DEST/" || {
        echo "stage.sh: cannot copy $SRC to $DEST" >&2
        exit 1
    }
fi

have_modules() { [ -f "$1/node_modules/typescript/package.json" ] && [ -f "$1/node_modules/@msgpack/msgpack/package.json" ]; }
if [ "$SRC" != "$DEST" ] && have_modules "$SRC" &&
    { [ -L "$DEST/node_modules" ] || [ ! -e "$DEST/node_modules" ]; }; then
    ln -sfn "$SRC/node_modules" "$DEST/node_modules"
elif ! have_modules "$DEST" || ! cmp -s "$DEST/package-lock.json" "$DEST/node_modules/.package-lock.stamp"; then
    [ -L "$DEST/node_modules" ] && rm -f "$DEST/node_modules"
    echo "stage.sh: npm ci in $DEST" >&2
    (cd "$DEST" && npm ci --no-audit --no-fund --prefer-offline) >&2 || {
        echo "stage.sh: npm ci failed in $DEST" >&2
        exit 1
    }
    cp "$DEST/package-lock.json" "$DEST/node_modules/.package-lock.stamp"
fi

(cd "$DEST" && npm run --silent build) >&2 || {
    echo "stage.sh: npm run build (tsc) failed in $DEST" >&2
    exit 1
}
