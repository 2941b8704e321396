"""The jobs layer's sections of the configuration: limits of the intake, the dispatcher, callbacks.

Each component gets its own section (``Intake`` the limits, ``Dispatcher`` its section, ``CallbackSender``
the callbacks section), never the whole configuration; ``alertnode.config`` assembles the tree.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LimitsSection(Section):
    max_recipients_per_item: int = Field(100_000, gt=0, description="Most recipients one alert item may have.")
    unique_lookup_recipients: int = Field(
        500, gt=0, description="Most recipients per request when lookups are unique per recipient (reference)."
    )
    default_lifetime: str = Field("7d", description="Alert lifetime when the request gives none ({n}{M|w|d|h|m|s}).")
    stored_content_lifetime: str = Field("30d", description="Default lifetime of /storecontent items.")
    max_content_bytes: int = Field(16 * 1024 * 1024, gt=0, description="Largest decoded content accepted.")
    queue_capacity: dict[str, int] = Field(
        default_factory=lambda: {"sms": 1_000_000, "email": 1_000_000, "call": 100_000, "inboundCall": 10_000},
        description="Most deliveries of each alert type waiting at once; reported as remainingCapacity.",
    )


class DispatcherSection(Section):
    poll_interval_s: float = Field(0.05, gt=0, description="How often due deliveries are looked for when idle.")
    batch: int = Field(500, gt=0, description="Most deliveries taken from the store per channel per round.")
    retry_interval_s: float = Field(60.0, gt=0, description="Wait before a delivery failing temporarily is retried.")
    max_attempts: int = Field(3, gt=0, description="Attempts of a delivery failing temporarily before it fails.")


class CallbacksSection(Section):
    secret: str = Field(
        "",
        description="HMAC-SHA256 key for the X-Alertnode-Signature header. Empty: generated at first start "
        "into <data_dir>/callback.secret (mode 0600).",
    )
    max_attempts: int = Field(12, gt=0, description="POST attempts per callback batch before it is given up.")
    initial_backoff_s: float = Field(1.0, gt=0, description="First retry wait; doubles up to max_backoff_s.")
    max_backoff_s: float = Field(600.0, gt=0, description="Longest wait between retries.")
    batch_size: int = Field(1, ge=1, le=1000, description="Most events in one POST (1 = one event per POST).")
    timeout_s: float = Field(10.0, gt=0, description="Time-out of one POST.")
    concurrency: int = Field(8, gt=0, description="Callback POSTs in flight at once.")
