"""The README documents what the code does."""

from __future__ import annotations

from pathlib import Path

import pytest

from maintcheck.docs import FIELDS, READ_ONLY_BEGIN, READ_ONLY_END, expectation_fields, splice
from maintcheck.inventory import Expectations
from maintcheck.schema import VARIABLES

ROOT = Path(__file__).resolve().parents[1]


def test_readme_reference_matches_the_schema() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert splice(readme) == readme, "run: python -m maintcheck.docs"


def test_readme_read_only_section_is_the_policys_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Read-only by construction")[1].split("\n## ")[0]
    generated = section.split(READ_ONLY_BEGIN)[1].split(READ_ONLY_END)[0]
    assert "| `systemctl` | its verbs `cat`, `get-default`, `is-active`" in generated
    assert "| `sshd` | in a test mode: `-t`, `-T`, `-V` | — |" in generated
    assert "`pg_wal_replay_*`" in generated and "`sudo` (never `-e`" in generated


def test_a_readme_without_the_markers_is_refused_not_appended_to() -> None:
    with pytest.raises(ValueError, match="lacks <!-- readonly:begin"):
        splice((ROOT / "README.md").read_text(encoding="utf-8").replace(READ_ONLY_BEGIN, ""))


def test_typed_expectations_match_the_schema() -> None:
    assert FIELDS.read_text(encoding="utf-8") == expectation_fields(), (
        "run: python -m maintcheck.docs")


def test_every_variable_reads_as_an_attribute() -> None:
    """No variable is hidden behind a method of the same name (``expect.items``)."""
    expect = Expectations({v.name: v.default for v in VARIABLES})
    assert [v.name for v in VARIABLES if getattr(expect, v.name) is not v.default] == []


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```")[1].splitlines()[1:]
    assert [line.split("#")[0].strip() for line in block if line.strip()] == [
        "make pre", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
