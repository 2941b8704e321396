"""Who fetched a tracking image or a message page: a person, or a machine acting before (or instead of) one.
Pure: fed the request's method and headers, returns a :class:`Viewer`.

An open is counted only for a person. Image proxies that fetch every image of a message when it arrives
(Apple Mail Privacy Protection, Gmail's GoogleImageProxy, Yahoo's proxy), mail-security scanners and link
previewers are recorded as ``previewed``: the message reached a mailbox, nobody is known to have read it.

Rules, first match wins:

1. ``HEAD`` (or any method but GET): a scanner checking the URL.
2. A prefetch header (``Sec-Purpose``/``Purpose: prefetch``, ``X-Purpose: preview``, ``X-Moz: prefetch``):
   a browser or proxy loading ahead of the person.
3. No User-Agent, or exactly ``Mozilla/5.0`` (what Apple's privacy relay sends when it prefetches): a proxy.
4. A User-Agent holding a fragment of :data:`AGENTS` (or of ``content.scanner_agents``): that agent.
5. Else a person.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class ViewerKind(enum.Enum):
    PERSON = "person"
    PROXY = "proxy"
    SCANNER = "scanner"


@dataclass(frozen=True)
class Viewer:
    kind: ViewerKind
    agent: str
    """a short name of the machine (``gmail-image-proxy``, ``link-scanner``...), ``person`` for a person"""

    @property
    def person(self) -> bool:
        return self.kind is ViewerKind.PERSON


# (lower-case fragment of the User-Agent, kind, agent name). Proxies fetch images on behalf of mailboxes;
# scanners check links and attachments (mail security gateways, chat previews, crawlers, scripts).
AGENTS: tuple[tuple[str, ViewerKind, str], ...] = (
    ("googleimageproxy", ViewerKind.PROXY, "gmail-image-proxy"),
    ("ggpht.com", ViewerKind.PROXY, "gmail-image-proxy"),
    ("yahoomailproxy", ViewerKind.PROXY, "yahoo-mail-proxy"),
    ("outlookimageproxy", ViewerKind.PROXY, "outlook-image-proxy"),
    ("microsoft office existence discovery", ViewerKind.SCANNER, "outlook-link-check"),
    ("microsoft office protocol discovery", ViewerKind.SCANNER, "outlook-link-check"),
    ("bingpreview", ViewerKind.SCANNER, "outlook-link-preview"),
    ("safelinks", ViewerKind.SCANNER, "outlook-safe-links"),
    ("barracuda", ViewerKind.SCANNER, "barracuda"),
    ("proofpoint", ViewerKind.SCANNER, "proofpoint"),
    ("mimecast", ViewerKind.SCANNER, "mimecast"),
    ("symantec", ViewerKind.SCANNER, "symantec"),
    ("trendmicro", ViewerKind.SCANNER, "trend-micro"),
    ("facebookexternalhit", ViewerKind.SCANNER, "link-preview"),
    ("slackbot", ViewerKind.SCANNER, "link-preview"),
    ("whatsapp", ViewerKind.SCANNER, "link-preview"),
    ("telegrambot", ViewerKind.SCANNER, "link-preview"),
    ("twitterbot", ViewerKind.SCANNER, "link-preview"),
    ("discordbot", ViewerKind.SCANNER, "link-preview"),
    ("skypeuripreview", ViewerKind.SCANNER, "link-preview"),
    ("linkedinbot", ViewerKind.SCANNER, "link-preview"),
    ("headlesschrome", ViewerKind.SCANNER, "headless-browser"),
    ("python-requests", ViewerKind.SCANNER, "script"),
    ("python-httpx", ViewerKind.SCANNER, "script"),
    ("curl/", ViewerKind.SCANNER, "script"),
    ("wget/", ViewerKind.SCANNER, "script"),
    ("go-http-client", ViewerKind.SCANNER, "script"),
    ("bot", ViewerKind.SCANNER, "bot"),
    ("crawler", ViewerKind.SCANNER, "bot"),
    ("spider", ViewerKind.SCANNER, "bot"),
    ("preview", ViewerKind.SCANNER, "link-preview"),
)

_PREFETCH = (("sec-purpose", "prefetch"), ("purpose", "prefetch"), ("x-purpose", "preview"), ("x-moz", "prefetch"))
PERSON = Viewer(ViewerKind.PERSON, "person")


def classify(method: str, headers: Mapping[str, str], extra_agents: Sequence[str] = ()) -> Viewer:
    """Who made the request (rules in the module docstring). ``headers`` keys are lower-case (as Starlette's)."""
    if method.upper() != "GET":
        return Viewer(ViewerKind.SCANNER, f"{method.lower()}-request")
    for name, value in _PREFETCH:
        if value in headers.get(name, "").lower():
            return Viewer(ViewerKind.PROXY, "prefetch")
    agent = headers.get("user-agent", "").strip()
    if not agent:
        return Viewer(ViewerKind.SCANNER, "no-user-agent")
    if agent == "Mozilla/5.0":
        return Viewer(ViewerKind.PROXY, "apple-privacy-proxy")
    lowered = agent.lower()
    for fragment in extra_agents:
        if fragment.strip().lower() in lowered:
            return Viewer(ViewerKind.SCANNER, "configured-agent")
    for fragment, kind, name in AGENTS:
        if fragment in lowered:
            return Viewer(kind, name)
    return PERSON
