"""The SIP front: the node's one SIP address, spreading incoming calls over the voice workers (pure).

Each worker (one pjsua2 Endpoint, at most 4 calls: the wheel's PJSUA_MAX_CALLS) listens on a port of
its own; the PBX or trunk knows one address, the front's (``voice.sip_port_base``, and the Contact
the node registers). The front is a stateless proxy (RFC 3261 §16.11) with one memory: which worker
each Call-ID went to. It takes messages and the current time and returns what to send where; the
sockets are node/voice/front_io.py's.

Rules:

* An INVITE that starts a dialog goes to the first worker, in the order given, with room for a call
  (the supervisor lists the ready workers, least loaded first); its Call-ID is remembered for that
  worker. With no room anywhere the front answers 486 Busy Here itself (RFC 3261 §21.4.24), as a
  worker did when full.
* Every later request with that Call-ID (a CANCEL, the ACK of a failure, a BYE or re-INVITE a peer
  sends to the front rather than to the worker's Contact) goes to the same worker; so does a request
  inside a dialog whose Request-URI is a worker's address (that worker's Contact: a peer that sends
  everything to the address it first used). Any other request inside a dialog is answered 481
  (§21.4.19), an ACK dropped. Other requests outside a dialog (OPTIONS keep-alives, ...) go to the
  first ready worker; with none ready, 503 (§21.5.4).
* The front puts its own Via on top, with a branch made from the incoming branch and sent-by, so a
  CANCEL and the ACK of a failure carry the INVITE's branch and the worker matches them (§16.11, §9.2);
  it marks the incoming Via with ``received``/``rport`` (§18.2.1, RFC 3581 §4) and counts
  Max-Forwards down (483 at 0, §16.3). It does not Record-Route: the dialog then runs between the PBX
  and the worker's Contact.
* A response whose top Via is the front's loses that Via and goes where the next one says
  (``received``/``rport``/sent-by; over TCP, the connection the request came on, named in the branch).
  A response whose top Via is a worker's (to a request the worker sent itself, from a peer answering
  the address it knows rather than the Via, as SIPp does) goes to that worker unchanged. Any other
  response is dropped (the front sends no requests of its own).
* A call counts against its worker (:meth:`SipFront.pending`) from its INVITE until the worker reports
  it (:meth:`SipFront.settle`), a final response passes, or 64·T1 = 32 s go by (§17.1.1.2). The
  Call-ID is kept until the call is over (:meth:`SipFront.forget`) or nothing was heard of it for
  :data:`ROUTE_IDLE_S`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from alertnode.voice.sipmsg import SipMessage, SipParseError, Via, parse, response

_MAGIC = "z9hG4bK"  # RFC 3261 §8.1.1.7
_OURS = _MAGIC + "an"
INVITE_TIMEOUT_S = 32.0  # 64·T1, RFC 3261 §17.1.1.2
ROUTE_IDLE_S = 4 * 3600.0
_MAX_FORWARDS = 70  # RFC 3261 §8.1.1.6


@dataclass(frozen=True)
class Peer:
    """Where a message came from or goes to: an address, and on TCP the connection's number."""

    host: str
    port: int
    conn: int = 0


@dataclass(frozen=True)
class Target:
    """A ready worker: its index, SIP address and the calls it can still take."""

    index: int
    host: str
    port: int
    room: int


@dataclass(frozen=True)
class ToWorker:
    index: int
    data: bytes


@dataclass(frozen=True)
class ToPeer:
    peer: Peer
    data: bytes


Out = ToWorker | ToPeer


@dataclass
class _Route:
    worker: int
    since: float
    seen: float
    settled: bool = False


class SipFront:
    def __init__(self, host: str, port: int, transport: str = "udp") -> None:
        self.host = host
        self.port = port
        self.transport = transport.upper()
        self._routes: dict[str, _Route] = {}

    # ------------------------------------------------------------------ the supervisor's side

    def pending(self, worker: int, now: float) -> int:
        """INVITEs sent to ``worker`` that it has not reported yet (they count against its room)."""
        return sum(
            1
            for r in self._routes.values()
            if r.worker == worker and not r.settled and now - r.since < INVITE_TIMEOUT_S
        )

    def settle(self, call_id: str) -> None:
        """The worker reported the call: its own count has it now."""
        route = self._routes.get(call_id)
        if route is not None:
            route.settled = True

    def forget(self, call_id: str) -> None:
        self._routes.pop(call_id, None)

    def expire(self, now: float) -> None:
        for call_id in [c for c, r in self._routes.items() if now - r.seen > ROUTE_IDLE_S]:
            del self._routes[call_id]

    def worker_of(self, call_id: str) -> int | None:
        route = self._routes.get(call_id)
        return route.worker if route is not None else None

    # ------------------------------------------------------------------ messages

    def on_message(self, data: bytes, src: Peer, targets: Sequence[Target], now: float) -> list[Out]:
        """One message received; raises SipParseError for bytes that are none (the caller logs)."""
        msg = parse(data)
        if msg.is_request:
            return self.on_request(msg, src, targets, now)
        return self.on_response(msg, targets)

    def on_request(self, msg: SipMessage, src: Peer, targets: Sequence[Target], now: float) -> list[Out]:
        method = msg.method
        vias = msg.vias()
        if not vias or not msg.call_id or not msg.get("cseq"):
            raise SipParseError("a request without Via, Call-ID or CSeq")
        top = Via.parse(vias[0])
        marked = self._mark(top, src)
        msg.replace_top_via(str(marked))
        max_forwards = msg.get("max-forwards")
        hops = int(max_forwards) if max_forwards.isdigit() else _MAX_FORWARDS
        if hops <= 0:
            return self._answer(msg, src, 483, "Too Many Hops") if method != "ACK" else []
        msg.set("Max-Forwards", str(hops - 1))

        route = self._routes.get(msg.call_id)
        if route is not None:
            route.seen = now
            return self._forward(msg, route.worker, marked, src)
        if method in ("ACK", "CANCEL") or msg.has_to_tag():
            worker = _worker_at(_uri_host_port(msg.first), targets) if method != "CANCEL" else None
            if worker is not None:
                return self._forward(msg, worker, marked, src)
            if method == "ACK":
                return []
            return self._answer(msg, src, 481, "Call/Transaction Does Not Exist")
        if method == "INVITE":
            chosen = next((t for t in targets if t.room > 0), None)
            if chosen is None:
                return self._answer(msg, src, 486, "Busy Here")
            self._routes[msg.call_id] = _Route(chosen.index, now, now)
            return self._forward(msg, chosen.index, marked, src)
        if not targets:
            return self._answer(msg, src, 503, "Service Unavailable")
        return self._forward(msg, targets[0].index, marked, src)

    def on_response(self, msg: SipMessage, targets: Sequence[Target] = ()) -> list[Out]:
        vias = msg.vias()
        if not vias:
            return []
        ours = Via.parse(vias[0])
        if not self._is_ours(ours):
            worker = _worker_at((ours.host, ours.port or 5060), targets)
            return [ToWorker(worker, msg.to_bytes())] if worker is not None else []
        if len(vias) < 2:
            return []  # the front always leaves the sender's Via below its own
        msg.pop_via()
        if msg.cseq_method == "INVITE" and msg.status >= 200:
            self.settle(msg.call_id)
        host, port = Via.parse(vias[1]).reply_to()
        return [ToPeer(Peer(host, port, _conn_of(ours.branch)), msg.to_bytes())]

    # ------------------------------------------------------------------ internals

    def _mark(self, via: Via, src: Peer) -> Via:
        """RFC 3261 §18.2.1 / RFC 3581 §4: where the request really came from."""
        values: dict[str, str] = {}
        if via.host != src.host:
            values["received"] = src.host
        if via.param("rport") == "":
            values["rport"] = str(src.port)
            values.setdefault("received", src.host)
        return via.with_params(**values) if values else via

    def _forward(self, msg: SipMessage, worker: int, incoming: Via, src: Peer) -> list[Out]:
        # RFC 3261 §16.11: the same branch for an INVITE and its CANCEL or failure ACK (their incoming
        # branch is the same); an RFC 2543 peer without the magic cookie: by Call-ID and CSeq number
        key = incoming.branch if incoming.branch.startswith(_MAGIC) else f"{msg.call_id}|{msg.get('cseq').split()[0]}"
        text = f"{key}|{incoming.host}|{incoming.port}".encode(errors="surrogateescape")
        digest = hashlib.sha256(text).hexdigest()[:20]
        branch = f"{_OURS}{digest}" + (f".{src.conn}" if src.conn else "")
        msg.push_via(f"SIP/2.0/{self.transport} {self.host}:{self.port};branch={branch}")
        return [ToWorker(worker, msg.to_bytes())]

    def _answer(self, msg: SipMessage, src: Peer, code: int, reason: str) -> list[Out]:
        tag = hashlib.sha256(msg.call_id.encode(errors="surrogateescape")).hexdigest()[:10]
        reply = response(msg, code, reason, to_tag=tag)
        host, port = Via.parse(msg.vias()[0]).reply_to()
        return [ToPeer(Peer(host, port, src.conn), reply.to_bytes())]

    def _is_ours(self, via: Via) -> bool:
        return via.branch.startswith(_OURS) and via.host == self.host and via.port == self.port


def _worker_at(host_port: tuple[str, int] | None, targets: Sequence[Target]) -> int | None:
    if host_port is None:
        return None
    return next((t.index for t in targets if (t.host, t.port) == host_port), None)


def _uri_host_port(start_line: str) -> tuple[str, int] | None:
    """The host and port of a request's Request-URI (``INVITE sip:user@host:port;params SIP/2.0``)."""
    parts = start_line.split(" ")
    if len(parts) != 3:
        return None
    uri = parts[1].split(";", 1)[0].split("?", 1)[0]
    hostport = uri.split("@", 1)[-1].removeprefix("sip:").removeprefix("sips:")
    host, _, port = hostport.rpartition(":") if hostport.count(":") == 1 else (hostport, "", "")
    try:
        return host, int(port) if port else 5060
    except ValueError:
        return None


def _conn_of(branch: str) -> int:
    _, dot, conn = branch.rpartition(".")
    return int(conn) if dot and conn.isdigit() else 0
