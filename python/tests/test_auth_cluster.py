"""Authentication against the real master: the local credential, tokens made with
create_token and their roles, refusals with the master's reason, revocation of live
connections, and a job's own token (TITAN_TOKEN) used by the SDK inside the job."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
from cluster import Cluster

from titan_sdk import (
    AuthenticationError, ConnectionLost, InvalidRequest, JobState, NotFound, Role, TitanClient, TitanJob,
)
from titan_sdk.auth import AuthToken, TokenVerifier, read_token_file


def _master_verifiers(cluster: Cluster) -> dict[str, dict]:
    with open(os.path.join(cluster.root, "master", "auth", "tokens.json")) as f:
        return {t["id"]: t for t in json.load(f)["tokens"]}


def _until(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout}s"
        time.sleep(0.02)


def test_clients_authenticate_with_the_local_credential(cluster: Cluster, client: TitanClient) -> None:
    local = read_token_file(cluster.token_file)
    client.ping()
    assert client.role is Role.ADMIN
    listed = {t.id: t for t in client.tokens()}
    assert listed[local.id].role == "admin" and listed[local.id].name == "local"
    # Found without being given: XDG_CONFIG_HOME/titan/token, as a user's client on this host.
    with TitanClient(cluster.address) as found:
        found.ping()
        assert found.role is Role.ADMIN


def test_the_sdk_derives_the_verifiers_the_master_stores(cluster: Cluster, client: TitanClient, uid: str) -> None:
    # Cross-check with the Swift code: the master (TitanAuth, swift-crypto) stored these for
    # tokens whose secrets the SDK knows; the SDK's hmac/hashlib must derive the same bytes.
    created = client.create_token("read", name=f"verifier-{uid}")
    stored = _master_verifiers(cluster)
    for token in (read_token_file(cluster.token_file), AuthToken.parse(created.token)):
        verifier = TokenVerifier.from_secret(token.secret)
        assert stored[token.id]["storedKey"] == verifier.stored_key.hex()
        assert stored[token.id]["serverKey"] == verifier.server_key.hex()
    client.revoke_token(created.id)


def test_a_wrong_token_is_refused_with_the_reason(cluster: Cluster) -> None:
    stranger = TitanClient(cluster.address, token="titan.nosuch." + "0" * 64, request_timeout=30)
    with pytest.raises(AuthenticationError, match=r"^authentication refused: token 'nosuch' is unknown, revoked or "
                                                  r"expired"):
        stranger.ping()
    assert stranger.role is None and not stranger.connected
    stranger.close()
    local = read_token_file(cluster.token_file)
    forged = TitanClient(cluster.address, token=AuthToken(local.id, bytes(32)), request_timeout=30)
    with pytest.raises(AuthenticationError, match=f"wrong secret for token '{local.id}'"):
        forged.ping()
    forged.close()


def test_without_a_token_the_master_says_what_it_needs(cluster: Cluster, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # no local credential there
    with TitanClient(cluster.address, request_timeout=30) as anonymous:
        with pytest.raises(ConnectionLost, match="closed by the master: authenticate first: this master requires a "
                                                 "token") as caught:
            anonymous.jobs()  # (ping is answered before authentication)
        assert anonymous.role is None and caught.value.reason.startswith("authenticate first")


def test_a_malformed_token_in_the_environment_is_named(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_TOKEN", "titan.abc")
    with pytest.raises(AuthenticationError, match="malformed token"):
        TitanClient(cluster.address).ping()


def test_a_read_token_reads_but_may_not_submit(cluster: Cluster, client: TitanClient, uid: str,
                                               monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    job_id = client.submit(TitanJob(command=["true"]))
    client.wait(job_id, timeout=60)
    before = time.time() * 1000
    created = client.create_token(Role.READ, name=f"reader-{uid}", ttl=3600)
    assert created.role == "read" and created.info.name == f"reader-{uid}" and created.token.startswith("titan.")
    assert created.info.expires_at_ms - created.info.created_at_ms == 3_600_000
    assert created.info.created_at_ms >= before - 5_000
    listed = {t.id: t for t in client.tokens()}
    assert listed[created.id] == created.info
    with TitanClient(cluster.address, token=created.token, request_timeout=30) as reader:
        assert reader.status(job_id).state is JobState.COMPLETED
        assert reader.role is Role.READ
        with pytest.raises(InvalidRequest, match="a read token may not send submit"):
            reader.submit(TitanJob(command=["true"]))
        with pytest.raises(InvalidRequest, match="a read token may not send token"):
            reader.tokens()
        reader.ping()  # a refused request costs only that request
    # The same token found in TITAN_TOKEN, and in a file named by TITAN_TOKEN_FILE.
    monkeypatch.setenv("TITAN_TOKEN", created.token)
    with TitanClient(cluster.address) as from_env:
        from_env.ping()
        assert from_env.role is Role.READ
        # An explicit token file goes first.
        with TitanClient(cluster.address, token_file=cluster.token_file) as explicit:
            explicit.ping()
            assert explicit.role is Role.ADMIN
    monkeypatch.delenv("TITAN_TOKEN")
    path = tmp_path / "reader.token"
    path.write_text(created.token + "\n")
    monkeypatch.setenv("TITAN_TOKEN_FILE", str(path))
    with TitanClient(cluster.address) as from_file:
        from_file.ping()
        assert from_file.role is Role.READ
    client.revoke_token(created.id)
    assert created.id not in {t.id for t in client.tokens()}


def test_token_administration_errors(client: TitanClient) -> None:
    with pytest.raises(InvalidRequest, match="field 'role': 'root' is not one of read, submit, worker, admin"):
        client.create_token("root")
    with pytest.raises(InvalidRequest, match="field 'role': 'job'"):
        client.create_token("job")  # jobs get theirs from the master
    for ttl in (0, -1, float("inf"), float("nan")):
        with pytest.raises(InvalidRequest, match="ttl: must be a positive number of seconds"):
            client.create_token("read", ttl=ttl)
    with pytest.raises(InvalidRequest, match="field 'ttlMs': more than ten years"):
        client.create_token("read", ttl=11 * 365 * 86400)
    with pytest.raises(NotFound, match="no token 'nosuch'"):
        client.revoke_token("nosuch")


def test_a_revoked_token_loses_its_connections_at_once(cluster: Cluster, client: TitanClient, uid: str) -> None:
    created = client.create_token("submit", name=f"revoked-{uid}")
    user = TitanClient(cluster.address, token=created.token, request_timeout=30)
    quiet = TitanClient(cluster.address, token=created.token, request_timeout=30, auto_reconnect=False)
    job_id = user.submit(TitanJob(command=["sleep", "60"]), follow=True)
    try:
        quiet.ping()
        assert user.role is Role.SUBMIT and quiet.role is Role.SUBMIT
        with user.subscribe(job_id) as following:  # the job's events, over the token's connection
            client.revoke_token(created.id)
            with pytest.raises(ConnectionLost, match=f"closed by the master: token '{created.id}' was revoked"):
                following.wait(timeout=20)
        _until(lambda: not quiet.connected, "the quiet connection was not closed")
        # Its next request fails with the revocation: reconnecting is refused, or (not
        # reconnecting) the connection's end is reported.
        with pytest.raises(AuthenticationError, match=f"token '{created.id}' is unknown, revoked or expired"):
            user.ping()
        with pytest.raises(ConnectionLost, match=f"token '{created.id}' was revoked"):
            quiet.ping()
        assert client.job(job_id).state in (JobState.PENDING, JobState.RUNNING)  # its work goes on
    finally:
        user.close()
        quiet.close()
        client.cancel(job_id)


def test_a_reconnection_authenticates_again(cluster: Cluster) -> None:
    with TitanClient(cluster.address, token_file=cluster.token_file, request_timeout=30) as c:
        c.ping()
        c._connection._sock.shutdown(socket.SHUT_RDWR)  # the network drops the connection
        _until(lambda: not c.connected, "the drop was not noticed")
        assert c.stats().counts is not None  # served: the new connection proved the token again
        assert c.role is Role.ADMIN


JOB_SCRIPT = """\
import os
from titan_sdk import TitanClient
from titan_sdk.auth import AuthToken
client = TitanClient()  # finds TITAN_MASTER and TITAN_TOKEN
client.store_put("auth-job-{uid}", os.environ["TITAN_JOB_ID"])
print("token", AuthToken.parse(os.environ["TITAN_TOKEN"]).id, "role", client.role,
      "file", os.environ.get("TITAN_TOKEN_FILE", "-"))
print("secret", os.environ["TITAN_TOKEN"])
"""


def test_a_job_uses_the_sdk_with_its_own_token(cluster: Cluster, client: TitanClient, uid: str) -> None:
    job = TitanJob(command=["python3", "-c", JOB_SCRIPT.format(uid=uid)])
    outcome = client.run(job, timeout=60)
    output = client.fetch_logs(outcome.id)
    assert outcome.ok, output
    assert f"token job:{outcome.id}@1 role job file -" in output
    assert client.store_get(f"auth-job-{uid}") == outcome.id
    # A job's token is good while its attempt runs, not after.
    text = next(line.split()[1] for line in output.splitlines() if line.startswith("secret "))
    with pytest.raises(AuthenticationError, match="is unknown, revoked or expired"):
        TitanClient(cluster.address, token=text, request_timeout=30).ping()
