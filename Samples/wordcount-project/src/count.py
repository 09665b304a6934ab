"""Counts the words of a text file into counts.json (in the DAG directory, for the next job)."""
import collections
import json
import sys

with open(sys.argv[1], encoding="utf-8") as f:
    counts = collections.Counter(f.read().lower().split())
with open("counts.json", "w", encoding="utf-8") as f:
    json.dump(counts, f)
print(f"counted {sum(counts.values())} words, {len(counts)} distinct")
