"""A real Titan cluster for tests, samples and the benchmark: one master, N workers, on 127.0.0.1.

Binaries come from ``$TITAN_BIN_DIR`` (default ``<repo>/.build/debug``). Workers get
``PYTHONPATH`` including this SDK, so jobs can ``import titan_sdk``.

The cluster's processes see ``XDG_CONFIG_HOME`` set to a directory of their own
(``ROOT/config``), so the master writes its local admin credential there
(``ROOT/config/titan/token``, :attr:`Cluster.token_file`), the workers find it there, and
nothing is written to the user's own ``~/.config/titan``. :meth:`Cluster.env` gives client
processes the same.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(PYTHON_DIR)


def bin_dir() -> str:
    """``$TITAN_BIN_DIR``, else ``<repo>/.build/debug``."""
    return os.environ.get("TITAN_BIN_DIR") or os.path.join(REPO, ".build", "debug")


@dataclass
class Cluster:
    """Processes of a running cluster and where it listens."""

    host: str
    port: int
    root: str
    bin_dir: str
    worker_ids: list[str]
    processes: list[subprocess.Popen] = field(default_factory=list)
    #: XDG_CONFIG_HOME of the cluster's processes (its local credential is ``titan/token`` there).
    config_home: str = ""

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def token_file(self) -> str:
        """The master's local admin credential (``titan.ID.SECRET``)."""
        return os.path.join(self.config_home, "titan", "token")

    def env(self, **extra: str) -> dict[str, str]:
        """An environment for client processes: TITAN_MASTER, TITAN_BIN_DIR, PYTHONPATH, and
        XDG_CONFIG_HOME where this master's local credential is (TITAN_TOKEN and
        TITAN_TOKEN_FILE removed, so that credential is the one found)."""
        env = dict(os.environ)
        env.pop("TITAN_TOKEN", None)
        env.pop("TITAN_TOKEN_FILE", None)
        env["XDG_CONFIG_HOME"] = self.config_home
        env["TITAN_MASTER"] = self.address
        env["TITAN_BIN_DIR"] = self.bin_dir
        env["PYTHONPATH"] = os.pathsep.join(p for p in (PYTHON_DIR, os.environ.get("PYTHONPATH")) if p)
        env.update(extra)
        return env

    def stop(self) -> None:
        """SIGTERM everything (workers first), then SIGKILL what is left after a grace period."""
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _read_port(path: str, proc: subprocess.Popen, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    pattern = re.compile(r"listening on [^\s]*:(\d+)")
    while time.monotonic() < deadline:
        with open(path) as f:
            match = pattern.search(f.readline())
        if match:
            return int(match.group(1))
        if proc.poll() is not None:
            raise RuntimeError(f"master exited with {proc.returncode} before listening")
        time.sleep(0.01)
    raise RuntimeError(f"master did not print its address within {timeout}s")


def start_cluster(workers: int = 2, slots: int = 4, root: Optional[str] = None, binaries: Optional[str] = None,
                  timeout: float = 20.0, master_args: Sequence[str] = (), worker_args: Sequence[str] = (),
                  client_options: Optional[dict[str, Any]] = None) -> Cluster:
    """Starts a master (``--port 0``) and ``workers`` workers (ids w1, w2, ...) and waits until
    every worker is registered (asking the master, with a deadline). ``master_args`` and
    ``worker_args`` are added to their command lines (e.g. ``--tls-*``); ``client_options`` go
    to the ``TitanClient`` that waits for the workers."""
    from titan_sdk import TitanClient

    binaries = binaries or bin_dir()
    node = os.path.join(binaries, "titan-node")
    if not os.access(node, os.X_OK):
        raise RuntimeError(f"no titan-node in {binaries} (set TITAN_BIN_DIR)")
    root = root or tempfile.mkdtemp(prefix="titan-py-")
    master_dir = os.path.join(root, "master")
    os.makedirs(master_dir, exist_ok=True)
    out_path = os.path.join(root, "master.out")
    processes: list[subprocess.Popen] = []
    cluster = Cluster("127.0.0.1", 0, root, binaries, [f"w{i + 1}" for i in range(workers)], processes,
                      config_home=os.path.join(root, "config"))
    master_env = cluster.env()
    master_env.pop("TITAN_MASTER", None)
    with open(out_path, "w") as out, open(os.path.join(root, "master.err"), "w") as err:
        master = subprocess.Popen([node, "--role", "master", "--bind", "127.0.0.1", "--port", "0", "--data-dir",
                                   master_dir, "--log-level", "warning", *master_args], stdout=out, stderr=err,
                                  stdin=subprocess.DEVNULL, env=master_env)
    processes.append(master)
    try:
        cluster.port = _read_port(out_path, master, timeout)
        if not os.path.isfile(cluster.token_file):
            raise RuntimeError(f"the master wrote no local credential at {cluster.token_file}")
        worker_env = cluster.env()
        worker_env.pop("TITAN_MASTER", None)
        for worker_id in cluster.worker_ids:
            data = os.path.join(root, worker_id)
            os.makedirs(data, exist_ok=True)
            with open(os.path.join(root, f"{worker_id}.log"), "w") as log:
                processes.append(subprocess.Popen(
                    [node, "--role", "worker", "--master", cluster.address, "--id", worker_id, "--data-dir", data,
                     "--slots", str(slots), "--log-level", "warning", *worker_args],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=worker_env))
        deadline = time.monotonic() + timeout
        with TitanClient(cluster.address, token_file=cluster.token_file, **(client_options or {})) as client:
            while True:
                registered = {w.id for w in client.workers()}
                if set(cluster.worker_ids) <= registered:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"workers {cluster.worker_ids} not registered within {timeout}s "
                                       f"(have {sorted(registered)})")
                time.sleep(0.02)
    except BaseException:
        cluster.stop()
        raise
    return cluster
