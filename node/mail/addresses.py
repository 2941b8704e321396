"""E-mail addresses as the node takes them: syntax, normal form, the operator's refused domains, and the
key two spellings of one mailbox share. Pure: no DNS, no sockets.

Rules:
1. Every syntactically valid address is accepted (RFC 5321 §4.1.2 Mailbox with a domain name,
   RFC 6531 UTF-8 allowed). Special-use names (RFC 6761 ``localhost``, ``test``, ``invalid``,
   RFC 6762 ``.local``, ...) and dotless host names are valid: on premises, an Active Directory
   ``.local`` domain or the PBX host's own mail is exactly where alerts go. No deliverability check.
2. Not accepted: display names (``Ann <a@b>``), quoted local parts, address literals (``a@[10.0.0.1]``)
   and empty parts; the node sends to mailboxes, written plainly.
3. The normal form is email-validator's: Unicode NFC, the domain lower-cased (internationalised
   domains in Unicode), the local part as written.
4. Domains an operator refuses are a list of globs (``mail.refuse_domains``), matched against the
   lower-cased ASCII (IDNA) form of the domain: ``*.example`` matches every sub-domain of
   ``example``, not ``example`` itself.
5. Two spellings of one mailbox compare equal by :func:`mailbox_key`: local part case-folded
   (RFC 5321 §2.4 lets a server treat it case-sensitively; none that people use does), domain in
   lower-case ASCII.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

_PROBE_LABEL = "x"
"""One label that is no special-use name (RFC 6761 §6): see :func:`normalize_address`."""

# the characters of an RFC 1035 host name, plus the glob characters of fnmatch
_GLOB = re.compile(r"^[a-z0-9.*?\[\]!-]{1,255}\Z")


def _validated(text: str) -> str | None:
    try:
        return validate_email(text, check_deliverability=False, globally_deliverable=False).normalized
    except EmailNotValidError:
        return None


def normalize_address(raw: str) -> str | None:
    """The normal form of ``raw`` (surrounding spaces ignored), or None when it is no valid address."""
    text = raw.strip()
    found = _validated(text)
    if found is not None:
        return found
    # email-validator refuses special-use domain names whatever its options, as its last domain check.
    # With one ordinary label appended the domain passes through every other check unchanged; the
    # label is then taken off again. (The cost: a domain within 2 octets of the 253-octet limit of
    # RFC 1035 §2.3.4 that is also special-use is refused.)
    _, at, domain = text.rpartition("@")
    if not at or not domain or domain.startswith("[") or domain.endswith("."):
        return None
    probed = _validated(f"{text}.{_PROBE_LABEL}")
    if probed is None or not probed.endswith("." + _PROBE_LABEL):
        return None
    return probed[: -len(_PROBE_LABEL) - 1]


def ascii_domain(domain: str) -> str:
    """The domain in lower-case ASCII: IDNA A-labels for an internationalised one (RFC 5890)."""
    lowered = domain.strip().rstrip(".").lower()
    if lowered.isascii():
        return lowered
    try:
        return lowered.encode("idna").decode("ascii")
    except UnicodeError:
        return lowered


def mailbox_key(address: str) -> str:
    """What two spellings of one mailbox share (rule 5); ``""`` for something that is no address."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        return ""
    return f"{local.casefold()}@{ascii_domain(domain)}"


def glob_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be a refused-domain glob, or None."""
    if not pattern.strip():
        return "is empty"
    if "@" in pattern:
        return "is an address, not a domain glob"
    if not _GLOB.match(ascii_domain(pattern)):
        return "is not a domain glob: letters, digits, '-', '.', and the glob characters * ? [ ] !"
    return None


@dataclass(frozen=True)
class DomainPolicy:
    """The operator's refused domains (rule 4)."""

    refuse: tuple[str, ...] = ()

    @classmethod
    def of(cls, patterns: Iterable[str]) -> DomainPolicy:
        return cls(tuple(ascii_domain(p) for p in patterns if p.strip()))

    def refused_by(self, address: str) -> str | None:
        """The first glob refusing ``address``'s domain, or None."""
        if not self.refuse:
            return None
        domain = ascii_domain(address.rpartition("@")[2])
        return next((p for p in self.refuse if fnmatch.fnmatchcase(domain, p)), None)
