"""The message tracker, event in, actions out (no sockets, no store)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.domain import DeliveryState
from alertnode.sms import receipts
from alertnode.sms import tracker as tr
from alertnode.sms.status import ESME_RINVDSTADR, ESME_RINVEXPIRY, ESME_ROK, ESME_RSYSERR, ESME_RTHROTTLED
from alertnode.sms.tracking import DEFAULT_RECEIPT_TIMEOUT_S

DEST = "ix-447700900001"


def of(actions: list[tr.Action], kind: type) -> list[Any]:
    return [a for a in actions if isinstance(a, kind)]


def reports(actions: list[tr.Action]) -> list[tuple[int, str]]:
    return [(a.event.delivery_id, a.event.kind) for a in of(actions, tr.Report)]


def tracker(**links: tr.LinkRules) -> tr.Tracker:
    return tr.Tracker(tr.TrackerConfig(retry_after_s=42.0, links=links or {"a": tr.LinkRules("auto", 10.0)}))


def submit(t: tr.Tracker, did: int, parts: int = 1, now: float = 0.0, *, expires_at: float | None = 3600.0,
           dest: str = DEST, modulus: int = 256) -> list[int]:
    """Submit a delivery of ``parts`` parts; the ids of the parts queued."""
    ref = t.reference(did, dest, parts, modulus)
    bodies = tuple((f"d{did} p{n} r{ref}".encode(), 1) for n in range(1, parts + 1))
    acts = t.handle(tr.Submit(did, "a", dest, "ALERTS", ref, bodies, expires_at), now)
    enq = of(acts, tr.Enqueue)
    return [pid for e in enq for pid, _ in e.parts]


def receipt(mid: str, stat: str = "DELIVRD", at: float = 5.0, seq: int = 9, link: str = "a",
            known: bool = False) -> tr.ReceiptIn:
    rc = receipts.parse(f"id:{mid} stat:{stat} err:000".encode(), None, None)
    return tr.ReceiptIn(link, "transceiver", seq, at, rc, known)


def test_a_part_is_sent_only_with_its_ack_and_the_ack_is_stored_before_anything_else() -> None:
    t = tracker()
    [pid] = submit(t, 1)
    assert t.busy == 1 and t.body(pid, 1.0) == b"d1 p1 rNone"
    acts = t.handle(tr.Acked(pid, "00AB12", "a", 2.0), 2.0)
    assert isinstance(acts[0], tr.StoreAck)
    store = acts[0]
    # matched normalized, reported as the SMSC wrote it (a Jasmin UUID keeps its leading zero)
    assert store.part == tr.PartRow(1, 1, "ab12", "acked", 2.0, "00AB12")
    assert store.message.state == "sent" and store.message.parts == 1 and store.next_ref is None
    assert store.message.receipt_due_at == 2.0 + DEFAULT_RECEIPT_TIMEOUT_S
    [sent] = of(acts, tr.Report)
    assert sent.event.state is DeliveryState.SENT and sent.event.at == 2.0
    assert not sent.event.final  # its receipt is awaited
    assert sent.event.detail == {"parts": 1, "link": "a", "message_ids": ["00AB12"]}
    assert t.busy == 0 and t.body(pid, 2.0) is None
    assert t.handle(tr.Acked(pid, "00AB12", "a", 2.1), 2.1) == []  # a late duplicate answer changes nothing


def test_concatenation_references_count_per_destination_and_wrap() -> None:
    t = tracker()
    assert t.reference(1, DEST, 1, 256) is None  # one part needs none
    submit(t, 1, parts=2)
    submit(t, 2, parts=3)
    submit(t, 3, parts=2, dest="other")
    assert [t.reference(4, DEST, 2, 256), t.reference(4, "other", 2, 256)] == [2, 1]
    assert t.reference(1, DEST, 2, 256) == 0  # a known message keeps its reference
    assert t.reference(1, DEST, 3, 256) == 2  # ...unless it is framed into a different number of parts
    t2 = tracker()
    t2.restore([], [], {DEST: 255}, 0.0)
    assert t2.reference(1, DEST, 2, 256) == 255
    pid, _ = submit(t2, 1, parts=2)
    assert t2.reference(2, DEST, 2, 256) == 0
    [ack] = of(t2.handle(tr.Acked(pid, "1", "a", 1.0), 1.0), tr.StoreAck)
    assert ack.next_ref == (DEST, 256)  # stored with the ack; the modulo is taken when it is used


def test_a_temporary_failure_is_reported_once_no_part_is_left_and_the_retry_sends_only_the_missing_part() -> None:
    t = tracker()
    p1, p2 = submit(t, 1, parts=2)
    assert t.handle(tr.SubmitFailed(p2, ESME_RSYSERR, False, "failed for now", "a", 1.0), 1.0) == []
    acts = t.handle(tr.Acked(p1, "10", "a", 1.5), 1.5)
    assert reports(acts) == [(1, "retry")]
    [retry] = of(acts, tr.Report)
    assert retry.event.retry_after == 42.0 and retry.event.state is None and not retry.event.final
    assert retry.event.detail["smpp_status_name"] == "ESME_RSYSERR" and retry.event.detail["part"] == 2
    assert of(acts, tr.StoreAck)[0].message.state == "submitting"
    assert t.busy == 0
    [again] = submit(t, 1, parts=2, now=60.0)
    assert t.body(again, 61.0) == b"d1 p2 r0"  # part 2 only, same reference
    assert t.resubmitted == 1
    acts = t.handle(tr.Acked(again, "11", "a", 62.0), 62.0)
    assert reports(acts) == [(1, "sent")]
    assert of(acts, tr.Report)[0].event.detail["message_ids"] == ["10", "11"]


def test_both_parts_failing_for_now_make_one_retry() -> None:
    t = tracker()
    p1, p2 = submit(t, 1, parts=2)
    assert t.handle(tr.SubmitFailed(p1, ESME_RTHROTTLED, False, "throttled", "a", 1.0), 1.0) == []
    assert reports(t.handle(tr.SubmitFailed(p2, 0, False, "no submit_sm_resp", "a", 2.0), 2.0)) == [(1, "retry")]


def test_a_permanent_failure_is_final_and_drops_the_other_parts() -> None:
    t = tracker()
    p1, p2, p3 = submit(t, 1, parts=3)
    acts = t.handle(tr.SubmitFailed(p1, ESME_RINVDSTADR, True, "rejected", "a", 1.0), 1.0)
    [failed] = of(acts, tr.Report)
    assert failed.event.state is DeliveryState.FAILED and failed.event.final
    assert failed.event.detail["smpp_status"] == ESME_RINVDSTADR and failed.event.detail["link"] == "a"
    assert t.body(p2, 1.0) is None and t.body(p3, 1.0) is None and t.busy == 0
    assert t.handle(tr.Acked(p2, "5", "a", 1.1), 1.1) == []
    assert t.handle(tr.SubmitFailed(p3, ESME_RSYSERR, False, "x", "a", 1.2), 1.2) == []


def test_a_part_whose_alert_expired_while_queued_is_never_sent_and_the_delivery_expires() -> None:
    t = tracker()
    [pid] = submit(t, 1, expires_at=10.0)
    assert t.body(pid, 9.9) is not None and t.body(pid, 10.0) is None
    # the link answers a part without a body ESME_RINVEXPIRY itself
    [expired] = of(t.handle(tr.SubmitFailed(pid, ESME_RINVEXPIRY, True, "x", "a", 10.0), 10.0), tr.Report)
    assert expired.event.kind == "expired" and expired.event.state is DeliveryState.EXPIRED and expired.event.final
    # the SMSC refusing the validity period of a live alert is a failure, not an expiry
    [pid] = submit(t, 2, expires_at=100.0)
    [failed] = of(t.handle(tr.SubmitFailed(pid, ESME_RINVEXPIRY, True, "x", "a", 11.0), 11.0), tr.Report)
    assert failed.event.kind == "failed"


def test_a_submission_while_parts_are_queued_is_refused() -> None:
    t = tracker()
    submit(t, 1)
    acts = t.handle(tr.Submit(1, "a", DEST, "ALERTS", None, ((b"x", 1),), None), 1.0)
    assert acts == [tr.Refused(1, "submitted while still queued on a link")] and t.busy == 1


def test_restart_takes_back_open_messages_and_reports_acknowledged_ones_again() -> None:
    t = tracker()
    rows = [
        tr.MessageRow(1, "a", DEST, "ALERTS", 2, 7, "sent", 100.0, 5000.0),
        tr.MessageRow(2, "a", DEST, "ALERTS", 2, 8, "submitting", 100.0, None),
        tr.MessageRow(3, "a", DEST, "ALERTS", 1, None, "sent", 100.0, 900.0),  # its alert expired
    ]
    parts = [
        tr.PartRow(1, 1, "a1", "delivered"),
        tr.PartRow(1, 2, "a2", "acked"),
        tr.PartRow(2, 1, "b1", "acked"),
        tr.PartRow(3, 1, "c1", "acked"),
    ]
    assert t.restore(rows, parts, {DEST: 9}, 1000.0) == 2
    acts = t.handle(tr.Submit(1, "b", DEST, "ALERTS", 7, ((b"x", 1), (b"y", 1)), 5000.0), 1000.0)
    assert reports(acts) == [(1, "sent")] and not of(acts, tr.Enqueue)
    assert of(acts, tr.Report)[0].event.detail == {"parts": 2, "link": "a", "resumed": True,
                                                    "message_ids": ["a1", "a2"]}
    assert not of(acts, tr.Report)[0].event.final  # the receipt of part 2 is still awaited
    assert t.reference(2, DEST, 2, 256) == 8
    [pid] = submit(t, 2, parts=2, now=1000.0)
    assert t.body(pid, 1000.0) == b"d2 p2 r8"
    # part 1 of message 1 was delivered before the restart: the receipt of part 2 completes it
    acts = t.handle(receipt("a2", at=1001.0), 1001.0)
    assert reports(acts) == [(1, "delivered")]
    assert t.lookup_ids("a", receipts.Receipt("c1", "DELIVRD", receipts.Outcome.DELIVERED)) == ("c1", "193")


def test_a_delivered_receipt_is_stored_then_reported_then_answered_and_the_message_forgotten() -> None:
    t = tracker()
    [pid] = submit(t, 1)
    t.handle(tr.Acked(pid, "1F", "a", 1.0), 1.0)
    acts = t.handle(receipt("1f", seq=77), 5.0)
    assert [type(a) for a in acts] == [tr.StoreReceipt, tr.Report, tr.Answer]
    assert acts[0] == tr.StoreReceipt(tr.ReceiptUpdate(1, 1, "delivered", "DELIVRD", "000", "delivered"))
    event = acts[1].event  # type: ignore[union-attr]
    assert event.state is DeliveryState.DELIVERED and event.at == 5.0 and event.final
    assert event.detail == {"stat": "DELIVRD", "err": "000", "link": "a", "part": 1, "message_id": "1F"}
    assert acts[2] == tr.Answer("a", "transceiver", 77, ESME_ROK)
    assert t.open_messages == 0
    rc = receipts.Receipt("1f", "DELIVRD", receipts.Outcome.DELIVERED)
    assert t.lookup_ids("a", rc) == ("1f", "31")  # now only the store can know it


def test_every_part_must_be_delivered_and_one_failure_fails_the_delivery_once() -> None:
    t = tracker()
    p1, p2 = submit(t, 1, parts=2)
    t.handle(tr.Acked(p1, "1", "a", 1.0), 1.0)
    t.handle(tr.Acked(p2, "2", "a", 1.0), 1.0)
    acts = t.handle(receipt("1"), 5.0)
    assert reports(acts) == [] and of(acts, tr.StoreReceipt)[0].update.message_state is None
    assert reports(t.handle(receipt("2"), 6.0)) == [(1, "delivered")]

    p1, p2 = submit(t, 2, parts=2)
    t.handle(tr.Acked(p1, "3", "a", 1.0), 1.0)
    t.handle(tr.Acked(p2, "4", "a", 1.0), 1.0)
    acts = t.handle(receipt("3", stat="UNDELIV"), 5.0)
    [failed] = of(acts, tr.Report)
    assert failed.event.state is DeliveryState.FAILED and failed.event.final
    assert failed.event.detail["stat"] == "UNDELIV"
    # the message is settled: the other part's receipt matches nothing open any more
    assert t.lookup_ids("a", receipts.Receipt("4", "DELIVRD", receipts.Outcome.DELIVERED)) != ()


def test_a_receipt_for_a_message_that_failed_at_submit_is_stored_but_not_reported_again() -> None:
    t = tracker()
    p1, p2 = submit(t, 1, parts=2)
    t.handle(tr.Acked(p1, "1", "a", 1.0), 1.0)
    assert reports(t.handle(tr.SubmitFailed(p2, ESME_RINVDSTADR, True, "x", "a", 1.0), 1.0)) == [(1, "failed")]
    acts = t.handle(receipt("1", stat="UNDELIV"), 5.0)
    assert reports(acts) == [] and len(of(acts, tr.StoreReceipt)) == 1 and len(of(acts, tr.Answer)) == 1


def test_intermediate_and_id_less_receipts_are_answered_and_change_nothing() -> None:
    t = tracker()
    [pid] = submit(t, 1)
    t.handle(tr.Acked(pid, "1", "a", 1.0), 1.0)
    assert t.handle(receipt("1", stat="ENROUTE", seq=3), 2.0) == [tr.Answer("a", "transceiver", 3, ESME_ROK)]
    nameless = tr.ReceiptIn("a", "receiver", 4, 2.0, None)
    assert t.handle(nameless, 2.0) == [tr.Unmatched("a", None), tr.Answer("a", "receiver", 4, ESME_ROK)]
    assert t.open_messages == 1


def test_receipt_ids_are_matched_in_the_links_format() -> None:
    t = tracker(a=tr.LinkRules("decimal", 10.0), b=tr.LinkRules("same", 10.0))
    [pid] = submit(t, 1)
    t.handle(tr.Acked(pid, "0000000A", "a", 1.0), 1.0)
    assert reports(t.handle(receipt("b", link="b"), 2.0)) == []  # not a decimal form
    assert reports(t.handle(receipt("10", link="a"), 2.0)) == [(1, "delivered")]


def test_a_receipt_known_only_to_the_store_is_answered_at_once() -> None:
    t = tracker()
    submit(t, 1)  # a part still waits for its answer: an unknown receipt would be held
    rc = receipts.Receipt("ff", "DELIVRD", receipts.Outcome.DELIVERED)
    assert t.lookup_ids("a", rc) == ("ff", "255")
    assert t.handle(receipt("ff", known=True, seq=5), 2.0) == [tr.Answer("a", "transceiver", 5, ESME_ROK)]
    assert t.held == 0


def test_an_unknown_receipt_is_answered_at_once_when_no_part_waits_for_an_answer() -> None:
    t = tracker()
    assert t.handle(receipt("ff", seq=5), 2.0) == [tr.Unmatched("a", "ff"), tr.Answer("a", "transceiver", 5, 0)]


def test_a_receipt_that_overtakes_its_ack_is_held_then_settles_the_part_with_the_ack() -> None:
    t = tracker()
    [pid] = submit(t, 1)
    assert t.handle(receipt("2a", at=1.0, seq=6), 1.0) == []  # nothing, not even an answer
    assert t.held == 1 and t.deadline() == 11.0  # the link's response time-out after it came
    assert t.handle(tr.Tick(), 5.0) == []
    acts = t.handle(tr.Acked(pid, "2A", "a", 2.0), 2.0)
    assert [type(a) for a in acts] == [tr.StoreAck, tr.Report, tr.StoreReceipt, tr.Report, tr.Answer]
    assert reports(acts) == [(1, "sent"), (1, "delivered")]
    assert acts[-1] == tr.Answer("a", "transceiver", 6, ESME_ROK)
    assert t.held == 0 and t.deadline() is None


def test_a_held_receipt_is_matched_under_any_form_of_its_id() -> None:
    t = tracker()
    [pid] = submit(t, 1)
    t.handle(receipt("26", at=1.0), 1.0)  # decimal 26 = hex 1a
    assert reports(t.handle(tr.Acked(pid, "1a", "a", 2.0), 2.0)) == [(1, "sent"), (1, "delivered")]
    assert t.held == 0 and t._held_by_id == {}


def test_a_held_receipt_is_released_when_its_hold_ends() -> None:
    t = tracker()
    submit(t, 1)
    t.handle(receipt("2a", at=1.0, seq=6), 1.0)
    t.handle(receipt("2b", at=3.0, seq=7), 3.0)
    assert t.deadline() == 11.0
    assert t.handle(tr.Tick(), 11.0) == [tr.Unmatched("a", "2a"), tr.Answer("a", "transceiver", 6, ESME_ROK)]
    assert t.held == 1 and t.deadline() == 13.0 and set(t._held_by_id) == {"2b", "43"}


def test_held_receipts_are_released_once_no_part_waits_for_an_answer() -> None:
    t = tracker()
    [pid] = submit(t, 1)
    t.handle(receipt("2a", at=1.0, seq=6), 1.0)
    t.handle(tr.Acked(pid, "99", "a", 2.0), 2.0)  # another id: the receipt is not this message's
    assert t.handle(tr.Tick(), 2.0) == [tr.Unmatched("a", "2a"), tr.Answer("a", "transceiver", 6, ESME_ROK)]
    assert t.held == 0


def test_a_link_without_rules_holds_nothing() -> None:
    t = tracker()
    submit(t, 1)
    assert of(t.handle(receipt("2a", link="z", at=2.0), 2.0), tr.Answer)


outcome = st.sampled_from(["ack", "temporary", "permanent"])


@settings(deadline=None)
@given(st.lists(st.lists(outcome, min_size=1, max_size=4), min_size=1, max_size=6), st.randoms())
def test_every_submission_ends_in_exactly_one_report_and_the_queue_count_returns_to_zero(
    messages: list[list[str]], rnd: Any
) -> None:
    t = tracker()
    answers: list[tuple[int, int, str]] = []
    for did, outcomes in enumerate(messages, start=1):
        pids = submit(t, did, parts=len(outcomes))
        answers += [(did, pid, o) for pid, o in zip(pids, outcomes, strict=True)]
    assert t.busy == len(messages)
    rnd.shuffle(answers)
    got: dict[int, list[str]] = {}
    for _did, pid, o in answers:
        if o == "ack":
            acts = t.handle(tr.Acked(pid, f"{pid:x}", "a", 1.0), 1.0)
        else:
            acts = t.handle(tr.SubmitFailed(pid, ESME_RSYSERR, o == "permanent", o, "a", 1.0), 1.0)
        for d, kind in reports(acts):
            got.setdefault(d, []).append(kind)
    assert t.busy == 0
    for did, outcomes in enumerate(messages, start=1):
        kinds = got.get(did, [])
        assert len(kinds) == 1, (outcomes, kinds)
        if all(o == "ack" for o in outcomes):
            assert kinds == ["sent"]
        elif "permanent" in outcomes:
            assert kinds == ["failed"]
        else:
            assert kinds == ["retry"]
