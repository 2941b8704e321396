"""Delivery receipt parsing and message-id matching (pure)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.sms import receipts
from alertnode.sms.receipts import Outcome

TEXT = b"id:1a2B sub:001 dlvrd:001 submit date:2611231900 done date:2611231901 stat:DELIVRD err:000 text:Hello"


def test_text_form() -> None:
    rc = receipts.parse(TEXT, None, None)
    assert rc == receipts.Receipt("1a2B", "DELIVRD", Outcome.DELIVERED, "000", "2611231901")
    fields = receipts.parse_text(TEXT.decode())
    assert fields["submit date"] == "2611231900" and fields["text"] == "Hello"


def test_tlvs_win_over_text() -> None:
    rc = receipts.parse(b"id:999 stat:DELIVRD err:000", b"abc\0", 5)
    assert rc is not None and rc.message_id == "abc" and rc.stat == "UNDELIV" and rc.outcome is Outcome.FAILED


def test_only_tlvs() -> None:
    rc = receipts.parse(b"", "77", 2)
    assert rc is not None and rc.outcome is Outcome.DELIVERED


def test_states_and_tolerance() -> None:
    assert receipts.parse(b"ID:5 Stat:expired err:003", None, None).outcome is Outcome.FAILED  # type: ignore[union-attr]
    assert receipts.parse(b"id:5 stat:ACCEPTD", None, None).outcome is Outcome.PENDING  # type: ignore[union-attr]
    assert receipts.parse(b"id:5 stat:ENROUTE", None, None).outcome is Outcome.PENDING  # type: ignore[union-attr]
    assert receipts.parse(b"id:5 stat:REJECTD", None, None).outcome is Outcome.FAILED  # type: ignore[union-attr]
    assert receipts.parse(b"stat:DELIVRD", None, None) is None
    assert receipts.parse(b"garbage \xff\xfe", None, None) is None


def test_receipt_bit() -> None:
    assert receipts.is_receipt(0x04) and receipts.is_receipt(0x44)
    assert not receipts.is_receipt(0x00) and not receipts.is_receipt(0x40) and not receipts.is_receipt(0x08)


def test_id_candidates() -> None:
    assert receipts.id_candidates("000A1") == ["a1", "161"]
    assert receipts.id_candidates("26") == ["26", "1a", "38"]
    assert receipts.id_candidates("26", "decimal") == ["1a"]
    assert receipts.id_candidates("1a", "hex") == ["26"]
    assert receipts.id_candidates("26", "same") == ["26"]
    assert receipts.id_candidates("msg-7") == ["msg-7"]


@settings(deadline=None)  # timing is not what these check; CI machines are busy
@given(st.integers(min_value=0, max_value=2**64))
def test_hex_and_decimal_forms_meet(n: int) -> None:
    submitted_hex = receipts.normalize_id(format(n, "X"))
    submitted_dec = receipts.normalize_id(str(n))
    assert submitted_hex in receipts.id_candidates(str(n))  # receipt decimal, submit hex
    assert submitted_dec in receipts.id_candidates(format(n, "x"))  # receipt hex, submit decimal
    assert receipts.id_candidates(str(n), "decimal") == [submitted_hex]


@settings(deadline=None)  # timing is not what these check; CI machines are busy
@given(st.text(max_size=200))
def test_parser_never_raises(body: str) -> None:
    receipts.parse(body.encode("utf-8", "surrogatepass"), None, None)
