#!/usr/bin/env bash
# Runs every test on a fresh Debian machine: installs libuv and pytest, builds, smoke-tests the
# local cluster script with the debug build, runs the Swift test suites, then the Python ones
# (v1 compatibility with the original Titan protocol) against the debug binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
BUILD=debug TITAN_PORT=${TITAN_SMOKE_PORT:-19090} scripts/local-cluster.sh --no-wait
swift test --skip-build
TITAN_BIN_DIR="$PWD/.build/debug" python3 -m pytest -q python/compat_tests
