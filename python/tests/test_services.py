"""Services through the SDK: deploy, health, list, stop (also under the original SDK's name),
replicas, and services as DAG jobs."""

from __future__ import annotations

import time

import pytest

from titan_sdk import DagState, JobState, NotFound, ServiceOptions, TitanClient, TitanJob

#: A small HTTP server on the port the worker picks.
SERVER = ["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]


def wait_for(predicate, timeout: float = 30.0):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.time() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_deploy_health_and_stop(client: TitanClient, uid: str) -> None:
    name = f"web-{uid}"
    info = client.deploy_service(name, ["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"],
                                 auto_port=True, health="http:/")
    assert info.spec.name == name and info.state in ("STARTING", "PENDING")
    healthy = wait_for(lambda: (s := client.service(name)).state == "HEALTHY" and s)
    assert healthy.port >= 20000 and healthy.pid > 0 and healthy.worker_id
    assert any(s.spec.name == name for s in client.services())
    # The original SDK's name for it.
    assert client.stop_service(name) is True
    wait_for(lambda: client.service(name).state == "STOPPED")
    assert client.service(name).restarts == 0


def test_a_crashing_service_is_restarted(client: TitanClient, uid: str) -> None:
    name = f"flaky-{uid}"
    client.deploy_service(name, ["sh", "-c", "exit 2"], restart="on-failure")
    wait_for(lambda: client.service(name).restarts >= 1)
    assert client.service(name).last_exit == "exit 2"
    client.stop_service(name)
    with pytest.raises(NotFound):
        client.service(f"nope-{uid}")


def copies_of(client: TitanClient, name: str) -> list:
    """Every copy of service ``name``, first copy first."""
    return sorted((s for s in client.services() if s.spec.name == name), key=lambda s: s.replica)


def test_replicas_are_listed_as_copies_and_stopped_together(client: TitanClient, uid: str) -> None:
    name = f"pair-{uid}"
    first = client.deploy_service(name, SERVER, auto_port=True, health="tcp", replicas=2)
    assert first.spec.name == name and first.spec.replicas == 2 and first.replica == 0 and first.spec.dag == ""
    healthy = wait_for(lambda: (c := copies_of(client, name)) and len(c) == 2
                       and all(s.state == "HEALTHY" for s in c) and c)
    assert [s.instance for s in healthy] == [name, f"{name}#1"]
    assert [s.replica for s in healthy] == [0, 1]
    assert all(s.port >= 20000 and s.pid > 0 and s.worker_id for s in healthy)
    # Spread over workers where possible (two workers, free slots on both).
    assert healthy[0].worker_id != healthy[1].worker_id
    assert client.service(f"{name}#1").replica == 1 and client.service(name).replica == 0
    # Each worker lists the copies it runs.
    wait_for(lambda: all(s.instance in {w.id: w for w in client.workers()}[s.worker_id].services for s in healthy))
    # Stopping the service stops every copy.
    assert client.stop_service(name) is True
    stopped = wait_for(lambda: (c := copies_of(client, name)) and all(s.state == "STOPPED" for s in c) and c)
    assert [s.instance for s in stopped] == [name, f"{name}#1"]
    wait_for(lambda: not any(name in w.services or f"{name}#1" in w.services for w in client.workers()))


def test_a_dag_job_can_be_a_service(client: TitanClient, uid: str) -> None:
    name = f"dagweb-{uid}"
    # The job below the service finds its port (TITAN_SVC_WEB_PORT, else asking the master) and
    # connects to it.
    probe = ("import os, socket\n"
             "port = os.environ.get('TITAN_SVC_WEB_PORT', '')\n"
             "if not port:\n"
             "    from titan_sdk import TitanClient\n"
             f"    port = str(TitanClient().service({name!r}).port)\n"
             "socket.create_connection(('127.0.0.1', int(port)), timeout=5).close()\n"
             "print('connected', port)\n")
    dag_id = client.submit_dag(f"with-service-{uid}", [
        TitanJob("web", command=SERVER, service=True, service_name=name, auto_port=True, health="tcp", keep=False),
        TitanJob("use", command=["python3", "-c", probe], parents=["web"]),
    ])
    outcome = client.wait(dag_id, timeout=60)
    assert outcome.state is DagState.COMPLETED, outcome.describe()
    assert outcome.jobs["web"].state is JobState.COMPLETED and outcome.jobs["use"].state is JobState.COMPLETED
    assert outcome.jobs["web"].finished_ms <= outcome.jobs["use"].started_ms
    words = client.fetch_logs(f"{dag_id}/use").split()
    assert words[0] == "connected" and 20000 <= int(words[1]) <= 29999
    # The job carries its service options; the service remembers the DAG that started it.
    assert client.job(f"{dag_id}/web").spec.service == ServiceOptions(name=name, port=0, health="tcp", keep=False)
    copies = copies_of(client, name)
    assert len(copies) == 1 and copies[0].spec.dag == dag_id and copies[0].spec.command == SERVER
    # The DAG has ended: its service is stopped.
    wait_for(lambda: (c := copies_of(client, name)) and all(s.state == "STOPPED" for s in c))


def test_a_service_outlives_its_dag_by_default(client: TitanClient, uid: str) -> None:
    name = f"kept-{uid}"
    dag_id = client.submit_dag(f"keep-{uid}", [
        TitanJob("web", command=SERVER, job_type="SERVICE", service_name=name, auto_port=True, health="tcp"),
    ])
    assert client.wait(dag_id, timeout=60).state is DagState.COMPLETED
    # Healthy when its job completed, and the DAG's end does not stop it.
    info = client.service(name)
    assert info.state == "HEALTHY" and info.spec.dag == ""
    assert client.stop_service(name) is True
    wait_for(lambda: client.service(name).state == "STOPPED")


def test_a_service_job_fails_if_its_service_exits_before_healthy(client: TitanClient, uid: str) -> None:
    name = f"broken-{uid}"
    dag_id = client.submit_dag(f"broken-service-{uid}", [
        TitanJob("svc", command=["sh", "-c", "exit 3"], service=True, service_name=name, auto_port=True,
                 health="tcp", restart="never"),
        TitanJob("use", command=["true"], parents=["svc"]),
    ])
    outcome = client.wait(dag_id, timeout=60)
    assert outcome.state is DagState.FAILED
    assert outcome.jobs["svc"].state is JobState.FAILED and outcome.jobs["use"].state is JobState.SKIPPED
    assert name in (outcome.jobs["svc"].error or "")
