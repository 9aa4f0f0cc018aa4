"""Secrets never leave the controller: every text bound for an artefact passes through here.

This is the last net, not the first: secret values travel as :class:`~maintcheck.secret.Secret`
(which prints as ``***``) wherever maintcheck carries them. The redactor masks what is left,
in every artefact: each known secret whole, in the forms it takes in text (as Python and JSON
escape it, URL-encoded, base64, ``user:password`` in base64), a secret's beginning or end left
beside a cut (pytest's ``...``), passwords in URLs and on command lines, and auth headers. Its
work is linear in the text: no pattern here backtracks over its input.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Self
from urllib.parse import quote, quote_plus, unquote

from maintcheck.secret import MASK, Secret

__all__ = ["MASK", "Redactor", "Secret", "Vaulted", "is_secret_name"]

SECRET_NAME = re.compile(r"(pass(word|wd|phrase)?|token|secret|(^|_)key($|_)|credential|api_?key"
                         r"|authorization|cookie)", re.IGNORECASE)
# connection variables that name a file, not a secret
NOT_SECRET = frozenset({"ansible_ssh_private_key_file", "ansible_private_key_file",
                        "maintcheck_known_hosts", "maintcheck_secret_vars"})
# variables whose values are command lines: a password given on one is learnt as a secret
COMMAND_LINE_VARS = frozenset({"maintcheck_validate_commands", "ansible_ssh_common_args",
                               "ansible_ssh_extra_args", "ansible_ssh_args"})
# ``scheme://userinfo@``: the lookbehind starts a match only where a scheme can start, so a long
# run of letters is scanned once, not once per letter (the pattern stays linear)
URL_USERINFO = re.compile(r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)"
                          r"(?P<user>[^/@:\s]*)(?::(?P<pw>[^/@\s]*))?@")
AUTH_HEADER = re.compile(r"(?i)(authorization\s*[:=]\s*['\"]?(basic|bearer|token)\s+)"
                         r"[A-Za-z0-9._~+/=-]+")
# passwords on a command line, wherever one is printed: --password=X, --password X,
# sshpass -p X / -pX, mysql ... -pX, curl -u user:X / --user user:X
COMMAND_PASSWORD = re.compile(
    r"(?P<keep>--(?:password|passwd|pass)[= ]|\bsshpass -p ?|\bsshpass -p|"
    r"(?<=\s)(?:-u|--user)[= ][^\s:@/]+:)(?P<pw>[^\s'\"]+)"
    r"|(?P<keep2>\bmysql(?:dump|admin)?\b[^\n;|&]{0,200}? -p)(?P<pw2>[^\s'\"]+)")
MIN_SECRET_LENGTH = 3
# a secret's beginning or end beside a cut: at most this many characters minus one may show
MIN_FRAGMENT = 4
# pytest keeps at most a few hundred characters either side of a cut: longer fragments of a
# long secret need not be looked for (and the tables stay small whatever the secret's size)
MAX_FRAGMENT = 512
CUTS = ("...", "\u2026")
CACHED_LENGTH, CACHE_SIZE = 200, 20_000  # short texts are remembered, up to 4 MB
HEX_RUN = re.compile(r"[0-9a-f]{24,}")


class Vaulted(str):
    """An Ansible vault value (``!vault``): it reads as ``***`` and is never decrypted.

    Its ciphertext is kept only so that the ciphertext, too, is redacted wherever it appears.
    """

    ciphertext: str

    def __new__(cls, ciphertext: str) -> Self:
        value = super().__new__(cls, MASK)
        value.ciphertext = ciphertext
        return value

    def __reduce__(self) -> tuple[type[Vaulted], tuple[str]]:
        return Vaulted, (self.ciphertext,)


def is_secret_name(name: str, declared: Iterable[str] = ()) -> bool:
    """``is_secret_name("db_password") is True``; declared names are secret too."""
    return name not in NOT_SECRET and (name in set(declared) or bool(SECRET_NAME.search(
        name.replace("-", "_"))))


def forms(secret: str) -> set[str]:
    """The ways a secret appears in text: itself, as Python's repr and JSON escape it,
    URL-encoded, and in base64."""
    found = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe=""),
             quote_plus(secret, safe=""), base64.b64encode(secret.encode()).decode().rstrip("=")}
    if "%" in secret:
        found.add(unquote(secret))  # written URL-encoded in a URL, sent decoded
    return {f for f in found if len(f) >= MIN_SECRET_LENGTH}


def command_line_secrets(text: str) -> list[str]:
    """Passwords given on a command line: ``--password=X``, ``--password X``, ``-pX`` (mysql),
    ``sshpass -p X``, ``-u user:X`` (curl), ``NAME=X`` for a secret-looking NAME, and inside
    quoted words (a ProxyCommand) the same again."""
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    found: list[str] = []
    program = ""
    for i, word in enumerate(words):
        after = words[i + 1] if i + 1 < len(words) else ""
        if " " in word:
            found += command_line_secrets(word)
        name, eq, value = word.partition("=")
        if eq and value and is_secret_name(name.lstrip("-").split(" ")[-1].replace("-", "_")):
            found.append(value)
        if word.lower().startswith(("authorization:", "cookie:", "x-api-key:")):
            found += word.split(":", 1)[1].split()[-1:]
        if word in ("--password", "--passwd", "--pass") and after:
            found.append(after)
        if program in ("sshpass", "mysql", "mysqldump", "mysqladmin", "mariadb"):
            if word == "-p" and after and program == "sshpass":
                found.append(after)
            elif word.startswith("-p") and len(word) > 2:
                found.append(word[2:])
        if word in ("-u", "--user") and ":" in after:
            found.append(after.split(":", 1)[1])
        elif word.startswith("--user=") and ":" in word:
            found.append(word.split(":", 1)[1])
        base = (value if eq else word).rsplit("/", 1)[-1]
        if base == "sshpass":  # sshpass, or -oProxyCommand=sshpass
            program = "sshpass"
        elif not word.startswith("-") and not eq and not program:
            program = base
        elif word in ("|", "&&", ";"):
            program = ""
    return found


class Redactor:
    """Replaces every known secret with ``***``: ``Redactor({"hunter2"}).text(s)``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: set[str] = set()
        self._lock = threading.Lock()
        # derived, rebuilt when a secret was learnt since: text() runs for every string of the
        # evidence (tens of thousands at 50 hosts), secrets are learnt before
        self._built = -1
        self._ordered: tuple[str, ...] = ()
        # a fragment's 4 characters beside the cut -> (secret, fragment length) it may be
        self._ends: dict[str, list[tuple[str, int]]] = {}  # beginnings, by their last 4
        self._starts: dict[str, list[tuple[str, int]]] = {}  # ends, by their first 4
        self._ciphertext: set[str] = set()  # every 24 characters of each vault ciphertext
        self._cache: dict[tuple[int, str], str] = {}
        for secret in secrets:
            self.add(secret)

    def __repr__(self) -> str:
        return f"Redactor({len(self.secrets)} secrets: ***)"

    def add(self, value: Any) -> None:
        """Learn a secret: strings, and every string inside lists and mappings."""
        if isinstance(value, Secret):
            self.add(value.reveal())
        elif isinstance(value, Vaulted):
            # the plaintext is never known; the ciphertext is masked whole and line by line
            lines = [line.strip() for line in value.ciphertext.splitlines()]
            joined = "".join(lines[1:])
            with self._lock:
                self._ciphertext.update(joined[i:i + 24] for i in range(len(joined) - 23))
            for text in (value.ciphertext, joined, *lines[1:]):
                self.add(text)
        elif isinstance(value, str):
            if len(value) >= MIN_SECRET_LENGTH:
                with self._lock:
                    self.secrets.update(forms(value))
        elif isinstance(value, Mapping):
            for item in value.values():
                self.add(item)
        elif isinstance(value, (list, tuple, set)):
            for item in value:
                self.add(item)
        elif value is not None and not isinstance(value, bool):
            self.add(str(value))

    def add_basic_auth(self, user: str, password: str) -> None:
        """Learn a password and its ``user:password`` as basic auth sends it (base64)."""
        self.add(password)
        if password:
            self.add(base64.b64encode(f"{user}:{password}".encode()).decode())

    def learn(self, variables: Mapping[str, Any], declared: Iterable[str] = ()) -> None:
        """Learn the secrets among variables: by name or declaration, at any depth, the
        credentials written into URLs (``https://user:pw@host``, ``https://TOKEN@host``), and
        passwords on the command lines of validate commands and ssh arguments."""
        names = list(declared)
        for name, value in variables.items():
            key = str(name)
            if key in COMMAND_LINE_VARS:
                lines = value.reveal() if isinstance(value, Secret) else value
                for line in lines if isinstance(lines, list) else [lines]:
                    if isinstance(line, str):
                        self.add(command_line_secrets(line))
            if isinstance(value, (Vaulted, Secret)) or is_secret_name(key, names):
                self.add(value)
                text = value.reveal() if isinstance(value, Secret) else value
                if isinstance(text, str) and not isinstance(text, Vaulted) and " " in text:
                    # "Bearer abc": abc alone too
                    self.add(text.split(None, 1)[1])
                continue
            if isinstance(value, Mapping):
                self.learn(value, names)
            elif isinstance(value, (list, tuple)):
                self.learn({str(i): v for i, v in enumerate(value)}, names)
            elif isinstance(value, str) and "@" in value:
                for match in URL_USERINFO.finditer(value):
                    user, pw = match["user"], match["pw"]
                    if pw is not None:
                        self.add_basic_auth(unquote(user), unquote(pw))
                        self.add(pw)
                    else:  # a token alone: https://TOKEN@host
                        self.add_basic_auth(unquote(user), "")
                        self.add(user)

    def _build(self) -> None:
        if self._built == len(self.secrets):  # the common case, without the lock
            return
        with self._lock:
            if self._built == len(self.secrets):  # only ever added to: the count tells
                return
            # longest first, so a secret containing another is masked whole
            ordered = tuple(sorted(self.secrets, key=len, reverse=True))
            ends: dict[str, list[tuple[str, int]]] = {}
            starts: dict[str, list[tuple[str, int]]] = {}
            for secret in ordered:
                for m in range(MIN_FRAGMENT, min(len(secret), MAX_FRAGMENT)):
                    ends.setdefault(secret[m - MIN_FRAGMENT:m], []).append((secret, m))
                    tail = len(secret) - m
                    starts.setdefault(secret[tail:tail + MIN_FRAGMENT], []).append((secret, m))
            self._ordered, self._ends, self._starts = ordered, ends, starts
            self._built = len(self.secrets)

    def text(self, text: str) -> str:
        """The text with secrets, their cut-off parts, URL credentials, command-line
        passwords and auth headers masked."""
        if not text:
            return text
        self._build()
        if len(text) <= CACHED_LENGTH:
            # the evidence repeats its short strings (keys, outcomes, names) thousands of times
            key = (self._built, text)
            found = self._cache.get(key)
            if found is None:
                if len(self._cache) >= CACHE_SIZE:
                    self._cache.clear()
                found = self._cache[key] = self._text(text)
            return found
        return self._text(text)

    def _text(self, text: str) -> str:
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, MASK)
        if self._ordered:
            text = self._cut_fragments(text)
        if self._ciphertext:
            text = HEX_RUN.sub(lambda m: MASK if any(
                m[0][i:i + 24] in self._ciphertext for i in range(len(m[0]) - 23)) else m[0],
                text)
        if "@" in text:
            text = URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@"
                                    if m["pw"] is not None else f"{m['scheme']}{MASK}@", text)
        if "-p" in text or "-u" in text or "--user" in text:
            text = COMMAND_PASSWORD.sub(lambda m: f"{m['keep'] or m['keep2']}{MASK}", text)
        return AUTH_HEADER.sub(lambda m: f"{m.group(1)}{MASK}", text)

    def _cut_fragments(self, text: str) -> str:
        """Mask a secret's beginning left before a cut (``...``, or the text's end) and its
        end left after one (or at the text's start): pytest cuts long values in the middle."""
        cuts = sorted({(m.start(), m.end()) for cut in CUTS for m in re.finditer(
            re.escape(cut), text)} | {(len(text), len(text)), (0, 0)})
        spans: list[tuple[int, int]] = []
        for start, end in cuts:
            before = text[max(0, start - MIN_FRAGMENT):start]
            longest = max((m for secret, m in self._ends.get(before, ()) if start >= m
                           and text.startswith(secret[:m], start - m)), default=0)
            if longest:
                spans.append((start - longest, start))
            after = text[end:end + MIN_FRAGMENT]
            longest = max((m for secret, m in self._starts.get(after, ())
                           if text.startswith(secret[len(secret) - m:], end)), default=0)
            if longest:
                spans.append((end, end + longest))
        if not spans:
            return text
        parts, at = [], 0  # one pass: joining per span would copy the text once per cut
        for start, end in sorted(spans):
            if start >= at:
                parts += [text[at:start], MASK]
                at = end
            elif end > at:
                at = end
        return "".join([*parts, text[at:]])

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string redacted, mapping keys too (a URL can be one)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Secret):
            return MASK
        if isinstance(value, Mapping):
            return {self.text(k) if isinstance(k, str) else k: self.value(v)
                    for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value
