"""MO reassembly and the reply-keyword parser (pure)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.answers import ReplyParser
from alertnode.sms import gsm, mo


def part(body: bytes, concat: mo.Concat | None, at: float = 0.0, dcs: int = 0, src: str = "+4477") -> mo.MoPart:
    return mo.MoPart(src, "12345", dcs, body, concat, at)


def test_udh8_and_udh16_headers() -> None:
    c, body = mo.split_udh(bytes([5, 0, 3, 9, 2, 1]) + b"hi")
    assert c == mo.Concat(9, 2, 1) and body == b"hi"
    c, body = mo.split_udh(bytes([6, 8, 4, 1, 2, 3, 3]) + b"x")
    assert c == mo.Concat(0x0102, 3, 3) and body == b"x"
    # other information elements are skipped (here a port addressing IE before the concat one)
    c, body = mo.split_udh(bytes([11, 5, 4, 0, 1, 0, 2, 0, 3, 7, 2, 2]) + b"z")
    assert c == mo.Concat(7, 2, 2) and body == b"z"
    assert mo.split_udh(b"") == (None, b"")


def test_reassembly_out_of_order_and_per_sender() -> None:
    r = mo.Reassembler(gsm.Charset.GSM)
    assert r.feed(part(b"world", mo.Concat(1, 2, 2))) == []
    assert r.feed(part(b"other", mo.Concat(1, 2, 1), src="+99")) == []  # same ref, another sender
    [m] = r.feed(part(b"hello ", mo.Concat(1, 2, 1)))
    assert m.text == "hello world" and m.parts == 2 and m.complete


def test_duplicate_part_is_ignored() -> None:
    r = mo.Reassembler(gsm.Charset.GSM)
    r.feed(part(b"a", mo.Concat(5, 2, 1)))
    assert r.feed(part(b"a", mo.Concat(5, 2, 1))) == []
    assert [m.text for m in r.feed(part(b"b", mo.Concat(5, 2, 2)))] == ["ab"]


def test_incomplete_message_is_handed_out_after_the_timeout() -> None:
    r = mo.Reassembler(gsm.Charset.GSM, timeout=60)
    r.feed(part(b"first half", mo.Concat(3, 2, 1), at=0.0))
    assert r.expire(59.0) == []
    [m] = r.expire(60.0)
    assert m.text == "first half" and not m.complete


def test_ucs2_pair_cut_by_the_sender_still_decodes() -> None:
    raw = "ok 😀".encode("utf-16-be")
    r = mo.Reassembler(gsm.Charset.GSM)
    r.feed(part(raw[:7], mo.Concat(4, 2, 1), dcs=8))
    [m] = r.feed(part(raw[7:], mo.Concat(4, 2, 2), dcs=8))
    assert m.text == "ok 😀"


def test_dcs_0_latin1_link() -> None:
    r = mo.Reassembler(gsm.Charset.LATIN1)
    [m] = r.feed(part("Grüße".encode("latin-1"), None))
    assert m.text == "Grüße"


def test_reply_parser() -> None:
    p = ReplyParser()
    for text in ("1", "yes", "YES!", " ok ", "OK.", "Ack", "ack please", "Yés", "👍 yes", "y", "Confirmed"):
        assert p.parse(text) is True, text
    for text in ("2", "no", "NO!", "nack", "Decline"):
        assert p.parse(text) is False, text
    for text in ("", "   ", "who is this", "11", "yesterday", "🚒"):
        assert p.parse(text) is None, text
    custom = ReplyParser(["oui", "ja", "on my way"], ["non"])
    assert custom.parse("On my way!") is True and custom.parse("JA") is True and custom.parse("yes") is None


@settings(deadline=None)  # timing is not what these check; CI machines are busy
@given(st.text(max_size=300))
def test_reply_parser_never_raises(text: str) -> None:
    assert ReplyParser().parse(text) in (True, False, None)


@settings(deadline=None)  # timing is not what these check; CI machines are busy
@given(st.binary(max_size=300))
def test_udh_parser_never_raises(data: bytes) -> None:
    mo.split_udh(data)
