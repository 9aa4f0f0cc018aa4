"""Host key checking on the real sshd: an unknown or a changed host key is ERROR, never a pass.

The run uses a copy of the fleet's inventory whose known_hosts lacks web-02's key and holds
another key for lb-01 (as after a rebuild, or a man in the middle).
"""

from __future__ import annotations

import subprocess

import pytest
import yaml
from fleet import Fleet
from fleet_tests.checkrun import Seen, assert_unreachable, inventory_without, run_checks

pytestmark = pytest.mark.fleet
UNKNOWN, CHANGED = "web-02", "lb-01"


@pytest.fixture(scope="module")
def seen(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Seen:
    scratch = tmp_path_factory.mktemp("host-keys")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(scratch / "other")],
                   check=True, capture_output=True)
    impostor = " ".join((scratch / "other.pub").read_text().split()[:2])
    lines = []
    for line in fleet.known_hosts_path.read_text().splitlines():
        names = line.split(" ", 1)[0].split(",")
        if UNKNOWN in names:
            continue
        lines.append(f"{line.split(' ', 1)[0]} {impostor}" if CHANGED in names else line)
    known_hosts = scratch / "known_hosts"
    known_hosts.write_text("\n".join(lines) + "\n")
    inventory = inventory_without(fleet.inventory_path, scratch / "inventory", "maintcheck_known_hosts")
    all_yml = inventory.parent / "group_vars" / "all.yml"
    data = yaml.safe_load(all_yml.read_text())
    data["maintcheck_known_hosts"] = str(known_hosts)
    all_yml.write_text(yaml.safe_dump(data, sort_keys=False))
    return run_checks("pre", inventory, scratch / "reports", change="CHG-HOSTKEYS")


def test_an_unknown_host_key_is_an_error_that_says_how_to_trust_it(seen: Seen,
                                                                   fleet: Fleet) -> None:
    assert_unreachable(seen, UNKNOWN)
    cause = seen.document["unreachable"][UNKNOWN]
    ip = fleet.host(UNKNOWN).ip
    assert cause.startswith(f"{UNKNOWN}: host key verification failed"), cause
    assert "unknown host" in cause and f"ssh-keyscan -p 22 {ip} >> " in cause, cause
    # a host key failure is not a connection error: never retried
    assert [e["attempt"] for e in seen.document["audit"][UNKNOWN]] == [1]


def test_a_changed_host_key_is_an_error_that_says_it_changed(seen: Seen) -> None:
    assert_unreachable(seen, CHANGED)
    cause = seen.document["unreachable"][CHANGED]
    assert cause.startswith(f"{CHANGED}: host key verification failed"), cause
    assert "CHANGED since it was trusted" in cause and "ssh-keygen -f " in cause, cause
    assert "man-in-the-middle" in cause
    assert [e["attempt"] for e in seen.document["audit"][CHANGED]] == [1]


def test_hosts_with_known_keys_are_checked(seen: Seen) -> None:
    others = [c for c in seen.automated() if c.host not in (UNKNOWN, CHANGED, "-", "n/a")]
    assert any(c.outcome == "passed" for c in others), seen.explain()
    assert set(seen.document["unreachable"]) == {UNKNOWN, CHANGED}
    assert not any(c.outcome == "passed" for c in seen.automated()
                   if c.host in (UNKNOWN, CHANGED))
