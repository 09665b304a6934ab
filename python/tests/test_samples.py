"""Every sample in Samples/python runs against the test cluster and reaches its result."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cluster import REPO

SAMPLES = os.path.join(REPO, "Samples", "python")


def run_sample(cluster, name: str, *args: str) -> str:
    done = subprocess.run([sys.executable, os.path.join(SAMPLES, name), *args], env=cluster.env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_samples_are_documented() -> None:
    names = sorted(n for n in os.listdir(SAMPLES) if n.endswith(".py"))
    assert names == ["dynamic_branch.py", "kv_handoff.py", "map_reduce.py", "self_healing_retry.py"]
    for name in names:
        text = open(os.path.join(SAMPLES, name)).read()
        assert '"""' in text.split("\n", 2)[1] and "def main(" in text and "TITAN_MASTER" in text


def test_map_reduce(cluster) -> None:
    out = run_sample(cluster, "map_reduce.py", "--shards", "3")
    assert "3 mappers -> reduce" in out and "total words: 49 (expected 49)" in out and "the=9" in out


@pytest.mark.parametrize("rows, branch", [("1,x,3", "clean+train"), ("1,2,3", "train")])
def test_dynamic_branch(cluster, rows: str, branch: str) -> None:
    out = run_sample(cluster, "dynamic_branch.py", "--rows", rows)
    assert f"branch: {branch} ->" in out and "COMPLETED" in out
    assert ("[clean] kept 2 rows" in out) == (branch == "clean+train")
    assert "trained on" in out


def test_self_healing_retry(cluster) -> None:
    out = run_sample(cluster, "self_healing_retry.py")
    assert "COMPLETED (exit 0)" in out and "attempt 3: fetched 1234 records" in out
    assert "round 3: batch size 25 -> COMPLETED" in out and "healed: 4 batches of 25" in out


def test_kv_handoff(cluster) -> None:
    out = run_sample(cluster, "kv_handoff.py")
    assert "[enrich] enriched: total 50" in out and "result in KV: total=50, published=True" in out
