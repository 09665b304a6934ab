#!/usr/bin/env python3
"""A dynamic branch: a job's result decides the next steps, added to its own running DAG.

The DAG starts with one job, ``inspect``, which scores a dataset. Depending on the score it
calls ``extend_dag`` from inside the job (``TITAN_DAG_ID`` names its DAG) to add either
``clean`` then ``train`` (a dirty dataset) or ``train`` alone. The added jobs depend on
``inspect`` and read the file it left in the DAG's directory (hard affinity keeps them on its
worker). ``extend_dag`` is idempotent by job id, so a retried ``inspect`` does not add the
branch twice.

    TITAN_MASTER=127.0.0.1:9090 python3 Samples/python/dynamic_branch.py [--rows 1,2,x,4]
"""

from __future__ import annotations

import argparse
import os
import sys

try:
    import titan_sdk  # noqa: F401
except ImportError:  # running from a checkout: use the SDK next to the samples
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from titan_sdk import TitanClient, TitanJob

INSPECT = """\
import sys
from titan_sdk import TitanClient, TitanJob
rows = sys.argv[1].split(",")
bad = [r for r in rows if not r.strip().lstrip("-").isdigit()]
open("rows.txt", "w").write("\\n".join(rows) + "\\n")
print(f"{len(rows)} rows, {len(bad)} bad")
train = ["python3", "-c", "v = [int(l) for l in open('rows.txt') if l.strip()]; "
                         "print('trained on', len(v), 'rows, mean', sum(v) / len(v))"]
clean = ("grep -E '^-?[0-9]+$' rows.txt > clean.txt; mv clean.txt rows.txt; "
         "echo kept $(wc -l < rows.txt) rows")
if bad:
    steps = [
        TitanJob("clean", command=clean, parents=["inspect"], affinity="hard"),
        TitanJob("train", command=train, parents=["clean"], affinity="hard"),
    ]
else:
    steps = [TitanJob("train", command=train, parents=["inspect"], affinity="hard")]
added = TitanClient().extend_dag(steps)
print("branch:", "clean+train" if bad else "train", "->", ", ".join(added))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="3,1,4,x,1,5,9,?,2,6", help="comma-separated values to train on")
    args = parser.parse_args(argv)

    with TitanClient() as client:  # $TITAN_MASTER
        dag_id = client.submit_dag("dynamic-branch", [
            TitanJob("inspect", script_content=INSPECT, filename="inspect_rows.py", args=[args.rows], ship_sdk=True),
        ], follow=True)
        print(f"submitted {dag_id} with one job; it decides the rest")
        # The DAG's events as they happen: jobs added while it runs show up here too.
        for event in client.events(dag_id, timeout=120):
            job_id = getattr(event, "job_id", None)
            if job_id:
                print(f"  {job_id.split('/')[1]:8} {event.state.name}")
        outcome = client.wait(dag_id)
        print(outcome.describe())
        for name in outcome.jobs:
            print(f"[{name}] {client.fetch_logs(f'{dag_id}/{name}').strip()}")
        return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
