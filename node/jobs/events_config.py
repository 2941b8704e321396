"""Events section of the configuration: routing rules for POST /api/events and storm control."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from node.errors import Problem


class EventsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(True, description="Accept events at POST /api/events (routed by the rules below).")

    def problems(self, prefix: str) -> list[Problem]:
        return []
