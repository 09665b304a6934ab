"""A job growing its own DAG (extend_dag from inside the job), and human approval gates."""

from __future__ import annotations

import time

import pytest

from titan_sdk import DagState, InvalidRequest, JobState, NotFound, TitanClient, TitanJob

# Runs inside a DAG job: computes something, then adds the branch its result calls for to its
# own DAG (TITAN_DAG_ID), twice to show it is idempotent. The new job depends on this one and
# reads the file it leaves in the DAG's shared directory.
DECIDER = """\
import json, sys
from titan_sdk import TitanClient, TitanJob
numbers = [int(a) for a in sys.argv[1:]]
total = sum(numbers)
branch = "even" if total % 2 == 0 else "odd"
open("total.txt", "w").write(str(total))
client = TitanClient()
job = TitanJob(f"{branch}-branch", command=f"echo {branch} branch got $(cat total.txt)",
               parents=["decide"], affinity="hard")
first = client.extend_dag([job])
again = client.extend_dag([job])
print(json.dumps({"total": total, "branch": branch, "ids": first, "same": first == again}), flush=True)
"""


@pytest.mark.parametrize("numbers, branch, total", [("1 2 3", "even", 6), ("2 3 4", "odd", 9)])
def test_extend_dag_from_inside_a_running_job(client: TitanClient, numbers: str, branch: str, total: int) -> None:
    dag_id = client.submit_dag("dynamic", [TitanJob("decide", script_content=DECIDER, filename="decide.py",
                                                    args=numbers)])
    outcome = client.wait(dag_id, timeout=30)
    assert outcome.state is DagState.COMPLETED, {k: v.describe() for k, v in outcome.jobs.items()}
    assert set(outcome.jobs) == {"decide", f"{branch}-branch"}
    log = client.fetch_logs(f"{dag_id}/decide")
    assert f'"ids": ["{dag_id}/{branch}-branch"]' in log and '"same": true' in log
    assert client.fetch_logs(f"{dag_id}/{branch}-branch") == f"{branch} branch got {total}\n"
    assert outcome.jobs[f"{branch}-branch"].worker == outcome.jobs["decide"].worker  # hard affinity


def test_extend_dag_errors(client: TitanClient, monkeypatch) -> None:
    monkeypatch.delenv("TITAN_DAG_ID", raising=False)
    with pytest.raises(InvalidRequest, match="TITAN_DAG_ID"):
        client.extend_dag([TitanJob("x", command=["true"])])
    with pytest.raises(NotFound):
        client.extend_dag([TitanJob("x", command=["true"])], dag_id="dag-999999")
    finished = client.submit_dag("done", [TitanJob("a", command=["true"])])
    client.wait(finished, timeout=20)
    with pytest.raises(InvalidRequest, match="cannot grow"):
        client.extend_dag([TitanJob("late", command=["true"])], dag_id=finished)


@pytest.fixture(params=["native", "script"])
def gate_client(request, cluster):
    """A client making master-side gates (native) or polling gate jobs (script)."""
    with TitanClient(cluster.address, gate_mode=request.param) as c:
        yield c


def wait_for_gate(client: TitanClient, dag_id: str, timeout: float = 30) -> str:
    """The full id of the DAG's approval gate once it is waiting (polls the KV queue, with a
    deadline: the gate announces itself there)."""
    deadline = time.monotonic() + timeout
    while True:
        for approval in client.pending_approvals():
            if approval.gate_id.startswith(dag_id + "/"):
                return approval.gate_id
        assert time.monotonic() < deadline, "the gate never started waiting"
        time.sleep(0.05)


def hitl_dag(client: TitanClient, name: str, max_wait: float = 120, step: str = "evaluate") -> str:
    return client.submit_dag(name, [
        TitanJob("train", command="echo model > model.txt"),
        TitanJob(step, command="cp model.txt checked.txt", parents=["train"], affinity="hard",
                 hitl_message=f"Deploy {name}?", max_wait_seconds=max_wait),
        TitanJob("deploy", command="echo deployed $(cat checked.txt)", parents=[step], affinity="hard"),
        TitanJob("notify", command=["echo", "notified"], parents=["deploy"]),
    ])


def test_hitl_gate_approved(gate_client: TitanClient) -> None:
    client = gate_client
    dag_id = hitl_dag(client, "approve-me")
    gate = f"{dag_id}/hitl-gate-evaluate"
    info = client.dag(dag_id)
    assert [j.id.split("/")[1] for j in info.jobs] == ["train", "evaluate", "hitl-gate-evaluate", "deploy", "notify"]
    assert client.job(f"{dag_id}/deploy").parents == [f"{dag_id}/evaluate", gate]
    assert (client.job(gate).spec.gate is not None) == (client.gate_mode == "native")
    assert wait_for_gate(client, dag_id) == gate
    pending = [a for a in client.pending_approvals() if a.gate_id == gate][0]
    assert pending.message == "Deploy approve-me?" and pending.since > 0
    assert client.approval_status(gate) == "WAITING"
    assert client.get_job_status(gate) == "RUNNING"
    assert client.get_job_status(f"{dag_id}/deploy") == "PENDING"  # held by the gate
    assert client.approve(gate) == gate
    outcome = client.wait(dag_id, timeout=30)
    assert outcome.state is DagState.COMPLETED
    assert client.fetch_logs(f"{dag_id}/deploy") == "deployed model\n"  # ran where its files are
    assert client.approval_status(gate) == "APPROVED"
    assert gate not in [a.gate_id for a in client.pending_approvals()]
    assert (outcome.jobs["hitl-gate-evaluate"].worker == "") == (client.gate_mode == "native")


def test_hitl_gate_rejected_skips_what_follows(gate_client: TitanClient, uid: str) -> None:
    client = gate_client
    step = f"check-{uid}"
    dag_id = hitl_dag(client, "reject-me", step=step)
    gate = wait_for_gate(client, dag_id)
    assert client.reject(f"hitl-gate-{step}") == gate  # a short id names the one waiting gate that has it
    outcome = client.wait(dag_id, timeout=30)
    assert outcome.state is DagState.FAILED
    assert outcome.jobs[f"hitl-gate-{step}"].state is JobState.FAILED
    assert outcome.jobs["deploy"].state is JobState.SKIPPED and outcome.jobs["notify"].state is JobState.SKIPPED
    assert client.approval_status(gate) == "REJECTED"
    if client.gate_mode == "script":
        assert "rejected" in client.fetch_logs(gate)
    else:
        assert outcome.jobs[f"hitl-gate-{step}"].error == "rejected"


def test_hitl_gate_times_out(gate_client: TitanClient) -> None:
    client = gate_client
    dag_id = hitl_dag(client, "nobody-answers", max_wait=0.5)
    outcome = client.wait(dag_id, timeout=30)
    assert outcome.jobs["hitl-gate-evaluate"].state is JobState.FAILED
    assert outcome.jobs["deploy"].state is JobState.SKIPPED
    assert client.approval_status(f"{dag_id}/hitl-gate-evaluate") == "TIMEOUT"


def test_approval_given_before_the_gate_opens(client: TitanClient, uid: str) -> None:
    key = f"hold-{uid}"
    dag_id = client.submit_dag("pre-approved", [
        TitanJob("wait", script_content=f"from titan_sdk import TitanClient as C\nimport time\n"
                                        f"while C().store_get('{key}') is None: time.sleep(0.02)\n",
                 filename="hold.py", hitl_message="pre?"),
        TitanJob("after", command=["true"], parents=["wait"]),
    ])
    gate = f"{dag_id}/hitl-gate-wait"
    assert client.approval_status(gate) == "CLEARED"  # the original convention, until it opens
    client.approve(gate)  # a full id: decided before it opens
    client.store_put(key, "go")
    assert client.wait(dag_id, timeout=30).ok


def test_explicit_gate_job(client: TitanClient) -> None:
    dag_id = client.submit_dag("explicit-gate", [
        TitanJob("build", command=["true"]),
        TitanJob("ok-to-ship", gate="Ship the build?", parents=["build"]),
        TitanJob("ship", command=["echo", "shipped"], parents=["ok-to-ship"]),
    ])
    gate = wait_for_gate(client, dag_id)
    assert gate == f"{dag_id}/ok-to-ship"
    client.approve(gate)
    assert client.wait(dag_id, timeout=30).ok


def test_approving_an_unknown_gate(client: TitanClient) -> None:
    with pytest.raises(NotFound):
        client.approve("hitl-gate-never-existed")


def test_gated_child_keeps_its_parents_worker(client: TitanClient) -> None:
    """A child with hard affinity after a gate runs where the gated job ran (a native gate has no
    worker, so the child keeps the job as its first parent, which affinity follows)."""
    blocker = client.submit(TitanJob(command=["sleep", "30"]), follow=True)
    busy = next(e for e in client.events(blocker, timeout=20) if e.state is JobState.RUNNING).worker_id
    dag_id = client.submit_dag("gate-affinity", [
        TitanJob("train", command="echo weights > model.txt", hitl_message="ok?"),  # lands on the idle worker
        TitanJob("deploy", command="cat model.txt", parents=["train"], affinity="hard"),
    ])
    gate = wait_for_gate(client, dag_id)
    client.cancel(blocker)  # now the other worker is idle too: only the pin keeps deploy with train
    client.wait(blocker, timeout=20)
    client.approve(gate)
    outcome = client.wait(dag_id, timeout=30)
    assert outcome.jobs["train"].worker != busy
    assert outcome.ok and outcome.jobs["deploy"].worker == outcome.jobs["train"].worker
    assert client.fetch_logs(f"{dag_id}/deploy") == "weights\n"
