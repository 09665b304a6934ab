#!/usr/bin/env python3
"""Map/reduce on Titan: fan out a word count over shards, fan the partial counts back in.

One DAG: ``map-0`` .. ``map-N`` each count the words of one shard (in parallel, on any
worker) and put their partial counts in the KV store under a key of this DAG; ``reduce``
depends on every mapper, merges the partial counts and stores the result. The client waits
for the DAG (events pushed by the master, no polling) and prints the most common words.

    TITAN_MASTER=127.0.0.1:9090 python3 Samples/python/map_reduce.py [--shards 4]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

try:
    import titan_sdk  # noqa: F401
except ImportError:  # running from a checkout: use the SDK next to the samples
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from titan_sdk import TitanClient, TitanJob

TEXT = """\
the quick brown fox jumps over the lazy dog
a distributed runtime runs the jobs the scheduler places
the master schedules and the workers run jobs as processes
every job of a dag shares a directory on each worker
the fox and the dog share nothing but the text
"""

MAPPER = """\
import json, os
from collections import Counter
from titan_sdk import TitanClient
counts = Counter(os.environ["SHARD"].split())
key = f"sample:mapreduce:{os.environ['TITAN_DAG_ID']}:{os.environ['TITAN_JOB_ID'].split('/')[1]}"
TitanClient().store_put(key, json.dumps(counts), ttl=3600)
print(f"{sum(counts.values())} words, {len(counts)} distinct")
"""

REDUCER = """\
import json, os, sys
from collections import Counter
from titan_sdk import TitanClient
client = TitanClient()
prefix = f"sample:mapreduce:{os.environ['TITAN_DAG_ID']}:"
total = Counter()
for name in sys.argv[1:]:
    total.update(json.loads(client.store_get(prefix + name)))
client.store_put(prefix + "result", json.dumps(total), ttl=3600)
print(json.dumps(total.most_common(5)))
"""


def shards(text: str, n: int) -> list[str]:
    """Splits ``text`` into ``n`` shards of whole lines."""
    lines = text.splitlines()
    return [" ".join(lines[i::n]) for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args(argv)

    with TitanClient() as client:  # $TITAN_MASTER
        mappers = [
            TitanJob(f"map-{i}", script_content=MAPPER, filename="mapper.py", env={"SHARD": shard}, ship_sdk=True)
            for i, shard in enumerate(shards(TEXT, args.shards))
        ]
        reducer = TitanJob("reduce", script_content=REDUCER, filename="reducer.py",
                           args=[m.job_id for m in mappers if m.job_id], parents=[m.job_id for m in mappers],
                           ship_sdk=True)
        dag_id = client.submit_dag("word-count", mappers + [reducer])
        print(f"submitted {dag_id}: {len(mappers)} mappers -> reduce")
        outcome = client.wait(dag_id, timeout=120)
        print(outcome.describe())
        if not outcome.ok:
            for name, job in outcome.jobs.items():
                if not job.ok:
                    print(f"  {job.describe()}\n{client.fetch_logs(job.id)}")
            return 1
        counts = json.loads(client.store_get(f"sample:mapreduce:{dag_id}:result"))
        expected = len(TEXT.split())
        print(f"total words: {sum(counts.values())} (expected {expected})")
        print("most common:", ", ".join(f"{w}={c}" for w, c in sorted(counts.items(), key=lambda x: -x[1])[:5]))
        return 0 if sum(counts.values()) == expected else 1


if __name__ == "__main__":
    sys.exit(main())
