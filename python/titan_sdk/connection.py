"""One persistent TCP connection to a Titan master, shared by any number of threads.

Requests get a fresh non-zero request id and a :class:`concurrent.futures.Future`; a background
reader thread decodes every frame the master sends and resolves the future whose id it echoes
(an ``error`` reply fails it with the typed exception). Pushes (request id 0) go to the
:class:`~titan_sdk.events.Router`. An ``error`` with request id 0 is what the master says before
it hangs up (a refused token, a revoked one, a limit): requests still waiting then fail with
it, as :class:`~titan_sdk.errors.ConnectionLost` whose ``reason`` is the master's message. Many
requests can be in flight at once, from many threads; writes are serialised by a lock, so
frames never interleave.

While anything is followed (a subscription), a keepalive thread pings the master every
``keepalive`` seconds; a ping unanswered within ``keepalive_timeout`` means the connection is
dead (the master's host vanished, a partition): it is closed, and subscriptions end with
:class:`~titan_sdk.errors.ConnectionLost` saying so, instead of waiting forever. Bytes that are
not Titan frames (an HTTP server, SSH on that port) close it at once, naming the peer.

With TLS settings (:mod:`titan_sdk.tls`), the handshake runs right after the TCP connection,
within the same ``connect_timeout``, and frames travel through a
:class:`~titan_sdk.tls.TLSStream`; failures are :class:`~titan_sdk.errors.TLSError`. A master
that requires TLS and is dialled in plaintext says so before hanging up: that too is a
``TLSError``.
"""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from typing import Any, Callable, Optional, Sequence

from . import protocol
from .codec import FrameDecoder, FrameError
from .errors import ConnectionLost, ProtocolError, TLSError, error_from_code
from .events import Router
from .models import DagEvent, JobEvent, Output
from .tls import TLSSettings, TLSStream

log = logging.getLogger("titan_sdk")

#: Called on the reader thread with the reply before the request's future resolves (and before
#: any later frame is handled): the place to start routing pushes that follow the reply.
ReplyHook = Callable[[Any], None]


class Connection:
    """A connected socket plus its reader thread. Use :class:`~titan_sdk.client.TitanClient`
    rather than this class directly.

    :param host: master host (the SDK only ever talks to the address it is given).
    :param port: master port.
    :param connect_timeout: seconds to wait for the TCP connection (and the TLS handshake).
    :param keepalive: seconds between pings while something is followed (``None``: never).
    :param keepalive_timeout: seconds a ping may go unanswered before the connection counts as
        dead.
    :param tls: TLS settings; ``None``: plaintext.
    """

    RECV_BYTES = 256 << 10

    def __init__(self, host: str, port: int, connect_timeout: float = 10.0, tls: Optional[TLSSettings] = None, *,
                 keepalive: Optional[float] = 15.0, keepalive_timeout: float = 60.0) -> None:
        self.host = host
        self.port = port
        try:
            sock = socket.create_connection((host, port), timeout=connect_timeout)
        except socket.timeout:
            raise ConnectionLost(f"cannot connect to master at {host}:{port}: connect timed out "
                                 f"after {connect_timeout:g}s") from None
        except OSError as e:
            raise ConnectionLost(f"cannot connect to master at {host}:{port}: {e.strerror or e}") from None
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        #: The TLS connection over the socket; ``None``: plaintext.
        self.tls: Optional[TLSStream] = None
        if tls is not None:
            master = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            try:
                self.tls = TLSStream.handshake(sock, tls, host, master, connect_timeout)
            except BaseException:
                sock.close()
                raise
        self._recv: Callable[[], bytes] = self.tls.recv if self.tls else lambda: sock.recv(self.RECV_BYTES)
        self._sendall: Callable[[bytes], None] = self.tls.sendall if self.tls else sock.sendall
        self._send_lock = threading.Lock()
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[Future, Optional[ReplyHook]]] = {}
        self._ids = itertools.count(1)
        self._closed: Optional[ConnectionLost] = None
        #: The master's last word (request id 0 error): why it is about to close the connection.
        self._farewell: Optional[protocol.Error] = None
        self.router = Router(self)
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, name=f"titan-reader-{host}:{port}", daemon=True)
        self._reader.start()
        if keepalive:
            threading.Thread(target=self._keepalive_loop, args=(keepalive, keepalive_timeout),
                             name=f"titan-keepalive-{host}:{port}", daemon=True).start()

    # -- state ---------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed is not None

    @property
    def error(self) -> Optional[ConnectionLost]:
        """Why the connection closed (``None`` while open)."""
        return self._closed

    @property
    def in_flight(self) -> int:
        """Requests sent and not answered yet."""
        return len(self._pending)

    def _next_id(self) -> int:
        while True:
            rid = next(self._ids) & 0xFFFFFFFF
            if rid:
                return rid

    # -- requests ------------------------------------------------------------------------------

    def request(self, message: Any, on_reply: Optional[ReplyHook] = None) -> Future:
        """Sends ``message`` and returns the future of its reply (the decoded message).

        Raises :class:`~titan_sdk.errors.InvalidRequest` at once if the message cannot be
        encoded, :class:`~titan_sdk.errors.ConnectionLost` if the connection is gone.
        """
        return self.request_many([message], [on_reply])[0]

    def request_many(self, messages: Sequence[Any],
                     hooks: Optional[Sequence[Optional[ReplyHook]]] = None) -> list[Future]:
        """Sends several requests in one write (pipelined); returns their futures in order."""
        if not messages:
            return []
        entries = []
        frames = []
        for i, message in enumerate(messages):
            rid = self._next_id()
            frames.append(protocol.encode(rid, message))
            entries.append((rid, Future(), hooks[i] if hooks else None))
        with self._lock:
            if self._closed is not None:
                raise self._copy_of_closed()
            for rid, future, hook in entries:
                self._pending[rid] = (future, hook)
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        try:
            with self._send_lock:
                self._sendall(data)
        except TLSError as e:  # names the master already
            self._lost(e)
            raise self._copy_of_closed() from None
        except OSError as e:
            # The master may have hung up after saying why: let the reader take that in first.
            if threading.current_thread() is not self._reader:
                self._reader.join(timeout=2)
            self._lost(ConnectionLost(f"connection to master {self.host}:{self.port} lost: {e.strerror or e}"))
            raise self._copy_of_closed() from None
        return [future for _, future, _ in entries]

    # -- reader thread -------------------------------------------------------------------------

    def _read_loop(self) -> None:
        decoder = FrameDecoder()
        reason = "closed by the master"
        tls_failure: Optional[TLSError] = None
        try:
            while True:
                data = self._recv()
                if not data:
                    break
                decoder.feed(data)
                while True:
                    frame = decoder.next()
                    if frame is None:
                        break
                    self._handle(frame[1], frame[3])
        except FrameError as e:
            # Not Titan's framing at all: whatever listens there is not a master.
            self._lost(ConnectionLost(f"the peer at {self.host}:{self.port} is not a Titan master: "
                                      f"it sent bytes that are not a Titan frame ({e})"))
            return
        except TLSError as e:
            tls_failure = e
        except OSError as e:
            reason = f"{e.strerror or e}"
        except Exception as e:  # pragma: no cover - a bug here must not hang callers
            log.exception("titan reader thread failed")
            reason = f"reader failed: {e!r}"
        if self._closed is None:
            farewell = self._farewell
            if tls_failure is not None:
                self._lost(tls_failure)  # names the master already
            elif farewell is not None and self.tls is None and "requires TLS" in farewell.message:
                # A TLS master refuses plaintext from other hosts, saying so: the fix is TLS.
                self._lost(TLSError(f"the master at {self.host}:{self.port} requires TLS from this host: "
                                    f"{farewell.message}; give tls_ca (or set TITAN_TLS_CA) to the cluster's CA",
                                    farewell.code, reason=farewell.message))
            elif farewell is not None:
                self._lost(ConnectionLost(f"connection to master {self.host}:{self.port} closed by the master: "
                                          f"{farewell.message}", farewell.code, reason=farewell.message))
            else:
                self._lost(ConnectionLost(f"connection to master {self.host}:{self.port} lost: {reason}"))

    def _handle(self, opcode: int, payload: bytes) -> None:
        try:
            rid, message = protocol.decode(opcode, payload)
        except ProtocolError as e:
            rid = protocol.request_id_of(payload)
            entry = self._take(rid) if rid else None
            if entry is not None:
                _fail(entry[0], e)
            else:
                log.warning("dropped a frame from the master that does not decode: %s", e)
            return
        if rid == 0:
            if isinstance(message, (JobEvent, Output, DagEvent)):
                self.router.push(message)
            elif isinstance(message, protocol.Error):
                self._farewell = message
                log.warning("master says: %s (%s)", message.message, message.code.name)
            return
        entry = self._take(rid)
        if entry is None:
            log.debug("reply to unknown request %d (%s) dropped", rid, type(message).__name__)
            return
        future, hook = entry
        if isinstance(message, protocol.Error):
            _fail(future, error_from_code(message.code, message.message))
            return
        if hook is not None:
            try:
                hook(message)
            except Exception:  # pragma: no cover
                log.exception("reply hook failed")
        try:
            future.set_result(message)
        except Exception:  # cancelled by the caller
            pass

    def _copy_of_closed(self) -> ConnectionLost:
        error = self._closed
        assert error is not None
        return type(error)(error.message, error.code, reason=error.reason)

    def _take(self, rid: int) -> Optional[tuple[Future, Optional[ReplyHook]]]:
        with self._lock:
            return self._pending.pop(rid, None)

    def _lost(self, error: ConnectionLost) -> None:
        with self._lock:
            if self._closed is not None:
                return
            self._closed = error
            pending = list(self._pending.values())
            self._pending.clear()
        self._stop.set()
        for future, _ in pending:
            _fail(future, error)
        self.router.close_all(error)
        try:
            self._sock.close()
        except OSError:  # pragma: no cover
            pass

    # -- keepalive -----------------------------------------------------------------------------

    def _keepalive_loop(self, interval: float, timeout: float) -> None:
        while not self._stop.wait(interval):
            if self._closed is not None:
                return
            if not self.router.watching:
                continue
            try:
                future = self.request(protocol.Ping())
            except ConnectionLost:
                return
            deadline = time.monotonic() + timeout
            while not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0 or wait_futures([future], timeout=min(0.5, left)).done:
                    break
            if self._stop.is_set() or self._closed is not None:
                return
            if not future.done():
                future.cancel()
                self._lost(ConnectionLost(f"the master at {self.host}:{self.port} stopped answering: "
                                          f"no reply to a keepalive ping within {timeout:g}s"))
                return

    # -- closing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the connection: requests in flight fail and subscriptions end with
        :class:`~titan_sdk.errors.ConnectionLost`."""
        self._stop.set()
        if self._closed is not None:
            return
        if self.tls is not None:
            self.tls.close()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._lost(ConnectionLost("connection closed by the client"))
        if threading.current_thread() is not self._reader:
            self._reader.join(timeout=2)


def _fail(future: Future, error: BaseException) -> None:
    try:
        future.set_exception(error)
    except Exception:  # cancelled by the caller
        pass


__all__ = ["Connection", "ReplyHook"]
