"""Log lines: masking of phone numbers and e-mail addresses, ids from ``extra=`` and from
``log_ids`` blocks (also in asyncio tasks), JSON one line per record, and the real node's output."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable, Iterator

import pytest

from alertnode import logs
from tests.nodeproc import RunningNode


@pytest.fixture
def capture() -> Iterator[Callable[[str], tuple[logging.Logger, io.StringIO]]]:
    handlers: list[tuple[logging.Logger, logging.Handler]] = []

    def make(fmt: str) -> tuple[logging.Logger, io.StringIO]:
        out = io.StringIO()
        handler = logging.StreamHandler(out)
        handler.setFormatter(logs.JsonFormatter() if fmt == "json" else logs.PlainFormatter())
        handler.addFilter(logs.MaskingFilter())
        # a logger outside the hierarchy: only this handler sees its records
        logger = logging.Logger(f"test.ops.logs.{fmt}")
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
        handlers.append((logger, handler))
        return logger, out

    yield make
    for logger, handler in handlers:
        logger.removeHandler(handler)


def test_mask_hides_numbers_and_addresses_but_keeps_enough_to_tell_them_apart() -> None:
    text = logs.mask("to +447700900123 and alice.smith@example.org via 0044 7700 900124")
    assert "447700900123" not in text and "alice.smith" not in text and "7700 900124" not in text
    assert "+447***23" in text and "a***@example.org" in text


def test_json_lines_carry_ids_and_mask_arguments(capture: Callable[[str], tuple[logging.Logger, io.StringIO]]) -> None:
    log, out = capture("json")
    log.info("sms to %s failed", "+447700900123", extra={"alert_ref": "A-1", "delivery_id": 7, "message_id": "m9"})
    try:
        raise ValueError("bad number +447700900999\nsecond line")
    except ValueError:
        log.exception("boom for bob@example.com", extra={"call_id": 3})
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["msg"] == "sms to +447***23 failed"
    assert (first["alert_ref"], first["delivery_id"], first["message_id"]) == ("A-1", 7, "m9")
    assert first["level"] == "INFO" and first["ts"].endswith("Z")
    assert second["msg"] == "boom for b***@example.com" and second["call_id"] == 3
    assert "+447***99" in second["exc"] and "900999" not in second["exc"]


Capture = Callable[[str], tuple[logging.Logger, io.StringIO]]


def test_log_ids_block_reaches_tasks_and_plain_lines(capture: Capture) -> None:
    log, out = capture("plain")

    async def work() -> None:
        await asyncio.sleep(0)
        log.warning("in a task")

    async def main() -> None:
        with logs.log_ids(alert_ref="A-2"), logs.log_ids(delivery_id=11):
            task = asyncio.create_task(work())
            log.info("inside", extra={"delivery_id": 12})  # extra wins over the block
        log.info("outside")
        await task

    asyncio.run(main())
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("inside [alert_ref=A-2 delivery_id=12]")
    assert lines[1].endswith("outside")
    assert lines[2].endswith("in a task [alert_ref=A-2 delivery_id=11]")
    with pytest.raises(ValueError, match="unknown log ids"), logs.log_ids(phone="+447700900123"):
        pass


def test_plain_ids_end_the_first_line_before_the_traceback(
    capture: Callable[[str], tuple[logging.Logger, io.StringIO]]
) -> None:
    log, out = capture("plain")
    try:
        raise RuntimeError("x")
    except RuntimeError:
        log.error("failed", exc_info=True, extra={"link": "a"})
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("failed [link=a]") and lines[1].startswith("Traceback")


def test_wrong_format_arguments_do_not_lose_the_line(
    capture: Callable[[str], tuple[logging.Logger, io.StringIO]]
) -> None:
    log, out = capture("json")
    log.info("two %s %s", "+447700900123")
    line = json.loads(out.getvalue())
    assert line["msg"].startswith("two %s %s") and "+447***23" in line["msg"]


@pytest.mark.peer
def test_node_json_logs_are_masked(run_node: Callable[..., RunningNode], smsc: object) -> None:
    from tests.peers.smsc import Smsc

    assert isinstance(smsc, Smsc)
    # a link that cannot bind: the node logs about it; every stderr line must be one JSON object
    node = run_node({"node": {"log_format": "json", "log_level": "DEBUG"}, "sms": {"links": [smsc.link()]}})
    answer = node.post("/api/json/sendalert", {
        "version": "latest", "clientRef": "logs", "lifetime": "1h",
        "alert": [{"alertType": "sms", "tag": "t", "content": "hi", "contentEncoding": "utf8",
                   "sender": "+447700100100", "recipients": ["+447700900555"]}],
    })
    node.wait_events(lambda evs: any(e["event"] == "delivered" for e in evs))
    node.stop()
    text = "".join(node.output)
    assert "447700900555" not in text
    parsed = [json.loads(line) for line in node.output if line.startswith("{")]
    assert parsed and all({"ts", "level", "logger", "msg"} <= set(p) for p in parsed)
    # ids: the intake's line names the alert; every line of the SMPP link's thread names the link
    accepted = [p for p in parsed if p["msg"].startswith("alert accepted")]
    assert [p.get("alert_ref") for p in accepted] == [answer.json()["alertRef"]]
    link_lines = [p for p in parsed if p["logger"].startswith(("alertnode.sms.smpplib_adapter", "smpplib"))]
    assert link_lines and all(p.get("link") == smsc.link()["name"] for p in link_lines)
