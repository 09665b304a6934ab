"""A client of the original Titan protocol (v1), written from PROTOCOL-TITAN-V1: a fresh TCP
connection per call, an 8-byte header (version 1, opcode, flags, reserved, big-endian length),
a UTF-8 payload, exactly one reply frame whose text the caller matches on."""
import base64
import json
import socket
import struct

OP_SUBMIT_JOB = 0x03
OP_SUBMIT_DAG = 0x04
OP_STOP = 0x07
OP_STATS = 0x08
OP_STATS_JSON = 0x09
OP_GET_LOGS = 0x16
OP_UPLOAD_ASSET = 0x53
OP_FETCH_ASSET = 0x54
OP_GET_JOB_STATUS = 0x55
OP_CANCEL_JOB = 0x56
OP_KV_SET = 0x60
OP_KV_GET = 0x61
OP_KV_SADD = 0x62
OP_KV_SMEMBERS = 0x63


class V1Client:
    def __init__(self, host, port, timeout=10.0):
        self.host, self.port, self.timeout = host, port, timeout

    def raw(self, opcode, payload, version=1):
        """Sends one frame; returns (reply opcode, reply text)."""
        data = payload if isinstance(payload, bytes) else payload.encode("utf-8")
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as s:
            s.sendall(struct.pack(">BBBBI", version, opcode, 0, 0, len(data)) + data)
            header = self._exact(s, 8)
            _, reply_op, _, _, length = struct.unpack(">BBBBI", header)
            return reply_op, self._exact(s, length).decode("utf-8", errors="replace")

    def call(self, opcode, payload=""):
        return self.raw(opcode, payload)[1]

    @staticmethod
    def _exact(s, n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("the master closed the connection")
            buf += chunk
        return buf

    # What the original SDK does, by name.
    @staticmethod
    def run_line(job_id, filename, script, args="", parents=(), requirement="GENERAL", priority=1, delay=0):
        b64 = base64.b64encode(script.encode()).decode()
        return f"{job_id}|RUN_PAYLOAD|{filename}|{args}|{b64}|{requirement}|{priority}|{delay}|[{','.join(parents)}]"

    def submit_dag(self, lines):
        return self.call(OP_SUBMIT_DAG, " ; ".join(lines))

    def status(self, job_id):
        return self.call(OP_GET_JOB_STATUS, job_id)

    def logs(self, job_id):
        return self.call(OP_GET_LOGS, job_id)

    def stats_json(self):
        return json.loads(self.call(OP_STATS_JSON))
