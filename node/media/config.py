"""Media section of the configuration: prompt decoding limits, TTS engines, prompt cache."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from node.errors import Problem


class MediaConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    max_prompt_seconds: float = Field(300.0, gt=0, description="Longest prompt accepted, in seconds.")

    def problems(self, prefix: str) -> list[Problem]:
        return []
