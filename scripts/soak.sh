#!/usr/bin/env bash
# Soak run (not in CI): a cluster on simulated hosts (deploy/netns.sh), a few thousand jobs submitted in
# waves, and an agent killed (kill -9) and restarted at random every few seconds, for MINUTES minutes.
# Ends with the invariant check over the journal's event history: every accepted job has exactly one
# final state, no duplicate final events, no gap in seq, a result for every completed job, lost = 0.
#
#   scripts/soak.sh [MINUTES (10)] [JOBS (4000)]
# Needs root (network namespaces). Uses the debug build (swift build) unless PROC_BIN_DIR is set.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-10}
jobs=${2:-4000}
agents=3
./scripts/bootstrap.sh
if [ -z "${PROC_BIN_DIR:-}" ]; then swift build >/dev/null; PROC_BIN_DIR=$(swift build --show-bin-path); fi
bin=$PROC_BIN_DIR
prefix="soak$$"
prefix=${prefix:0:8}
work=$(mktemp -d /tmp/proc-soak.XXXXXX)
declare -A agent_pid=()
coordinator_pid=""

cleanup() {
    for pid in "${agent_pid[@]}" $coordinator_pid; do kill -KILL "$pid" 2>/dev/null || true; done
    deploy/netns.sh down "$prefix" || true
    echo "soak: logs kept in $work"
}
trap cleanup EXIT INT TERM

deploy/netns.sh up "$prefix" "$agents"
on() { local host=$1; shift; ip netns exec "$prefix-$host" "$@"; }
proc() { on c env PROC_COORDINATOR=127.0.0.1:5555 "$bin/proc" "$@"; }

# Started directly (not through a function), so that $! is the process itself and kill -9 reaches it.
# --insecure: the simulated hosts' network exists only inside these namespaces (the fault tests in the
# suite run the same setup with CURVE keys).
ip netns exec "$prefix-c" "$bin/proc-coordinator" start --listen 'tcp://*:5555' --events 'tcp://*:5556' --data-dir "$work/data" \
    --heartbeat-ms 250 --reconnect-grace 15 --max-attempts 10 --insecure \
    >"$work/coordinator.out" 2>"$work/coordinator.log" &
coordinator_pid=$!
for _ in $(seq 100); do grep -q ready "$work/coordinator.out" && break; sleep 0.1; done

start_agent() {  # N
    ip netns exec "$prefix-a$1" "$bin/proc-agent" join 10.213.0.1 --name "a$1" --slots 4 --reconnect-max 1 \
        --data-dir "$work/agent-$1" >>"$work/agent-$1.out" 2>>"$work/agent-$1.log" &
    agent_pid[$1]=$!
}
for i in $(seq 1 $agents); do start_agent "$i"; done

# Jobs: each sleeps 0.5–2.4 s and reports its number as its result; waves come faster than the agents
# finish them, so agents are busy when they are killed.
end=$(( $(date +%s) + minutes * 60 ))
waves=$(( minutes * 6 ))
per_wave=$(( (jobs + waves - 1) / waves ))
submitted=0 kills=0
: >"$work/ids"
while [ "$(date +%s)" -lt "$end" ]; do
    if [ "$submitted" -lt "$jobs" ]; then
        for n in $(seq $((submitted + 1)) $((submitted + per_wave))); do
            tenths=$(( n % 20 + 5 ))
            echo "[\"sh\", \"-c\", \"sleep $((tenths / 10)).$((tenths % 10)); echo '{\\\"result\\\": $n}' >&3\"]"
        done >"$work/wave"
        proc submit --batch "$work/wave" >>"$work/ids"
        submitted=$((submitted + per_wave))
    fi
    sleep $(( RANDOM % 5 + 3 ))
    victim=$(( RANDOM % agents + 1 ))
    kill -KILL "${agent_pid[$victim]}" 2>/dev/null || true
    wait "${agent_pid[$victim]}" 2>/dev/null || true
    kills=$((kills + 1))
    sleep 0.$(( RANDOM % 9 + 1 ))
    start_agent "$victim"
    echo "soak: $(( (end - $(date +%s)) / 60 )) min left, $(wc -l <"$work/ids") jobs submitted, $kills agent kills"
done

echo "soak: waiting for every job"
proc wait - <"$work/ids" >"$work/wait.out" || true
proc events --json --no-follow >"$work/history.jsonl"
python3 - "$work/ids" "$work/history.jsonl" "$kills" <<'PY'
import json, sys
ids = [l.strip() for l in open(sys.argv[1]) if l.strip()]
events = [json.loads(l) for l in open(sys.argv[2])]
kills = int(sys.argv[3])
seqs = [e["seq"] for e in events]
problems = []
if seqs != list(range(1, len(seqs) + 1)):
    problems.append("gap or disorder in seq")
want = set(ids)
final, submitted = {}, {}
retries = late = lost = completed = 0
for e in events:
    j = e.get("job_id")
    if j not in want: continue
    t = e["type"]
    if t == "job.submitted": submitted[j] = submitted.get(j, 0) + 1
    elif t in ("job.completed", "job.failed", "job.cancelled"): final.setdefault(j, []).append(e)
    elif t == "job.retrying": retries += 1
    elif t == "job.late_result": late += 1
for j in ids:
    if submitted.get(j) != 1: problems.append(f"{j} submitted {submitted.get(j, 0)} times")
    ends = final.get(j, [])
    if len(ends) != 1: problems.append(f"{j} has {len(ends)} final events"); continue
    e = ends[0]
    if e["type"] == "job.completed":
        completed += 1
        if "result" not in e: problems.append(f"{j} completed without its result")
    if e.get("reason") == "lost": lost += 1
if lost: problems.append(f"{lost} jobs lost")
print(f"soak: jobs {len(ids)}, agent kills {kills}, completed {completed}, retries {retries}, "
      f"late duplicates {late}, lost {lost}, events {len(events)}")
for p in problems[:20]: print("soak: PROBLEM:", p)
sys.exit(1 if problems else 0)
PY
