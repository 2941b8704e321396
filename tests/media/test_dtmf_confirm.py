"""dtmf_confirm: the 25 ms test a digit passes before it starts. Each rule on a span made for it."""

from __future__ import annotations

import numpy as np
import pytest

from alertnode.media import dtmf_confirm
from alertnode.media.dtmf_confirm import SPAN, confirm, measure

RATE = 8000
N = np.arange(SPAN)
AMP = 7000.0  # about -10 dBm0 per tone
PAIR = (770.0, 1336.0)  # digit 5


def sine(f: float | np.ndarray, amp: float | np.ndarray = AMP, phase: float = 0.3) -> np.ndarray:
    return amp * np.sin(2 * np.pi * np.cumsum(np.broadcast_to(f, N.shape)) / RATE + phase)


def pair(dev_r: float = 0.0, dev_c: float = 0.0, amp_c: float = AMP) -> np.ndarray:
    return sine(PAIR[0] * (1 + dev_r)) + sine(PAIR[1] * (1 + dev_c), amp_c, 1.1)


def ok(span: np.ndarray, estimate: tuple[float, float] = PAIR) -> bool:
    nominal = np.array([PAIR])
    return bool(confirm(span[None, :], nominal, np.array([estimate]), 0.018)[0])


def test_a_clean_pair_passes_and_its_frequencies_are_measured_to_a_fraction_of_a_hertz() -> None:
    x = pair(0.004, -0.006)
    fit = measure(x[None, :].astype(np.float64), np.array([PAIR[0] + 9.0]), np.array([PAIR[1] - 12.0]))
    assert abs(fit.freq[0, 0] - PAIR[0] * 1.004) < 0.3
    assert abs(fit.freq[0, 1] - PAIR[1] * 0.994) < 0.3
    assert fit.purity[0] > 0.999
    assert ok(x)


@pytest.mark.parametrize("twist_db", [-8.0, 0.0, 4.0])
def test_pairs_in_white_noise_at_snr_12_db_pass(twist_db: float) -> None:
    rng = np.random.default_rng(12)
    amp_c = AMP * 10 ** (twist_db / 20)
    noise_sd = np.sqrt((AMP**2 + amp_c**2) / 2 / 10 ** (12 / 10))
    passed = 0
    for _ in range(300):
        x = pair(rng.uniform(-0.015, 0.015), rng.uniform(-0.015, 0.015), amp_c)
        passed += ok(x + rng.normal(0, noise_sd, SPAN))
    assert passed == 300


def test_frequency_beyond_the_tolerance_fails() -> None:
    assert ok(pair(0.015, -0.015))
    assert not ok(pair(0.025, 0.0), (PAIR[0] * 1.025, PAIR[1]))
    assert not ok(pair(0.0, -0.022), (PAIR[0], PAIR[1] * 0.978))


def test_a_voice_whose_harmonics_fall_on_a_row_and_a_column_fails() -> None:
    # F0 191 Hz: harmonics 4 and 7 at 764 and 1337 Hz (digit 5) dominate, as a formant voice does;
    # its neighbours 5 and 6 lie 6-7 dB down and 2, 3 further down.
    levels_db = {1: -20, 2: -14, 3: -12, 4: 0, 5: -6, 6: -7, 7: -3, 8: -18, 9: -22}
    x = sum(sine(191.0 * h, AMP * 10 ** (db / 20), 0.7 * h) for h, db in levels_db.items())
    fit = measure(x[None, :], np.array([764.0]), np.array([1337.0]))
    assert fit.third[0] > -dtmf_confirm.MIN_THIRD_TONE_DB
    assert not ok(x, (764.0, 1337.0))


def test_a_third_tone_near_the_pair_fails_and_a_faint_one_passes() -> None:
    assert not ok(pair() + sine(1100.0, AMP * 10 ** (-10 / 20)))
    assert ok(pair() + sine(1100.0, AMP * 10 ** (-24 / 20)))


def test_two_tones_gliding_together_fail_on_their_bent_phase() -> None:
    # Both tones rise 2.5 % in 25 ms (a siren or a portamento): frequency changes along the span.
    glide = np.linspace(-0.0125, 0.0125, SPAN)
    x = sine(PAIR[0] * (1 + glide)) + sine(PAIR[1] * (1 + glide), AMP, 1.1)
    fit = measure(x[None, :], np.array([PAIR[0]]), np.array([PAIR[1]]))
    assert np.all(fit.bend[0] > dtmf_confirm.MAX_PHASE_BEND)
    assert not ok(x)


def test_a_pair_that_swells_fails_on_its_level() -> None:
    swell = np.linspace(0.7, 1.3, SPAN)  # +5 dB over 25 ms, as a syllable's onset
    x = sine(PAIR[0], AMP * swell) + sine(PAIR[1], AMP * swell, 1.1)
    assert not ok(x)
    steady_but_noisy = pair() + np.random.default_rng(3).normal(0, 300, SPAN)
    assert ok(steady_but_noisy)


def test_no_candidates_no_work() -> None:
    assert confirm(np.zeros((0, SPAN)), np.zeros((0, 2)), np.zeros((0, 2)), 0.018).shape == (0,)
