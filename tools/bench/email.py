"""E-mail throughput on loopback: messages per second to a local smarthost for one alert of N
recipients, and replies processed per second on the node's SMTP listener.

Every figure is printed next to a baseline measured in the same run on the same machine:

  send   bare aiosmtplib        C persistent connections, a fixed message, nothing else (the ceiling)
  send   MailChannel            compose + pooled client + events to an in-memory sink (no store)
  send   node (HTTP → SMTP)     `alertnode serve` subprocess: sendalert with N recipients, time until
                                the smarthost holds all N, and until collectevents shows N "sent"
  reply  bare aiosmtpd          a listener that answers 250 and does nothing else (the ceiling)
  reply  MailChannel listener   parse + correlate + report to an in-memory sink
  reply  under a crowd          the same, while a crowd of idle clients (another process) connects and
                                never sends a command: replies/s against the run above, how many of the
                                crowd got a session (the rest 421 at once), and how long until the
                                listener had dropped every idle one (listen_timeout_s)
  reply  node listener          the same replies to the node subprocess: until collectevents shows them

The smarthost and the reply senders run in their own processes so they do not share the GIL with
what is measured.

    .venv/bin/python tools/bench/email.py [--recipients 5000] [--replies 2000] [--concurrency 4]
                                          [--crowd 5000] [--no-node]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

# This file is called email.py (by the project's layout); run as a script its folder comes first on
# sys.path and would hide the standard library's email package, so take that entry out first.
if sys.path and sys.path[0] and __file__.startswith(sys.path[0].rstrip("/") + "/"):
    del sys.path[0]

import argparse
import asyncio
import multiprocessing as mp
import os
import re
import smtplib
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import aiosmtplib  # noqa: E402
from aiosmtpd.smtp import SMTP, Envelope, Session  # noqa: E402

from alertnode.domain import ChannelEvent, DeliveryWork, InboundMessage  # noqa: E402
from alertnode.mail.channel import MailChannel  # noqa: E402
from alertnode.mail.config import MailConfig  # noqa: E402

DOMAIN = "bench.alertnode.test"
TEXT = "Fire alarm in building 3. Leave by the nearest exit and reply when you are safe.\n" * 4
_SUBJECT = re.compile(rb"^Subject: (.*?)\r\n(?! )", re.MULTILINE | re.DOTALL)


# -- the smarthost process ---------------------------------------------------------------------------


def _smarthost(port_q: Any, count: Any, stop: Any, subjects_q: Any, keep_subjects: bool) -> None:
    subjects: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            with count.get_lock():
                count.value += 1
            if keep_subjects:
                m = _SUBJECT.search(envelope.original_content or b"")
                if m:
                    subjects.append(m.group(1))
            return "250 2.0.0 Ok: queued"

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(Handler(), hostname="smarthost.bench", loop=loop), host="127.0.0.1", port=0
        )
        port_q.put(server.sockets[0].getsockname()[1])
        await asyncio.to_thread(stop.wait)
        server.close()

    asyncio.run(main())
    subjects_q.put(subjects)


class SmarthostProcess:
    def __init__(self, keep_subjects: bool = False) -> None:
        ctx = mp.get_context("spawn")
        self.count = ctx.Value("i", 0)
        self._stop = ctx.Event()
        port_q = ctx.Queue()
        self._subjects_q = ctx.Queue()
        self._proc = ctx.Process(
            target=_smarthost,
            args=(port_q, self.count, self._stop, self._subjects_q, keep_subjects),
            daemon=True,
        )
        self._proc.start()
        self.port = int(port_q.get(timeout=30))

    def reset(self) -> None:
        with self.count.get_lock():
            self.count.value = 0

    def stop(self) -> list[bytes]:
        self._stop.set()
        subjects: list[bytes] = self._subjects_q.get(timeout=30)
        self._proc.join(10)
        return subjects


# -- reply senders (processes) ----------------------------------------------------------------------


def _send_replies(port: int, messages: list[bytes], rcpt: str, ready: Any, go: Any) -> None:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="sender.bench", timeout=60) as client:
        client.ehlo()
        ready.put(1)
        go.wait()
        for data in messages:
            client.sendmail("person@example.org", [rcpt], data)


class ReplySenders:
    """Processes that each open one SMTP session, then send their share when released, so process
    start-up is not part of the measurement."""

    def __init__(self, port: int, messages: list[bytes], rcpt: str, senders: int) -> None:
        ctx = mp.get_context("spawn")
        ready = ctx.Queue()
        self._go = ctx.Event()
        chunks = [messages[i::senders] for i in range(senders)]
        self._procs = [
            ctx.Process(target=_send_replies, args=(port, chunk, rcpt, ready, self._go)) for chunk in chunks if chunk
        ]
        for p in self._procs:
            p.start()
        for _ in self._procs:
            ready.get(timeout=60)

    def go(self) -> None:
        self._go.set()

    def join(self) -> None:
        for p in self._procs:
            p.join(600)


def reply_bytes(subject: str, body: str, n: int) -> bytes:
    return (
        f"From: Person {n} <person{n}@example.org>\r\nTo: responses@{DOMAIN}\r\nSubject: Re: {subject}\r\n"
        f"Message-ID: <reply{n}.{os.getpid()}.{time.time_ns()}@example.org>\r\n"
        "Date: Mon, 23 Nov 2026 19:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n\r\nOn Mon, 23 Nov 2026, Alerts wrote:\r\n> {TEXT.splitlines()[0]}\r\n"
    ).encode()


# -- sinks ---------------------------------------------------------------------------------------


class CountingSink:
    def __init__(self, target: int) -> None:
        self.target = target
        self.sent = 0
        self.replied = 0
        self.other = 0
        self.tokens: dict[str, int] = {}
        self.done = asyncio.Event()

    async def report_many(self, events: Sequence[ChannelEvent]) -> None:
        for event in events:
            await self.report(event)

    async def report(self, event: ChannelEvent) -> None:
        if event.kind == "sent":
            self.sent += 1
        elif event.kind == "replied":
            self.replied += 1
        else:
            self.other += 1
        if self.sent + self.replied + self.other >= self.target:
            self.done.set()

    async def unsolicited(self, message: InboundMessage) -> None:
        self.other += 1

    async def find_recent(self, alert_type: str, address: str, at: float) -> int | None:
        return None

    async def find_by_token(self, token: str) -> int | None:
        return self.tokens.get(token)


def work(i: int) -> DeliveryWork:
    return DeliveryWork(
        delivery_id=i,
        alert_ref="BENCH",
        client_ref="bench",
        item_index=0,
        tag="t",
        alert_type="email",
        address=f"user{i}@example.org",
        contact_id=None,
        token=f"benchtok{i:06d}",
        content=TEXT.encode(),
        text=TEXT,
        params={"subject": "Fire alarm", "sender": "alerts", "replyTo": "responses"},
        email_subject_ref="ANBENCH",
    )


def config(smarthost_port: int, concurrency: int, **extra: Any) -> MailConfig:
    return MailConfig(
        smarthost_host="127.0.0.1",
        smarthost_port=smarthost_port,
        smarthost_tls="off",
        domain=DOMAIN,
        concurrency=concurrency,
        queue_limit=100_000,
        **extra,
    )


# -- sending --------------------------------------------------------------------------------------


async def bare_aiosmtplib(port: int, n: int, concurrency: int) -> float:
    from alertnode.mail.compose import MailIdentity, compose

    data = compose(work(0), MailIdentity(DOMAIN), time.time()).data
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False) for _ in range(concurrency)]
    for c in clients:
        await c.connect()
    queue = list(range(n))
    start = time.perf_counter()

    async def run(c: aiosmtplib.SMTP) -> None:
        while queue:
            i = queue.pop()
            await c.sendmail(f"bounces@{DOMAIN}", [f"user{i}@example.org"], data)

    await asyncio.gather(*(run(c) for c in clients))
    elapsed = time.perf_counter() - start
    for c in clients:
        await c.quit()
    return n / elapsed


async def channel_send(port: int, n: int, concurrency: int) -> float:
    channel = MailChannel(config=config(port, concurrency, listen_enabled=False))
    sink = CountingSink(n)
    await channel.start(sink)
    start = time.perf_counter()
    for i in range(n):
        await channel.submit(work(i))
    await asyncio.wait_for(sink.done.wait(), 600)
    elapsed = time.perf_counter() - start
    await channel.stop(5)
    assert sink.sent == n, f"{sink.sent} sent, {sink.other} other events"
    return n / elapsed


# -- replies -------------------------------------------------------------------------------------------


async def bare_aiosmtpd_replies(n: int, senders: int) -> float:
    done = asyncio.Event()
    count = 0

    class Handler:
        async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
            nonlocal count
            count += 1
            if count >= n:
                done.set()
            return "250 OK"

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Handler(), hostname=DOMAIN, loop=loop), host="127.0.0.1", port=0)
    port = server.sockets[0].getsockname()[1]
    messages = [reply_bytes(f"Fire alarm [ANBENCH-benchtok{i:06d}]", "Safe", i) for i in range(n)]
    senders_ = await asyncio.to_thread(ReplySenders, port, messages, f"responses@{DOMAIN}", senders)
    start = time.perf_counter()
    senders_.go()
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - start
    await asyncio.to_thread(senders_.join)
    server.close()
    return n / elapsed


async def channel_replies(n: int, senders: int) -> float:
    channel = MailChannel(config=config(1, 1, listen_port=0))
    sink = CountingSink(n)
    sink.tokens = {f"benchtok{i:06d}": i for i in range(n)}
    await channel.start(sink)
    messages = [reply_bytes(f"Fire alarm [ANBENCH-benchtok{i:06d}]", "Safe at the assembly point", i) for i in range(n)]
    senders_ = await asyncio.to_thread(ReplySenders, channel.listener_port, messages, f"responses@{DOMAIN}", senders)
    start = time.perf_counter()
    senders_.go()
    await asyncio.wait_for(sink.done.wait(), 600)
    elapsed = time.perf_counter() - start
    await asyncio.to_thread(senders_.join)
    await channel.stop(5)
    assert sink.replied == n, f"{sink.replied} replied, {sink.other} other"
    return n / elapsed


def _crowd(port: int, n: int, out: Any, go: Any) -> None:
    """``n`` clients that connect, read the first line and then say nothing until they are closed."""

    async def main() -> dict[str, float]:
        greeted, busy, failed = 0, 0, 0
        last_close = 0.0
        start = time.perf_counter()

        async def one() -> None:
            nonlocal greeted, busy, failed, last_close
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                failed += 1
                return
            try:
                line = await asyncio.wait_for(reader.readline(), 120)
                greeted += line.startswith(b"220")
                busy += line.startswith(b"421")
                await asyncio.wait_for(reader.read(), 120)
                last_close = max(last_close, time.perf_counter() - start)
            except (OSError, TimeoutError):
                failed += 1
            finally:
                writer.close()

        await asyncio.gather(*(one() for _ in range(n)))
        return {"greeted": greeted, "busy": busy, "failed": failed, "all closed after s": last_close}

    go.wait()
    out.put(asyncio.run(main()))


async def channel_replies_under_crowd(n: int, senders: int, crowd: int) -> tuple[float, dict[str, float]]:
    channel = MailChannel(config=config(1, 1, listen_port=0, listen_timeout_s=2.0))
    sink = CountingSink(n)
    sink.tokens = {f"benchtok{i:06d}": i for i in range(n)}
    await channel.start(sink)
    messages = [reply_bytes(f"Fire alarm [ANBENCH-benchtok{i:06d}]", "Safe at the assembly point", i) for i in range(n)]
    senders_ = await asyncio.to_thread(ReplySenders, channel.listener_port, messages, f"responses@{DOMAIN}", senders)
    ctx = mp.get_context("spawn")
    out, go = ctx.Queue(), ctx.Event()
    crowd_proc = ctx.Process(target=_crowd, args=(channel.listener_port, crowd, out, go), daemon=True)
    crowd_proc.start()
    go.set()
    await asyncio.sleep(0.5)  # the crowd is arriving (a fixed head start, not a measured time)
    start = time.perf_counter()
    senders_.go()
    await asyncio.wait_for(sink.done.wait(), 600)
    elapsed = time.perf_counter() - start
    await asyncio.to_thread(senders_.join)
    stats: dict[str, float] = await asyncio.to_thread(out.get, True, 300)
    await asyncio.to_thread(crowd_proc.join, 30)
    await channel.stop(5)
    assert sink.replied == n, f"{sink.replied} replied, {sink.other} other"
    return n / elapsed, stats


# -- through the node ----------------------------------------------------------------------------


def through_node(n: int, replies: int, concurrency: int, senders: int) -> dict[str, float]:
    from tests.nodeproc import API_KEY, RunningNode, free_port

    smarthost = SmarthostProcess(keep_subjects=True)
    listen_port = free_port()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        node = RunningNode(
            Path(tmp),
            {
                "mail": {
                    "smarthost_host": "127.0.0.1",
                    "smarthost_port": smarthost.port,
                    "smarthost_tls": "off",
                    "listen_port": listen_port,
                    "domain": DOMAIN,
                    "concurrency": concurrency,
                }
            },
        )
        node.start()
        try:
            body = {
                "version": "latest",
                "apiKey": API_KEY,
                "clientRef": "bench",
                "alert": [
                    {
                        "alertType": "email",
                        "tag": "bench",
                        "content": TEXT,
                        "contentEncoding": "utf8",
                        "subject": "Fire alarm",
                        "sender": "alerts",
                        "replyTo": "responses",
                        "recipients": [f"user{i}@example.org" for i in range(n)],
                    }
                ],
            }
            start = time.perf_counter()
            resp = node.post("/api/json/sendalert", body)
            resp.raise_for_status()
            results["sendalert answered (s)"] = time.perf_counter() - start
            while smarthost.count.value < n:
                if time.perf_counter() - start > 600:
                    raise RuntimeError(f"smarthost has {smarthost.count.value} of {n}")
                time.sleep(0.01)
            results["node → smarthost msg/s"] = n / (time.perf_counter() - start)
            node.wait_events(lambda evs: sum(e["event"] == "sent" for e in evs) >= n, timeout=600)
            results["node → collectevents 'sent' msg/s"] = n / (time.perf_counter() - start)
            subjects = smarthost.stop()
            picked = [s.decode("ascii", "replace") for s in subjects[:replies]]
            messages = [reply_bytes(s, "Safe", i) for i, s in enumerate(picked)]
            senders_ = ReplySenders(listen_port, messages, f"responses@{DOMAIN}", senders)
            start = time.perf_counter()
            senders_.go()
            senders_.join()
            results["node listener accepted replies/s"] = len(messages) / (time.perf_counter() - start)
            node.wait_events(lambda evs: sum(e["event"] == "replied" for e in evs) >= len(messages), timeout=600)
            results["node replies → collectevents /s"] = len(messages) / (time.perf_counter() - start)
        finally:
            node.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=5000)
    parser.add_argument("--replies", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4, help="smarthost connections")
    parser.add_argument("--senders", type=int, default=4, help="processes sending replies")
    parser.add_argument("--crowd", type=int, default=5000, help="idle clients for the slow-client run (0: skip)")
    parser.add_argument("--no-node", action="store_true", help="skip the runs through the node subprocess")
    args = parser.parse_args()
    n, c = args.recipients, args.concurrency
    print(f"e-mail bench: {n} recipients, {c} smarthost connections, {args.replies} replies, {os.cpu_count()} CPUs")
    smarthost = SmarthostProcess()
    try:
        bare = asyncio.run(bare_aiosmtplib(smarthost.port, n, c))
        print(f"  send   bare aiosmtplib (baseline)  {bare:8.0f} msg/s")
        smarthost.reset()
        chan = asyncio.run(channel_send(smarthost.port, n, c))
        print(f"  send   MailChannel                 {chan:8.0f} msg/s   ({chan / bare:.0%} of baseline)")
    finally:
        smarthost.stop()
    raw = asyncio.run(bare_aiosmtpd_replies(args.replies, args.senders))
    print(f"  reply  bare aiosmtpd (baseline)    {raw:8.0f} msg/s")
    rep = asyncio.run(channel_replies(args.replies, args.senders))
    print(f"  reply  MailChannel listener        {rep:8.0f} msg/s   ({rep / raw:.0%} of baseline)")
    if args.crowd:
        crowded, stats = asyncio.run(channel_replies_under_crowd(args.replies, args.senders, args.crowd))
        print(
            f"  reply  under a crowd of {args.crowd:<5}      {crowded:8.0f} msg/s   ({crowded / rep:.0%} of the run"
            f" without); crowd: {stats['greeted']:.0f} served, {stats['busy']:.0f} told 421, {stats['failed']:.0f}"
            f" failed; every idle one closed {stats['all closed after s']:.1f} s after the crowd came"
            " (listen_timeout_s 2)"
        )
    if not args.no_node:
        for name, value in through_node(n, args.replies, c, args.senders).items():
            print(f"  node   {name:<36} {value:8.2f}")


if __name__ == "__main__":
    main()
