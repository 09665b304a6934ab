#!/usr/bin/env python3
"""Jobs handing data to each other through the master's KV store.

Jobs of a DAG may run on different workers, so files in a worker's DAG directory only reach
children on the same worker. The KV store reaches every job: here ``produce`` writes a JSON
record and a binary blob, ``enrich`` (on any worker) reads them, adds fields and writes its
result, and ``publish`` reads that, counts the run in a counter and adds it to a set. Keys are
scoped by the DAG id (``TITAN_DAG_ID``) and expire after an hour.

    TITAN_MASTER=127.0.0.1:9090 python3 Samples/python/kv_handoff.py
"""

from __future__ import annotations

import json
import os
import sys

try:
    import titan_sdk  # noqa: F401
except ImportError:  # running from a checkout: use the SDK next to the samples
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from titan_sdk import TitanClient, TitanJob

PRODUCE = """\
import json, os, hashlib
from titan_sdk import TitanClient
kv, run = TitanClient(), os.environ["TITAN_DAG_ID"]
blob = bytes(range(256))
kv.store_put(f"sample:handoff:{run}:blob", blob, ttl=3600)
record = {"orders": [12, 30, 8], "sha": hashlib.sha256(blob).hexdigest()}
kv.store_put(f"sample:handoff:{run}:record", json.dumps(record), ttl=3600)
print("produced 3 orders and a 256-byte blob")
"""

ENRICH = """\
import json, os, hashlib
from titan_sdk import TitanClient
kv, run = TitanClient(), os.environ["TITAN_DAG_ID"]
record = json.loads(kv.store_get(f"sample:handoff:{run}:record"))
blob = kv.store_get(f"sample:handoff:{run}:blob", decode=False)
assert hashlib.sha256(blob).hexdigest() == record["sha"], "blob corrupted in transit"
record["total"] = sum(record["orders"])
record["enriched_on"] = os.environ.get("TITAN_WORKER_ID", "?")
kv.store_put(f"sample:handoff:{run}:enriched", json.dumps(record), ttl=3600)
print("enriched: total", record["total"])
"""

PUBLISH = """\
import json, os
from titan_sdk import TitanClient
kv, run = TitanClient(), os.environ["TITAN_DAG_ID"]
record = json.loads(kv.store_get(f"sample:handoff:{run}:enriched"))
runs = kv.store_incr("sample:handoff:runs")
kv.store_sadd("sample:handoff:published", run)
print(f"published total={record['total']} (run #{runs})")
"""


def main(argv: list[str] | None = None) -> int:
    with TitanClient() as client:  # $TITAN_MASTER
        dag_id = client.submit_dag("kv-handoff", [
            TitanJob("produce", script_content=PRODUCE, filename="produce.py", ship_sdk=True),
            TitanJob("enrich", script_content=ENRICH, filename="enrich.py", parents=["produce"], ship_sdk=True),
            TitanJob("publish", script_content=PUBLISH, filename="publish.py", parents=["enrich"], ship_sdk=True),
        ])
        print(f"submitted {dag_id}")
        outcome = client.wait(dag_id, timeout=120)
        print(outcome.describe())
        for name in ("produce", "enrich", "publish"):
            print(f"[{name}] {client.fetch_logs(f'{dag_id}/{name}').strip()}")
        if not outcome.ok:
            return 1
        record = json.loads(client.store_get(f"sample:handoff:{dag_id}:enriched"))
        published = dag_id in client.store_smembers("sample:handoff:published")
        print(f"result in KV: total={record['total']}, published={published}")
        return 0 if record["total"] == 50 and published else 1


if __name__ == "__main__":
    sys.exit(main())
