"""In-band DTMF detection for many calls at once: a numpy Goertzel filter bank.

Use::

    det = DtmfDetector(channels=4)             # one channel per call slot
    events = det.process(frames, now_ms)       # frames: shape (channels, 160), one 20 ms tick
    for ev in events:                          # DtmfEvent(channel, digit, kind, at_ms, duration_ms)
        ...                                    # kind is DtmfEventKind.START or .END
    det.reset(channel)                         # a new call took the slot: forget its state
    ch = det.add_channel()                     # grow by one channel (its index is returned)

    spans = detect_digits(samples)             # whole 8 kHz signal -> [DigitSpan(digit, start_ms, end_ms)]
    stream = DtmfStream(); stream.feed(chunk)  # one channel fed chunks of any length

``frames`` holds one 160-sample frame (20 ms at 8 kHz) per channel: int16 samples, or floats where
1.0 is int16 full scale (32768), as soundfile returns them. ``now_ms`` is the time of each frame's
first sample (the same clock for all channels); event times are on that clock. Audio at other rates
must be resampled to 8 kHz first. The module is pure: no I/O, no clock, no threads.

How it works. Every 5 ms (``HOP``) a 15 ms window (``WINDOW`` = 120 samples, enough to tell
697 Hz from 770 Hz) ends; a tick of four windows per channel is multiplied, for all channels at
once, by one basis matrix of cos and sin at the eight DTMF frequencies and their second
harmonics, which gives the same complex value the Goertzel recursion ends with. The phase advance
of a tone between consecutive windows measures its frequency; the window's loss for tones off
the bin centre (up to ``MAX_CORRECTED_DEV``) is undone with it. A window *hits* digit d when:

* level: the two tones together reach ``MIN_LEVEL_DBM0`` per tone (accept −36 dBm0, reject −50);
* twist: the high-group tone is at most ``MAX_TWIST_HIGH_DB`` stronger than the low-group tone,
  and at most ``MAX_TWIST_LOW_DB`` weaker (Q.24 asks 4 dB and 8 dB);
* relative peak: every other tone of each group is ``MIN_RELATIVE_PEAK_DB`` below the strongest;
* relative energy: the two tones carry ``MIN_PURITY`` of the window's whole energy, which fails
  for speech, music, noise louder than SNR 12 dB, and windows that the tone only partly covers;
* second harmonics: each tone's second harmonic is ``MIN_HARMONIC_DB`` below it (voiced speech
  and instruments have harmonics; DTMF generators do not), allowing for the column tone's own
  leak into the bin (2 × 697 Hz lies 58 Hz from 1336 Hz).

A digit *starts* when a run of ``START_WINDOWS`` consecutive hits of the same digit (35 ms) passes
the test of ``alertnode.media.dtmf_confirm`` on the run's middle 25 ms: both frequencies within
``MAX_FREQ_DEV`` of nominal (Q.24: operate within ±1.5 %, never beyond ±3.5 %), and two steady sine
waves with nothing else beside them, which a voice's harmonics or an instrument's notes are not.
A run gets that test once: a key press is on frequency and steady from its start, whereas a voice
or a glide drifting into the band would get a new chance every 5 ms. A digit *ends* after
``END_MISSES`` consecutive windows without it (the hangover), which bridges a 10 ms drop-out but
not the 40 ms pause between digits. With 5 ms windows and 120-sample analysis, tones of 40 ms or
more are found and tones shorter than 23 ms are not (the vectors in ``tools/vectors`` check every
such category). Measured boundaries with random phases and frame offsets: tones of 32 ms and longer
are always found, 24 ms and shorter never (50 % near 29 ms); deviation up to 1.7 % always accepted,
1.9 % never; levels down to −42 dBm0 accepted, −44 never. tools/bench/dtmf.py measures the false
digits on speech and music (talk-off).

Level convention (ITU-T G.711): 0 dBm0 is a sine 3.17 dB below the largest µ-law amplitude,
i.e. a peak of 32,124 × 10^(−3.17/20) ≈ 22,304 in 16-bit linear PCM (``DBM0_PEAK``); levels of
DTMF digits are given per tone.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from alertnode.media import dtmf_confirm

SAMPLE_RATE = 8000
FRAME = 160  # 20 ms at 8 kHz: the RTP packetisation pjsua2 delivers
HOP = 40  # 5 ms sub-block: the detector's time resolution
SUBS_PER_WINDOW = 3
WINDOW = HOP * SUBS_PER_WINDOW  # 120 samples, 15 ms: resolves 697/770 Hz, 73 Hz apart
SUBS_PER_FRAME = FRAME // HOP

LOW_FREQS = (697.0, 770.0, 852.0, 941.0)  # ITU-T Q.23 §2 row frequencies
HIGH_FREQS = (1209.0, 1336.0, 1477.0, 1633.0)  # ITU-T Q.23 §2 column frequencies
KEYPAD = ("123A", "456B", "789C", "*0#D")

DBM0_PEAK = 32124.0 * 10 ** (-3.17 / 20)  # G.711 µ-law: full scale sine is +3.17 dBm0

MIN_LEVEL_DBM0 = -43.0
MAX_TWIST_HIGH_DB = 6.0
MAX_TWIST_LOW_DB = 10.0
MIN_RELATIVE_PEAK_DB = 6.0
MIN_PURITY = 0.7
MIN_HARMONIC_DB = 12.0
MAX_FREQ_DEV = 0.018
HARMONIC_LEAK_DEV = 0.025
MAX_CORRECTED_DEV = 0.02
START_WINDOWS = 5
END_MISSES = 5

_FREQS = np.array(LOW_FREQS + HIGH_FREQS + tuple(2 * f for f in LOW_FREQS + HIGH_FREQS))
_NF = len(_FREQS)
_OMEGA = 2 * np.pi * _FREQS / SAMPLE_RATE
_n = np.arange(WINDOW)
# Window basis: columns cos(ωn) and −sin(ωn): the DFT kernel (the Goertzel filter's output) at each
# frequency. One (4·channels, 120) × (120, 32) product per tick serves every channel and window.
_BASIS = np.concatenate([np.cos(np.outer(_n, _OMEGA)), -np.sin(np.outer(_n, _OMEGA))], axis=1).astype(
    np.float32
)
_BASIS_T = np.ascontiguousarray(_BASIS.T)
# Expected phase advance over one hop at each nominal frequency, removed before measuring deviation.
_HOP_DEROT = np.exp(-1j * _OMEGA[:8] * HOP).astype(np.complex64)
_RAD_PER_HOP_PER_HZ = 2 * np.pi * HOP / SAMPLE_RATE
_DIGIT_CHARS = np.array([KEYPAD[r][c] for r in range(4) for c in range(4)])

_P_SCALE = np.float32(2.0 / WINDOW)  # |X|² · 2/N equals the window energy of a tone centred on the bin
_MIN_TONE_POWER = 2 * (DBM0_PEAK * 10 ** (MIN_LEVEL_DBM0 / 20)) ** 2 * WINDOW / 2
_TWIST_HIGH = 10 ** (MAX_TWIST_HIGH_DB / 10)
_TWIST_LOW = 10 ** (-MAX_TWIST_LOW_DB / 10)
_REL_PEAK = 10 ** (-MIN_RELATIVE_PEAK_DB / 10)
_HARMONIC = 10 ** (-MIN_HARMONIC_DB / 10)


def _leak(delta_hz: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Power response of the N-sample rectangular window to a tone ``delta_hz`` off the bin."""
    a = np.pi * np.asarray(delta_hz, dtype=np.float64) / SAMPLE_RATE
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.sin(a * WINDOW) / (WINDOW * np.sin(a))
    return np.asarray(np.where(np.abs(a) < 1e-12, 1.0, r) ** 2, dtype=np.float64)


_LEAK_STEP_HZ = 0.05
_LEAK_MAX_HZ = float(MAX_CORRECTED_DEV * HIGH_FREQS[-1]) + 1.0
_INV_LEAK_TABLE = (1.0 / _leak(np.arange(-_LEAK_MAX_HZ, _LEAK_MAX_HZ + _LEAK_STEP_HZ, _LEAK_STEP_HZ))).astype(
    np.float32
)


def _inverse_leak(dev_hz: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """1 / _leak(dev_hz) by table look-up (|dev_hz| is at most _LEAK_MAX_HZ here)."""
    i = ((dev_hz + _LEAK_MAX_HZ) * (1.0 / _LEAK_STEP_HZ) + 0.5).astype(np.intp)
    return _INV_LEAK_TABLE[i]


# A row tone's second harmonic lies near a column tone (2 × 697 = 1394, 58 Hz from 1336): the
# column tone leaks into that bin. Allow for it: worst leak over HARMONIC_LEAK_DEV, the windows'
# own (wider) tolerance: a window measures frequency coarsely, the confirmation applies MAX_FREQ_DEV.
_DEVS = np.linspace(-HARMONIC_LEAK_DEV, HARMONIC_LEAK_DEV, 41)
_ROW_HARM_LEAK = np.array(
    [[_leak(2 * fr - fc * (1 + _DEVS)).max() for fc in HIGH_FREQS] for fr in LOW_FREQS], dtype=np.float32
)
_COL_HARM_LEAK = np.array(
    [[_leak(2 * fc - fr * (1 + _DEVS)).max() for fc in HIGH_FREQS] for fr in LOW_FREQS], dtype=np.float32
)
_MAX_DEV_HZ = (MAX_CORRECTED_DEV * np.array(LOW_FREQS + HIGH_FREQS)).astype(np.float32)
# Largest gain the off-centre correction can give: a cheap pre-check skips windows that cannot pass.
_MAX_GAIN = float(1.0 / min(_leak(np.array([d])).item() for d in _MAX_DEV_HZ))
_MS_PER_HOP = 1000.0 * HOP / SAMPLE_RATE
_MS_PER_WINDOW = 1000.0 * WINDOW / SAMPLE_RATE
_TAIL = WINDOW - HOP  # samples of the previous frame the first window of a frame needs
# The confirmation span of a digit about to start: SPAN samples ending SPAN_LAG before the end of the
# window that completes START_WINDOWS hits, i.e. the middle 25 ms of the run's 35 ms. A window only
# hits when the tone covers most of it, so the span lies inside any tone that made the run.
SPAN = dtmf_confirm.SPAN
SPAN_LAG = HOP
_PAST_FRAMES = -(-(SPAN + SPAN_LAG - HOP) // FRAME)  # earlier frames a span can reach into


class DtmfEventKind(enum.Enum):
    START = "start"
    END = "end"


@dataclass(frozen=True)
class DtmfEvent:
    """A digit began or ended on ``channel``. ``duration_ms`` is set on END events."""

    channel: int
    digit: str
    kind: DtmfEventKind
    at_ms: float
    duration_ms: float = 0.0


@dataclass(frozen=True)
class DigitSpan:
    digit: str
    start_ms: float
    end_ms: float


_STATE = (
    "_tail",
    "_tail_energy",
    "_prev_x",
    "_cand",
    "_count",
    "_acc",
    "_cur",
    "_miss",
    "_start_ms",
    "_last_hit_ms",
)


class DtmfDetector:
    """Goertzel DTMF detector over ``channels`` channels fed one 20 ms frame each per tick."""

    def __init__(self, channels: int = 1) -> None:
        if channels < 0:
            raise ValueError("channels must be >= 0")
        self._channels = 0
        self._alloc(channels)

    @property
    def channels(self) -> int:
        return self._channels

    def _alloc(self, channels: int) -> None:
        c = channels
        self._channels = c
        self._tail = np.zeros((c, _TAIL), dtype=np.float32)
        # The last frames as they came (oldest first), kept by reference: only a digit about to
        # start needs them, so they are never copied per tick.
        self._past = [np.zeros((c, FRAME), dtype=np.float32) for _ in range(_PAST_FRAMES)]
        self._tail_energy = np.zeros((c, SUBS_PER_WINDOW - 1), dtype=np.float32)
        self._prev_x = np.zeros((c, 8), dtype=np.complex64)  # last window's tones, for the phase step
        self._cand = np.full(c, -1, dtype=np.int8)
        self._count = np.zeros(c, dtype=np.int32)
        self._acc = np.zeros((c, 2), dtype=np.complex64)
        self._cur = np.full(c, -1, dtype=np.int8)
        self._miss = np.zeros(c, dtype=np.int32)
        self._start_ms = np.zeros(c, dtype=np.float64)
        self._last_hit_ms = np.zeros(c, dtype=np.float64)

    def add_channel(self) -> int:
        """Add one channel (fresh state); returns its index."""
        old = {name: getattr(self, name) for name in _STATE}
        old_past = self._past
        self._alloc(self._channels + 1)
        for name in _STATE:
            getattr(self, name)[:-1] = old[name]
        for new, prev in zip(self._past, old_past, strict=True):
            new[:-1] = prev
        return self._channels - 1

    def reset(self, channel: int) -> None:
        """Forget everything about ``channel`` (a new call uses it). Emits nothing."""
        self._tail[channel] = 0
        for past in self._past:
            past[channel] = 0
        self._tail_energy[channel] = 0
        self._prev_x[channel] = 0
        self._cand[channel] = -1
        self._count[channel] = 0
        self._acc[channel] = 0
        self._cur[channel] = -1
        self._miss[channel] = 0

    def process(self, frames: npt.ArrayLike, now_ms: float) -> list[DtmfEvent]:
        """Feed one 160-sample frame per channel (shape (channels, 160)); returns the events it caused."""
        x = np.asarray(frames)
        if x.ndim == 1:
            x = x[np.newaxis, :]
        if x.shape != (self._channels, FRAME):
            raise ValueError(f"frames must have shape ({self._channels}, {FRAME}), not {x.shape}")
        return self._process(_to_pcm_scale(x), now_ms)

    def _process(self, x: npt.NDArray[np.float32], now_ms: float) -> list[DtmfEvent]:
        c = self._channels
        if c == 0:
            return []
        nw = SUBS_PER_FRAME
        buf = np.concatenate([self._tail, x], axis=1)  # (c, 240)
        self._tail = buf[:, -_TAIL:].copy()
        past = self._past
        self._past = [*past[1:], x]  # x is ours (process() converted it) and never written to
        st0, st1 = buf.strides
        windows = np.lib.stride_tricks.as_strided(  # (c, 4, 120) views into buf, hop 40
            buf, shape=(c, nw, WINDOW), strides=(st0, HOP * st1, st1), writeable=False
        )
        # Transposed product: one contiguous row per frequency, so the reductions below are cheap.
        y = _BASIS_T @ windows.reshape(c * nw, WINDOW).T  # (32, 4c): re rows | im rows
        sub_e = np.einsum("csn,csn->cs", x.reshape(c, nw, HOP), x.reshape(c, nw, HOP))
        e = np.concatenate([self._tail_energy, sub_e], axis=1)
        self._tail_energy = e[:, -(SUBS_PER_WINDOW - 1) :].copy()
        win_e = (e[:, 0:nw] + e[:, 1 : nw + 1] + e[:, 2 : nw + 2]).ravel()

        sq = y * y
        power = (sq[:_NF] + sq[_NF:]) * _P_SCALE  # (16, 4c)
        pr0 = np.maximum(np.maximum(power[0], power[1]), np.maximum(power[2], power[3]))
        pc0 = np.maximum(np.maximum(power[4], power[5]), np.maximum(power[6], power[7]))
        tones0 = (pr0 + pc0) * np.float32(_MAX_GAIN)
        cand = np.flatnonzero((tones0 >= MIN_PURITY * win_e) & (tones0 >= _MIN_TONE_POWER))

        prev_last = self._prev_x
        re = y[:_NF]
        im = y[_NF:]
        self._prev_x = (re[:8, nw - 1 :: nw] + 1j * im[:8, nw - 1 :: nw]).T.astype(np.complex64)
        hit = np.full(c * nw, -1, dtype=np.int8)
        z_r_all = np.zeros(c * nw, dtype=np.complex64)
        z_c_all = np.zeros(c * nw, dtype=np.complex64)
        if cand.size:
            self._check(cand, power, re, im, prev_last, win_e, hit, z_r_all, z_c_all)
        hit2 = hit.reshape(c, nw)
        busy = np.flatnonzero((hit2 >= 0).any(axis=1) | (self._cur >= 0) | (self._count > 0))
        events: list[DtmfEvent] = []
        if busy.size:
            z_r2 = z_r_all.reshape(c, nw)
            z_c2 = z_c_all.reshape(c, nw)
            for w in range(nw):
                end_ms = now_ms + (w + 1) * _MS_PER_HOP
                self._step(busy, hit2[busy, w], z_r2[busy, w], z_c2[busy, w], end_ms, [*past, x], w, events)
        return events

    def _check(
        self,
        cand: npt.NDArray[np.intp],
        power: npt.NDArray[np.float32],
        re: npt.NDArray[np.float32],
        im: npt.NDArray[np.float32],
        prev_last: npt.NDArray[np.complex64],
        win_e: npt.NDArray[np.float32],
        hit: npt.NDArray[np.int8],
        z_r_all: npt.NDArray[np.complex64],
        z_c_all: npt.NDArray[np.complex64],
    ) -> None:
        """All checks on the windows that passed the cheap pre-check (flat indices ``cand``)."""
        nw = SUBS_PER_FRAME
        p = power[:, cand]  # (16, m)
        row = np.argmax(p[0:4], axis=0)
        col = np.argmax(p[4:8], axis=0)
        k = np.arange(cand.size)
        xr = re[row, cand] + 1j * im[row, cand]
        xc = re[4 + col, cand] + 1j * im[4 + col, cand]
        # The previous window of the same channel: one column back, or the last one of the previous tick.
        first = cand % nw == 0
        prv = np.where(first, 0, cand - 1)
        pr_prev = np.where(first, prev_last[cand // nw, row], re[row, prv] + 1j * im[row, prv])
        pc_prev = np.where(first, prev_last[cand // nw, 4 + col], re[4 + col, prv] + 1j * im[4 + col, prv])
        # Phase advance since the previous window (hop 40 samples) measures each tone's frequency:
        # undo the window's loss for off-centre tones here; _freq_ok checks the deviation itself.
        z_r = xr * np.conj(pr_prev) * _HOP_DEROT[row]
        z_c = xc * np.conj(pc_prev) * _HOP_DEROT[4 + col]
        dev_r = np.clip(np.angle(z_r) / _RAD_PER_HOP_PER_HZ, -_MAX_DEV_HZ[row], _MAX_DEV_HZ[row])
        dev_c = np.clip(np.angle(z_c) / _RAD_PER_HOP_PER_HZ, -_MAX_DEV_HZ[4 + col], _MAX_DEV_HZ[4 + col])
        pr = p[row, k] * _inverse_leak(dev_r)
        pc = p[4 + col, k] * _inverse_leak(dev_c)
        tones = pr + pc
        ok = tones >= _MIN_TONE_POWER
        ok &= (pc <= pr * _TWIST_HIGH) & (pc >= pr * _TWIST_LOW)
        ok &= tones >= MIN_PURITY * win_e[cand]
        ok &= p[8 + row, k] <= pr * _HARMONIC + pc * _ROW_HARM_LEAK[row, col]
        ok &= p[12 + col, k] <= pc * _HARMONIC + pr * _COL_HARM_LEAK[row, col]
        # Every other tone of each group must be well below the strongest one.
        ok &= (p[0:4].sum(axis=0) - p[row, k]) <= pr * _REL_PEAK
        ok &= (p[4:8].sum(axis=0) - p[4 + col, k]) <= pc * _REL_PEAK
        hit[cand] = np.where(ok, row * 4 + col, -1)
        z_r_all[cand] = z_r
        z_c_all[cand] = z_c

    def _step(
        self,
        idx: npt.NDArray[np.intp],
        d: npt.NDArray[np.int8],
        z_r: npt.NDArray[np.complex64],
        z_c: npt.NDArray[np.complex64],
        end_ms: float,
        frames: list[npt.NDArray[np.float32]],
        w: int,
        events: list[DtmfEvent],
    ) -> None:
        """Advance the digit state of channels ``idx`` by one window (``w`` of the tick) whose hits are ``d``."""
        count = self._count[idx]
        has = d >= 0
        same = (d == self._cand[idx]) & has & (count > 0)
        count = np.where(same, count + 1, has.astype(np.int32))
        self._count[idx] = count
        self._acc[idx, 0] = np.where(same, self._acc[idx, 0] + z_r, z_r)
        self._acc[idx, 1] = np.where(same, self._acc[idx, 1] + z_c, z_c)
        self._cand[idx] = d

        cur = self._cur[idx]
        active = cur >= 0
        cont = active & (d == cur)
        miss = np.where(cont, 0, np.where(active, self._miss[idx] + 1, 0))
        self._miss[idx] = miss
        self._last_hit_ms[idx[cont]] = end_ms
        ended = active & (miss >= END_MISSES)
        for ch in idx[ended]:
            start = float(self._start_ms[ch])
            last = float(self._last_hit_ms[ch])
            digit = str(_DIGIT_CHARS[self._cur[ch]])
            events.append(DtmfEvent(int(ch), digit, DtmfEventKind.END, last, last - start))
            self._cur[ch] = -1
        # One try per run: a key press is on frequency and steady from its first 35 ms; a voice or a
        # glide that drifts into the band would otherwise get a new chance every 5 ms.
        ready = np.flatnonzero((~active | ended) & (count == START_WINDOWS))
        if not ready.size:
            return
        ch = idx[ready]
        dr = d[ready].astype(np.intp)
        end = _PAST_FRAMES * FRAME + HOP * (w + 1)  # this window's end in the frames below
        recent = np.concatenate([f[ch] for f in frames], axis=1)
        span = recent[:, end - SPAN_LAG - SPAN : end - SPAN_LAG]
        ok = _confirm(span, dr, self._acc[ch, 0], self._acc[ch, 1])
        for j in np.flatnonzero(ok):
            c = int(ch[j])
            start = end_ms - _MS_PER_WINDOW - (int(count[ready[j]]) - 1) * _MS_PER_HOP
            self._cur[c] = dr[j]
            self._miss[c] = 0
            self._start_ms[c] = start
            self._last_hit_ms[c] = end_ms
            events.append(DtmfEvent(c, str(_DIGIT_CHARS[dr[j]]), DtmfEventKind.START, start))


_LOW = np.array(LOW_FREQS)
_HIGH = np.array(HIGH_FREQS)


def _confirm(
    span: npt.NDArray[np.float32],
    digit: npt.NDArray[np.intp],
    acc_r: npt.NDArray[np.complex64],
    acc_c: npt.NDArray[np.complex64],
) -> npt.NDArray[np.bool_]:
    """dtmf_confirm's rules on each candidate's span, starting from the windows' frequency estimate
    (the mean phase advance per hop, ``acc_*``)."""
    nominal = np.stack([_LOW[digit // 4], _HIGH[digit % 4]], axis=1)
    estimate = nominal + np.angle(np.stack([acc_r, acc_c], axis=1)) / _RAD_PER_HOP_PER_HZ
    return dtmf_confirm.confirm(span, nominal, estimate, MAX_FREQ_DEV)


def _to_pcm_scale(x: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
    """float32 samples on the int16 scale (floats are taken as 1.0 = 32768)."""
    if x.dtype.kind == "f":
        return x.astype(np.float32) * np.float32(32768.0)
    return x.astype(np.float32)


class DtmfStream:
    """One channel fed chunks of any length (8 kHz samples); buffers them into 20 ms frames."""

    def __init__(self, start_ms: float = 0.0) -> None:
        self._det = DtmfDetector(1)
        self._buf = np.zeros(0, dtype=np.float32)
        self._t_ms = start_ms

    def feed(self, samples: npt.ArrayLike) -> list[DtmfEvent]:
        x = _to_pcm_scale(np.asarray(samples))
        self._buf = np.concatenate([self._buf, x.ravel()])
        events: list[DtmfEvent] = []
        n = len(self._buf) // FRAME
        for i in range(n):
            frame = self._buf[None, i * FRAME : (i + 1) * FRAME]
            events.extend(self._det._process(frame, self._t_ms))
            self._t_ms += 1000.0 * FRAME / SAMPLE_RATE
        self._buf = self._buf[n * FRAME :]
        return events

    def flush(self) -> list[DtmfEvent]:
        """Feed enough silence to end a digit still sounding at the end of the input."""
        pad = (-len(self._buf)) % FRAME + FRAME * (1 + (END_MISSES * HOP) // FRAME + 1)
        return self.feed(np.zeros(pad, dtype=np.float32))


def spans_from_events(events: Iterable[DtmfEvent]) -> list[DigitSpan]:
    """Pair START and END events of one channel into spans."""
    spans: list[DigitSpan] = []
    open_: dict[int, DtmfEvent] = {}
    for ev in events:
        if ev.kind is DtmfEventKind.START:
            open_[ev.channel] = ev
        elif ev.channel in open_:
            st = open_.pop(ev.channel)
            spans.append(DigitSpan(st.digit, st.at_ms, ev.at_ms))
    return spans


def detect_digits(samples: npt.ArrayLike) -> list[DigitSpan]:
    """All digits in a whole 8 kHz signal (int16 or float), with start and end times in ms."""
    stream = DtmfStream()
    events = stream.feed(samples)
    events.extend(stream.flush())
    return spans_from_events(events)
