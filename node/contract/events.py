"""The body of ``POST /api/events`` (the event API of apialerts-python-sdk): what happened, routed on the
node by its ``event`` key. Optional fields are omitted, never null (a null is refused by name)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from alertnode.contract.sendalert import APP_DATA_MAX, Strict


class EventRequest(Strict):
    """Body of POST /api/events. Optional fields are omitted, never null (a null is refused by name)."""

    event: str = Field("", max_length=256, description="What happened; routing rules match it with Unix glob.")
    message: str = Field(min_length=1, max_length=4096, description="Human-readable text (required).")
    title: str = Field("", max_length=256, description="Short headline.")
    channel: str = Field("", max_length=128, description="Channel; routes may match it with a glob too.")
    tags: list[str] = Field(default_factory=list, max_length=32, description="Categorisation tags.")
    link: str = Field("", pattern=r"^https?://\S+$", max_length=2048, description="URL for the event.")
    data: dict[str, Any] = Field(default_factory=dict, description="Key-value data for templates ({data.KEY}).")
    dedupKey: str | None = Field(None, min_length=1, max_length=256,
                                 description="Explicit dedup key (else `event` plus events.dedup_fields).")
    appData: str | None = Field(None, max_length=APP_DATA_MAX,
                                description="The sending application's own string, given back as the alert's "
                                "`appData` (an event coalesced into an open alert keeps the first event's).")
