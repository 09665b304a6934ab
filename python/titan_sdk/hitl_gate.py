#!/usr/bin/env python3
"""A human approval gate that runs as a job: what :meth:`TitanClient.submit_dag` puts after a
job that has a ``hitl_message`` when the client uses ``gate_mode="script"`` (the original SDK's
way; the default ``"native"`` mode asks the master for a gate that runs no process instead,
with the same keys). It holds the jobs after it until someone decides.

The convention (the original Titan's), all in the master's KV store, for a gate ``G``:

* ``titan:hitl:status:G`` -- ``CLEARED`` when the DAG is submitted (set by the submitter);
  this gate sets ``WAITING`` when it starts waiting; anyone sets ``APPROVED`` or ``REJECTED``
  (:meth:`TitanClient.approve` / :meth:`TitanClient.reject`, ``titan kv set``, any client);
  the gate sets ``TIMEOUT`` when its deadline passes, ``CANCELLED`` when it is cancelled.
* ``titan:hitl:message:G`` -- what the approver is asked; ``titan:hitl:ts:G`` -- when the gate
  started waiting (Unix seconds).
* ``titan:hitl:queue`` -- the set of gates waiting (the gate removes itself when decided).

``G`` is the gate job's full id (``dag-3/hitl-gate-train``, its ``$TITAN_JOB_ID``): DAG job ids
are scoped by DAG here, so two runs of one pipeline never share a gate.

Exit status: 0 approved; 1 rejected or timed out (so the jobs after it are skipped).

How it runs on a worker: the submitter ships this SDK with the gate job as an archive
extracted under ``.titan/sdk`` in the job's directory (uploaded once per master, cached by the
worker by hash) and runs ``python3 .titan/sdk/titan_sdk/hitl_gate.py``. When run as a script,
this file puts the directory holding its package first on ``sys.path``, so it imports the very
SDK version that submitted it, whatever the worker has installed, and talks to the master
through the same tested client (``$TITAN_MASTER`` is set by the worker).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

if __package__ in (None, ""):  # run as a script: import the SDK shipped next to this file
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from titan_sdk.client import TitanClient  # noqa: E402
from titan_sdk.errors import ConnectionLost, WaitTimeout  # noqa: E402
from titan_sdk.jobs import HITL_MESSAGE, HITL_QUEUE, HITL_STATUS, HITL_TS  # noqa: E402

APPROVED = "APPROVED"
REJECTED = "REJECTED"
WAITING = "WAITING"
CLEARED = "CLEARED"
TIMEOUT = "TIMEOUT"
CANCELLED = "CANCELLED"


class Gate:
    """One gate's view of its KV keys."""

    def __init__(self, client: TitanClient, gate_id: str) -> None:
        self.client = client
        self.id = gate_id
        self.status_key = HITL_STATUS + gate_id

    def status(self) -> str:
        value = self.client.store_get(self.status_key)
        return value if isinstance(value, str) else (value or b"").decode("utf-8", "replace")

    def start_waiting(self, message: str) -> None:
        self.client.store_put(HITL_MESSAGE + self.id, message)
        self.client.store_put(HITL_TS + self.id, f"{time.time():.3f}")
        self.client.store_put(self.status_key, WAITING)
        self.client.store_sadd(HITL_QUEUE, self.id)

    def finish(self, status: str | None = None) -> None:
        if status is not None:
            self.client.store_put(self.status_key, status)
        self.client.store_srem(HITL_QUEUE, self.id)


def wait_for_decision(gate: Gate, message: str, max_wait: float, poll: float) -> int:
    """Waits until the gate is approved (returns 0), rejected or past its deadline (1)."""
    deadline = time.monotonic() + max_wait
    status = gate.status()
    if status not in (APPROVED, REJECTED):
        gate.start_waiting(message)
        print(f"waiting for approval: {message}", flush=True)
        print(f"  approve: titan kv set {gate.status_key} APPROVED  (or TitanClient().approve({gate.id!r}))",
              flush=True)
    while True:
        if status == APPROVED:
            gate.finish()
            print("approved", flush=True)
            return 0
        if status == REJECTED:
            gate.finish()
            print("rejected", flush=True)
            return 1
        if status in ("", CLEARED):
            # The submitter's CLEARED landed after we started (or the key vanished): still waiting.
            gate.client.store_put(gate.status_key, WAITING)
        left = deadline - time.monotonic()
        if left <= 0:
            gate.finish(TIMEOUT)
            print(f"no decision within {max_wait:g}s: timed out", flush=True)
            return 1
        time.sleep(min(poll, left))
        try:
            status = gate.status()
        except (ConnectionLost, WaitTimeout) as e:  # master restarting: keep waiting
            print(f"cannot reach the master ({e}); retrying", file=sys.stderr, flush=True)
            status = WAITING


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Titan human approval gate")
    parser.add_argument("gate_id", nargs="?", default=os.environ.get("TITAN_JOB_ID", ""),
                        help="the gate's id (default: $TITAN_JOB_ID)")
    parser.add_argument("--message", default="Approval required", help="what the approver is asked")
    parser.add_argument("--max-wait", type=float, default=172800.0, help="seconds before the gate times out")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between status checks")
    args = parser.parse_args(argv)
    if not args.gate_id:
        parser.error("no gate id (pass one, or run as a Titan job so $TITAN_JOB_ID is set)")
    client = TitanClient()
    gate = Gate(client, args.gate_id)

    def cancelled(signum: int, _frame: object) -> None:
        try:
            gate.finish(CANCELLED)
        finally:
            os._exit(128 + signum)

    signal.signal(signal.SIGTERM, cancelled)
    signal.signal(signal.SIGINT, cancelled)
    try:
        return wait_for_decision(gate, args.message, args.max_wait, args.poll)
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
