"""TLS against real binaries: certificates made with ``titan certs``, a master with mutual TLS
(``--tls-cert --tls-key --tls-ca``), a worker that proves itself with a certificate, and the SDK
over TLS (arguments and ``TITAN_TLS_*``, inside a job too). Every wrong set-up is a ``TLSError``
that says what is wrong, within the connect timeout, never a hang: wrong CA, a name the
certificate is not for, TLS to a plaintext master, a certificate the master does not trust,
missing or garbled files, and plaintext from another host (network namespaces; skipped with the
reason where they cannot be made)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator

import pytest
from cluster import PYTHON_DIR, Cluster, _read_port, bin_dir, start_cluster

from titan_sdk import ConnectionLost, JobState, TitanClient, TitanJob, TLSError

#: Every failure must come well within this (the connect timeout the clients below use).
CONNECT_TIMEOUT = 5.0


class PKI:
    """A cluster CA and the certificates ``titan certs`` issued from it, in one directory."""

    def __init__(self, directory: str, name: str = "Titan test CA") -> None:
        self.dir = directory
        self._titan(["certs", "ca", "--dir", directory, "--name", name])

    @staticmethod
    def _titan(args: list[str]) -> None:
        done = subprocess.run([os.path.join(bin_dir(), "titan"), *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"titan {' '.join(args)}: {done.stderr}"

    @property
    def ca(self) -> str:
        return os.path.join(self.dir, "ca.pem")

    def cert(self, name: str) -> str:
        return os.path.join(self.dir, f"{name}.pem")

    def key(self, name: str) -> str:
        return os.path.join(self.dir, f"{name}.key")

    def issue(self, name: str, *hosts: str) -> None:
        args = ["certs", "issue", name, "--dir", self.dir]
        for host in hosts or ("127.0.0.1",):
            args += ["--host", host]
        self._titan(args)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    made = PKI(str(tmp_path_factory.mktemp("pki")))
    for name in ("master", "w1", "client"):
        made.issue(name)
    return made


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    """Another CA, and a certificate from it for the same address."""
    made = PKI(str(tmp_path_factory.mktemp("other-pki")), "Another CA")
    made.issue("stranger")
    return made


@pytest.fixture(scope="module")
def tls_cluster(pki: PKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A master with mutual TLS (workers must present a certificate the CA signed) and one TLS
    worker."""
    running = start_cluster(
        workers=1, slots=2, root=str(tmp_path_factory.mktemp("tls-cluster")),
        master_args=["--tls-cert", pki.cert("master"), "--tls-key", pki.key("master"), "--tls-ca", pki.ca],
        worker_args=["--tls-ca", pki.ca, "--tls-cert", pki.cert("w1"), "--tls-key", pki.key("w1")],
        client_options={"tls_ca": pki.ca})
    try:
        yield running
    finally:
        running.stop()


def _client(cluster: Cluster, **options: object) -> TitanClient:
    return TitanClient(cluster.address, token_file=cluster.token_file, connect_timeout=CONNECT_TIMEOUT,
                       request_timeout=20, **options)  # type: ignore[arg-type]


def _refused(client: TitanClient) -> TLSError:
    """The TLSError the first call raises, checked to come quickly."""
    start = time.monotonic()
    with pytest.raises(TLSError) as caught:
        client.ping()
    assert time.monotonic() - start < CONNECT_TIMEOUT, "the failure took the whole timeout"
    assert not client.connected and client.tls_version is None
    client.close()
    return caught.value


JOB_SCRIPT = """
from titan_sdk import TitanClient
client = TitanClient()
client.ping()
print("tls", client.tls_version, "ca", client._tls.ca_file)
"""


def test_jobs_run_over_tls_with_mutual_tls_workers(tls_cluster: Cluster, pki: PKI) -> None:
    with _client(tls_cluster, tls_ca=pki.ca, tls_cert=pki.cert("client"), tls_key=pki.key("client")) as client:
        job_id = client.submit(TitanJob(command=["sh", "-c", "echo hello over tls"]))
        outcome = client.wait(job_id, timeout=30)
        assert outcome.state is JobState.COMPLETED and outcome.worker == "w1"
        assert client.fetch_logs(job_id).strip() == "hello over tls"
        assert client.tls and client.tls_version in ("TLSv1.2", "TLSv1.3")
        # The worker gave the job the CA: the SDK in the job talks TLS with no code change.
        inner = client.run(TitanJob(command=[sys.executable, "-c", JOB_SCRIPT]), timeout=60)
        output = client.fetch_logs(inner.id)
        assert inner.ok, output
        assert output.split() == ["tls", client.tls_version, "ca", pki.ca]


def test_many_threads_and_megabytes_share_one_tls_connection(tls_cluster: Cluster, pki: PKI, tmp_path,
                                                              uid: str) -> None:
    # Reader thread and writers use one TLS connection at once: every reply must match its
    # request, and a few MiB each way must arrive intact (many TLS records, split anywhere).
    data = os.urandom((5 << 19) + 77)
    with _client(tls_cluster, tls_ca=pki.ca) as client:
        def work(i: int) -> list[str]:
            keys = []
            for n in range(40):
                key = f"tls-{uid}-{i}-{n}"
                client.store_put(key, f"{i}:{n}")
                keys.append(key)
            return [client.store_get(k) for k in keys]

        with ThreadPoolExecutor(8) as pool:
            uploaded = pool.submit(client.upload_bytes, f"blob-{uid}", data)
            results = list(pool.map(work, range(8)))
            assert uploaded.result(timeout=60).hash == hashlib.sha256(data).hexdigest()
        assert results == [[f"{i}:{n}" for n in range(40)] for i in range(8)]
        copy = client.fetch_artifact(f"blob-{uid}", str(tmp_path / "blob"))
        assert open(copy, "rb").read() == data


def test_the_environment_turns_tls_on(tls_cluster: Cluster, pki: PKI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TITAN_TLS_CA", pki.ca)
    monkeypatch.setenv("TITAN_TLS_CERT", pki.cert("client"))
    monkeypatch.setenv("TITAN_TLS_KEY", pki.key("client"))
    with _client(tls_cluster) as client:
        assert client.workers()[0].id == "w1"
        assert client.tls_version in ("TLSv1.2", "TLSv1.3")
    # TITAN_TLS_SERVER_NAME is the name checked (the certificate is for 127.0.0.1 only)...
    monkeypatch.setenv("TITAN_TLS_SERVER_NAME", "other.test")
    assert "Hostname mismatch" in _refused(_client(tls_cluster)).message
    # ... and tls_ca="" means plaintext whatever the environment says (served: this host).
    with _client(tls_cluster, tls_ca="") as plain:
        plain.ping()
        assert plain.connected and not plain.tls and plain.tls_version is None


def test_a_master_certificate_from_another_ca_is_refused(tls_cluster: Cluster, stranger: PKI) -> None:
    error = _refused(_client(tls_cluster, tls_ca=stranger.ca))
    # (The master sends its CA along: OpenSSL's words are then "self-signed certificate in
    # certificate chain", else "unable to get local issuer certificate".)
    assert re.match(f"TLS with the master at {re.escape(tls_cluster.address)}: the master's certificate was "
                    "refused: (self-signed certificate in certificate chain|unable to get local issuer certificate): ",
                    error.message), error.message
    assert f"not signed by the CA in {stranger.ca}" in error.message


def test_a_certificate_for_other_names_is_refused(tls_cluster: Cluster, pki: PKI) -> None:
    error = _refused(_client(tls_cluster, tls_ca=pki.ca, tls_server_name="other.test"))
    assert "Hostname mismatch, certificate is not valid for 'other.test'" in error.message, error.message
    assert "issued for other names than the name 'other.test'" in error.message
    assert "tls_server_name" in error.message
    # The right name (the address the certificate is for) is accepted.
    with _client(tls_cluster, tls_ca=pki.ca, tls_server_name="127.0.0.1") as client:
        client.ping()


def test_the_master_refuses_a_client_certificate_it_does_not_trust(tls_cluster: Cluster, pki: PKI,
                                                                   stranger: PKI) -> None:
    error = _refused(_client(tls_cluster, tls_ca=pki.ca, tls_cert=stranger.cert("stranger"),
                             tls_key=stranger.key("stranger")))
    assert "the master refused the connection (alert: unknown ca)" in error.message, error.message
    assert "does not trust the CA that signed this client's certificate" in error.message


def test_tls_to_a_plaintext_master_says_to_drop_tls(cluster: Cluster, pki: PKI) -> None:
    error = _refused(_client(cluster, tls_ca=pki.ca))
    assert error.message.startswith(f"TLS with the master at {cluster.address}: the master does not speak TLS"), \
        error.message
    assert "drop tls_ca" in error.message
    # The master's own words travel with it.
    assert "TLS is off on this master" in error.message
    assert isinstance(error, ConnectionLost)  # code catching ConnectionLost keeps working


def test_bad_files_are_named(pki: PKI, tmp_path) -> None:
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(TLSError, match=f"^TLS CA certificate {missing}: No such file or directory$"):
        TitanClient("127.0.0.1:1", tls_ca=missing)
    garbled = tmp_path / "garbled.pem"
    garbled.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    with pytest.raises(TLSError, match=f"^TLS CA certificate {garbled}: "):
        TitanClient("127.0.0.1:1", tls_ca=str(garbled))
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    with pytest.raises(TLSError, match=f"^TLS CA certificate {empty}: "):
        TitanClient("127.0.0.1:1", tls_ca=str(empty))
    with pytest.raises(TLSError, match="a certificate needs its key"):
        TitanClient("127.0.0.1:1", tls_ca=pki.ca, tls_cert=pki.cert("client"))
    with pytest.raises(TLSError, match=f"the key {pki.key('w1')} does not belong to the certificate "
                                       f"{pki.cert('client')}"):
        TitanClient("127.0.0.1:1", tls_ca=pki.ca, tls_cert=pki.cert("client"), tls_key=pki.key("w1"))
    with pytest.raises(TLSError, match="tls_cert and tls_key need tls_ca"):
        TitanClient("127.0.0.1:1", tls_ca="", tls_cert=pki.cert("client"), tls_key=pki.key("client"))


def test_a_master_that_never_answers_the_handshake_times_out(pki: PKI) -> None:
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        client = TitanClient(f"127.0.0.1:{port}", tls_ca=pki.ca, connect_timeout=0.5, token="")
        start = time.monotonic()
        with pytest.raises(TLSError, match="no handshake answer within 0.5s"):
            client.ping()
        assert time.monotonic() - start < 3


# -- another host: plaintext refused -------------------------------------------------------------

REMOTE_SCRIPT = """
import json, sys
from titan_sdk import TitanClient
address, token_file, ca = sys.argv[1:4]
report = {}
for name, options in (("plain", {"tls_ca": ""}), ("plain-anonymous", {"tls_ca": "", "token": ""}),
                      ("tls", {"tls_ca": ca})):
    client = TitanClient(address, token_file=token_file, connect_timeout=5, request_timeout=10, **options)
    try:
        client.workers()
        report[name] = {"ok": client.tls_version}
    except Exception as e:
        report[name] = {"type": type(e).__name__, "message": str(e)}
    client.close()
print(json.dumps(report))
"""


def _run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=30)


class TwoHosts:
    """Two network namespaces joined by a veth pair: a master host (.1) and a client host (.2)."""

    SUBNET = "10.201.77"

    def __init__(self) -> None:
        self.master = f"tpy{os.getpid()}m"
        self.client = f"tpy{os.getpid()}c"
        self.made: list[str] = []

    def up(self) -> None:
        for ns in (self.master, self.client):
            done = _run(["ip", "netns", "add", ns])
            if done.returncode != 0:
                self.down()
                pytest.skip(f"network namespaces cannot be made here: {done.stderr.strip()}")
            self.made.append(ns)
            self._ip("-n", ns, "link", "set", "lo", "up")
        self._ip("-n", self.master, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
        self._ip("-n", self.master, "link", "set", "veth1", "netns", self.client)
        for ns, dev, octet in ((self.master, "veth0", 1), (self.client, "veth1", 2)):
            self._ip("-n", ns, "addr", "add", f"{self.SUBNET}.{octet}/24", "dev", dev)
            self._ip("-n", ns, "link", "set", dev, "up")

    @staticmethod
    def _ip(*args: str) -> None:
        done = _run(["ip", *args])
        assert done.returncode == 0, f"ip {' '.join(args)}: {done.stderr}"

    def down(self) -> None:
        for ns in self.made:
            _run(["ip", "netns", "del", ns])
        self.made = []


def test_a_tls_master_refuses_plaintext_from_another_host_saying_why(pki: PKI) -> None:
    if shutil.which("ip") is None:
        pytest.skip("no iproute2 (ip) to make network namespaces")
    hosts = TwoHosts()
    root = tempfile.mkdtemp(prefix="titan-py-tls-hosts-")
    master = None
    try:
        hosts.up()
        address = f"{TwoHosts.SUBNET}.1"
        pki.issue("far-master", address)
        env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(root, "config"))
        for name in ("TITAN_TOKEN", "TITAN_TOKEN_FILE", "TITAN_TLS_CA", "TITAN_TLS_CERT", "TITAN_TLS_KEY"):
            env.pop(name, None)
        out_path = os.path.join(root, "master.out")
        with open(out_path, "w") as out, open(os.path.join(root, "master.err"), "w") as err:
            master = subprocess.Popen(
                ["ip", "netns", "exec", hosts.master, os.path.join(bin_dir(), "titan-node"), "--role", "master",
                 "--bind", address, "--port", "0", "--data-dir", os.path.join(root, "master"), "--log-level",
                 "warning", "--tls-cert", pki.cert("far-master"), "--tls-key", pki.key("far-master")],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        port = _read_port(out_path, master, 20)
        client_env = dict(env, PYTHONPATH=PYTHON_DIR)
        done = subprocess.run(
            ["ip", "netns", "exec", hosts.client, sys.executable, "-c", REMOTE_SCRIPT, f"{address}:{port}",
             os.path.join(root, "config", "titan", "token"), pki.ca],
            capture_output=True, text=True, timeout=60, env=client_env)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        # With a token (authentication first) and without: the master's reason, as a TLSError.
        for name in ("plain", "plain-anonymous"):
            assert report[name]["type"] == "TLSError", report
            message = report[name]["message"]
            assert message.startswith(f"the master at {address}:{port} requires TLS from this host: this master "
                                      "requires TLS from other hosts"), message
            assert "give tls_ca (or set TITAN_TLS_CA)" in message
        # Over TLS, the same host is served.
        assert report["tls"]["ok"] in ("TLSv1.2", "TLSv1.3"), report
    finally:
        if master is not None and master.poll() is None:
            master.terminate()
            try:
                master.wait(timeout=10)
            except subprocess.TimeoutExpired:
                master.kill()
                master.wait()
        hosts.down()
        shutil.rmtree(root, ignore_errors=True)
