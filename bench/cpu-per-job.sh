#!/usr/bin/env bash
# CPU time per job of the coordinator (and of the agent, as separate processes) on W1: 2000 × /bin/true,
# 2 slots, the whole user path (proc submit --batch, proc wait). Steadier than wall-clock ratios on a
# busy 2-core machine, so it is what docs/performance.md uses to judge a change to the hot path.
#   bench/cpu-per-job.sh [standalone|separate] [JOBS]     (after swift build -c release)
#   PREFETCH=0 bench/cpu-per-job.sh separate              (the agent's --prefetch; default its own)
#   AGENT_ARGS="--result-hold-ms 0" bench/cpu-per-job.sh separate   (more flags for the agent)
set -euo pipefail
mode=${1:-standalone}
jobs=${2:-2000}
bin=${PROC_BIN_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.build/release}
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
export PROC_COORDINATOR=127.0.0.1:$port
coordinator="" agent=""
cleanup() {
    [ -n "$agent" ] && kill "$agent" 2>/dev/null || true
    [ -n "$coordinator" ] && kill "$coordinator" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
for _ in $(seq "$jobs"); do echo '["/bin/true"]'; done > "$dir/batch"
common=(--data-dir "$dir/data" --listen "tcp://127.0.0.1:$port" --events "tcp://127.0.0.1:$((port + 1))" --log-level warning)
if [ "$mode" = standalone ]; then
    "$bin/proc-coordinator" start --standalone --slots 2 "${common[@]}" >/dev/null &
    coordinator=$!
else
    "$bin/proc-coordinator" start "${common[@]}" >/dev/null &
    coordinator=$!
    "$bin/proc-agent" join "127.0.0.1:$port" --slots 2 ${PREFETCH:+--prefetch "$PREFETCH"} --name bench \
        --data-dir "$dir/agent" --log-level warning ${AGENT_ARGS:-} 2>/dev/null &
    agent=$!
fi
timeout 10 "$bin/proc" agents >/dev/null 2>&1 || true
sleep 1
ticks() { [ -n "$1" ] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0; }
c0=$(ticks "$coordinator"); a0=$(ticks "$agent"); t0=$(date +%s.%N)
timeout 300 "$bin/proc" submit --batch "$dir/batch" > "$dir/ids"
timeout 300 "$bin/proc" wait - < "$dir/ids" > /dev/null
t1=$(date +%s.%N); c1=$(ticks "$coordinator"); a1=$(ticks "$agent")
hz=$(getconf CLK_TCK)
python3 -c "
w = $t1 - $t0
print(f'$mode: {$jobs} jobs in {w:.3f} s ({w / $jobs * 1e6:.0f} µs/job); CPU per job: coordinator '
      f'{($c1 - $c0) / $hz / $jobs * 1e6:.0f} µs' + ('' if '$mode' == 'standalone' else f', agent {($a1 - $a0) / $hz / $jobs * 1e6:.0f} µs'))
"
