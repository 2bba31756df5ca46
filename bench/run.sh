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
# Run: `make bench` (every scenario, about 13 minutes on 2 cores), or a
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
# e2e-latency (store lmdb, sync batch, beside the same on store memory)
#   e2e-latency-p50/p99/p99.9  publish → handler (µs): one connection
#                      publishing single events at a steady BENCH_E2E_RATE
#                      events/s for BENCH_E2E_SECONDS after a 1 s warm-up
#                      (bench/latency -r … -T, ack durable), every event
#                      routed to ONE handler, bench/latency_handler.so,
#                      which takes now (CLOCK_REALTIME) − the event's
#                      `time` into a histogram; -T sets `time` to the
#                      instant the event was due on the publisher's
#                      schedule, so a stall counts for every event
#                      scheduled during it (no coordinated omission). The
#                      handler skips the warm-up's events and writes its
#                      figures when the daemon stops (a fresh daemon per run).
#   e2e-throughput     BENCH_E2E_N events (`eventctl publish --batch 64`,
#                      ack durable) into a fresh daemon with the same one
#                      handler; the rate at which they are delivered, from
#                      the destination's `delivered` counter polled through
#                      `eventctl --json destinations` every 0.1 s (events/s:
#                      the slope between the first and the last sample
#                      taken while delivering). Delivery keeps up with
#                      ingest here, so this is ingest-bound.
#     baseline of each: the same run on `store: {plugin: memory}`,
#     alternating with the lmdb runs; ratio = lmdb / memory.
# catchup (store lmdb, sync batch, default limits.fresh_cache)
#   catchup-rate       a destination (the no-op handler) paused, then
#                      BENCH_CATCHUP_EVENTS events published (`eventctl
#                      publish --batch 64`, ack durable): it is that far
#                      behind, and the fresh cache (64 MiB) holds only the
#                      newest of them, so most must be read from the store.
#                      Then a publisher at BENCH_CATCHUP_RATE events/s starts
#                      (bench/latency -r, single events) and the destination
#                      is resumed; `eventctl --json destinations` is polled
#                      every 0.1 s until `lag_events` reads 0, and the figure
#                      is the events delivered from the resume to the last
#                      sample still behind, over that time (events/s; the
#                      new events count too).
#   catchup-read-from-store  its `read_from_store` at that point (events)
#     baseline of catchup-rate: a raw LMDB sequential read of the same
#     store once the daemon has stopped, `bench/raw_lmdb -r` (every event
#     in seq order, one read transaction per 1024 rows as the daemon's
#     catch-up batches, each event's bytes copied out and freed, no
#     decoding) — the ceiling of reading that store, not a live
#     destination. Of catchup-read-from-store: the events behind at the
#     resume, so the ratio is the share that came from the store.
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
# query (store lmdb; issue 8: <= 5 ms)
#   query-p50/p99      QUERY {"stream": S} through the admin socket with
#                      the client library's er_query, returning S's
#                      BENCH_QUERY_TARGET (1,000) events among
#                      BENCH_QUERY_EVENTS (10,000,000) stored: each query
#                      timed from the call to its return, every row
#                      received; BENCH_QUERY_RUNS per run after 5 untimed,
#                      the median over BENCH_REPEAT runs (us). The store is
#                      filled first as fast as it goes (`sync: none`,
#                      bench/query -f: batches of 64, 512 in flight, ack
#                      durable), every 10,000th event on S and the others
#                      on 9,973 other streams in turn (~1,000 each, so S is
#                      an ordinary stream). About 330 bytes of disk per
#                      event: ~3.3 GB for 10 M (the note gives du).
#     baseline: the same stream read through the store's stream index
#     directly (bench/raw_lmdb -q, the daemon stopped): one read
#     transaction per query, by_stream at S, MDB_NEXT_DUP over its seqs,
#     mdb_get of each event, its bytes copied out; no decoding, no socket.
# trim (store lmdb, sync batch; issue 8: p99 during the trim <= 2x idle)
#   trim-publish-p99   publish p99 (bench/latency -r BENCH_TRIM_RATE
#                      (100,000) events/s, single events, ack durable, for
#                      BENCH_TRIM_SECONDS (10) after 1 s warm-up) on a
#                      daemon started with `retention: {max_events: K}`,
#                      K = what is stored less BENCH_TRIM_EVENTS
#                      (1,000,000): its first pass (1 s after start, when
#                      the measuring starts) finds 1 M events over the
#                      bound and trims them while the publisher runs, then
#                      keeps trimming what the publisher adds (us).
#   trim-publish-p50/p99.9  the same run's, for information (us)
#   trim-seconds       seconds from the daemon's start until the 1 M were
#                      trimmed: retention's `trimmed` polled every 0.2 s
#                      (inf: not within the run); the measuring runs from
#                      1 s to 1 + BENCH_TRIM_SECONDS.
#     baseline: the same publisher on the same store on a daemon without
#     retention, just before, in each of BENCH_TRIM_REPEAT (3) rounds;
#     medians. Each round fills a fresh store with BENCH_TRIM_EVENTS +
#     100,000 events first (`eventctl publish --batch 64`, ack durable: the
#     suite's ingest event, one stream); BENCH_TRIM_SPREAD=1 fills it
#     instead with bench/query -f's events spread over 9,973 streams, the
#     worst case for a trim (every delete touches another stream's index
#     page).
# tail (store lmdb, sync batch)
#   tail-latency-p50/p99/p99.9  publish → TAIL reader (us): bench/tail_latency
#                      follows the store with er_tail on the admin socket
#                      while bench/latency -T publishes BENCH_TAIL_RATE
#                      (20,000) events/s, single events, ack durable, for
#                      BENCH_TAIL_SECONDS (5) after 1 s warm-up; each row's
#                      latency is its arrival minus its `time` (the instant
#                      it was due). Median over BENCH_REPEAT runs.
#     baseline: the durable-ack latency of the same events in the same
#     run (bench/latency's own figure): a tail sends committed events only,
#     so the commit is the floor, and the ratio is what the tail adds.
# node (store memory; needs node: clients/node is built into the build tree)
#   node-batched       BENCH_NODE_N events from one Node.js process through
#                      eventrouter-client, publishBatch of 64, ack durable,
#                      pipelined (bench/node_publish.mjs) (events/s)
#   node-unbatched     the same with publish, one event per frame (events/s)
#     baseline of each: `eventctl publish --count BENCH_NODE_N --batch 64`
#     (or 1), the same event, in the same run; each run on a fresh daemon,
#     eventctl and node alternating.
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
#   BENCH_E2E_RATE   e2e-latency's steady rate, events/s (default 50000)
#   BENCH_E2E_SECONDS  its measured seconds per run (default 5)
#   BENCH_E2E_N      events per e2e-throughput run (default BENCH_N)
#   BENCH_CATCHUP_EVENTS  how far behind the catchup destination is
#                    (default 1000000; below ~130000 the fresh cache holds
#                    them all and nothing is read from the store)
#   BENCH_CATCHUP_RATE  the publishing rate during the catch-up (default
#                    20000)
#   BENCH_CATCHUP_REPEAT  catchup runs, the median is kept (default 3)
#   BENCH_SPIN=1     keep one spare core busy with a spin loop during the
#                    latency scenarios (latency, handler, durable-latency,
#                    e2e-latency's paced runs):
#                    on a VM whose idle vCPUs sleep deeply, a wake-up costs
#                    ~80 us and hides what the daemon costs; the JSON's
#                    machine field says "spin" when it was on.
#   BENCH_QUERY_EVENTS  events stored for the query scenario (default
#                    10000000; about 330 bytes of disk each)
#   BENCH_QUERY_TARGET  events on the queried stream (default 1000)
#   BENCH_QUERY_RUNS timed queries per run (default 200; p99 is then the
#                    2nd slowest)
#   BENCH_TRIM_EVENTS  events over max_events when the trim run starts
#                    (default 1000000)
#   BENCH_TRIM_RATE  the publisher's rate in the trim scenario (default
#                    100000)
#   BENCH_TRIM_SECONDS  its measured seconds per run (default 10)
#   BENCH_TRIM_SPREAD=1  fill the trim scenario's store over 9,973 streams
#   BENCH_TRIM_REPEAT  rounds of (idle run, trim run) (default 3)
#   BENCH_NODE_N     events per node and eventctl run of the node
#                    scenario (default 200000)
#   BENCH_JSON       where the JSON lines go
set -u
B=${ER_BUILDDIR:?}
N=${BENCH_N:-1000000}
LAT_N=${BENCH_LAT_N:-100000}
REPEAT=${BENCH_REPEAT:-5}
RATE=${BENCH_RATE:-100000}
RATE_SECONDS=${BENCH_RATE_SECONDS:-5}
RSS_N=${BENCH_RSS_N:-10000000}
E2E_RATE=${BENCH_E2E_RATE:-50000}
E2E_SECONDS=${BENCH_E2E_SECONDS:-5}
E2E_N=${BENCH_E2E_N:-$N}
CATCHUP_N=${BENCH_CATCHUP_EVENTS:-1000000}
CATCHUP_RATE=${BENCH_CATCHUP_RATE:-20000}
CATCHUP_REPEAT=${BENCH_CATCHUP_REPEAT:-3}
QUERY_EVENTS=${BENCH_QUERY_EVENTS:-10000000}
QUERY_TARGET=${BENCH_QUERY_TARGET:-1000}
QUERY_RUNS=${BENCH_QUERY_RUNS:-200}
TRIM_EVENTS=${BENCH_TRIM_EVENTS:-1000000}
TRIM_RATE=${BENCH_TRIM_RATE:-100000}
TRIM_SECONDS=${BENCH_TRIM_SECONDS:-10}
TRIM_REPEAT=${BENCH_TRIM_REPEAT:-3}
TRIM_SPREAD=${BENCH_TRIM_SPREAD:-0}
TAIL_RATE=${BENCH_TAIL_RATE:-20000}
TAIL_SECONDS=${BENCH_TAIL_SECONDS:-5}
NODE_N=${BENCH_NODE_N:-200000}
# How often e2e-throughput and catchup poll `eventctl --json destinations`.
POLL_S=0.1
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
    all | ingest | latency | dispatch | handler | durable | durable-latency | e2e-latency | \
        catchup | rss | query | trim | tail | node) ;;
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

# ------------------------------------------------------------ end to end

# dest_field NAME KEY: a number from `eventctl --json destinations` of
# daemon NAME (its first destination; these runs have one)
dest_field() {
    "$B/tools/eventctl" --admin-socket "$TMP/$1-admin.sock" --json destinations 2>/dev/null |
        grep -o "\"$2\":[0-9]*" | head -1 | cut -d: -f2
}

# measured NAME SKIP: the handlers and routes of a daemon whose every event
# goes to the measuring handler, which skips SKIP events and writes its
# figures to $TMP/NAME.lat when the daemon stops
measured() {
    printf 'handlers:\n  sink: { plugin: %s, out: %s, skip: %s }\nroutes:\n  - { match: "*", to: [sink] }\n' \
        "$B/bench/.libs/latency_handler.so" "$TMP/$1.lat" "$2"
}

# e2e_paced NAME STORE_YAML OUT: one paced run against a fresh daemon NAME;
# appends to OUT the handler's line, then the publisher's.
e2e_paced() {
    # bench/latency's warm-up: the events due in its first second
    local warm_n=$((E2E_RATE * 1))
    rm -f "$TMP/$1.lat"
    start_daemon "$1" "$2" "$(measured "$1" "$warm_n")"
    spin bg "$TMP/e2e-pub1" "$TMP/e2e-pub.err" "$B/bench/latency" -r "$E2E_RATE" \
        -d "$E2E_SECONDS" -w 1 -T "$TMP/$1.sock" ||
        { echo "bench: e2e paced run failed:" >&2; cat "$TMP/e2e-pub.err" >&2; exit 1; }
    stop "$DAEMON_PID"
    if ! [ -s "$TMP/$1.lat" ]; then
        echo "bench: the measuring handler of $1 wrote nothing; the end of $TMP/daemon.log:" >&2
        tail -5 "$TMP/daemon.log" >&2
        exit 1
    fi
    echo "$(cat "$TMP/$1.lat") $(cat "$TMP/e2e-pub1")" >> "$3"
}

# e2e_flood NAME STORE_YAML OUT: E2E_N events into a fresh daemon NAME as
# fast as `eventctl publish --batch 64` goes; appends to OUT "delivery_rate
# publish_rate handler_rate", the first from the `delivered` counter polled
# every POLL_S: the slope between the first and the last sample taken
# while delivering (0 < delivered < E2E_N; with fewer than two, from the
# first with something delivered to the first with all), so neither the
# ramp nor the poll interval at the ends counts; the last from the
# handler's first and last event. Each poll is an eventctl process: on 2
# cores, polling much faster takes CPU from the daemon.
e2e_flood() {
    local pub d t start=$EPOCHREALTIME
    start_daemon "$1" "$2" "$(measured "$1" 0)"
    publish_bg "$TMP/$1.sock" "$E2E_N" 64
    pub=$PUB_PID
    : > "$TMP/flood-samples"
    while :; do
        t=$EPOCHREALTIME
        d=$(dest_field "$1" delivered)
        echo "$t ${d:-0}" >> "$TMP/flood-samples"
        [ "${d:-0}" -ge "$E2E_N" ] && break
        if awk -v a="$start" -v b="$t" 'BEGIN { exit !(b - a > 300) }'; then
            echo "bench: $1 delivered ${d:-?} of $E2E_N events in 300 s; samples in" \
                "$TMP/flood-samples" >&2
            exit 1
        fi
        sleep "$POLL_S"
    done
    publish_wait "$pub"
    stop "$DAEMON_PID"
    awk -v p="$PUB_RATE" -v n="$E2E_N" \
        -v h="$(awk '{ if ($16 > $14) printf "%.0f", ($10 - 1) / (($16 - $14) / 1e6) }' "$TMP/$1.lat")" '
        $2 > 0 && a == "" { a = $1; da = $2 }
        $2 >= n && z == "" { z = $1; dz = $2 }
        $2 > 0 && $2 < n { if (f == "") { f = $1; df = $2 } l = $1; dl = $2 }
        END {
            if (l > f) r = (dl - df) / (l - f); else if (z > a) r = (dz - da) / (z - a)
            printf "%s %s %s\n", (r > 0 ? sprintf("%.0f", r) : "n/a"), p, h
        }' "$TMP/flood-samples" >> "$3"
}

if want e2e-latency; then
    echo "e2e-latency: paced $E2E_RATE/s to one measuring handler, store lmdb and store memory," \
        "alternating..." >&2
    : > "$TMP/e2e-lmdb"
    : > "$TMP/e2e-mem"
    : > "$TMP/flood-lmdb"
    : > "$TMP/flood-mem"
    for i in $(seq 1 "$REPEAT"); do
        e2e_paced e2e-mem "$MEMORY_STORE" "$TMP/e2e-mem"
        rm -rf "$TMP/e2e"
        e2e_paced e2e-lmdb "$(lmdb_store "$TMP/e2e" batch)" "$TMP/e2e-lmdb"
        rm -rf "$TMP/e2e"
    done
    echo "e2e-latency: throughput, $E2E_N events (--batch 64), store lmdb and store memory..." >&2
    for i in $(seq 1 "$REPEAT"); do
        e2e_flood e2e-mem "$MEMORY_STORE" "$TMP/flood-mem"
        rm -rf "$TMP/e2e"
        e2e_flood e2e-lmdb "$(lmdb_store "$TMP/e2e" batch)" "$TMP/flood-lmdb"
        rm -rf "$TMP/e2e"
    done
    el_p50=$(median "$TMP/e2e-lmdb" 2); em_p50=$(median "$TMP/e2e-mem" 2)
    el_p99=$(median "$TMP/e2e-lmdb" 4); em_p99=$(median "$TMP/e2e-mem" 4)
    el_p999=$(median "$TMP/e2e-lmdb" 6); em_p999=$(median "$TMP/e2e-mem" 6)
    el_max=$(awk '$8 > m { m = $8 } END { print m + 0 }' "$TMP/e2e-lmdb")
    em_max=$(awk '$8 > m { m = $8 } END { print m + 0 }' "$TMP/e2e-mem")
    # events measured by the handlers, of those the publishers scheduled
    el_count=$(awk '{ c += $10 } END { print c + 0 }' "$TMP/e2e-lmdb")
    em_count=$(awk '{ c += $10 } END { print c + 0 }' "$TMP/e2e-mem")
    e2e_want=$((REPEAT * E2E_RATE * E2E_SECONDS))
    el_ack99=$(median "$TMP/e2e-lmdb" 20); em_ack99=$(median "$TMP/e2e-mem" 20)
    el_tput=$(median "$TMP/flood-lmdb" 1); em_tput=$(median "$TMP/flood-mem" 1)
    el_pub=$(median "$TMP/flood-lmdb" 2); em_pub=$(median "$TMP/flood-mem" 2)
    el_hrate=$(median "$TMP/flood-lmdb" 3); em_hrate=$(median "$TMP/flood-mem" 3)
fi

# catchup_run OUT: one catch-up run (see the header); appends to OUT
# "rate read_from_store backlog seconds delivered raw_read_rate
# ingest_rate". Polled every POLL_S (an eventctl process each); the rate
# is the slope of `delivered` from the resume to the last sample still
# behind (or, with none, the first at lag 0), so the poll interval at the
# end does not count; seconds is until the first sample at lag 0 (an
# upper bound, within one poll), delivered what it had delivered then.
catchup_run() {
    local pub j t t0 lag dl=0 d0 backlog rfs
    rm -rf "$TMP/cu"
    start_daemon cu "$(lmdb_store "$TMP/cu" batch)" "handlers:
  sink: { plugin: $B/bench/.libs/noop.so }
routes:
  - { match: \"*\", to: [sink] }"
    "$B/tools/eventctl" --admin-socket "$TMP/cu-admin.sock" pause sink > /dev/null ||
        { echo "bench: eventctl pause sink failed" >&2; exit 1; }
    publish_bg "$TMP/cu.sock" "$CATCHUP_N" 64
    publish_wait "$PUB_PID"
    backlog=$(dest_field cu lag_events)
    d0=$(dest_field cu delivered)
    # The steady publisher first (connected and on its schedule), then the
    # resume; killed once the destination has caught up.
    "$B/bench/latency" -r "$CATCHUP_RATE" -d 3600 -w 0 "$TMP/cu.sock" \
        > /dev/null 2> "$TMP/cu-pub.err" & pub=$!
    PIDS+=("$pub")
    sleep 0.2
    t0=$EPOCHREALTIME
    "$B/tools/eventctl" --admin-socket "$TMP/cu-admin.sock" resume sink > /dev/null ||
        { echo "bench: eventctl resume sink failed" >&2; exit 1; }
    while :; do
        t=$EPOCHREALTIME
        j=$("$B/tools/eventctl" --admin-socket "$TMP/cu-admin.sock" --json destinations 2>/dev/null)
        lag=$(grep -o '"lag_events":[0-9]*' <<< "$j" | cut -d: -f2)
        dl=$(grep -o '"delivered":[0-9]*' <<< "$j" | cut -d: -f2)
        rfs=$(grep -o '"read_from_store":[0-9]*' <<< "$j" | cut -d: -f2)
        echo "$t ${lag:-x} ${dl:-0}" >> "$TMP/cu-samples"
        [ "${lag:-1}" = 0 ] && break
        if ! kill -0 "$pub" 2>/dev/null; then
            echo "bench: the catchup publisher ended:" >&2
            cat "$TMP/cu-pub.err" >&2
            exit 1
        fi
        if awk -v a="$t0" -v b="$t" 'BEGIN { exit !(b - a > 300) }'; then
            echo "bench: catchup: lag_events still ${lag:-?} 300 s after the resume" \
                "(delivered ${dl:-?}); the last reply: $j" >&2
            exit 1
        fi
        sleep "$POLL_S"
    done
    stop "$pub"
    stop "$DAEMON_PID"
    bg "$TMP/cu-raw.out" "$TMP/cu-raw.err" "$B/bench/raw_lmdb" -r "$TMP/cu" ||
        { cat "$TMP/cu-raw.err" >&2; exit 1; }
    rm -rf "$TMP/cu"
    awk -v t0="$t0" -v t="$t" -v d0="${d0:-0}" -v d="$dl" -v r="$rfs" -v b="$backlog" \
        -v raw="$(rate_of "$TMP/cu-raw.out")" -v ing="$PUB_RATE" '
        $2 != "0" && $3 > d0 { tb = $1; db = $3 }
        END {
            if (tb == "") { tb = t; db = d }
            printf "%.0f %s %s %.3f %d %s %s\n", (db - d0) / (tb - t0), r, b, t - t0, d - d0, raw, ing
        }' "$TMP/cu-samples" >> "$1"
}

if want catchup; then
    echo "catchup: a destination $CATCHUP_N events behind (store lmdb), resumed while" \
        "$CATCHUP_RATE events/s come in; x$CATCHUP_REPEAT..." >&2
    : > "$TMP/catchup"
    for i in $(seq 1 "$CATCHUP_REPEAT"); do
        : > "$TMP/cu-samples"
        catchup_run "$TMP/catchup"
    done
    # The run with the median rate, whole (its own raw read beside it).
    read -r cu_rate cu_rfs cu_backlog cu_secs cu_delivered cu_raw cu_ingest <<< \
        "$(sort -g "$TMP/catchup" | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }')"
    cu_rates=$(cut -d' ' -f1 "$TMP/catchup" | paste -sd' ')
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

# ---------------------------------------------------------------- history

if want query; then
    q_stream=bench:query-target
    echo "query: $QUERY_EVENTS events into eventrouterd (store lmdb, sync none)," \
        "$QUERY_TARGET on $q_stream..." >&2
    rm -rf "$TMP/query"
    start_daemon query "$(lmdb_store "$TMP/query" none)"
    bg "$TMP/qfill.out" "$TMP/qfill.err" "$B/bench/query" -f "$TMP/query.sock" "$QUERY_EVENTS" \
        "$QUERY_TARGET" "$q_stream" 512 || { cat "$TMP/qfill.err" >&2; exit 1; }
    q_fill_rate=$(rate_of "$TMP/qfill.out")
    q_disk_mib=$(du -sk "$TMP/query" | awk '{ printf "%.0f", $1 / 1024 }')
    echo "query: QUERY {stream} x$QUERY_RUNS through the admin socket, x$REPEAT..." >&2
    : > "$TMP/q-daemon"
    for i in $(seq 1 "$REPEAT"); do
        bg "$TMP/q1" "$TMP/q.err" "$B/bench/query" -q "$TMP/query-admin.sock" "$q_stream" \
            "$QUERY_RUNS" 5 "$QUERY_TARGET" || { cat "$TMP/q.err" >&2; exit 1; }
        cat "$TMP/q1" >> "$TMP/q-daemon"
    done
    stop "$DAEMON_PID"
    echo "query: the raw baseline (bench/raw_lmdb -q, the stream index read directly)..." >&2
    : > "$TMP/q-raw"
    for i in $(seq 1 "$REPEAT"); do
        bg "$TMP/q1" "$TMP/q.err" "$B/bench/raw_lmdb" -q "$TMP/query" "$q_stream" \
            "$QUERY_RUNS" 5 || { cat "$TMP/q.err" >&2; exit 1; }
        cat "$TMP/q1" >> "$TMP/q-raw"
    done
    rm -rf "$TMP/query"
    q_p50=$(median "$TMP/q-daemon" 2); q_raw_p50=$(median "$TMP/q-raw" 2)
    q_p99=$(median "$TMP/q-daemon" 4); q_raw_p99=$(median "$TMP/q-raw" 4)
    q_max=$(median "$TMP/q-daemon" 6); q_raw_max=$(median "$TMP/q-raw" 6)
    q_rows=$(median "$TMP/q-daemon" 8)
fi

# lmdb_events NAME: the events daemon NAME's lmdb store holds
lmdb_events() {
    "$B/tools/eventctl" --admin-socket "$TMP/$1-admin.sock" --json stats 2>/dev/null |
        grep -o '"lmdb":{"events":[0-9]*' | head -1 | sed 's/.*://'
}

# trim_round: one idle run and one trim run on a fresh store; appends
# "idle_line" to $TMP/trim-idle, "trim_line" to $TMP/trim-busy and
# "seconds_to_trim trimmed_by_the_end" to $TMP/trim-secs.
trim_round() {
    local stored keep t0 poller
    rm -rf "$TMP/trim"
    start_daemon trim-fill "$(lmdb_store "$TMP/trim" batch)"
    if [ "$TRIM_SPREAD" = 1 ]; then
        bg "$TMP/tfill.out" "$TMP/tfill.err" "$B/bench/query" -f "$TMP/trim-fill.sock" \
            "$((TRIM_EVENTS + 100000))" 1 bench:trim-fill 512 ||
            { cat "$TMP/tfill.err" >&2; exit 1; }
    else
        publish_bg "$TMP/trim-fill.sock" "$((TRIM_EVENTS + 100000))" 64 --ack durable
        publish_wait "$PUB_PID"
    fi
    stop "$DAEMON_PID"
    # Idle: the publisher alone.
    start_daemon trim-idle "$(lmdb_store "$TMP/trim" batch)"
    spin bg "$TMP/tpaced" "$TMP/tpaced.err" "$B/bench/latency" -r "$TRIM_RATE" \
        -d "$TRIM_SECONDS" -w 1 "$TMP/trim-idle.sock" ||
        { echo "bench: trim idle run failed:" >&2; cat "$TMP/tpaced.err" >&2; exit 1; }
    cat "$TMP/tpaced" >> "$TMP/trim-idle"
    stored=$(lmdb_events trim-idle)
    stop "$DAEMON_PID"
    # Busy: the same while retention trims TRIM_EVENTS and then what comes.
    keep=$((stored - TRIM_EVENTS))
    t0=$(date +%s.%N)
    start_daemon trim "$(lmdb_store "$TMP/trim" batch)
  retention: { max_events: $keep }"
    # "seconds_since_start trimmed" every 0.2 s while the daemon runs.
    (while :; do
        echo "$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')" \
            "$(stat_field trim trimmed)"
        sleep 0.2
    done) > "$TMP/trim-poll" 2>/dev/null & poller=$!
    PIDS+=("$poller")
    spin bg "$TMP/tpaced" "$TMP/tpaced.err" "$B/bench/latency" -r "$TRIM_RATE" \
        -d "$TRIM_SECONDS" -w 1 "$TMP/trim.sock" ||
        { echo "bench: trim run failed:" >&2; cat "$TMP/tpaced.err" >&2; exit 1; }
    cat "$TMP/tpaced" >> "$TMP/trim-busy"
    stop "$poller"
    echo "$(awk -v n="$TRIM_EVENTS" '$2 != "" && $2 >= n { print $1; f = 1; exit }
            END { if (!f) print "inf" }' "$TMP/trim-poll") $(stat_field trim trimmed)" \
        >> "$TMP/trim-secs"
    stop "$DAEMON_PID"
    rm -rf "$TMP/trim"
}

if want trim; then
    echo "trim: publish p99 at $TRIM_RATE/s (store lmdb) idle, then while retention trims" \
        "$TRIM_EVENTS events; x$TRIM_REPEAT..." >&2
    : > "$TMP/trim-idle"
    : > "$TMP/trim-busy"
    : > "$TMP/trim-secs"
    for i in $(seq 1 "$TRIM_REPEAT"); do
        trim_round
    done
    ti_p50=$(median "$TMP/trim-idle" 2); tb_p50=$(median "$TMP/trim-busy" 2)
    ti_p99=$(median "$TMP/trim-idle" 4); tb_p99=$(median "$TMP/trim-busy" 4)
    ti_p999=$(median "$TMP/trim-idle" 6); tb_p999=$(median "$TMP/trim-busy" 6)
    ti_rate=$(median "$TMP/trim-idle" 10); tb_rate=$(median "$TMP/trim-busy" 10)
    t_secs=$(median "$TMP/trim-secs" 1)
    t_all=$(awk '{ printf "%s%s s, %s", (NR > 1 ? "; " : ""), $1, $2 }' "$TMP/trim-secs")
    t_p99s=$(cut -d' ' -f4 "$TMP/trim-idle" | paste -sd' ')
    t_b99s=$(cut -d' ' -f4 "$TMP/trim-busy" | paste -sd' ')
    tb_lost=$(awk '{ s += $14 } END { print s + 0 }' "$TMP/trim-busy")
    ti_lost=$(awk '{ s += $14 } END { print s + 0 }' "$TMP/trim-idle")
fi

if want tail; then
    echo "tail: TAIL delivery latency at $TAIL_RATE/s (store lmdb), beside the same events'" \
        "durable acks, x$REPEAT..." >&2
    : > "$TMP/tail-lat"
    : > "$TMP/tail-ack"
    for i in $(seq 1 "$REPEAT"); do
        rm -rf "$TMP/tail"
        start_daemon tail "$(lmdb_store "$TMP/tail" batch)"
        "$B/bench/tail_latency" "$TMP/tail-admin.sock" $((TAIL_RATE * TAIL_SECONDS)) \
            "$TAIL_RATE" 3 > "$TMP/tail1" 2> "$TMP/tail.err" & tail_pid=$!
        PIDS+=("$tail_pid")
        for _ in $(seq 1 500); do grep -q tailing "$TMP/tail.err" && break; sleep 0.01; done
        sleep 0.1 # its TAIL is on its way
        spin bg "$TMP/tail-pub" "$TMP/tail-pub.err" "$B/bench/latency" -r "$TAIL_RATE" \
            -d "$TAIL_SECONDS" -w 1 -T "$TMP/tail.sock" ||
            { echo "bench: tail publisher failed:" >&2; cat "$TMP/tail-pub.err" >&2; exit 1; }
        wait "$tail_pid" ||
            { echo "bench: tail_latency failed:" >&2; cat "$TMP/tail.err" >&2; exit 1; }
        forget "$tail_pid"
        cat "$TMP/tail1" >> "$TMP/tail-lat"
        cat "$TMP/tail-pub" >> "$TMP/tail-ack"
        stop "$DAEMON_PID"
    done
    rm -rf "$TMP/tail"
    tl_p50=$(median "$TMP/tail-lat" 2); ta_p50=$(median "$TMP/tail-ack" 2)
    tl_p99=$(median "$TMP/tail-lat" 4); ta_p99=$(median "$TMP/tail-ack" 4)
    tl_p999=$(median "$TMP/tail-lat" 6); ta_p999=$(median "$TMP/tail-ack" 6)
    tl_n=$(median "$TMP/tail-lat" 8)
fi

if want node; then
    echo "node: eventrouter-client from one Node.js process beside eventctl publish" \
        "(store memory), x$REPEAT..." >&2
    nd_src=$(cd "$(dirname "$0")/.." && pwd)
    if ! command -v node >/dev/null 2>&1; then
        echo "bench: node is not installed (make deps): no node figures" >&2
    else
        bash "$nd_src/clients/node/stage.sh" "$B/clients/node" ||
            { echo "bench: clients/node could not be built" >&2; exit 1; }
        for b in 64 1; do : > "$TMP/nd-ctl-$b"; : > "$TMP/nd-node-$b"; done
        for i in $(seq 1 "$REPEAT"); do
            for b in 64 1; do
                start_daemon nd-ctl "$MEMORY_STORE"
                publish_bg "$TMP/nd-ctl.sock" "$NODE_N" "$b"
                publish_wait "$PUB_PID"
                echo "$PUB_RATE" >> "$TMP/nd-ctl-$b"
                stop "$DAEMON_PID"
                start_daemon nd-node "$MEMORY_STORE"
                bg /dev/null "$TMP/nd.err" node "$nd_src/bench/node_publish.mjs" \
                    --client "$B/clients/node" --socket "$TMP/nd-node.sock" \
                    --count "$NODE_N" --batch "$b" ||
                    { echo "bench: node_publish failed:" >&2; cat "$TMP/nd.err" >&2; exit 1; }
                rate_of "$TMP/nd.err" >> "$TMP/nd-node-$b"
                stop "$DAEMON_PID"
            done
        done
        nd_b=$(median "$TMP/nd-node-64"); nc_b=$(median "$TMP/nd-ctl-64")
        nd_u=$(median "$TMP/nd-node-1"); nc_u=$(median "$TMP/nd-ctl-1")
        nd_runs="node batched $(tr '\n' ' ' < "$TMP/nd-node-64")/ eventctl $(tr '\n' ' ' < "$TMP/nd-ctl-64")/ node unbatched $(tr '\n' ' ' < "$TMP/nd-node-1")/ eventctl $(tr '\n' ' ' < "$TMP/nd-ctl-1")"
    fi
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
if want e2e-latency; then
    e2e_extra="\"target_rate\":$E2E_RATE,\"seconds\":$E2E_SECONDS"
    row e2e-latency-p50 "$el_p50" "$em_p50" us lmdb "same, store memory" "$e2e_extra"
    row e2e-latency-p99 "$el_p99" "$em_p99" us lmdb "same, store memory" "$e2e_extra"
    row e2e-latency-p99.9 "$el_p999" "$em_p999" us lmdb "same, store memory" "$e2e_extra"
    row e2e-throughput "$el_tput" "$em_tput" events/s lmdb "same, store memory" \
        "\"events\":$E2E_N,\"publish_rate\":$(jnum "$el_pub"),\"baseline_publish_rate\":$(jnum "$em_pub"),\"handler_rate\":$(jnum "$el_hrate"),\"baseline_handler_rate\":$(jnum "$em_hrate")"
    notes+=("e2e-latency: one connection at $E2E_RATE events/s for ${E2E_SECONDS} s after 1 s warm-up, x$REPEAT per store, each event's time set to when it was due; publish -> handle() measured by bench/latency_handler.so (histogram buckets within 0.2%); events measured: lmdb $el_count, memory $em_count of $e2e_want scheduled; worst single event: lmdb $el_max us, memory $em_max us; the publisher's own ack (durable) p99: lmdb $el_ack99 us, memory $em_ack99 us. e2e-throughput: $E2E_N events, --batch 64, ack durable, rate from the delivered counter polled every ${POLL_S} s while delivering; the publisher's rate: lmdb $el_pub, memory $em_pub events/s; from the handler's first and last event: lmdb $el_hrate, memory $em_hrate events/s.")
fi
if want catchup; then
    row catchup-rate "$cu_rate" "$cu_raw" events/s lmdb "raw_lmdb -r sequential read" \
        "\"behind\":$(jnum "$cu_backlog"),\"publish_rate\":$CATCHUP_RATE,\"seconds\":$(jnum "$cu_secs"),\"delivered\":$(jnum "$cu_delivered")"
    row catchup-read-from-store "$cu_rfs" "$cu_backlog" events lmdb "events behind at resume"
    notes+=("catchup: a paused destination (no-op handler) $cu_backlog events behind (published at $cu_ingest events/s while it was paused), resumed while $CATCHUP_RATE events/s came in: it delivered $cu_delivered events in $cu_secs s until lag_events read 0 (polled every ${POLL_S} s; the rate is up to the last sample still behind), $cu_rfs of them read from the store (default limits.fresh_cache); rates of the $CATCHUP_REPEAT runs: $cu_rates events/s, the median run shown. Baseline: bench/raw_lmdb -r reading that run's whole store after the daemon stopped (1024-row read transactions, bytes copied out, no decoding), not a live destination.")
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
if want query; then
    q_extra="\"stored\":$QUERY_EVENTS,\"rows\":$(jnum "$q_rows"),\"queries\":$QUERY_RUNS"
    row query-p50 "$q_p50" "$q_raw_p50" us lmdb "raw_lmdb -q stream index" "$q_extra"
    row query-p99 "$q_p99" "$q_raw_p99" us lmdb "raw_lmdb -q stream index" "$q_extra"
    notes+=("query: one stream's ${q_rows:-?} events among $QUERY_EVENTS stored (filled at $q_fill_rate events/s under sync none; the store took $q_disk_mib MiB of disk), QUERY {stream} through the admin socket with er_query, $QUERY_RUNS timed queries per run after 5 untimed, median of $REPEAT runs; slowest query: ${q_max:-?} us (raw ${q_raw_max:-?} us). Aim: p99 <= 5000 us.")
fi
if want trim; then
    t_extra="\"trim_events\":$TRIM_EVENTS,\"rate\":$TRIM_RATE,\"seconds\":$TRIM_SECONDS"
    row trim-publish-p99 "$tb_p99" "$ti_p99" us lmdb "same publisher, no trim" "$t_extra"
    row trim-publish-p50 "$tb_p50" "$ti_p50" us lmdb "same publisher, no trim" "$t_extra"
    row trim-publish-p99.9 "$tb_p999" "$ti_p999" us lmdb "same publisher, no trim" "$t_extra"
    row trim-seconds "$t_secs" "$TRIM_SECONDS" s lmdb "measured seconds" "$t_extra"
    notes+=("trim: $TRIM_REPEAT rounds of (fill $((TRIM_EVENTS + 100000)) events; idle run; run with max_events set $TRIM_EVENTS below what was stored), $TRIM_RATE events/s for ${TRIM_SECONDS} s after 1 s warm-up, ack durable; p99 per round idle: $t_p99s us, during the trim: $t_b99s us; achieved rate idle $ti_rate, trim $tb_rate events/s; lost idle $ti_lost, trim $tb_lost; seconds from the daemon's start until $TRIM_EVENTS were trimmed (measuring from 1 s on), and events trimmed by the end, per round: $t_all. Aim: trim p99 <= 2x idle p99.")
fi
if want tail; then
    tl_extra="\"rate\":$TAIL_RATE,\"seconds\":$TAIL_SECONDS"
    row tail-latency-p50 "$tl_p50" "$ta_p50" us lmdb "durable ack, same run" "$tl_extra"
    row tail-latency-p99 "$tl_p99" "$ta_p99" us lmdb "durable ack, same run" "$tl_extra"
    row tail-latency-p99.9 "$tl_p999" "$ta_p999" us lmdb "durable ack, same run" "$tl_extra"
    notes+=("tail: $TAIL_RATE events/s for $TAIL_SECONDS s after 1 s warm-up, one TAIL reader on the admin socket measuring ${tl_n:-?} rows per run, median of $REPEAT runs; a tail sends events once committed, so the durable ack of the same event is its floor.")
fi
if want node; then
    row node-batched "${nd_b:-}" "${nc_b:-}" events/s memory "eventctl publish --batch 64"
    row node-unbatched "${nd_u:-}" "${nc_u:-}" events/s memory "eventctl publish --batch 1"
    notes+=("node: $NODE_N events per run from one Node.js $(node --version 2>/dev/null || echo '(not installed)') process (eventrouter-client, ack durable, pipelined within max_inflight) and from eventctl publish, each on a fresh daemon, alternating, median of $REPEAT; runs (events/s): ${nd_runs:-none}.")
fi
notes+=("load average at the start $load_start, at the end $(cut -d' ' -f1-3 /proc/loadavg): other work on the machine moves every figure.")
for n in "${notes[@]}"; do echo "note: $n"; done
echo "JSON: $JSON ($machine)"
