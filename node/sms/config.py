"""SMS section of the configuration: the SMSC links (SMPP 3.4)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from node.errors import Problem


class SmppLinkConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(..., min_length=1, description="Link name, used in logs, getinfo and routing.")
    host: str = Field("127.0.0.1", description="SMSC address.")
    port: int = Field(2775, ge=1, le=65535, description="SMSC port.")
    system_id: str = Field(..., max_length=15, description="bind system_id (SMPP 3.4 §4.1.1: ≤ 15 octets).")
    password: str = Field("", max_length=8, description="bind password (≤ 8 octets); prefer the env override.")


class SmsConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    links: list[SmppLinkConfig] = Field(default_factory=list, description="SMSC binds; none = SMS not configured.")

    @property
    def configured(self) -> bool:
        return bool(self.links)

    def problems(self, prefix: str) -> list[Problem]:
        names = [link.name for link in self.links]
        return [
            Problem(f"{prefix}.links.{i}.name", f"duplicate link name {n!r}")
            for i, n in enumerate(names)
            if names.index(n) != i
        ]
