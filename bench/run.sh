#!/bin/bash
# The benchmark runner: every scenario is measured beside its raw baseline
# in the same run and reported as figure, baseline and ratio — as a table on
# stdout and as JSON lines in $BENCH_JSON (default build/bench.json).
#
# Scenarios (store: none — this release has no store):
#   ingest-batched     eventctl publish --count N --batch 64   (events/s)
#   ingest-unbatched   eventctl publish --count N --batch 1    (events/s)
#   latency-p50/p99/p99.9  one publisher, publish→ack          (µs)
#     baseline: bench/raw_server — a libuv reader that decodes the same
#     frames with the same decoder and acks them, nothing else.
#   dispatch-batched   ingest-batched with every event routed to a no-op
#                      handler (events/s)
#   handler-latency-p50/p99  publish → the `log` handler's line read back
#                      from a FIFO (µs)
#     baseline: eventrouterd with no destination, same run.
#
# Environment: BENCH_N (events per ingest run, default 1000000),
# BENCH_LAT_N (round trips, default 100000), BENCH_REPEAT (runs per figure,
# the median is kept; default 3), BENCH_SPIN=1 (keep one spare core busy
# with a spin loop during the latency scenarios: on a VM whose idle vCPUs
# sleep deeply, a wake-up costs ~80 us and hides what the daemon costs;
# the JSON's machine field says "spin" when it was on).
set -u
B=${ER_BUILDDIR:?}
N=${BENCH_N:-1000000}
LAT_N=${BENCH_LAT_N:-100000}
REPEAT=${BENCH_REPEAT:-3}
JSON=${BENCH_JSON:-$B/bench.json}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/er-bench.XXXXXX")
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT

machine="$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
[ "${BENCH_SPIN:-0}" = 1 ] && machine="$machine, spin"

# With BENCH_SPIN=1, run "$@" beside a spin loop on a spare core.
spin() {
    local sp rc
    if [ "${BENCH_SPIN:-0}" != 1 ]; then
        "$@"
        return
    fi
    sh -c 'while :; do :; done' & sp=$!
    "$@"; rc=$?
    kill "$sp"; wait "$sp" 2>/dev/null
    return $rc
}

wait_socket() {
    for _ in $(seq 1 500); do
        "$B/tools/eventctl" --socket "$1" ping >/dev/null 2>&1 && return 0
        sleep 0.01
    done
    echo "bench: nothing answers on $1" >&2
    exit 1
}

start_raw() {
    "$B/bench/raw_server" "$TMP/raw.sock" & PIDS+=($!)
    wait_socket "$TMP/raw.sock"
}

# start_daemon NAME [EXTRA_YAML]: a daemon on $TMP/NAME.sock
start_daemon() {
    printf 'listen:\n  socket: %s\n  admin_socket: %s\nlog:\n  level: warn\n%s\n' \
        "$TMP/$1.sock" "$TMP/$1-admin.sock" "${2:-}" > "$TMP/$1.yaml"
    "$B/daemon/eventrouterd" -c "$TMP/$1.yaml" 2>>"$TMP/daemon.log" & PIDS+=($!)
    [ -n "${3:-}" ] || wait_socket "$TMP/$1.sock"
}

median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# events/s of `eventctl publish --count N --batch B` against socket $1
ingest() {
    local sock=$1 batch=$2 i
    for i in $(seq 1 "$REPEAT"); do
        "$B/tools/eventctl" --socket "$sock" publish --type BenchIngest --stream bench:ingest \
            --data '{"user":"123","ok":true}' --count "$N" --batch "$batch" 2>&1 >/dev/null |
            sed -n 's/.*: \([0-9.]*\) events\/s.*/\1/p'
    done | median
}

# "p50 p99 p999" of the latency client against socket $1 (median per column)
latency() {
    local sock=$1 i
    for i in $(seq 1 "$REPEAT"); do
        spin "$B/bench/latency" "$sock" "$LAT_N"
    done > "$TMP/lat"
    for col in 2 4 6; do awk -v c=$col '{print $c}' "$TMP/lat" | median; done | paste -sd' '
}

echo "measuring the raw baseline (bench/raw_server)..." >&2
start_raw
raw_b=$(ingest "$TMP/raw.sock" 64)
raw_u=$(ingest "$TMP/raw.sock" 1)
read -r raw_p50 raw_p99 raw_p999 <<< "$(latency "$TMP/raw.sock")"
echo "measuring eventrouterd..." >&2
start_daemon er
er_b=$(ingest "$TMP/er.sock" 64)
er_u=$(ingest "$TMP/er.sock" 1)
read -r er_p50 er_p99 er_p999 <<< "$(latency "$TMP/er.sock")"

echo "measuring eventrouterd with a no-op handler..." >&2
start_daemon noop "handlers:
  sink: { plugin: $B/bench/.libs/noop.so }
routes:
  - { match: \"*\", to: [sink] }"
noop_b=$(ingest "$TMP/noop.sock" 64)

echo "measuring publish -> log handler latency..." >&2
mkfifo "$TMP/log.fifo"
for i in $(seq 1 "$REPEAT"); do
    spin "$B/bench/latency" "$TMP/log$i.sock" "$LAT_N" "$TMP/log.fifo" > "$TMP/hlat$i" &
    lat_pid=$!
    start_daemon "log$i" "handlers:
  sink: { plugin: log, path: $TMP/log.fifo }
routes:
  - { match: \"*\", to: [sink] }" nowait
    wait "$lat_pid" || { echo "bench: handler latency run failed" >&2; exit 1; }
    kill "${PIDS[-1]}"
done
cat "$TMP"/hlat* > "$TMP/hlat"
h_p50=$(awk '{print $2}' "$TMP/hlat" | median)
h_p99=$(awk '{print $4}' "$TMP/hlat" | median)

: > "$JSON"
printf '%-18s %14s %14s %8s  %s\n' scenario figure baseline ratio unit
row() { # name figure baseline unit
    local ratio
    ratio=$(awk -v f="$2" -v b="$3" 'BEGIN { if (b > 0) printf "%.2f", f / b; else print "n/a" }')
    printf '%-18s %14s %14s %8s  %s\n' "$1" "$2" "$3" "$ratio" "$4"
    printf '{"name":"%s","figure":%s,"unit":"%s","baseline":%s,"ratio":%s,"store":"none","machine":"%s"}\n' \
        "$1" "$2" "$4" "$3" "$ratio" "$machine" >> "$JSON"
}
row ingest-batched "$er_b" "$raw_b" events/s
row ingest-unbatched "$er_u" "$raw_u" events/s
row latency-p50 "$er_p50" "$raw_p50" us
row latency-p99 "$er_p99" "$raw_p99" us
row latency-p99.9 "$er_p999" "$raw_p999" us
row dispatch-batched "$noop_b" "$er_b" events/s
row handler-latency-p50 "$h_p50" "$er_p50" us
row handler-latency-p99 "$h_p99" "$er_p99" us
echo "JSON: $JSON ($machine)"
