"""The SMS channel against the real SMSC simulator (smpp34), with an in-memory sink."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from alertnode.domain import DeliveryState
from alertnode.sms import gsm
from alertnode.sms.channel import SmsChannel
from alertnode.store.db import SqliteStore as Store
from tests.peers.sms_support import MemorySink, bound, cipher, open_store, sms_config, work
from tests.peers.smsc import Smsc, free_port

pytestmark = pytest.mark.peer


@pytest.fixture
def store(tmp_path: Path) -> Any:
    st = open_store(tmp_path / "node.db")
    yield st
    st.close()


Start = Callable[..., Any]


@pytest.fixture
async def start_channel(store: Store) -> AsyncIterator[Start]:
    running: list[SmsChannel] = []
    key = cipher()

    async def start(
        *links: dict[str, Any], sink: MemorySink | None = None, **extra: Any
    ) -> tuple[SmsChannel, MemorySink]:
        sink = sink or MemorySink()
        ch = SmsChannel(config=sms_config(*links, **extra), store=store, cipher=key, data_dir=Path("."))
        await ch.start(sink)
        running.append(ch)
        return ch, sink

    yield start
    for ch in running:
        await ch.stop(2.0)


def part_seq(row: dict[str, Any]) -> int:
    """The part number from the UDH or the SAR TLV (the SMSC may see parts out of order)."""
    sm = bytes.fromhex(row["sm"])
    if row["esm"] & 0x40:
        return sm[5] if sm[1] == 0 else sm[6]
    sar = row["tlvs"].get(str(0x020F))
    return int(sar, 16) if sar else 1


def parts_to(smsc: Smsc, dest: str) -> list[dict[str, Any]]:
    return sorted((r for r in smsc.submits() if r["dest"] == dest), key=lambda r: (r["t"] // 1000, part_seq(r)))


def user_data(row: dict[str, Any]) -> bytes:
    sm = bytes.fromhex(row["sm"])
    if row["esm"] & 0x40:
        return sm[1 + sm[0] :]
    return sm


async def test_submit_and_delivered_receipt(smsc: Smsc, start_channel: Start) -> None:
    ch, sink = await start_channel(smsc.link())
    await bound(ch)
    await ch.submit(work(1, "+447700900001", "Fire alarm in building 4"))
    await sink.wait(lambda: bool(sink.of(1, "delivered")))
    kinds = [e.kind for e in sink.of(1)]
    assert kinds == ["sent", "delivered"]
    sent, delivered = sink.of(1)
    assert sent.state is DeliveryState.SENT and sent.detail["parts"] == 1
    assert delivered.state is DeliveryState.DELIVERED and delivered.detail["stat"] == "DELIVRD"
    [row] = parts_to(smsc, "447700900001")
    assert row["src"] == "ALERTS" and row["src_ton"] == 5 and row["dst_ton"] == 1 and row["rd"] == 1
    assert gsm.gsm_decode(bytes.fromhex(row["sm"])) == "Fire alarm in building 4"
    assert ch.info().state == "bound"
    assert ch.info().details["a"]["transceiver"]["state"] == "bound"


async def test_rejected_destination_fails_with_smpp_status(smsc: Smsc, start_channel: Start) -> None:
    ch, sink = await start_channel(smsc.link())
    await bound(ch)
    await ch.submit(work(2, "+9990001", "x"))
    await sink.wait(lambda: bool(sink.of(2)))
    [ev] = sink.of(2)
    assert ev.state is DeliveryState.FAILED and ev.final
    assert ev.detail["smpp_status"] == 0x0B and ev.detail["smpp_status_name"] == "ESME_RINVDSTADR"


async def test_undeliverable_receipt_fails(smsc: Smsc, start_channel: Start) -> None:
    ch, sink = await start_channel(smsc.link())
    await bound(ch)
    await ch.submit(work(3, "+9981234567", "x"))
    await sink.wait(lambda: bool(sink.of(3, "failed")))
    assert [e.kind for e in sink.of(3)] == ["sent", "failed"]
    assert sink.of(3, "failed")[0].detail["stat"] == "UNDELIV"


async def test_throttled_is_backed_off_then_retried_later(smsc: Smsc, start_channel: Start) -> None:
    pause = 0.05
    ch, sink = await start_channel(
        smsc.link(throttle_backoff_initial_s=pause, max_throttle_retries=3), temporary_retry_s=42
    )
    await bound(ch)
    await ch.submit(work(4, "+9970001", "slow down"))
    await sink.wait(lambda: bool(sink.of(4)))
    [ev] = sink.of(4)
    assert ev.state is None and ev.retry_after == 42 and not ev.final
    assert ev.detail["smpp_status"] == 0x58
    times = [r["t"] for r in parts_to(smsc, "9970001")]
    assert len(times) == 4  # first try + 3 retries
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # each retry waited at least the doubling pause (lower bounds only: a slow machine only waits longer)
    for gap, expected in zip(gaps, [pause, 2 * pause, 4 * pause], strict=True):
        assert gap >= expected * 0.9


async def test_reply_flows_back_as_response(smsc: Smsc, start_channel: Start) -> None:
    ch, sink = await start_channel(smsc.link(dcs0_charset="latin1"))
    await bound(ch)
    sink.sent("+447700900005", 5)
    await ch.submit(work(5, "+447700900005", "Please confirm", sender="+447700100100"))
    await sink.wait(lambda: bool(sink.of(5, "sent")))
    code, _ = await asyncio.to_thread(smsc.mo, to="447700100100", **{"from": "447700900005"}, text="Yes!")
    assert code == 200
    await sink.wait(lambda: bool(sink.of(5, "replied")))
    [ev] = sink.of(5, "replied")
    assert ev.state is DeliveryState.RESPONDED
    assert ev.detail["text"] == "Yes!" and ev.detail["ack"] is True and ev.detail["link"] == "a"
    # a reply nobody was sent anything to is kept as unsolicited
    code, _ = await asyncio.to_thread(smsc.mo, to="447700100100", **{"from": "447700999999"}, text="who is this?")
    await sink.wait(lambda: bool(sink.inbound))
    assert sink.inbound[0].text == "who is this?" and sink.inbound[0].sender == "+447700999999"


async def test_euro_at_the_part_boundary_arrives_intact(smsc: Smsc, start_channel: Start) -> None:
    text = "ECHO " + "a" * 147 + "€" + "b" * 17
    assert len(text) == 170
    ch, sink = await start_channel(smsc.link())
    await bound(ch)
    sink.sent("+447700900006", 6)
    await ch.submit(work(6, "+447700900006", text))
    await sink.wait(lambda: bool(sink.of(6, "replied")))
    rows = parts_to(smsc, "447700900006")
    assert len(rows) == 2
    first, second = (user_data(r) for r in rows)
    assert len(first) == 152 and first[-1] != gsm.ESC  # the escape went whole into part 2
    assert second[:2] == bytes([gsm.ESC, 0x65])
    assert gsm.gsm_decode(first + second) == text
    assert sink.of(6, "replied")[0].detail["text"] == text  # and back again, reassembled


@pytest.mark.parametrize("concatenation", ["udh8", "udh16", "sar", "payload"])
async def test_emoji_text_goes_as_ucs2_in_three_parts(smsc: Smsc, start_channel: Start, concatenation: str) -> None:
    text = "ECHO " + "x" * 61 + "😀" + "y" * 60 + "🚒" * 10 + " end"
    ch, sink = await start_channel(smsc.link(concatenation=concatenation))
    await bound(ch)
    sink.sent("+447700900007", 7)
    await ch.submit(work(7, "+447700900007", text))
    await sink.wait(lambda: bool(sink.of(7, "replied")))
    rows = parts_to(smsc, "447700900007")
    assert all(r["dcs"] == 8 for r in rows)
    if concatenation == "payload":
        assert len(rows) == 1 and rows[0]["sm"] == ""
    else:
        assert len(rows) == 3
        bodies = [user_data(r) for r in rows]
        for body in bodies:  # no part ends inside a surrogate pair
            assert body.decode("utf-16-be")
        assert b"".join(bodies).decode("utf-16-be") == text
    assert sink.of(7, "sent")[0].detail["parts"] == (1 if concatenation == "payload" else 3)
    assert sink.of(7, "replied")[0].detail["text"] == text


async def test_receipt_ids_in_decimal_match_hex_submit_ids(
    smsc_factory: Callable[..., Smsc], start_channel: Start
) -> None:
    sim = smsc_factory(receipt_id_format="dec")
    ch, sink = await start_channel(sim.link(receipt_id_format="decimal"))
    await bound(ch)
    for i in range(20):  # ids 1..20: from 10 on, hex and decimal differ
        await ch.submit(work(100 + i, f"+4477009001{i:02d}", "hello"))
    await sink.wait(lambda: sum(1 for e in sink.events if e.kind == "delivered") == 20)


async def test_transmitter_receiver_bind_pair(smsc: Smsc, start_channel: Start) -> None:
    ch, sink = await start_channel(smsc.link(bind_mode="transmitter_receiver"))
    await bound(ch)
    for _ in range(500):  # receipts go to the receiver bind, which may come up just after the transmitter
        if ch.info().details["a"]["receiver"]["state"] == "bound":
            break
        await asyncio.sleep(0.02)
    await ch.submit(work(8, "+447700900008", "two binds"))
    await sink.wait(lambda: bool(sink.of(8, "delivered")))
    details = ch.info().details["a"]
    assert details["transmitter"]["state"] == "bound"
    assert details["receiver"]["state"] == "bound"


async def test_a_receipt_that_overtakes_its_submit_sm_resp_is_held_and_matched(
    smsc: Smsc, start_channel: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """The receiver bind gets the receipt while the transmitter has not read the submit_sm_resp yet
    (held back here by a long io_coalesce_ms): the receipt waits, unanswered, and then settles it."""
    ch, sink = await start_channel(smsc.link(bind_mode="transmitter_receiver", io_coalesce_ms=100))
    await bound(ch)
    for _ in range(500):
        if ch.info().details["a"]["receiver"]["state"] == "bound":
            break
        await asyncio.sleep(0.02)
    for i in range(5):
        await ch.submit(work(20 + i, f"+44770090002{i}", "overtaken"))
        await sink.wait(lambda i=i: bool(sink.of(20 + i, "delivered")), timeout=15)
    assert not [r for r in caplog.records if "unknown message id" in r.getMessage()]
    assert ch._tracker.held == 0


async def test_expired_work_is_not_sent(smsc: Smsc, start_channel: Start) -> None:
    ch, sink = await start_channel(smsc.link())
    await bound(ch)
    await ch.submit(work(9, "+447700900009", "too late", expires_in=-1))
    await sink.wait(lambda: bool(sink.of(9)))
    assert sink.of(9)[0].state is DeliveryState.EXPIRED
    assert parts_to(smsc, "447700900009") == []


async def test_validity_period_follows_the_alert_lifetime(smsc: Smsc, start_channel: Start) -> None:
    ch, sink = await start_channel(smsc.link())
    await bound(ch)
    await ch.submit(work(10, "+447700900010", "x", expires_in=600))
    await sink.wait(lambda: bool(sink.of(10, "sent")))
    assert len(parts_to(smsc, "447700900010")) == 1  # the SMSC took the absolute validity_period


async def test_prefix_route_fails_over_to_the_bound_link(smsc: Smsc, start_channel: Start) -> None:
    dead = {
        "name": "dead",
        "host": "127.0.0.1",
        "port": free_port(),
        "system_id": "x",
        "reconnect_initial_s": 5,
    }
    ch, sink = await start_channel(dead, smsc.link("live"), routes=[{"prefix": "+44", "links": ["dead", "live"]}])
    await bound(ch)
    await ch.submit(work(11, "+447700900011", "via the live link"))
    await sink.wait(lambda: bool(sink.of(11, "delivered")))
    assert sink.of(11, "sent")[0].detail["link"] == "live"
    assert ch.info().details["dead"]["transceiver"]["state"] in ("backing_off", "binding")


async def test_restart_resubmits_only_unacknowledged(smsc: Smsc, store: Store, tmp_path: Path) -> None:
    key = cipher()
    cfg = sms_config(smsc.link(response_timeout_s=30, registered_delivery=False))
    sink = MemorySink()
    ch = SmsChannel(config=cfg, store=store, cipher=key)
    await ch.start(sink)
    await bound(ch)
    await ch.submit(work(20, "+447700900020", "acknowledged"))
    await ch.submit(work(21, "+9960000021", "never answered"))  # the simulator holds 996… forever
    await sink.wait(lambda: bool(sink.of(20, "sent")))
    await ch.stop(0.5)
    assert not sink.of(21)

    sink2 = MemorySink()
    ch2 = SmsChannel(config=cfg, store=store, cipher=key)
    await ch2.start(sink2)
    try:
        await bound(ch2)
        before = len(smsc.submits())
        # the dispatcher hands them over again as their second attempt (requeued at the restart)
        await ch2.submit(work(20, "+447700900020", "acknowledged", attempt=2))
        await ch2.submit(work(21, "+9960000021", "never answered", attempt=2))
        await sink2.wait(lambda: bool(sink2.of(20)))
        [resumed] = sink2.of(20)
        assert resumed.state is DeliveryState.SENT and resumed.detail["resumed"] is True
        assert resumed.final  # no receipt asked for: sent is its final event
        await sink2.wait(lambda: len(smsc.submits()) > before)
        await asyncio.sleep(0.2)
        again = [r["dest"] for r in smsc.submits()[before:]]
        assert again == ["9960000021"]  # only the unacknowledged one went again
    finally:
        await ch2.stop(0.5)


async def test_unanswered_submit_is_resubmitted_then_retried_later(smsc: Smsc, start_channel: Start) -> None:
    ch, sink = await start_channel(smsc.link(response_timeout_s=0.2, submit_timeout_retries=2), temporary_retry_s=7)
    await bound(ch)
    await ch.submit(work(30, "+9960000030", "into the void"))  # the simulator never answers 996…
    await sink.wait(lambda: bool(sink.of(30)))
    [ev] = sink.of(30)
    assert ev.kind == "retry" and ev.retry_after == 7 and ev.detail["reason"] == "no submit_sm_resp"
    assert len(parts_to(smsc, "9960000030")) == 3  # first try + 2 resubmissions
    assert ch.info().details["a"]["transceiver"]["requeued"] == 2


async def test_reply_goes_to_the_alert_sent_from_the_address_replied_to(smsc: Smsc, start_channel: Start) -> None:
    ch, sink = await start_channel(smsc.link(dcs0_charset="latin1", registered_delivery=False))
    await bound(ch)
    number = "+447700900031"
    sink.sent(number, 31)
    await ch.submit(work(31, number, "From the fire desk", sender="+447700100101"))
    sink.sent(number, 32)  # more recent, but from another sender
    await ch.submit(work(32, number, "From the IT desk", sender="+447700100102"))
    await sink.wait(lambda: bool(sink.of(31, "sent")) and bool(sink.of(32, "sent")))
    code, _ = await asyncio.to_thread(smsc.mo, to="447700100101", **{"from": number[1:]}, text="ack")
    assert code == 200
    await sink.wait(lambda: bool(sink.of(31, "replied")))
    assert not sink.of(32, "replied")


async def test_long_emoji_reply_is_reassembled(smsc: Smsc, start_channel: Start) -> None:
    ch, sink = await start_channel(smsc.link())
    await bound(ch)
    number = "+447700900033"
    sink.sent(number, 33)
    await ch.submit(work(33, number, "Are you safe?", sender="+447700100100"))
    await sink.wait(lambda: bool(sink.of(33, "sent")))
    text = "Yes 👍 " + "all good here, " * 6 + "🚒" * 5
    code, info = await asyncio.to_thread(smsc.mo, to="447700100100", **{"from": number[1:]}, text=text)
    assert code == 200 and info["parts"] >= 2 and info["data_coding"] == 8
    await sink.wait(lambda: bool(sink.of(33, "replied")))
    [ev] = sink.of(33, "replied")
    assert ev.detail["text"] == text and ev.detail["ack"] is True and ev.detail["parts"] == info["parts"]


async def test_hung_smsc_is_detected_by_enquire_link_and_the_link_recovers(
    smsc: Smsc, start_channel: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="alertnode.sms")
    ch, sink = await start_channel(
        smsc.link(enquire_link_interval_s=0.3, enquire_link_timeout_s=0.2, reconnect_initial_s=0.1, reconnect_max_s=0.2)
    )
    await bound(ch)
    smsc.pause()
    try:
        for _ in range(200):
            details = ch.info().details["a"]["transceiver"]
            if details["state"] != "bound":
                break
            await asyncio.sleep(0.02)
        assert details["state"] in ("backing_off", "binding")
        assert any("backing_off: enquire_link unanswered" in r.getMessage() for r in caplog.records)
        assert not ch.ready() and ch.free_capacity() == 0
    finally:
        smsc.resume()
    await bound(ch)
    await ch.submit(work(40, "+447700900040", "back again"))
    await sink.wait(lambda: bool(sink.of(40, "delivered")))


async def test_multipart_retry_is_reported_once_and_resent_with_the_same_reference(
    smsc: Smsc, start_channel: Start
) -> None:
    ch, sink = await start_channel(smsc.link(response_timeout_s=0.2, submit_timeout_retries=0))
    await bound(ch)
    item = work(41, "+9960000041", "z" * 200)  # two parts, never answered
    await ch.submit(item)
    await sink.wait(lambda: bool(sink.of(41)))
    await asyncio.sleep(0.3)
    assert [e.kind for e in sink.of(41)] == ["retry"]
    await ch.submit(item)  # what the dispatcher does after retry_after
    await sink.wait(lambda: len(sink.of(41)) == 2)
    rows = smsc.submits()
    refs = [bytes.fromhex(r["sm"])[3] for r in rows if r["dest"] == "9960000041"]
    assert len(refs) == 4 and len(set(refs)) == 1  # the same concatenation reference both times


@pytest.mark.parametrize(
    ("link_options", "dcs", "encoded"),
    [
        ({}, 0, gsm.gsm_encode("Grüße, 5 €")),
        ({"dcs0_charset": "latin1"}, 8, "Grüße, 5 €".encode("utf-16-be")),  # € is not Latin-1
        ({"data_coding": "latin1"}, 8, "Grüße, 5 €".encode("utf-16-be")),
        ({"data_coding": "ucs2"}, 8, "Grüße, 5 €".encode("utf-16-be")),
    ],
)
async def test_data_coding_per_link(
    smsc: Smsc, start_channel: Start, link_options: dict[str, Any], dcs: int, encoded: bytes
) -> None:
    ch, sink = await start_channel(smsc.link(**link_options))
    await bound(ch)
    await ch.submit(work(42, "+447700900042", "Grüße, 5 €"))
    await ch.submit(work(43, "+447700900043", "Grüße"))
    await sink.wait(lambda: bool(sink.of(42, "sent")) and bool(sink.of(43, "sent")))
    [row] = parts_to(smsc, "447700900042")
    assert row["dcs"] == dcs and bytes.fromhex(row["sm"]) == encoded
    [plain] = parts_to(smsc, "447700900043")
    expected = {
        "default": (0, gsm.gsm_encode("Grüße")),
        "latin1": (3, "Grüße".encode("latin-1")),
        "ucs2": (8, "Grüße".encode("utf-16-be")),
    }[link_options.get("data_coding", "default")]
    if link_options.get("dcs0_charset") == "latin1":
        expected = (0, "Grüße".encode("latin-1"))
    assert (plain["dcs"], bytes.fromhex(plain["sm"])) == expected


async def test_concatenation_references_run_per_destination_across_restarts(smsc: Smsc, store: Store) -> None:
    key = cipher()
    cfg = sms_config(smsc.link(registered_delivery=False))
    long_text = "r" * 200
    for round_ in range(2):
        sink = MemorySink()
        ch = SmsChannel(config=cfg, store=store, cipher=key)
        await ch.start(sink)
        try:
            await bound(ch)
            base = 50 + 10 * round_
            await ch.submit(work(base, "+447700900050", long_text))
            await ch.submit(work(base + 1, "+447700900050", long_text))
            await ch.submit(work(base + 2, "+447700900051", long_text))
            await sink.wait(lambda b=base, k=sink: all(k.of(b + i, "sent") for i in range(3)))
        finally:
            await ch.stop(1.0)
    refs = {
        dest: sorted({bytes.fromhex(r["sm"])[3] for r in smsc.submits() if r["dest"] == dest})
        for dest in ("447700900050", "447700900051")
    }
    assert refs == {"447700900050": [0, 1, 2, 3], "447700900051": [0, 1]}


async def test_alert_expiring_while_queued_is_never_sent(smsc: Smsc, start_channel: Start) -> None:
    ch, sink = await start_channel(smsc.link(throughput=1))  # one segment a second
    await bound(ch)
    for i in range(4):
        await ch.submit(work(60 + i, f"+4477009006{i}", "stale soon", expires_in=1.5))
    await sink.wait(lambda: all(sink.of(60 + i) for i in range(4)))
    kinds = [sink.of(60 + i)[0].kind for i in range(4)]
    assert kinds[0] == "sent" and kinds[-1] == "expired"
    sent = sum(1 for k in kinds if k == "sent")
    assert kinds == ["sent"] * sent + ["expired"] * (4 - sent)
    assert len([r for r in smsc.submits() if r["dest"].startswith("4477009006")]) == sent


async def test_answers_in_flight_are_read_in_batches_and_every_message_is_sent(
    smsc: Smsc, start_channel: Start
) -> None:
    """io_coalesce_ms: with a window of submits in flight, one socket read carries many submit_sm_resp."""
    ch, sink = await start_channel(smsc.link(window=50, registered_delivery=False, io_coalesce_ms=20))
    await bound(ch)
    link = ch._links["a"].tx
    reads_before = link.reads
    count = 300
    for i in range(count):
        await ch.submit(work(1000 + i, f"+4477009{i:05d}", "Coalesced"))
    await sink.wait(lambda: sum(e.kind == "sent" for e in sink.events) == count)
    assert {e.delivery_id for e in sink.events if e.kind == "sent"} == set(range(1000, 1000 + count))
    assert link.reads - reads_before <= count // 4, (link.reads - reads_before, link.acked)
