"""Job output read back in pages against a real cluster: read_logs, iter_logs, fetch_logs(tail=),
and the bounded fetch_logs of a job that printed more than the master sends at once."""

from __future__ import annotations

import os
import time

from titan_sdk import JobState, TitanClient, TitanJob

LINES = 400_000  # "%07d\n": 8 bytes each, 3.2 MB


def expected_numbers(first: int, last: int) -> bytes:
    return "".join(f"{i:07d}\n" for i in range(first, last + 1)).encode()


def test_pages_tail_and_since(client: TitanClient, tmp_path: "os.PathLike[str]") -> None:
    job_id = client.submit(TitanJob(command=["seq", "-f", "%07.0f", "1", str(LINES)]))
    assert client.wait(job_id, timeout=60).state is JobState.COMPLETED
    expected = expected_numbers(1, LINES)

    pages = list(client.iter_logs(job_id, limit=100_000))
    assert all(len(page.data) <= 100_000 for page in pages)
    assert len(pages) >= len(expected) // 100_000
    assert b"".join(page.data for page in pages) == expected
    assert pages[-1].end and all(not page.end for page in pages[:-1])

    first = client.read_logs(job_id, limit=10)
    assert first.data == b"0000001\n00" and not first.end
    second = client.read_logs(job_id, first.next, limit=6)
    assert second.data == b"00002\n"

    assert client.fetch_logs(job_id, tail=3) == expected_numbers(LINES - 2, LINES).decode()
    tail_pages = list(client.iter_logs(job_id, tail=3))
    assert len(tail_pages) == 1 and tail_pages[0].end

    go = os.path.join(str(tmp_path), "go")
    later = client.submit(TitanJob(command=["sh", "-c", f"echo old; while [ ! -e {go} ]; do sleep 0.01; done; echo new"]))
    deadline = time.monotonic() + 20
    while client.fetch_logs(later) != "old\n":
        assert time.monotonic() < deadline, "the job never printed"
        time.sleep(0.01)
    seen = time.time()
    while time.time() < seen + 1.1:  # marks date output to the second: let one pass
        time.sleep(0.05)
    since = time.time()
    open(go, "w").close()
    assert client.wait(later, timeout=20).state is JobState.COMPLETED
    assert b"".join(page.data for page in client.iter_logs(later, since=since)) == b"new\n"
    assert b"".join(page.data for page in client.iter_logs(later)) == b"old\nnew\n"


def test_fetch_logs_of_a_large_job_is_bounded_and_says_so(client: TitanClient) -> None:
    lines = 700_000  # 5.6 MB: over the 4 MiB getLogs sends
    job_id = client.submit(TitanJob(command=["seq", "-f", "%07.0f", "1", str(lines)]))
    assert client.wait(job_id, timeout=60).state is JobState.COMPLETED
    expected = expected_numbers(1, lines)
    text = client.fetch_logs(job_id)
    note, rest = text.split("\n", 1)
    assert f"{len(expected) - (4 << 20)} earlier bytes" in note and f"titan logs {job_id}" in note
    assert rest.encode() == expected[-(4 << 20):]


def test_following_pages_until_the_job_ends(client: TitanClient, tmp_path: "os.PathLike[str]") -> None:
    go = os.path.join(str(tmp_path), "go")
    job_id = client.submit(TitanJob(command=["sh", "-c", f"echo a; while [ ! -e {go} ]; do sleep 0.01; done; echo b"]))
    got = b""
    for page in client.iter_logs(job_id, follow=True, poll=0.02):
        got += page.data
        if got == b"a\n":
            open(go, "w").close()
    assert got == b"a\nb\n"
