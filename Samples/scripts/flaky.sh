#!/usr/bin/env bash
# Fails the first time it runs in this DAG, succeeds after.
set -euo pipefail
n=$(( $(cat attempts.txt 2>/dev/null || echo 0) + 1 ))
echo "$n" > attempts.txt
if [ "$n" -lt 2 ]; then
  echo "attempt $n: failing on purpose" >&2
  exit 1
fi
echo "attempt $n: ok"
