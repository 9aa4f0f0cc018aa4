"""A real fleet on one machine: Debian hosts with systemd as PID 1, for tests and the demo.

>>> from fleet import DEMO, Fleet, faults
>>> with Fleet(DEMO) as fl:
...     fl.host("web-01").exec("systemctl is-active nginx")
"""

from __future__ import annotations

from . import faults, observe
from .faults import Fault
from .harness import Fleet, FleetError, down_slot, preflight
from .host import ExecError, Host, HostError
from .spec import DEMO, FleetSpec, HostSpec

__all__ = [
    "DEMO",
    "ExecError",
    "Fault",
    "Fleet",
    "FleetError",
    "FleetSpec",
    "Host",
    "HostError",
    "HostSpec",
    "down_slot",
    "faults",
    "observe",
    "preflight",
]
