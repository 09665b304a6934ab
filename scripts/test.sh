#!/usr/bin/env bash
# Runs every test on a fresh Debian machine: installs libuv, builds, smoke-tests the local
# cluster script with the debug build, then runs the Swift test suites.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
BUILD=debug TITAN_PORT=${TITAN_SMOKE_PORT:-19090} scripts/local-cluster.sh --no-wait
swift test --skip-build
