#!/usr/bin/env python3
"""Self-healing work: retries for flaky steps, and an agent loop that fixes a failing job.

1. A flaky step (fails its first two attempts, like a network blip) with ``retries=3``: the
   master retries it with backoff and it completes on attempt 3, with nobody watching.
2. An agent loop: a job fails for a reason retries cannot fix (a bad parameter). The client
   reads how it failed (exit code and output), derives a fix, and re-submits the job with it,
   up to a few rounds -- the shape of an LLM agent repairing its own tool calls.

    TITAN_MASTER=127.0.0.1:9090 python3 Samples/python/self_healing_retry.py
"""

from __future__ import annotations

import os
import sys
import uuid

try:
    import titan_sdk  # noqa: F401
except ImportError:  # running from a checkout: use the SDK next to the samples
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from titan_sdk import TitanClient, TitanJob

FLAKY = """\
import os, sys
from titan_sdk import TitanClient
attempt = TitanClient().store_incr(os.environ["FLAKY_KEY"])
if attempt < 3:
    print(f"attempt {attempt}: upstream timed out", file=sys.stderr)
    sys.exit(75)
print(f"attempt {attempt}: fetched 1234 records")
"""

# Divides a budget into batches; a batch size of 0 crashes, a size above the budget is refused.
BATCHES = """\
import sys
budget, size = int(sys.argv[1]), int(sys.argv[2])
if size > budget:
    print(f"error: batch size {size} exceeds budget {budget}", file=sys.stderr)
    sys.exit(2)
print(f"{budget // size} batches of {size}")
"""


def propose_fix(size: int, budget: int, exit_code: int | None, output: str) -> int:
    """The 'agent': reads the failure and proposes a new batch size (a real agent would ask a
    model; the loop around it is the same)."""
    if "ZeroDivisionError" in output:
        return budget * 2  # first guess: everything in one batch (too big, as it turns out)
    if "exceeds budget" in output:
        return max(1, budget // 4)
    return size + 1


def main(argv: list[str] | None = None) -> int:
    with TitanClient() as client:  # $TITAN_MASTER
        # 1. Retries: the master does the healing.
        flaky = TitanJob("fetch", script_content=FLAKY, filename="fetch.py", retries=3, retry_delay=0.2,
                         env={"FLAKY_KEY": f"sample:flaky:{uuid.uuid4().hex}"}, ship_sdk=True)
        outcome = client.run(flaky, timeout=120)
        print(f"flaky step: {outcome.describe()}")
        print("  " + client.fetch_logs(outcome.id).strip().replace("\n", "\n  "))
        if not outcome.ok or outcome.attempts != 3:
            return 1

        # 2. An agent loop: the client does the healing.
        budget, size = 100, 0
        for round in range(1, 5):
            job = TitanJob("batches", script_content=BATCHES, filename="batches.py", args=[str(budget), str(size)])
            result = client.run(job, timeout=60)
            output = client.fetch_logs(result.id).strip()
            print(f"round {round}: batch size {size} -> {result.state.name} (exit {result.exit_code})")
            if result.ok:
                print(f"  healed: {output}")
                return 0
            size = propose_fix(size, budget, result.exit_code, output)
            print(f"  failure: {output.splitlines()[-1]}\n  fix: retry with batch size {size}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
