"""Which localized body a recipient gets (sendalert's ``body``), so that the dispatcher that renders it and the
alert resource that reports ``body.<locale>`` (alert-resource.txt) agree. Pure.

Rules, in order, for a recipient whose contact has the ``locale`` lookup (an RFC 5646 tag):

1. the body under exactly that locale;
2. else the first body with the same primary language subtag (``de-AT`` gets ``de`` or ``de-DE``), compared
   case-insensitively (RFC 5646 §2.1.1: tags are case-insensitive);
3. else the item's content, when it has one;
4. else the body under ``default``, else the first body given.

A recipient without a ``locale`` starts at rule 3.
"""

from __future__ import annotations

from collections.abc import Mapping

UNDETERMINED = "und"
"""The locale the resource reports for an item's content, whose language the sender did not name (RFC 5646
§4.1: ``und``, ISO 639-2's "undetermined")."""


def chosen_body(bodies: Mapping[str, str], locale: str | None, has_content: bool) -> str | None:
    """The key of ``bodies`` the recipient gets, or None when it gets the item's content (or, with neither
    bodies nor content, nothing)."""
    if bodies and locale:
        if locale in bodies:
            return locale
        lang = locale.split("-")[0].lower()
        for key in bodies:
            if key.split("-")[0].lower() == lang:
                return key
    if has_content or not bodies:
        return None
    return "default" if "default" in bodies else next(iter(bodies))
