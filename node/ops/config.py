"""Operations section of the configuration: metrics and the status page."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from node.errors import Problem


class OpsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    metrics: bool = Field(True, description="Serve Prometheus metrics at /metrics on the control listener.")

    def problems(self, prefix: str) -> list[Problem]:
        return []
