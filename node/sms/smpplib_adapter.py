"""The one adapter around smpplib: PDU codec and socket client of one SMPP bind, in its own thread.

smpplib is blocking and has no locking (its own ``listen`` loop writes from the reader). Here one
thread owns the client and its socket: it is the only one that reads, writes or closes it, so no
lock is needed and no PDU can interleave with another. Other threads talk to it through a command
deque and a wake-up socketpair. smpplib's ``state`` is set from the session (it keeps claiming
"bound" after a connection error), its enquire_link logic is not used, a non-zero submit_sm_resp is
an event (not an exception), and every foreign exception becomes a session event.

What the thread produces (acks, failures, state changes, received deliver_sm) is handed out in
batches through ``emit`` (called on this thread; the channel bridges to asyncio).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from alertnode.logs import log_ids
from alertnode.sms import pdu as fast
from alertnode.sms import session as s
from alertnode.sms.status import ESME_RINVEXPIRY

log = logging.getLogger(__name__)

_BOUND_STATE = {
    "transceiver": smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX,
    "transmitter": smpplib.consts.SMPP_CLIENT_STATE_BOUND_TX,
    "receiver": smpplib.consts.SMPP_CLIENT_STATE_BOUND_RX,
}
_MAX_READS_PER_ROUND = 256


@dataclass(frozen=True)
class TlsParams:
    """SMPP over TLS: how the SMSC's certificate is checked and which one the node shows."""

    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    verify: bool = True
    check_hostname: bool = True
    server_name: str = ""

    def context(self) -> ssl.SSLContext:
        """A client context (TLS 1.2 or later); raises ssl.SSLError or OSError for unusable files."""
        ctx = ssl.create_default_context(cafile=self.ca_file or None)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # RFC 8996: TLS 1.0 and 1.1 are deprecated
        ctx.check_hostname = self.verify and self.check_hostname
        if not self.verify:
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_file:
            ctx.load_cert_chain(self.cert_file, self.key_file or None)
        return ctx


@dataclass(frozen=True)
class BindParams:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str
    addr_ton: int
    addr_npi: int
    address_range: str
    connect_timeout: float
    tls: TlsParams | None = None


@dataclass(frozen=True)
class Inbound:
    """A deliver_sm received (receipt or MO) on ``link``'s ``link_role`` bind; answer it with
    :meth:`SmppThread.respond` under ``sequence`` and ``connection`` (the thread's count of connections
    when it came: an answer meant for an earlier connection is never written to a later one)."""

    link: str
    link_role: str
    sequence: int
    at: float
    deliver_sm: fast.DeliverSm
    connection: int = 0


@dataclass(frozen=True)
class LinkOutput:
    """One session action that the channel must act on, with the time it happened."""

    link: str
    action: s.Action | Inbound
    at: float


class SmppThread:
    """One bind (transceiver, transmitter or receiver) driven by a :class:`session.Session`."""

    def __init__(
        self,
        name: str,
        role: str,
        bind: BindParams,
        session_config: s.SessionConfig,
        submit_body: Callable[[int], bytes | None],
        emit: Callable[[list[LinkOutput]], None],
        coalesce_s: float = 0.0,
    ) -> None:
        self.name = name
        self._coalesce = coalesce_s
        self._cycle_at = 0.0
        self.role = role
        self.bind = bind
        self.session = s.Session(session_config)
        self._submit_body = submit_body
        self._rbuf = bytearray()
        self._wbuf: list[bytes] = []
        self._emit = emit
        self._commands: collections.deque[tuple[str, Any]] = collections.deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._client: smpplib.client.Client | None = None
        self._thread = threading.Thread(target=self._run, name=f"smpp-{name}-{role}", daemon=True)
        self._done = threading.Event()
        self.state = s.LinkState.UNBOUND
        self.state_reason = ""
        self.state_since = time.time()
        self.submitted = 0
        self.acked = 0
        self.reads = 0  # socket reads that brought data (PDUs per read shows the I/O coalescing)
        self.connection = 0  # counts the connections made; the current one's number while connected
        self.stale_answers = 0  # deliver_sm answers dropped because their connection was gone
        self.tls_error = ""  # why the last TLS handshake failed ("" after one succeeded)
        self._tls_context: ssl.SSLContext | None = None

    # -- called from other threads ---------------------------------------------------------
    def start(self) -> None:
        self._push("start", None)
        self._thread.start()

    def enqueue(self, parts: list[tuple[int, int]]) -> None:
        self._push("enqueue", tuple(parts))

    def respond(self, sequence: int, status: int, connection: int) -> None:
        """deliver_sm_resp for a deliver_sm that came on ``connection`` (see :class:`Inbound`)."""
        self._push("respond", (sequence, status, connection))

    def reconfigure(self, config: s.SessionConfig) -> None:
        self._push("config", config)

    def recorded(self, count: int) -> None:
        """The channel has recorded ``count`` of this thread's acknowledged parts (``hold_acks``)."""
        self._push("recorded", count)

    def stop(self) -> None:
        self._push("stop", None)

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def kill(self) -> None:
        """End now, whatever the session state (after :meth:`stop` ran out of time)."""
        self._push("kill", None)

    @property
    def queued(self) -> int:
        return self.session.queued + self.session.in_flight

    def _push(self, kind: str, value: Any) -> None:
        self._commands.append((kind, value))
        # a full or closed pipe means the thread is awake or gone anyway
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"x")

    # -- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            with log_ids(link=self.name):
                self._loop()
        except Exception:  # the thread must never die silently with messages in it
            log.exception("smpp link %s (%s) thread failed", self.name, self.role)
        finally:
            self._close()
            self._wake_r.close()
            self._wake_w.close()
            self._done.set()

    def _loop(self) -> None:
        sess = self.session
        while True:
            out: list[LinkOutput] = []
            stop_now = False
            while self._commands:
                kind, value = self._commands.popleft()
                now = time.monotonic()
                if kind == "start":
                    self._act(sess.handle(s.Start(), now), out)
                elif kind == "enqueue":
                    self._act(sess.handle(s.Enqueue(value), now), out)
                elif kind == "respond":
                    self._respond(*value)
                elif kind == "recorded":
                    self._act(sess.handle(s.Recorded(value), now), out)
                elif kind == "config":
                    self._act(sess.handle(s.Reconfigure(value), now), out)
                elif kind == "stop":
                    self._act(sess.handle(s.Stop(), now), out)
                elif kind == "kill":
                    stop_now = True
            self._send_buffered(out)
            if stop_now or sess.state is s.LinkState.STOPPED:
                self._flush(out)
                return
            now = time.monotonic()
            deadline = sess.deadline()
            if self._coalesce and sess.in_flight and not out:
                # Interrupt moderation: while submits are in flight, answers are read (and the freed
                # window refilled) at most once per coalesce period, so one wake-up, one recv and one
                # send carry several PDUs instead of one each. A timer due sooner is not delayed.
                pause = self._cycle_at + self._coalesce - now
                if deadline is not None:
                    pause = min(pause, deadline - now)
                if pause > 0:
                    time.sleep(pause)
                    now = time.monotonic()
            self._cycle_at = now
            timeout = 1.0 if deadline is None else max(0.0, min(1.0, deadline - now))
            if out:
                timeout = 0.0
            sock = self._client._socket if self._client is not None else None
            rlist: list[Any] = [self._wake_r] if sock is None else [self._wake_r, sock]
            try:
                readable, _, _ = select.select(rlist, [], [], timeout)
            except (OSError, ValueError) as exc:
                self._act(sess.handle(s.ConnectionLost(f"select: {exc}"), time.monotonic()), out)
                readable = []
            if self._wake_r in readable:
                try:
                    while self._wake_r.recv(4096):
                        pass
                except (BlockingIOError, OSError):
                    pass
            if sock is not None and sock in readable:
                self._read_available(sock, out)
            self._act(sess.handle(s.Tick(), time.monotonic()), out)
            self._send_buffered(out)
            self._flush(out)

    def _respond(self, sequence: int, status: int, connection: int) -> None:
        if connection != self.connection or self._client is None:
            # the bind dropped since: on a new connection this sequence number names another PDU (or
            # none), and the SMSC sends the unanswered deliver_sm again anyway
            self.stale_answers += 1
            log.info("link %s (%s): answer to deliver_sm %d of an earlier connection dropped", self.name, self.role,
                     sequence)
            return
        self._write_raw(fast.deliver_sm_resp(sequence, status))

    def _flush(self, out: list[LinkOutput]) -> None:
        if out:
            self._emit(out)

    def _read_available(self, sock: socket.socket, out: list[LinkOutput]) -> None:
        """Read what the socket has, frame it, and feed every whole PDU. submit_sm_resp and deliver_sm
        are decoded here directly (pdu.py, the hot path); every other PDU is parsed by smpplib."""
        client: Any = self._client
        try:
            data = sock.recv(1 << 16)
            if data and isinstance(sock, ssl.SSLSocket):
                # a TLS socket hands out one record per recv; records already decrypted are not seen by
                # select(), so take them all now
                while pending := sock.pending():
                    data += sock.recv(pending)
        except (BlockingIOError, InterruptedError, TimeoutError, ssl.SSLWantReadError):
            return
        except OSError as exc:
            self._act(self.session.handle(s.ConnectionLost(f"recv: {exc}"), time.monotonic()), out)
            return
        if not data:
            self._act(self.session.handle(s.ConnectionLost("closed by peer"), time.monotonic()), out)
            return
        self.reads += 1
        self._rbuf += data
        try:
            raws = fast.split(self._rbuf)
        except ValueError as exc:
            self._act(self.session.handle(s.ConnectionLost(f"broken framing: {exc}"), time.monotonic()), out)
            return
        for raw in raws:
            if id(self._client) != id(client):  # the connection was dropped meanwhile
                return
            command_id, status, seq = fast.header(raw)
            if command_id == fast.SUBMIT_SM_RESP:
                mid = fast.submit_sm_resp_id(raw) if status == 0 else ""
                self._act(self.session.handle(s.SubmitResp(seq, status, mid), time.monotonic()), out)
                continue
            if command_id == fast.DELIVER_SM:
                try:
                    dsm = fast.parse_deliver_sm(raw)
                except ValueError as exc:
                    log.warning("link %s: malformed deliver_sm (%s) answered ESME_RINVMSGLEN", self.name, exc)
                    self._write_raw(fast.deliver_sm_resp(seq, 0x01))
                    continue
                at = time.time()
                inbound = Inbound(self.name, self.role, seq, at, dsm, self.connection)
                out.append(LinkOutput(self.name, inbound, at))
                self._act(self.session.handle(s.PduReceived(), time.monotonic()), out)
                continue
            try:
                parsed = smpplib.smpp.parse_pdu(raw, client=client, allow_unknown_opt_params=True)
            except Exception as exc:  # noqa: BLE001 - smpplib raises bare errors on PDUs it cannot parse
                log.warning("link %s: unreadable PDU (%s); dropping the connection", self.name, exc)
                self._act(self.session.handle(s.ConnectionLost(f"unreadable PDU: {exc}"), time.monotonic()), out)
                return
            if parsed is None:
                log.warning("link %s: unknown command_id 0x%08x answered with generic_nack", self.name, command_id)
                self._write_raw(fast.HEADER.pack(16, fast.GENERIC_NACK, 0x03, seq))  # ESME_RINVCMDID
                continue
            self._on_pdu(parsed, out)

    def _on_pdu(self, pdu: Any, out: list[LinkOutput]) -> None:
        now = time.monotonic()
        cmd = pdu.command
        seq = int(pdu.sequence)
        status = int(pdu.status or 0)
        sess = self.session
        # submit_sm_resp and deliver_sm never come here: _read_available decodes them itself
        if cmd in ("bind_transceiver_resp", "bind_transmitter_resp", "bind_receiver_resp"):
            self._act(sess.handle(s.BindResp(seq, status), now), out)
        elif cmd == "enquire_link_resp":
            self._act(sess.handle(s.EnquireLinkResp(seq), now), out)
        elif cmd == "enquire_link":
            self._act(sess.handle(s.PeerEnquireLink(seq), now), out)
        elif cmd == "unbind":
            self._act(sess.handle(s.PeerUnbind(seq), now), out)
        elif cmd == "unbind_resp":
            self._act(sess.handle(s.UnbindResp(seq), now), out)
        elif cmd == "generic_nack":
            self._act(sess.handle(s.GenericNack(seq, status), now), out)
        else:
            log.debug("link %s: ignoring %s", self.name, cmd)
            self._act(sess.handle(s.PduReceived(), now), out)

    # -- actions ---------------------------------------------------------------------------
    def _act(self, actions: list[s.Action], out: list[LinkOutput]) -> None:
        for action in actions:
            match action:
                case s.Connect():
                    self._connect(out)
                case s.SendBind(sequence=seq):
                    self._send_bind(seq, out)
                case s.SendSubmit(sequence=seq, part=part):
                    body = self._submit_body(part)
                    if body is None:  # expired while queued, or dropped: answered here, never sent
                        self._act(self.session.handle(s.SubmitResp(seq, ESME_RINVEXPIRY, ""), time.monotonic()), out)
                        continue
                    self._write_raw(fast.submit_sm(seq, body))
                    self.submitted += 1
                case s.SendEnquireLink(sequence=seq):
                    self._send("enquire_link", seq, {}, out)
                case s.SendEnquireLinkResp(sequence=seq):
                    self._send_resp("enquire_link_resp", seq, 0, out)
                case s.SendUnbind(sequence=seq):
                    self._send("unbind", seq, {}, out)
                case s.SendUnbindResp(sequence=seq):
                    self._send_resp("unbind_resp", seq, 0, out)
                case s.Disconnect(reason=reason):
                    log.info("link %s (%s): disconnecting: %s", self.name, self.role, reason)
                    self._close()
                case s.StateChanged(state=state, reason=reason):
                    self.state = state
                    self.state_reason = reason
                    self.state_since = time.time()
                    level = logging.WARNING if state is s.LinkState.BACKING_OFF else logging.INFO
                    log.log(level, "link %s (%s) %s: %s", self.name, self.role, state.value, reason)
                    if self._client is not None and state is s.LinkState.BOUND:
                        self._client.state = _BOUND_STATE[self.role]
                    out.append(LinkOutput(self.name, action, time.time()))
                case s.Acked():
                    self.acked += 1
                    out.append(LinkOutput(self.name, action, time.time()))
                case s.Failed() | s.Requeued():
                    out.append(LinkOutput(self.name, action, time.time()))

    def _connect(self, out: list[LinkOutput]) -> None:
        self._close()
        client = smpplib.client.Client(
            self.bind.host,
            self.bind.port,
            timeout=self.bind.connect_timeout,
            allow_unknown_opt_params=True,
            logger_name=f"{__name__}.pdu",
        )
        try:
            client.connect()
        except (smpplib.exceptions.ConnectionError, OSError) as exc:
            if client._socket is not None:  # connect() leaves the socket it made open
                client._socket.close()
                client._socket = None
            self._act(self.session.handle(s.ConnectFailed(str(exc) or "refused"), time.monotonic()), out)
            return
        # PDUs are small and answered one by one: Nagle's algorithm would hold them back (RFC 896)
        with contextlib.suppress(OSError):
            client._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.bind.tls is not None:
            problem = self._start_tls(client)
            if problem:
                client._socket.close()
                client._socket = None
                self._act(self.session.handle(s.ConnectFailed(problem), time.monotonic()), out)
                return
        self.connection += 1
        self._client = client
        self._act(self.session.handle(s.Connected(), time.monotonic()), out)

    def _start_tls(self, client: smpplib.client.Client) -> str:
        """The TLS handshake on the connected socket (blocking, within the connect time-out); "" when it
        succeeded, else why not (the link stays down and tries again after its back-off)."""
        tls = self.bind.tls
        assert tls is not None
        try:
            if self._tls_context is None:
                self._tls_context = tls.context()
            client._socket = self._tls_context.wrap_socket(
                client._socket, server_hostname=tls.server_name or self.bind.host
            )
        except ssl.SSLCertVerificationError as exc:
            self.tls_error = f"TLS: the SMSC's certificate was not accepted: {exc.verify_message or exc}"
        except (ssl.SSLError, OSError, ValueError) as exc:
            self.tls_error = f"TLS: handshake failed: {exc}"
        else:
            self.tls_error = ""
            return ""
        log.warning("link %s (%s): %s", self.name, self.role, self.tls_error)
        return self.tls_error

    def _close(self) -> None:
        client = self._client
        if client is not None and self._wbuf:  # e.g. an unbind_resp queued just before
            with contextlib.suppress(OSError):
                client._socket.sendall(b"".join(self._wbuf))
        self._wbuf.clear()
        self._rbuf.clear()
        self._client = None
        if client is not None:
            client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN  # avoid smpplib's "disconnecting bound" noise
            try:
                client.disconnect()
            except OSError:
                log.debug("link %s: error closing socket", self.name, exc_info=True)

    def _send_bind(self, seq: int, out: list[LinkOutput]) -> None:
        b = self.bind
        self._send(
            f"bind_{self.role}",
            seq,
            {
                "system_id": b.system_id,
                "password": b.password,
                "system_type": b.system_type,
                "addr_ton": b.addr_ton,
                "addr_npi": b.addr_npi,
                "address_range": b.address_range,
            },
            out,
        )

    def _send(self, command: str, seq: int, fields: dict[str, Any], out: list[LinkOutput]) -> None:
        client = self._client
        if client is None:
            return  # the session learns of the dead link from ConnectionLost already fed
        pdu = smpplib.smpp.make_pdu(command, client=client, sequence=seq, **fields)
        pdu.sequence = seq  # smpplib ignores the keyword when the client has a sequence of its own
        self._write(client, pdu, out)

    def _send_resp(self, command: str, seq: int, status: int, out: list[LinkOutput]) -> None:
        client = self._client
        if client is None:
            return  # the SMSC will resend what was not answered
        pdu = smpplib.smpp.make_pdu(command, client=client, status=status, sequence=seq)
        pdu.sequence = seq
        self._write(client, pdu, out)

    def _write(self, client: smpplib.client.Client, pdu: Any, out: list[LinkOutput]) -> None:
        self._write_raw(pdu.generate())

    def _write_raw(self, data: bytes) -> None:
        """Queue bytes for the current connection; :meth:`_send_buffered` writes them in one go."""
        if self._client is not None:
            self._wbuf.append(data)

    def _send_buffered(self, out: list[LinkOutput]) -> None:
        client = self._client
        if not self._wbuf or client is None:
            self._wbuf.clear()
            return
        data = b"".join(self._wbuf)
        self._wbuf.clear()
        try:
            client._socket.sendall(data)
        except OSError as exc:
            self._act(self.session.handle(s.ConnectionLost(f"send: {exc}"), time.monotonic()), out)
