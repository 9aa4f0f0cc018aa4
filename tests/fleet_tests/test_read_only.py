"""A full run of every phase sends only read-only commands, and leaves the fleet as it was.

pre, during and post run for one change (all maintenance types) on the healthy fleet, as a
user runs them. The proof does not ask the runner's own allowlist; it is two independent ones:

a. What was sent: every audit-log entry of every host is a command on the reviewed list
   below; the probe sent on stdin is ``src/maintcheck/probe.sh`` (its sha256) behind a header
   of plain variable assignments; and the audit log is complete: each host's sshd, at
   ``LogLevel VERBOSE``, logs one ``Starting session: command`` per command it ran, and that
   count equals the audit entries that reached the host.
b. What the hosts are: a snapshot of each host, read from inside it (not over ssh), before and
   after the three runs is the same (see :mod:`fleet_tests.hoststate` for what it holds).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import shlex
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fleet import Fleet
from fleet.host import Host, bounded_wait
from fleet_tests.checkrun import ROOT, Seen, run_checks
from fleet_tests.hoststate import differences, snapshot

from maintcheck import facts, inventory

pytestmark = pytest.mark.fleet
CHANGE = "CHG-READONLY"
PHASES = ("pre", "during", "post")
PROBE_SH = (ROOT / "src" / "maintcheck" / "probe.sh").read_bytes()
VERBOSE_SSHD = "/etc/ssh/sshd_config.d/zz-readonly-proof.conf"

# The reviewed list: every command a run may send, and why it only reads.
VALIDATE = {
    ("sshd", "-t"): "sshd's config test: parses the config, starts nothing",
    ("nginx", "-t"): "nginx's config test",
    ("haproxy", "-c", "-f", "/etc/haproxy/haproxy.cfg"): "HAProxy's config check mode",
}
PSQL = ["runuser", "-u", "postgres", "--", "env", "PGOPTIONS=-c default_transaction_read_only=on",
        "psql", "-XAtq", "-v", "ON_ERROR_STOP=1"]
# Statements by sha256: read once by a reviewer; a changed statement is reviewed again.
REVIEWED_SQL = {
    "544747b5e418f8e531b7f371dd4171012f7d600549a23dbe5d5d49811aa4fd05":
        "SELECT from pg_stat_replication: each replica's state and lag, on the primary",
    "ce46ab50dc59f26acf770d5ea4e1c6339baa2dbca5660b75cf834fdbf499b8d2":
        "SELECT from pg_stat_wal_receiver: recovery, receiver state and lag, on a replica",
}
PG_ISREADY = re.compile(r"pg_isready -h [\w.:-]+ -p \d+ -t \d+")
CAT = re.compile(r"cat /[\w./-]+")
NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


@dataclass(frozen=True)
class Proof:
    """The three runs, what each host's sshd saw, and each host before and after."""

    runs: dict[str, Seen]
    sessions: dict[str, list[str]]  # host -> sshd's "Starting session" lines
    before: dict[str, dict[str, str]]
    after: dict[str, dict[str, str]]
    controller: str

    def audit(self, host: str) -> list[dict[str, Any]]:
        return [e for seen in self.runs.values() for e in seen.document["audit"].get(host, [])]


def each(fleet: Fleet, fn: Any) -> dict[str, Any]:
    hosts = list(fleet.hosts.values())
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        return dict(zip([h.name for h in hosts], pool.map(fn, hosts), strict=True))


@contextlib.contextmanager
def verbose_sshd(fleet: Fleet) -> Iterator[None]:
    """Each host's sshd logs every session it starts (LogLevel VERBOSE), until the end."""
    def set_level(host: Host, on: bool) -> None:
        if on:
            host.write_file(VERBOSE_SSHD, "LogLevel VERBOSE\n")
        else:
            host.exec(["rm", "-f", VERBOSE_SSHD])
        host.exec("sshd -t && systemctl reload ssh")
        # sshd re-executes on reload: wait until it greets again over real ssh
        bounded_wait(f"{host.name}'s sshd after reload",
                     lambda: host.ssh("true", check=False, timeout=10).returncode == 0,
                     timeout=30, interval=0.5)

    each(fleet, lambda h: set_level(h, True))
    try:
        yield
    finally:
        each(fleet, lambda h: set_level(h, False))


def cursor(host: Host) -> str:
    out: str = host.exec("journalctl --show-cursor -n 0 -q").stdout
    return out.split("-- cursor: ", 1)[1].strip()


def sessions_since(host: Host, after: str) -> list[str]:
    out = host.exec(["journalctl", "-q", "-o", "cat", "-t", "sshd", f"--after-cursor={after}"],
                    timeout=60).stdout
    return [line for line in out.splitlines() if line.startswith("Starting session:")]


@pytest.fixture(scope="module")
def proof(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Proof:
    reports = tmp_path_factory.mktemp("read-only-evidence")
    with verbose_sshd(fleet):
        before = each(fleet, snapshot)
        cursors = each(fleet, cursor)
        runs = {phase: run_checks(phase, fleet.inventory_path, reports, change=CHANGE)
                for phase in PHASES}
        sessions = each(fleet, lambda h: sessions_since(h, cursors[h.name]))
        after = each(fleet, snapshot)
    return Proof(runs, sessions, before, after, fleet.addr.gateway)


def probe_scripts(inventory_path: Path) -> dict[str, str]:
    """sha256 -> the exact stdin of each probe a run may send (facts, pending updates)."""
    scripts = {}
    for host in inventory.load(inventory_path).hosts:
        for header in (facts.probe_header(host), facts.updates_header(host)):
            script = facts.render_probe(header)
            scripts[hashlib.sha256(script.encode()).hexdigest()] = script
    return scripts


def not_reviewed(entry: dict[str, Any], scripts: dict[str, str]) -> str | None:
    """Why an audit entry is not a command on the reviewed list; None when it is."""
    command = str(entry["command"])
    argv = shlex.split(command)
    if "probe" in entry:
        if argv != ["sh", "-s"]:
            return "a probe runs as `sh -s` with the script on stdin"
        if entry["probe"] != f"probe.sh sha256:{hashlib.sha256(PROBE_SH).hexdigest()}":
            return f"approved as {entry['probe']!r}, not as src/maintcheck/probe.sh"
        script = scripts.get(str(entry.get("stdin_sha256")))
        if script is None:
            return "its stdin is not probe.sh behind a header rendered from the inventory"
        if not script.endswith(PROBE_SH.decode()):
            return "its stdin does not end with probe.sh"
        header = script[:-len(PROBE_SH.decode())]
        return None if only_assignments(header) else "its header is not only assignments"
    if tuple(argv) in VALIDATE or PG_ISREADY.fullmatch(command) or CAT.fullmatch(command):
        return None
    if argv[:len(PSQL)] == PSQL:
        rest = argv[len(PSQL):]
        while rest[:1] in (["-h"], ["-p"]):
            rest = rest[2:]
        if len(rest) == 2 and rest[0] == "-c":
            digest = hashlib.sha256(rest[1].encode()).hexdigest()
            return None if digest in REVIEWED_SQL else f"SQL not reviewed (sha256 {digest})"
    return "not on the reviewed list"


def only_assignments(header: str) -> bool:
    """The header is nothing but ``NAME='value'`` lines, each value safely quoted: read back
    as shell words and quoted again, it is the same text."""
    try:
        pairs = [word.split("=", 1) for word in shlex.split(header)]
    except ValueError:
        return False
    if any(len(pair) != 2 or not NAME.fullmatch(pair[0]) for pair in pairs):
        return False
    return header == "".join(f"{name}={shlex.quote(value)}\n" for name, value in pairs)


def test_the_three_runs_ran_on_every_host(proof: Proof, fleet: Fleet) -> None:
    for phase, seen in proof.runs.items():
        assert seen.automated(), f"{phase}: nothing ran\n{seen.output}"
        assert seen.document["unreachable"] == {}, (phase, seen.document["unreachable"])
        quiet = [h for h in fleet.hosts if not seen.document["audit"].get(h)]
        assert quiet == [], f"{phase}: no command sent to {quiet}"


def test_every_command_sent_is_on_the_reviewed_list(proof: Proof, fleet: Fleet) -> None:
    scripts = probe_scripts(fleet.inventory_path)
    problems = [f"{host}: {entry['command'][:120]!r}: {why}"
                for host in fleet.hosts for entry in proof.audit(host)
                if (why := not_reviewed(entry, scripts))]
    assert problems == [], "\n".join(problems)


def test_the_probe_sent_is_the_reviewed_probe_sh(proof: Proof, fleet: Fleet) -> None:
    wanted = hashlib.sha256(PROBE_SH).hexdigest()
    for seen in proof.runs.values():
        assert seen.document["maintcheck"]["probe_sha256"] == wanted
    probes = [e for host in fleet.hosts for e in proof.audit(host) if "probe" in e]
    assert probes and {e["probe"] for e in probes} == {f"probe.sh sha256:{wanted}"}


def test_the_audit_log_holds_every_session_the_hosts_saw(proof: Proof, fleet: Fleet) -> None:
    """sshd's count of commands started equals the audit entries that reached each host."""
    problems = []
    for host in fleet.hosts:
        audited = [e for e in proof.audit(host) if e["outcome"] in ("ran", "timeout")]
        seen = proof.sessions[host]
        others = [line for line in seen
                  if not line.startswith(f"Starting session: command for root from "
                                         f"{proof.controller} port ")]
        if others:
            problems.append(f"{host}: sessions not from the controller's commands: {others}")
        print(f"{host}: sshd started {len(seen)} sessions; audit log: {len(audited)} commands")
        if len(seen) != len(audited):
            problems.append(f"{host}: sshd started {len(seen)} sessions, the audit log has "
                            f"{len(audited)} commands")
    assert problems == [], "\n".join(problems)


def test_the_hosts_did_not_change(proof: Proof, fleet: Fleet) -> None:
    problems = [f"{host}: {line}" for host in fleet.hosts
                for line in differences(proof.before[host], proof.after[host])]
    assert problems == [], "\n".join(problems[:80])
    # the snapshot saw what a mutation would touch (not an empty read)
    db = proof.before["db-01"]
    assert {"packages", "units", "processes", "listening", "etc", "firewall",
            "postgres-databases", "postgres-replication"} <= set(db)
    assert "/etc/ssh/sshd_config" in db["etc"] and "app|t" in db["postgres-databases"]
    assert "web,web-01,UP" in proof.before["lb-01"]["haproxy-servers"]
