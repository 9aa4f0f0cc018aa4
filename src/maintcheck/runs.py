"""Each run's own files in the evidence folder, and its answer journal: append-only evidence.

A run of a phase claims the next free number by creating its journal, exclusively. The first run
of ``pre`` is ``pre`` (``pre.json``, ``pre.html``, ``pre.xml``, ``baseline.json``), the second
``pre.2`` (``pre.2.json``, ..., ``pre.2.baseline.json``), and so on. A run writes only files of
its own label and never touches another run's.

>>> slot = claim(Path("reports/CHG-1"), "pre", {"operator": "dana"})
>>> slot.label, slot.files("json")
('pre', 'pre.json')
>>> latest_complete(Path("reports/CHG-1"), "pre")
'pre'
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maintcheck.catalog import PHASES

__all__ = ["JOURNAL", "RUN_FILE", "Journal", "Slot", "baseline_name", "claim", "evidence_of",
           "label_of", "labels", "latest", "latest_complete", "owner", "pre_run", "read_journal",
           "running"]

JOURNAL = "journal.jsonl"
# what a run writes, by the suffix after its label
SUFFIXES = ("json", "html", "xml", JOURNAL, "baseline.json", "manifest.json",
            "manifest.json.p7s", "manifest.json.p7s.tsr")
LABEL = r"(?P<label>(?P<phase>(?:pre|during|post)(?:\+(?:during|post))*)(?:\.(?P<n>[1-9]\d*))?)"
RUN_FILE = re.compile(rf"^{LABEL}\.(?P<kind>{'|'.join(re.escape(s) for s in SUFFIXES)})$")
MAX_RUNS = 9999
HOST = socket.gethostname()


@dataclass(frozen=True)
class Slot:
    """A run's place in the folder: ``Slot(Path("reports/CHG-1"), "pre", 2).label == "pre.2"``."""

    directory: Path
    phase: str
    number: int

    @property
    def label(self) -> str:
        return label_of(self.phase, self.number)

    def files(self, kind: str) -> str:
        """The name of this run's file of a kind: ``json``, ``html``, ``baseline.json``, ..."""
        if kind == "baseline.json":
            return baseline_name(self.label)
        return f"{self.label}.{kind}"

    def path(self, kind: str) -> Path:
        return self.directory / self.files(kind)

    @property
    def journal(self) -> Journal:
        return Journal(self.path(JOURNAL))


def label_of(phase: str, number: int) -> str:
    return phase if number == 1 else f"{phase}.{number}"


def baseline_name(label: str) -> str:
    """``baseline.json`` for the first pre run (post's long-standing place to look), else
    ``<label>.baseline.json``."""
    return "baseline.json" if label == "pre" else f"{label}.baseline.json"


def owner(name: str) -> tuple[str, str] | None:
    """The run label and the kind of a file name a run writes; None for any other name."""
    if name == "baseline.json":
        return "pre", "baseline.json"
    found = RUN_FILE.match(name)
    if found is None or found["n"] == "1":  # run 1 has no number in its names
        return None
    return found["label"], found["kind"]


class Journal:
    """A run's append-only record: its start, each answer as given, its end (one JSON a line).

    Every line is flushed to the disk before ``append`` returns: Ctrl-C, a crash or a lost
    terminal keeps every answer already given.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, record: Mapping[str, Any]) -> None:
        line = (json.dumps(dict(record), sort_keys=True, ensure_ascii=False) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The records of a journal; a line cut short by a crash is left out."""
    records = []
    try:
        lines = path.read_bytes().splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def claim(directory: Path, phase: str, started: Mapping[str, Any]) -> Slot:
    """The next free run of ``phase`` in ``directory``, claimed by creating its journal."""
    directory.mkdir(parents=True, exist_ok=True)
    # a label whose files exist is taken, journal or not (a folder from before journals)
    taken = {found[0] for name in os.listdir(directory) if (found := owner(name))}
    for number in range(1, MAX_RUNS + 1):
        slot = Slot(directory, phase, number)
        if slot.label in taken:
            continue
        try:
            fd = os.open(slot.path(JOURNAL), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        slot.journal.append({"event": "started", "run": slot.label, "host": HOST,
                             "pid": os.getpid(), **started})
        folder = os.open(directory, os.O_RDONLY)  # the claim itself survives a crash too
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        return slot
    raise OSError(f"{directory}: {MAX_RUNS} runs of {phase} already; start a new change")


def labels(directory: Path, phase: str | None = None) -> list[str]:
    """Every run's label in ``directory`` (of ``phase`` when given), oldest first."""
    found = []
    for path in directory.glob(f"*.{JOURNAL}"):
        parsed = RUN_FILE.match(path.name)
        if parsed is None or parsed["n"] == "1" or (phase and parsed["phase"] != phase):
            continue
        order = tuple(PHASES.index(p) for p in parsed["phase"].split("+"))
        found.append((order, int(parsed["n"] or 1), parsed["label"]))
    return [label for _, _, label in sorted(found)]


def evidence_of(directory: Path, label: str) -> dict[str, Any] | None:
    """A run's evidence document, or None when it wrote none (interrupted before the end)."""
    try:
        document = json.loads((directory / f"{label}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def latest(directory: Path, phase: str) -> Path | None:
    """The evidence JSON of the latest run of ``phase`` that wrote one."""
    for label in reversed(labels(directory, phase)):
        if (directory / f"{label}.json").is_file():
            return directory / f"{label}.json"
    return None


def latest_complete(directory: Path, phase: str) -> str | None:
    """The label of the latest run of ``phase`` that ran the whole phase (not partial), whatever
    its verdict; None when there is none."""
    for label in reversed(labels(directory, phase)):
        document = evidence_of(directory, label)
        if document is not None and not document.get("selection", {}).get("partial", True):
            return label
    return None


def pre_run(directory: Path) -> str:
    """The pre run that post compares with: the latest complete one, else the latest one, else
    ``pre`` (whose files are then missing, and the comparison says so)."""
    return latest_complete(directory, "pre") or (labels(directory, "pre") or ["pre"])[-1]


def running(directory: Path) -> set[str]:
    """The runs of this folder still going on: started on this host by a live process, and not
    finished. Another run seals neither their files nor their absence."""
    found = set()
    for label in labels(directory):
        journal = read_journal(directory / f"{label}.{JOURNAL}")
        start = journal[0] if journal else {}
        if any(r.get("event") == "finished" for r in journal) or start.get("host") != HOST:
            continue
        pid = start.get("pid")
        if isinstance(pid, int) and pid != os.getpid() and _alive(pid):
            found.add(label)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
