"""The sandbox phone's book: per recipient, the texts, e-mails and calls the sandbox peers received, and what the
person did with them (pure: fed facts with their time, it keeps records and counts versions).

Rules:

* A recipient is a phone number (``+`` and digits: SMS and calls) or an e-mail address (lower case).
* Every record has an id of its kind (``s<n>`` texts, ``m<n>`` e-mails, ``c<n>`` calls) that stays the same
  across restarts (:meth:`Book.restore` continues the numbering).
* Every change returns the changed record (the runtime appends it to the journal, where the last line of an id
  wins) and moves :attr:`Book.version` on, which is what the page's long poll waits for.
* A call's state only moves forward: ringing → answered → ended, or ringing → declined / missed / ended. What the
  phone was told to do and what happened are both kept (``keys`` sent, the SIP code and reason of the end).
* A text's status: accepted, rejected or held as the SMSC answered it; then delivered or undeliverable when its
  receipts came (every part's). A reply from the phone is a record of its own (``direction`` "from").
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from alertnode.sandbox.texts import Text, links


class CallState(enum.StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"
    DECLINED = "declined"
    MISSED = "missed"
    ENDED = "ended"


_CALL_RANK = {CallState.RINGING: 0, CallState.ANSWERED: 1, CallState.DECLINED: 2, CallState.MISSED: 2,
              CallState.ENDED: 2}


@dataclass
class SmsRecord:
    id: str
    at: float
    recipient: str
    peer: str
    """the other end: the alert's sender for a text to the phone, the address replied to for one from it"""
    text: str
    direction: str = "to"
    parts: int = 1
    status: str = "accepted"
    message_ids: list[str] = field(default_factory=list)
    receipts: dict[str, str] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    kind: str = "sms"


@dataclass
class MailRecord:
    id: str
    at: float
    recipient: str
    sender: str
    subject: str
    text: str
    reply_to: str = ""
    message_id: str = ""
    envelope_from: str = ""
    status: str = "delivered"
    """delivered (kept in the mailbox) or bounced"""
    report: str = ""
    """the delivery status notification sent back, if any: delivered, failed"""
    links: list[str] = field(default_factory=list)
    replies: list[dict[str, Any]] = field(default_factory=list)
    file: str = ""
    """the message's name in the Maildir"""
    kind: str = "email"


@dataclass
class CallRecord:
    id: str
    at: float
    recipient: str
    caller: str
    state: str = CallState.RINGING.value
    answered_at: float | None = None
    ended_at: float | None = None
    keys: str = ""
    code: int = 0
    reason: str = ""
    recording: str = ""
    """the WAV file's name in the recordings folder once audio flowed"""
    kind: str = "call"


Record = SmsRecord | MailRecord | CallRecord
R = TypeVar("R", SmsRecord, MailRecord, CallRecord)
_KINDS: Mapping[str, type[SmsRecord] | type[MailRecord] | type[CallRecord]] = {
    "sms": SmsRecord, "email": MailRecord, "call": CallRecord}
_PREFIX = {"sms": "s", "email": "m", "call": "c"}


def phone_number(address: str) -> str:
    """An SMPP address or SIP user as the page shows it: ``+`` and digits when it is a number."""
    digits = address.lstrip("+")
    return f"+{digits}" if digits.isdigit() else address


def as_dict(record: Record) -> dict[str, Any]:
    return asdict(record)


class Book:
    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.version = 0
        self._next = {"sms": 1, "email": 1, "call": 1}
        self._by_message_id: dict[str, str] = {}

    # ------------------------------------------------------------------------------- journal
    def restore(self, lines: Iterable[Mapping[str, Any]]) -> None:
        """Records from the journal (the last line of an id wins); unreadable lines are skipped."""
        for line in lines:
            cls = _KINDS.get(str(line.get("kind", "")))
            if cls is None:
                continue
            try:
                record: Record = cls(**{k: v for k, v in line.items() if k in cls.__dataclass_fields__})
            except TypeError:
                continue
            self.records[record.id] = record
            number = record.id[1:]
            if number.isdigit():
                self._next[record.kind] = max(self._next[record.kind], int(number) + 1)
            if isinstance(record, SmsRecord):
                for mid in record.message_ids:
                    self._by_message_id[mid] = record.id
        self.version += 1

    def _new_id(self, kind: str) -> str:
        n = self._next[kind]
        self._next[kind] = n + 1
        return f"{_PREFIX[kind]}{n}"

    def _changed(self, record: R) -> R:
        self.records[record.id] = record
        self.version += 1
        return record

    def get(self, record_id: str) -> Record | None:
        return self.records.get(record_id)

    # ----------------------------------------------------------------------------------- SMS
    def text_received(self, text: Text) -> SmsRecord:
        record = SmsRecord(self._new_id("sms"), text.at, phone_number(text.destination), text.source, text.text,
                           parts=text.parts, status=text.status, message_ids=list(text.message_ids),
                           links=links(text.text))
        for mid in text.message_ids:
            self._by_message_id[mid] = record.id
        return self._changed(record)

    def receipt(self, message_id: str, stat: str) -> SmsRecord | None:
        """A receipt the SMSC sent for one part (``stat`` as in the receipt: DELIVRD, UNDELIV...)."""
        record = self.records.get(self._by_message_id.get(message_id, ""))
        if not isinstance(record, SmsRecord):
            return None
        record.receipts[message_id] = stat
        stats = [record.receipts.get(mid) for mid in record.message_ids]
        if any(s not in (None, "DELIVRD") for s in stats):
            record.status = "undeliverable"
        elif all(s == "DELIVRD" for s in stats):
            record.status = "delivered"
        return self._changed(record)

    def text_sent(self, recipient: str, to: str, text: str, at: float, ok: bool, error: str = "") -> SmsRecord:
        """A reply the phone sent (``recipient`` is the phone, ``to`` the address it replied to)."""
        record = SmsRecord(self._new_id("sms"), at, phone_number(recipient), to, text, direction="from",
                           status="sent" if ok else f"not sent: {error}")
        return self._changed(record)

    # ---------------------------------------------------------------------------------- mail
    def mail_received(self, record: MailRecord) -> MailRecord:
        """An e-mail the smarthost took (``record.id`` is assigned here)."""
        record.id = self._new_id("email")
        record.recipient = record.recipient.lower()
        record.links = links(record.text)
        return self._changed(record)

    def mail_reported(self, mail_id: str, report: str) -> MailRecord | None:
        record = self.records.get(mail_id)
        if not isinstance(record, MailRecord):
            return None
        record.report = report
        return self._changed(record)

    def mail_replied(self, mail_id: str, text: str, at: float, result: str) -> MailRecord | None:
        record = self.records.get(mail_id)
        if not isinstance(record, MailRecord):
            return None
        record.replies.append({"at": at, "text": text, "result": result})
        return self._changed(record)

    # --------------------------------------------------------------------------------- calls
    def call_ringing(self, recipient: str, caller: str, at: float) -> CallRecord:
        record = CallRecord(self._new_id("call"), at, phone_number(recipient), phone_number(caller))
        return self._changed(record)

    def call_state(self, call_id: str, state: CallState, at: float, code: int = 0,
                   reason: str = "") -> CallRecord | None:
        record = self.records.get(call_id)
        if not isinstance(record, CallRecord):
            return None
        current = CallState(record.state)
        if _CALL_RANK[state] < _CALL_RANK[current] or (current is not CallState.RINGING and
                                                         _CALL_RANK[state] == _CALL_RANK[current]):
            return None
        if state is CallState.ENDED and current is CallState.RINGING:
            state = CallState.MISSED  # ended before anyone answered: the caller gave up (CANCEL)
        record.state = state.value
        if state is CallState.ANSWERED:
            record.answered_at = at
        else:
            record.ended_at = at
        if code or reason:
            record.code, record.reason = code, reason
        return self._changed(record)

    def call_keys(self, call_id: str, digits: str) -> CallRecord | None:
        record = self.records.get(call_id)
        if not isinstance(record, CallRecord):
            return None
        record.keys += digits
        return self._changed(record)

    def call_recording(self, call_id: str, name: str) -> CallRecord | None:
        record = self.records.get(call_id)
        if not isinstance(record, CallRecord) or record.recording == name:
            return None
        record.recording = name
        return self._changed(record)

    def call_live(self, call_id: str) -> bool:
        record = self.records.get(call_id)
        return isinstance(record, CallRecord) and record.state in (CallState.RINGING.value, CallState.ANSWERED.value)

    # ---------------------------------------------------------------------------------- view
    def recipients(self, limit_per_kind: int = 50) -> list[dict[str, Any]]:
        """Per recipient (the most recently active first) their texts, e-mails and calls, oldest first, at most
        ``limit_per_kind`` of each (the newest)."""
        people: dict[str, dict[str, Any]] = {}
        for record in self.records.values():
            person = people.setdefault(record.recipient, {
                "address": record.recipient, "kind": "email" if "@" in record.recipient else "phone",
                "last": 0.0, "sms": [], "emails": [], "calls": []})
            person[{"sms": "sms", "email": "emails", "call": "calls"}[record.kind]].append(as_dict(record))
            person["last"] = max(person["last"], record.at)
        for person in people.values():
            for key in ("sms", "emails", "calls"):
                person[key] = sorted(person[key], key=lambda r: (r["at"], r["id"]))[-limit_per_kind:]
        return sorted(people.values(), key=lambda p: -p["last"])
