"""Secrets planted through every path appear in no artefact, as `***` at most.

A pre run and a post run of one change, signed, with ``-vv -l -rA`` and DEBUG logging (and a
pre run without ``-vv``, where pytest cuts long values in the middle), against
this machine (a local host), a host behind an ssh ProxyCommand holding a password, and a local
HTTP server that answers every endpoint (so the baseline and the post comparison really happen).
Each secret is longer than pytest's 240-character cut. Every artefact of both runs and both
terminals are searched for each secret, its base64, URL-encoded and ``user:password``-base64
forms, and every 24 characters of the vault ciphertext: zero hits.
"""

from __future__ import annotations

import base64
import hashlib
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from test_credentials import Recorder, basic, serve

pytest_plugins = ["pytester"]


def long_secret(label: str) -> str:
    """A secret well past pytest's 240-character cut, made of URL-safe characters."""
    tail = "".join(hashlib.sha256(f"{label}{i}".encode()).hexdigest() for i in range(5))
    return f"{label}-{tail.upper()[:300]}-{label}"


SECRETS = {name: long_secret(tag) for name, tag in {
    "inventory password": "PwInventory", "named like a token": "TokNamed",
    "declared secret": "DeclSecret", "environment": "EnvSecret", "url basic auth": "UrlPass",
    "url token only": "UrlTokenOnly", "header": "HdrBearer", "cookie header": "CookieVal",
    "vault plaintext": "VaultPlain", "validate command curl": "CurlPw",
    "refused command mysql": "MysqlPw", "ssh args sshpass": "SshpassPw",
    "ansible_password": "AnsiblePw", "become password": "BecomePw",
    "prometheus token": "PromTok",
}.items()}
USERS = {"url basic auth": "admin", "inventory password": "admin", "validate command curl": "ops"}
VAULT_PASSWORD = b"vault-pw-8841"


def vault_encrypt(plaintext: str) -> str:
    """Ansible's own vault ciphertext of ``plaintext``, as `ansible-vault encrypt_string` gives."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    return VaultLib([("default", VaultSecret(VAULT_PASSWORD))]).encrypt(plaintext).decode()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def answering() -> Iterator[tuple[Recorder, int]]:
    """A local HTTP server that answers 200 to everything and records what it was sent: the
    endpoints are really seen, with their credentials."""
    recorder = Recorder()
    server = serve(recorder)
    yield recorder, server.server_address[1]
    server.shutdown()
    server.server_close()


PRE = '''
import shlex
import pytest

@pytest.mark.checklist("1.1")
@pytest.mark.applies_to("http_username")
def test_command_line_and_output(runner, expect):
    result = runner.run(["grep", "-c", expect["http_password"].reveal(), "/dev/null"])
    assert result.exit_status == 0, (
        f"grep for {expect['http_password'].reveal()} said {result.stdout}")

@pytest.mark.checklist("1.2")
@pytest.mark.applies_to("http_username")
def test_endpoints(target, endpoints):
    assert [o.status for _, o in endpoints] == [500], endpoints

@pytest.mark.checklist("1.3")
@pytest.mark.applies_to("http_username")
def test_validate_commands(target, runner, expect):
    results = [runner.run(shlex.split(c)) for c in expect.validate_commands]
    assert [r.exit_status for r in results] == [99], (expect.validate_commands, results)

@pytest.mark.checklist("1.4")
@pytest.mark.applies_to("http_username")
def test_assertion_message(target):
    found = dict(target.variables)
    assert found["release_key"] == "x", (
        f"found {found['release_key'].reveal()} and {found['api_token'].reveal()}, {found}")

@pytest.mark.checklist("1.4")
def test_vault_value_and_its_ciphertext(target, runner):
    """A vault value under a plain name, and the inventory's text (its ciphertext) as output."""
    shown = runner.run(["cat", "INVENTORY"]).stdout
    assert False, f"app_setting={target.variables['app_setting']!r} inventory={shown}"

@pytest.mark.checklist("1.5")
@pytest.mark.applies_to("http_username")
def test_prometheus(target, expect, probes, http_options):
    probes.prometheus.targets(expect.prometheus_url, **http_options)

@pytest.mark.checklist("1.6")
@pytest.mark.applies_to("http_username")
def test_long_values_are_cut_by_pytest(target, expect):
    """Locals longer than 240 characters: pytest shows their beginning and end only."""
    password = expect.http_password.reveal()
    url = expect.http[0]["url"]
    headers = {k: v.reveal() for k, v in expect.http[2]["headers"].items()}
    assert len(password) + len(url) + len(headers) < 10
'''

POST = '''
import pytest

@pytest.mark.checklist("2.1")
def test_latency_no_worse_than_before(target, expect, before, after, compare):
    assert compare.latency_regressed(target.name, before, after, 1000.0, 10000) == []
    assert sorted(before["endpoints"]) == sorted(after["endpoints"]), (before, after)
'''

CATALOG = """
sections:
  - number: 1
    title: Secrets
    phase: pre
    items:
      - {id: "1.1", title: a, kind: automated}
      - {id: "1.2", title: b, kind: automated}
      - {id: "1.3", title: c, kind: automated}
      - {id: "1.4", title: d, kind: automated}
      - {id: "1.5", title: e, kind: automated}
      - {id: "1.6", title: g, kind: automated}
  - number: 2
    title: After
    phase: post
    items:
      - {id: "2.1", title: f, kind: automated}
"""


def forms(name: str, secret: str) -> dict[str, str]:
    """The secret and the ways it may be written."""
    found = {"plain": secret, "base64": base64.b64encode(secret.encode()).decode().rstrip("="),
             "url-encoded": quote(secret, safe=""), "url-encoded+": quote_plus(secret)}
    if name in USERS:
        found["user:pass base64"] = base64.b64encode(
            f"{USERS[name]}:{secret}".encode()).decode().rstrip("=")
    if name == "url token only":
        found["token: base64"] = base64.b64encode(f"{secret}:".encode()).decode().rstrip("=")
    return found


def test_no_secret_in_any_artefact(pytester: pytest.Pytester, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch,
                                   answering: tuple[Recorder, int]) -> None:
    from maintcheck import signing

    s = SECRETS
    keys = signing.generate_key(tmp_path / "op.key", common_name="Op", passphrase=None)
    recorder, port = answering
    web = f"127.0.0.1:{port}"
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\nmaintcheck_inventory = "hosts.yml"\n'
        'addopts = ["-p", "no:cacheprovider", "--import-mode=importlib"]\n')
    for phase in ("pre", "post"):
        (pytester.path / "checks" / phase).mkdir(parents=True)
    (pytester.path / "checks" / "checklist.yml").write_text(CATALOG)
    (pytester.path / "checks" / "pre" / "test_s.py").write_text(
        PRE.replace("INVENTORY", str(pytester.path / "hosts.yml")))
    (pytester.path / "checks" / "post" / "test_p.py").write_text(POST)
    ciphertext = vault_encrypt(s["vault plaintext"])
    vaulted = "\n".join(f"        {line}" for line in ciphertext.splitlines())
    (pytester.path / "hosts.yml").write_text(f"""
all:
  vars:
    maintcheck_change: SEC-1
    maintcheck_http_timeout: 3
  hosts:
    h1:
      ansible_connection: local
      ansible_password: {s["ansible_password"]}
      ansible_become_password: {s["become password"]}
      maintcheck_http_username: admin
      maintcheck_http_password: {s["inventory password"]}
      api_token: {s["named like a token"]}
      release_key: {s["declared secret"]}
      maintcheck_secret_vars: [release_key]
      app_setting: !vault |
{vaulted}
      maintcheck_http:
        - {{url: "http://admin:{s["url basic auth"]}@{web}/basic"}}
        - {{url: "http://{s["url token only"]}@{web}/token"}}
        - url: "http://{web}/h"
          headers: {{Authorization: "Bearer {s["header"]}", Cookie: "sid={s["cookie header"]}"}}
      maintcheck_validate_commands:
        - "curl -fsS -u ops:{s["validate command curl"]} http://{web}/v"
        - "mysql -uroot -p{s["refused command mysql"]} -e 'select 1'"
      maintcheck_prometheus_url: "http://127.0.0.1:{closed_port()}"
      maintcheck_prometheus_token: {s["prometheus token"]}
    h2:
      ansible_host: 127.0.0.1
      ansible_port: {closed_port()}
      maintcheck_connect_timeout: 2
      ansible_ssh_common_args: >-
        -o ProxyCommand="sshpass -p {s["ssh args sshpass"]} ssh -W %h:%p bastion.invalid"
""")
    monkeypatch.setenv("MAINTCHECK_DEPLOY_TOKEN", s["environment"])
    monkeypatch.setenv("MAINTCHECK_PROBE_NOTE", s["environment"])
    # the vault password is at hand, as on an operator's machine: maintcheck still never decrypts
    (pytester.path / "vault-pass").write_bytes(VAULT_PASSWORD)
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(pytester.path / "vault-pass"))
    options = ["-vv", "-l", "-rA", "--no-prompt", "--sign-key", str(keys.key),
               "--sign-cert", str(keys.certificate), "--log-level=DEBUG"]
    pre = pytester.runpytest_subprocess("checks/pre", *options)
    post = pytester.runpytest_subprocess("checks/post", *options)
    # without -vv, pytest cuts long values in the middle (at 240 characters)
    cut = pytester.runpytest_subprocess("checks/pre", "--change", "SEC-CUT",
                                        *[o for o in options if o != "-vv"])
    terminals = {f"{name} terminal": r.stdout.str() + r.stderr.str()
                 for name, r in (("pre", pre), ("post", post), ("cut", cut))}
    assert "password   = '***...***'" in terminals["cut terminal"]  # cut, both sides masked
    # the runs happened: h1's checks failed as planted, h2 is unreachable, post compared
    assert "5 failed, 3 errors" in terminals["pre terminal"], terminals["pre terminal"][-3000:]
    assert "1 passed, 1 error" in terminals["post terminal"], terminals["post terminal"][-3000:]
    report_dir = pytester.path / "reports" / "SEC-1"
    artefacts = {p.name: p.read_bytes().decode(errors="replace") for p in report_dir.iterdir()}
    artefacts.update({f"cut {p.name}": p.read_bytes().decode(errors="replace")
                      for p in (pytester.path / "reports" / "SEC-CUT").iterdir()})
    assert {"pre.html", "pre.json", "pre.xml", "baseline.json", "post.html", "post.json",
            "post.xml", "pre.manifest.json", "pre.manifest.json.p7s", "post.manifest.json",
            "post.manifest.json.p7s"} <= set(artefacts), sorted(artefacts)
    everywhere = {**terminals, **artefacts}
    leaks = {(where, name, form) for name, secret in s.items()
             for form, text in forms(name, secret).items()
             for where, content in everywhere.items() if text in content}
    assert leaks == set()
    # nor a secret's beginning or end, as a cut leaves them: 12 characters from either end
    ends = {(where, name) for name, secret in s.items() for end in (secret[:12], secret[-12:])
            for where, content in everywhere.items() if end in content}
    assert ends == set()
    # the ciphertext is masked too: no 24 characters of it anywhere (the failing check printed it)
    hexes = "".join(ciphertext.splitlines()[1:])
    shown = {(where, i) for i in range(len(hexes) - 23)
             for where, content in everywhere.items() if hexes[i:i + 24] in content}
    assert shown == set()
    # pytest -l printed every frame's locals: no object shows its memory address
    addresses = {where for where, content in everywhere.items()
                 if re.search(r" at 0x[0-9a-f]{6,}", content)}
    assert addresses == set()
    # what was masked is still told apart: the evidence shows where a secret was
    assert "app_setting='***'" in artefacts["pre.json"]
    assert "curl -fsS -u ops:*** http://" in artefacts["pre.json"]  # the audit log's command
    assert "unreachable: h2:" in terminals["pre terminal"]
    assert f"http://{web}/basic" in artefacts["baseline.json"]  # keyed without its credentials
    # and the credentials did go where they were declared for, the baseline's looks included
    assert recorder.sent_to(port, "/basic") == {(basic("admin", s["url basic auth"]), "")}
    assert recorder.sent_to(port, "/token") == {(basic(s["url token only"], ""), "")}
    assert recorder.sent_to(port, "/h") == {(f"Bearer {s['header']}", "")}
