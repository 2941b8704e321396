"""Rich alert items (livelike-alerts.txt "Alert Variations"): text only, image only, text and image, and a link
with its label, as each channel can carry them. Pure: no I/O.

The variation is chosen by the fields given: ``content`` (the text), ``image_url``, ``link_url`` and
``link_label``. Per channel:

* email: the text, the image inline (a ``cid:`` part of the message, fetched once when the alert was accepted,
  never hot-linked) and the link as a button; a text/plain alternative carries the text and the link.
* sms: the text, then a per-recipient short link to a page on the public listener (``/m/{token}``) that shows
  the text, the image and the link, with a button to acknowledge.
* call: the text is read; the image and the link are not used (a call item needs its text).

Rules (each refusal at its JSON path): ``link_label`` only with ``link_url``; URLs are http(s) with a host and
no credentials; an image-only item (no content) is an sms or email item; an email item with an image or a link
is built by the node, so it cannot be ``emailBodyIsMultipart`` and its content type is text/plain; the
per-alert ``trackOpens`` (email) cannot go into a multipart body the client wrote either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alertnode.contract.sendalert import AlertItem
from alertnode.errors import Problem
from alertnode.jobs.images import link_problem, url_problem

RICH_FIELDS = ("image_url", "link_url", "link_label")
IMAGE_ONLY_TYPES = frozenset({"sms", "email"})
DEFAULT_LINK_LABEL = "Open link"


def image_only_allowed(item: AlertItem) -> bool:
    """Whether the item may go without content: an sms or email item with an image."""
    return item.image_url is not None and item.alertType in IMAGE_ONLY_TYPES


def item_problems(item: AlertItem, path: str) -> list[Problem]:
    """The rules across the rich fields of one item (the module docstring), each at its JSON path."""
    out: list[Problem] = []
    if item.link_label is not None and item.link_url is None:
        out.append(Problem(f"{path}.link_label", "only used with link_url"))
    if item.image_url is not None:
        problem = url_problem(item.image_url)
        if problem is not None:
            out.append(Problem(f"{path}.image_url", problem))
    if item.link_url is not None:
        problem = link_problem(item.link_url)
        if problem is not None:
            out.append(Problem(f"{path}.link_url", problem))
    rich = item.image_url is not None or item.link_url is not None
    if item.alertType == "email":
        if rich and item.emailBodyIsMultipart:
            out.append(Problem(f"{path}.emailBodyIsMultipart", "not with image_url or link_url: the node builds "
                                                               "the multipart message (text, HTML, inline image)"))
        ctype = (item.emailBodyContentType or "text/plain").split(";")[0].strip().lower()
        if rich and ctype != "text/plain":
            out.append(Problem(f"{path}.emailBodyContentType", "must be text/plain (or left out) with image_url or "
                                                               "link_url: the node writes the HTML part"))
        if item.trackOpens and item.emailBodyIsMultipart:
            out.append(Problem(f"{path}.trackOpens", "the tracking image cannot be put into a multipart body the "
                                                     "client wrote (emailBodyIsMultipart)"))
    return out


def has_rich(params: Mapping[str, Any]) -> bool:
    return bool(params.get("image_url") or params.get("link_url"))


def page_url(base_url: str, token: str) -> str:
    """The recipient's page of a rich SMS on the public listener."""
    return f"{base_url}/m/{token}"


def pixel_url(base_url: str, token: str) -> str:
    """The recipient's tracking image of an e-mail on the public listener."""
    return f"{base_url}/o/{token}.gif"


def sms_text(text: str | None, page: str) -> str:
    """An SMS of a rich item: its text, then the page's link on a line of its own (the link alone for an
    image-only item)."""
    body = (text or "").rstrip()
    return f"{body}\n{page}" if body else page


def tracks_opens(params: Mapping[str, Any], default: bool) -> bool:
    """Whether an e-mail carries a tracking image: the item's ``trackOpens``, else ``content.track_opens``; never
    for a multipart body the client wrote."""
    if params.get("emailBodyIsMultipart") is True:
        return False
    value = params.get("trackOpens")
    return default if value is None else bool(value)


def link_label(params: Mapping[str, Any]) -> str:
    return str(params.get("link_label") or DEFAULT_LINK_LABEL)
