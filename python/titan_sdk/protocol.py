"""The native TITAN_PROTO messages (frame version 2): opcodes, payload layouts, encode/decode.

A native payload is the request id (u32) followed by the message's fields in order (see the
table at the top of ``Sources/TitanProtocol/NativeCodec.swift``). Requests use a non-zero request
id, replies echo it, server pushes (``event``, ``output``, ``dagEvent``) use 0.

Messages whose payload is exactly one model value are that model class (a ``status`` reply
decodes to a :class:`~titan_sdk.models.JobInfo`, an ``event`` push to a
:class:`~titan_sdk.models.JobEvent`); the others are the small dataclasses below.

>>> frame = encode(7, GetStatus("job-1"))
>>> decode(frame[1], frame[8:])
(7, GetStatus(id='job-1'))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional, Union

from . import models as m
from .codec import (
    BOOL, BYTES, HEADER_SIZE, I32, I64, MAX_PAYLOAD, NATIVE_VERSION, STRING, STRING_DICT, STRINGS, U16, U32, U64,
    ArrayOf, Codec, EnumOf, Malformed, OptionalOf, Reader, StructOf, Writer, encode_fields,
)
from .errors import ErrorCode, InvalidRequest, ProtocolError

# ---------------------------------------------------------------------------------------------
# Struct layouts

JOB_STATE = EnumOf(m.JobState, what="job state")
DAG_STATE = EnumOf(m.DagState, what="DAG state")
ARTIFACT_KIND = EnumOf(m.ArtifactKind, what="artifact kind")
OUTPUT_STREAM = EnumOf(m.OutputStream, what="output stream")
AFFINITY = EnumOf(m.Affinity, what="affinity")
ERROR_CODE = EnumOf(ErrorCode, U16, what="error code")

ATTEMPT_REF = StructOf(m.AttemptRef, [("job_id", STRING), ("attempt", U32)])
ARTIFACT_REF = StructOf(m.ArtifactRef, [
    ("hash", STRING), ("size", U64), ("kind", ARTIFACT_KIND), ("destination", STRING), ("executable", BOOL)])
GATE_SPEC = StructOf(m.GateSpec, [("message", STRING), ("timeout_ms", U64)])
SERVICE_OPTIONS = StructOf(m.ServiceOptions, [
    ("name", STRING), ("restart", STRING), ("port", I32), ("health", STRING), ("replicas", U32), ("keep", BOOL)])
JOB_SPEC = StructOf(m.JobSpec, [
    ("command", STRINGS), ("environment", STRING_DICT), ("working_directory", STRING), ("requirements", STRINGS),
    ("priority", I32), ("name", STRING), ("retries", U32), ("retry_delay_ms", U64), ("timeout_ms", U64),
    ("delay_ms", U64), ("artifacts", ArrayOf(ARTIFACT_REF)), ("gate", OptionalOf(GATE_SPEC)),
    ("service", OptionalOf(SERVICE_OPTIONS))])
JOB_RESULT = StructOf(m.JobResult, [
    ("exit_code", OptionalOf(I32)), ("signal", OptionalOf(I32)), ("error", OptionalOf(STRING)),
    ("started_at_ms", I64), ("finished_at_ms", I64), ("timed_out", BOOL)])
REGISTRATION = StructOf(m.Registration, [
    ("worker_id", STRING), ("name", STRING), ("capabilities", STRINGS), ("slots", U32), ("permanent", BOOL),
    ("running", ArrayOf(ATTEMPT_REF)), ("instance", STRING), ("address", STRING)])
DISPATCH = StructOf(m.Dispatch, [("job_id", STRING), ("attempt", U32), ("spec", JOB_SPEC)])
JOB_INFO = StructOf(m.JobInfo, [
    ("id", STRING), ("spec", JOB_SPEC), ("state", JOB_STATE), ("attempts", U32), ("worker_id", STRING),
    ("submitted_at_ms", I64), ("result", OptionalOf(JOB_RESULT)), ("pending_reason", STRING),
    ("not_before_ms", I64), ("dag_id", STRING), ("parents", STRINGS)])
WORKER_INFO = StructOf(m.WorkerInfo, [
    ("id", STRING), ("name", STRING), ("capabilities", STRINGS), ("slots", U32), ("running", U32),
    ("permanent", BOOL), ("last_seen_ago_ms", I64), ("running_jobs", STRINGS), ("health", STRING),
    ("services", STRINGS), ("idle_ms", I64), ("address", STRING)])
JOB_EVENT = StructOf(m.JobEvent, [
    ("job_id", STRING), ("state", JOB_STATE), ("attempt", U32), ("worker_id", STRING),
    ("result", OptionalOf(JOB_RESULT))])
LOG_CHUNK = StructOf(m.LogChunk, [("stream", OUTPUT_STREAM), ("data", BYTES)])
OUTPUT = StructOf(m.Output, [("job_id", STRING), ("stream", OUTPUT_STREAM), ("data", BYTES)])
DAG_JOB_SPEC = StructOf(m.DagJobSpec, [
    ("id", STRING), ("spec", JOB_SPEC), ("depends_on", STRINGS), ("affinity", AFFINITY)])
DAG_SPEC = StructOf(m.DagSpec, [("name", STRING), ("jobs", ArrayOf(DAG_JOB_SPEC))])
JOB_COUNTS = StructOf(m.JobCounts, [
    ("pending", U32), ("running", U32), ("completed", U32), ("failed", U32), ("cancelled", U32), ("skipped", U32)])
DAG_INFO = StructOf(m.DagInfo, [
    ("id", STRING), ("name", STRING), ("state", DAG_STATE), ("submitted_at_ms", I64), ("finished_at_ms", I64),
    ("counts", JOB_COUNTS), ("jobs", ArrayOf(JOB_INFO))])
DAG_EVENT = StructOf(m.DagEvent, [("dag_id", STRING), ("state", DAG_STATE), ("counts", JOB_COUNTS)])
SCHEDULE_SPEC = StructOf(m.ScheduleSpec, [
    ("name", STRING), ("cron", STRING), ("time_zone", STRING), ("overlap", STRING), ("missed", STRING),
    ("dag", DAG_SPEC)])
SCHEDULE_INFO = StructOf(m.ScheduleInfo, [
    ("name", STRING), ("cron", STRING), ("time_zone", STRING), ("overlap", STRING), ("missed", STRING),
    ("next_fire_ms", I64), ("last_fire_ms", I64), ("last_dag_id", STRING), ("runs", U32), ("skipped", U32)])
CLUSTER_STATS = StructOf(m.ClusterStats, [
    ("queued", U32), ("counts", JOB_COUNTS), ("workers", ArrayOf(WORKER_INFO)), ("recent", ArrayOf(JOB_INFO))])
SERVICE_SPEC = StructOf(m.ServiceSpec, [
    ("name", STRING), ("command", STRINGS), ("environment", STRING_DICT), ("requirements", STRINGS),
    ("restart", STRING), ("port", I32), ("health", STRING), ("artifacts", ArrayOf(ARTIFACT_REF)), ("replicas", U32),
    ("dag", STRING)])
SERVICE_INFO = StructOf(m.ServiceInfo, [
    ("spec", SERVICE_SPEC), ("state", STRING), ("worker_id", STRING), ("pid", I32), ("port", I32), ("restarts", U32),
    ("last_exit", STRING), ("started_at_ms", I64), ("replica", U32), ("host", STRING)])
ARTIFACT_INFO = StructOf(m.ArtifactInfo, [("name", STRING), ("hash", STRING), ("size", U64), ("kind", ARTIFACT_KIND)])
UPLOAD_CHUNK = StructOf(m.UploadChunk, [
    ("upload_id", U32), ("name", STRING), ("kind", ARTIFACT_KIND), ("offset", U64), ("data", BYTES), ("last", BOOL)])
ARTIFACT_RANGE = StructOf(m.ArtifactRange, [("hash", STRING), ("offset", U64), ("length", U32)])
ARTIFACT_DATA = StructOf(m.ArtifactData, [("hash", STRING), ("offset", U64), ("total", U64), ("data", BYTES)])

_KV_OP = EnumOf(m.KVOp, what="KV operation")
_KV_KIND = EnumOf(m.KVResultKind, what="KV result")


class _KVOperationCodec(Codec[m.KVOperation]):
    """op u8, key string, then: set value bytes + ttlMs u64; sadd/srem member; incr by i64."""

    min_size = 5

    def write(self, w: Writer, v: m.KVOperation) -> None:
        w.u8(int(v.op))
        w.string(v.key)
        if v.op is m.KVOp.SET:
            w.raw(bytes(v.value))
            w.u64(v.ttl_ms)
        elif v.op in (m.KVOp.SADD, m.KVOp.SREM):
            w.string(v.member)
        elif v.op is m.KVOp.INCR:
            w.i64(v.by)

    def read(self, r: Reader) -> m.KVOperation:
        op = _read_field(r, "op", _KV_OP)
        key = _read_field(r, "key", STRING)
        if op is m.KVOp.SET:
            value = _read_field(r, "value", BYTES)
            return m.KVOperation(op, key, value=value, ttl_ms=_read_field(r, "ttlMs", U64))
        if op in (m.KVOp.SADD, m.KVOp.SREM):
            return m.KVOperation(op, key, member=_read_field(r, "member", STRING))
        if op is m.KVOp.INCR:
            return m.KVOperation(op, key, by=_read_field(r, "by", I64))
        return m.KVOperation(op, key)


class _KVResultCodec(Codec[m.KVResult]):
    """kind u8, then value bytes? | integer i64 | members [string]."""

    min_size = 2

    def write(self, w: Writer, v: m.KVResult) -> None:
        w.u8(int(v.kind))
        if v.kind is m.KVResultKind.VALUE:
            OptionalOf(BYTES).write(w, v.value)
        elif v.kind is m.KVResultKind.INTEGER:
            w.i64(v.integer)
        else:
            STRINGS.write(w, v.members)

    def read(self, r: Reader) -> m.KVResult:
        kind = _read_field(r, "kind", _KV_KIND)
        if kind is m.KVResultKind.VALUE:
            return m.KVResult(kind, value=_read_field(r, "value", OptionalOf(BYTES)))
        if kind is m.KVResultKind.INTEGER:
            return m.KVResult(kind, integer=_read_field(r, "integer", I64))
        return m.KVResult(kind, members=_read_field(r, "members", STRINGS))


def _read_field(r: Reader, name: str, codec: Codec[Any]) -> Any:
    try:
        return codec.read(r)
    except Malformed as e:
        e.path.insert(0, name)
        raise


KV_OPERATION = _KVOperationCodec()
KV_RESULT = _KVResultCodec()

TOKEN_INFO = StructOf(m.TokenInfo, [
    ("id", STRING), ("role", STRING), ("name", STRING), ("created_at_ms", I64), ("expires_at_ms", I64)])
_TOKEN_OP = EnumOf(m.TokenOp, what="token operation")
_TOKEN_KIND = EnumOf(m.TokenResultKind, what="token result")
# Writers only (a StructOf names the field of a value that cannot be encoded).
_TOKEN_CREATE = StructOf(m.TokenOperation, [("role", STRING), ("name", STRING), ("ttl_ms", U64)])
_TOKEN_REVOKE = StructOf(m.TokenOperation, [("id", STRING)])


class _TokenOperationCodec(Codec[m.TokenOperation]):
    """op u8, then: create role string, name string, ttlMs u64; list nothing; revoke id string."""

    min_size = 1

    def write(self, w: Writer, v: m.TokenOperation) -> None:
        w.u8(int(v.op))
        if v.op is m.TokenOp.CREATE:
            _TOKEN_CREATE.write(w, v)
        elif v.op is m.TokenOp.REVOKE:
            _TOKEN_REVOKE.write(w, v)

    def read(self, r: Reader) -> m.TokenOperation:
        op = _read_field(r, "op", _TOKEN_OP)
        if op is m.TokenOp.CREATE:
            role = _read_field(r, "role", STRING)
            name = _read_field(r, "name", STRING)
            return m.TokenOperation(op, role=role, name=name, ttl_ms=_read_field(r, "ttlMs", U64))
        if op is m.TokenOp.REVOKE:
            return m.TokenOperation(op, id=_read_field(r, "id", STRING))
        return m.TokenOperation(op)


class _TokenResultCodec(Codec[m.TokenResult]):
    """kind u8, then: created TokenInfo, token string | list [TokenInfo]."""

    min_size = 5

    def write(self, w: Writer, v: m.TokenResult) -> None:
        w.u8(int(v.kind))
        if v.kind is m.TokenResultKind.CREATED:
            if v.created is None:
                raise InvalidRequest("cannot encode tokenResult: a CREATED result without its token")
            TOKEN_INFO.write(w, v.created.info)
            w.string(v.created.token)
        else:
            ArrayOf(TOKEN_INFO).write(w, v.tokens)

    def read(self, r: Reader) -> m.TokenResult:
        kind = _read_field(r, "kind", _TOKEN_KIND)
        if kind is m.TokenResultKind.CREATED:
            info = TOKEN_INFO.read(r)
            return m.TokenResult(kind, created=m.CreatedToken(info, _read_field(r, "token", STRING)))
        return m.TokenResult(kind, tokens=_read_field(r, "tokens", ArrayOf(TOKEN_INFO)))


TOKEN_OPERATION = _TokenOperationCodec()
TOKEN_RESULT = _TokenResultCodec()

# ---------------------------------------------------------------------------------------------
# Messages


class Message:
    """Base of the protocol's own message classes (model classes are registered directly)."""

    NAME: ClassVar[str] = ""


@dataclass
class Ok(Message):
    NAME = "ok"


@dataclass
class Error(Message):
    NAME = "error"
    code: ErrorCode
    message: str


@dataclass
class Ping(Message):
    NAME = "ping"


@dataclass
class Pong(Message):
    NAME = "pong"


@dataclass
class Heartbeat(Message):
    NAME = "heartbeat"
    running: list[m.AttemptRef] = field(default_factory=list)


@dataclass
class JobOutput(Message):
    NAME = "jobOutput"
    ref: m.AttemptRef
    stream: m.OutputStream
    data: bytes


@dataclass
class JobFinished(Message):
    NAME = "jobFinished"
    ref: m.AttemptRef
    result: m.JobResult


@dataclass
class Registered(Message):
    NAME = "registered"
    worker_id: str
    heartbeat_interval_ms: int
    master_id: str


@dataclass
class Kill(Message):
    NAME = "kill"
    ref: m.AttemptRef


@dataclass
class AckFinished(Message):
    NAME = "ackFinished"
    ref: m.AttemptRef


@dataclass
class Submit(Message):
    NAME = "submit"
    spec: m.JobSpec
    follow: bool = False


@dataclass
class GetStatus(Message):
    NAME = "getStatus"
    id: str


@dataclass
class ListWorkers(Message):
    NAME = "listWorkers"


@dataclass
class ListJobs(Message):
    NAME = "listJobs"
    limit: int = 20


@dataclass
class Subscribe(Message):
    NAME = "subscribe"
    id: str
    logs: bool = False


@dataclass
class Unsubscribe(Message):
    NAME = "unsubscribe"
    id: str


@dataclass
class Cancel(Message):
    NAME = "cancel"
    id: str


@dataclass
class GetLogs(Message):
    NAME = "getLogs"
    id: str


@dataclass
class ReadLogs(Message):
    """One page of a job's output: at most ``limit`` bytes from ``cursor`` (0: the beginning;
    there, ``tail_lines`` and ``since_ms`` may move the start later)."""
    NAME = "readLogs"
    id: str
    cursor: int = 0
    limit: int = 1 << 20
    tail_lines: int = 0
    since_ms: int = 0


@dataclass
class LogPage(Message):
    """Reply to :class:`ReadLogs`: ``next`` is the cursor of the following page; ``end`` says
    the job has finished and nothing follows; ``skipped`` counts bytes lost before the page."""
    NAME = "logPage"
    job_id: str
    chunks: list[m.LogChunk]
    next: int
    end: bool
    skipped: int = 0

    @property
    def data(self) -> bytes:
        """The page's bytes, stdout and stderr in order."""
        return b"".join(c.data for c in self.chunks)


@dataclass
class SubmitDag(Message):
    NAME = "submitDag"
    dag: m.DagSpec
    follow: bool = False


@dataclass
class GetDag(Message):
    NAME = "getDag"
    id: str


@dataclass
class ListDags(Message):
    NAME = "listDags"
    limit: int = 20


@dataclass
class Schedule(Message):
    NAME = "schedule"
    spec: m.ScheduleSpec


@dataclass
class ListSchedules(Message):
    NAME = "listSchedules"


@dataclass
class Unschedule(Message):
    NAME = "unschedule"
    name: str


@dataclass
class GetArtifact(Message):
    NAME = "getArtifact"
    name: str


@dataclass
class ExtendDag(Message):
    """Adds jobs to a running DAG. On the wire: dagId, then a DagSpec whose name is empty (the
    Swift encoder writes ``DagSpec(name: "", jobs:)``)."""

    NAME = "extendDag"
    dag_id: str
    jobs: list[m.DagJobSpec]


@dataclass
class GetStats(Message):
    NAME = "getStats"


@dataclass
class DeployService(Message):
    NAME = "deployService"
    spec: m.ServiceSpec


@dataclass
class ListServices(Message):
    NAME = "listServices"


@dataclass
class StopService(Message):
    NAME = "stopService"
    name: str


@dataclass
class RestartService(Message):
    NAME = "restartService"
    name: str


@dataclass
class ServiceInfos(Message):
    NAME = "serviceInfos"
    services: list[m.ServiceInfo]


@dataclass
class Submitted(Message):
    NAME = "submitted"
    job_id: str


@dataclass
class Workers(Message):
    NAME = "workers"
    workers: list[m.WorkerInfo]


@dataclass
class Jobs(Message):
    NAME = "jobs"
    jobs: list[m.JobInfo]


@dataclass
class Logs(Message):
    NAME = "logs"
    job_id: str
    chunks: list[m.LogChunk]


@dataclass
class DagSubmitted(Message):
    NAME = "dagSubmitted"
    dag_id: str
    job_ids: list[str]


@dataclass
class Dags(Message):
    NAME = "dags"
    dags: list[m.DagInfo]


@dataclass
class Schedules(Message):
    NAME = "schedules"
    schedules: list[m.ScheduleInfo]


@dataclass
class AuthHello(Message):
    """Client -> master, first on a connection: which token, and the client's nonce (32
    random bytes). See :mod:`titan_sdk.auth` for the exchange."""
    NAME = "authHello"
    token_id: str
    nonce: bytes


@dataclass
class AuthChallenge(Message):
    """Master -> client: the master's nonce."""
    NAME = "authChallenge"
    nonce: bytes


@dataclass
class AuthProof(Message):
    """Client -> master: proof of holding the token's secret (32 bytes)."""
    NAME = "authProof"
    proof: bytes


@dataclass
class AuthOk(Message):
    """Master -> client: authenticated with ``role``; ``signature`` is the master's own proof."""
    NAME = "authOk"
    role: str
    signature: bytes


class _ExtendDagCodec(Codec[ExtendDag]):
    def write(self, w: Writer, v: ExtendDag) -> None:
        w.string(v.dag_id)
        DAG_SPEC.write(w, m.DagSpec("", v.jobs))

    def read(self, r: Reader) -> ExtendDag:
        dag_id = _read_field(r, "dagId", STRING)
        return ExtendDag(dag_id, DAG_SPEC.read(r).jobs)


AnyMessage = Union[Message, m.Registration, m.Dispatch, m.ArtifactRange, m.ArtifactData, m.UploadChunk,
                   m.ArtifactInfo, m.KVOperation, m.KVResult, m.JobInfo, m.JobEvent, m.Output, m.DagInfo,
                   m.DagEvent, m.ScheduleInfo, m.ClusterStats, m.TokenOperation, m.TokenResult]

#: opcode -> (name, class, payload codec)
_TABLE: dict[int, tuple[str, type, Codec[Any]]] = {}
_BY_CLASS: dict[type, tuple[int, Codec[Any]]] = {}


def _register(opcode: int, name: str, cls: type, codec: Codec[Any]) -> None:
    _TABLE[opcode] = (name, cls, codec)
    _BY_CLASS[cls] = (opcode, codec)


def _fields(cls: type, *fields: tuple[str, Codec[Any]]) -> StructOf[Any]:
    return StructOf(cls, list(fields))


_register(0x01, "ok", Ok, _fields(Ok))
_register(0x02, "error", Error, _fields(Error, ("code", ERROR_CODE), ("message", STRING)))
_register(0x03, "ping", Ping, _fields(Ping))
_register(0x04, "pong", Pong, _fields(Pong))
_register(0x10, "register", m.Registration, REGISTRATION)
_register(0x11, "heartbeat", Heartbeat, _fields(Heartbeat, ("running", ArrayOf(ATTEMPT_REF))))
_register(0x13, "jobOutput", JobOutput,
          _fields(JobOutput, ("ref", ATTEMPT_REF), ("stream", OUTPUT_STREAM), ("data", BYTES)))
_register(0x14, "jobFinished", JobFinished, _fields(JobFinished, ("ref", ATTEMPT_REF), ("result", JOB_RESULT)))
_register(0x15, "fetchArtifact", m.ArtifactRange, ARTIFACT_RANGE)
_register(0x20, "registered", Registered,
          _fields(Registered, ("worker_id", STRING), ("heartbeat_interval_ms", U32), ("master_id", STRING)))
_register(0x21, "dispatch", m.Dispatch, DISPATCH)
_register(0x22, "kill", Kill, _fields(Kill, ("ref", ATTEMPT_REF)))
_register(0x23, "ackFinished", AckFinished, _fields(AckFinished, ("ref", ATTEMPT_REF)))
_register(0x24, "artifactData", m.ArtifactData, ARTIFACT_DATA)
_register(0x30, "submit", Submit, _fields(Submit, ("spec", JOB_SPEC), ("follow", BOOL)))
_register(0x31, "getStatus", GetStatus, _fields(GetStatus, ("id", STRING)))
_register(0x32, "listWorkers", ListWorkers, _fields(ListWorkers))
_register(0x33, "listJobs", ListJobs, _fields(ListJobs, ("limit", U32)))
_register(0x34, "subscribe", Subscribe, _fields(Subscribe, ("id", STRING), ("logs", BOOL)))
_register(0x35, "unsubscribe", Unsubscribe, _fields(Unsubscribe, ("id", STRING)))
_register(0x36, "cancel", Cancel, _fields(Cancel, ("id", STRING)))
_register(0x37, "getLogs", GetLogs, _fields(GetLogs, ("id", STRING)))
_register(0x38, "submitDag", SubmitDag, _fields(SubmitDag, ("dag", DAG_SPEC), ("follow", BOOL)))
_register(0x39, "getDag", GetDag, _fields(GetDag, ("id", STRING)))
_register(0x3A, "listDags", ListDags, _fields(ListDags, ("limit", U32)))
_register(0x3B, "schedule", Schedule, _fields(Schedule, ("spec", SCHEDULE_SPEC)))
_register(0x3C, "listSchedules", ListSchedules, _fields(ListSchedules))
_register(0x3D, "unschedule", Unschedule, _fields(Unschedule, ("name", STRING)))
_register(0x3E, "uploadArtifact", m.UploadChunk, UPLOAD_CHUNK)
_register(0x3F, "getArtifact", GetArtifact, _fields(GetArtifact, ("name", STRING)))
_register(0x40, "submitted", Submitted, _fields(Submitted, ("job_id", STRING)))
_register(0x41, "status", m.JobInfo, JOB_INFO)
_register(0x42, "workers", Workers, _fields(Workers, ("workers", ArrayOf(WORKER_INFO))))
_register(0x43, "jobs", Jobs, _fields(Jobs, ("jobs", ArrayOf(JOB_INFO))))
_register(0x44, "logs", Logs, _fields(Logs, ("job_id", STRING), ("chunks", ArrayOf(LOG_CHUNK))))
_register(0x45, "event", m.JobEvent, JOB_EVENT)
_register(0x46, "output", m.Output, OUTPUT)
_register(0x47, "dagSubmitted", DagSubmitted, _fields(DagSubmitted, ("dag_id", STRING), ("job_ids", STRINGS)))
_register(0x48, "dag", m.DagInfo, DAG_INFO)
_register(0x49, "dags", Dags, _fields(Dags, ("dags", ArrayOf(DAG_INFO))))
_register(0x4A, "dagEvent", m.DagEvent, DAG_EVENT)
_register(0x4B, "scheduled", m.ScheduleInfo, SCHEDULE_INFO)
_register(0x4C, "schedules", Schedules, _fields(Schedules, ("schedules", ArrayOf(SCHEDULE_INFO))))
_register(0x4D, "artifactStored", m.ArtifactInfo, ARTIFACT_INFO)
_register(0x60, "kv", m.KVOperation, KV_OPERATION)
_register(0x61, "kvResult", m.KVResult, KV_RESULT)
_register(0x62, "extendDag", ExtendDag, _ExtendDagCodec())
_register(0x63, "getStats", GetStats, _fields(GetStats))
_register(0x64, "stats", m.ClusterStats, CLUSTER_STATS)
_register(0x65, "deployService", DeployService, _fields(DeployService, ("spec", SERVICE_SPEC)))
_register(0x66, "serviceInfos", ServiceInfos, _fields(ServiceInfos, ("services", ArrayOf(SERVICE_INFO))))
_register(0x67, "listServices", ListServices, _fields(ListServices))
_register(0x68, "stopService", StopService, _fields(StopService, ("name", STRING)))
_register(0x69, "restartService", RestartService, _fields(RestartService, ("name", STRING)))
_register(0x6D, "readLogs", ReadLogs, _fields(ReadLogs, ("id", STRING), ("cursor", U64), ("limit", U32),
                                             ("tail_lines", U32), ("since_ms", I64)))
_register(0x6E, "logPage", LogPage, _fields(LogPage, ("job_id", STRING), ("chunks", ArrayOf(LOG_CHUNK)), ("next", U64),
                                           ("end", BOOL), ("skipped", U64)))
_register(0x70, "authHello", AuthHello, _fields(AuthHello, ("token_id", STRING), ("nonce", BYTES)))
_register(0x71, "authChallenge", AuthChallenge, _fields(AuthChallenge, ("nonce", BYTES)))
_register(0x72, "authProof", AuthProof, _fields(AuthProof, ("proof", BYTES)))
_register(0x73, "authOk", AuthOk, _fields(AuthOk, ("role", STRING), ("signature", BYTES)))
_register(0x74, "token", m.TokenOperation, TOKEN_OPERATION)
_register(0x75, "tokenResult", m.TokenResult, TOKEN_RESULT)

#: Every opcode this SDK knows, by message name.
OPCODES: dict[str, int] = {name: op for op, (name, _, _) in _TABLE.items()}


def opcode_of(message: Any) -> int:
    """The opcode of a message object."""
    try:
        return _BY_CLASS[type(message)][0]
    except KeyError:
        raise TypeError(f"{type(message).__name__} is not a protocol message") from None


def message_name(opcode: int) -> Optional[str]:
    """The message name of an opcode (``"submit"``), or None if unknown."""
    entry = _TABLE.get(opcode)
    return entry[0] if entry else None


def encode_payload(request_id: int, message: Any) -> bytes:
    """The payload of a native frame: the request id, then the message's fields."""
    try:
        opcode, codec = _BY_CLASS[type(message)]
    except KeyError:
        raise TypeError(f"{type(message).__name__} is not a protocol message") from None
    w = Writer()
    w.u32(request_id)
    encode_fields(codec, message, w, _TABLE[opcode][0])
    return bytes(w.buf)


def encode(request_id: int, message: Any, max_payload: int = MAX_PAYLOAD) -> bytes:
    """A complete native frame carrying ``message`` with ``request_id``.

    Raises :class:`InvalidRequest` when the payload would exceed the frame limit (16 MiB).
    """
    opcode, codec = _BY_CLASS.get(type(message), (None, None))
    if opcode is None or codec is None:
        raise TypeError(f"{type(message).__name__} is not a protocol message")
    w = Writer()
    w.buf += b"\x02\x00\x00\x00\x00\x00\x00\x00"
    w.u32(request_id)
    encode_fields(codec, message, w, _TABLE[opcode][0])
    length = len(w.buf) - HEADER_SIZE
    if length > max_payload:
        raise InvalidRequest(f"request too large: {length} bytes encoded, a frame holds at most {max_payload}; "
                             "split it (e.g. a DAG into smaller ones, or extend it in steps)")
    w.buf[0] = NATIVE_VERSION
    w.buf[1] = opcode
    w.buf[4:8] = length.to_bytes(4, "big")
    return bytes(w.buf)


def decode(opcode: int, payload: bytes) -> tuple[int, Any]:
    """``(request_id, message)`` from a native frame's opcode and payload.

    Raises :class:`ProtocolError` for an unknown opcode or a payload that does not decode (the
    message names the field, as the Swift codec does).
    """
    entry = _TABLE.get(opcode)
    if entry is None:
        raise ProtocolError(f"unknown opcode 0x{opcode:02x}", ErrorCode.UNKNOWN_OPCODE)
    name, _, codec = entry
    r = Reader(payload)
    try:
        request_id = _read_field(r, "requestId", U32)
        message = codec.read(r)
        r.expect_end()
    except Malformed as e:
        where = f"field '{e.field_path()}': " if e.path else ""
        raise ProtocolError(f"malformed payload for opcode 0x{opcode:02x} ({name}): {where}{e.problem}",
                            ErrorCode.MALFORMED_PAYLOAD) from None
    return request_id, message


def request_id_of(payload: bytes) -> int:
    """The request id at the start of a payload (0 when it is too short to hold one)."""
    return int.from_bytes(payload[:4], "big") if len(payload) >= 4 else 0

