"""Signs of life while hosts are probed: how many answered, and who is awaited and for how long.

:class:`Probing` is told by the probing threads when each host's probe starts and ends.
:class:`TerminalWatcher` is ticked by the main thread while it waits for them: on a terminal a
live line rewritten in place, elsewhere a plain line every few seconds, and one closing line.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from typing import Any, Protocol

FIRST_AFTER = 0.5  # seconds of waiting before the first line: a quick probe shows nothing
PLAIN_EVERY = 5.0  # seconds between plain lines where the output is not a terminal
TICK = 0.25  # seconds between ticks while waiting
NAMED = 5  # awaited hosts named in a line


class Probing:
    """Which probes of a round are out, and since when. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.what = "hosts"
        self.total = 0
        self.began = clock()
        self.out: dict[str, float] = {}
        self.answered = 0
        self.failed = 0
        self._lock = threading.Lock()

    def begin(self, names: Iterable[str], what: str = "hosts") -> None:
        with self._lock:
            self.what, self.total, self.began = what, len(list(names)), self.clock()
            self.out, self.answered, self.failed = {}, 0, 0

    def started(self, name: str) -> None:
        with self._lock:
            self.out[name] = self.clock()

    def finished(self, name: str, ok: bool) -> None:
        with self._lock:
            self.out.pop(name, None)
            self.answered += ok
            self.failed += not ok

    def line(self) -> str:
        """``probing hosts: 57 of 60 done (1 failed); awaiting web-07 12 s, web-08 12 s``."""
        with self._lock:
            now = self.clock()
            awaited = sorted(self.out.items(), key=lambda kv: (kv[1], kv[0]))
            done, failed, total = self.answered + self.failed, self.failed, self.total
        text = f"probing {self.what}: {done} of {total} done" + (
            f" ({failed} failed)" if failed else "")
        if awaited:
            named = ", ".join(f"{name} {now - since:.0f} s" for name, since in awaited[:NAMED])
            more = f" and {len(awaited) - NAMED} more" if len(awaited) > NAMED else ""
            text += f"; awaiting {named}{more}"
        queued = total - done - len(awaited)
        return text + (f"; {queued} queued" if queued > 0 else "")

    def closing(self) -> str:
        """``probed 60 hosts in 12.1 s (3 failed)``."""
        with self._lock:
            seconds, done, failed = self.clock() - self.began, self.answered + self.failed, \
                self.failed
        return (f"probed {done} {self.what} in {seconds:.1f} s"
                + (f" ({failed} failed: their checks are ERROR)" if failed else ""))


class Watcher(Protocol):
    def tick(self, probing: Probing) -> None: ...

    def done(self, probing: Probing) -> None: ...


class TerminalWatcher:
    """Draws :class:`Probing` on pytest's terminal reporter, with output capture lifted."""

    def __init__(self, reporter: Any, capman: Any = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.reporter = reporter
        self.capman = capman
        self.clock = clock
        self.tty = bool(reporter.isatty())
        self.since: float | None = None
        self.last: float | None = None  # when a line was last drawn
        self.resume: object = None  # where pytest's progress line was when we broke in

    def tick(self, probing: Probing) -> None:
        now = self.clock()
        self.since = now if self.since is None else self.since
        if now - self.since < FIRST_AFTER:
            return
        if self.last is None:  # the first line: below pytest's progress, which resumes after
            self.resume = getattr(self.reporter, "currentfspath", None)
        if self.tty:
            if self.last is None:
                self._write(lambda: self.reporter.ensure_newline())
            width = max(20, int(self.reporter._tw.fullwidth) - 1)
            line = probing.line()[:width]
            self._write(lambda: self.reporter.write(f"\r{line}\x1b[K", flush=True))
            self.last = now
        elif self.last is None or now - self.last >= PLAIN_EVERY:
            line = probing.line()
            self._write(lambda: self.reporter.write_line(line))
            self.last = now

    def done(self, probing: Probing) -> None:
        if self.last is not None:
            line = probing.closing()
            if self.tty:
                self._write(lambda: self.reporter.write(f"\r{line}\x1b[K\n", flush=True))
            else:
                self._write(lambda: self.reporter.write_line(line))
            self._write(self._resume)
        self.since = self.last = None

    def _resume(self) -> None:
        """Write again the start of the line pytest was drawing (a file's name, or with -v
        the test's), so that its next letters land after it."""
        at = self.resume
        if isinstance(at, os.PathLike):
            self.reporter.write(os.path.relpath(at, self.reporter.startpath) + " ")
        elif isinstance(at, str):
            self.reporter.write(at)
        else:
            return
        self.reporter.currentfspath = at

    def _write(self, draw: Callable[[], None]) -> None:
        lifted = self.capman.global_and_fixture_disabled() if self.capman else nullcontext()
        with lifted:
            draw()
