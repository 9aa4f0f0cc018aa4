"""What keeps a large fleet cheap: one probe per host, costly facts on demand, few idle masters."""

from __future__ import annotations

from pathlib import Path

import pytest

from maintcheck import inventory, targets
from maintcheck.errors import HostUnreachable
from maintcheck.facts import FactCache, parse
from maintcheck.runner import Result

APT_INST = "Inst openssl [3.0.1] (3.0.2 Debian-Security:12/stable-security [amd64])"


class FakeRunner:
    """Answers the probe like a host would, and counts what was asked."""

    def __init__(self, host: str, *, reachable: bool = True) -> None:
        self.host = host
        self.reachable = reachable
        self.asked: list[str] = []  # SECURITY_UPDATES of each probe sent

    def run(self, argv: list[str], *, stdin: str | None = None,
            timeout: float | None = None, approved: str | None = None) -> Result:
        assert approved and approved.startswith("probe.sh sha256:")
        wants = "yes" if "SECURITY_UPDATES=yes" in (stdin or "") else "no"
        self.asked.append(wants)
        if not self.reachable:
            raise HostUnreachable(f"{self.host}: connection refused")
        out = "@@maintcheck hostname\n" + self.host + "\n"
        if wants == "yes":
            out += "@@maintcheck apt_simulate\n" + APT_INST + "\n"
        return Result(0, out + "@@maintcheck end\n", "")


@pytest.fixture
def hosts(tmp_path: Path) -> list[inventory.Host]:
    (tmp_path / "hosts.yml").write_text(
        "all:\n  hosts:\n    a: {ansible_host: 192.0.2.1}\n    b: {ansible_host: 192.0.2.2}\n"
        "    c: {ansible_host: 192.0.2.3}\n")
    return list(inventory.load(tmp_path / "hosts.yml").hosts)


def test_updates_are_probed_once_for_every_reachable_host_on_first_use(
        hosts: list[inventory.Host]) -> None:
    runners = {"a": FakeRunner("a"), "b": FakeRunner("b"), "c": FakeRunner("c", reachable=False)}
    cache = FactCache(hosts, runners, timeout=5)
    a = cache.get(hosts[0])
    assert [r.asked for r in runners.values()] == [["no"], ["no"], ["no"]]
    assert a.security_updates == ["openssl (3.0.2)"]
    assert [r.asked for r in runners.values()] == [["no", "yes"], ["no", "yes"], ["no"]]
    assert cache.get(hosts[1]).security_updates == ["openssl (3.0.2)"]
    assert [r.asked for r in runners.values()] == [["no", "yes"], ["no", "yes"], ["no"]]
    with pytest.raises(HostUnreachable):
        cache.get(hosts[2])


def test_a_forgotten_host_is_probed_afresh_for_both(hosts: list[inventory.Host]) -> None:
    runners = {h.name: FakeRunner(h.name) for h in hosts}
    cache = FactCache(hosts, runners, timeout=5)
    assert cache.get(hosts[0]).security_updates == ["openssl (3.0.2)"]
    cache.forget("a")
    assert cache.get(hosts[0]).security_updates == ["openssl (3.0.2)"]
    assert runners["a"].asked == ["no", "yes", "no", "yes"]
    assert runners["b"].asked == ["no", "yes"]


def test_idle_connections_are_bounded_and_all_closed_at_the_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []
    monkeypatch.setattr(targets, "close_master", lambda path: closed.append(path.name) or True)
    name = targets.Connections.name
    conns = targets.Connections(tmp_path / "cm", keep=2)
    (tmp_path / "cm").mkdir()
    for host in ("a", "b", "c"):
        conns.busy(host)
        conns.idle(host)
    assert closed == [name("a")]  # the least recently used beyond two
    conns.busy("b")  # a command in flight is never closed under it
    conns.busy("d")
    conns.idle("d")
    conns.busy("e")
    conns.idle("e")
    assert closed == [name("a"), name("c")]
    conns.close()
    assert sorted(closed[2:]) == sorted([name("b"), name("d"), name("e")])
    assert not (tmp_path / "cm").exists()


def test_listening_ports_from_ss_or_proc_agree() -> None:
    ss = ("Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n"  # ss state listening
          "0      128          0.0.0.0:22        0.0.0.0:*\n"
          "0      511             [::]:443          [::]:*\n")
    proc = ("  sl  local_address rem_address   st tx_queue rx_queue\n"
            "   0: 00000000:0016 00000000:0000 0A 00000000:00000000\n"
            "   1: 0100007F:1F90 0100007F:D2A4 01 00000000:00000000\n"
            "   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A\n")
    end = "\n@@maintcheck end\n"
    from_ss = parse("h", "@@maintcheck listen\n" + ss + end).listening_ports
    from_proc = parse("h", "@@maintcheck tcp\n" + proc + end).listening_ports
    assert from_ss == from_proc == {22, 443}
