"""submit_sm parts put together and decoded for the sandbox phone (pure)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.sandbox.texts import (
    HELD,
    TLV_MESSAGE_PAYLOAD,
    TLV_SAR_MSG_REF_NUM,
    TLV_SAR_SEGMENT_SEQNUM,
    TLV_SAR_TOTAL_SEGMENTS,
    Assembler,
    Part,
    links,
    segment,
)
from alertnode.sms import gsm


def part(sm: bytes, *, esm: int = 0, dcs: int = 0, tlvs: dict[int, bytes] | None = None, status: int = 0,
         mid: str = "1", dst: str = "447700900123") -> Part:
    return Part(1.0, "ALERTS", dst, dcs, esm, sm, tlvs or {}, status, mid)


def node_parts(text: str, concat: gsm.Concat, ref: int = 7) -> list[Part]:
    """The parts the node's own SMS planner makes of ``text`` (Latin-1 for data_coding 0, as in the sandbox)."""
    plan = gsm.plan(text, charset=gsm.Charset.LATIN1, dcs=0, concat=concat)
    out = []
    for i, seg in enumerate(gsm.frame(plan, concat, ref)):
        tlvs: dict[int, bytes] = {}
        if seg.sar is not None:
            tlvs = {TLV_SAR_MSG_REF_NUM: seg.sar[0].to_bytes(2, "big"), TLV_SAR_TOTAL_SEGMENTS: bytes([seg.sar[1]]),
                    TLV_SAR_SEGMENT_SEQNUM: bytes([seg.sar[2]])}
        if seg.payload is not None:
            tlvs = {TLV_MESSAGE_PAYLOAD: seg.payload}
        out.append(part(seg.short_message, esm=seg.esm_class, dcs=plan.data_coding, tlvs=tlvs, mid=str(i + 1)))
    return out


def test_a_single_text() -> None:
    text = Assembler().feed(part(b"Boiler 3 pressure high"))
    assert text is not None
    assert (text.text, text.parts, text.status, text.message_ids) == ("Boiler 3 pressure high", 1, "accepted", ("1",))


def test_ucs2_and_latin1() -> None:
    assert Assembler().feed(part("Grüße 😀".encode("utf-16-be"), dcs=8)).text == "Grüße 😀"  # type: ignore[union-attr]
    assert Assembler().feed(part("café".encode("latin-1"), dcs=3)).text == "café"  # type: ignore[union-attr]


def test_udh8_parts_in_any_order_make_one_text() -> None:
    body = "x" * 150 + "END" + "y" * 160
    parts = node_parts(body, gsm.Concat.UDH8)
    assert len(parts) == 3
    assembler = Assembler()
    random.Random(3).shuffle(parts)
    got = [assembler.feed(p) for p in parts]
    assert got[:2] == [None, None]
    assert got[2] is not None and got[2].text == body and got[2].parts == 3
    assert sorted(got[2].message_ids) == ["1", "2", "3"]
    assert assembler.pending() == 0


def test_udh16_sar_and_payload() -> None:
    body = "Fire drill " * 40
    for concat in (gsm.Concat.UDH16, gsm.Concat.SAR, gsm.Concat.PAYLOAD):
        assembler = Assembler()
        results = [assembler.feed(p) for p in node_parts(body, concat)]
        assert results[-1] is not None and results[-1].text == body, concat


def test_a_surrogate_pair_split_between_parts_survives() -> None:
    raw = ("a" * 66 + "😀" + "b" * 10).encode("utf-16-be")  # the emoji's two units fall in parts 1 and 2
    parts = [part(bytes([5, 0, 3, 9, 2, i + 1]) + raw[i * 134 : (i + 1) * 134], esm=0x40, dcs=8) for i in range(2)]
    assembler = Assembler()
    assert assembler.feed(parts[0]) is None
    assert assembler.feed(parts[1]).text == "a" * 66 + "😀" + "b" * 10  # type: ignore[union-attr]


def test_parts_of_different_texts_are_kept_apart() -> None:
    a = node_parts("A" * 200, gsm.Concat.UDH8, ref=1)
    b = node_parts("B" * 200, gsm.Concat.UDH8, ref=2)
    assembler = Assembler()
    assert [assembler.feed(p) for p in (a[0], b[0])] == [None, None]
    assert assembler.feed(b[1]).text == "B" * 200  # type: ignore[union-attr]
    assert assembler.feed(a[1]).text == "A" * 200  # type: ignore[union-attr]


def test_status_of_a_text() -> None:
    assert Assembler().feed(part(b"x", status=0x0B)).status == "rejected"  # type: ignore[union-attr]
    assert Assembler().feed(part(b"x", status=HELD)).status == "held"  # type: ignore[union-attr]
    parts = node_parts("z" * 200, gsm.Concat.UDH8)
    assembler = Assembler()
    assembler.feed(parts[0])
    late = Part(**{**parts[1].__dict__, "status": 0x58})
    got = assembler.feed(late)
    assert got is not None and got.status == "rejected" and got.smpp_status == 0x58


def test_segment_reads_each_form() -> None:
    assert segment(part(bytes([5, 0, 3, 200, 3, 2]) + b"hi", esm=0x40)) == (200, 3, 2, b"hi")
    assert segment(part(bytes([6, 8, 4, 1, 2, 4, 3]) + b"hi", esm=0x40)) == (258, 4, 3, b"hi")
    sar = {TLV_SAR_MSG_REF_NUM: b"\x00\x05", TLV_SAR_TOTAL_SEGMENTS: b"\x02", TLV_SAR_SEGMENT_SEQNUM: b"\x01"}
    assert segment(part(b"hi", tlvs=sar)) == (5, 2, 1, b"hi")
    assert segment(part(b"", tlvs={TLV_MESSAGE_PAYLOAD: b"long"})) is None
    # a UDH with another element first (IEI 0x0A, text formatting), then the concatenation element
    assert segment(part(bytes([9, 0x0A, 2, 0, 0, 0, 3, 1, 2, 1]) + b"x", esm=0x40)) == (1, 2, 1, b"x")


def test_links() -> None:
    assert links("Confirm: http://127.0.0.1:8081/s/AbC_d-1. Or https://x.example/a?b=1, thanks") == [
        "http://127.0.0.1:8081/s/AbC_d-1", "https://x.example/a?b=1"]
    assert links("no link here") == []


@settings(deadline=None)  # timing is not what this checks; CI machines are busy
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=600),
       st.sampled_from(list(gsm.Concat)), st.randoms(use_true_random=False))
def test_whatever_the_node_sends_reads_back(text: str, concat: gsm.Concat, rnd: random.Random) -> None:
    parts = node_parts(text, concat)
    rnd.shuffle(parts)
    assembler = Assembler()
    results = [assembler.feed(p) for p in parts]
    assert all(r is None for r in results[:-1])
    assert results[-1] is not None and results[-1].text == text
