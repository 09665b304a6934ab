"""Routing of pushed job events, DAG events and output to local subscribers.

The master pushes (request id 0) ``event``, ``output`` and ``dagEvent`` frames to connections
that follow a job or a DAG. One connection carries all of them, so the :class:`Router` fans
them out to the :class:`Subscription` objects that asked, by id:

* a job event or output for ``dag-3/train`` goes to subscribers of ``dag-3/train`` and of
  ``dag-3`` (the master sends each push once per connection, whoever asked);
* a DAG event goes to subscribers of its DAG.

The router keeps, per followed id, a *watch*: whether the master-side subscription includes
output, the local subscribers, and the history pushed so far (so a second local subscriber to
the same id gets everything from the start without asking the master again). A watch ends with
the id's final event (the master stops pushing then). Final job and DAG events are also kept in
a bounded cache, so waiting for something that already finished costs no round trip.

Everything here runs under one lock; pushes are handled on the connection's reader thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Optional, Union

from .errors import TitanError, WaitTimeout
from .models import DagEvent, JobEvent, Output

if TYPE_CHECKING:  # pragma: no cover
    from .connection import Connection

Push = Union[JobEvent, DagEvent, Output]

#: Output bytes a watch remembers for late local subscribers (beyond it, only events are kept).
HISTORY_OUTPUT_LIMIT = 4 << 20
#: Final events remembered per connection.
FINALS_LIMIT = 20_000

_END = object()


def _is_final(push: Push) -> bool:
    return not isinstance(push, Output) and push.state.is_final


def _ends(watch_id: str, push: Push) -> bool:
    """True when ``push`` is the last thing the master sends for ``watch_id``."""
    if isinstance(push, JobEvent):
        return push.job_id == watch_id and push.state.is_final
    if isinstance(push, DagEvent):
        return push.dag_id == watch_id and push.state.is_final
    return False


class _Error:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class Subscription:
    """A live view of pushes for one or more job or DAG ids, in the order the master sent them.

    Iterate it (or call :meth:`get`) to receive :class:`~titan_sdk.models.JobEvent`,
    :class:`~titan_sdk.models.DagEvent` and, when created with ``logs=True``,
    :class:`~titan_sdk.models.Output` items. It ends by itself once every id reached a final
    state (a job: COMPLETED/FAILED/CANCELLED/SKIPPED; a DAG: its final DAG event). ``finals``
    maps each finished id to its final event. Close it (or use ``with``) to stop early.
    """

    def __init__(self, router: "Router", ids: Iterable[str], logs: bool) -> None:
        self._router = router
        self.ids: tuple[str, ...] = tuple(dict.fromkeys(ids))
        self.logs = logs
        self.finals: dict[str, Union[JobEvent, DagEvent]] = {}
        self._remaining = set(self.ids)
        self._queue: "queue.SimpleQueue[Any]" = queue.SimpleQueue()
        self._last_event: dict[str, tuple[Any, ...]] = {}
        self._ended = not self._remaining
        self._closed = False

    # -- called by the router, under its lock --------------------------------------------------

    def _deliver(self, push: Push) -> None:
        if self._closed or self._ended:
            return
        if isinstance(push, Output):
            if self.logs:
                self._queue.put(push)
            return
        if isinstance(push, JobEvent):
            key: tuple[Any, ...] = (push.state, push.attempt, push.worker_id)
            if self._last_event.get(push.job_id) == key:
                return  # the same state again (a re-subscription replays the current state)
            self._last_event[push.job_id] = key
            this = push.job_id
        else:
            key = (push.state, push.counts.total, push.counts.pending, push.counts.running)
            if self._last_event.get("\0" + push.dag_id) == key and not push.state.is_final:
                return
            self._last_event["\0" + push.dag_id] = key
            this = push.dag_id
        self._queue.put(push)
        if this in self._remaining and push.state.is_final:
            self.finals[this] = push
            self._remaining.discard(this)
            if not self._remaining:
                self._ended = True
                self._queue.put(_END)

    def _fail(self, error: BaseException) -> None:
        if not self._closed and not self._ended:
            self._ended = True
            self._queue.put(_Error(error))

    # -- public --------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """True once every id reached a final state."""
        return not self._remaining

    def get(self, timeout: Optional[float] = None) -> Optional[Push]:
        """The next push, or ``None`` once the subscription has ended.

        Raises :class:`~titan_sdk.errors.WaitTimeout` if nothing comes within ``timeout``
        seconds, and the connection's error if it was lost.
        """
        if self._closed:
            return None
        try:
            item = self._queue.get(timeout=timeout) if timeout is not None else self._queue.get()
        except queue.Empty:
            raise WaitTimeout(f"nothing pushed for {', '.join(self.ids)} within {timeout:g}s") from None
        if item is _END:
            self._queue.put(_END)  # keep answering None
            return None
        if isinstance(item, _Error):
            self._queue.put(item)
            raise item.error
        return item

    def iter(self, timeout: Optional[float] = None) -> Iterator[Push]:
        """Iterates until the end; ``timeout`` bounds the whole iteration (seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self.get(remaining)
            except WaitTimeout:
                raise WaitTimeout(f"{', '.join(self.ids)} did not finish within {timeout:g}s") from None
            if item is None:
                return
            yield item

    def wait(self, timeout: Optional[float] = None) -> dict[str, Union[JobEvent, DagEvent]]:
        """Drains the subscription until every id is final; returns ``finals``."""
        for _ in self.iter(timeout):
            pass
        return self.finals

    def __iter__(self) -> Iterator[Push]:
        return self.iter()

    def close(self) -> None:
        """Stops the subscription (the master stops pushing if nobody else here follows the id)."""
        if self._closed:
            return
        self._closed = True
        self._router.unsubscribe(self)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Watch:
    __slots__ = ("id", "logs", "subs", "history", "output_bytes", "follow")

    def __init__(self, id: str, logs: bool, follow: bool) -> None:
        self.id = id
        self.logs = logs
        self.follow = follow
        self.subs: list[Subscription] = []
        self.history: list[Push] = []
        self.output_bytes = 0

    def record(self, push: Push) -> None:
        if isinstance(push, Output):
            if self.output_bytes + len(push.data) > HISTORY_OUTPUT_LIMIT:
                return
            self.output_bytes += len(push.data)
        self.history.append(push)


class Router:
    """Routes pushes to subscriptions and keeps master-side subscriptions in step (one per id)."""

    def __init__(self, connection: "Connection") -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self._watches: dict[str, _Watch] = {}
        self._finals: "OrderedDict[str, Union[JobEvent, DagEvent]]" = OrderedDict()
        self._closed_with: Optional[BaseException] = None

    @property
    def watching(self) -> bool:
        """True while any id is followed (what keepalive pings are for)."""
        return bool(self._watches)

    # -- reader thread -------------------------------------------------------------------------

    def followed(self, id: str) -> None:
        """The master now pushes everything about ``id`` (a ``submit``/``submitDag`` with
        ``follow``): start recording it. Called on the reader thread as the reply is handled, so
        no push behind the reply is missed."""
        with self._lock:
            watch = self._watches.get(id)
            if watch is None:
                self._watches[id] = _Watch(id, logs=True, follow=True)
            else:
                watch.logs = True
                watch.follow = True

    def push(self, push: Push) -> None:
        """Delivers one pushed message."""
        if isinstance(push, DagEvent):
            ids: tuple[str, ...] = (push.dag_id,)
        else:
            job_id = push.job_id
            slash = job_id.find("/")
            ids = (job_id, job_id[:slash]) if slash > 0 else (job_id,)
        final = _is_final(push)
        with self._lock:
            if final:
                key = push.dag_id if isinstance(push, DagEvent) else push.job_id  # type: ignore[union-attr]
                self._finals[key] = push  # type: ignore[assignment]
                if len(self._finals) > FINALS_LIMIT:
                    self._finals.popitem(last=False)
            for id in ids:
                watch = self._watches.get(id)
                if watch is None:
                    continue
                watch.record(push)
                for sub in watch.subs:
                    sub._deliver(push)
                if final and _ends(id, push):
                    del self._watches[id]

    def close_all(self, error: BaseException) -> None:
        """The connection is gone: every subscription ends with ``error``."""
        with self._lock:
            self._closed_with = error
            watches = list(self._watches.values())
            self._watches.clear()
            for watch in watches:
                for sub in watch.subs:
                    sub._fail(error)

    # -- user threads --------------------------------------------------------------------------

    def final_of(self, id: str) -> Optional[Union[JobEvent, DagEvent]]:
        """The final event of ``id`` if this connection saw it."""
        with self._lock:
            return self._finals.get(id)

    def subscribe(self, ids: Iterable[str], logs: bool = False) -> Subscription:
        """A subscription to ``ids`` (job or DAG ids). Ids already finished are answered from the
        cache; ids already followed on this connection replay their history; the rest are
        subscribed on the master (pipelined)."""
        from .protocol import Subscribe  # local: protocol imports nothing from here

        sub = Subscription(self, ids, logs)
        requests: list[tuple[str, bool]] = []
        with self._lock:
            if self._closed_with is not None:
                sub._fail(self._closed_with)
                return sub
            for id in sub.ids:
                final = self._finals.get(id)
                if final is not None and not logs:
                    sub._deliver(final)
                    continue
                watch = self._watches.get(id)
                if watch is None:
                    watch = self._watches[id] = _Watch(id, logs=logs, follow=False)
                    requests.append((id, logs))
                else:
                    for push in watch.history:
                        if logs or not isinstance(push, Output):
                            sub._deliver(push)
                    if logs and not watch.logs:
                        # Output was not asked for until now: ask again, with output (the master
                        # replays what the job printed so far).
                        watch.logs = True
                        requests.append((id, True))
                watch.subs.append(sub)
        if requests:
            futures = self._connection.request_many([Subscribe(id, l) for id, l in requests])
            for (id, _), future in zip(requests, futures):
                future.add_done_callback(lambda f, id=id: self._subscribed(id, f))
        return sub

    def _subscribed(self, id: str, future: Any) -> None:
        error = future.exception()
        if error is None:
            return
        with self._lock:
            watch = self._watches.pop(id, None)
            if watch is not None:
                for sub in watch.subs:
                    sub._fail(error)

    def unsubscribe(self, sub: Subscription) -> None:
        """Removes ``sub``; ids nobody here follows any more are unsubscribed on the master."""
        from .protocol import Unsubscribe

        dropped = []
        with self._lock:
            for id in sub.ids:
                watch = self._watches.get(id)
                if watch is None or sub not in watch.subs:
                    continue
                watch.subs.remove(sub)
                if not watch.subs and not watch.follow:
                    del self._watches[id]
                    dropped.append(id)
        if dropped and self._closed_with is None:
            try:
                self._connection.request_many([Unsubscribe(id) for id in dropped])
            except TitanError:
                pass  # the connection is gone: nothing to undo
