"""The hot-path submit_sm encoder and submit_sm_resp decoder give the same bytes as smpplib."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import smpplib.smpp
from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.sms import pdu


class _Seq:
    sequence = 1

    def next_sequence(self) -> int:
        return 1


def smpplib_submit(seq: int, fields: dict[str, Any]) -> bytes:
    p = smpplib.smpp.make_pdu("submit_sm", client=_Seq(), sequence=seq, **fields)
    p.sequence = seq
    return bytes(p.generate())


digits = st.text(alphabet="0123456789", min_size=1, max_size=20)
byte = st.integers(0, 255)


@st.composite
def submit_fields(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "service_type": draw(st.sampled_from(["", "CMT", "WAP"])),
        "source_addr_ton": draw(st.sampled_from([1, 3, 5])),
        "source_addr_npi": draw(st.sampled_from([0, 1])),
        "source_addr": draw(st.text(alphabet="ABCxyz019 +", max_size=11)),
        "dest_addr_ton": draw(st.integers(0, 6)),
        "dest_addr_npi": draw(st.integers(0, 18)),
        "destination_addr": draw(digits),
        "registered_delivery": draw(st.sampled_from([0, 1])),
        "validity_period": draw(st.sampled_from(["", "261124093000000+"])),
        "data_coding": draw(st.sampled_from([0, 3, 8])),
        "esm_class": draw(st.sampled_from([0, 0x40])),
    }
    if draw(st.booleans()):
        fields["short_message"] = draw(st.binary(min_size=1, max_size=254))
        if draw(st.booleans()):
            fields["sar_msg_ref_num"] = draw(st.integers(0, 65535))
            fields["sar_total_segments"] = draw(st.integers(1, 255))
            fields["sar_segment_seqnum"] = draw(st.integers(1, 255))
    else:
        fields["message_payload"] = draw(st.binary(min_size=1, max_size=260))
    return fields


@settings(deadline=None)  # timing is not what these check; CI machines are busy
@given(submit_fields(), st.integers(1, 0x7FFFFFFF))
def test_submit_sm_bytes_equal_smpplib(fields: dict[str, Any], seq: int) -> None:
    assert pdu.submit_sm(seq, pdu.submit_sm_body(fields)) == smpplib_submit(seq, fields)


@settings(deadline=None)  # timing is not what these check; CI machines are busy
@given(st.text(alphabet="0123456789abcdefABCDEF", max_size=64), st.integers(1, 0x7FFFFFFF))
def test_submit_sm_resp_decoding_matches_smpplib(message_id: str, seq: int) -> None:
    resp = smpplib.smpp.make_pdu("submit_sm_resp", client=_Seq(), message_id=message_id)
    resp.sequence = seq
    raw = bytes(resp.generate())
    assert pdu.header(raw) == (pdu.SUBMIT_SM_RESP, 0, seq)
    assert pdu.submit_sm_resp_id(raw) == message_id


@settings(deadline=None)  # timing is not what these check; CI machines are busy
@given(st.integers(1, 0x7FFFFFFF), st.sampled_from([0, 0x08, 0x64]))
def test_deliver_sm_resp_equals_smpplib(seq: int, status: int) -> None:
    resp = smpplib.smpp.make_pdu("deliver_sm_resp", client=_Seq(), status=status)
    resp.sequence = seq
    assert pdu.deliver_sm_resp(seq, status) == bytes(resp.generate())


def test_error_resp_without_body() -> None:
    raw = pdu.HEADER.pack(16, pdu.SUBMIT_SM_RESP, 0x0B, 7)
    assert pdu.header(raw) == (pdu.SUBMIT_SM_RESP, 0x0B, 7) and pdu.submit_sm_resp_id(raw) == ""


@settings(deadline=None)  # timing is not what these check; CI machines are busy
@given(st.lists(st.binary(max_size=40), max_size=10), st.integers(0, 200))
def test_split_frames_whatever_the_chunking(bodies: list[bytes], cut: int) -> None:
    pdus = [pdu.HEADER.pack(16 + len(b), 0x80000004, 0, i + 1) + b for i, b in enumerate(bodies)]
    stream = b"".join(pdus)
    buf = bytearray()
    got: list[bytes] = []
    for start in range(0, len(stream), max(1, cut)):
        buf += stream[start : start + max(1, cut)]
        got += pdu.split(buf)
    assert got == pdus and not buf


def test_split_refuses_impossible_lengths() -> None:
    with pytest.raises(ValueError):
        pdu.split(bytearray(b"\x00\x00\x00\x05xxxxxxxxxxxx"))


@st.composite
def deliver_fields(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "service_type": draw(st.sampled_from(["", "CMT"])),
        "source_addr_ton": draw(st.integers(0, 6)),
        "source_addr_npi": draw(st.integers(0, 18)),
        "source_addr": draw(digits),
        "dest_addr_ton": draw(st.integers(0, 6)),
        "dest_addr_npi": draw(st.integers(0, 18)),
        "destination_addr": draw(st.text(alphabet="ABC0123", max_size=20)),
        "esm_class": draw(st.sampled_from([0, 0x04, 0x40, 0x44])),
        "data_coding": draw(st.sampled_from([0, 3, 8])),
        "validity_period": draw(st.sampled_from(["", "261124093000000+"])),
    }
    if draw(st.booleans()):
        fields["short_message"] = draw(st.binary(min_size=1, max_size=254))
    else:
        fields["message_payload"] = draw(st.binary(min_size=1, max_size=260))
    if draw(st.booleans()):
        fields["receipted_message_id"] = draw(st.text(alphabet="0123456789abcdef", min_size=1, max_size=64))
        fields["message_state"] = draw(st.integers(1, 8))
    if draw(st.booleans()):
        fields["sar_msg_ref_num"] = draw(st.integers(0, 65535))
        fields["sar_total_segments"] = draw(st.integers(1, 255))
        fields["sar_segment_seqnum"] = draw(st.integers(1, 255))
    return fields


@settings(deadline=None)  # timing is not what these check; CI machines are busy
@given(deliver_fields(), st.integers(1, 0x7FFFFFFF))
def test_deliver_sm_parsing_matches_smpplib(fields: dict[str, Any], seq: int) -> None:
    p = smpplib.smpp.make_pdu("deliver_sm", client=_Seq(), **fields)
    p.sequence = seq
    raw = bytes(p.generate())
    ref = smpplib.smpp.parse_pdu(raw, client=_Seq(), allow_unknown_opt_params=True)
    got = pdu.parse_deliver_sm(raw)
    assert pdu.header(raw) == (pdu.DELIVER_SM, 0, seq)
    assert got.source_addr == ref.source_addr.decode() and got.destination_addr == ref.destination_addr.decode()
    assert (got.source_addr_ton, got.esm_class, got.data_coding) == (
        ref.source_addr_ton,
        ref.esm_class,
        ref.data_coding,
    )
    assert got.short_message == (ref.short_message or b"")
    assert got.message_payload == ref.message_payload
    assert got.message_state == ref.message_state
    assert got.receipted_message_id == (ref.receipted_message_id or None)
    if ref.sar_msg_ref_num is not None:
        assert got.sar == (ref.sar_msg_ref_num, ref.sar_total_segments, ref.sar_segment_seqnum)
    else:
        assert got.sar is None


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_deliver_sm_parser_only_raises_value_error(body: bytes) -> None:
    raw = pdu.HEADER.pack(16 + len(body), pdu.DELIVER_SM, 0, 1) + body
    with contextlib.suppress(ValueError):
        pdu.parse_deliver_sm(raw)
