"""TitanJob -> JobSpec without a cluster: the original SDK's parameters keep their meaning."""

from __future__ import annotations

import hashlib
import re
from typing import Optional

import pytest

from titan_sdk import Affinity, ArtifactKind, InvalidRequest, ServiceOptions, TitanClient, TitanJob
from titan_sdk import protocol as p
from titan_sdk.jobs import SDK_DIR, expand_hitl
from titan_sdk.models import ArtifactInfo, ArtifactRef, DagSpec, GateSpec


class FakeClient:
    """Records uploads instead of talking to a master."""

    def __init__(self) -> None:
        self.uploads: list[tuple[str, bytes]] = []

    def upload_bytes(self, name: str, data: bytes, kind: ArtifactKind = ArtifactKind.FILE) -> ArtifactInfo:
        self.uploads.append((name, data))
        return ArtifactInfo(name, hashlib.sha256(data).hexdigest(), len(data), kind)

    def upload_file(self, path: str, name: Optional[str] = None, *, cached: bool = False) -> ArtifactInfo:
        with open(path, "rb") as f:
            return self.upload_bytes(name or path, f.read())

    def artifact(self, name: str) -> ArtifactInfo:
        return ArtifactInfo(name, "f" * 64, 10, ArtifactKind.ARCHIVE)

    def sdk_artifact(self) -> ArtifactRef:
        return ArtifactRef("e" * 64, 5, ArtifactKind.ARCHIVE, SDK_DIR)


def test_original_positional_signature(tmp_path) -> None:
    script = tmp_path / "extract.py"
    script.write_text("print('x')\n")
    job = TitanJob("extract", str(script), "RUN_PAYLOAD", "--day 3  --fast", None, 0, False, 5, 250, True, "GPU")
    spec = job.to_spec(FakeClient())  # type: ignore[arg-type]
    assert spec.command == ["python3", "extract.py", "--day", "3", "--fast"]
    assert spec.priority == 5 and spec.delay_ms == 250 and spec.requirements == ["GPU"] and spec.name == "extract"
    assert spec.artifacts[0].destination == "extract.py" and not spec.artifacts[0].executable
    assert job.to_dag_job(FakeClient(), "x").affinity is Affinity.SOFT  # type: ignore[arg-type]


def test_interpreters_and_direct_execution(tmp_path) -> None:
    for name, expected in [("a.sh", ["bash", "a.sh"]), ("tool", ["./tool"]), ("b.PY", ["python3", "b.PY"])]:
        path = tmp_path / name
        path.write_text("x")
        spec = TitanJob("j", str(path), args=["1"]).to_spec(FakeClient())  # type: ignore[arg-type]
        assert spec.command == expected + ["1"]
        assert spec.artifacts[0].executable == (expected[0] == "./tool")


def test_general_requirement_means_any_worker() -> None:
    client = FakeClient()
    assert TitanJob("j", command=["true"]).to_spec(client).requirements == []  # type: ignore[arg-type]
    assert TitanJob("j", command=["true"], requirement="GPU,HIGH_MEM").to_spec(  # type: ignore[arg-type]
        client).requirements == ["GPU", "HIGH_MEM"]


def test_new_options() -> None:
    job = TitanJob(command="echo $1", args="hi", retries=3, retry_delay=0.5, timeout=2, env={"K": 1}, name="n",
                   affinity="hard")
    spec = job.to_spec(FakeClient())  # type: ignore[arg-type]
    assert spec.command == ["sh", "-c", "echo $1", "sh", "hi"]
    assert (spec.retries, spec.retry_delay_ms, spec.timeout_ms) == (3, 500, 2000)
    assert spec.environment == {"K": "1"} and spec.name == "n"
    assert job.to_dag_job(FakeClient(), "job1").id == "job1"  # type: ignore[arg-type]


def test_inline_script_is_uploaded_from_memory() -> None:
    client = FakeClient()
    spec = TitanJob("s", script_content="print(1)\n", filename="step.py").to_spec(client)  # type: ignore[arg-type]
    assert client.uploads == [("step.py", b"print(1)\n")]
    assert spec.command == ["python3", "step.py"]


def test_archive_entry() -> None:
    spec = TitanJob("t", "project.zip/src/train.py", args="--epochs 2", is_archive=True).to_spec(
        FakeClient())  # type: ignore[arg-type]
    assert spec.command == ["python3", "src/train.py", "--epochs", "2"]
    assert spec.artifacts == [ArtifactRef("f" * 64, 10, ArtifactKind.ARCHIVE, "", False)]


def test_job_type_validation() -> None:
    with pytest.raises(InvalidRequest, match="job_type: unknown job type 'BOGUS'"):
        TitanJob("x", command=["true"], job_type="BOGUS")
    with pytest.raises(InvalidRequest, match="needs a command"):
        TitanJob("x")
    with pytest.raises(InvalidRequest, match="needs a filename"):
        TitanJob("x", script_content="print()")


def test_hitl_gate_is_inserted_and_children_rewired() -> None:
    jobs = [
        TitanJob("train", command=["true"], hitl_message="Ship it?", max_wait_seconds=60),
        TitanJob("deploy", command=["true"], parents=["train"], affinity="hard"),
        TitanJob("report", command=["true"], parents=["deploy", "train"]),
    ]
    expanded, gates = expand_hitl(jobs)
    assert gates == ["hitl-gate-train"]
    assert [j.job_id for j in expanded] == ["train", "hitl-gate-train", "deploy", "report"]
    gate = expanded[1]
    assert gate.dependencies == ["train"] and gate.gate == "Ship it?"
    spec = gate.to_spec(FakeClient())  # type: ignore[arg-type]
    assert spec.gate == GateSpec("Ship it?", 60_000) and spec.command == [] and not spec.artifacts
    # deploy keeps train first (affinity follows the first parent: train's worker has its files).
    assert expanded[2].dependencies == ["train", "hitl-gate-train"]
    assert expanded[3].dependencies == ["deploy", "hitl-gate-train"]
    assert jobs[1].dependencies == ["train"]  # the caller's jobs are not modified


def test_script_gates_run_the_shipped_gate_script() -> None:
    jobs = [TitanJob("train", command=["true"], hitl_message="Ship it?", max_wait_seconds=60),
            TitanJob("deploy", command=["true"], parents=["train"], affinity="hard")]
    expanded, _ = expand_hitl(jobs, native=False)
    gate = expanded[1]
    assert gate.ship_sdk and gate.gate is None and gate.affinity is Affinity.HARD
    spec = gate.to_spec(FakeClient())  # type: ignore[arg-type]
    assert spec.command == ["python3", ".titan/sdk/titan_sdk/hitl_gate.py", "--message", "Ship it?",
                            "--max-wait", "60"]
    assert spec.gate is None and spec.artifacts[0].destination == SDK_DIR


def test_explicit_gate_job() -> None:
    spec = TitanJob("ok-to-ship", gate="Ship?", parents=["build"], max_wait_seconds=5).to_spec(
        FakeClient())  # type: ignore[arg-type]
    assert spec.gate == GateSpec("Ship?", 5000) and spec.name == "ok-to-ship"
    with pytest.raises(InvalidRequest, match="a gate runs nothing"):
        TitanJob("g", gate="?", command=["true"])


# -- services in DAGs ----------------------------------------------------------------------------

SERVER = ["python3", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]


def test_ordinary_jobs_are_no_services() -> None:
    job = TitanJob("j", command=["true"])
    assert not job.is_service and job.service_options() is None
    assert job.to_spec(FakeClient()).service is None  # type: ignore[arg-type]


def test_service_job_with_keywords() -> None:
    job = TitanJob("web", command=SERVER, env={"K": "v"}, requirement="GPU", service=True, auto_port=True,
                   health="tcp", replicas=2, keep=False, restart="on-failure", service_name="api")
    spec = job.to_spec(FakeClient())  # type: ignore[arg-type]
    assert spec.service == ServiceOptions(name="api", restart="on-failure", port=0, health="tcp", replicas=2,
                                          keep=False)
    # The job's command, environment and requirements are the service's.
    assert spec.command == SERVER and spec.environment == {"K": "v"} and spec.requirements == ["GPU"]
    assert spec.name == "web" and spec.gate is None
    dag_job = job.to_dag_job(FakeClient(), "x")  # type: ignore[arg-type]
    assert dag_job.id == "web" and dag_job.spec.service == spec.service


def test_service_defaults() -> None:
    spec = TitanJob("db", command=["sleep", "60"], service=True).to_spec(FakeClient())  # type: ignore[arg-type]
    # Named after the job by the master (""), always restarted, no port, no health check, one
    # copy, kept after its DAG (like deploy_service).
    assert spec.service == ServiceOptions("", "always", -1, "", 1, True)


@pytest.mark.parametrize("kind", ["SERVICE", "DEPLOY_PAYLOAD", "service"])
def test_original_service_job_types(kind: str) -> None:
    job = TitanJob("api", None, kind, "--x 1", ["build"], 8080, command=SERVER[:4])
    spec = job.to_spec(FakeClient())  # type: ignore[arg-type]
    assert job.is_service and job.dependencies == ["build"]
    # The original port is the service's fixed port, checked as the original did (it counted a
    # service up once its port answered).
    assert spec.service == ServiceOptions(port=8080, health="tcp")
    assert spec.command == SERVER[:4] + ["--x", "1"] and spec.environment == {"TITAN_JOB_PORT": "8080"}
    with pytest.raises(InvalidRequest, match="service=False contradicts job_type"):
        TitanJob("api", job_type=kind, command=["true"], service=False)


def test_service_from_options_object() -> None:
    options = ServiceOptions(name="cache", port=6379, health="tcp", keep=True)
    job = TitanJob("cache", filename="server.py", script_content="print()", service=options)
    client = FakeClient()
    spec = job.to_spec(client)  # type: ignore[arg-type]
    assert spec.service == options and spec.service is not options
    assert spec.command == ["python3", "server.py"] and client.uploads == [("server.py", b"print()")]
    # A fixed port given the original way fills a ServiceOptions without one.
    spec = TitanJob("c", None, "RUN_PAYLOAD", None, None, 7000, command=["x"],
                    service=ServiceOptions(health="tcp")).to_spec(FakeClient())  # type: ignore[arg-type]
    assert spec.service is not None and spec.service.port == 7000
    with pytest.raises(InvalidRequest, match="port: 7000 contradicts service.port 6379"):
        TitanJob("c", None, "RUN_PAYLOAD", None, None, 7000, command=["x"], service=options)
    with pytest.raises(InvalidRequest, match="replicas, keep: give the service's options either"):
        TitanJob("c", command=["x"], service=options, replicas=2, keep=False)


@pytest.mark.parametrize("kwargs, message", [
    ({"replicas": 0}, "replicas: must be at least 1"),
    ({"replicas": True}, "replicas: must be at least 1"),
    ({"restart": "sometimes"}, "restart: expected always, on-failure, never, got 'sometimes'"),
    ({"health": "udp", "auto_port": True}, "health: expected 'tcp' or 'http:/PATH', got 'udp'"),
    ({"health": "tcp"}, "health: a health check needs a port"),
    ({"auto_port": True, "port": 80}, "port, auto_port: give a fixed port"),
    ({"port": 70_000}, "port: 70000 is not a port"),
    ({"service_name": "a/b"}, "service_name: a service name has at most 128 bytes and no '/' or '#'"),
    ({"service_name": "a#1"}, "service_name: a service name has at most 128 bytes and no '/' or '#'"),
    ({"service": ServiceOptions(replicas=0)}, "service.replicas: must be at least 1"),
    ({"service": ServiceOptions(health="tcp")}, "service.health: a health check needs a port"),
    ({"service": "yes"}, "service: expected True/False or a ServiceOptions"),
    ({"gate": "ok?", "command": None}, "a job is a gate or a service, not both"),
])
def test_bad_service_options_are_refused_naming_the_option(kwargs: dict, message: str) -> None:
    args = {"command": ["true"], "service": True, **kwargs}
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        TitanJob("svc", **args)


def test_service_keywords_need_a_service() -> None:
    with pytest.raises(InvalidRequest, match="auto_port, health: only for services"):
        TitanJob("j", command=["true"], auto_port=True, health="tcp")
    with pytest.raises(InvalidRequest, match="replicas: only for services"):
        TitanJob("j", command=["true"], service=False, replicas=2)


def test_service_job_after_hitl_expansion_keeps_its_options() -> None:
    jobs = [TitanJob("web", command=SERVER, service=True, auto_port=True, health="tcp", hitl_message="Go live?"),
            TitanJob("use", command=["true"], parents=["web"])]
    expanded, gates = expand_hitl(jobs)
    assert gates == ["hitl-gate-web"] and expanded[0].service_options() == ServiceOptions(port=0, health="tcp")
    assert expanded[1].to_spec(FakeClient()).service is None  # type: ignore[arg-type]


def test_service_jobs_and_options_are_refused_before_sending() -> None:
    client = TitanClient("127.0.0.1:1", auto_reconnect=False)  # never connects: refused first
    try:
        with pytest.raises(InvalidRequest, match="a service job belongs to a DAG"):
            client.submit(TitanJob("web", command=SERVER, service=True, auto_port=True))
        for bad in (0, -1, True, 1.5):
            with pytest.raises(InvalidRequest, match="replicas: must be at least 1"):
                client.deploy_service("web", SERVER, auto_port=True, replicas=bad)  # type: ignore[arg-type]
        assert not client.connected
    finally:
        client.close()


def test_service_dag_encodes() -> None:
    jobs = [TitanJob("web", command=SERVER, service=True, auto_port=True, health="tcp", replicas=2),
            TitanJob("use", command=["true"], parents=["web"])]
    specs = [j.to_dag_job(FakeClient(), f"job{i}") for i, j in enumerate(jobs)]  # type: ignore[arg-type]
    frame = p.encode(3, p.SubmitDag(DagSpec("svc", specs)))
    _, decoded = p.decode(frame[1], frame[8:])
    assert decoded.dag.jobs[0].spec.service == ServiceOptions(port=0, health="tcp", replicas=2)
    assert decoded.dag.jobs[1].spec.service is None and decoded.dag.jobs[1].depends_on == ["web"]
