"""How a host is reached: every inventory value that reaches a command line, checked first.

An inventory is data, and ssh parses its command line: an address such as
``-oProxyCommand=touch pwned`` would be an option, and run on this machine. So each value is
checked against what it may be before it is used (an address is a name or an IP, a user a
login name, a port a number, ssh's extra arguments only options that neither run nor load
anything here), and ssh's own options always end with ``--`` before the destination.

>>> connection_of("web-01", {"ansible_host": "10.0.0.5", "ansible_user": "ops"})[0].address
'10.0.0.5'
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from maintcheck.errors import CONTROL_OR_NEWLINE, printable

# Ansible's names for each setting; where several are set, the last one listed wins, as in
# ansible's ssh connection plugin (``ansible_ssh_host`` over ``ansible_host``).
ADDRESS_VARS = ("ansible_host", "ansible_ssh_host")
PORT_VARS = ("ansible_port", "ansible_ssh_port")
USER_VARS = ("ansible_user", "ansible_ssh_user")
KEY_VARS = ("ansible_private_key_file", "ansible_ssh_private_key_file")
SSH_ARG_VARS = ("ansible_ssh_common_args", "ansible_ssh_extra_args")
BECOME_VARS = ("ansible_become", "ansible_become_user", "ansible_become_method")
CONNECTION_VARS = (*ADDRESS_VARS, *PORT_VARS, *USER_VARS, *KEY_VARS, *SSH_ARG_VARS,
                   *BECOME_VARS, "ansible_connection")

# a DNS name, an IPv4 address, an IPv6 address (bare or bracketed, with a %zone)
ADDRESS = re.compile(r"[A-Za-z0-9_.:%\[\]-]+")
# a login name; '@', '\' and '$' for directory accounts (ops@CORP, CORP\ops, host$)
USER = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.@\\$-]*")
SIMPLE = re.compile(r"[A-Za-z0-9_.,:@+=-]+")  # cipher lists, interface names, aliases
SHOWN = 80  # at most this much of a bad value is quoted back

# ssh(1) flags that take a value (``-o X``, ``-oX``)
SSH_VALUE_FLAGS = frozenset("BbcDEeFIiJLlmOoPpQRSWw")
# flags that would change how maintcheck connects or what it runs
SSH_FLAGS_REFUSED: dict[str, str] = {
    **dict.fromkeys(("G", "M", "N", "f", "t", "W", "O", "S", "n", "s", "V", "Q"),
                    "would change how maintcheck connects or what it runs"),
    "F": "reads an ssh config, which can run commands on this machine (Match exec, "
         "ProxyCommand)",
    "E": "writes a log file on this machine",
    "I": "loads a PKCS#11 library into ssh on this machine",
    **dict.fromkeys(("L", "R", "D", "w", "g"), "opens a forwarding or a tunnel"),
    **dict.fromkeys(("A", "X", "Y"), "forwards this machine's agent or display to the host"),
}
# ``-o`` options refused, by lower-case name, and why
SSH_OPTIONS_REFUSED: dict[str, str] = {
    **dict.fromkeys(("localcommand", "permitlocalcommand", "knownhostscommand"),
                    "runs a command on this machine"),
    **dict.fromkeys(("pkcs11provider", "securitykeyprovider"),
                    "loads a library into ssh on this machine"),
    # (ControlMaster, ControlPath and the like are welcome: maintcheck's come first and win)
    **dict.fromkeys(("remotecommand", "requesttty", "sessiontype", "stdinnull",
                     "forkafterauthentication"),
                    "would change how maintcheck connects or what it runs"),
    **dict.fromkeys(("localforward", "remoteforward", "dynamicforward", "tunnel",
                     "tunneldevice", "gatewayports"), "opens a forwarding or a tunnel"),
    **dict.fromkeys(("forwardagent", "forwardx11", "forwardx11trusted"),
                    "forwards this machine's agent or display to the host"),
    "sendenv": "sends this machine's environment (and any secret in it) to the host",
}


@dataclass(frozen=True)
class Connection:
    """How to reach one host, every value checked: ``Connection("10.0.0.5", 22, "ops", ...)``."""

    address: str
    port: int
    user: str | None
    identity: str | None
    become: bool
    become_user: str | None
    local: bool
    ssh_args: tuple[str, ...]


def quoted(value: object) -> str:
    """A bad value as a message shows it: quoted, control characters escaped, cut short."""
    text = printable(str(value))
    return f"'{text[:SHOWN]}...' ({len(text)} characters)" if len(text) > SHOWN else f"'{text}'"


def last_set(host_vars: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str, Any]:
    """The variable that decides a setting, and its value: ("", None) when none is set."""
    found = [(n, host_vars[n]) for n in names if host_vars.get(n) not in (None, "")]
    return found[-1] if found else ("", None)


def word_problem(value: str, pattern: re.Pattern[str], what: str, reader: str = "ssh"
                 ) -> str | None:
    """Why ``value`` cannot be one word of a command line of the given kind, or None."""
    if value.startswith("-"):
        return f"starts with '-', so {reader} would read it as an option"
    if CONTROL_OR_NEWLINE.search(value) or any(c.isspace() for c in value):
        return "contains whitespace or control characters"
    return None if pattern.fullmatch(value) else f"is not {what}"


def address_problem(value: str) -> str | None:
    """Why ``value`` cannot be a host's address, or None."""
    return word_problem(value, ADDRESS, "a host name or an IP address")


def user_problem(value: str) -> str | None:
    """Why ``value`` cannot be a login name, or None."""
    return word_problem(value, USER, "a login name (letters, digits, '_', '.', '-', '@', '\\', "
                        "'$')", reader="ssh or sudo")


def path_problem(value: str) -> str | None:
    """Why ``value`` cannot be a file path on this machine, or None."""
    if value.startswith("-"):
        return "starts with '-', so ssh would read it as an option"
    if CONTROL_OR_NEWLINE.search(value):
        return "contains control characters"
    return None


def port_of(value: Any) -> int | None:
    """A port number from an int or a string of digits; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    return value if isinstance(value, int) and 0 < value < 65536 else None


def jump_problem(spec: str) -> str | None:
    """Why a ProxyJump (``[user@]host[:port]``, comma-separated) is unsafe, or None."""
    if spec.lower() == "none":
        return None
    for hop in spec.split(","):
        hop = hop.removeprefix("ssh://")
        user, _, rest = hop.rpartition("@")
        host, port = rest, ""
        if rest.startswith("["):
            host, _, port = rest[1:].partition("]")
            port = port.removeprefix(":")
        elif rest.count(":") == 1:
            host, port = rest.split(":")
        problem = (address_problem(host) if host else "names no host") or (
            user_problem(user) if user else None) or (
            None if not port or port_of(port) else "has a port that is not a number")
        if problem:
            return f"jump host {quoted(hop)} {problem}"
    return None


def option_problem(option: str) -> str | None:
    """Why an ``-o`` option (``Name=value`` or ``Name value``) is refused, or None."""
    name, value = (re.split(r"\s*=\s*|\s+", option.strip(), maxsplit=1) + [""])[:2]
    key = name.lower()
    if key in SSH_OPTIONS_REFUSED:
        return f"-o {name} {SSH_OPTIONS_REFUSED[key]}: remove it"
    if CONTROL_OR_NEWLINE.search(value):
        return f"-o {name} has control characters in its value"
    problem = OPTION_CHECKS[key](value) if key in OPTION_CHECKS else None
    return f"-o {name}: {quoted(value)} {problem}" if problem else None


def ssh_args_problems(words: list[str]) -> list[str]:
    """What is wrong with the inventory's extra ssh arguments (already split as a shell does).

    Every word must be an ssh option or an option's value: a bare word would become the
    destination and push the real one into the remote command.
    """
    problems: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if not word.startswith("-") or word in ("-", "--"):
            problems.append(f"{quoted(word)} is not an ssh option (only options may be given "
                            "here: a bare word would become the host ssh connects to)")
            continue
        for j, flag in enumerate(word[1:], start=1):
            if flag in SSH_FLAGS_REFUSED:
                problems.append(f"ssh -{flag} {SSH_FLAGS_REFUSED[flag]}: remove it")
                break
            if flag in SSH_VALUE_FLAGS:
                value = word[j + 1:]
                if not value:
                    if i >= len(words):
                        problems.append(f"ssh -{flag} needs a value")
                        break
                    value = words[i]
                    i += 1
                problem = value_problem(flag, value)
                if problem:
                    problems.append(problem)
                break
            if not flag.isalnum():
                problems.append(f"{quoted(word)} is not an ssh option")
                break
    return problems


def value_problem(flag: str, value: str) -> str | None:
    """Why the value of ssh's ``-<flag>`` is refused, or None."""
    if flag == "o":
        return option_problem(value)
    problem = FLAG_CHECKS[flag](value) if flag in FLAG_CHECKS else (
        None if SIMPLE.fullmatch(value) else "is not a plain value")
    return f"ssh -{flag} {quoted(value)} {problem}" if problem else None


def port_problem(value: str) -> str | None:
    return None if port_of(value) else "is not a port number"


def plain_problem(value: str) -> str | None:
    return None if SIMPLE.fullmatch(value) else "is not a plain name"


Check = Callable[[str], "str | None"]
# what the value of an -o option, or of a flag, must be (the others are ssh's to judge)
OPTION_CHECKS: dict[str, Check] = {
    "proxyjump": jump_problem, "hostname": address_problem, "user": user_problem,
    "identityfile": path_problem, "certificatefile": path_problem, "port": port_problem,
    "hostkeyalias": plain_problem}
FLAG_CHECKS: dict[str, Check] = {"J": jump_problem, "i": path_problem, "l": user_problem,
                                 "b": address_problem, "p": port_problem}


def truthy(value: Any) -> bool:
    """Ansible's reading of a boolean: INI files give strings such as ``"yes"``."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on", "y"}
    return bool(value)


# connection types maintcheck speaks: OpenSSH for what Ansible reaches over ssh, or this
# machine; a winrm, docker or network_cli host is never silently reached over ssh
SPOKEN = frozenset({None, "", "ssh", "smart", "paramiko", "paramiko_ssh", "local"})


def connection_of(name: str, host_vars: Mapping[str, Any],
                  origins: Mapping[str, str] | None = None, name_origin: str = "",
                  ) -> tuple[Connection, list[str]]:
    """How to reach host ``name``, and every problem with its file and line.

    The connection returned when there are problems is never used: the problems are an
    input error.
    """
    origins = origins or {}
    problems: list[str] = []

    def where(var: str) -> str:
        return origins.get(var) or name_origin or "inventory"

    kind = host_vars.get("ansible_connection")
    local = kind == "local"
    if kind is not None and not isinstance(kind, str):
        problems.append(f"{where('ansible_connection')}: ansible_connection {quoted(kind)} "
                        "must be a connection name (ssh, local)")
    elif kind not in SPOKEN:
        problems.append(f"{where('ansible_connection')}: ansible_connection {quoted(kind)}: "
                        "maintcheck reaches hosts over OpenSSH (ssh, smart, paramiko) or runs "
                        "locally (local), never another way; leave this host out with --limit")
    if CONTROL_OR_NEWLINE.search(name):
        problems.append(f"{name_origin or 'inventory'}: host name {quoted(name)} contains "
                        "control characters")
    var, value = last_set(host_vars, ADDRESS_VARS)
    address = str(value) if var else name
    if not local:
        problem = address_problem(address)
        if problem:
            what = var or "the host name (used as its address: no ansible_host)"
            problems.append(f"{where(var)}: {what} {quoted(address)} {problem}")
    var, value = last_set(host_vars, PORT_VARS)
    port = port_of(value) if var else 22
    if port is None:
        problems.append(f"{where(var)}: {var} {quoted(value)} is not a port number (1-65535)")
    var, value = last_set(host_vars, USER_VARS)
    user = str(value) if var else None
    if user is not None and (problem := user_problem(user)):
        problems.append(f"{where(var)}: {var} {quoted(user)} {problem}")
    var, value = last_set(host_vars, KEY_VARS)
    identity = str(value) if var else None
    if identity is not None and (problem := path_problem(identity)):
        problems.append(f"{where(var)}: {var} {quoted(identity)} {problem}")
    become = truthy(host_vars.get("ansible_become", False))
    become_user = host_vars.get("ansible_become_user") or None
    if become_user is not None and (problem := user_problem(str(become_user))):
        problems.append(f"{where('ansible_become_user')}: ansible_become_user "
                        f"{quoted(become_user)} {problem}")
    method = host_vars.get("ansible_become_method")
    if become and method not in (None, "", "sudo"):
        problems.append(f"{where('ansible_become_method')}: ansible_become_method "
                        f"{quoted(method)}: maintcheck becomes another user with sudo only")
    args: list[str] = []
    for var in SSH_ARG_VARS:
        value = host_vars.get(var)
        if value in (None, ""):
            continue
        try:
            words = shlex.split(str(value))
        except ValueError as exc:
            problems.append(f"{where(var)}: {var}: {exc}")
            continue
        problems += [f"{where(var)}: {var}: {p}" for p in ssh_args_problems(words)]
        args += words
    return Connection(address, port or 22, user, identity, become,
                      str(become_user) if become_user else None, local, tuple(args)), problems
