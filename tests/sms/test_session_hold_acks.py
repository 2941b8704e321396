"""hold_acks (several nodes on one store): an acknowledged part counts against the window until the node
has recorded it, so what a node that dies sent and never recorded stays within its window."""

from __future__ import annotations

from alertnode.sms import session as s
from tests.sms.test_session import bound_session, of


def test_an_acked_part_holds_its_window_slot_until_recorded() -> None:
    sess = bound_session(window=3, hold_acks=True)
    sends = of(sess.handle(s.Enqueue(tuple((i, 1) for i in range(10))), 1.0), s.SendSubmit)
    assert [a.part for a in sends] == [0, 1, 2]
    acts = sess.handle(s.SubmitResp(sends[0].sequence, 0, "abc"), 1.1)
    assert of(acts, s.Acked) == [s.Acked(0, "abc")]
    assert of(acts, s.SendSubmit) == []  # answered, but not recorded yet: the slot stays taken
    assert [a.part for a in of(sess.handle(s.Recorded(1), 1.2), s.SendSubmit)] == [3]
    assert of(sess.handle(s.Recorded(5), 1.3), s.SendSubmit) == []  # never below nothing held


def test_without_hold_acks_an_answer_frees_the_slot_at_once() -> None:
    sess = bound_session(window=1)
    [sent] = of(sess.handle(s.Enqueue(((1, 1), (2, 1))), 1.0), s.SendSubmit)
    assert [a.part for a in of(sess.handle(s.SubmitResp(sent.sequence, 0, "x"), 1.1), s.SendSubmit)] == [2]


def test_turning_hold_acks_off_frees_what_it_held() -> None:
    sess = bound_session(window=2, hold_acks=True)
    sends = of(sess.handle(s.Enqueue(tuple((i, 1) for i in range(5))), 1.0), s.SendSubmit)
    sess.handle(s.SubmitResp(sends[0].sequence, 0, "a"), 1.1)
    sess.handle(s.SubmitResp(sends[1].sequence, 0, "b"), 1.1)
    acts = sess.handle(s.Reconfigure(s.SessionConfig(window=2, hold_acks=False)), 1.2)
    assert [a.part for a in of(acts, s.SendSubmit)] == [2, 3]  # the node is alone again: nothing to hold
