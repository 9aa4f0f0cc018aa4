"""A new team, as the issue tries it: a wheel in a fresh virtualenv outside the repository,
``maintcheck init``, an edited checklist imported, and ``pytest checks/pre`` run.

Offline: the wheel is built with ``--no-build-isolation --no-index`` by this venv's setuptools,
and the fresh venv gets maintcheck from the wheel alone (``--no-deps --no-index``); its
dependencies are this venv's, through a ``.pth`` line, which loads no editable install.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from test_mdimport import SHIPPED as SEED
from test_mdimport import edited

ROOT = Path(__file__).resolve().parents[1]
NOT_COPIED = shutil.ignore_patterns(".venv", ".git", "reports", "build", "dist", "*.egg-info",
                                    "__pycache__", ".mypy_cache", ".ruff_cache", ".hypothesis",
                                    "bench", "tests")


def run(argv: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            stdin=subprocess.DEVNULL, check=False)
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv with maintcheck installed from a wheel built from this checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=NOT_COPIED)
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "--no-index", "-q", "-w", str(tmp / "dist"), str(source)], tmp)
    assert built.returncode == 0, built.stderr
    wheel = next((tmp / "dist").glob("maintcheck-*.whl"))
    venv = tmp / "venv"
    assert run([sys.executable, "-m", "venv", str(venv)], tmp).returncode == 0
    site = Path(run([str(venv / "bin" / "python"), "-c",
                     "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    tmp).stdout.strip())
    (site / "maintcheck-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps",
                     "--no-index", "-q", str(wheel)], tmp)
    assert installed.returncode == 0, installed.stderr
    return venv


def test_a_team_starts_imports_and_runs_from_the_wheel(fresh_venv: Path,
                                                       tmp_path: Path) -> None:
    python = str(fresh_venv / "bin" / "python")
    where = run([python, "-c", "import maintcheck; print(maintcheck.__file__)"], tmp_path)
    assert where.stdout.startswith(str(fresh_venv)), where.stdout  # the wheel's, not the repo's
    started = run([str(fresh_venv / "bin" / "maintcheck"), "init", "team"], tmp_path)
    assert started.returncode == 0, started.stderr
    team = tmp_path / "team"
    assert {p.name for p in team.iterdir()} >= {"checks", "inventory", "pytest.ini",
                                                 "conftest.py", "reports"}
    again = run([str(fresh_venv / "bin" / "maintcheck"), "init", "team"], tmp_path)
    assert again.returncode == 2 and "not an empty folder" in again.stderr

    markdown = team / "checks" / "checklist.md"
    markdown.write_text(SEED, encoding="utf-8")  # the user's checklist, whatever ours became
    first = run([str(fresh_venv / "bin" / "maintcheck"), "checklist", "import",
                 "checks/checklist.md"], team)
    assert first.returncode == 0, first.stderr
    markdown.write_text(edited(SEED), encoding="utf-8")
    imported = run([str(fresh_venv / "bin" / "maintcheck"), "checklist", "import",
                    "checks/checklist.md"], team)
    assert imported.returncode == 0, imported.stderr
    assert "added 2.7: NTP time synchronised on every host" in imported.stdout
    assert "added 15.7: Customer support briefed" in imported.stdout
    assert "renamed 2.3: 'Database replication status healthy'" in imported.stdout
    assert "kept 2.4: Backup systems operational: gone from the Markdown" in imported.stdout

    pre = run([python, "-m", "pytest", "checks/pre", "--no-prompt", "-q"], team)
    assert pre.returncode not in (2, 3, 4), pre.stdout + pre.stderr  # ran: no usage error
    doc = json.loads((team / "reports" / "LOCAL" / "pre.json").read_text())
    items = {i["id"]: i for i in doc["items"]}
    for added in ("2.7", "15.7"):
        assert [(o["test"], o["outcome"]) for o in items[added]["outcomes"]] == [
            ("question", "pending")]
    assert items["2.3"]["title"] == "Database replication healthy"
    assert items["2.3"]["outcomes"] and not any(o["manual"] for o in items["2.3"]["outcomes"])
    assert items["2.4"]["outcomes"]  # kept until the team removes its check
    assert {"2.7", "15.7"} <= set(doc["summary"]["without_automated_check"])
    assert "no automated check:" in pre.stdout and "2.7, " in pre.stdout
