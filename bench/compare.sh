#!/usr/bin/env bash
# proc beside its peers on this machine: the floor (posix_spawn + waitpid), proc in single-host mode and as
# separate processes, xargs -P and GNU parallel, all on W1–W3, interleaved round by round in one run
# (proc-bench --peers), then the rest of proc-bench's measurements. Installs GNU parallel if missing.
#   bench/compare.sh            # 3 rounds
#   bench/compare.sh --quick    # a smoke run
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
if ! command -v parallel >/dev/null 2>&1; then
    echo "compare: installing GNU parallel" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends parallel >/dev/null
fi
swift build -c release >/dev/null
exec .build/release/proc-bench --peers "$@"
