"""The node's one exception tree.

    NodeError                      root of everything the node raises on purpose
    ├── ConfigError                the configuration is invalid; ``problems`` lists every one
    ├── ApiError                   a request is refused; ``http_status`` and ``problems`` go on the wire
    ├── StoreError                 the store cannot do what was asked
    │   └── StoreUnavailable       the database cannot be reached now (restart, fail-over): try again (HTTP 503)
    ├── ChannelError               a channel cannot take or deliver work
    │   ├── SmppError              carries ``smpp_status`` (SMPP 3.4 §5.1.3)
    │   ├── SipError               carries ``sip_code`` (RFC 3261 §21)
    │   └── SmtpError              carries ``smtp_reply`` (RFC 5321 §4.2)
    ├── MediaError                 audio or TTS that cannot be turned into a prompt
    └── LifetimeError              a lifetime or ISO 8601 duration that does not parse (also a ValueError,
                                   so a pydantic validator raising it is reported at the field's JSON path)

Foreign exceptions are translated at the adapter that meets them (``raise X(...) from exc``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One problem with an input: where it is (a JSON path or config key) and what is wrong."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class NodeError(Exception):
    """Root of the node's own errors."""


class ConfigError(NodeError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p.path}: {p.message}" for p in problems)
        super().__init__(f"invalid configuration ({len(problems)} problem(s)):\n{lines}")


class ApiError(NodeError):
    def __init__(self, reason: str, problems: list[Problem] | None = None, http_status: int = 400) -> None:
        self.reason = reason
        self.problems = problems or []
        self.http_status = http_status
        super().__init__(reason)


class StoreError(NodeError):
    pass


class StoreUnavailable(StoreError):
    """The database cannot be reached at the moment (a restart, a fail-over): nothing was done, or a commit's
    outcome is unknown. Answered 503 by the API; the store connects again for the next request."""


class ChannelError(NodeError):
    """A channel could not do something. ``permanent`` says whether retrying can help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        self.permanent = permanent
        super().__init__(message)


class SmppError(ChannelError):
    def __init__(self, message: str, smpp_status: int, *, permanent: bool = False) -> None:
        self.smpp_status = smpp_status
        super().__init__(message, permanent=permanent)


class SipError(ChannelError):
    def __init__(self, message: str, sip_code: int, *, permanent: bool = False) -> None:
        self.sip_code = sip_code
        super().__init__(message, permanent=permanent)


class SmtpError(ChannelError):
    def __init__(self, message: str, smtp_reply: str, *, permanent: bool = False) -> None:
        self.smtp_reply = smtp_reply
        super().__init__(message, permanent=permanent)


class MediaError(NodeError):
    """Audio or text that cannot become a prompt. ``path`` names the request field when known."""

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        super().__init__(message)


class LifetimeError(NodeError, ValueError):
    """A lifetime (``{n}{M|w|d|h|m|s}``) or ISO 8601 duration that does not parse. It is a ``ValueError`` too:
    raised inside a pydantic validator it becomes a validation error at that field's JSON path."""
