"""The last test before a DTMF digit starts: two steady sine waves over 25 ms, and nothing else.

The detector (``alertnode.media.dtmf``) finds digits with 15 ms windows, short enough to reject tones
under 23 ms and to bridge 10 ms drop-outs, but too short to tell a DTMF pair from a voice whose
harmonics fall on a row and a column frequency (a 191 Hz voice has its 4th and 7th harmonics at 764
and 1337 Hz: digit 5), or from two notes or two sweeps of an instrument. When a run of windows is
long enough to start a digit, the detector calls ``confirm`` once with ``SPAN`` samples that lie
wholly inside the tone. They are fitted with the two sine waves by least squares, over the whole
span and over each of its ``QUARTERS``. Rules, all of which must hold:

1. frequency: each tone, measured from the phase advance across the quarters (to a fraction of a
   hertz), is within ``max_dev`` of nominal;
2. purity: the two sines carry ``MIN_SPAN_PURITY`` of the span's energy. 25 ms resolves 80 Hz, so a
   voice's neighbouring harmonics, which fall inside the windows' 67 Hz-wide bins, count against it
   here; white noise at SNR 12 dB leaves 0.92-0.96;
3. no third tone: nothing else in the voice band (``THIRD_TONE_BAND``) comes within
   ``MIN_THIRD_TONE_DB`` of the stronger tone (what the fit leaves, Hann window). The residual of a
   DTMF pair in noise is flat (its strongest component 16 dB or more down at SNR 12 dB); a voice's
   is its other harmonics, 2-14 dB down;
4. steady phase: each tone advances as much from the 3rd to the 4th quarter as from the 1st to the
   2nd (a constant frequency), to within ``MAX_PHASE_BEND`` plus ``BEND_SIGMAS`` times what the
   measured noise explains. Voices glide in pitch and sweeps move; DTMF generators are crystal-locked;
5. steady level: each tone's amplitude in the span's second half is that of its first within
   ``MAX_SWELL_DB`` plus ``SWELL_SIGMAS`` times what the noise explains: syllables swell and decay.

The noise allowance of rules 4 and 5 comes from the fit itself: the residual's power per sample σ²
and the inverse Gram matrix of each quarter's fit give the variance of each quarter's complex
amplitude, hence of its phase and its relative level (half of it each). 4 standard deviations on 4
statistics miss a true digit about once in 4,000 at SNR 12 dB; at higher SNR the fixed allowances
govern. The thresholds were set on the tuning sets of tools/vectors/talkoff.py and the categories of
tools/vectors/dtmf_vectors.py (tools/bench/dtmf.py measures both). Pure; batched over the candidates
of a tick (numpy only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 8000
SPAN = 200  # 25 ms: lies inside a 40 ms tone with the windows' margins (dtmf.SPAN_LAG)
QUARTERS = 4
MIN_SPAN_PURITY = 0.9
MIN_THIRD_TONE_DB = 14.0
THIRD_TONE_BAND = (300.0, 3400.0)  # ITU-T G.712: the telephone channel's passband
MAX_PHASE_BEND = 0.15  # radians: second difference of the quarters' phases
BEND_SIGMAS = 4.0
MAX_SWELL_DB = 0.5  # level of the span's second half against its first
SWELL_SIGMAS = 4.0
# The windows' estimate is within ~0.3 %; one pass of the quarters' phase advance brings it to a
# fraction of a hertz.
REFINE_PASSES = 1

_Q = SPAN // QUARTERS
_NFFT = 256
_HANN = np.hanning(SPAN)
_HANN_GAIN2 = (np.sum(_HANN) / 2) ** 2  # |DFT|² of a unit-amplitude sine at its peak
_FREQS = np.fft.rfftfreq(_NFFT, 1 / SAMPLE_RATE)
_BAND = slice(*(int(i) for i in np.searchsorted(_FREQS, THIRD_TONE_BAND)))
_N = np.arange(SPAN, dtype=np.float64)
_NOISE_FLOOR = 1e-4  # relative residual below which the fit is exact for our purposes
_DB = 20 / np.log(10)

Floats = npt.NDArray[np.float64]


def _fit(
    x: Floats, f_r: Floats, f_c: Floats
) -> tuple[npt.NDArray[np.complex128], Floats, Floats, npt.NDArray[np.complex128], Floats]:
    """Least-squares fit of two sines at ``f_r`` and ``f_c`` (Hz, per row of ``x``).

    Returns each quarter's complex amplitudes (m, QUARTERS, 2) on the span's own time axis, their
    noise gains (m, QUARTERS, 2): the variance of each amplitude per unit noise variance, from the
    inverse Gram matrix (over 6 ms the two sines are not orthogonal), the whole span's complex
    amplitudes (m, 2) and fitted energy (m,), and the residual (m, SPAN): what the fit leaves.
    """
    m = len(x)
    w = 2 * np.pi / SAMPLE_RATE * np.stack([f_r, f_c], axis=1)  # (m, 2)
    ph = w[:, None, :] * _N[None, :, None]  # (m, N, 2)
    basis = np.concatenate([np.cos(ph), np.sin(ph)], axis=2)  # (m, N, 4): cos r, cos c, sin r, sin c
    bq = basis.reshape(m * QUARTERS, _Q, 4)
    bq_t = bq.transpose(0, 2, 1)
    gram = bq_t @ bq  # (mQ, 4, 4)
    proj = bq_t @ x.reshape(m * QUARTERS, _Q, 1)  # (mQ, 4, 1)
    inv = np.linalg.inv(gram)
    coef_q = (inv @ proj).reshape(m, QUARTERS, 4)
    diag = np.diagonal(inv, axis1=1, axis2=2).reshape(m, QUARTERS, 4)
    gain_q = diag[..., 0:2] + diag[..., 2:4]
    proj_all = proj.reshape(m, QUARTERS, 4).sum(axis=1)
    coef = np.linalg.solve(gram.reshape(m, QUARTERS, 4, 4).sum(axis=1), proj_all[..., None])[..., 0]  # (m, 4)
    fitted = np.einsum("mi,mi->m", coef, proj_all)
    amp_q = coef_q[..., 0:2] - 1j * coef_q[..., 2:4]
    amp = coef[:, 0:2] - 1j * coef[:, 2:4]
    residual = x - (basis @ coef[..., None])[..., 0]
    return amp_q, gain_q, fitted, amp, residual


@dataclass(frozen=True)
class SpanFit:
    """What the rules test, one row per span; ``[:, 0]`` is the row tone, ``[:, 1]`` the column tone."""

    freq: Floats  # (m, 2) Hz
    purity: Floats  # (m,) share of the span's energy in the two sines
    third: Floats  # (m,) dB: strongest other component in the voice band against the stronger tone
    bend: Floats  # (m, 2) radians: |second difference of the quarters' phases|
    bend_sd: Floats  # (m, 2) its noise standard deviation
    swell: Floats  # (m, 2) dB: |level of the second half against the first|
    swell_sd: Floats  # (m, 2)


def measure(x: Floats, f_r: Floats, f_c: Floats) -> SpanFit:
    """Fit the two sines to each span (rows of ``x``), starting from frequency estimates in Hz."""
    f = np.stack([f_r, f_c], axis=1)
    for _ in range(REFINE_PASSES):  # the quarters' mean phase advance is the remaining frequency error
        amp_q = _fit(x, f[:, 0], f[:, 1])[0]
        step = np.angle(np.sum(amp_q[:, 1:] * np.conj(amp_q[:, :-1]), axis=1))  # (m, 2) rad per quarter
        f = f + step * SAMPLE_RATE / (2 * np.pi * _Q)
    amp_q, gain_q, fitted, amp, residual = _fit(x, f[:, 0], f[:, 1])
    energy = np.einsum("mn,mn->m", x, x)
    sigma2 = np.maximum(energy - fitted, _NOISE_FLOOR * energy) / SPAN
    # A quarter's phase variance (and relative level variance): the noise along the tone's own
    # phasor, half the complex amplitude's variance, over the squared amplitude.
    a2 = np.maximum(np.abs(amp) ** 2, 1e-12)[:, None, :]
    var_q = sigma2[:, None, None] * gain_q / (2 * a2)  # (m, Q, 2)
    bend = np.abs(np.angle(amp_q[:, 3] * np.conj(amp_q[:, 2]) * np.conj(amp_q[:, 1] * np.conj(amp_q[:, 0]))))
    mag = np.abs(amp_q)
    first = np.maximum(mag[:, 0] + mag[:, 1], 1e-9)
    second = np.maximum(mag[:, 2] + mag[:, 3], 1e-9)
    spec = np.abs(np.fft.rfft(residual * _HANN, _NFFT, axis=1)[:, _BAND]) ** 2 / _HANN_GAIN2
    strongest = np.maximum(np.max(np.abs(amp) ** 2, axis=1), 1e-12)
    return SpanFit(
        freq=f,
        purity=fitted / np.maximum(energy, 1e-9),
        third=_DB * 0.5 * np.log(np.max(spec, axis=1) / strongest),
        bend=bend,
        bend_sd=np.sqrt(var_q.sum(axis=1)),
        swell=_DB * np.abs(np.log(second / first)),
        swell_sd=_DB * np.sqrt(var_q.sum(axis=1)) / 2,
    )


def confirm(
    span: npt.NDArray[np.floating],
    f_nominal: Floats,
    f_estimate: Floats,
    max_dev: float,
) -> npt.NDArray[np.bool_]:
    """Rules 1–5 for each span (one row per candidate digit). ``f_nominal`` and ``f_estimate`` are
    (m, 2) row and column frequencies in Hz: the digit's, and the windows' measurement of them."""
    if not len(span):
        return np.zeros(0, dtype=bool)
    m = measure(np.asarray(span, dtype=np.float64), f_estimate[:, 0], f_estimate[:, 1])
    ok = np.all(np.abs(m.freq / f_nominal - 1) <= max_dev, axis=1)
    ok &= m.purity >= MIN_SPAN_PURITY
    ok &= m.third <= -MIN_THIRD_TONE_DB
    ok &= np.all(m.bend <= MAX_PHASE_BEND + BEND_SIGMAS * m.bend_sd, axis=1)
    ok &= np.all(m.swell <= MAX_SWELL_DB + SWELL_SIGMAS * m.swell_sd, axis=1)
    return np.asarray(ok)
