#!/usr/bin/env bash
# perf profile of the coordinator under proc-bench's 1,000 simulated agents: the whole system is recorded
# for a few seconds in the middle of the run, then the time per thread and the coordinator's heaviest
# functions (with their callees) are printed. Needs perf (Debian: apt-get install linux-perf) and a
# release build (swift build -c release).
#   bench/profile-agents.sh [SECONDS_BEFORE] [SECONDS_RECORDED]     (default 5 and 5)
set -euo pipefail
command -v perf >/dev/null || { echo "profile-agents: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
bin=${PROC_BIN_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.build/release}
delay=${1:-5}
seconds=${2:-5}
out=$(mktemp -d)
"$bin/proc-bench" --section agents > "$out/bench.txt" 2>&1 &
bench=$!
trap 'kill $bench 2>/dev/null || true; wait $bench 2>/dev/null || true' EXIT
sleep "$delay"
perf record -F 1000 -a --call-graph dwarf,16384 -o "$out/perf.data" -- sleep "$seconds" 2>/dev/null
wait $bench || true
trap - EXIT
grep agents "$out/bench.txt" || cat "$out/bench.txt"
echo "--- threads (share of both cores)"
perf report -i "$out/perf.data" --sort pid,comm --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -8
echo "--- the coordinator (children included, share of both cores)"
perf report -i "$out/perf.data" --comm proc-coord --children --sort symbol --stdio -g none 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | awk '$1+0 >= 1.5' | cut -c1-160 | swift demangle --simplified \
    | grep -v -E 'thunk|partial apply|DispatchQueue|_dispatch|withUnsafe' | head -50
echo "perf data: $out/perf.data"
