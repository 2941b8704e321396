"""After an attempt: outcome in, next step out."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.domain import DeliveryState
from alertnode.mail.sending import Accepted, Refused, Report, Wait, next_step

BACKOFF = (2.0, 10.0)
TEMPORARY = Refused("451 4.3.0 Try later", "smarthost refused the message", permanent=False)
PERMANENT = Refused("550 5.1.1 No such user", "recipient refused", permanent=True)


def test_accepted_is_sent_with_the_reply_and_message_id_and_final_when_no_dsn_is_awaited() -> None:
    step = next_step(Accepted("250 2.0.0 Ok: queued as X", "<t.a1@d>"), 1, BACKOFF, 300.0)
    assert step == Report(
        "sent",
        DeliveryState.SENT,
        {"smtp_reply": "250 2.0.0 Ok: queued as X", "messageId": "<t.a1@d>", "tries": 1},
        final=True,  # nothing more will tell whether it arrived
    )


def test_accepted_with_a_success_dsn_asked_for_is_sent_but_not_final() -> None:
    step = next_step(Accepted("250 2.0.0 Ok", "<t.a1@d>", awaiting_dsn=True), 1, BACKOFF, 300.0)
    assert isinstance(step, Report) and step.kind == "sent" and step.state is DeliveryState.SENT
    assert not step.final and step.detail["dsnRequested"] is True  # the DSN or its time-out is


def test_permanent_refusal_fails_at_once() -> None:
    step = next_step(PERMANENT, 1, BACKOFF, 300.0)
    assert isinstance(step, Report)
    assert (step.kind, step.state, step.final, step.retry_after) == ("failed", DeliveryState.FAILED, True, None)
    assert step.detail["smtp_reply"] == "550 5.1.1 No such user"


def test_temporary_refusals_wait_then_go_back_to_the_dispatcher() -> None:
    assert next_step(TEMPORARY, 1, BACKOFF, 300.0) == Wait(2.0)
    assert next_step(TEMPORARY, 2, BACKOFF, 300.0) == Wait(10.0)
    step = next_step(TEMPORARY, 3, BACKOFF, 300.0)
    assert isinstance(step, Report)
    assert (step.kind, step.state, step.retry_after) == ("retry", None, 300.0)
    assert step.detail == {"smtp_reply": "451 4.3.0 Try later", "error": "smarthost refused the message", "tries": 3}


def test_stopping_hands_back_instead_of_waiting() -> None:
    step = next_step(TEMPORARY, 1, BACKOFF, 60.0, stopping=True)
    assert isinstance(step, Report) and step.retry_after == 60.0


def test_no_backoff_means_straight_back_to_the_dispatcher() -> None:
    assert isinstance(next_step(TEMPORARY, 1, (), 60.0), Report)


@settings(deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e6), max_size=6), st.booleans())
def test_tries_are_bounded_by_the_backoff(backoff: list[float], permanent: bool) -> None:
    outcome = Refused("4xx", "e", permanent=permanent)
    waits = 0
    tries = 1
    while isinstance(step := next_step(outcome, tries, backoff, 1.0), Wait):
        waits += 1
        tries += 1
    assert waits == (0 if permanent else len(backoff))
    assert step.state is (DeliveryState.FAILED if permanent else None)
