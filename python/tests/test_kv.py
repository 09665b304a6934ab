"""The shared KV store through the SDK (and cross-checked with the titan CLI)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from titan_sdk import InvalidRequest, TitanClient


def test_utf8_and_binary_values(client: TitanClient, uid: str) -> None:
    assert client.store_put(f"text-{uid}", "héllo wörld ✓") is True
    assert client.store_get(f"text-{uid}") == "héllo wörld ✓"
    assert client.store_get(f"text-{uid}", decode=False) == "héllo wörld ✓".encode()
    blob = bytes(range(256)) * 3
    client.store_put(f"blob-{uid}", blob)
    assert client.store_get(f"blob-{uid}", decode=False) == blob
    assert client.store_get(f"blob-{uid}") == blob  # not UTF-8: bytes come back as they are
    client.store_put(f"num-{uid}", 42)
    assert client.store_get(f"num-{uid}") == "42"
    client.store_put(f"empty-{uid}", "")
    assert client.store_get(f"empty-{uid}") == ""
    assert client.store_get(f"missing-{uid}") is None


def test_sets(client: TitanClient, uid: str) -> None:
    key = f"set-{uid}"
    assert client.store_sadd(key, "b") == 1
    assert client.store_sadd(key, "a") == 1
    assert client.store_sadd(key, "b") == 0
    assert client.store_smembers(key) == ["a", "b"]
    assert client.store_srem(key, "b") == 1
    assert client.store_srem(key, "b") == 0
    assert client.store_smembers(key) == ["a"]
    assert client.store_smembers(f"none-{uid}") == []
    with pytest.raises(InvalidRequest):
        client.store_get(key)  # a set read as a string


def test_incr_and_del(client: TitanClient, uid: str) -> None:
    key = f"n-{uid}"
    assert client.store_incr(key) == 1
    assert client.store_incr(key, by=10) == 11
    assert client.store_incr(key, by=-20) == -9
    assert client.store_get(key) == "-9"
    assert client.store_del(key) is True
    assert client.store_del(key) is False
    client.store_put(key, "not a number")
    with pytest.raises(InvalidRequest):
        client.store_incr(key)


def test_ttl_expires(client: TitanClient, uid: str) -> None:
    key = f"ttl-{uid}"
    client.store_put(key, "soon gone", ttl=0.2)
    client.store_put(f"{key}-kept", "stays", ttl=60)
    assert client.store_get(key) == "soon gone"
    deadline = time.monotonic() + 10
    while client.store_get(key) is not None:
        assert time.monotonic() < deadline, "the key never expired"
        time.sleep(0.05)
    assert client.store_get(f"{key}-kept") == "stays"
    with pytest.raises(InvalidRequest):
        client.store_put(key, "x", ttl=0)


def test_bad_key_is_refused(client: TitanClient) -> None:
    with pytest.raises(InvalidRequest, match="key"):
        client.store_put("", "x")


def test_cli_sees_what_the_sdk_wrote(client: TitanClient, cluster, uid: str) -> None:
    client.store_put(f"cli-{uid}", "from python")
    titan = os.path.join(cluster.bin_dir, "titan")
    out = subprocess.run([titan, "kv", "get", f"cli-{uid}"], env=cluster.env(), capture_output=True, timeout=30)
    assert out.returncode == 0 and out.stdout == b"from python"
    subprocess.run([titan, "kv", "set", f"cli2-{uid}", "from cli"], env=cluster.env(), check=True, timeout=30)
    assert client.store_get(f"cli2-{uid}") == "from cli"
