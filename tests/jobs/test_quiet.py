from datetime import datetime
from zoneinfo import ZoneInfo

from alertnode.jobs.quiet import next_allowed

LONDON = ZoneInfo("Europe/London")


def at(*args: int, tz: ZoneInfo = LONDON) -> float:
    return datetime(*args, tzinfo=tz).timestamp()


def test_outside_quiet_hours_sends_now() -> None:
    now = at(2026, 3, 10, 12, 0)
    assert next_allowed(now, "2200", "0700", "Europe/London") == now


def test_overnight_quiet_hours_resume_next_morning() -> None:
    assert next_allowed(at(2026, 3, 10, 23, 30), "2200", "0700", "Europe/London") == at(2026, 3, 11, 7, 0)
    assert next_allowed(at(2026, 3, 11, 3, 0), "2200", "0700", "Europe/London") == at(2026, 3, 11, 7, 0)


def test_daytime_quiet_window() -> None:
    assert next_allowed(at(2026, 3, 10, 12, 30), "1200", "1400", "Europe/London") == at(2026, 3, 10, 14, 0)


def test_across_a_time_zone_boundary() -> None:
    # 23:30 in London is 00:30 next day in Berlin: quiet in both, but each resumes at its own 07:00
    now = at(2026, 3, 10, 23, 30)
    berlin = ZoneInfo("Europe/Berlin")
    assert next_allowed(now, "2200", "0700", "Europe/Berlin") == at(2026, 3, 11, 7, 0, tz=berlin)
    assert next_allowed(now, "2200", "0700", "Europe/London") - next_allowed(now, "2200", "0700",
                                                                              "Europe/Berlin") == 3600


def test_dst_change_night() -> None:
    # 29 March 2026: UK clocks go 01:00 -> 02:00. The night is one hour shorter in real time.
    now = at(2026, 3, 28, 23, 0)
    resume = next_allowed(now, "2200", "0700", "Europe/London")
    assert resume == at(2026, 3, 29, 7, 0)
    assert resume - now == 7 * 3600  # 8 wall-clock hours, 7 real ones


def test_resume_inside_dst_gap_moves_past_it() -> None:
    now = at(2026, 3, 29, 0, 30)
    resume = next_allowed(now, "0000", "0130", "Europe/London")
    assert resume > now
    assert datetime.fromtimestamp(resume, LONDON).hour == 2
