"""The SMSC simulator: an SMPP 3.4 server on PyPI ``smpp34`` (a Rust/tokio core), run by the node in sandbox
mode and, through ``tools/peers/smsc_sim.py`` (a thin launcher of :func:`main`), by the tests and benchmarks.

SMPP side (loopback only):

* accepts any bind (TX/RX/TRX); enquire_link is answered by the smpp34 core;
* submit_sm is answered with a hex message id (``id_format="dec"``: decimal; ``"uuid"``: a UUID with leading
  zeros, as Jasmin writes them), except that a destination starting with ``reject_prefix`` (999) gets
  ESME_RINVDSTADR, ``throttle_prefix`` (997) ESME_RTHROTTLED, ``hold_prefix`` (996) never an answer,
  ``undeliv_prefix`` (998) is accepted with an UNDELIV receipt, and ``silent_prefix`` (995) is accepted but
  its receipt never comes (a gateway that lost it);
* ``registered_delivery & 3 == 1`` (or ``== 2`` and the message failed) brings a deliver_sm receipt
  (esm_class 0x04, SMPP 3.4 Appendix B text ``id:.. sub:001 dlvrd:.. stat:DELIVRD err:000 text:..``, with the
  TLVs receipted_message_id and message_state); ``receipt_id_format`` writes its id in the other form, as
  carriers that mix them do;
* a text starting ``ECHO`` is sent back as an MO deliver_sm (the parts of a concatenated text are collected
  until all are in, then echoed in order with their esm_class, data_coding and SAR/message_payload TLVs);
* :meth:`Smsc.inject_mo` sends a mobile-originated text (GSM basic characters as Latin-1 bytes with
  data_coding 0, as most SMSCs write them on SMPP; anything else UCS-2, data_coding 8; long texts split
  with a UDH, esm_class 0x40).

``on_submit`` (the sandbox's phone book) sees every submit_sm with its answer; ``log`` writes one JSON line
per submit_sm (line-buffered, so every line is on disk before a kill -9). The control HTTP side of the
launcher (``/mo`` and ``/stats``, plain GET) is :func:`serve_control`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
import time
import urllib.parse
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TextIO

import smpp34

from alertnode.sandbox.texts import (
    ESM_UDHI,
    HELD,
    TLV_MESSAGE_PAYLOAD,
    TLV_MESSAGE_STATE,
    TLV_RECEIPTED_MESSAGE_ID,
    TLV_SAR_MSG_REF_NUM,
    TLV_SAR_SEGMENT_SEQNUM,
    TLV_SAR_TOTAL_SEGMENTS,
)

GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ`¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
ECHO_UCS2 = "ECHO".encode("utf-16-be")
# SMPP 3.4 §5.2.28 message_state values
MSG_STATE = {"DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "ACCEPTD": 6, "UNKNOWN": 7, "REJECTD": 8}
# SMPP 3.4 §5.2.12 esm_class 0x04: delivery receipt; §5.1.3 command_status values
ESM_RECEIPT = 0x04
ESME_RINVDSTADR = 0x0000000B
ESME_RTHROTTLED = 0x00000058
# GSM 03.40 §9.2.3.24: 160 septets in one SM, 153 per part after a 6-octet UDH; UCS-2: 140 / 134 octets
_GSM_SINGLE, _GSM_PART = 160, 153
_UCS2_SINGLE, _UCS2_PART = 140, 134
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class SmscOptions:
    host: str = "127.0.0.1"
    port: int = 42775
    system_id: str = "SIMSMSC"
    dlr_delay_ms: int = 0
    dlr_retries: int = 0
    """tries again of a receipt not handed over (no bind, an error answer, the bind gone), 0.5 s apart"""
    dlr_route: str = "same"
    """same: receipts to the submitting bind (else another of its account); any: any bind of the account, at
    random (several nodes bound to one account)"""
    hold_prefix: str = "996"
    reject_prefix: str = "999"
    throttle_prefix: str = "997"
    undeliv_prefix: str = "998"
    silent_prefix: str = "995"
    id_format: str = "hex"
    id_start: int = 1
    receipt_id_format: str = "same"
    verbose: bool = False


@dataclass(frozen=True)
class Submitted:
    """One submit_sm as the SMSC saw it, and what it answered (``status`` 0, an SMPP error, or HELD)."""

    at: float
    session_id: str
    source_addr: str
    destination_addr: str
    data_coding: int
    esm_class: int
    short_message: bytes
    tlvs: dict[int, bytes]
    registered_delivery: int
    status: int
    message_id: str = ""


@dataclass(frozen=True)
class MoResult:
    ok: bool
    parts: int = 0
    data_coding: int = 0
    error: str = ""


@dataclass
class _Stats:
    binds: int = 0
    unbinds: int = 0
    submit_sm: int = 0
    rejected: int = 0
    dlr_sent: int = 0
    dlr_failed: int = 0
    dlr_withheld: int = 0
    mo_sent: int = 0
    mo_failed: int = 0
    started: float = field(default_factory=time.time)


def now_stamp() -> str:
    return time.strftime("%y%m%d%H%M")


def mo_parts(text: str, ref: int) -> tuple[list[bytes], int, int]:
    """A mobile-originated text as short_message bodies, its data_coding and esm_class."""
    if set(text) <= GSM_BASIC:
        # data_coding 0 = the SMSC's default alphabet; the GSM basic characters go as Latin-1 bytes
        raw, dcs, single, part = text.encode("latin-1"), 0, _GSM_SINGLE, _GSM_PART
    else:
        raw, dcs, single, part = text.encode("utf-16-be"), 8, _UCS2_SINGLE, _UCS2_PART
    if len(raw) <= single:
        return [raw], dcs, 0
    chunks = [raw[i : i + part] for i in range(0, len(raw), part)]
    # GSM 03.40 §9.2.3.24.1: IEI 0 (concatenation, 8-bit reference), length 3
    return [bytes([5, 0, 3, ref & 0xFF, len(chunks), i + 1]) + c for i, c in enumerate(chunks)], dcs, ESM_UDHI


class Smsc:
    def __init__(self, options: SmscOptions, *, on_submit: Callable[[Submitted], None] | None = None,
                 on_receipt: Callable[[str, str, bool], None] | None = None, log: TextIO | None = None) -> None:
        if options.host not in LOOPBACK:
            raise ValueError("the SMSC simulator listens on loopback only")
        self.options = options
        self.on_submit = on_submit
        self.on_receipt = on_receipt
        """(message id as in submit_sm_resp, stat, whether the receipt was taken)"""
        self.log = log
        self.sessions: dict[str, smpp34.Esme] = {}
        # session_id -> system_id, kept after the session ends (its receipts go to another bind of the account)
        self.accounts: dict[str, str] = {}
        self.seq = itertools.count(options.id_start)
        self.ref = itertools.count(random.randint(0, 255))
        self.stats = _Stats()
        self.held: list[smpp34.SubmitSmEvent] = []  # kept so that smpp34 never answers them
        self.echo_parts: dict[tuple[str, str, int, int], dict[int, tuple[bytes, int, int, list[smpp34.Tlv]]]] = {}
        self._bg: set[asyncio.Task[Any]] = set()
        self._server: smpp34.Server | None = None
        self._loop_task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        o = self.options
        self._server = smpp34.Server(o.host, o.port, system_id=o.system_id)
        await self._server.start()
        self._loop_task = asyncio.create_task(self._serve(self._server), name="smsc")

    async def stop(self) -> None:
        for task in [self._loop_task, *self._bg]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in [self._loop_task, *self._bg] if t is not None), return_exceptions=True)
        self._loop_task = None
        if self._server is not None:
            await self._server.stop()
            self._server = None
        self.held.clear()
        self.sessions.clear()

    async def wait(self) -> None:
        if self._loop_task is not None:
            await self._loop_task

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._bg.add(task)
        task.add_done_callback(self._bg.discard)

    def stats_json(self) -> dict[str, Any]:
        return {**vars(self.stats), "sessions": len(self.sessions), "held": len(self.held)}

    # ------------------------------------------------------------------------------------ SMPP
    async def _serve(self, server: smpp34.Server) -> None:
        while True:
            ev = await server.next()
            if isinstance(ev, smpp34.SubmitSmEvent):
                self.on_submit_sm(ev)
            elif isinstance(ev, smpp34.Esme):
                self.sessions[ev.session_id] = ev
                self.accounts[ev.session_id] = ev.system_id
                self.stats.binds += 1
                if self.options.verbose:
                    print(f"bind system_id={ev.system_id} session={ev.session_id} rx={ev.can_receive}", flush=True)
            elif isinstance(ev, smpp34.Unbound):
                self.sessions.pop(ev.session_id, None)
                self.stats.unbinds += 1

    def _record(self, ev: smpp34.SubmitSmEvent, status: int, msgid: str = "") -> None:
        if self.on_submit is not None:
            self.on_submit(Submitted(time.time(), ev.session_id, ev.source_addr, ev.destination_addr, ev.data_coding,
                                     ev.esm_class, ev.short_message, {t.tag: t.value for t in ev.tlvs},
                                     ev.registered_delivery, status, msgid))
        if self.log is None:
            return
        self.log.write(json.dumps({
            "t": time.time(), "dest": ev.destination_addr, "src": ev.source_addr, "src_ton": ev.source_addr_ton,
            "dst_ton": ev.dest_addr_ton, "dcs": ev.data_coding, "esm": ev.esm_class, "sm": ev.short_message.hex(),
            "rd": ev.registered_delivery, "tlvs": {str(t.tag): t.value.hex() for t in ev.tlvs}, "status": status,
            "id": msgid,
        }) + "\n")

    def on_submit_sm(self, ev: smpp34.SubmitSmEvent) -> None:
        o = self.options
        self.stats.submit_sm += 1
        dest = ev.destination_addr
        if dest.startswith(o.hold_prefix):
            self.held.append(ev)
            self._record(ev, HELD)
            return
        for prefix, status in ((o.reject_prefix, ESME_RINVDSTADR), (o.throttle_prefix, ESME_RTHROTTLED)):
            if dest.startswith(prefix):
                self.stats.rejected += 1
                self._record(ev, status)
                ev.reject(status)
                return
        n = next(self.seq)
        if o.id_format == "uuid":  # as Jasmin writes them: leading zeros are part of the id
            msgid = f"{n:08x}-0e9d-4878-9c3a-{n:012x}"
        else:
            msgid = str(n) if o.id_format == "dec" else format(n, "x")
        rid = {"dec": str(n), "hex": format(n, "x")}.get(o.receipt_id_format, msgid)
        self._record(ev, 0, msgid)
        ev.accept(msgid)
        failed = dest.startswith(o.undeliv_prefix)
        rd = ev.registered_delivery & 0x03  # SMPP 3.4 §5.2.17: 1 = always, 2 = on failure
        if dest.startswith(o.silent_prefix):
            self.stats.dlr_withheld += 1
        elif rd == 1 or (rd == 2 and failed):
            self.spawn(self.send_dlr(ev, msgid, rid, "UNDELIV" if failed else "DELIVRD"))
        sm = ev.short_message
        if not ev.esm_class & ESM_UDHI and sm and sm[:4] != b"ECHO" and sm[:8] != ECHO_UCS2 and not ev.tlvs:
            return  # the common case, kept cheap: a plain single text that is not an echo request
        payload = b""
        tlvs = []
        for t in ev.tlvs:
            if t.tag == TLV_MESSAGE_PAYLOAD:
                payload = t.value
            if t.tag in (TLV_SAR_MSG_REF_NUM, TLV_SAR_TOTAL_SEGMENTS, TLV_SAR_SEGMENT_SEQNUM,
                         TLV_MESSAGE_PAYLOAD):
                tlvs.append(smpp34.Tlv(t.tag, t.value))
        self.maybe_echo(ev, sm, payload, tlvs)

    def maybe_echo(self, ev: smpp34.SubmitSmEvent, sm: bytes, payload: bytes, tlvs: list[smpp34.Tlv]) -> None:
        """Echo texts starting with ECHO back as MO. Parts of a concatenated text are collected until all are in
        (an SMSC may see them out of order), then echoed in order if part 1 starts with ECHO."""
        udh = ev.esm_class & ESM_UDHI
        total = seq = ref = None
        if udh and sm:
            ies = sm[1 : 1 + sm[0]]
            if len(ies) >= 5 and ies[0] == 0:
                ref, total, seq = ies[2], ies[3], ies[4]
            elif len(ies) >= 6 and ies[0] == 8:
                ref, total, seq = (ies[2] << 8) | ies[3], ies[4], ies[5]
        else:
            sar = {t.tag: t.value for t in ev.tlvs}
            if TLV_SAR_MSG_REF_NUM in sar:
                ref = int.from_bytes(sar[TLV_SAR_MSG_REF_NUM], "big")
                total = sar[TLV_SAR_TOTAL_SEGMENTS][0]
                seq = sar[TLV_SAR_SEGMENT_SEQNUM][0]
        part = (sm, ev.data_coding, ev.esm_class & ESM_UDHI, tlvs)
        if total is None or total <= 1 or ref is None or seq is None:
            parts = [part]
        else:
            key = (ev.source_addr, ev.destination_addr, ref, total)
            got = self.echo_parts.setdefault(key, {})
            got[seq] = part
            if len(got) < total:
                return
            del self.echo_parts[key]
            parts = [got[k] for k in sorted(got)]
        first = parts[0][0]
        text = first[1 + first[0] :] if (parts[0][2] and first) else (first or payload)
        if not (text[:4] == b"ECHO" or text[:8] == ECHO_UCS2):
            return
        self.spawn(self.echo(ev.session_id, ev.destination_addr, ev.source_addr, parts))

    async def echo(self, session_id: str, src: str, dst: str,
                   parts: list[tuple[bytes, int, int, list[smpp34.Tlv]]]) -> None:
        for body, dcs, esm, tlvs in parts:
            await self.send_mo(session_id, src=src, dst=dst, body=body, dcs=dcs, esm=esm, tlvs=tlvs)

    async def send_dlr(self, ev: smpp34.SubmitSmEvent, msgid: str, rid: str, stat: str) -> None:
        if self.options.dlr_delay_ms:
            await asyncio.sleep(self.options.dlr_delay_ms / 1000)
        # as an SMSC does, a receipt that could not be handed over (no bind, an error answer, the bind gone
        # meanwhile) is tried again, on any bind of the account, dlr_retries times
        ok = False
        for attempt in range(self.options.dlr_retries + 1):
            if attempt:
                await asyncio.sleep(0.5)
            ok = await self._send_dlr_once(ev, rid, stat)
            if ok:
                break
        if ok:
            self.stats.dlr_sent += 1
        else:
            self.stats.dlr_failed += 1
        if self.on_receipt is not None:
            self.on_receipt(msgid, stat, ok)

    async def _send_dlr_once(self, ev: smpp34.SubmitSmEvent, rid: str, stat: str) -> bool:
        esme = self.receiver_for(ev.session_id)
        if esme is None:
            return False
        d = now_stamp()
        err = "001" if stat != "DELIVRD" else "000"
        text = ev.short_message[:20].decode("latin-1", "replace") if ev.data_coding in (0, 1, 3) else ""
        body = (f"id:{rid} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} submit date:{d} "
                f"done date:{d} stat:{stat} err:{err} text:{text}").encode("latin-1", "replace")
        try:
            r = await esme.deliver_sm(
                ev.source_addr, body, source_addr=ev.destination_addr, source_addr_ton=ev.dest_addr_ton,
                source_addr_npi=ev.dest_addr_npi, dest_addr_ton=ev.source_addr_ton,
                dest_addr_npi=ev.source_addr_npi, esm_class=ESM_RECEIPT,
                tlvs=[smpp34.Tlv(TLV_RECEIPTED_MESSAGE_ID, rid.encode() + b"\0"),
                      smpp34.Tlv(TLV_MESSAGE_STATE, bytes([MSG_STATE[stat]]))],
            )
            return bool(r.is_success)
        except Exception as exc:  # noqa: BLE001 (session gone, time-out: counted, never raised)
            if self.options.verbose:
                print("dlr error", exc, flush=True)
            return False

    async def send_mo(self, session_id: str, *, src: str, dst: str, body: bytes, dcs: int, esm: int,
                      tlvs: list[smpp34.Tlv] | None = None) -> bool:
        esme = self.receiver_for(session_id)
        if esme is None:
            self.stats.mo_failed += 1
            return False
        try:
            r = await esme.deliver_sm(dst, body, source_addr=src, source_addr_ton=1, source_addr_npi=1,
                                      dest_addr_ton=1, dest_addr_npi=1, esm_class=esm, data_coding=dcs,
                                      tlvs=tlvs or [])
            ok = r.is_success
        except Exception:  # noqa: BLE001 (session gone, time-out: counted as a failed MO)
            ok = False
        if ok:
            self.stats.mo_sent += 1
        else:
            self.stats.mo_failed += 1
        return ok

    def receiver_for(self, session_id: str) -> smpp34.Esme | None:
        """The session itself if it can receive, else a receiver bound with the same system_id (as an SMSC
        routes receipts of a transmitter bind to its receiver bind, and those of a session that ended to
        another bind of its account). dlr_route any: any receiver of the account, at random (several nodes
        bound to one account)."""
        esme = self.sessions.get(session_id)
        if esme is not None and esme.can_receive and self.options.dlr_route == "same":
            return esme
        system_id = esme.system_id if esme is not None else self.accounts.get(session_id)
        if system_id is None:
            return None
        sid = self.pick_session(system_id, randomly=self.options.dlr_route == "any")
        return self.sessions.get(sid) if sid is not None else None

    def pick_session(self, system_id: str | None, randomly: bool = False) -> str | None:
        found = [sid for sid, e in self.sessions.items()
                 if e.can_receive and (not system_id or e.system_id == system_id)]
        if not found:
            return None
        return random.choice(found) if randomly else found[0]

    async def inject_mo(self, to: str, sender: str, text: str, system_id: str | None = None) -> MoResult:
        """Send ``text`` from ``sender`` to ``to`` (numbers without '+', TON 1) to a bound receiver."""
        sid = self.pick_session(system_id)
        if sid is None:
            return MoResult(False, error="no bound receiver/transceiver session")
        parts, dcs, esm = mo_parts(text, next(self.ref))
        ok = True
        for p in parts:
            ok &= await self.send_mo(sid, src=sender, dst=to, body=p, dcs=dcs, esm=esm)
        return MoResult(ok, len(parts), dcs, "" if ok else "the ESME did not take the deliver_sm")


# ------------------------------------------------------------------------------------ the launcher
async def _handle_http(smsc: Smsc, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        line = (await reader.readline()).decode("latin-1")
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        path = line.split(" ")[1] if " " in line else "/"
        u = urllib.parse.urlsplit(path)
        q = dict(urllib.parse.parse_qsl(u.query))
        obj: dict[str, Any]
        if u.path == "/mo":
            res = await smsc.inject_mo(q.get("to", "12345"), q.get("from", "4915112345678"), q.get("text", "hello"),
                                       q.get("system_id"))
            if res.error and not res.parts:
                code, obj = 409, {"error": res.error}
            else:
                code, obj = (200 if res.ok else 502), {"parts": res.parts, "data_coding": res.data_coding, "ok": res.ok}
        elif u.path == "/stats":
            code, obj = 200, smsc.stats_json()
        else:
            code, obj = 404, {"error": "use /mo or /stats"}
        body = json.dumps(obj).encode()
        head = b"HTTP/1.0 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (code, len(body))
        writer.write(head + body)
        await writer.drain()
    finally:
        writer.close()


async def serve_control(smsc: Smsc, host: str, port: int) -> asyncio.Server:
    """The launcher's control HTTP (plain GET): ``/mo?to=NUM&from=NUM&text=TXT[&system_id=ID]`` injects an MO,
    ``/stats`` answers the counters as JSON."""
    return await asyncio.start_server(lambda r, w: _handle_http(smsc, r, w), host, port)


async def _run(options: SmscOptions, ctl_port: int, log_path: str) -> None:
    # line-buffered and open for the whole run, so every line is on disk before a kill -9
    log = open(log_path, "a", buffering=1, encoding="utf-8") if log_path else None  # noqa: SIM115
    smsc = Smsc(options, log=log)
    srv = await serve_control(smsc, options.host, ctl_port)
    print(f"smsc_sim: control HTTP on {options.host}:{ctl_port}", flush=True)
    async with srv:
        await smsc.start()
        print(f"smsc_sim: SMPP listening on {options.host}:{options.port}", flush=True)
        await smsc.wait()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="SMSC simulator (SMPP 3.4 on smpp34), loopback only")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=42775)
    ap.add_argument("--ctl-port", type=int, default=42780)
    ap.add_argument("--system-id", default="SIMSMSC")
    ap.add_argument("--dlr-delay-ms", type=int, default=0)
    ap.add_argument("--dlr-retries", type=int, default=0, help="tries again of a receipt not handed over")
    ap.add_argument("--dlr-route", choices=("same", "any"), default="same",
                    help="receipts to the submitting bind (else another of its account), or any bind of the account")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--log", default="", help="append one JSON line per submit_sm to this file")
    ap.add_argument("--hold-prefix", default="996", help="destinations never answered")
    ap.add_argument("--reject-prefix", default="999", help="destinations rejected with ESME_RINVDSTADR")
    ap.add_argument("--throttle-prefix", default="997", help="destinations answered ESME_RTHROTTLED")
    ap.add_argument("--undeliv-prefix", default="998", help="destinations accepted with an UNDELIV receipt")
    ap.add_argument("--silent-prefix", default="995", help="destinations accepted whose receipt never comes")
    ap.add_argument("--id-format", choices=("hex", "dec", "uuid"), default="hex")
    ap.add_argument("--id-start", type=int, default=1, help="first message id (a restarted SMSC may use another)")
    ap.add_argument("--receipt-id-format", choices=("same", "hex", "dec"), default="same")
    args = ap.parse_args(argv)
    if args.host not in LOOPBACK:
        sys.exit("loopback only")
    options = SmscOptions(
        host=args.host, port=args.port, system_id=args.system_id, dlr_delay_ms=args.dlr_delay_ms,
        dlr_retries=args.dlr_retries, dlr_route=args.dlr_route,
        hold_prefix=args.hold_prefix, reject_prefix=args.reject_prefix, throttle_prefix=args.throttle_prefix,
        undeliv_prefix=args.undeliv_prefix, silent_prefix=args.silent_prefix,
        id_format=args.id_format, id_start=args.id_start,
        receipt_id_format=args.receipt_id_format, verbose=args.verbose,
    )
    asyncio.run(_run(options, args.ctl_port, args.log))
