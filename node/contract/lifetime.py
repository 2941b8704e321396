"""Lifetimes (``{n}{M|w|d|h|m|s}``, reference "lifetime"), ISO 8601 durations (``PT15M``, ``P0DT0S``) and
the ISO 8601 times the API answers with.

Pure: no clock; callers add the result to the time they hold. Both parsers raise
:class:`~alertnode.errors.LifetimeError` (re-exported here).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from alertnode.errors import LifetimeError

_LIFETIME = re.compile(r"^([0-9]{1,6})([Mwdhms])$")
# A month is counted as 30 days: the reference gives no calendar rule and expiry only needs an upper bound.
_UNIT_SECONDS = {"M": 30 * 86400, "w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}

_ISO_DURATION = re.compile(  # ASCII digits only
    r"^P(?!$)(?:(?P<weeks>\d+(?:[.,]\d+)?)W)?(?:(?P<days>\d+(?:[.,]\d+)?)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+(?:[.,]\d+)?)H)?(?:(?P<minutes>\d+(?:[.,]\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:[.,]\d+)?)S)?)?$",
    re.ASCII,
)


# The same rules as patterns a JSON Schema (ECMA 262) reader understands, without lookarounds: at least one
# component after P, and after T; ASCII digits only.
LIFETIME_SCHEMA = r"^[0-9]{1,6}[Mwdhms]$"
_N = r"[0-9]+(?:[.,][0-9]+)?"
_TIME = rf"T(?:{_N}H(?:{_N}M)?(?:{_N}S)?|{_N}M(?:{_N}S)?|{_N}S)"
ISO_DURATION_SCHEMA = rf"^P(?:(?:{_N}W(?:{_N}D)?|{_N}D)(?:{_TIME})?|{_TIME})$"


def parse_lifetime(text: str) -> float | None:
    """Seconds of a lifetime, or None for "never expires" (any zero count, e.g. ``0d``)."""
    match = _LIFETIME.match(text)
    if not match:
        raise LifetimeError(f"{text!r} is not a lifetime: use {{n}}{{M|w|d|h|m|s}}, e.g. 7d, 12h, 0d (never)")
    count = int(match.group(1))
    if count == 0:
        return None
    return float(count * _UNIT_SECONDS[match.group(2)])


def parse_iso_duration(text: str) -> float:
    """Seconds of an ISO 8601 duration without years or months (their length is ambiguous)."""
    match = _ISO_DURATION.match(text)
    if not match:
        raise LifetimeError(
            f"{text!r} is not an ISO 8601 duration such as PT15M, P1DT2H or P0DT0S (years and months not allowed)"
        )
    parts = {k: float(v.replace(",", ".")) for k, v in match.groupdict().items() if v is not None}
    return (
        parts.get("weeks", 0.0) * 7 * 86400
        + parts.get("days", 0.0) * 86400
        + parts.get("hours", 0.0) * 3600
        + parts.get("minutes", 0.0) * 60
        + parts.get("seconds", 0.0)
    )


def iso_time(ts: float) -> str:
    """A Unix time as the API writes times: ISO 8601 in UTC with milliseconds, e.g. 2026-01-31T08:00:00.000Z."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
