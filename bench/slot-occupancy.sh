#!/usr/bin/env bash
# How full the slots stay on W1 (/bin/true, 2 slots): for one second in the middle of a run, the kernel's
# fork and exit events of the jobs (perf) give how long 0, 1 or 2 jobs were alive, and how long a slot
# stayed empty between a job's exit and the next job's start; /proc/stat gives the idle share of the
# cores. `floor` runs the same count through bench/capture-floor.c's posix_spawn loop, for comparison.
# Needs perf (Debian: apt-get install linux-perf) and a release build (swift build -c release).
#   bench/slot-occupancy.sh [standalone|separate|floor] [JOBS]      (default standalone, 4000)
set -euo pipefail
command -v perf >/dev/null || { echo "slot-occupancy: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
mode=${1:-standalone}
jobs=${2:-4000}
here=$(cd "$(dirname "$0")" && pwd)
bin=${PROC_BIN_DIR:-$here/../.build/release}
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
export PROC_COORDINATOR=127.0.0.1:$port
runner="" coordinator="" work=""
cleanup() {
    for pid in $work $runner $coordinator; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

common=(--data-dir "$dir/data" --listen "tcp://127.0.0.1:$port" --events "tcp://127.0.0.1:$((port + 1))" --log-level warning)
case $mode in
standalone)
    "$bin/proc-coordinator" start --standalone --slots 2 "${common[@]}" >/dev/null &
    runner=$! ;;
separate)
    "$bin/proc-coordinator" start "${common[@]}" >/dev/null &
    coordinator=$!
    "$bin/proc-agent" join "127.0.0.1:$port" --slots 2 --name occupancy --data-dir "$dir/agent" \
        --log-level warning 2>/dev/null &
    runner=$! ;;
floor)
    cc -O2 "$here/capture-floor.c" -o "$dir/capture-floor" ;;
*) echo "slot-occupancy: unknown mode '$mode' (standalone, separate or floor)" >&2; exit 2 ;;
esac

if [ "$mode" = floor ]; then
    # Its first half is the floor (output to /dev/null); the second captures output.
    "$dir/capture-floor" "$jobs" 1 >/dev/null &
    work=$!
    runner=$work
    sleep 0.3
else
    timeout 10 "$bin/proc" agents >/dev/null 2>&1 || true
    sleep 1
    for _ in $(seq "$jobs"); do echo '["/bin/true"]'; done > "$dir/batch"
    (timeout 300 "$bin/proc" submit --batch "$dir/batch" > "$dir/ids" &&
        timeout 300 "$bin/proc" wait - < "$dir/ids" > /dev/null) &
    work=$!
    sleep 0.5
fi
# The jobs' parent: every thread of the runner (the agent's, when separate).
ls "/proc/$runner/task" > "$dir/tids"
read -r _ u n s i w q sq _ < /proc/stat
perf record -q -a -e sched:sched_process_fork -e sched:sched_process_exit -o "$dir/perf.data" -- sleep 1 2>/dev/null
read -r _ u2 n2 s2 i2 w2 q2 sq2 _ < /proc/stat
wait "$work" || true
work=""
perf script -i "$dir/perf.data" -F time,event,trace 2>/dev/null > "$dir/events.txt"
python3 - "$dir/events.txt" "$dir/tids" "$mode" \
    $(((u2 + n2 + s2 + q2 + sq2) - (u + n + s + q + sq))) $(((i2 + w2) - (i + w))) <<'EOF'
import bisect, collections, re, sys
events, tids, mode, busy, idle = sys.argv[1], set(open(sys.argv[2]).read().split()), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
born, died, times = {}, {}, []
for line in open(events):
    m = re.search(r'([\d.]+):\s+sched:sched_process_fork: .* pid=(\d+) child_comm=\S+ child_pid=(\d+)', line)
    if m:
        times.append(float(m[1]))
        if m[2] in tids: born[m[3]] = float(m[1])
        continue
    m = re.search(r'([\d.]+):\s+sched:sched_process_exit: comm=\S+ pid=(\d+)', line)
    if m:
        times.append(float(m[1]))
        died[m[2]] = float(m[1])
if len(born) < 10:
    sys.exit(f'slot-occupancy: only {len(born)} jobs started while recording; is the run too short?')
start, end = min(times), max(times)
alive, count, last = collections.Counter(), 0, start
for t, step in sorted([(b, 1) for b in born.values()] + [(died.get(p, end), -1) for p in born]):
    alive[max(0, count)] += t - last
    last, count = t, count + step
alive[max(0, count)] += end - last
starts = sorted(born.values())
gaps = sorted(starts[i] - died[p] for p in born if p in died for i in [bisect.bisect_left(starts, died[p])] if i < len(starts))
span = end - start
print(f'{mode}: {len(born)} jobs started in {span:.3f} s ({len(born) / span:.0f}/s, perf recording)')
print('  jobs alive: ' + ', '.join(f'{k}: {v / span:.0%}' for k, v in sorted(alive.items())))
if gaps:
    print(f'  a job\'s exit to the next start: p50 {gaps[len(gaps) // 2] * 1e6:.0f} µs, p90 '
          f'{gaps[int(len(gaps) * 0.9)] * 1e6:.0f} µs, mean {sum(gaps) / len(gaps) * 1e6:.0f} µs')
print(f'  cores idle: {idle / max(1, busy + idle):.0%}')
EOF
