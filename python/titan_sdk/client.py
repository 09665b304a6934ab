"""``TitanClient``: the Titan master over one persistent connection.

>>> from titan_sdk import TitanClient, TitanJob
>>> with TitanClient() as client:                       # TITAN_MASTER, else 127.0.0.1:9090
...     job_id = client.submit(TitanJob(command=["echo", "hello"]))
...     print(client.wait(job_id).state)                 # COMPLETED
...     print(client.fetch_logs(job_id))                 # hello

The client is thread-safe: every method may be called from any thread, and requests from
several threads travel over the same connection at once (each reply is matched to its request
by id). Job and DAG events are pushed by the master and routed to whoever waits for them:
:meth:`wait`, :meth:`events` and :meth:`stream_logs` never poll.

Right after connecting, the client authenticates with its token (see :mod:`titan_sdk.auth`:
given, or found in ``TITAN_TOKEN``, ``TITAN_TOKEN_FILE`` or the local credential file) and
checks the master's proof in return; :attr:`TitanClient.role` is what the token may do.

With a CA (``tls_ca``, else ``TITAN_TLS_CA``: a worker on a TLS cluster gives its jobs that), the
client talks TLS to the master and checks the master's certificate against that CA and the name
dialled (see :mod:`titan_sdk.tls`); without one, plaintext, as before.

If the connection drops, calls in flight raise :class:`~titan_sdk.errors.ConnectionLost`; the
next call reconnects and authenticates again (unless ``auto_reconnect=False``).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import zipfile
from collections import OrderedDict, deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import IO, Any, Iterable, Iterator, Optional, Sequence, Union

from . import protocol as p
from .auth import AuthToken, TokenLike, authenticate, find_token
from .connection import Connection
from .errors import (
    ConnectionLost, InvalidRequest, JobFailed, NotFound, ProtocolError, TitanError, ToolMissing, WaitTimeout,
)
from .tls import TLSSettings, tls_settings
from .events import Push, Subscription
from .replies import ArtifactReply
from .jobs import (
    HITL_MESSAGE, HITL_QUEUE, HITL_STATUS, HITL_TS, SDK_DIR, TitanJob, expand_hitl,
)
from .models import (ServiceInfo, ServiceSpec, 
    ArtifactData, ArtifactInfo, ArtifactKind, ArtifactRange, ArtifactRef, ClusterStats, DagEvent, DagInfo,
    DagJobSpec, DagOutcome, DagSpec,
    JobEvent, JobInfo, JobOutcome, JobState, JobSpec, KVOp, KVOperation, KVResult, LogChunk, Outcome, Output,
    CreatedToken, PendingApproval, Role, ScheduleInfo, ScheduleSpec, TokenInfo, TokenOp, TokenOperation, TokenResult,
    TokenResultKind, UploadChunk, WorkerInfo,
)

_log = logging.getLogger("titan_sdk")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9090
#: Bytes per upload/download request (the master's chunk size).
CHUNK_BYTES = 1 << 20
#: Upload/download requests kept in flight at once.
CHUNK_WINDOW = 4

JobLike = Union[TitanJob, JobSpec]

#: Ids the master makes: ``job-N``, ``dag-N``, ``dag-N/JOB``.
_NATIVE_ID = re.compile(r"(job|dag)-[0-9]+(/.+)?\Z")
#: Short job ids remembered per client (see ``TitanClient._remember``).
_ALIASES_LIMIT = 10_000

#: Seconds a request waits for its reply unless ``request_timeout`` or ``$TITAN_REQUEST_TIMEOUT``
#: says otherwise; connecting and authenticating wait at most that, and at most
#: ``HANDSHAKE_TIMEOUT`` (the Swift client and the CLI use the same numbers and variable).
DEFAULT_REQUEST_TIMEOUT = 60.0
HANDSHAKE_TIMEOUT = 10.0
REQUEST_TIMEOUT_ENV = "TITAN_REQUEST_TIMEOUT"
_FROM_ENVIRONMENT: Any = object()


def default_request_timeout() -> float:
    """``$TITAN_REQUEST_TIMEOUT`` (seconds), else 60."""
    text = os.environ.get(REQUEST_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_REQUEST_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (0 < seconds <= 86_400):
        raise InvalidRequest(f"{REQUEST_TIMEOUT_ENV}: {text!r} is not a number of seconds between 0 and 86400")
    return seconds


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (IPv6 as ``[::1]:9090``) -> ``(host, port)``."""
    text = text.strip()
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not (0 < int(port) < 65536):
        raise InvalidRequest(f"invalid master address {text!r}: expected HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def default_address() -> tuple[str, int]:
    """``$TITAN_MASTER``, else ``$TITAN_HOST``/``$TITAN_PORT``, else ``127.0.0.1:9090``."""
    master = os.environ.get("TITAN_MASTER")
    if master:
        return parse_address(master)
    host = os.environ.get("TITAN_HOST") or DEFAULT_HOST
    port = os.environ.get("TITAN_PORT")
    return host, int(port) if port and port.isdigit() else DEFAULT_PORT


class TitanClient:
    """A client of one Titan master.

    :param host: the master's host, or ``"HOST:PORT"``. Default: ``$TITAN_MASTER``, else
        ``$TITAN_HOST``/``$TITAN_PORT``, else ``127.0.0.1:9090`` (the original SDK's defaults).
    :param port: the master's port.
    :param connect_timeout: seconds to wait for the TCP connection (default: the request
        timeout, at most 10; the authentication exchange waits as long).
    :param request_timeout: seconds to wait for a reply before raising
        :class:`~titan_sdk.errors.WaitTimeout` (default ``$TITAN_REQUEST_TIMEOUT``, else 60;
        ``None``: wait forever). Following a job or DAG is not a request: while something is
        followed the master is pinged every 15 s, and a ping unanswered within the request
        timeout ends the subscriptions with :class:`~titan_sdk.errors.ConnectionLost`.
    :param auto_reconnect: reconnect on the next call after the connection dropped.
    :param gate_mode: how ``hitl_message`` gates are made: ``"native"`` (default: the master
        holds the gate, no process and no worker slot, the DAG resumes the moment a decision is
        written) or ``"script"`` (a gate job runs :mod:`titan_sdk.hitl_gate` on a worker and
        polls the KV store, as the original SDK's gates did). Both use the same KV keys.
    :param token: the token to authenticate with, ``"titan.ID.SECRET"`` (or an
        :class:`~titan_sdk.auth.AuthToken`); a malformed one raises
        :class:`~titan_sdk.errors.AuthenticationError` here.
    :param token_file: a file holding the token (read at each connection).
        Neither given: ``$TITAN_TOKEN``, ``$TITAN_TOKEN_FILE``, else the local credential
        (``$XDG_CONFIG_HOME/titan/token`` or ``~/.config/titan/token``); none found: the client
        connects without one.
    :param tls_ca: the cluster's CA certificate (PEM): talk TLS to the master and accept only a
        certificate that CA signed, issued for the host dialled (IP addresses included). Default
        ``$TITAN_TLS_CA``; neither given (or ``tls_ca=""``): plaintext.
    :param tls_cert: a certificate (PEM) to present, for a master that checks clients (default
        ``$TITAN_TLS_CERT``); needs ``tls_key`` (default ``$TITAN_TLS_KEY``).
    :param tls_key: the private key of ``tls_cert``.
    :param tls_server_name: the name the master's certificate must be for, when it is not the
        host dialled (default ``$TITAN_TLS_SERVER_NAME``).

    A missing or garbled CA, certificate or key file raises :class:`~titan_sdk.errors.TLSError`
    here; a failed handshake raises it on first use, saying why (certificate refused and which
    way, master without TLS, master requiring TLS).

    The connection is made on first use (or by :meth:`connect`) and lives until :meth:`close`.
    A master that refuses the token raises :class:`~titan_sdk.errors.AuthenticationError` with
    its reason.
    """

    def __init__(self, host: Optional[str] = None, port: Optional[int] = None, *,
                 connect_timeout: Optional[float] = None, request_timeout: Optional[float] = _FROM_ENVIRONMENT,
                 auto_reconnect: bool = True, gate_mode: str = "native", token: Optional[TokenLike] = None,
                 token_file: Optional[str] = None, tls_ca: Optional[str] = None, tls_cert: Optional[str] = None,
                 tls_key: Optional[str] = None, tls_server_name: Optional[str] = None) -> None:
        if gate_mode not in ("native", "script"):
            raise InvalidRequest(f"gate_mode: expected 'native' or 'script', got {gate_mode!r}")
        self.gate_mode = gate_mode
        self._token: Optional[AuthToken] = None
        if isinstance(token, AuthToken):
            self._token = token
        elif isinstance(token, str):
            self._token = AuthToken.parse(token) if token else None  # empty: not given, as in Swift
        elif token is not None:
            raise TypeError(f"token: expected 'titan.ID.SECRET' or an AuthToken, got {type(token).__name__}")
        self._token_file = token_file or None
        self._tls: Optional[TLSSettings] = tls_settings(tls_ca, tls_cert, tls_key, tls_server_name)
        self._role: Optional[Role] = None
        if host and port is None and (host.count(":") == 1 or (host.startswith("[") and "]:" in host)):
            self.host, self.port = parse_address(host)
        else:
            default_host, default_port = default_address()
            self.host = host or default_host
            self.port = int(port) if port is not None else default_port
        if request_timeout is _FROM_ENVIRONMENT:
            request_timeout = default_request_timeout()
        self.request_timeout: Optional[float] = request_timeout
        #: Connecting and the authentication exchange: never longer than a request may wait.
        self.handshake_timeout = min(HANDSHAKE_TIMEOUT, request_timeout) if request_timeout else HANDSHAKE_TIMEOUT
        self.connect_timeout = connect_timeout if connect_timeout is not None else self.handshake_timeout
        self.auto_reconnect = auto_reconnect
        self._connection: Optional[Connection] = None
        self._connect_lock = threading.Lock()
        self._closed = False
        self._upload_ids = itertools.count(1)
        self._uploads: dict[Any, ArtifactInfo] = {}
        self._sdk_artifact: Optional[ArtifactRef] = None
        self._aliases: "OrderedDict[str, str]" = OrderedDict()
        self._aliases_lock = threading.Lock()

    # =========================================================================================
    # Connection

    @property
    def address(self) -> str:
        """``HOST:PORT`` of the master."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def connect(self) -> "TitanClient":
        """Connects now (otherwise the first call does). Returns the client."""
        self._conn()
        return self

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.closed

    @property
    def tls(self) -> bool:
        """True when this client talks TLS to the master (a CA was given or found)."""
        return self._tls is not None

    @property
    def tls_version(self) -> Optional[str]:
        """The TLS version of the current connection (``"TLSv1.3"``); ``None`` when not
        connected or plaintext."""
        conn = self._connection
        if conn is None or conn.closed or conn.tls is None:
            return None
        return conn.tls.version

    @property
    def role(self) -> Optional[Role]:
        """The role the master granted this client's token (``Role.ADMIN``, ``Role.JOB``...),
        ``None`` before the first connection or when no token was found."""
        return self._role

    def close(self) -> None:
        """Closes the connection. Calls in flight raise ConnectionLost; later calls fail."""
        self._closed = True
        with self._connect_lock:
            conn, self._connection = self._connection, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> "TitanClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TitanClient({self.address!r}, connected={self.connected})"

    def _conn(self) -> Connection:
        conn = self._connection
        if conn is not None and not conn.closed:
            return conn
        with self._connect_lock:
            if self._closed:
                raise ConnectionLost("the client is closed")
            conn = self._connection
            if conn is not None and not conn.closed:
                return conn
            if conn is not None and not self.auto_reconnect:
                why = conn.error  # set: the connection is closed
                message = why.message if why else f"connection to master {self.address} lost"
                raise ConnectionLost(f"{message} (auto_reconnect is off)", why.code if why else None,
                                     reason=why.reason if why else None)
            token = find_token(self._token, self._token_file)
            fresh = Connection(self.host, self.port, self.connect_timeout, self._tls,
                               keepalive_timeout=self.request_timeout or DEFAULT_REQUEST_TIMEOUT)
            role: Optional[Role] = None
            if token is not None:
                try:
                    role = authenticate(fresh, token, self.handshake_timeout)
                except BaseException:
                    fresh.close()
                    self._role = None
                    raise
            self._role = role
            self._connection = fresh
            return fresh

    def _wait_reply(self, future: Future, timeout: Optional[float] = None, what: str = "reply") -> Any:
        timeout = self.request_timeout if timeout is None else timeout
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()  # a late reply is dropped
            raise WaitTimeout(f"request timed out: no {what} from the master at {self.address} within {timeout:g}s "
                              f"({REQUEST_TIMEOUT_ENV} or request_timeout= sets the limit)") from None

    def _call(self, message: Any, expect: Optional[type] = None, *, on_reply: Any = None,
              timeout: Optional[float] = None) -> Any:
        """Sends one request and returns its reply (checked to be an ``expect``)."""
        reply = self._wait_reply(self._conn().request(message, on_reply), timeout, f"reply to {type(message).__name__}")
        return _expect(reply, expect) if expect else reply

    def _call_many(self, messages: Sequence[Any], expect: Optional[type] = None) -> list[Any]:
        """Sends requests pipelined (one write) and returns their replies in order."""
        futures = self._conn().request_many(list(messages))
        replies = [self._wait_reply(f) for f in futures]
        return [_expect(r, expect) for r in replies] if expect else replies

    def ping(self) -> float:
        """Round-trip time to the master, in seconds."""
        start = time.perf_counter()
        self._call(p.Ping(), p.Pong)
        return time.perf_counter() - start

    # =========================================================================================
    # Submitting

    def _spec(self, job: JobLike) -> JobSpec:
        if isinstance(job, JobSpec):
            return job
        if isinstance(job, TitanJob):
            if job.hitl_message:
                raise InvalidRequest("hitl_message gates the jobs after this one: submit it with submit_dag")
            if job.dependencies:
                raise InvalidRequest("parents apply within a DAG: submit the jobs together with submit_dag")
            if job.is_service:
                raise InvalidRequest("a service job belongs to a DAG (it completes once healthy and stops with its "
                                     "DAG): submit it with submit_dag, or deploy a lone service with deploy_service")
            return job.to_spec(self)
        raise TypeError(f"expected a TitanJob or JobSpec, got {type(job).__name__}")

    def submit(self, job: JobLike, *, follow: bool = False) -> str:
        """Submits one job; returns its id (``job-N``).

        With ``follow=True`` this connection follows the job from before it can start, so
        :meth:`wait`, :meth:`events` and :meth:`stream_logs` see everything without asking the
        master again.
        """
        reply = self._call(p.Submit(self._spec(job), follow), p.Submitted,
                           on_reply=self._follow_hook("job_id") if follow else None)
        return reply.job_id

    def submit_many(self, jobs: Iterable[JobLike], *, follow: bool = False) -> list[str]:
        """Submits many jobs pipelined (all requests in one write, then all replies); returns
        their ids in order."""
        specs = [self._spec(j) for j in jobs]
        hook = self._follow_hook("job_id") if follow else None
        futures = self._conn().request_many([p.Submit(s, follow) for s in specs], [hook] * len(specs))
        return [_expect(self._wait_reply(f), p.Submitted).job_id for f in futures]

    def submit_job(self, job: JobLike) -> str:
        """Original SDK: submits one job. A :class:`TitanJob` with a ``job_id`` goes, as the
        original sent it, as a DAG of that one job named after it, so it is found by its name
        afterwards, from any client (``get_job_status("x")``, ``fetch_logs("DAG-x")``); a
        service job deploys its service. Returns the job's full id (``dag-N/x``). Without a
        ``job_id``, or a :class:`~titan_sdk.models.JobSpec`: a lone job, ``job-N``
        (see :meth:`submit`)."""
        if isinstance(job, TitanJob) and job.job_id:
            dag_id, _ = self._submit_dag(job.job_id, [job])
            return f"{dag_id}/{job.job_id}"
        return self.submit(job)

    def run(self, job: JobLike, timeout: Optional[float] = None) -> JobOutcome:
        """Submits a job, follows it, and returns how it ended."""
        job_id = self.submit(job, follow=True)
        outcome = self.wait(job_id, timeout)
        assert isinstance(outcome, JobOutcome)
        return outcome

    def _follow_hook(self, attr: str) -> Any:
        router = self._conn().router

        def hook(reply: Any) -> None:
            value = getattr(reply, attr, None)
            if isinstance(value, str):
                router.followed(value)

        return hook

    def _dag_jobs(self, jobs: Sequence[Union[TitanJob, DagJobSpec]]) -> tuple[list[DagJobSpec], list[str]]:
        titan_jobs = [j for j in jobs if isinstance(j, TitanJob)]
        gates: list[str] = []
        if len(titan_jobs) == len(jobs):
            expanded, gates = expand_hitl(titan_jobs, native=self.gate_mode == "native")
            items: Sequence[Union[TitanJob, DagJobSpec]] = expanded
        else:
            items = jobs
        specs = []
        for i, job in enumerate(items):
            if isinstance(job, DagJobSpec):
                specs.append(job)
            elif isinstance(job, TitanJob):
                specs.append(job.to_dag_job(self, f"job{i + 1}"))
            else:
                raise TypeError(f"expected TitanJob or DagJobSpec, got {type(job).__name__}")
        return specs, gates

    def submit_dag(self, name: str, jobs: Sequence[Union[TitanJob, DagJobSpec]], *, follow: bool = False) -> str:
        """Submits jobs as one DAG (validated whole: it lands whole or not at all); returns the
        DAG id. Job ids on the master are ``DAGID/JOBID``.

        Jobs with ``hitl_message`` get an approval gate ``hitl-gate-<job>`` after them (see
        :meth:`approve`). A cycle or an unknown parent raises
        :class:`~titan_sdk.errors.InvalidRequest` naming the problem.
        """
        return self._submit_dag(name, jobs, follow)[0]

    def _submit_dag(self, name: str, jobs: Sequence[Union[TitanJob, DagJobSpec]],
                    follow: bool = False) -> tuple[str, list[str]]:
        specs, gates = self._dag_jobs(jobs)
        reply = self._call(p.SubmitDag(DagSpec(name, specs), follow), p.DagSubmitted,
                           on_reply=self._follow_hook("dag_id") if follow else None)
        self._remember(reply.job_ids)
        self._clear_gates(reply.dag_id, gates)
        return reply.dag_id, list(reply.job_ids)

    def submit_dag_spec(self, dag: DagSpec, *, follow: bool = False) -> tuple[str, list[str]]:
        """Submits a wire-level :class:`~titan_sdk.models.DagSpec`; returns the DAG id and its
        jobs' full ids."""
        reply = self._call(p.SubmitDag(dag, follow), p.DagSubmitted,
                           on_reply=self._follow_hook("dag_id") if follow else None)
        self._remember(reply.job_ids)
        return reply.dag_id, list(reply.job_ids)

    def extend_dag(self, jobs: Sequence[Union[TitanJob, DagJobSpec]], dag_id: Optional[str] = None) -> list[str]:
        """Adds jobs to a running DAG; returns their full ids.

        ``dag_id`` defaults to ``$TITAN_DAG_ID``, so a job can grow its own DAG (an agent loop
        deciding its next steps). Idempotent by job id: jobs the DAG already has stay as they
        are (a retried step does not add them twice). New jobs may depend on existing ones.
        """
        dag_id = dag_id or os.environ.get("TITAN_DAG_ID")
        if not dag_id:
            raise InvalidRequest("extend_dag: no dag_id given and TITAN_DAG_ID is not set (not inside a DAG job?)")
        specs, gates = self._dag_jobs(jobs)
        reply = self._call(p.ExtendDag(dag_id, specs), p.DagSubmitted)
        self._remember(reply.job_ids)
        self._clear_gates(dag_id, gates)
        return list(reply.job_ids)

    # -- ids as the original SDK named them ----------------------------------------------------

    def _remember(self, full_ids: Iterable[str]) -> None:
        """Remembers DAG jobs by their short id, so calls may name them as the original SDK's
        users did: ``extract`` or ``DAG-extract`` for the latest ``dag-N/extract`` this client
        submitted (ids that look like the master's own, ``job-N``/``dag-N``, are never aliased)."""
        with self._aliases_lock:
            for full in full_ids:
                short = full.partition("/")[2]
                if short and not _NATIVE_ID.match(short):
                    self._aliases[short] = full
                    self._aliases.move_to_end(short)
            while len(self._aliases) > _ALIASES_LIMIT:
                self._aliases.popitem(last=False)

    def _alias(self, id: str) -> str:
        """The full id a short id stands for (see :meth:`_remember`), else ``id`` itself."""
        if _NATIVE_ID.match(id):
            return id
        with self._aliases_lock:
            full = self._aliases.get(id)
            if full is None and id.startswith("DAG-"):
                full = self._aliases.get(id[4:])
        return full or id

    def _canonical(self, id: str) -> str:
        """The id the master pushes events under: local aliases first, then the master's own
        (``DAG-x`` names the latest job with that short id, e.g. one submitted over the
        original protocol)."""
        full = self._alias(id)
        if _NATIVE_ID.match(full):
            return full
        try:
            return self.job(full).id
        except NotFound:
            return full

    def submit_yaml(self, yaml_path: str, *, wait: bool = False, poll_interval: float = 2, timeout: float = 300,
                    submit_timeout: float = 120.0) -> Union[str, bool]:
        """Original SDK: submits a YAML pipeline; returns its DAG id.

        ``wait=True`` blocks until the DAG ends (followed through pushed events, so
        ``poll_interval`` is accepted and not needed) and returns ``False`` if it did not end
        within ``timeout`` seconds, as the original did; a DAG that failed still returns its id
        (see :meth:`wait` for how it ended).

        The stdlib has no YAML parser, so this runs the ``titan`` CLI (``titan submit PATH
        --json``), found in ``$TITAN_BIN_DIR`` or on ``PATH``, against this client's master;
        ``submit_timeout`` bounds that run.
        """
        path = yaml_path
        cli = find_cli()
        env = dict(os.environ, TITAN_MASTER=self.address)
        for name in ("TITAN_TLS_CA", "TITAN_TLS_CERT", "TITAN_TLS_KEY", "TITAN_TLS_SERVER_NAME"):
            env.pop(name, None)  # the CLI talks to the master as this client does
        if self._tls is not None:
            env.update(self._tls.environment())
        try:
            done = subprocess.run([cli, "submit", path, "--json"], env=env, capture_output=True, text=True,
                                  timeout=submit_timeout)
        except subprocess.TimeoutExpired:
            raise WaitTimeout(f"titan submit {path} did not finish within {submit_timeout:g}s") from None
        if done.returncode != 0:
            message = (done.stderr or done.stdout).strip()
            if message.startswith("titan: "):
                message = message[len("titan: "):]
            if message.lower().startswith("error: "):
                message = message[len("error: "):]
            raise InvalidRequest(f"titan submit {path}: {message or 'exit status ' + str(done.returncode)}")
        try:
            data, _ = json.JSONDecoder().raw_decode(done.stdout[done.stdout.index("{"):])
        except ValueError:
            raise ProtocolError(f"titan submit {path}: unexpected output {done.stdout.strip()!r}") from None
        dag = data.get("dag") or data.get("id") or data.get("name")
        if not isinstance(dag, str):
            raise ProtocolError(f"titan submit {path}: no DAG id in {data!r}")
        self._remember(j for j in str(data.get("jobs", "")).split(",") if j)
        if wait:
            try:
                self.wait(dag, timeout)
            except WaitTimeout:
                return False
        return dag

    # =========================================================================================
    # Watching

    def subscribe(self, ids: Union[str, Iterable[str]], *, logs: bool = False) -> Subscription:
        """A :class:`~titan_sdk.events.Subscription` to job and/or DAG ids (low level: prefer
        :meth:`events`, :meth:`wait`, :meth:`stream_logs`). Close it when done."""
        id_list = [ids] if isinstance(ids, str) else list(ids)
        return self._conn().router.subscribe([self._canonical(i) for i in id_list], logs)

    def events(self, id: str, *, logs: bool = False, timeout: Optional[float] = None) -> Iterator[Push]:
        """Yields a job's (or DAG's) events as they happen, until it ends.

        For a job: :class:`~titan_sdk.models.JobEvent` items (its current state first if it is
        running or finished). For a DAG: a :class:`~titan_sdk.models.DagEvent` at once, then
        every job's events and the DAG's own; the last item is the final DAG event. With
        ``logs=True``, :class:`~titan_sdk.models.Output` items too. ``timeout`` (seconds)
        bounds the whole iteration (:class:`~titan_sdk.errors.WaitTimeout`).
        """
        with self.subscribe(id, logs=logs) as sub:
            yield from sub.iter(timeout)

    def stream_logs(self, id: str, *, timeout: Optional[float] = None, stderr: bool = True) -> Iterator[str]:
        """Yields a job's output lines (without the newline) as it prints them, from the first
        one, until the job ends. For a DAG id, every job's lines, prefixed ``[job] ``."""
        id = self._canonical(id)
        with self.subscribe(id, logs=True) as sub:
            for item in sub.iter(timeout):
                if not isinstance(item, Output):
                    continue
                if not stderr and item.stream != 1:
                    continue
                prefix = ""
                if item.job_id != id:
                    prefix = "[" + item.job_id.rpartition("/")[2] + "] "
                text = item.data.decode("utf-8", "replace")
                lines = text.split("\n")
                if lines and lines[-1] == "":
                    lines.pop()
                for line in lines:
                    yield prefix + line

    def wait(self, id: str, timeout: Optional[float] = None) -> Outcome:
        """Waits for a job or DAG to end; returns a :class:`~titan_sdk.models.JobOutcome` or a
        :class:`~titan_sdk.models.DagOutcome`. A job that fails is an outcome, not an error
        (see :meth:`result` for that); raises :class:`~titan_sdk.errors.WaitTimeout` after
        ``timeout`` seconds and :class:`~titan_sdk.errors.NotFound` for an unknown id."""
        return self.wait_all([id], timeout)[id]

    def wait_all(self, ids: Iterable[str], timeout: Optional[float] = None) -> dict[str, Outcome]:
        """Waits for every job/DAG in ``ids`` (all followed at once); returns their outcomes,
        keyed by the ids as given."""
        asked = list(dict.fromkeys(ids))
        canonical = {a: self._canonical(a) for a in asked}
        id_list = list(dict.fromkeys(canonical.values()))
        conn = self._conn()
        finals: dict[str, Union[JobEvent, DagEvent]] = {}
        missing = []
        for id in id_list:
            final = conn.router.final_of(id)
            if final is None:
                missing.append(id)
            else:
                finals[id] = final
        if missing:
            with conn.router.subscribe(missing) as sub:
                try:
                    finals.update(sub.wait(timeout))
                except WaitTimeout:
                    left = [i for i in missing if i not in sub.finals]
                    shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
                    raise WaitTimeout(f"{shown} did not finish within {timeout:g}s") from None
        by_id: dict[str, Outcome] = {}
        for id in id_list:
            final = finals[id]
            by_id[id] = JobOutcome.from_event(final) if isinstance(final, JobEvent) else self._dag_outcome(final)
        return {a: by_id[canonical[a]] for a in asked}

    def _dag_outcome(self, event: DagEvent) -> DagOutcome:
        try:
            info = self.dag(event.dag_id)
        except NotFound:  # forgotten already (retention): what the event says
            return DagOutcome(event.dag_id, event.state, event.counts)
        return DagOutcome(info.id, info.state, info.counts,
                          {j.id.rpartition("/")[2]: JobOutcome.from_info(j) for j in info.jobs},
                          info.submitted_at_ms, info.finished_at_ms)

    def result(self, id: str, timeout: Optional[float] = None) -> Outcome:
        """Like :meth:`wait`, but raises :class:`~titan_sdk.errors.JobFailed` unless the job
        (or every job of the DAG) completed."""
        outcome = self.wait(id, timeout)
        if not outcome.ok:
            raise JobFailed(outcome.describe(), outcome)
        return outcome

    def cancel(self, id: str) -> None:
        """Cancels a job (killing its process group) or a whole DAG; in a DAG, what depends on a
        cancelled job is skipped. Raises InvalidRequest if it already finished."""
        self._call(p.Cancel(self._alias(id)), p.Ok)

    def stop_service(self, id: str) -> bool:
        """Original SDK: stops a service for good (SIGTERM, then SIGKILL), every copy of it. An
        id that names no service but a job (the original ran services as DAG jobs) cancels the
        job. ``DAG-x`` and ``x`` name the same service, as in the original. Returns False if
        there was nothing left to stop (the original returned the master's text)."""
        if not id:
            raise InvalidRequest("stop_service requires a non-empty service_id")
        names = [id] + ([id[4:]] if id.startswith("DAG-") else [])
        for name in names:
            try:
                self._call(p.StopService(name), p.Ok)
                return True
            except NotFound:
                continue
            except InvalidRequest as error:
                if "already" in str(error):  # a job that has finished
                    return False
                raise
        return False

    def deploy_service(self, name: str, command: list[str], *, port: Optional[int] = None, auto_port: bool = False,
                       health: str = "", restart: str = "always", requirement: Optional[str] = None,
                       env: Optional[dict[str, str]] = None, replicas: int = 1) -> ServiceInfo:
        """Deploys (or replaces) a long-running service, kept alive per ``restart`` (always,
        on-failure, never). ``auto_port`` lets the worker pick a free port (``PORT`` in its
        environment, ``{port}`` in ``command``); ``health`` is "tcp" or "http:/path".
        ``replicas``: how many copies run, each on its own slot, spread over workers where
        possible; the first is ``NAME``, the others ``NAME#1``, ``NAME#2``, ... (each listed by
        :meth:`services`; :meth:`stop_service` stops them all). Returns the first copy's info."""
        if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
            raise InvalidRequest(f"replicas: must be at least 1 (got {replicas!r})")
        spec = ServiceSpec(name=name, command=list(command), environment=dict(env or {}),
                           requirements=[requirement.upper()] if requirement and requirement.upper() != "GENERAL" else [],
                           restart=restart, port=0 if auto_port else (port if port is not None else -1), health=health,
                           replicas=replicas)
        return self._call(p.DeployService(spec), p.ServiceInfos).services[0]

    def services(self) -> list[ServiceInfo]:
        """Every service copy: state, worker, pid, port, restarts, last exit. A service with
        replicas has one entry per copy (``info.instance``: ``NAME``, ``NAME#1``, ...)."""
        return self._call(p.ListServices(), p.ServiceInfos).services

    def service(self, name: str) -> ServiceInfo:
        """One service copy by instance name: ``NAME`` (the first copy) or ``NAME#i``."""
        for info in self.services():
            if info.instance == name:
                return info
        raise NotFound(f"no service '{name}'")

    def restart_service(self, name: str) -> None:
        """Restarts a service now (a new run; a crash loop is cleared)."""
        self._call(p.RestartService(name), p.Ok)

    #: Service states in which a copy is there to be used (the original's "live" services).
    LIVE_SERVICE_STATES = frozenset({"STARTING", "HEALTHY", "RESTARTING"})

    def _service_copy(self, service_id: str) -> Optional[ServiceInfo]:
        """The copy ``service_id`` names: an instance (``NAME``, ``NAME#1``), with or without the
        original's ``DAG-`` prefix (its services were keyed ``DAG-<job id>``)."""
        names = [service_id]
        names.append(service_id[4:] if service_id.startswith("DAG-") else "DAG-" + service_id)
        copies = {info.instance: info for info in self.services()}
        return next((copies[n] for n in names if n in copies), None)

    def get_service_address(self, service_id: str) -> Optional[tuple[str, int]]:
        """Original SDK: where a service listens, ``(host, port)``: its worker's address and its
        port, once it is HEALTHY (past its health check, or started if it has none). ``None``
        if there is no such service, it is not healthy, or it has no port."""
        info = self._service_copy(service_id)
        if info is None or info.state != "HEALTHY" or info.port <= 0:
            return None
        return (info.host or self.host, info.port)

    def get_service_url(self, service_id: str, scheme: str = "http") -> Optional[str]:
        """Original SDK: ``scheme://host:port`` of :meth:`get_service_address`, or ``None``."""
        address = self.get_service_address(service_id)
        if address is None:
            return None
        host = f"[{address[0]}]" if ":" in address[0] else address[0]
        return f"{scheme}://{host}:{address[1]}"

    def list_services(self) -> list[str]:
        """Original SDK: the names of the services running now (every copy: ``NAME``,
        ``NAME#1``...; starting, healthy or restarting). :meth:`services` has the details."""
        return [info.instance for info in self.services() if info.state in self.LIVE_SERVICE_STATES]

    # =========================================================================================
    # Queries

    def status(self, id: str) -> Union[JobInfo, DagInfo]:
        """Everything the master knows about a job (:class:`~titan_sdk.models.JobInfo`) or a
        DAG (:class:`~titan_sdk.models.DagInfo`, with its jobs)."""
        id = self._alias(id)
        if "/" not in id and id.startswith("dag-"):
            try:
                return self.dag(id)
            except NotFound:
                pass
        try:
            return self.job(id)
        except NotFound:
            if "/" in id:
                raise
        try:
            return self.dag(id)
        except NotFound:
            raise NotFound(f"no job or DAG '{id}'") from None

    def job(self, job_id: str) -> JobInfo:
        """A job's :class:`~titan_sdk.models.JobInfo` (NotFound if unknown)."""
        return self._call(p.GetStatus(self._alias(job_id)), JobInfo)

    def dag(self, dag_id: str) -> DagInfo:
        """A DAG's :class:`~titan_sdk.models.DagInfo` with its jobs (NotFound if unknown)."""
        return self._call(p.GetDag(dag_id), DagInfo)

    def get_job_status(self, job_id: str) -> str:
        """Original SDK: the job's state as the original named it: ``PENDING``, ``RUNNING``,
        ``COMPLETED``, ``FAILED``, ``CANCELLED``, or ``NULL`` if the master does not know it. A
        job skipped below a failure is ``FAILED``, below a cancel ``CANCELLED`` (the original
        had no SKIPPED: code waiting for one of its final states ends); :meth:`status` tells
        them apart. A DAG id gives the DAG's state. ``job_id`` may be the name given
        (``x`` or ``DAG-x``)."""
        try:
            info = self.status(job_id)
        except NotFound:
            return "NULL"
        if isinstance(info, JobInfo) and info.state is JobState.SKIPPED:
            error = info.result.error if info.result else None
            return "CANCELLED" if error and error.endswith("CANCELLED") else "FAILED"
        return info.state.name

    def jobs(self, limit: int = 20) -> list[JobInfo]:
        """The most recent jobs, newest first."""
        return self._call(p.ListJobs(limit), p.Jobs).jobs

    def dags(self, limit: int = 20) -> list[DagInfo]:
        """The most recent DAGs, newest first (without their jobs)."""
        return self._call(p.ListDags(limit), p.Dags).dags

    def workers(self) -> list[WorkerInfo]:
        """The workers the master knows."""
        return self._call(p.ListWorkers(), p.Workers).workers

    def stats(self) -> ClusterStats:
        """The cluster at a glance: jobs queued for a worker, jobs by state, workers, and
        recently finished jobs."""
        return self._call(p.GetStats(), ClusterStats)

    def logs(self, job_id: str) -> list[LogChunk]:
        """A job's stored output, as chunks tagged stdout/stderr."""
        return self._call(p.GetLogs(self._alias(job_id)), p.Logs).chunks

    def fetch_logs(self, job_id: str, tail: Optional[int] = None) -> str:
        """Original SDK: a job's output so far (stdout and stderr, in order) as text. The master
        sends the last 4 MiB at most (after a line saying how much came before); ``tail=N``
        gives exactly the last N lines, however much the job printed. All of it:
        :meth:`iter_logs`."""
        if tail is None:
            return b"".join(c.data for c in self.logs(job_id)).decode("utf-8", "replace")
        return b"".join(page.data for page in self.iter_logs(job_id, tail=tail)).decode("utf-8", "replace")

    def read_logs(self, job_id: str, cursor: int = 0, *, limit: int = 1 << 20, tail: Optional[int] = None,
                  since: Optional[float] = None) -> p.LogPage:
        """One page of a job's output: at most ``limit`` bytes (the master sends 1 MiB at most)
        from ``cursor`` (0: the beginning; pass the previous page's ``next`` for the following
        one). On the first page, ``tail=N`` starts where the last N lines begin and ``since``
        (seconds since the epoch, as ``time.time()``) at output printed from then on."""
        since_ms = int(since * 1000) if since else 0
        return self._call(p.ReadLogs(self._alias(job_id), cursor, limit, tail or 0, since_ms), p.LogPage)

    def iter_logs(self, job_id: str, *, tail: Optional[int] = None, since: Optional[float] = None,
                  follow: bool = False, limit: int = 1 << 20, poll: float = 0.2) -> Iterator[p.LogPage]:
        """A job's output as pages (:class:`~titan_sdk.protocol.LogPage`, ``.data`` for the
        bytes), from the start (or ``tail``/``since``, as :meth:`read_logs`) to what it printed
        so far; with ``follow``, on until the job ends (asking again every ``poll`` seconds once
        caught up). Holds one page at a time, however large the output."""
        cursor, first = 0, True
        while True:
            page = self.read_logs(job_id, cursor, limit=limit, tail=tail if first else None,
                                  since=since if first else None)
            first = False
            cursor = page.next
            if page.chunks or page.end:
                yield page
            if page.end:
                return
            if not page.chunks:
                if not follow:
                    return
                time.sleep(poll)

    # -- schedules ------------------------------------------------------------------------------

    def schedule(self, name: str, cron: str, jobs: Sequence[Union[TitanJob, DagJobSpec]], *, time_zone: str = "",
                 overlap: str = "skip", missed: str = "skip") -> ScheduleInfo:
        """Registers (or replaces) a cron schedule that submits ``jobs`` as a DAG each time."""
        specs, _ = self._dag_jobs(jobs)  # gates need no CLEARED key: each run's gate sets WAITING itself
        spec = ScheduleSpec(name, cron, time_zone, overlap, missed, DagSpec(name, specs))
        return self._call(p.Schedule(spec), ScheduleInfo)

    def schedules(self) -> list[ScheduleInfo]:
        return self._call(p.ListSchedules(), p.Schedules).schedules

    def unschedule(self, name: str) -> None:
        self._call(p.Unschedule(name), p.Ok)

    # =========================================================================================
    # Artifacts

    def artifact(self, name: str) -> ArtifactInfo:
        """The artifact stored under ``name`` (NotFound if none)."""
        return self._call(p.GetArtifact(name), ArtifactInfo)

    def upload_file(self, path: str, name: Optional[str] = None, *, kind: ArtifactKind = ArtifactKind.FILE,
                    cached: bool = False) -> ArtifactReply:
        """Original SDK: uploads a file to the master under ``name`` (default: its base name),
        streamed in 1 MiB chunks (several in flight). Returns what the master stored as an
        :class:`~titan_sdk.replies.ArtifactReply`: the original's text ``"UPLOAD_SUCCESS"``
        whose ``.hash`` (naming the content), ``.size``, ``.name``, ``.kind`` are the
        :class:`~titan_sdk.models.ArtifactInfo`'s. With ``cached``, a file unchanged since this
        client last uploaded it is not sent again. A missing file raises ``FileNotFoundError``."""
        name = name or os.path.basename(path)
        stat = os.stat(path)
        key = ("file", os.path.abspath(path), stat.st_size, stat.st_mtime_ns, name, kind)
        if cached and key in self._uploads:
            return ArtifactReply(self._uploads[key])
        with open(path, "rb") as f:
            info = self._upload(name, kind, f)
        self._uploads[key] = info
        return ArtifactReply(info)

    def upload_bytes(self, name: str, data: bytes, kind: ArtifactKind = ArtifactKind.FILE) -> ArtifactInfo:
        """Uploads bytes from memory as an artifact (inline scripts). Identical content already
        uploaded by this client under the same name is not sent again."""
        key = ("bytes", hashlib.sha256(data).hexdigest(), name, kind)
        if key not in self._uploads:
            self._uploads[key] = self._upload(name, kind, io.BytesIO(data))
        return self._uploads[key]

    def upload_project_folder(self, folder: str, name: Optional[str] = None, *,
                              project_name: Optional[str] = None) -> ArtifactReply:
        """Original SDK: zips a folder (leaving out ``.git``, ``__pycache__`` and the like) and
        uploads it as an archive named ``NAME.zip``: ``name`` or ``project_name`` (the
        original's parameter; ``.zip`` is added when missing), default the folder's name. Jobs
        use it with ``TitanJob(..., filename="NAME.zip/path/entry.py", is_archive=True)``.
        Returns an :class:`~titan_sdk.replies.ArtifactReply` (``"UPLOAD_SUCCESS"``, with the
        archive's ``.name``, ``.hash``, ``.size``)."""
        if name and project_name and name != project_name:
            raise InvalidRequest(f"upload_project_folder: name {name!r} and project_name {project_name!r} differ")
        folder = os.path.abspath(folder)
        if not os.path.isdir(folder):
            raise InvalidRequest(f"upload_project_folder: {folder!r} is not a directory")
        name = name or project_name or os.path.basename(folder.rstrip(os.sep))
        if not name.lower().endswith(".zip"):
            name += ".zip"
        with tempfile.TemporaryFile() as tmp:
            zip_folder(folder, tmp)
            tmp.seek(0)
            return ArtifactReply(self._upload(name, ArtifactKind.ARCHIVE, tmp))

    def deploy_script(self, filepath: str) -> str:
        """Original SDK: puts a script on the master under its file name, for jobs to run by that
        name: ``TitanJob("x", "my_worker.py")`` with no such file here runs the deployed one
        (and the original protocol's RUN / DEPLOY find it). Returns ``"DEPLOY_SUCCESS"``, or,
        as the original, ``"ERROR: File not found at: PATH"`` for a missing file."""
        if not os.path.isfile(filepath):
            return f"ERROR: File not found at: {filepath}"
        self.upload_file(filepath, os.path.basename(os.path.abspath(filepath)))
        return "DEPLOY_SUCCESS"

    def publish_artifact(self, key: str, filename: str) -> bool:
        """Original SDK: uploads ``filename`` to the master and records its name in the KV store
        under ``key``, for :meth:`get_artifact` (by another client, a job, an orchestrator).
        Returns True; False if the file is missing or the master refused the upload (as the
        original, which printed why: here the reason is in the raised error's place, logged)."""
        try:
            info = self.upload_file(filename)
        except (OSError, TitanError) as error:
            _log.warning("publish_artifact: upload of %s failed: %s", filename, error)
            return False
        self.store_put(key, info.name)
        return True

    def get_artifact(self, key: str, save_path: Optional[str] = None) -> bool:
        """Original SDK: downloads the file published under ``key`` (:meth:`publish_artifact`)
        to ``save_path`` (default ``/tmp/NAME``). Returns True; False if nothing is published
        under ``key`` or the master no longer has it."""
        name = self.store_get(key)
        if not isinstance(name, str) or not name or name in ("NULL", "CLEARED"):
            return False
        try:
            self.fetch_artifact(name, save_path or os.path.join("/tmp", name))
        except NotFound:
            return False
        return True

    def _upload(self, name: str, kind: ArtifactKind, source: IO[bytes]) -> ArtifactInfo:
        problem = _artifact_name_problem(name)
        if problem:
            raise InvalidRequest(problem)
        conn = self._conn()
        upload_id = next(self._upload_ids) & 0xFFFFFFFF or next(self._upload_ids)
        window: deque[Future] = deque()
        offset = 0
        chunk = source.read(CHUNK_BYTES)
        result: Optional[ArtifactInfo] = None
        while True:
            following = source.read(CHUNK_BYTES) if len(chunk) == CHUNK_BYTES else b""
            last = not following
            window.append(conn.request(UploadChunk(upload_id, name, kind, offset, chunk, last)))
            offset += len(chunk)
            while window and (len(window) >= CHUNK_WINDOW or last):
                reply = self._wait_reply(window.popleft(), what="upload acknowledgement")
                if isinstance(reply, ArtifactInfo):
                    result = reply
                else:
                    _expect(reply, p.Ok)
            if last:
                break
            chunk = following
        if result is None:
            raise ProtocolError(f"upload of {name!r}: the master never confirmed it was stored")
        return result

    def fetch_artifact(self, name: str, save_path: Optional[str] = None, *, dest_path: Optional[str] = None) -> str:
        """Original SDK: downloads the artifact stored under ``name`` to ``save_path`` (the
        original's parameter; or ``dest_path``): a file path, or a directory to put it in under
        its name; default ``name`` in the current directory. Checks its SHA-256. Returns the
        path written (true, as the original's ``True``); ``NotFound`` if there is no such
        artifact."""
        if save_path and dest_path and save_path != dest_path:
            raise InvalidRequest(f"fetch_artifact: save_path {save_path!r} and dest_path {dest_path!r} differ")
        dest_path = save_path or dest_path or name
        info = self.artifact(name)
        dest = os.path.join(dest_path, name) if os.path.isdir(dest_path) else dest_path
        tmp = f"{dest}.part-{os.getpid()}-{threading.get_ident()}"
        digest = hashlib.sha256()
        conn = self._conn()
        try:
            with open(tmp, "wb") as out:
                offsets = iter(range(0, info.size, CHUNK_BYTES))
                window: deque[tuple[int, Future]] = deque()
                while True:
                    while len(window) < CHUNK_WINDOW:
                        offset = next(offsets, None)
                        if offset is None:
                            break
                        window.append((offset, conn.request(ArtifactRange(info.hash, offset, CHUNK_BYTES))))
                    if not window:
                        break
                    offset, future = window.popleft()
                    data = _expect(self._wait_reply(future, what="artifact data"), ArtifactData)
                    if data.offset != offset or data.total != info.size or not data.data:
                        raise ProtocolError(f"artifact {name}: got {len(data.data)} bytes at {data.offset} of "
                                            f"{data.total}, expected offset {offset} of {info.size}")
                    digest.update(data.data)
                    out.write(data.data)
            if digest.hexdigest() != info.hash:
                raise ProtocolError(f"artifact {name}: content hash {digest.hexdigest()} != {info.hash}")
            os.replace(tmp, dest)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return dest

    def sdk_artifact(self) -> ArtifactRef:
        """This SDK as an archive artifact (uploaded once per master; ``.titan/sdk`` in the
        job's directory). Used by approval gates and ``TitanJob(ship_sdk=True)``."""
        if self._sdk_artifact is None:
            data = sdk_archive()
            digest = hashlib.sha256(data).hexdigest()
            name = f"titan_sdk-{digest[:16]}.zip"
            try:
                info = self.artifact(name)
                if info.hash != digest:
                    raise NotFound("stale")
            except NotFound:
                info = self.upload_bytes(name, data, ArtifactKind.ARCHIVE)
            self._sdk_artifact = ArtifactRef(info.hash, info.size, ArtifactKind.ARCHIVE, SDK_DIR, False)
        return self._sdk_artifact

    # =========================================================================================
    # KV store

    def kv(self, operation: KVOperation) -> KVResult:
        """One KV operation (low level)."""
        return self._call(operation, KVResult)

    def _kv_many(self, operations: Sequence[KVOperation]) -> list[KVResult]:
        return self._call_many(operations, KVResult)

    def store_put(self, key: str, value: Union[str, bytes, Any], ttl: Optional[float] = None) -> bool:
        """Sets ``key``: ``str`` values are stored as UTF-8, ``bytes`` as they are (anything
        else as ``str(value)``). ``ttl``: seconds until it expires. Returns True once the
        master recorded it."""
        ttl_ms = 0
        if ttl is not None:
            if not ttl > 0:
                raise InvalidRequest("ttl: must be a positive number of seconds")
            ttl_ms = max(1, int(round(ttl * 1000)))
        self.kv(KVOperation(KVOp.SET, key, value=_to_bytes(value), ttl_ms=ttl_ms))
        return True

    def store_get(self, key: str, decode: bool = True) -> Union[str, bytes, None]:
        """The value of ``key``, or None if missing. ``decode=True`` returns ``str`` (a value
        that is not valid UTF-8 comes back as ``bytes``); ``decode=False`` always ``bytes``."""
        value = self.kv(KVOperation(KVOp.GET, key)).value
        if value is None or not decode:
            return value
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value

    def store_del(self, key: str) -> bool:
        """Removes ``key``; True if it existed."""
        return self.kv(KVOperation(KVOp.DEL, key)).integer == 1

    def store_incr(self, key: str, by: int = 1) -> int:
        """Adds ``by`` to the decimal integer at ``key`` (missing: 0); returns the new value."""
        return self.kv(KVOperation(KVOp.INCR, key, by=by)).integer

    def store_sadd(self, key: str, member: str) -> int:
        """Adds ``member`` to the set at ``key``: 1 if it is new, 0 if it was there."""
        return self.kv(KVOperation(KVOp.SADD, key, member=str(member))).integer

    def store_srem(self, key: str, member: str) -> int:
        """Removes ``member`` from the set at ``key``: 1 if it was there, else 0."""
        return self.kv(KVOperation(KVOp.SREM, key, member=str(member))).integer

    def store_smembers(self, key: str) -> list[str]:
        """The members of the set at ``key``, sorted (empty if missing)."""
        return self.kv(KVOperation(KVOp.SMEMBERS, key)).members

    # =========================================================================================
    # Tokens (admin)

    def create_token(self, role: Union[Role, str], name: str = "", ttl: Optional[float] = None) -> CreatedToken:
        """Creates a token for ``role`` (``read``, ``submit``, ``worker``, ``admin``), named
        ``name`` (optional), expiring after ``ttl`` seconds (default: never). Its text
        (``.token``, ``titan.ID.SECRET``) is shown this once: the master keeps a verifier only.
        Needs an admin token."""
        ttl_ms = 0
        if ttl is not None:
            if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not 0 < ttl < math.inf:
                raise InvalidRequest(f"ttl: must be a positive number of seconds (got {ttl!r})")
            ttl_ms = max(1, int(round(ttl * 1000)))
        reply = self._call(TokenOperation(TokenOp.CREATE, role=str(role), name=name, ttl_ms=ttl_ms), TokenResult)
        if reply.kind is not TokenResultKind.CREATED or reply.created is None:
            raise ProtocolError(f"unexpected reply from master: expected a created token, got {reply.kind.name}")
        return reply.created

    def tokens(self) -> list[TokenInfo]:
        """The tokens the master accepts (never their secrets; a running job's own token is
        not listed). Needs an admin token."""
        reply = self._call(TokenOperation(TokenOp.LIST), TokenResult)
        if reply.kind is not TokenResultKind.LIST:
            raise ProtocolError(f"unexpected reply from master: expected a token list, got {reply.kind.name}")
        return reply.tokens

    def revoke_token(self, id: str) -> None:
        """Revokes a token at once: connections authenticated with it are closed (told why)
        and it is refused from then on. ``NotFound`` if the master has no such token. Needs an
        admin token."""
        self._call(TokenOperation(TokenOp.REVOKE, id=id), p.Ok)

    # =========================================================================================
    # Human approval gates

    def _clear_gates(self, dag_id: str, gates: Sequence[str]) -> None:
        """The original convention: a gate's status is CLEARED until it starts waiting. Set only
        where no status exists yet, so a gate that already opened (WAITING) or a decision given
        in advance is never overwritten."""
        if not gates:
            return
        keys = [f"{HITL_STATUS}{dag_id}/{g}" for g in gates]
        current = self._kv_many([KVOperation(KVOp.GET, k) for k in keys])
        unset = [k for k, r in zip(keys, current) if r.value is None]
        if unset:
            self._kv_many([KVOperation(KVOp.SET, k, value=b"CLEARED") for k in unset])

    def pending_approvals(self) -> list[PendingApproval]:
        """Approval gates waiting for a decision, oldest first (native and script gates)."""
        gates = self.store_smembers(HITL_QUEUE)
        if not gates:
            return []
        ops = []
        for gate in gates:
            ops += [KVOperation(KVOp.GET, HITL_STATUS + gate), KVOperation(KVOp.GET, HITL_MESSAGE + gate),
                    KVOperation(KVOp.GET, HITL_TS + gate)]
        values = [r.value for r in self._kv_many(ops)]
        pending = []
        for i, gate in enumerate(gates):
            status, message, ts = values[3 * i: 3 * i + 3]
            if status in (b"APPROVED", b"REJECTED", b"TIMEOUT", b"CANCELLED"):
                continue  # decided: its gate is on its way out of the queue
            try:
                since = float((ts or b"0").decode())
            except ValueError:
                since = 0.0
            pending.append(PendingApproval(gate, (message or b"").decode("utf-8", "replace"), since,
                                           (status or b"WAITING").decode("utf-8", "replace")))
        pending.sort(key=lambda a: (a.since, a.gate_id))
        return pending

    def approval_status(self, gate_id: str) -> Optional[str]:
        """A gate's status: ``CLEARED`` (not reached yet), ``WAITING``, ``APPROVED``,
        ``REJECTED``, ``TIMEOUT``, ``CANCELLED``; None if unknown."""
        value = self.store_get(HITL_STATUS + gate_id)
        return value if isinstance(value, str) or value is None else value.decode("utf-8", "replace")

    def approve(self, gate_id: str) -> str:
        """Approves a gate: the jobs after it run. ``gate_id`` is the gate as
        :meth:`pending_approvals` lists it (``dag-3/hitl-gate-train``; ``hitl-gate-train`` for a
        gate the original SDK made over its protocol), or its short id or ``DAG-`` name when
        exactly one waiting gate has it. Returns the id decided."""
        return self._decide(gate_id, "APPROVED")

    def reject(self, gate_id: str) -> str:
        """Rejects a gate: it fails, and the jobs after it are skipped. Returns the full id."""
        return self._decide(gate_id, "REJECTED")

    def _decide(self, gate_id: str, decision: str) -> str:
        full = gate_id
        # The original's names: `DAG-x` for x, and a v1 job `dag-N/DAG-x` registered as `x`.
        short = gate_id.rpartition("/")[2]
        bare = short[4:] if short.startswith("DAG-") else short
        if "/" not in gate_id or short.startswith("DAG-"):
            waiting = [a.gate_id for a in self.pending_approvals()]
            if gate_id in waiting:
                return self._write_decision(gate_id, decision)
            matches = [g for g in waiting if g in (short, bare) or g.endswith("/" + short) or g.endswith("/" + bare)]
            if not matches and "/" in gate_id:
                matches = [gate_id]  # a native gate not open yet: decided in advance
            if not matches:
                raise NotFound(f"no approval gate '{gate_id}' is waiting")
            if len(matches) > 1:
                raise InvalidRequest(f"gate '{gate_id}' is ambiguous: {', '.join(matches)}; use the full id")
            full = matches[0]
        return self._write_decision(full, decision)

    def _write_decision(self, gate: str, decision: str) -> str:
        self.store_put(HITL_STATUS + gate, decision)
        return gate


# =============================================================================================
# Helpers


def _expect(reply: Any, cls: type) -> Any:
    if not isinstance(reply, cls):
        raise ProtocolError(f"unexpected reply from master: expected {cls.__name__}, got {type(reply).__name__}")
    return reply


def _to_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8")


def _artifact_name_problem(name: str) -> Optional[str]:
    if not name:
        return "the artifact name is empty"
    if name in (".", ".."):
        return f"the artifact name '{name}' is not a file name"
    if "/" in name or "\\" in name:
        return f"the artifact name '{name}' contains a path separator"
    if "\0" in name:
        return "the artifact name contains a NUL byte"
    if len(name.encode()) > 255:
        return "the artifact name is longer than 255 bytes"
    return None


#: Directory names left out of project archives.
SKIPPED_DIRS = frozenset({".git", "__pycache__", ".hg", ".svn", ".mypy_cache", ".pytest_cache", ".venv"})


def zip_folder(folder: str, out: IO[bytes], skip_dirs: Iterable[str] = SKIPPED_DIRS) -> int:
    """Zips the contents of ``folder`` (paths relative to it, modes kept) into ``out``,
    leaving out ``skip_dirs`` and ``*.pyc``. Returns the number of files."""
    skip = set(skip_dirs)
    count = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for root, dirs, files in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d not in skip)
            for fname in sorted(files):
                if fname.endswith(".pyc"):
                    continue
                full = os.path.join(root, fname)
                if os.path.islink(full) or not os.path.isfile(full):
                    continue
                zf.write(full, os.path.relpath(full, folder))
                count += 1
    return count


def sdk_archive() -> bytes:
    """This SDK's package as a zip (``titan_sdk/*.py``), byte-for-byte stable for a given
    version, so it is uploaded once per master."""
    package = os.path.dirname(os.path.abspath(__file__))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for fname in sorted(os.listdir(package)):
            if fname.endswith(".py") or fname == "py.typed":
                info = zipfile.ZipInfo(f"titan_sdk/{fname}", date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(os.path.join(package, fname), "rb") as f:
                    zf.writestr(info, f.read())
    return buf.getvalue()


def find_cli() -> str:
    """The ``titan`` CLI: ``$TITAN_BIN_DIR/titan``, else ``titan`` on ``PATH``."""
    bin_dir = os.environ.get("TITAN_BIN_DIR")
    if bin_dir:
        candidate = os.path.join(bin_dir, "titan")
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("titan")
    if found:
        return found
    raise ToolMissing("submit_yaml needs the 'titan' CLI (YAML is parsed by it): put it on PATH or set "
                      "TITAN_BIN_DIR to the directory holding it")
