#!/usr/bin/env bash
# Sums every SHARDS-th number starting at SHARD.
set -euo pipefail
awk -v shard="$SHARD" -v shards="$SHARDS" 'NR % shards == shard { s += $1 } END { print s }' numbers.txt > "sum-$SHARD.txt"
echo "shard $SHARD: $(cat "sum-$SHARD.txt")"
