"""Typed exceptions raised by the Titan SDK.

Every exception the SDK raises on purpose derives from :class:`TitanError`. Errors the master
sends back (an ``error`` frame with a code) map to a subclass by code, so callers can write::

    try:
        client.status("job-42")
    except NotFound:
        ...
"""

from __future__ import annotations

import builtins
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:  # pragma: no cover
    from .models import JobOutcome


class ErrorCode(IntEnum):
    """Machine-readable error codes carried by the protocol's ``error`` message (u16)."""

    BAD_FRAME = 1
    UNKNOWN_OPCODE = 2
    MALFORMED_PAYLOAD = 3
    UNSUPPORTED_VERSION = 4
    FRAME_TOO_LARGE = 5
    NOT_FOUND = 10
    INVALID_REQUEST = 11
    UNAVAILABLE = 12
    INTERNAL_ERROR = 99


class TitanError(Exception):
    """Base class of every error raised by the SDK.

    ``code`` is the protocol error code when the master sent the error, else ``None``.
    """

    def __init__(self, message: str, code: Optional[ErrorCode] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return self.message


class NotFound(TitanError):
    """The master knows no such job, DAG, artifact or schedule (code 10)."""


class InvalidRequest(TitanError, ValueError):
    """The request is invalid (code 11 from the master, or found before sending): a bad spec, a
    DAG with a cycle, a job that already finished, a set used as a string..."""


class Unavailable(TitanError):
    """The master cannot serve the request now (code 12): no data directory, journal failing."""


class ProtocolError(TitanError):
    """Bytes that do not follow the protocol: from the master (a frame this SDK cannot decode)
    or about a request (codes 1-5: the master could not decode what we sent)."""


class InternalError(TitanError):
    """The master failed while serving the request (code 99)."""


class ConnectionLost(TitanError, builtins.ConnectionError):
    """The connection to the master could not be made or was lost. Requests in flight fail
    with it; subscriptions end with it.

    ``reason`` is what the master said before it hung up (``None`` if it said nothing): e.g.
    ``token 'ab12' was revoked``, ``too many connections: ...``; ``code`` is its error code.
    """

    def __init__(self, message: str, code: Optional[ErrorCode] = None, reason: Optional[str] = None) -> None:
        super().__init__(message, code)
        self.reason = reason


class TLSError(ConnectionLost):
    """TLS to the master failed or is set up wrong; the message names the master (or the file)
    and what to change: the master's certificate was refused (not signed by the CA given, expired,
    issued for other names), the master does not speak TLS, the master requires TLS from this
    host, the master refused this client's certificate, or a CA/certificate/key file is missing
    or not PEM. A kind of :class:`ConnectionLost`: the connection could not be made."""


class AuthenticationError(TitanError):
    """The connection could not authenticate: the token (given, or found in ``TITAN_TOKEN``,
    ``TITAN_TOKEN_FILE`` or the local credential file) is malformed or unreadable, the master
    refused it (the message is the master's reason: unknown, revoked or expired token, wrong
    secret), or the master could not prove it knows the token (not the master that issued it)."""


class WaitTimeout(TitanError, builtins.TimeoutError):
    """A wait (job, DAG, event, log line, request reply) did not finish within its timeout."""


class NotSupported(TitanError, NotImplementedError):
    """A feature of the original Titan SDK that this runtime does not offer yet (long-running
    services: ``DEPLOY_PAYLOAD`` / ``SERVICE`` jobs)."""


class JobFailed(TitanError):
    """Raised by :meth:`TitanClient.result` when a job or DAG did not complete. ``outcome`` holds
    what happened (state, exit code, error...)."""

    def __init__(self, message: str, outcome: "JobOutcome") -> None:
        super().__init__(message)
        self.outcome = outcome


class ToolMissing(TitanError):
    """A helper program the SDK needs (the ``titan`` CLI, for YAML pipelines) was not found."""


_BY_CODE: dict[int, type[TitanError]] = {
    ErrorCode.NOT_FOUND: NotFound,
    ErrorCode.INVALID_REQUEST: InvalidRequest,
    ErrorCode.UNAVAILABLE: Unavailable,
    ErrorCode.INTERNAL_ERROR: InternalError,
    ErrorCode.BAD_FRAME: ProtocolError,
    ErrorCode.UNKNOWN_OPCODE: ProtocolError,
    ErrorCode.MALFORMED_PAYLOAD: ProtocolError,
    ErrorCode.UNSUPPORTED_VERSION: ProtocolError,
    ErrorCode.FRAME_TOO_LARGE: ProtocolError,
}


def error_from_code(code: int, message: str) -> TitanError:
    """The exception for an ``error`` reply with ``code`` and ``message``."""
    try:
        typed: Any = ErrorCode(code)
    except ValueError:
        typed = None
    cls = _BY_CODE.get(code, TitanError)
    return cls(message, typed)
