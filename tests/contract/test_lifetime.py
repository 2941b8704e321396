import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertnode.contract.lifetime import LifetimeError, parse_iso_duration, parse_lifetime


@pytest.mark.parametrize(("text", "seconds"), [
    ("1s", 1), ("90m", 5400), ("12h", 43200), ("7d", 604800), ("2w", 1209600), ("1M", 2592000),
])
def test_lifetimes(text: str, seconds: float) -> None:
    assert parse_lifetime(text) == seconds


@pytest.mark.parametrize("text", ["0d", "0s", "0M"])
def test_zero_means_never(text: str) -> None:
    assert parse_lifetime(text) is None


@pytest.mark.parametrize("text", ["", "d", "7", "7D", "7 d", "-1d", "1.5h", "1y", "7dd", "١d"])
def test_bad_lifetimes(text: str) -> None:
    with pytest.raises(LifetimeError):
        parse_lifetime(text)


@pytest.mark.parametrize(("text", "seconds"), [
    ("P0DT0S", 0), ("PT15M", 900), ("P1DT2H", 93600), ("PT0.5S", 0.5), ("P1W", 604800), ("PT1H30M5S", 5405),
])
def test_iso_durations(text: str, seconds: float) -> None:
    assert parse_iso_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "P", "PT", "15M", "P1Y", "P1M", "PT-1S", "P1DT", "pt15m"])
def test_bad_iso_durations(text: str) -> None:
    with pytest.raises(LifetimeError):
        parse_iso_duration(text)


@given(st.integers(min_value=1, max_value=999_999), st.sampled_from("Mwdhms"))
def test_any_count_and_unit(count: int, unit: str) -> None:
    value = parse_lifetime(f"{count}{unit}")
    assert value is not None and value >= count


def test_lifetime_error_is_in_the_node_error_tree_and_reported_at_its_json_path() -> None:
    from pydantic import ValidationError

    from alertnode.contract.sendalert import SendAlertRequest
    from alertnode.errors import NodeError

    with pytest.raises(LifetimeError) as caught:
        parse_lifetime("7y")
    assert isinstance(caught.value, NodeError)
    body = {"version": "latest", "clientRef": "x", "lifetime": "7y",
            "alert": [{"alertType": "sms", "tag": "t", "sender": "A", "recipients": ["+447700900123"], "content": "c"}]}
    with pytest.raises(ValidationError) as refused:
        SendAlertRequest.model_validate(body)
    [error] = refused.value.errors()
    assert error["loc"] == ("lifetime",) and "is not a lifetime" in error["msg"]
