"""Media section of the configuration: prompt decoding limits, TTS engines, prompt cache."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from alertnode.errors import Problem
from alertnode.media.voices import language_known


class MediaConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_prompt_seconds: float = Field(300.0, gt=0, description="Longest prompt accepted, in seconds.")
    max_tts_chars: int = Field(
        5000, gt=0, description="Longest text accepted for voiceFormat tts, in characters."
    )
    tts_engine: Literal["espeak", "gtts"] = Field(
        "espeak",
        description="TTS engine: 'espeak' (espeak-ng, offline) or 'gtts' (Google Translate's online "
        "voice, falls back to espeak-ng when it fails or times out).",
    )
    espeak_command: str = Field("espeak-ng", description="The espeak-ng program (name or path).")
    espeak_rate: int = Field(150, ge=80, le=450, description="espeak-ng speaking rate, words per minute.")
    espeak_timeout_seconds: float = Field(
        30.0, gt=0, description="Longest time one espeak-ng synthesis may take."
    )
    gtts_timeout_seconds: float = Field(
        5.0, gt=0, description="Longest time a gTTS synthesis may take before falling back to espeak-ng."
    )
    gtts_retry_after_seconds: float = Field(
        300.0,
        ge=0,
        description="After a gTTS failure, use espeak-ng directly for this long before trying gTTS again.",
    )
    prompt_cache_dir: str = Field(
        "prompts", description="Prompt cache directory; relative paths are under the data directory."
    )
    prompt_cache_max_mb: float = Field(
        1024.0, ge=0, description="Size the prompt cache is kept under; the least recently used prompts go first "
        "(0 = no limit)."
    )
    prompt_cache_keep_s: float = Field(
        3600.0, ge=0, description="A prompt used this recently is never evicted (a call may be about to play it)."
    )
    default_language: str = Field("en-GB", description="TTS language when the tts block names none.")

    def problems(self, prefix: str) -> list[Problem]:
        problems: list[Problem] = []
        if not language_known(self.default_language):
            problems.append(
                Problem(f"{prefix}.default_language", f"unknown TTS language {self.default_language!r}")
            )
        if not self.prompt_cache_dir.strip():
            problems.append(Problem(f"{prefix}.prompt_cache_dir", "must not be empty"))
        return problems
