#!/usr/bin/env bash
# Runs the Python SDK's test suite against real Titan binaries.
#
#   TITAN_BIN_DIR=/path/to/bin python/run-tests.sh [pytest args...]
#
# TITAN_BIN_DIR holds titan-node and titan (default: <repo>/.build/debug). The suite starts its
# own master and two workers on 127.0.0.1 (free ports), and stops them at the end.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
export TITAN_BIN_DIR="${TITAN_BIN_DIR:-$repo/.build/debug}"
if [[ ! -x "$TITAN_BIN_DIR/titan-node" || ! -x "$TITAN_BIN_DIR/titan" ]]; then
    echo "run-tests.sh: no titan-node/titan in $TITAN_BIN_DIR (build first, or set TITAN_BIN_DIR)" >&2
    exit 2
fi
python="${PYTHON:-python3}"
if ! "$python" -c 'import pytest' 2>/dev/null; then
    echo "run-tests.sh: pytest is missing (pip install pytest)" >&2
    exit 2
fi
cd "$here"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m pytest -q -p no:cacheprovider "$@" tests
