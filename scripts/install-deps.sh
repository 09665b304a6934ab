#!/usr/bin/env bash
# Installs what building and testing Titan needs on Debian/Ubuntu: libuv's and OpenSSL's headers
# (the Swift toolchain is expected on PATH), the openssl tool and nftables (the TLS and multi-host
# tests use them) and, for the Python tests, pytest. Safe to run again.
set -euo pipefail
if ! pkg-config --exists libuv openssl 2>/dev/null || ! command -v openssl >/dev/null || ! command -v nft >/dev/null; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq libuv1-dev libssl-dev openssl nftables pkg-config >/dev/null
    pkg-config --modversion libuv openssl >/dev/null
fi
if ! python3 -c "import pytest" 2>/dev/null; then
    python3 -m pip install --quiet pytest
fi
