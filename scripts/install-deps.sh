#!/usr/bin/env bash
# Installs what building and testing Titan needs on Debian/Ubuntu: libuv's headers (the Swift
# toolchain is expected on PATH) and, for the Python tests, pytest. Safe to run again.
set -euo pipefail
if ! pkg-config --exists libuv 2>/dev/null; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq libuv1-dev pkg-config >/dev/null
    pkg-config --modversion libuv >/dev/null
fi
if ! python3 -c "import pytest" 2>/dev/null; then
    python3 -m pip install --quiet pytest
fi
