"""G.711 tables against CPython 3.11's audioop, over every possible input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertnode.media import g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ALL_PCM = np.arange(65536, dtype=np.uint16).view(np.int16)
ALL_PCM_BYTES = ALL_PCM.astype("<i2").tobytes()
ALL_CODES = bytes(range(256))


def test_ulaw_encode_matches_audioop_for_every_sample() -> None:
    assert g711.ulaw_encode(ALL_PCM).tobytes() == audioop.lin2ulaw(ALL_PCM_BYTES, 2)


def test_alaw_encode_matches_audioop_for_every_sample() -> None:
    assert g711.alaw_encode(ALL_PCM).tobytes() == audioop.lin2alaw(ALL_PCM_BYTES, 2)


def test_ulaw_decode_matches_audioop_for_every_code() -> None:
    assert g711.ulaw_decode_bytes(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)


def test_alaw_decode_matches_audioop_for_every_code() -> None:
    assert g711.alaw_decode_bytes(ALL_CODES) == audioop.alaw2lin(ALL_CODES, 2)


def test_bytes_helpers_match_audioop() -> None:
    assert g711.ulaw_encode_bytes(ALL_PCM_BYTES) == audioop.lin2ulaw(ALL_PCM_BYTES, 2)
    assert g711.alaw_encode_bytes(ALL_PCM_BYTES) == audioop.lin2alaw(ALL_PCM_BYTES, 2)


def test_decode_then_encode_is_identity_on_codes() -> None:
    codes = np.arange(256, dtype=np.uint8)
    # µ-law has two zeros (0x7F and 0xFF decode to 0); both encode back to 0xFF.
    u = g711.ulaw_encode(g711.ulaw_decode(codes))
    assert np.array_equal(u[codes != 0x7F], codes[codes != 0x7F])
    assert np.array_equal(g711.alaw_encode(g711.alaw_decode(codes)), codes)


def test_shapes_are_kept() -> None:
    frames = ALL_PCM[: 4 * 160].reshape(4, 160)
    assert g711.ulaw_encode(frames).shape == (4, 160)
    assert g711.alaw_decode(g711.alaw_encode(frames)).shape == (4, 160)


def test_non_int16_is_refused() -> None:
    with pytest.raises(TypeError):
        g711.ulaw_encode(np.zeros(4, dtype=np.float32))


@given(st.binary(min_size=0, max_size=400).filter(lambda b: len(b) % 2 == 0))
def test_round_trip_bytes_match_audioop(pcm: bytes) -> None:
    assert g711.ulaw_decode_bytes(g711.ulaw_encode_bytes(pcm)) == audioop.ulaw2lin(audioop.lin2ulaw(pcm, 2), 2)
    assert g711.alaw_decode_bytes(g711.alaw_encode_bytes(pcm)) == audioop.alaw2lin(audioop.lin2alaw(pcm, 2), 2)
