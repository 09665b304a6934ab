"""Tokens and the authentication exchange, as the Swift side does them (``Sources/TitanAuth``).

A token is written ``titan.ID.SECRET`` (SECRET: 64 hex digits, 256 random bits). The secret
never crosses the wire: right after connecting, the client proves it holds it with SCRAM's
proofs (RFC 5802, with SHA-256; the secret is random, so no salt or iterations)::

    client -> master   authHello      token id, client nonce (32 random bytes)
    master -> client   authChallenge  server nonce (32 random bytes)
    client -> master   authProof      ClientKey XOR HMAC(StoredKey, transcript)
    master -> client   authOk         role, HMAC(ServerKey, transcript)

    ClientKey  = HMAC(secret, "Client Key")      StoredKey = SHA-256(ClientKey)
    ServerKey  = HMAC(secret, "Server Key")
    transcript = "titan-auth-v1" NUL id NUL client nonce, server nonce

The master stores only StoredKey and ServerKey. The transcript binds both nonces and the token
id, so a proof is good for one connection only; the master's signature shows the client that
it talks to the master that issued the token.

Where a client finds its token, first match wins (``TokenSource.swift``): the token given, the
token file given, ``$TITAN_TOKEN``, ``$TITAN_TOKEN_FILE``, then the local user's file
(``$XDG_CONFIG_HOME/titan/token``, else ``~/.config/titan/token``), which a master on this host
writes at its first start. None found: the client connects without one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Optional, Union

from . import protocol as p
from .errors import AuthenticationError, ConnectionLost, TitanError, TLSError, WaitTimeout
from .models import Role

if TYPE_CHECKING:  # pragma: no cover
    from .connection import Connection

#: Bytes of each side's nonce.
NONCE_SIZE = 32
#: A token file larger than this is not a token (one is about 100 bytes).
MAX_TOKEN_FILE_BYTES = 64 << 10

MASTER_NOT_AUTHENTIC = ("the master could not prove it knows this token: it is not the master that issued it")

_SECRET_HEX = re.compile(r"[0-9A-Fa-f]{64}\Z")


@dataclass(frozen=True)
class AuthToken:
    """A credential: the id the master knows it by and the secret only its holder has. The
    secret is left out of ``repr()``; :attr:`text` is the ``titan.ID.SECRET`` form."""

    id: str
    secret: bytes = field(repr=False)

    @classmethod
    def parse(cls, text: str) -> "AuthToken":
        """Parses ``titan.ID.SECRET`` (surrounding whitespace ignored); raises
        :class:`~titan_sdk.errors.AuthenticationError` naming what is wrong."""
        trimmed = text.strip()
        last_dot = trimmed.rfind(".")
        if not trimmed.startswith("titan.") or last_dot <= 5:
            raise AuthenticationError("malformed token: expected titan.ID.SECRET")
        token_id = trimmed[6:last_dot]
        digits = trimmed[last_dot + 1:]
        if not token_id or not _SECRET_HEX.match(digits):
            raise AuthenticationError("malformed token: expected titan.ID.SECRET with a secret of 64 hex digits")
        return cls(token_id, bytes.fromhex(digits))

    @property
    def text(self) -> str:
        """``titan.ID.SECRET``."""
        return f"titan.{self.id}.{self.secret.hex()}"

    def __str__(self) -> str:
        return f"token {self.id}"  # never the secret: safe to log


@dataclass(frozen=True)
class TokenVerifier:
    """What the master stores for a token (SCRAM's StoredKey and ServerKey): enough to check a
    proof and to prove itself, not enough to authenticate as the token's holder."""

    stored_key: bytes
    server_key: bytes

    @classmethod
    def from_secret(cls, secret: bytes) -> "TokenVerifier":
        return cls(hashlib.sha256(_hmac(secret, b"Client Key")).digest(), _hmac(secret, b"Server Key"))


def _hmac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b))


def transcript(token_id: str, client_nonce: bytes, server_nonce: bytes) -> bytes:
    """What both proofs sign: ``titan-auth-v1 NUL id NUL`` then both nonces."""
    return b"titan-auth-v1\0" + token_id.encode("utf-8") + b"\0" + client_nonce + server_nonce


def client_proof(token: AuthToken, client_nonce: bytes, server_nonce: bytes) -> bytes:
    """The client's proof that it holds ``token``'s secret: ClientKey XOR HMAC(StoredKey,
    transcript)."""
    client_key = _hmac(token.secret, b"Client Key")
    stored_key = hashlib.sha256(client_key).digest()
    return _xor(client_key, _hmac(stored_key, transcript(token.id, client_nonce, server_nonce)))


def verify_proof(proof: bytes, verifier: TokenVerifier, token_id: str, client_nonce: bytes,
                 server_nonce: bytes) -> bool:
    """The master's check of a proof (constant time): the ClientKey it reveals hashes to the
    StoredKey."""
    if len(proof) != 32:
        return False
    client_key = _xor(proof, _hmac(verifier.stored_key, transcript(token_id, client_nonce, server_nonce)))
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), verifier.stored_key)


def server_signature(verifier: TokenVerifier, token_id: str, client_nonce: bytes, server_nonce: bytes) -> bytes:
    """The master's proof that it knows the token's verifier: HMAC(ServerKey, transcript)."""
    return _hmac(verifier.server_key, transcript(token_id, client_nonce, server_nonce))


def verify_server(signature: bytes, token: AuthToken, client_nonce: bytes, server_nonce: bytes) -> bool:
    """The client's check of the master's signature (constant time)."""
    expected = server_signature(TokenVerifier.from_secret(token.secret), token.id, client_nonce, server_nonce)
    return hmac.compare_digest(signature, expected)


# ---------------------------------------------------------------------------------------------
# Where a client finds its token


def local_token_path(environ: Optional[Mapping[str, str]] = None) -> str:
    """``$XDG_CONFIG_HOME/titan/token``, else ``~/.config/titan/token``: the local user's
    credential, written by a master on this host at its first start."""
    env = os.environ if environ is None else environ
    config = env.get("XDG_CONFIG_HOME")
    if config:
        return os.path.join(config, "titan", "token")
    home = env.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".config", "titan", "token")


def read_token_file(path: str) -> AuthToken:
    """The token in the file at ``path``; :class:`~titan_sdk.errors.AuthenticationError` naming
    the path if it cannot be read or holds no token."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TOKEN_FILE_BYTES + 1)
    except OSError as e:
        raise AuthenticationError(f"cannot read the token file '{path}': {e.strerror or e}") from None
    if len(data) > MAX_TOKEN_FILE_BYTES:
        raise AuthenticationError(f"cannot read the token file '{path}': larger than {MAX_TOKEN_FILE_BYTES} bytes, "
                                  "not a token")
    try:
        return AuthToken.parse(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise AuthenticationError(f"cannot read the token file '{path}': not UTF-8 text") from None
    except AuthenticationError as e:
        raise AuthenticationError(f"cannot read the token file '{path}': {e}") from None


TokenLike = Union[str, AuthToken]


def find_token(token: Optional[TokenLike] = None, token_file: Optional[str] = None,
               environ: Optional[Mapping[str, str]] = None) -> Optional[AuthToken]:
    """The credential to use, first match wins: ``token``, ``token_file``, ``$TITAN_TOKEN``,
    ``$TITAN_TOKEN_FILE``, the local user's file (:func:`local_token_path`). ``None`` when there
    is none (the master may not require one). Empty values count as absent."""
    env = os.environ if environ is None else environ
    if isinstance(token, AuthToken):
        return token
    if token:
        return AuthToken.parse(token)
    if token_file:
        return read_token_file(token_file)
    if env.get("TITAN_TOKEN"):
        return AuthToken.parse(env["TITAN_TOKEN"])
    if env.get("TITAN_TOKEN_FILE"):
        return read_token_file(env["TITAN_TOKEN_FILE"])
    local = local_token_path(env)
    if not os.path.exists(local):
        return None
    return read_token_file(local)


# ---------------------------------------------------------------------------------------------
# The exchange on a connection


def authenticate(conn: "Connection", token: AuthToken, timeout: Optional[float] = None) -> Role:
    """Runs the exchange on a fresh connection and checks the master's signature; returns the
    role the master grants (an unknown role name counts as ``read``, as in Swift).

    Raises :class:`~titan_sdk.errors.AuthenticationError` with the master's reason when it
    refuses (it then closes the connection), or when the master cannot prove itself.
    """
    client_nonce = secrets.token_bytes(NONCE_SIZE)
    try:
        challenge = _reply(conn.request(p.AuthHello(token.id, client_nonce)), timeout, conn)
        if not isinstance(challenge, p.AuthChallenge):
            raise AuthenticationError("the master did not answer the authentication hello")
        proof = client_proof(token, client_nonce, challenge.nonce)
        ok = _reply(conn.request(p.AuthProof(proof)), timeout, conn)
        if not isinstance(ok, p.AuthOk):
            raise AuthenticationError("the master did not accept the proof")
        if not verify_server(ok.signature, token, client_nonce, challenge.nonce):
            raise AuthenticationError(MASTER_NOT_AUTHENTIC)
    except (AuthenticationError, WaitTimeout, TLSError):
        raise  # (a master requiring TLS says so instead of answering: not a token problem)
    except ConnectionLost as e:
        # A refusal is said (request id 0) before the master hangs up: that is the reason.
        if e.reason is not None:
            raise AuthenticationError(e.reason, e.code) from None
        raise
    except TitanError as e:  # an error reply to the hello or the proof
        raise AuthenticationError(e.message, e.code) from None
    try:
        return Role(ok.role)
    except ValueError:
        return Role.READ


def _reply(future: Future, timeout: Optional[float], conn: "Connection") -> object:
    try:
        return future.result(timeout)
    except FutureTimeout:
        future.cancel()
        raise WaitTimeout(f"authentication with the master at {conn.host}:{conn.port} timed out: no answer "
                          f"within {timeout:g}s (is a Titan master listening there?)") from None


__all__ = [
    "AuthToken", "TokenVerifier", "NONCE_SIZE", "authenticate", "client_proof", "find_token", "local_token_path",
    "read_token_file", "server_signature", "transcript", "verify_proof", "verify_server",
]
