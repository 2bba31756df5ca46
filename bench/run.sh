#!/bin/bash
# The benchmark runner: every scenario is measured beside its baseline in
# the same run and reported as figure, baseline and ratio, with the store it
# ran on named (DESIGN §10: transport figures use `memory`, end-to-end
# figures `lmdb`) — as a table on stdout and as JSON lines in $BENCH_JSON
# (default build/bench.json). Each JSON line has name, figure, unit,
# baseline, ratio, store, machine, and baseline_name saying what the
# baseline is. Figures, not tests: nothing here asserts a timing; the
# aims are printed as notes after the table.
#
# Run: `make bench` (every scenario, about 10 minutes on 2 cores), or a
# part, e.g. `BENCH_SCENARIOS="durable rss" BENCH_RSS_N=2000000 make bench`.
#
# Every daemon is a fresh eventrouterd per scenario (the memory store keeps
# every event in RAM, ~0.5 KB each), on sockets and data in a temporary
# directory that is removed at exit, like every process started here.
#
# Scenarios, by the BENCH_SCENARIOS key that selects them:
#
# ingest (store memory)
#   ingest-batched     eventctl publish --count N --batch 64   (events/s)
#   ingest-unbatched   eventctl publish --count N --batch 1    (events/s)
#     baseline: bench/raw_server — a libuv reader that decodes the same
#     frames with the same decoder and acks them, nothing else.
# latency (store memory)
#   latency-p50/p99/p99.9  one publisher, publish→ack round trips (µs)
#     baseline: raw_server.
# dispatch (store memory)
#   dispatch-batched   ingest-batched with every event routed to a no-op
#                      handler (events/s)
#     baseline: ingest-batched (measured here if `ingest` is not selected).
# handler (store memory)
#   handler-latency-p50/p99  publish → the `log` handler's line read back
#                      from a FIFO (µs)
#     baseline: latency-p50/p99 (measured here if `latency` is not selected).
# durable (store lmdb, sync batch, a fresh directory per run)
#   durable-ingest     2 × `eventctl publish --count N/2 --batch 64` in
#                      parallel, ack durable, on one daemon; N / the slower
#                      one's time (events/s)
#     baseline: bench/raw_lmdb, N events into the same LMDB layout, one
#     transaction per G events, where G is the daemon's average events per
#     commit in the durable-ingest runs (store.appended / store.lmdb.commits;
#     1024 if that cannot be read) — the table says which.
#   durable-ingest-unbatched  the same with --batch 1 (for information)
#   durable-ingest-sync-none  durable-ingest under `sync: none` (for
#                      information; the baseline still fsyncs)
#     baseline of both: the same raw_lmdb figure.
# durable-latency (store lmdb, sync batch)
#   durable-latency-p50/p99/p99.9  one connection, ack durable, publishing
#                      single events at a steady BENCH_RATE events/s,
#                      pipelined, for BENCH_RATE_SECONDS after a 1 s warm-up;
#                      each event timed from its scheduled send to its ACK
#                      (bench/latency -r, no coordinated omission) (µs)
#   durable-latency-rate  the rate achieved (events/s)
#     baseline: the same paced client against a daemon on `store: {plugin:
#     memory}` (its durable acks wait only for the in-memory append).
#     The JSON adds raw_lmdb_commit_us: what one raw_lmdb commit (fsync)
#     of a single event takes on this disk, the floor under a durable ack.
#     With BENCH_SPIN=1 on a 2-core machine the spin loop takes the core
#     the store's writer thread would have: the lmdb figures then suffer.
# rss (store lmdb, sync batch)
#   rss-anon-max, rss-anon-at-1M/2M/5M/10M, rss-anon-end, rss-file-max
#                      the daemon's RssAnon/RssFile (/proc/PID/status,
#                      sampled every second) while one connection publishes
#                      BENCH_RSS_N events in batches of 64, ack durable,
#                      512 batches in flight, with ids rss-1 … rss-N (so the
#                      de-duplication set fills up to limits.dedupe_max,
#                      1,000,000) — `bench/latency -r 0 -n BENCH_RSS_N -b 64
#                      -W 512 -i rss` (MiB). "at 1M" is
#                      the first sample with at least 1M stored events;
#                      rss-anon-end is after the publisher has exited.
#     baseline: nothing comparable exists; the daemon's own RssAnon (for
#     rss-file-max: RssFile) right after start, so the ratio is growth.
#     The RssAnon JSON lines add bound_mib (200), of_bound (figure / 200
#     MiB) and flat_after_dedupe_full: every sample taken while writing
#     (fewer than BENCH_RSS_N stored), from the one at 1M on, within ±10%
#     of that one. A note lists every sample.
#
# Environment:
#   BENCH_SCENARIOS  space-separated keys from the list above (default
#                    all), e.g. BENCH_SCENARIOS="durable rss"
#   BENCH_N          events per ingest and durable-ingest run (default
#                    1000000)
#   BENCH_LAT_N      round trips per latency run (default 100000)
#   BENCH_REPEAT     runs per figure, the median is kept (default 5; the
#                    rss scenario runs once)
#   BENCH_RATE       durable-latency's steady rate, events/s (default 100000)
#   BENCH_RATE_SECONDS  its measured seconds per run (default 5)
#   BENCH_RSS_N      events written by the rss scenario (default 10000000;
#                    once, not repeated)
#   BENCH_SPIN=1     keep one spare core busy with a spin loop during the
#                    latency scenarios (latency, handler, durable-latency):
#                    on a VM whose idle vCPUs sleep deeply, a wake-up costs
#                    ~80 us and hides what the daemon costs; the JSON's
#                    machine field says "spin" when it was on.
#   BENCH_JSON       where the JSON lines go
set -u
B=${ER_BUILDDIR:?}
N=${BENCH_N:-1000000}
LAT_N=${BENCH_LAT_N:-100000}
REPEAT=${BENCH_REPEAT:-5}
RATE=${BENCH_RATE:-100000}
RATE_SECONDS=${BENCH_RATE_SECONDS:-5}
RSS_N=${BENCH_RSS_N:-10000000}
SCENARIOS=${BENCH_SCENARIOS:-all}
JSON=${BENCH_JSON:-$B/bench.json}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/er-bench.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for s in $SCENARIOS; do
    case $s in
    all | ingest | latency | dispatch | handler | durable | durable-latency | rss) ;;
    *) echo "bench: unknown scenario '$s' in BENCH_SCENARIOS" >&2; exit 2 ;;
    esac
done
want() { [[ " $SCENARIOS " == *" all "* || " $SCENARIOS " == *" $1 "* ]]; }

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
machine="$(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
[ "${BENCH_SPIN:-0}" = 1 ] && machine="$machine, spin"

# Forget a PID that has been waited for (so the trap never kills a reused one).
forget() {
    local p keep=()
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# Stop one process started here, by PID.
stop() {
    kill "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    forget "$1"
}

# bg OUT ERR CMD...: run CMD in the background with stdout in OUT and
# stderr in ERR, and wait for it — a waiting `wait` lets the trap run at
# once on a signal, and the trap knows the PID. Returns CMD's status.
bg() {
    local out=$1 err=$2 p rc
    shift 2
    "$@" > "$out" 2> "$err" & p=$!
    PIDS+=("$p")
    wait "$p"; rc=$?
    forget "$p"
    return $rc
}

# With BENCH_SPIN=1, spin_start starts a spin loop on a spare core and
# spin_stop ends it; spin CMD... runs CMD beside one.
SPIN_PID=
spin_start() {
    [ "${BENCH_SPIN:-0}" = 1 ] || return 0
    sh -c 'while :; do :; done' & SPIN_PID=$!
    PIDS+=("$SPIN_PID")
}
spin_stop() {
    [ -z "$SPIN_PID" ] || stop "$SPIN_PID"
    SPIN_PID=
}
spin() {
    local rc
    spin_start
    "$@"; rc=$?
    spin_stop
    return $rc
}

wait_socket() {
    for _ in $(seq 1 500); do
        "$B/tools/eventctl" --socket "$1" ping >/dev/null 2>&1 && return 0
        sleep 0.01
    done
    echo "bench: nothing answers on $1; the end of $TMP/daemon.log:" >&2
    tail -5 "$TMP/daemon.log" >&2
    exit 1
}

start_raw() {
    "$B/bench/raw_server" "$TMP/raw.sock" & RAW_PID=$!
    PIDS+=("$RAW_PID")
    wait_socket "$TMP/raw.sock"
}

MEMORY_STORE='store:
  plugin: memory'
# lmdb_store DIR SYNC: the store section of an lmdb daemon
lmdb_store() {
    printf 'store:\n  plugin: lmdb\n  path: %s\n  sync: %s\n' "$1" "$2"
}

# start_daemon NAME STORE_YAML [EXTRA_YAML [nowait]]: a daemon on
# $TMP/NAME.sock (admin: $TMP/NAME-admin.sock); its PID in DAEMON_PID.
start_daemon() {
    printf 'listen:\n  socket: %s\n  admin_socket: %s\nlog:\n  level: warn\n%s\n%s\n' \
        "$TMP/$1.sock" "$TMP/$1-admin.sock" "$2" "${3:-}" > "$TMP/$1.yaml"
    "$B/daemon/eventrouterd" -c "$TMP/$1.yaml" 2>>"$TMP/daemon.log" & DAEMON_PID=$!
    PIDS+=("$DAEMON_PID")
    [ -n "${4:-}" ] || wait_socket "$TMP/$1.sock"
}

# stat_field NAME KEY: a number from `eventctl --json stats` of daemon NAME
# (the keys used here occur once in the reply)
stat_field() {
    "$B/tools/eventctl" --admin-socket "$TMP/$1-admin.sock" --json stats 2>/dev/null |
        grep -o "\"$2\":[0-9]*" | head -1 | cut -d: -f2
}

# median FILE [COLUMN]: the median of a column (default 1) of FILE's lines
median() {
    awk -v c="${2:-1}" '{ print $c }' "$1" | sort -g |
        awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# rate_of FILE: R from eventctl's "N events in S s: R events/s" in FILE
rate_of() { sed -n 's/.*: \([0-9.]*\) events\/s.*/\1/p' "$1"; }

# publish_bg SOCK COUNT BATCH [ARGS...]: start one `eventctl publish
# --count COUNT --batch BATCH` run in the background; its PID in PUB_PID.
PUB_RUNS=0
publish_bg() {
    local sock=$1 count=$2 batch=$3
    shift 3
    PUB_RUNS=$((PUB_RUNS + 1))
    "$B/tools/eventctl" --socket "$sock" publish --type BenchIngest --stream bench:ingest \
        --data '{"user":"123","ok":true}' --count "$count" --batch "$batch" "$@" \
        > /dev/null 2> "$TMP/pub-$PUB_RUNS.err" & PUB_PID=$!
    PIDS+=("$PUB_PID")
    eval "PUB_ERR_$PUB_PID=\$TMP/pub-$PUB_RUNS.err"
}

# publish_wait PID: wait for a publish_bg run; sets PUB_RATE to its
# events/s (exits if it failed).
publish_wait() {
    local rc err
    eval "err=\$PUB_ERR_$1"
    wait "$1"; rc=$?
    forget "$1"
    PUB_RATE=$(rate_of "$err")
    if [ "$rc" != 0 ] || [ -z "$PUB_RATE" ]; then
        echo "bench: eventctl publish failed (status $rc):" >&2
        cat "$err" >&2
        grep -q 'encoded size 18446744' "$err" &&
            echo "bench: that size is negative: the client measured the batch from a mark taken" \
                "before can_send() compacted its output buffer (lib/client.c), which happens" \
                "once 4 MiB wait unwritten; a client bug, not this run's" >&2
        exit 1
    fi
}

# ingest SOCK BATCH: sets RESULT to the median events/s of REPEAT runs of
# `eventctl publish --count N --batch BATCH` against SOCK
ingest() {
    local i
    : > "$TMP/ingest"
    for i in $(seq 1 "$REPEAT"); do
        publish_bg "$1" "$N" "$2"
        publish_wait "$PUB_PID"
        echo "$PUB_RATE" >> "$TMP/ingest"
    done
    RESULT=$(median "$TMP/ingest")
}

# latency SOCK: sets RESULT to "p50 p99 p999" of the round-trip latency
# client against SOCK (median per column)
latency() {
    local i
    : > "$TMP/lat"
    for i in $(seq 1 "$REPEAT"); do
        spin bg "$TMP/lat1" "$TMP/lat.err" "$B/bench/latency" "$1" "$LAT_N" ||
            { cat "$TMP/lat.err" >&2; exit 1; }
        cat "$TMP/lat1" >> "$TMP/lat"
    done
    RESULT="$(median "$TMP/lat" 2) $(median "$TMP/lat" 4) $(median "$TMP/lat" 6)"
}

# -------------------------------------------------------------- transport

if want ingest; then
    echo "ingest: the raw baseline (bench/raw_server)..." >&2
    start_raw
    ingest "$TMP/raw.sock" 64; raw_b=$RESULT
    ingest "$TMP/raw.sock" 1; raw_u=$RESULT
    stop "$RAW_PID"
    echo "ingest: eventrouterd (store memory)..." >&2
    start_daemon ingest-b "$MEMORY_STORE"
    ingest "$TMP/ingest-b.sock" 64; er_b=$RESULT
    stop "$DAEMON_PID"
    start_daemon ingest-u "$MEMORY_STORE"
    ingest "$TMP/ingest-u.sock" 1; er_u=$RESULT
    stop "$DAEMON_PID"
fi

if want latency; then
    echo "latency: the raw baseline, then eventrouterd (store memory)..." >&2
    start_raw
    latency "$TMP/raw.sock"; read -r raw_p50 raw_p99 raw_p999 <<< "$RESULT"
    stop "$RAW_PID"
    start_daemon lat "$MEMORY_STORE"
    latency "$TMP/lat.sock"; read -r er_p50 er_p99 er_p999 <<< "$RESULT"
    stop "$DAEMON_PID"
fi

if want dispatch; then
    if [ -z "${er_b:-}" ]; then
        echo "dispatch: its baseline, ingest-batched (store memory)..." >&2
        start_daemon ingest-b "$MEMORY_STORE"
        ingest "$TMP/ingest-b.sock" 64; er_b=$RESULT
        stop "$DAEMON_PID"
    fi
    echo "dispatch: eventrouterd with a no-op handler (store memory)..." >&2
    start_daemon noop "$MEMORY_STORE" "handlers:
  sink: { plugin: $B/bench/.libs/noop.so }
routes:
  - { match: \"*\", to: [sink] }"
    ingest "$TMP/noop.sock" 64; noop_b=$RESULT
    stop "$DAEMON_PID"
fi

if want handler; then
    if [ -z "${er_p50:-}" ]; then
        echo "handler: its baseline, latency (store memory)..." >&2
        start_daemon lat "$MEMORY_STORE"
        latency "$TMP/lat.sock"; read -r er_p50 er_p99 er_p999 <<< "$RESULT"
        stop "$DAEMON_PID"
    fi
    echo "handler: publish -> log handler latency (store memory)..." >&2
    mkfifo "$TMP/log.fifo"
    : > "$TMP/hlat"
    for i in $(seq 1 "$REPEAT"); do
        # The client first (it opens the FIFO), then the daemon.
        spin_start
        "$B/bench/latency" "$TMP/log$i.sock" "$LAT_N" "$TMP/log.fifo" \
            > "$TMP/hlat1" 2> "$TMP/hlat.err" & lat_pid=$!
        PIDS+=("$lat_pid")
        start_daemon "log$i" "$MEMORY_STORE" "handlers:
  sink: { plugin: log, path: $TMP/log.fifo }
routes:
  - { match: \"*\", to: [sink] }" nowait
        wait "$lat_pid" || { echo "bench: handler latency run failed" >&2; cat "$TMP/hlat.err" >&2; exit 1; }
        forget "$lat_pid"
        spin_stop
        cat "$TMP/hlat1" >> "$TMP/hlat"
        stop "$DAEMON_PID"
    done
    h_p50=$(median "$TMP/hlat" 2)
    h_p99=$(median "$TMP/hlat" 4)
fi

# ------------------------------------------------------------- durable

# durable_ingest SYNC BATCH: REPEAT runs, each on a fresh daemon and
# directory, of two publishers of N/2 events in parallel (ack durable).
# Sets RESULT to the median of N / the slower one's time, and GROUP to the
# daemon's average events per commit over the runs.
durable_ingest() {
    local sync=$1 batch=$2 i p1 p2 r1 r2 half=$((N / 2))
    : > "$TMP/dur-rates"
    : > "$TMP/dur-groups"
    for i in $(seq 1 "$REPEAT"); do
        rm -rf "$TMP/dur"
        start_daemon dur "$(lmdb_store "$TMP/dur" "$sync")"
        publish_bg "$TMP/dur.sock" "$half" "$batch" --ack durable; p1=$PUB_PID
        publish_bg "$TMP/dur.sock" "$((N - half))" "$batch" --ack durable; p2=$PUB_PID
        publish_wait "$p1"; r1=$PUB_RATE
        publish_wait "$p2"; r2=$PUB_RATE
        # each one's time is its count / its rate
        awk -v n="$N" -v c1="$half" -v r1="$r1" -v c2="$((N - half))" -v r2="$r2" \
            'BEGIN { a = c1 / r1; b = c2 / r2; printf "%.0f\n", n / (a > b ? a : b) }' \
            >> "$TMP/dur-rates"
        echo "$(stat_field dur appended) $(stat_field dur commits)" >> "$TMP/dur-groups"
        stop "$DAEMON_PID"
    done
    rm -rf "$TMP/dur"
    RESULT=$(median "$TMP/dur-rates")
    GROUP=$(awk '{ a += $1; c += $2 } END { if (c > 0) printf "%.0f", a / c }' "$TMP/dur-groups")
}

if want durable; then
    echo "durable: eventrouterd (store lmdb, sync batch), 2 publishers, --batch 64..." >&2
    durable_ingest batch 64; dur_b=$RESULT; group=$GROUP
    echo "durable: --batch 1..." >&2
    durable_ingest batch 1; dur_u=$RESULT; group_u=$GROUP
    echo "durable: sync none..." >&2
    durable_ingest none 64; dur_n=$RESULT; group_n=$GROUP
    if [ -n "$group" ] && [ "$group" -gt 0 ]; then
        raw_batch=$group
        raw_batch_why="the daemon's average events per commit"
    else
        raw_batch=1024
        raw_batch_why="the daemon's commits could not be read"
    fi
    echo "durable: the raw baseline (bench/raw_lmdb, $raw_batch events per transaction)..." >&2
    : > "$TMP/raw-lmdb-rates"
    for i in $(seq 1 "$REPEAT"); do
        rm -rf "$TMP/raw-lmdb"
        bg "$TMP/raw-lmdb.out" "$TMP/raw-lmdb.err" "$B/bench/raw_lmdb" "$TMP/raw-lmdb" "$N" \
            "$raw_batch" || { cat "$TMP/raw-lmdb.err" >&2; exit 1; }
        rate_of "$TMP/raw-lmdb.out" >> "$TMP/raw-lmdb-rates"
    done
    rm -rf "$TMP/raw-lmdb"
    raw_lmdb=$(median "$TMP/raw-lmdb-rates")
fi

# paced SOCK OUT: one run of the paced client (bench/latency -r) against
# SOCK, its line appended to OUT
paced() {
    spin bg "$TMP/paced1" "$TMP/paced.err" "$B/bench/latency" -r "$RATE" -d "$RATE_SECONDS" \
        -w 1 "$1" || { echo "bench: paced run failed:" >&2; cat "$TMP/paced.err" >&2; exit 1; }
    cat "$TMP/paced1" >> "$2"
    cat "$TMP/paced.err" >> "$TMP/paced.log"
}

if want durable-latency; then
    echo "durable-latency: paced $RATE/s, store lmdb and store memory, alternating..." >&2
    rm -rf "$TMP/plat"
    start_daemon plat-mem "$MEMORY_STORE"
    pm_pid=$DAEMON_PID
    start_daemon plat "$(lmdb_store "$TMP/plat" batch)"
    pl_pid=$DAEMON_PID
    : > "$TMP/paced-mem"
    : > "$TMP/paced-lmdb"
    for i in $(seq 1 "$REPEAT"); do
        paced "$TMP/plat-mem.sock" "$TMP/paced-mem"
        paced "$TMP/plat.sock" "$TMP/paced-lmdb"
    done
    plat_group=$(awk -v a="$(stat_field plat appended)" -v c="$(stat_field plat commits)" \
        'BEGIN { if (c > 0) printf "%.0f", a / c }')
    stop "$pm_pid"
    stop "$pl_pid"
    rm -rf "$TMP/plat"
    pm_p50=$(median "$TMP/paced-mem" 2); pl_p50=$(median "$TMP/paced-lmdb" 2)
    pm_p99=$(median "$TMP/paced-mem" 4); pl_p99=$(median "$TMP/paced-lmdb" 4)
    pm_p999=$(median "$TMP/paced-mem" 6); pl_p999=$(median "$TMP/paced-lmdb" 6)
    pm_rate=$(median "$TMP/paced-mem" 10); pl_rate=$(median "$TMP/paced-lmdb" 10)
    # The floor under a durable ack here: one raw LMDB commit (fsync) of
    # one event.
    rm -rf "$TMP/floor"
    bg "$TMP/floor.out" "$TMP/floor.err" "$B/bench/raw_lmdb" "$TMP/floor" 300 1 ||
        { cat "$TMP/floor.err" >&2; exit 1; }
    rm -rf "$TMP/floor"
    commit_us=$(awk -v r="$(rate_of "$TMP/floor.out")" 'BEGIN { if (r > 0) printf "%.0f", 1e6 / r }')
    pl_lost=$(awk '{ s += $14 } END { print s + 0 }' "$TMP/paced-lmdb")
    pm_lost=$(awk '{ s += $14 } END { print s + 0 }' "$TMP/paced-mem")
fi

# -------------------------------------------------------------------- rss

# rss_sample PID: "RssAnon_kB RssFile_kB"
rss_sample() {
    awk '/^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } END { print a + 0, f + 0 }' "/proc/$1/status"
}
# MiB, one decimal, of kB
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# anon_at N: "RssAnon_kB stored when" of the first sample with at least N
# stored events
anon_at() { awk -v n="$1" '$1 != "" && $1 >= n { print $2, $1, $4; exit }' "$TMP/rss-samples"; }

if want rss; then
    echo "rss: $RSS_N events with ids into eventrouterd (store lmdb, sync batch)..." >&2
    rm -rf "$TMP/rss"
    start_daemon rss "$(lmdb_store "$TMP/rss" batch)"
    rss_pid=$DAEMON_PID
    sleep 0.5
    read -r rss_anon0 rss_file0 <<< "$(rss_sample "$rss_pid")"
    # Not `eventctl publish --id rss --count N`: with 4096 batches in
    # flight its client can queue 4 MiB unwritten, and then
    # er_client_publish_batch_async() measures the frame from a mark taken
    # before can_send() compacted the buffer ("batch: encoded size
    # 18446744073705... exceeds max_frame"). bench/latency keeps 512
    # batches of 64 (~2.7 MiB) in flight, under that.
    "$B/bench/latency" -r 0 -n "$RSS_N" -b 64 -W 512 -i rss -a durable "$TMP/rss.sock" \
        > "$TMP/rss-pub.out" 2> "$TMP/rss-pub.err" & pub=$!
    PIDS+=("$pub")
    # "stored_events RssAnon_kB RssFile_kB when" every second while the
    # publisher runs, and once after it has exited; when is "writing"
    # while fewer than BENCH_RSS_N events are stored, then "done" (what was
    # in flight is then stored, and its buffers are gone).
    : > "$TMP/rss-samples"
    rss_record() {
        local stored
        stored=$(stat_field rss appended)
        if [ "${stored:-0}" -lt "$RSS_N" ]; then when=writing; else when="done"; fi
        echo "$stored $(rss_sample "$rss_pid") $when" >> "$TMP/rss-samples"
    }
    while kill -0 "$pub" 2>/dev/null; do
        sleep 1
        rss_record
    done
    wait "$pub" || { echo "bench: the rss publisher failed:" >&2; cat "$TMP/rss-pub.err" >&2; exit 1; }
    forget "$pub"
    rss_rate=$(awk '{ print $10 }' "$TMP/rss-pub.out")
    rss_record
    rss_dedupe=$(stat_field rss dedupe_ids)
    stop "$rss_pid"
    rm -rf "$TMP/rss"
    rss_anon_max=$(awk '$2 > m { m = $2 } END { print m + 0 }' "$TMP/rss-samples")
    rss_file_max=$(awk '$3 > m { m = $3 } END { print m + 0 }' "$TMP/rss-samples")
    rss_anon_end=$(awk 'END { print $2 }' "$TMP/rss-samples")
    read -r rss_ref _ <<< "$(anon_at 1000000)"
    # Flat once the de-duplication set is full: every sample taken while
    # writing, from the one at 1M stored events on, within ±10% of it.
    rss_flat=$(awk -v r="${rss_ref:-0}" '$4 == "writing" && $1 >= 1000000 {
            if (n++ == 0 || $2 > m) m = $2; if (n == 1 || $2 < l) l = $2 }
        END { if (r > 0 && n > 0) print (m <= 1.1 * r && l >= 0.9 * r) ? "true" : "false";
              else print "null" }' "$TMP/rss-samples")
    rss_after=$(awk '$4 == "writing" && $1 >= 1000000 {
            if (n++ == 0 || $2 < l) l = $2; if ($2 > m) m = $2 }
        END { if (n) printf "%.1f..%.1f MiB over %d samples", l / 1024, m / 1024, n;
              else print "no samples" }' "$TMP/rss-samples")
fi

# ------------------------------------------------------------------ report

: > "$JSON"
line() { printf '%-28s %12s %12s %7s  %-8s %-6s %s\n' "$@"; }
line scenario figure baseline ratio unit store baseline
# jnum X: X as a JSON number, or null
jnum() { [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]] && echo "$1" || echo null; }
# row NAME FIGURE BASELINE UNIT STORE BASELINE_NAME [EXTRA_JSON]
row() {
    local ratio
    ratio=$(awk -v f="$2" -v b="$3" 'BEGIN { if (f ~ /^[0-9.]+$/ && b > 0) printf "%.2f", f / b; else print "n/a" }')
    line "$1" "${2:-n/a}" "${3:-n/a}" "$ratio" "$4" "$5" "$6"
    printf '{"name":"%s","figure":%s,"unit":"%s","baseline":%s,"ratio":%s,"store":"%s","baseline_name":"%s","machine":"%s"%s}\n' \
        "$1" "$(jnum "$2")" "$4" "$(jnum "$3")" "$(jnum "$ratio")" "$5" "$6" "$machine" \
        "${7:+,$7}" >> "$JSON"
}
notes=()
if want ingest; then
    row ingest-batched "$er_b" "$raw_b" events/s memory raw_server
    row ingest-unbatched "$er_u" "$raw_u" events/s memory raw_server
fi
if want latency; then
    row latency-p50 "$er_p50" "$raw_p50" us memory raw_server
    row latency-p99 "$er_p99" "$raw_p99" us memory raw_server
    row latency-p99.9 "$er_p999" "$raw_p999" us memory raw_server
fi
want dispatch && row dispatch-batched "$noop_b" "$er_b" events/s memory ingest-batched
if want handler; then
    row handler-latency-p50 "$h_p50" "$er_p50" us memory latency-p50
    row handler-latency-p99 "$h_p99" "$er_p99" us memory latency-p99
fi
if want durable; then
    row durable-ingest "$dur_b" "$raw_lmdb" events/s lmdb "raw_lmdb batch $raw_batch" \
        "\"events_per_commit\":$(jnum "$group")"
    row durable-ingest-unbatched "$dur_u" "$raw_lmdb" events/s lmdb "raw_lmdb batch $raw_batch" \
        "\"events_per_commit\":$(jnum "$group_u")"
    row durable-ingest-sync-none "$dur_n" "$raw_lmdb" events/s lmdb "raw_lmdb batch $raw_batch" \
        "\"events_per_commit\":$(jnum "$group_n"),\"sync\":\"none\""
    notes+=("durable-ingest: the daemon averaged ${group:-?} events per commit (batch 64; --batch 1: ${group_u:-?}; sync none: ${group_n:-?}); raw_lmdb ran with $raw_batch per transaction ($raw_batch_why; commits also count seq reservations, so the average is a lower bound). Aim: >= 0.8x raw.")
fi
if want durable-latency; then
    floor="\"raw_lmdb_commit_us\":$(jnum "$commit_us")"
    row durable-latency-p50 "$pl_p50" "$pm_p50" us lmdb "paced, store memory" "$floor"
    row durable-latency-p99 "$pl_p99" "$pm_p99" us lmdb "paced, store memory" "$floor"
    row durable-latency-p99.9 "$pl_p999" "$pm_p999" us lmdb "paced, store memory" "$floor"
    row durable-latency-rate "$pl_rate" "$pm_rate" events/s lmdb "paced, store memory" \
        "\"target_rate\":$RATE"
    notes+=("durable-latency: $RATE events/s for ${RATE_SECONDS} s after 1 s warm-up, x$REPEAT; lost (NACKed or unanswered) events: lmdb $pl_lost, memory $pm_lost; lmdb averaged ${plat_group:-?} events per commit; one raw_lmdb commit of a single event takes ${commit_us:-?} us here (the floor under any durable ack). Aim: p99 <= 1500 us with lmdb.")
fi
if want rss; then
    # bound KB: the JSON fields that relate a RssAnon figure to the bound
    bound() {
        awk -v k="$1" -v f="$rss_flat" 'BEGIN {
            printf "\"bound_mib\":200,\"of_bound\":%.2f,\"flat_after_dedupe_full\":%s",
                k / 1024 / 200, f }'
    }
    anon0=$(mib "$rss_anon0")
    row rss-anon-max "$(mib "$rss_anon_max")" "$anon0" MiB lmdb "RssAnon at start" \
        "$(bound "$rss_anon_max")"
    for t in 1000000:1M 2000000:2M 5000000:5M 10000000:10M; do
        read -r kb stored when <<< "$(anon_at "${t%%:*}")"
        [ -n "$kb" ] && row "rss-anon-at-${t##*:}" "$(mib "$kb")" "$anon0" MiB lmdb \
            "RssAnon at start" "$(bound "$kb"),\"stored\":$stored,\"sampled\":\"$when\""
    done
    row rss-anon-end "$(mib "$rss_anon_end")" "$anon0" MiB lmdb "RssAnon at start" \
        "$(bound "$rss_anon_end"),\"sampled\":\"publisher exited\""
    row rss-file-max "$(mib "$rss_file_max")" "$(mib "$rss_file0")" MiB lmdb "RssFile at start"
    notes+=("rss: $RSS_N events with ids at $rss_rate events/s, ${rss_dedupe:-?} ids in the de-duplication set at the end; RssAnon while writing after 1M events: $rss_after; flat (within ±10% of the sample at 1M): $rss_flat; max $(mib "$rss_anon_max") MiB against the 200 MiB bound. at-N rows are the first sample with N stored (its stored count, and whether it was taken while writing, are in the JSON); rss-anon-end is after the publisher exited. Samples (stored events, RssAnon kB, RssFile kB, writing or done):")
    notes+=("$(paste -sd';' "$TMP/rss-samples" | sed 's/;/; /g')")
fi
notes+=("load average at the start $load_start, at the end $(cut -d' ' -f1-3 /proc/loadavg): other work on the machine moves every figure.")
for n in "${notes[@]}"; do echo "note: $n"; done
echo "JSON: $JSON ($machine)"
