"""Secrets planted through every path appear in no artefact, as `***` at most."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

SECRETS = {
    "inventory password": "Pw-inventory-7781",
    "named like a token": "Tok-named-5531",
    "declared secret": "Decl-secret-9913",
    "environment": "Env-secret-4402",
    "url basic auth": "Url-pass-6620",
    "header": "Hdr-bearer-3317",
    "vault plaintext": "Vault-plain-5150",
}
VAULT_PASSWORD = b"vault-pw-8841"


def vault_encrypt(plaintext: str) -> str:
    """Ansible's own vault ciphertext of ``plaintext``, as `ansible-vault encrypt_string` gives."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    return VaultLib([("default", VaultSecret(VAULT_PASSWORD))]).encrypt(plaintext).decode()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CHECKS = '''
import pytest

@pytest.mark.checklist("1.1")
def test_command_line_and_output(runner, expect):
    result = runner.run(["grep", "-c", expect["http_password"], "/dev/null"])
    assert result.exit_status == 0, f"grep for {expect['http_password']} said {result.stdout}"

@pytest.mark.checklist("1.2")
def test_url_with_basic_auth(target, expect, probes, http_options):
    probes.http.fetch(expect["http"][0]["url"], **http_options)

@pytest.mark.checklist("1.3")
def test_header(target, expect, probes, http_options):
    probes.http.fetch(expect["http"][1]["url"], headers=expect["http"][1]["headers"],
                      **http_options)

@pytest.mark.checklist("1.4")
def test_assertion_message(target):
    found = dict(target.variables)
    assert found["release_key"] == "x", f"found {found['release_key']} and {found['api_token']}"

@pytest.mark.checklist("1.4")
def test_vault_value_and_its_ciphertext(target, runner):
    """A vault value under a plain name, and the inventory's text (its ciphertext) as output."""
    shown = runner.run(["cat", "INVENTORY"]).stdout
    assert False, f"app_setting={target.variables['app_setting']!r} inventory={shown}"
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
"""


def test_no_secret_in_any_artefact(pytester: pytest.Pytester, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from maintcheck import signing

    keys = signing.generate_key(tmp_path / "op.key", common_name="Op", passphrase=None)
    port = closed_port()
    pytester.makepyprojecttoml(
        '[tool.pytest.ini_options]\nmaintcheck_inventory = "hosts.yml"\n'
        'addopts = ["-p", "no:cacheprovider", "--import-mode=importlib"]\n')
    (pytester.path / "checks" / "pre").mkdir(parents=True)
    (pytester.path / "checks" / "checklist.yml").write_text(CATALOG)
    (pytester.path / "checks" / "pre" / "test_s.py").write_text(
        CHECKS.replace("INVENTORY", str(pytester.path / "hosts.yml")))
    ciphertext = vault_encrypt(SECRETS["vault plaintext"])
    vaulted = "\n".join(f"        {line}" for line in ciphertext.splitlines())
    (pytester.path / "hosts.yml").write_text(f"""
all:
  hosts:
    h1:
      ansible_connection: local
      maintcheck_change: SEC-1
      maintcheck_http_username: admin
      maintcheck_http_password: {SECRETS["inventory password"]}
      api_token: {SECRETS["named like a token"]}
      release_key: {SECRETS["declared secret"]}
      maintcheck_secret_vars: [release_key]
      app_setting: !vault |
{vaulted}
      maintcheck_http:
        - {{url: "http://admin:{SECRETS["url basic auth"]}@127.0.0.1:{port}/"}}
        - url: "http://127.0.0.1:{port}/h"
          headers: {{Authorization: "Bearer {SECRETS["header"]}"}}
""")
    monkeypatch.setenv("MAINTCHECK_DEPLOY_TOKEN", SECRETS["environment"])
    monkeypatch.setenv("MAINTCHECK_PROBE_NOTE", SECRETS["environment"])
    # the vault password is at hand, as on an operator's machine: maintcheck still never decrypts
    (pytester.path / "vault-pass").write_bytes(VAULT_PASSWORD)
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(pytester.path / "vault-pass"))
    result = pytester.runpytest_subprocess(
        "checks/pre", "-vv", "-l", "--no-prompt", "--sign-key", str(keys.key),
        "--sign-cert", str(keys.certificate), "--log-level=DEBUG")
    terminal = result.stdout.str() + result.stderr.str()
    assert "3 failed, 2 errors" in terminal  # the run happened: five checks reported
    artefacts = {p.name: p.read_text(errors="replace")
                 for p in (pytester.path / "reports" / "SEC-1").iterdir()
                 if p.suffix in (".html", ".json", ".xml")}
    assert set(artefacts) == {"pre.html", "pre.json", "pre.xml", "baseline.json",
                              "pre.manifest.json"}
    leaks = {(where, name) for name, secret in SECRETS.items()
             for where, text in [("terminal", terminal), *artefacts.items()] if secret in text}
    assert leaks == set()
    # the ciphertext is masked too, whole or line by line (the failing check printed it)
    lines = [line for line in ciphertext.splitlines()[1:] if line.strip()]
    shown = {(where, line[:16]) for line in lines
             for where, text in [("terminal", terminal), *artefacts.items()] if line in text}
    assert shown == set()
    assert "app_setting='***'" in artefacts["pre.json"]
    assert "***" in artefacts["pre.json"]
