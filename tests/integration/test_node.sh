#!/bin/bash
# The Node.js client (clients/node) against the real daemon: the protocol
# vectors byte for byte, then its own tests, which start eventrouterd from
# this build tree themselves (test/harness.js: temporary directories, free
# socket paths, stopped by PID, under $ER_TEST_WRAPPER, counts scaled by
# $ER_TEST_SCALE).
#
# The package is copied into the build tree and compiled there (the source
# tree may be read-only, as under distcheck). Its node_modules: the source
# tree's when `make deps` installed them there, else `npm ci` into the build
# tree's copy (from npm's cache when it can). Skipped (77) only when node
# itself is missing; a failing `npm ci` or build is a failure.
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
[ -x "$EVENTROUTERD" ] || { echo "no $EVENTROUTERD"; exit 77; }
command -v node >/dev/null 2>&1 || { echo "node is not installed: skipped (make deps installs it)"; exit 77; }
command -v npm >/dev/null 2>&1 || fail "node is installed but npm is not (Debian: apt-get install npm)"

SRC=$ER_SRCDIR/clients/node
PKG=$ER_BUILDDIR/clients/node
[ -f "$SRC/package.json" ] || fail "no $SRC/package.json"
mkdir -p "$PKG" || fail "cannot create $PKG"

# A fresh copy of the sources each run (dist/ and node_modules/ stay).
rm -rf "$PKG/src" "$PKG/test" "$PKG/dist"
cp -R "$SRC/src" "$SRC/test" "$PKG/" || fail "copy of $SRC"
cp "$SRC/package.json" "$SRC/package-lock.json" "$SRC/tsconfig.json" "$PKG/" || fail "copy of $SRC"

have_modules() { [ -f "$1/node_modules/typescript/package.json" ] && [ -f "$1/node_modules/@msgpack/msgpack/package.json" ]; }
if [ "$SRC" != "$PKG" ] && have_modules "$SRC" &&
    { [ -L "$PKG/node_modules" ] || [ ! -e "$PKG/node_modules" ]; }; then
    ln -sfn "$SRC/node_modules" "$PKG/node_modules"
elif ! have_modules "$PKG" || ! cmp -s "$PKG/package-lock.json" "$PKG/node_modules/.package-lock.stamp"; then
    [ -L "$PKG/node_modules" ] && rm -f "$PKG/node_modules"
    echo "npm ci in $PKG"
    (cd "$PKG" && npm ci --no-audit --no-fund --prefer-offline) || fail "npm ci in $PKG"
    cp "$PKG/package-lock.json" "$PKG/node_modules/.package-lock.stamp"
fi

(cd "$PKG" && npm run --silent build) || fail "npm run build (tsc) in $PKG"

echo "node $(node --version); ER_TEST_SCALE=${ER_TEST_SCALE:-1}; ER_TEST_WRAPPER=${ER_TEST_WRAPPER:-}"
cd "$PKG" || exit 99
# ER_BUILDDIR/ER_SRCDIR (exported by the test environment) tell the tests
# where the daemon and the vectors are.
export ER_BUILDDIR ER_SRCDIR
# --test-force-exit (node >= 20.14): a test that failed with a handle still
# open must not keep the run waiting.
force=
node --help 2>/dev/null | grep -q -- --test-force-exit && force=--test-force-exit
node --test $force --test-reporter=spec test/*.test.js || fail "node --test: see above"
