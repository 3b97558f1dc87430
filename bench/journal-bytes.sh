#!/usr/bin/env bash
# Journal bytes per job: a single-host cluster runs N jobs (default 2,000 × `sh -c 'echo N'`, each with
# an argv, an output line and three events), stops, and the journal is measured after a VACUUM (the
# table's bytes, not the WAL's or free pages).
#   bench/journal-bytes.sh [BIN_DIR] [N]      # BIN_DIR: where proc-coordinator and proc are (.build/release)
set -euo pipefail
bin=${1:-$(cd "$(dirname "$0")/.." && pwd)/.build/release}
count=${2:-2000}
work=$(mktemp -d /tmp/proc-journal-bytes.XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin/proc-coordinator" start --standalone --slots 2 --listen tcp://127.0.0.1:0 --events tcp://127.0.0.1:0 \
    --data-dir "$work/data" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q ready "$work/out" && break; sleep 0.1; done
control=$(sed -n 's/.*control=tcp:\/\/\([^ ]*\).*/\1/p' "$work/out")
seq 1 "$count" | sed 's/.*/["sh", "-c", "echo &"]/' >"$work/batch"
"$bin/proc" submit --coordinator "$control" --batch "$work/batch" | "$bin/proc" wait --coordinator "$control" --quiet - || true
kill -TERM "$pid"
wait "$pid" || true
sqlite3 "$work/data/journal.sqlite" "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;" >/dev/null
bytes=$(stat -c %s "$work/data/journal.sqlite")
tables=$(sqlite3 "$work/data/journal.sqlite" "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name" | tr '\n' ' ')
echo "journal: $bytes bytes for $count jobs: $((bytes / count)) bytes per job (tables: $tables)"
