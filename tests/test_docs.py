"""The README documents what the code does."""

from __future__ import annotations

from pathlib import Path

from maintcheck.docs import splice

ROOT = Path(__file__).resolve().parents[1]


def test_readme_reference_matches_the_schema() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert splice(readme) == readme, "run: python -m maintcheck.docs"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```")[1].splitlines()[1:]
    assert [line.split("#")[0].strip() for line in block if line.strip()] == [
        "make pre", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
