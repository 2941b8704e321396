"""The tracker's receipt rules, event in, actions out: which ``sent`` is final, the receipt time-out (with
the alert's lifetime as its cap, across a restart), settled messages taken back for a later attempt, and
answers bound to their connection."""

from __future__ import annotations

from alertnode.domain import DeliveryState
from alertnode.sms import receipts
from alertnode.sms import tracker as tr
from alertnode.sms.status import ESME_ROK
from tests.sms.test_tracker import DEST, of, receipt, reports, submit

AWAIT = tr.LinkRules("auto", 10.0, receipts=True, receipt_timeout_s=600.0)
NO_RECEIPTS = tr.LinkRules("auto", 10.0, receipts=False)


def tracker(rules: tr.LinkRules = AWAIT) -> tr.Tracker:
    return tr.Tracker(tr.TrackerConfig(retry_after_s=42.0, links={"a": rules}))


def sent(t: tr.Tracker, did: int, at: float = 1.0, ids: tuple[str, ...] = ("1",), **kw: object) -> list[tr.Action]:
    pids = submit(t, did, parts=len(ids), now=at, **kw)  # type: ignore[arg-type]
    acts: list[tr.Action] = []
    for pid, mid in zip(pids, ids, strict=True):
        acts += t.handle(tr.Acked(pid, mid, "a", at), at)
    return acts


def test_without_receipts_sent_is_final_and_the_message_is_forgotten() -> None:
    t = tracker(NO_RECEIPTS)
    acts = sent(t, 1, ids=("0A",))
    [store] = of(acts, tr.StoreAck)
    assert store.message.state == "done" and store.message.receipt_due_at is None
    [report] = of(acts, tr.Report)
    assert report.event.kind == "sent" and report.event.final and report.event.detail["message_ids"] == ["0A"]
    assert t.open_messages == 0 and t.awaiting == 0 and t.deadline() is None
    # a receipt the SMSC sends all the same is looked up in the store
    assert t.lookup_ids("a", receipts.Receipt("a", "DELIVRD", receipts.Outcome.DELIVERED)) == ("a", "10")


def test_with_receipts_sent_is_not_final_and_the_receipt_time_out_ends_the_delivery_unconfirmed() -> None:
    t = tracker()
    acts = sent(t, 1, at=1.0, ids=("00C0FFEE",))
    assert of(acts, tr.StoreAck)[0].message.receipt_due_at == 601.0
    assert not of(acts, tr.Report)[0].event.final
    assert t.awaiting == 1 and t.deadline() == 601.0
    assert t.handle(tr.Tick(), 600.9) == []
    acts = t.handle(tr.Tick(), 601.0)
    assert acts[0] == tr.StoreState(1, "unconfirmed")  # stored before it is reported
    [report] = of(acts, tr.Report)
    event = report.event
    assert (event.kind, event.state, event.final, event.at) == ("unconfirmed", DeliveryState.UNCONFIRMED, True, 601.0)
    assert event.detail["message_ids"] == ["00C0FFEE"] and event.detail["receipt_timeout_s"] == 600.0
    assert t.open_messages == 0 and t.awaiting == 0 and t.deadline() is None and t.timed_out == 1
    # a receipt after the time-out is the store's business (answered, nothing reported by the tracker)
    assert t.lookup_ids("a", receipts.Receipt("c0ffee", "DELIVRD", receipts.Outcome.DELIVERED)) != ()


def test_a_receipt_before_the_time_out_settles_it_and_no_time_out_follows() -> None:
    t = tracker()
    sent(t, 1, at=1.0, ids=("7",))
    assert reports(t.handle(receipt("7", at=5.0), 5.0)) == [(1, "delivered")]
    assert t.deadline() is None
    assert t.handle(tr.Tick(), 10_000.0) == []


def test_a_message_partly_delivered_at_its_time_out_is_unconfirmed_with_what_came() -> None:
    t = tracker()
    sent(t, 1, at=1.0, ids=("1", "2"))
    assert reports(t.handle(receipt("1", at=5.0), 5.0)) == []
    [report] = of(t.handle(tr.Tick(), 601.0), tr.Report)
    assert report.event.kind == "unconfirmed" and report.event.detail["delivered_parts"] == 1


def test_the_alerts_lifetime_caps_the_wait_and_leaves_the_final_event_to_the_store() -> None:
    t = tracker()
    sent(t, 1, at=1.0, expires_at=100.0)
    assert t.deadline() == 100.0  # the lifetime ends before the time-out
    assert t.handle(tr.Tick(), 100.0) == []  # the store's expiry is the final event
    assert t.open_messages == 0 and t.awaiting == 0 and t.deadline() is None


def test_many_waiting_messages_time_out_in_order_and_the_queue_of_times_stays_small() -> None:
    t = tracker()
    for did in range(1, 3001):
        sent(t, did, at=float(did), ids=(f"{did:x}",))
        if did > 1:  # every message but the first gets its receipt at once
            t.handle(receipt(f"{did:x}", at=float(did)), float(did))
    assert t.awaiting == 1 and len(t._due) < 3000  # compacted as settled entries pile up
    assert t.deadline() == 601.0
    assert reports(t.handle(tr.Tick(), 602.0)) == [(1, "unconfirmed")]


def test_after_a_restart_a_message_past_its_time_out_ends_at_the_first_tick() -> None:
    t = tracker()
    rows = [
        tr.MessageRow(1, "a", DEST, "ALERTS", 1, None, "sent", 100.0, None, 700.0),  # due before the restart
        tr.MessageRow(2, "a", DEST, "ALERTS", 1, None, "sent", 100.0, None, 5000.0),
        tr.MessageRow(3, "a", DEST, "ALERTS", 1, None, "sent", 100.0, None, None),  # written before time-outs
    ]
    parts = [tr.PartRow(1, 1, "a1", "acked", 100.0, "0A1"), tr.PartRow(2, 1, "b1", "acked"),
             tr.PartRow(3, 1, "c1", "acked")]
    assert t.restore(rows, parts, {}, 1000.0) == 3
    assert t.awaiting == 3 and t.deadline() == 700.0
    acts = t.handle(tr.Tick(), 1000.0)
    assert reports(acts) == [(1, "unconfirmed")]
    assert of(acts, tr.Report)[0].event.detail["message_ids"] == ["0A1"]  # as the SMSC wrote it
    assert t.deadline() == 1600.0  # message 3's time-out starts at the restart
    assert reports(t.handle(tr.Tick(), 5000.0)) == [(3, "unconfirmed"), (2, "unconfirmed")]


def test_a_later_attempt_of_a_settled_message_reports_its_outcome_again_and_sends_nothing() -> None:
    t = tracker()
    for did, state, kind, expected in (
        (1, "done", "sent", DeliveryState.SENT),
        (2, "delivered", "delivered", DeliveryState.DELIVERED),
        (3, "unconfirmed", "unconfirmed", DeliveryState.UNCONFIRMED),
    ):
        row = tr.MessageRow(did, "a", DEST, "ALERTS", 1, None, state, 1.0, None)
        t.adopt(row, [tr.PartRow(did, 1, f"{did}", "acked")], 2.0)
        acts = t.handle(tr.Submit(did, "a", DEST, "ALERTS", None, ((b"x", 1),), None), 3.0)
        assert not of(acts, tr.Enqueue)
        [report] = of(acts, tr.Report)
        assert (report.event.kind, report.event.state, report.event.final) == (kind, expected, True)
        assert report.event.detail["resumed"] is True
    assert t.open_messages == 0


def test_answers_carry_the_connection_their_receipt_came_on() -> None:
    t = tracker()
    [pid] = submit(t, 1)
    held = tr.ReceiptIn("a", "receiver", 6, 1.0, receipts.parse(b"id:2a stat:DELIVRD", None, None), False, 3)
    assert t.handle(held, 1.0) == []  # held for its ack
    acts = t.handle(tr.Acked(pid, "2A", "a", 2.0), 2.0)
    assert of(acts, tr.Answer) == [tr.Answer("a", "receiver", 6, ESME_ROK, 3)]
    pending = tr.ReceiptIn("a", "transceiver", 7, 3.0, receipts.parse(b"id:9 stat:ENROUTE", None, None), False, 4)
    assert t.handle(pending, 3.0) == [tr.Answer("a", "transceiver", 7, ESME_ROK, 4)]


def test_a_receipt_after_the_time_out_still_tells() -> None:
    t = tracker()
    late = receipts.parse(b"id:0a stat:DELIVRD err:000", None, None)
    one_part = tr.ReceiptIn("a", "transceiver", 8, 700.0, late, True, 2, tr.Unconfirmed(1, 1, 1))
    acts = t.handle(one_part, 700.0)
    assert acts[0] == tr.StoreReceipt(tr.ReceiptUpdate(1, 1, "delivered", "DELIVRD", "000", "delivered"))
    [report] = of(acts, tr.Report)
    assert (report.event.kind, report.event.state, report.event.final) == ("delivered", DeliveryState.DELIVERED, True)
    assert report.event.detail["late"] is True and acts[-1] == tr.Answer("a", "transceiver", 8, ESME_ROK, 2)
    # one part of two delivered late proves nothing about the other
    two_parts = tr.ReceiptIn("a", "transceiver", 9, 700.0, late, True, 2, tr.Unconfirmed(2, 1, 2))
    acts = t.handle(two_parts, 700.0)
    assert reports(acts) == [] and of(acts, tr.StoreReceipt)[0].update.message_state is None
    failed = receipts.parse(b"id:0b stat:UNDELIV err:001", None, None)
    acts = t.handle(tr.ReceiptIn("a", "transceiver", 10, 700.0, failed, True, 2, tr.Unconfirmed(2, 2, 2)), 700.0)
    assert reports(acts) == [(2, "failed")] and of(acts, tr.Report)[0].event.final
