"""The node works with no internet: every page it serves (the API documentation at /docs, the status page,
the public short-link pages) renders in headless Chromium whose only reachable host is 127.0.0.1, and no
page asks for anything anywhere else."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.api.links import public_section, sent_links, shortlink_alert
from tests.nodeproc import RunningNode
from tests.ops.cdp import OFFLINE_FLAGS, Chromium
from tests.peers.smsc import Smsc

pytestmark = pytest.mark.peer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def requested_urls(browser: Chromium) -> list[str]:
    return [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]


def off_node(urls: list[str]) -> list[str]:
    """Requests that would leave the machine (data: and about: URLs never do)."""
    return [u for u in urls if urlsplit(u).scheme not in ("data", "about", "blob")
            and urlsplit(u).hostname != "127.0.0.1"]


def test_every_page_renders_offline(run_node, smsc: Smsc) -> None:  # type: ignore[no-untyped-def]
    node: RunningNode = run_node({"public": public_section(),
                                   "sms": {"links": [smsc.link(dcs0_charset="latin1")]}})
    resp = node.post("/api/json/sendalert", shortlink_alert(["+447700900301"], {}))
    assert resp.status_code == 200, resp.text
    (link,) = sent_links(smsc, 1)
    browser = Chromium(extra_flags=OFFLINE_FLAGS)
    try:
        # the network really is blocked: a page on the internet does not load
        browser.open("about:blank")
        browser.call("Network.enable")
        browser.call("Page.navigate", url="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css")
        browser.wait_for("document.readyState === 'complete'")
        assert "swagger" not in (browser.evaluate("document.body ? document.body.innerText : ''") or "")

        browser.events.clear()
        browser.call("Page.navigate", url=f"{node.url}/docs")
        # Swagger UI draws one block per operation once it has loaded its assets and /openapi.json
        count = browser.wait_for("document.querySelectorAll('.opblock').length >= 10 && "
                                 "document.querySelectorAll('.opblock').length", timeout=60)
        paths = browser.evaluate("[...document.querySelectorAll('.opblock-summary-path')].map(e => e.innerText)")
        assert any("/api/json/sendalert" in p for p in paths), paths
        ARTIFACTS.mkdir(exist_ok=True)
        browser.screenshot(ARTIFACTS / "docs-offline.png")
        docs_urls = requested_urls(browser)
        assert off_node(docs_urls) == [], docs_urls
        assert count >= 10

        browser.events.clear()
        browser.call("Page.navigate", url=f"{node.url}/status#key={node.api_key}")
        browser.wait_for("document.getElementById('readyState') !== null", timeout=30)
        assert off_node(requested_urls(browser)) == [], requested_urls(browser)

        for url in (link, f"{node.public_url}/s/no-such-token-000"):
            browser.events.clear()
            browser.call("Page.navigate", url=url)
            browser.wait_for("document.readyState === 'complete' && document.querySelector('h1') !== null")
            assert off_node(requested_urls(browser)) == [], requested_urls(browser)
    finally:
        browser.close()
