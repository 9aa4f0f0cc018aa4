"""Inventories mean what ``ansible-inventory --list`` says they mean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from maintcheck import inventory
from maintcheck.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def write(base: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text(text)


def test_yaml_with_group_and_host_vars_and_connection_variables(tmp_path: Path) -> None:
    write(tmp_path, {
        "hosts.yml": "all:\n  children:\n    web:\n      hosts:\n        web-01:\n"
                     "          ansible_host: '{{ prefix }}.11'\n        web-02:\n"
                     "    db:\n      children:\n        db_primary:\n          hosts:\n"
                     "            db-01: {ansible_port: 2222, ansible_become: true}\n",
        "group_vars/all.yml": "prefix: 10.1.2\nmaintcheck_disk_max_percent: 80\n"
                              "ansible_user: ops\nansible_ssh_private_key_file: ~/.ssh/ops\n",
        "group_vars/web.yml": "maintcheck_services: [nginx]\n",
        "host_vars/web-02.yml": "maintcheck_disk_max_percent: 70\n",
    })
    inv = inventory.load(tmp_path / "hosts.yml")
    web1, web2, db1 = (inv.host(n) for n in ("web-01", "web-02", "db-01"))
    assert web1.address == "10.1.2.11" and web1.user == "ops" and web1.identity == "~/.ssh/ops"
    assert web1.expect.services == ["nginx"] and web1.expect.disk_max_percent == 80
    assert web2.expect.disk_max_percent == 70 and web2.address == "web-02"
    assert db1.port == 2222 and db1.become and db1.expect.services == []
    assert "db_primary" in db1.groups and "db" in db1.groups
    assert web1.expect.memory_max_percent == 95  # a documented default


def test_ini_inventory(tmp_path: Path) -> None:
    write(tmp_path, {"hosts.ini": "[lb]\nlb-01 ansible_host=10.0.0.5 ansible_become=no\n"
                                  "[lb:vars]\nmaintcheck_ports=[80, 443]\n"})
    lb = inventory.load(tmp_path / "hosts.ini").host("lb-01")
    assert lb.address == "10.0.0.5" and lb.become is False and lb.expect.ports == [80, 443]


@pytest.mark.parametrize(("pattern", "hosts"), [
    ("web", ["web-01", "web-02"]), ("web:&canary", ["web-02"]), ("all:!db", ["web-01", "web-02"]),
    ("web-0*", ["web-01", "web-02"]), ("db-01", ["db-01"]), ("web[0]", ["web-01"]),
])
def test_limit_follows_ansible_patterns(tmp_path: Path, pattern: str, hosts: list[str]) -> None:
    write(tmp_path, {"hosts.yml": "all:\n  children:\n    web:\n      hosts: {web-01: , web-02: }\n"
                                  "    canary:\n      hosts: {web-02: }\n"
                                  "    db:\n      hosts: {db-01: }\n"})
    inv = inventory.load(tmp_path / "hosts.yml")
    assert [h.name for h in inv.select(pattern)] == hosts


def test_same_hosts_and_vars_as_ansible_inventory_list() -> None:
    source = ROOT / "inventory" / "example"
    listed = json.loads(subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(source), "--list"],
        capture_output=True, text=True, check=True).stdout)
    inv = inventory.load(source)
    assert sorted(h.name for h in inv.hosts) == sorted(listed["_meta"]["hostvars"])
    for host in inv.hosts:
        theirs = listed["_meta"]["hostvars"][host.name]
        plain = [k for k in theirs if k in host.variables and "{{" not in json.dumps(theirs[k])]
        assert {k: host.variables[k] for k in plain} == {k: theirs[k] for k in plain}
    # where ansible-inventory shows a template, maintcheck renders it as a play would
    assert inv.host("web-01").expect.http[0]["url"] == "https://web-01.example.com/health"
    assert inv.host("lb-01").expect.haproxy_stats_url == "http://192.0.2.10:8404/stats;csv"


def test_every_problem_in_one_error(tmp_path: Path) -> None:
    write(tmp_path, {
        "hosts.yml": "all:\n  hosts:\n    a:\n      maintcheck_tls_warn_days: 3\n"
                     "      maintcheck_tls_fail_days: 10\n      maintcheck_services: nginx\n"
                     "      maintcheck_backups: [{glob: /b/*, max_age: 3}]\n",
    })
    with pytest.raises(InputError) as err:
        inventory.load(tmp_path / "hosts.yml")
    text = str(err.value)
    assert "hosts.yml:6: maintcheck_services must be a list, got str 'nginx'" in text
    assert "hosts.yml:7: maintcheck_backups item 1 unknown key 'max_age'" in text
    assert "did you mean max_age_hours" in text
    assert "tls_warn_days (3) must not be below maintcheck_tls_fail_days (10)" in text


def test_broken_yaml_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {"hosts.yml": "all:\n  hosts:\n    a: {ansible_host: [1\n",
                     "group_vars/all.yml": "x: : y\n"})
    with pytest.raises(InputError) as err:
        inventory.load(tmp_path / "hosts.yml")
    text = str(err.value)
    assert "hosts.yml:4: YAML syntax error" in text or "hosts.yml:3: YAML syntax error" in text
    assert "group_vars/all.yml:1: YAML syntax error" in text


def test_missing_inventory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="inventory not found"):
        inventory.load(tmp_path / "nope.yml")


def vault_yaml(plaintext: str, indent: int) -> str:
    """``!vault |`` and Ansible's own ciphertext of ``plaintext``, indented for a YAML value."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    ciphertext = VaultLib([("default", VaultSecret(b"pw"))]).encrypt(plaintext).decode()
    return "!vault |\n" + "".join(f"{' ' * indent}{line}\n" for line in ciphertext.splitlines())


def test_vault_values_are_sealed_never_decrypted(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pw").write_text("pw\n")
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(tmp_path / "pw"))  # at hand, unused
    monkeypatch.setenv("MC_TEST_PW", "from-the-environment")
    write(tmp_path, {
        "hosts.yml": "all:\n  hosts:\n    h1:\n      ansible_connection: local\n",
        "group_vars/all.yml": (
            f"app_setting: {vault_yaml('plain-text-1', 2)}"
            f"nested: {{list: [{{x: 1}}]}}\n"
            f"ansible_become_password: {vault_yaml('plain-text-2', 2)}"
            "maintcheck_http_password: \"{{ lookup('env', 'MC_TEST_PW') }}\"\n"),
    })
    host = inventory.load(tmp_path / "hosts.yml").host("h1")
    from maintcheck.redact import Redactor, Vaulted

    assert isinstance(host.variables["app_setting"], Vaulted)
    assert host.variables["app_setting"] == "***"
    assert "plain-text" not in repr(dict(host.variables))
    assert host.expect.http_password.reveal() == "from-the-environment"
    assert f"{host.expect.http_password}" == repr(host.expect.http_password) == "***"
    red = Redactor()
    red.learn(host.variables)
    ciphertext = host.variables["app_setting"].ciphertext
    assert red.text(f"x {ciphertext} y") == "x *** y"
    assert "***" in red.text(ciphertext.splitlines()[2])


@pytest.mark.parametrize("value", ["VAULT", "\"{{ vaulted_pw }}\""])
def test_a_vaulted_maintcheck_variable_is_an_input_error(tmp_path: Path, value: str) -> None:
    """maintcheck cannot use what it will not decrypt: one message, with file and line."""
    direct = vault_yaml("s3cret", 2)
    write(tmp_path, {
        "hosts.yml": "all:\n  hosts:\n    h1:\n      ansible_connection: local\n",
        "group_vars/all.yml": f"vaulted_pw: {direct}"
                              f"maintcheck_http_password: {value.replace('VAULT', direct)}",
    })
    with pytest.raises(InputError) as err:
        inventory.load(tmp_path / "hosts.yml")
    [problem] = err.value.problems
    assert "all.yml:" in problem and "maintcheck_http_password is vault-encrypted" in problem
    assert "lookup('env', 'MAINTCHECK_HTTP_PASSWORD')" in problem and "s3cret" not in problem


def test_a_vault_encrypted_file_is_an_input_error_naming_it(tmp_path: Path) -> None:
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = VaultLib([("default", VaultSecret(b"pw"))])
    write(tmp_path, {"hosts.yml": "all:\n  hosts:\n    h1:\n      ansible_connection: local\n"})
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_bytes(vault.encrypt("app_pw: Whole-file-9\n"))
    with pytest.raises(InputError) as err:
        inventory.load(tmp_path / "hosts.yml")
    [problem] = err.value.problems
    assert problem.startswith(f"{tmp_path / 'group_vars' / 'all.yml'}:1: a vault-encrypted file")


def test_ansible_ssh_args_reach_ssh_after_maintchecks_own_options(tmp_path: Path) -> None:
    """A bastion from the inventory (ProxyJump) is used; ssh keeps the first value of an
    option, so maintcheck's own come first and an inventory's StrictHostKeyChecking=no (common
    in inventories written for Ansible) cannot turn host key checking off."""
    from maintcheck.runner import ssh_transport

    write(tmp_path, {"hosts.yml": (
        "all:\n  vars:\n    ansible_ssh_common_args: -o ProxyJump=ops@bastion.example\n"
        "  hosts:\n    b:\n      ansible_ssh_extra_args: -C -o StrictHostKeyChecking=no\n")})
    host = inventory.load(tmp_path / "hosts.yml").host("b")
    assert host.ssh_args == ("-o", "ProxyJump=ops@bastion.example", "-C", "-o",
                             "StrictHostKeyChecking=no")
    argv = ssh_transport(address="b", port=22, user=None, identity=None, known_hosts="/kh",
                         connect_timeout=5, control_dir=tmp_path, extra=host.ssh_args)
    assert argv[-2:] == ["--", "b"] and argv[-7:-2] == list(host.ssh_args)
    assert argv.index("StrictHostKeyChecking=yes") < argv.index("StrictHostKeyChecking=no")


@pytest.mark.parametrize(("args", "says"), [
    ("-t", "ssh -t would change how maintcheck connects"),
    ("-o ControlMaster=no -M", "ssh -M would change"),
    ("-o \"unbalanced", "No closing quotation"),
])
def test_ssh_args_that_would_break_maintcheck_are_input_errors(
        tmp_path: Path, args: str, says: str) -> None:
    write(tmp_path, {"hosts.yml": "all:\n  hosts:\n    a:\n      ansible_ssh_common_args: "
                                  f"{json.dumps(args)}\n"})
    with pytest.raises(InputError) as err:
        inventory.load(tmp_path / "hosts.yml")
    assert "hosts.yml:4: ansible_ssh_common_args: " in str(err.value)
    assert says in str(err.value)


def test_control_characters_in_a_host_name_are_an_input_error_shown_escaped(
        tmp_path: Path) -> None:
    """A host named ``x\\nverdict: PASSED`` cannot print a line of its own."""
    write(tmp_path, {"hosts.yml": 'all:\n  hosts:\n    "x\\nverdict: PASSED\\r\\x07":\n'
                                  "      ansible_connection: local\n"})
    with pytest.raises(InputError) as err:
        inventory.load(tmp_path / "hosts.yml")
    text = str(err.value)
    assert "hosts.yml:3: host name 'x\\nverdict: PASSED\\r\\x07' contains control characters" \
        in text
    assert not any(line.startswith("verdict") for line in text.splitlines())


@pytest.mark.parametrize(("variables", "says"), [
    ("ansible_host: '-oProxyCommand=x'", "ansible_host '-oProxyCommand=x' starts with '-'"),
    ("ansible_host: 'a b'", "contains whitespace or control characters"),
    ('ansible_user: "ops\\n"', "ansible_user 'ops\\n' contains whitespace or control"),
    ("ansible_port: 70000", "ansible_port '70000' is not a port number"),
    ("ansible_port: 'x'", "ansible_port 'x' is not a port number"),
    ("ansible_become: true\n      ansible_become_method: su", "with sudo only"),
    ("ansible_ssh_common_args: '-o ForwardAgent=yes'", "forwards this machine's agent"),
    ("ansible_ssh_common_args: '-o SendEnv=AWS_*'", "sends this machine's environment"),
    ("ansible_ssh_common_args: '-E /tmp/log'", "ssh -E writes a log file on this machine"),
    ("ansible_ssh_common_args: '-oPKCS11Provider=/x.so'", "loads a library"),
    ("ansible_ssh_common_args: '-Cq bastion'", "'bastion' is not an ssh option"),
])
def test_connection_values_are_checked_before_use(tmp_path: Path, variables: str,
                                                  says: str) -> None:
    write(tmp_path, {"hosts.yml": f"all:\n  hosts:\n    a:\n      {variables}\n"})
    with pytest.raises(InputError) as err:
        inventory.load(tmp_path / "hosts.yml")
    assert any(p.startswith(f"{tmp_path / 'hosts.yml'}:") and says in p
               for p in err.value.problems), err.value.problems


def test_usual_ansible_ssh_settings_are_accepted(tmp_path: Path) -> None:
    write(tmp_path, {"hosts.yml": (
        "all:\n  hosts:\n    a:\n      ansible_host: '[fe80::1%eth0]'\n"
        "      ansible_ssh_port: '2222'\n      ansible_ssh_user: 'CORP\\ops'\n"
        "      ansible_become: yes\n      ansible_become_user: postgres\n"
        "      ansible_ssh_common_args: >-\n"
        "        -o ProxyCommand=\"ssh -W %h:%p -q ops@bastion\" -4 -C -o ControlPersist=60s\n"
        "        -o StrictHostKeyChecking=no -J ops@b1:2222,[::1]:22 -i '/keys/my key'\n")})
    a = inventory.load(tmp_path / "hosts.yml").host("a")
    assert (a.address, a.port, a.user, a.become_user) == ("[fe80::1%eth0]", 2222, "CORP\\ops",
                                                          "postgres")
    assert "ProxyCommand=ssh -W %h:%p -q ops@bastion" in a.ssh_args


def test_ansibles_own_warnings_and_errors_pass_through_the_redactor(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ansible quotes inventory text in what it prints (here the word it could not parse)."""
    write(tmp_path, {"hosts.ini": "[web]\nh1 ansible_password=Ini-secret-1234 Ini-secret-1234\n"})
    with pytest.raises(InputError) as err:
        inventory.load(tmp_path / "hosts.ini")
    said = capsys.readouterr()
    assert "got: ***" in said.err  # ansible's warning, masked
    assert "Ini-secret-1234" not in said.err + said.out + str(err.value)


def test_a_huge_inventory_is_refused_before_it_is_read(tmp_path: Path) -> None:
    import time

    with (tmp_path / "hosts.yml").open("w") as f:
        f.write("all:\n  hosts:\n")
        line = "    h{}: {{ansible_host: 10.0.0.1, note: '" + "x" * 200 + "'}}\n"
        for i in range(50 * 1024 * 1024 // len(line)):
            f.write(line.format(i))
    started = time.monotonic()
    with pytest.raises(InputError) as err:
        inventory.load(tmp_path / "hosts.yml")
    assert time.monotonic() - started < 5
    [problem] = err.value.problems
    assert "MiB in 1 files" in problem and "may have at most 8 MiB" in problem


def test_a_huge_value_is_refused_with_its_place(tmp_path: Path) -> None:
    import time

    write(tmp_path, {"hosts.yml": "all:\n  hosts:\n    a:\n      ansible_connection: local\n"
                                  f"      maintcheck_lead: '{'a://b' * 40_000}'\n"
                                  f"      note: '{'http://u:p@' * 20_000}'\n"})
    started = time.monotonic()
    with pytest.raises(InputError) as err:
        inventory.load(tmp_path / "hosts.yml")
    assert time.monotonic() - started < 5
    assert sorted(err.value.problems) == [
        (f"{tmp_path / 'hosts.yml'}:5: maintcheck_lead holds a value of 200000 characters; "
        "a value may have at most 65536"),
        (f"{tmp_path / 'hosts.yml'}:6: note holds a value of 220000 characters; a value may "
        "have at most 65536")]


def test_a_huge_answers_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    from maintcheck.session import Options, build

    answers = tmp_path / "answers.yml"
    answers.write_text("answers:\n" + "  - {id: '1.1', status: yes, by: a}\n" * 40_000)
    with pytest.raises(InputError) as err:
        build(Options(inventory=str(ROOT / "inventory" / "local.yml"),
                      checklist=str(ROOT / "checks" / "checklist.yml"),
                      reports=str(tmp_path / "r"), phases=frozenset({"pre"}),
                      answers=str(answers)))
    assert err.value.problems == [f"{answers}: 1.4 MiB; an answers file may have at most 1 MiB"]


def test_control_characters_in_maintcheck_values_are_input_errors(tmp_path: Path) -> None:
    """An escape sequence in a value would redraw the terminal when a message quotes it."""
    write(tmp_path, {"hosts.yml": 'all:\n  hosts:\n    a:\n      ansible_connection: local\n'
                                  '      maintcheck_lead: "Ada\\rverdict: PASSED"\n'
                                  '      maintcheck_services: ["nginx\\u001b[2K"]\n'
                                  '      maintcheck_error_rate_query: "sum(x)\\n/ sum(y)"\n'})
    with pytest.raises(InputError) as err:
        inventory.load(tmp_path / "hosts.yml")
    assert sorted(err.value.problems) == [
        (f"{tmp_path / 'hosts.yml'}:5: maintcheck_lead holds a control character (\\r): it could "
        "redraw the terminal; remove it"),
        (f"{tmp_path / 'hosts.yml'}:6: maintcheck_services holds a control character (\\x1b): it "
        "could redraw the terminal; remove it")]


def test_only_secrets_are_sealed(tmp_path: Path) -> None:
    """Endpoint headers and secret variables are Secrets; a package named like a secret keeps
    its version as text, for the checks to compare."""
    from maintcheck.secret import Secret

    write(tmp_path, {"hosts.yml": (
        "all:\n  hosts:\n    a:\n      ansible_connection: local\n"
        "      maintcheck_packages: {libsecret-1-0: '0.20.5'}\n"
        "      maintcheck_http: [{url: 'http://h/', headers: {X-Api-Key: k-1, X-Tenant: acme}}]\n"
        "      db_password: p-2\n      nested: {token: t-3, plain: x}\n")})
    a = inventory.load(tmp_path / "hosts.yml").host("a")
    assert a.expect.packages == {"libsecret-1-0": "0.20.5"}
    headers = a.expect.http[0]["headers"]
    assert headers["X-Api-Key"] == Secret("k-1") and headers["X-Tenant"] == "acme"
    assert a.variables["db_password"] == Secret("p-2")
    assert a.variables["nested"] == {"token": Secret("t-3"), "plain": "x"}
    assert a.variables["maintcheck_http"] is a.expect.http


def test_values_that_would_become_a_verdict_are_input_errors_naming_file_and_line(
        tmp_path: Path) -> None:
    """NaN, a typo inside a list of mappings, the nested form and a connection maintcheck does
    not speak: each one problem with its line, all at once, never a PASS or a FAILED."""
    write(tmp_path, {"hosts.yml": (
        "all:\n  hosts:\n"
        "    h1: {ansible_connection: local, maintcheck_load_max_per_cpu: .nan}\n"
        "    h2: {ansible_connection: winrm, ansible_host: 127.0.0.1}\n"
        "    h3: {ansible_connection: local, maintcheck: {services: [nginx]}}\n"
        "    h4: {ansible_connection: local, maintcheck_backups: [{glob: '/b*', "
        "max_age_hours: one day, min_bytes: -1}]}\n"
        "    h5: {ansible_connection: local, maintcheck_http: [{url: 7, status: 999, "
        "max_latency_ms: fast}]}\n")})
    with pytest.raises(InputError) as err:
        inventory.load(tmp_path / "hosts.yml")
    said = {p.split(": ", 1)[0]: p for p in err.value.problems}
    hosts = tmp_path / "hosts.yml"
    assert "must be a finite number, got nan" in said[f"{hosts}:3"]
    assert "ansible_connection 'winrm'" in said[f"{hosts}:4"]
    assert "nested mapping is not read" in said[f"{hosts}:5"]
    assert "maintcheck_services" in said[f"{hosts}:5"]
    assert ("max_age_hours: must be a number, got str 'one day'" in said[f"{hosts}:6"]
            and "min_bytes: must be a finite number not below 0, got -1" in said[f"{hosts}:6"])
    assert all(s in said[f"{hosts}:7"] for s in (
        "url: must be a string, got int 7", "status: must be an HTTP status (100-599), got 999",
        "max_latency_ms: must be an integer, got str 'fast'"))
    assert len(err.value.problems) == 5


def test_toml_and_script_inventories_are_read_as_ansible_reads_them(tmp_path: Path) -> None:
    """Both are enabled in ansible-core by default; a script runs here, as it does for ansible."""
    write(tmp_path, {
        "hosts.toml": '[web.hosts.web-01]\nansible_host = "10.0.0.5"\nansible_port = 2222\n',
        "dyn.py": ("#!/usr/bin/env python3\nimport json, sys\n"
                   "print('{}' if '--host' in sys.argv else json.dumps({'db': {'hosts': "
                   "['db-01']}, '_meta': {'hostvars': {'db-01': {'ansible_host': "
                   "'10.0.0.6', 'ansible_user': 'ops'}}}}))\n")})
    (tmp_path / "dyn.py").chmod(0o755)
    toml = inventory.load(tmp_path / "hosts.toml").hosts[0]
    assert (toml.name, toml.address, toml.port, toml.groups) == (
        "web-01", "10.0.0.5", 2222, ("all", "web"))
    script = inventory.load(tmp_path / "dyn.py").hosts[0]
    assert (script.name, script.address, script.user) == ("db-01", "10.0.0.6", "ops")


def test_templates_render_as_a_play_renders_them(tmp_path: Path) -> None:
    """Another host's variables through hostvars, a {% %}-only template, and a template that
    cannot render named with its file, line, host and variable."""
    write(tmp_path, {"hosts.yml": (
        "all:\n  vars:\n    env: prod\n  hosts:\n    db-01: {ansible_host: 10.0.0.7}\n"
        "    web-01:\n      ansible_host: \"{{ hostvars['db-01'].ansible_host }}\"\n"
        "      ansible_user: \"{% if env == 'prod' %}ops{% else %}dev{% endif %}\"\n"),
        "bad.yml": "all:\n  hosts:\n    w1: {ansible_host: \"{{ nothere.x }}\"}\n"})
    web = inventory.load(tmp_path / "hosts.yml").host("web-01")
    assert (web.address, web.user) == ("10.0.0.7", "ops")
    with pytest.raises(InputError) as err:
        inventory.load(tmp_path / "bad.yml")
    assert err.value.problems == [(f"{tmp_path / 'bad.yml'}:3: w1: ansible_host: the template "
                                   "does not render: 'nothere' is undefined")]


def test_contains_matches_whole_lines_without_their_indentation() -> None:
    """4.4: a tab-indented directive is the directive."""
    from maintcheck.assess import config_mismatches
    from maintcheck.facts import parse

    facts = parse("h1", "@@maintcheck path /etc/x.conf\n/etc/x.conf|regular file|644|20|1|"
                        "root|root\n@@maintcheck content /etc/x.conf\n[main]\n\tUsePAM yes\n"
                        "@@maintcheck end\n")
    spec = [{"path": "/etc/x.conf", "contains": ["UsePAM yes", "  [main]", "X no"]}]
    assert config_mismatches(facts, spec) == [
        "/etc/x.conf: lacks line(s) ['X no'], expected every line of contains"]


def test_vaulted_connection_values_and_vault_files_are_named(tmp_path: Path) -> None:
    """A vaulted address would reach ssh as ***: an input error naming its line and the way
    round; a vault-encrypted file without a suffix (group_vars/all/vault) is named too."""
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = VaultLib([("default", VaultSecret(b"pw"))])
    write(tmp_path, {
        "one/hosts.yml": ("all:\n  hosts:\n    h2:\n      ansible_host: "
                          + vault_yaml("10.0.0.5", 8)),
        "two/hosts.yml": "all:\n  hosts:\n    h1: {ansible_connection: local}\n",
        "two/group_vars/all/vault": vault.encrypt("maintcheck_lead: x\n").decode()})
    with pytest.raises(InputError) as err:
        inventory.load(tmp_path / "one" / "hosts.yml")
    assert err.value.problems == [(
        f"{tmp_path / 'one' / 'hosts.yml'}:4: ansible_host is vault-encrypted, and maintcheck "
        "never decrypts vault values: write it in the clear, or from the environment "
        "(ansible_host: \"{{ lookup('env', 'ANSIBLE_HOST') }}\")")]
    with pytest.raises(InputError) as err:
        inventory.load(tmp_path / "two" / "hosts.yml")
    assert str(tmp_path / "two" / "group_vars" / "all" / "vault") + ":1: a vault-encrypted file" \
        in err.value.problems[0]


def test_aliases_of_aliases_are_refused_before_ansible_expands_them(tmp_path: Path) -> None:
    """A 500-byte "billion laughs" inventory: refused at once, not read for minutes."""
    text = "all:\n  vars:\n    a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 8):
        text += f"    a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n"
    text += "  hosts:\n    h1: {ansible_connection: local, junk: *a7}\n"
    (tmp_path / "hosts.yml").write_text(text)
    with pytest.raises(InputError, match="aliases expand to more than 1,000,000 values"):
        inventory.load(tmp_path / "hosts.yml")
