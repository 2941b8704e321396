"""Helpers for tests of short links: an SMS alert whose text carries ``{shortlink}``, and the links the SMSC
simulator received (the simulator's link must use ``dcs0_charset="latin1"`` so the text reads back as is)."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.nodeproc import free_port
from tests.peers.smsc import Smsc

LINK = re.compile(r"http://127\.0\.0\.1:\d+/s/[A-Za-z0-9_\-]+")


def public_section() -> dict[str, Any]:
    """A public listener on a free port whose links point at it (short links carry public.base_url)."""
    port = free_port()
    return {"port": port, "base_url": f"http://127.0.0.1:{port}"}


def shortlink_alert(recipients: list[str], shortlink: dict[str, Any], content: str = "Boiler 3 high. {shortlink}",
                    **extra: Any) -> dict[str, Any]:
    return {"version": "latest", "clientRef": "links",
            "alert": [{"alertType": "sms", "tag": "sms", "sender": "+447700100100", "content": content,
                       "recipients": recipients, "lookups": {"shortlink": shortlink}}], **extra}


def sent_texts(smsc: Smsc, count: int, timeout: float = 30.0) -> list[str]:
    """The texts of the first ``count`` submit_sm the simulator saw (waits for them)."""
    deadline = time.monotonic() + timeout
    while True:
        submits = smsc.submits()
        if len(submits) >= count:
            return [bytes.fromhex(s["sm"]).decode("latin-1") for s in submits]
        if time.monotonic() > deadline:
            raise AssertionError(f"only {len(submits)} of {count} messages reached the SMSC")
        time.sleep(0.1)


def sent_links(smsc: Smsc, count: int, timeout: float = 30.0) -> list[str]:
    """The short link in each of the first ``count`` messages, in the order they were sent."""
    texts = sent_texts(smsc, count, timeout)
    links = []
    for text in texts:
        found = LINK.search(text)
        assert found, f"no short link in {text!r}"
        links.append(found.group(0))
    return links


def links_by_recipient(smsc: Smsc, count: int, timeout: float = 30.0) -> dict[str, str]:
    """The short link each recipient (E.164) received, for the first ``count`` messages."""
    links = sent_links(smsc, count, timeout)
    return {"+" + s["dest"].lstrip("+"): link for s, link in zip(smsc.submits(), links, strict=False)}
