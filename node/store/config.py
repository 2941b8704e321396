"""The store's sections of the configuration: which database (``[store]``) and how nodes sharing it hand
work to each other (``[cluster]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StoreSection(Section):
    url: str = Field(
        "",
        description="Where the store is. Empty: SQLite in the data directory (one node). "
        "postgresql://USER@HOST:PORT/DB: a PostgreSQL database that several nodes share (see README, "
        "'Several nodes'); the password is not written here but given by [store] password, "
        "PGPASSWORD or ~/.pgpass.",
    )
    password: SecretStr = Field(
        SecretStr(""), description="PostgreSQL password; best set by ALERTNODE__store__password (never logged)."
    )
    pool_size: int = Field(4, ge=1, le=64, description="Read connections per node (PostgreSQL).")
    connect_timeout_s: float = Field(
        5.0, gt=0, description="How long a request waits for the database before it is answered 503 (PostgreSQL)."
    )
    writer_process: bool = Field(
        True,
        description="SQLite: new alerts (sendalert) are written by a second writer in a process of its own, "
        "beside the writer thread, so that writing them does not wait for the event loop's Python lock (GIL). "
        "false: the writer thread writes everything.",
    )


class ClusterSection(Section):
    node_id: str = Field(
        "",
        description="This node's name in the store (leases, heartbeats, the status page). Empty: the host "
        "name. Two nodes must never share one; a node keeps its name across restarts.",
    )
    lease_s: float = Field(
        30.0, ge=2, le=300,
        description="How long work a node claimed stays its own without the node renewing it. A node that "
        "dies has its work taken over by the others this long after its last renewal.",
    )
    heartbeat_s: float = Field(
        5.0, gt=0, description="How often the node writes its heartbeat and renews its leases (at most lease_s/3)."
    )
