#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts a single-host cluster and runs a demo batch
# (a few dozen commands and function calls, some failing, two reporting progress), showing the events as
# they happen and a summary at the end. Everything it starts is stopped when it ends (or on Ctrl-C).
#
# Ports: PROC_DEMO_PORT (default 5555) for control, +1 for events.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/bootstrap.sh
if [ -n "${PROC_BIN_DIR:-}" ]; then
    bin=$PROC_BIN_DIR   # already built (the test suite runs this script this way)
else
    echo "== building (debug) =="
    swift build --product proc-coordinator >/dev/null
    swift build --product proc >/dev/null
    swift build --product proc-example-functions >/dev/null
    bin=$(swift build --show-bin-path)
fi

port=${PROC_DEMO_PORT:-5555}
events_port=$((port + 1))
work=$(mktemp -d /tmp/proc-demo.XXXXXX)
coordinator_pid=""
events_pid=""
cleanup() {
    [ -n "$events_pid" ] && kill "$events_pid" 2>/dev/null || true
    if [ -n "$coordinator_pid" ]; then
        kill -TERM "$coordinator_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$coordinator_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$coordinator_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "== starting a single-host cluster: proc-coordinator start --standalone --slots 4 --functions proc-example-functions =="
"$bin/proc-coordinator" start --standalone --slots 4 --functions "$bin/proc-example-functions" \
    --listen "tcp://127.0.0.1:$port" --events "tcp://127.0.0.1:$events_port" \
    --data-dir "$work/data" >"$work/coordinator.out" 2>"$work/coordinator.log" &
coordinator_pid=$!
for _ in $(seq 100); do
    grep -q ready "$work/coordinator.out" 2>/dev/null && break
    kill -0 "$coordinator_pid" 2>/dev/null || { cat "$work/coordinator.log" >&2; exit 1; }
    sleep 0.1
done
cat "$work/coordinator.out"
export PROC_COORDINATOR="127.0.0.1:$port"

echo "== events (proc events) =="
"$bin/proc" events &
events_pid=$!
sleep 0.5

# The batch: 30 quick commands, 4 that fail in different ways, 1 that reports progress on fd 3; then
# function calls (examples/functions): 8 squares, one that throws, one that crashes its host, one that
# reports progress.
{
    for i in $(seq 1 30); do
        echo "{\"argv\": [\"sh\", \"-c\", \"sleep 0.$((i % 3)); echo job $i\"], \"name\": \"echo-$i\"}"
    done
    echo '{"argv": ["sh", "-c", "echo oops >&2; exit 3"], "name": "exits-3"}'
    echo '{"argv": ["sh", "-c", "kill -9 $$"], "name": "killed"}'
    echo '{"argv": ["/no/such/program"], "name": "not-found"}'
    echo '{"argv": ["sleep", "10"], "timeout": 1, "name": "too-slow"}'
    echo '{"argv": ["sh", "-c", "i=0; for p in 0.2 0.4 0.6 0.8 1.0; do i=$((i+1)); echo \"{\\\"progress\\\": $p, \\\"message\\\": \\\"step $i of 5\\\"}\" >&3; sleep 0.2; done; echo \"{\\\"result\\\": {\\\"frames\\\": 5}}\" >&3"], "name": "with-progress"}'
    for x in $(seq 1 8); do echo "{\"function\": \"square\", \"args\": {\"x\": $x}, \"name\": \"square-$x\"}"; done
    echo '{"function": "fail", "args": {"message": "no such frame"}, "name": "throws"}'
    echo '{"function": "crash", "args": {"how": "trap"}, "name": "crashes"}'
    echo '{"function": "progress", "args": {"steps": 4, "pauseMilliseconds": 150}, "name": "function-progress"}'
} >"$work/batch.jsonl"

ids=$("$bin/proc" submit --batch "$work/batch.jsonl")
count=$(echo "$ids" | wc -l)
echo "== submitted $count jobs (proc submit --batch) =="
set +e
echo "$ids" | "$bin/proc" wait - >/dev/null
set -e
sleep 0.3
kill "$events_pid" 2>/dev/null || true
wait "$events_pid" 2>/dev/null || true
events_pid=""

echo
echo "== summary (proc status) =="
"$bin/proc" status --limit 40
echo
echo "== one failed job (proc result) =="
"$bin/proc" result "$(echo "$ids" | sed -n 31p)"
echo
echo "== the job that reported progress =="
"$bin/proc" result "$(echo "$ids" | sed -n 35p)"
echo
echo "== a function call: square(7) (proc result) =="
"$bin/proc" result "$(echo "$ids" | sed -n 42p)"
echo
echo "== a function that threw =="
"$bin/proc" result "$(echo "$ids" | sed -n 44p)"
