"""Signs of life while probing: hosts done of total, and who is awaited for how long.

The end-to-end cases run the real suite on hosts of this machine (local) and on three "hung"
hosts: a TCP listener that accepts ssh's connection and never says a word, as a host whose
sshd is stuck does. Each is awaited until its connect timeout."""

from __future__ import annotations

import os
import pty
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from maintcheck.progress import Probing, TerminalWatcher

ROOT = Path(__file__).resolve().parents[1]
HUNG = ("hung-1", "hung-2", "hung-3")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_line_counts_done_and_names_the_longest_awaited_first() -> None:
    clock = Clock()
    probing = Probing(clock)
    probing.begin([f"web-{i:02}" for i in range(60)])
    for i in range(60):
        probing.started(f"web-{i:02}")
        clock.now += 0.1
    for i in range(3, 60):
        probing.finished(f"web-{i:02}", ok=i != 10)
    clock.now += 12
    assert probing.line() == ("probing hosts: 57 of 60 done (1 failed); awaiting "
                              "web-00 18 s, web-01 18 s, web-02 18 s")
    assert probing.closing() == "probed 57 hosts in 18.0 s (1 failed: their checks are ERROR)"


def test_more_awaited_than_named_and_the_queued_are_counted() -> None:
    clock = Clock()
    probing = Probing(clock)
    probing.begin([f"h{i}" for i in range(40)])
    for i in range(32):
        probing.started(f"h{i}")
    line = probing.line()
    assert line.startswith("probing hosts: 0 of 40 done; awaiting h0 0 s, h1 0 s")
    assert line.endswith(" and 27 more; 8 queued")


class Reporter:
    """What the watcher uses of pytest's terminal reporter, recording what it is given."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.out: list[str] = []

    def isatty(self) -> bool:
        return self.tty

    def ensure_newline(self) -> None:
        self.out.append("<newline>")

    def write(self, text: str, flush: bool = False) -> None:
        self.out.append(text)

    def write_line(self, text: str) -> None:
        self.out.append(text + "\n")

    class _tw:
        fullwidth = 60


def test_nothing_is_drawn_for_a_wait_shorter_than_half_a_second() -> None:
    clock, reporter = Clock(), Reporter(tty=True)
    watcher, probing = TerminalWatcher(reporter, clock=clock), Probing(clock)
    probing.begin(["a"])
    for _ in range(2):
        watcher.tick(probing)
        clock.now += 0.2
    watcher.done(probing)
    assert reporter.out == []


def test_a_terminal_gets_one_line_rewritten_in_place_then_a_closing_line() -> None:
    clock, reporter = Clock(), Reporter(tty=True)
    watcher, probing = TerminalWatcher(reporter, clock=clock), Probing(clock)
    probing.begin(["a", "b"])
    probing.started("a")
    for _ in range(4):
        watcher.tick(probing)
        clock.now += 0.25
    probing.finished("a", ok=True)
    watcher.done(probing)
    assert reporter.out[0] == "<newline>"
    assert all(t.startswith("\r") and t.endswith("\x1b[K") for t in reporter.out[1:-1])
    assert len(reporter.out[1:-1]) == 2 and len(reporter.out[1]) <= 59 + 4
    assert reporter.out[-1] == "\rprobed 1 hosts in 1.0 s\x1b[K\n"


def test_elsewhere_a_plain_line_every_five_seconds() -> None:
    clock, reporter = Clock(), Reporter(tty=False)
    watcher, probing = TerminalWatcher(reporter, clock=clock), Probing(clock)
    probing.begin(["a"])
    probing.started("a")
    for _ in range(44):  # 11 s of ticks
        watcher.tick(probing)
        clock.now += 0.25
    watcher.done(probing)
    assert [t.split(";")[0] for t in reporter.out] == ["probing hosts: 0 of 1 done"] * 3 + [
        "probed 0 hosts in 11.0 s\n"]
    assert reporter.out[0] == "probing hosts: 0 of 1 done; awaiting a 0 s\n"


@pytest.fixture
def hung_project(tmp_path: Path) -> tuple[Path, socket.socket]:
    """An inventory of 6 local hosts and 3 that accept ssh's connection and never answer."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    local = "".join(f"    here-{i}: {{ansible_connection: local, maintcheck_cron_required: false}}\n"
                    for i in range(6))
    hung = "".join(f"    {name}: {{ansible_host: 127.0.0.1, ansible_port: {port}}}\n"
                   for name in HUNG)
    (tmp_path / "hosts.yml").write_text(
        "all:\n  vars:\n    maintcheck_change: PROGRESS-1\n    maintcheck_connect_timeout: 4\n"
        f"  hosts:\n{local}{hung}")
    return tmp_path, listener


def command(project: Path) -> list[str]:
    return [sys.executable, "-m", "pytest", "checks/pre", "--no-prompt", "-p", "no:randomly",
            "--inventory", str(project / "hosts.yml"),
            "-o", f"maintcheck_reports={project / 'reports'}"]


def test_a_run_with_hung_hosts_names_them_while_it_waits(
        hung_project: tuple[Path, socket.socket]) -> None:
    """Not a terminal: plain lines, the first as soon as a check waits for the probes."""
    project, listener = hung_project
    with listener:
        done = subprocess.run(command(project), cwd=ROOT, capture_output=True, text=True,
                              timeout=300, stdin=subprocess.DEVNULL, check=False)
    out = done.stdout
    lines = [line for line in out.splitlines() if line.startswith("probing hosts: ")]
    assert lines, out
    assert "awaiting hung-1 " in lines[0] and "hung-2 " in lines[0] and "hung-3 " in lines[0]
    assert "of 9 done" in lines[0]
    assert "probed 9 hosts in " in out and "(3 failed: their checks are ERROR)" in out, out
    assert "\x1b[K" not in out  # no terminal control where there is no terminal


def test_on_a_terminal_the_line_is_live(hung_project: tuple[Path, socket.socket]) -> None:
    project, listener = hung_project
    pid, fd = pty.fork()
    if pid == 0:  # the child: pytest on a pseudo-terminal
        os.chdir(ROOT)
        os.execv(sys.executable, command(project))
    seen = b""
    deadline = time.monotonic() + 300
    with listener:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    os.waitpid(pid, 0)
    text = seen.decode(errors="replace")
    assert "\rprobing hosts: " in text and "awaiting hung-1 " in text, text[-3000:]
    assert "probed 9 hosts in " in text, text[-3000:]
