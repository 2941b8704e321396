"""The alert resource's side of the contract (alert-resource.txt): the groups an alert went to, and the body of
an operator's acknowledgement on behalf of a recipient. Pure.

Groups are named ``set:<contact set>`` (the contact sets a sendalert item names) and ``route:<route>`` (the
events route that opened the alert); the two name spaces cannot collide, and both fit in a URL path segment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import Field

from alertnode.contract.sendalert import SendAlertRequest, Strict

SET_PREFIX = "set:"
ROUTE_PREFIX = "route:"


def set_group(name: str) -> str:
    return SET_PREFIX + name


def route_group(name: str) -> str:
    return ROUTE_PREFIX + name


def contact_sets(req: SendAlertRequest, stored_lists: Mapping[str, Iterable[str]]) -> list[str]:
    """The contact sets the request's items name, in order of first mention, each once: ``contactSets``,
    ``contactSetList`` (a comma list, as the reference writes it) and ``storedContactSetList`` (its uuid looked
    up in ``stored_lists``; a uuid missing there names nothing)."""
    found: dict[str, None] = {}
    for item in req.alert:
        names: list[str] = list(item.contactSets or [])
        if item.contactSetList is not None:
            names.extend(part.strip().strip('"').strip() for part in item.contactSetList.split(","))
        if item.storedContactSetList is not None:
            names.extend(str(n).strip() for n in stored_lists.get(item.storedContactSetList, ()))
        for name in names:
            if name:
                found.setdefault(name, None)
    return list(found)


class AcknowledgeRequest(Strict):
    """Body of ``POST /api/json/alerts/{alertRef}/acknowledge``: whom the operator answers for (exactly one of
    ``deliveryId``, ``contact``, ``recipient``) and an optional note kept with the event."""

    apiKey: str | None = Field(None, min_length=1, max_length=256)
    deliveryId: int | None = Field(None, ge=1, le=2**63 - 1, description="One delivery (`deliveryId` of the "
                                   "resource's recipients and of events).")
    contact: str | None = Field(None, min_length=1, max_length=128,
                                description="Every delivery of the alert to this contact id.")
    recipient: str | None = Field(None, min_length=1, max_length=320,
                                  description="Every delivery of the alert to this address (E.164 or e-mail).")
    note: str | None = Field(None, max_length=500, description="What the operator wants on record (e.g. who "
                             "called in); kept with the event, encrypted at rest.")

    def target_fields(self) -> list[str]:
        return [name for name in ("deliveryId", "contact", "recipient") if getattr(self, name) is not None]
