"""TitanJob -> JobSpec without a cluster: the original SDK's parameters keep their meaning."""

from __future__ import annotations

import hashlib
from typing import Optional

import pytest

from titan_sdk import Affinity, ArtifactKind, InvalidRequest, NotSupported, TitanJob
from titan_sdk.jobs import SDK_DIR, expand_hitl
from titan_sdk.models import ArtifactInfo, ArtifactRef, GateSpec


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


def test_services_are_not_supported_yet() -> None:
    for kind in ("DEPLOY_PAYLOAD", "SERVICE"):
        with pytest.raises(NotSupported, match="services are not supported"):
            TitanJob("svc", command=["sleep", "9"], job_type=kind)
    with pytest.raises(InvalidRequest):
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
