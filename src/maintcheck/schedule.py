"""The order checks run in: each host's as soon as its facts are in, the rest as collected.

>>> order = ReadyFirst(["a@web-01", "b@web-02", "c"], key=lambda i: i.partition("@")[2] or None,
...                    ready=lambda host: host != "web-02", progress=lambda: 0)
>>> order.take(), order.take()
('a@web-01', 'c')

A check whose host is still being probed waits its turn rather than holding up the run; once
every host is in, the order is the collection order. Nothing here knows pytest.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class ReadyFirst(Generic[T, K]):
    """Hands out items in their order, except that an item whose key is not ready yet comes
    once it is: the first ready item in collection order, each time.

    ``key(item)`` is what it waits for (a host name; None: nothing), ``ready(key)`` whether that
    is in, and ``progress()`` a number that changes whenever some key may have become ready.
    Items go in passes: each runs, in order, what was ready when it began, and readiness is
    asked again only between passes, when progress changed: a take costs a heap operation, not
    a scan, and the terminal shows a few passes over the modules, not one per host.
    """

    def __init__(self, items: Iterable[T], *, key: Callable[[T], K | None],
                 ready: Callable[[K], bool], progress: Callable[[], int]) -> None:
        self.queues: dict[K | None, deque[tuple[int, T]]] = {}
        for index, item in enumerate(items):
            self.queues.setdefault(key(item), deque()).append((index, item))
        self.ready, self.progress = ready, progress
        self.parked: set[K | None] = {k for k in self.queues if k is not None}
        self.heap: list[tuple[int, K | None]] = (
            [(self.queues[None][0][0], None)] if None in self.queues else [])
        self.seen: int | None = None
        self.left = sum(len(q) for q in self.queues.values())

    def __len__(self) -> int:
        return self.left

    def take(self, wait: Callable[[], bool] | None = None) -> T | None:
        """The first ready item, removed; None when none is left.

        When none is ready, ``wait()`` blocks until something may have changed and says whether
        anything still can; once nothing can, the first item comes next, ready or not.
        """
        while self.left:
            if not self.heap or self.seen is None:  # a pass runs what was ready at its start
                self._unpark()
            if self.heap:
                _, k = heapq.heappop(self.heap)
                return self._pop(k, ready=True)
            if wait is None or not wait():
                k = min(self.parked, key=lambda p: self.queues[p][0][0])
                return self._pop(k, ready=False)
        return None

    def _unpark(self) -> None:
        now = self.progress()
        if now == self.seen:
            return
        self.seen = now
        for k in [p for p in self.parked if p is not None and self.ready(p)]:
            self.parked.discard(k)
            heapq.heappush(self.heap, (self.queues[k][0][0], k))

    def _pop(self, k: K | None, *, ready: bool) -> T:
        queue = self.queues[k]
        _, item = queue.popleft()
        self.left -= 1
        if not queue:
            del self.queues[k]
            self.parked.discard(k)
        elif ready:
            heapq.heappush(self.heap, (queue[0][0], k))
        return item

