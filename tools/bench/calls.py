"""Voice benchmark: concurrent IVR calls against a SIPp UAS that answers every call and sends digits.

    .venv/bin/python tools/bench/calls.py [--calls 32] [--prompt-seconds 8]

Each call: the UAS answers, presses 2 by RFC 4733 after 1 s and sends 5 9 # in-band from 1.5 s;
the node plays a prompt of ``--prompt-seconds`` and hangs up after it, so all calls are held at once.
Printed: calls held concurrently, call set-up rate (all calls submitted at once: their number over the
time from the first INVITE to the last answer, which includes the UAS's 200 ms of ringing), CPU per
call as per cent of one core (user+system CPU seconds per call-second) for the workers and for the
main process (channel, supervisor, this script), digits detected out of digits sent, worker memory
(RSS). A one-call run first
gives the baseline measured in the same run. A sustained phase places ``--sustained`` calls back to back
(as the dispatcher would, whenever ``free_capacity()`` allows; the UAS hangs up after 1 s) and prints
the sustained set-up rate. A last phase has ``--inbound`` callers (SIPp UACs) call one inboundCall
number at once, through the SIP front that spreads them over the workers: half press 2 by RFC 4733,
half in-band, 3 s after the answer. Answering-machine detection (issue 15), three more runs of
``--calls`` calls at once against SIPp far ends playing espeak-ng audio (tools/peers/sipp/make_audio_pcap.py):
a voicemail greeting and its beep with detection off (the prompt plays at the answer) and on (``voicemail``:
the detector listens to the greeting, the message plays after the beep), printed side by side as worker
CPU per call (% of a core over the call, and CPU seconds per call); and people saying "Hello?" with
detection on, printed as when each was decided (on the call's audio) and when the prompt was sent (wall
clock from the answer). Floors (issues 5 and 15): 32 concurrent IVR calls on a 2-core machine with every
digit detected, 5 calls set up per second, 32 concurrent inbound calls with every key detected, every
machine found and its message left, and every person decided a person within 1.5 s of the answer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
# run as a script, sys.path[0] is tools/bench, whose email.py would shadow the standard library
sys.path[0] = str(ROOT)

from alertnode.domain import ChannelEvent, InboundMessage  # noqa: E402
from alertnode.voice.channel import VoiceChannel  # noqa: E402
from alertnode.voice.config import VoiceConfig  # noqa: E402
from tests.peers.sip import (  # noqa: E402
    SIPP_DIR,
    free_rtp_base,
    free_udp_port,
    make_work,
    wav_bytes,
    wav_preparer,
)
from tools.peers.sipp.make_audio_pcap import hello, mailbox, write_pcap  # noqa: E402

DIGITS_PER_CALL = 4  # 2 (RFC 4733) + 5 9 # (in-band)
CLK_TCK = os.sysconf("SC_CLK_TCK")


class Sink:
    def __init__(self) -> None:
        self.events: list[ChannelEvent] = []
        self.t: dict[tuple[int, str], float] = {}
        self.live = 0
        self.max_live = 0
        self.done = asyncio.Event()
        self.expected = 0

    async def report_many(self, events: Sequence[ChannelEvent]) -> None:
        for event in events:
            await self.report(event)

    async def report(self, event: ChannelEvent) -> None:
        now = time.monotonic()
        self.events.append(event)
        self.t.setdefault((event.delivery_id, event.kind), now)
        if event.kind == "answered":
            self.live += 1
            self.max_live = max(self.max_live, self.live)
        elif event.kind == "attempt_ended" and (event.delivery_id, "answered") in self.t:
            self.live -= 1
        if event.final and sum(e.final for e in self.events) >= self.expected:
            self.done.set()

    async def unsolicited(self, message: InboundMessage) -> None:
        return None

    async def find_recent(self, alert_type: str, address: str, at: float) -> int | None:
        return None

    async def find_by_token(self, token: str) -> int | None:
        return None


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (proc(5))
    return total / CLK_TCK


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


async def run(calls: int, prompt_seconds: float, tmp: Path) -> dict[str, Any]:
    port = free_udp_port()
    sipp = subprocess.Popen(
        [
            "sipp",
            "-sf",
            str(SIPP_DIR / "uas_bench.xml"),
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-mi",
            "127.0.0.1",
            "-mp",
            str(free_rtp_base(8)),
            "-m",
            str(calls),
            "-nostdin",
            "-timeout",
            "120s",
            "-max_socket",
            "1000",
        ],
        cwd=SIPP_DIR,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    workers = -(-calls // 4)
    cfg = VoiceConfig(
        enabled=True,
        trunk=f"127.0.0.1:{port}",
        sip_port_base=0,
        max_concurrent_calls=calls,
        rtp_port_base=free_rtp_base(40 * workers),
        ring_timeout_s=20,
        max_call_s=60,
        key_wait_s=5,
    )
    prompts = tmp / f"prompts-{calls}"
    prompts.mkdir(parents=True, exist_ok=True)
    ch = VoiceChannel(config=cfg, data_dir=tmp, prompts=wav_preparer(prompts))
    sink = Sink()
    sink.expected = calls
    await ch.start(sink)
    assert await ch.wait_ready(30), "workers did not start"
    pids = ch.worker_pids()
    idle_rss = rss_mb(pids)
    cpu0 = cpu_seconds(pids)
    main0 = time.process_time()
    content = wav_bytes(prompt_seconds)
    works = [make_work(f"+4470000{i:05d}", content=content) for i in range(calls)]
    t0 = time.monotonic()
    for w in works:
        await ch.submit(w)
    peak_rss = 0.0
    while not sink.done.is_set():
        peak_rss = max(peak_rss, rss_mb(pids))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sink.done.wait(), 0.5)
        if time.monotonic() - t0 > 120:
            break
    cpu = cpu_seconds(pids) - cpu0
    main_cpu = time.process_time() - main0
    await ch.stop(10)
    try:
        sipp_rc = sipp.wait(15)
    except subprocess.TimeoutExpired:
        sipp.kill()
        sipp_rc = -1
    answered = [sink.t[(w.delivery_id, "answered")] for w in works if (w.delivery_id, "answered") in sink.t]
    calling = [sink.t[(w.delivery_id, "calling")] for w in works if (w.delivery_id, "calling") in sink.t]
    call_seconds = sum(
        sink.t.get((w.delivery_id, "attempt_ended"), t0) - sink.t[(w.delivery_id, "answered")]
        for w in works
        if (w.delivery_id, "answered") in sink.t
    )
    keys = [e for e in sink.events if e.kind == "key"]
    setup_span = (max(answered) - min(calling)) if answered and calling else float("nan")
    return {
        "calls": calls,
        "answered": len(answered),
        "max_concurrent": sink.max_live,
        "setup_per_s": len(answered) / setup_span if setup_span > 0 else float("nan"),
        "cpu_s": cpu,
        "cpu_pct_per_call": 100 * cpu / call_seconds if call_seconds else float("nan"),
        "main_pct_per_call": 100 * main_cpu / call_seconds if call_seconds else float("nan"),
        "digits": len(keys),
        "digits_sent": DIGITS_PER_CALL * calls,
        "inband": sum(1 for e in keys if e.detail.get("source") == "inband"),
        "rss_idle_mb": idle_rss,
        "rss_peak_mb": peak_rss,
        "workers": len(pids),
        "sipp_rc": sipp_rc,
    }


async def inbound(callers: int, tmp: Path) -> dict[str, Any]:
    """``callers`` SIPp UACs call one inboundCall number at once (two SIPp processes: RFC 4733 and
    in-band); each delivery waits for its own caller."""
    workers = -(-callers // 4)
    cfg = VoiceConfig(
        enabled=True,
        trunk="127.0.0.1:9",
        sip_port_base=0,
        max_concurrent_calls=callers,
        rtp_port_base=free_rtp_base(40 * workers),
        key_wait_s=10,
        max_call_s=60,
    )
    prompts = tmp / "prompts-inbound"
    prompts.mkdir(parents=True, exist_ok=True)
    ch = VoiceChannel(config=cfg, data_dir=tmp, prompts=wav_preparer(prompts))
    sink = Sink()
    sink.expected = callers
    await ch.start(sink)
    assert await ch.wait_ready(30), "workers did not start"
    pids = ch.worker_pids()
    numbers = [f"+44111100{i:04d}" for i in range(callers)]
    content = wav_bytes(2.0)
    works = [
        make_work(n, alert_type="inboundCall", params={"telephoneNumber": "+442000000032"}, content=content)
        for n in numbers
    ]
    for w in works:
        await ch.submit(w)
    front = f"127.0.0.1:{ch.info().details['sipPort']}"
    half = callers // 2
    procs = []
    cpu0 = cpu_seconds(pids)
    t0 = time.monotonic()
    for scenario, group in (("uac_inbound_many.xml", numbers[:half]), ("uac_inbound_many_inband.xml", numbers[half:])):
        csv = tmp / f"{scenario}.csv"
        csv.write_text("SEQUENTIAL\n" + "".join(f"{n};\n" for n in group))
        procs.append(
            subprocess.Popen(
                ["sipp", "-sf", str(SIPP_DIR / scenario), front, "-s", "+442000000032", "-inf", str(csv),
                 "-i", "127.0.0.1", "-p", str(free_udp_port()), "-mi", "127.0.0.1", "-mp", str(free_rtp_base(8)),
                 "-m", str(len(group)), "-r", str(callers), "-l", str(len(group)), "-nostdin", "-timeout", "120s"],
                cwd=SIPP_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sink.done.wait(), 90)
    cpu = cpu_seconds(pids) - cpu0
    rcs = []
    for proc in procs:
        try:
            rcs.append(proc.wait(15))
        except subprocess.TimeoutExpired:
            proc.kill()
            rcs.append(-1)
    await ch.stop(10)
    answered = [sink.t[(w.delivery_id, "answered")] for w in works if (w.delivery_id, "answered") in sink.t]
    keys = [e for e in sink.events if e.kind == "key"]
    responded = [e for e in sink.events if e.final and e.state is not None and e.state.value == "responded"]
    call_seconds = sum(
        sink.t.get((w.delivery_id, "attempt_ended"), t0) - sink.t[(w.delivery_id, "answered")]
        for w in works
        if (w.delivery_id, "answered") in sink.t
    )
    span = (max(answered) - t0) if answered else float("nan")
    return {
        "calls": callers,
        "answered": len(answered),
        "max_concurrent": sink.max_live,
        "setup_per_s": len(answered) / span if span > 0 else float("nan"),
        "cpu_pct_per_call": 100 * cpu / call_seconds if call_seconds else float("nan"),
        "digits": len(keys),
        "digits_sent": callers,
        "inband": sum(1 for e in keys if e.detail.get("source") == "inband"),
        "responded": len(responded),
        "workers": len(pids),
        "sipp_rc": max(rcs) if rcs else -1,
    }


async def sustained(total: int, slots: int, tmp: Path) -> dict[str, Any]:
    """Calls placed back to back as the dispatcher would (whenever free_capacity() allows) against a
    UAS that answers and hangs up after 1 s: answered calls per second over the whole run."""
    port = free_udp_port()
    sipp = subprocess.Popen(
        [
            "sipp",
            "-sf",
            str(SIPP_DIR / "uas_hangup.xml"),
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-mi",
            "127.0.0.1",
            "-mp",
            str(free_rtp_base(8)),
            "-m",
            str(total),
            "-nostdin",
            "-timeout",
            "120s",
        ],
        cwd=SIPP_DIR,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    cfg = VoiceConfig(
        enabled=True,
        trunk=f"127.0.0.1:{port}",
        sip_port_base=0,
        max_concurrent_calls=slots,
        rtp_port_base=free_rtp_base(40 * (-(-slots // 4))),
        ring_timeout_s=20,
        max_call_s=60,
    )
    prompts = tmp / "prompts-sustained"
    prompts.mkdir(parents=True, exist_ok=True)
    ch = VoiceChannel(config=cfg, data_dir=tmp, prompts=wav_preparer(prompts))
    sink = Sink()
    sink.expected = total
    await ch.start(sink)
    assert await ch.wait_ready(30), "workers did not start"
    content = wav_bytes(3.0)
    t0 = time.monotonic()
    placed = 0
    while placed < total and time.monotonic() - t0 < 120:
        for _ in range(min(ch.free_capacity(), total - placed)):
            await ch.submit(make_work(f"+4471000{placed:05d}", content=content))
            placed += 1
        await asyncio.sleep(0.005)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sink.done.wait(), 60)
    answered = sorted(t for (_, kind), t in sink.t.items() if kind == "answered")
    await ch.stop(10)
    with contextlib.suppress(subprocess.TimeoutExpired):
        sipp.wait(15)
    if sipp.poll() is None:
        sipp.kill()
    span = answered[-1] - t0 if answered else float("nan")
    return {"calls": total, "answered": len(answered), "per_s": len(answered) / span if span > 0 else 0.0}


async def amd_run(calls: int, far: str, mode: str, prompt_seconds: float, tmp: Path) -> dict[str, Any]:
    """``calls`` calls at once to SIPp far ends playing ``far`` (hello or mailbox), answering-machine
    detection ``mode`` (off, hangup, voicemail)."""
    folder = tmp / f"far-{far}-{mode}"
    folder.mkdir(parents=True, exist_ok=True)
    write_pcap(hello() if far == "hello" else mailbox()[0], folder / "far.pcap")
    port = free_udp_port()
    sipp = subprocess.Popen(
        ["sipp", "-sf", str(SIPP_DIR / "uas_amd.xml"), "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1",
         "-mp", str(free_rtp_base(8)), "-m", str(calls), "-nostdin", "-timeout", "120s", "-max_socket", "1000"],
        cwd=folder, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    cfg = VoiceConfig(
        enabled=True, trunk=f"127.0.0.1:{port}", sip_port_base=0, max_concurrent_calls=calls,
        rtp_port_base=free_rtp_base(40 * -(-calls // 4)), ring_timeout_s=20, max_call_s=60, answering_machine=mode,
    )
    prompts = tmp / f"prompts-amd-{far}-{mode}"
    prompts.mkdir(parents=True, exist_ok=True)
    ch = VoiceChannel(config=cfg, data_dir=tmp, prompts=wav_preparer(prompts))
    sink = Sink()
    sink.expected = calls
    await ch.start(sink)
    assert await ch.wait_ready(30), "workers did not start"
    pids = ch.worker_pids()
    cpu0 = cpu_seconds(pids)
    content = wav_bytes(prompt_seconds)
    works = [make_work(f"+4472000{i:05d}", content=content) for i in range(calls)]
    t0 = time.monotonic()
    for w in works:
        await ch.submit(w)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sink.done.wait(), 120)
    cpu = cpu_seconds(pids) - cpu0
    await ch.stop(10)
    try:
        sipp_rc = sipp.wait(15)
    except subprocess.TimeoutExpired:
        sipp.kill()
        sipp_rc = -1
    call_seconds = sum(
        sink.t.get((w.delivery_id, "attempt_ended"), t0) - sink.t[(w.delivery_id, "answered")]
        for w in works
        if (w.delivery_id, "answered") in sink.t
    )
    first_amd = {}
    for e in sink.events:
        if e.kind == "amd":
            first_amd.setdefault(e.delivery_id, e)
    wall_ms = [
        1000 * (sink.t[(w.delivery_id, "amd")] - sink.t[(w.delivery_id, "answered")])
        for w in works
        if (w.delivery_id, "amd") in sink.t and (w.delivery_id, "answered") in sink.t
    ]
    finals = [e for e in sink.events if e.final]
    return {
        "calls": calls,
        "answered": sum(1 for w in works if (w.delivery_id, "answered") in sink.t),
        "max_concurrent": sink.max_live,
        "cpu_pct_per_call": 100 * cpu / call_seconds if call_seconds else float("nan"),
        "cpu_s_per_call": cpu / calls,
        "first_verdicts": [e.detail["verdict"] for e in first_amd.values()],
        "machines": sum(1 for e in sink.events if e.kind == "amd" and e.detail["verdict"] == "machine"),
        "decided_ms": sorted(float(e.detail["after_answer_ms"]) for e in first_amd.values()),
        "wall_ms": sorted(wall_ms),
        "voicemail_left": sum(1 for e in finals if e.detail.get("outcome") == "voicemail_left"),
        "outcomes": sorted({str(e.detail.get("outcome")) for e in finals}),
        "sipp_rc": sipp_rc,
    }


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def show(label: str, r: dict[str, Any]) -> None:
    print(
        f"{label:>9}: calls {r['calls']:3d}  answered {r['answered']:3d}  "
        f"held at once {r['max_concurrent']:3d}  "
        f"set-up {r['setup_per_s']:6.1f}/s  worker CPU {r['cpu_pct_per_call']:5.2f} % of a core per call "
        f"(+ main process {r['main_pct_per_call']:4.2f} %)  "
        f"digits {r['digits']}/{r['digits_sent']} (in-band {r['inband']})  "
        f"workers {r['workers']} RSS {r['rss_idle_mb']:.0f} MB idle, {r['rss_peak_mb']:.0f} MB peak  "
        f"sipp rc {r['sipp_rc']}"
    )


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", type=int, default=32)
    ap.add_argument("--prompt-seconds", type=float, default=8.0)
    ap.add_argument("--sustained", type=int, default=100, help="calls of the back-to-back phase")
    ap.add_argument("--inbound", type=int, default=32, help="callers of the inbound phase")
    args = ap.parse_args()
    if shutil.which("sipp") is None:
        print("sipp is not installed (Debian sip-tester)")
        return 2
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"alertnode-bench-calls-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        base = await run(1, args.prompt_seconds, tmp)
        show("baseline", base)
        load = await run(args.calls, args.prompt_seconds, tmp)
        show("load", load)
        sus = await sustained(args.sustained, args.calls, tmp)
        print(
            f"sustained: {sus['answered']}/{sus['calls']} calls answered back to back through {args.calls} slots: "
            f"{sus['per_s']:.1f} calls set up per second"
        )
        amd_off = await amd_run(args.calls, "mailbox", "off", args.prompt_seconds, tmp)
        amd_on = await amd_run(args.calls, "mailbox", "voicemail", args.prompt_seconds, tmp)
        people = await amd_run(args.calls, "hello", "hangup", args.prompt_seconds, tmp)
        for label, r in (("AMD off", amd_off), ("AMD on", amd_on)):
            print(
                f"{label:>9}: {r['calls']} calls to mailboxes, held at once {r['max_concurrent']:3d}  worker CPU "
                f"{r['cpu_pct_per_call']:5.2f} % of a core per call, {r['cpu_s_per_call']:.3f} s per call  "
                f"machines found {r['machines']}  messages left {r['voicemail_left']}  outcomes {r['outcomes']}  "
                f"sipp rc {r['sipp_rc']}"
            )
        print(
            f"   people: {people['calls']} saying Hello? with AMD on, held at once {people['max_concurrent']:3d}  "
            f"first verdicts {sorted(set(people['first_verdicts']))}  decided after the answer p50 "
            f"{pct(people['decided_ms'], 50):.0f} / max {pct(people['decided_ms'], 100):.0f} ms (the call's audio); "
            f"verdict at the node (wall clock) p50 {pct(people['wall_ms'], 50):.0f} / p95 "
            f"{pct(people['wall_ms'], 95):.0f} / max {pct(people['wall_ms'], 100):.0f} ms  worker CPU "
            f"{people['cpu_pct_per_call']:5.2f} % of a core per call  outcomes {people['outcomes']}  "
            f"sipp rc {people['sipp_rc']}"
        )
        inb = await inbound(args.inbound, tmp)
        print(
            f"  inbound: callers {inb['calls']:3d}  answered {inb['answered']:3d}  "
            f"held at once {inb['max_concurrent']:3d}  answered {inb['setup_per_s']:6.1f}/s  "
            f"worker CPU {inb['cpu_pct_per_call']:5.2f} % of a core per call  "
            f"keys {inb['digits']}/{inb['digits_sent']} (in-band {inb['inband']})  responded {inb['responded']}  "
            f"workers {inb['workers']}  sipp rc {inb['sipp_rc']}"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ok_conc = load["max_concurrent"] >= min(32, args.calls) and load["digits"] == load["digits_sent"]
    ok_rate = load["setup_per_s"] >= 5 and sus["per_s"] >= 5
    ok_in = (
        inb["max_concurrent"] >= min(32, args.inbound)
        and inb["digits"] == inb["digits_sent"]
        and inb["responded"] == inb["calls"]
    )
    print(f"floor 32 concurrent IVR calls, every digit detected: {'PASS' if ok_conc else 'FAIL'}")
    print(f"floor 5 calls set up per second: {'PASS' if ok_rate else 'FAIL'}")
    print(f"floor 32 concurrent inbound calls, every key detected: {'PASS' if ok_in else 'FAIL'}")
    ok_amd = (
        amd_on["machines"] == amd_on["calls"] and amd_on["voicemail_left"] == amd_on["calls"]
        and people["first_verdicts"].count("human") == people["calls"]
        and pct(people["decided_ms"], 100) <= 1500 and pct(people["wall_ms"], 100) <= 1500
    )
    print(f"floor every machine found and its message left, every person a person within 1.5 s: "
          f"{'PASS' if ok_amd else 'FAIL'}")
    print(f"CPU per call, AMD on vs off: {amd_on['cpu_pct_per_call']:.2f} % vs {amd_off['cpu_pct_per_call']:.2f} % "
          f"of a core; {amd_on['cpu_s_per_call']:.3f} vs {amd_off['cpu_s_per_call']:.3f} s per call")
    print(f"CPU per call vs. baseline: {load['cpu_pct_per_call']:.2f} % vs {base['cpu_pct_per_call']:.2f} % of a core")
    return 0 if ok_conc and ok_rate and ok_in and ok_amd else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
