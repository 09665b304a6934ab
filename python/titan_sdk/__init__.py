"""Titan Python SDK: submit jobs and DAGs to a Titan master, follow them, share data.

>>> from titan_sdk import TitanClient, TitanJob
>>> client = TitanClient()                       # $TITAN_MASTER, else 127.0.0.1:9090
>>> dag = client.submit_dag("etl", [
...     TitanJob("extract", "extract.py"),
...     TitanJob("load", "load.py", parents=["extract"]),
... ])
>>> client.wait(dag).state                        # DagState.COMPLETED

Standard library only. See README.md for the API and the notes on compatibility with the
original Titan SDK.
"""

from .auth import AuthToken
from .client import TitanClient, default_address, parse_address
from .errors import (
    AuthenticationError, ConnectionLost, ErrorCode, InternalError, InvalidRequest, JobFailed, NotFound, NotSupported,
    ProtocolError, TitanError, TLSError, ToolMissing, Unavailable, WaitTimeout,
)
from .events import Subscription
from .replies import ArtifactReply
from .jobs import DEPLOY_PAYLOAD, RUN_PAYLOAD, SERVICE, TitanJob
from .models import (
    Affinity, ArtifactInfo, ArtifactKind, ArtifactRef, ClusterStats, CreatedToken, DagEvent, DagInfo, DagJobSpec,
    DagOutcome, DagSpec, DagState, GateSpec, JobCounts, JobEvent, JobInfo, JobOutcome, JobResult, JobSpec, JobState,
    LogChunk, Output, OutputStream, PendingApproval, Role, ServiceInfo, ServiceOptions, ServiceSpec, TokenInfo,
    WorkerInfo,
)

__version__ = "0.1.0"

__all__ = [
    "TitanClient", "TitanJob", "Subscription", "ArtifactReply", "default_address", "parse_address", "AuthToken",
    "RUN_PAYLOAD", "DEPLOY_PAYLOAD", "SERVICE",
    "TitanError", "AuthenticationError", "TLSError", "NotFound", "InvalidRequest", "Unavailable", "ConnectionLost", "WaitTimeout",
    "NotSupported", "JobFailed", "ProtocolError", "InternalError", "ToolMissing", "ErrorCode",
    "Affinity", "ArtifactInfo", "ArtifactKind", "ArtifactRef", "ClusterStats", "DagEvent", "DagInfo",
    "DagJobSpec", "DagOutcome", "DagSpec", "DagState", "GateSpec", "JobCounts", "JobEvent", "JobInfo",
    "JobOutcome", "JobResult", "JobSpec", "JobState", "LogChunk", "Output", "OutputStream", "PendingApproval",
    "ServiceInfo", "ServiceOptions", "ServiceSpec", "WorkerInfo", "Role", "TokenInfo", "CreatedToken",
]
