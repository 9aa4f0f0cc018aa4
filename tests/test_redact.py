"""Secrets are masked in every text that leaves the controller."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from maintcheck.redact import Redactor, is_secret_name


def test_secret_names() -> None:
    assert is_secret_name("db_password") and is_secret_name("API_TOKEN")
    assert is_secret_name("maintcheck_http_password") and is_secret_name("aws_secret")
    assert is_secret_name("release", ["release"])
    assert not is_secret_name("ansible_ssh_private_key_file")
    assert not is_secret_name("maintcheck_disk_max_percent")


def test_learned_values_urls_and_headers_are_masked() -> None:
    r = Redactor()
    r.learn({"db_password": "hunter22", "nested": {"x": 1}, "maintcheck_http_token": "tok-9"})
    r.learn({"release": "v1"}, ["release"])  # too short to mask safely
    text = ("login hunter22 to https://u:pa55word@app.example/ with "
            "Authorization: Bearer abc.def-123 and tok-9")
    out = r.text(text)
    assert "hunter22" not in out and "pa55word" not in out and "abc.def-123" not in out
    assert "tok-9" not in out and out.count("***") == 4


def test_values_inside_structures() -> None:
    r = Redactor({"s3cr3t"})
    assert r.value({"a": ["x s3cr3t y"], "b": 2}) == {"a": ["x *** y"], "b": 2}


def test_a_secret_prints_as_stars_and_is_revealed_only_on_purpose() -> None:
    from maintcheck.secret import Secret

    pw = Secret("hunter2-long")
    assert repr(pw) == str(pw) == f"{pw}" == f"{pw:>10}" == "***"
    assert pw.reveal() == "hunter2-long" and pw == Secret("hunter2-long") and pw
    assert "hunter2" not in repr({"password": pw, "list": [pw]})


def test_domain_objects_print_no_secret_and_no_address(tmp_path: Path) -> None:
    """What pytest -l prints of a failing check's arguments."""
    from maintcheck.inventory import load
    from maintcheck.runner import CommandRunner
    from maintcheck.secret import Credential, HttpOptions, Scope, Secret

    (tmp_path / "hosts.yml").write_text(
        "all:\n  hosts:\n    web-01:\n      ansible_host: 10.0.0.5\n"
        "      ansible_ssh_common_args: >-\n"
        "        -o ProxyCommand=\"sshpass -p Ssh-pass-8812 ssh -W %h:%p b\"\n"
        "      maintcheck_http_password: Http-pass-7731\n      api_token: Api-tok-5521\n"
        "      maintcheck_http: [{url: 'http://h/', headers: {X-Api-Key: Hdr-key-9941}}]\n")
    host = load(tmp_path / "hosts.yml").host("web-01")
    red = Redactor()
    red.learn(host.variables)
    runner = CommandRunner("web-01", ["ssh", *host.ssh_args, "--", "10.0.0.5"], redactor=red)
    scope = Scope.of([("http://h/", Credential("u", Secret("Http-pass-7731")), True)])
    options = HttpOptions(timeout=5.0, ca_bundle=None, credentials=scope, redactor=red,
                          on_retry=lambda *a: None)
    shown = [repr(o) for o in (host, host.expect, red, runner, options, scope,
                               dict(host.variables), host.expect["http"])]
    for text in shown:
        assert "0x" not in text and "object at" not in text, text
        for secret in ("Ssh-pass-8812", "Http-pass-7731", "Api-tok-5521", "Hdr-key-9941"):
            assert secret not in text, text
    assert shown[0] == "Host('web-01', 10.0.0.5:22)"


def test_every_occurrence_is_masked_whole() -> None:
    r = Redactor({"abc-123-xyz", "123"})
    assert r.text("abc-123-xyz abc-123-xyz 123 x123y") == "*** *** *** x***y"


@pytest.mark.parametrize(("variables", "text", "hidden"), [
    ({"maintcheck_validate_commands": ["curl -fsS -u admin:Curl-pw-1 http://h/"]},
     "refused: curl -fsS -u admin:Curl-pw-1 http://h/", "Curl-pw-1"),
    ({"maintcheck_validate_commands": ["mysql -uroot -pMy-pw-2 -e 'select 1'"]},
     "'mysql' is not on the read-only allowlist: 'mysql -uroot -pMy-pw-2 -e ...'", "My-pw-2"),
    ({"maintcheck_validate_commands": ["env PGPASSWORD=Pg-pw-3 psql -c 'SELECT 1'"]},
     "env PGPASSWORD=Pg-pw-3 psql", "Pg-pw-3"),
    ({"maintcheck_validate_commands": ["tool --password=Long-pw-4 --user x"]},
     "tool --password=Long-pw-4", "Long-pw-4"),
    ({"maintcheck_validate_commands": ["tool --password Long-pw-5"]},
     "tool --password Long-pw-5", "Long-pw-5"),
    ({"ansible_ssh_common_args": "-o ProxyCommand=\"sshpass -p Sshpass-6 ssh -W %h:%p b\""},
     "ssh -o 'ProxyCommand=sshpass -p Sshpass-6 ssh -W %h:%p b'", "Sshpass-6"),
    ({"ansible_ssh_extra_args": "-o 'ProxyCommand=sshpass -pSshpass-7 ssh -W %h:%p b'"},
     "ProxyCommand=sshpass -pSshpass-7", "Sshpass-7"),
    ({"maintcheck_validate_commands": ["curl -H 'Authorization: Bearer Hdr-tok-8' http://h"]},
     "curl -H 'Authorization: Bearer Hdr-tok-8'", "Hdr-tok-8"),
    ({"maintcheck_http": [{"url": "http://Url-token-9@h/"}]}, "GET http://Url-token-9@h/",
     "Url-token-9"),
    ({"maintcheck_http": [{"url": "http://u:Url-pw%40-10@h/"}]}, "sent Url-pw@-10, Url-pw%40-10",
     "Url-pw"),
])
def test_passwords_on_command_lines_and_in_urls_are_learnt(variables: dict[str, object],
                                                           text: str, hidden: str) -> None:
    r = Redactor()
    r.learn(variables)
    assert hidden not in r.text(text) and "***" in r.text(text)


def test_command_line_passwords_are_masked_even_unlearnt() -> None:
    r = Redactor()
    for text in ("sshpass -p Unknown-1 ssh h", "x --password=Unknown-1", "mysql -u r -pUnknown-1",
                 "curl -u admin:Unknown-1 http://h"):
        assert "Unknown-1" not in r.text(text), text


def test_basic_auth_and_url_forms_of_a_secret_are_masked() -> None:
    import base64
    from urllib.parse import quote

    r = Redactor()
    r.learn({"maintcheck_http_password": "p@ss w'rd\\x", "maintcheck_http_username": "admin"})
    r.add_basic_auth("admin", "p@ss w'rd\\x")
    for form in (quote("p@ss w'rd\\x", safe=""), repr("p@ss w'rd\\x")[1:-1],
                 base64.b64encode(b"admin:p@ss w'rd\\x").decode(),
                 base64.b64encode(b"p@ss w'rd\\x").decode().rstrip("=")):
        assert form not in r.text(f"<{form}>"), form


secrets = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF,
                                         blacklist_characters="."), min_size=8, max_size=300)


@settings(max_examples=200, deadline=None)
@given(secret=secrets, data=st.data())
def test_a_secret_cut_anywhere_shows_no_fragment(secret: str, data: st.DataObject) -> None:
    """pytest cuts a long value in the middle (``abc...xyz``); neither side of the cut, nor
    the secret's beginning at a text's end, shows more than 3 of its characters."""
    r = Redactor()
    r.learn({"password": secret})
    for form in (secret, repr(secret)[1:-1]):
        i = data.draw(st.integers(0, len(form)), label="cut from")
        j = data.draw(st.integers(i, len(form)), label="cut to")
        head, tail = form[:i], form[j:]
        for text in (f"x = '{head}...{tail}' y", f"  {head}", f"{tail} ", f"{form}{form}"):
            out = r.text(text)
            for fragment in (head, tail, form):
                assert len(fragment) < 4 or fragment not in out, (text, out)


@pytest.mark.parametrize("text", [
    "a" * 1_000_000, "a://" + "b" * 1_000_000, "a://b:" + "c" * 1_000_000 + "@",
    "http://a:b@c " * 80_000, " -u a:" * 200_000, "Secr..." * 150_000, "mysql " * 200_000,
    "0123456789abcdef" * 60_000, "@" * 1_000_000, "authorization: bearer " * 50_000,
])
def test_redaction_is_linear_in_the_text(text: str) -> None:
    """1 MB of the inputs that made the old patterns backtrack: well under a second each here
    (the old URL pattern took 27 s over 200 KB)."""
    import time

    r = Redactor()
    r.learn({"password": "Secret-Value-123456"})
    started = time.perf_counter()
    r.learn({"value": text, "maintcheck_validate_commands": [text[:200_000]]})
    r.text(text)
    assert time.perf_counter() - started < 5
