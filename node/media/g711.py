"""ITU-T G.711 µ-law and A-law as numpy table look-ups, bit-exact with CPython's ``audioop``.

Encoding indexes a 65,536-entry table with the int16 sample viewed as uint16; decoding indexes a
256-entry table. Both tables are built once at import from the G.711 segment rules, exactly as
CPython 3.11's ``Modules/audioop.c`` applies them (``lin2ulaw`` uses the top 14 bits of each
sample, ``lin2alaw`` the top 13), so the results equal ``audioop.lin2ulaw``/``ulaw2lin``/
``lin2alaw``/``alaw2lin`` for width 2 on every input; the tests prove it. ``audioop`` itself is
deprecated (PEP 594) and gone in Python 3.13, hence this module.

Public functions (pure, no I/O):
    ulaw_encode(pcm) -> uint8 array      ulaw_decode(codes) -> int16 array
    alaw_encode(pcm) -> uint8 array      alaw_decode(codes) -> int16 array
    and the same for bytes: ulaw_encode_bytes / ulaw_decode_bytes / alaw_encode_bytes / alaw_decode_bytes
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Int16Array = npt.NDArray[np.int16]
UInt8Array = npt.NDArray[np.uint8]

# G.711 Table 2a/2b segment end points, in the 14-bit (µ-law) and 13-bit (A-law) magnitude domains.
_SEG_UEND = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)
_SEG_AEND = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], dtype=np.int32)
_ULAW_BIAS = 0x84 >> 2  # the µ-law bias 132 (G.711 §3.2) in the 14-bit domain
_ULAW_CLIP = 8159  # largest 14-bit magnitude µ-law represents


def _all_int16() -> npt.NDArray[np.int32]:
    """Every int16 value, ordered by its uint16 bit pattern (the table index)."""
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


def _build_ulaw_encode() -> UInt8Array:
    pcm = _all_int16() >> 2  # 14-bit sample, arithmetic shift as audioop does
    negative = pcm < 0
    mask = np.where(negative, 0x7F, 0xFF)
    mag = np.minimum(np.abs(pcm), _ULAW_CLIP) + _ULAW_BIAS
    seg = np.searchsorted(_SEG_UEND, mag, side="left")  # first segment whose end >= mag
    uval = (seg << 4) | ((mag >> (seg + 1)) & 0xF)
    uval = np.where(seg >= 8, 0x7F, uval)
    return ((uval ^ mask) & 0xFF).astype(np.uint8)


def _build_alaw_encode() -> UInt8Array:
    pcm = _all_int16() >> 3  # 13-bit sample
    negative = pcm < 0
    mask = np.where(negative, 0x55, 0xD5)
    mag = np.where(negative, -pcm - 1, pcm)
    seg = np.searchsorted(_SEG_AEND, mag, side="left")
    shift = np.where(seg < 2, 1, seg)
    aval = (np.minimum(seg, 7) << 4) | ((mag >> shift) & 0xF)
    aval = np.where(seg >= 8, 0x7F, aval)
    return ((aval ^ mask) & 0xFF).astype(np.uint8)


def _build_ulaw_decode() -> Int16Array:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _build_alaw_decode() -> Int16Array:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


_ULAW_ENC = _build_ulaw_encode()
_ALAW_ENC = _build_alaw_encode()
_ULAW_DEC = _build_ulaw_decode()
_ALAW_DEC = _build_alaw_decode()


def _as_index(pcm: npt.ArrayLike) -> npt.NDArray[np.uint16]:
    arr = np.asarray(pcm)
    if arr.dtype != np.int16:
        raise TypeError(f"G.711 encoding takes int16 samples, not {arr.dtype}")
    return arr.view(np.uint16)


def ulaw_encode(pcm: npt.ArrayLike) -> UInt8Array:
    """int16 samples (any shape) to µ-law codes."""
    return _ULAW_ENC[_as_index(pcm)]


def alaw_encode(pcm: npt.ArrayLike) -> UInt8Array:
    """int16 samples (any shape) to A-law codes."""
    return _ALAW_ENC[_as_index(pcm)]


def ulaw_decode(codes: npt.ArrayLike) -> Int16Array:
    """µ-law codes (uint8, any shape) to int16 samples."""
    return _ULAW_DEC[np.asarray(codes, dtype=np.uint8)]


def alaw_decode(codes: npt.ArrayLike) -> Int16Array:
    """A-law codes (uint8, any shape) to int16 samples."""
    return _ALAW_DEC[np.asarray(codes, dtype=np.uint8)]


def ulaw_encode_bytes(pcm: bytes) -> bytes:
    """Little-endian 16-bit PCM bytes to µ-law bytes (``audioop.lin2ulaw(pcm, 2)``)."""
    return ulaw_encode(np.frombuffer(pcm, dtype="<i2").astype(np.int16, copy=False)).tobytes()


def alaw_encode_bytes(pcm: bytes) -> bytes:
    """Little-endian 16-bit PCM bytes to A-law bytes (``audioop.lin2alaw(pcm, 2)``)."""
    return alaw_encode(np.frombuffer(pcm, dtype="<i2").astype(np.int16, copy=False)).tobytes()


def ulaw_decode_bytes(codes: bytes) -> bytes:
    """µ-law bytes to little-endian 16-bit PCM bytes (``audioop.ulaw2lin(codes, 2)``)."""
    return ulaw_decode(np.frombuffer(codes, dtype=np.uint8)).astype("<i2").tobytes()


def alaw_decode_bytes(codes: bytes) -> bytes:
    """A-law bytes to little-endian 16-bit PCM bytes (``audioop.alaw2lin(codes, 2)``)."""
    return alaw_decode(np.frombuffer(codes, dtype=np.uint8)).astype("<i2").tobytes()
