"""DAGs against a real cluster: dependencies, skips, cycles, DAG events, cancel, YAML."""

from __future__ import annotations

import pytest

from titan_sdk import (
    DagEvent, DagInfo, DagOutcome, DagState, InvalidRequest, JobEvent, JobState, NotFound, TitanClient, TitanJob,
    ToolMissing,
)


def test_parents_run_in_order_and_share_a_directory(client: TitanClient) -> None:
    dag_id = client.submit_dag("diamond", [
        TitanJob("extract", command="echo 'a b c' > data.txt"),
        TitanJob("words", command="wc -w < data.txt > words.txt", parents=["extract"], affinity="hard"),
        TitanJob("lines", command="wc -l < data.txt > lines.txt", parents=["extract"], affinity="hard"),
        TitanJob("report", command="echo words=$(cat words.txt) lines=$(cat lines.txt) dag=$TITAN_DAG_ID",
                 parents=["words", "lines"], affinity="hard"),
    ])
    outcome = client.wait(dag_id, timeout=30)
    assert isinstance(outcome, DagOutcome) and outcome.state is DagState.COMPLETED and outcome.ok
    assert set(outcome.jobs) == {"extract", "words", "lines", "report"}
    report = outcome.jobs["report"]
    assert report.started_ms >= max(outcome.jobs["words"].finished_ms, outcome.jobs["lines"].finished_ms)
    assert client.fetch_logs(f"{dag_id}/report").strip() == f"words=3 lines=1 dag={dag_id}"
    info = client.status(dag_id)
    assert isinstance(info, DagInfo) and info.counts.completed == 4
    assert client.get_job_status(dag_id) == "COMPLETED"


def test_failure_skips_descendants(client: TitanClient) -> None:
    dag_id = client.submit_dag("failing", [
        TitanJob("ok", command=["true"]),
        TitanJob("boom", command="exit 3", parents=["ok"]),
        TitanJob("child", command=["true"], parents=["boom"]),
        TitanJob("grandchild", command=["true"], parents=["child"]),
        TitanJob("sibling", command=["true"], parents=["ok"]),
    ])
    outcome = client.wait(dag_id, timeout=30)
    assert outcome.state is DagState.FAILED
    states = {name: job.state for name, job in outcome.jobs.items()}
    assert states == {"ok": JobState.COMPLETED, "boom": JobState.FAILED, "child": JobState.SKIPPED,
                      "grandchild": JobState.SKIPPED, "sibling": JobState.COMPLETED}
    assert outcome.jobs["boom"].exit_code == 3
    assert client.status(f"{dag_id}/child").state is JobState.SKIPPED
    assert client.get_job_status(f"{dag_id}/child") == "FAILED"  # the original's name: skipped below a failure


def test_cycle_is_an_invalid_request_naming_it(client: TitanClient) -> None:
    with pytest.raises(InvalidRequest) as info:
        client.submit_dag("cyclic", [
            TitanJob("a", command=["true"], parents=["c"]),
            TitanJob("b", command=["true"], parents=["a"]),
            TitanJob("c", command=["true"], parents=["b"]),
        ])
    assert "invalid DAG: cycle" in str(info.value)
    with pytest.raises(InvalidRequest, match="unknown"):
        client.submit_dag("orphan", [TitanJob("a", command=["true"], parents=["ghost"])])


def test_dag_events_arrive_in_order(client: TitanClient) -> None:
    dag_id = client.submit_dag("evented", [
        TitanJob("first", command=["echo", "one"]),
        TitanJob("second", command=["echo", "two"], parents=["first"]),
    ], follow=True)
    items = list(client.events(dag_id, logs=True, timeout=30))
    assert isinstance(items[0], DagEvent) and items[0].state is DagState.RUNNING
    assert isinstance(items[-1], DagEvent) and items[-1].state is DagState.COMPLETED
    job_events = [(e.job_id.split("/")[1], e.state) for e in items if isinstance(e, JobEvent)]
    assert job_events.index(("first", JobState.COMPLETED)) < job_events.index(("second", JobState.RUNNING))
    outputs = [o.text for o in items if not isinstance(o, (JobEvent, DagEvent))]
    assert outputs == ["one\n", "two\n"]


def test_cancel_a_dag(client: TitanClient) -> None:
    dag_id = client.submit_dag("cancelled", [
        TitanJob("slow", command=["sleep", "60"]),
        TitanJob("after", command=["true"], parents=["slow"]),
    ], follow=True)
    for event in client.events(dag_id, timeout=20):
        if isinstance(event, JobEvent) and event.state is JobState.RUNNING:
            break
    client.cancel(dag_id)
    outcome = client.wait(dag_id, timeout=20)
    assert outcome.state is DagState.CANCELLED
    assert outcome.jobs["slow"].state is JobState.CANCELLED and outcome.jobs["after"].state is JobState.SKIPPED


def test_wait_all_jobs_and_dags(client: TitanClient) -> None:
    dag_id = client.submit_dag("w", [TitanJob("x", command=["true"])])
    job_id = client.submit(TitanJob(command=["true"]))
    outcomes = client.wait_all([dag_id, job_id, f"{dag_id}/x"], timeout=20)
    assert outcomes[dag_id].state is DagState.COMPLETED and outcomes[job_id].state is JobState.COMPLETED
    assert outcomes[f"{dag_id}/x"].state is JobState.COMPLETED
    with pytest.raises(NotFound):
        client.dag("dag-999999")


YAML = """\
name: yaml-pipeline
jobs:
  - id: hello
    command: "echo hello from yaml"
  - id: after
    command: "echo after"
    depends_on: hello
"""


def test_submit_yaml_through_the_cli(client: TitanClient, tmp_path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(YAML)
    dag_id = client.submit_yaml(str(path))
    assert client.wait(dag_id, timeout=30).state is DagState.COMPLETED
    assert client.fetch_logs(f"{dag_id}/hello") == "hello from yaml\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\njobs:\n  - id: a\n    comand: x\n")
    with pytest.raises(InvalidRequest, match="comand"):
        client.submit_yaml(str(bad))


def test_submit_yaml_without_the_cli(client: TitanClient, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TITAN_BIN_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissing, match="titan' CLI"):
        client.submit_yaml(str(tmp_path / "x.yaml"))


def test_original_style_short_ids(client: TitanClient, uid: str) -> None:
    name = f"extract-{uid}"
    client.submit_dag("short-ids", [TitanJob(name, command=["echo", "extracted"]),
                                    TitanJob(f"load-{uid}", command=["true"], parents=[name])])
    outcome = client.wait(f"DAG-{name}", timeout=20)  # as the original SDK's users named jobs
    assert outcome.ok and outcome.id.endswith("/" + name)
    assert client.get_job_status(name) == "COMPLETED" and client.get_job_status(f"DAG-{name}") == "COMPLETED"
    assert client.fetch_logs(f"DAG-{name}") == "extracted\n"
    assert client.wait(f"load-{uid}", timeout=20).ok
    assert client.get_job_status(f"DAG-never-{uid}") == "NULL"
    with pytest.raises(NotFound):
        client.wait(f"DAG-never-{uid}", timeout=5)


def test_jobs_submitted_over_the_original_protocol_can_be_followed(client: TitanClient, cluster, uid: str) -> None:
    import base64
    import socket
    import struct

    script = base64.b64encode(b"echo from v1").decode()
    payload = f"v1-{uid}|RUN_PAYLOAD|run.sh||{script}|GENERAL|1|0".encode()
    with socket.create_connection((cluster.host, cluster.port), timeout=10) as s:
        s.sendall(struct.pack(">BBBBI", 1, 0x03, 0, 0, len(payload)) + payload)  # v1 SUBMIT_JOB
        header = s.recv(8, socket.MSG_WAITALL)
        reply = s.recv(struct.unpack(">BBBBI", header)[4], socket.MSG_WAITALL).decode()
    assert reply == "JOB_ACCEPTED"
    outcome = client.wait(f"DAG-v1-{uid}", timeout=20)  # the master's alias: followed by its full id
    assert outcome.ok and client.fetch_logs(f"DAG-v1-{uid}") == "from v1\n"


def test_schedules(client: TitanClient, uid: str) -> None:
    name = f"nightly-{uid}"
    info = client.schedule(name, "0 3 * * *", [TitanJob("a", command=["true"]),
                                               TitanJob("b", command=["true"], parents=["a"], hitl_message="ok?")])
    assert info.name == name and info.next_fire_ms > 0 and info.runs == 0
    assert name in [s.name for s in client.schedules()]
    client.unschedule(name)
    assert name not in [s.name for s in client.schedules()]
    with pytest.raises(NotFound):
        client.unschedule(name)
    with pytest.raises(InvalidRequest):
        client.schedule(f"bad-{uid}", "not a cron", [TitanJob("a", command=["true"])])
