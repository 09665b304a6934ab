"""The native codec without a cluster: every message round-trips, frames survive any split of
the byte stream, bad payloads are reported naming the field, layouts match the Swift encoder."""

from __future__ import annotations

import random

import pytest

from titan_sdk import models as m
from titan_sdk import protocol as p
from titan_sdk.codec import FrameDecoder, FrameError, Reader, Writer, encode_frame
from titan_sdk.errors import ErrorCode, InvalidRequest, ProtocolError

SPEC = m.JobSpec(
    command=["python3", "step.py", "--n", "é"],
    environment={"B": "2", "A": "1", "UNICODE": "ünï"},
    working_directory="/tmp/x",
    requirements=["GPU", "HIGH_MEM"],
    priority=-3,
    name="step",
    retries=2,
    retry_delay_ms=1500,
    timeout_ms=60_000,
    delay_ms=10,
    artifacts=[m.ArtifactRef("a" * 64, 12, m.ArtifactKind.FILE, "step.py", True),
               m.ArtifactRef("b" * 64, 2 ** 40, m.ArtifactKind.ARCHIVE, "", False)],
)
RESULT = m.JobResult(exit_code=-1, signal=None, error="not found", started_at_ms=1, finished_at_ms=2 ** 62,
                     timed_out=True)
GATE = m.JobSpec([], name="hitl-gate-a", gate=m.GateSpec("Ship it? ✓", 3_600_000))
SERVICE_JOB = m.JobSpec(["python3", "-m", "http.server", "{port}"], {"K": "v"}, requirements=["GPU"], name="web",
                        artifacts=[m.ArtifactRef("a" * 64, 12, m.ArtifactKind.FILE, "page.html", False)],
                        service=m.ServiceOptions("web-ü", "on-failure", 0, "http:/health", 3, True))
DEFAULT_SERVICE_JOB = m.JobSpec(["sleep", "60"], service=m.ServiceOptions())
INFO = m.JobInfo("dag-1/a", SPEC, m.JobState.SKIPPED, 3, "w1", -5, RESULT, "waiting", 7, "dag-1", ["dag-1/p"])
COUNTS = m.JobCounts(1, 2, 3, 4, 5, 6)
DAG_JOB = m.DagJobSpec("a", SPEC, ["p", "q"], m.Affinity.HARD)
DAG_INFO = m.DagInfo("dag-1", "etl", m.DagState.FAILED, 10, 20, COUNTS, [INFO, INFO])
SCHEDULE = m.ScheduleInfo("nightly", "0 3 * * *", "Europe/Paris", "skip", "run-once", 1, 2, "dag-9", 3, 4)
WORKER = m.WorkerInfo("w1", "host", ["GENERAL"], 4, 1, True, 12, ["job-1"], "SUSPECT", ["api", "web#2"], -1, "10.0.0.7")
IDLE_WORKER = m.WorkerInfo("w2", "other", [], 2, 0, False, 3, [], "ALIVE", [], 45_000)
SERVICE_SPEC = m.ServiceSpec("api|ü", ["python3", "s.py", "{port}"], {"K": "v"}, ["GPU"], "on-failure", 0,
                             "http:/health", [m.ArtifactRef("b" * 64, 7, m.ArtifactKind.ARCHIVE, "", False)], 3,
                             "dag-7")
REF = m.AttemptRef("job-1", 2)
TOKEN_INFO = m.TokenInfo("3fa9c1e07b2d", "read", "ci-ü", 1_700_000_000_000, 0)

#: One representative value of every message, by opcode.
SAMPLES = {
    0x01: p.Ok(),
    0x02: p.Error(ErrorCode.NOT_FOUND, "no job 'x'"),
    0x03: p.Ping(),
    0x04: p.Pong(),
    0x10: m.Registration("w1", "host", ["GPU"], 8, False, [REF], "k3x9", "10.0.0.7"),
    0x11: p.Heartbeat([REF, m.AttemptRef("dag-1/x", 1)]),
    0x13: p.JobOutput(REF, m.OutputStream.STDERR, b"line\n\x00\xff"),
    0x14: p.JobFinished(REF, RESULT),
    0x15: m.ArtifactRange("c" * 64, 2 ** 33, 1 << 20),
    0x20: p.Registered("w1", 1000, "m-abc"),
    0x21: m.Dispatch("dag-2/web", 1, SERVICE_JOB),
    0x22: p.Kill(REF),
    0x23: p.AckFinished(REF),
    0x24: m.ArtifactData("c" * 64, 0, 3, b"abc"),
    0x30: p.Submit(SPEC, True),
    0x31: p.GetStatus("job-1"),
    0x32: p.ListWorkers(),
    0x33: p.ListJobs(50),
    0x34: p.Subscribe("dag-1", True),
    0x35: p.Unsubscribe("job-1"),
    0x36: p.Cancel("job-1"),
    0x37: p.GetLogs("job-1"),
    0x38: p.SubmitDag(m.DagSpec("etl", [DAG_JOB, m.DagJobSpec("b", m.JobSpec(["true"])), m.DagJobSpec("g", GATE),
                                         m.DagJobSpec("web", SERVICE_JOB), m.DagJobSpec("db", DEFAULT_SERVICE_JOB),
                                         m.DagJobSpec("use", m.JobSpec(["true"]), ["web", "db"])]),
                      False),
    0x39: p.GetDag("dag-1"),
    0x3A: p.ListDags(5),
    0x3B: p.Schedule(m.ScheduleSpec("nightly", "@daily", "", "skip", "skip", m.DagSpec("etl", [DAG_JOB]))),
    0x3C: p.ListSchedules(),
    0x3D: p.Unschedule("nightly"),
    0x3E: m.UploadChunk(7, "data.bin", m.ArtifactKind.ARCHIVE, 1 << 20, b"\x01\x02", True),
    0x3F: p.GetArtifact("data.bin"),
    0x40: p.Submitted("job-1"),
    0x41: INFO,
    0x42: p.Workers([WORKER, IDLE_WORKER]),
    0x43: p.Jobs([INFO, m.JobInfo("dag-2/web", SERVICE_JOB, m.JobState.COMPLETED, 1, "w2", 5, m.JobResult(exit_code=0),
                                  dag_id="dag-2")]),
    0x44: p.Logs("job-1", [m.LogChunk(m.OutputStream.STDOUT, b"a\n"), m.LogChunk(m.OutputStream.STDERR, b"")]),
    0x45: m.JobEvent("dag-1/a", m.JobState.FAILED, 2, "w2", RESULT),
    0x46: m.Output("job-1", m.OutputStream.STDOUT, b"hello\n"),
    0x47: p.DagSubmitted("dag-1", ["dag-1/a", "dag-1/b"]),
    0x48: DAG_INFO,
    0x49: p.Dags([DAG_INFO]),
    0x4A: m.DagEvent("dag-1", m.DagState.RUNNING, COUNTS),
    0x4B: SCHEDULE,
    0x4C: p.Schedules([SCHEDULE]),
    0x4D: m.ArtifactInfo("data.bin", "d" * 64, 99, m.ArtifactKind.FILE),
    0x60: m.KVOperation(m.KVOp.SET, "k", value=b"\x00v", ttl_ms=500),
    0x61: m.KVResult(m.KVResultKind.MEMBERS, members=["a", "b"]),
    0x62: p.ExtendDag("dag-1", [DAG_JOB, m.DagJobSpec("svc", DEFAULT_SERVICE_JOB, ["a"], m.Affinity.SOFT)]),
    0x63: p.GetStats(),
    0x64: m.ClusterStats(3, COUNTS, [WORKER, IDLE_WORKER], [INFO, m.JobInfo("g", GATE, m.JobState.RUNNING)]),
    0x65: p.DeployService(SERVICE_SPEC),
    0x66: p.ServiceInfos([m.ServiceInfo(m.ServiceSpec("a", ["x"]), "HEALTHY", "w1", 4242, 20001, 3, "exit 1", 17),
                          m.ServiceInfo(SERVICE_SPEC, "STARTING", "w2", 4243, 20002, 0, "", 18, 2, "10.0.0.7")]),
    0x67: p.ListServices(),
    0x68: p.StopService("api"),
    0x69: p.RestartService("api"),
    0x6D: p.ReadLogs("dag-1/ü|x", 2 ** 64 - 1, 1 << 20, 100, -1_700_000_000_000),
    0x6E: p.LogPage("job-1", [m.LogChunk(m.OutputStream.STDERR, b"\x00\xff\n"), m.LogChunk(m.OutputStream.STDOUT, b"x")],
                    1 << 40 | 17, False, 2 ** 64 - 1),
    0x70: p.AuthHello("job:dag-1/a.b@2", bytes(range(32))),
    0x71: p.AuthChallenge(b"\xff" * 32),
    0x72: p.AuthProof(b"\x00\x01" * 16),
    0x73: p.AuthOk("admin", bytes(range(255, 223, -1))),
    0x74: m.TokenOperation(m.TokenOp.CREATE, role="submit", name="ci", ttl_ms=2 ** 64 - 1),
    0x75: m.TokenResult(m.TokenResultKind.CREATED,
                        created=m.CreatedToken(TOKEN_INFO, "titan.3fa9c1e07b2d." + "ab" * 32)),
}

KV_OPERATIONS = [
    m.KVOperation(m.KVOp.GET, "k"),
    m.KVOperation(m.KVOp.SET, "k", value=b"", ttl_ms=0),
    m.KVOperation(m.KVOp.DEL, "k"),
    m.KVOperation(m.KVOp.SADD, "s", member="x"),
    m.KVOperation(m.KVOp.SREM, "s", member="x"),
    m.KVOperation(m.KVOp.SMEMBERS, "s"),
    m.KVOperation(m.KVOp.INCR, "n", by=-(2 ** 63)),
]
TOKEN_MESSAGES = [
    m.TokenOperation(m.TokenOp.LIST),
    m.TokenOperation(m.TokenOp.REVOKE, id="3fa9c1e07b2d"),
    m.TokenOperation(m.TokenOp.CREATE),
    m.TokenResult(m.TokenResultKind.LIST),
    m.TokenResult(m.TokenResultKind.LIST, tokens=[TOKEN_INFO, m.TokenInfo("local-1", "admin", "local", 5, 10)]),
]
KV_RESULTS = [
    m.KVResult(m.KVResultKind.VALUE, value=None),
    m.KVResult(m.KVResultKind.VALUE, value=b"\xff"),
    m.KVResult(m.KVResultKind.INTEGER, integer=-7),
    m.KVResult(m.KVResultKind.MEMBERS, members=[]),
]


def roundtrip(message: object, request_id: int = 42) -> tuple[int, object]:
    frame = p.encode(request_id, message)
    assert frame[0] == 2 and frame[2] == 0 and frame[3] == 0
    assert int.from_bytes(frame[4:8], "big") == len(frame) - 8
    return p.decode(frame[1], frame[8:])


def test_every_opcode_has_a_sample() -> None:
    assert set(SAMPLES) == set(p.OPCODES.values())


@pytest.mark.parametrize("opcode", sorted(SAMPLES), ids=lambda op: p.message_name(op))
def test_message_round_trip(opcode: int) -> None:
    message = SAMPLES[opcode]
    assert p.opcode_of(message) == opcode
    rid, decoded = roundtrip(message, request_id=0xFFFFFFFF)
    assert rid == 0xFFFFFFFF
    assert decoded == message


@pytest.mark.parametrize("message", KV_OPERATIONS + KV_RESULTS + TOKEN_MESSAGES, ids=repr)
def test_kv_and_token_variants_round_trip(message: object) -> None:
    assert roundtrip(message)[1] == message


def test_layout_matches_swift_encoder() -> None:
    # getStatus("job-1") with request id 7: header, rid, string.
    assert p.encode(7, p.GetStatus("job-1")) == bytes.fromhex("02310000 0000000d 00000007 00000005") + b"job-1"
    # Primitives as in BinaryCodingTests.swift: bytes, UTF-8 string, optional, array, dictionary.
    w = Writer()
    w.raw(b"\x00\x7c\xff")
    w.string("é")
    assert bytes(w.buf) == bytes([0, 0, 0, 3, 0, 0x7C, 0xFF, 0, 0, 0, 2, 0xC3, 0xA9])
    # kv set: op, key, value bytes, ttl u64.
    payload = p.encode_payload(1, m.KVOperation(m.KVOp.SET, "k", value=b"v", ttl_ms=2))
    assert payload == bytes.fromhex("00000001 02 00000001 6b 00000001 76 0000000000000002")
    # extendDag carries a DagSpec with an empty name after the DAG id.
    payload = p.encode_payload(1, p.ExtendDag("d", []))
    assert payload == bytes.fromhex("00000001 00000001 64 00000000 00000000")
    # A JobSpec ends with its optional gate: absent (0), or 1, message, timeout u64; then its
    # optional service options.
    payload = p.encode_payload(1, p.Submit(m.JobSpec(["x"]), True))
    assert payload.endswith(bytes.fromhex("00000000 00 00 01"))  # artifacts [], gate absent, service absent, follow
    payload = p.encode_payload(1, p.Submit(m.JobSpec([], gate=m.GateSpec("ok?", 5)), False))
    assert payload.endswith(bytes.fromhex("00000000 01 00000003") + b"ok?" + bytes.fromhex("0000000000000005 00 00"))
    # A JobResult's optionals: exit code present (i32), signal absent, error absent.
    payload = p.encode_payload(0, m.JobEvent("j", m.JobState.COMPLETED, 1, "w", m.JobResult(exit_code=0)))
    assert payload.endswith(bytes.fromhex("01 01 00000000 00 00 0000000000000000 0000000000000000 00"))


def wstr(text: str) -> bytes:
    """A string as the Swift encoder writes it: u32 byte count, UTF-8."""
    data = text.encode()
    return len(data).to_bytes(4, "big") + data


def test_service_options_layout_matches_swift_encoder() -> None:
    # JobSpec ... artifacts, gate?, service?: name, restart, port i32, health, replicas u32, keep bool.
    options = m.ServiceOptions("web", "never", 0, "tcp", 2, True)
    payload = p.encode_payload(1, p.Submit(m.JobSpec(["x"], service=options), False))
    assert payload.endswith(bytes.fromhex("00000000 00 01") + wstr("web") + wstr("never")
                            + bytes.fromhex("00000000") + wstr("tcp") + bytes.fromhex("00000002 01 00"))
    # The defaults: no name, always, no port (-1), no health, one copy, kept after its DAG.
    payload = p.encode_payload(1, p.Submit(m.JobSpec(["x"], service=m.ServiceOptions()), True))
    assert payload.endswith(bytes.fromhex("00 01") + wstr("") + wstr("always") + bytes.fromhex("ffffffff") + wstr("")
                            + bytes.fromhex("00000001 01 01"))
    assert roundtrip(p.Submit(m.JobSpec(["x"], service=options)))[1] == p.Submit(m.JobSpec(["x"], service=options))


def test_service_spec_and_info_layout_matches_swift_encoder() -> None:
    spec = m.ServiceSpec("a", ["x"], replicas=2, dag="d")
    info = m.ServiceInfo(spec, "HEALTHY", "w1", 7, 20001, 1, "exit 1", 5, replica=1, host="h")
    expected = (bytes.fromhex("00000009 00000001") + wstr("a") + bytes.fromhex("00000001") + wstr("x")
                + bytes.fromhex("00000000 00000000") + wstr("always") + bytes.fromhex("ffffffff") + wstr("")
                + bytes.fromhex("00000000")  # artifacts []
                + bytes.fromhex("00000002") + wstr("d")  # replicas, dag
                + wstr("HEALTHY") + wstr("w1") + bytes.fromhex("00000007 00004e21 00000001") + wstr("exit 1")
                + bytes.fromhex("0000000000000005 00000001") + wstr("h"))  # startedAtMs, replica, host
    assert p.encode_payload(9, p.ServiceInfos([info])) == expected
    assert p.decode(0x66, expected) == (9, p.ServiceInfos([info]))
    # deployService: the spec alone, ending with replicas and dag.
    assert p.encode_payload(1, p.DeployService(spec)).endswith(bytes.fromhex("00000000 00000002") + wstr("d"))


def test_worker_info_layout_matches_swift_encoder() -> None:
    worker = m.WorkerInfo("w", "n", [], 1, 0, False, 5, [], "ALIVE", ["api#1"], -1, "10.0.0.7")
    payload = p.encode_payload(1, p.Workers([worker]))
    assert payload.endswith(wstr("ALIVE") + bytes.fromhex("00000001") + wstr("api#1")
                            + bytes.fromhex("ffffffffffffffff") + wstr("10.0.0.7"))
    payload = p.encode_payload(1, p.Workers([m.WorkerInfo("w", "n", [], 1, 0, False, 5, [], idle_ms=1500)]))
    assert payload.endswith(wstr("ALIVE") + bytes.fromhex("00000000 00000000000005dc") + wstr(""))


def test_new_fields_default_as_in_swift() -> None:
    assert m.ServiceOptions() == m.ServiceOptions("", "always", -1, "", 1, True)
    spec = m.ServiceSpec("api", ["x"])
    assert (spec.replicas, spec.dag) == (1, "")
    assert m.JobSpec(["x"]).service is None
    worker = m.WorkerInfo("w", "n", [], 1, 0, False, 0, [])
    assert (worker.services, worker.idle_ms) == ([], -1)
    assert m.ServiceInfo(spec, "PENDING").replica == 0


def test_service_instance_names() -> None:
    spec = m.ServiceSpec("api", ["x"], replicas=3)
    assert [m.ServiceInfo(spec, "HEALTHY", replica=i).instance for i in range(3)] == ["api", "api#1", "api#2"]
    assert [spec.instance_name(i) for i in range(3)] == ["api", "api#1", "api#2"]
    decoded = roundtrip(SAMPLES[0x66])[1]
    assert [i.instance for i in decoded.services] == ["a", "api|ü#2"]


def test_malformed_service_options_name_the_field() -> None:
    payload = p.encode_payload(1, p.Submit(m.JobSpec(["x"], service=m.ServiceOptions(keep=True)), False))
    with pytest.raises(ProtocolError, match=r"field 'spec.service.keep': truncated"):
        p.decode(0x30, payload[:-2])
    bad = bytearray(payload)
    bad[-2] = 2  # keep
    with pytest.raises(ProtocolError, match=r"field 'spec.service.keep': invalid bool 2"):
        p.decode(0x30, bytes(bad))
    with pytest.raises(InvalidRequest, match=r"field 'spec.service.replicas'"):
        p.encode(1, p.Submit(m.JobSpec(["x"], service=m.ServiceOptions(replicas=-1))))


def test_dictionaries_are_written_sorted() -> None:
    a = p.encode(1, p.Submit(m.JobSpec(["x"], {"b": "1", "a": "2"})))
    b = p.encode(1, p.Submit(m.JobSpec(["x"], {"a": "2", "b": "1"})))
    assert a == b
    assert a.index(b"a") < a.index(b"b", a.index(b"a"))


def frames_stream() -> tuple[bytes, list[tuple[int, object]]]:
    expected = [(i + 1, SAMPLES[op]) for i, op in enumerate(sorted(SAMPLES))]
    big = m.Output("job-9", m.OutputStream.STDOUT, bytes(range(256)) * 4096)  # 1 MiB
    expected.append((0, big))
    return b"".join(p.encode(rid, msg) for rid, msg in expected), expected


def decode_stream(chunks: list[bytes]) -> list[tuple[int, object]]:
    decoder = FrameDecoder()
    out = []
    for chunk in chunks:
        decoder.feed(chunk)
        while (frame := decoder.next()) is not None:
            out.append(p.decode(frame[1], frame[3]))
    assert decoder.buffered == 0
    return out


def test_stream_decoded_whole() -> None:
    data, expected = frames_stream()
    assert decode_stream([data]) == expected


def test_stream_decoded_byte_by_byte() -> None:
    data, expected = frames_stream()
    small = data[: -(1 << 20) - 30]  # byte-by-byte over everything but the 1 MiB frame (speed)
    cut = len(small)
    chunks = [small[i:i + 1] for i in range(cut)] + [data[cut:]]
    assert decode_stream(chunks) == expected


@pytest.mark.parametrize("seed", range(5))
def test_stream_decoded_in_random_splits(seed: int) -> None:
    data, expected = frames_stream()
    rng = random.Random(seed)
    chunks, i = [], 0
    while i < len(data):
        n = rng.choice([1, 2, 3, 7, 8, 9, 100, 4096, 70_000])
        chunks.append(data[i:i + n])
        i += n
    assert decode_stream(chunks) == expected


def test_frame_errors_are_sticky() -> None:
    decoder = FrameDecoder()
    decoder.feed(bytes([7, 1, 0, 0, 0, 0, 0, 0]))
    with pytest.raises(FrameError, match="unsupported protocol version 7"):
        decoder.next()
    decoder.feed(p.encode(1, p.Ping()))
    with pytest.raises(FrameError):
        decoder.next()


def test_frame_too_large_is_rejected_from_its_header() -> None:
    decoder = FrameDecoder()
    decoder.feed(bytes([2, 1, 0, 0, 0x01, 0x00, 0x00, 0x01]))  # 16 MiB + 1
    with pytest.raises(FrameError, match="frame too large"):
        decoder.next()


def test_partial_frame_waits_for_more() -> None:
    decoder = FrameDecoder()
    frame = encode_frame(0x01, b"\x00\x00\x00\x05")
    decoder.feed(frame[:5])
    assert decoder.next() is None
    decoder.feed(frame[5:])
    assert decoder.next() == (2, 0x01, 0, b"\x00\x00\x00\x05")


@pytest.mark.parametrize("payload, message", [
    (bytes.fromhex("00000001 00000005 6a6f62"), "field 'id': truncated (count 5 needs at least 5 bytes, 3 left)"),
    (bytes.fromhex("00000001 00000001 61 00"), "trailing bytes: 1 after the last field"),
    (bytes.fromhex("000000"), "field 'requestId': truncated (needs 4 bytes, 3 left)"),
    (bytes.fromhex("00000001 00000002 c328"), "field 'id': invalid UTF-8"),
])
def test_malformed_payloads_name_the_field(payload: bytes, message: str) -> None:
    with pytest.raises(ProtocolError) as info:
        p.decode(0x31, payload)
    assert str(info.value) == f"malformed payload for opcode 0x31 (getStatus): {message}"
    assert info.value.code is ErrorCode.MALFORMED_PAYLOAD


def test_malformed_nested_fields() -> None:
    good = p.encode_payload(1, m.JobEvent("j", m.JobState.COMPLETED, 1, "w", m.JobResult(exit_code=0)))
    bad_state = bytearray(good)
    bad_state[4 + 4 + 1] = 9  # the state byte after the job id "j"
    with pytest.raises(ProtocolError, match="field 'state': unknown job state 9"):
        p.decode(0x45, bytes(bad_state))
    with pytest.raises(ProtocolError, match=r"field 'result.exit_code': invalid optional tag 7"):
        p.decode(0x45, good[:-24] + b"\x07" + good[-23:])
    with pytest.raises(ProtocolError, match=r"field 'spec.command\[1\]': truncated"):
        p.decode(0x30, p.encode_payload(1, p.Submit(m.JobSpec(["a", "bb"])))[:17])


def test_duplicate_dictionary_key_is_malformed() -> None:
    w = Writer()
    w.u32(1)
    p.STRINGS.write(w, ["x"])
    w.u32(2)
    for _ in range(2):
        w.string("K")
        w.string("v")
    with pytest.raises(ProtocolError, match="duplicate key 'K'"):
        p.decode(0x30, bytes(w.buf) + bytes(200))


def test_invalid_bool_and_unknown_opcode() -> None:
    with pytest.raises(ProtocolError, match=r"field 'logs': invalid bool 2"):
        p.decode(0x34, bytes.fromhex("00000001 00000001 61 02"))
    with pytest.raises(ProtocolError, match="unknown opcode 0x7f"):
        p.decode(0x7F, b"\x00\x00\x00\x01")


def test_values_that_do_not_fit_are_refused_before_sending() -> None:
    with pytest.raises(InvalidRequest, match=r"field 'spec.priority'"):
        p.encode(1, p.Submit(m.JobSpec(["x"], priority=2 ** 40)))
    with pytest.raises(InvalidRequest, match=r"field 'spec.command\[0\]'"):
        p.encode(1, p.Submit(m.JobSpec([None])))  # type: ignore[list-item]


def test_request_larger_than_a_frame_is_refused() -> None:
    jobs = [m.DagJobSpec(f"j{i}", m.JobSpec(["x" * 100_000])) for i in range(200)]  # ~20 MB
    with pytest.raises(InvalidRequest, match="request too large"):
        p.encode(1, p.SubmitDag(m.DagSpec("big", jobs)))


def test_reader_counts_are_bounded_by_the_bytes_left() -> None:
    r = Reader(bytes.fromhex("00000003 0102"))
    with pytest.raises(Exception, match="count 3 needs at least 3 bytes, 2 left"):
        r.raw()


def test_request_id_of() -> None:
    assert p.request_id_of(b"\x00\x00\x01\x00rest") == 256
    assert p.request_id_of(b"\x01") == 0


def test_read_logs_layout_matches_the_swift_encoder() -> None:
    # The same bytes as LogMessageCodecTests' "wire layout of readLogs".
    frame = p.encode(9, p.ReadLogs("j", 0x0102, 3, 4, -1))
    assert frame[:2] == b"\x02\x6d"
    assert frame[8:] == bytes([0, 0, 0, 9, 0, 0, 0, 1, 0x6A, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 3, 0, 0, 0, 4]) + b"\xff" * 8
    _, page = p.decode(0x6E, p.encode(1, p.LogPage("j", [m.LogChunk(m.OutputStream.STDOUT, b"ab")], 5, True))[8:])
    assert page.data == b"ab" and page.next == 5 and page.end and page.skipped == 0


def test_a_truncated_log_page_names_the_field() -> None:
    payload = p.encode(1, p.LogPage("j", [], 5, True))[8:]
    with pytest.raises(ProtocolError, match="'skipped'"):
        p.decode(0x6E, payload[:-3])


def test_auth_layouts_match_the_swift_encoder() -> None:
    # Computed by hand from NativeCodec.swift's table: authHello tokenId string, nonce bytes;
    # authChallenge nonce bytes; authProof proof bytes; authOk role string, signature bytes.
    nonce = bytes(range(32))
    frame = p.encode(1, p.AuthHello("ab", nonce))
    assert frame == (bytes.fromhex("02700000 0000002e") + bytes.fromhex("00000001") + bytes.fromhex("00000002") + b"ab"
                     + bytes.fromhex("00000020") + nonce)
    assert p.encode(2, p.AuthChallenge(b"\x07" * 3)) == bytes.fromhex("02710000 0000000b 00000002 00000003 070707")
    assert p.encode(3, p.AuthProof(b"\x01\x02")) == bytes.fromhex("02720000 0000000a 00000003 00000002 0102")
    assert p.encode(4, p.AuthOk("job", b"\xee")) == bytes.fromhex("02730000 00000010 00000004 00000003") + b"job" \
        + bytes.fromhex("00000001 ee")


def test_token_layouts_match_the_swift_encoder() -> None:
    # token: op u8 (create 1, list 2, revoke 3), then create role, name, ttlMs u64; revoke id.
    payload = p.encode_payload(5, m.TokenOperation(m.TokenOp.CREATE, role="read", name="ci", ttl_ms=60_000))
    assert payload == bytes.fromhex("00000005 01") + wstr("read") + wstr("ci") + bytes.fromhex("000000000000ea60")
    assert p.encode(5, m.TokenOperation(m.TokenOp.LIST))[:2] == b"\x02\x74"
    assert p.encode_payload(5, m.TokenOperation(m.TokenOp.LIST)) == bytes.fromhex("00000005 02")
    assert p.encode_payload(5, m.TokenOperation(m.TokenOp.REVOKE, id="x1")) == bytes.fromhex("00000005 03") + wstr("x1")
    # tokenResult: kind u8 (created 1, list 2); TokenInfo id, role, name strings, createdAtMs,
    # expiresAtMs i64; created adds the token string, list is a counted array.
    info = wstr("i") + wstr("read") + wstr("") + bytes.fromhex("0000000000000007 ffffffffffffffff")
    created = bytes.fromhex("00000009 01") + info + wstr("titan.i.x")
    assert p.decode(0x75, created) == (9, m.TokenResult(m.TokenResultKind.CREATED, created=m.CreatedToken(
        m.TokenInfo("i", "read", "", 7, -1), "titan.i.x")))
    listed = bytes.fromhex("00000009 02 00000002") + info + info
    _, result = p.decode(0x75, listed)
    assert result.tokens == [m.TokenInfo("i", "read", "", 7, -1)] * 2
    assert p.encode_payload(9, result) == listed


def test_malformed_token_messages_name_the_field() -> None:
    with pytest.raises(ProtocolError, match=r"field 'op': unknown token operation 9"):
        p.decode(0x74, bytes.fromhex("00000001 09"))
    with pytest.raises(ProtocolError, match=r"field 'kind': unknown token result 0"):
        p.decode(0x75, bytes.fromhex("00000001 00"))
    with pytest.raises(ProtocolError, match=r"field 'ttlMs': truncated"):
        p.decode(0x74, p.encode_payload(1, m.TokenOperation(m.TokenOp.CREATE, role="read"))[:-1])
    # A count that promises more TokenInfos (28 bytes at least each) than the payload holds.
    with pytest.raises(ProtocolError, match=r"field 'tokens': truncated \(count 2"):
        p.decode(0x75, bytes.fromhex("00000001 02 00000002") + b"\x00" * 40)
    with pytest.raises(ProtocolError, match=r"field 'tokens\[0\].role': invalid UTF-8"):
        p.decode(0x75, bytes.fromhex("00000001 02 00000001") + wstr("i") + bytes.fromhex("00000001 ff")
                 + b"\x00" * 20)
    with pytest.raises(ProtocolError, match=r"field 'signature': truncated"):
        p.decode(0x73, p.encode_payload(1, p.AuthOk("admin", b"\x01" * 32))[:-1])
    with pytest.raises(InvalidRequest, match=r"field 'ttl_ms'"):
        p.encode(1, m.TokenOperation(m.TokenOp.CREATE, role="read", ttl_ms=-1))


def test_a_created_token_keeps_its_secret_out_of_repr() -> None:
    created = SAMPLES[0x75].created
    assert "ab" * 32 not in repr(created) and created.id == "3fa9c1e07b2d" and created.role == "read"
