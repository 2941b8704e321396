"""Lookups: the ``{keyword}`` templating of the reference, applied per recipient.

Pure. ``keywords_in`` finds what a text asks for (to refuse unknown keywords when the alert is
accepted); ``render`` fills them in for one recipient at send time.

Rules: a keyword no contact of the alert's contact-group holds is refused when the alert is accepted (a typo
must not reach anyone); a contact lookup the recipient does not have (a plain recipient, or a contact without
that lookup) is empty for that recipient: braces never reach a person.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_KEYWORD = re.compile(r"\{([^{}\r\n]{1,120})\}")
_FORMAT_TOKEN = re.compile(r"YYYY|YY|MM|DD|HH|mm|ss")

BUILTIN = frozenset({"recipient", "sender", "alertid", "reference", "type", "shortlink"})
# The reference marks these as needing uniqueLookups (they differ per recipient).
UNIQUE = frozenset({"recipient", "shortlink"})


@dataclass(frozen=True)
class LookupContext:
    now: float
    recipient: str
    sender: str
    alert_ref: str
    reference: str
    alert_type: str
    shortlink: str = ""
    contact: Mapping[str, str] = field(default_factory=dict)


def keywords_in(text: str) -> list[str]:
    return _KEYWORD.findall(text)


def split_datetime(keyword: str) -> tuple[str, str] | None:
    """``datetime-[TZ]-[format]`` → (zone, format); None if the keyword is not a datetime one."""
    if keyword == "datetime":
        return "", ""
    if not keyword.startswith("datetime-"):
        return None
    rest = keyword[len("datetime-") :]
    if rest.startswith("-"):
        return "", rest[1:]
    # zone names may hold '-' themselves (America/Port-au-Prince): take the longest valid prefix
    cuts = [i for i, ch in enumerate(rest) if ch == "-"] + [len(rest)]
    for cut in sorted(cuts, reverse=True):
        zone = rest[:cut]
        if _zone_ok(zone):
            return zone, rest[cut + 1 :]
    return rest.split("-", 1)[0], rest.split("-", 1)[1] if "-" in rest else ""


def _zone_ok(zone: str) -> bool:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def check(text: str, *, unique: bool, contact_keys: Set[str], path: str) -> list[tuple[str, str]]:
    """Problems (path, message) with the keywords of ``text``."""
    problems = []
    for kw in keywords_in(text):
        dt = split_datetime(kw)
        if dt is not None:
            zone, _fmt = dt
            if zone and not _zone_ok(zone):
                problems.append((path, f"lookup {{{kw}}}: unknown time zone {zone!r} (use an IANA name)"))
            continue
        if kw in BUILTIN:
            if kw in UNIQUE and not unique:
                problems.append((path, f"lookup {{{kw}}} differs per recipient: set lookups.uniqueLookups"))
            continue
        if kw in contact_keys:
            continue
        problems.append((path, f"unknown lookup keyword {{{kw}}}"))
    return problems


def format_datetime(now: float, zone: str, fmt: str) -> str:
    tz = ZoneInfo(zone) if zone else UTC
    moment = datetime.fromtimestamp(now, tz)
    if not fmt:
        return moment.isoformat(timespec="seconds")
    values = {
        "YYYY": f"{moment.year:04d}",
        "YY": f"{moment.year % 100:02d}",
        "MM": f"{moment.month:02d}",
        "DD": f"{moment.day:02d}",
        "HH": f"{moment.hour:02d}",
        "mm": f"{moment.minute:02d}",
        "ss": f"{moment.second:02d}",
    }
    return _FORMAT_TOKEN.sub(lambda m: values[m.group(0)], fmt)


def render(text: str, ctx: LookupContext) -> str:
    builtin = {
        "recipient": ctx.recipient,
        "sender": ctx.sender,
        "alertid": ctx.alert_ref,
        "reference": ctx.reference,
        "type": ctx.alert_type,
        "shortlink": ctx.shortlink,
    }

    def one(match: re.Match[str]) -> str:
        kw = match.group(1)
        dt = split_datetime(kw)
        if dt is not None and _zone_ok(dt[0] or "UTC"):
            return format_datetime(ctx.now, dt[0], dt[1])
        if kw in builtin:
            return builtin[kw]
        # a contact lookup this recipient lacks (the keyword itself was checked at accept time): empty
        return ctx.contact.get(kw, "")

    return _KEYWORD.sub(one, text)
