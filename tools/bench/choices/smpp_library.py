#!/usr/bin/env python3
"""Why smpplib plus the node's own session layer: smpplib measured against the SMSC simulator.

    .venv/bin/python tools/bench/choices/smpp_library.py [--messages 10000] [--node-recipients 5000]

Everything runs on 127.0.0.1 against tools/peers/smsc_sim.py (started on free ports). Printed:

1. throughput: smpplib send-then-read (one submit_sm, wait for its answer) against a window of 50
   outstanding, both with ``bare_smpplib`` from tools/bench/sms.py (the baseline of that benchmark),
   on loopback and through a relay that adds ``--rtt-ms`` of round trip (an SMSC across a WAN), and
   the node end to end (``node_run`` from the same file: sendalert to every submit_sm_resp stored);
2. splitting: smpplib's ``make_parts`` against the node's ``alertnode.sms.gsm.plan`` for texts where
   a GSM 03.38 escape sequence (€, {) or a UTF-16 surrogate pair straddles a part boundary, and for
   characters smpplib's GSM table gets wrong; each part decoded on its own, as a handset does;
3. concatenation references: how often smpplib's random 8-bit reference repeats among messages in a
   row to one number, against the node's per-destination counter;
4. receipts: 20 messages through smpplib with receipts whose ids the SMSC writes in decimal while
   submit_sm_resp gave hex (carriers do this): matched to their submit by smpplib's fields as given,
   and by the node's ``alertnode.sms.receipts``;
5. failures: a rejected submit_sm (smpplib raises from its reader loop), a silent SMSC (smpplib's
   enquire_link is never checked for an answer; the node's link thread declares the link dead), and
   an SMSC that dies (smpplib's client still says it is bound).

Exits non-zero only when the script itself fails (the simulator does not start, a step times out).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

import smpplib.client  # noqa: E402
import smpplib.consts  # noqa: E402
import smpplib.exceptions  # noqa: E402
import smpplib.gsm  # noqa: E402
from report import print_table  # noqa: E402

from alertnode.sms import gsm, receipts  # noqa: E402
from alertnode.sms import session as s  # noqa: E402
from alertnode.sms.smpplib_adapter import BindParams, LinkOutput, SmppThread  # noqa: E402
from tests.peers.smsc import Smsc  # noqa: E402

UDH8 = 6  # 05 00 03 ref total seq (3GPP TS 23.040 §9.2.3.24.1)


def load_sms_bench() -> ModuleType:
    """tools/bench/sms.py by its path: its folder also holds email.py, which must not shadow the
    standard library's package by being put on sys.path."""
    spec = importlib.util.spec_from_file_location("alertnode_bench_sms", ROOT / "tools" / "bench" / "sms.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------ 1. throughput


class DelayProxy:
    """A TCP relay on 127.0.0.1 that holds every chunk ``one_way`` seconds in each direction: the
    round trip of an SMSC across a WAN or VPN, without touching the machine's network settings."""

    def __init__(self, upstream_port: int, one_way: float) -> None:
        self.upstream_port = upstream_port
        self.one_way = one_way
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> None:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0), self._loop
        ).result(10)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def stop(self) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    writer.close()
                    return
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
                writer.write(data)
                await writer.drain()

        task = asyncio.create_task(deliver())
        try:
            while data := await reader.read(1 << 16):
                queue.put_nowait((loop.time() + self.one_way, data))
        finally:
            queue.put_nowait((0.0, b""))
            await task


def throughput(work: Path, messages: int, rtt_ms: float, node_recipients: int) -> list[list[str]]:
    bench = load_sms_bench()
    sim = Smsc(work)
    sim.log_path = Path(os.devnull)  # no per-submit log line: it would cost the SMSC time
    sim.start()
    proxy = DelayProxy(sim.port, rtt_ms / 2000)
    proxy.start()
    try:
        one = bench.bare_smpplib(sim.port, messages, 1)
        fifty = bench.bare_smpplib(sim.port, messages, 50)
        # send-then-read waits one round trip per message: fewer messages keep the run short
        slow = max(50, int(3 * 1000 / rtt_ms))
        one_far = bench.bare_smpplib(proxy.port, slow, 1)
        fifty_far = bench.bare_smpplib(proxy.port, min(messages, slow * 10), 50)
        rows = [
            ["loopback", "smpplib send-then-read (window 1)", f"{one:,.0f} submit_sm/s", "baseline"],
            ["loopback", "smpplib, window of 50 outstanding", f"{fifty:,.0f} submit_sm/s", f"{fifty / one:.1f} x"],
            [
                f"{rtt_ms:g} ms round trip",
                "smpplib send-then-read (window 1)",
                f"{one_far:,.0f} submit_sm/s",
                "baseline",
            ],
            [
                f"{rtt_ms:g} ms round trip",
                "smpplib, window of 50 outstanding",
                f"{fifty_far:,.0f} submit_sm/s",
                f"{fifty_far / one_far:.1f} x",
            ],
        ]
        if node_recipients:
            link = sim.link(window=50, registered_delivery=False)
            elapsed, _ = bench.node_run(work / "node", sim, node_recipients, link, timeout=300)
            rate = node_recipients / elapsed
            rows.append(
                [
                    "loopback",
                    "node end to end (HTTP, store, session, window 50)",
                    f"{rate:,.0f} msg/s",
                    f"{rate / one:.1f} x loopback baseline, {node_recipients:,} recipients",
                ]
            )
        return rows
    finally:
        proxy.stop()
        sim.stop()


# ------------------------------------------------------------------------------ 2. splitting


def _smpplib_parts(text: str) -> tuple[list[bytes], int]:
    """smpplib's parts (UDH stripped) and the data_coding it chose."""
    parts, encoding, esm_class = smpplib.gsm.make_parts(text)
    if esm_class & smpplib.consts.SMPP_GSMFEAT_UDHI:
        parts = [p[UDH8:] for p in parts]
    return list(parts), int(encoding)


def _decode_part(body: bytes, dcs: int) -> str:
    """One part decoded on its own, as the handset decodes each SM's user data."""
    if dcs == gsm.DCS_UCS2:
        return body.decode("utf-16-be", errors="replace")
    return gsm.gsm_decode(body)


def _around(text: str, at: int) -> str:
    return repr(text[max(0, at - 4) : at + 4])


def splitting() -> list[list[str]]:
    rows: list[list[str]] = []
    filler = "Invoice 4711 is overdue. Please pay within seven days to avoid a reminder fee. "
    cases = [
        ("€ on a part boundary", (filler * 2)[:152] + "€25 fee, ref {A7} " + filler),
        ("{ on a part boundary", (filler * 4)[:305] + "{A7} " + filler),
        ("emoji on a UCS-2 boundary", "Ünïcode " + "x" * 58 + "😀 " + "y" * 80),
    ]
    for name, text in cases:
        parts, dcs = _smpplib_parts(text)
        decoded = [_decode_part(p, dcs) for p in parts]
        joined = "".join(decoded)
        at = _first_diff(joined, text)
        lib = "intact" if joined == text else f"garbled: {_around(text, at)} -> {_around(joined, at)}"
        plan = gsm.plan(text, charset=gsm.Charset.GSM, dcs=0, concat=gsm.Concat.UDH8)
        node_joined = "".join(_decode_part(plan.encode(c), plan.data_coding) for c in plan.chunks)
        node = "intact" if node_joined == text else "garbled"
        rows.append([name, f"{len(parts)} parts, {lib}", f"{plan.segments} parts, {node}"])
    # smpplib's GSM table has '`' where 03.38 has '§' (0x5F), so '§' is "not GSM" and '`' is sent as '§'
    for name, text in (("'§' (GSM 0x5F)", "See § 4 of the policy."), ("'`' (not in GSM)", "Run `make` again.")):
        parts, dcs = _smpplib_parts(text)
        shown = "".join(_decode_part(p, dcs) for p in parts)
        lib = f"dcs {dcs}, handset shows {shown!r}"
        plan = gsm.plan(text, charset=gsm.Charset.GSM, dcs=0, concat=gsm.Concat.UDH8)
        node_shown = "".join(_decode_part(plan.encode(c), plan.data_coding) for c in plan.chunks)
        rows.append([name, lib, f"dcs {plan.data_coding}, handset shows {node_shown!r}"])
    return rows


def _first_diff(a: str, b: str) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


# ------------------------------------------------------------------------------ 3. references


def references(trials: int, burst: int) -> list[list[str]]:
    text = "x" * 200  # two parts
    repeated = 0
    for _ in range(trials):
        refs = {smpplib.gsm.make_parts(text)[0][0][3] for _ in range(burst)}
        repeated += len(refs) < burst
    # the node: alertnode.sms.channel keeps a counter per destination (stored with the acks), so the
    # reference repeats only after ref_modulus() messages to the same number
    node8, node16 = gsm.ref_modulus(gsm.Concat.UDH8), gsm.ref_modulus(gsm.Concat.UDH16)
    return [
        [
            f"{burst} concatenated messages in a row to one number share a reference",
            f"{100 * repeated / trials:.0f} % of {trials} runs (random 8-bit)",
            f"never: counter per number, repeats after {node8} (udh8) / {node16:,} (udh16, sar)",
        ]
    ]


# ------------------------------------------------------------------------------ 4. receipts


def receipts_matched(work: Path, count: int) -> list[list[str]]:
    # ids from 4096 on: hex and decimal forms then differ (ids below 10 read the same either way)
    sim = Smsc(work, id_start=4096, receipt_id_format="dec")
    sim.start()
    client = smpplib.client.Client("127.0.0.1", sim.port, timeout=10, allow_unknown_opt_params=True)
    submitted: list[str] = []
    got: list[Any] = []
    client.set_message_sent_handler(lambda pdu, **_: submitted.append(pdu.message_id.decode()))
    client.set_message_received_handler(lambda pdu, **_: got.append(pdu))
    try:
        client.connect()
        client.bind_transceiver(system_id="bench", password="bench")
        for i in range(count):
            client.send_message(
                source_addr_ton=5,
                source_addr="BENCH",
                dest_addr_ton=1,
                dest_addr_npi=1,
                destination_addr=f"4477009{i:05d}",
                short_message=b"receipt please",
                registered_delivery=1,
            )
        deadline = time.monotonic() + 30
        while (len(submitted) < count or len(got) < count) and time.monotonic() < deadline:
            client.read_once()
        if len(got) < count:
            raise SystemExit(f"only {len(got)} of {count} receipts arrived")
    finally:
        client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN  # no unbind: the results are in
        with contextlib.suppress(Exception):
            client.disconnect()
        sim.stop()
    # smpplib hands over a deliver_sm: esm_class, the TLVs as bytes, the text as bytes. Matching by
    # what it gives (receipted_message_id as sent) is what an application on smpplib alone does.
    plain = {m.lower() for m in submitted}
    by_lib = sum(_tlv_text(p.receipted_message_id).lower() in plain for p in got)
    normal = {receipts.normalize_id(m) for m in submitted}
    by_node = 0
    for p in got:
        r = receipts.parse(p.short_message, p.receipted_message_id, p.message_state)
        by_node += r is not None and any(c in normal for c in receipts.id_candidates(r.message_id))
    text_only = receipts.parse(got[0].short_message, None, None)  # carriers that send no TLVs
    example = got[0].short_message.decode("latin-1")[:44]
    return [
        [
            "receipts matched to their submit (ids hex in submit_sm_resp, decimal in receipts)",
            f"{by_lib} of {count} (no parser: compare what it hands over)",
            f"{by_node} of {count} (receipts.parse + id_candidates)",
        ],
        [
            "state of a receipt that has only the text form (no TLVs)",
            f"none: raw bytes {example!r}...",
            f"{text_only.stat if text_only else '-'} -> {text_only.outcome.value if text_only else '-'}",
        ],
    ]


def _tlv_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.rstrip(b"\0").decode("latin-1")
    return str(value or "")


# ------------------------------------------------------------------------------ 5. failures


def rejected_submit(work: Path) -> list[list[str]]:
    sim = Smsc(work)
    sim.start()
    client = smpplib.client.Client("127.0.0.1", sim.port, timeout=10, allow_unknown_opt_params=True)
    acked: list[int] = []
    client.set_message_sent_handler(lambda pdu, **_: acked.append(pdu.sequence))
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            client.listen()  # smpplib's documented reader loop
        except Exception as exc:  # what ends it is the measurement
            errors.append(exc)

    try:
        client.connect()
        client.bind_transceiver(system_id="bench", password="bench")
        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        for dest in ("99900000001", "447700900001"):  # the simulator rejects 999... (ESME_RINVDSTADR)
            client.send_message(source_addr="BENCH", destination_addr=dest, short_message=b"x")
        thread.join(3)
        alive = thread.is_alive()
        client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN
        with contextlib.suppress(Exception):
            client.disconnect()
    finally:
        sim.stop()
    # the node's session machine fed the same answer: a failed part, the link stays bound
    sess = s.Session(s.SessionConfig(window=10))
    sess.handle(s.Start(), 0.0)
    sess.handle(s.Connected(), 0.0)
    sess.handle(s.BindResp(1, 0), 0.0)
    sent = [a for a in sess.handle(s.Enqueue(((1, 1), (2, 1))), 0.0) if isinstance(a, s.SendSubmit)]
    out = sess.handle(s.SubmitResp(sent[0].sequence, 0x0B, ""), 0.1)
    out += sess.handle(s.SubmitResp(sent[1].sequence, 0, "a1"), 0.1)
    failed = [a for a in out if isinstance(a, s.Failed)]
    ok = [a for a in out if isinstance(a, s.Acked)]
    err = f"{type(errors[0]).__name__}({errors[0].args[0]!r})" if errors else "nothing raised"
    return [
        [
            "submit_sm_resp 0x0B for the 1st of 2 submits",
            f"listen() raised {err}; reader {'alive' if alive else 'ended'}; {len(acked)} of 2 answers seen",
            f"{len(failed)} failed (permanent={failed[0].permanent if failed else '-'}), {len(ok)} acked, "
            f"link {sess.state.value}",
        ]
    ]


def silent_and_dead(work: Path, window: float) -> list[list[str]]:
    sim = Smsc(work)
    sim.start()
    # smpplib: socket time-out 1 s, so read_once() sends an enquire_link after each silent second
    client = smpplib.client.Client("127.0.0.1", sim.port, timeout=1.0, allow_unknown_opt_params=True)
    client.connect()
    client.bind_transceiver(system_id="bench", password="bench")
    sent_enquire = 0
    real_send = client.send_pdu

    def counting_send(pdu: Any) -> Any:
        nonlocal sent_enquire
        sent_enquire += pdu.command == "enquire_link"
        return real_send(pdu)

    client.send_pdu = counting_send
    lib_errors: list[str] = []
    stop = threading.Event()

    def lib_reader() -> None:
        while not stop.is_set():
            try:
                client.read_once()
            except Exception as exc:  # recorded: whether it ever notices is what is measured
                lib_errors.append(type(exc).__name__)
                if isinstance(exc, smpplib.exceptions.ConnectionError):
                    return

    # the node: its link thread with a 1 s enquire_link interval and 1 s answer time-out
    changes: list[tuple[float, s.LinkState, str]] = []
    lock = threading.Lock()

    def emit(batch: list[LinkOutput]) -> None:
        with lock:
            for item in batch:
                if isinstance(item.action, s.StateChanged):
                    changes.append((time.monotonic(), item.action.state, item.action.reason))

    link = SmppThread(
        "bench",
        "transceiver",
        BindParams("127.0.0.1", sim.port, "alertnode", "secret", "", 0, 0, "", 5.0),
        s.SessionConfig(enquire_interval=1.0, enquire_timeout=1.0, response_timeout=2.0, reconnect_initial=0.5),
        submit_body=lambda part: None,
        emit=emit,
    )
    link.start()
    reader = threading.Thread(target=lib_reader, daemon=True)
    try:
        _wait(lambda: link.state is s.LinkState.BOUND, 10, "the node's link did not bind")
        bound_again = len(changes)
        reader.start()
        paused_at = time.monotonic()
        sim.pause()  # SIGSTOP: the TCP connections stay up, nothing is answered
        time.sleep(window)
        with lock:
            down = [(t, st, why) for t, st, why in changes if t >= paused_at and st is not s.LinkState.BOUND]
        node_silent = f"link down after {down[0][0] - paused_at:.1f} s ({down[0][2]})" if down else "still bound"
        lib_silent = (
            f"{sent_enquire} enquire_link sent, 0 answered; {len(lib_errors)} errors; "
            f"state {_state_name(client.state)} after {window:.0f} s"
        )
        sim.resume()
        _wait(
            lambda: any(st is s.LinkState.BOUND for _, st, _ in changes[bound_again:]),
            15,
            "the node's link did not bind again",
        )
        killed_at = time.monotonic()
        sim.kill()  # SIGKILL: the connections close
        reader.join(5)

        def gone() -> list[tuple[float, str]]:
            with lock:
                return [(t, why) for t, st, why in changes if t >= killed_at and st is not s.LinkState.BOUND]

        _wait(lambda: bool(gone()), 10, "the node's link did not notice the kill")
        raised = lib_errors[-1] if lib_errors else "nothing"
        lib_dead = f"read_once raised {raised}; client.state still {_state_name(client.state)}"
        first = gone()[0]
        node_dead = f"{link.state.value} after {first[0] - killed_at:.2f} s ({first[1]})"
    finally:
        stop.set()
        link.stop()
        link.join(5)
        link.kill()
        with contextlib.suppress(Exception):
            client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN
            client.disconnect()
        sim.stop()
    return [
        ["SMSC silent (SIGSTOP), connection up", lib_silent, node_silent],
        ["SMSC killed (connection closed)", lib_dead, node_dead],
    ]


def _state_name(state: Any) -> str:
    names = {getattr(smpplib.consts, n): n for n in dir(smpplib.consts) if n.startswith("SMPP_CLIENT_STATE_")}
    return names.get(state, str(state)).removeprefix("SMPP_CLIENT_STATE_")


def _wait(cond: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise SystemExit(what)
        time.sleep(0.02)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=10000, help="submit_sm per smpplib throughput run")
    ap.add_argument("--rtt-ms", type=float, default=10.0, help="round trip added by the relay in the 2nd run")
    ap.add_argument("--node-recipients", type=int, default=5000, help="0 skips the node end-to-end run")
    ap.add_argument("--silent-seconds", type=float, default=4.0)
    args = ap.parse_args()
    os.environ.setdefault("SMPP34_WORKER_THREADS", "1")
    logging.getLogger("alertnode").setLevel(logging.ERROR)  # the link's state changes are in the table
    with tempfile.TemporaryDirectory(prefix="alertnode-choice-smpp-") as tmp:
        work = Path(tmp)
        print_table(
            "1. Throughput against the SMSC simulator (127.0.0.1)",
            ["path", "client", "rate", "compared"],
            throughput(work, args.messages, args.rtt_ms, args.node_recipients),
        )
        print_table(
            "2. Splitting into parts (each part decoded on its own, as the handset does)",
            ["text", "smpplib 2.2.4 make_parts", "node alertnode.sms.gsm"],
            splitting(),
        )
        print_table(
            "3. Concatenation reference (UDH)",
            ["case", "smpplib 2.2.4", "node"],
            references(trials=2000, burst=20),
        )
        print_table("4. Delivery receipts", ["case", "smpplib 2.2.4", "node"], receipts_matched(work, count=20))
        print_table(
            "5. Failures",
            ["case", "smpplib 2.2.4 client", "node (session machine / link thread)"],
            rejected_submit(work) + silent_and_dead(work, args.silent_seconds),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
