"""Signed evidence: each run's manifest, with a detached CMS signature openssl verifies.

>>> signer = load_signer(Path("op.key"), Path("op.crt"), passphrase=None)
>>> seal_run(Path("reports/CHG-1"), "pre", signer).signature
PosixPath('reports/CHG-1/pre.manifest.json.p7s')
>>> verify_directory(Path("reports/CHG-1"), ca_path=Path("org-ca.pem")).signer
'CN=Ada Operator'

Every run seals its own files in ``<run>.manifest.json``, which also lists every earlier run's
files (their manifests and signatures included) with their hashes: a chain in which each
signature stays as it was made. cryptography can make CMS signatures but cannot verify them, so
``verify_directory`` reads the SignedData with asn1crypto's ``cms`` module and checks the
signature with cryptography. Auditors can instead run, for each run::

    openssl cms -verify -binary -inform DER -in pre.manifest.json.p7s \\
        -content pre.manifest.json -CAfile <signer cert or org CA> -purpose any -out /dev/null
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeAlias

from asn1crypto import cms as asn1_cms
from asn1crypto import core as asn1_core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from maintcheck.errors import MaintcheckError
from maintcheck.runs import labels as run_labels
from maintcheck.runs import latest_complete, owner, running

if TYPE_CHECKING:
    from maintcheck.timestamp import Token

__all__ = [
    "DEFAULT_KEY",
    "KeyFiles",
    "Sealed",
    "SealedRun",
    "Signer",
    "SigningError",
    "VerificationError",
    "Verified",
    "fingerprint",
    "generate_key",
    "load_signer",
    "manifest_name",
    "read_pin",
    "seal_run",
    "signature_name",
    "token_name",
    "verify_directory",
]

MANIFEST_FORMAT = "maintcheck-manifest/2"
# the one seal of a whole folder that maintcheck wrote before each run sealed its own files
LEGACY = ("a maintcheck-manifest/1 seal of the whole folder, from before runs sealed their own "
          "files: check it with openssl cms -verify -binary -inform DER -in MANIFEST.json.p7s "
          "-content MANIFEST.json and the hashes it lists")
# where a run looks for the operator's key when no --sign-key or ini value names one
DEFAULT_KEY = Path("~/.maintcheck/operator.key")
MANIFEST_KINDS = frozenset({"manifest.json", "manifest.json.p7s", "manifest.json.p7s.tsr"})
RSA_BITS = 3072
MIN_RSA_BITS = 2048
# A certificate made on one machine is checked on another: start it a little early so that
# clock skew between them does not make a fresh certificate "not yet valid".
BACKDATE = dt.timedelta(minutes=5)

KeyType = Literal["ec", "rsa"]
SigningKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

SIGNING_PURPOSES = frozenset({ExtendedKeyUsageOID.EMAIL_PROTECTION,
                              ExtendedKeyUsageOID.CODE_SIGNING,
                              ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE})
LEAF_EXTENSIONS: tuple[tuple[x509.ExtensionType, bool], ...] = (
    (x509.BasicConstraints(ca=False, path_length=None), True),
    (x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                   data_encipherment=False, key_agreement=False, key_cert_sign=False,
                   crl_sign=False, encipher_only=False, decipher_only=False), True),
    # emailProtection is what `openssl cms -verify` checks without -purpose; codeSigning is
    # what an organisation's CA is most likely to have a profile for.
    (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION,
                            ExtendedKeyUsageOID.CODE_SIGNING]), False),
)

OID_DATA = "1.2.840.113549.1.7.1"
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    "2.16.840.1.101.3.4.2.1": hashes.SHA256,
    "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
}
# signature algorithm OID -> (key kind, hash it implies or None when the digestAlgorithm decides)
SIGNATURE_ALGORITHMS: dict[str, tuple[str, str | None]] = {
    "1.2.840.10045.2.1": ("ec", None),
    "1.2.840.10045.4.3.2": ("ec", "sha256"),
    "1.2.840.10045.4.3.3": ("ec", "sha384"),
    "1.2.840.10045.4.3.4": ("ec", "sha512"),
    "1.2.840.113549.1.1.1": ("rsa", None),
    "1.2.840.113549.1.1.11": ("rsa", "sha256"),
    "1.2.840.113549.1.1.12": ("rsa", "sha384"),
    "1.2.840.113549.1.1.13": ("rsa", "sha512"),
}


# what cryptography raises for a malformed certificate, some of it only when a field is first read
CERTIFICATE_ERRORS = (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion,
                      x509.DuplicateExtension, x509.UnsupportedGeneralNameType,
                      CryptographyDeprecationWarning)


class SigningError(MaintcheckError):
    """A key, certificate or directory cannot be used to sign; the message names each file."""


class VerificationError(MaintcheckError):
    """Signed evidence does not verify; the message lists every problem found."""


@dataclass(frozen=True)
class KeyFiles:
    """What ``generate_key`` wrote: the key, and either a certificate or a signing request."""

    key: Path
    certificate: Path | None
    request: Path | None


@dataclass(frozen=True)
class Signer:
    """A private key with its certificate and the chain sent along: ``load_signer(...)``."""

    key: SigningKey = field(repr=False)
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()


@dataclass(frozen=True)
class SealedRun:
    """One run's seal as verified: who signed its manifest, when, and what established them."""

    label: str
    phase: str
    signer: str | None  # None: the run was not signed
    # as `openssl x509 -noout -fingerprint -sha256` prints it, to compare out of band
    fingerprint: str | None
    # the signer's own clock, taken into the signed manifest: not a trusted timestamp
    signed_at: dt.datetime
    files: tuple[str, ...]
    # what makes the signer who they say: "pinned by --signer" or the CA's subject; None: nothing
    anchor: str | None
    self_signed: bool = False
    # the RFC 3161 token's time and authority; None without a token
    timestamped_at: dt.datetime | None = None
    timestamp_authority: str | None = None
    # whether --tsa-ca checked the token, so that its time judged the signer's certificate
    timestamp_trusted: bool = False


@dataclass(frozen=True)
class Verified:
    """An intact folder: ``verify_directory(d).established`` says whether its signers are known."""

    runs: tuple[SealedRun, ...]
    files: tuple[str, ...]  # every file of the folder, each covered by a signature that verified
    # phase -> label of its latest run that ran the whole phase
    latest_complete: dict[str, str] = field(default_factory=dict)

    @property
    def signed(self) -> tuple[SealedRun, ...]:
        return tuple(r for r in self.runs if r.signer is not None)

    @property
    def established(self) -> bool:
        """Every signer is pinned or chains to a given CA: only then is the folder VERIFIED."""
        return all(r.anchor is not None for r in self.signed)

    @property
    def signer(self) -> str:
        """The latest signer's name."""
        return str(self.signed[-1].signer)

    @property
    def fingerprint(self) -> str:
        return str(self.signed[-1].fingerprint)

    @property
    def signed_at(self) -> dt.datetime:
        return self.signed[-1].signed_at



# --- keys --------------------------------------------------------------------------------------

def generate_key(key_path: Path, *, common_name: str, passphrase: bytes | None,
                 self_signed: bool = True, cert_path: Path | None = None,
                 csr_path: Path | None = None, days: int = 365, now: dt.datetime | None = None,
                 key_type: KeyType = "ec") -> KeyFiles:
    """Write a 0600 key and a self-signed certificate, or a CSR for the organisation's CA.

    >>> generate_key(Path("op.key"), common_name="Ada Operator", passphrase=None).certificate
    PosixPath('op.crt')
    """
    at = _utc(now)
    key_path = Path(key_path)
    if self_signed:
        out = Path(cert_path) if cert_path is not None else key_path.with_suffix(".crt")
    else:
        out = Path(csr_path) if csr_path is not None else key_path.with_suffix(".csr")
    problems = _generate_problems(key_path, out, common_name, passphrase, days, key_type,
                                  stray=csr_path if self_signed else cert_path)
    if problems:
        raise SigningError(_report(f"cannot create key {key_path}", problems))

    key: SigningKey = (ec.generate_private_key(ec.SECP256R1()) if key_type == "ec"
                       else rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS))
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase
        else serialization.NoEncryption())
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                encryption)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    if self_signed:
        out_pem = _self_signed(key, name, at, days).public_bytes(serialization.Encoding.PEM)
    else:
        request = x509.CertificateSigningRequestBuilder().subject_name(name)
        for extension, critical in LEAF_EXTENSIONS:
            request = request.add_extension(extension, critical=critical)
        out_pem = request.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    for folder in {key_path.parent, out.parent}:
        try:  # a folder made for the key is the operator's alone
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as error:
            raise SigningError(_report(str(folder), [f"cannot create ({error.strerror})"])) from None
    _write_new(key_path, key_pem, 0o600)
    try:
        _write_new(out, out_pem, 0o644)
    except SigningError:
        key_path.unlink()  # a key without its certificate or CSR is of no use to anyone
        raise
    return KeyFiles(key=key_path, certificate=out if self_signed else None,
                    request=None if self_signed else out)


def _generate_problems(key_path: Path, out: Path, common_name: str, passphrase: bytes | None,
                       days: int, key_type: str, stray: Path | None) -> list[str]:
    problems = []
    if not common_name.strip():
        problems.append("common name is empty")
    elif len(common_name) > 64:  # RFC 5280 upper bound; cryptography refuses longer ones
        problems.append(f"common name is {len(common_name)} characters; at most 64 are allowed")
    if passphrase == b"":
        problems.append("passphrase is empty; give a passphrase or None for an unencrypted key")
    if days < 1:
        problems.append(f"validity of {days} days; it must be at least 1")
    if key_type not in ("ec", "rsa"):
        problems.append(f"key type {key_type!r}; use 'ec' (P-256) or 'rsa' ({RSA_BITS} bits)")
    if stray is not None:
        problems.append(f"{stray}: a certificate and a CSR cannot both be written; "
                        "choose self_signed=True (certificate) or False (CSR)")
    if out == key_path:
        problems.append(f"{out}: the key and the certificate or CSR must be different files")
    for path in (key_path, out):
        if path.exists() or path.is_symlink():
            problems.append(f"{path}: already exists; refusing to overwrite it")
        elif path.parent.exists() and not path.parent.is_dir():
            problems.append(f"{path.parent}: not a directory")
    return problems


def _self_signed(key: SigningKey, name: x509.Name, at: dt.datetime, days: int) -> x509.Certificate:
    public = key.public_key()
    key_id = x509.SubjectKeyIdentifier.from_public_key(public)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
               .serial_number(x509.random_serial_number())
               .not_valid_before(at - BACKDATE).not_valid_after(at + dt.timedelta(days=days)))
    for extension, critical in LEAF_EXTENSIONS:
        builder = builder.add_extension(extension, critical=critical)
    builder = builder.add_extension(key_id, critical=False).add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(key_id), critical=False)
    return builder.sign(key, hashes.SHA256())


def _write_new(path: Path, data: bytes, mode: int) -> None:
    # O_EXCL refuses to overwrite, and the mode is set at creation: a key is never readable by
    # others, not even between a write and a chmod.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise SigningError(_report(str(path), ["already exists; refusing to overwrite"])) from None
    except OSError as error:
        raise SigningError(_report(str(path), [f"cannot create ({error.strerror})"])) from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def load_signer(key_path: Path, cert_path: Path, passphrase: bytes | None, *,
                now: dt.datetime | None = None) -> Signer:
    """Load a private key and its certificate (any chain follows it in the same PEM file)."""
    at = _utc(now)
    key_path, cert_path = Path(key_path), Path(cert_path)
    problems: list[str] = []
    key = _load_key(key_path, passphrase, problems)
    certificates = _load_certificates(cert_path, problems)
    if certificates:
        certificate = certificates[0]
        problems += [f"{cert_path}: {p}" for p in _certificate_problems(certificate, at)]
        if key is not None and _spki(key.public_key()) != _spki(certificate.public_key()):
            problems.append(f"{cert_path}: certificate does not match the key in {key_path}")
    if problems or key is None or not certificates:
        raise SigningError(_report("cannot sign", problems))
    return Signer(key=key, certificate=certificates[0], chain=tuple(certificates[1:]))


def _load_key(path: Path, passphrase: bytes | None, problems: list[str]) -> SigningKey | None:
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            problems.append(f"{path}: not a regular file")
            return None
        if mode & 0o077:
            problems.append(f"{path}: private key is readable by group or others "
                            f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}")
            return None
        data = path.read_bytes()
    except FileNotFoundError:
        problems.append(f"{path}: no such file")
        return None
    except OSError as error:
        problems.append(f"{path}: cannot read ({error.strerror})")
        return None
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:  # cryptography's way of saying the passphrase is missing or superfluous
        problems.append(f"{path}: private key is encrypted; a passphrase is needed" if passphrase
                        is None else f"{path}: private key is not encrypted, yet a passphrase "
                        "was given")
        return None
    except (ValueError, UnsupportedAlgorithm):
        encrypted = b"ENCRYPTED" in data
        problems.append(f"{path}: wrong passphrase" if encrypted and passphrase
                        else f"{path}: not a PEM private key")
        return None
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        problems.append(f"{path}: RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} needed")
        return None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        # cryptography's CMS builder signs with RSA and EC keys only (not Ed25519)
        problems.append(f"{path}: {type(key).__name__} cannot make CMS signatures; "
                        "use an EC P-256 or RSA key")
        return None
    return key


def _load_certificates(path: Path, problems: list[str]) -> list[x509.Certificate]:
    try:
        return _parse_fully(x509.load_pem_x509_certificates, path.read_bytes())
    except FileNotFoundError:
        problems.append(f"{path}: no such file")
    except OSError as error:
        problems.append(f"{path}: cannot read ({error.strerror})")
    except CERTIFICATE_ERRORS as error:
        problems.append(f"{path}: no valid PEM certificate in it ({error})")
    return []


def _parse_fully(load: Callable[[bytes], list[x509.Certificate]],
                 data: bytes) -> list[x509.Certificate]:
    """Load certificates and read every field now: cryptography parses some lazily."""
    with warnings.catch_warnings():
        # what cryptography only warns about today (a negative serial) is refused here
        warnings.simplefilter("error", CryptographyDeprecationWarning)
        certificates = load(data)
        for c in certificates:
            _ = (c.version, c.serial_number, c.extensions, c.public_key(),
                 c.subject.rfc4514_string(), c.issuer.rfc4514_string())
    return certificates


def _certificate_problems(certificate: x509.Certificate, at: dt.datetime) -> list[str]:
    """What makes a certificate unfit to sign evidence at ``at``: validity and key usage."""
    problems = []
    if at < certificate.not_valid_before_utc:
        problems.append(f"certificate is not valid before {_iso(certificate.not_valid_before_utc)}")
    if at > certificate.not_valid_after_utc:
        problems.append(f"certificate expired on {_iso(certificate.not_valid_after_utc)}")
    extensions = {ext.oid: ext.value for ext in certificate.extensions}
    constraints = extensions.get(x509.BasicConstraints.oid)
    if isinstance(constraints, x509.BasicConstraints) and constraints.ca:
        problems.append("certificate is a CA certificate; sign with an end-entity certificate")
    usage = extensions.get(x509.KeyUsage.oid)
    if isinstance(usage, x509.KeyUsage) and not (usage.digital_signature
                                                 or usage.content_commitment):
        problems.append("certificate's key usage does not allow digital signatures")
    purposes = extensions.get(x509.ExtendedKeyUsage.oid)
    if isinstance(purposes, x509.ExtendedKeyUsage) and not SIGNING_PURPOSES & set(purposes):
        problems.append("certificate's extended key usage allows neither emailProtection "
                        "nor codeSigning")
    return problems


# --- signing -----------------------------------------------------------------------------------

def manifest_name(label: str) -> str:
    return f"{label}.manifest.json"


def signature_name(label: str) -> str:
    return f"{label}.manifest.json.p7s"


def token_name(label: str) -> str:
    """The RFC 3161 token over the run's signature."""
    return f"{label}.manifest.json.p7s.tsr"


def fingerprint(certificate: x509.Certificate) -> str:
    """``AB:CD:...``, as ``openssl x509 -noout -fingerprint -sha256`` prints it."""
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


@dataclass(frozen=True)
class Sealed:
    """What ``seal_run`` wrote, and the files in the folder no run wrote (flagged, not signed)."""

    manifest: Path
    signature: Path | None
    foreign: tuple[str, ...]
    token: Path | None = None
    # why no timestamp could be had, when one was asked for
    timestamp_problem: str = ""


def seal_run(directory: Path, label: str, signer: Signer | None, *,
             now: dt.datetime | None = None, tsa: str | None = None) -> Sealed:
    """Write the run's manifest (and, with a signer, its detached signature); return both.

    The manifest lists the run's own files and, as ``earlier``, every earlier run's files with
    their hashes: manifests and signatures too, so that each earlier signature stays as made and
    the newest covers the whole chain. Anything else in the folder is named in ``foreign``, never
    hashed: no run wrote it, and no signature vouches for it. A run of the same change still going
    on (``running``) is left to seal its own files.
    """
    at = _utc(now)
    directory = Path(directory)
    files, odd = _artefacts(directory)
    if signer is not None:
        problems = [f"signer certificate ({signer.subject}): {p}"
                    for p in _certificate_problems(signer.certificate, at)]
        if problems:
            raise SigningError(_report(f"cannot sign {directory}", problems))
    own, earlier, foreign = [], [], list(odd)
    runs = set(run_labels(directory))
    live = running(directory) - {label}  # still writing: their own seal covers them
    for name in files:
        found = owner(name)
        if found is not None and found[0] == label and found[1] not in MANIFEST_KINDS:
            own.append(_listed(directory, name))
        elif found is not None and found[0] in live:
            continue
        elif found is not None and found[0] != label and found[0] in runs:
            earlier.append(_listed(directory, name))
        elif found is None or found[0] != label:
            foreign.append(name)
    if not own:
        raise SigningError(_report(f"cannot seal {directory}", [f"run {label} wrote no file"]))
    document = {"earlier": earlier, "files": own, "foreign": sorted(foreign),
                "format": MANIFEST_FORMAT, "run": label, "running": sorted(live),
                "signed_at": _iso(at), "signer": signer.subject if signer is not None else None}
    # sorted keys and ASCII escapes: the same results give the same bytes
    manifest = (json.dumps(document, sort_keys=True, indent=2, ensure_ascii=True) + "\n").encode()
    signature = None
    if signer is not None:
        # add_signer embeds the signer certificate itself. add_certificate comes last because
        # set_data() and add_signer() return builders that drop certificates added before them.
        builder = (pkcs7.PKCS7SignatureBuilder().set_data(manifest)
                   .add_signer(signer.certificate, signer.key, hashes.SHA256()))
        for certificate in signer.chain:
            builder = builder.add_certificate(certificate)
        # DER + Binary: openssl verifies it byte for byte with `-binary`; S/MIME form does not
        signature = builder.sign(serialization.Encoding.DER,
                                 [pkcs7.PKCS7Options.DetachedSignature,
                                  pkcs7.PKCS7Options.Binary])
    _publish(directory / manifest_name(label), manifest)
    if signature is None:
        return Sealed(directory / manifest_name(label), None, tuple(sorted(foreign)))
    _publish(directory / signature_name(label), signature)
    token, problem = None, ""
    if tsa:
        from maintcheck.timestamp import TimestampError, obtain

        try:
            _publish(directory / token_name(label), obtain(signature, tsa))
            token = directory / token_name(label)
        except TimestampError as error:
            problem = str(error)
    return Sealed(directory / manifest_name(label), directory / signature_name(label),
                  tuple(sorted(foreign)), token, problem)


def _listed(directory: Path, name: str) -> dict[str, object]:
    digest, size = _digest(directory / name)
    return {"path": name, "sha256": digest, "size": size}


def _artefacts(directory: Path) -> tuple[list[str], list[str]]:
    """The regular files at the top of ``directory``, and every other entry (links, folders)."""
    if not directory.is_dir():
        raise SigningError(_report(str(directory), ["not a directory"]))
    files, odd = [], []
    for path in sorted(directory.iterdir()):
        if path.is_symlink() or not path.is_file():
            odd.append(path.name)
        elif not path.name.startswith("."):  # a write in progress: see _publish
            files.append(path.name)
        else:
            odd.append(path.name)
    return files, odd


def _digest(path: Path) -> tuple[str, int]:
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
        return digest, handle.tell()


def _publish(path: Path, data: bytes) -> None:
    """Write a new file whole or not at all, and never over an existing one."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; evidence is meant to be read
        os.link(temporary, path)  # unlike rename, refuses to replace what is there
    except FileExistsError:
        raise SigningError(_report(str(path), [
            "already exists; evidence is never overwritten"])) from None
    finally:
        Path(temporary).unlink(missing_ok=True)


# --- verification ------------------------------------------------------------------------------

def read_pin(text: str) -> str:
    """A pinned signer: a SHA-256 fingerprint (hex, colons optional) or a PEM certificate file;
    returned as ``AB:CD:...``. Raises SigningError when it is neither."""
    digits = text.replace(":", "").replace(" ", "").strip().upper()
    if len(digits) == 64 and all(c in "0123456789ABCDEF" for c in digits):
        return ":".join(digits[i:i + 2] for i in range(0, 64, 2))
    problems: list[str] = []
    certificates = _load_certificates(Path(text), problems)
    if not certificates:
        raise SigningError(_report(f"--signer {text}", problems + [
            "give the signer's certificate (PEM) or its SHA-256 fingerprint"]))
    return fingerprint(certificates[0])


def verify_directory(directory: Path, *, ca_path: Path | None = None,
                     pins: Sequence[str] = (), tsa_ca_path: Path | None = None,
                     now: dt.datetime | None = None) -> Verified:
    """Check every run's manifest, signature and hashes, and that a signature covers every file.

    With ``pins`` (fingerprints, see :func:`read_pin`) or ``ca_path``, each signer must be pinned
    or chain to a CA in the file, or the folder does not verify. Without either, an intact folder
    verifies with ``established`` False: nothing says who may sign. With ``tsa_ca_path``, a
    run's RFC 3161 token is checked against that CA and its time, not now, judges the signer's
    certificate. Raises VerificationError listing every problem.
    """
    at = _utc(now)
    directory = Path(directory)
    problems: list[str] = []
    try:
        files, odd = _artefacts(directory)
    except SigningError as error:
        raise VerificationError(str(error)) from None
    problems += [f"{name}: not a regular file; evidence is regular files only" for name in odd]
    manifests = [n for n in files if n.endswith(".manifest.json")]
    if not manifests:
        problems.append(f"no *.manifest.json: {directory} was never sealed by a maintcheck run")
    sealed: list[SealedRun] = []
    covered: set[str] = set()
    unsigned: dict[str, str] = {}  # file -> the unsigned run that wrote it
    tsa_roots = _load_certificates(Path(tsa_ca_path), problems) if tsa_ca_path else None
    for name in manifests:
        run = _verify_run(directory, name, ca_path, pins, tsa_roots, at, problems)
        if run is None:
            continue
        sealed.append(run)
        if run.signer is not None:
            covered.update(run.files)
        else:
            unsigned.update((path, run.label) for path in run.files)
    left = [name for name in files if name not in covered]
    for run_label in sorted(set(unsigned.values())):
        mine = [name for name in left if unsigned.get(name) == run_label]
        if mine:
            problems.append(f"run {run_label} was not signed, and no later signed run lists "
                            f"its files: {', '.join(mine)}")
    problems += [f"{name}: not covered by any signature that verifies ("
                 + (LEGACY if name in ("MANIFEST.json", "MANIFEST.json.p7s") else
                    "no run wrote it") + ")" for name in left if name not in unsigned]
    if problems:
        raise VerificationError(_report(f"{directory}: evidence does not verify", problems))
    order = {label: index for index, label in enumerate(run_labels(directory))}
    sealed.sort(key=lambda r: (r.signed_at, order.get(r.label, len(order))))
    latest = {phase: found for phase in {r.phase for r in sealed}
              if (found := latest_complete(directory, phase)) is not None}
    return Verified(runs=tuple(sealed), files=tuple(files), latest_complete=latest)


def _verify_run(directory: Path, name: str, ca_path: Path | None, pins: Sequence[str],
                tsa_roots: list[x509.Certificate] | None, at: dt.datetime,
                problems: list[str]) -> SealedRun | None:
    """One run's manifest and, when present, its signature; None when either is unusable."""
    label = name.removesuffix(".manifest.json")
    found = owner(name)
    if found is None:
        problems.append(f"{name}: not the name of a run's manifest")
        return None
    data = (directory / name).read_bytes()
    manifest = _parse_manifest(name, data, problems)
    if manifest is None:
        return None
    if manifest.run != label:
        problems.append(f"{name}: says it is run {manifest.run!r}")
        return None
    _check_files(directory, name, manifest, problems)
    listed = tuple(e.path for e in (*manifest.files, *manifest.earlier))
    signature_path = directory / signature_name(label)
    if not signature_path.is_file():
        if manifest.signer is not None:
            problems.append(f"{signature_path.name}: missing; {name} names signer "
                            f"{manifest.signer!r}")
        return SealedRun(label, _phase_of(label), None, None, manifest.signed_at,
                         (*listed, name), None)
    found_problems = len(problems)
    certificate: x509.Certificate | None = None
    intermediates: list[x509.Certificate] = []
    signature = signature_path.read_bytes()
    token, sealed_files = _check_token(directory, label, signature, tsa_roots, problems)
    if token is not None and tsa_roots:
        at = token.gen_time  # trusted time: the certificate is judged when it signed
    try:
        certificate, intermediates = _check_signature(signature_path.name, signature, name,
                                                      data, problems)
        self_signed, anchor = False, None
        if certificate is not None:
            self_signed, anchor = _check_signer(certificate, intermediates, manifest, name,
                                                signature_path.name, ca_path, pins, at, problems)
    except CERTIFICATE_ERRORS as error:  # a defence only: certificates were parsed fully
        problems.append(f"{signature_path.name}: a certificate in it is malformed ({error})")
    if certificate is None or len(problems) > found_problems:
        return None
    return SealedRun(label, _phase_of(label), certificate.subject.rfc4514_string(),
                     fingerprint(certificate), manifest.signed_at,
                     (*listed, name, signature_path.name, *sealed_files), anchor, self_signed,
                     token.gen_time if token else None, token.authority if token else None,
                     bool(token and tsa_roots))


def _check_token(directory: Path, label: str, signature: bytes,
                 roots: list[x509.Certificate] | None,
                 problems: list[str]) -> tuple[Token | None, tuple[str, ...]]:
    """The run's RFC 3161 token, when it has one: bound to its signature, and with ``roots``
    signed by an authority they vouch for. Returns it and the file it covers."""
    path = directory / token_name(label)
    if not path.is_file():
        return None, ()
    from maintcheck.timestamp import TimestampError, check

    try:
        return check(path.read_bytes(), signature, roots=roots), (path.name,)
    except TimestampError as error:
        problems.append(f"{path.name}: {error}")
        return None, ()


def _phase_of(label: str) -> str:
    return label.split(".")[0]


def _check_signer(certificate: x509.Certificate, intermediates: list[x509.Certificate],
                  manifest: _Manifest, manifest_file: str, signature_file: str,
                  ca_path: Path | None, pins: Sequence[str], at: dt.datetime,
                  problems: list[str]) -> tuple[bool, str | None]:
    """Check the signer certificate; return whether it is self-signed and what anchors it."""
    subject = certificate.subject.rfc4514_string()
    problems += [f"{signature_file}: signer certificate ({subject}): {p}"
                 for p in _certificate_problems(certificate, at)]
    self_signed = _is_self_signed(certificate, signature_file, problems)
    if manifest.signer != subject:
        problems.append(f"{manifest_file}: names signer {manifest.signer!r}, but the "
                        f"signature was made by {subject!r}")
    if not (certificate.not_valid_before_utc <= manifest.signed_at
            <= certificate.not_valid_after_utc):
        problems.append(f"{manifest_file}: signed at {_iso(manifest.signed_at)}, outside the "
                        "signer certificate's validity")
    if not pins and ca_path is None:
        return self_signed, None
    print_ = fingerprint(certificate)
    if print_ in pins:
        return self_signed, "pinned by --signer"
    reasons = []
    if pins:
        reasons.append(f"its SHA-256 fingerprint {print_} is not pinned by --signer")
    if ca_path is not None:
        chain_problems: list[str] = []
        anchor = _check_chain(certificate, intermediates, Path(ca_path), at, chain_problems)
        if anchor is not None:
            return self_signed, anchor
        reasons += chain_problems
    problems.append(f"{signature_file}: signer {subject} is not trusted: " + "; ".join(reasons))
    return self_signed, None



def _check_signature(signature_file: str, der: bytes, manifest_file: str, content: bytes,
                     problems: list[str]) -> tuple[x509.Certificate | None, list[x509.Certificate]]:
    """Check the CMS signature over ``content``; return the signer and the other certificates."""
    try:
        signed = _parse_signed_data(der)
    except _DerError as error:
        problems.append(f"{signature_file}: not a DER CMS SignedData signature ({error})")
        return None, []
    if len(signed.signers) != 1:
        problems.append(f"{signature_file}: {len(signed.signers)} signers; expected exactly one")
        return None, []
    info = signed.signers[0]
    certificate = next((c for c in signed.certificates if info.identifies(c)), None)
    if certificate is None:
        problems.append(f"{signature_file}: the signer's certificate is not included")
        return None, []
    others = [c for c in signed.certificates if c is not certificate]
    digest = DIGESTS.get(info.digest_algorithm)
    if digest is None or info.digest_algorithm not in signed.digest_algorithms:
        problems.append(f"{signature_file}: digest algorithm {info.digest_algorithm} is not "
                        "supported or not declared")
        return certificate, others
    if signed.content_type != OID_DATA or info.attribute(OID_CONTENT_TYPE) != _der_oid(OID_DATA):
        problems.append(f"{signature_file}: content type is not id-data")
    hasher = hashes.Hash(digest())
    hasher.update(content)
    if info.attribute(OID_MESSAGE_DIGEST) != _der_octets(hasher.finalize()):
        problems.append(f"{manifest_file}: does not match the digest signed in {signature_file} "
                        "(changed after signing)")
    problem = _verify_signature(certificate.public_key(), info, digest())
    if problem:
        problems.append(f"{signature_file}: {problem}")
    return certificate, others


def _verify_signature(public_key: object, info: _SignerInfo,
                      digest: hashes.HashAlgorithm) -> str | None:
    kind, implied = SIGNATURE_ALGORITHMS.get(info.signature_algorithm, ("", None))
    if not kind:
        return f"signature algorithm {info.signature_algorithm} is not supported"
    if implied is not None and implied != digest.name:
        return f"signature algorithm uses {implied} but the digest algorithm is {digest.name}"
    try:
        if kind == "ec" and isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(info.signature, info.signed_attributes, ec.ECDSA(digest))
        elif kind == "rsa" and isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(info.signature, info.signed_attributes, padding.PKCS1v15(), digest)
        else:
            return "signature algorithm does not fit the signer certificate's key"
    except InvalidSignature:
        return "signature does not verify with the signer certificate's key"
    return None


def _is_self_signed(certificate: x509.Certificate, signature_file: str,
                    problems: list[str]) -> bool:
    if certificate.issuer != certificate.subject:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except (InvalidSignature, ValueError, TypeError):
        # a self-issued certificate whose own signature fails has been altered
        problems.append(f"{signature_file}: the signer's self-signed certificate has a bad signature")
        return False
    return True


def _check_chain(certificate: x509.Certificate, intermediates: list[x509.Certificate],
                 ca_path: Path, at: dt.datetime, problems: list[str]) -> str | None:
    """Return the subject of the anchor in ``ca_path`` the signer chains to, or add a problem."""
    anchors = _load_certificates(ca_path, problems)
    if not anchors:
        return None
    # PolicyBuilder is made for TLS. Its client verifier demands the clientAuth purpose, so the
    # end-entity policy is relaxed to permit_all and _certificate_problems checks the signing
    # purpose instead. Its Web PKI CA policy demands a KeyUsage extension, which `openssl req
    # -x509` does not write, so CAs are held to RFC 5280 instead: basicConstraints cA, and
    # keyCertSign when KeyUsage is present. Chain building, signatures, validity and path
    # length stay PolicyBuilder's. A pinned self-signed signer certificate verifies as its own
    # anchor, as with `openssl -CAfile <signer cert>`.
    ca_policy = (verification.ExtensionPolicy.permit_all()
                 .require_present(x509.BasicConstraints, verification.Criticality.AGNOSTIC,
                                  _require_ca)
                 .may_be_present(x509.KeyUsage, verification.Criticality.AGNOSTIC,
                                 _require_cert_sign))
    verifier = (verification.PolicyBuilder().store(verification.Store(anchors)).time(at)
                .extension_policies(ca_policy=ca_policy,
                                    ee_policy=verification.ExtensionPolicy.permit_all())
                .build_client_verifier())
    try:
        chain = verifier.verify(certificate, intermediates).chain
    except verification.VerificationError as error:
        problems.append(f"signer certificate does not chain to a CA in {ca_path}: {error}")
        return None
    return chain[-1].subject.rfc4514_string()


def _require_ca(policy: verification.Policy, certificate: x509.Certificate,
                constraints: x509.BasicConstraints) -> None:
    if not constraints.ca:
        raise ValueError("basicConstraints does not say cA")


def _require_cert_sign(policy: verification.Policy, certificate: x509.Certificate,
                       usage: x509.KeyUsage | None) -> None:
    if usage is not None and not usage.key_cert_sign:
        raise ValueError("key usage does not allow keyCertSign")


@dataclass(frozen=True)
class _Entry:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class _Manifest:
    run: str
    signer: str | None
    signed_at: dt.datetime
    files: tuple[_Entry, ...]
    earlier: tuple[_Entry, ...]


def _parse_manifest(name: str, data: bytes, problems: list[str]) -> _Manifest | None:
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        problems.append(f"{name}: not JSON ({error})")
        return None
    if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
        problems.append(f"{name}: not a {MANIFEST_FORMAT} manifest")
        return None
    found = len(problems)
    run, signer, signed_at = (document.get(k) for k in ("run", "signer", "signed_at"))
    if not isinstance(run, str):
        problems.append(f"{name}: 'run' is not a string")
    if signer is not None and not isinstance(signer, str):
        problems.append(f"{name}: 'signer' is neither a string nor null")
    when = None
    try:
        when = dt.datetime.fromisoformat(signed_at) if isinstance(signed_at, str) else None
    except ValueError:
        pass
    if when is None or when.tzinfo is None:
        problems.append(f"{name}: 'signed_at' is not an ISO 8601 UTC time")
    lists: dict[str, list[_Entry]] = {"files": [], "earlier": []}
    for key, entries in lists.items():
        items = document.get(key)
        for index, item in enumerate(items if isinstance(items, list) else [None]):
            entry = _entry(item, name)
            if entry is None:
                problems.append(f"{name}: {key}[{index}] is not a file of this folder "
                                "with a sha256 and a size")
            else:
                entries.append(entry)
    paths = [e.path for e in (*lists["files"], *lists["earlier"])]
    if len(set(paths)) != len(paths):
        problems.append(f"{name}: a file is listed twice")
    if len(problems) > found or not isinstance(run, str) or when is None:
        return None
    return _Manifest(run=run, signer=signer if isinstance(signer, str) else None,
                     signed_at=when.astimezone(dt.UTC), files=tuple(lists["files"]),
                     earlier=tuple(lists["earlier"]))


def _entry(item: object, manifest: str) -> _Entry | None:
    if not isinstance(item, dict):
        return None
    path, digest, size = item.get("path"), item.get("sha256"), item.get("size")
    if not (isinstance(path, str) and isinstance(digest, str) and isinstance(size, int)):
        return None
    # the manifest is read before anything says it is genuine: never look outside the directory
    if (not path or "/" in path or "\\" in path or path in (".", "..") or path.startswith(".")
            or path in (manifest, manifest + ".p7s")):
        return None
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest) or size < 0:
        return None
    return _Entry(path=path, sha256=digest, size=size)


def _check_files(directory: Path, name: str, manifest: _Manifest, problems: list[str]) -> None:
    for entry in (*manifest.files, *manifest.earlier):
        path = directory / entry.path
        if path.is_symlink() or not path.is_file():
            if not path.is_symlink() and not path.exists():
                problems.append(f"{entry.path}: listed in {name} but missing")
            continue  # a link or a folder is reported by the walk
        digest, size = _digest(path)
        if (digest, size) != (entry.sha256, entry.size):
            problems.append(f"{entry.path}: changed after {name} was written (sha256 {digest}, "
                            f"size {size}; {name} says sha256 {entry.sha256}, size {entry.size})")



# --- CMS SignedData (RFC 5652), read with asn1crypto's cms module -------------------------------
#
# asn1crypto parses leniently (BER), so the file must also re-encode to exactly its own bytes:
# then it is DER, and no byte of it goes unexamined. The fields that no signature covers
# (versions, algorithm parameters, the certificate's unused-bits count) are checked here.

class _DerError(ValueError):
    """The signature file is not the DER structure expected."""


@dataclass(frozen=True)
class _SignerInfo:
    issuer: bytes | None  # DER Name, when the signer is named by issuer and serial number
    serial: int | None
    key_id: bytes | None  # when the signer is named by subject key identifier
    digest_algorithm: str
    attributes: tuple[tuple[str, tuple[bytes, ...]], ...]
    # the signed attributes as signed: re-tagged from [0] IMPLICIT to SET OF (RFC 5652 5.4)
    signed_attributes: bytes
    signature_algorithm: str
    signature: bytes

    def attribute(self, oid: str) -> bytes | None:
        """The DER of a single-valued signed attribute; None when absent or multi-valued."""
        values = [v for attr, vals in self.attributes if attr == oid for v in vals]
        return values[0] if len(values) == 1 else None

    def identifies(self, certificate: x509.Certificate) -> bool:
        if self.key_id is not None:
            try:
                ski = certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except x509.ExtensionNotFound:
                return False
            return ski.value.digest == self.key_id
        return (certificate.serial_number == self.serial
                and certificate.issuer.public_bytes() == self.issuer)


@dataclass(frozen=True)
class _SignedData:
    content_type: str
    digest_algorithms: frozenset[str]
    certificates: tuple[x509.Certificate, ...]
    signers: tuple[_SignerInfo, ...]


def _parse_signed_data(der: bytes) -> _SignedData:
    try:
        info = asn1_cms.ContentInfo.load(der, strict=True)
        if info["content_type"].dotted != OID_SIGNED_DATA:
            raise _DerError("not a SignedData ContentInfo")
        signed = _read_signed_data(info["content"])
        if asn1_cms.ContentInfo.load(der, strict=True).dump(force=True) != der:
            raise _DerError("not DER: it does not re-encode to its own bytes")
    except _DerError:
        raise
    except (ValueError, TypeError, KeyError, OverflowError) as error:
        raise _DerError(str(error).splitlines()[0] if str(error) else "malformed") from None
    return signed


def _read_signed_data(signed: asn1_cms.SignedData) -> _SignedData:
    encapsulated = signed["encap_content_info"]
    if encapsulated["content"].native is not None:
        raise _DerError("content is embedded; a detached signature is expected")
    certificates: list[x509.Certificate] = []
    for choice in signed["certificates"]:
        if choice.name != "certificate":
            raise _DerError(f"unexpected certificate kind {choice.name}")
        certificates.append(_certificate(choice.chosen))
    signers = tuple(_read_signer_info(s) for s in signed["signer_infos"])
    content_type = encapsulated["content_type"].dotted
    # RFC 5652 5.1: version 3 when any signer is named by key identifier or the content is
    # not id-data, else 1.
    expected = 3 if content_type != OID_DATA or any(s.key_id for s in signers) else 1
    version = _version(signed["version"])
    if version != expected:
        raise _DerError(f"SignedData version {version}; expected {expected}")
    return _SignedData(content_type=content_type,
                       digest_algorithms=frozenset(_algorithm(a)
                                                   for a in signed["digest_algorithms"]),
                       certificates=tuple(certificates), signers=signers)


def _read_signer_info(info: asn1_cms.SignerInfo) -> _SignerInfo:
    issuer = serial = key_id = None
    sid = info["sid"]
    if sid.name == "issuer_and_serial_number":
        issuer = sid.chosen["issuer"].dump()
        serial = int(sid.chosen["serial_number"].native)
    else:
        key_id = bytes(sid.chosen.native)
    if _version(info["version"]) != (1 if key_id is None else 3):  # RFC 5652 5.3
        raise _DerError("SignerInfo version does not fit its signer identifier")
    if info["signed_attrs"].native is None:
        raise _DerError("SignerInfo without signed attributes")
    if info["unsigned_attrs"].native is not None:
        raise _DerError("SignerInfo has unsigned attributes; none are expected")
    attributes = tuple((attribute["type"].dotted,
                        tuple(value.dump() for value in attribute["values"]))
                       for attribute in info["signed_attrs"])
    if len({oid for oid, _ in attributes}) != len(attributes):
        raise _DerError("a signed attribute appears twice")
    return _SignerInfo(
        issuer=issuer, serial=serial, key_id=key_id,
        digest_algorithm=_algorithm(info["digest_algorithm"]), attributes=attributes,
        signed_attributes=b"\x31" + info["signed_attrs"].dump()[1:],
        signature_algorithm=_algorithm(info["signature_algorithm"]),
        signature=bytes(info["signature"].native),
    )


def _version(value: asn1_core.Integer) -> int:
    return int(str(value.native).removeprefix("v"))


def _algorithm(identifier: asn1_core.Sequence) -> str:
    """The OID of an AlgorithmIdentifier whose parameters are absent or NULL."""
    # every algorithm accepted here (SHA-2, ECDSA, RSA PKCS#1 v1.5) takes no parameters
    if identifier["parameters"].dump() not in (b"", b"\x05\x00"):
        raise _DerError("malformed algorithm identifier")
    return str(identifier["algorithm"].dotted)


def _certificate(certificate: asn1_x509.Certificate) -> x509.Certificate:
    # cryptography ignores the unused-bits count of the signature BIT STRING; openssl does not
    if certificate["signature_value"].contents[:1] != b"\0":
        raise _DerError("malformed certificate")
    try:
        return _parse_fully(lambda der: [x509.load_der_x509_certificate(der)],
                            certificate.dump())[0]
    except CERTIFICATE_ERRORS as error:
        raise _DerError(f"embedded certificate: {error}") from None


def _der_oid(dotted: str) -> bytes:
    return bytes(asn1_core.ObjectIdentifier(dotted).dump())


def _der_octets(value: bytes) -> bytes:
    return bytes(asn1_core.OctetString(value).dump())


# --- small helpers -----------------------------------------------------------------------------

def _utc(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spki(public_key: object) -> bytes:
    if not isinstance(public_key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        return b""
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def _report(source: str, problems: Sequence[str]) -> str:
    lines = "\n".join(f"  - {p}" for p in problems)
    noun = "problem" if len(problems) == 1 else "problems"
    return f"{source}: {len(problems)} {noun}:\n{lines}"
