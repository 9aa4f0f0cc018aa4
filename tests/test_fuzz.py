"""Hostile input: whatever the inventory or answers file holds, a clear error, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maintcheck import catalog, inventory
from maintcheck.confirmations import load_answers
from maintcheck.errors import InputError
from maintcheck.schema import VARIABLES

ROOT = Path(__file__).resolve().parents[1]
CAT = catalog.load(ROOT / "checks" / "checklist.yml")
NOW = datetime(2026, 11, 26, tzinfo=UTC)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False), st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)
names = st.one_of(st.sampled_from([v.full_name for v in VARIABLES]),
                  st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=25).map(
                      lambda s: "maintcheck_" + s))
FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def loads_or_refuses(path: Path) -> None:
    """Host h1, or one InputError with every problem a line: never a traceback."""
    try:
        inv = inventory.load(path)
    except InputError as exc:
        assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
    else:
        assert [h.name for h in inv.hosts] == ["h1"]


@FUZZ
@given(host_vars=st.dictionaries(names, values, max_size=5))
def test_inventory_variables_never_crash(tmp_path_factory, host_vars) -> None:
    base = tmp_path_factory.mktemp("inv")
    (base / "hosts.yml").write_text(yaml.safe_dump(
        {"all": {"hosts": {"h1": {"ansible_connection": "local", **host_vars}}}}))
    loads_or_refuses(base / "hosts.yml")


CONNECTION = ["ansible_host", "ansible_ssh_host", "ansible_port", "ansible_ssh_port",
              "ansible_user", "ansible_ssh_user", "ansible_ssh_private_key_file",
              "ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_become",
              "ansible_become_user", "ansible_become_method", "ansible_connection"]
hostile = st.one_of(values, st.floats(), st.sampled_from([
    "-oProxyCommand=touch pwned", "10.0.0.5\nverdict: PASSED", "{{ hostvars['x'].y }}",
    "{% if true %}h{% endif %}", "70000", "abc", "-J ops@-oProxyCommand=x", "winrm", "ssh",
    "local", "root; touch x", "~(", "@file"]))


@FUZZ
@given(host_vars=st.dictionaries(st.sampled_from(CONNECTION), hostile, max_size=5),
       extra=st.dictionaries(names, hostile, max_size=3))
def test_connection_variables_never_crash(tmp_path_factory, host_vars, extra) -> None:
    """The whole shape a host may have, connection variables included: one message, every
    problem a line, or a host; never a traceback."""
    base = tmp_path_factory.mktemp("inv")
    (base / "hosts.yml").write_text(yaml.safe_dump(
        {"all": {"hosts": {"h1": {**host_vars, **extra}}}}))
    loads_or_refuses(base / "hosts.yml")


@FUZZ
@given(text=st.text(max_size=300))
def test_inventory_text_never_crashes(tmp_path_factory, text: str) -> None:
    base = tmp_path_factory.mktemp("inv")
    (base / "hosts.yml").write_text(text)
    try:
        inventory.load(base / "hosts.yml")
    except InputError as exc:
        assert str(exc).startswith(str(base / "hosts.yml"))


answer = st.dictionaries(
    st.sampled_from(["id", "status", "by", "note", "expires", "at", "bogus"]),
    st.one_of(scalars, st.sampled_from(["1.1", "2.2", "yes", "no", "skip",
                                        "2030-01-01T00:00:00Z", "2020-01-01T00:00:00Z"])),
    max_size=6)


@FUZZ
@given(answers=st.one_of(st.lists(answer, max_size=4), values))
def test_answers_file_never_crashes(tmp_path_factory, answers) -> None:
    path = tmp_path_factory.mktemp("ans") / "answers.yml"
    path.write_text(yaml.safe_dump(answers))
    try:
        loaded = load_answers(path, CAT, now=NOW)
    except InputError as exc:
        assert exc.problems
    else:
        assert all(CAT[i].manual and c.by for i, c in loaded.items())


@FUZZ
@given(text=st.text(max_size=300))
def test_answers_text_never_crashes(tmp_path_factory, text: str) -> None:
    path = tmp_path_factory.mktemp("ans") / "answers.yml"
    path.write_text(text)
    try:
        load_answers(path, CAT, now=NOW)
    except InputError:
        pass
