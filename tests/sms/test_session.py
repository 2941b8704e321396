"""The SMPP session machine, event in, actions out (no sockets)."""

from __future__ import annotations

from typing import Any

from alertnode.sms import session as s
from alertnode.sms.status import ESME_RINVBNDSTS, ESME_RINVDSTADR, ESME_RMSGQFUL, ESME_RSYSERR, ESME_RTHROTTLED


def of(actions: list[s.Action], kind: type) -> list[Any]:
    return [a for a in actions if isinstance(a, kind)]


def bound_session(now: float = 0.0, **cfg: Any) -> s.Session:
    sess = s.Session(s.SessionConfig(**cfg))
    acts = sess.handle(s.Start(), now)
    assert of(acts, s.Connect) and sess.state is s.LinkState.BINDING
    [bind] = of(sess.handle(s.Connected(), now), s.SendBind)
    acts = sess.handle(s.BindResp(bind.sequence, 0), now)
    assert of(acts, s.StateChanged)[0].state is s.LinkState.BOUND
    return sess


def test_window_limits_outstanding_submits() -> None:
    sess = bound_session(window=3)
    sends = of(sess.handle(s.Enqueue(tuple((i, 1) for i in range(10))), 1.0), s.SendSubmit)
    assert [a.part for a in sends] == [0, 1, 2]
    acts = sess.handle(s.SubmitResp(sends[0].sequence, 0, "abc"), 1.1)
    assert of(acts, s.Acked) == [s.Acked(0, "abc")]
    assert [a.part for a in of(acts, s.SendSubmit)] == [3]


def test_throttle_counts_segments_per_second() -> None:
    sess = bound_session(window=100, rate=10.0, burst=1.0)
    sends = of(sess.handle(s.Enqueue(tuple((i, 1) for i in range(30))), 0.0), s.SendSubmit)
    assert len(sends) == 1
    total = len(sends)
    t = 0.0
    while t < 2.0:
        t = sess.deadline() or 99
        total += len(of(sess.handle(s.Tick(), t), s.SendSubmit))
    assert 20 <= total <= 22  # 10 per second over two seconds, plus the first
    # a part worth 3 segments (message_payload) costs 3 tokens
    sess = bound_session(window=100, rate=10.0, burst=1.0)
    sess.handle(s.Enqueue(((1, 3), (2, 1))), 0.0)
    assert sess.deadline() is not None and abs(sess.deadline() - 0.3) < 1e-9  # type: ignore[operator]


def test_enquire_link_unanswered_kills_the_link_and_requeues() -> None:
    sess = bound_session(enquire_interval=30, enquire_timeout=5, reconnect_initial=2, response_timeout=100)
    [sub] = of(sess.handle(s.Enqueue(((7, 1),)), 1.0), s.SendSubmit)
    [enq] = of(sess.handle(s.Tick(), 30.0), s.SendEnquireLink)
    assert sess.deadline() == 35.0
    acts = sess.handle(s.Tick(), 35.0)
    assert of(acts, s.Disconnect) and of(acts, s.Requeued) == [s.Requeued((7,), "enquire_link unanswered")]
    assert sess.state is s.LinkState.BACKING_OFF
    assert of(sess.handle(s.Tick(), 36.9), s.Connect) == []
    assert of(sess.handle(s.Tick(), 37.0), s.Connect)
    # the answer to the old enquire_link changes nothing; after rebind the part goes again
    [bind] = of(sess.handle(s.Connected(), 37.1), s.SendBind)
    acts = sess.handle(s.BindResp(bind.sequence, 0), 37.2)
    [again] = of(acts, s.SendSubmit)
    assert again.part == 7 and again.attempt == 2 and again.sequence != sub.sequence
    assert enq.sequence != again.sequence


def test_answered_enquire_link_keeps_the_link() -> None:
    sess = bound_session(enquire_interval=30, enquire_timeout=5)
    [enq] = of(sess.handle(s.Tick(), 30.0), s.SendEnquireLink)
    sess.handle(s.EnquireLinkResp(enq.sequence), 31.0)
    assert of(sess.handle(s.Tick(), 40.0), s.Disconnect) == []
    assert sess.state is s.LinkState.BOUND
    assert of(sess.handle(s.Tick(), 60.0), s.SendEnquireLink)


def test_peer_enquire_link_is_answered() -> None:
    sess = bound_session()
    assert of(sess.handle(s.PeerEnquireLink(77), 1.0), s.SendEnquireLinkResp) == [s.SendEnquireLinkResp(77)]


def test_reconnect_backoff_doubles_and_resets_on_bind() -> None:
    sess = s.Session(s.SessionConfig(reconnect_initial=1, reconnect_max=4))
    sess.handle(s.Start(), 0.0)
    waits = []
    now = 0.0
    for _ in range(5):
        sess.handle(s.ConnectFailed("refused"), now)
        assert sess.state is s.LinkState.BACKING_OFF
        at = sess.deadline()
        assert at is not None
        waits.append(at - now)
        now = at
        assert of(sess.handle(s.Tick(), now), s.Connect)
    assert waits == [1, 2, 4, 4, 4]
    [bind] = of(sess.handle(s.Connected(), now), s.SendBind)
    sess.handle(s.BindResp(bind.sequence, 0), now)
    sess.handle(s.ConnectionLost("reset"), now)
    assert sess.deadline() == now + 1


def test_bind_refused_or_unanswered_backs_off() -> None:
    sess = s.Session(s.SessionConfig(response_timeout=3))
    sess.handle(s.Start(), 0.0)
    [bind] = of(sess.handle(s.Connected(), 0.0), s.SendBind)
    acts = sess.handle(s.BindResp(bind.sequence, 0x0E), 0.5)
    assert of(acts, s.Disconnect) and sess.state is s.LinkState.BACKING_OFF
    sess.handle(s.Tick(), 10.0)
    sess.handle(s.Connected(), 10.0)
    acts = sess.handle(s.Tick(), 13.0)
    assert "no bind_resp" in of(acts, s.Disconnect)[0].reason


def test_connection_lost_requeues_every_unacknowledged_part_in_order() -> None:
    sess = bound_session(window=5)
    sends = of(sess.handle(s.Enqueue(tuple((i, 1) for i in range(8))), 1.0), s.SendSubmit)
    sess.handle(s.SubmitResp(sends[1].sequence, 0, "m1"), 1.1)
    acts = sess.handle(s.ConnectionLost("reset by peer"), 1.2)
    assert of(acts, s.Requeued)[0].parts == (0, 2, 3, 4, 5)  # 5 went when 1's answer freed the window
    assert sess.queued == 7 and sess.in_flight == 0
    # a late response on the new connection for an old sequence number is ignored
    sess.handle(s.Tick(), 3.0)
    [bind] = of(sess.handle(s.Connected(), 3.0), s.SendBind)
    sends2 = of(sess.handle(s.BindResp(bind.sequence, 0), 3.0), s.SendSubmit)
    assert [a.part for a in sends2] == [0, 2, 3, 4, 5]


def test_submit_resp_timeout_resubmits_then_fails_temporarily() -> None:
    sess = bound_session(response_timeout=10, max_timeouts=1, enquire_interval=1000, enquire_timeout=5)
    [a] = of(sess.handle(s.Enqueue(((1, 1),)), 0.0), s.SendSubmit)
    acts = sess.handle(s.Tick(), 10.0)
    assert of(acts, s.Requeued) == [s.Requeued((1,), "no submit_sm_resp")]
    [b] = of(acts, s.SendSubmit)
    assert b.attempt == 2
    # the late answer to the first attempt does not count
    assert of(sess.handle(s.SubmitResp(a.sequence, 0, "late"), 11.0), s.Acked) == []
    acts = sess.handle(s.Tick(), 20.0)
    assert of(acts, s.Failed) == [s.Failed(1, 0, False, "no submit_sm_resp")]


def test_throttled_pauses_doubling_and_retries() -> None:
    sess = bound_session(window=10, throttle_initial=1, throttle_max=3, max_throttle_retries=3)
    [a, b] = of(sess.handle(s.Enqueue(((1, 1), (2, 1))), 0.0), s.SendSubmit)
    acts = sess.handle(s.SubmitResp(a.sequence, ESME_RTHROTTLED, ""), 0.1)
    assert of(acts, s.SendSubmit) == [] and sess.deadline() == 1.1
    assert of(sess.handle(s.SubmitResp(b.sequence, 0, "x"), 0.2), s.Acked)
    assert of(sess.handle(s.Tick(), 1.0), s.SendSubmit) == []
    [c] = of(sess.handle(s.Tick(), 1.1), s.SendSubmit)
    assert c.part == 1
    sess.handle(s.SubmitResp(c.sequence, ESME_RMSGQFUL, ""), 1.2)  # second strike: 2 s
    [d] = of(sess.handle(s.Tick(), 3.2), s.SendSubmit)
    sess.handle(s.SubmitResp(d.sequence, ESME_RTHROTTLED, ""), 3.3)  # third strike: capped at 3 s
    [e] = of(sess.handle(s.Tick(), 6.3), s.SendSubmit)
    acts = sess.handle(s.SubmitResp(e.sequence, ESME_RTHROTTLED, ""), 6.4)
    assert of(acts, s.Failed) == [s.Failed(1, ESME_RTHROTTLED, False, of(acts, s.Failed)[0].reason)]
    # what the metrics show: four throttled answers; five answers in all, waited for 0.1+0.2+0.1+0.1+0.1 s
    assert sess.throttled_total == 4
    assert sess.latency_count == 5 and abs(sess.latency_sum - 0.6) < 1e-9
    assert sess.in_flight == 0


def test_permanent_and_temporary_errors() -> None:
    sess = bound_session()
    [a, b] = of(sess.handle(s.Enqueue(((1, 1), (2, 1))), 0.0), s.SendSubmit)
    [fa] = of(sess.handle(s.SubmitResp(a.sequence, ESME_RINVDSTADR, ""), 0.1), s.Failed)
    assert fa.permanent and fa.smpp_status == ESME_RINVDSTADR and "ESME_RINVDSTADR" in fa.reason
    [fb] = of(sess.handle(s.SubmitResp(b.sequence, ESME_RSYSERR, ""), 0.1), s.Failed)
    assert not fb.permanent
    assert sess.state is s.LinkState.BOUND


def test_link_level_error_rebinds_and_resubmits() -> None:
    sess = bound_session()
    [a] = of(sess.handle(s.Enqueue(((1, 1),)), 0.0), s.SendSubmit)
    acts = sess.handle(s.SubmitResp(a.sequence, ESME_RINVBNDSTS, ""), 0.1)
    assert of(acts, s.Disconnect) and of(acts, s.Requeued)[0].parts == (1,)
    assert sess.state is s.LinkState.BACKING_OFF and sess.queued == 1


def test_generic_nack_for_a_submit_fails_it() -> None:
    sess = bound_session()
    [a] = of(sess.handle(s.Enqueue(((1, 1),)), 0.0), s.SendSubmit)
    [f] = of(sess.handle(s.GenericNack(a.sequence, 0x0B), 0.1), s.Failed)
    assert f.part == 1 and f.permanent


def test_graceful_stop_waits_for_outstanding_then_unbinds() -> None:
    sess = bound_session()
    [a] = of(sess.handle(s.Enqueue(((1, 1), (2, 1))), 0.0), s.SendSubmit)[:1]
    acts = sess.handle(s.Stop(), 0.1)
    assert sess.state is s.LinkState.UNBINDING and of(acts, s.SendUnbind) == []
    inflight = sess.in_flight
    assert inflight == 2
    for seq in (a.sequence, a.sequence + 1):
        acts = sess.handle(s.SubmitResp(seq, 0, f"m{seq}"), 0.2)
    [unbind] = of(acts, s.SendUnbind)
    acts = sess.handle(s.UnbindResp(unbind.sequence), 0.3)
    assert of(acts, s.Disconnect) and sess.state is s.LinkState.STOPPED


def test_peer_unbind_is_answered_and_rebinds() -> None:
    sess = bound_session()
    acts = sess.handle(s.PeerUnbind(9), 1.0)
    assert of(acts, s.SendUnbindResp) == [s.SendUnbindResp(9)]
    assert sess.state is s.LinkState.BACKING_OFF


def test_receiver_half_never_submits() -> None:
    sess = bound_session(can_submit=False)
    assert of(sess.handle(s.Enqueue(((1, 1),)), 0.0), s.SendSubmit) == []


def test_sequence_numbers_wrap() -> None:
    sess = bound_session()
    sess._seq = s.MAX_SEQUENCE - 1
    sends = of(sess.handle(s.Enqueue(((1, 1), (2, 1), (3, 1))), 0.0), s.SendSubmit)
    assert [a.sequence for a in sends] == [s.MAX_SEQUENCE, 1, 2]
