"""Mail section of the configuration: the smarthost and the reply listener."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from node.errors import Problem


class MailConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    smarthost_host: str = Field("", description="Smarthost address; empty = e-mail not configured.")
    smarthost_port: int = Field(25, ge=1, le=65535, description="Smarthost port.")
    domain: str = Field("alertnode.localdomain", description="Mail domain completing sender/to/replyTo parts.")

    @property
    def configured(self) -> bool:
        return bool(self.smarthost_host)

    def problems(self, prefix: str) -> list[Problem]:
        return []
