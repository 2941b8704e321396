"""ivrControl's rules, all in the contract model: types and ranges (pydantic), the rest across fields
(``IvrControl.problems``, reported by the expansion with the item's other problems)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from alertnode.contract.sendalert import IvrControl


def problems(**raw: Any) -> dict[str, str]:
    return {p.path: p.message for p in IvrControl.model_validate(raw).problems("alert[0].ivrControl")}


def test_types_and_ranges_are_the_models() -> None:
    for raw in ({"ivrType": "fancy"}, {"ivrAttempts": 0}, {"ivrAttempts": 11}, {"ivrRequireFullPlay": "yes"},
                {"ivrAmOkDigits": "x"}, {"ivrAmOkDigits": ""}, {"ivrSayAgainDigits": 1}, {"ivrOther": True}):
        with pytest.raises(ValidationError):
            IvrControl.model_validate(raw)


def test_defaults_and_good_options_have_no_problem() -> None:
    assert problems() == {}
    assert problems(ivrType="simple", ivrAttempts=3, ivrRequireFullPlay=True, ivrRequireResponse=True) == {}
    assert problems(ivrType="replay", ivrAmOkDigits="23", ivrAmNotOkDigits="9#", ivrDigitsStopPlay=True) == {}
    # a client (or an events route) dumping the whole model gives every default: not a problem
    assert problems(**IvrControl(ivrType="replay").model_dump()) == {}
    assert problems(**IvrControl().model_dump()) == {}


def test_an_option_of_the_other_ivr_with_a_value_of_its_own_is_a_problem() -> None:
    assert problems(ivrType="replay", ivrRequireResponse=True) == {
        "alert[0].ivrControl.ivrRequireResponse": "not an option of the replay IVR"
    }
    assert problems(ivrAmOkDigits="3", ivrDigitsStopPlay=True) == {
        "alert[0].ivrControl.ivrAmOkDigits": "not an option of the simple IVR",
        "alert[0].ivrControl.ivrDigitsStopPlay": "not an option of the simple IVR",
    }


def test_replay_digit_sets_share_no_key() -> None:
    assert problems(ivrType="replay", ivrAmOkDigits="1") == {
        "alert[0].ivrControl.ivrAmOkDigits": "digit '1' is also in ivrSayAgainDigits"
    }
    assert problems(ivrType="replay", ivrAmNotOkDigits="2a", ivrAmOkDigits="A") == {
        "alert[0].ivrControl.ivrAmNotOkDigits": "digit 'A' is also in ivrAmOkDigits"  # case-insensitive
    }
    assert problems(ivrType="replay", ivrSayAgainDigits="11") == {
        "alert[0].ivrControl.ivrSayAgainDigits": "digit '1' is also in ivrSayAgainDigits"
    }
    # '*' alone is "any other key", not a key of its own
    assert problems(ivrType="replay", ivrSayAgainDigits="*") == {}
    assert problems(ivrType="replay", ivrSayAgainDigits="*", ivrAmNotOkDigits="*9") == {
        "alert[0].ivrControl.ivrAmNotOkDigits": "digit '*' is also in ivrSayAgainDigits"
    }
