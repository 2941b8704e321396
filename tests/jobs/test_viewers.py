"""Who fetched a tracking image or a message page (jobs/viewers.py): fed a method and headers."""

from __future__ import annotations

import pytest

from alertnode.jobs.viewers import ViewerKind, classify

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Mobile/15E148 Safari/604.1")
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0"
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17029; Pro)"


@pytest.mark.parametrize(("method", "headers", "kind", "agent"), [
    ("GET", {"user-agent": IPHONE}, ViewerKind.PERSON, "person"),
    ("GET", {"user-agent": THUNDERBIRD}, ViewerKind.PERSON, "person"),
    ("GET", {"user-agent": OUTLOOK}, ViewerKind.PERSON, "person"),  # Outlook loads images on the device
    ("GET", {"user-agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com "
                           "GoogleImageProxy)"}, ViewerKind.PROXY, "gmail-image-proxy"),
    ("GET", {"user-agent": "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"},
     ViewerKind.PROXY, "yahoo-mail-proxy"),
    ("GET", {"user-agent": "Mozilla/5.0"}, ViewerKind.PROXY, "apple-privacy-proxy"),
    ("GET", {}, ViewerKind.SCANNER, "no-user-agent"),
    ("GET", {"user-agent": "Microsoft Office Existence Discovery"}, ViewerKind.SCANNER, "outlook-link-check"),
    ("GET", {"user-agent": "Mozilla/5.0 (compatible; Barracuda Sentinel)"}, ViewerKind.SCANNER, "barracuda"),
    ("GET", {"user-agent": "facebookexternalhit/1.1"}, ViewerKind.SCANNER, "link-preview"),
    ("GET", {"user-agent": "WhatsApp/2.23.20.0 A"}, ViewerKind.SCANNER, "link-preview"),
    ("GET", {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                           "HeadlessChrome/120.0.0.0 Safari/537.36"}, ViewerKind.SCANNER, "headless-browser"),
    ("GET", {"user-agent": "python-requests/2.31"}, ViewerKind.SCANNER, "script"),
    ("GET", {"user-agent": IPHONE, "sec-purpose": "prefetch;prerender"}, ViewerKind.PROXY, "prefetch"),
    ("GET", {"user-agent": IPHONE, "x-moz": "prefetch"}, ViewerKind.PROXY, "prefetch"),
    ("HEAD", {"user-agent": IPHONE}, ViewerKind.SCANNER, "head-request"),
])
def test_classification(method: str, headers: dict[str, str], kind: ViewerKind, agent: str) -> None:
    viewer = classify(method, headers)
    assert (viewer.kind, viewer.agent) == (kind, agent)
    assert viewer.person is (kind is ViewerKind.PERSON)


def test_configured_agents_are_scanners_too() -> None:
    ua = "Mozilla/5.0 (X11; Linux) AcmeMailGuard/3.1"
    assert classify("GET", {"user-agent": ua}).person
    viewer = classify("GET", {"user-agent": ua}, ["acmemailguard"])
    assert viewer.kind is ViewerKind.SCANNER and viewer.agent == "configured-agent"
