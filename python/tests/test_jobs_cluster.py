"""Lone jobs against a real cluster: submit, wait, logs, status, result, cancel, typed errors."""

from __future__ import annotations

import socket

import pytest

from titan_sdk import (
    ConnectionLost, InvalidRequest, JobFailed, JobInfo, JobOutcome, JobState, NotFound, TitanClient, TitanJob,
    WaitTimeout,
)


def test_submit_wait_logs_status_result(client: TitanClient) -> None:
    job_id = client.submit(TitanJob(command=["sh", "-c", "echo out; echo err >&2; echo $TITAN_JOB_ID"]))
    outcome = client.wait(job_id, timeout=20)
    assert isinstance(outcome, JobOutcome)
    assert outcome.state is JobState.COMPLETED and outcome.ok
    assert outcome.exit_code == 0 and outcome.attempts == 1 and outcome.worker in ("w1", "w2")
    assert 0 < outcome.started_ms <= outcome.finished_ms
    assert sorted(client.fetch_logs(job_id).splitlines()) == sorted(["out", "err", job_id])  # pipes race
    streams = [c.stream.name for c in client.logs(job_id)]
    assert "STDOUT" in streams and "STDERR" in streams
    info = client.status(job_id)
    assert isinstance(info, JobInfo) and info.state is JobState.COMPLETED and info.result.exit_code == 0
    assert client.get_job_status(job_id) == "COMPLETED"
    assert client.result(job_id).ok
    # Waiting again is answered from what the connection saw.
    assert client.wait(job_id, timeout=0).state is JobState.COMPLETED


def test_failed_job_is_an_outcome_and_result_raises(client: TitanClient) -> None:
    outcome = client.run(TitanJob(command="exit 7"), timeout=20)
    assert outcome.state is JobState.FAILED and outcome.exit_code == 7 and not outcome.ok
    with pytest.raises(JobFailed) as info:
        client.result(outcome.id, timeout=5)
    assert info.value.outcome.exit_code == 7 and "exit 7" in str(info.value)
    assert client.get_job_status(outcome.id) == "FAILED"


def test_program_not_found_reports_the_error(client: TitanClient) -> None:
    outcome = client.run(TitanJob(command=["/definitely/not/here"]), timeout=20)
    assert outcome.state is JobState.FAILED and outcome.error


def test_retries_and_timeout(client: TitanClient, uid: str) -> None:
    flaky = ("import sys\nfrom titan_sdk import TitanClient\n"
             f"sys.exit(0 if TitanClient().store_incr('flaky-{uid}') >= 3 else 1)\n")
    outcome = client.run(TitanJob("flaky", script_content=flaky, filename="flaky.py", retries=3, retry_delay=0.05),
                         timeout=30)
    assert outcome.state is JobState.COMPLETED and outcome.attempts == 3
    slow = client.run(TitanJob(command=["sleep", "30"], timeout=0.3), timeout=20)
    assert slow.state is JobState.FAILED and slow.timed_out


def test_cancel_running_job(client: TitanClient) -> None:
    job_id = client.submit(TitanJob(command=["sleep", "60"]), follow=True)
    events = client.events(job_id, timeout=20)
    first = next(events)
    assert first.state is JobState.RUNNING  # it started: now kill it
    client.cancel(job_id)
    assert [e.state for e in events][-1] is JobState.CANCELLED
    assert client.get_job_status(job_id) == "CANCELLED"
    with pytest.raises(InvalidRequest, match="already CANCELLED"):
        client.cancel(job_id)
    assert client.stop_service(job_id) is False


def test_unknown_ids_raise_not_found(client: TitanClient) -> None:
    with pytest.raises(NotFound, match="no job 'job-999999'"):
        client.job("job-999999")
    with pytest.raises(NotFound):
        client.status("job-999999")
    with pytest.raises(NotFound):
        client.wait("job-999999", timeout=5)
    with pytest.raises(NotFound):
        client.fetch_logs("nope")
    with pytest.raises(NotFound):
        client.cancel("dag-999999")
    assert client.get_job_status("job-999999") == "NULL"


def test_invalid_spec_raises_invalid_request(client: TitanClient) -> None:
    with pytest.raises(InvalidRequest, match="invalid variable name"):
        client.submit(TitanJob(command=["true"], env={"A=B": "x"}))
    with pytest.raises(InvalidRequest, match="parents apply within a DAG"):
        client.submit(TitanJob("a", command=["true"], parents=["b"]))


def test_wait_timeout(client: TitanClient) -> None:
    job_id = client.submit(TitanJob(command=["sleep", "30"]))
    with pytest.raises(WaitTimeout, match=f"{job_id} did not finish within 0.2s"):
        client.wait(job_id, timeout=0.2)
    client.cancel(job_id)
    assert client.wait(job_id, timeout=20).state is JobState.CANCELLED


def test_delay_and_priority_are_honoured(client: TitanClient) -> None:
    outcome = client.run(TitanJob(command=["true"], delay=300, priority=9), timeout=20)
    info = client.job(outcome.id)
    assert outcome.ok and outcome.started_ms - info.submitted_at_ms >= 250
    assert info.spec.priority == 9 and info.spec.delay_ms == 300


def test_requirement_waits_for_a_capable_worker(client: TitanClient) -> None:
    job_id = client.submit(TitanJob(command=["true"], requirement="GPU"))
    info = client.job(job_id)
    assert info.state is JobState.PENDING and "GPU" in info.pending_reason
    client.cancel(job_id)


def test_listings(client: TitanClient, cluster) -> None:
    job_id = client.run(TitanJob(command=["true"], name="listed"), timeout=20).id
    assert job_id in [j.id for j in client.jobs(limit=50)]
    workers = client.workers()
    assert {w.id for w in workers} >= {"w1", "w2"} and all(w.slots == 4 for w in workers)
    assert client.ping() < 5


def test_cluster_stats(client: TitanClient) -> None:
    job_id = client.run(TitanJob(command=["true"]), timeout=20).id
    stats = client.stats()
    assert {w.id for w in stats.workers} >= {"w1", "w2"}
    assert stats.counts.completed >= 1 and job_id in [j.id for j in stats.recent]


def test_connection_errors(cluster) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    with pytest.raises(ConnectionLost, match="cannot connect"):
        TitanClient("127.0.0.1", free_port, connect_timeout=2).connect()
    c = TitanClient(cluster.address)
    with c:
        assert c.ping() >= 0
    with pytest.raises(ConnectionLost, match="closed"):
        c.ping()


def test_reconnects_after_the_connection_drops(cluster) -> None:
    with TitanClient(cluster.address) as c:
        c.ping()
        c._connection._sock.shutdown(socket.SHUT_RDWR)  # simulate a dropped connection
        c._connection._reader.join(5)
        assert not c.connected
        assert c.ping() >= 0 and c.connected


def test_address_defaults(monkeypatch) -> None:
    monkeypatch.setenv("TITAN_MASTER", "127.0.0.1:1234")
    assert TitanClient().address == "127.0.0.1:1234"
    monkeypatch.delenv("TITAN_MASTER")
    monkeypatch.setenv("TITAN_HOST", "127.0.0.1")
    monkeypatch.setenv("TITAN_PORT", "4321")
    assert TitanClient().address == "127.0.0.1:4321"
    monkeypatch.delenv("TITAN_HOST")
    monkeypatch.delenv("TITAN_PORT")
    assert TitanClient().address == "127.0.0.1:9090"
    assert TitanClient("127.0.0.1:5555").port == 5555
    assert TitanClient("127.0.0.1", 6666).address == "127.0.0.1:6666"




def _camel(value):
    """A model as the CLI's JSON shows it: camelCase keys, enums by name, absent optionals left out."""
    import dataclasses
    import enum

    if dataclasses.is_dataclass(value):
        out = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if v is None:
                continue
            head, *rest = f.name.split("_")
            out[head + "".join(p.title() for p in rest)] = _camel(v)
        return out
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, list):
        return [_camel(v) for v in value]
    if isinstance(value, dict):
        return {k: _camel(v) for k, v in value.items()}
    return value


def test_decoded_status_matches_the_cli(client: TitanClient, cluster) -> None:
    import json
    import os
    import subprocess

    job_id = client.run(TitanJob("x", script_content="exit 4", filename="x.sh", env={"A": "b"}, retries=1,
                                 retry_delay=0.01), timeout=20).id
    dag_id = client.submit_dag("cross-check", [TitanJob("a", command=["true"]),
                                               TitanJob("b", command=["false"], parents=["a"], affinity=True),
                                               TitanJob("c", command=["true"], parents=["b"])])
    client.wait(dag_id, timeout=20)
    for id, info in [(job_id, client.job(job_id)), (dag_id, client.dag(dag_id))]:
        out = subprocess.run([os.path.join(cluster.bin_dir, "titan"), "status", id, "--json"], env=cluster.env(),
                             capture_output=True, text=True, timeout=30, check=True).stdout
        cli = json.loads(out)
        mine = _camel(info)
        for job in [mine] if id == job_id else mine["jobs"]:
            for artifact in job["spec"]["artifacts"]:
                artifact["kind"] = artifact["kind"].lower()
        assert mine == cli
