"""API keys: configured in clear (config/env) or generated and kept only as a SHA-256 hash.

A presented key is hashed and compared with every accepted hash using ``hmac.compare_digest``, so
the comparison takes the same time whatever the key."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def fingerprint(key: str) -> str:
    """A stable, non-secret name for an API key, the node's "user" (originators of events, readers of alerts):
    ``key-`` and 12 hex digits (48 bits) of its SHA-256. Never the key."""
    return "key-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


class KeyRing:
    def __init__(self, keys: Iterable[str] = (), hashes: Iterable[bytes] = ()) -> None:
        self._hashes = [_digest(k) for k in keys] + list(hashes)

    def __bool__(self) -> bool:
        return bool(self._hashes)

    def check(self, presented: str | None) -> bool:
        if not presented:
            return False
        digest = _digest(presented)
        ok = False
        for h in self._hashes:
            ok |= hmac.compare_digest(digest, h)
        return ok


def load_or_create_key_hash(path: Path) -> tuple[bytes, str | None]:
    """The stored hash of the generated key, and the key itself when it was created just now."""
    if path.exists():
        return bytes.fromhex(path.read_text(encoding="ascii").strip()), None
    key = "ak_" + secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(_digest(key).hex() + "\n")
    return _digest(key), key


def load_or_create_secret(path: Path) -> bytes:
    if path.exists():
        return path.read_text(encoding="ascii").strip().encode("ascii")
    secret = secrets.token_hex(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secret + "\n")
    return secret.encode("ascii")
