"""Signed evidence: keys, the manifest signature, and stock openssl agreeing with verify_directory."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shlex
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from maintcheck import cli, exitcodes
from maintcheck.signing import (
    Signer,
    SigningError,
    VerificationError,
    generate_key,
    load_signer,
    seal_run,
    verify_directory,
)

NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
EVIDENCE_DOC = Path(__file__).resolve().parents[1] / "docs" / "evidence.md"
# a pre run's files, as the plugin writes them (its journal makes "pre" a run of the folder)
ARTEFACTS = {"pre.journal.jsonl": '{"event": "started", "run": "pre"}\n',
             "pre.html": "<html>verdict: PASSED</html>", "pre.xml": "<testsuites/>",
             "pre.json": '{"selection": {"partial": false}, "verdict": "PASSED"}',
             "baseline.json": '{"hosts": {}}'}
POST = {"post.journal.jsonl": '{"event": "started", "run": "post"}\n',
        "post.html": "<html>verdict: PASSED</html>", "post.xml": "<testsuites/>",
        "post.json": '{"selection": {"partial": false}, "verdict": "PASSED"}'}
MANIFEST = "pre.manifest.json"
SIGNATURE = "pre.manifest.json.p7s"


def auditor_procedure() -> str:
    """The auditor's procedure with stock tools, exactly as docs/evidence.md writes it."""
    text = EVIDENCE_DOC.read_text(encoding="utf-8")
    section = text.split("The auditor's procedure with stock tools", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    assert block.startswith("set -euo pipefail\n")
    return block


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True,
                          check=False)


def openssl(*args: str | Path, cwd: Path) -> str:
    done = subprocess.run(["openssl", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def audit(evidence: Path, ca: Path, tsa_ca: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the documented auditor procedure on ``evidence`` with ``ca`` as the trusted file."""
    script = auditor_procedure().replace("cd reports/CHG-1234", f"cd {shlex.quote(str(evidence))}")
    script = script.replace("ca=org-ca.pem", f"ca={shlex.quote(str(ca))}")
    if tsa_ca is not None:
        script = script.replace("tsa_ca=tsa-ca.pem", f"tsa_ca={shlex.quote(str(tsa_ca))}")
    return run(script, evidence.parent)


def write_evidence(directory: Path, files: dict[str, str] = ARTEFACTS) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def cli_verify(evidence: Path, *args: str,
               capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = cli.main(["verify", str(evidence), *args])
    out, err = capsys.readouterr()
    return status, out, err


def flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


@dataclass(frozen=True)
class Trust:
    """A signer and the file an auditor trusts it by: its own certificate, or the org CA."""

    signer: Signer
    ca: Path


@pytest.fixture
def evidence(tmp_path: Path) -> Path:
    return write_evidence(tmp_path / "CHG-1")


@pytest.fixture
def self_signed(tmp_path: Path) -> Trust:
    files = generate_key(tmp_path / "ada.key", common_name="Ada Operator", passphrase=None)
    assert files.certificate is not None
    return Trust(load_signer(files.key, files.certificate, None), ca=files.certificate)


def make_ca(directory: Path, name: str, issuer: str | None = None) -> Path:
    """A CA the way an organisation's admin makes one: with openssl, root or intermediate."""
    key, cert = f"{name}.key", f"{name}.crt"
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key)
    if issuer is None:
        openssl("req", "-x509", *curve, "-out", cert, "-subj", f"/CN={name}", "-days", "30",
                cwd=directory)
    else:
        (directory / "ca.ext").write_text("basicConstraints=critical,CA:TRUE\n"
                                          "keyUsage=critical,keyCertSign,cRLSign\n"
                                          "subjectKeyIdentifier=hash\n"
                                          "authorityKeyIdentifier=keyid\n")
        openssl("req", "-new", *curve, "-out", f"{name}.csr", "-subj", f"/CN={name}",
                cwd=directory)
        issue(directory, f"{name}.csr", issuer, cert, "-extfile", "ca.ext")
    return directory / cert


def issue(directory: Path, request: str | Path, ca: str, out: str, *extra: str) -> Path:
    openssl("x509", "-req", "-in", request, "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "30", "-out", out, *extra, cwd=directory)
    return directory / out


@pytest.fixture
def org_ca(tmp_path: Path) -> Trust:
    """An operator key and CSR from generate_key, certified by an openssl-made org CA."""
    root = make_ca(tmp_path, "Org Root CA")
    files = generate_key(tmp_path / "bob.key", common_name="Bob Operator", passphrase=b"s3cret",
                         self_signed=False, key_type="rsa")
    assert files.request is not None
    cert = issue(tmp_path, files.request, "Org Root CA", "bob.crt",
                 "-copy_extensions", "copyall")
    return Trust(load_signer(files.key, cert, b"s3cret"), ca=root)


@pytest.fixture(params=["self-signed", "org-ca"])
def trust(request: pytest.FixtureRequest) -> Trust:
    value: Trust = request.getfixturevalue(request.param.replace("-", "_"))
    return value


# --- keys -----------------------------------------------------------------------------------

@pytest.mark.parametrize("passphrase", [None, b"correct horse"])
def test_generated_key_is_private_from_creation(tmp_path: Path,
                                                passphrase: bytes | None) -> None:
    previous = os.umask(0)  # even with a permissive umask the key must be born 0600
    try:
        files = generate_key(tmp_path / "op.key", common_name="Op", passphrase=passphrase)
    finally:
        os.umask(previous)
    assert files.key.stat().st_mode & 0o777 == 0o600
    assert (b"ENCRYPTED" in files.key.read_bytes()) is (passphrase is not None)


def test_self_signed_certificate_can_sign_documents(tmp_path: Path) -> None:
    files = generate_key(tmp_path / "op.key", common_name="Op", passphrase=None, now=NOW,
                         days=10)
    assert files.certificate == tmp_path / "op.crt"
    cert = x509.load_pem_x509_certificate(files.certificate.read_bytes())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert cert.not_valid_after_utc == NOW + dt.timedelta(days=10)


def test_csr_is_readable_by_openssl(tmp_path: Path) -> None:
    files = generate_key(tmp_path / "op.key", common_name="Op Erator", passphrase=None,
                         self_signed=False)
    assert files.request == tmp_path / "op.csr" and files.certificate is None
    out = openssl("req", "-verify", "-noout", "-subject", "-in", files.request, cwd=tmp_path)
    assert "verify OK" in out and "CN = Op Erator" in out


def test_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "op.key").write_text("precious")
    with pytest.raises(SigningError, match="op.key: already exists"):
        generate_key(tmp_path / "op.key", common_name="Op", passphrase=None)
    assert (tmp_path / "op.key").read_text() == "precious"
    assert not (tmp_path / "op.crt").exists()


def test_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    files = generate_key(tmp_path / "op.key", common_name="Op", passphrase=None)
    files.key.chmod(0o644)
    assert files.certificate is not None
    with pytest.raises(SigningError) as raised:
        load_signer(files.key, files.certificate, None)
    assert f"{files.key}: private key is readable by group or others (mode 0644)" in str(raised.value)
    assert f"chmod 600 {files.key}" in str(raised.value)


def test_passphrase_round_trip(tmp_path: Path, evidence: Path) -> None:
    files = generate_key(tmp_path / "op.key", common_name="Op", passphrase=b"hunter22", now=NOW)
    assert files.certificate is not None
    signer = load_signer(files.key, files.certificate, b"hunter22", now=NOW)
    seal_run(evidence, "pre", signer, now=NOW)
    assert verify_directory(evidence, now=NOW).signer == "CN=Op"


@pytest.mark.parametrize(("given", "expected"), [
    (b"wrong", "op.key: wrong passphrase"),
    (None, "op.key: private key is encrypted; a passphrase is needed"),
])
def test_passphrase_mistakes_are_clear(tmp_path: Path, given: bytes | None,
                                       expected: str) -> None:
    files = generate_key(tmp_path / "op.key", common_name="Op", passphrase=b"right")
    assert files.certificate is not None
    with pytest.raises(SigningError, match=expected):
        load_signer(files.key, files.certificate, given)


def test_every_input_problem_is_listed_at_once(tmp_path: Path) -> None:
    (tmp_path / "op.key").write_text("not a key")
    (tmp_path / "op.key").chmod(0o600)
    with pytest.raises(SigningError) as raised:
        load_signer(tmp_path / "op.key", tmp_path / "op.crt", None)
    assert str(raised.value) == (f"cannot sign: 2 problems:\n"
                                 f"  - {tmp_path}/op.key: not a PEM private key\n"
                                 f"  - {tmp_path}/op.crt: no such file")


def test_certificate_of_another_key_is_refused(tmp_path: Path) -> None:
    mine = generate_key(tmp_path / "mine.key", common_name="Me", passphrase=None)
    theirs = generate_key(tmp_path / "theirs.key", common_name="Them", passphrase=None)
    assert theirs.certificate is not None
    with pytest.raises(SigningError, match="theirs.crt: certificate does not match the key in"):
        load_signer(mine.key, theirs.certificate, None)


def test_expired_certificate_is_refused(tmp_path: Path) -> None:
    files = generate_key(tmp_path / "op.key", common_name="Op", passphrase=None, now=NOW, days=1)
    assert files.certificate is not None
    later = NOW + dt.timedelta(days=2)
    with pytest.raises(SigningError, match=r"op.crt: certificate expired on 2026-03-02T09:30:00Z"):
        load_signer(files.key, files.certificate, None, now=later)


# --- signing and verifying --------------------------------------------------------------------

def test_round_trip_reports_signer_time_and_files(self_signed: Trust, evidence: Path) -> None:
    seal_run(evidence, "pre", self_signed.signer)
    verified = verify_directory(evidence)
    assert verified.signer == "CN=Ada Operator"
    assert set(verified.files) == {*ARTEFACTS, MANIFEST, SIGNATURE}
    assert verified.runs[0].self_signed and not verified.established
    assert verified.latest_complete == {"pre": "pre"}
    pinned = verify_directory(evidence, pins=[verified.fingerprint])
    assert pinned.established and pinned.runs[0].anchor == "pinned by --signer"


def test_org_ca_signer_is_established_only_with_the_ca(org_ca: Trust, evidence: Path) -> None:
    seal_run(evidence, "pre", org_ca.signer)
    assert not verify_directory(evidence).established
    verified = verify_directory(evidence, ca_path=org_ca.ca)
    assert (verified.signer, verified.runs[0].anchor) == ("CN=Bob Operator", "CN=Org Root CA")
    assert verified.established and not verified.runs[0].self_signed


def test_stock_openssl_accepts_the_signature(trust: Trust, evidence: Path) -> None:
    seal_run(evidence, "pre", trust.signer)
    done = audit(evidence, trust.ca)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every signature and every file checks out" in done.stdout


def test_openssl_needs_binary_flag(self_signed: Trust, evidence: Path) -> None:
    seal_run(evidence, "pre", self_signed.signer)
    command = (f"openssl cms -verify -inform DER -in {SIGNATURE} -content {MANIFEST} "
               f"-CAfile {self_signed.ca} -purpose any -out /dev/null")
    assert run(command, evidence).returncode != 0
    assert run(command.replace("-verify", "-verify -binary"), evidence).returncode == 0


def test_chain_in_the_certificate_file_travels_with_the_signature(tmp_path: Path,
                                                                  evidence: Path) -> None:
    root = make_ca(tmp_path, "Root")
    make_ca(tmp_path, "Issuing", issuer="Root")
    files = generate_key(tmp_path / "op.key", common_name="Op", passphrase=None,
                         self_signed=False)
    assert files.request is not None
    leaf = issue(tmp_path, files.request, "Issuing", "op.crt", "-copy_extensions", "copyall")
    bundle = tmp_path / "op-chain.pem"
    bundle.write_bytes(leaf.read_bytes() + (tmp_path / "Issuing.crt").read_bytes())
    seal_run(evidence, "pre", load_signer(files.key, bundle, None))
    assert verify_directory(evidence, ca_path=root).runs[0].anchor == "CN=Root"
    assert audit(evidence, root).returncode == 0


def p7s_position(evidence: Path, trust: Trust, part: str) -> int:
    """Where, in the signature file, a meaningful part lies."""
    der = (evidence / SIGNATURE).read_bytes()
    if part == "signature value":
        return len(der) - 1  # the signature is the last field of the only SignerInfo
    if part == "signed digest":
        return der.index(hashlib.sha256((evidence / MANIFEST).read_bytes()).digest()) + 3
    key = trust.signer.certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der.index(key) + len(key) - 2


@pytest.mark.parametrize("target", ["pre.html", "baseline.json", "pre.journal.jsonl", MANIFEST,
                                    "signature value", "signed digest", "certificate key"])
def test_one_flipped_byte_fails_both_verifiers(trust: Trust, evidence: Path,
                                               target: str) -> None:
    seal_run(evidence, "pre", trust.signer)
    if (evidence / target).is_file():
        flip(evidence / target, (evidence / target).stat().st_size // 2)
    else:
        flip(evidence / SIGNATURE, p7s_position(evidence, trust, target))
    assert audit(evidence, trust.ca).returncode != 0
    with pytest.raises(VerificationError, match="evidence does not verify"):
        verify_directory(evidence, ca_path=trust.ca)


def test_every_byte_of_the_signature_matters_to_verify_directory(self_signed: Trust,
                                                                 evidence: Path) -> None:
    seal_run(evidence, "pre", self_signed.signer)
    original = (evidence / SIGNATURE).read_bytes()
    for position in range(len(original)):
        changed = bytearray(original)
        changed[position] ^= 0x01
        (evidence / SIGNATURE).write_bytes(bytes(changed))
        with pytest.raises(VerificationError):
            verify_directory(evidence)


@pytest.mark.parametrize("tamper", ["added", "missing", "linked", "sub-folder",
                                    "appended to the signature"])
def test_the_auditor_procedure_and_verify_catch_every_kind_of_tampering(
        org_ca: Trust, evidence: Path, tamper: str) -> None:
    seal_run(evidence, "pre", org_ca.signer)
    assert audit(evidence, org_ca.ca).returncode == 0
    if tamper == "added":
        (evidence / "extra.js").write_text("alert(1)")
    elif tamper == "missing":
        (evidence / "pre.xml").unlink()
    elif tamper == "linked":
        (evidence / "pre.html").unlink()
        (evidence / "pre.html").symlink_to(evidence.parent / "elsewhere.html")
        (evidence.parent / "elsewhere.html").write_text("<html>verdict: PASSED</html>")
    elif tamper == "sub-folder":
        (evidence / "assets").mkdir()
    else:
        with (evidence / SIGNATURE).open("ab") as handle:
            handle.write(b"\0\0")
    done = audit(evidence, org_ca.ca)
    assert done.returncode != 0 and "checks out" not in done.stdout
    with pytest.raises(VerificationError):
        verify_directory(evidence, ca_path=org_ca.ca)


def test_added_and_missing_files_are_named(self_signed: Trust, evidence: Path) -> None:
    seal_run(evidence, "pre", self_signed.signer)
    (evidence / "pre.json").unlink()
    (evidence / "extra.js").write_text("alert(1)")
    with pytest.raises(VerificationError) as raised:
        verify_directory(evidence)
    assert str(raised.value).splitlines()[1:] == [
        f"  - pre.json: listed in {MANIFEST} but missing",
        "  - extra.js: not covered by any signature that verifies (no run wrote it)",
    ]


def forge(tmp_path: Path, evidence: Path, name: str = "Ada Operator") -> str:
    """Edit the verdict, then re-seal as a forger would: a fresh key whose certificate carries
    the genuine signer's name. Returns the forger's fingerprint."""
    (evidence / "pre.json").write_text('{"selection": {"partial": false}, "verdict": "PASSED!"}')
    for sealed in (MANIFEST, SIGNATURE):
        (evidence / sealed).unlink()
    forger = generate_key(tmp_path / "forger.key", common_name=name, passphrase=None)
    assert forger.certificate is not None
    seal_run(evidence, "pre", load_signer(forger.key, forger.certificate, None))
    return verify_directory(evidence).fingerprint


def test_a_forgery_with_the_same_name_is_never_verified(
        tmp_path: Path, self_signed: Trust, evidence: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    seal_run(evidence, "pre", self_signed.signer)
    genuine = verify_directory(evidence).fingerprint
    status, out, _ = cli_verify(evidence, "--signer", str(self_signed.ca), capsys=capsys)
    assert status == exitcodes.VERIFIED and "VERIFIED:" in out and genuine in out
    forged = forge(tmp_path, evidence)
    assert forged != genuine
    status, out, _ = cli_verify(evidence, capsys=capsys)
    assert status == exitcodes.SIGNER_NOT_ESTABLISHED == 3
    assert "INTACT, SIGNER NOT ESTABLISHED" in out and forged in out and "VERIFIED:" not in out
    for pin in (str(self_signed.ca), genuine, genuine.replace(":", "").lower()):
        status, out, err = cli_verify(evidence, "--signer", pin, capsys=capsys)
        assert status == exitcodes.NOT_VERIFIED == 1
        assert f"signer CN=Ada Operator is not trusted: its SHA-256 fingerprint {forged} is " \
               "not pinned by --signer" in err
    status, _, err = cli_verify(evidence, "--ca", str(self_signed.ca), capsys=capsys)
    assert status == exitcodes.NOT_VERIFIED and "does not chain to a CA in" in err
    assert audit(evidence, self_signed.ca).returncode != 0


def test_a_forgery_by_an_issuer_of_the_same_name_is_rejected(
        tmp_path: Path, org_ca: Trust, evidence: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "fake"
    fake.mkdir()
    make_ca(fake, "Org Root CA")  # the same name as the genuine root, another key
    files = generate_key(fake / "bob.key", common_name="Bob Operator", passphrase=None,
                         self_signed=False)
    assert files.request is not None
    cert = issue(fake, files.request, "Org Root CA", "bob.crt", "-copy_extensions", "copyall")
    seal_run(evidence, "pre", load_signer(files.key, cert, None))
    status, out, _ = cli_verify(evidence, capsys=capsys)
    assert status == exitcodes.SIGNER_NOT_ESTABLISHED and "CA-issued certificate" in out
    status, _, err = cli_verify(evidence, "--ca", str(org_ca.ca), capsys=capsys)
    assert status == exitcodes.NOT_VERIFIED
    assert "signer CN=Bob Operator is not trusted: signer certificate does not chain" in err
    assert audit(evidence, org_ca.ca).returncode != 0


def test_no_changed_byte_of_the_embedded_certificate_verifies(org_ca: Trust,
                                                             evidence: Path) -> None:
    """Without an anchor at most "intact, not established"; with the CA, never verified."""
    seal_run(evidence, "pre", org_ca.signer)
    original = (evidence / SIGNATURE).read_bytes()
    der = org_ca.signer.certificate.public_bytes(serialization.Encoding.DER)
    start = original.index(der)
    established = 0
    for position in range(start, start + len(der)):
        changed = bytearray(original)
        changed[position] ^= 0x01
        (evidence / SIGNATURE).write_bytes(bytes(changed))
        with pytest.raises(VerificationError):
            verify_directory(evidence, ca_path=org_ca.ca)
        try:
            established += verify_directory(evidence).established
        except VerificationError:
            pass
    assert established == 0


def test_a_bad_pin_is_a_usage_error(evidence: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = cli_verify(evidence, "--signer", "AB:CD", capsys=capsys)
    assert status == exitcodes.USAGE and "SHA-256 fingerprint" in err
    assert "Traceback" not in err


def test_pre_and_post_by_two_signers_both_verify(tmp_path: Path, self_signed: Trust,
                                                 org_ca: Trust, evidence: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    seal_run(evidence, "pre", self_signed.signer)
    ada = {p.name: p.read_bytes() for p in evidence.iterdir()}
    write_evidence(evidence, POST)
    seal_run(evidence, "post", org_ca.signer)
    assert {p.name: p.read_bytes() for p in evidence.iterdir() if p.name in ada} == ada
    post = json.loads((evidence / "post.manifest.json").read_text())
    assert {e["path"] for e in post["earlier"]} == set(ada)  # Ada's signature included
    verified = verify_directory(evidence, ca_path=org_ca.ca, pins=[
        verify_directory(evidence).runs[0].fingerprint])
    assert [(r.label, r.signer, r.anchor) for r in verified.runs] == [
        ("pre", "CN=Ada Operator", "pinned by --signer"),
        ("post", "CN=Bob Operator", "CN=Org Root CA")]
    status, out, _ = cli_verify(evidence, "--signer", str(self_signed.ca), "--ca",
                                str(org_ca.ca), capsys=capsys)
    assert status == exitcodes.VERIFIED
    assert "run pre (latest complete pre run): signed by CN=Ada Operator" in out
    assert "run post (latest complete post run): signed by CN=Bob Operator" in out
    trusted = tmp_path / "trusted.pem"  # the documented auditor procedure, with both anchors
    trusted.write_bytes(self_signed.ca.read_bytes() + org_ca.ca.read_bytes())
    done = audit(evidence, trusted)
    assert done.returncode == 0 and "checks out" in done.stdout, done.stdout + done.stderr
    assert audit(evidence, org_ca.ca).returncode != 0
    # Bob's CA alone does not vouch for Ada: rejected, naming her
    status, _, err = cli_verify(evidence, "--ca", str(org_ca.ca), capsys=capsys)
    assert status == exitcodes.NOT_VERIFIED and "signer CN=Ada Operator is not trusted" in err


def test_a_foreign_file_is_flagged_and_never_signed(self_signed: Trust, evidence: Path) -> None:
    (evidence / "notes.txt").write_text("dropped in before the run was sealed")
    sealed = seal_run(evidence, "pre", self_signed.signer)
    assert sealed.foreign == ("notes.txt",)
    manifest = json.loads((evidence / MANIFEST).read_text())
    assert manifest["foreign"] == ["notes.txt"]
    assert "notes.txt" not in {e["path"] for e in manifest["files"] + manifest["earlier"]}
    with pytest.raises(VerificationError, match="notes.txt: not covered by any signature"):
        verify_directory(evidence)


def test_an_unsigned_run_is_covered_by_the_next_signed_one(self_signed: Trust,
                                                           evidence: Path) -> None:
    seal_run(evidence, "pre", None)
    with pytest.raises(VerificationError, match="run pre was not signed, and no later signed run "
                       "lists its files: baseline.json, pre.html"):
        verify_directory(evidence)
    write_evidence(evidence, POST)
    seal_run(evidence, "post", self_signed.signer)
    verified = verify_directory(evidence)
    assert [(r.label, r.signer) for r in verified.runs][:1] == [("pre", None)]


def test_a_manifest_is_never_overwritten(self_signed: Trust, evidence: Path) -> None:
    seal_run(evidence, "pre", self_signed.signer)
    first = (evidence / MANIFEST).read_bytes()
    with pytest.raises(SigningError, match="already exists; evidence is never overwritten"):
        seal_run(evidence, "pre", self_signed.signer)
    assert (evidence / MANIFEST).read_bytes() == first


def test_expired_signer_verifies_only_at_signing_time(tmp_path: Path, evidence: Path) -> None:
    files = generate_key(tmp_path / "op.key", common_name="Op", passphrase=None, now=NOW, days=1)
    assert files.certificate is not None
    seal_run(evidence, "pre", load_signer(files.key, files.certificate, None, now=NOW), now=NOW)
    with pytest.raises(VerificationError, match=r"certificate expired on 2026-03-02T09:30:00Z"):
        verify_directory(evidence, now=NOW + dt.timedelta(days=30))
    assert verify_directory(evidence, now=NOW).signed_at == NOW


def test_garbage_signature_is_reported_not_raised(self_signed: Trust, evidence: Path) -> None:
    seal_run(evidence, "pre", self_signed.signer)
    (evidence / SIGNATURE).write_bytes(b"\x30\x03\x02\x01")
    with pytest.raises(VerificationError, match="not a DER CMS SignedData signature"):
        verify_directory(evidence)


def test_unsealed_directory_says_so(evidence: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = cli_verify(evidence, capsys=capsys)
    assert status == exitcodes.NOT_VERIFIED
    assert "was never sealed by a maintcheck run" in err


def test_a_mangled_signature_is_reported_never_raised(tmp_path: Path) -> None:
    """Cut, spliced, truncated or padded: asn1crypto's parse errors become one problem."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    evidence = write_evidence(tmp_path / "CHG-1")
    files = generate_key(tmp_path / "op.key", common_name="Op", passphrase=None)
    assert files.certificate is not None
    seal_run(evidence, "pre", load_signer(files.key, files.certificate, None))
    original = (evidence / SIGNATURE).read_bytes()

    @settings(max_examples=150, deadline=None, database=None)
    @given(st.integers(0, len(original)), st.integers(0, 64), st.binary(max_size=64))
    def mangle(start: int, cut: int, insert: bytes) -> None:
        changed = original[:start] + insert + original[start + cut:]
        if changed == original:
            return
        (evidence / SIGNATURE).write_bytes(changed)
        with pytest.raises(VerificationError, match="evidence does not verify"):
            verify_directory(evidence)

    mangle()


def test_a_run_still_going_on_is_left_to_seal_itself(self_signed: Trust, evidence: Path) -> None:
    """Two runs of one change at once: the first to seal does not hash the other's files,
    which are still being written; the other's own seal covers them."""
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        write_evidence(evidence, {**POST, "post.journal.jsonl": json.dumps(
            {"event": "started", "run": "post", "host": socket.gethostname(),
             "pid": sleeper.pid}) + "\n"})
        seal_run(evidence, "pre", self_signed.signer)
        manifest = json.loads((evidence / MANIFEST).read_text())
        assert manifest["running"] == ["post"] and manifest["earlier"] == []
        assert manifest["foreign"] == []
        with (evidence / "post.journal.jsonl").open("a") as journal:
            journal.write('{"event": "finished"}\n')  # the other run goes on, then seals
        seal_run(evidence, "post", self_signed.signer)
        assert [r.label for r in verify_directory(evidence).runs] == ["pre", "post"]
    finally:
        sleeper.kill()
        sleeper.wait()
