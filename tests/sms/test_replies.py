"""Replies: reassembly and keywords per link, and the ranking that gives a reply to one delivery."""

from __future__ import annotations

from alertnode.sms import gsm, replies
from alertnode.sms.pdu import DeliverSm
from alertnode.sms.replies import Recent, rank


def mo(text: bytes, *, esm: int = 0, dcs: int = 0, sar: tuple[int, int, int] | None = None,
       src: str = "447700900001", ton: int = 1, payload: bytes | None = None) -> DeliverSm:
    return DeliverSm(ton, src, "447700100100", esm, dcs, text, payload, None, None, sar)


def book(**charsets: gsm.Charset) -> replies.Replies:
    return replies.Replies(charsets or {"a": gsm.Charset.GSM}, timeout=300.0)


def test_a_single_reply_with_its_keyword_and_detail() -> None:
    [reply] = book().feed("a", 10.0, mo(gsm.gsm_encode("OK, on my way")))
    assert reply.ack is True
    assert reply.detail() == {
        "text": "OK, on my way",
        "ack": True,
        "declined": False,
        "from": "+447700900001",
        "to": "447700100100",
        "link": "a",
        "parts": 1,
        "complete": True,
    }
    [no] = book().feed("a", 10.0, mo(b"", payload=gsm.gsm_encode("no thanks"), ton=0))
    assert no.ack is False and no.detail()["declined"] is True and no.message.source == "447700900001"


def test_udh_and_sar_parts_are_joined_per_link_and_incomplete_ones_come_out_after_the_time_out() -> None:
    r = book(a=gsm.Charset.GSM, b=gsm.Charset.LATIN1)
    first = bytes([5, 0, 3, 7, 2, 1]) + gsm.gsm_encode("Yes, ")
    second = bytes([5, 0, 3, 7, 2, 2]) + gsm.gsm_encode("coming")
    assert r.feed("a", 1.0, mo(first, esm=gsm.ESM_UDHI)) == []
    assert r.feed("b", 1.5, mo(second, esm=gsm.ESM_UDHI)) == []  # another link: another reassembly
    [joined] = r.feed("a", 2.0, mo(second, esm=gsm.ESM_UDHI))
    assert joined.message.text == "Yes, coming" and joined.message.parts == 2 and joined.ack is True
    assert r.feed("a", 3.0, mo(b"late", sar=(9, 2, 1))) == []
    assert r.expire(301.0) == []
    [orphan] = r.expire(301.5)  # 300 s after its first part came
    [lost] = r.expire(303.0)
    assert (orphan.message.link, orphan.message.text) == ("b", "coming")
    assert (lost.message.link, lost.message.text) == ("a", "late")
    assert not lost.message.complete and lost.detail()["complete"] is False


def test_a_link_not_configured_still_gets_its_replies() -> None:
    [reply] = book().feed("z", 1.0, mo(gsm.gsm_encode("1")))
    assert reply.ack is True and reply.message.link == "z"


def test_numbers_are_looked_up_with_and_without_plus() -> None:
    assert replies.numbers("+447700900001") == ["+447700900001"]
    assert replies.numbers("447700900001") == ["447700900001", "+447700900001"]
    assert replies.numbers("IT-DESK") == ["IT-DESK"]


def test_the_most_recent_delivery_wins_when_sent_from_the_address_replied_to() -> None:
    assert rank("447700100100", Recent(5, "+447700100100"), 3) == 5
    assert rank("+447700100100", Recent(5, "447700100100"), 3) == 5  # '+' does not matter


def test_the_most_recent_delivery_wins_when_its_sender_is_not_known() -> None:
    assert rank("447700100100", Recent(5, None), 3) == 5


def test_a_reply_to_another_desk_goes_to_the_alert_that_desk_sent() -> None:
    assert rank("447700100101", Recent(5, "+447700100102"), 3) == 3


def test_otherwise_the_most_recent_delivery_and_without_one_the_reply_is_unsolicited() -> None:
    assert rank("447700100101", Recent(5, "+447700100102"), None) == 5
    assert rank("447700100101", None, 3) == 3
    assert rank("447700100101", None, None) is None
