"""No run destroys an earlier run's evidence, and answers given at the prompt survive."""

from __future__ import annotations

import hashlib
import html
import json
import os
import pty
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import checklist_project
import pytest
from test_plugin import read_until

from maintcheck import cli, exitcodes, runs
from maintcheck.signing import VerificationError, verify_directory

pytest_plugins = ["pytester"]

@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    return checklist_project.make(pytester, "RUNS-1")


def folder(project: pytest.Pytester) -> Path:
    return project.path / "reports" / "RUNS-1"


def hashes(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()}


def pytest_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "checks/pre", "--sign-key", "ada.key",
            "--sign-cert", "ada.crt", *args]


def complete_run(project: pytest.Pytester) -> dict[str, str]:
    """A complete, confirmed, signed pre run; the hashes of what it wrote."""
    done = subprocess.run(pytest_argv("--answers", "answers.yml"), cwd=project.path,
                          capture_output=True, text=True, timeout=120, check=False,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    before = hashes(folder(project))
    assert {"pre.json", "pre.html", "pre.xml", "baseline.json", "pre.journal.jsonl",
            "pre.manifest.json", "pre.manifest.json.p7s"} == set(before)
    return before


def still_there(project: pytest.Pytester, before: dict[str, str]) -> None:
    now = hashes(folder(project))
    assert {name: now.get(name) for name in before} == before


class Terminal:
    """A pytest run at a terminal (a pty), answered by the test."""

    def __init__(self, project: pytest.Pytester) -> None:
        leader, follower = pty.openpty()
        self.leader = leader
        self.proc = subprocess.Popen(pytest_argv("--operator", "dana"), cwd=project.path,
                                     stdin=follower, stdout=follower, stderr=follower)
        os.close(follower)
        self.seen = b""

    def expect(self, needle: bytes) -> None:
        self.seen += read_until(self.leader, needle)
        assert needle in self.seen, self.seen.decode(errors="replace")[-2000:]

    def say(self, line: bytes) -> None:
        os.write(self.leader, line + b"\n")

    def close(self) -> int:
        """Read the run's output to its end (a full pty would stall it); its exit status."""
        try:
            deadline = time.monotonic() + 120
            while self.proc.poll() is None and time.monotonic() < deadline:
                self.seen += read_until(self.leader, b"\0", timeout=0.5)
            return self.proc.wait(timeout=10)
        finally:
            self.proc.kill()
            os.close(self.leader)


def answer_first_then(project: pytest.Pytester, stop: signal.Signals) -> Terminal:
    """Answer 1.1 at the prompt, then stop the run at 1.3's question with ``stop``."""
    term = Terminal(project)
    term.expect(b"[1.1]")
    term.say(b"y")
    term.expect(b"note")
    term.say(b"checked the CAB calendar")
    term.expect(b"[1.3]")
    # readline writes the question before it starts waiting: a signal in between is seen only
    # at the next key press. An operator is never that fast; the test waits as they would.
    time.sleep(0.5)
    term.proc.send_signal(stop)
    return term


def test_a_narrowed_rerun_leaves_every_earlier_file_as_it_was(project: pytest.Pytester) -> None:
    before = complete_run(project)
    done = subprocess.run(pytest_argv("--no-prompt", "-k", "named"), cwd=project.path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == exitcodes.BY_VERDICT["INCOMPLETE"], done.stdout
    still_there(project, before)
    second = json.loads((folder(project) / "pre.2.json").read_text())
    assert second["selection"] == {"partial": True, "narrowed_by": [
        "-k named", "4 check(s) deselected"]}
    assert second["run"] == {"label": "pre.2", "number": 2, "latest_complete": "pre",
                             "journal": "pre.2.journal.jsonl"}
    assert "latest complete pre run: pre" in done.stdout
    page = html.unescape((folder(project) / "pre.2.html").read_text())
    assert ("run pre.2 (partial: -k named, 4 check(s) deselected); latest complete pre run: pre"
            in page)
    verified = verify_directory(folder(project))
    assert [r.label for r in verified.runs] == ["pre", "pre.2"]
    assert verified.latest_complete == {"pre": "pre"}


def test_ctrl_c_at_the_prompt_keeps_the_answers_given_and_the_next_run_offers_them(
        project: pytest.Pytester) -> None:
    before = complete_run(project)
    term = answer_first_then(project, signal.SIGINT)
    assert term.close() == exitcodes.BY_VERDICT["INCOMPLETE"]
    assert b"the answers given are kept" in term.seen
    still_there(project, before)
    journal = runs.read_journal(folder(project) / "pre.2.journal.jsonl")
    # the answer as typed, then again with its note: the later record is the answer
    assert [(r["event"], r.get("item"), r.get("note")) for r in journal] == [
        ("started", None, None), ("answer", "1.1", ""),
        ("answer", "1.1", "checked the CAB calendar"), ("finished", None, None)]
    document = json.loads((folder(project) / "pre.2.json").read_text())
    assert [c["item"] for c in document["confirmations"]] == ["1.1"]
    assert document["summary"]["pending_items"] == ["1.3"]

    term = Terminal(project)
    term.expect(b"resume them?")
    assert b"run pre.2 of this change recorded 1 answer(s)" in term.seen
    assert b"[1.1] yes by dana at " in term.seen
    term.say(b"y")
    term.expect(b"[1.3]")  # only what is still open is asked
    term.say(b"y")
    term.expect(b"note")
    term.say(b"")
    assert term.close() == exitcodes.BY_VERDICT["PASSED"]
    third = json.loads((folder(project) / "pre.3.json").read_text())
    confirmations = {c["item"]: c for c in third["confirmations"]}
    assert confirmations["1.1"]["source"] == "prompt, resumed from run pre.2"
    assert confirmations["1.1"]["note"] == "checked the CAB calendar"
    assert third["verdict"] == "PASSED" and third["run"]["latest_complete"] == "pre.3"
    still_there(project, before)


def test_a_crash_at_the_prompt_keeps_the_answers_given(project: pytest.Pytester) -> None:
    before = complete_run(project)
    term = answer_first_then(project, signal.SIGKILL)
    assert term.close() == -signal.SIGKILL
    still_there(project, before)
    # the journal is all the crashed run left: its answer is on disk
    assert {p.name for p in folder(project).iterdir()} - set(before) == {"pre.2.journal.jsonl"}
    journal = runs.read_journal(folder(project) / "pre.2.journal.jsonl")
    assert [r.get("item") for r in journal if r["event"] == "answer"] == ["1.1", "1.1"]
    term = Terminal(project)
    term.expect(b"resume them?")
    assert b"run pre.2 of this change recorded 1 answer(s)" in term.seen
    term.say(b"n")
    term.expect(b"[1.1]")  # declined: asked again
    time.sleep(0.5)
    term.proc.send_signal(signal.SIGINT)
    term.close()
    still_there(project, before)
    # the next signed run lists the crashed run's journal, so verify accepts the folder
    assert "pre.2.journal.jsonl" in verify_directory(folder(project)).files


def test_signed_by_default_with_the_operators_key(project: pytest.Pytester,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """No --sign-key: the run says how to make a key; once `maintcheck keygen` made one at its
    default place (pytester's HOME is the project), every run is signed with it."""
    home = project.path
    result = project.runpytest("checks/pre", "--answers", "answers.yml")
    result.stdout.fnmatch_lines([("*evidence NOT signed (manifest pre.manifest.json only): no key "
                                 "at ~/.maintcheck/operator.key; make one with `maintcheck "
                                 "keygen --name 'Your Name'`*")])
    assert "NOT SIGNED: no operator key" in (folder(project) / "pre.html").read_text()
    assert cli.main(["keygen", "--name", "Ada Operator"]) == 0
    out = capsys.readouterr().out
    assert f"key: {home}/.maintcheck/operator.key (mode 0600)" in out
    assert stat.S_IMODE((home / ".maintcheck").stat().st_mode) == 0o700
    result = project.runpytest("checks/pre", "--answers", "answers.yml")
    result.stdout.fnmatch_lines(["*signed: *pre.2.manifest.json.p7s by CN=Ada Operator at *"])
    page = html.unescape((folder(project) / "pre.2.html").read_text())
    verified = verify_directory(folder(project))
    assert verified.runs[-1].label == "pre.2" and verified.signer == "CN=Ada Operator"
    assert (f"signed by CN=Ada Operator at {verified.signed_at:%Y-%m-%d %H:%M:%S} UTC (the "
            f"signer's clock), SHA-256 fingerprint {verified.fingerprint}") in page


def test_a_folder_from_before_journals_is_never_overwritten(project: pytest.Pytester) -> None:
    """pre.json, baseline.json and MANIFEST.json written by an earlier maintcheck, without a
    journal: the new run takes the next label and leaves them as they are."""
    old = folder(project)
    old.mkdir(parents=True)
    for name in ("pre.json", "pre.html", "pre.xml", "baseline.json", "MANIFEST.json"):
        (old / name).write_text(f"{name} of an earlier maintcheck\n")
    before = hashes(old)
    result = project.runpytest("checks/pre", "--answers", "answers.yml")
    result.stdout.fnmatch_lines(["*evidence: *pre.2.json (run pre.2*",
                                 ("*not written by any run, so not signed: MANIFEST.json, "
                                 "baseline.json, pre.html, pre.json, pre.xml*")])
    still_there(project, before)
    with pytest.raises(VerificationError, match="MANIFEST.json: not covered by any signature "
                       r"that verifies \(a maintcheck-manifest/1 seal of the whole folder"):
        verify_directory(old)
