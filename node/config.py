"""Typed configuration: one frozen tree read from TOML, with environment overrides.

Every key has a default and help text (``Field(description=...)``); ``config/alertnode.example.toml``
documents them all. Validation reports every problem at once, each named by its dotted key.

Environment overrides, meant for secrets: ``ALERTNODE__<section>__<key>=value`` sets any key
(list items by index, e.g. ``ALERTNODE__sms__links__0__password``); the value is read as a TOML value
when it parses as one, else as a string. ``ALERTNODE_API_KEYS`` (comma separated) adds API keys.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from alertnode.contract.lifetime import parse_lifetime
from alertnode.errors import ConfigError, LifetimeError, Problem
from alertnode.jobs.config import CallbacksSection as CallbacksSection
from alertnode.jobs.config import DispatcherSection as DispatcherSection
from alertnode.jobs.config import LimitsSection as LimitsSection
from alertnode.jobs.content_config import ContentSection
from alertnode.jobs.events_config import EventsConfig
from alertnode.mail.config import MailConfig
from alertnode.media.config import MediaConfig
from alertnode.ops.config import OpsConfig
from alertnode.sms.config import SmsConfig
from alertnode.store.config import ClusterSection, StoreSection
from alertnode.voice.config import VoiceConfig

ENV_PREFIX = "ALERTNODE__"


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NodeSection(Section):
    data_dir: str = Field(
        "",
        description="Directory for the SQLite store, keys and caches. Empty: $STATE_DIRECTORY (systemd), "
        "else $XDG_STATE_HOME/alertnode, else ~/.local/state/alertnode.",
    )
    log_format: Literal["plain", "json"] = Field("plain", description="Log lines to stderr: plain or json.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Lowest level logged.")
    shutdown_grace_s: float = Field(10.0, gt=0, description="Seconds in-flight work gets to finish on stop.")
    http_parser: Literal["auto", "httptools", "h11"] = Field(
        "auto", description="HTTP/1.1 parser of the listeners: httptools (C, the faster), h11 (pure Python), or "
        "auto: httptools when installed, else h11."
    )
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        "auto", description="Event loop: uvloop (libuv, the faster), asyncio's own, or auto: uvloop when installed, "
        "else asyncio's."
    )


class ApiSection(Section):
    host: str = Field("127.0.0.1", description="Control API listen address (loopback by default).")
    port: int = Field(8080, ge=0, le=65535, description="Control API port.")
    api_keys: list[str] = Field(
        default_factory=list,
        description="Accepted API keys. Empty: a key is generated at first start, printed once, "
        "and only its SHA-256 is kept in the data directory.",
    )
    max_body_bytes: int = Field(64 * 1024 * 1024, gt=0, description="Largest request body accepted.")
    header_timeout_s: float = Field(
        10.0, gt=0, le=3600, description="A request's line and headers must arrive within this many seconds of "
        "their first byte, else 408 and the connection is closed (slow clients, slowloris)."
    )
    idle_timeout_s: float = Field(
        10.0, gt=0, le=3600, description="A connection on which nothing arrives for this many seconds while the "
        "node waits for the client (before a request, between requests, inside a body) is closed."
    )


class PublicSection(Section):
    host: str = Field("127.0.0.1", description="Public listener (short links) address.")
    port: int = Field(8081, ge=0, le=65535, description="Public listener port.")
    base_url: str = Field(
        "http://127.0.0.1:8081", description="Public base URL printed in short links (no trailing slash)."
    )
    header_timeout_s: float = Field(
        10.0, gt=0, le=3600, description="As api.header_timeout_s, for the public listener (phones on slow "
        "networks: keep it at several seconds)."
    )
    idle_timeout_s: float = Field(10.0, gt=0, le=3600, description="As api.idle_timeout_s, for the public listener.")


class Config(Section):
    node: NodeSection = Field(default_factory=NodeSection)
    api: ApiSection = Field(default_factory=ApiSection)
    public: PublicSection = Field(default_factory=PublicSection)
    store: StoreSection = Field(default_factory=StoreSection)
    cluster: ClusterSection = Field(default_factory=ClusterSection)
    limits: LimitsSection = Field(default_factory=LimitsSection)
    dispatcher: DispatcherSection = Field(default_factory=DispatcherSection)
    callbacks: CallbacksSection = Field(default_factory=CallbacksSection)
    content: ContentSection = Field(default_factory=ContentSection)
    sms: SmsConfig = Field(default_factory=SmsConfig)
    mail: MailConfig = Field(default_factory=MailConfig)
    voice: VoiceConfig = Field(default_factory=VoiceConfig)
    media: MediaConfig = Field(default_factory=MediaConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    ops: OpsConfig = Field(default_factory=OpsConfig)

    def data_path(self) -> Path:
        if self.node.data_dir:
            return Path(self.node.data_dir)
        if os.environ.get("STATE_DIRECTORY"):
            return Path(os.environ["STATE_DIRECTORY"].split(":")[0])
        xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(xdg) / "alertnode"


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _apply_override(tree: dict[str, Any], path: list[str], value: Any, problems: list[Problem]) -> None:
    node: Any = tree
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                problems.append(Problem(".".join(path), f"environment override: no list item {part!r}"))
                return
            key: Any = int(part)
        else:
            key = part
        if last:
            node[key] = value
            return
        if isinstance(node, dict) and key not in node:
            if path[i + 1].isdigit():
                problems.append(Problem(".".join(path), f"environment override: no list item {path[i + 1]!r}"))
                return
            node[key] = {}
        node = node[key]


def apply_env(tree: dict[str, Any], environ: dict[str, str]) -> list[Problem]:
    problems: list[Problem] = []
    for name, raw in sorted(environ.items()):
        if name.startswith(ENV_PREFIX):
            path = [p.lower() for p in name[len(ENV_PREFIX):].split("__") if p]
            if path:
                _apply_override(tree, path, _parse_env_value(raw), problems)
    keys = environ.get("ALERTNODE_API_KEYS", "")
    if keys:
        api = tree.setdefault("api", {})
        api["api_keys"] = list(api.get("api_keys", [])) + [k.strip() for k in keys.split(",") if k.strip()]
    return problems


def _loc_to_key(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc)


def build(tree: dict[str, Any], pre_problems: list[Problem] | None = None) -> Config:
    problems = list(pre_problems or [])
    try:
        cfg = Config.model_validate(tree)
    except ValidationError as exc:
        for err in exc.errors():
            problems.append(Problem(_loc_to_key(err["loc"]), err["msg"]))
        raise ConfigError(problems) from None
    problems.extend(cross_checks(cfg))
    if problems:
        raise ConfigError(problems)
    return cfg


def cross_checks(cfg: Config) -> list[Problem]:
    """Rules that span keys; each section contributes its own."""
    problems: list[Problem] = []
    for key, value in (
        ("limits.default_lifetime", cfg.limits.default_lifetime),
        ("limits.stored_content_lifetime", cfg.limits.stored_content_lifetime),
    ):
        try:
            parse_lifetime(value)
        except LifetimeError as exc:
            problems.append(Problem(key, str(exc)))
    if not cfg.public.base_url.startswith(("http://", "https://")) or cfg.public.base_url.endswith("/"):
        problems.append(Problem("public.base_url", "must be an http(s) URL without a trailing slash"))
    url = cfg.store.url.strip()
    if url and not url.startswith(("postgresql://", "postgres://")):
        problems.append(Problem("store.url", "empty (SQLite in the data directory) or a postgresql:// URL"))
    if cfg.cluster.heartbeat_s * 3 > cfg.cluster.lease_s:
        problems.append(Problem("cluster.heartbeat_s", "at most a third of cluster.lease_s (leases are renewed "
                                "with the heartbeat)"))
    problems.extend(cfg.sms.problems("sms"))
    problems.extend(cfg.mail.problems("mail"))
    problems.extend(cfg.voice.problems("voice"))
    problems.extend(cfg.media.problems("media"))
    problems.extend(cfg.events.problems("events"))
    problems.extend(cfg.content.problems("content"))
    problems.extend(cfg.ops.problems("ops"))
    return problems


def load(path: str | Path | None, environ: dict[str, str] | None = None) -> Config:
    """Read ``path`` (None: embedded defaults), apply environment overrides, validate everything."""
    tree: dict[str, Any] = {}
    if path is not None:
        try:
            tree = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([Problem(str(path), "configuration file not found")]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([Problem(str(path), f"not valid TOML: {exc}")]) from None
    pre = apply_env(tree, dict(os.environ if environ is None else environ))
    return build(tree, pre)
