#!/bin/bash
# The sample handler (examples/handler) builds OUT OF TREE against an
# installed eventrouter only: `make install DESTDIR=$stage` from the build
# tree, then the example's own Makefile with pkg-config pointed into the
# staged install (no -I or -L to the source or build tree). Its unit test
# runs against the installed testing kit, and the installed daemon
# describes it with --help-plugin.
set -u
. "${ER_SRCDIR:-.}/tests/integration/lib.sh"
command -v pkg-config >/dev/null || { echo "pkg-config not installed"; exit 77; }
er_tmpdir
stage=$ER_TMP/stage
# Not part of the parent make's job server (make check runs this).
unset MAKEFLAGS MFLAGS MAKELEVEL

make -s -C "$ER_BUILDDIR" install DESTDIR="$stage" >"$ER_TMP/install.log" 2>&1 ||
    { cat "$ER_TMP/install.log"; fail "make install DESTDIR=$stage failed"; }
prefix=$(sed -n 's/^prefix=//p' "$ER_BUILDDIR/lib/libeventrouter.pc")
libdir=$(sed -n 's/^libdir=//p' "$ER_BUILDDIR/lib/libeventrouter.pc")
libdir=${libdir//\$\{exec_prefix\}/$prefix}
[ -f "$stage$libdir/pkgconfig/libeventrouter.pc" ] || fail "no libeventrouter.pc installed"
[ -f "$stage$libdir/pkgconfig/libeventrouter-testing.pc" ] || fail "no libeventrouter-testing.pc"
[ -f "$stage$libdir/libeventrouter-testing.a" ] || fail "no libeventrouter-testing.a installed"
[ -f "$stage$prefix/include/eventrouter/plugin.h" ] || fail "no eventrouter/plugin.h installed"
[ -f "$stage$libdir/eventrouter/handlers/log.so" ] || fail "the log handler is not installed"

# The example, copied away from the source tree and built there.
cp -R "$ER_SRCDIR/examples/handler" "$ER_TMP/example"
chmod -R u+w "$ER_TMP/example" # a distcheck source tree is read-only
export PKG_CONFIG_PATH=$stage$libdir/pkgconfig
export PKG_CONFIG_SYSROOT_DIR=$stage
cflags=$(pkg-config --cflags libeventrouter) || fail "pkg-config libeventrouter failed"
case "$cflags" in
    *"$ER_SRCDIR"* | *"$ER_BUILDDIR"*) fail "cflags point into the tree: $cflags" ;;
    *"$stage"*) ;;
    *) fail "cflags do not point into the staged install: $cflags" ;;
esac
# A sanitized build installs a sanitized testing kit: link the same way.
san=
[ "${ER_TEST_SANITIZED:-}" = 1 ] && san="-fsanitize=address,undefined"
make -C "$ER_TMP/example" check CFLAGS="-O2 -g -Werror $san" LDFLAGS="$san" \
    >"$ER_TMP/example.log" 2>&1 ||
    { cat "$ER_TMP/example.log"; fail "building or testing the example failed"; }
grep -q "counter: all checks passed" "$ER_TMP/example.log" ||
    { cat "$ER_TMP/example.log"; fail "the example's test did not pass"; }
so=$ER_TMP/example/counter.so

# Exactly one exported symbol.
syms=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^$')
[ "$syms" = "er_plugin_entry" ] || fail "counter.so exports more than er_plugin_entry: $syms"

# The installed daemon loads and describes it.
out=$(LD_LIBRARY_PATH=$stage$libdir "$stage$prefix/sbin/eventrouterd" \
    --help-plugin "handler/$so" 2>&1) || fail "--help-plugin failed: $out"
for want in "counter 1.0: count events per type and log a summary every N events" \
    "kind:    handler" "file:    $so" "every"; do
    case "$out" in
        *"$want"*) ;;
        *) fail "--help-plugin output lacks \"$want\": $out" ;;
    esac
done

# A copy the daemon must refuse: group-writable.
cp "$so" "$ER_TMP/unsafe.so" && chmod 0664 "$ER_TMP/unsafe.so"
out=$("$stage$prefix/sbin/eventrouterd" --help-plugin "handler/$ER_TMP/unsafe.so" 2>&1) &&
    fail "an unsafe plugin file was loaded"
case "$out" in
    *"$ER_TMP/unsafe.so: refusing to load: file is group-writable (mode 0664)"*) ;;
    *) fail "unexpected refusal: $out" ;;
esac
# The publisher app (examples/publisher), built the same way, publishes the
# login flow to the build tree's daemon; the log handler's lines show it.
cp -R "$ER_SRCDIR/examples/publisher" "$ER_TMP/publisher"
chmod -R u+w "$ER_TMP/publisher"
make -C "$ER_TMP/publisher" CFLAGS="-O2 -g -Werror $san" LDFLAGS="$san" \
    >"$ER_TMP/publisher.log" 2>&1 ||
    { cat "$ER_TMP/publisher.log"; fail "building the publisher example failed"; }
er_write_config "handlers:
  events: { plugin: log, path: $ER_TMP/events.jsonl }
routes:
  - { match: \"*\", to: [events] }"
er_start_daemon
out=$(LD_LIBRARY_PATH=$stage$libdir "$ER_TMP/publisher/login" "$ER_SOCK" alice '!mallory' bob) ||
    fail "login exited $?: $out"
[ "$out" = "alice ok seq 1..3
mallory failed seq 4..5
bob ok seq 6..8" ] || fail "login printed: $out"
for _ in $(seq 1 500); do
    [ "$(grep -c . "$ER_TMP/events.jsonl" 2>/dev/null)" = 8 ] && break
    sleep 0.01
done
ev=$ER_TMP/events.jsonl
[ "$(grep -c . "$ev")" = 8 ] || fail "events.jsonl has $(grep -c . "$ev") lines, expected 8"
grep '"seq":5,' "$ev" | grep '"type":"AuthFailed"' | grep '"topic":"auth.failed"' |
    grep -q '"priority":"high"' || fail "AuthFailed line: $(grep '"seq":5,' "$ev")"
# One correlation id per login, shared by its events; causation chains them.
corr=$(grep '"stream":"user:alice"' "$ev" | sed -n 's/.*"correlation_id":"\([^"]*\)".*/\1/p' | sort -u)
[ "$(echo "$corr" | wc -l)" = 1 ] || fail "alice's events have several correlation ids: $corr"
attempt_id=$(grep '"seq":1,' "$ev" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
grep '"seq":2,' "$ev" | grep -q "\"causation_id\":\"$attempt_id\"" ||
    fail "AuthSucceeded is not caused by the attempt"
er_stop_daemon TERM
[ "$ER_STATUS" -eq 0 ] || fail "daemon exit status $ER_STATUS"

echo "ok: example built out of tree, tested with the kit, described by the daemon"
echo "ok: the publisher example published the login flow"
