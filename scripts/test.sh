#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds every product (the integration tests run the
# real binaries), then runs every test. Usage: ./scripts/test.sh [extra `swift test` arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/bootstrap.sh
swift build --build-tests
swift test --skip-build "$@"
