"""The original Titan protocol against our master, as the original SDK and its users drive it."""
import random
import sys
import textwrap
import time

from v1client import (OP_CANCEL_JOB, OP_FETCH_ASSET, OP_KV_GET, OP_KV_SADD, OP_KV_SET, OP_KV_SMEMBERS,
                      OP_STATS, OP_STOP, OP_SUBMIT_JOB, OP_UPLOAD_ASSET, V1Client)


def wait_for(predicate, timeout=20.0):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.time() < deadline, "condition not met in time"
        time.sleep(0.01)


def client(cluster):
    return V1Client("127.0.0.1", cluster.port)


def test_submit_status_logs_and_failure_cascade(cluster):
    c = client(cluster)
    assert c.submit_dag([
        c.run_line("c-extract", "extract.py", "import sys; open('x.txt','w').write(sys.argv[1]); print('extracted')", args="42"),
        c.run_line("c-double", "double.sh", "echo $(( $(cat x.txt) * 2 ))", parents=["c-extract"]),
        c.run_line("c-bad", "bad.sh", "exit 3"),
        c.run_line("c-below", "below.sh", "echo never", parents=["c-bad"]),
    ]) == "DAG_ACCEPTED"
    wait_for(lambda: c.status("DAG-c-double") == "COMPLETED")
    assert c.logs("DAG-c-extract") == "extracted"
    assert c.logs("DAG-c-double") == "84"
    wait_for(lambda: c.status("DAG-c-bad") == "FAILED")
    assert c.status("DAG-c-below") == "FAILED"   # skipped below a failure, never ran
    assert c.logs("DAG-c-below") == ""
    assert c.status("DAG-unknown") == "NULL"


def test_submit_job_priority_and_cancel(cluster):
    c = client(cluster)
    assert c.call(OP_SUBMIT_JOB, "c-sleepy|RUN_PAYLOAD|s.sh||" + __import__("base64").b64encode(b"sleep 30").decode()
                  + "|GENERAL|5|0") == "JOB_ACCEPTED"
    wait_for(lambda: c.status("DAG-c-sleepy") == "RUNNING")
    assert c.call(OP_CANCEL_JOB, "DAG-c-sleepy") == "CANCELLED"
    assert c.status("DAG-c-sleepy") == "CANCELLED"
    assert c.call(OP_CANCEL_JOB, "DAG-nobody") == "NOT_FOUND"
    assert c.call(OP_STOP, "nobody").startswith("ERROR")


def test_kv_with_a_correct_sadd(cluster):
    c = client(cluster)
    assert c.call(OP_KV_SET, "c:k|v|with|bars") == "OK"
    assert c.call(OP_KV_GET, "c:k") == "v|with|bars"
    assert c.call(OP_KV_GET, "c:missing") == "NULL"
    assert c.call(OP_KV_SADD, "c:set|a") == "1"
    assert c.call(OP_KV_SADD, "c:set|a") == "0"
    assert c.call(OP_KV_SADD, "c:set|b") == "1"
    assert c.call(OP_KV_SMEMBERS, "c:set") == "a,b"
    assert c.call(OP_KV_SMEMBERS, "c:empty") == ""


def test_upload_fetch_and_stats(cluster):
    c = client(cluster)
    blob = bytes(range(256)) * 10
    b64 = __import__("base64").b64encode(blob).decode()
    assert c.call(OP_UPLOAD_ASSET, "c-blob.bin|" + b64) == "UPLOAD_SUCCESS"
    assert c.call(OP_FETCH_ASSET, "c-blob.bin") == b64
    assert c.call(OP_FETCH_ASSET, "c-none.bin") == "ERROR_NOT_FOUND"
    assert c.call(OP_UPLOAD_ASSET, "../../etc/evil|AAAA").startswith("ERROR")
    stats = c.stats_json()
    assert stats["active_workers"] == 1
    worker = stats["workers"][0]
    assert worker["capabilities"] == "[GENERAL]" and worker["load"].endswith("/4")
    assert "worker(s)" in c.call(OP_STATS)


# The original HITL convention: a gate job that polls KV keys until someone approves.
GATE = textwrap.dedent("""
    import os, socket, struct, sys, time
    HOST, PORT = os.environ.get("TITAN_HOST", "127.0.0.1"), int(os.environ.get("TITAN_PORT", "9090"))
    def call(op, text):
        data = text.encode()
        with socket.create_connection((HOST, PORT)) as s:
            s.sendall(struct.pack(">BBBBI", 1, op, 0, 0, len(data)) + data)
            head = b""
            while len(head) < 8: head += s.recv(8 - len(head))
            n = struct.unpack(">BBBBI", head)[4]
            body = b""
            while len(body) < n: body += s.recv(n - len(body))
            return body.decode()
    gate, max_wait, message = sys.argv[1], float(sys.argv[2]), " ".join(sys.argv[3:])
    call(0x60, f"titan:hitl:status:{gate}|WAITING")
    call(0x60, f"titan:hitl:message:{gate}|{message}")
    call(0x60, f"titan:hitl:ts:{gate}|{int(time.time())}")
    call(0x62, f"titan:hitl:queue|{gate}")
    deadline = time.time() + max_wait
    while time.time() < deadline:
        status = call(0x61, f"titan:hitl:status:{gate}")
        if status == "APPROVED": print("approved"); sys.exit(0)
        if status == "REJECTED": print("rejected"); sys.exit(1)
        time.sleep(0.05)
    call(0x60, f"titan:hitl:status:{gate}|TIMEOUT"); sys.exit(1)
""")


def gated_dag(c, prefix):
    gate = f"hitl-gate-{prefix}-prep"
    assert c.call(OP_KV_SET, f"titan:hitl:status:DAG-{gate}|CLEARED") == "OK"
    return gate, c.submit_dag([
        c.run_line(f"{prefix}-prep", "prep.sh", "echo prepared"),
        c.run_line(gate, "hitl_gate.py", GATE, args=f"DAG-{gate} 60 Approve training", parents=[f"{prefix}-prep"]),
        c.run_line(f"{prefix}-train", "train.sh", "echo trained", parents=[gate]),
    ])


def test_hitl_gate_approved(cluster):
    c = client(cluster)
    gate, accepted = gated_dag(c, "h1")
    assert accepted == "DAG_ACCEPTED"
    wait_for(lambda: c.call(OP_KV_GET, f"titan:hitl:status:DAG-{gate}") == "WAITING")
    wait_for(lambda: f"DAG-{gate}" in c.call(OP_KV_SMEMBERS, "titan:hitl:queue").split(","))
    assert c.call(OP_KV_GET, f"titan:hitl:message:DAG-{gate}") == "Approve training"
    assert c.status("DAG-h1-train") == "PENDING"
    assert c.call(OP_KV_SET, f"titan:hitl:status:DAG-{gate}|APPROVED") == "OK"
    wait_for(lambda: c.status("DAG-h1-train") == "COMPLETED")
    assert c.logs("DAG-h1-train") == "trained"


def test_hitl_gate_rejected(cluster):
    c = client(cluster)
    gate, _ = gated_dag(c, "h2")
    wait_for(lambda: c.call(OP_KV_GET, f"titan:hitl:status:DAG-{gate}") == "WAITING")
    c.call(OP_KV_SET, f"titan:hitl:status:DAG-{gate}|REJECTED")
    wait_for(lambda: c.status(f"DAG-{gate}") == "FAILED")
    assert c.status("DAG-h2-train") == "FAILED"   # never runs
    assert c.logs("DAG-h2-train") == ""


def test_malformed_payloads_get_a_reply_never_a_crash(cluster):
    c = client(cluster)
    rng = random.Random(1234)
    alphabet = b"|;[],ab0123 =DAG-RUN_PAYLOAD/.zip\xff\x00\n"
    opcodes = [0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0B, 0x11, 0x16, 0x53, 0x54, 0x55, 0x56, 0x57,
               0x60, 0x61, 0x62, 0x63, 0x00, 0x42, 0xFF]
    for _ in range(300):
        op = rng.choice(opcodes)
        payload = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        reply_op, _ = c.raw(op, payload)
        assert reply_op in (0x50, 0x51, 0x52)
    assert c.raw(0x42, "x") == (0x51, "UNKNOWN_OPCODE: 66")
    assert c.status("DAG-c-extract") in ("COMPLETED", "NULL")  # still serving
