#!/usr/bin/env python3
"""Why pjsua2 in worker processes and not pyVoIP: outbound calls with each against a SIPp UAS.

    .venv/bin/python tools/bench/choices/sip_library.py

Needs the ``voice`` extra (pjsua2), the ``bench`` extra (pyVoIP 1.6.8) and SIPp (Debian sip-tester).
Each library runs in a child process of its own (a pjsua2 Endpoint and pyVoIP's threads should not
share one) against a fresh SIPp playing tools/peers/sipp/uas_record_route.xml on 127.0.0.1: the
200 OK carries a To-tag, a Record-Route and a Contact that is not the To URI. SIPp's -trace_msg log
is parsed afterwards; for every call it gives the 200 OK sent and the ACKs received, with times.

Each library places one call as soon as it has started (the node starts with alerts waiting), then,
once that call has ended, five calls at once. Printed per library:

* whether the ACK is right (RFC 3261 §13.2.2.4 and §12.2.1.1): To-tag = the 200's tag, Request-URI
  = the 200's Contact, a Route header from the Record-Route, and a Via branch of its own (§17.1.1.3);
* the 200 -> ACK delay (from SIPp's timestamps) for the first call and for the later ones;
* the audio the application reads (bytes per 20 ms frame) and, in a second table, what 8-bit samples
  cost: SNR of G.711 audio through pyVoIP's own receive and send code against 16-bit samples;
* calls up at once in one process: the five calls; for pjsua2 with ``maxCalls = 32`` configured,
  so the cap seen is the one compiled into the wheel (PJSUA_MAX_CALLS = 4);
* whether the library imports where audioop is gone (Python 3.13).

If pyVoIP cannot place a call at all, that is the measured result and is printed. Exits non-zero
only when the script itself fails (SIPp missing, a child that crashes or hangs).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
from report import imports_without_audioop, ms, print_table  # noqa: E402

from alertnode.media import dtmf, g711  # noqa: E402

HOST = "127.0.0.1"
SCENARIO = ROOT / "tools" / "peers" / "sipp" / "uas_record_route.xml"
CONCURRENT = 5
MAX_CALLS_ASKED = 32  # what a node would like per process; the wheel's PJSUA_MAX_CALLS decides


# ------------------------------------------------------------------------------ SIPp's message log


@dataclass
class Message:
    at: float  # seconds (epoch)
    sent: bool  # by SIPp
    text: str

    @property
    def start_line(self) -> str:
        return self.text.split("\r\n", 1)[0].split("\n", 1)[0].strip()

    def header(self, name: str) -> list[str]:
        compact = {"to": "t", "from": "f", "via": "v", "call-id": "i", "contact": "m", "route": ""}
        names = {name.lower(), compact.get(name.lower(), "")} - {""}
        out = []
        for line in self.text.splitlines()[1:]:
            if not line.strip():
                break  # the body starts
            key, _, value = line.partition(":")
            if key.strip().lower() in names:
                out.append(value.strip())
        return out

    def first(self, name: str) -> str:
        values = self.header(name)
        return values[0] if values else ""


_STAMP = re.compile(r"^-{20,} (\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d\.\d+)\s*$")


def read_trace(path: Path) -> list[Message]:
    """SIPp's -trace_msg file: blocks opened by a dashed line with a timestamp. Blocks whose dashed
    line has no timestamp ("Unexpected UDP message", "Dead call") repeat a message already logged."""
    messages: list[Message] = []
    stamp: float | None = None
    direction: bool | None = None
    body: list[str] = []

    def flush() -> None:
        if stamp is not None and direction is not None:
            messages.append(Message(stamp, direction, "\n".join(body).strip("\n") + "\n"))

    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("-" * 20):
            flush()
            m = _STAMP.match(line)
            stamp = datetime.strptime(f"{m.group(1)} {m.group(2)}", "%Y-%m-%d %H:%M:%S.%f").timestamp() if m else None
            direction, body = None, []
        elif stamp is not None and direction is None and ("message sent" in line or "message received" in line):
            direction = "message sent" in line
        elif direction is not None:
            body.append(line)
    flush()
    return messages


def _tag(value: str) -> str:
    m = re.search(r";\s*tag=([^;>\s]+)", value)
    return m.group(1) if m else ""


def _uri(value: str) -> str:
    m = re.search(r"<([^>]+)>", value)
    return (m.group(1) if m else value.split(";")[0]).strip()


def _branch(via: str) -> str:
    m = re.search(r"branch=([^;\s]+)", via)
    return m.group(1) if m else ""


@dataclass
class AckCheck:
    call_id: str
    oks_sent: int
    delay: float | None  # first 200 OK sent -> first ACK received
    acks: int
    tag_ok: int = 0
    ruri_ok: int = 0
    route_ok: int = 0
    branch_ok: int = 0
    seen: dict[str, str] = field(default_factory=dict)  # an example ACK's fields


def check_acks(messages: list[Message]) -> list[AckCheck]:
    """Per INVITE dialog, in the order the INVITEs arrived."""
    by_call: dict[str, list[Message]] = {}
    for m in messages:
        by_call.setdefault(m.first("Call-ID"), []).append(m)
    checks = []
    for call_id, msgs in sorted(by_call.items(), key=lambda kv: kv[1][0].at):
        invite = next((m for m in msgs if not m.sent and m.start_line.startswith("INVITE ")), None)
        if invite is None:
            continue  # a REGISTER's own call
        oks = [m for m in msgs if m.sent and m.start_line.startswith("SIP/2.0 200") and "INVITE" in m.first("CSeq")]
        acks = [m for m in msgs if not m.sent and m.start_line.startswith("ACK ")]
        if not oks:
            checks.append(AckCheck(call_id, 0, None, len(acks)))
            continue
        ok = oks[0]
        check = AckCheck(call_id, len(oks), acks[0].at - ok.at if acks else None, len(acks))
        want_tag, want_ruri = _tag(ok.first("To")), _uri(ok.first("Contact"))
        want_route = _uri(ok.first("Record-Route"))
        for ack in acks:
            ruri = ack.start_line.split(" ")[1]
            routes = [_uri(r) for r in ack.header("Route")]
            check.tag_ok += _tag(ack.first("To")) == want_tag
            check.ruri_ok += ruri == want_ruri
            check.route_ok += routes[:1] == [want_route]
            check.branch_ok += _branch(ack.first("Via")) != _branch(invite.first("Via"))
            check.seen = {
                "to_tag": _tag(ack.first("To")),
                "ok_tag": want_tag,
                "ruri": ruri,
                "route": ", ".join(ack.header("Route")) or "none",
            }
        checks.append(check)
    return checks


# ------------------------------------------------------------------------------ running one library


class Sipp:
    def __init__(self, work: Path, name: str) -> None:
        from tests.peers.sip import free_rtp_base, free_udp_port

        self.port = free_udp_port()
        self.trace = work / f"{name}-messages.log"
        self.out = work / f"{name}-sipp.out"
        cmd = [
            "sipp",
            "-sf",
            str(SCENARIO),
            "-i",
            HOST,
            "-p",
            str(self.port),
            "-mi",
            HOST,
            "-mp",
            str(free_rtp_base(8)),
            "-rtp_echo",  # the callers' RTP comes back, so the application has audio to read
            "-nostdin",
            "-timeout",
            "90s",
            "-trace_msg",
            "-message_file",
            str(self.trace),
            "-trace_err",
            "-error_file",
            str(work / f"{name}-errors.log"),
        ]
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=work, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.proc.poll() is None and not _udp_taken(self.port):
            time.sleep(0.02)
        if self.proc.poll() is not None:
            raise SystemExit(f"sipp exited at once: {self.out.read_text(errors='replace')[-1000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _udp_taken(port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


def run_library(lib: str, work: Path) -> tuple[dict[str, Any], list[AckCheck]]:
    from tests.peers.sip import free_rtp_base, free_udp_port

    sipp = Sipp(work, lib)
    result_path = work / f"{lib}-result.json"
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        lib,
        "--target",
        f"{HOST}:{sipp.port}",
        "--sip-port",
        str(free_udp_port()),
        "--rtp-port",
        str(free_rtp_base(2 * (CONCURRENT + 2) + 8)),
        "--out",
        str(result_path),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        time.sleep(0.3)  # SIPp's last answers (to BYE, to the final REGISTER) reach its log
    finally:
        sipp.stop()
    if not result_path.exists():
        tail = (proc.stdout + proc.stderr)[-2000:]
        raise SystemExit(f"the {lib} child wrote no result (exit {proc.returncode}):\n{tail}")
    result = json.loads(result_path.read_text())
    result["exit"] = proc.returncode
    return result, check_acks(read_trace(sipp.trace)) if sipp.trace.exists() else []


# ------------------------------------------------------------------------------ the children


def _wait(cond: Callable[[], bool], timeout: float, step: Callable[[], None] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            return False
        if step is None:
            time.sleep(0.005)
        else:
            step()
    return True


def _native_threads() -> int:
    return len(list(Path("/proc/self/task").iterdir()))


def child_pyvoip(target: str, sip_port: int, rtp_port: int) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # audioop: measured on its own
        import pyVoIP
        from pyVoIP.VoIP import CallState, VoIPPhone

    host, port = target.rsplit(":", 1)
    res: dict[str, Any] = {"library": f"pyVoIP {pyVoIP.__version__}"}
    phone = VoIPPhone(
        host,
        int(port),
        "bench",
        "bench",
        myIP=HOST,
        sipPort=sip_port,
        rtpPortLow=rtp_port,
        rtpPortHigh=rtp_port + 2 * (CONCURRENT + 2),
    )
    try:
        phone.start()  # registers (SIPp answers 200)
    except Exception as exc:  # no call is possible then: that is the result
        res["error"] = f"start(): {type(exc).__name__}: {exc}"
        return res
    try:
        try:
            call = phone.call("alert-1")
            answered = _wait(lambda: call.state is CallState.ANSWERED, 5)
            res["first"] = call.state.name
            if answered:
                time.sleep(0.2)  # let some echoed RTP arrive
                res["frame_bytes"] = len(call.read_audio(160, blocking=False))
                res["frame_samples"] = 160
            _wait(lambda: call.state is CallState.ENDED, 6)
        except Exception as exc:
            res["first_error"] = f"{type(exc).__name__}: {exc}"
        # the ended call's RTP threads ("RTP Receiver", "RTP Transmitter") leave after their sleep
        _wait(lambda: not any(t.name.startswith("RTP") for t in threading.enumerate()), 2)
        before = _native_threads()
        calls, errors = [], []
        for i in range(CONCURRENT):
            try:
                calls.append(phone.call(f"alert-{i + 2}"))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
        _wait(lambda: all(c.state is CallState.ANSWERED for c in calls), 5)
        up = sum(c.state is CallState.ANSWERED for c in calls)
        res["concurrent"] = {
            "placed": len(calls),
            "up": up,
            "errors": errors,
            "threads_per_call": (_native_threads() - before) / up if up else None,
        }
        _wait(lambda: all(c.state is CallState.ENDED for c in calls), 8)
    finally:
        phone.stop()
    return res


def child_pjsua2(target: str, sip_port: int, rtp_port: int) -> dict[str, Any]:
    import os

    import pjsua2 as pj

    res: dict[str, Any] = {"library": "pjsua2 2.15.1 (PyPI wheel pjsua2-python)"}
    ep = pj.Endpoint()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # pjsua's start-up banner goes to stdout before logConfig applies
    try:
        ep.libCreate()
    finally:
        os.dup2(2, 1)
        os.close(devnull)
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0  # as the node's worker: callbacks inside libHandleEvents
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.maxCalls = MAX_CALLS_ASKED
    cfg.logConfig.level = 0
    cfg.logConfig.consoleLevel = 0
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.noVad = True
    cfg.medConfig.ecTailLen = 0
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = sip_port
    tcfg.boundAddress = HOST
    tcfg.publicAddress = HOST
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.audDevManager().setNullDev()
    ep.libStart()

    objects: dict[str, Any] = {}  # every pjsua2 object, so that all are gone before libDestroy
    try:
        _pjsua2_calls(pj, ep, objects, res, target, rtp_port)
    finally:
        # the node's order (DESIGN.md): no media clock, every object dropped, then libDestroy
        with contextlib.suppress(Exception):
            ep.audDevManager().setNoDev()
        objects.pop("calls", None)
        acc = objects.pop("account", None)
        if acc is not None:
            acc.shutdown()
        del acc
        objects.clear()
        import gc

        gc.collect()
        ep.libDestroy()
    return res


def _pjsua2_calls(pj: Any, ep: Any, objects: dict[str, Any], res: dict[str, Any], target: str, rtp_port: int) -> None:
    """The calls, in a frame of their own: no local here outlives it (a Call object alive after
    libDestroy aborts the process when it is collected)."""
    frames: list[int] = []
    fmt = pj.MediaFormatAudio()
    fmt.init(pj.PJMEDIA_FORMAT_PCM, 8000, 1, 20000, 16)

    class Tap(pj.AudioMediaPort):  # type: ignore[misc]
        def onFrameReceived(self, frame: Any) -> None:
            with contextlib.suppress(Exception):  # media thread: nothing may escape
                if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and len(frames) < 50:
                    frames.append(int(frame.size))

    tap = objects["tap"] = Tap()
    tap.createPort("tap", fmt)

    class Call(pj.Call):  # type: ignore[misc]
        def __init__(self, acc: Any) -> None:
            super().__init__(acc)
            self.state = -1
            self.tapped = False

        def onCallState(self, prm: Any) -> None:
            with contextlib.suppress(Exception):
                self.state = int(self.getInfo().state)

        def onCallMediaState(self, prm: Any) -> None:
            with contextlib.suppress(Exception):
                if not self.tapped and not frames:
                    self.getAudioMedia(-1).startTransmit(objects["tap"])
                    self.tapped = True

    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:bench@{HOST}"
    acfg.regConfig.registerOnAdd = False
    acfg.mediaConfig.transportConfig.port = rtp_port
    acfg.mediaConfig.transportConfig.portRange = 2 * (CONCURRENT + 2) + 8
    acfg.mediaConfig.transportConfig.boundAddress = HOST
    acc = objects["account"] = pj.Account()
    acc.create(acfg, True)
    calls: list[Any] = objects.setdefault("calls", [])

    def pump() -> None:
        ep.libHandleEvents(10)

    confirmed, disconnected = pj.PJSIP_INV_STATE_CONFIRMED, pj.PJSIP_INV_STATE_DISCONNECTED
    first = Call(acc)
    calls.append(first)
    first.makeCall(f"sip:alert-1@{target}", pj.CallOpParam(True))
    _wait(lambda: first.state == confirmed, 5, pump)
    res["first"] = "CONFIRMED" if first.state == confirmed else str(first.state)
    _wait(lambda: bool(frames), 1.0, pump)
    res["frame_bytes"] = frames[0] if frames else None
    res["frame_samples"] = 160
    _wait(lambda: first.state == disconnected, 6, pump)
    before = _native_threads()
    errors = []
    batch: list[Any] = []
    for i in range(CONCURRENT):
        call = Call(acc)
        calls.append(call)
        try:
            call.makeCall(f"sip:alert-{i + 2}@{target}", pj.CallOpParam(True))
            batch.append(call)
        except pj.Error as exc:
            errors.append(f"call {i + 1}: {exc.reason}")
    _wait(lambda: all(c.state == confirmed for c in batch), 5, pump)
    up = sum(c.state == confirmed for c in batch)
    res["concurrent"] = {
        "placed": len(batch),
        "up": up,
        "errors": errors,
        "threads_per_call": (_native_threads() - before) / up if up else None,
        "max_calls_configured": MAX_CALLS_ASKED,
    }
    _wait(lambda: all(c.state == disconnected for c in batch), 8, pump)
    for _ in range(20):
        pump()


def child_main(args: argparse.Namespace) -> None:
    run = child_pyvoip if args.child == "pyvoip" else child_pjsua2
    try:
        res = run(args.target, args.sip_port, args.rtp_port)
    except Exception as exc:  # written as the result: the parent prints what happened
        res = {"library": args.child, "error": f"{type(exc).__name__}: {exc}"}
    Path(args.out).write_text(json.dumps(res))
    sys.stdout.flush()
    sys.stderr.flush()
    import os

    os._exit(0)  # pjsua2 is destroyed and pyVoIP's timers need not run out: skip interpreter teardown


# ------------------------------------------------------------------------------ 8-bit audio


def eight_bit_costs() -> list[list[str]]:
    """G.711 µ-law audio through pyVoIP's own RTP code (receive: RTPMessage, parse_pcmu, its packet
    buffer, read; send: write, its buffer, encode_packet) against 16-bit samples (what pjsua2's
    ports carry; G.711 decoded by alertnode.media.g711)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from pyVoIP import RTP

    rows = []
    for level in (-20.0, -36.0):
        x = _tone_pair(level)
        codes = g711.ulaw_encode(x)
        ref16 = g711.ulaw_decode(codes).astype(np.float64)  # the far end's audio, exactly as sent

        rx = RTP.RTPClient({0: RTP.PayloadType.PCMU}, HOST, 0, HOST, 0, RTP.TransmitType.SENDRECV)
        for i in range(len(codes) // 160):
            header = bytes([0x80, 0]) + i.to_bytes(2, "big") + (i * 160).to_bytes(4, "big") + b"\0\0\0\1"
            rx.parse_packet(header + codes[i * 160 : (i + 1) * 160].tobytes())
        got8 = np.frombuffer(b"".join(rx.read(160, blocking=False) for _ in range(len(codes) // 160)), np.uint8)
        heard8 = (got8.astype(np.float64) - 128) * 256
        n = len(heard8)

        tx = RTP.RTPClient({0: RTP.PayloadType.PCMU}, HOST, 0, HOST, 0, RTP.TransmitType.SENDRECV)
        u8 = (np.clip(np.round(x / 256), -128, 127) + 128).astype(np.uint8)  # what write_audio takes
        tx.write(u8.tobytes())
        sent = b"".join(tx.encode_packet(tx.pmout.read(160)) for _ in range(len(u8) // 160))
        sent8 = g711.ulaw_decode(np.frombuffer(sent, np.uint8)).astype(np.float64)
        sent16 = g711.ulaw_decode(g711.ulaw_encode(x)).astype(np.float64)
        xs = x.astype(np.float64)

        rows.append(
            [
                f"{level:g} dBm0",
                f"{_snr(ref16[:n], heard8):.1f} dB",
                "exact" if np.array_equal(ref16, g711.ulaw_decode(codes)) else "?",
                f"{_snr(xs, sent8[: len(xs)]):.1f} dB",
                f"{_snr(xs, sent16):.1f} dB",
                f"{len(dtmf.detect_digits(heard8.astype(np.int16)))} / "
                f"{len(dtmf.detect_digits(ref16.astype(np.int16)))}",
            ]
        )
    return rows


def _tone_pair(level_dbm0: float) -> npt.NDArray[np.int16]:
    """Ten DTMF '5' digits (770 + 1336 Hz, ITU-T Q.23), 50 ms on, 50 ms off, each tone at
    ``level_dbm0``; 2 s in all, 160-sample frames."""
    fs = 8000
    t = np.arange(400) / fs
    amp = dtmf.DBM0_PEAK * 10 ** (level_dbm0 / 20)
    rng = np.random.default_rng(7)
    parts = []
    for _ in range(10):
        tone = amp * (
            np.sin(2 * np.pi * 770 * t + rng.uniform(0, 6)) + np.sin(2 * np.pi * 1336 * t + rng.uniform(0, 6))
        )
        parts += [np.zeros(400), tone]
    x = np.concatenate([*parts, np.zeros(16000 - 8000)])
    return np.round(x).astype(np.int16)


def _snr(ref: npt.NDArray[np.float64], got: npt.NDArray[np.float64]) -> float:
    return float(10 * np.log10(np.sum(ref**2) / max(float(np.sum((got - ref) ** 2)), 1e-12)))


# ------------------------------------------------------------------------------ the report


def _ack_cells(checks: list[AckCheck]) -> dict[str, str]:
    if not checks:
        return dict.fromkeys(("tag", "ruri", "route", "branch", "first", "later"), "no call reached SIPp")
    acks = sum(c.acks for c in checks)
    seen = next((c.seen for c in checks if c.seen), {})

    def share(n: int, bad: str) -> str:
        if not acks:
            return "no ACK"
        return f"yes, {acks} of {acks} ACKs" if n == acks else f"no, {acks - n} of {acks} ACKs: {bad}"

    later = [c.delay for c in checks[1:] if c.delay is not None]
    first = checks[0]
    first_cell = ms(first.delay) + (f" (200 OK sent {first.oks_sent} x)" if first.oks_sent > 1 else "")
    if first.delay is None:
        first_cell = f"no ACK (200 OK sent {first.oks_sent} x)"
    return {
        "tag": share(sum(c.tag_ok for c in checks), f"tag={seen.get('to_tag')} (200: {seen.get('ok_tag')})"),
        "ruri": share(sum(c.ruri_ok for c in checks), f"the To URI {seen.get('ruri')}"),
        "route": share(sum(c.route_ok for c in checks), f"Route header: {seen.get('route')}"),
        "branch": share(sum(c.branch_ok for c in checks), "the INVITE's branch"),
        "first": first_cell,
        "later": f"{ms(statistics.median(later))} median of {len(later)}" if later else "-",
    }


def _concurrency(res: dict[str, Any]) -> str:
    c = res.get("concurrent")
    if not c:
        return res.get("error") or res.get("first_error") or "-"
    text = f"{c['up']} of {CONCURRENT} up"
    if c.get("errors"):
        text += f"; {c['errors'][0]}"
    if c.get("max_calls_configured"):
        text += f" (maxCalls = {c['max_calls_configured']} configured)"
    return text


def _audio(res: dict[str, Any]) -> str:
    size = res.get("frame_bytes")
    if not size:
        return "-"
    bits = 8 * size // res["frame_samples"]
    kind = "unsigned" if bits == 8 else "signed"
    return f"{bits}-bit {kind} PCM: {size} bytes per 20 ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", choices=("pyvoip", "pjsua2"), help=argparse.SUPPRESS)
    ap.add_argument("--target", help=argparse.SUPPRESS)
    ap.add_argument("--sip-port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--rtp-port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child_main(args)
        return 0
    if shutil.which("sipp") is None:
        print("sipp is not installed (Debian: apt-get install sip-tester)", file=sys.stderr)
        return 1
    import importlib.util

    for module in ("pyVoIP", "pjsua2"):
        if importlib.util.find_spec(module) is None:
            print(f"{module} is not installed: .venv/bin/pip install -e '.[voice,test,bench]'", file=sys.stderr)
            return 1
    columns: dict[str, dict[str, str]] = {}
    names = {}
    results = {}
    with tempfile.TemporaryDirectory(prefix="alertnode-choice-sip-") as tmp:
        for lib in ("pyvoip", "pjsua2"):
            res, checks = run_library(lib, Path(tmp))
            results[lib] = res
            names[lib] = res["library"]
            cells = _ack_cells(checks)
            cells["audio"] = _audio(res)
            cells["calls"] = _concurrency(res)
            c = res.get("concurrent") or {}
            tpc = c.get("threads_per_call")
            cells["threads"] = "-" if tpc is None else f"{tpc:.1f}"
            cells["audioop"] = imports_without_audioop("pyVoIP.VoIP" if lib == "pyvoip" else "pjsua2")
            columns[lib] = cells
    for lib, res in results.items():
        if res.get("error") or res.get("first_error"):
            print(f"{names[lib]}: {res.get('error') or res.get('first_error')}")
    rows = [
        ("ACK To-tag = the 200's To-tag (RFC 3261 §13.2.2.4)", "tag"),
        ("ACK Request-URI = the 200's Contact (§12.2.1.1)", "ruri"),
        ("ACK routed by the Record-Route (§12.2.1.1)", "route"),
        ("ACK has a Via branch of its own (§17.1.1.3)", "branch"),
        ("200 -> ACK, call placed right after start-up", "first"),
        ("200 -> ACK, later calls", "later"),
        ("audio the application reads", "audio"),
        (f"{CONCURRENT} calls at once in one process", "calls"),
        ("threads added per call (Python and native)", "threads"),
        ("import without audioop (Python 3.13)", "audioop"),
    ]
    print_table(
        "Outbound calls against SIPp (uas_record_route.xml: 200 OK with Record-Route and a Contact of its own)",
        ["", names["pyvoip"], names["pjsua2"]],
        [[label, columns["pyvoip"][key], columns["pjsua2"][key]] for label, key in rows],
    )
    print_table(
        "What 8-bit samples cost (pyVoIP's own RTP code; 16-bit = pjsua2's ports). Ten DTMF digits per level "
        "over G.711 µ-law; SNR received: against the audio on the wire; sent: against the prompt",
        [
            "level per tone",
            "received: 8-bit (read_audio)",
            "16-bit",
            "sent: 8-bit (write_audio)",
            "16-bit",
            "digits found 8-bit / 16-bit",
        ],
        eight_bit_costs(),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
