"""The hosts a run checks, how each is reached, and their facts, probed once per host."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from maintcheck.errors import HostUnreachable
from maintcheck.facts import FactCache, Facts
from maintcheck.inventory import Host, Inventory
from maintcheck.redact import Redactor
from maintcheck.runner import CommandRunner, Result, ssh_transport


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

    def run(self, argv: list[str], *, stdin: str | None = None,
            timeout: float | None = None, approved: str | None = None) -> Result:
        self.targets.raise_if_unreachable(self.host)
        try:
            return self.inner.run(argv, stdin=stdin, timeout=timeout, approved=approved)
        except HostUnreachable as exc:
            self.targets.unreachable.setdefault(self.host, str(exc))
            raise


@dataclass
class Targets:
    """The selected hosts of an inventory, with one runner and one fact cache for the run."""

    inventory: Inventory
    limit: str | None
    redactor: Redactor
    concurrency: int = 32
    control_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mc-ssh-")))
    unreachable: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
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
                connect_timeout=host.expect.connect_timeout, control_dir=self.control_dir)
        if host.become:
            transport = [*(transport or []), "sudo", "-n", "--"] if transport else None
        return CommandRunner(host.name, transport, redactor=self.redactor,
                             command_timeout=float(host.expect.command_timeout))

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

    def raise_if_unreachable(self, name: str) -> None:
        if name in self.unreachable:
            raise HostUnreachable(self.unreachable[name])
