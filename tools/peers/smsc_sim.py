#!/usr/bin/env python3
"""Minimal SMSC simulator on top of PyPI `smpp34` (Rust/tokio SMPP 3.4 server).

SMPP side (default 127.0.0.1:42775):
  * accepts any bind (TX/RX/TRX), answers enquire_link (done by the smpp34 core)
  * submit_sm  -> submit_sm_resp with a hex message_id
      dest starting 999 -> reject ESME_RINVDSTADR
      dest starting 997 -> reject ESME_RTHROTTLED
      dest starting 998 -> accepted, DLR stat:UNDELIV err:001
      dest starting 996 -> never answered (the submit_sm_resp never comes; --hold-prefix changes it)
      dest starting 995 -> accepted, but its receipt never comes (--silent-prefix; a gateway that lost it)
      text starting ECHO -> accepted, and the text is sent back as an MO deliver_sm (parts of a
                            concatenated text are collected until all are in, then echoed in order; same esm_class,
                            data_coding and SAR/message_payload TLVs, so concatenated texts come back
                            concatenated)
  * --log FILE: one JSON line per submit_sm (flushed at once, so it survives a kill -9):
      {"t", "dest", "src", "src_ton", "dcs", "esm", "sm" (hex), "tlvs" {tag: hex}, "status", "id"}
  * --id-format dec: message ids in decimal instead of hex (receipts then carry the same form); uuid:
    UUIDs with leading zeros (00000001-0e9d-…), as Jasmin answers;
    --receipt-id-format dec|hex: the form used in receipts only (carriers that mix them)
  * registered_delivery & 3 == 1 (or ==2 and failed) -> deliver_sm receipt
      esm_class=0x04, "id:.. sub:001 dlvrd:001 submit date:.. done date:.. stat:DELIVRD err:000 text:.."
      plus TLVs receipted_message_id (0x001E) and message_state (0x0427)
Control HTTP side (default 127.0.0.1:42780), plain GET:
  /mo?to=NUM&from=NUM&text=TXT[&system_id=ID]   inject an MO deliver_sm (GSM/latin -> dcs 0, else UCS2 dcs 8;
                                                 long texts are split with a UDH, esm_class 0x40)
  /stats                                        JSON counters
"""

import argparse
import asyncio
import itertools
import json
import random
import sys
import time
import urllib.parse

import smpp34

# alertnode additions (tools/peers/smsc_sim.py): --log, --hold-prefix, --id-format,
# --receipt-id-format, echo keeping UDH/SAR/payload, /stats with "held", --silent-prefix,
# --id-format uuid.

GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ`¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
ECHO_UCS2 = "ECHO".encode("utf-16-be")
MSG_STATE = {"DELIVRD": 2, "EXPIRED": 3, "DELETED": 4, "UNDELIV": 5, "ACCEPTD": 6, "UNKNOWN": 7, "REJECTD": 8}


def now_stamp():
    return time.strftime("%y%m%d%H%M")


class Sim:
    def __init__(self, args):
        self.args = args
        self.sessions = {}  # session_id -> smpp34.Esme
        self.seq = itertools.count(args.id_start)
        self.ref = itertools.count(random.randint(0, 255))
        self.stats = {
            "binds": 0,
            "unbinds": 0,
            "submit_sm": 0,
            "rejected": 0,
            "dlr_sent": 0,
            "dlr_failed": 0,
            "dlr_withheld": 0,
            "mo_sent": 0,
            "mo_failed": 0,
            "started": time.time(),
        }
        self.bg = set()
        self.held = []  # submit events deliberately never answered
        self.echo_parts = {}  # (src, dst, ref, total) -> {seq: part} of concatenated texts
        # line-buffered and open for the whole run, so every line is on disk before a kill -9
        self.log = open(args.log, "a", buffering=1, encoding="utf-8") if args.log else None  # noqa: SIM115

    def spawn(self, coro):
        t = asyncio.create_task(coro)
        self.bg.add(t)
        t.add_done_callback(self.bg.discard)

    # ---------------------------------------------------------------- SMPP
    async def run_smpp(self):
        server = smpp34.Server(self.args.host, self.args.port, system_id=self.args.system_id)
        await server.start()
        print(f"smsc_sim: SMPP listening on {self.args.host}:{self.args.port}", flush=True)
        while True:
            ev = await server.next()
            if isinstance(ev, smpp34.SubmitSmEvent):
                self.on_submit(ev)
            elif isinstance(ev, smpp34.Esme):
                self.sessions[ev.session_id] = ev
                self.stats["binds"] += 1
                if self.args.verbose:
                    print(
                        f"bind system_id={ev.system_id} session={ev.session_id} rx={ev.can_receive}",
                        flush=True,
                    )
            elif isinstance(ev, smpp34.Unbound):
                self.sessions.pop(ev.session_id, None)
                self.stats["unbinds"] += 1

    def record(self, ev, status, msgid=""):
        if self.log is None:
            return
        self.log.write(
            json.dumps(
                {
                    "t": time.time(),
                    "dest": ev.destination_addr,
                    "src": ev.source_addr,
                    "src_ton": ev.source_addr_ton,
                    "dst_ton": ev.dest_addr_ton,
                    "dcs": ev.data_coding,
                    "esm": ev.esm_class,
                    "sm": ev.short_message.hex(),
                    "rd": ev.registered_delivery,
                    "tlvs": {str(t.tag): t.value.hex() for t in ev.tlvs},
                    "status": status,
                    "id": msgid,
                }
            )
            + "\n"
        )

    def on_submit(self, ev):
        self.stats["submit_sm"] += 1
        dest = ev.destination_addr
        if dest.startswith(self.args.hold_prefix):
            self.held.append(ev)
            self.record(ev, -1)
            return
        if dest.startswith(self.args.reject_prefix):
            self.stats["rejected"] += 1
            self.record(ev, smpp34.ESME_RINVDSTADR)
            ev.reject(smpp34.ESME_RINVDSTADR)
            return
        if dest.startswith(self.args.throttle_prefix):
            self.stats["rejected"] += 1
            self.record(ev, smpp34.ESME_RTHROTTLED)
            ev.reject(smpp34.ESME_RTHROTTLED)
            return
        n = next(self.seq)
        if self.args.id_format == "uuid":  # as Jasmin writes them: leading zeros are part of the id
            msgid = f"{n:08x}-0e9d-4878-9c3a-{n:012x}"
        else:
            msgid = str(n) if self.args.id_format == "dec" else format(n, "x")
        rid = msgid
        if self.args.receipt_id_format == "dec":
            rid = str(n)
        elif self.args.receipt_id_format == "hex":
            rid = format(n, "x")
        self.record(ev, 0, msgid)
        ev.accept(msgid)
        failed = dest.startswith(self.args.undeliv_prefix)
        rd = ev.registered_delivery & 0x03
        if dest.startswith(self.args.silent_prefix):
            self.stats["dlr_withheld"] += 1
        elif rd == 1 or (rd == 2 and failed):
            self.spawn(self.send_dlr(ev, rid, "UNDELIV" if failed else "DELIVRD"))
        sm = ev.short_message
        if not ev.esm_class & 0x40 and sm and sm[:4] != b"ECHO" and sm[:8] != ECHO_UCS2 and not ev.tlvs:
            return  # the common case, kept cheap: a plain single text that is not an echo request
        payload = b""
        tlvs = []
        for t in ev.tlvs:
            if t.tag == smpp34.TLV_MESSAGE_PAYLOAD:
                payload = t.value
            if t.tag in (
                smpp34.TLV_SAR_MSG_REF_NUM,
                smpp34.TLV_SAR_TOTAL_SEGMENTS,
                smpp34.TLV_SAR_SEGMENT_SEQNUM,
                smpp34.TLV_MESSAGE_PAYLOAD,
            ):
                tlvs.append(smpp34.Tlv(t.tag, t.value))
        self.maybe_echo(ev, sm, payload, tlvs)

    def maybe_echo(self, ev, sm, payload, tlvs):
        """Echo texts starting with ECHO back as MO. Parts of a concatenated text are collected until all
        are in (an SMSC may see them out of order), then echoed in order if part 1 starts with ECHO."""
        udh = ev.esm_class & 0x40
        total = seq = ref = None
        if udh and sm:
            ies = sm[1 : 1 + sm[0]]
            if len(ies) >= 5 and ies[0] == 0:
                ref, total, seq = ies[2], ies[3], ies[4]
            elif len(ies) >= 6 and ies[0] == 8:
                ref, total, seq = (ies[2] << 8) | ies[3], ies[4], ies[5]
        else:
            sar = {t.tag: t.value for t in ev.tlvs}
            if smpp34.TLV_SAR_MSG_REF_NUM in sar:
                ref = int.from_bytes(sar[smpp34.TLV_SAR_MSG_REF_NUM], "big")
                total = sar[smpp34.TLV_SAR_TOTAL_SEGMENTS][0]
                seq = sar[smpp34.TLV_SAR_SEGMENT_SEQNUM][0]
        part = (sm, ev.data_coding, ev.esm_class & 0x40, tlvs)
        if total is None or total <= 1:
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
        if not (text[:4] == b"ECHO" or text[:8] == "ECHO".encode("utf-16-be")):
            return
        self.spawn(self.echo(ev.session_id, ev.destination_addr, ev.source_addr, parts))

    async def echo(self, session_id, src, dst, parts):
        for body, dcs, esm, tlvs in parts:
            await self.send_mo(session_id, src=src, dst=dst, body=body, dcs=dcs, esm=esm, tlvs=tlvs)

    async def send_dlr(self, ev, msgid, stat):
        if self.args.dlr_delay_ms:
            await asyncio.sleep(self.args.dlr_delay_ms / 1000)
        esme = self.receiver_for(ev.session_id)
        if esme is None:
            self.stats["dlr_failed"] += 1
            return
        d = now_stamp()
        err = "001" if stat != "DELIVRD" else "000"
        text = ev.short_message[:20].decode("latin-1", "replace") if ev.data_coding in (0, 1, 3) else ""
        body = (
            f"id:{msgid} sub:001 dlvrd:{'001' if stat == 'DELIVRD' else '000'} submit date:{d} "
            f"done date:{d} stat:{stat} err:{err} text:{text}"
        ).encode("latin-1", "replace")
        try:
            r = await esme.deliver_sm(
                ev.source_addr,
                body,
                source_addr=ev.destination_addr,
                source_addr_ton=ev.dest_addr_ton,
                source_addr_npi=ev.dest_addr_npi,
                dest_addr_ton=ev.source_addr_ton,
                dest_addr_npi=ev.source_addr_npi,
                esm_class=0x04,
                tlvs=[
                    smpp34.Tlv(smpp34.TLV_RECEIPTED_MESSAGE_ID, msgid.encode() + b"\0"),
                    smpp34.Tlv(smpp34.TLV_MESSAGE_STATE, bytes([MSG_STATE[stat]])),
                ],
            )
            self.stats["dlr_sent" if r.is_success else "dlr_failed"] += 1
        except Exception as e:  # session gone, timeout ...
            self.stats["dlr_failed"] += 1
            if self.args.verbose:
                print("dlr error", e, flush=True)

    async def send_mo(self, session_id, src, dst, body, dcs, esm, tlvs=None):
        esme = self.receiver_for(session_id)
        if esme is None:
            self.stats["mo_failed"] += 1
            return False
        try:
            r = await esme.deliver_sm(
                dst,
                body,
                source_addr=src,
                source_addr_ton=1,
                source_addr_npi=1,
                dest_addr_ton=1,
                dest_addr_npi=1,
                esm_class=esm,
                data_coding=dcs,
                tlvs=tlvs or [],
            )
            ok = r.is_success
        except Exception:
            ok = False
        self.stats["mo_sent" if ok else "mo_failed"] += 1
        return ok

    def receiver_for(self, session_id):
        """The session itself if it can receive, else a receiver bound with the same system_id (as an
        SMSC routes receipts of a transmitter bind to its receiver bind)."""
        esme = self.sessions.get(session_id)
        if esme is not None and esme.can_receive:
            return esme
        if esme is None:
            return None
        sid = self.pick_session(esme.system_id)
        return self.sessions.get(sid) if sid is not None else None

    def pick_session(self, system_id):
        for sid, e in self.sessions.items():
            if e.can_receive and (not system_id or e.system_id == system_id):
                return sid
        return None

    async def inject_mo(self, q):
        text = q.get("text", "hello")
        sid = self.pick_session(q.get("system_id"))
        if sid is None:
            return 409, {"error": "no bound receiver/transceiver session"}
        if set(text) <= GSM_BASIC:
            # data_coding 0 = SMSC default alphabet; we send the GSM basic chars as latin-1 bytes
            # (what most SMSCs do on SMPP); single part up to 160, parts of 153
            raw, dcs, single, part = text.encode("latin-1"), 0, 160, 153
        else:
            raw, dcs, single, part = text.encode("utf-16-be"), 8, 140, 134
        if len(raw) <= single:
            parts, esm = [raw], 0
        else:
            chunks = [raw[i : i + part] for i in range(0, len(raw), part)]
            ref = next(self.ref) & 0xFF
            parts = [bytes([5, 0, 3, ref, len(chunks), i + 1]) + c for i, c in enumerate(chunks)]
            esm = 0x40
        ok = True
        for p in parts:
            ok &= await self.send_mo(sid, q.get("from", "4915112345678"), q.get("to", "12345"), p, dcs, esm)
        return (200 if ok else 502), {"parts": len(parts), "data_coding": dcs, "ok": ok}

    # ---------------------------------------------------------------- control HTTP
    async def handle_http(self, reader, writer):
        try:
            line = (await reader.readline()).decode("latin-1")
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            path = line.split(" ")[1] if " " in line else "/"
            u = urllib.parse.urlsplit(path)
            q = dict(urllib.parse.parse_qsl(u.query))
            if u.path == "/mo":
                code, obj = await self.inject_mo(q)
            elif u.path == "/stats":
                code, obj = 200, dict(self.stats, sessions=len(self.sessions), held=len(self.held))
            else:
                code, obj = 404, {"error": "use /mo or /stats"}
            body = json.dumps(obj).encode()
            writer.write(
                b"HTTP/1.0 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (code, len(body))
                + body
            )
            await writer.drain()
        finally:
            writer.close()

    async def main(self):
        srv = await asyncio.start_server(self.handle_http, self.args.host, self.args.ctl_port)
        print(f"smsc_sim: control HTTP on {self.args.host}:{self.args.ctl_port}", flush=True)
        async with srv:
            await self.run_smpp()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=42775)
    ap.add_argument("--ctl-port", type=int, default=42780)
    ap.add_argument("--system-id", default="SIMSMSC")
    ap.add_argument("--dlr-delay-ms", type=int, default=0)
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
    args = ap.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("loopback only")
    asyncio.run(Sim(args).main())


if __name__ == "__main__":
    main()
