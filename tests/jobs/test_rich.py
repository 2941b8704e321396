"""Rich alert items (jobs/rich.py): the variations' rules at their JSON paths (through expand.plan, as the
intake runs them), the SMS text, and whether an e-mail is tracked."""

from __future__ import annotations

from typing import Any

import pytest

from alertnode.contract.sendalert import SendAlertRequest
from alertnode.jobs import expand, rich

IMG = "https://cdn.example.com/boiler.png"


def problems(*items: dict[str, Any]) -> dict[str, str]:
    req = SendAlertRequest.model_validate({"version": "latest", "clientRef": "r", "alert": list(items)})
    _, found = expand.plan(req, expand.Resolved(), now=0.0, max_recipients=10, unique_limit=10,
                              default_lifetime="7d")
    return {p.path: p.message for p in found}


def sms(**fields: Any) -> dict[str, Any]:
    return {"alertType": "sms", "tag": "s", "sender": "ALERTS", "recipients": ["+447700900123"], **fields}


def email(**fields: Any) -> dict[str, Any]:
    return {"alertType": "email", "tag": "e", "recipients": ["a@example.com"], **fields}


def call(**fields: Any) -> dict[str, Any]:
    return {"alertType": "call", "tag": "c", "sender": "+441632960000", "recipients": ["+447700900123"],
            "voiceFormat": "tts", **fields}


def test_the_four_variations_are_accepted() -> None:
    assert problems(sms(content="Text only")) == {}
    assert problems(sms(image_url=IMG), email(image_url=IMG)) == {}           # image only
    assert problems(sms(content="Text", image_url=IMG), email(content="Text", image_url=IMG)) == {}
    assert problems(email(content="Text", link_url="https://x.example/a", link_label="Open the runbook"),
                    sms(content="Text", link_url="https://x.example/a")) == {}
    # a call reads the text; the image and the link are not used
    assert problems(call(content="Read me", image_url=IMG, link_url="https://x.example/a")) == {}


def test_refusals_name_their_paths() -> None:
    found = problems(
        sms(content="x", link_label="Go"),
        email(content="x", image_url="https://u:p@cdn.example.com/a.png"),
        email(image_url=IMG, emailBodyIsMultipart=True, multipartBoundary="b1",
              emailBodyContentType="multipart/mixed"),
        email(content="<p>x</p>", link_url="https://x.example", emailBodyContentType="text/html"),
        call(image_url=IMG),
        {"alertType": "inboundCall", "tag": "i", "telephoneNumber": "+441632960000", "image_url": IMG},
        sms(content="x", trackOpens=True),
    )
    assert found["alert[0].link_label"] == "only used with link_url"
    assert "user name or password" in found["alert[1].image_url"]
    assert found["alert[2].emailBodyIsMultipart"].startswith("not with image_url or link_url")
    assert found["alert[3].emailBodyContentType"].startswith("must be text/plain")
    assert found["alert[4]"] == "content or storedContent is mandatory"     # a call needs its text
    assert found["alert[5].image_url"] == "not a field of alertType inboundCall"
    assert found["alert[6].trackOpens"] == "not a field of alertType sms"


def test_contract_refuses_malformed_urls() -> None:
    with pytest.raises(Exception, match="image_url"):
        SendAlertRequest.model_validate({"version": "latest", "clientRef": "r",
                                         "alert": [sms(image_url="not a url")]})


def test_tracked_multipart_is_refused_and_tracking_follows_the_item() -> None:
    found = problems(email(content="--b1\n\nx\n--b1--\n", emailBodyIsMultipart=True, multipartBoundary="b1",
                           emailBodyContentType="multipart/mixed", trackOpens=True))
    assert found == {"alert[0].trackOpens": "the tracking image cannot be put into a multipart body the client "
                                            "wrote (emailBodyIsMultipart)"}
    assert rich.tracks_opens({}, False) is False and rich.tracks_opens({}, True) is True
    assert rich.tracks_opens({"trackOpens": False}, True) is False
    assert rich.tracks_opens({"trackOpens": True}, False) is True
    assert rich.tracks_opens({"emailBodyIsMultipart": True}, True) is False


def test_sms_text_and_urls() -> None:
    page = rich.page_url("https://alerts.example.com", "tok123456")
    assert page == "https://alerts.example.com/m/tok123456"
    assert rich.sms_text("Boiler 3 pressure high.\n", page) == f"Boiler 3 pressure high.\n{page}"
    assert rich.sms_text(None, page) == page and rich.sms_text("", page) == page
    assert rich.pixel_url("http://h", "t") == "http://h/o/t.gif"
    assert rich.link_label({"link_url": "x"}) == "Open link" and rich.link_label({"link_label": "Runbook"}) == "Runbook"
