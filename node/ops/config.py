"""Operations section of the configuration: metrics, the status page and the operator console."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from alertnode.errors import Problem


class OpsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    metrics: bool = Field(True, description="Serve Prometheus metrics at /metrics on the control listener.")
    metrics_require_key: bool = Field(
        False, description="Ask for the API key (Authorization: Bearer) on /metrics; the numbers hold no contact data."
    )
    status_page: bool = Field(
        True, description="Serve the status page at /status on the control listener (its data needs the API key)."
    )
    status_refresh_s: float = Field(2.0, ge=0.5, le=300, description="How often the status page refreshes itself.")
    status_alerts: int = Field(20, ge=1, le=500, description="How many of the latest alerts the status page lists.")
    console: bool = Field(
        True, description="Serve the operator console at /console on the control listener (its data needs the API key)."
    )
    console_refresh_s: float = Field(5.0, ge=1, le=300, description="How often the console refreshes what it shows.")
    doctor_timeout_s: float = Field(5.0, gt=0, le=60, description="Per-peer time limit of `alertnode doctor`.")

    def problems(self, prefix: str) -> list[Problem]:
        return []
