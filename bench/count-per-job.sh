#!/usr/bin/env bash
# Mallocs and hash finalizations per job in the coordinator under proc-bench's simulated agents, counted
# with uprobes: numbers that do not move with the machine's hour as time does. Per job is the difference
# between a run of JOBS and one of 3 × JOBS, divided by 2 × JOBS, so that the agents' HELLOs and the
# coordinator's start cancel out. Needs perf (Debian: apt-get install linux-perf), root (uprobes) and a
# release build (swift build -c release).
#   bench/count-per-job.sh [JOBS]      (default 20000)
set -euo pipefail
command -v perf >/dev/null || { echo "count-per-job: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
# Resolved: proc-bench starts the coordinator by its real path, which pgrep must match.
bin=$(readlink -f "${PROC_BIN_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.build/release}")
jobs=${1:-20000}
libc=$(ldd "$bin/proc-coordinator" | awk '$1 ~ /^libc\.so/ {print $3}')
swiftcore=$(ldd "$bin/proc-coordinator" | awk '$1 ~ /^libswiftCore\.so/ {print $3}')
# Hasher._finalize: every Dictionary and Set lookup by a hashable key ends in it.
perf probe -q -x "$libc" -a 'procmalloc=malloc' 2>/dev/null || true
perf probe -q -x "$swiftcore" -a 'prochash=$ss6HasherV9_finalizeSiyF' 2>/dev/null || true
trap 'perf probe -q -d "probe_libc:procmalloc" -d "probe_libswiftCore:prochash" 2>/dev/null || true' EXIT
out=$(mktemp -d)

# Prints "MALLOCS HASHES" for one run of `count` jobs.
counts() {
    local count=$1 pid="" b s
    "$bin/proc-bench" --section agents --agent-jobs "$count" > "$out/bench.txt" 2>&1 &
    b=$!
    for _ in $(seq 1 200); do
        pid=$(pgrep -f "$bin/proc-coordinator start" | head -1) && [ -n "$pid" ] && break
        sleep 0.05
    done
    [ -n "$pid" ] || { kill $b 2>/dev/null; echo "count-per-job: the coordinator did not start" >&2; exit 1; }
    perf stat -e probe_libc:procmalloc,probe_libswiftCore:prochash -p "$pid" -x, -o "$out/stat.txt" &
    s=$!
    wait $b || { cat "$out/bench.txt" >&2; kill -INT $s 2>/dev/null; exit 1; }
    kill -INT $s 2>/dev/null || true
    wait $s 2>/dev/null || true
    echo "$(grep procmalloc "$out/stat.txt" | cut -d, -f1) $(grep prochash "$out/stat.txt" | cut -d, -f1)"
}

first=$(counts "$jobs")
third=$(counts $((3 * jobs)))
read -r m1 h1 <<< "$first"
read -r m3 h3 <<< "$third"
awk -v m1="$m1" -v h1="$h1" -v m3="$m3" -v h3="$h3" -v n=$((2 * jobs)) \
    'BEGIN { printf "per job in the coordinator: %.1f mallocs, %.1f hash finalizations\n", (m3 - m1) / n, (h3 - h1) / n }'
rm -rf "$out"
