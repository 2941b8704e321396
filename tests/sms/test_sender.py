"""Sender and recipient addresses (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.sms import sender
from alertnode.sms.sender import Address


def test_sender_kinds() -> None:
    assert sender.parse_sender("+447777100100") == Address(1, 1, "447777100100")
    assert sender.parse_sender("447777100100") == Address(1, 1, "447777100100")
    assert sender.parse_sender("80222") == Address(3, 0, "80222")
    assert sender.parse_sender("ALERTS") == Address(5, 0, "ALERTS")
    assert sender.parse_sender("Fire Dept.") == Address(5, 0, "Fire Dept.")
    assert sender.parse_sender("Städtisch") == Address(5, 0, "Städtisch")  # ä is GSM


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "empty"),
        ("ABCDEFGHIJKL", "11"),
        ("ABCDEFGHIJ€", "11"),  # € is two septets
        ("Łódź", "GSM"),
        ("+12", "E.164"),
        ("+1234567890123456", "E.164"),
        ("12", "E.164"),
    ],
)
def test_invalid_senders(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sender.parse_sender(value)


def test_recipients() -> None:
    assert sender.parse_recipient("+44 7700-900001", 0, 0) == Address(1, 1, "447700900001")
    assert sender.parse_recipient("07700900001", 2, 1) == Address(2, 1, "07700900001")
    with pytest.raises(ValueError):
        sender.parse_recipient("+44abc", 1, 1)
    assert sender.to_e164("447700900001", 1) == "+447700900001"
    assert sender.to_e164("80222", 3) == "80222"
    assert sender.mask("+447700900001") == "**********001"


@settings(deadline=None)  # timing is not what these check; CI machines are busy
@given(st.text(max_size=30))
def test_sender_parser_only_raises_value_error(value: str) -> None:
    try:
        addr = sender.parse_sender(value)
    except ValueError:
        return
    assert addr.ton in (1, 3, 5) and addr.addr


def test_short_codes_up_to_eight_digits_like_the_api() -> None:
    assert sender.parse_sender("12345678") == Address(3, 0, "12345678")
    assert sender.parse_sender("123456789") == Address(1, 1, "123456789")  # longer: an E.164 number without '+'
