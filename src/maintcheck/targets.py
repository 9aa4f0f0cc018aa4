"""The hosts a run checks, how each is reached, and their facts, probed once per host."""

from __future__ import annotations

import hashlib
import shlex
import shutil
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from maintcheck.errors import HostUnreachable
from maintcheck.facts import FactCache, Facts
from maintcheck.inventory import Host, Inventory
from maintcheck.redact import Redactor
from maintcheck.runner import CommandRunner, Result, close_master, ssh_transport
from maintcheck.team import Team

# An idle ssh ControlMaster holds a connection and 2.5 MB (3.7 MB of RSS). Beyond this many,
# the least recently used is closed (its host reconnects if asked again): memory stays bounded
# at any fleet size (a 200-host run peaked at 1 GB of summed RSS with 128), and a run of up to
# this many hosts never connects twice to one host.
IDLE_CONNECTIONS = 64


@dataclass(frozen=True)
class NotApplicable:
    """Stands in for a host when an item selects none: the item is reported as such."""

    reason: str

    def __str__(self) -> str:
        return "n/a"


class HostRunner:
    """A host's runner that refuses at once when the host already proved unreachable."""

    def __init__(self, inner: CommandRunner, targets: Targets) -> None:
        self.inner = inner
        self.host = inner.host
        self.targets = targets

    def __repr__(self) -> str:
        return f"HostRunner({self.host!r})"

    def run(self, argv: list[str], *, stdin: str | None = None,
            timeout: float | None = None, approved: str | None = None) -> Result:
        self.targets.raise_if_unreachable(self.host)
        self.targets.connections.busy(self.host)
        try:
            return self.inner.run(argv, stdin=stdin, timeout=timeout, approved=approved)
        except HostUnreachable as exc:
            self.targets.unreachable.setdefault(self.host, str(exc))
            raise
        finally:
            self.targets.connections.idle(self.host)


class Connections:
    """The run's ssh ControlMasters, one per host: at most ``keep`` idle, all closed at the end."""

    def __init__(self, control_dir: Path, keep: int = IDLE_CONNECTIONS) -> None:
        self.control_dir = control_dir
        self.keep = keep
        self._idle: OrderedDict[str, None] = OrderedDict()  # least recently used first
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    @staticmethod
    def name(host: str) -> str:
        """The control socket's file name: short, whatever the host's name."""
        return hashlib.sha256(host.encode()).hexdigest()[:16]

    def busy(self, host: str) -> None:
        with self._lock:
            self._busy.add(host)
            self._idle.pop(host, None)

    def idle(self, host: str) -> None:
        """``host`` finished a command; close the least recently used masters beyond ``keep``."""
        with self._lock:
            self._busy.discard(host)
            self._idle[host] = None
            surplus = [self._idle.popitem(last=False)[0]
                       for _ in range(max(0, len(self._idle) - self.keep))]
        for name in surplus:
            close_master(self.control_dir / self.name(name))

    def close(self) -> None:
        """Close every master and remove the control folder: nothing outlives the run."""
        with self._lock:
            hosts = [*self._idle, *self._busy]
            self._idle.clear()
        if hosts:
            with ThreadPoolExecutor(max_workers=min(32, len(hosts))) as pool:
                list(pool.map(close_master, [self.control_dir / self.name(h) for h in hosts]))
        shutil.rmtree(self.control_dir, ignore_errors=True)


@dataclass
class Targets:
    """The selected hosts of an inventory, with one runner and one fact cache for the run."""

    inventory: Inventory
    limit: str | None
    redactor: Redactor
    concurrency: int = 32
    control_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mc-ssh-")))
    unreachable: dict[str, str] = field(default_factory=dict)
    team: Team | None = None  # the team's declared read-only commands

    def __post_init__(self) -> None:
        self.connections = Connections(self.control_dir)
        self.hosts = self.inventory.select(self.limit)
        self.runners = {h.name: HostRunner(self.make_runner(h), self) for h in self.hosts}
        timeout = max(h.expect.command_timeout for h in self.hosts) if self.hosts else 30
        self.facts = FactCache(self.hosts, self.runners, float(timeout), self.concurrency)

    def make_runner(self, host: Host) -> CommandRunner:
        transport = None
        if not host.local:
            transport = ssh_transport(
                address=host.address, port=host.port, user=host.user, identity=host.identity,
                known_hosts=host.expect.known_hosts,
                connect_timeout=host.expect.connect_timeout, control_dir=self.control_dir,
                control_name=Connections.name(host.name), extra=host.ssh_args)
        if host.become and transport:
            # the remote shell reads these words: the user is checked and quoted all the same
            user = ["-u", shlex.quote(host.become_user)] if host.become_user else []
            transport = [*transport, "sudo", "-n", *user, "--"]
        return CommandRunner(host.name, transport, redactor=self.redactor,
                             command_timeout=float(host.expect.command_timeout), team=self.team)

    def select(self, wanted: str | None = None, value: object = None) -> list[Host]:
        """Selected hosts, or those that declare ``maintcheck_<wanted>`` (equal to ``value``)."""
        if wanted is None:
            return list(self.hosts)
        if value is not None:
            return [h for h in self.hosts if h.expect[wanted] == value]
        return [h for h in self.hosts if h.expect[wanted]]

    def facts_of(self, host: Host) -> Facts:
        try:
            return self.facts.get(host)
        except HostUnreachable as exc:
            self.unreachable.setdefault(host.name, str(exc))
            raise

    def forget(self, names: set[str]) -> None:
        """Drop what is known of these hosts, so the next check probes them afresh."""
        for name in names:
            self.facts.forget(name)
            self.unreachable.pop(name, None)

    def close(self) -> None:
        """End the run's connections (see :class:`Connections`), after any gathering."""
        self.facts.settle()
        self.connections.close()

    def raise_if_unreachable(self, name: str) -> None:
        if name in self.unreachable:
            raise HostUnreachable(self.unreachable[name])
