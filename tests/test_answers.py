"""The shared answer classifier (node/answers.py): the SMS parser's rules, now for every text channel."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.answers import ReplyParser


def test_first_word_decides() -> None:
    p = ReplyParser()
    for text in ("1", "yes", "YES!", " ok ", "OK.", "Ack", "ack please", "Yés", "👍 yes", "y", "Confirmed"):
        assert p.parse(text) is True, text
    for text in ("2", "no", "NO!", "nack", "Decline", "No, sorry, I am abroad", "n"):
        assert p.parse(text) is False, text
    for text in ("", "   ", "who is this", "11", "yesterday", "🚒", "I am safe", "Nobody is here"):
        assert p.parse(text) is None, text


def test_custom_lists_and_several_words() -> None:
    custom = ReplyParser(["oui", "ja", "on my way"], ["non", "nein"])
    assert custom.parse("On my way!") is True
    assert custom.parse("JA") is True and custom.parse("Nein danke") is False
    assert custom.parse("yes") is None
    # a list entry written with punctuation or odd spacing still means its words
    assert ReplyParser(["O.K.", "  roger  that "], []).parse("roger, that") is True


@settings(deadline=None)  # timing is not what this checks; CI machines are busy
@given(st.text(max_size=300))
def test_never_raises(text: str) -> None:
    assert ReplyParser().parse(text) in (True, False, None)
