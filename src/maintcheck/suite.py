"""What ``checks/`` implements, read from its source without importing or running it."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CheckRef:
    """One test function and the checklist item it implements."""

    item: str
    path: str
    function: str
    manual: bool
    line: int

    @property
    def nodeid(self) -> str:
        return f"{self.path}::{self.function}"


def marker_name(decorator: ast.expr) -> tuple[str, list[ast.expr]]:
    """``@pytest.mark.checklist("2.3")`` -> ("checklist", [args])."""
    call = decorator if isinstance(decorator, ast.Call) else None
    target = call.func if call else decorator
    if isinstance(target, ast.Attribute):
        return target.attr, list(call.args) if call else []
    return "", []


def scan(checks: Path, root: Path | None = None) -> list[CheckRef]:
    """Every ``test_*`` function under ``checks`` with its checklist marker."""
    refs = []
    for file in sorted(checks.rglob("test_*.py")):
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        shown = file.relative_to(root) if root and root in file.parents else file
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test"):
                continue
            marks = dict(marker_name(d) for d in node.decorator_list)
            args = marks.get("checklist", [])
            item = args[0].value if args and isinstance(args[0], ast.Constant) else ""
            refs.append(CheckRef(str(item), str(shown), node.name, "manual" in marks,
                                 node.lineno))
    return refs
