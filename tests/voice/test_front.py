"""The SIP front's routing (pure) and the SIP message handling under it: messages in, datagrams out."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertnode.voice.front import INVITE_TIMEOUT_S, Peer, SipFront, Target, ToPeer, ToWorker
from alertnode.voice.sipmsg import SipParseError, Via, frame_length, parse

PBX = Peer("10.0.0.5", 5060)
W = [Target(0, "127.0.0.1", 5161, 0), Target(1, "127.0.0.1", 5162, 4), Target(2, "127.0.0.1", 5163, 2)]


def request(method: str = "INVITE", call_id: str = "c1", branch: str = "z9hG4bKpbx1", to_tag: str = "",
            via: str = "10.0.0.5:5060", extra: str = "", cseq: int = 1) -> bytes:
    to = f"<sip:+442000000001@node>{';tag=' + to_tag if to_tag else ''}"
    body = "v=0\r\n" if method == "INVITE" else ""
    return (
        f"{method} sip:+442000000001@127.0.0.1:5160 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {via};branch={branch};rport\r\n"
        f"From: <sip:+441111@pbx>;tag=f1\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n{extra}"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


def reply(forwarded: bytes, code: int = 200, reason: str = "OK") -> bytes:
    """The worker's response to a request the front forwarded (its Vias, its Call-ID and CSeq)."""
    msg = parse(forwarded)
    vias = "".join(f"Via: {v}\r\n" for v in msg.vias())
    return (
        f"SIP/2.0 {code} {reason}\r\n{vias}From: {msg.get('from')}\r\nTo: {msg.get('to')};tag=w1\r\n"
        f"Call-ID: {msg.call_id}\r\nCSeq: {msg.get('cseq')}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def front() -> SipFront:
    return SipFront("127.0.0.1", 5160)


def test_an_invite_goes_to_the_first_worker_with_room_and_its_call_stays_there() -> None:
    f = front()
    [out] = f.on_message(request(), PBX, W, 0)
    assert isinstance(out, ToWorker) and out.index == 1
    msg = parse(out.data)
    top, incoming = (Via.parse(v) for v in msg.vias())
    assert (top.host, top.port, top.transport) == ("127.0.0.1", 5160, "UDP")
    assert top.branch.startswith("z9hG4bK")
    # RFC 3581 §4: rport asked for, so received is added even when it equals the sent-by host
    assert incoming.param("rport") == "5060" and incoming.param("received") == "10.0.0.5"
    assert msg.get("max-forwards") == "69"
    assert msg.body == b"v=0\r\n" and msg.first.startswith("INVITE sip:+442000000001@")
    assert f.pending(1, 1) == 1 and f.pending(2, 1) == 0
    # its CANCEL carries the same branch: the worker matches it to the INVITE (RFC 3261 §9.2)
    [cancel] = f.on_message(request("CANCEL"), PBX, W[::-1], 2)
    assert isinstance(cancel, ToWorker) and cancel.index == 1
    assert Via.parse(parse(cancel.data).vias()[0]).branch == top.branch
    # a BYE the PBX sends to the front goes to the same worker too
    [bye] = f.on_message(request("BYE", branch="z9hG4bKpbx2", to_tag="w1", cseq=2), PBX, W[::-1], 3)
    assert isinstance(bye, ToWorker) and bye.index == 1
    assert Via.parse(parse(bye.data).vias()[0]).branch != top.branch


def test_a_response_goes_back_where_the_request_came_from() -> None:
    f = front()
    natted = Peer("192.0.2.7", 40000)
    [out] = f.on_message(request(), natted, W, 0)
    assert isinstance(out, ToWorker)
    [back] = f.on_message(reply(out.data, 180, "Ringing"), Peer("127.0.0.1", 5162), W, 1)
    assert isinstance(back, ToPeer) and back.peer == Peer("192.0.2.7", 40000)  # received + rport (RFC 3581)
    msg = parse(back.data)
    assert len(msg.vias()) == 1 and msg.status == 180
    assert Via.parse(msg.vias()[0]).param("received") == "192.0.2.7"
    assert f.pending(1, 2) == 1  # a provisional answer settles nothing
    f.on_message(reply(out.data, 486, "Busy Here"), Peer("127.0.0.1", 5162), W, 2)
    assert f.pending(1, 3) == 0


def test_no_room_anywhere_is_486_answered_by_the_front() -> None:
    f = front()
    [out] = f.on_message(request(), PBX, [W[0]], 0)
    assert isinstance(out, ToPeer) and out.peer == PBX
    msg = parse(out.data)
    assert msg.status == 486 and msg.call_id == "c1" and msg.has_to_tag()
    assert Via.parse(msg.vias()[0]).branch == "z9hG4bKpbx1"


def test_unknown_dialogs_get_481_and_their_acks_are_dropped() -> None:
    f = front()
    [out] = f.on_message(request("BYE", to_tag="x"), PBX, W, 0)
    assert isinstance(out, ToPeer) and parse(out.data).status == 481
    [out] = f.on_message(request("CANCEL"), PBX, W, 0)
    assert parse(out.data).status == 481
    assert f.on_message(request("ACK", to_tag="x"), PBX, W, 0) == []


def test_options_go_to_a_ready_worker_even_a_full_one_and_503_with_none() -> None:
    f = front()
    [out] = f.on_message(request("OPTIONS"), PBX, [W[0]], 0)
    assert isinstance(out, ToWorker) and out.index == 0
    [out] = f.on_message(request("OPTIONS"), PBX, [], 0)
    assert isinstance(out, ToPeer) and parse(out.data).status == 503


def test_max_forwards_at_zero_is_483() -> None:
    f = front()
    data = request().replace(b"Max-Forwards: 70", b"Max-Forwards: 0")
    [out] = f.on_message(data, PBX, W, 0)
    assert isinstance(out, ToPeer) and parse(out.data).status == 483


def test_responses_that_are_not_the_fronts_are_dropped() -> None:
    f = front()
    [out] = f.on_message(request(), PBX, W, 0)
    forged = reply(out.data).replace(b"127.0.0.1:5160", b"127.0.0.1:5999", 1)
    assert f.on_message(forged, PBX, W, 1) == []
    assert f.on_message(reply(request()), PBX, W, 1) == []  # only the sender's Via: never forwarded


def test_messages_of_a_workers_own_dialog_sent_to_the_front_reach_that_worker() -> None:
    """A peer that sends everything to the address it first used (SIPp does): the answer to a worker's
    re-INVITE by its Via, a request in the dialog by its Request-URI (the worker's Contact)."""
    f = front()
    [out] = f.on_message(reply(request(via="127.0.0.1:5163")), PBX, W, 0)
    assert isinstance(out, ToWorker) and out.index == 2 and out.data.startswith(b"SIP/2.0 200")
    bye = request("BYE", call_id="other", to_tag="t").replace(b"@127.0.0.1:5160", b"@127.0.0.1:5162")
    [out] = f.on_message(bye, PBX, W, 0)
    assert isinstance(out, ToWorker) and out.index == 1


def test_settled_calls_stop_counting_and_unsettled_ones_expire() -> None:
    f = front()
    f.on_message(request(call_id="a"), PBX, W, 0)
    f.on_message(request(call_id="b", branch="z9hG4bKb"), PBX, W, 0)
    assert f.pending(1, 1) == 2
    f.settle("a")
    assert f.pending(1, 1) == 1
    assert f.pending(1, INVITE_TIMEOUT_S + 1) == 0
    assert f.worker_of("a") == 1
    f.forget("a")
    assert f.worker_of("a") is None


def test_tcp_responses_go_back_over_the_connection_named_in_the_branch() -> None:
    f = SipFront("127.0.0.1", 5160, "tcp")
    [out] = f.on_message(request().replace(b"UDP", b"TCP"), Peer("10.0.0.5", 40001, conn=7), W, 0)
    assert isinstance(out, ToWorker)
    assert parse(out.data).vias()[0].startswith("SIP/2.0/TCP 127.0.0.1:5160;branch=")
    [back] = f.on_message(reply(out.data), Peer("127.0.0.1", 5162), W, 1)
    assert isinstance(back, ToPeer) and back.peer.conn == 7


def test_garbage_is_a_parse_error() -> None:
    for data in (b"hello", b"INVITE x SIP/2.0\r\nVia\r\n\r\n", b"\x00\x01\r\n\r\n"):
        with pytest.raises(SipParseError):
            front().on_message(data, PBX, W, 0)
    with pytest.raises(SipParseError):  # no Call-ID
        front().on_message(b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bKx\r\n\r\n", PBX, W, 0)


@given(st.binary(max_size=300), st.integers(0, 400), st.binary(max_size=20))
def test_any_bytes_either_route_or_raise_a_parse_error(data: bytes, at: int, cut: bytes) -> None:
    good = request()
    with contextlib.suppress(SipParseError):
        front().on_message(data, PBX, W, 0)
    with contextlib.suppress(SipParseError):  # a real message with bytes spliced in
        front().on_message(good[:at] + cut + good[at + len(cut):], PBX, W, 0)


# ------------------------------------------------------------------------------------- messages


def test_vias_compact_names_folding_and_several_values_in_one_header() -> None:
    raw = (
        b"SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 127.0.0.1:5160;branch=z9hG4bKan1, SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx\r\n"
        b"i: abc\r\nSubject: a\r\n  folded\r\nCSeq: 3 INVITE\r\nl: 0\r\n\r\n"
    )
    msg = parse(raw)
    assert msg.call_id == "abc" and msg.get("subject") == "a folded" and msg.method == "INVITE"
    assert msg.pop_via().endswith("branch=z9hG4bKan1")
    assert msg.vias() == ["SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKx"]
    assert Via.parse(msg.vias()[0]).reply_to() == ("10.0.0.5", 5060)


def test_via_parameters_and_ipv6() -> None:
    via = Via.parse("SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bKy;rport=4000;received=192.0.2.1")
    assert (via.transport, via.host, via.port) == ("TCP", "2001:db8::1", 5070)
    assert via.reply_to() == ("192.0.2.1", 4000)
    assert str(Via.parse("SIP/2.0/UDP h;rport")) == "SIP/2.0/UDP h;rport"
    assert str(Via.parse("SIP/2.0/UDP h;rport").with_params(rport="9", received="1.2.3.4")) == (
        "SIP/2.0/UDP h;rport=9;received=1.2.3.4"
    )


def test_frames_on_a_stream_by_content_length() -> None:
    one = b"INFO sip:x SIP/2.0\r\nContent-Length: 3\r\n\r\nabc"
    assert frame_length(one[:10]) is None
    assert frame_length(one) == len(one)
    assert frame_length(one + b"OPTIONS") == len(one)
    assert frame_length(one[:-1]) is None
    with pytest.raises(SipParseError):
        frame_length(b"INFO sip:x SIP/2.0\r\nl: x\r\n\r\n")
