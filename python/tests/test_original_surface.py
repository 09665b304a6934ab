"""The original Titan SDK's public surface (its ``titan_sdk.py``: ``TitanJob`` and every
``TitanClient`` method), called the way code written for it calls it, against a real cluster:
each works here, with the original's parameters and the return shapes its callers test.
(``agent_run_id`` belongs to agent runs, tested with them.)"""

from __future__ import annotations

import base64
import os
import socket
import struct
import time

import pytest

from titan_sdk import ArtifactInfo, JobState, NotSupported, TitanClient, TitanJob

#: The original's final states, as its ``_wait_for_dag`` polled for them.
ORIGINAL_TERMINAL = {"COMPLETED", "FAILED", "REJECTED", "ERROR", "CANCELLED"}


def fresh(cluster) -> TitanClient:
    """Another client, knowing nothing this session's client submitted (as another process)."""
    return TitanClient(cluster.address, request_timeout=30, token_file=cluster.token_file)


def poll_status(client: TitanClient, job_id: str, timeout: float = 30) -> str:
    """Polls ``get_job_status`` as the original's callers did, until a final state."""
    deadline = time.monotonic() + timeout
    while True:
        status = client.get_job_status(job_id)
        if status in ORIGINAL_TERMINAL:
            return status
        assert time.monotonic() < deadline, f"{job_id} still {status}"
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_original_import_path_and_job_attributes(tmp_path) -> None:
    from titan_sdk.titan_sdk import TITAN_PORT, TitanClient as OriginalClient, TitanJob as OriginalJob

    assert OriginalClient is TitanClient and OriginalJob is TitanJob and isinstance(TITAN_PORT, int)
    # Every original parameter, positionally, in its order.
    job = TitanJob("train", "train.py", "RUN_PAYLOAD", "--epochs 3", ["prep"], 0, False, 10, 500, True, "GPU",
                   "Ship it?", 60)
    assert (job.id, job.filename, job.job_type, job.args, job.parents, job.port, job.is_archive) == \
        ("train", "train.py", "RUN_PAYLOAD", "--epochs 3", ["prep"], 0, False)
    assert (job.priority, job.delay, job.affinity, job.requirement, job.hitl_message, job.max_wait_seconds) == \
        (10, 500, True, "GPU", "Ship it?", 60)
    bare = TitanJob("x", "x.py")
    assert bare.args == "" and bare.parents == []  # the original's empty values, not None
    bare.parents.append("y")  # as its callers did
    assert bare.dependencies == ["y"]
    bare.id = "renamed"
    assert bare.job_id == "renamed"
    # job_type as the original took it: TASK (its YAML parser's) runs; SERVICE deploys.
    assert not TitanJob("t", "t.py", job_type="TASK").is_service
    assert TitanJob("s", "s.py", job_type="SERVICE", port=8000).is_service
    # payload_b64: the script inline, as the original sent it.
    script = tmp_path / "hello.py"
    script.write_text("print('hi')\n")
    assert base64.b64decode(TitanJob("h", str(script)).payload_b64) == b"print('hi')\n"
    assert TitanJob("a", "p.zip/main.py", is_archive=True).payload_b64 == "REMOTE_ASSET"
    with pytest.raises(FileNotFoundError):
        TitanJob("m", str(tmp_path / "missing.py")).payload_b64
    with pytest.raises(NotSupported):
        TitanJob("c", command=["true"]).to_string()


def test_to_string_is_a_line_the_master_takes_over_the_original_protocol(client: TitanClient, cluster, tmp_path,
                                                                          uid: str) -> None:
    script = tmp_path / "echo.sh"
    script.write_text('echo "v1 line" "$@"\n')
    first = TitanJob(f"line-a-{uid}", str(script), args="one|two", priority=3, delay=10)
    second = TitanJob(f"line-b-{uid}", str(script), args="three", parents=[f"line-a-{uid}"], affinity=True)
    b64 = base64.b64encode(script.read_bytes()).decode()
    assert first.to_string() == f"line-a-{uid}|RUN_PAYLOAD|echo.sh|one two|{b64}|GENERAL|3|10|[]"
    assert second.to_string() == f"line-b-{uid}|RUN_PAYLOAD|echo.sh|three|{b64}|GENERAL|1|0|[line-a-{uid}]|AFFINITY"
    payload = " ; ".join(j.to_string() for j in (first, second)).encode()
    with socket.create_connection((cluster.host, cluster.port), timeout=10) as s:
        s.sendall(struct.pack(">BBBBI", 1, 0x04, 0, 0, len(payload)) + payload)  # v1 SUBMIT_DAG
        length = struct.unpack(">BBBBI", s.recv(8, socket.MSG_WAITALL))[4]
        assert s.recv(length, socket.MSG_WAITALL) == b"DAG_ACCEPTED"
    assert poll_status(client, f"line-b-{uid}") == "COMPLETED"
    assert client.fetch_logs(f"DAG-line-a-{uid}") == "v1 line one two\n"
    assert client.fetch_logs(f"line-b-{uid}") == "v1 line three\n"


def test_a_job_submitted_alone_is_found_by_its_name_from_any_client(client: TitanClient, cluster, tmp_path,
                                                                     uid: str) -> None:
    script = tmp_path / "hello.py"
    script.write_text("import sys\nprint('hello', *sys.argv[1:])\n")
    name = f"lone-{uid}"
    job = TitanJob(name, str(script), args="big world")
    job_id = client.submit_job(job)
    assert job_id.startswith("dag-") and job_id.endswith("/" + name)  # a DAG of one, as the original sent it
    assert poll_status(client, job.id) == "COMPLETED"
    assert client.fetch_logs(f"DAG-{name}") == "hello big world\n"
    with fresh(cluster) as other:  # nothing remembered locally: the master finds it by name
        assert other.get_job_status(name) == "COMPLETED"
        assert other.get_job_status(f"DAG-{name}") == "COMPLETED"
        assert other.fetch_logs(name) == other.fetch_logs(f"DAG-{name}") == "hello big world\n"
        assert other.wait(f"DAG-{name}", timeout=10).id == job_id
    assert client.get_job_status(f"DAG-never-{uid}") == "NULL"


def test_submit_dag_and_the_original_final_states(client: TitanClient, tmp_path, uid: str) -> None:
    ok, bad, slow = tmp_path / "ok.sh", tmp_path / "bad.sh", tmp_path / "slow.sh"
    ok.write_text("echo ok $@\n")
    bad.write_text("exit 3\n")
    slow.write_text("sleep 30\n")
    dag_id = client.submit_dag(f"states-{uid}", [
        TitanJob(f"first-{uid}", str(ok), priority=5, requirement="GENERAL"),
        TitanJob(f"then-{uid}", str(ok), args="x", parents=[f"first-{uid}"], affinity=True, delay=200),
        TitanJob(f"bad-{uid}", str(bad)),
        TitanJob(f"below-bad-{uid}", str(ok), parents=[f"bad-{uid}"]),
        TitanJob(f"slow-{uid}", str(slow)),
        TitanJob(f"below-slow-{uid}", str(ok), parents=[f"slow-{uid}"]),
    ])
    assert dag_id.startswith("dag-")
    assert poll_status(client, f"then-{uid}") == "COMPLETED"
    assert client.fetch_logs(f"then-{uid}") == "ok x\n"
    assert poll_status(client, f"bad-{uid}") == "FAILED"
    # Skipped below a failure: the original named it FAILED (it had no SKIPPED state).
    assert poll_status(client, f"below-bad-{uid}") == "FAILED"
    assert client.status(f"below-bad-{uid}").state is JobState.SKIPPED
    while client.get_job_status(f"slow-{uid}") != "RUNNING":
        time.sleep(0.05)
    client.cancel(f"DAG-slow-{uid}")
    assert poll_status(client, f"below-slow-{uid}") == "CANCELLED"  # skipped below a cancel
    assert poll_status(client, dag_id) in ("FAILED", "CANCELLED")


YAML = """\
name: "orig-yaml-{uid}"
version: "1.0"
project: true

jobs:
  - id: "step-{uid}"
    type: "run"
    file: "step.py"
    args: "from yaml"
    hitl_message: {gate}
"""


def test_submit_yaml_waits_or_gives_up_as_the_original(client: TitanClient, tmp_path, uid: str) -> None:
    (tmp_path / "step.py").write_text("import sys\nprint(*sys.argv[1:])\n")
    path = tmp_path / "pipeline.yaml"
    path.write_text(YAML.format(uid=uid, gate="null"))
    dag_id = client.submit_yaml(str(path), wait=True, poll_interval=0.1, timeout=60)
    assert isinstance(dag_id, str) and client.get_job_status(dag_id) == "COMPLETED"
    assert client.fetch_logs(f"step-{uid}") == "from yaml\n"
    # A gate nobody decides: waiting gives up after `timeout`, returning False.
    gated = tmp_path / "gated.yaml"
    gated.write_text(YAML.format(uid=f"g{uid}", gate='"Go on?"'))
    assert client.submit_yaml(str(gated), wait=True, timeout=1) is False
    client.reject(f"DAG-hitl-gate-step-g{uid}")
    assert poll_status(client, f"hitl-gate-step-g{uid}") == "FAILED"


def test_the_kv_store_as_the_original_used_it(client: TitanClient, uid: str) -> None:
    assert client.store_put(f"orig:{uid}:accuracy", "98.5")
    assert client.store_get(f"orig:{uid}:accuracy") == "98.5"
    assert client.store_get(f"orig:{uid}:missing") is None  # the original's text for it was "NULL"
    assert client.store_sadd(f"orig:{uid}:files", "batch_A.csv") == 1
    assert client.store_sadd(f"orig:{uid}:files", "batch_A.csv") == 0
    assert client.store_sadd(f"orig:{uid}:files", "batch_B.csv") == 1
    assert client.store_smembers(f"orig:{uid}:files") == ["batch_A.csv", "batch_B.csv"]


def test_uploads_downloads_and_published_artifacts(client: TitanClient, cluster, tmp_path, monkeypatch,
                                                   uid: str) -> None:
    asset = tmp_path / f"calc-{uid}.py"
    asset.write_text("print(2 + 3)\n")
    resp = client.upload_file(str(asset))
    # What the original's callers test, and what this SDK's test.
    assert (resp or "").strip() == "UPLOAD_SUCCESS" and "UPLOAD_SUCCESS" in resp
    assert resp.name == asset.name and resp.size == asset.stat().st_size
    assert resp == client.artifact(asset.name) and isinstance(resp.info, ArtifactInfo)
    # fetch_artifact: to save_path, or by default under its name in the current directory.
    assert client.fetch_artifact(asset.name, save_path=str(tmp_path / "copy.py"))
    assert (tmp_path / "copy.py").read_text() == "print(2 + 3)\n"
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    assert client.fetch_artifact(asset.name)
    assert (work / asset.name).read_text() == "print(2 + 3)\n"
    with pytest.raises(FileNotFoundError):
        client.upload_file(str(tmp_path / "does_not_exist.py"))

    # publish_artifact / get_artifact: by a KV key.
    report = tmp_path / f"report-{uid}.md"
    report.write_text("# findings\n")
    assert client.publish_artifact(f"run:{uid}:report", str(report)) is True
    assert client.store_get(f"run:{uid}:report") == report.name
    with fresh(cluster) as orchestrator:
        assert orchestrator.get_artifact(f"run:{uid}:report", save_path=str(tmp_path / "got.md")) is True
        assert (tmp_path / "got.md").read_text() == "# findings\n"
        default = os.path.join("/tmp", report.name)
        try:
            assert orchestrator.get_artifact(f"run:{uid}:report") is True
            assert open(default).read() == "# findings\n"
        finally:
            if os.path.exists(default):
                os.unlink(default)
        assert orchestrator.get_artifact(f"run:{uid}:nothing") is False
    assert client.publish_artifact(f"run:{uid}:gone", str(tmp_path / "missing.md")) is False


def test_project_folders_and_archive_jobs(client: TitanClient, tmp_path, uid: str) -> None:
    project = tmp_path / f"agent_{uid}"
    project.mkdir()
    (project / "main.py").write_text("import utils\nprint('main:', utils.message())\n")
    (project / "utils.py").write_text("def message():\n    return 'dependency loaded'\n")
    resp = client.upload_project_folder(str(project))
    assert "UPLOAD_SUCCESS" in resp and resp.name == f"agent_{uid}.zip"
    named = client.upload_project_folder(str(project), project_name=f"proj-{uid}")
    assert named.name == f"proj-{uid}.zip"
    assert client.upload_project_folder(str(project), f"pos-{uid}").name == f"pos-{uid}.zip"
    job = TitanJob(f"ARCHIVE-TEST-{uid}", f"proj-{uid}.zip/main.py", job_type="TASK", is_archive=True)
    client.submit_job(job)
    assert poll_status(client, job.id) == "COMPLETED"
    assert client.fetch_logs(job.id) == "main: dependency loaded\n"


def test_deploy_script_then_run_it_by_name(client: TitanClient, tmp_path, monkeypatch, uid: str) -> None:
    worker = tmp_path / "workers" / f"my_worker_{uid}.py"
    worker.parent.mkdir()
    worker.write_text("import sys\nprint('deployed worker', *sys.argv[1:])\n")
    assert client.deploy_script(str(worker)) == "DEPLOY_SUCCESS"
    assert client.deploy_script(str(tmp_path / "nope.py")) == f"ERROR: File not found at: {tmp_path / 'nope.py'}"
    monkeypatch.chdir(tmp_path)  # no such file here: the job runs the deployed one
    job = TitanJob(f"use-deployed-{uid}", worker.name, args="ran")
    client.submit_job(job)
    assert poll_status(client, job.id) == "COMPLETED"
    assert client.fetch_logs(job.id) == "deployed worker ran\n"


SERVER = """\
import http.server, os
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), http.server.SimpleHTTPRequestHandler).serve_forever()
"""


def test_services_deployed_resolved_listed_and_stopped(client: TitanClient, tmp_path, uid: str) -> None:
    server = tmp_path / "api_server.py"
    server.write_text(SERVER)
    port = free_port()
    name = f"my-api-{uid}"
    client.submit_job(TitanJob(name, str(server), job_type="SERVICE", port=port))
    assert poll_status(client, f"DAG-{name}") == "COMPLETED"  # deployed and healthy, as the original waited
    assert name in client.list_services()
    host, bound = client.get_service_address(name)
    assert bound == port and client.get_service_address(f"DAG-{name}") == (host, port)
    assert client.get_service_url(name) == f"http://{host}:{port}"
    assert client.get_service_url(name, scheme="tcp") == f"tcp://{host}:{port}"
    socket.create_connection((host, port), timeout=5).close()  # it listens there
    assert client.stop_service(name)
    deadline = time.monotonic() + 20
    while name in client.list_services():
        assert time.monotonic() < deadline, "the service did not stop"
        time.sleep(0.05)
    assert client.get_service_address(name) is None and client.get_service_url(name) is None
    assert client.get_service_address(f"nothing-{uid}") is None
    with pytest.raises(ValueError, match="non-empty"):
        client.stop_service("")


def test_hitl_message_gates_decided_by_their_original_names(client: TitanClient, tmp_path, uid: str) -> None:
    step = tmp_path / "step.sh"
    step.write_text("echo $1\n")
    dag_id = client.submit_dag(f"hitl-{uid}", [
        TitanJob(f"prep-{uid}", str(step), args="prepared", hitl_message="Data looks good?", max_wait_seconds=600),
        TitanJob(f"train-{uid}", str(step), args="trained", parents=[f"prep-{uid}"]),
    ])
    gate = f"{dag_id}/hitl-gate-prep-{uid}"
    deadline = time.monotonic() + 20
    while gate not in [a.gate_id for a in client.pending_approvals()]:
        assert time.monotonic() < deadline, "the gate did not open"
        time.sleep(0.05)
    assert client.get_job_status(f"hitl-gate-prep-{uid}") == "RUNNING"
    assert client.get_job_status(f"train-{uid}") == "PENDING"
    assert client.approve(f"DAG-hitl-gate-prep-{uid}") == gate
    assert poll_status(client, f"train-{uid}") == "COMPLETED"
    assert client.fetch_logs(f"DAG-train-{uid}") == "trained\n"
    assert gate not in [a.gate_id for a in client.pending_approvals()]
