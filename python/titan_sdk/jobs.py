"""``TitanJob``: what users describe, and how it becomes the wire-level ``JobSpec``.

``TitanJob`` keeps the constructor of the original Titan Python SDK (same names, same order,
same defaults) and adds keyword-only options for new code::

    TitanJob("extract", "scripts/extract.py", args="--day 3")        # original style
    TitanJob(command=["echo", "hi"], retries=2, timeout=30)          # inline command
    TitanJob("step", script_content="print(42)", filename="step.py")  # inline script
    TitanJob("web", command=["python3", "-m", "http.server", "{port}"],   # a service in a DAG
             service=True, auto_port=True, health="tcp")

Scripts (``filename`` / ``script_content``) are shipped as artifacts: uploaded to the master
once (content-addressed) and put in the job's working directory by the worker, under their base
name. ``.py`` runs with ``python3``, ``.sh`` with ``bash``, anything else is executed directly.
"""

from __future__ import annotations

import base64
import dataclasses
import os
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Optional, Sequence, Union

from .errors import InvalidRequest, NotFound, NotSupported
from .models import Affinity, ArtifactKind, ArtifactRef, DagJobSpec, GateSpec, JobSpec, ServiceOptions

if TYPE_CHECKING:  # pragma: no cover
    from .client import TitanClient

#: Job types of the original SDK: RUN_PAYLOAD runs to completion; DEPLOY_PAYLOAD and SERVICE
#: make the job a service (``JobSpec.service``), like ``service=True``. The original also took
#: its YAML parser's ``TASK`` and its wire headers ``RUN_ARCHIVE`` (both run to completion) and
#: ``START_ARCHIVE_SERVICE`` (a service).
RUN_PAYLOAD = "RUN_PAYLOAD"
DEPLOY_PAYLOAD = "DEPLOY_PAYLOAD"
SERVICE = "SERVICE"
JOB_TYPES = (RUN_PAYLOAD, DEPLOY_PAYLOAD, SERVICE, "TASK", "RUN_ARCHIVE", "START_ARCHIVE_SERVICE")
SERVICE_TYPES = (DEPLOY_PAYLOAD, SERVICE, "START_ARCHIVE_SERVICE")
#: A service's restart modes.
RESTART_MODES = ("always", "on-failure", "never")

#: Where the shipped SDK archive is extracted in a job's directory (see ``ship_sdk``).
SDK_DIR = ".titan/sdk"
#: KV key prefixes of the human-approval convention.
HITL_STATUS = "titan:hitl:status:"
HITL_MESSAGE = "titan:hitl:message:"
HITL_TS = "titan:hitl:ts:"
HITL_QUEUE = "titan:hitl:queue"
HITL_GATE_PREFIX = "hitl-gate-"


def interpreter_for(path: str) -> Optional[str]:
    """``python3`` for ``.py``, ``bash`` for ``.sh``, ``None`` (execute directly) otherwise."""
    lowered = path.lower()
    if lowered.endswith(".py"):
        return "python3"
    if lowered.endswith(".sh"):
        return "bash"
    return None


def split_args(args: Union[None, str, Sequence[str]]) -> list[str]:
    """The original SDK's ``args``: a string split on whitespace, or a list kept as is."""
    if args is None:
        return []
    if isinstance(args, str):
        return args.split()
    return [str(a) for a in args]


def parse_affinity(value: Union[None, bool, str, Affinity]) -> Affinity:
    """``True`` means soft affinity (the original SDK's boolean); also ``"soft"``/``"hard"``."""
    if isinstance(value, Affinity):
        return value
    if value is None or value is False:
        return Affinity.NONE
    if value is True:
        return Affinity.SOFT
    if isinstance(value, str) and value.upper() in Affinity.__members__:
        return Affinity[value.upper()]
    raise InvalidRequest(f"affinity: expected True/False or 'none', 'soft', 'hard', got {value!r}")


def parse_requirements(value: Union[None, str, Sequence[str]]) -> list[str]:
    """Capability tags. ``"GENERAL"`` (the original default) means any worker: no requirement."""
    if value is None:
        return []
    tags = value.split(",") if isinstance(value, str) else list(value)
    return [t.strip() for t in tags if t.strip() and t.strip().upper() != "GENERAL"]


def _seconds_to_ms(seconds: Optional[float], what: str) -> int:
    if seconds is None:
        return 0
    if seconds < 0:
        raise InvalidRequest(f"{what}: must not be negative")
    return int(round(seconds * 1000))


@dataclass
class TitanJob:
    """One job, for :meth:`TitanClient.submit_job` / :meth:`TitanClient.submit_dag`.

    Original parameters (positional, as in the original SDK):

    :param job_id: the job's id within its DAG (letters, digits, ``-_.``); also its name.
    :param filename: a local script to ship and run (``.py`` with python3, ``.sh`` with bash,
        else executed). With ``is_archive=True``: ``"ARCHIVE.zip/path/entry.py"``, an entry of a
        project archive uploaded earlier with :meth:`TitanClient.upload_project_folder`.
    :param job_type: ``"RUN_PAYLOAD"`` (run to completion), or ``"SERVICE"`` /
        ``"DEPLOY_PAYLOAD"``: the job is a service, as with ``service=True`` (see below).
    :param args: arguments: a string split on spaces, or a list.
    :param parents: ids of jobs of the same DAG that must complete first.
    :param port: a service port in the original SDK; passed to the job as ``TITAN_JOB_PORT``.
        For a service job it is also the service's fixed port (``PORT``, ``{port}``); a service
        declared the original's way (``job_type="SERVICE"`` with a ``port``, no ``health``) is
        checked with ``health="tcp"``, as the original counted it up once its port answered.
    :param is_archive: ``filename`` names an entry inside an uploaded archive.
    :param priority: higher runs first.
    :param delay: milliseconds before the job may start (from the DAG's submission).
    :param affinity: ``True`` to prefer the worker its first parent ran on (soft affinity);
        also ``"hard"`` (only that worker) or ``"soft"``.
    :param requirement: a capability tag a worker must have; ``"GENERAL"`` means any worker.
    :param hitl_message: put a human approval gate after this job (see :mod:`titan_sdk.hitl_gate`).
    :param max_wait_seconds: how long that gate waits for a decision before failing.

    New keyword-only parameters:

    :param command: the program and its arguments (a list), or a shell command line (a string,
        run with ``sh -c``). ``args`` are appended to a list command.
    :param script_content: the script's text (``filename`` names it and picks the interpreter).
    :param retries: how many times a failed attempt is retried.
    :param retry_delay: seconds before the first retry (doubling after).
    :param timeout: seconds an attempt may run before it is killed (0/None: no limit).
    :param env: extra environment variables.
    :param name: display name (default: ``job_id``).
    :param ship_sdk: ship this SDK with the job (extracted under ``.titan/sdk``, put on
        ``PYTHONPATH``) so its scripts can ``import titan_sdk`` on workers that lack it.
    :param working_directory: run there instead of the job's (or DAG's) directory.
    :param gate: make this job a human approval gate asking this message: it runs nothing and
        holds no worker slot; it completes when approved and fails when rejected or after
        ``max_wait_seconds`` (see :meth:`TitanClient.approve`). Like YAML ``type: gate``.

    Services in a DAG (like YAML ``type: service``; keyword-only):

    :param service: ``True`` to deploy this job's command (with its environment, requirement,
        artifacts) as a long-running service instead of running it to completion; or a
        :class:`~titan_sdk.models.ServiceOptions` giving every option at once (then leave the
        keywords below unset). The job COMPLETES once every copy is HEALTHY, so the jobs
        depending on it can use it; it FAILS if the service crash-loops or exits first. The
        service keeps running after its DAG, like one from ``deploy_service``, unless
        ``keep=False``. The jobs depending on it find it in their environment:
        ``TITAN_SVC_<ID>_HOST`` and ``_PORT`` (first copy), ``_ADDRS`` (every copy's HOST:PORT),
        ``_PORTS``, ``_NAME``, ``_WORKER``, ``<ID>`` being the service job's id in upper
        case (other characters than letters and digits as ``_``). Only in DAGs
        (:meth:`TitanClient.submit_dag`); a lone service is :meth:`TitanClient.deploy_service`.
        ``job_type="SERVICE"`` (or ``"DEPLOY_PAYLOAD"``) is the same as ``service=True``.
    :param service_name: the service's name (no ``/`` or ``#``). Default: named by the master
        after the job (``JOBID``, or ``DAGID.JOBID`` with ``keep=False``). Copies after the
        first are ``NAME#1``, ``NAME#2``, ...
    :param auto_port: let the worker pick a free port, passed as ``PORT`` and in place of
        ``{port}`` in the command (else ``port``, if given; else no port).
    :param health: ``"tcp"`` (the port accepts connections) or ``"http:/PATH"`` (answers 2xx);
        ``""``: healthy once started. A health check needs a port.
    :param replicas: how many copies run, each on its own slot, spread over workers (copies on
        a fixed ``port`` never share a machine: one waits, PENDING, until a machine is free).
    :param keep: keep the service running after its DAG ends (the default); ``False``: stop it
        when the DAG ends (a service the DAG needs only while it runs).
    :param restart: ``"always"``, ``"on-failure"`` or ``"never"``.

    For a service job, ``timeout`` bounds the wait for every copy to be healthy (the job fails,
    timed out, and the service is stopped); ``retries`` must stay 0 (``restart`` governs it).
    """

    job_id: Optional[str] = None
    filename: Optional[str] = None
    job_type: str = RUN_PAYLOAD
    args: Union[None, str, Sequence[str]] = None
    parents: Optional[Sequence[str]] = None
    port: int = 0
    is_archive: bool = False
    priority: int = 1
    delay: int = 0
    affinity: Union[bool, str, Affinity] = False
    requirement: Union[None, str, Sequence[str]] = "GENERAL"
    hitl_message: Optional[str] = None
    max_wait_seconds: float = 172800
    _: KW_ONLY
    command: Union[None, str, Sequence[str]] = None
    script_content: Union[None, str, bytes] = None
    retries: int = 0
    retry_delay: float = 1.0
    timeout: Optional[float] = None
    env: dict[str, str] = field(default_factory=dict)
    name: Optional[str] = None
    ship_sdk: bool = False
    working_directory: str = ""
    gate: Optional[str] = None
    service: Union[None, bool, ServiceOptions] = None
    service_name: Optional[str] = None
    auto_port: bool = False
    health: str = ""
    replicas: int = 1
    keep: bool = True
    restart: str = "always"

    def __post_init__(self) -> None:
        # As the original's attributes: args a string ("" for none), parents a list.
        if self.args is None:
            self.args = ""
        if self.parents is None:
            self.parents = []
        kind = (self.job_type or RUN_PAYLOAD).upper()
        if kind not in JOB_TYPES:
            raise InvalidRequest(f"job_type: unknown job type {self.job_type!r} "
                                 f"(expected {', '.join(JOB_TYPES[:-1])} or {JOB_TYPES[-1]})")
        if not (self.service is None or isinstance(self.service, (bool, ServiceOptions))):
            raise InvalidRequest(f"service: expected True/False or a ServiceOptions, got {self.service!r}")
        if self.service is False and kind != RUN_PAYLOAD:
            raise InvalidRequest(f"service=False contradicts job_type {kind} (a service)")
        if self.is_service:
            if self.gate is not None:
                raise InvalidRequest("a job is a gate or a service, not both")
            self.service_options()  # checks the options now rather than at submission
        else:
            given = self._service_keywords()
            if given:
                raise InvalidRequest(f"{', '.join(given)}: only for services (service=True or job_type='SERVICE')")
        if self.gate is not None:
            if self.command is not None or self.filename is not None or self.script_content is not None:
                raise InvalidRequest("a gate runs nothing: give it a message (gate=...), not a command or a file")
        elif self.command is None and self.filename is None and self.script_content is None:
            raise InvalidRequest("a job needs a command, a filename or script_content")
        if self.script_content is not None and not self.filename:
            raise InvalidRequest("script_content needs a filename (its extension picks the interpreter)")
        if self.is_archive and not self.filename:
            raise InvalidRequest("is_archive needs filename='ARCHIVE.zip/path/to/entry'")
        if self.delay < 0:
            raise InvalidRequest("delay: must not be negative (milliseconds)")
        parse_affinity(self.affinity)

    # -- the original SDK's attributes ----------------------------------------------------------

    @property
    def id(self) -> Optional[str]:
        """The original SDK's name for :attr:`job_id`."""
        return self.job_id

    @id.setter
    def id(self, value: Optional[str]) -> None:
        self.job_id = value

    @property
    def payload_b64(self) -> str:
        """The original SDK's inline script: the script's content in base64 (``filename``, or
        ``script_content``), ``"REMOTE_ASSET"`` for an archive entry. ``FileNotFoundError`` if
        the file does not exist here, as the original raised; ``NotSupported`` for a command."""
        if self.is_archive:
            return "REMOTE_ASSET"
        if self.script_content is not None:
            data = self.script_content.encode() if isinstance(self.script_content, str) else bytes(self.script_content)
            return base64.b64encode(data).decode("ascii")
        if self.command is not None or self.gate is not None or not self.filename:
            raise NotSupported("payload_b64: this job runs a command (or is a gate), not a script file")
        if not os.path.isfile(self.filename):
            raise FileNotFoundError(f"File '{self.filename}' not found")
        with open(self.filename, "rb") as f:
            return base64.b64encode(f.read()).decode("ascii")

    def to_string(self) -> str:
        """This job as a line of the original protocol's DAG submission
        (``ID|HEADER|...|PRIORITY|DELAY_MS|[PARENTS]``, ``|AFFINITY`` when set), which a Titan
        master still accepts over that protocol. Script and archive jobs only (the original had
        no other kind): a command, a gate, or options the line cannot carry (``retries``,
        ``timeout``, ``env``...) raise ``NotSupported``; submit those with :meth:`submit_dag`."""
        if not self.job_id:
            raise NotSupported("to_string: the original protocol needs a job_id")
        extra = [name for name, default in (("retries", 0), ("timeout", None), ("env", {}), ("working_directory", ""),
                                            ("ship_sdk", False), ("auto_port", False), ("health", ""),
                                            ("replicas", 1), ("service_name", None))
                 if getattr(self, name) != default]
        if extra:
            raise NotSupported(f"to_string: the original protocol cannot carry {', '.join(extra)}; use submit_dag")
        args = " ".join(split_args(self.args)).replace("|", " ")
        tags = parse_requirements(self.requirement)
        if len(tags) > 1:
            raise NotSupported(f"to_string: the original protocol carries one requirement, not {', '.join(tags)}")
        requirement = (tags[0] if tags else "GENERAL").replace("|", "")
        if self.is_archive:
            assert self.filename is not None
            target = self.filename.replace("\\", "/")
            header, payload = (("START_ARCHIVE_SERVICE", f"{target}|{args}|{int(self.port)}|{requirement}") if self.is_service
                               else ("RUN_ARCHIVE", f"{target}|{args}|{requirement}"))
        else:
            script = self.payload_b64
            assert self.filename is not None
            name = os.path.basename(self.filename)
            header, payload = (("DEPLOY_PAYLOAD", f"{name}|{script}|{int(self.port)}|{requirement}") if self.is_service
                               else ("RUN_PAYLOAD", f"{name}|{args}|{script}|{requirement}"))
        affinity = "|AFFINITY" if parse_affinity(self.affinity) is not Affinity.NONE else ""
        return (f"{self.job_id}|{header}|{payload}|{int(self.priority)}|{int(self.delay)}|"
                f"[{','.join(self.dependencies)}]{affinity}")

    # -- services ------------------------------------------------------------------------------

    @property
    def is_service(self) -> bool:
        """True when this job deploys a service (``service`` or a service ``job_type``)."""
        if self.service is not None and self.service is not False:
            return True
        return self.service is None and (self.job_type or RUN_PAYLOAD).upper() in SERVICE_TYPES

    def _service_keywords(self) -> list[str]:
        """The service keywords given a value other than their default."""
        defaults = {"service_name": None, "auto_port": False, "health": "", "replicas": 1, "keep": True,
                    "restart": "always"}
        return [k for k, d in defaults.items() if getattr(self, k) != d]

    def service_options(self) -> Optional[ServiceOptions]:
        """The :class:`~titan_sdk.models.ServiceOptions` of this job's spec (None unless it is a
        service). Raises :class:`~titan_sdk.errors.InvalidRequest` naming a bad option."""
        if not self.is_service:
            return None
        if isinstance(self.service, ServiceOptions):
            given = self._service_keywords()
            if given:
                raise InvalidRequest(f"{', '.join(given)}: give the service's options either as "
                                     "service=ServiceOptions(...) or as keywords, not both")
            options = dataclasses.replace(self.service)
            if self.port and options.port != self.port:
                if options.port != -1:
                    raise InvalidRequest(f"port: {self.port} contradicts service.port {options.port}")
                options.port = int(self.port)
            prefix = "service."
        else:
            if self.auto_port and self.port:
                raise InvalidRequest(f"port, auto_port: give a fixed port ({self.port}) or auto_port=True, not both")
            health = self.health
            if not health and self.port and self.service is None:
                # Declared the original's way (job_type SERVICE with a port): the original
                # counted the service up once its port accepted connections, so it is checked.
                health = "tcp"
            options = ServiceOptions(name=self.service_name or "", restart=self.restart,
                                     port=0 if self.auto_port else (int(self.port) if self.port else -1),
                                     health=health, replicas=self.replicas, keep=self.keep)
            prefix = ""
        _check_service_options(options, prefix)
        return options

    # -- conversion ----------------------------------------------------------------------------

    @property
    def dependencies(self) -> list[str]:
        if self.parents is None:
            return []
        if isinstance(self.parents, str):
            return [p for p in self.parents.replace(",", " ").split() if p]
        return list(self.parents)

    def to_spec(self, client: "TitanClient") -> JobSpec:
        """The wire-level spec, uploading scripts (or looking up archives) through ``client``."""
        if self.gate is not None:
            return JobSpec(command=[], requirements=parse_requirements(self.requirement), priority=int(self.priority),
                           name=self.name or self.job_id or "", delay_ms=int(self.delay),
                           gate=GateSpec(self.gate, _seconds_to_ms(self.max_wait_seconds, "max_wait_seconds")))
        args = split_args(self.args)
        artifacts: list[ArtifactRef] = []
        if self.command is not None:
            if isinstance(self.command, str):
                command = ["sh", "-c", self.command] + (["sh"] + args if args else [])
            else:
                command = [str(c) for c in self.command] + args
            if self.filename or self.script_content is not None:
                artifacts.append(self._script_artifact(client))
        elif self.is_archive:
            assert self.filename is not None
            archive, _, entry = self.filename.replace("\\", "/").lstrip("/").partition("/")
            if not entry:
                raise InvalidRequest(f"filename {self.filename!r}: expected 'ARCHIVE.zip/path/to/entry'")
            info = client.artifact(archive)
            artifacts.append(ArtifactRef(info.hash, info.size, ArtifactKind.ARCHIVE, "", False))
            interpreter = interpreter_for(entry)
            command = ([interpreter, entry] if interpreter else ["./" + entry]) + args
        else:
            ref = self._script_artifact(client)
            artifacts.append(ref)
            interpreter = interpreter_for(ref.destination)
            command = ([interpreter, ref.destination] if interpreter else ["./" + ref.destination]) + args
        env = {str(k): str(v) for k, v in self.env.items()}
        if self.port:
            env.setdefault("TITAN_JOB_PORT", str(self.port))
        if self.ship_sdk:
            artifacts.append(client.sdk_artifact())
            env.setdefault("PYTHONPATH", SDK_DIR)
        return JobSpec(
            command=command,
            environment=env,
            working_directory=self.working_directory,
            requirements=parse_requirements(self.requirement),
            priority=int(self.priority),
            name=self.name or self.job_id or "",
            retries=int(self.retries),
            retry_delay_ms=_seconds_to_ms(self.retry_delay, "retry_delay"),
            timeout_ms=_seconds_to_ms(self.timeout, "timeout"),
            delay_ms=int(self.delay),
            artifacts=artifacts,
            service=self.service_options(),
        )

    def to_dag_job(self, client: "TitanClient", default_id: str) -> DagJobSpec:
        """This job as a DAG member (its id defaults to ``default_id``)."""
        return DagJobSpec(id=self.job_id or default_id, spec=self.to_spec(client),
                          depends_on=self.dependencies, affinity=parse_affinity(self.affinity))

    def _script_artifact(self, client: "TitanClient") -> ArtifactRef:
        assert self.filename is not None
        base = os.path.basename(self.filename)
        interpreter = interpreter_for(base)
        if self.script_content is not None:
            data = self.script_content.encode() if isinstance(self.script_content, str) else bytes(self.script_content)
            info = client.upload_bytes(base, data)
        elif os.path.isfile(self.filename):
            info = client.upload_file(self.filename, base, cached=True)
        else:
            # The original's deploy_script put a script on the master for jobs to name by file
            # name: a bare name with no such file here is looked up there.
            if base != self.filename:
                raise InvalidRequest(f"filename {self.filename!r}: no such file")
            try:
                info = client.artifact(base)
            except NotFound:
                raise InvalidRequest(f"filename {self.filename!r}: no such file here, and no script deployed "
                                     "under that name (deploy_script)") from None
        return ArtifactRef(info.hash, info.size, ArtifactKind.FILE, base, executable=interpreter is None)


def _check_service_options(options: ServiceOptions, prefix: str = "") -> None:
    """Refuses what the master would refuse, naming the option (``prefix`` + its name)."""
    name_field = prefix + "name" if prefix else "service_name"
    if not isinstance(options.name, str) or any(c in options.name for c in "/#\0") or len(options.name.encode()) > 128:
        raise InvalidRequest(f"{name_field}: a service name has at most 128 bytes and no '/' or '#' "
                             f"(got {options.name!r})")
    if options.restart not in RESTART_MODES:
        raise InvalidRequest(f"{prefix}restart: expected {', '.join(RESTART_MODES)}, got {options.restart!r}")
    if isinstance(options.port, bool) or not isinstance(options.port, int) or not -1 <= options.port <= 65_535:
        raise InvalidRequest(f"{prefix}port: {options.port!r} is not a port (-1 none, 0 auto, else 1-65535)")
    health = options.health
    if not isinstance(health, str) or not (health in ("", "tcp") or health.startswith("http:/")):
        raise InvalidRequest(f"{prefix}health: expected 'tcp' or 'http:/PATH', got {options.health!r}")
    if options.health and options.port < 0:
        raise InvalidRequest(f"{prefix}health: a health check needs a port (port=N or auto_port=True)")
    if isinstance(options.replicas, bool) or not isinstance(options.replicas, int) or options.replicas < 1:
        raise InvalidRequest(f"{prefix}replicas: must be at least 1 (got {options.replicas!r})")
    if not isinstance(options.keep, bool):
        raise InvalidRequest(f"{prefix}keep: expected True or False, got {options.keep!r}")


def gate_id_for(job_id: str) -> str:
    """The id of the approval gate put after ``job_id``."""
    return HITL_GATE_PREFIX + job_id


def expand_hitl(jobs: Sequence[TitanJob], native: bool = True) -> tuple[list[TitanJob], list[str]]:
    """Inserts an approval gate after every job with a ``hitl_message`` (the original SDK's
    convention).

    The gate ``hitl-gate-<job>`` depends on the job; the job's children are re-wired to depend
    on the gate. A child that had the job as its first parent and uses affinity keeps the job
    first (``[job, gate, ...]``): affinity follows the first parent, and the job's worker is the
    one holding its files. Returns the new job list (each gate right after its job) and the
    gate ids.

    ``native=True`` makes master-side gates (``JobSpec.gate``: no process, no worker slot, the
    DAG resumes the moment a decision is written); ``native=False`` makes gate jobs that run
    :mod:`titan_sdk.hitl_gate` on a worker and poll the KV store, as the original SDK did.
    """
    gated = {j.job_id: j for j in jobs if j.hitl_message}
    if not gated:
        return list(jobs), []
    if None in gated:
        raise InvalidRequest("a job with hitl_message needs a job_id")
    out: list[TitanJob] = []
    gates: list[str] = []
    for job in jobs:
        deps = job.dependencies
        if any(d in gated for d in deps):
            rewired = [gate_id_for(d) if d in gated else d for d in deps]
            if deps[0] in gated and parse_affinity(job.affinity) is not Affinity.NONE:
                rewired.insert(0, deps[0])
            job = _copy_with_parents(job, rewired)
        out.append(job)
        if job.job_id in gated:
            assert job.job_id is not None
            gate = gate_id_for(job.job_id)
            message = job.hitl_message or ""
            if native:
                out.append(TitanJob(gate, parents=[job.job_id], gate=message, name=gate,
                                    max_wait_seconds=job.max_wait_seconds))
            else:
                children = [j for j in jobs if job.job_id in j.dependencies]
                affinities = {parse_affinity(c.affinity) for c in children}
                affinity = Affinity.HARD if Affinity.HARD in affinities else (
                    Affinity.SOFT if Affinity.SOFT in affinities else Affinity.NONE)
                out.append(_script_gate_job(gate, job.job_id, message, job.max_wait_seconds, affinity))
            gates.append(gate)
    return out, gates


def _copy_with_parents(job: TitanJob, parents: list[str]) -> TitanJob:
    import copy

    clone = copy.copy(job)
    clone.parents = parents
    return clone


def _script_gate_job(gate: str, parent: str, message: str, max_wait: float, affinity: Affinity) -> TitanJob:
    """A polling gate job: runs :mod:`titan_sdk.hitl_gate` from the SDK shipped with it."""
    return TitanJob(
        gate, parents=[parent], affinity=affinity,
        command=["python3", f"{SDK_DIR}/titan_sdk/hitl_gate.py", "--message", message,
                 "--max-wait", f"{max_wait:g}"],
        ship_sdk=True, name=gate,
    )
