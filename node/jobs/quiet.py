"""Quiet hours (``cease_at``/``resume_at``, HHMM in a time zone): when may a message go out?

Pure: ``next_allowed(now, cease, resume, zone)`` returns ``now`` when sending is allowed, else the
moment the quiet period ends, computed in the zone's wall-clock time so DST changes are honoured.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def _hm(text: str) -> tuple[int, int]:
    return int(text[:2]), int(text[2:])


def next_allowed(now: float, cease: str, resume: str, zone: str) -> float:
    tz = ZoneInfo(zone)
    local = datetime.fromtimestamp(now, tz)
    c_h, c_m = _hm(cease)
    r_h, r_m = _hm(resume)
    minutes = local.hour * 60 + local.minute
    start, end = c_h * 60 + c_m, r_h * 60 + r_m
    if start == end:
        return now
    quiet = (start <= minutes < end) if start < end else (minutes >= start or minutes < end)
    if not quiet:
        return now
    day = local.date()
    if start > end and minutes >= start:
        day = day + timedelta(days=1)
    # wall-clock resume time in the zone; fold=0 picks the first of an ambiguous hour
    resume_local = datetime(day.year, day.month, day.day, r_h, r_m, tzinfo=tz)
    # a resume time inside a DST gap does not exist: normalising through UTC moves it past the gap
    return max(now, resume_local.timestamp())
