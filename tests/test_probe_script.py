"""probe.sh run locally: what it prints parses into the facts the checks read."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from maintcheck.facts import parse, render_probe

EMPTY = {name: [] for name in ("UNITS", "PATHS", "CONTENTS", "SYNTAX", "GLOBS", "USERS",
                               "SUDOERS", "SUDO_USERS", "NAMES", "CONNECT")}
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


def test_paths_are_stated_and_hashed_each_under_its_own_section(tmp_path: Path) -> None:
    """One stat and one sha256sum serve every path; each section gets its own lines only."""
    (tmp_path / "a.sh").write_text("echo a\n")
    (tmp_path / "a.sh.old").write_text("echo old\n")  # a name that starts like another
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "inside").write_text("")
    (tmp_path / "secret").write_text("x")
    (tmp_path / "secret").chmod(0o000)
    paths = [str(tmp_path / n) for n in ("a.sh", "a.sh.old", "d", "missing", "secret")]
    facts = parse("local", probe(PATHS=paths))
    a, old, d, missing, secret = (facts.path(p) for p in paths)
    assert (a.kind, a.size) == ("regular file", 7)
    assert a.sha256 == _sha(tmp_path / "a.sh") and old.sha256 == _sha(tmp_path / "a.sh.old")
    assert d.kind == "directory" and d.entries == (str(tmp_path / "d" / "inside"),)
    assert not missing.exists
    assert secret.exists and secret.mode == "0"
    # root reads it anyway; anyone else gets no hash rather than a wrong one
    assert secret.sha256 == (_sha(tmp_path / "secret") if os.getuid() == 0 else "")


def test_the_newest_backup_is_hashed_and_its_sidecar_read(tmp_path: Path) -> None:
    for i, name in enumerate(["b-1.tar", "b-2.tar", "b-3.tar"]):
        (tmp_path / name).write_bytes(b"y" * i)
        os.utime(tmp_path / name, (2_000_000, 2_000_000))  # a tie: the last name wins
    (tmp_path / "b-dir.tar").mkdir()  # not a file: not a backup
    newest = tmp_path / "b-3.tar"
    (tmp_path / "b-3.tar.sha256").write_text(f"{_sha(newest)}  b-3.tar\n")
    glob = f"{tmp_path}/b-*.tar"
    found = parse("local", probe(GLOBS=[glob])).backups(glob)
    assert [n for _, _, n in found.files] == [str(tmp_path / f"b-{i}.tar") for i in (1, 2, 3)]
    assert found.newest == (2_000_000, 2, str(newest))
    assert found.newest_sha256 == _sha(newest) == found.sidecar_sha256


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_directory_lists_its_first_entries_dot_files_and_dangling_links_too(tmp_path: Path
                                                                             ) -> None:
    """A directory's entries come from the shell's own globbing, capped at 20."""
    many, few = tmp_path / "many", tmp_path / "few"
    many.mkdir()
    few.mkdir()
    for i in range(25):
        (many / f"f{i:02}").write_text("")
    (few / ".hidden").write_text("")
    (few / "..odd").write_text("")
    (few / "gone").symlink_to(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    facts = parse("local", probe(PATHS=[str(many), str(few), str(tmp_path / "empty")]))
    assert len(facts.path(str(many)).entries) == 20
    assert sorted(facts.path(str(few)).entries) == [str(few / n) for n in ("..odd", ".hidden",
                                                                          "gone")]
    assert facts.path(str(tmp_path / "empty")).entries == ()


def test_cpus_processes_and_listening_ports_match_this_machine() -> None:
    """Read without getconf, ps or a plain ss, they agree with what Python sees here."""
    facts = parse("local", probe())
    assert facts.cpus == os.cpu_count()  # the online CPUs, as getconf _NPROCESSORS_ONLN
    assert "sh" in facts.processes  # the probe itself
    assert facts.processes >= {
        Path(f"/proc/{pid}/comm").read_text().strip() for pid in ("1", str(os.getpid()))}
    listening = subprocess.run(["ss", "-Hltn"], capture_output=True, text=True, check=True)
    expected = {int(line.split()[3].rpartition(":")[2]) for line in listening.stdout.splitlines()}
    assert facts.listening_ports == expected


def test_an_online_cpu_list_is_counted() -> None:
    text = "@@maintcheck nproc\nonline 0-3,6,8-9\n@@maintcheck end\n"
    assert parse("h", text).cpus == 7
    assert parse("h", "@@maintcheck nproc\n4\n@@maintcheck end\n").cpus == 4  # getconf's answer
