#!/usr/bin/env bash
# Runs every test on a fresh Debian machine: installs libuv and pytest, builds, smoke-tests the
# local cluster script with the debug build, runs the Swift test suites, then the Python ones
# against the debug binaries: the Python SDK's suite and the original Titan protocol's.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
BUILD=debug TITAN_PORT=${TITAN_SMOKE_PORT:-19090} scripts/local-cluster.sh --no-wait
# Bounded, so a hung test fails the run instead of stalling it. The fuzz targets run 1 s each
# from a fixed seed here (the same inputs every run: a CI result does not depend on luck); run
# them longer or from other seeds with TITAN_FUZZ_SECONDS / TITAN_FUZZ_SEED, or scripts/fuzz.sh.
TITAN_FUZZ_SEED="${TITAN_FUZZ_SEED:-0x7174616e}" timeout 1200 swift test --skip-build
TITAN_BIN_DIR="$PWD/.build/debug" timeout 600 python/run-tests.sh
TITAN_BIN_DIR="$PWD/.build/debug" timeout 300 python3 -m pytest -q -p no:cacheprovider python/compat_tests
