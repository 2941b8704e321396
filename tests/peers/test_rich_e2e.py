"""Rich alerts and opens through the real node (subprocess) over the SMSC simulator, an SMTP smarthost, a
local image server and headless Chromium: an SMS with text, image and link links to its page, which Chromium
shows with the image served by the node and acknowledges by its button; a link previewer's view of the other
page is `previewed`; the e-mails carry the image inline and a tracking image, which an image proxy fetches
(`previewed`) and a mail client (`opened`), once each; the counts, the events and /metrics agree. Images that
cannot be used refuse the request with 400 at their JSON path."""

from __future__ import annotations

import re
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from alertnode.store import rich as rich_store
from tests.image_server import ImageServer, png
from tests.nodeproc import RunningNode, free_port
from tests.ops.cdp import Chromium
from tests.peers.smsc import Smsc
from tests.peers.smtp import ThreadedSmarthost

pytestmark = pytest.mark.peer

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Mobile/15E148 Safari/604.1")
THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0"
GMAIL_PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
NUMBERS = ["+447700900301", "+447700900302"]
MAILS = ["ann@example.org", "bob@example.org"]


@pytest.fixture
def images() -> Iterator[ImageServer]:
    with ImageServer() as srv:
        yield srv


def metrics(node: RunningNode) -> dict[str, float]:
    text = httpx.get(f"{node.url}/metrics", timeout=10, trust_env=False).text
    return {k: float(v) for k, v in (line.rsplit(" ", 1) for line in text.splitlines()
                                     if line and not line.startswith("#"))}


def wait_until(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return value


def test_rich_sms_and_email_with_opens(run_node: Callable[..., RunningNode], smsc: Smsc,
                                       threaded_smarthost: ThreadedSmarthost, images: ImageServer,
                                       tmp_path: Path) -> None:
    public_port = free_port()
    base = f"http://127.0.0.1:{public_port}"
    node = run_node({
        "public": {"port": public_port, "base_url": base},
        "sms": {"links": [smsc.link(dcs0_charset="latin1")]},
        "mail": {"smarthost_host": "127.0.0.1", "smarthost_port": threaded_smarthost.port, "smarthost_tls": "off",
                 "listen_port": free_port(), "domain": "alerts.test", "retry_backoff_s": [0.1]},
    }, data_dir=tmp_path / "node")

    # images that cannot be used: 400 at their paths, nothing accepted
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    bad = node.post("/api/json/sendalert", {"version": "latest", "clientRef": "bad", "alert": [
        {"alertType": "sms", "tag": "a", "sender": "ALERTS", "recipients": NUMBERS[:1],
         "image_url": f"http://127.0.0.1:{closed}/x.png"},
        {"alertType": "email", "tag": "b", "recipients": MAILS[:1], "image_url": images.url("/text.png")}]})
    assert bad.status_code == 400, bad.text
    errors = {e["path"]: e["message"] for e in bad.json()["errors"]}
    assert errors["alert[0].image_url"].startswith("unreachable: ConnectError")
    assert errors["alert[1].image_url"] == "not a PNG, JPEG, GIF or WebP image (checked by its first bytes)"

    answer = node.post("/api/json/sendalert", {"version": "latest", "clientRef": "rich-e2e", "alert": [
        {"alertType": "sms", "tag": "sms", "sender": "ALERTS", "recipients": NUMBERS,
         "content": "Boiler 3 pressure high.", "image_url": images.url("/hop1"),
         "link_url": "https://runbook.example/b3", "link_label": "Runbook"},
        {"alertType": "email", "tag": "mail", "recipients": MAILS, "subject": "Boiler 3",
         "content": "Boiler 3 pressure high.", "image_url": images.url("/red.png"),
         "link_url": "https://runbook.example/b3", "link_label": "Runbook", "trackOpens": True}]})
    assert answer.status_code == 200, answer.text
    ref = answer.json()["alertRef"]
    assert [r["path"] for r in images.requests if r["path"] in ("/hop1", "/red.png")].count("/red.png") == 2

    # -- SMS: the text and a link to the recipient's page ------------------------------------------------
    node.wait_events(lambda evs: sum(e["event"] == "delivered" for e in evs) >= 2, timeout=60)
    texts = {s["dest"]: bytes.fromhex(s["sm"]).decode("latin-1") for s in smsc.submits()}
    pages = {}
    for number in NUMBERS:
        text = texts[number.lstrip("+")]
        match = re.fullmatch(rf"Boiler 3 pressure high\.\n({re.escape(base)}/m/[A-Za-z0-9_-]+)", text)
        assert match, text
        pages[number] = match.group(1)

    browser = Chromium()
    try:
        browser.open("about:blank")
        browser.call("Emulation.setUserAgentOverride", userAgent=IPHONE)
        browser.call("Page.navigate", url=pages[NUMBERS[0]])
        # the image is the node's own copy (same origin, allowed by the page's CSP), and it decodes
        width = browser.wait_for("document.images.length === 1 && document.images[0].complete"
                                 " && document.images[0].naturalWidth")
        assert width == 4
        assert browser.evaluate("document.images[0].src") == pages[NUMBERS[0]] + "/image"
        assert browser.evaluate("document.querySelector('a').href") == "https://runbook.example/b3"
        assert browser.evaluate("document.querySelector('a').textContent") == "Runbook"
        assert "Boiler 3 pressure high." in browser.evaluate("document.body.innerText")
        browser.evaluate("document.querySelector('form button').click()")
        browser.wait_for("document.title === 'Thank you'")
    finally:
        browser.close()
    image = httpx.get(pages[NUMBERS[0]] + "/image", trust_env=False)
    assert image.content == png() and image.headers["content-type"] == "image/png"
    preview = httpx.get(pages[NUMBERS[1]], headers={"User-Agent": "facebookexternalhit/1.1"}, trust_env=False)
    assert preview.status_code == 200 and "Boiler 3" in preview.text
    assert httpx.get(f"{base}/m/unknown-token-1", trust_env=False).status_code == 404

    # -- e-mail: the image inline, the link as a button, the tracking image ----------------------------
    mails = {m.rcpt_tos[0]: m.message for m in threaded_smarthost.wait_for(2)}
    pixels = {}
    for address in MAILS:
        msg = mails[address]
        parts = [p.get_content_type() for p in msg.walk()]
        assert parts == ["multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png"]
        inline = next(p for p in msg.walk() if p.get_content_type() == "image/png")
        assert inline.get_content() == png()
        body = msg.get_body(preferencelist=("html",))
        assert body is not None
        html = body.get_content()
        assert f'src="cid:{str(inline["Content-ID"]).strip("<>")}"' in html and ">Runbook</a>" in html
        found = re.search(rf'<img src="({re.escape(base)}/o/[A-Za-z0-9_-]+\.gif)"', html)
        assert found, html
        pixels[address] = found.group(1)
    mail_token = pixels[MAILS[0]].rsplit("/", 1)[1].removesuffix(".gif")
    assert httpx.get(f"{base}/m/{mail_token}", trust_env=False).status_code == 404  # pages are for SMS
    gif = httpx.get(pixels[MAILS[0]], headers={"User-Agent": GMAIL_PROXY}, trust_env=False)
    assert gif.status_code == 200 and gif.content.startswith(b"GIF89a")
    for _ in range(2):  # a second load is counted, not reported again
        httpx.get(pixels[MAILS[1]], headers={"User-Agent": THUNDERBIRD}, trust_env=False)

    # each view was stored before its answer came back: the events are all there now
    events = node.events(0, limit=5000)["events"]
    views = sorted((e["event"], e["alertType"], e["recipient"], e["detail"]["via"]) for e in events
                   if e["event"] in ("opened", "previewed"))
    assert views == [("opened", "email", MAILS[1], "image"), ("opened", "sms", NUMBERS[0], "page"),
                     ("previewed", "email", MAILS[0], "image"), ("previewed", "sms", NUMBERS[1], "page")]
    by = {(e["event"], e.get("recipient")): e.get("detail") for e in events}
    assert by[("previewed", MAILS[0])]["agent"] == "Gmail image proxy"
    assert by[("opened", NUMBERS[0])]["os"].startswith("iOS")
    ack = [e for e in events if e["event"] == "clicked"]
    assert len(ack) == 1 and ack[0]["recipient"] == NUMBERS[0] and ack[0]["state"] == "responded"
    assert ack[0]["detail"]["via"] == "page"

    with closing(sqlite3.connect(f"file:{node.data_dir / 'data' / 'alertnode.db'}?mode=ro", uri=True)) as conn:
        counts = rich_store.open_counts(conn, ref)
    assert counts.by_type == {"email": rich_store.TypeOpens(2, 1, 1), "sms": rich_store.TypeOpens(2, 1, 1)}
    assert counts.open_rate == 0.5
    with node.client() as c:  # and the alert's resource shows them beside responseRate
        shown = c.get(f"/api/json/alerts/{ref}").json()["counts"]
        listed = next(a for a in c.get("/api/json/alerts").json()["_embedded"]["alerts"] if a["alertRef"] == ref)
    assert (shown["openCount"], shown["openRate"]) == (2, 0.5)
    assert (listed["counts"]["openCount"], listed["counts"]["openRate"]) == (2, 0.5)

    samples = metrics(node)
    assert samples['alertnode_opens_total{via="image"}'] == 1.0
    assert samples['alertnode_opens_total{via="page"}'] == 1.0
    assert samples['alertnode_previews_total{agent="Gmail image proxy",via="image"}'] == 1.0
    assert samples['alertnode_previews_total{agent="Facebook",via="page"}'] == 1.0
