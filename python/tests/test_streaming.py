"""Pushed events and live output, and many requests in flight on one connection."""

from __future__ import annotations

import threading
import time

import pytest

from titan_sdk import JobEvent, JobState, Output, TitanClient, TitanJob, WaitTimeout

# Prints a line, then waits (up to 20 s) for the test to set a KV key, then prints another: the
# test can only set the key after it received the first line, so the first line must have been
# delivered while the job was still running.
GATED_SCRIPT = """\
import sys, time
from titan_sdk import TitanClient
key = sys.argv[1]
print("first line", flush=True)
client = TitanClient()
deadline = time.monotonic() + 20
while client.store_get(key) is None:
    if time.monotonic() > deadline:
        print("never released", flush=True)
        sys.exit(2)
    time.sleep(0.02)
print("second line", flush=True)
print("to stderr", file=sys.stderr, flush=True)
"""


def test_stream_logs_delivers_lines_live(client: TitanClient, uid: str) -> None:
    key = f"release-{uid}"
    job_id = client.submit(TitanJob("gated", script_content=GATED_SCRIPT, filename="gated.py", args=[key]))
    lines = client.stream_logs(job_id, timeout=30)
    assert next(lines) == "first line"
    assert client.get_job_status(job_id) == "RUNNING"
    client.store_put(key, "go")
    assert sorted(lines) == ["second line", "to stderr"]  # ends by itself when the job ends
    assert client.wait(job_id, timeout=5).ok


def test_stream_logs_of_a_finished_job_replays_it(client: TitanClient) -> None:
    job_id = client.run(TitanJob(command="printf 'a\\nb\\nc'"), timeout=20).id
    assert list(client.stream_logs(job_id, timeout=10)) == ["a", "b", "c"]


def test_events_of_a_job(client: TitanClient, uid: str) -> None:
    key = f"events-{uid}"
    job_id = client.submit(TitanJob("gated", script_content=GATED_SCRIPT, filename="gated.py", args=[key]),
                           follow=True)
    seen = []
    for item in client.events(job_id, logs=True, timeout=30):
        seen.append(item)
        if isinstance(item, Output) and item.text == "first line\n":
            client.store_put(key, "1")
    states = [e.state for e in seen if isinstance(e, JobEvent)]
    assert states == [JobState.RUNNING, JobState.COMPLETED]
    assert seen[-1].result.exit_code == 0
    assert [o.text for o in seen if isinstance(o, Output)][0] == "first line\n"


def test_two_local_subscribers_share_one_follow(client: TitanClient, uid: str) -> None:
    key = f"share-{uid}"
    job_id = client.submit(TitanJob("gated", script_content=GATED_SCRIPT, filename="gated.py", args=[key]))
    a = client.subscribe(job_id, logs=True)
    seen_a = []
    for item in a.iter(20):
        seen_a.append(item)
        if isinstance(item, Output):
            break  # the first line is out; the job waits for the key
    b = client.subscribe(job_id, logs=True)  # joins late: gets the history, then live
    client.store_put(key, "1")
    seen_a += list(a.iter(20))
    seen_b = list(b.iter(20))
    assert seen_a == seen_b
    assert [e.state for e in seen_b if isinstance(e, JobEvent)] == [JobState.RUNNING, JobState.COMPLETED]
    assert sorted(o.text for o in seen_b if isinstance(o, Output)) == ["first line\n", "second line\n",
                                                                        "to stderr\n"]


def test_events_timeout(client: TitanClient) -> None:
    job_id = client.submit(TitanJob(command=["sleep", "30"]))
    with pytest.raises(WaitTimeout):
        for _ in client.events(job_id, timeout=0.3):
            pass
    client.cancel(job_id)


def test_many_requests_in_flight_from_many_threads(client: TitanClient, uid: str) -> None:
    key = f"counter-{uid}"
    results: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(100):
                n = client.store_incr(key)
                with lock:
                    results.append(n)
        except BaseException as e:  # pragma: no cover
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sorted(results) == list(range(1, 801))  # every reply went to the request that asked
    assert client.store_get(key) == "800"
    # 500 requests written at once, all in flight together: each reply matches its request.
    from titan_sdk.models import KVOp, KVOperation
    futures = client._conn().request_many([KVOperation(KVOp.INCR, key, by=1) for _ in range(500)])
    assert [f.result(30).integer for f in futures] == list(range(801, 1301))


def test_pipelined_submissions(client: TitanClient) -> None:
    started = time.monotonic()
    ids = client.submit_many([TitanJob(command=["sh", "-c", f"echo {i}"]) for i in range(200)], follow=True)
    assert len(set(ids)) == 200
    outcomes = client.wait_all(ids, timeout=60)
    assert all(o.state is JobState.COMPLETED for o in outcomes.values())
    assert client.fetch_logs(ids[123]) == "123\n"
    assert time.monotonic() - started < 60
