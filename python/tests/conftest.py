"""Fixtures: a real cluster (master + workers w1, w2 with 4 slots each) for the whole session.

While it runs, this process's ``XDG_CONFIG_HOME`` is the cluster's (and ``TITAN_TOKEN`` /
``TITAN_TOKEN_FILE`` are unset), so a plain ``TitanClient(address)`` finds the test master's
local credential the way a user's client on the master's host does."""

from __future__ import annotations

import os
import sys
import uuid
from typing import Iterator

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # titan_sdk
sys.path.insert(0, HERE)  # cluster helpers

from cluster import Cluster, start_cluster  # noqa: E402

from titan_sdk import TitanClient  # noqa: E402


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Master and two workers from ``$TITAN_BIN_DIR`` (default ``<repo>/.build/debug``)."""
    root = str(tmp_path_factory.mktemp("cluster"))
    running = start_cluster(workers=2, slots=4, root=root)
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("XDG_CONFIG_HOME", running.config_home)
            env.delenv("TITAN_TOKEN", raising=False)
            env.delenv("TITAN_TOKEN_FILE", raising=False)
            yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def client(cluster: Cluster) -> Iterator[TitanClient]:
    """One client shared by the session (it is thread-safe), with the master's local admin
    credential given explicitly."""
    with TitanClient(cluster.address, request_timeout=30, token_file=cluster.token_file) as c:
        yield c


@pytest.fixture
def uid() -> str:
    """A short unique token, for KV keys and names that must not collide between tests."""
    return uuid.uuid4().hex[:10]
