"""Tokens and the authentication exchange without a cluster: the proof math against fixed
vectors, token parsing, where a client finds its token, and the client against small scripted
masters on 127.0.0.1 (a master that cannot prove itself, one that refuses, one that hangs up
with a reason while a request waits)."""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import threading
import time
from typing import Callable, Iterator, Optional

import pytest

from titan_sdk import AuthenticationError, ConnectionLost, Role, TitanClient
from titan_sdk import auth
from titan_sdk import protocol as p
from titan_sdk.auth import AuthToken, TokenVerifier
from titan_sdk.codec import FrameDecoder
from titan_sdk.errors import ErrorCode

# Fixed inputs, and what RFC 5802's formulas (with SHA-256) give for them. Both sides implement
# those formulas: TitanAuth's AuthExchange.swift with swift-crypto, auth.py with hmac/hashlib.
# The expected bytes were computed independently of both, with the openssl CLI:
#   ClientKey = openssl dgst -sha256 -mac HMAC -macopt hexkey:SECRET <<< "Client Key" (no newline)
#   StoredKey = sha256(ClientKey); ServerKey likewise with "Server Key";
#   proof = ClientKey XOR HMAC(StoredKey, transcript); signature = HMAC(ServerKey, transcript).
# (That the real master accepts the SDK's proofs and the SDK accepts the master's signatures is
# checked against titan-node in test_auth_cluster.py.)
SECRET = bytes(range(32))
TOKEN = AuthToken("test-1", SECRET)
CLIENT_NONCE = b"\x11" * 32
SERVER_NONCE = b"\x22" * 32
CLIENT_KEY = bytes.fromhex("2a75f4c60c0bc0ea1143a1b95f32f9c571be775a402f41f14146298c3170d02f")
STORED_KEY = bytes.fromhex("e9cb7d524d0a37b9f58df5da526819cc1df9c66a3cffee4f4cf2502654f2a6c0")
SERVER_KEY = bytes.fromhex("d1905aa193a45c4f683bbbfa07d3bd2dcb180db624f2b2db739df1b3cd72e01a")
PROOF = bytes.fromhex("6b050af7541cbba3415d12836304ce328bc5bc01d7aa85e180cd74c91515213d")
SIGNATURE = bytes.fromhex("cafaa203f148fc850675e62d9972236e4250aec45fab425fd74702c2bb00b27c")


# ---------------------------------------------------------------------------------------------
# The math


def test_transcript_binds_the_id_and_both_nonces() -> None:
    assert auth.transcript("test-1", CLIENT_NONCE, SERVER_NONCE) == (
        b"titan-auth-v1\x00test-1\x00" + CLIENT_NONCE + SERVER_NONCE)


def test_verifier_and_proofs_match_the_fixed_vectors() -> None:
    assert TokenVerifier.from_secret(SECRET) == TokenVerifier(STORED_KEY, SERVER_KEY)
    assert auth.client_proof(TOKEN, CLIENT_NONCE, SERVER_NONCE) == PROOF
    verifier = TokenVerifier(STORED_KEY, SERVER_KEY)
    assert auth.server_signature(verifier, "test-1", CLIENT_NONCE, SERVER_NONCE) == SIGNATURE
    # What the master does with a proof: XOR it with HMAC(StoredKey, transcript) to recover the client key.
    signature = hmac.new(STORED_KEY, auth.transcript("test-1", CLIENT_NONCE, SERVER_NONCE), hashlib.sha256).digest()
    assert bytes(a ^ b for a, b in zip(PROOF, signature)) == CLIENT_KEY
    assert auth.verify_server(SIGNATURE, TOKEN, CLIENT_NONCE, SERVER_NONCE)


def test_proofs_are_good_for_their_transcript_only() -> None:
    verifier = TokenVerifier(STORED_KEY, SERVER_KEY)
    assert auth.verify_proof(PROOF, verifier, "test-1", CLIENT_NONCE, SERVER_NONCE)
    assert not auth.verify_proof(PROOF, verifier, "test-2", CLIENT_NONCE, SERVER_NONCE)
    assert not auth.verify_proof(PROOF, verifier, "test-1", CLIENT_NONCE, b"\x23" * 32)
    assert not auth.verify_proof(PROOF[:31], verifier, "test-1", CLIENT_NONCE, SERVER_NONCE)
    other = AuthToken("test-1", bytes(32))
    assert not auth.verify_proof(auth.client_proof(other, CLIENT_NONCE, SERVER_NONCE), verifier, "test-1",
                                 CLIENT_NONCE, SERVER_NONCE)
    assert not auth.verify_server(SIGNATURE, other, CLIENT_NONCE, SERVER_NONCE)
    assert not auth.verify_server(SIGNATURE[:-1] + b"\x00", TOKEN, CLIENT_NONCE, SERVER_NONCE)
    assert not auth.verify_server(b"", TOKEN, CLIENT_NONCE, SERVER_NONCE)


# ---------------------------------------------------------------------------------------------
# Parsing


def test_token_text_round_trips_and_hides_its_secret() -> None:
    text = "titan.test-1." + SECRET.hex()
    assert AuthToken.parse(text) == TOKEN and TOKEN.text == text
    assert AuthToken.parse(f"  {text.upper().replace('TITAN.TEST-1.', 'titan.test-1.')}\n") == TOKEN
    assert AuthToken.parse("titan.job:dag-1/a.b@2." + "0" * 64).id == "job:dag-1/a.b@2"  # the last dot ends the id
    assert SECRET.hex() not in repr(TOKEN) and str(TOKEN) == "token test-1"


@pytest.mark.parametrize("text, problem", [
    ("", "expected titan.ID.SECRET"),
    ("abc", "expected titan.ID.SECRET"),
    ("titan." + "0" * 64, "expected titan.ID.SECRET"),
    ("tytan.x." + "0" * 64, "expected titan.ID.SECRET"),
    ("titan.." + "0" * 64, "64 hex digits"),
    ("titan.x." + "0" * 63, "64 hex digits"),
    ("titan.x." + "0" * 65, "64 hex digits"),
    ("titan.x." + "g" * 64, "64 hex digits"),
    ("titan.x." + "00 " * 21 + "0", "64 hex digits"),  # bytes.fromhex would take the spaces
])
def test_malformed_tokens_are_refused_naming_the_problem(text: str, problem: str) -> None:
    with pytest.raises(AuthenticationError, match="malformed token: .*" + problem):
        AuthToken.parse(text)


def test_a_malformed_explicit_token_is_refused_before_connecting() -> None:
    with pytest.raises(AuthenticationError, match="malformed token"):
        TitanClient("127.0.0.1:1", token="titan.x.123")
    with pytest.raises(TypeError, match="token: expected 'titan.ID.SECRET' or an AuthToken, got bytes"):
        TitanClient("127.0.0.1:1", token=b"titan.x." + b"0" * 64)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Where the token comes from


def _write(path: str, text: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def test_find_token_order(tmp_path) -> None:
    tokens = {name: AuthToken(name, bytes([i]) * 32) for i, name in enumerate(
        ["given", "file", "env", "envfile", "xdg", "home"])}
    file = _write(str(tmp_path / "given.token"), tokens["file"].text + "\n")
    env_file = _write(str(tmp_path / "env.token"), tokens["envfile"].text)
    _write(str(tmp_path / "xdg" / "titan" / "token"), tokens["xdg"].text)
    _write(str(tmp_path / "home" / ".config" / "titan" / "token"), tokens["home"].text)
    env = {"TITAN_TOKEN": tokens["env"].text, "TITAN_TOKEN_FILE": env_file, "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
           "HOME": str(tmp_path / "home")}
    assert auth.find_token(tokens["given"].text, file, env) == tokens["given"]
    assert auth.find_token(tokens["given"], file, env) == tokens["given"]
    assert auth.find_token(None, file, env) == tokens["file"]
    assert auth.find_token("", "", env) == tokens["env"]  # empty counts as not given
    env["TITAN_TOKEN"] = ""
    assert auth.find_token(None, None, env) == tokens["envfile"]
    del env["TITAN_TOKEN_FILE"]
    assert auth.find_token(None, None, env) == tokens["xdg"]
    env["XDG_CONFIG_HOME"] = ""
    assert auth.find_token(None, None, env) == tokens["home"]
    assert auth.local_token_path(env) == str(tmp_path / "home" / ".config" / "titan" / "token")
    assert auth.find_token(None, None, {"HOME": str(tmp_path / "nobody")}) is None  # none: connect without


def test_unreadable_token_files_name_the_path(tmp_path) -> None:
    missing = str(tmp_path / "missing")
    with pytest.raises(AuthenticationError, match=f"cannot read the token file '{missing}': No such file"):
        auth.find_token(None, missing, {})
    bad = _write(str(tmp_path / "bad"), "titan.x.zz\n")
    with pytest.raises(AuthenticationError, match=f"cannot read the token file '{bad}': malformed token"):
        auth.find_token(None, None, {"TITAN_TOKEN_FILE": bad})
    huge = _write(str(tmp_path / "huge"), "x" * (auth.MAX_TOKEN_FILE_BYTES + 1))
    with pytest.raises(AuthenticationError, match="larger than"):
        auth.read_token_file(huge)
    binary = str(tmp_path / "binary")
    with open(binary, "wb") as f:
        f.write(b"\xff\xfe")
    with pytest.raises(AuthenticationError, match="not UTF-8"):
        auth.read_token_file(binary)
    with pytest.raises(AuthenticationError, match=f"cannot read the token file '{tmp_path}'"):
        auth.read_token_file(str(tmp_path))  # a directory
    with pytest.raises(AuthenticationError, match="malformed token"):
        auth.find_token(None, None, {"TITAN_TOKEN": "nope"})


# ---------------------------------------------------------------------------------------------
# The client against scripted masters

Reply = list[tuple[int, object]]
#: Given the master, a request id and a message: what to send back, and whether to hang up after.
Script = Callable[["ScriptedMaster", int, object], tuple[Reply, bool]]


class ScriptedMaster:
    """A listener on 127.0.0.1 that answers native frames as ``script`` says."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.hellos = 0
        self.nonces: dict[int, tuple[bytes, bytes]] = {}
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        decoder = FrameDecoder()
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                decoder.feed(data)
                for _, opcode, _, payload in decoder.frames():
                    rid, message = p.decode(opcode, payload)
                    replies, hang_up = self.script(self, rid, message)
                    conn.sendall(b"".join(p.encode(r, m) for r, m in replies))
                    if hang_up:
                        conn.shutdown(socket.SHUT_RDWR)
                        return

    def close(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        for conn in self._sockets:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)


def honest(role: str = "submit", signature: Optional[bytes] = None, farewell: Optional[str] = None) -> Script:
    """Knows TOKEN; grants ``role``; signs with ``signature`` if given (an impostor) else
    properly; with ``farewell``, answers a ping by saying it and hanging up."""

    def script(master: ScriptedMaster, rid: int, message: object) -> tuple[Reply, bool]:
        if isinstance(message, p.AuthHello):
            master.hellos += 1
            server_nonce = os.urandom(32)
            master.nonces[id(threading.current_thread())] = (message.nonce, server_nonce)
            if message.token_id != TOKEN.id:
                return [(0, p.Error(ErrorCode.UNAVAILABLE, f"authentication refused: token '{message.token_id}' is "
                                                           "unknown, revoked or expired"))], True
            return [(rid, p.AuthChallenge(server_nonce))], False
        if isinstance(message, p.AuthProof):
            client_nonce, server_nonce = master.nonces[id(threading.current_thread())]
            verifier = TokenVerifier.from_secret(SECRET)
            if not auth.verify_proof(message.proof, verifier, TOKEN.id, client_nonce, server_nonce):
                return [(0, p.Error(ErrorCode.UNAVAILABLE, "authentication refused: wrong secret"))], True
            sig = signature if signature is not None else auth.server_signature(verifier, TOKEN.id, client_nonce,
                                                                                server_nonce)
            return [(rid, p.AuthOk(role, sig))], False
        if isinstance(message, p.Ping):
            if farewell:
                return [(0, p.Error(ErrorCode.INVALID_REQUEST, farewell))], True
            return [(rid, p.Pong())], False
        return [(rid, p.Error(ErrorCode.INVALID_REQUEST, f"unexpected {type(message).__name__}"))], False

    return script


@pytest.fixture
def scripted() -> Iterator[Callable[[Script], ScriptedMaster]]:
    masters: list[ScriptedMaster] = []

    def start(script: Script) -> ScriptedMaster:
        masters.append(ScriptedMaster(script))
        return masters[-1]

    yield start
    for master in masters:
        master.close()


def test_the_client_proves_its_token_and_gets_its_role(scripted) -> None:
    master = scripted(honest("read"))
    with TitanClient(master.address, token=TOKEN.text, request_timeout=10) as client:
        assert client.role is None  # not connected yet
        client.ping()
        assert client.role is Role.READ and master.hellos == 1


def test_a_master_that_cannot_prove_itself_is_refused(scripted) -> None:
    master = scripted(honest(signature=b"\x00" * 32))
    client = TitanClient(master.address, token=TOKEN, request_timeout=10)
    with pytest.raises(AuthenticationError, match="the master could not prove it knows this token"):
        client.ping()
    assert not client.connected and client.role is None
    client.close()


def test_a_refusal_fails_at_once_with_the_masters_reason(scripted) -> None:
    master = scripted(honest())
    client = TitanClient(master.address, token=AuthToken("stranger", SECRET), request_timeout=30)
    start = time.monotonic()
    with pytest.raises(AuthenticationError, match=r"^authentication refused: token 'stranger' is unknown") as caught:
        client.ping()
    assert time.monotonic() - start < 10  # told, not timed out
    assert caught.value.code is ErrorCode.UNAVAILABLE
    with pytest.raises(AuthenticationError, match="wrong secret"):
        TitanClient(master.address, token=AuthToken(TOKEN.id, bytes(32)), request_timeout=30).ping()
    client.close()


def test_a_request_waiting_when_the_master_hangs_up_gets_its_reason(scripted) -> None:
    master = scripted(honest(farewell="token 'test-1' was revoked"))
    client = TitanClient(master.address, token=TOKEN, request_timeout=30, auto_reconnect=False)
    start = time.monotonic()
    with pytest.raises(ConnectionLost, match="closed by the master: token 'test-1' was revoked") as caught:
        client.ping()
    assert time.monotonic() - start < 10
    assert caught.value.reason == "token 'test-1' was revoked" and caught.value.code is ErrorCode.INVALID_REQUEST
    # The next call says the same (no reconnecting here).
    with pytest.raises(ConnectionLost, match="token 'test-1' was revoked.*auto_reconnect is off"):
        client.ping()
    client.close()


def test_a_reconnection_authenticates_again(scripted) -> None:
    master = scripted(honest("admin"))
    with TitanClient(master.address, token=TOKEN, request_timeout=10) as client:
        client.ping()
        client._connection._sock.shutdown(socket.SHUT_RDWR)  # the network drops the connection
        deadline = time.monotonic() + 10
        while client.connected:
            assert time.monotonic() < deadline, "the client did not notice the drop"
            time.sleep(0.01)
        client.ping()
        assert master.hellos == 2 and client.role is Role.ADMIN


def test_an_unknown_role_counts_as_read(scripted) -> None:
    master = scripted(honest("superuser"))
    with TitanClient(master.address, token=TOKEN, request_timeout=10) as client:
        client.ping()
        assert client.role is Role.READ
