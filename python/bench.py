#!/usr/bin/env python3
"""Titan Python SDK benchmark: job latency and throughput against a real cluster.

1. Latency: one trivial job (``/bin/true``) at a time, submit -> completion event (the job
   is submitted with ``follow`` and the final event is pushed by the master); p50/p90/p99
   over ``--runs`` jobs.
2. Throughput: ``--jobs`` trivial jobs submitted at once (pipelined, all in flight) and
   awaited; jobs per second, best and median of ``--rounds`` rounds.

By default it starts its own cluster (a master and ``--workers`` workers with ``--slots``
slots each) from the release binaries in ``<repo>/.build/release`` if they exist, else
``$TITAN_BIN_DIR``, else ``<repo>/.build/debug``, and says which. ``--master HOST:PORT``
uses a running cluster instead.

    python3 python/bench.py [--runs 300] [--jobs 1000] [--workers 2 --slots 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "tests"))

from cluster import REPO, start_cluster  # noqa: E402

from titan_sdk import JobSpec, JobState, TitanClient  # noqa: E402


def pick_binaries(explicit: str | None) -> tuple[str, str]:
    """(directory, label) of the binaries to benchmark."""
    if explicit:
        return explicit, "given"
    release = os.path.join(REPO, ".build", "release")
    if os.access(os.path.join(release, "titan-node"), os.X_OK):
        return release, "release"
    env = os.environ.get("TITAN_BIN_DIR")
    if env:
        return env, "TITAN_BIN_DIR"
    return os.path.join(REPO, ".build", "debug"), "debug"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def latency(client: TitanClient, runs: int) -> list[float]:
    spec = JobSpec(["/bin/true"])
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        job_id = client.submit(spec, follow=True)
        outcome = client.wait(job_id, timeout=30)
        samples.append(time.perf_counter() - start)
        assert outcome.state is JobState.COMPLETED, outcome
    return samples


def throughput(client: TitanClient, jobs: int) -> float:
    spec = JobSpec(["/bin/true"])
    start = time.perf_counter()
    ids = client.submit_many([spec] * jobs, follow=True)
    outcomes = client.wait_all(ids, timeout=300)
    elapsed = time.perf_counter() - start
    failed = [o for o in outcomes.values() if o.state is not JobState.COMPLETED]
    assert not failed, failed[:3]
    return jobs / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", help="use a running master HOST:PORT instead of starting a cluster")
    parser.add_argument("--bin-dir", help="directory of titan-node (default: release, else $TITAN_BIN_DIR, else debug)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--runs", type=int, default=300, help="latency samples")
    parser.add_argument("--jobs", type=int, default=1000, help="jobs per throughput round")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds")
    args = parser.parse_args(argv)

    cluster = None
    if args.master:
        address, label = args.master, "running cluster"
    else:
        bin_dir, label = pick_binaries(args.bin_dir)
        cluster = start_cluster(workers=args.workers, slots=args.slots, binaries=bin_dir)
        address = cluster.address
        print(f"cluster: master {address}, {args.workers} workers x {args.slots} slots, "
              f"{label} binaries ({bin_dir})")
    try:
        # Its own cluster: that master's local credential; a running one: the usual discovery.
        token_file = cluster.token_file if cluster is not None else None
        with TitanClient(address, request_timeout=300, token_file=token_file) as client:
            latency(client, 20)  # warm up: connections, caches, the workers' first spawns
            samples = latency(client, args.runs)
            ms = [s * 1000 for s in samples]
            print(f"latency, submit -> completion event, {args.runs} jobs one at a time: "
                  f"p50 {percentile(ms, 0.5):.2f} ms, p90 {percentile(ms, 0.9):.2f} ms, "
                  f"p99 {percentile(ms, 0.99):.2f} ms, mean {statistics.mean(ms):.2f} ms")
            rates = [throughput(client, args.jobs) for _ in range(args.rounds)]
            print(f"throughput, {args.jobs} jobs in flight, submitted and awaited: "
                  f"best {max(rates):,.0f} jobs/s, median {statistics.median(rates):,.0f} jobs/s "
                  f"(rounds: {', '.join(f'{r:,.0f}' for r in rates)})")
    finally:
        if cluster is not None:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
