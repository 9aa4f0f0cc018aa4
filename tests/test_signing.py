"""Signed evidence: keys, the manifest signature, and stock openssl agreeing with verify_directory."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from maintcheck.signing import (
    MANIFEST,
    SIGNATURE,
    Signer,
    SigningError,
    VerificationError,
    generate_key,
    load_signer,
    sign_directory,
    verify_directory,
)

NOW = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
ARTEFACTS = {"pre.html": "<html>verdict: PASSED</html>", "pre.json": '{"verdict": "passed"}',
             "junit.xml": "<testsuites/>", "assets/style.css": "body { color: black }"}

# What the README tells an auditor to run inside the evidence directory: the first command
# proves the manifest is the signer's, the second that every artefact still matches it.
AUDIT_SIGNATURE = ("openssl cms -verify -binary -inform DER -in MANIFEST.json.p7s "
                   "-content MANIFEST.json -CAfile {ca} -purpose any -out /dev/null")
AUDIT_HASHES = ("python3 -c 'import json; [print(f[\"sha256\"] + \"  \" + f[\"path\"]) "
                "for f in json.load(open(\"MANIFEST.json\"))[\"files\"]]' "
                "| sha256sum --check --strict")


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True,
                          check=False)


def openssl(*args: str | Path, cwd: Path) -> str:
    done = subprocess.run(["openssl", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def audit(evidence: Path, ca: Path) -> subprocess.CompletedProcess[str]:
    """Run the README's two auditor commands; both must succeed."""
    return run(AUDIT_SIGNATURE.format(ca=shlex.quote(str(ca))) + " && " + AUDIT_HASHES, evidence)


def write_evidence(directory: Path) -> Path:
    for name, text in ARTEFACTS.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    return directory


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
    sign_directory(evidence, signer, now=NOW)
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
    sign_directory(evidence, self_signed.signer)
    verified = verify_directory(evidence)
    assert verified.signer == "CN=Ada Operator"
    assert verified.files == ("assets/style.css", "junit.xml", "pre.html", "pre.json")
    assert verified.self_signed and not verified.trusted
    assert verified.trust.startswith("untrusted but consistent: self-signed certificate")
    pinned = verify_directory(evidence, ca_path=self_signed.ca)
    assert pinned.trusted and pinned.ca == "CN=Ada Operator"


def test_org_ca_signer_is_trusted_only_with_the_ca(org_ca: Trust, evidence: Path) -> None:
    sign_directory(evidence, org_ca.signer)
    assert not verify_directory(evidence).trusted
    verified = verify_directory(evidence, ca_path=org_ca.ca)
    assert (verified.signer, verified.ca) == ("CN=Bob Operator", "CN=Org Root CA")
    assert not verified.self_signed


def test_same_results_give_the_same_manifest_bytes(tmp_path: Path, evidence: Path) -> None:
    files = generate_key(tmp_path / "op.key", common_name="Op", passphrase=None, now=NOW)
    assert files.certificate is not None
    signer = load_signer(files.key, files.certificate, None, now=NOW)
    sign_directory(evidence, signer, now=NOW)
    first = (evidence / MANIFEST).read_bytes()
    sign_directory(evidence, signer, now=NOW)
    assert (evidence / MANIFEST).read_bytes() == first
    assert b'"signed_at": "2026-03-01T09:30:00Z"' in first
    assert verify_directory(evidence, now=NOW).signed_at == NOW


def test_stock_openssl_accepts_the_signature(trust: Trust, evidence: Path) -> None:
    sign_directory(evidence, trust.signer)
    done = audit(evidence, trust.ca)
    assert done.returncode == 0, done.stderr
    assert "Verification successful" in done.stderr and "pre.html: OK" in done.stdout


def test_openssl_needs_binary_flag(self_signed: Trust, evidence: Path) -> None:
    sign_directory(evidence, self_signed.signer)
    command = AUDIT_SIGNATURE.format(ca=self_signed.ca).replace("-binary ", "")
    assert run(command, evidence).returncode != 0


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
    sign_directory(evidence, load_signer(files.key, bundle, None))
    assert verify_directory(evidence, ca_path=root).ca == "CN=Root"
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


@pytest.mark.parametrize("target", ["pre.html", "assets/style.css", MANIFEST,
                                    "signature value", "signed digest", "certificate key"])
def test_one_flipped_byte_fails_both_verifiers(trust: Trust, evidence: Path,
                                               target: str) -> None:
    sign_directory(evidence, trust.signer)
    if (evidence / target).is_file():
        flip(evidence / target, (evidence / target).stat().st_size // 2)
    else:
        flip(evidence / SIGNATURE, p7s_position(evidence, trust, target))
    assert audit(evidence, trust.ca).returncode != 0
    with pytest.raises(VerificationError, match="evidence does not verify"):
        verify_directory(evidence, ca_path=trust.ca)


def test_every_byte_of_the_signature_matters_to_verify_directory(self_signed: Trust,
                                                                 evidence: Path) -> None:
    sign_directory(evidence, self_signed.signer)
    original = (evidence / SIGNATURE).read_bytes()
    for position in range(len(original)):
        changed = bytearray(original)
        changed[position] ^= 0x01
        (evidence / SIGNATURE).write_bytes(bytes(changed))
        with pytest.raises(VerificationError):
            verify_directory(evidence)


def test_added_and_missing_files_are_named(self_signed: Trust, evidence: Path) -> None:
    sign_directory(evidence, self_signed.signer)
    (evidence / "pre.json").unlink()
    (evidence / "assets" / "extra.js").write_text("alert(1)")
    with pytest.raises(VerificationError) as raised:
        verify_directory(evidence)
    assert str(raised.value).splitlines()[1:] == [
        "  - pre.json: listed in the manifest but missing",
        "  - assets/extra.js: not in the manifest (added after signing)",
    ]


def test_resigned_by_someone_else_is_caught_by_the_pinned_certificate(
        tmp_path: Path, self_signed: Trust, evidence: Path) -> None:
    sign_directory(evidence, self_signed.signer)
    genuine = verify_directory(evidence).fingerprint
    (evidence / "pre.html").write_text("<html>verdict: PASSED (edited)</html>")
    forger = generate_key(tmp_path / "forger.key", common_name="Ada Operator", passphrase=None)
    assert forger.certificate is not None
    sign_directory(evidence, load_signer(forger.key, forger.certificate, None))
    forged = verify_directory(evidence)  # consistent in itself: same name, another key
    assert forged.signer == "CN=Ada Operator" and forged.fingerprint != genuine
    with pytest.raises(VerificationError, match="does not chain to a CA in"):
        verify_directory(evidence, ca_path=self_signed.ca)
    assert audit(evidence, self_signed.ca).returncode != 0


def test_expired_signer_verifies_only_at_signing_time(tmp_path: Path, evidence: Path) -> None:
    files = generate_key(tmp_path / "op.key", common_name="Op", passphrase=None, now=NOW, days=1)
    assert files.certificate is not None
    sign_directory(evidence, load_signer(files.key, files.certificate, None, now=NOW), now=NOW)
    with pytest.raises(VerificationError, match=r"certificate expired on 2026-03-02T09:30:00Z"):
        verify_directory(evidence, now=NOW + dt.timedelta(days=30))
    assert verify_directory(evidence, now=NOW).signed_at == NOW


def test_garbage_signature_is_reported_not_raised(self_signed: Trust, evidence: Path) -> None:
    sign_directory(evidence, self_signed.signer)
    (evidence / SIGNATURE).write_bytes(b"\x30\x03\x02\x01")
    with pytest.raises(VerificationError, match="not a DER CMS SignedData signature"):
        verify_directory(evidence)


def test_unsigned_directory_names_both_missing_files(evidence: Path) -> None:
    with pytest.raises(VerificationError) as raised:
        verify_directory(evidence)
    assert "MANIFEST.json: missing" in str(raised.value)
    assert "MANIFEST.json.p7s: missing" in str(raised.value)
