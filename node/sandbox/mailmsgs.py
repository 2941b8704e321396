"""The sandbox's e-mail texts (pure): what the page shows of a message, the delivery status notification the
sandbox smarthost sends back, and the reply a person writes in the page.

Rules:

* A message is read with the standard library's default policy; its text is the plain body, else the HTML body
  turned to text (``alertnode.mail.replies.body_text``, the node's own reader of replies).
* A report is an RFC 3464 delivery status notification inside an RFC 6522 ``multipart/report``: a human part,
  the ``message/delivery-status`` part (Original-Envelope-Id when the message had an ENVID, RFC 3461 §4.4;
  Original-Recipient from ORCPT, §4.2; Action and Status per recipient, RFC 3464 §2.3.3-4), and the returned
  headers (RET=HDRS, RFC 3461 §4.3). It goes to the envelope sender with an empty reverse path
  (RFC 3461 §6.2, RFC 5321 §4.5.5), so it can never cause another report.
* A reply answers the original's Reply-To (else From) from the recipient, with ``Re:`` once, In-Reply-To and
  References (RFC 5322 §3.6.4), and the original quoted below the new text, as mail programs write it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, formatdate, getaddresses, parseaddr

from alertnode.mail.replies import body_text, header_text

REPORTING_MTA = "sandbox.alertnode.invalid"
"""The name the sandbox smarthost gives itself (RFC 2606 .invalid: it exists nowhere else)."""
# RFC 3463 enhanced status codes: 2.0.0 success; 5.1.1 bad destination mailbox address
STATUS_DELIVERED = "2.0.0"
STATUS_NO_MAILBOX = "5.1.1"


@dataclass(frozen=True)
class Summary:
    sender: str
    subject: str
    text: str
    reply_to: str
    message_id: str
    references: str


def read(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def summary(msg: Message) -> Summary:
    return Summary(
        sender=header_text(msg.get("From", "")),
        subject=header_text(msg.get("Subject", "")),
        text=body_text(msg),
        reply_to=header_text(msg.get("Reply-To", "")),
        message_id=header_text(msg.get("Message-ID", "")).strip(),
        references=header_text(msg.get("References", "")),
    )


def header_block(raw: bytes) -> bytes:
    """The header section of a message (up to the first empty line), CRLF line ends."""
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    return head.replace(b"\n", b"\r\n") + b"\r\n"


def dsn(*, envelope_from: str, recipient: str, action: str, envid: str, orcpt: str, original_headers: bytes,
        now: float, diagnostic: str = "") -> bytes:
    """A delivery status notification for one recipient (``action`` delivered or failed)."""
    status = STATUS_DELIVERED if action == "delivered" else STATUS_NO_MAILBOX
    boundary = f"sandbox-{uuid.uuid4().hex}"
    date = formatdate(now, localtime=False)
    human = ("Your message was delivered to the sandbox mailbox of" if action == "delivered"
             else "Your message could not be delivered to")
    subject = "Successful Mail Delivery Report" if action == "delivered" else "Undelivered Mail Returned to Sender"
    per_message = f"Reporting-MTA: dns; {REPORTING_MTA}\r\n"
    if envid:
        per_message += f"Original-Envelope-Id: {envid}\r\n"
    per_message += f"Arrival-Date: {date}\r\n"
    per_recipient = ""
    if orcpt:
        per_recipient += f"Original-Recipient: {orcpt}\r\n"
    per_recipient += f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
    if diagnostic:
        per_recipient += f"Diagnostic-Code: smtp; {diagnostic}\r\n"
    text = (
        f"Date: {date}\r\n"
        f"From: Mail Delivery System <MAILER-DAEMON@{REPORTING_MTA}>\r\n"
        f"To: <{envelope_from}>\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@{REPORTING_MTA}>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n'
        "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"This is the alertnode sandbox smarthost.\r\n\r\n{human} <{recipient}>.\r\n"
        + (f"{diagnostic}\r\n" if diagnostic else "") + "\r\n"
        f"--{boundary}\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        f"{per_message}\r\n{per_recipient}\r\n"
        f"--{boundary}\r\n"
        "Content-Type: text/rfc822-headers\r\n\r\n"
    )
    return text.encode("utf-8") + original_headers + f"\r\n--{boundary}--\r\n".encode()


def _re(subject: str) -> str:
    return subject if subject[:3].lower() == "re:" else f"Re: {subject}"


def reply(*, original: Summary, recipient: str, text: str, now: float) -> tuple[EmailMessage, str]:
    """The reply and the address it goes to."""
    to = original.reply_to or original.sender
    addresses = [a for _, a in getaddresses([to]) if a]
    target = addresses[0] if addresses else parseaddr(original.sender)[1]
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = recipient
    msg["To"] = target
    msg["Subject"] = _re(original.subject)
    msg["Date"] = format_datetime(datetime.fromtimestamp(now, UTC))
    msg["Message-ID"] = f"<sandbox-{uuid.uuid4().hex}@{recipient.rpartition('@')[2] or REPORTING_MTA}>"
    if original.message_id:
        msg["In-Reply-To"] = original.message_id
        msg["References"] = f"{original.references} {original.message_id}".strip()
    when = time.strftime("%a, %d %b %Y at %H:%M", time.gmtime(now))
    quoted = "\n".join(f"> {line}" if line else ">" for line in original.text.splitlines())
    msg.set_content(f"{text}\n\nOn {when} UTC, {original.sender} wrote:\n{quoted}\n")
    return msg, target
