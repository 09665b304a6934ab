"""Artifacts: uploads, downloads, project archives, and jobs that ship scripts."""

from __future__ import annotations

import hashlib
import os

import pytest

from titan_sdk import ArtifactKind, InvalidRequest, JobState, NotFound, TitanClient, TitanJob


def test_upload_file_and_fetch_it_back(client: TitanClient, tmp_path, uid: str) -> None:
    data = os.urandom((5 << 19) + 123)  # 2.5 MiB + 123: three chunks, the last one short
    src = tmp_path / "model.bin"
    src.write_bytes(data)
    info = client.upload_file(str(src), f"model-{uid}.bin")
    assert info.hash == hashlib.sha256(data).hexdigest() and info.size == len(data)
    assert info.kind is ArtifactKind.FILE
    assert client.artifact(f"model-{uid}.bin") == info
    dest = client.fetch_artifact(f"model-{uid}.bin", str(tmp_path / "copy.bin"))
    assert open(dest, "rb").read() == data
    # Into a directory: under its name.
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert client.fetch_artifact(f"model-{uid}.bin", str(out_dir)) == str(out_dir / f"model-{uid}.bin")
    # An empty file.
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert client.upload_file(str(empty), f"empty-{uid}").size == 0
    assert open(client.fetch_artifact(f"empty-{uid}", str(tmp_path / "e2")), "rb").read() == b""


def test_missing_artifact_and_bad_names(client: TitanClient, tmp_path) -> None:
    with pytest.raises(NotFound):
        client.fetch_artifact("no-such-artifact", str(tmp_path / "x"))
    with pytest.raises(InvalidRequest, match="path separator"):
        client.upload_bytes("a/b", b"x")


def test_project_folder_runs_an_archive_entry(client: TitanClient, tmp_path, uid: str) -> None:
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / "data").mkdir()
    (project / ".git").mkdir()
    (project / "__pycache__").mkdir()
    (project / ".git" / "HEAD").write_text("ref: x")
    (project / "__pycache__" / "junk.pyc").write_bytes(b"\0")
    (project / "data" / "words.txt").write_text("alpha beta gamma\n")
    (project / "src" / "count.py").write_text(
        "import os, sys\n"
        "words = open('data/words.txt').read().split()\n"
        "print(len(words), sys.argv[1:], sorted(os.listdir('.')))\n")
    name = f"proj-{uid}.zip"
    info = client.upload_project_folder(str(project), name)
    assert info.kind is ArtifactKind.ARCHIVE
    job = TitanJob("count", f"{name}/src/count.py", args="x y", is_archive=True)
    outcome = client.run(job, timeout=30)
    assert outcome.ok, client.fetch_logs(outcome.id)
    assert client.fetch_logs(outcome.id) == "3 ['x', 'y'] ['data', 'src']\n"  # no .git, no __pycache__
    # The same archive in a DAG (extracted once into the DAG's directory).
    dag = client.submit_dag("archive-dag", [TitanJob("a", f"{name}/src/count.py", is_archive=True),
                                            TitanJob("b", f"{name}/src/count.py", is_archive=True)])
    assert client.wait(dag, timeout=30).ok
    with pytest.raises(NotFound):
        client.run(TitanJob("x", "missing.zip/run.py", is_archive=True))


def test_original_style_job_with_local_script_and_args(client: TitanClient, tmp_path) -> None:
    script = tmp_path / "greet.py"
    script.write_text("import sys\nprint('hello', *sys.argv[1:])\n")
    shell = tmp_path / "sum.sh"
    shell.write_text("echo $(( $1 + $2 ))\n")
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\necho direct $1\n")
    dag_id = client.submit_dag("original", [
        TitanJob("greet", str(script), "RUN_PAYLOAD", "big world"),
        TitanJob("sum", str(shell), args="2 40", parents=["greet"]),
        TitanJob("tool", str(tool), args=["x"], parents=["sum"]),
    ])
    outcome = client.wait(dag_id, timeout=30)
    assert outcome.ok, {k: v.describe() for k, v in outcome.jobs.items()}
    assert client.fetch_logs(f"{dag_id}/greet") == "hello big world\n"
    assert client.fetch_logs(f"{dag_id}/sum") == "42\n"
    assert client.fetch_logs(f"{dag_id}/tool") == "direct x\n"
    lone = client.submit_job(TitanJob("lone", str(script), args="lone"))
    assert client.wait(lone, timeout=30).ok and client.fetch_logs(lone) == "hello lone\n"


def test_inline_command_and_script_content(client: TitanClient) -> None:
    assert client.fetch_logs(client.run(TitanJob(command=["echo", "inline", "list"]), timeout=20).id) == \
        "inline list\n"
    assert client.fetch_logs(client.run(TitanJob(command="echo $((6 * 7)) | tr 4 X"), timeout=20).id) == "X2\n"
    script = "import os\nprint('inline script', os.environ['GREETING'])\n"
    outcome = client.run(TitanJob("s", script_content=script, filename="inline.py", env={"GREETING": "hi"}),
                         timeout=20)
    assert outcome.state is JobState.COMPLETED
    assert client.fetch_logs(outcome.id) == "inline script hi\n"
    sh = client.run(TitanJob("t", script_content="echo from sh $0", filename="x.sh"), timeout=20)
    assert client.fetch_logs(sh.id) == "from sh x.sh\n"
