"""The answering-machine detector's thresholds, apart so that the frame analysis
(:mod:`alertnode.media.amd_signal`) and the cadence rules (:mod:`alertnode.media.amd`) both read them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AmdConfig:
    """Thresholds (times in ms). The cadence and beep values were tuned on the tuning part of the
    corpus of ``tools/vectors/amd_corpus.py``; ``tools/bench/amd.py`` measures them on the rest."""

    prompt_deadline_ms: float = 1500.0  # issue 15: a person hears the prompt within 1.5 s
    max_decision_ms: float = 4000.0  # issue 15: every call decided within 4 s
    listen_ms: float = 60000.0  # beeps are looked for this long after the answer (long greetings)
    word_gap_ms: float = 100.0
    min_word_ms: float = 80.0
    pause_ms: float = 500.0
    human_silence_ms: float = 300.0
    late_silence_ms: float = 200.0
    confirm_silence_ms: float = 1200.0
    long_greeting_ms: float = 2400.0
    max_voice_ms: float = 2400.0
    max_words: int = 8
    limit_voice_ms: float = 1100.0
    turn_pause_ms: float = 1000.0
    greeting_end_ms: float = 2000.0
    speech_on_db: float = 0.0
    speech_off_db: float = -4.0
    min_speech_dbm0: float = -50.0
    floor_rise_db_per_s: float = 5.0
    background_db: float = 15.0
    louder_db: float = 12.0
    beep_min_hz: float = 380.0
    beep_max_hz: float = 2200.0
    beep_min_ms: float = 140.0
    beep_max_ms: float = 2000.0
    beep_purity: float = 0.8
    beep_freq_tol: float = 0.005
    beep_min_dbm0: float = -45.0
    echo_margin_db: float = 6.0  # ITU-T G.168: the echo path loses at least 6 dB
    echo_ms: float = 200.0  # G.168 echo tails are at most 128 ms; plus the 32 ms window
