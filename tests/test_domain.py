"""The alert lifecycle of the domain, pure: when a delivery holds its alert open, the alert's status, and
what a user may do to an alert in each stored status."""

from __future__ import annotations

import pytest

from alertnode.domain import (
    ALERT_COMMANDS,
    DELIVERY_CLOSURE,
    STATE_RANK,
    AlertCommand,
    AlertStatus,
    Closure,
    DeliveryState,
    alert_command,
    alert_status,
    delivery_open,
    is_published,
)

S = DeliveryState

# (what the recipient's delivery is doing, its state, whether its channel reported its final event, open?)
DELIVERIES = [
    ("queued, never tried", S.QUEUED, False, True),
    ("in progress (handed to its channel)", S.IN_PROGRESS, False, True),
    ("calling (no state of its own)", S.IN_PROGRESS, False, True),
    ("ringing (no state of its own)", S.IN_PROGRESS, False, True),
    ("answered, the call still up waiting for a key", S.ANSWERED, False, True),
    ("answered, the call over (completed reported)", S.ANSWERED, True, False),
    ("sent, its delivery receipt or DSN awaited", S.SENT, False, True),
    ("sent, nothing awaited (sent is final)", S.SENT, True, False),
    ("sent, then its receipt time-out (unconfirmed)", S.UNCONFIRMED, True, False),
    ("delivered (receipt)", S.DELIVERED, False, False),
    ("delivered, final", S.DELIVERED, True, False),
    ("responded (reply, key, click)", S.RESPONDED, False, False),
    ("responded, call completed", S.RESPONDED, True, False),
    ("failed", S.FAILED, True, False),
    ("expired", S.EXPIRED, True, False),
    ("retry pending: queued again after an attempt", S.QUEUED, False, True),
]


@pytest.mark.parametrize(("what", "state", "final", "is_open"), DELIVERIES, ids=[d[0] for d in DELIVERIES])
def test_when_a_delivery_holds_its_alert_open(what: str, state: DeliveryState, final: bool, is_open: bool) -> None:
    assert delivery_open(state, final) is is_open


def test_every_delivery_state_has_a_closure_and_queued_work_is_always_open() -> None:
    assert set(DELIVERY_CLOSURE) == set(DeliveryState)
    for state in DeliveryState:
        if DELIVERY_CLOSURE[state] is Closure.OPEN:
            assert delivery_open(state, True) and delivery_open(state, False)
        if DELIVERY_CLOSURE[state] is Closure.CLOSED:
            assert not delivery_open(state, True) and not delivery_open(state, False)


def test_sent_waits_for_its_final_event_and_a_late_receipt_still_tells() -> None:
    assert DELIVERY_CLOSURE[S.SENT] is Closure.UNTIL_FINAL
    assert delivery_open(S.SENT, False) and not delivery_open(S.SENT, True)
    # a receipt that comes after the time-out moves unconfirmed to delivered or failed; nothing moves back
    assert STATE_RANK[S.SENT] < STATE_RANK[S.UNCONFIRMED] == STATE_RANK[S.DELIVERED] < STATE_RANK[S.FAILED]


@pytest.mark.parametrize(("stored", "published", "any_open", "status"), [
    (AlertStatus.RUNNING, True, True, AlertStatus.RUNNING),
    (AlertStatus.RUNNING, True, False, AlertStatus.COMPLETED),
    (AlertStatus.RUNNING, False, True, AlertStatus.SCHEDULED),
    (AlertStatus.RUNNING, False, False, AlertStatus.SCHEDULED),
    (AlertStatus.SCHEDULED, False, True, AlertStatus.SCHEDULED),
    (AlertStatus.SCHEDULED, True, False, AlertStatus.COMPLETED),
    (AlertStatus.ON_HOLD, True, True, AlertStatus.ON_HOLD),
    (AlertStatus.ON_HOLD, False, False, AlertStatus.ON_HOLD),
    (AlertStatus.CANCELLED, True, True, AlertStatus.CANCELLED),
    (AlertStatus.CANCELLED, False, False, AlertStatus.CANCELLED),
])
def test_alert_status(stored: AlertStatus, published: bool, any_open: bool, status: AlertStatus) -> None:
    assert alert_status(stored, published, any_open) is status


def test_published() -> None:
    assert not is_published(None, 10.0)
    assert not is_published(10.5, 10.0)
    assert is_published(10.0, 10.0) and is_published(0.0, 10.0)


def test_an_alert_with_a_call_still_up_is_running_until_the_call_reports_its_end() -> None:
    up = [delivery_open(S.DELIVERED, False), delivery_open(S.ANSWERED, False)]
    assert alert_status(AlertStatus.RUNNING, True, any(up)) is AlertStatus.RUNNING
    over = [delivery_open(S.DELIVERED, False), delivery_open(S.ANSWERED, True)]
    assert alert_status(AlertStatus.RUNNING, True, any(over)) is AlertStatus.COMPLETED


@pytest.mark.parametrize(("stored", "command", "after"), [
    (AlertStatus.RUNNING, AlertCommand.HOLD, AlertStatus.ON_HOLD),
    (AlertStatus.ON_HOLD, AlertCommand.HOLD, None),
    (AlertStatus.CANCELLED, AlertCommand.HOLD, None),
    (AlertStatus.ON_HOLD, AlertCommand.RESUME, AlertStatus.RUNNING),
    (AlertStatus.RUNNING, AlertCommand.RESUME, None),
    (AlertStatus.RUNNING, AlertCommand.PUBLISH, AlertStatus.RUNNING),
    (AlertStatus.ON_HOLD, AlertCommand.PUBLISH, AlertStatus.RUNNING),
    (AlertStatus.CANCELLED, AlertCommand.PUBLISH, None),
    (AlertStatus.RUNNING, AlertCommand.CANCEL, AlertStatus.CANCELLED),
    (AlertStatus.ON_HOLD, AlertCommand.CANCEL, AlertStatus.CANCELLED),
    (AlertStatus.CANCELLED, AlertCommand.CANCEL, AlertStatus.CANCELLED),
])
def test_alert_commands(stored: AlertStatus, command: AlertCommand, after: AlertStatus | None) -> None:
    assert alert_command(stored, command) is after


def test_completed_is_never_stored() -> None:
    assert all(AlertStatus.COMPLETED not in pair and after is not AlertStatus.COMPLETED
               for pair, after in ALERT_COMMANDS.items())
