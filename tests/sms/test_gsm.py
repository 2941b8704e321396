"""GSM 03.38 / UCS-2 encoding and splitting (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.sms import gsm, mo

GSM_CHARS = [c for c in gsm.GSM_BASIC if c != "\x1b"] + list(gsm.GSM_EXTENSION)
gsm_text = st.text(alphabet=st.sampled_from(GSM_CHARS), max_size=800)
any_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400)


def test_tables() -> None:
    assert len(gsm.GSM_BASIC) == 128 and gsm.GSM_BASIC[0x1B] == "\x1b"
    assert gsm.gsm_encode("@£$€") == bytes([0x00, 0x01, 0x02, 0x1B, 0x65])
    assert gsm.septet_length("a€[") == 5
    assert gsm.septet_length("a😀") is None


@settings(deadline=None)  # timing is not what these check; CI machines are busy
@given(gsm_text)
def test_gsm_round_trip(text: str) -> None:
    assert gsm.gsm_decode(gsm.gsm_encode(text)) == text


@settings(deadline=None)  # timing is not what these check; CI machines are busy
@given(gsm_text)
def test_gsm_split_never_cuts_an_escape(text: str) -> None:
    p = gsm.plan(text, charset=gsm.Charset.GSM, dcs=0, concat=gsm.Concat.UDH8)
    assert "".join(p.chunks) == text
    limit = 160 if p.segments == 1 else 153
    for chunk in p.chunks:
        body = gsm.gsm_encode(chunk)
        assert len(body) <= limit
        assert gsm.gsm_decode(body) == chunk  # a part decodes alone: no half escape at either end


@settings(deadline=None)  # timing is not what these check; CI machines are busy
@given(any_text)
def test_ucs2_split_never_cuts_a_surrogate_pair(text: str) -> None:
    p = gsm.plan(text, charset=gsm.Charset.GSM, dcs=0, concat=gsm.Concat.UDH8, force_ucs2=True)
    assert p.data_coding == gsm.DCS_UCS2
    assert "".join(p.chunks) == text
    limit = 140 if p.segments == 1 else 134
    for chunk in p.chunks:
        body = chunk.encode("utf-16-be")
        assert len(body) <= limit
        assert body.decode("utf-16-be") == chunk


@settings(deadline=None)  # timing is not what these check; CI machines are busy
@given(any_text, st.sampled_from(list(gsm.Concat)), st.integers(0, 65535))
def test_frame_then_reassemble(text: str, concat: gsm.Concat, ref: int) -> None:
    p = gsm.plan(text, charset=gsm.Charset.GSM, dcs=0, concat=concat)
    segments = gsm.frame(p, concat, ref)
    r = mo.Reassembler(gsm.Charset.GSM)
    out: list[mo.MoMessage] = []
    for seg in reversed(segments):  # out of order on purpose
        body = seg.payload if seg.payload is not None else seg.short_message
        concat_info = None
        if seg.esm_class & gsm.ESM_UDHI:
            concat_info, body = mo.split_udh(body)
        elif seg.sar is not None:
            concat_info = mo.Concat(*seg.sar)
        out += r.feed(mo.MoPart("+1", "2", p.data_coding, body, concat_info, 0.0))
    assert [m.text for m in out] == [text]


def test_170_chars_with_euro_at_the_boundary() -> None:
    text = "a" * 152 + "€" + "b" * 17
    p = gsm.plan(text, charset=gsm.Charset.GSM, dcs=0, concat=gsm.Concat.UDH8)
    assert p.chunks == ("a" * 152, "€" + "b" * 17)
    segs = gsm.frame(p, gsm.Concat.UDH8, 7)
    assert segs[0].short_message[:6] == bytes([5, 0, 3, 7, 2, 1])
    assert segs[1].short_message[:8] == bytes([5, 0, 3, 7, 2, 2, 0x1B, 0x65])


def test_sizes_per_concatenation() -> None:
    text = "x" * 161
    assert [len(c) for c in gsm.plan(text, charset=gsm.Charset.GSM, dcs=0, concat=gsm.Concat.UDH8).chunks] == [
        153,
        8,
    ]
    assert [len(c) for c in gsm.plan(text, charset=gsm.Charset.GSM, dcs=0, concat=gsm.Concat.UDH16).chunks] == [
        152,
        9,
    ]
    emoji = "😀" * 36  # 72 code units
    assert [len(c) for c in gsm.plan(emoji, charset=gsm.Charset.GSM, dcs=0, concat=gsm.Concat.UDH8).chunks] == [
        33,
        3,
    ]  # 67 units is odd: the pair that would straddle goes whole into part 2
    assert gsm.plan("x" * 160, charset=gsm.Charset.GSM, dcs=0, concat=gsm.Concat.UDH8).segments == 1
    assert gsm.plan("é" * 70, charset=gsm.Charset.GSM, dcs=0, concat=gsm.Concat.UDH8).segments == 1


def test_udh16_and_sar_framing() -> None:
    p = gsm.plan("y" * 200, charset=gsm.Charset.GSM, dcs=0, concat=gsm.Concat.UDH16)
    seg = gsm.frame(p, gsm.Concat.UDH16, 0x1234)[1]
    assert seg.short_message[:7] == bytes([6, 8, 4, 0x12, 0x34, 2, 2]) and seg.esm_class == 0x40
    p = gsm.plan("y" * 200, charset=gsm.Charset.GSM, dcs=0, concat=gsm.Concat.SAR)
    segs = gsm.frame(p, gsm.Concat.SAR, 300)
    assert [s.sar for s in segs] == [(300, 2, 1), (300, 2, 2)] and segs[0].esm_class == 0
    p = gsm.plan("y" * 200, charset=gsm.Charset.GSM, dcs=0, concat=gsm.Concat.PAYLOAD)
    [seg] = gsm.frame(p, gsm.Concat.PAYLOAD, 0)
    assert seg.short_message == b"" and seg.payload == b"y" * 200


def test_latin1_charset_and_fallbacks() -> None:
    p = gsm.plan("Grüße", charset=gsm.Charset.LATIN1, dcs=3, concat=gsm.Concat.UDH8)
    assert p.data_coding == 3 and p.encode(p.chunks[0]) == "Grüße".encode("latin-1")
    # € is GSM but not Latin-1: on a Latin-1 link the text goes as UCS-2
    assert gsm.plan("5 €", charset=gsm.Charset.LATIN1, dcs=3, concat=gsm.Concat.UDH8).data_coding == 8
    # ß is Latin-1 and GSM; Ω is GSM only
    assert gsm.plan("Ω", charset=gsm.Charset.GSM, dcs=0, concat=gsm.Concat.UDH8).data_coding == 0
    assert gsm.plan("Ω", charset=gsm.Charset.LATIN1, dcs=3, concat=gsm.Concat.UDH8).data_coding == 8
    assert gsm.plan("ą", charset=gsm.Charset.GSM, dcs=0, concat=gsm.Concat.UDH8).data_coding == 8


def test_too_long_is_refused() -> None:
    with pytest.raises(ValueError, match="segments"):
        gsm.plan("x" * 153 * 256, charset=gsm.Charset.GSM, dcs=0, concat=gsm.Concat.UDH8)


def test_decode_data_codings() -> None:
    assert gsm.decode(b"\x00\x1b\x65", 0, gsm.Charset.GSM) == "@€"
    assert gsm.decode("é".encode("latin-1"), 0, gsm.Charset.LATIN1) == "é"
    assert gsm.decode("é".encode("latin-1"), 3, gsm.Charset.GSM) == "é"
    assert gsm.decode("😀".encode("utf-16-be"), 8, gsm.Charset.GSM) == "😀"
    assert gsm.decode(b"\x1b", 0, gsm.Charset.GSM) == ""


def test_validity_period_is_the_alert_expiry_in_smpp_absolute_form() -> None:
    from alertnode.sms.channel import validity_period

    # 2026-11-23 19:00:00 UTC
    assert validity_period(1795460400.0, 1795450000.0, 0) == "261123190000000+"
    assert validity_period(None, 1795450000.0, 0) == ""
    assert validity_period(1795460400.0, 1795450000.0, 600) == "261123161640000+"  # capped at now + 600 s
