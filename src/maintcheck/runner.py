"""Every remote command goes through here: read-only by construction, bounded, audited.

A connection failure never becomes an answer: OpenSSH's exit status 255 and a dead local
process raise :class:`HostUnreachable`; a command past its timeout raises
:class:`CommandTimeout`. Connection errors, and only those, are retried once.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from maintcheck.errors import CommandTimeout, HostUnreachable, NotReadOnly
from maintcheck.policy import Program, permit
from maintcheck.redact import Redactor
from maintcheck.team import Team

SSH_UNREACHABLE = 255


@dataclass(frozen=True)
class Result:
    """What a command printed and how it ended: ``Result(0, "active\\n", "")``."""

    exit_status: int
    stdout: str
    stderr: str

    @property
    def succeeded(self) -> bool:
        return self.exit_status == 0


class Runner(Protocol):
    """How commands reach a host. ``runner.run(["systemctl", "is-active", "ssh"])``."""

    host: str

    def run(self, argv: list[str], *, stdin: str | None = None,
            timeout: float | None = None, approved: str | None = None) -> Result: ...


def check_read_only(argv: list[str], team: Team | None = None) -> Program | None:
    """Refuse any command that could change the host; raises :class:`NotReadOnly`.

    The table of what may run is :mod:`maintcheck.policy`'s; a program beyond it runs only when
    the team declared it (its ``checks/commands.yml``): then the declaration that allowed it is
    returned."""
    return permit(argv, team.commands if team is not None else ())


@dataclass
class AuditLog:
    """Every command sent to one host, in order, as the evidence will show it."""

    host: str
    entries: list[dict[str, object]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, **entry: object) -> None:
        with self.lock:
            self.entries.append(entry)


class CommandRunner:
    """The one runner: local or OpenSSH, with read-only checks, timeouts, retry and audit."""

    def __init__(self, host: str, transport: list[str] | None, *, redactor: Redactor,
                 command_timeout: float = 30.0, connect_retries: int = 1,
                 team: Team | None = None) -> None:
        self.host = host
        self.team = team  # the team's declared read-only commands, if any
        self.transport = transport  # the ssh argv prefix, or None for a local host
        self.redactor = redactor
        self.command_timeout = command_timeout
        self.connect_retries = connect_retries
        self.audit = AuditLog(host)

    def __repr__(self) -> str:
        # its transport may hold a password (sshpass -p in a ProxyCommand): never shown
        return f"CommandRunner({self.host!r}, {'local' if self.transport is None else 'ssh'})"

    def run(self, argv: list[str], *, stdin: str | None = None,
            timeout: float | None = None, approved: str | None = None) -> Result:
        """Run a read-only command. ``approved`` names a reviewed probe script sent on stdin."""
        declared = None
        if approved is None:
            try:
                declared = check_read_only(argv, self.team)
                if stdin is not None:
                    raise NotReadOnly(f"only an approved probe reads a script on stdin: "
                                      f"{shlex.join(argv)!r}")
            except NotReadOnly as exc:
                raise NotReadOnly(f"{self.host}: refused, nothing sent (the runner sends only "
                                  f"read-only commands): {self.redactor.text(str(exc))}") from None
        limit = timeout if timeout is not None else self.command_timeout
        # bound the command on the remote side too, so a hung command does not outlive us
        remote = ["timeout", "-k", "5", str(int(max(1, limit))), *argv]
        full = remote if self.transport is None else [*self.transport, shlex.join(remote)]
        attempts = 1 + self.connect_retries
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            entry: dict[str, object] = {
                "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "command": self.redactor.text(shlex.join(argv)),
                "attempt": attempt,
            }
            if declared is not None:  # not maintcheck's allowlist: the team's, reviewed there
                entry["allowlist"] = f"team: {declared.origin}"
            if approved is not None:
                entry["probe"] = approved
                entry["stdin_sha256"] = hashlib.sha256((stdin or "").encode()).hexdigest()
            try:
                proc = subprocess.run(full, input=stdin, capture_output=True, text=True,
                                      timeout=limit + 10, check=False)
            except subprocess.TimeoutExpired:
                entry.update(outcome="timeout", seconds=round(time.monotonic() - started, 3))
                self.audit.record(**entry)
                raise CommandTimeout(
                    f"{self.host}: {self.redactor.text(shlex.join(argv))} ran past {limit:g}s"
                ) from None
            except OSError as exc:
                entry.update(outcome="not started")
                self.audit.record(**entry)
                raise HostUnreachable(f"{self.host}: cannot start command: {exc}") from None
            seconds = round(time.monotonic() - started, 3)
            if self.transport is not None and proc.returncode == SSH_UNREACHABLE:
                cause = ssh_cause(proc.stderr, self.transport)
                entry.update(outcome="connection failed", cause=self.redactor.text(cause),
                             seconds=seconds)
                self.audit.record(**entry)
                if attempt < attempts and "host key" not in cause:
                    continue
                raise HostUnreachable(f"{self.host}: {self.redactor.text(cause)}")
            if proc.returncode == 124:
                entry.update(outcome="timeout", seconds=seconds)
                self.audit.record(**entry)
                raise CommandTimeout(
                    f"{self.host}: {self.redactor.text(shlex.join(argv))} ran past {limit:g}s")
            entry.update(outcome="ran", exit_status=proc.returncode, seconds=seconds)
            self.audit.record(**entry)
            return Result(proc.returncode, proc.stdout, proc.stderr)
        raise AssertionError("unreachable")  # pragma: no cover


def ssh_cause(stderr: str, transport: list[str] | None = None) -> str:
    """The one line of OpenSSH's stderr that says why it could not connect; for a host key,
    whether it is unknown or changed, and what to do about it."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    low = stderr.lower()
    argv = transport or []
    known_hosts = option_of(argv, "UserKnownHostsFile") or "~/.ssh/known_hosts"
    port = argv[argv.index("-p") + 1] if "-p" in argv else "22"
    if "remote host identification has changed" in low or "has changed and you have" in low:
        sent = re.search(r"(SHA256:[A-Za-z0-9+/=]+)", stderr)
        offending = re.search(r"Offending \S+ key in (\S+:\d+)", stderr)
        return ("host key verification failed: the host key CHANGED since it was trusted "
                f"(the host sent {sent[1] if sent else 'another key'}"
                f"{f'; {offending[1]} holds the old one' if offending else ''}). This may be a "
                "man-in-the-middle, or a rebuilt host: confirm the new fingerprint with the "
                f"host's owner, then `ssh-keygen -f {known_hosts} -R HOST` and trust the new key")
    if "host key verification failed" in low or "host key is known for" in low or (
            "host key" in low and "known" in low):
        unknown = re.search(r"host key is known for (\S+) and", stderr)
        address = unknown[1] if unknown else "HOST"
        return (f"host key verification failed: no host key for {address} is known in "
                f"{known_hosts} (unknown host). Trust it with `ssh-keyscan -p {port} "
                f"{address.strip('[]').split(']:')[0]} >> {known_hosts}` after checking its "
                "fingerprint with the host's owner")
    for needle in ("timed out", "refused", "no route", "unreachable", "permission denied",
                   "could not resolve", "closed", "reset", "banner"):
        for line in lines:
            if needle in line.lower():
                return line
    # silent 255: OpenSSH logs a dead peer ("server not responding") below LogLevel=ERROR
    return lines[-1] if lines else ("connection lost: ssh exited 255 without a message (the "
                                    "host stopped answering or closed the connection)")


def option_of(argv: list[str], name: str) -> str | None:
    """The value of ``-o Name=value`` in an ssh argv, or None."""
    prefix = f"{name}="
    return next((a[len(prefix):] for a in argv if a.startswith(prefix)), None)


def ssh_transport(*, address: str, port: int, user: str | None, identity: str | None,
                  known_hosts: str, connect_timeout: int, control_dir: Path,
                  control_name: str = "%C", extra: Sequence[str] = ()) -> list[str]:
    """The OpenSSH argv prefix: host keys checked, multiplexed, dead peers detected.

    ``extra`` (the inventory's ``ansible_ssh_common_args``/``_extra_args``: a ProxyJump, say)
    comes after maintcheck's own options, and ssh keeps the first value it is given. ``--``
    ends the options, whatever follows: the address is never read as one.
    """
    argv = [
        "ssh", "-T", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={os.path.expanduser(known_hosts)}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", f"ConnectTimeout={connect_timeout}", "-o", "ConnectionAttempts=1",
        "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=2",
        "-o", "ControlMaster=auto", "-o", "ControlPersist=60s",
        "-o", f"ControlPath={control_dir}/{control_name}", "-o", "LogLevel=ERROR",
        "-p", str(port),
    ]
    if identity:
        argv += ["-i", os.path.expanduser(identity), "-o", "IdentitiesOnly=yes"]
    if user:
        argv += ["-l", user]
    return [*argv, *extra, "--", address]


# OpenSSH's multiplexing protocol (PROTOCOL.mux): length-prefixed packets, a hello each way.
MUX_MSG_HELLO, MUX_C_TERMINATE, MUX_VERSION = 0x00000001, 0x10000005, 4


def close_master(control_path: Path, timeout: float = 2.0) -> bool:
    """Tell the ControlMaster on ``control_path`` to exit, as ``ssh -O exit`` does; True if told.

    Spoken to directly, without an ssh process: a hello each way, then MUX_C_TERMINATE, and no
    wait for the master's answer (it often exits before sending it, mux.c says). A socket
    nobody listens on is simply False.
    """
    def send(sock: socket.socket, *words: int) -> None:
        body = struct.pack(f">{len(words)}I", *words)
        sock.sendall(struct.pack(">I", len(body)) + body)

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(control_path))
            send(sock, MUX_MSG_HELLO, MUX_VERSION)
            head = sock.recv(4, socket.MSG_WAITALL)
            hello = sock.recv(struct.unpack(">I", head)[0], socket.MSG_WAITALL)
            if hello[:4] != struct.pack(">I", MUX_MSG_HELLO):
                return False
            send(sock, MUX_C_TERMINATE, 1)
            return True
    except (OSError, struct.error):
        return False
