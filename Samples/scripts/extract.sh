#!/usr/bin/env bash
# Writes the data the diamond's branches read, in the DAG's shared directory.
set -euo pipefail
printf 'the quick brown fox\njumps over\nthe lazy dog\n' > data.txt
echo "extracted $(wc -l < data.txt) lines into $PWD"
