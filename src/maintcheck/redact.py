"""Secrets never leave the controller: every text bound for an artefact passes through here."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

MASK = "***"
SECRET_NAME = re.compile(r"(pass(word|wd|phrase)?|token|secret|(^|_)key($|_)|credential|api_?key"
                         r"|authorization|cookie)", re.IGNORECASE)
# connection variables that name a file, not a secret
NOT_SECRET = frozenset({"ansible_ssh_private_key_file", "ansible_private_key_file",
                        "maintcheck_known_hosts", "maintcheck_secret_vars"})
URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@:\s]+):(?P<pw>[^/@\s]+)@")
AUTH_HEADER = re.compile(r"(?i)(authorization\s*[:=]\s*['\"]?(basic|bearer|token)\s+)[A-Za-z0-9._~+/=-]+")
MIN_SECRET_LENGTH = 3


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
    return name not in NOT_SECRET and (name in set(declared) or bool(SECRET_NAME.search(name)))


@dataclass
class Redactor:
    """Replaces every known secret value with ``***``: ``Redactor({"hunter2"}).text(s)``."""

    secrets: set[str] = field(default_factory=set)
    # the secrets longest first, and how many there were when sorted: text() runs for every
    # string of the evidence (tens of thousands at 50 hosts), secrets are learnt before
    _ordered: tuple[int, tuple[str, ...]] = field(default=(-1, ()), init=False, repr=False)

    def add(self, value: Any) -> None:
        """Learn a secret: strings, and every string inside lists and mappings."""
        if isinstance(value, Vaulted):
            # the plaintext is never known; the ciphertext is masked whole and line by line
            lines = [line.strip() for line in value.ciphertext.splitlines()]
            for text in (value.ciphertext, "".join(lines[1:]), *lines[1:]):
                self.add(text)
        elif isinstance(value, str):
            if len(value) >= MIN_SECRET_LENGTH:
                self.secrets.add(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                self.add(item)
        elif isinstance(value, (list, tuple, set)):
            for item in value:
                self.add(item)
        elif value is not None and not isinstance(value, bool):
            self.add(str(value))

    def learn(self, variables: Mapping[str, Any], declared: Iterable[str] = ()) -> None:
        """Learn the secrets among variables: by name or declaration, at any depth, and the
        passwords written into URLs (``https://user:pw@host``)."""
        names = list(declared)
        for name, value in variables.items():
            if isinstance(value, Vaulted) or is_secret_name(str(name), names):
                self.add(value)
                if isinstance(value, str) and not isinstance(value, Vaulted) and " " in value:
                    # "Bearer abc": abc alone too
                    self.add(value.split(None, 1)[1])
            elif isinstance(value, Mapping):
                self.learn(value, names)
            elif isinstance(value, (list, tuple)):
                self.learn({str(i): v for i, v in enumerate(value)}, names)
            elif isinstance(value, str):
                for match in URL_USERINFO.finditer(value):
                    self.add(match["pw"])

    def text(self, text: str) -> str:
        """The text with secrets, URL passwords and auth headers masked."""
        if not text:
            return text
        if self._ordered[0] != len(self.secrets):  # only ever added to: the count tells
            # longest first, so a secret containing another is masked whole
            self._ordered = (len(self.secrets),
                             tuple(sorted(self.secrets, key=len, reverse=True)))
        for secret in self._ordered[1]:
            if secret in text:
                text = text.replace(secret, MASK)
        if "@" in text:
            text = URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
        return AUTH_HEADER.sub(lambda m: f"{m.group(1)}{MASK}", text)

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string redacted, mapping keys too (a URL can be one)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(k) if isinstance(k, str) else k: self.value(v)
                    for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value
