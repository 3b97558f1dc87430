#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds every product (the integration tests run the
# real binaries), then runs every test. Usage: ./scripts/test.sh [extra `swift test` arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/bootstrap.sh
# Simulated hosts left by an earlier run that was killed (the fault tests name them pHEX-…).
if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null 2>&1; then
    for prefix in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^p[0-9a-f]+-hub$' | sed 's/-hub$//'); do
        deploy/netns.sh down "$prefix" || true
    done
fi
swift build --build-tests
swift test --skip-build "$@"
