"""Encryption at rest for contact details (AES-256-GCM) and blind indexes for finding them.

The key file holds 32 random bytes (hex), mode 0600. Two keys are derived from it with HKDF-SHA256:
one encrypts, one computes the keyed-hash blind index that lets the node find a delivery by phone number
or e-mail address without storing either in clear.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from hashlib import blake2b
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from alertnode.errors import StoreError

_NONCE = 12  # NIST SP 800-38D §8.2: 96-bit nonces, random
_VERSION = b"\x01"


def load_or_create_key(path: Path) -> bytes:
    """Read the master key; create it (mode 0600) when missing."""
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise StoreError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
        raw = path.read_text(encoding="ascii").strip()
        try:
            key = bytes.fromhex(raw)
        except ValueError:
            raise StoreError(f"{path} does not hold a hex key") from None
        if len(key) != 32:
            raise StoreError(f"{path} must hold 32 bytes of hex, found {len(key)}")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key.hex() + "\n")
    return key


class RandomPool:
    """Random bytes from the operating system's CSPRNG, drawn ``size`` bytes at a time and handed out once each.

    Why: ``os.urandom`` releases the GIL around its system call, and in the node that is where the other
    thread (the store's writer, the event loop) takes it: a call that costs a microsecond then waits for
    the GIL. A small request drew randomness five to seven times (alert id, token, nonces) and waited at
    each (tools/bench/api.py). Bytes handed out are never handed out again; thread-safe."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._buf = b""
        self._pos = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> bytes:
        if n > self._size:
            return os.urandom(n)
        with self._lock:
            if self._pos + n > len(self._buf):
                self._buf = os.urandom(self._size)
                self._pos = 0
            out = self._buf[self._pos : self._pos + n]
            self._pos += n
        return out


    def forget(self) -> None:
        """Drop what is left: a forked child must never hand out the bytes its parent hands out too (a nonce
        used twice with one AES-GCM key gives its authentication key away)."""
        self._buf, self._pos, self._lock = b"", 0, threading.Lock()


RANDOM = RandomPool()
"""the process's pool; a forked child starts with an empty one (the node forks only to exec, but a library or
multiprocessing's fork start method might not)"""
os.register_at_fork(after_in_child=RANDOM.forget)


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


class Cipher:
    def __init__(self, master: bytes) -> None:
        self._aead = AESGCM(_derive(master, b"alertnode/encrypt/v1"))
        self._index_key = _derive(master, b"alertnode/index/v1")

    def encrypt(self, data: bytes) -> bytes:
        nonce = RANDOM.take(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, data, None)

    def decrypt(self, blob: bytes) -> bytes:
        if not blob or blob[:1] != _VERSION:
            raise StoreError("encrypted value has an unknown format")
        try:
            return self._aead.decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], None)
        except InvalidTag:
            raise StoreError("encrypted value does not authenticate (wrong key?)") from None

    def encrypt_str(self, text: str) -> bytes:
        return self.encrypt(text.encode("utf-8"))

    def decrypt_str(self, blob: bytes) -> str:
        return self.decrypt(blob).decode("utf-8")

    def encrypt_json(self, value: Any) -> bytes:
        return self.encrypt(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))

    def decrypt_json(self, blob: bytes) -> Any:
        return json.loads(self.decrypt(blob))

    def index(self, value: str) -> str:
        """Blind index: equal values give equal indexes, nothing else can be learnt from it.
        Keyed BLAKE2b (RFC 7693 §2.5 keyed mode is a MAC), 128 bits: as strong as a truncated
        HMAC-SHA256 and several times cheaper for a 10,000-recipient alert."""
        return blake2b(value.strip().lower().encode("utf-8"), key=self._index_key, digest_size=16).hexdigest()
