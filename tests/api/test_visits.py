"""Who opens a short link (pure): scanners, prefetches and programs are never taken for a person."""

from __future__ import annotations

import pytest

from alertnode.api.visits import VisitLog, Visitor, classify
from tests.api.scanners import BROWSERS, SCANNERS


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


@pytest.mark.parametrize(("name", "method", "headers"), [s for s in SCANNERS if s[0] != "Outlook Safe Links"],
                         ids=[s[0] for s in SCANNERS if s[0] != "Outlook Safe Links"])
def test_machines_are_not_people(name: str, method: str, headers: dict[str, str]) -> None:
    visit = classify(method, lower(headers))
    assert visit.visitor is not Visitor.PERSON, name
    assert visit.reason


@pytest.mark.parametrize(("name", "agent"), BROWSERS, ids=[b[0] for b in BROWSERS])
def test_browsers_are_people(name: str, agent: str) -> None:
    assert classify("GET", {"user-agent": agent}).visitor is Visitor.PERSON, name
    # a person's browser may press the button: a POST from it is not a scanner's
    assert classify("POST", {"user-agent": agent}).visitor is Visitor.PERSON, name


def test_known_scanners_are_named() -> None:
    assert classify("GET", {"user-agent": "Slackbot-LinkExpanding 1.0"}).reason == "Slack"
    assert classify("GET", {"user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"}).reason == "Google"
    assert classify("HEAD", {"user-agent": "anything"}).visitor is Visitor.PREFETCH
    assert classify("GET", {"user-agent": "curl/8.5.0"}).visitor is Visitor.CLIENT


def test_each_visit_kind_is_reported_once_per_window() -> None:
    log = VisitLog(window_s=600, size=3)
    assert log.first(1, "previewed", 0.0)
    assert not log.first(1, "previewed", 599.0)
    assert log.first(1, "opened", 1.0)
    assert log.first(1, "previewed", 600.0)
    for i in range(2, 6):  # bounded: the oldest are forgotten
        assert log.first(i, "opened", 700.0)
    assert log.first(1, "opened", 701.0)
