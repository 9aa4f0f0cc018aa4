"""What a team's checks add to maintcheck's own: inventory variables and read-only commands.

Both live beside the team's catalog, in files reviewed like code:

- ``checks/variables.yml``: ``maintcheck_<name>`` variables (name, type, default, meaning),
  validated in the inventory exactly as the shipped ones, listed by ``maintcheck vars``;
- ``checks/commands.yml``: programs beyond the shipped read-only allowlist, each with the verbs
  it may run; a write verb or a shell metacharacter is refused all the same.

>>> team = load(Path("checks"))
>>> team.variables[0].full_name
'maintcheck_ntp_required'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from maintcheck.errors import InputError
from maintcheck.inventory import type_problem
from maintcheck.policy import NEVER, Program, is_shipped, row, write_word
from maintcheck.schema import BY_NAME, PREFIX, Var

VARIABLES_FILE = "variables.yml"
COMMANDS_FILE = "commands.yml"
TYPES = ("str", "int", "float", "bool", "list[str]", "list[int]", "dict[str,str]", "dict")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
PROGRAM = re.compile(r"^/?[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*$")


@dataclass(frozen=True)
class Team:
    """A team's declared variables and commands (both empty when it declares none)."""

    variables: tuple[Var, ...] = ()
    commands: tuple[Program, ...] = ()  # rows added to maintcheck.policy's table
    variables_path: Path | None = None
    commands_path: Path | None = None

    def command(self, program: str) -> Program | None:
        """The declaration for ``program`` (its path or its name), or None."""
        return row(program, self.commands)


def entries(path: Path, key: str) -> list[tuple[int, Any]]:
    """The list under ``key`` in a YAML file, each entry with its line; InputError if bad."""
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text)
    except OSError as exc:
        raise InputError(str(path), [f"cannot read: {exc.strerror}"]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise InputError(f"{path}:{mark.line + 1 if mark else 0}",
                         [f"YAML syntax error: {exc.problem}"]) from None
    if root is None:
        return []
    node = next((v for k, v in root.value if getattr(k, "value", None) == key), None) if (
        isinstance(root, yaml.MappingNode)) else None
    if node is None or not isinstance(node, yaml.SequenceNode):
        raise InputError(str(path), [f"expected `{key}:` holding a list"])
    return [(n.start_mark.line + 1, yaml.safe_load(yaml.serialize(n))) for n in node.value]


def read_variables(path: Path, problems: list[str]) -> list[Var]:
    found: list[Var] = []
    for line, raw in entries(path, "variables"):
        where = f"{path}:{line}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: a variable is a mapping: name, type, default, meaning")
            continue
        unknown = sorted(set(raw) - {"name", "type", "default", "meaning", "items", "secret"})
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; allowed: "
                            "name, type, default, meaning, items, secret")
        name = str(raw.get("name", "")).removeprefix(PREFIX)
        kind = str(raw.get("type", ""))
        meaning = str(raw.get("meaning") or "").strip()
        if not NAME.match(name):
            problems.append(f"{where}: name `{name}` must be lower-case letters, digits and _ "
                            f"(it is read as {PREFIX}<name>)")
            continue
        if PREFIX + name in BY_NAME:
            problems.append(f"{where}: {PREFIX}{name} is maintcheck's own variable; choose "
                            "another name")
            continue
        if any(v.name == name for v in found):
            problems.append(f"{where}: {PREFIX}{name} is declared twice")
            continue
        if kind not in TYPES:
            problems.append(f"{where}: {PREFIX}{name}: type must be one of {', '.join(TYPES)}, "
                            f"got `{kind}`")
            continue
        if not meaning:
            problems.append(f"{where}: {PREFIX}{name}: say what it means (`meaning:`)")
        items = raw.get("items") or []
        if not isinstance(items, list):
            problems.append(f"{where}: {PREFIX}{name}: items is a list of item ids")
            items = []
        default = raw.get("default", empty(kind))
        var = Var(name, kind, default, meaning, tuple(str(i) for i in items),
                  secret=raw.get("secret") is True)
        problem = type_problem(var, default)
        if problem:
            problems.append(f"{where}: {PREFIX}{name}: the default {problem}")
            continue
        found.append(var)
    return found


def empty(kind: str) -> Any:
    """The default of a variable that declares none: nothing of its type."""
    return {"str": "", "int": 0, "float": 0.0, "bool": False}.get(
        kind, [] if kind.startswith("list") else {})


def read_commands(path: Path, problems: list[str]) -> list[Program]:
    found: list[Program] = []
    for line, raw in entries(path, "commands"):
        where = f"{path}:{line}"
        if not isinstance(raw, dict):
            problems.append(f"{where}: a command is a mapping: program, verbs, reason")
            continue
        unknown = sorted(set(raw) - {"program", "verbs", "reason"})
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; allowed: "
                            "program, verbs, reason")
        program = str(raw.get("program") or "")
        name = Path(program).name
        verbs = raw.get("verbs") or []
        reason = str(raw.get("reason") or "").strip()
        if not PROGRAM.match(program):
            problems.append(f"{where}: program `{program}` must be a program's name or path")
            continue
        if name in NEVER or name.startswith("python"):
            problems.append(f"{where}: {name} runs anything, or writes whatever its arguments: "
                            "it cannot be declared read-only")
            continue
        if is_shipped(program):
            problems.append(f"{where}: {name} is on maintcheck's own allowlist already, with its "
                            "own rules; declare only other programs")
            continue
        if not isinstance(verbs, list) or not all(isinstance(v, str) for v in verbs):
            problems.append(f"{where}: {name}: verbs is a list of words, e.g. [show, status]")
            continue
        written = [v for v in verbs if write_word(v)]
        if written:
            problems.append(f"{where}: {name}: {', '.join(written)} would write; only reading "
                            "verbs can be declared")
            continue
        if not reason:
            problems.append(f"{where}: {name}: say why a check needs it (`reason:`)")
        if any(c.program == program for c in found):
            problems.append(f"{where}: {name} is declared twice")
            continue
        found.append(Program(program, verbs=tuple(verbs), write_words=True, reason=reason,
                             origin=where))
    return found


def load(checks: Path) -> Team:
    """The team's declarations beside its catalog; every problem, with file and line, at once."""
    problems: list[str] = []
    here = Path.cwd()
    if checks.is_absolute() and here in checks.parents:  # messages and audit: as the team
        checks = checks.relative_to(here)                # writes it, checks/commands.yml:2
    variables_path, commands_path = checks / VARIABLES_FILE, checks / COMMANDS_FILE
    variables = read_variables(variables_path, problems) if variables_path.exists() else []
    commands = read_commands(commands_path, problems) if commands_path.exists() else []
    if problems:
        raise InputError("the team's declarations", problems)
    return Team(tuple(variables), tuple(commands),
                variables_path if variables_path.exists() else None,
                commands_path if commands_path.exists() else None)
