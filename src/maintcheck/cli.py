"""The ``maintcheck`` command: the checklist (list, import), a team's project (init, vars),
signing keys and evidence (keygen, verify)."""


from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from maintcheck import catalog as catalog_module
from maintcheck import exitcodes, mdimport, project, signing, team
from maintcheck.catalog import KINDS, MAINTENANCE_TYPES, PHASES
from maintcheck.errors import InputError
from maintcheck.schema import VARIABLES
from maintcheck.suite import scan


def checklist(args: argparse.Namespace) -> int:
    """Print every item with its id, title, phase, kind and implementing tests."""
    cat = catalog_module.load(args.catalog)
    refs = scan(Path(args.checks), Path.cwd())
    phases = set(args.phase.split(",")) if args.phase else None
    types = set(args.type.split(",")) if args.type else None
    kinds = set(args.kind.split(",")) if args.kind else None
    items = [i for i in cat.items
             if (phases is None or i.phase in phases)
             and (kinds is None or i.kind in kinds)
             and (types is None or (i.maintenance_type or "general") in types)]
    width = max((len(i.title) for i in items), default=10)
    for item in items:
        tests = [r for r in refs if r.item == item.id]
        where = ", ".join(f"{r.nodeid}{' (manual)' if r.manual else ''}" for r in tests)
        mtype = f" [{item.maintenance_type}]" if item.maintenance_type else ""
        print(f"{item.id:>5}  {item.title:<{width}}  {item.phase:<6}  {item.kind:<9}"
              f"{mtype}  {where or 'no check: its title is asked of the operator'}")
    print(f"{len(items)} item(s)")
    return 0


def checklist_import(args: argparse.Namespace) -> int:
    """Write the catalog from the team's Markdown checklist; say what changed."""
    markdown = mdimport.read(Path(args.markdown))
    target = Path(args.catalog)
    previous = catalog_module.load(target) if target.exists() else None
    result = mdimport.import_checklist(markdown, scan(Path(args.checks), Path.cwd()), previous)
    for line in result.lines():
        print(line)
    before = target.read_text(encoding="utf-8") if target.exists() else None
    if args.check:
        same = before == result.text
        print(f"{target}: {'as' if same else 'NOT as'} {args.markdown} gives it")
        return 0 if same else 1
    scratch = target.with_name(f".{target.name}.new")
    scratch.parent.mkdir(parents=True, exist_ok=True)
    scratch.write_text(result.text, encoding="utf-8")
    try:
        written = catalog_module.load(scratch)  # what the runs will read must load
    except InputError as exc:
        scratch.unlink()
        raise InputError(args.markdown, exc.problems) from None
    scratch.replace(target)
    manual = len([i for i in written.items if not i.automated])
    print(f"{'unchanged' if before == result.text else 'wrote'} {target}: "
          f"{len(written.items)} items in {len(written.sections())} sections, {manual} without "
          "an automated check (asked of the operator)")
    return 0


def variables(args: argparse.Namespace) -> int:
    """Every inventory variable a run reads: maintcheck's own, then the team's."""
    declared = team.load(Path(args.checks))
    groups = [("maintcheck's own", VARIABLES)]
    if declared.variables:
        groups.append((f"the team's, from {declared.variables_path}", declared.variables))
    for heading, found in groups:
        print(f"{heading} ({len(found)}):")
        for var in found:
            default = json.dumps(var.default) if var.default not in ("", [], {}) else "-"
            print(f"  {var.full_name}  {var.type}  default {default}  items "
                  f"{', '.join(var.items) or '-'}: {var.doc}{' (secret)' if var.secret else ''}")
    if declared.commands:
        print(f"the team's read-only commands, from {declared.commands_path} "
              f"({len(declared.commands)}):")
        for command in declared.commands:
            print(f"  {command.program} {'|'.join(command.verbs) or '(any reading arguments)'}: "
                  f"{command.reason}")
    return 0


def init(args: argparse.Namespace) -> int:
    """Write a ready team project: the shipped checklist and checks, inventories, pytest.ini."""
    dest = Path(args.directory)
    written = project.init(dest)
    print(f"wrote {len(written)} files into {dest}/: checks/ (checklist.md, checklist.yml and "
          "the shipped checks, now yours), inventory/ (local.yml, example/), pytest.ini, "
          "conftest.py, reports/")
    print(f"next: cd {dest} && pytest checks/pre")
    return 0


def keygen(args: argparse.Namespace) -> int:
    """Make an operator key: a self-signed certificate, or a CSR for the organisation's CA."""
    passphrase = read_passphrase(args.passphrase_env, confirm=True) if args.encrypt else None
    files = signing.generate_key(Path(args.key).expanduser(), common_name=args.name,
                                 passphrase=passphrase,
                                 self_signed=not args.csr, days=args.days)
    print(f"key: {files.key} (mode 0600{', encrypted' if passphrase else ''})")
    if files.certificate:
        print(f"certificate: {files.certificate} (self-signed; give it to your auditors)")
    if files.request:
        print(f"request: {files.request} (have your organisation's CA sign it)")
    return 0


def verify(args: argparse.Namespace) -> int:
    """Check every run's signature and hashes, and whether a trust anchor establishes each
    signer: VERIFIED (0) only then."""
    pins = [signing.read_pin(p) for p in args.signer]
    try:
        verified = signing.verify_directory(
            Path(args.directory), ca_path=Path(args.ca) if args.ca else None, pins=pins,
            tsa_ca_path=Path(args.tsa_ca) if args.tsa_ca else None)
    except signing.VerificationError as exc:
        print(f"NOT VERIFIED: {exc}", file=sys.stderr)
        return exitcodes.NOT_VERIFIED
    for line in describe(verified):
        print(line)
    if verified.established:
        print(f"VERIFIED: {len(verified.files)} file(s) in {args.directory}, every signer "
              "established by " + ("--ca and --signer" if args.ca and pins
                                   else "--ca" if args.ca else "--signer"))
        return exitcodes.VERIFIED
    print(f"INTACT, SIGNER NOT ESTABLISHED: {len(verified.files)} file(s) in {args.directory} "
          "match their signatures, but nothing says who may sign. Compare each fingerprint "
          "above with the signer's, out of band, then run: maintcheck verify "
          f"{args.directory} " + " ".join(f"--signer {f}" for f in sorted(
              {str(r.fingerprint) for r in verified.signed})) + " (or --ca ORG-CA.pem)")
    return exitcodes.SIGNER_NOT_ESTABLISHED


def describe(verified: signing.Verified) -> list[str]:
    """One line per run: who signed it, when, with what fingerprint, and what establishes them."""
    lines = []
    for run in verified.runs:
        latest = (" (latest complete " + run.phase + " run)"
                  if verified.latest_complete.get(run.phase) == run.label else "")
        if run.signer is None:
            lines.append(f"run {run.label}{latest}: NOT SIGNED; its files are covered by a "
                         "later run's signature")
            continue
        kind = "self-signed" if run.self_signed else "CA-issued"
        lines.append(f"run {run.label}{latest}: signed by {run.signer} at "
                     f"{run.signed_at:%Y-%m-%dT%H:%M:%SZ} (the signer's clock)")
        lines.append(f"  {kind} certificate, SHA-256 fingerprint {run.fingerprint}")
        lines.append(f"  trust: {run.anchor or 'not established (no --ca or --signer given)'}")
        if run.timestamped_at is not None:
            lines.append(f"  timestamped at {run.timestamped_at:%Y-%m-%dT%H:%M:%SZ} by "
                         f"{run.timestamp_authority}" + (
                             ", checked with --tsa-ca: the certificate was judged then"
                             if run.timestamp_trusted else
                             " (not checked: give --tsa-ca to judge the certificate then)"))
    return lines


def read_passphrase(env: str, *, confirm: bool) -> bytes:
    """The key passphrase from an environment variable, or asked on the terminal."""
    if os.environ.get(env):
        return os.environ[env].encode()
    first = getpass.getpass("passphrase: ")
    if confirm and getpass.getpass("again: ") != first:
        raise InputError("passphrase", ["the two passphrases differ"])
    return first.encode()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="maintcheck", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    lister = sub.add_parser("checklist", help="list the checklist items and their tests")
    lister.add_argument("--catalog", default="checks/checklist.yml")
    lister.add_argument("--checks", default="checks")
    lister.add_argument("--phase", help=f"comma list of {','.join(PHASES)}")
    lister.add_argument("--kind", help=f"comma list of {','.join(KINDS)}")
    lister.add_argument("--type", help=f"comma list of general,{','.join(MAINTENANCE_TYPES)}")
    lister.set_defaults(func=checklist)
    actions = lister.add_subparsers(dest="action", required=False)
    importer = actions.add_parser(
        "import", help="write the catalog from a Markdown checklist (`### N. Section`, "
        "`- [ ] item`); exit 1 with --check when it differs, 2 on bad input")
    importer.add_argument("markdown", help="the team's checklist, e.g. checks/checklist.md")
    importer.add_argument("--catalog", default="checks/checklist.yml",
                          help="the catalog to write (its ids are kept where titles match)")
    importer.add_argument("--checks", default="checks", help="folder of the checks")
    importer.add_argument("--check", action="store_true",
                          help="write nothing; exit 1 when the catalog is not what the "
                          "Markdown gives")
    importer.set_defaults(func=checklist_import)
    lister_vars = sub.add_parser("vars", help="list every inventory variable, the team's too, "
                                 "and the team's declared read-only commands")
    lister_vars.add_argument("--checks", default="checks",
                             help="the team's checks folder (variables.yml, commands.yml)")
    lister_vars.set_defaults(func=variables)
    starter = sub.add_parser("init", help="write a team project: the shipped checklist and "
                             "checks as a start, inventories, pytest configuration, reports/")
    starter.add_argument("directory", help="a new (or empty) folder")
    starter.set_defaults(func=init)
    gen = sub.add_parser("keygen", help="make an operator signing key")
    gen.add_argument("--key", default=str(signing.DEFAULT_KEY),
                     help="where to write the key (0600; its folder is made 0700); default "
                     f"{signing.DEFAULT_KEY}, where every run looks for it")
    gen.add_argument("--name", required=True, help="the operator's name, for the certificate")
    gen.add_argument("--csr", action="store_true",
                     help="write a CSR for the organisation's CA instead of a self-signed cert")
    gen.add_argument("--days", type=int, default=365)
    gen.add_argument("--encrypt", action="store_true", help="protect the key with a passphrase")
    gen.add_argument("--passphrase-env", default="MAINTCHECK_SIGN_PASSPHRASE",
                     help="read the passphrase from this variable instead of the terminal")
    gen.set_defaults(func=keygen)
    check = sub.add_parser("verify", help="verify a signed evidence folder")
    check.add_argument("directory", help="reports/<change>/")
    check.add_argument("--ca", help="the organisation's CA certificate(s) (PEM): each signer "
                       "must chain to one")
    check.add_argument("--signer", action="append", default=[],
                       help="a signer to trust: their certificate (PEM) or its SHA-256 "
                       "fingerprint (repeatable; pins a self-signed signer)")
    check.add_argument("--tsa-ca", help="the timestamping authority's CA (PEM): check each "
                       "run's RFC 3161 token and judge its signer at the token's time")
    check.set_defaults(func=verify)
    return top


def validate(args: argparse.Namespace) -> list[str]:
    problems = []
    for name, allowed in (("phase", PHASES), ("kind", KINDS),
                          ("type", ("general", *MAINTENANCE_TYPES))):
        value = getattr(args, name, None)
        bad = [v for v in (value or "").split(",") if value and v not in allowed]
        if bad:
            problems.append(f"--{name} {','.join(bad)}: choose from {','.join(allowed)}")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    problems = validate(args)
    if problems:
        print("maintcheck: " + "; ".join(problems), file=sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except (InputError, signing.SigningError) as exc:
        print(f"maintcheck: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    except BrokenPipeError:  # `maintcheck checklist | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
