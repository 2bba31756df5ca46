#!/bin/bash
# `eventrouterd -c FILE --check-config` on the real binary (DESIGN §11): it
# prints "ok" and exits 0 for the shipped conf/eventrouter.yaml and for an
# empty file; for a bad file it prints every error as FILE:LINE:COL: message
# on stderr, nothing on stdout, and exits 1. Positions are asserted exactly.
# Handlers load real plugins: the shipped `log` and the test plugin
# tests/plugins/test_handler.so (an option of every type), so their options
# are checked against the plugin's own table; the same plugin serves as a
# drop-in of handlers_dir. Skipped (77) only when the daemon has not been
# built.
set -u

: "${ER_BUILDDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${ER_SRCDIR:=$ER_BUILDDIR}"
EVENTROUTERD=$ER_BUILDDIR/daemon/eventrouterd
TP=$ER_BUILDDIR/tests/plugins/.libs/test_handler.so
unset EVENTROUTER_PLUGIN_PATH

if [ ! -x "$EVENTROUTERD" ]; then
    echo "SKIP: $EVENTROUTERD is not built"
    exit 77
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/er-check-config.XXXXXX") || exit 99
trap 'rm -rf "$TMP"' EXIT
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# expect_ok NAME FILE: "ok" on stdout, nothing on stderr, exit 0.
expect_ok() {
    local name=$1 file=$2 out rc
    out=$("$EVENTROUTERD" -c "$file" --check-config 2>"$TMP/stderr")
    rc=$?
    [ "$rc" -eq 0 ] || fail "$name: exit $rc, stderr: $(cat "$TMP/stderr")"
    [ "$out" = ok ] || fail "$name: stdout \"$out\", expected \"ok\""
    [ -s "$TMP/stderr" ] && fail "$name: unexpected stderr: $(cat "$TMP/stderr")"
    echo "ok - $name"
}

# expect_errors NAME YAML EXPECTED: writes NAME.yaml into the temp dir and
# checks it from there (so messages name "NAME.yaml"): exit 1, nothing on
# stdout, stderr exactly EXPECTED (one line per error).
expect_errors() {
    local name=$1 yaml=$2 expected=$3 rc
    printf '%s' "$yaml" >"$TMP/$name.yaml"
    (cd "$TMP" && "$EVENTROUTERD" -c "$name.yaml" --check-config >"$TMP/stdout" 2>"$TMP/stderr")
    rc=$?
    [ "$rc" -eq 1 ] || fail "$name: exit $rc, expected 1"
    [ -s "$TMP/stdout" ] && fail "$name: unexpected stdout: $(cat "$TMP/stdout")"
    printf '%s\n' "$expected" >"$TMP/expected"
    if ! diff -u "$TMP/expected" "$TMP/stderr" >"$TMP/diff"; then
        fail "$name: stderr differs:"
        cat "$TMP/diff" >&2
    fi
    echo "ok - $name"
}

# ------------------------------------------------------------ valid files

EVENTROUTER_RUNDIR=$TMP/run expect_ok "shipped config with EVENTROUTER_RUNDIR" \
    "$ER_SRCDIR/conf/eventrouter.yaml"
(unset EVENTROUTER_RUNDIR; expect_ok "shipped config with the installed paths" \
    "$ER_SRCDIR/conf/eventrouter.yaml") || failures=$((failures + 1))
: >"$TMP/empty.yaml"
expect_ok "empty file" "$TMP/empty.yaml"
printf '# only comments\n---\n' >"$TMP/comments.yaml"
expect_ok "comments only" "$TMP/comments.yaml"
printf 'listen:\n  mode: 0600\n  socket: %s/e.sock\nlimits:\n  max_frame: 2MiB\n  max_event_size: 1MiB\n  idle_timeout: 5m\nlog: {level: debug, format: json}\n' \
    "$TMP" >"$TMP/custom.yaml"
expect_ok "custom values" "$TMP/custom.yaml"

# -------------------------------------------------------------- bad files

expect_errors bad-size 'limits:
  max_event_size: 64KiB
  max_frame: lots
' 'bad-size.yaml:3:14: limits.max_frame: expected a size such as 1MiB, got "lots"'

expect_errors unknown-key '# comment
listen:
  socket: /tmp/x.sock
  sokcet: /tmp/y.sock
' 'unknown-key.yaml:4:3: listen.sokcet: unknown key (did you mean "socket"?)'

expect_errors unknown-top 'bogus: 1
' 'unknown-top.yaml:1:1: bogus: unknown key'

expect_errors refused-section 'log:
  level: info
brokers:
  redis-main: {plugin: redis}
' 'refused-section.yaml:3:1: brokers: not supported in this version'

expect_errors store-options 'store:
  plugin: lmdb
  map_size: 1KiB
  sync: always
  retention: {max_age: 30d, max_bytes: 1KiB}
' 'store-options.yaml:3:13: store.map_size: must be between 1MiB and 16TiB, got 1KiB
store-options.yaml:4:9: store.sync: expected one of batch, none, got "always"
store-options.yaml:5:40: store.retention.max_bytes: must be between 64KiB and 16TiB, got 1KiB'

# max_bytes needs a store that reports its used bytes (ABI 1.3): lmdb and
# memory do; a store built against 1.2 is refused, by name.
printf 'store:\n  plugin: memory\n  retention: {max_bytes: 64MiB}\n' >"$TMP/max-bytes.yaml"
expect_ok "max_bytes with the memory store" "$TMP/max-bytes.yaml"
V12=$ER_BUILDDIR/tests/plugins/.libs/store_v12.so
if [ -f "$V12" ]; then
    expect_errors max-bytes-v12 "store:
  plugin: $V12
  retention: {max_bytes: 1GiB}
" "max-bytes-v12.yaml:3:15: store.retention.max_bytes: the store plugin \"store_v12\" cannot report the bytes it uses (it has no used_bytes, store ABI 1.3): bound it with max_events or max_age instead"
fi

expect_errors duplicate-key 'limits:
  max_batch: 10
  max_hops: 3
  max_batch: 20
' 'duplicate-key.yaml:4:3: duplicate key "max_batch" (first at line 2)'

expect_errors bad-mode 'listen:
  mode: rw-rw----
  admin_mode: 01777
' 'bad-mode.yaml:2:9: listen.mode: expected an octal file mode such as "0660", got "rw-rw----"
bad-mode.yaml:3:15: listen.admin_mode: must be at most 0777, got 01777'

expect_errors cross-check 'limits:
  max_frame: 64KiB
' 'cross-check.yaml:2:14: limits.max_frame: must be at least max_event_size (512KiB) + 32 bytes of framing, got 64KiB'

unset ER_CHECK_CONFIG_UNSET
expect_errors unset-variable 'listen:
  socket: ${ER_CHECK_CONFIG_UNSET}/events.sock
' 'unset-variable.yaml:2:11: environment variable ER_CHECK_CONFIG_UNSET is not set (${ER_CHECK_CONFIG_UNSET:-default} gives a default)'

expect_errors alias 'a: &x 1
' 'alias.yaml:1:4: YAML aliases/anchors are not supported'

expect_errors several 'listen:
  mode: 999
limits:
  frame_timeout: 10
  max_batch: 0
metrics: {}
extra: 1
' 'several.yaml:2:9: listen.mode: expected an octal file mode such as "0660", got "999"
several.yaml:4:18: limits.frame_timeout: expected a duration such as 30s (units d, h, m, s, ms), got "10"
several.yaml:5:14: limits.max_batch: must be between 1 and 65536, got 0
several.yaml:6:1: metrics: not supported in this version
several.yaml:7:1: extra: unknown key'

expect_errors syntax 'limits:
  max_frame: [1
' 'syntax.yaml:3:1: YAML syntax error: did not find expected '"','"' or '"']'"' (while parsing a flow sequence at line 2, column 14)'

# ------------------------------------------------------ handlers and routes

printf 'handlers:\n  audit-log: {plugin: log, path: %s/audit.jsonl}\n  t:\n    plugin: %s\n    endpoint: "0660"\n    mode: fast\n    types: [A]\n    properties: {acks: all}\n    retry: {max_attempts: 3, multiplier: 1.5, jitter: 0}\nroutes:\n  - match: {type: [CriticalEvent, RealTimeEvent]}\n    to: [audit-log]\n  - match: {topic: "analytics.**", priority: [high, critical], meta.tenant: acme}\n    to: t\n    retry: {max_attempts: 5, initial: 100ms, max: 30s}\n  - match: "*"\n    to: [audit-log, t]\n' \
    "$TMP" "$TP" >"$TMP/routing.yaml"
expect_ok "handlers and routes" "$TMP/routing.yaml"
printf 'plugin_path: [%s]\nhandlers:\n  t: {plugin: test_handler, endpoint: e}\n' \
    "$(dirname "$TP")" >"$TMP/plugin-path.yaml"
expect_ok "plugin found on plugin_path" "$TMP/plugin-path.yaml"

expect_errors unknown-destination 'handlers:
  events: {plugin: log}
routes:
  - match: "*"
    to: [events, evnets]
' 'unknown-destination.yaml:5:18: routes[0].to[1]: "evnets" is not a declared handler'

# dead_letter.forward_to names a declared handler.
printf 'handlers:\n  events: {plugin: log}\n  parked: {plugin: log, path: %s/parked.jsonl}\nroutes:\n  - match: "*"\n    to: [events]\ndead_letter:\n  forward_to: parked\n' \
    "$TMP" >"$TMP/dead-letter.yaml"
expect_ok "dead_letter.forward_to" "$TMP/dead-letter.yaml"

expect_errors dead-letter 'handlers:
  events: {plugin: log}
dead_letter:
  forward_to: evnets
  also: 1
' 'dead-letter.yaml:4:15: dead_letter.forward_to: no handler named "evnets"
dead-letter.yaml:5:3: dead_letter.also: unknown key'

expect_errors dead-letter-shape 'handlers:
  events: {plugin: log}
dead_letter: events
' 'dead-letter-shape.yaml:3:14: dead_letter: expected a map with forward_to, got "events"'

expect_errors bad-match 'handlers:
  events: {plugin: log}
routes:
  - match:
      topic: "analytics.**.view"
      priority: [high, urgent]
      type: "Order Created"
      tpye: A
    to: events
' 'bad-match.yaml:5:14: routes[0].match.topic: invalid topic glob "analytics.**.view": ** must be the last segment
bad-match.yaml:6:24: routes[0].match.priority[1]: invalid priority "urgent": expected one of low, normal, high, critical
bad-match.yaml:7:13: routes[0].match.type: invalid event type "Order Created": an event type is 1 to 128 of A-Z a-z 0-9 _ . -
bad-match.yaml:8:7: routes[0].match.tpye: unknown key (did you mean "type"?)'

expect_errors route-shape 'handlers:
  events: {plugin: log}
routes:
  - match: all
    to: []
    continue: maybe
  - to: events
' 'route-shape.yaml:4:12: routes[0].match: expected "*" or a map of match keys, got "all"
route-shape.yaml:5:9: routes[0].to: expected a handler'"'"'s name or a non-empty list of them, got an empty list
route-shape.yaml:6:15: routes[0].continue: expected true or false (or yes/no, on/off), got "maybe"
route-shape.yaml:7:5: routes[1].match: required key is missing'

expect_errors missing-plugin 'handlers:
  events:
    path: /tmp/x
' 'missing-plugin.yaml:3:5: handlers.events.plugin: required key is missing'

expect_errors handler-name 'handlers:
  bad name: {plugin: log}
  ok: {plugin: log}
' 'handler-name.yaml:2:3: handlers: invalid handler name "bad name": a name is 1 to 64 of A-Z a-z 0-9 _ . -'

# A handler named twice is a duplicate YAML key: the file is not read further.
expect_errors duplicate-handler 'handlers:
  events: {plugin: log}
  audit: {plugin: log}
  events: {plugin: log, path: /tmp/x}
' 'duplicate-handler.yaml:4:3: duplicate key "events" (first at line 2)'

expect_errors host-keys 'handlers:
  events:
    plugin: log
    window: 0
    timeout: 30
    retry: {jitter: 2, initial: 1m}
    start: tail
    windw: 3
' 'host-keys.yaml:4:13: handlers.events.window: must be between 1 and 65536, got 0
host-keys.yaml:5:14: handlers.events.timeout: expected a duration such as 30s (units d, h, m, s, ms) or off, got "30"
host-keys.yaml:6:21: handlers.events.retry.jitter: must be between 0 and 1, got 2
host-keys.yaml:6:33: handlers.events.retry.initial: must be at most retry.max (30s), got 1m
host-keys.yaml:7:12: handlers.events.start: expected one of head, earliest, got "tail"
host-keys.yaml:8:5: handlers.events.windw: unknown key (did you mean "window"?)'

expect_errors plugin-options "handlers:
  t:
    plugin: $TP
    count: 0
    level: high
    delay: 100
    mode: reckless
    types: A
    properties: {a: [b]}
    lable: x
" 'plugin-options.yaml:3:5: handlers.t.endpoint: required key is missing
plugin-options.yaml:4:12: handlers.t.count: must be between 1 and 1000, got 0
plugin-options.yaml:5:12: handlers.t.level: expected an integer, got "high"
plugin-options.yaml:6:12: handlers.t.delay: expected a duration such as 30s (units d, h, m, s, ms), got "100"
plugin-options.yaml:7:11: handlers.t.mode: expected one of fast, safe, paranoid, got "reckless"
plugin-options.yaml:8:12: handlers.t.types: expected a list of strings, got "A"
plugin-options.yaml:9:21: handlers.t.properties.a: expected a string, got a list
plugin-options.yaml:10:5: handlers.t.lable: unknown key (did you mean "label"?)'

expect_errors log-option 'handlers:
  events: {plugin: log, path: [a], bogus: 1}
' 'log-option.yaml:2:31: handlers.events.path: expected a path, got a list
log-option.yaml:2:36: handlers.events.bogus: unknown key'

expect_errors relative-plugin 'handlers:
  events: {plugin: ./log.so}
' 'relative-plugin.yaml:2:20: handlers.events.plugin: expected a plugin'"'"'s name or an absolute path to a .so, got "./log.so"'

expect_errors wrong-shapes 'plugin_path: relative/dir
handlers: [events]
routes: {a: b}
' 'wrong-shapes.yaml:1:14: plugin_path: expected an absolute directory, got "relative/dir"
wrong-shapes.yaml:2:11: handlers: expected a map of handler names to blocks, got a list
wrong-shapes.yaml:3:9: routes: expected a list of routes, got a map'

# Plugin not found: the message names every directory searched, at the
# position of the `plugin:` value.
printf 'plugin_path: /nonexistent/plugins
handlers:
  h:
    plugin: nope
' >"$TMP/not-found.yaml"
(cd "$TMP" && "$EVENTROUTERD" -c not-found.yaml --check-config >"$TMP/stdout" 2>"$TMP/stderr")
rc=$?
[ "$rc" -eq 1 ] || fail "plugin not found: exit $rc, expected 1"
case $(cat "$TMP/stderr") in
"not-found.yaml:4:13: handlers.h.plugin: nope.so: handler plugin not found (searched: /nonexistent/plugins, "*"/plugins/handlers/nope/.libs, "*"/eventrouter/handlers)") ;;
*) fail "plugin not found: stderr: $(cat "$TMP/stderr")" ;;
esac
[ "$(wc -l <"$TMP/stderr")" -eq 1 ] || fail "plugin not found: more than one line"
echo "ok - plugin not found"

# ------------------------------------------------------------- drop-ins

# handlers.d/t.so is the test plugin as drop-in "t", its options in
# handlers.conf.d/t.yaml; errors there are reported at that file's
# positions, refusals at the handlers_dir value.
mkdir -m 0755 "$TMP/handlers.d" "$TMP/handlers.conf.d"
install -m 0755 "$TP" "$TMP/handlers.d/t.so"
printf 'endpoint: e\nwindow: 8\n' >"$TMP/handlers.conf.d/t.yaml"
DROPIN_DIRS="handlers_dir: $TMP/handlers.d
handlers_conf_dir: $TMP/handlers.conf.d
"
printf '%sroutes:\n  - match: "*"\n    to: t\n' "$DROPIN_DIRS" >"$TMP/dropin.yaml"
expect_ok "a drop-in handler" "$TMP/dropin.yaml"

printf 'endpoint: e\nwindow: lots\nplugin: log\n' >"$TMP/handlers.conf.d/t.yaml"
expect_errors dropin-options "$DROPIN_DIRS" \
    "$TMP/handlers.conf.d/t.yaml:2:9: window: expected a non-negative integer, got \"lots\"
$TMP/handlers.conf.d/t.yaml:3:1: plugin: not allowed in a drop-in's option file (the plugin is $TMP/handlers.d/t.so)"
printf 'endpoint: e\n' >"$TMP/handlers.conf.d/t.yaml"

expect_errors dropin-clash "${DROPIN_DIRS}handlers:
  t: {plugin: log}
" "dropin-clash.yaml:1:15: handlers_dir: $TMP/handlers.d/t.so: drop-in handler \"t\" has the name of handlers.t (line 4): rename one of them"

chmod 0775 "$TMP/handlers.d/t.so"
expect_errors dropin-group-writable "$DROPIN_DIRS" \
    "dropin-group-writable.yaml:1:15: handlers_dir: $TMP/handlers.d/t.so is group-writable (mode 0775): refusing to load it"
chmod 0755 "$TMP/handlers.d/t.so"

expect_errors dropin-missing-dir "handlers_dir: $TMP/nope
" "dropin-missing-dir.yaml:1:15: handlers_dir: $TMP/nope: No such file or directory"

# A file that cannot be read: one line naming it, exit 1.
(cd "$TMP" && "$EVENTROUTERD" -c missing.yaml --check-config >"$TMP/stdout" 2>"$TMP/stderr")
rc=$?
[ "$rc" -eq 1 ] || fail "missing file: exit $rc, expected 1"
[ "$(cat "$TMP/stderr")" = "missing.yaml: cannot open: No such file or directory" ] ||
    fail "missing file: stderr: $(cat "$TMP/stderr")"
echo "ok - missing file"

# Without -c the file comes from $EVENTROUTER_CONFIG.
(cd "$TMP" && EVENTROUTER_CONFIG=bad-size.yaml "$EVENTROUTERD" --check-config \
    >"$TMP/stdout" 2>"$TMP/stderr")
rc=$?
[ "$rc" -eq 1 ] || fail "EVENTROUTER_CONFIG: exit $rc, expected 1"
grep -qx 'bad-size.yaml:3:14: limits.max_frame: expected a size such as 1MiB, got "lots"' \
    "$TMP/stderr" || fail "EVENTROUTER_CONFIG: stderr: $(cat "$TMP/stderr")"
echo "ok - EVENTROUTER_CONFIG"

# Every shipped example configuration is valid.
for ex in "$ER_SRCDIR"/conf/examples/*.yaml; do
    expect_ok "example $(basename "$ex")" "$ex"
done

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
exit 0
