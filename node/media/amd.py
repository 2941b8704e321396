"""Answering-machine detection for many calls at once: speech/silence cadence and the voicemail beep.

Rules. A person picks up and says something short ("Hello?", "Ja?", "Allô?", "<name> speaking"),
then waits for the caller; if nobody answers they say something again after a pause of a second or
more. A machine speaks a greeting of many words whose pauses are short, then beeps. So the detector
measures the cadence of the received audio from the answer on (every 20 ms frame is speech or not,
see :mod:`alertnode.media.amd_signal`): the initial silence before the first word; words (runs of
speech: gaps under ``word_gap_ms`` are inside a word, runs under ``min_word_ms`` are clicks);
utterances (words whose gaps are under ``pause_ms``); the voiced time; the longest pause between
words; the silence since the last word. Then, on every frame, in this order:

1. **machine**, final, as soon as one holds: a beep was heard (``BEEP``); the current utterance
   lasts ``long_greeting_ms`` (``LONG_GREETING``); the voiced time reaches ``max_voice_ms``
   (``LONG_SPEECH``); ``max_words`` words were spoken (``MANY_WORDS``). These also revise a
   presumed human: that is the only revision there is, and a machine is never revised.
2. **human**, presumed (``final=False``): a short utterance followed by ``human_silence_ms`` of
   silence (``SHORT_GREETING``); after ``prompt_deadline_ms``, ``late_silence_ms`` of silence is
   enough, and a line silent since the answer is presumed human too (``QUIET``: a person waiting for
   the caller to speak). Detection never delays a person: the caller starts the prompt on the first
   ``human``, final or not, which comes by ``prompt_deadline_ms`` unless the far end is still
   speaking then, and ``late_silence_ms`` after it stops otherwise.
3. **human**, final: speech was heard, the call is presumed human and the silence after the last
   word reaches ``confirm_silence_ms`` (a greeting's pauses are shorter).
4. At ``max_decision_ms`` every call still open is decided: a steady tone sounding is ``machine``
   (``BEEP``); no speech at all is ``unknown`` (``NO_SPEECH``); ``limit_voice_ms`` of voiced time
   without any pause of ``turn_pause_ms`` is ``machine`` (``LONG_SPEECH``: a greeting that began
   late but talks on; a person who spoke twice paused in between); speech that has stopped is
   ``human`` (``SHORT_GREETING``); speech still going is ``unknown`` (``NOT_SURE``).

A long initial silence alone decides nothing (unlike Asterisk's AMD): a silent line may hold a
person waiting for the caller (they get the prompt at the deadline) or nobody (``unknown``).

Other events: an :class:`AmdBeep` when a beep ends (that is when a mailbox starts recording), with
its start, end and frequency, reported until a final human or unknown, or ``listen_ms`` after the
answer; an :class:`AmdGreetingEnd` once, after a machine decision, when ``greeting_end_ms`` of
silence follow the greeting: the fall-back for a mailbox whose beep was not heard.

Use::

    det = AmdDetector(channels=4)               # one channel per call slot, as DtmfDetector
    det.start(channel, answer_ms)               # the call on ``channel`` was answered at answer_ms
    events = det.process(frames, now_ms, sent)  # frames: (channels, 160), one 20 ms tick; sent:
                                                # what the node transmitted then (or None)
    det.stop(channel)                           # stop listening (call over, or message started)

``frames`` and ``now_ms`` as for :class:`alertnode.media.dtmf.DtmfDetector` (int16, or floats where
1.0 = 32768; ``now_ms`` is the time of the frames' first sample, one clock for all channels).
``sent`` lets the detector tell the echo of the prompt from the far end's own speech once the
prompt plays on a presumed human (without it, a loud echo can look like a greeting). Channels not
started, stopped or done cost nothing. ``classify(samples)`` runs one whole 8 kHz
signal answered at its first sample. The module is pure: no I/O, no clock, no threads.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from alertnode.media.amd_config import AmdConfig
from alertnode.media.amd_signal import FRAME, FRAME_MS, SAMPLE_RATE, FrameAnalyser

__all__ = [
    "FRAME",
    "FRAME_MS",
    "SAMPLE_RATE",
    "AmdBeep",
    "AmdConfig",
    "AmdDecision",
    "AmdDetector",
    "AmdEvent",
    "AmdGreetingEnd",
    "Reason",
    "Verdict",
    "classify",
]


class Verdict(enum.Enum):
    HUMAN = "human"
    MACHINE = "machine"
    UNKNOWN = "unknown"


class Reason(enum.Enum):
    SHORT_GREETING = "short_greeting"
    QUIET = "quiet"
    LONG_GREETING = "long_greeting"
    LONG_SPEECH = "long_speech"
    MANY_WORDS = "many_words"
    BEEP = "beep"
    NO_SPEECH = "no_speech"
    NOT_SURE = "not_sure"


@dataclass(frozen=True)
class AmdDecision:
    """The verdict on ``channel`` and the cadence that decided it (times in ms).

    ``final`` is False only for a presumed human, which may later turn into ``machine`` (or, if no
    speech ever comes, end as ``unknown``). ``initial_silence_ms`` is None when no speech was heard;
    ``greeting_ms`` is the length of the first utterance (so far); ``pause_ms`` the silence since the
    last word (or since the answer); ``longest_pause_ms`` the longest silence between two words."""

    channel: int
    verdict: Verdict
    final: bool
    reason: Reason
    at_ms: float
    after_answer_ms: float
    initial_silence_ms: float | None
    greeting_ms: float
    words: int
    voice_ms: float
    pause_ms: float
    longest_pause_ms: float


@dataclass(frozen=True)
class AmdBeep:
    """A voicemail beep on ``channel`` ended at ``end_ms`` (reported then; ±20 ms)."""

    channel: int
    start_ms: float
    end_ms: float
    after_answer_ms: float
    freq_hz: float
    level_dbm0: float


@dataclass(frozen=True)
class AmdGreetingEnd:
    """After a machine decision, the greeting fell silent for ``silence_ms`` (reported once)."""

    channel: int
    at_ms: float
    after_answer_ms: float
    silence_ms: float


AmdEvent = AmdDecision | AmdBeep | AmdGreetingEnd


class _State(enum.IntEnum):
    IDLE = 0  # not listening
    UNDECIDED = 1
    PRESUMED = 2  # presumed human, not final
    MACHINE = 3  # final machine, still listening for beeps and the greeting's end


_ARRAYS = (
    "_answer", "_state", "_in_word", "_word_start", "_word_last", "_word_voiced", "_words", "_voice",
    "_first", "_utt_start", "_utt_end", "_first_utt", "_last_end", "_max_pause", "_end_sent", "_tx",
)  # fmt: skip


class AmdDetector:
    """Answering-machine detector over ``channels`` channels fed one 20 ms frame each per tick."""

    def __init__(self, channels: int = 1, config: AmdConfig | None = None) -> None:
        if channels < 0:
            raise ValueError("channels must be >= 0")
        self.config = config or AmdConfig()
        self._signal = FrameAnalyser(channels, self.config)
        self._echo = np.float32(10 ** (-self.config.echo_margin_db / 10))
        self._tx_pos = 0
        self._channels = 0
        self._alloc(channels)

    @property
    def channels(self) -> int:
        return self._channels

    def _alloc(self, c: int) -> None:
        self._channels = c
        self._answer = np.zeros(c)
        self._state = np.zeros(c, dtype=np.int8)
        self._in_word = np.zeros(c, dtype=bool)
        self._word_start = np.zeros(c)
        self._word_last = np.zeros(c)
        self._word_voiced = np.zeros(c)  # voiced time of the current word
        self._words = np.zeros(c, dtype=np.int32)
        self._voice = np.zeros(c)  # voiced time of the counted words
        self._first = np.full(c, np.nan)  # start of the first word
        self._utt_start = np.zeros(c)
        self._utt_end = np.zeros(c)
        self._first_utt = np.full(c, np.nan)  # length of the first utterance once it ended
        self._last_end = np.full(c, np.nan)  # end of the last counted word
        self._max_pause = np.zeros(c)
        self._end_sent = np.zeros(c, dtype=bool)
        self._tx = np.zeros((c, max(1, round(self.config.echo_ms / FRAME_MS))), dtype=np.float32)  # sent power

    def add_channel(self) -> int:
        """Add one idle channel; returns its index."""
        old = {name: getattr(self, name) for name in _ARRAYS}
        self._alloc(self._channels + 1)
        for name in _ARRAYS:
            getattr(self, name)[:-1] = old[name]
        self._signal.add_channel()
        return self._channels - 1

    def start(self, channel: int, answer_ms: float) -> None:
        """The call on ``channel`` was answered at ``answer_ms``: listen to it from a fresh state."""
        self._signal.reset(channel)
        self._answer[channel] = answer_ms
        self._state[channel] = _State.UNDECIDED
        self._in_word[channel] = False
        self._words[channel] = 0
        self._forget(channel)
        self._end_sent[channel] = False

    def stop(self, channel: int) -> None:
        """Stop listening to ``channel``; it reports nothing more until started again."""
        self._state[channel] = _State.IDLE

    def listening(self, channel: int) -> bool:
        return bool(self._state[channel] != _State.IDLE)

    def process(self, frames: npt.ArrayLike, now_ms: float, sent: npt.ArrayLike | None = None) -> list[AmdEvent]:
        """Feed one 160-sample frame per channel (shape (channels, 160)); returns the events it caused.

        ``sent``, same shape, is what the node transmitted on each call in the same tick (the prompt;
        zeros when silent): its echo in ``frames`` is then not taken for the far end's speech."""
        x = self._frames(frames)
        tx = None if sent is None else self._frames(sent)
        self._tx_pos = (self._tx_pos + 1) % self._tx.shape[1]
        self._tx[:, self._tx_pos] = 0.0 if tx is None else np.mean(_pcm(tx) ** 2, axis=1)
        idx = np.flatnonzero(self._state != _State.IDLE)
        if idx.size == 0:
            return []
        xs = _pcm(x[idx])
        sent_max = self._tx[idx].max(axis=1)
        echo = (sent_max > 0) & (np.mean(xs**2, axis=1) <= sent_max * self._echo)
        t_end = now_ms + FRAME_MS
        a = self._signal.analyse(idx, xs, t_end, echo)
        events: list[AmdEvent] = []
        for tone in a.tones:
            ch = int(idx[tone.row])
            after = tone.end_ms - float(self._answer[ch])
            events.append(AmdBeep(ch, tone.start_ms, tone.end_ms, after, tone.freq_hz, tone.level_dbm0))
        for ch in idx[a.louder]:
            self._forget(int(ch))
        self._words_of(idx, a.voiced, t_end)
        self._decide(idx, a.tone_ms, {ev.channel for ev in events}, t_end, events)
        return events

    def _frames(self, frames: npt.ArrayLike) -> npt.NDArray[np.generic]:
        x = np.asarray(frames)
        if x.ndim == 1:
            x = x[np.newaxis, :]
        if x.shape != (self._channels, FRAME):
            raise ValueError(f"frames must have shape ({self._channels}, {FRAME}), not {x.shape}")
        return x

    def _forget(self, ch: int) -> None:
        """Forget the cadence so far (a new call, or what came before was a background talker)."""
        self._words[ch] = 0
        self._voice[ch] = 0
        self._first[ch] = np.nan
        self._first_utt[ch] = np.nan
        self._last_end[ch] = np.nan
        self._max_pause[ch] = 0
        self._word_start[ch] = self._word_last[ch] - FRAME_MS
        self._word_voiced[ch] = FRAME_MS if self._in_word[ch] else 0.0

    def _words_of(self, idx: npt.NDArray[np.intp], voiced: npt.NDArray[np.bool_], t_end: float) -> None:
        """Extend or close the current word of each channel."""
        c = self.config
        in_word = self._in_word[idx]
        starts = voiced & ~in_word
        self._word_start[idx[starts]] = t_end - FRAME_MS
        self._word_voiced[idx[starts]] = 0.0
        self._word_voiced[idx[voiced]] += FRAME_MS
        self._word_last[idx[voiced]] = t_end
        in_word |= voiced
        closing = in_word & ~voiced & (t_end - self._word_last[idx] >= c.word_gap_ms)
        self._in_word[idx] = in_word & ~closing
        for ch in idx[closing]:
            if self._word_voiced[ch] >= c.min_word_ms:
                self._count_word(int(ch))

    def _count_word(self, ch: int) -> None:
        start, last = self._word_start[ch], self._word_last[ch]
        if np.isnan(self._first[ch]):
            self._first[ch] = start
            self._utt_start[ch] = start
        else:
            gap = start - self._last_end[ch]
            self._max_pause[ch] = max(self._max_pause[ch], gap)
            if gap >= self.config.pause_ms:
                if np.isnan(self._first_utt[ch]):
                    self._first_utt[ch] = self._utt_end[ch] - self._utt_start[ch]
                self._utt_start[ch] = start
        self._utt_end[ch] = last
        self._last_end[ch] = last
        self._words[ch] += 1
        self._voice[ch] += self._word_voiced[ch]

    def _decide(
        self,
        idx: npt.NDArray[np.intp],
        tone_ms: npt.NDArray[np.float64],
        beeped: set[int],
        t_end: float,
        events: list[AmdEvent],
    ) -> None:
        """The rules of the module docstring, for all channels at once; events for those that fire."""
        c = self.config
        state = self._state[idx]
        elapsed = t_end - self._answer[idx]
        in_word = self._in_word[idx]
        live = in_word & (self._word_voiced[idx] >= c.min_word_ms)  # a word long enough to count, going on
        last_end = self._last_end[idx]
        spoke = ~np.isnan(last_end)
        heard = spoke | live
        new_utt = ~spoke | (self._word_start[idx] - last_end >= c.pause_ms)
        span = np.where(
            live,
            self._word_last[idx] - np.where(new_utt, self._word_start[idx], self._utt_start[idx]),
            np.where(spoke, self._utt_end[idx] - self._utt_start[idx], 0.0),
        )
        voice = self._voice[idx] + np.where(live, self._word_voiced[idx], 0.0)
        gap = np.where(live & spoke, self._word_start[idx] - np.nan_to_num(last_end), 0.0)
        longest = np.maximum(self._max_pause[idx], gap)
        words = self._words[idx] + live
        silence = np.where(in_word, 0.0, t_end - np.where(spoke, last_end, self._answer[idx]))
        beep = np.fromiter((ch in beeped for ch in idx), dtype=bool, count=len(idx))

        open_ = (state == _State.UNDECIDED) | (state == _State.PRESUMED)
        long_greeting = span >= c.long_greeting_ms
        long_speech = voice >= c.max_voice_ms
        to_machine = open_ & (beep | long_greeting | long_speech | (words >= c.max_words))
        at_limit = open_ & ~to_machine & (elapsed >= c.max_decision_ms)
        rest = ~to_machine & ~at_limit & ~in_word
        late = elapsed >= c.prompt_deadline_ms
        enough = silence >= np.where(late, c.late_silence_ms, c.human_silence_ms)
        presume = (state == _State.UNDECIDED) & rest & ((heard & enough) | (late & ~heard))
        confirm = (state == _State.PRESUMED) & rest & heard & (silence >= c.confirm_silence_ms)
        machine = state == _State.MACHINE
        greeting_end = machine & ~self._end_sent[idx] & heard & ~in_word & (silence >= c.greeting_end_ms)
        done = machine & (elapsed >= c.listen_ms)

        for j in np.flatnonzero(to_machine | at_limit | presume | confirm | greeting_end | done):
            ch = int(idx[j])
            if done[j]:
                self._state[ch] = _State.IDLE
                continue
            if greeting_end[j]:
                self._end_sent[ch] = True
                events.append(AmdGreetingEnd(ch, t_end, float(elapsed[j]), float(silence[j])))
                continue
            if to_machine[j]:
                verdict, final = Verdict.MACHINE, True
                reason = (
                    Reason.BEEP if beep[j]
                    else Reason.LONG_GREETING if long_greeting[j]
                    else Reason.LONG_SPEECH if long_speech[j]
                    else Reason.MANY_WORDS
                )  # fmt: skip
            elif at_limit[j]:
                final = True
                if tone_ms[j] >= c.beep_min_ms:
                    verdict, reason = Verdict.MACHINE, Reason.BEEP
                elif not heard[j]:
                    verdict, reason = Verdict.UNKNOWN, Reason.NO_SPEECH
                elif voice[j] >= c.limit_voice_ms and longest[j] < c.turn_pause_ms:
                    verdict, reason = Verdict.MACHINE, Reason.LONG_SPEECH
                elif not in_word[j]:
                    verdict, reason = Verdict.HUMAN, Reason.SHORT_GREETING
                else:
                    verdict, reason = Verdict.UNKNOWN, Reason.NOT_SURE
            elif presume[j]:
                verdict, final, reason = Verdict.HUMAN, False, Reason.SHORT_GREETING if heard[j] else Reason.QUIET
            else:  # confirm
                verdict, final, reason = Verdict.HUMAN, True, Reason.SHORT_GREETING
            if verdict is Verdict.MACHINE:
                self._state[ch] = _State.MACHINE
            else:
                self._state[ch] = _State.IDLE if final else _State.PRESUMED
            first = self._first[ch] if spoke[j] else (self._word_start[ch] if live[j] else np.nan)
            greeting = self._first_utt[ch] if not np.isnan(self._first_utt[ch]) else span[j]
            events.append(
                AmdDecision(
                    channel=ch,
                    verdict=verdict,
                    final=final,
                    reason=reason,
                    at_ms=t_end,
                    after_answer_ms=float(elapsed[j]),
                    initial_silence_ms=None if np.isnan(first) else float(first - self._answer[ch]),
                    greeting_ms=float(greeting),
                    words=int(words[j]),
                    voice_ms=float(voice[j]),
                    pause_ms=float(silence[j]),
                    longest_pause_ms=float(longest[j]),
                )
            )


def _pcm(x: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
    """float32 samples on the int16 scale (floats are taken as 1.0 = 32768)."""
    return x.astype(np.float32) * np.float32(32768.0) if x.dtype.kind == "f" else x.astype(np.float32)


def classify(samples: npt.ArrayLike, config: AmdConfig | None = None) -> list[AmdEvent]:
    """Every event for one whole 8 kHz signal answered at its first sample (padded to whole frames)."""
    x = np.asarray(samples).ravel()
    x = np.concatenate([x, np.zeros((-len(x)) % FRAME, dtype=x.dtype)])
    det = AmdDetector(1, config)
    det.start(0, 0.0)
    events: list[AmdEvent] = []
    for i in range(len(x) // FRAME):
        events.extend(det.process(x[None, i * FRAME : (i + 1) * FRAME], i * FRAME_MS))
    return events
