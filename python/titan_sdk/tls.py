"""TLS to the master with the standard :mod:`ssl` module.

:func:`tls_settings` turns ``TitanClient``'s ``tls_*`` arguments (else ``TITAN_TLS_CA``,
``TITAN_TLS_CERT``, ``TITAN_TLS_KEY``, ``TITAN_TLS_SERVER_NAME``, as the Swift client and the CLI
read them) into an :class:`ssl.SSLContext`, loaded once so a bad file fails at construction.
:class:`TLSStream` runs one connection over memory BIOs: the socket stays a plain socket, and
every use of the :class:`ssl.SSLObject` is under a lock, so the reader thread and any number of
writing threads never use OpenSSL's connection state at the same time (OpenSSL does not allow
that), and no thread blocks on the socket while holding that lock.

Every failure is a :class:`~titan_sdk.errors.TLSError` that names the master (or the file) and
says what to change: a certificate refused and why (wrong CA, expired, issued for other names),
a master that does not speak TLS, a master that refused this client's certificate.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Mapping, Optional

from .codec import HEADER_SIZE, NATIVE_VERSION, V1_VERSION
from .errors import TLSError

#: TLS record content types a server's first bytes start with: handshake, alert.
_TLS_HANDSHAKE = 22
_TLS_ALERT = 21
#: Ciphertext read from the socket per call.
RECV_BYTES = 256 << 10
#: Plaintext taken from OpenSSL per call (at most one TLS record's worth is ready at a time).
_READ_BYTES = 64 << 10


@dataclass(frozen=True)
class TLSSettings:
    """How a client talks TLS to its master: the context (CA, own certificate, TLS 1.2 or newer)
    and the name the master's certificate must be for (``None``: the host dialled)."""

    context: ssl.SSLContext
    ca_file: str
    server_name: Optional[str] = None
    cert_file: Optional[str] = None
    key_file: Optional[str] = None

    def environment(self) -> dict[str, str]:
        """The ``TITAN_TLS_*`` variables that give a child process (the ``titan`` CLI) the same
        settings."""
        env = {"TITAN_TLS_CA": self.ca_file}
        if self.cert_file and self.key_file:
            env["TITAN_TLS_CERT"] = self.cert_file
            env["TITAN_TLS_KEY"] = self.key_file
        if self.server_name:
            env["TITAN_TLS_SERVER_NAME"] = self.server_name
        return env


def _given(value: Optional[str], env: Mapping[str, str], name: str) -> Optional[str]:
    """An argument, else the environment variable; empty means not given."""
    if value is None:
        value = env.get(name)
    return value or None


def tls_settings(tls_ca: Optional[str] = None, tls_cert: Optional[str] = None, tls_key: Optional[str] = None,
                 tls_server_name: Optional[str] = None,
                 environ: Optional[Mapping[str, str]] = None) -> Optional[TLSSettings]:
    """The TLS settings for these arguments, each defaulting to its ``TITAN_TLS_*`` variable;
    ``None`` (plaintext) when no CA is given. ``tls_ca=""`` turns TLS off even when
    ``TITAN_TLS_CA`` is set.

    Raises :class:`~titan_sdk.errors.TLSError` naming the file for a missing, unreadable or
    garbled CA, certificate or key, a key that is not the certificate's, or a certificate
    without its key.
    """
    env = os.environ if environ is None else environ
    ca = _given(tls_ca, env, "TITAN_TLS_CA")
    cert = _given(tls_cert, env, "TITAN_TLS_CERT")
    key = _given(tls_key, env, "TITAN_TLS_KEY")
    if ca is None:
        # A certificate from the environment alone does not turn TLS on (as in the Swift
        # client); given as an argument without a CA, it is a mistake worth saying.
        if tls_cert or tls_key:
            raise TLSError("TLS: tls_cert and tls_key need tls_ca (the CA that signed the master's certificate)")
        return None
    if (cert is None) != (key is None):
        raise TLSError("TLS: a certificate needs its key: give both tls_cert and tls_key "
                       "(or TITAN_TLS_CERT and TITAN_TLS_KEY)")
    _check_readable(ca, "CA certificate")
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    except ssl.SSLError as e:
        raise TLSError(f"TLS CA certificate {ca}: {_ssl_reason(e, 'not a PEM certificate')}") from None
    except OSError as e:
        raise TLSError(f"TLS CA certificate {ca}: {e.strerror or e}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    if cert is not None and key is not None:
        _check_readable(cert, "certificate")
        _check_readable(key, "key")
        try:
            context.load_cert_chain(cert, key)
        except ssl.SSLError as e:
            reason = _ssl_reason(e, "not a PEM certificate and key")
            if "key values mismatch" in reason.lower() or e.reason == "KEY_VALUES_MISMATCH":
                raise TLSError(f"TLS: the key {key} does not belong to the certificate {cert}") from None
            raise TLSError(f"TLS certificate {cert} / key {key}: {reason}") from None
        except OSError as e:
            raise TLSError(f"TLS certificate {cert} / key {key}: {e.strerror or e}") from None
    server_name = _given(tls_server_name, env, "TITAN_TLS_SERVER_NAME")
    return TLSSettings(context, ca, server_name, cert, key)


def _check_readable(path: str, what: str) -> None:
    """Names a missing or unreadable file with the system's reason, before OpenSSL's vaguer one."""
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise TLSError(f"TLS {what} {path}: {e.strerror or e}") from None


def _ssl_reason(e: ssl.SSLError, fallback: str) -> str:
    """OpenSSL's reason in words (``no certificate or crl found``), else ``fallback``."""
    if isinstance(e.reason, str) and e.reason:
        return e.reason.replace("_", " ").lower()
    return str(e) or fallback


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def verify_failure(error: ssl.SSLCertVerificationError, master: str, server_name: str, ca_file: str) -> TLSError:
    """The error for a master certificate this client refused, saying why in terms of what to fix."""
    why = (error.verify_message or _ssl_reason(error, "certificate verify failed")).rstrip(".")
    lowered = why.lower()
    if "local issuer" in lowered or "self-signed" in lowered or "self signed" in lowered:
        hint = f"it is not signed by the CA in {ca_file} (wrong CA? tls_ca must be the cluster's ca.pem)"
    elif "expired" in lowered:
        hint = "it has expired: renew it (titan certs issue)"
    elif "not yet valid" in lowered:
        hint = "it is not valid yet (check the clocks)"
    elif "mismatch" in lowered:
        what = "address" if _is_ip(server_name) else "name"
        hint = (f"it was issued for other names than the {what} '{server_name}': reissue it with "
                f"--host {server_name}, or set tls_server_name (TITAN_TLS_SERVER_NAME) to a name it is for")
    else:
        hint = ""
    return TLSError(f"TLS with the master at {master}: the master's certificate was refused: {why}"
                    + (f": {hint}" if hint else ""))


def ssl_failure(error: ssl.SSLError, master: str) -> TLSError:
    """The error for any other TLS failure: an alert from the master, a peer that is not TLS."""
    reason = _ssl_reason(error, "TLS failed")
    lowered = reason.lower()
    if "wrong version number" in lowered or "record layer failure" in lowered or "packet length too long" in lowered \
            or "http request" in lowered:
        return TLSError(f"TLS with the master at {master}: the master does not speak TLS; drop tls_ca "
                        "(and TITAN_TLS_CA)")
    if "alert" in lowered:
        alert = lowered.split("alert", 1)[1].strip()
        hint = {
            "unknown ca": "it does not trust the CA that signed this client's certificate (tls_cert)",
            "certificate required": "it requires a certificate from this client (tls_cert and tls_key)",
            "certificate expired": "this client's certificate has expired",
            "bad certificate": "it does not accept this client's certificate",
            "unsupported certificate": "it does not accept this client's certificate",
            "protocol version": "no TLS version in common (Titan needs TLS 1.2 or newer)",
        }.get(alert, "")
        return TLSError(f"TLS with the master at {master}: the master refused the connection (alert: {alert})"
                        + (f": {hint}" if hint else ""))
    return TLSError(f"TLS with the master at {master} failed: {reason}")


def _plaintext_answer(first: bytes) -> str:
    """What a non-TLS answer was, with the master's own words when it is an error frame."""
    if first[:1] and first[0] in (NATIVE_VERSION, V1_VERSION):
        message = _error_frame_message(first)
        return f"a plaintext Titan frame{f': {message!r}' if message else ''}"
    if first.startswith((b"HTTP", b"GET ")):
        return "plaintext HTTP"
    return "bytes that are not TLS"


def _error_frame_message(data: bytes) -> Optional[str]:
    """The message of a native ``error`` frame, if ``data`` starts with a whole one."""
    from . import protocol  # late: protocol imports much of the SDK

    if len(data) < HEADER_SIZE or data[0] != NATIVE_VERSION:
        return None
    length = int.from_bytes(data[4:8], "big")
    if len(data) < HEADER_SIZE + length:
        return None
    try:
        _, message = protocol.decode(data[1], bytes(data[HEADER_SIZE:HEADER_SIZE + length]))
    except Exception:
        return None
    return message.message if isinstance(message, protocol.Error) else None


class TLSStream:
    """One TLS connection over a connected socket, through memory BIOs. Made by
    :meth:`handshake`; then :meth:`sendall` from any thread and :meth:`recv` from one reader."""

    def __init__(self, sock: socket.socket, settings: TLSSettings, host: str, master: str) -> None:
        self._sock = sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self.server_name = settings.server_name or host
        self.master = master
        self._ca_file = settings.ca_file
        self._tls = settings.context.wrap_bio(self._incoming, self._outgoing, server_side=False,
                                              server_hostname=self.server_name)
        #: Guards the SSLObject and both BIOs; never held while blocking on the socket.
        self._lock = threading.Lock()
        #: Orders ciphertext on the socket: records leave in the order they were made.
        self._send_lock = threading.Lock()
        self._eof = False

    @property
    def version(self) -> Optional[str]:
        """The TLS version agreed (``TLSv1.3``)."""
        return self._tls.version()

    @property
    def cipher(self) -> Optional[str]:
        suite = self._tls.cipher()
        return suite[0] if suite else None

    @classmethod
    def handshake(cls, sock: socket.socket, settings: TLSSettings, host: str, master: str,
                  timeout: float) -> "TLSStream":
        """Runs the handshake within ``timeout`` seconds (the socket is left blocking without a
        timeout afterwards). Raises :class:`~titan_sdk.errors.TLSError` saying why it failed."""
        stream = cls(sock, settings, host, master)
        stream._run_handshake(time.monotonic() + timeout, timeout)
        sock.settimeout(None)
        return stream

    def _run_handshake(self, deadline: float, timeout: float) -> None:
        first = True
        while True:
            try:
                self._tls.do_handshake()
                self._flush_handshake()
                return
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLCertVerificationError as e:
                self._flush_handshake()  # the alert tells the master why
                raise verify_failure(e, self.master, self.server_name, self._ca_file) from None
            except ssl.SSLError as e:
                self._flush_handshake()
                raise ssl_failure(e, self.master) from None
            self._flush_handshake()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TLSError(f"TLS with the master at {self.master}: no handshake answer within {timeout:g}s")
            self._sock.settimeout(remaining)
            try:
                data = self._sock.recv(RECV_BYTES)
            except socket.timeout:
                raise TLSError(f"TLS with the master at {self.master}: no handshake answer within {timeout:g}s") \
                    from None
            except OSError as e:
                raise TLSError(f"TLS with the master at {self.master}: the connection failed during the handshake: "
                               f"{e.strerror or e}") from None
            if not data:
                raise TLSError(f"TLS with the master at {self.master}: the master closed the connection during the "
                               "TLS handshake")
            if first:
                first = False
                if data[0] not in (_TLS_HANDSHAKE, _TLS_ALERT):
                    data += self._rest_of_frame(data, deadline)
                    raise TLSError(f"TLS with the master at {self.master}: the master does not speak TLS (it answered "
                                   f"with {_plaintext_answer(data)}); drop tls_ca (and TITAN_TLS_CA)")
            self._incoming.write(data)

    def _rest_of_frame(self, data: bytes, deadline: float) -> bytes:
        """More of a plaintext answer, so the master's error frame can be quoted (best effort)."""
        more = b""
        while len(data) + len(more) < HEADER_SIZE + 4096 and time.monotonic() < deadline:
            whole = data + more
            if len(whole) >= HEADER_SIZE and len(whole) >= HEADER_SIZE + int.from_bytes(whole[4:8], "big"):
                break
            try:
                self._sock.settimeout(max(0.01, min(0.5, deadline - time.monotonic())))
                chunk = self._sock.recv(4096)
            except OSError:
                break
            if not chunk:
                break
            more += chunk
        return more

    def _flush_handshake(self) -> None:
        pending = self._outgoing.read()
        if pending:
            try:
                self._sock.sendall(pending)
            except OSError as e:
                raise TLSError(f"TLS with the master at {self.master}: the connection failed during the handshake: "
                               f"{e.strerror or e}") from None

    def sendall(self, data: bytes) -> None:
        """Encrypts and sends ``data`` (from any thread). Raises :class:`OSError` when the socket
        fails, :class:`~titan_sdk.errors.TLSError` when TLS does."""
        with self._send_lock:
            with self._lock:
                try:
                    self._tls.write(data)
                except ssl.SSLError as e:
                    raise ssl_failure(e, self.master) from None
                records = self._outgoing.read()
            self._sock.sendall(records)

    def recv(self) -> bytes:
        """The next decrypted bytes, blocking; ``b""`` when the master closed the connection.
        Only the reader thread calls this."""
        while True:
            with self._lock:
                chunks = []
                try:
                    while True:
                        chunks.append(self._tls.read(_READ_BYTES))
                        if not chunks[-1]:  # close_notify
                            self._eof = True
                            break
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
                except ssl.SSLZeroReturnError:
                    self._eof = True
                except ssl.SSLError as e:
                    raise ssl_failure(e, self.master) from None
                reply = self._outgoing.pending
            if reply:
                self._send_reply()
            data = b"".join(chunks)
            if data or self._eof:
                return data
            ciphertext = self._sock.recv(RECV_BYTES)
            if not ciphertext:
                return b""
            with self._lock:
                self._incoming.write(ciphertext)

    def _send_reply(self) -> None:
        """Sends what reading produced (rare in TLS 1.3: a key update), in order with writes."""
        with self._send_lock:
            with self._lock:
                records = self._outgoing.read()
            if records:
                self._sock.sendall(records)

    def close(self) -> None:
        """Says goodbye (close_notify) if the socket takes it at once; never blocks for long (a
        writer stuck on a full socket keeps the send lock: then nothing is said)."""
        if not self._send_lock.acquire(timeout=0.5):
            return
        try:
            with self._lock:
                try:
                    self._tls.unwrap()
                except (ssl.SSLError, ValueError):
                    pass
                records = self._outgoing.read()
            if records:
                self._sock.settimeout(0.5)
                self._sock.sendall(records)
        except OSError:
            pass
        finally:
            self._send_lock.release()


__all__ = ["TLSSettings", "TLSStream", "tls_settings", "verify_failure", "ssl_failure"]
