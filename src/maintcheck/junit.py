"""The JUnit report tells the evidence's story: one testcase per check, its last attempt.

pytest's junitxml writes a testcase for every attempt that ``--wait`` re-runs, so a check that
failed twice and then passed counts as two failures of a PASSED run. ``keep_last_attempts``
rewrites the file before it is sealed: each check keeps its last testcase, with the earlier
attempts as properties, and the suite's counts are recounted.

>>> keep_last_attempts(Path("reports/CHG-1/post.xml"))
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

__all__ = ["keep_last_attempts"]

COUNTED = {"failure": "failures", "error": "errors", "skipped": "skipped"}


def state(case: ET.Element) -> str:
    """``failure``, ``error``, ``skipped`` or ``passed``: what a testcase element says."""
    return next((child.tag for child in case if child.tag in COUNTED), "passed")


def keep_last_attempts(path: Path) -> None:
    """Rewrite a JUnit file so that each check appears once, as its last attempt."""
    tree = ET.parse(path)
    for suite in tree.getroot().iter("testsuite"):
        last: dict[tuple[str, str], ET.Element] = {}
        earlier: dict[tuple[str, str], list[str]] = {}
        for case in suite.findall("testcase"):
            key = (case.get("classname", ""), case.get("name", ""))
            if key in last:
                earlier.setdefault(key, []).append(state(last[key]))
                suite.remove(last[key])
            last[key] = case
        for key, attempts in earlier.items():
            properties = last[key].find("properties")
            if properties is None:
                properties = ET.Element("properties")
                last[key].insert(0, properties)
            ET.SubElement(properties, "property", name="attempts", value=str(len(attempts) + 1))
            ET.SubElement(properties, "property", name="earlier_attempts",
                          value=", ".join(attempts))
        states = [state(case) for case in last.values()]
        suite.set("tests", str(len(states)))
        for tag, attribute in COUNTED.items():
            suite.set(attribute, str(states.count(tag)))
    tree.write(path, encoding="utf-8", xml_declaration=True)
