#!/usr/bin/env bash
# Installs what building Titan needs on Debian/Ubuntu: libuv's headers (the Swift toolchain is
# expected on PATH). Safe to run again.
set -euo pipefail
if pkg-config --exists libuv 2>/dev/null; then exit 0; fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq libuv1-dev pkg-config >/dev/null
pkg-config --modversion libuv >/dev/null
