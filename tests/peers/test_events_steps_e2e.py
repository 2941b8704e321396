"""A three-step escalation of an events route end to end, through the real node over the SMSC simulator, an SMTP
smarthost and listener, and SIPp: the route alerts the on-call set by SMS and e-mail, in quiet hours of its own
and of a contact's zone; one acknowledges by SMS, one declines by e-mail (no answer); step 1 calls the two who
have not answered (SIPp presses 2); step 2 texts the managers' set, one of whom acknowledges; step 3 calls the
one manager left. The manager whose own zone is quiet gets nothing yet: each of their messages waits for the end
of their quiet hours."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.nodeproc import RunningNode, free_port
from tests.peers.sip import SippUas, free_rtp_base
from tests.peers.smsc import Smsc
from tests.peers.smtp import ThreadedSmarthost, reply_message, send_with_smtplib

pytestmark = pytest.mark.peer

DOMAIN = "alertnode.test"
SENDER = "+447700100100"
NAMES = {"p1": "Ann", "p2": "Bob", "p3": "Cy", "p4": "Dee", "p5": "Eve", "p6": "Fay"}
# p6 lives three hours east of UTC: the route's quiet hours (below) hold there now, not in the route's zone
FAY_ZONE = "Etc/GMT-3"


def contact(cid: str, n: int) -> dict[str, Any]:
    lookups = {"firstname": NAMES[cid], **({"timezone": FAY_ZONE} if cid == "p6" else {})}
    return {"id": cid, "sms": f"+4477009003{n:02d}", "email": f"{cid}@example.org", "call": f"+4477009004{n:02d}",
            "lookups": lookups}


CONTACTS = {cid: contact(cid, n) for n, cid in enumerate(NAMES, start=1)}


def quiet_window(now: float) -> tuple[str, str]:
    """From two to six hours after this UTC hour: not quiet in UTC for the next two hours, quiet three hours
    east (Fay's zone) for at least the next hour."""
    hour = datetime.fromtimestamp(now, UTC).hour
    return f"{(hour + 2) % 24:02d}00", f"{(hour + 6) % 24:02d}00"


def db_rows(node: RunningNode, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{node.data_dir / 'data' / 'alertnode.db'}?mode=ro", uri=True)) as conn:
        return [tuple(r) for r in conn.execute(sql, args)]


def wait_rows(node: RunningNode, count: int, timeout: float) -> list[tuple[Any, ...]]:
    """The escalation rows once ``count`` of them are done."""
    deadline = time.monotonic() + timeout
    while True:
        rows = db_rows(node, "SELECT step, done_at, result FROM event_escalations ORDER BY step")
        if sum(r[1] is not None for r in rows) >= count:
            return rows
        assert time.monotonic() < deadline, f"escalation rows: {rows}"
        time.sleep(0.2)


def deliveries(node: RunningNode, alert_ref: str) -> dict[str, tuple[str, float]]:
    return {r[0]: (r[1], r[2]) for r in db_rows(
        node, "SELECT contact_id, state, due_at FROM deliveries WHERE alert_ref = ?", alert_ref)}


def test_three_step_escalation_with_quiet_hours(run_node: Callable[..., RunningNode], smsc: Smsc,
                                                threaded_smarthost: ThreadedSmarthost,
                                                sipp_uas: Callable[..., SippUas], tmp_path: Path) -> None:
    uas = sipp_uas("uas_press2.xml", 3)
    listen_port = free_port()
    cease, resume = quiet_window(time.time())
    node = run_node({
        "sms": {"links": [smsc.link(dcs0_charset="latin1")]},
        "mail": {"smarthost_host": "127.0.0.1", "smarthost_port": threaded_smarthost.port, "smarthost_tls": "off",
                 "listen_port": listen_port, "domain": DOMAIN, "retry_backoff_s": [0.1]},
        "voice": {"enabled": True, "trunk": uas.hostport, "sip_port_base": 0, "rtp_port_base": free_rtp_base(40),
                  "max_concurrent_calls": 4, "key_wait_s": 8, "retry_interval_s": 1},
        "events": {
            "contact_groups": {"plant": {"name": "plant", "contacts": list(CONTACTS.values()), "sets": [
                {"name": "oncall", "ids": ["p1", "p2", "p3"]}, {"name": "managers", "ids": ["p4", "p5", "p6"]}]}},
            "routes": [{
                "name": "boiler", "match": ["plant.boiler.*"], "contact_group": "plant", "contact_sets": ["oncall"],
                "alert_types": ["sms", "email"], "sms_sender": SENDER, "call_sender": SENDER,
                "email_reply_to": "responses", "template": "Hi {firstname}: {message}. Reply OK.",
                "ivr": {"ivrRequireResponse": True}, "cease_at": cease, "resume_at": resume, "timezone": "UTC",
                "escalation": [
                    {"after_min": 0.3, "alert_types": ["call"], "previously_seen": "sms,email"},
                    {"after_min": 0.1, "alert_types": ["sms"], "contact_sets": ["managers"]},
                    {"after_min": 0.3, "alert_types": ["call"], "contact_sets": ["managers"],
                     "previously_seen": "sms,call"}]}]},
    }, data_dir=tmp_path / "node")

    with httpx.Client(base_url=node.url, headers=node.headers, timeout=30, trust_env=False) as c:
        answer = c.post("/api/events", json={"event": "plant.boiler.pressure", "title": "Boiler 3",
                                             "message": "pressure high"})
    assert answer.status_code == 200, answer.text
    first = answer.json()
    assert first["escalationSteps"] == 3
    ref = first["alertRef"]

    # the on-call set gets SMS and e-mail; Ann acknowledges by SMS, Bob declines by e-mail (not an answer)
    node.wait_events(lambda evs: sum(e["event"] == "delivered" for e in evs) >= 3
                     and sum(e["event"] == "sent" and e.get("alertType") == "email" for e in evs) >= 3, timeout=60)
    assert set(deliveries(node, ref)) == {"p1", "p2", "p3"}
    texts = {"+" + s["dest"]: bytes.fromhex(s["sm"]).decode("latin-1") for s in smsc.submits()}
    assert texts[CONTACTS["p1"]["sms"]] == "Hi Ann: pressure high. Reply OK."
    code, _ = smsc.mo(to=SENDER[1:], **{"from": CONTACTS["p1"]["sms"][1:]}, text="OK")
    assert code == 200
    mails = {m.rcpt_tos[0]: m.message for m in threaded_smarthost.wait_for(3)}
    bob = mails["p2@example.org"]
    reply = reply_message(subject=f"Re: {bob['Subject']}", body="No, I am off today.\n", sender="Bob <p2@example.org>",
                          to=f"responses@{DOMAIN}")
    assert send_with_smtplib(listen_port, reply, mail_from="p2@example.org", rcpt_to=f"responses@{DOMAIN}").code == 250
    events = node.wait_events(lambda evs: sum(e["event"] == "replied" for e in evs) >= 2, timeout=30)
    replies = {e["contact"]: e["detail"] for e in events if e["event"] == "replied"}
    assert replies["p1"]["ack"] is True and replies["p2"]["declined"] is True

    # step 1 calls Bob and Cy (Ann answered; Bob's "no" is no answer); both press 2
    rows = wait_rows(node, 1, timeout=60)
    step1 = rows[0][2].removeprefix("alert ")
    assert set(deliveries(node, step1)) == {"p2", "p3"}

    # step 2 texts the managers: Dee and Eve now, Fay once her own quiet hours end; Dee acknowledges
    rows = wait_rows(node, 2, timeout=60)
    step2 = rows[1][2].removeprefix("alert ")
    node.wait_events(lambda evs: sum(e["event"] == "delivered" and e.get("alertRef") == step2 for e in evs) >= 2,
                     timeout=60)
    code, _ = smsc.mo(to=SENDER[1:], **{"from": CONTACTS["p4"]["sms"][1:]}, text="OK")
    assert code == 200
    node.wait_events(lambda evs: any(e["event"] == "replied" and e.get("contact") == "p4" for e in evs), timeout=30)
    managers = deliveries(node, step2)
    assert managers["p4"][0] == "responded" and managers["p5"][0] == "delivered"
    assert managers["p6"][0] == "queued" and managers["p6"][1] > time.time() + 3600  # her quiet hours

    # step 3 calls who is left of the managers: Eve now, Fay when her quiet hours end
    rows = wait_rows(node, 3, timeout=60)
    assert [r[0] for r in rows] == [1, 2, 3]
    step3 = rows[2][2].removeprefix("alert ")
    events = node.wait_events(lambda evs: sum(e.get("final") and e.get("alertRef") in (step1, step3)
                                              for e in evs) >= 3, timeout=120)
    finals = {(e["alertRef"], e["contact"]): e for e in events
              if e.get("final") and e.get("alertRef") in (step1, step3)}
    assert set(finals) == {(step1, "p2"), (step1, "p3"), (step3, "p5")}
    assert all(e["state"] == "responded" and e["detail"]["response"] == "2" for e in finals.values())
    last = deliveries(node, step3)
    assert set(last) == {"p5", "p6"} and last["p6"][0] == "queued" and last["p6"][1] > time.time() + 3600
    assert uas.wait() == 0, uas.output()[-2000:]

    # the SMSC saw the on-call set's three SMS and the two managers' outside quiet hours, no more
    sms_to = sorted("+" + s["dest"] for s in smsc.submits())
    assert sms_to == sorted(CONTACTS[c]["sms"] for c in ("p1", "p2", "p3", "p4", "p5"))
