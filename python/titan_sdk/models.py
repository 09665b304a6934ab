"""The value types that travel in Titan messages, and the results the client hands back.

These mirror the Swift models (``Sources/TitanProtocol/Model.swift``, ``DagModel.swift``,
``ArtifactModel.swift``, ``KVModel.swift``, ``ServiceModel.swift``, ``AuthModel.swift``, ``Role.swift``) field for
field, with Python names. They hold data only; their wire layouts live in :mod:`titan_sdk.protocol`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Optional, Union


class _NamedEnum(IntEnum):
    """An ``IntEnum`` whose ``str()`` is its name (``COMPLETED``), as the CLI prints it."""

    def __str__(self) -> str:
        return self.name


class JobState(_NamedEnum):
    """A job's life: ``PENDING -> RUNNING -> COMPLETED | FAILED``; ``CANCELLED`` from either;
    ``SKIPPED`` when a job it depends on did not complete."""

    PENDING = 0
    RUNNING = 1
    COMPLETED = 2
    FAILED = 3
    CANCELLED = 4
    SKIPPED = 5

    @property
    def is_final(self) -> bool:
        return self not in (JobState.PENDING, JobState.RUNNING)


class DagState(_NamedEnum):
    """A DAG's state, derived from its jobs' (see ``DagModel.swift``)."""

    RUNNING = 1
    COMPLETED = 2
    FAILED = 3
    CANCELLED = 4

    @property
    def is_final(self) -> bool:
        return self is not DagState.RUNNING


class Affinity(_NamedEnum):
    """Whether a DAG job runs on the worker its first parent ran on."""

    NONE = 0
    SOFT = 1
    HARD = 2


class ArtifactKind(_NamedEnum):
    """What an artifact holds: one file, or a zip archive extracted at its destination."""

    FILE = 1
    ARCHIVE = 2


class OutputStream(_NamedEnum):
    """Which stream a piece of job output came from."""

    STDOUT = 1
    STDERR = 2


# ---------------------------------------------------------------------------------------------
# Jobs


@dataclass
class ArtifactRef:
    """A job's use of a stored artifact: its content (by SHA-256) and where it goes, relative to
    the job's working directory (an archive's destination ``""`` is the directory itself)."""

    hash: str
    size: int
    kind: ArtifactKind
    destination: str
    executable: bool = False


@dataclass
class GateSpec:
    """A human approval gate (master-side): no process runs; the job waits, holding no worker
    slot, until ``titan:hitl:status:<job id>`` says APPROVED or REJECTED, or ``timeout_ms``
    passes (0: no limit)."""

    message: str
    timeout_ms: int = 172_800_000


@dataclass
class ServiceOptions:
    """What makes a DAG job a service (YAML ``type: service``; ``JobSpec.service``).

    The job's command, environment, requirements and artifacts are the service's. The job
    COMPLETES once every copy is HEALTHY (so the jobs depending on it can use it), and FAILS if
    the service crash-loops or exits before that. Like ``deploy_service``, it keeps running after
    its DAG; with ``keep=False`` it is stopped when the DAG ends.

    ``name``: the service's name ("": named by the master after the job, ``JOBID``, or
    ``DAGID.JOBID`` with ``keep=False``). ``restart``: always, on-failure, never.
    ``port``: -1 none, 0 a free one chosen by the worker (``PORT``, ``{port}`` in the command),
    else that port. ``health``: "" (none), "tcp" or "http:/path". ``replicas``: how many copies
    run (``NAME``, ``NAME#1``, ...).
    """

    name: str = ""
    restart: str = "always"
    port: int = -1
    health: str = ""
    replicas: int = 1
    keep: bool = True


@dataclass
class JobSpec:
    """What to run: the wire-level job description (times in milliseconds). With ``gate`` set
    the job is an approval gate and ``command`` is ignored. With ``service`` set (in a DAG) the
    command is deployed as a service and the job completes once it is healthy (see
    :class:`ServiceOptions`)."""

    command: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    working_directory: str = ""
    requirements: list[str] = field(default_factory=list)
    priority: int = 1
    name: str = ""
    retries: int = 0
    retry_delay_ms: int = 1_000
    timeout_ms: int = 0
    delay_ms: int = 0
    artifacts: list[ArtifactRef] = field(default_factory=list)
    gate: Optional[GateSpec] = None
    service: Optional[ServiceOptions] = None


@dataclass
class JobResult:
    """How one attempt ended, as the worker saw it (times: ms since the Unix epoch)."""

    exit_code: Optional[int] = None
    signal: Optional[int] = None
    error: Optional[str] = None
    started_at_ms: int = 0
    finished_at_ms: int = 0
    timed_out: bool = False

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and self.signal is None and self.error is None and not self.timed_out


@dataclass
class JobInfo:
    """Everything the master knows about one job (``titan status``)."""

    id: str
    spec: JobSpec
    state: JobState
    attempts: int = 0
    worker_id: str = ""
    submitted_at_ms: int = 0
    result: Optional[JobResult] = None
    pending_reason: str = ""
    not_before_ms: int = 0
    dag_id: str = ""
    parents: list[str] = field(default_factory=list)


@dataclass
class JobEvent:
    """A job changed state (pushed to subscribers). ``result`` is set on final states."""

    job_id: str
    state: JobState
    attempt: int
    worker_id: str
    result: Optional[JobResult] = None


@dataclass
class AttemptRef:
    """One attempt of one job."""

    job_id: str
    attempt: int


@dataclass
class Registration:
    """What a worker tells the master when it (re)registers."""

    worker_id: str
    name: str
    capabilities: list[str]
    slots: int
    permanent: bool
    running: list[AttemptRef] = field(default_factory=list)
    instance: str = ""  # random per worker process (tells a reconnect from a second process)
    address: str = ""  # where other machines reach its services ("": unknown)


@dataclass
class Dispatch:
    """One attempt of a job sent to a worker."""

    job_id: str
    attempt: int
    spec: JobSpec


@dataclass
class WorkerInfo:
    """A worker as the master sees it. ``services``: the service copies it runs (``NAME`` or
    ``NAME#i``); ``idle_ms``: how long it has had nothing to run (ms), -1 while busy;
    ``address``: where its services are reached ("" if unknown)."""

    id: str
    name: str
    capabilities: list[str]
    slots: int
    running: int
    permanent: bool
    last_seen_ago_ms: int
    running_jobs: list[str]
    health: str = "ALIVE"
    services: list[str] = field(default_factory=list)
    idle_ms: int = -1
    address: str = ""


@dataclass
class LogChunk:
    """A piece of a job's stored output."""

    stream: OutputStream
    data: bytes


@dataclass
class Output:
    """Output pushed live for a followed job: complete lines (a final partial line at EOF)."""

    job_id: str
    stream: OutputStream
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


# ---------------------------------------------------------------------------------------------
# DAGs and schedules


@dataclass
class DagJobSpec:
    """One job of a DAG as submitted; ``id`` is unique in the DAG (``DAGID/ID`` on the master)."""

    id: str
    spec: JobSpec
    depends_on: list[str] = field(default_factory=list)
    affinity: Affinity = Affinity.NONE


@dataclass
class DagSpec:
    """A DAG as submitted: it lands whole or not at all."""

    name: str
    jobs: list[DagJobSpec]


@dataclass
class JobCounts:
    """How many of a DAG's jobs are in each state."""

    pending: int = 0
    running: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.running + self.completed + self.failed + self.cancelled + self.skipped


@dataclass
class DagInfo:
    """A DAG as the master knows it; ``jobs`` in submission order (empty in listings)."""

    id: str
    name: str
    state: DagState
    submitted_at_ms: int
    finished_at_ms: int
    counts: JobCounts
    jobs: list[JobInfo] = field(default_factory=list)


@dataclass
class DagEvent:
    """A DAG's state or counts changed (pushed to its subscribers)."""

    dag_id: str
    state: DagState
    counts: JobCounts


@dataclass
class ClusterStats:
    """The cluster at a glance (``getStats``): jobs queued for a worker, jobs by state, the
    workers, and recently finished jobs (oldest first)."""

    queued: int
    counts: JobCounts
    workers: list[WorkerInfo]
    recent: list[JobInfo]


@dataclass
class ServiceSpec:
    """A long-running process the cluster keeps alive. ``port``: -1 none, 0 a free one chosen
    by the worker (passed as ``PORT`` and in place of ``{port}`` in ``command``), else that
    port. ``health``: "" (none), "tcp" or "http:/path". ``restart``: always, on-failure, never.
    ``replicas``: how many copies run, each on its own slot, spread over workers where possible
    (copy 0 is ``NAME``, the others ``NAME#1``, ``NAME#2``, ...). ``dag``: the DAG that started
    it ("" if none; set by the master): it is stopped when that DAG ends."""

    name: str
    command: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    requirements: list[str] = field(default_factory=list)
    restart: str = "always"
    port: int = -1
    health: str = ""
    artifacts: list[ArtifactRef] = field(default_factory=list)
    replicas: int = 1
    dag: str = ""

    def instance_name(self, replica: int) -> str:
        """The name of copy ``replica``: ``NAME`` for the first, ``NAME#i`` for the others."""
        return self.name if replica == 0 else f"{self.name}#{replica}"


@dataclass
class ServiceInfo:
    """A service as the master shows it: state (PENDING, STARTING, HEALTHY, RESTARTING,
    CRASH_LOOP, STOPPING, STOPPED, EXITED), where it runs, its pid and port, restarts, how its
    last run ended, and when the current one started (ms since the epoch; 0 if none).
    ``replica``: which copy this is (0 to ``spec.replicas - 1``); see :attr:`instance`;
    ``host``: its worker's address ("" if unknown)."""

    spec: ServiceSpec
    state: str
    worker_id: str = ""
    pid: int = 0
    port: int = 0
    restarts: int = 0
    last_exit: str = ""
    started_at_ms: int = 0
    replica: int = 0
    host: str = ""

    @property
    def instance(self) -> str:
        """``NAME`` for the first copy, ``NAME#i`` for the others."""
        return self.spec.name if self.replica == 0 else f"{self.spec.name}#{self.replica}"


@dataclass
class ScheduleSpec:
    """A pipeline run on a cron schedule."""

    name: str
    cron: str
    time_zone: str
    overlap: str
    missed: str
    dag: DagSpec


@dataclass
class ScheduleInfo:
    """A schedule as the master knows it."""

    name: str
    cron: str
    time_zone: str
    overlap: str
    missed: str
    next_fire_ms: int
    last_fire_ms: int
    last_dag_id: str
    runs: int
    skipped: int


# ---------------------------------------------------------------------------------------------
# Artifacts and KV


@dataclass
class ArtifactInfo:
    """An artifact stored on the master: its name, SHA-256, size and kind."""

    name: str
    hash: str
    size: int
    kind: ArtifactKind


@dataclass
class UploadChunk:
    """One piece of an upload; chunks of one upload share ``upload_id`` and arrive in order."""

    upload_id: int
    name: str
    kind: ArtifactKind
    offset: int
    data: bytes
    last: bool


@dataclass
class ArtifactRange:
    """A request for part of a stored artifact."""

    hash: str
    offset: int
    length: int


@dataclass
class ArtifactData:
    """Part of a stored artifact; ``total`` is the artifact's whole size."""

    hash: str
    offset: int
    total: int
    data: bytes


class KVOp(_NamedEnum):
    """KV operations (the ``op`` byte of a ``kv`` request)."""

    GET = 1
    SET = 2
    DEL = 3
    SADD = 4
    SREM = 5
    SMEMBERS = 6
    INCR = 7


@dataclass
class KVOperation:
    """A KV read or write. ``value``/``ttl_ms`` for SET, ``member`` for SADD/SREM, ``by`` for INCR."""

    op: KVOp
    key: str
    value: bytes = b""
    ttl_ms: int = 0
    member: str = ""
    by: int = 0


class KVResultKind(_NamedEnum):
    VALUE = 1
    INTEGER = 2
    MEMBERS = 3


@dataclass
class KVResult:
    """The answer to a KV operation: ``value`` (bytes or None), ``integer`` or ``members``."""

    kind: KVResultKind
    value: Optional[bytes] = None
    integer: int = 0
    members: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Authentication and tokens


class Role(str, Enum):
    """What a connection may do, by the role of its token (``Role.swift``): ``read`` (status,
    logs, listings, KV reads, downloads), ``submit`` (also jobs, DAGs, schedules, services,
    uploads, KV writes, cancel), ``worker`` (register and report), ``job`` (a running job's own
    token: ``read``, KV, new jobs and DAGs, growing its own DAG), ``admin`` (everything,
    tokens included). Compares equal to its name: ``client.role == "admin"``."""

    READ = "read"
    SUBMIT = "submit"
    WORKER = "worker"
    JOB = "job"
    ADMIN = "admin"

    def __str__(self) -> str:
        return self.value


@dataclass
class TokenInfo:
    """A token as the master lists it (never its secret). ``expires_at_ms`` 0: never expires."""

    id: str
    role: str
    name: str
    created_at_ms: int
    expires_at_ms: int


@dataclass
class CreatedToken:
    """A new token: what the master lists for it, and its text ``titan.ID.SECRET``, shown this
    once (the master keeps only a verifier). The text is left out of ``repr()``."""

    info: TokenInfo
    token: str = field(repr=False)

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def role(self) -> str:
        return self.info.role


class TokenOp(_NamedEnum):
    """Token administration (the ``op`` byte of a ``token`` request; admin only)."""

    CREATE = 1
    LIST = 2
    REVOKE = 3


@dataclass
class TokenOperation:
    """A ``token`` request: CREATE uses ``role``, ``name``, ``ttl_ms`` (0: never expires);
    REVOKE uses ``id``; LIST nothing."""

    op: TokenOp
    role: str = ""
    name: str = ""
    ttl_ms: int = 0
    id: str = ""


class TokenResultKind(_NamedEnum):
    CREATED = 1
    LIST = 2


@dataclass
class TokenResult:
    """The answer to a ``token`` request: ``created`` (CREATED) or ``tokens`` (LIST)."""

    kind: TokenResultKind
    created: Optional[CreatedToken] = None
    tokens: list[TokenInfo] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# What the client hands back


@dataclass
class JobOutcome:
    """How a job ended: what :meth:`TitanClient.wait` returns for a job id.

    ``state`` is final (COMPLETED, FAILED, CANCELLED or SKIPPED); ``exit_code``, ``signal``,
    ``error`` and the times come from its last attempt (absent for a job that never ran).
    """

    id: str
    state: JobState
    exit_code: Optional[int] = None
    signal: Optional[int] = None
    error: Optional[str] = None
    attempts: int = 0
    worker: str = ""
    started_ms: int = 0
    finished_ms: int = 0
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """True when the job completed."""
        return self.state is JobState.COMPLETED

    @property
    def duration_ms(self) -> int:
        return max(0, self.finished_ms - self.started_ms) if self.started_ms else 0

    @classmethod
    def from_event(cls, event: JobEvent) -> "JobOutcome":
        r = event.result or JobResult()
        return cls(id=event.job_id, state=event.state, exit_code=r.exit_code, signal=r.signal, error=r.error,
                   attempts=event.attempt, worker=event.worker_id, started_ms=r.started_at_ms,
                   finished_ms=r.finished_at_ms, timed_out=r.timed_out)

    @classmethod
    def from_info(cls, info: JobInfo) -> "JobOutcome":
        r = info.result or JobResult()
        return cls(id=info.id, state=info.state, exit_code=r.exit_code, signal=r.signal, error=r.error,
                   attempts=info.attempts, worker=info.worker_id, started_ms=r.started_at_ms,
                   finished_ms=r.finished_at_ms, timed_out=r.timed_out)

    def describe(self) -> str:
        """A one-line summary: ``job-3 FAILED (exit 2) on w1, attempt 1``."""
        how = []
        if self.timed_out:
            how.append("timed out")
        elif self.error:
            how.append(self.error)
        elif self.signal is not None:
            how.append(f"signal {self.signal}")
        elif self.exit_code is not None:
            how.append(f"exit {self.exit_code}")
        text = f"{self.id} {self.state.name}" + (f" ({', '.join(how)})" if how else "")
        if self.worker:
            text += f" on {self.worker}, attempt {self.attempts}"
        return text


@dataclass
class DagOutcome:
    """How a DAG ended: what :meth:`TitanClient.wait` returns for a DAG id. ``jobs`` maps each
    job's id within the DAG (``extract``) to its outcome."""

    id: str
    state: DagState
    counts: JobCounts
    jobs: dict[str, JobOutcome] = field(default_factory=dict)
    started_ms: int = 0
    finished_ms: int = 0

    @property
    def ok(self) -> bool:
        """True when every job completed."""
        return self.state is DagState.COMPLETED

    def describe(self) -> str:
        c = self.counts
        return (f"{self.id} {self.state.name}: {c.completed} completed, {c.failed} failed, "
                f"{c.cancelled} cancelled, {c.skipped} skipped")


Outcome = Union[JobOutcome, DagOutcome]


@dataclass
class PendingApproval:
    """A human approval gate waiting for a decision (see :meth:`TitanClient.approve`)."""

    gate_id: str
    message: str
    since: float
    status: str = "WAITING"
