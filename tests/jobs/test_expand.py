"""Recipient expansion and address normalisation (pure)."""

from __future__ import annotations

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.contract.sendalert import SendAlertRequest
from alertnode.jobs import expand


def slow_e164(raw: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@settings(max_examples=3000)
@given(st.text(alphabet="0123456789", min_size=6, max_size=15).filter(lambda d: d[0] != "0"))
def test_fast_e164_path_agrees_with_libphonenumber(digits: str) -> None:
    number = "+" + digits
    fast, slow = expand.normalize_phone(number), slow_e164(number)
    if slow == number:
        assert fast == number
    elif slow is None:
        assert fast is None
    else:
        # libphonenumber strips a trunk prefix written after the country code; the fast path does not
        # rewrite numbers, it accepts them verbatim only if their length is plausible
        assert fast in (None, number)


def test_formatted_numbers_are_normalised() -> None:
    assert expand.normalize_phone("+44 7700 900123") == "+447700900123"
    assert expand.normalize_phone("+1 (415) 555-2671") == "+14155552671"
    assert expand.normalize_phone("07700900123") is None
    assert expand.normalize_phone("+999123456") is None


def plan(body: dict, resolved: expand.Resolved | None = None) -> tuple[expand.Plan, list]:  # type: ignore[type-arg]
    req = SendAlertRequest.model_validate(body)
    if resolved is None:
        group = req.contactGroup.inlineContactGroup if req.contactGroup else None
        resolved = expand.Resolved(contact_group=group)
    return expand.plan(req, resolved, now=0.0, max_recipients=1000, unique_limit=500, default_lifetime="7d")


GROUP = {"name": "g", "contacts": [
    {"id": "a", "sms": "+447700900201", "email": "a@example.com", "lookups": {"firstname": "Ann"}},
    {"id": "b", "sms": "+447700900202"},
    {"id": "c", "sms": "+447700900203", "email": "c@example.com"},
], "sets": [{"name": "ab", "ids": ["a", "b"]}]}


def test_all_forms_expand_and_duplicates_go_once() -> None:
    body = {"version": "latest", "clientRef": "x", "contactGroup": {"inlineContactGroup": GROUP},
            "alert": [{"alertType": "sms", "tag": "t", "content": "hi", "sender": "ALERTS",
                       "recipients": ["+447700900201", "+447700900999"], "recipientList": "+447700900999",
                       "contacts": ["a"], "contactList": "b", "contactSets": ["ab"], "contactSetList": "all"}]}
    result, problems = plan(body)
    assert problems == []
    item = result.items[0]
    assert sorted(r.address for r in item.recipients) == ["+447700900201", "+447700900202", "+447700900203",
                                                           "+447700900999"]
    assert item.requested == 2 + 1 + 1 + 1 + 2 + 3
    assert next(r for r in item.recipients if r.address == "+447700900201").contact_id is None  # first form wins


def test_previously_seen_skips_contacts_but_not_plain_recipients() -> None:
    body = {"version": "latest", "clientRef": "x", "linkedAlerts": {"linkRef": "l"},
            "alert": [{"alertType": "sms", "tag": "t", "content": "hi", "sender": "ALERTS",
                       "recipients": ["+447700900201"], "contactSets": ["all"],
                       "linkedAlertModifiers": {"except": {"previouslySeen": "email,shortlink"}}}]}
    from alertnode.contract.sendalert import ContactGroup

    resolved = expand.Resolved(contact_group=ContactGroup.model_validate(GROUP), linked=True,
                               responded={"a": frozenset({"email"}), "b": frozenset({"sms"})})
    result, problems = plan(body, resolved)
    assert problems == []
    item = result.items[0]
    assert {(r.address, r.contact_id) for r in item.recipients} == {
        ("+447700900201", None), ("+447700900202", "b"), ("+447700900203", "c")}
    assert item.skipped == 1


def test_contact_lookups_known_to_the_lookup_check() -> None:
    body = {"version": "latest", "clientRef": "x", "contactGroup": {"inlineContactGroup": GROUP},
            "alert": [{"alertType": "email", "tag": "t", "content": "Hi {firstname}", "contactSets": ["all"],
                       "lookups": {"performLookups": True}}]}
    _, problems = plan(body)
    assert [(p.path, p.message) for p in problems] == [("alert[0].contactSets[0]", "contact 'b' has no email address")]
    body["alert"][0]["contactSets"] = ["ab"]
    body["alert"][0]["contacts"] = ["a"]
    body["alert"][0]["content"] = "Hi {surname}"
    _, problems = plan(body)
    assert [p.path for p in problems] == ["alert[0].content", "alert[0].contactSets[0]"]


AUDIO_CALL = {"alertType": "call", "tag": "c", "sender": "+447700900001", "recipients": ["+447700900123"],
              "voiceFormat": "mp3", "content": "SUQz", "contentEncoding": "base64",
              "tts": {"language": "de-DE", "gender": "MALE"}}


def test_a_tts_block_with_recorded_audio_is_ignored_with_a_warning() -> None:
    """The reference: the tts block is used if voiceFormat is tts; with mp3/wav/aiff it is accepted, not used."""
    result, problems = plan({"version": "latest", "clientRef": "r", "alert": [AUDIO_CALL]})
    assert problems == []
    (item,) = result.items
    assert "tts" not in item.params
    assert [(w.path, w.message) for w in result.warnings] == [
        ("alert[0].tts", "ignored: the tts block is only used with voiceFormat tts")]


def test_the_content_fault_is_reported_not_the_tts_block() -> None:
    _, problems = plan({"version": "latest", "clientRef": "r",
                        "alert": [{**AUDIO_CALL, "contentEncoding": "utf8"}]})
    assert [p.path for p in problems] == ["alert[0].contentEncoding"]


def test_a_replay_ivr_may_leave_out_its_prompts_and_gets_the_stock_ones() -> None:
    """The reference asks for pre, post and done; a node has stock prompts (audio/) for those left out, so an
    alert without them is taken (before: 400 at alert[0].additionalContent)."""
    call = {"alertType": "call", "tag": "c", "content": "Fire in hall 2", "voiceFormat": "tts",
            "sender": "+447700900001", "recipients": ["+447700900123"],
            "ivrControl": {"ivrType": "replay", "ivrAnsweringMachine": "voicemail"}}
    result, problems = plan({"version": "latest", "clientRef": "r", "alert": [call]})
    assert problems == []
    assert result.items[0].params["ivrControl"]["ivrAnsweringMachine"] == "voicemail"
    done = {"contentTag": "done", "content": "Thanks", "contentEncoding": "utf8", "voiceFormat": "tts"}
    _, problems = plan({"version": "latest", "clientRef": "r", "alert": [{**call, "additionalContent": [done]}]})
    assert problems == []
    _, problems = plan({"version": "latest", "clientRef": "r",
                        "alert": [{**call, "additionalContent": [{**done, "contentTag": "intro"}]}]})
    assert [p.path for p in problems] == ["alert[0].additionalContent[0].contentTag"]
