"""The operator's prompt as a person meets it: a real pytest run in a tmux terminal.

tmux gives the run a real TTY (the prompt asks only there); the test types with ``send-keys``
and reads the screen with ``capture-pane``, always waiting with a deadline, and then reads what
the run left on disk: its journal (each answer as it was given) and its evidence.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import checklist_project
import pytest

from maintcheck import runs

pytest_plugins = ["pytester"]

CHANGE = "TTY-1"
# as capture-pane shows them: a line's trailing blanks are dropped
WINDOW_PROMPT = "[1.1] Window approved -- confirmed? [y]es/[n]o/[s]kip/[b]ack/[q]uit:"
MIGRATIONS_PROMPT = ("[1.3] Migration scripts validated -- confirmed? "
                     "[y]es/[n]o/[s]kip/[b]ack/[q]uit:")
NOTE = "note (optional):"
TIMEOUT = 90.0  # seconds for any one thing to appear on this loaded machine


class Terminal:
    """One tmux session on a server of its own (``-L``), 200 columns wide: no other tmux user
    of this machine is touched, and no line of the prompt is wrapped."""

    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True, text=True, timeout=30, check=True)
        return done.stdout

    def start(self, command: str, cwd: Path) -> None:
        self.tmux("new-session", "-d", "-s", "run", "-x", "200", "-y", "50", "-c", str(cwd),
                  command)
        self.tmux("set-option", "-t", "run", "remain-on-exit", "on")  # the last screen stays

    def screen(self) -> str:
        """Everything the run printed, scrollback included."""
        return self.tmux("capture-pane", "-p", "-J", "-t", "run", "-S", "-")

    def type(self, text: str) -> None:
        """Type ``text`` (literally) and press Enter."""
        if text:
            self.tmux("send-keys", "-t", "run", "-l", text)
        self.tmux("send-keys", "-t", "run", "Enter")

    def press(self, key: str) -> None:
        self.tmux("send-keys", "-t", "run", key)

    def wait_for(self, text: str, times: int = 1) -> str:
        """The screen, once ``text`` is on it ``times`` times."""
        deadline = time.monotonic() + TIMEOUT
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if screen.count(text) >= times:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not shown {times} time(s) within {TIMEOUT:.0f}s; "
                             f"the screen:\n{screen}")

    def answer(self, prompt: str, reply: str, note: str | None = None, *, times: int = 1,
               notes_before: int = 0) -> None:
        """Wait for the ``times``-th showing of ``prompt``, reply, then give ``note``."""
        self.wait_for(prompt, times)
        self.type(reply)
        if note is not None:
            self.wait_for(NOTE, notes_before + 1)
            self.type(note)


@pytest.fixture
def project(pytester: pytest.Pytester) -> Path:
    if shutil.which("tmux") is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is required under CI: apt-get install tmux", pytrace=False)
        pytest.skip("tmux is not installed (Debian: apt-get install tmux)")
    checklist_project.make(pytester, CHANGE)
    return pytester.path


@pytest.fixture
def terminal(project: Path) -> Iterator[Terminal]:
    term = Terminal(f"maintcheck-{project.name}")
    try:
        yield term
    finally:  # our own server only, by its socket
        subprocess.run(["tmux", "-L", term.socket, "kill-server"], capture_output=True,
                       timeout=30, check=False)


def start_run(terminal: Terminal, project: Path) -> Path:
    """``pytest checks/pre`` as the operator dana types it; its exit status lands in a file."""
    status = project / "exit-status"
    # HOME: no operator key of this machine's signs the run; no answers file: the prompt asks.
    # Ctrl-C reaches the shell too: its trap (reset to default for pytest) keeps it alive to
    # write the status once pytest ends.
    command = (f"trap : INT; HOME={shlex.quote(str(project))} {shlex.quote(sys.executable)} "
               f"-m pytest checks/pre -p no:randomly --operator dana; "
               f"echo $? > {shlex.quote(str(status))}")
    terminal.start(f"sh -c {shlex.quote(command)}", project)
    return status


def exit_status(status: Path) -> int:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if status.exists() and status.read_text().strip():
            return int(status.read_text())
        time.sleep(0.1)
    raise AssertionError("the run did not end")


def journal(project: Path, label: str = "pre") -> list[dict[str, Any]]:
    return runs.read_journal(project / "reports" / CHANGE / f"{label}.{runs.JOURNAL}")


def answered(entries: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(e["item"], e["status"], e["note"]) for e in entries if e["event"] == "answer"]


def evidence(project: Path, label: str = "pre") -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        (project / "reports" / CHANGE / f"{label}.json").read_text())
    return document


def confirmations(document: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {c["item"]: (c["status"], c["by"], c["note"]) for c in document["confirmations"]}


def test_answers_with_notes_and_back_replaces_one(terminal: Terminal, project: Path) -> None:
    status = start_run(terminal, project)
    terminal.answer(WINDOW_PROMPT, "y", "CAB-1 approved")
    screen = terminal.wait_for(MIGRATIONS_PROMPT)
    # counter, section and the question (the check's docstring), then the title
    assert "[1 of 2] 1. Planning" in screen and "Is the window approved?" in screen
    assert "[2 of 2] 1. Planning" in screen and "Were the migration scripts validated?" in screen
    terminal.type("b")  # back to 1.1, after a note was given
    terminal.answer(WINDOW_PROMPT, "n", "CAB said no", times=2, notes_before=1)
    terminal.answer(MIGRATIONS_PROMPT, "y", "checked in staging", times=2, notes_before=2)
    assert exit_status(status) == 1  # 1.1 answered no: FAILED
    # every answer went to the journal as it was typed and again with its note, the replaced
    # one included
    assert answered(journal(project)) == [("1.1", "yes", ""), ("1.1", "yes", "CAB-1 approved"),
                                          ("1.1", "no", ""), ("1.1", "no", "CAB said no"),
                                          ("1.3", "yes", ""),
                                          ("1.3", "yes", "checked in staging")]
    document = evidence(project)
    assert confirmations(document) == {"1.1": ("no", "dana", "CAB said no"),
                                       "1.3": ("yes", "dana", "checked in staging")}
    assert document["verdict"] == "FAILED"
    assert "verdict: FAILED" in terminal.screen()


def test_quit_leaves_the_rest_pending_and_the_run_incomplete(terminal: Terminal,
                                                            project: Path) -> None:
    status = start_run(terminal, project)
    terminal.answer(WINDOW_PROMPT, "y", "")
    terminal.answer(MIGRATIONS_PROMPT, "q")
    terminal.wait_for("left pending: 1 item (1.3)")
    assert exit_status(status) == 11  # INCOMPLETE
    assert answered(journal(project)) == [("1.1", "yes", "")]
    document = evidence(project)
    assert confirmations(document) == {"1.1": ("yes", "dana", "")}
    assert document["verdict"] == "INCOMPLETE"
    assert document["summary"]["pending_items"] == ["1.3"]
    screen = terminal.screen()
    assert "checklist incomplete: 1 item pending (1.3)" in screen
    # pytest's progress line still names the first file after the prompt
    assert "\nchecks/pre/test_pre.py " in screen, screen


def test_ctrl_c_keeps_the_answers_given_and_the_next_run_offers_them(
        terminal: Terminal, project: Path) -> None:
    status = start_run(terminal, project)
    terminal.answer(WINDOW_PROMPT, "y", "CAB-1")
    terminal.wait_for(MIGRATIONS_PROMPT)
    terminal.press("C-c")
    terminal.wait_for("prompt ended: the answers given are kept")
    assert exit_status(status) == 11  # the checks still ran; 1.3 is pending
    assert answered(journal(project)) == [("1.1", "yes", ""), ("1.1", "yes", "CAB-1")]
    assert evidence(project)["summary"]["pending_items"] == ["1.3"]

    # the next run of this phase offers 1.1's answer from the journal, and asks only 1.3
    terminal.tmux("kill-session", "-t", "run")
    status.unlink()
    status = start_run(terminal, project)
    screen = terminal.wait_for("resume them? [y]es/[n]o:")
    assert "run pre of this change recorded 1 answer(s):" in screen
    terminal.type("y")
    terminal.answer(MIGRATIONS_PROMPT, "y", "")
    assert exit_status(status) == 0
    assert WINDOW_PROMPT not in terminal.screen()
    resumed = evidence(project, "pre.2")
    assert resumed["verdict"] == "PASSED"
    assert confirmations(resumed) == {"1.1": ("yes", "dana", "CAB-1"), "1.3": ("yes", "dana", "")}
    assert [e["source"] for e in resumed["confirmations"]] == [
        "prompt, resumed from run pre", "prompt"]


def test_b_at_the_note_asks_again_and_ctrl_c_at_the_note_keeps_the_answer(
        terminal: Terminal, project: Path) -> None:
    status = start_run(terminal, project)
    terminal.answer(WINDOW_PROMPT, "y", "b")  # b at the note: 1.1 again, no note "b"
    terminal.answer(WINDOW_PROMPT, "n", times=2)
    terminal.wait_for(NOTE, 2)
    terminal.press("C-c")
    terminal.wait_for("prompt ended: the answers given are kept")
    assert exit_status(status) == 1  # 1.1 answered no: FAILED (1.3 pending)
    assert answered(journal(project)) == [("1.1", "yes", ""), ("1.1", "no", "")]
    document = evidence(project)
    assert confirmations(document) == {"1.1": ("no", "dana", "")}
    assert document["summary"]["pending_items"] == ["1.3"]
