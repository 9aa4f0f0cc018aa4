"""Read an Ansible inventory through ansible-core, as ``ansible-inventory --list`` means it.

Every problem found (unparseable files, unknown ``maintcheck_`` keys, wrong types, impossible
thresholds) is collected with its file and line, and raised once as :class:`InputError`.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import io
import math
import os
import re
import shlex
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from maintcheck.connection import CONNECTION_VARS, Connection, connection_of
from maintcheck.errors import CONTROL, InputError, printable
from maintcheck.expectation_fields import ExpectationFields
from maintcheck.redact import (
    COMMAND_LINE_VARS,
    Redactor,
    Vaulted,
    command_line_secrets,
    is_secret_name,
)
from maintcheck.schema import BY_NAME, ITEM_ID, PREFIX, Var, parse_duration
from maintcheck.secret import Secret

# ansible reads its settings once, at import: a source it cannot parse must fail, not warn
os.environ.setdefault("ANSIBLE_INVENTORY_UNPARSED_FAILED", "True")
os.environ.setdefault("ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED", "True")
os.environ.setdefault("ANSIBLE_LOCALHOST_WARNING", "False")
# as ansible-core enables them by default; a script inventory runs on this machine, as it does
# for ansible: it is code, to be reviewed as code
os.environ.setdefault("ANSIBLE_INVENTORY_ENABLED", "host_list,script,auto,yaml,ini,toml")

# Limits on input (README, "Limits"): refused at once, before ansible reads anything
# ansible-core reads about 4 MiB of hosts in 16 s here: beyond 1 MiB the run says it is reading
MAX_INVENTORY_BYTES = 8 * 1024 * 1024  # every file of the inventory together
NOTICE_BYTES = 1024 * 1024
MAX_INVENTORY_FILES = 10_000
MAX_EXPANDED_VALUES = 1_000_000  # values in one file once its YAML aliases are expanded
MAX_VALUE_CHARS = 64 * 1024  # one string value, anywhere in a host's variables
PERCENT_VARS = ("disk_max_percent", "inode_max_percent", "memory_max_percent")
YAML_SUFFIXES = (".yml", ".yaml", ".json")
# ansible's own variables, not the inventory's
MAGIC_VARS = ("inventory_", "group_names", "groups", "omit", "playbook_dir")


class Expectations(ExpectationFields, Mapping[str, Any]):
    """A host's ``maintcheck_`` variables with documented defaults: ``expect.disk_max_percent``.

    Each of maintcheck's variables is a typed attribute (:class:`ExpectationFields`, generated
    from the schema), so that mypy names a misspelt one. A team's own variable reads the same
    way at run time; mypy knows it not, and takes ``expect["name"]`` (Any)."""

    def __init__(self, values: Mapping[str, Any], origins: Mapping[str, str] | None = None) -> None:
        self._values = dict(values)
        self._origins = dict(origins or {})

    def origin(self, name: str) -> str:
        """``file:line`` that set ``maintcheck_<name>``, or "inventory" when unknown."""
        return self._origins.get(PREFIX + name) or "inventory"

    if not TYPE_CHECKING:  # seen by mypy, it would make any name an attribute: a typo too

        def __getattr__(self, name: str) -> Any:
            try:
                return self._values[name]
            except KeyError:
                raise AttributeError(f"no inventory variable {PREFIX}{name}") from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        # pytest prints a failing check's arguments (-l): never a value, secrets among them
        # a team's variable (not in BY_NAME) is never listed: its default is not known here
        set_here = sorted(k for k, v in self._values.items()
                          if v != getattr(BY_NAME.get(PREFIX + k), "default", v)
                          and not (isinstance(v, Secret) and not v))
        return f"Expectations({len(self._values)} variables, set: {', '.join(set_here) or '-'})"


@dataclass(frozen=True)
class Host:
    """One inventory host and how to reach it: ``Host("web-01", "10.0.0.5", 22, ...)``."""

    name: str
    address: str
    port: int
    user: str | None
    identity: str | None
    become: bool
    local: bool
    groups: tuple[str, ...]
    expect: Expectations = field(repr=False, compare=False)
    variables: Mapping[str, Any] = field(repr=False, compare=False)
    # ansible_ssh_common_args + ansible_ssh_extra_args (a ProxyJump, say), after maintcheck's own
    ssh_args: tuple[str, ...] = field(default=(), compare=False)
    become_user: str | None = None  # sudo's -u; None: root

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        # its ssh arguments may hold a password (sshpass -p): pytest -l prints this
        return f"Host({self.name!r}, {self.address}:{self.port})"


@dataclass(frozen=True)
class Inventory:
    """The hosts of an inventory, in inventory order, and how to select them."""

    path: Path
    sha256: str
    hosts: tuple[Host, ...]
    pattern_hosts: Any = field(repr=False, compare=False)  # callable: pattern -> host names

    def select(self, pattern: str | None) -> list[Host]:
        """Hosts matching an Ansible host pattern (``web:&prod``, ``!db``), in order."""
        if not pattern:
            return list(self.hosts)
        names = set(self.pattern_hosts(pattern))
        return [h for h in self.hosts if h.name in names]

    def host(self, name: str) -> Host:
        return next(h for h in self.hosts if h.name == name)

    def shared(self, name: str) -> Any:
        """A variable meant for the whole run (change id, contacts): the first host's value."""
        values = [h.expect[name] for h in self.hosts if h.expect[name]]
        return values[0] if values else BY_NAME[PREFIX + name].default


def load(path: str | Path, extra: tuple[Var, ...] = ()) -> Inventory:
    """Load and validate an inventory file or directory; raises :class:`InputError`.

    ``extra``: the team's own variables (``checks/variables.yml``), validated as maintcheck's."""
    source = Path(path)
    if not source.exists():
        raise InputError(str(source), ["inventory not found"])
    if not (source.is_file() or source.is_dir()):
        raise InputError(str(source), ["not an inventory: neither a file nor a folder"])
    problems, size = size_problems(source)
    if problems:
        raise InputError(str(source), problems)
    if size > NOTICE_BYTES:  # a large inventory takes ansible seconds: say so, not hang silently
        sys.stderr.write(f"maintcheck: reading the inventory {source} ({size / 2**20:.1f} MiB) "
                         "with ansible-core...\n")
    redactor = Redactor()
    problems = syntax_problems(source, redactor)
    if problems:
        raise InputError(str(source), [redactor.text(p) for p in problems])
    manager, variables = read_with_ansible(source, redactor)
    known = {**BY_NAME, **{v.full_name: v for v in extra}}
    hosts: list[Host] = []
    found: dict[str, None] = {}  # ordered set: the same group var is reported once
    for name, host_vars, groups in variables:
        too_long = long_values(host_vars)
        if too_long:  # refused before anything else reads them
            found.update(dict.fromkeys(too_long))
            continue
        expect, host_problems = validate(host_vars, known)
        connection, connection_problems = connection_of(
            str(name), host_vars, host_vars.get("_origins", {}), origin(name))
        sealed_vars = [k for k in CONNECTION_VARS if vaulted(host_vars.get(k))]
        if sealed_vars:  # ssh would be handed "***": say why, not that "***" is no address
            where = host_vars.get("_origins", {})
            connection_problems = [
                f"{where.get(k) or 'inventory'}: {k} is vault-encrypted, and maintcheck never "
                "decrypts vault values: write it in the clear, or from the environment "
                f"({k}: \"{{{{ lookup('env', '{k.upper()}') }}}}\")" for k in sealed_vars]
        for problem in host_problems + connection_problems:
            found[problem] = None
        hosts.append(make_host(name, host_vars, groups, expect, connection))
    if not variables:
        found["the inventory has no hosts"] = None
    if found:  # a value quoted back may be a secret (a password given as a list, say)
        raise InputError(str(source), [redactor.text(p) for p in found])

    def pattern_hosts(pattern: str) -> list[str]:
        from ansible.errors import AnsibleError

        try:
            return [h.name for h in manager.get_hosts(pattern)]
        except AnsibleError as exc:  # a pattern Ansible cannot read: "~(" say
            raise InputError("--limit", [f"{pattern!r}: {ansible_message(exc)}"]) from None

    return Inventory(source, digest(source), tuple(hosts), pattern_hosts)


def size_problems(source: Path) -> tuple[list[str], int]:
    """An inventory too large to read in seconds (refused before it is read), and its size."""
    files = inventory_files(source)
    if len(files) > MAX_INVENTORY_FILES:
        return [f"{len(files)} files; an inventory may have at most {MAX_INVENTORY_FILES}"], 0
    sizes = {f: f.stat().st_size for f in files}
    total = sum(sizes.values())
    if total <= MAX_INVENTORY_BYTES:
        return [], total
    largest = max(sizes, key=lambda f: sizes[f])
    return [(f"{total / 2**20:.1f} MiB in {len(files)} files (the largest: {largest}, "
            f"{sizes[largest] / 2**20:.1f} MiB); an inventory may have at most "
            f"{MAX_INVENTORY_BYTES // 2**20} MiB")], total


def long_values(host_vars: Mapping[str, Any]) -> list[str]:
    """Every string value longer than :data:`MAX_VALUE_CHARS`, with its place."""
    origins: Mapping[str, str] = host_vars.get("_origins", {})
    found = []
    for key, value in host_vars.items():
        if key == "_origins":
            continue
        todo = [value]
        while todo:
            v = todo.pop()
            if isinstance(v, str) and len(v) > MAX_VALUE_CHARS:
                where = origins.get(key) or origin(v) or "inventory"
                found.append(f"{where}: {key} holds a value of {len(v)} characters; a value "
                             f"may have at most {MAX_VALUE_CHARS}")
                break
            if isinstance(v, Mapping):
                todo += list(v.values())
            elif isinstance(v, (list, tuple)):
                todo += list(v)
    return found


def inventory_files(source: Path) -> list[Path]:
    """Every file an inventory is made of, sorted: the source plus group_vars and host_vars."""
    if source.is_file():
        base = source.parent
        files = [source]
    else:
        base = source
        files = [p for p in source.iterdir() if p.is_file() and not p.name.startswith(".")]
    for sub in ("group_vars", "host_vars"):
        folder = base / sub
        if folder.is_dir():
            files += [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")]
    return sorted(files)


def digest(source: Path) -> str:
    """sha256 over every file of the inventory, names included, so any edit changes it."""
    h = hashlib.sha256()
    for file in inventory_files(source):
        h.update(str(file.relative_to(source.parent if source.is_file() else source)).encode())
        h.update(b"\0")
        h.update(file.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


class _TolerantLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML that accepts Ansible's tags (``!vault``, ``!unsafe``) as plain values."""


# a vault value keeps its ciphertext, so that ansible's own messages can be masked
_TolerantLoader.add_multi_constructor("!", lambda loader, suffix, node: Vaulted(
    node.value) if suffix == "vault" and isinstance(node, yaml.ScalarNode) else None)


def syntax_problems(source: Path, redactor: Redactor | None = None) -> list[str]:
    """YAML syntax errors in every YAML file of the inventory, each with file and line.

    ``redactor`` learns the secrets the files hold, read as plain YAML (or INI ``key=value``),
    before ansible reads them: ansible's own warnings and errors quote inventory lines.
    """
    problems = []
    for file in inventory_files(source):
        in_vars = any(p.name in ("group_vars", "host_vars") for p in file.parents)
        if file.suffix not in YAML_SUFFIXES and not (in_vars and file.suffix == ""):
            if redactor is not None:
                learn_ini(file, redactor)
            continue
        try:
            text = file.read_text(encoding="utf-8")
            if text.startswith("$ANSIBLE_VAULT;"):
                problems.append(f"{file}:1: a vault-encrypted file, and maintcheck never decrypts "
                                "vault data; encrypt single values instead (`ansible-vault "
                                "encrypt_string`): maintcheck reads those as ***")
                continue
            data = yaml.load(text, Loader=_TolerantLoader)
            if expanded_size(data) > MAX_EXPANDED_VALUES:  # "billion laughs": aliases of aliases
                problems.append(f"{file}: its aliases expand to more than "
                                f"{MAX_EXPANDED_VALUES:,} values; an inventory may not")
                continue
            if redactor is not None and isinstance(data, Mapping):
                redactor.learn(data)
        except UnicodeDecodeError:
            problems.append(f"{file}: not UTF-8 text")
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"{file}:{mark.line + 1}" if mark else str(file)
            problems.append(f"{where}: YAML syntax error: {exc.problem or exc.context}")
        except yaml.YAMLError as exc:
            problems.append(f"{file}: YAML error: {exc}")
        except OSError as exc:
            problems.append(f"{file}: cannot read: {exc.strerror}")
    return problems


def expanded_size(data: Any) -> int:
    """How many values ``data`` holds once its YAML aliases are expanded, counted without
    expanding them (a shared node is counted once per reference, computed once)."""
    sizes: dict[int, int] = {}

    def size(value: Any) -> int:
        if not isinstance(value, (Mapping, list)):
            return 1
        if id(value) not in sizes:
            children = list(value.values()) if isinstance(value, Mapping) else value
            sizes[id(value)] = 1 + sum(size(c) for c in children)
        return sizes[id(value)]

    try:
        return size(data)
    except RecursionError:  # a self-referencing alias never ends
        return MAX_EXPANDED_VALUES + 1


def learn_ini(file: Path, redactor: Redactor) -> None:
    """Teach ``redactor`` the secrets of an INI inventory's ``key=value`` words."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return  # syntax_problems or ansible says what is wrong with it
    for line in text.splitlines():
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            words = line.split()
        redactor.learn(dict(w.split("=", 1) for w in words if "=" in w))


@contextlib.contextmanager
def ansible_says(redactor: Redactor) -> Iterator[None]:
    """What ansible prints while it reads (warnings that quote inventory lines) reaches the
    terminal through ``redactor``, after it."""
    said = io.StringIO()
    try:
        with contextlib.redirect_stdout(said), contextlib.redirect_stderr(said):
            yield
    finally:
        if said.getvalue():
            sys.stderr.write(redactor.text(said.getvalue()))


def read_with_ansible(source: Path, redactor: Redactor | None = None
                      ) -> tuple[Any, list[tuple[str, dict[str, Any], list[str]]]]:
    """Hosts, their merged variables and groups, exactly as ansible-core resolves them."""
    from ansible.utils.display import Display

    Display()  # set up (it patches the real stdout and stderr) before they are redirected
    red = redactor if redactor is not None else Redactor()
    with ansible_says(red):
        return _read_with_ansible(source, red)


def _read_with_ansible(source: Path, redactor: Redactor
                       ) -> tuple[Any, list[tuple[str, dict[str, Any], list[str]]]]:
    from ansible import constants
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.utils.display import Display
    from ansible.vars.manager import VariableManager

    Display().verbosity = 0
    # --limit matching nothing is maintcheck's own error, with the inventory named: not a warning
    constants.HOST_PATTERN_MISMATCH = "ignore"
    loader = DataLoader()
    try:
        manager = InventoryManager(loader=loader, sources=[str(source)])
        variables = VariableManager(loader=loader, inventory=manager)
        result = []
        for host in manager.get_hosts("all"):
            host_vars = variables.get_vars(host=host, include_hostvars=False)
            # vault values are never decrypted; ansible's own variables (``groups`` names every
            # host of the inventory, for every host) hold none and are left as they are
            sealed = {k: v if k.startswith(MAGIC_VARS) else seal(v) for k, v in host_vars.items()}
            if any("hostvars" in str(v) for k, v in sealed.items()
                   if k.startswith(("ansible_", PREFIX))):
                # another host's variables, as a play sees them: read only when a template
                # names them (built for every host, they would make loading quadratic)
                from ansible.vars.hostvars import HostVars

                sealed["hostvars"] = HostVars(inventory=manager, variable_manager=variables,
                                              loader=loader)
            templar = Templar(loader=loader, variables=sealed)
            merged = {}
            for k, v in sealed.items():
                if not k.startswith(("ansible_", PREFIX)):
                    continue
                try:
                    merged[k] = resolve(templar, v, sealed)
                except AnsibleError as exc:
                    raise InputError(str(source), [redactor.text(
                        f"{origin(v) or 'inventory'}: {host.name}: {k}: the template does not "
                        f"render: {ansible_message(exc)}")]) from None
            merged.update({k: v for k, v in sealed.items() if k not in merged
                           and not k.startswith(("ansible_", *MAGIC_VARS)) and k != "hostvars"})
            merged["_origins"] = {k: origin(v) for k, v in host_vars.items()
                                  if k.startswith(PREFIX) or k in CONNECTION_VARS
                                  or k == PREFIX.rstrip("_")}
            result.append((host.name, merged, sorted(g.name for g in host.get_groups())))
    except AnsibleError as exc:
        raise InputError(str(source), [redactor.text(ansible_message(exc))]) from None
    return manager, result


def seal(value: Any) -> Any:
    """The value with every vault-encrypted string (``!vault``) replaced by a
    :class:`~maintcheck.redact.Vaulted`, which reads as ``***``: maintcheck never decrypts.
    A value holding none is returned as it is (one walk over it)."""
    from ansible.parsing.vault import VaultHelper

    def walk(v: Any) -> Any:
        ciphertext = VaultHelper.get_ciphertext(v, with_tags=False)
        if ciphertext is not None:
            return Vaulted(ciphertext)
        if isinstance(v, Mapping):
            out = {k: walk(x) for k, x in v.items()}
            return out if any(out[k] is not x for k, x in v.items()) else v
        if isinstance(v, (list, tuple)):
            items = [walk(x) for x in v]
            return items if any(a is not b for a, b in zip(items, v, strict=True)) else v
        return v

    return walk(value)


def vaulted(value: Any) -> bool:
    """Whether a value is, or holds, a vault-encrypted string (sealed or not)."""
    from ansible.parsing.vault import VaultHelper

    if isinstance(value, Vaulted) or VaultHelper.get_ciphertext(value, with_tags=False):
        return True
    if isinstance(value, Mapping):
        return any(vaulted(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(vaulted(v) for v in value)
    return False


def resolve(templar: Any, value: Any, variables: Mapping[str, Any]) -> Any:
    """Render Jinja2 in a variable (``ansible_host: "{{ ip }}"``), as a play would; a template
    that names a vault-encrypted variable stays sealed (it would render as ``***``)."""
    text = str(value)  # safe: vault values are sealed before this
    if "{{" in text or "{%" in text:
        names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
        secret = next((variables[n] for n in sorted(names) if isinstance(variables.get(n),
                                                                          Vaulted)), None)
        if secret is not None:
            return secret
        return plain(templar.template(value))
    return plain(value)


def plain(value: Any) -> Any:
    """Drop ansible's tagged types, so values compare and serialise as plain Python."""
    if isinstance(value, (bool, Vaulted)) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return str(value)


def origin(value: Any) -> str:
    """``file:line`` where ansible read a value, when it knows."""
    try:
        from ansible._internal._datatag._tags import Origin

        tag = Origin.get_tag(value)
    except Exception:  # noqa: BLE001 - an internal API: no origin is not an error
        return ""
    if tag is None or tag.path is None:
        return ""
    return f"{tag.path}:{tag.line_num}" if tag.line_num else str(tag.path)


def ansible_message(exc: BaseException) -> str:
    """ansible's error and every cause under it, on one line."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None and len(parts) < 5:
        text = " ".join(str(getattr(seen, "message", "") or seen).split())
        if text and text not in parts:
            parts.append(text)
        seen = seen.__cause__
    return ": ".join(parts)


def make_host(name: str, host_vars: Mapping[str, Any], groups: list[str],
              expect: Expectations, connection: Connection) -> Host:
    return Host(
        name=plain(name),  # ansible's tagged str cannot cross to pytest-xdist workers' reports
        address=plain(connection.address),
        port=connection.port,
        user=plain(connection.user),
        identity=plain(connection.identity),
        become=connection.become,
        local=connection.local,
        groups=tuple(groups),
        expect=expect,
        # the maintcheck_ variables as expect holds them; the others sealed by their names
        variables={k: expect[k[len(PREFIX):]] if k.startswith(PREFIX) and k[len(PREFIX):] in expect
                   else sealed(
            v, whole=is_secret_name(k, expect.secret_vars) or (
                k in COMMAND_LINE_VARS and isinstance(v, str) and bool(command_line_secrets(v))),
            declared=expect.secret_vars) for k, v in host_vars.items() if k != "_origins"},
        ssh_args=tuple(plain(list(connection.ssh_args))),
        become_user=plain(connection.become_user),
    )


def validate(host_vars: Mapping[str, Any], known: Mapping[str, Var] = BY_NAME
             ) -> tuple[Expectations, list[str]]:
    """The host's expectations with defaults filled in, and every problem with its place."""
    origins: Mapping[str, str] = host_vars.get("_origins", {})
    problems = []
    values: dict[str, Any] = {v.name: v.default for v in known.values()}
    for key, value in host_vars.items():
        if key == PREFIX.rstrip("_") and isinstance(value, Mapping):
            flat = ", ".join(f"{PREFIX}{k}" for k in list(value)[:4])
            problems.append(f"{origins.get(key) or 'inventory'}: {key}: a nested mapping is not "
                            f"read; give each setting as its own flat variable ({flat}), so "
                            "that Ansible's precedence applies to each")
            continue
        if not key.startswith(PREFIX):
            continue
        where = origins.get(key) or "inventory"
        spec = known.get(key)
        if spec is not None and vaulted(value):
            problems.append(f"{where}: {key} is vault-encrypted, and maintcheck never decrypts "
                            "vault values; give it from the environment instead: "
                            f"{key}: \"{{{{ lookup('env', '{key.upper()}') }}}}\"")
            continue
        if spec is None:
            close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
            hint = f"; did you mean {close[0]}?" if close else ""
            problems.append(f"{where}: unknown variable {key}{hint}")
            continue
        problem = type_problem(spec, value) or control_problem(value)
        if problem:
            problems.append(f"{where}: {key} {problem}")
            continue
        values[spec.name] = (Secret(value) if spec.secret and isinstance(value, str)
                             else sealed_headers(value))
    for spec in known.values():  # a secret variable is a Secret even when not set
        if spec.secret and not isinstance(values[spec.name], Secret):
            values[spec.name] = Secret(str(values[spec.name] or ""))
    problems += threshold_problems(values, origins)
    return Expectations(values, origins), problems


def sealed(value: Any, *, whole: bool = False, declared: Iterable[str] = ()) -> Any:
    """The value with every secret in it carried as a :class:`~maintcheck.secret.Secret`: the
    whole of it when ``whole``, else each value under a secret-looking key (an endpoint's
    ``Authorization`` header), at any depth."""
    if whole and isinstance(value, str) and not isinstance(value, Vaulted):
        return Secret(value) if value else value
    if isinstance(value, Mapping):
        return {k: sealed(v, whole=is_secret_name(str(k), declared), declared=declared)
                for k, v in value.items()}
    if isinstance(value, list):
        return [sealed(v, declared=declared) for v in value]
    return value


def sealed_headers(value: Any) -> Any:
    """A ``maintcheck_`` value with the secret-looking headers of its endpoints (``headers:
    {Authorization: ...}``) carried as :class:`~maintcheck.secret.Secret`; nothing else is
    touched (a package named libsecret keeps its version)."""
    if isinstance(value, list):
        return [sealed_headers(v) for v in value]
    if isinstance(value, Mapping):
        return {k: sealed(v) if k == "headers" and isinstance(v, Mapping) else sealed_headers(v)
                for k, v in value.items()}
    return value


def control_problem(value: Any) -> str | None:
    """Why a value cannot be printed to a terminal as it is (an escape sequence, a carriage
    return, a bidi override), or None; line breaks and tabs are text."""
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, str) and (found := CONTROL.search(v)):
            return (f"holds a control character ({printable(found[0])}): it could redraw the "
                    "terminal; remove it")
        if isinstance(v, Mapping):
            todo += [*v.keys(), *v.values()]
        elif isinstance(v, (list, tuple)):
            todo += list(v)
    return None


def type_problem(spec: Var, value: Any) -> str | None:
    """Why a value does not fit its documented type, or None."""
    kind = spec.type
    if value is None:
        return f"is empty; expected {kind}"
    problem = kind_problem(kind, value)
    if problem is not None:
        return problem
    if kind == "float" and not math.isfinite(value):
        return f"must be a finite number, got {value}"
    if kind.startswith("list"):
        inner = kind[5:-1]
        for i, element in enumerate(value):
            problem = element_problem(spec, inner, element)
            if problem:
                return f"item {i + 1} {problem}"
    if kind == "dict[str,list[str]]":
        bad = [k for k, v in value.items() if not isinstance(v, list)]
        return f"values must be lists (see {', '.join(map(str, bad))})" if bad else None
    return None


def kind_problem(kind: str, value: Any) -> str | None:
    """Why a value is not of the Python type a schema kind names (a string, true or false, an
    integer, a number, a list, a mapping), or None; what lies inside is the caller's to judge."""
    if kind == "str":
        return None if isinstance(value, str) else f"must be a string, got {describe(value)}"
    if kind == "bool":
        return None if isinstance(value, bool) else f"must be true or false, got {describe(value)}"
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"must be an integer, got {describe(value)}"
    if kind == "float":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else f"must be a number, got {describe(value)}"
    if kind.startswith("list"):
        return None if isinstance(value, list) else f"must be a list, got {describe(value)}"
    if kind.startswith("dict"):
        return None if isinstance(value, Mapping) else f"must be a mapping, got {describe(value)}"
    return None


def element_problem(spec: Var, inner: str, element: Any) -> str | None:
    if inner == "str":
        return None if isinstance(element, str) else f"must be a string, got {describe(element)}"
    if inner == "int":
        ok = isinstance(element, int) and not isinstance(element, bool) and 0 < element < 65536
        return None if ok else f"must be a port number, got {describe(element)}"
    if inner == "dict":
        if not isinstance(element, Mapping):
            return f"must be a mapping, got {describe(element)}"
        problems = []
        for key in element:
            if key not in spec.keys:
                close = difflib.get_close_matches(str(key), list(spec.keys), n=1, cutoff=0.7)
                hint = f" (did you mean {close[0]}?)" if close else ""
                problems.append(f"unknown key {key!r}{hint}")
        problems += [f"needs {key!r}" for key, t in spec.keys.items()
                     if t.endswith("!") and key not in element]
        problems += [f"{key}: {why}" for key, v in element.items() if key in spec.keys
                     and (why := key_problem(str(key), spec.keys[key].rstrip("!"), v))]
        return "; ".join(problems) or None
    return None


def key_problem(key: str, kind: str, value: Any) -> str | None:
    """Why one key's value inside a list-of-dict variable does not fit its type, or None: a
    size, an age or a latency is a finite number not below 0; a status an HTTP status."""
    problem = kind_problem(kind, value)
    if problem is not None:
        return problem
    if kind in ("int", "float"):
        if not math.isfinite(value) or value < 0:
            return f"must be a finite number not below 0, got {value}"
        if key == "status" and not 100 <= value <= 599:
            return f"must be an HTTP status (100-599), got {value}"
    if kind == "list[str]" and not all(isinstance(v, str) for v in value):
        return "must be a list of strings"
    return None


def threshold_problems(values: Mapping[str, Any], origins: Mapping[str, str]) -> list[str]:
    """Thresholds that are well-typed but impossible."""
    problems = []

    def where(name: str) -> str:
        return origins.get(PREFIX + name) or "inventory"

    for name in PERCENT_VARS:
        value = values[name]
        if isinstance(value, int) and not 0 < value <= 100:
            problems.append(f"{where(name)}: {PREFIX}{name} must be between 1 and 100, got {value}")
    for name in ("load_max_per_cpu", "replication_max_lag_seconds", "connect_timeout",
                 "command_timeout", "http_timeout", "log_max_age_minutes"):
        value = values[name]
        if isinstance(value, (int, float)) and value <= 0:
            problems.append(f"{where(name)}: {PREFIX}{name} must be above 0, got {value}")
    warn, fail = values["tls_warn_days"], values["tls_fail_days"]
    if isinstance(warn, int) and isinstance(fail, int) and warn < fail:
        problems.append(f"{where('tls_warn_days')}: {PREFIX}tls_warn_days ({warn}) must not be "
                        f"below {PREFIX}tls_fail_days ({fail})")
    wait = values["wait"]
    if isinstance(wait, Mapping):
        for item_id, duration in wait.items():
            if not ITEM_ID.fullmatch(str(item_id)):
                problems.append(f"{where('wait')}: {PREFIX}wait: {item_id!r} is not a checklist "
                                "item id such as '7.1'")
                continue
            try:
                parse_duration(str(duration))
            except ValueError as exc:
                problems.append(f"{where('wait')}: {PREFIX}wait: {item_id}: {exc}")
    role = values["postgres_role"]
    if role not in ("", "primary", "replica"):
        problems.append(f"{where('postgres_role')}: {PREFIX}postgres_role must be primary or "
                        f"replica, got {role!r}")
    return problems


def describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]
