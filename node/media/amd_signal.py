"""Frame analysis for answering-machine detection: speech or not, and steady tones, for many calls.

:class:`FrameAnalyser` turns one 20 ms frame per call (a ``(m, 160)`` batch) into what the cadence
rules of :mod:`alertnode.media.amd` need. It holds per-call state in arrays, so a tick of many calls
is a handful of numpy operations. Pure: no I/O, no clock.

Rules:

* Spectrum: a 256-sample (32 ms) Hann window ending with the frame, 31.25 Hz bins.
* Noise floor, per bin of 200-3,400 Hz: the first ``_LEARN_FRAMES`` frames of a call set it (their
  mean); then it is the mean power of the frames judged not speech (τ ≈ 190 ms), never above
  ``_DROP`` times the bin's smoothed power (so it follows at once when the line gets quieter, but
  the dips of a steady noise do not pull it below its mean), and it rises by
  ``floor_rise_db_per_s`` during speech (so a noise that got louder is learnt even if it was first
  taken for speech).
* Speech: the power standing out of the floor (each bin's excess over ``_BETA`` times its floor,
  summed) reaches ``speech_on_db`` relative to the floor's total (``speech_off_db`` to continue), and
  the frame holds at least ``min_speech_dbm0``. Voiced speech piles its power into a few harmonics
  far above the floor; stationary noise of any colour (white, pink, brown, hum) almost never does.
* Background talkers: the person on the phone is close to it. The talker's level is tracked (the
  90th percentile of two-frame levels of their speech); speech ``background_db`` below it is a TV
  or a colleague and not counted. Speech ``louder_db`` above it means what came before was
  background: ``louder`` is raised so that the cadence forgets it.
* Echo: a frame no louder than ``echo_margin_db`` below the loudest frame the node sent in the last
  ``echo_ms`` can be the echo of the prompt (ITU-T G.168 networks return it at least 6 dB down,
  within 128 ms): it is neither speech nor tone and teaches nothing. A person talking over the
  prompt is louder than its echo and still heard.
* Tone: the strongest bin of ``beep_min_hz``-``beep_max_hz`` with its ±2 neighbours holds
  ``beep_purity`` of the frame's power above the noise floor (speech spreads its power over
  harmonics, DTMF over two tones; a beep in steady noise stays pure), is ``beep_min_dbm0`` loud and
  10 dB above the floor of its bins. Consecutive tonal frames whose frequency (peak interpolated on
  the log-magnitude parabola) stays within ``beep_freq_tol`` of their running mean form a run: tone
  generators hold it within 0.1 %, a sung or robotic vowel drifts by 0.5-2.5 % (measured on the
  corpus). A run that ends after ``beep_min_ms`` to ``beep_max_ms`` is a beep.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from alertnode.media.amd_config import AmdConfig

SAMPLE_RATE = 8000
FRAME = 160  # 20 ms at 8 kHz: the RTP packetisation pjsua2 delivers
FRAME_MS = 20.0
NFFT = 256  # 32 ms window: 31.25 Hz bins
DBM0_PEAK = 32124.0 * 10 ** (-3.17 / 20)  # ITU-T G.711: a sine at 0 dBm0 (as alertnode.media.dtmf)
DBM0_MS = DBM0_PEAK**2 / 2  # mean square of that sine

_TAIL = NFFT - FRAME
_HANN = np.hanning(NFFT + 1)[:NFFT].astype(np.float32)  # periodic Hann
# Parseval with the window: 2·Σ|X_k|² / (N·Σw²) is the mean square of the band's signal.
_P_SCALE = np.float32(2.0 / (NFFT * float(np.sum(_HANN.astype(np.float64) ** 2))))
_HZ_PER_BIN = SAMPLE_RATE / NFFT
_SPEECH_BINS = slice(round(200 / _HZ_PER_BIN), round(3400 / _HZ_PER_BIN) + 1)  # ITU-T G.712 passband
_NBINS = _SPEECH_BINS.stop - _SPEECH_BINS.start
_LEARN_FRAMES = 3  # the first 60 ms of a call only teach the noise floor
_SMOOTH = np.float32(0.7)  # smoothing of each bin's power (τ ≈ 60 ms) ...
_DROP = np.float32(4.0)  # ... times this is the floor's ceiling
_NOISE_AVG = np.float32(0.9)  # averaging of the noise frames' power (τ ≈ 190 ms)
_BETA = np.float32(3.0)  # a bin stands out of noise above 3× its floor (noise reaches it 5 % of the time)
_LEVEL_Q = 0.9  # the talker's level: the 90th percentile of their frames' levels
_LEVEL_STEP_DB = 1.0  # step of the quantile tracker
_LEVEL_MIN_FRAMES = 10  # until then the level follows the loudest frame (a word's onset climbs)
_MIN_FLOOR = np.float32(DBM0_MS * 10 ** (-100 / 10))


@dataclass(frozen=True)
class Tone:
    """A steady tone of a beep's duration ended on batch row ``row``."""

    row: int
    start_ms: float
    end_ms: float
    freq_hz: float
    level_dbm0: float


@dataclass(frozen=True)
class Analysis:
    """One tick's result for the rows of the batch."""

    voiced: npt.NDArray[np.bool_]  # speech of the talker in this frame
    louder: npt.NDArray[np.bool_]  # a talker far louder than all before started: forget what came before
    tone_ms: npt.NDArray[np.float64]  # length of the steady tone sounding now (0 if none)
    tones: list[Tone]


class FrameAnalyser:
    """Per-call spectrum, noise floor, talker level and tone tracking for ``channels`` calls."""

    _ARRAYS = (
        "_tail", "_seen", "_smooth", "_noise", "_voiced", "_prev_db", "_level", "_level_n",
        "_tone_n", "_tone_start", "_tone_f", "_tone_level",
    )  # fmt: skip

    def __init__(self, channels: int, config: AmdConfig) -> None:
        c = config
        self._c = config
        self._rise = np.float32(10 ** (c.floor_rise_db_per_s * FRAME_MS / 1000 / 10))
        self._on = np.float32(10 ** (c.speech_on_db / 10))
        self._off = np.float32(10 ** (c.speech_off_db / 10))
        self._min_speech = np.float32(DBM0_MS * 10 ** (c.min_speech_dbm0 / 10))
        self._beep_min = np.float32(DBM0_MS * 10 ** (c.beep_min_dbm0 / 10))
        lo, hi = int(np.floor(c.beep_min_hz / _HZ_PER_BIN)), int(np.ceil(c.beep_max_hz / _HZ_PER_BIN))
        self._beep_bins = slice(max(lo, 2), min(hi, NFFT // 2 - 3) + 1)
        self._alloc(channels)

    def _alloc(self, c: int) -> None:
        self._tail = np.zeros((c, _TAIL), dtype=np.float32)
        self._seen = np.zeros(c, dtype=np.int32)  # frames since reset
        self._smooth = np.zeros((c, _NBINS), dtype=np.float32)
        self._noise = np.zeros((c, _NBINS), dtype=np.float32)
        self._voiced = np.zeros(c, dtype=bool)
        self._prev_db = np.full(c, -200.0, dtype=np.float32)
        self._level = np.zeros(c, dtype=np.float32)
        self._level_n = np.zeros(c, dtype=np.int32)
        self._tone_n = np.zeros(c, dtype=np.int32)
        self._tone_start = np.zeros(c)
        self._tone_f = np.zeros(c)
        self._tone_level = np.zeros(c)

    def add_channel(self) -> None:
        old = {name: getattr(self, name) for name in self._ARRAYS}
        self._alloc(len(self._seen) + 1)
        for name in self._ARRAYS:
            getattr(self, name)[:-1] = old[name]

    def reset(self, channel: int) -> None:
        self._tail[channel] = 0
        self._seen[channel] = 0
        self._voiced[channel] = False
        self._prev_db[channel] = -200.0
        self._level_n[channel] = 0
        self._tone_n[channel] = 0

    def analyse(
        self, idx: npt.NDArray[np.intp], x: npt.NDArray[np.float32], t_end: float, echo: npt.NDArray[np.bool_]
    ) -> Analysis:
        """Frames ``x`` (m, 160, int16 scale) of channels ``idx``, ending at ``t_end`` ms. Rows where
        ``echo`` is set hold only the echo of what the node sent: neither speech nor tone, and they
        teach the noise floor and the talker's level nothing."""
        buf = np.concatenate([self._tail[idx], x], axis=1)
        self._tail[idx] = buf[:, FRAME:]
        p = np.abs(np.fft.rfft(buf * _HANN, axis=1)) ** 2 * _P_SCALE  # (m, 129): mean square per bin
        sp = p[:, _SPEECH_BINS]
        noise = self._floor(idx, sp)
        tones, tone_ms = self._tones(idx, p, noise, t_end, echo)
        voiced, louder = self._speech(idx, sp, noise, echo)
        return Analysis(voiced, louder, tone_ms, tones)

    def _floor(self, idx: npt.NDArray[np.intp], p: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The per-bin floor this frame is judged by, learnt from the frames before it."""
        seen = self._seen[idx, None]
        sm = np.where(seen == 0, p, self._smooth[idx] * _SMOOTH + p * (1 - _SMOOTH))
        first = (self._noise[idx] * seen + p) / (seen + 1)
        noise = np.where(seen < _LEARN_FRAMES, first, np.minimum(self._noise[idx], sm * _DROP))
        self._smooth[idx] = sm
        self._seen[idx] += 1
        return np.maximum(noise, _MIN_FLOOR)

    def _speech(
        self,
        idx: npt.NDArray[np.intp],
        p: npt.NDArray[np.float32],
        noise: npt.NDArray[np.float32],
        echo: npt.NDArray[np.bool_],
    ) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        c = self._c
        excess = np.maximum(p - noise * _BETA, 0).sum(axis=1)
        e = p.sum(axis=1)
        was = self._voiced[idx]
        voiced = (e >= self._min_speech) & (excess >= noise.sum(axis=1) * np.where(was, self._off, self._on))
        voiced &= (self._seen[idx] > _LEARN_FRAMES) & ~echo
        learnt = np.where(voiced[:, None], noise * self._rise, noise * _NOISE_AVG + p * (1 - _NOISE_AVG))
        learnt = np.where(echo[:, None], self._noise[idx], learnt)
        self._noise[idx] = np.where(self._seen[idx, None] <= _LEARN_FRAMES, noise, learnt)

        # The talker's level; two frames make a level, so a click cannot set it.
        db = 10 * np.log10(np.maximum(e, _MIN_FLOOR))
        level = np.minimum(db, self._prev_db[idx])
        self._prev_db[idx] = np.where(voiced, db, -200.0)
        n = self._level_n[idx]
        ref = self._level[idx]
        louder = voiced & (n >= _LEVEL_MIN_FRAMES) & (level > ref + c.louder_db)
        n = np.where(louder, 0, n)
        voiced &= (n == 0) | (db >= ref - c.background_db)
        counts = voiced & (level > -150)
        step = np.where(
            n < _LEVEL_MIN_FRAMES,
            np.where(n == 0, level - ref, np.maximum(level - ref, 0)),
            _LEVEL_STEP_DB * (_LEVEL_Q - (level < ref)),
        )
        ref = np.where(counts, ref + step, ref)
        n = np.where(counts, n + 1, n)
        self._level[idx] = np.where(louder, level, ref)
        self._level_n[idx] = np.where(louder, 1, n)
        self._voiced[idx] = voiced
        return voiced, louder

    def _tones(
        self,
        idx: npt.NDArray[np.intp],
        p: npt.NDArray[np.float32],
        noise: npt.NDArray[np.float32],
        t_end: float,
        echo: npt.NDArray[np.bool_],
    ) -> tuple[list[Tone], npt.NDArray[np.float64]]:
        c = self._c
        rows = np.arange(len(idx))
        k = np.argmax(p[:, self._beep_bins], axis=1) + self._beep_bins.start
        near = p[rows, k - 2] + p[rows, k - 1] + p[rows, k] + p[rows, k + 1] + p[rows, k + 2]
        a, b, g = (np.log(p[rows, k + d] + np.float32(1e-9)) for d in (-1, 0, 1))
        den = a - 2 * b + g
        delta = np.where(den < 0, 0.5 * (a - g) / np.where(den < 0, den, -1.0), 0.0)
        freq = (k + delta) * _HZ_PER_BIN
        # Purity counts the power above the noise floor: a beep in stationary noise is still pure.
        ks = k - _SPEECH_BINS.start
        floor_near = sum(noise[rows, ks + d] for d in (-2, -1, 0, 1, 2))
        above = np.maximum(p[:, _SPEECH_BINS] - noise, 0).sum(axis=1)
        tonal = (near - floor_near >= c.beep_purity * above) & (near >= self._beep_min) & (near >= 10 * floor_near)
        tonal &= ~echo
        n = self._tone_n[idx]
        f_run = self._tone_f[idx]
        cont = tonal & (n > 0) & (np.abs(freq - f_run) <= c.beep_freq_tol * f_run)
        tones = []
        for j in np.flatnonzero((n > 0) & ~cont):  # a run ended with the previous frame
            ch = idx[j]
            start, end = float(self._tone_start[ch]), t_end - FRAME_MS
            if c.beep_min_ms <= end - start <= c.beep_max_ms:
                level = 10 * float(np.log10(self._tone_level[ch] / DBM0_MS))
                tones.append(Tone(int(j), start, end, float(self._tone_f[ch]), level))
        new = tonal & ~cont
        n = np.where(cont, n + 1, np.where(new, 1, 0))
        self._tone_n[idx] = n
        self._tone_f[idx] = np.where(cont, f_run + (freq - f_run) / np.maximum(n, 1), freq)
        self._tone_level[idx] = np.where(cont, np.maximum(self._tone_level[idx], near), near)
        self._tone_start[idx] = np.where(new, t_end - FRAME_MS, self._tone_start[idx])
        return tones, (n * FRAME_MS).astype(np.float64)
