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


IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Mobile/15E148 Safari/604.1")
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0"
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)"


@pytest.mark.parametrize(("method", "headers", "image", "visitor", "agent"), [
    ("GET", {"user-agent": IPHONE}, True, Visitor.PERSON, "person"),
    ("GET", {"user-agent": THUNDERBIRD}, True, Visitor.PERSON, "person"),
    ("GET", {"user-agent": OUTLOOK}, True, Visitor.PERSON, "person"),  # Outlook shows the images itself
    ("GET", {"user-agent": OUTLOOK}, False, Visitor.SCANNER, "Microsoft Office"),  # ... but opens no links
    ("GET", {"user-agent": "Microsoft Office Existence Discovery"}, True, Visitor.SCANNER, "Microsoft Office"),
    ("GET", {"user-agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com "
                           "GoogleImageProxy)"}, True, Visitor.PROXY, "Gmail image proxy"),
    ("GET", {"user-agent": "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"}, True,
     Visitor.PROXY, "Yahoo image proxy"),
    ("GET", {"user-agent": "Mozilla/5.0"}, True, Visitor.PROXY, "Apple Mail Privacy Protection"),
    ("GET", {}, True, Visitor.CLIENT, "client"),
    ("GET", {"user-agent": "Mozilla/5.0 (compatible; Barracuda Sentinel)"}, True, Visitor.SCANNER, "Barracuda"),
    ("GET", {"user-agent": "facebookexternalhit/1.1"}, False, Visitor.SCANNER, "Facebook"),
    ("GET", {"user-agent": "WhatsApp/2.23.20.0 A"}, False, Visitor.CLIENT, "client"),
    ("GET", {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                           "HeadlessChrome/120.0.0.0 Safari/537.36"}, True, Visitor.SCANNER, "headless browser"),
    ("GET", {"user-agent": "python-requests/2.31"}, True, Visitor.CLIENT, "client"),
    ("GET", {"user-agent": IPHONE, "sec-purpose": "prefetch;prerender"}, True, Visitor.PREFETCH, "prefetch"),
    ("GET", {"user-agent": IPHONE, "x-moz": "prefetch"}, True, Visitor.PREFETCH, "prefetch"),
    ("HEAD", {"user-agent": IPHONE}, True, Visitor.PREFETCH, "prefetch"),
])
def test_images_and_pages(method: str, headers: dict[str, str], image: bool, visitor: Visitor, agent: str) -> None:
    visit = classify(method, headers, image=image)
    assert (visit.visitor, visit.agent) == (visitor, agent)
    assert visit.by_person is (visitor is Visitor.PERSON)


def test_configured_agents_are_scanners_too() -> None:
    ua = "Mozilla/5.0 (X11; Linux) AcmeMailGuard/3.1"
    assert classify("GET", {"user-agent": ua}).by_person
    visit = classify("GET", {"user-agent": ua}, ["acmemailguard"])
    assert visit.visitor is Visitor.SCANNER and visit.agent == "configured agent"


def test_the_agent_label_is_from_a_bounded_set_whatever_a_client_sends() -> None:
    # the agent goes into a /metrics label: a program's made-up name must not create a series of its own
    names = {classify("GET", {"user-agent": f"tool-{i}/1.0"}).agent for i in range(50)}
    assert names == {"client"}
