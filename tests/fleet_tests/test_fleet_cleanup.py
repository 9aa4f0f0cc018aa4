"""A run killed halfway leaves nothing behind once the next run (or `fleet down`) cleans up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fleet import down_slot
from fleet.host import bounded_wait
from fleet.state import RunState, alive, mounts_under

pytestmark = pytest.mark.fleet
TESTS = Path(__file__).resolve().parents[1]

SOLO = """
import sys, time
from fleet import Fleet, FleetSpec, HostSpec
fleet = Fleet(FleetSpec((HostSpec("solo-01", ()),)), verbose=False).up()
print(fleet.slot, flush=True)
time.sleep(600)
"""


def test_killed_run_leaves_no_process_and_next_start_cleans_the_rest(fleet_available: None
                                                                      ) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SOLO], cwd=TESTS, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(TESTS)})
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.strip().isdigit(), "the one-host fleet did not come up"
        slot = int(line)
        state = RunState(slot)
        pid1, start = state.data["hosts"]["solo-01"]["pid1"]
        assert alive(pid1, start)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    # The host dies with its controller (parent-death signal), without anyone's help.
    bounded_wait("the orphaned host to die", lambda: not alive(pid1, start), timeout=15)
    state = RunState(slot)
    assert state.exists  # the crash left its record behind...
    workdir = Path(state.data["workdir"])
    links, cgroups = state.data["links"], state.data["cgroups"]
    down_slot(slot)  # ...which the next start of this slot, or `fleet down`, uses to clean up
    time.sleep(0.2)
    assert not RunState(slot).exists
    assert not [link for link in links if Path(f"/sys/class/net/{link}").exists()]
    assert not [cg for cg in cgroups if Path(cg).exists()]
    assert not workdir.exists() and not mounts_under(workdir)
