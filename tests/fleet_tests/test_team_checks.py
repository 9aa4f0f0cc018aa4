"""A team's own check, from its Markdown line to a passing and a failing run on the fleet.

The files are the README's ("Writing a check"), read from it: a team project made with
``maintcheck init``, one line added to its Markdown and imported, its own variable
(``maintcheck_timezone``), its own declared command (``timedatectl show``) and the check.
Healthy, 2.7 passes on every host and the audit log marks each ``timedatectl`` as the team's;
with web-01's clock set to another zone, 2.7 FAILS on web-01 alone, naming both zones.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from fleet import Fleet
from fleet_tests.checkrun import ROOT, Seen, read_seen, user_env

from maintcheck import project

pytestmark = pytest.mark.fleet
README = (ROOT / "README.md").read_text(encoding="utf-8")
SECTION = README.split("## Writing a check", 1)[1].split("\n## ", 1)[0]
CHECK = "test_hosts_run_in_the_declared_timezone"
OTHER_ZONE = "America/New_York"


def block(after: str) -> str:
    """The fenced block that follows the README's first mention of ``after``."""
    found = re.search(re.escape(after) + r".*?```\w*\n(.*?)```", SECTION, re.DOTALL)
    assert found, f"README, Writing a check: no block after {after}"
    return "\n".join(line.removeprefix("   ") for line in found[1].splitlines()) + "\n"


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A team project with the README's line, variable, command and check, imported."""
    folder = tmp_path_factory.mktemp("team") / "ops-checklist"
    project.init(folder)
    markdown = folder / "checks" / "checklist.md"
    text = markdown.read_text(encoding="utf-8")
    anchor = "- [ ] Load balancer health checks passing\n"
    markdown.write_text(text.replace(anchor, anchor + block("The line, under")),
                        encoding="utf-8")
    (folder / "checks" / "variables.yml").write_text(block("`checks/variables.yml`:"))
    (folder / "checks" / "commands.yml").write_text(block("`checks/commands.yml` (review"))
    (folder / "checks" / "pre" / "test_02_team_timezone.py").write_text(
        block("`checks/pre/test_02_team_timezone.py`:"))
    imported = maintcheck(folder, "checklist", "import", "checks/checklist.md")
    assert "added 2.7: Hosts run in the declared timezone" in imported.stdout
    return folder


def maintcheck(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "maintcheck.cli", *args], cwd=folder,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def run_pre(folder: Path, fleet: Fleet, change: str) -> Seen:
    """``pytest checks/pre`` in the team's project against the fleet, as a user runs it."""
    argv = [sys.executable, "-m", "pytest", "checks/pre", "--inventory",
            str(fleet.inventory_path), "--no-prompt", "--change", change, "-q"]
    r = subprocess.run(argv, cwd=folder, env=user_env(), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=240, check=False)
    assert "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    return read_seen(folder / "reports" / change / "pre.json", r.returncode, 0.0, r.stdout,
                     r.stderr)


def team_cells(seen: Seen) -> dict[str, tuple[str, str]]:
    return {c.host: (c.outcome, c.message) for c in seen.cells.values() if c.item == "2.7"}


def test_the_team_check_passes_then_fails_on_exactly_the_changed_host(
        team: Path, fleet: Fleet) -> None:
    listed = maintcheck(team, "checklist", "--phase", "pre").stdout
    assert re.search(r"2\.7 +Hosts run in the declared timezone +pre +automated +"
                     rf"checks/pre/test_02_team_timezone\.py::{CHECK}", listed), listed
    assert "maintcheck_timezone  str  default \"Etc/UTC\"  items 2.7" in maintcheck(
        team, "vars").stdout

    healthy = run_pre(team, fleet, "TEAM-1")
    hosts = set(fleet.hosts)
    assert team_cells(healthy) == {h: ("passed", "") for h in hosts}, healthy.explain()
    for host in hosts:
        sent = [e for e in healthy.document["audit"][host] if e["command"].startswith(
            "timedatectl")]
        assert [(e["command"], e["allowlist"]) for e in sent] == [
            ("timedatectl show --property=Timezone --value",
             "team: checks/commands.yml:2")], sent

    web = fleet.host("web-01")
    before = web.exec("readlink /etc/localtime").stdout.strip()
    # timedated reads the zone when it starts: stopped, the next question starts it afresh
    web.exec(f"ln -sfn /usr/share/zoneinfo/{OTHER_ZONE} /etc/localtime && "
             "systemctl stop systemd-timedated")
    try:
        faulty = run_pre(team, fleet, "TEAM-2")
    finally:
        web.exec(["sh", "-c", 'ln -sfn "$1" /etc/localtime && systemctl stop systemd-timedated',
                  "restore", before])
    cells = team_cells(faulty)
    outcome, message = cells.pop("web-01")
    assert outcome == "failed", faulty.explain()
    assert message.startswith(f"web-01: timezone {OTHER_ZONE}, expected Etc/UTC"), message
    assert cells == {h: ("passed", "") for h in hosts - {"web-01"}}, faulty.explain()
    print(f"\nhealthy: {healthy.output[-600:]}\nfaulty: {faulty.output[-900:]}")
