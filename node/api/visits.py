"""Who is opening a short link, an SMS's message page or an e-mail's tracking image: a person, or a machine that
opens every link and image it sees (mail gateways' link scanners such as Outlook Safe Links, chat apps' link
previews, antivirus proxies, image proxies that fetch every image of a message as it arrives, prefetching
browsers). One classifier for the short links (:mod:`alertnode.api.public`) and the rich pages and opens
(:mod:`alertnode.api.rich_pages`).

Pure: fed the request's method and headers (and the time, for :class:`VisitLog`), no I/O.

Rules, in order (the first that applies decides):

1. ``HEAD``, or a ``Purpose``/``Sec-Purpose``/``X-Purpose``/``X-Moz`` header naming prefetch, prerender or
   preview: PREFETCH (a browser or an app fetching ahead of any human action);
2. a User-Agent of exactly ``Mozilla/5.0`` (Apple Mail Privacy Protection's prefetch), or naming a mail image
   proxy (Gmail's GoogleImageProxy, Yahoo's, Outlook.com's): PROXY;
3. a User-Agent holding one of the operator's own marks (``content.scanner_agents``), or naming a known scanner,
   link previewer, crawler or headless browser: SCANNER; except that for an image, Outlook on the desktop
   (``Microsoft Office/… Microsoft Outlook``) is the person's own mail client showing the message: PERSON;
4. no User-Agent, or one that is not a browser's (browsers all start ``Mozilla/``; ``curl``, ``python-requests``,
   ``Go-http-client`` do not): CLIENT (a program);
5. anything else: PERSON.

None of them acknowledges anything by opening a link: a GET only shows the page (or redirects). The
classification says how the visit is reported (``opened`` for PERSON, ``previewed`` for the others) and whether a
POST of the acknowledgement button is taken: it is refused from a SCANNER (a sandbox that presses buttons), taken
from a PERSON or a CLIENT (a deliberate POST with the form's token, e.g. the onward site acknowledging).
"""

from __future__ import annotations

import enum
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class Visitor(enum.Enum):
    PERSON = "person"
    PREFETCH = "prefetch"
    PROXY = "proxy"
    SCANNER = "scanner"
    CLIENT = "client"


@dataclass(frozen=True)
class Visit:
    visitor: Visitor
    reason: str
    """what decided it: ``HEAD``, the purpose header, the scanner's name, ``no User-Agent``, ``browser``"""

    @property
    def by_person(self) -> bool:
        return self.visitor is Visitor.PERSON

    @property
    def agent(self) -> str:
        """A short name of the machine from a bounded set (a metrics label): the scanner's or proxy's name, or
        the visitor kind when the reason came from the request itself (a program's own name, a header)."""
        return self.reason if self.visitor in (Visitor.SCANNER, Visitor.PROXY) and self.reason in _NAMES \
            else self.visitor.value


_PURPOSE_HEADERS = ("sec-purpose", "purpose", "x-purpose", "x-moz")
_PURPOSE = re.compile(r"prefetch|prerender|preview", re.IGNORECASE)

# User-Agent marks of the machines that open links people receive, by who sends them. Matched
# case-insensitively as substrings; the first that matches names the scanner in the event. A mark must never
# occur in a person's browser: apps whose in-app browser names the app (WhatsApp, Teams, Snapchat, Outlook for
# iOS, Electron chat apps) are left to the rules below, since a SCANNER cannot press the button.
SCANNERS: tuple[tuple[str, str], ...] = (
    # chat and social apps expanding links into previews
    ("slackbot", "Slack"), ("slack-imgproxy", "Slack"), ("skypeuripreview", "Microsoft Teams/Skype"),
    ("microsoftpreview", "Microsoft Teams"), ("discordbot", "Discord"), ("telegrambot", "Telegram"),
    ("facebookexternalhit", "Facebook"), ("facebot", "Facebook"), ("twitterbot", "Twitter/X"),
    ("linkedinbot", "LinkedIn"), ("iframely", "Iframely"), ("embedly", "Embedly"), ("applebot", "Apple"),
    # mail clients and gateways checking or previewing links (Outlook Safe Links fetches with a browser's
    # User-Agent from Microsoft's network: that is reported as a person's visit, and cannot acknowledge either)
    ("microsoft office", "Microsoft Office"), ("ms-office", "Microsoft Office"), ("msoffice", "Microsoft Office"),
    ("safelinks", "Outlook Safe Links"), ("google-safety", "Google"),
    ("google web preview", "Google"), ("google-pagerenderer", "Google"), ("googlebot", "Google"),
    ("google-inspectiontool", "Google"), ("adsbot-google", "Google"), ("feedfetcher-google", "Google"),
    ("apis-google", "Google"), ("bingpreview", "Bing"), ("bingbot", "Bing"), ("msnbot", "Bing"),
    ("yandex", "Yandex"), ("duckduckbot", "DuckDuckGo"), ("baiduspider", "Baidu"), ("yahoo! slurp", "Yahoo"),
    # security gateways and antivirus proxies
    ("barracuda", "Barracuda"), ("mimecast", "Mimecast"), ("proofpoint", "Proofpoint"),
    ("urldefense", "Proofpoint"), ("symantec", "Symantec"), ("trendmicro", "Trend Micro"),
    ("trend micro", "Trend Micro"), ("mcafee", "McAfee"), ("sophos", "Sophos"), ("fortinet", "Fortinet"),
    ("fortiguard", "Fortinet"), ("zscaler", "Zscaler"), ("forcepoint", "Forcepoint"), ("ironport", "Cisco IronPort"),
    ("check point", "Check Point"), ("checkpoint", "Check Point"), ("kaspersky", "Kaspersky"),
    ("bitdefender", "Bitdefender"), ("paloalto", "Palo Alto Networks"), ("virustotal", "VirusTotal"),
    ("urlscan", "urlscan.io"), ("netcraft", "Netcraft"), ("phishtank", "PhishTank"),
    # headless browsers (sandboxes that render, and sometimes press, whatever a link shows)
    ("headlesschrome", "headless browser"), ("phantomjs", "headless browser"), ("puppeteer", "headless browser"),
    ("playwright", "headless browser"), ("selenium", "headless browser"),
)
# mail image proxies: they fetch every image of a message when it reaches the mailbox (nobody has read it yet)
PROXIES: tuple[tuple[str, str], ...] = (
    ("googleimageproxy", "Gmail image proxy"), ("ggpht.com", "Gmail image proxy"),
    ("yahoomailproxy", "Yahoo image proxy"), ("outlookimageproxy", "Outlook.com image proxy"),
)
APPLE_PRIVACY_PROXY = "Apple Mail Privacy Protection"
CONFIGURED = "configured agent"
_NAMES = frozenset({name for _, name in (*SCANNERS, *PROXIES)} | {APPLE_PRIVACY_PROXY, CONFIGURED,
                                                                  "crawler or previewer"})
# generic marks of crawlers and previewers not named above ("SomethingBot/1.0", "link preview"). "bot" is
# matched in lower case or capitalised only: "CUBOT" is a phone maker, not a crawler
_GENERIC = re.compile(r"[A-Za-z](?:bot|Bot)\b|\b(?:bot|Bot)\b|(?i:crawler|spider|preview|scanner|\bscan\b|validator|"
                      r"monitor)")


def classify(method: str, headers: Mapping[str, str], extra_agents: Sequence[str] = (), *,
             image: bool = False) -> Visit:
    """The visitor behind a request (see the module's rules). ``headers`` with lower-case names (Starlette's
    are); ``extra_agents``: the operator's own scanner marks; ``image``: the request is for an image of a
    message (a mail client showing it), not a link."""
    if method.upper() == "HEAD":
        return Visit(Visitor.PREFETCH, "HEAD")
    for name in _PURPOSE_HEADERS:
        value = headers.get(name, "")
        if value and _PURPOSE.search(value):
            return Visit(Visitor.PREFETCH, f"{name}: {value[:40]}")
    agent = headers.get("user-agent", "").strip()
    if agent == "Mozilla/5.0":
        return Visit(Visitor.PROXY, APPLE_PRIVACY_PROXY)
    lowered = agent.lower()
    for mark, name in PROXIES:
        if mark in lowered:
            return Visit(Visitor.PROXY, name)
    for mark in extra_agents:
        if mark.strip() and mark.strip().lower() in lowered:
            return Visit(Visitor.SCANNER, CONFIGURED)
    if image and "microsoft outlook" in lowered and "discovery" not in lowered:
        return Visit(Visitor.PERSON, "Outlook")
    for mark, name in SCANNERS:
        if mark in lowered:
            return Visit(Visitor.SCANNER, name)
    if _GENERIC.search(agent):
        return Visit(Visitor.SCANNER, "crawler or previewer")
    if not agent:
        return Visit(Visitor.CLIENT, "no User-Agent")
    if not lowered.startswith(("mozilla/", "opera/")):
        return Visit(Visitor.CLIENT, agent.split("/")[0][:40] or "program")
    return Visit(Visitor.PERSON, "browser")


class VisitLog:
    """Which visits were reported lately, so that a scanner opening a link ten times, or a person reloading
    the page, gives one event per ``window_s`` and not one per request. Bounded: the oldest are forgotten."""

    def __init__(self, window_s: float = 600.0, size: int = 10_000) -> None:
        self.window_s = window_s
        self.size = size
        self._seen: OrderedDict[tuple[int, str], float] = OrderedDict()

    def first(self, delivery_id: int, kind: str, now: float) -> bool:
        """Whether this is the first ``kind`` visit of ``delivery_id`` within the window (and remember it)."""
        key = (delivery_id, kind)
        last = self._seen.get(key)
        if last is not None and now - last < self.window_s:
            return False
        self._seen[key] = now
        self._seen.move_to_end(key)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True
