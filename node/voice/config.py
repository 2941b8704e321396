"""Voice section of the configuration: SIP account or trunk, workers, IVR time-outs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from node.errors import Problem


class VoiceConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(False, description="Place and answer calls (needs the SIP settings).")

    @property
    def configured(self) -> bool:
        return self.enabled

    def problems(self, prefix: str) -> list[Problem]:
        return []
