"""Prints the N most common words counted by count.py."""
import json
import sys

with open("counts.json", encoding="utf-8") as f:
    counts = json.load(f)
top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: int(sys.argv[1])]
print("top: " + ", ".join(f"{word}={n}" for word, n in top))
