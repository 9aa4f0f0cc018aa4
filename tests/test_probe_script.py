"""probe.sh run locally: what it prints parses into the facts the checks read."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from maintcheck.facts import parse, render_probe

EMPTY = {name: [] for name in ("UNITS", "PATHS", "CONTENTS", "SYNTAX", "GLOBS", "USERS", "NAMES",
                               "CONNECT")}
OFF = {name: "no" for name in ("SECURITY_UPDATES", "FIREWALL", "LOGS")}


def probe(**lists: list[str]) -> str:
    script = render_probe({**EMPTY, **OFF, **lists})
    return subprocess.run(["sh", "-s"], input=script, capture_output=True, text=True,
                          timeout=60, check=True).stdout


def test_a_backup_glob_is_reported_under_the_glob_with_its_newest_file(tmp_path: Path) -> None:
    """The glob expands to its files, but names its section: it is not expanded in the list."""
    for i, name in enumerate(["b-1.tar", "b-2.tar"]):
        (tmp_path / name).write_bytes(b"x" * 10)
        os.utime(tmp_path / name, (1_000_000 + i, 1_000_000 + i))
    glob = f"{tmp_path}/b-*.tar"
    facts = parse("local", probe(GLOBS=[glob], PATHS=[f"{tmp_path}/*"]))
    assert [path for _, _, path in facts.backups(glob).files] == [
        f"{tmp_path}/b-1.tar", f"{tmp_path}/b-2.tar"]
    assert facts.backups(glob).newest == (1_000_001, 10, f"{tmp_path}/b-2.tar")
    assert not facts.path(f"{tmp_path}/*").exists  # a path is a path, never a pattern
