"""A real master and worker (titan-node processes on 127.0.0.1) for the v1 compatibility tests."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _bin(name):
    directory = os.environ.get("TITAN_BIN_DIR", os.path.join(ROOT, ".build", "debug"))
    path = os.path.join(directory, name)
    if not os.access(path, os.X_OK):
        pytest.exit(f"{path} not found: build first (swift build) or set TITAN_BIN_DIR", returncode=2)
    return path


class Cluster:
    def __init__(self):
        self.scratch = tempfile.mkdtemp(prefix="titan-v1-")
        self.procs = []
        master = subprocess.Popen(
            [_bin("titan-node"), "--role", "master", "--port", "0", "--data-dir", self.scratch + "/master",
             "--log-level", "warning"],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        self.procs.append(master)
        line = master.stdout.readline()  # "titan master listening on 127.0.0.1:PORT"
        self.port = int(line.strip().rsplit(":", 1)[1])
        worker = subprocess.Popen(
            [_bin("titan-node"), "--role", "worker", "--master", f"127.0.0.1:{self.port}", "--id", "w1",
             "--slots", "4", "--data-dir", self.scratch + "/w1", "--log-level", "warning"],
            stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.procs.append(worker)

    def stop(self):
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster():
    c = Cluster()
    from v1client import V1Client
    client = V1Client("127.0.0.1", c.port)
    deadline = time.time() + 20
    while True:  # until the worker is registered
        stats = client.stats_json()
        if stats.get("active_workers") == 1:
            break
        assert time.time() < deadline, "the worker did not register"
        time.sleep(0.02)
    yield c
    c.stop()
