"""Deadlines: a port where something that is not a Titan master listens ends every call with an
error naming the address and what did not happen (connect, authentication, a request), never a
hang; a followed job notices a master that stopped answering."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from typing import Iterator

import pytest

from cluster import start_cluster
from titan_sdk import ConnectionLost, InvalidRequest, TitanClient, TitanJob, WaitTimeout
from titan_sdk.auth import AuthToken, authenticate
from titan_sdk.connection import Connection

STRANGER = "titan.nosuch." + "0" * 64


class FakePeer:
    """``silent`` accepts and never answers; ``garbage`` answers bytes that are not Titan frames;
    ``full`` never accepts and its backlog is full, so a connect gets no answer."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0 if kind == "full" else 64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        if kind == "full":
            for _ in range(3):
                c = socket.socket()
                c.setblocking(False)
                try:
                    c.connect(("127.0.0.1", self.port))
                except BlockingIOError:
                    pass
                self.held.append(c)
            self.thread = None
        else:
            self.sock.settimeout(0.05)
            self.thread = threading.Thread(target=self._accept, daemon=True)
            self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.held.append(conn)
            if self.kind == "garbage":
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.stop.set()
        if self.thread:
            self.thread.join()
        for c in self.held:
            c.close()
        self.sock.close()


@pytest.fixture
def peer(request: pytest.FixtureRequest) -> Iterator[FakePeer]:
    fake = FakePeer(request.param)
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def no_credential(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("TITAN_TOKEN", raising=False)
    monkeypatch.delenv("TITAN_TOKEN_FILE", raising=False)


def _timed(call) -> tuple[BaseException, float]:
    start = time.monotonic()
    with pytest.raises(Exception) as info:
        call()
    return info.value, time.monotonic() - start


@pytest.mark.parametrize("peer", ["silent"], indirect=True)
def test_authentication_gets_no_answer(peer: FakePeer) -> None:
    error, seconds = _timed(lambda: TitanClient(peer.address, token=STRANGER, request_timeout=1).ping())
    assert isinstance(error, WaitTimeout)
    assert f"authentication with the master at {peer.address} timed out: no answer within 1s" in str(error)
    assert seconds < 5


@pytest.mark.parametrize("peer", ["silent"], indirect=True)
def test_a_request_gets_no_answer(peer: FakePeer, no_credential: None) -> None:
    with TitanClient(peer.address, request_timeout=1) as client:
        for call in (client.ping, client.jobs, lambda: client.status("job-1"), lambda: client.store_get("k")):
            error, seconds = _timed(call)
            assert isinstance(error, WaitTimeout)
            assert f"request timed out: no reply to" in str(error) and peer.address in str(error)
            assert seconds < 5


@pytest.mark.parametrize("peer", ["garbage"], indirect=True)
def test_garbage_is_not_a_titan_master(peer: FakePeer, no_credential: None) -> None:
    for token in (STRANGER, None):
        error, seconds = _timed(lambda: TitanClient(peer.address, token=token, request_timeout=5).ping())
        assert isinstance(error, ConnectionLost)
        assert f"the peer at {peer.address} is not a Titan master" in str(error)
        assert seconds < 5


@pytest.mark.parametrize("peer", ["full"], indirect=True)
def test_a_connect_gets_no_answer(peer: FakePeer) -> None:
    error, seconds = _timed(lambda: TitanClient(peer.address, token=STRANGER, request_timeout=1).ping())
    assert isinstance(error, ConnectionLost)
    assert f"cannot connect to master at {peer.address}: connect timed out after 1s" in str(error)
    assert seconds < 5


def test_the_environment_sets_the_request_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TITAN_REQUEST_TIMEOUT", raising=False)
    client = TitanClient("127.0.0.1:1")
    assert (client.request_timeout, client.handshake_timeout, client.connect_timeout) == (60.0, 10.0, 10.0)
    monkeypatch.setenv("TITAN_REQUEST_TIMEOUT", "2.5")
    client = TitanClient("127.0.0.1:1")
    assert (client.request_timeout, client.handshake_timeout, client.connect_timeout) == (2.5, 2.5, 2.5)
    assert TitanClient("127.0.0.1:1", request_timeout=None).request_timeout is None
    for bad in ("0", "-1", "soon", "nan", "100000"):
        monkeypatch.setenv("TITAN_REQUEST_TIMEOUT", bad)
        with pytest.raises(InvalidRequest, match="TITAN_REQUEST_TIMEOUT"):
            TitanClient("127.0.0.1:1")


def test_a_follow_notices_a_master_that_stopped_answering(tmp_path) -> None:
    cluster = start_cluster(workers=0, root=str(tmp_path))
    master = cluster.processes[0]
    try:
        with TitanClient(cluster.address, token_file=cluster.token_file, request_timeout=10) as client:
            job_id = client.submit(TitanJob(command=["true"]))  # no worker: it stays pending
        with open(cluster.token_file) as f:
            token = AuthToken.parse(f.read().strip())
        conn = Connection(cluster.host, cluster.port, keepalive=0.2, keepalive_timeout=1)
        try:
            authenticate(conn, token, 10)
            with conn.router.subscribe([job_id]) as sub:
                master.send_signal(signal.SIGSTOP)
                start = time.monotonic()
                with pytest.raises(ConnectionLost, match="stopped answering: no reply to a keepalive ping within 1s"):
                    sub.wait(timeout=30)
                assert time.monotonic() - start < 10
        finally:
            conn.close()
    finally:
        master.send_signal(signal.SIGCONT)
        cluster.stop()
