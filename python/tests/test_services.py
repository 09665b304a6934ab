"""Services through the SDK: deploy, health, list, stop (also under the original SDK's name)."""

from __future__ import annotations

import time

import pytest

from titan_sdk import NotFound, TitanClient


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
