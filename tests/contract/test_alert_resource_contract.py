"""The alert resource's side of the contract: which localized body a recipient gets (the dispatcher renders it and
the resource reports it, so both use ``contract.bodies``), the contact sets a request names (its groups), the new
sendalert and event fields, and the acknowledgement body."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from alertnode.contract.alerts import AcknowledgeRequest, contact_sets
from alertnode.contract.bodies import chosen_body
from alertnode.contract.events import EventRequest
from alertnode.contract.problems import validation_problems
from alertnode.contract.sendalert import SendAlertRequest
from alertnode.jobs.dispatcher import Dispatcher

BODIES = {"de": "Hallo", "fr-FR": "Bonjour", "EN-gb": "Hello there"}


@pytest.mark.parametrize(("bodies", "locale", "content", "key"), [
    (BODIES, "de", True, "de"),                # 1. exactly that locale
    (BODIES, "fr-FR", False, "fr-FR"),
    (BODIES, "de-AT", True, "de"),             # 2. same primary language
    (BODIES, "fr", True, "fr-FR"),
    (BODIES, "en-us", True, "EN-gb"),          # tags compare case-insensitively (RFC 5646 §2.1.1)
    (BODIES, "it", True, None),                # 3. else the content
    (BODIES, None, True, None),
    (BODIES, "it", False, "de"),               # 4. else the first body...
    ({"es": "Hola", "default": "Hi"}, "it", False, "default"),  # ...or the one under "default"
    ({}, "de", True, None),
    ({}, None, False, None),
])
def test_chosen_body(bodies: dict[str, str], locale: str | None, content: bool, key: str | None) -> None:
    assert chosen_body(bodies, locale, content) == key
    # the dispatcher renders by the same rule
    text = Dispatcher._body({"body": bodies} if bodies else {}, b"Content" if content else b"",
                            {"locale": locale} if locale else {})
    assert text == (bodies[key] if key is not None else ("Content" if content else None))


def request(**fields: Any) -> SendAlertRequest:
    body = {"version": "latest", "clientRef": "c", "alert": [{"alertType": "sms", "tag": "t", "content": "x"}]}
    body.update(fields)
    return SendAlertRequest.model_validate(body)


def test_contact_sets_named_in_every_form_once_in_order() -> None:
    req = request(alert=[
        {"alertType": "sms", "tag": "a", "contactSets": ["wardens", "all"]},
        {"alertType": "email", "tag": "b", "contactSetList": ' "firstaid" , wardens,'},
        {"alertType": "call", "tag": "c", "storedContactSetList": "3f0c1f0e-0000-4000-8000-000000000001"},
        {"alertType": "call", "tag": "d", "storedContactSetList": "3f0c1f0e-0000-4000-8000-000000000002"},
        {"alertType": "sms", "tag": "e", "recipients": ["+447700900001"]},
    ])
    stored = {"3f0c1f0e-0000-4000-8000-000000000001": ["managers", "all"]}  # the other one expired
    assert contact_sets(req, stored) == ["wardens", "all", "firstaid", "managers"]


def test_app_data_and_category() -> None:
    req = request(appData="ticket-4711", category="admin")
    assert (req.appData, req.category) == ("ticket-4711", "admin")
    assert (request().appData, request().category) == (None, "user")
    with pytest.raises(ValidationError) as exc:
        request(appData="x" * 4097, category="root")
    assert {p.path for p in validation_problems(exc.value)} == {"appData", "category"}
    assert EventRequest.model_validate({"message": "m", "appData": "run 42"}).appData == "run 42"
    with pytest.raises(ValidationError):
        EventRequest.model_validate({"message": "m", "appData": 7})


def test_acknowledge_request() -> None:
    assert AcknowledgeRequest.model_validate({"contact": "p1", "note": "called in"}).target_fields() == ["contact"]
    assert AcknowledgeRequest.model_validate({}).target_fields() == []
    with pytest.raises(ValidationError) as exc:
        AcknowledgeRequest.model_validate_json('{"deliveryId": 0, "note": "' + "n" * 501 + '", "who": 1}')
    assert {p.path for p in validation_problems(exc.value)} == {"deliveryId", "note", "who"}
