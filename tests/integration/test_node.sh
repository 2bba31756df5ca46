#!/bin/bash
# The Node.js client (clients/node) against the real daemon: the protocol
# vectors byte for byte, then its own tests, which start eventrouterd from
# this build tree themselves (test/harness.js: temporary directories, free
# socket paths, stopped by PID, under $ER_TEST_WRAPPER, counts scaled by
# $ER_TEST_SCALE).
#
# The package is copied into the build tree and compiled there by
# clients/node/stage.sh (the source tree may be read-only, as under
# distcheck): node_modules from the source tree when `make deps` installed
# them there, else `npm ci` into the copy. Skipped (77) only when node
# itself is missing; a failing `npm ci` or build is a failure.
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
[ -x "$EVENTROUTERD" ] || { echo "no $EVENTROUTERD"; exit 77; }
command -v node >/dev/null 2>&1 || { echo "node is not installed: skipped (make deps installs it)"; exit 77; }
command -v npm >/dev/null 2>&1 || fail "node is installed but npm is not (Debian: apt-get install npm)"

SRC=$ER_SRCDIR/clients/node
PKG=$ER_BUILDDIR/clients/node
[ -f "$SRC/package.json" ] || fail "no $SRC/package.json"
bash "$SRC/stage.sh" "$PKG" || fail "the package could not be built in $PKG (see above)"

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
