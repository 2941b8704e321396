"""The sandbox phone's book (pure): records per recipient, states, receipts, versions, the journal."""

from __future__ import annotations

import json

from alertnode.sandbox.book import Book, CallState, MailRecord, SmsRecord, as_dict, phone_number
from alertnode.sandbox.texts import Text


def text(dest: str = "447700900123", ids: tuple[str, ...] = ("a1",), status: str = "accepted") -> Text:
    return Text(10.0, "ALERTS", dest, "Boiler 3. Reply OK: http://127.0.0.1:8081/s/tok", len(ids), status, ids)


def test_texts_receipts_and_replies() -> None:
    book = Book()
    record = book.text_received(text(ids=("a1", "a2")))
    assert (record.id, record.recipient, record.peer, record.links) == (
        "s1", "+447700900123", "ALERTS", ["http://127.0.0.1:8081/s/tok"])
    v = book.version
    assert book.receipt("a1", "DELIVRD") is record and record.status == "accepted"  # one part of two
    assert book.version == v + 1
    book.receipt("a2", "DELIVRD")
    assert record.status == "delivered"
    assert book.receipt("unknown", "DELIVRD") is None
    bad = book.text_received(text(ids=("b1",)))
    book.receipt("b1", "UNDELIV")
    assert bad.status == "undeliverable"
    reply = book.text_sent("+447700900123", "ALERTS", "OK", 12.0, ok=True)
    assert (reply.id, reply.direction, reply.status) == ("s3", "from", "sent")
    assert book.text_sent("447700900123", "ALERTS", "OK", 13.0, ok=False, error="no bind").status == "not sent: no bind"


def test_a_call_moves_forward_only() -> None:
    book = Book()
    call = book.call_ringing("+447700900200", "+441632960000", 1.0)
    assert call.state == "ringing" and book.call_live(call.id)
    assert book.call_state(call.id, CallState.ANSWERED, 2.0) is call and call.answered_at == 2.0
    assert book.call_state(call.id, CallState.ANSWERED, 2.5) is None  # nothing twice
    assert book.call_keys(call.id, "2") is call and book.call_keys(call.id, "1#") is call and call.keys == "21#"
    assert book.call_state(call.id, CallState.ENDED, 9.0, 200, "Normal call clearing") is call
    assert (call.state, call.ended_at, call.code) == ("ended", 9.0, 200)
    assert not book.call_live(call.id)
    assert book.call_state(call.id, CallState.ANSWERED, 10.0) is None  # never back


def test_a_call_that_ends_while_ringing_was_missed_or_declined() -> None:
    book = Book()
    missed = book.call_ringing("+1", "+2", 1.0)
    book.call_state(missed.id, CallState.ENDED, 3.0, 487, "Request Terminated")
    assert missed.state == "missed"
    declined = book.call_ringing("+1", "+2", 4.0)
    book.call_state(declined.id, CallState.DECLINED, 5.0, 486, "Busy Here")
    assert declined.state == "declined"
    assert book.call_state(declined.id, CallState.ENDED, 6.0) is None
    assert book.call_state("c99", CallState.ENDED, 6.0) is None


def test_mail_records() -> None:
    book = Book()
    mail = book.mail_received(MailRecord("", 1.0, "Ann@Example.org", "alerts@node", "Drill", "Go to http://x.test/a",
                                         status="delivered"))
    assert (mail.id, mail.recipient, mail.links) == ("m1", "ann@example.org", ["http://x.test/a"])
    assert book.mail_reported("m1", "delivered: taken") is mail and mail.report == "delivered: taken"
    assert book.mail_replied("m1", "OK", 2.0, "taken: 250") is mail and mail.replies == [
        {"at": 2.0, "text": "OK", "result": "taken: 250"}]
    assert book.mail_reported("s1", "x") is None


def test_recipients_newest_first_with_their_records() -> None:
    book = Book()
    book.text_received(text("447700900123"))
    book.mail_received(MailRecord("", 20.0, "bob@example.org", "a@n", "S", "T"))
    book.call_ringing("+447700900123", "+44", 30.0)
    people = book.recipients()
    assert [p["address"] for p in people] == ["+447700900123", "bob@example.org"]
    assert [len(people[0][k]) for k in ("sms", "emails", "calls")] == [1, 0, 1]
    assert people[1]["kind"] == "email" and people[0]["kind"] == "phone"


def test_the_journal_restores_the_book_and_its_numbering() -> None:
    book = Book()
    book.text_received(text(ids=("a1",)))
    call = book.call_ringing("+447700900123", "+44", 2.0)
    journal = [as_dict(book.records["s1"]), as_dict(call)]
    book.call_state(call.id, CallState.ANSWERED, 3.0)
    journal.append(as_dict(call))
    lines = [json.loads(json.dumps(r)) for r in journal] + [{"kind": "nonsense"}, {"kind": "sms", "id": "s9"}]
    again = Book()
    again.restore(lines)
    restored = again.get("c1")
    assert restored is not None and restored.state == "answered"  # the last line of an id wins
    assert isinstance(again.get("s1"), SmsRecord)
    assert again.call_ringing("+1", "+2", 4.0).id == "c2" and again.text_sent("+1", "x", "y", 5.0, True).id == "s2"
    assert again.receipt("a1", "DELIVRD") is not None  # message ids are known again


def test_phone_number() -> None:
    assert phone_number("447700900123") == "+447700900123"
    assert phone_number("+447700900123") == "+447700900123"
    assert phone_number("ALERTS") == "ALERTS"
