"""Mail section of the configuration: the smarthost that carries alerts out and the node's own SMTP
listener that takes replies and bounces in.

The smarthost password is a secret: keep it out of the TOML file and set it with the environment
override ``ALERTNODE__mail__smarthost_password`` (see node/config.py).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from alertnode import answers
from alertnode.errors import Problem
from alertnode.mail.addresses import glob_problem

# \Z, not $: "$" also matches before a final newline, which would let "name\n" into a header.
# RFC 1035 §2.3.1 labels (letters, digits, hyphen; ≤ 63 octets), RFC 1123 §2.1 allows a leading digit.
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")
# RFC 5322 §3.2.3 dot-atom text; RFC 5321 §4.5.3.1.1 limits a local part to 64 octets.
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")
LOCAL_PART_MAX = 64

DsnNotify = Literal["SUCCESS", "FAILURE", "DELAY"]  # RFC 3461 §4.1 (NEVER is not offered: it hides bounces)
_DSN_NOTIFY_ALL: tuple[DsnNotify, ...] = ("SUCCESS", "FAILURE", "DELAY")


def valid_domain(name: str) -> bool:
    """A host name fit for the right-hand side of an address (RFC 5321 §4.1.2 Domain, ≤ 255 octets)."""
    if not name or len(name) > 255 or name.endswith("."):
        return False
    return all(_LABEL.match(label) for label in name.split("."))


def valid_local_part(part: str) -> bool:
    return bool(part) and len(part) <= LOCAL_PART_MAX and bool(_LOCAL_PART.match(part))


class MailConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- the smarthost (outbound) ---------------------------------------------------------------
    smarthost_host: str = Field("", description="Smarthost address; empty = e-mail not configured.")
    smarthost_port: int = Field(25, ge=1, le=65535, description="Smarthost port (25, 587 submission, 465 TLS).")
    smarthost_tls: Literal["auto", "starttls", "implicit", "off"] = Field(
        "auto",
        description="auto: STARTTLS when the smarthost offers it; starttls: required (RFC 3207); "
        "implicit: TLS from the first byte (RFC 8314, port 465); off: never.",
    )
    smarthost_tls_verify: bool = Field(True, description="Verify the smarthost's certificate and host name.")
    smarthost_ca_file: str = Field("", description="CA bundle for the smarthost's certificate; empty = system CAs.")
    smarthost_username: str = Field("", description="SMTP AUTH user name (RFC 4954); empty = no AUTH.")
    smarthost_password: SecretStr = Field(
        SecretStr(""),
        description="SMTP AUTH password; set it with ALERTNODE__mail__smarthost_password, not in the file.",
    )
    connect_timeout_s: float = Field(10.0, gt=0, description="Time-out for connecting and the greeting.")
    command_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Time-out per SMTP command (RFC 5321 §4.5.3.2 suggests minutes; keep it bounded).",
    )
    dsn_notify: list[DsnNotify] = Field(
        default_factory=lambda: list(_DSN_NOTIFY_ALL),
        description="Delivery status notifications asked for when the smarthost's EHLO offers DSN (RFC 3461 "
        "NOTIFY, with RET=HDRS, ENVID and ORCPT): SUCCESS lets an e-mail reach `delivered`, DELAY reports a "
        "message still being retried, FAILURE a bounce. Empty = ask for none (the MTAs' defaults apply).",
    )
    dsn_timeout_s: float = Field(
        86400.0,
        gt=0,
        description="How long a success DSN is awaited for an e-mail sent with NOTIFY=SUCCESS (the smarthost "
        "offered DSN): until then the delivery stays `sent` and its alert running; then it ends `unconfirmed` "
        "(final). A DSN that comes later still moves it to delivered or failed. Never past the alert's "
        "lifetime: when that ends first, the delivery expires. Without a success DSN asked for, `sent` is final.",
    )
    concurrency: int = Field(4, ge=1, le=100, description="SMTP connections to the smarthost used in parallel.")
    queue_limit: int = Field(1000, ge=1, description="Messages the channel holds waiting for a connection.")
    retry_backoff_s: list[float] = Field(
        default_factory=lambda: [2.0, 10.0, 30.0],
        description="Waits before resending a message refused temporarily (4xx or lost connection); "
        "when they are used up the delivery goes back to the dispatcher with requeue_after_s.",
    )
    requeue_after_s: float = Field(300.0, gt=0, description="retry_after given to the dispatcher after the waits.")

    # -- addresses ------------------------------------------------------------------------------
    domain: str = Field("alertnode.localdomain", description="Mail domain completing sender/to/replyTo parts.")
    default_sender: str = Field("alerts", description="Local part of From: when an alert item gives no sender.")
    bounce_local_part: str = Field(
        "bounces",
        description="Envelope sender local part; each message uses <this>+<token>@domain (VERP) so bounces "
        "name their delivery. The listener must receive mail for the domain.",
    )

    refuse_domains: list[str] = Field(
        default_factory=list,
        description="Recipient domains never sent to, as globs on the domain (\"*.invalid\" is every sub-domain "
        "of invalid, \"localhost\" just localhost). Empty = every syntactically valid address is sent to, "
        ".local and other special-use domains included. A request naming a refused domain is answered 400 at "
        "the recipient's path; a delivery queued before the setting changed fails at once, naming this key.",
    )

    # -- the reply listener (inbound) -----------------------------------------------------------
    listen_enabled: bool = Field(True, description="Run the SMTP listener for replies and bounces.")
    listen_host: str = Field("127.0.0.1", description="Listener address (loopback; put your MTA in front).")
    listen_port: int = Field(2525, ge=0, le=65535, description="Listener port (25 in production; 0 = any free).")
    reply_domains: list[str] = Field(
        default_factory=list,
        description="Domains the listener accepts mail for; empty = just `domain`. Anything else is refused "
        "with 550 (never an open relay).",
    )
    max_message_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest message accepted (RFC 1870 SIZE); larger: 552."
    )
    max_recipients: int = Field(
        100, ge=1, description="RCPTs per message (RFC 5321 §4.5.3.1.8 asks for at least 100); more: 452."
    )
    listen_timeout_s: float = Field(
        60.0,
        gt=0,
        description="Time a client has for each complete command, and for the whole content after DATA; a "
        "client silent or slower (a byte at a time) is disconnected. RFC 5321 §4.5.3.2.7 has a server wait "
        "5 minutes for a public MTA; the node's clients are the site's own MTA, so 60 s.",
    )
    listen_session_max_s: float = Field(
        600.0,
        gt=0,
        description="Longest SMTP session: a client that keeps a connection with NOOPs, or trickles one "
        "message after another, gets 421 4.4.2 and is disconnected after this long.",
    )
    listen_max_connections: int = Field(
        50,
        ge=1,
        description="Sessions served at once; one more is answered 421 4.7.0 (try again later) at once, as "
        "Postfix does past its connection limit. A sending MTA opens a few (Postfix: up to 20 per domain).",
    )
    ack_keywords: list[str] = Field(
        default_factory=lambda: list(answers.DEFAULT_ACK),
        description="Replies meaning 'acknowledged', as for SMS: the first word of the reply's new text (quoted "
        "original and signature stripped) counts; case, accents and punctuation are ignored.",
    )
    nack_keywords: list[str] = Field(
        default_factory=lambda: list(answers.DEFAULT_NACK),
        description="Replies meaning 'declined' (reported with declined: true, as for SMS).",
    )
    count_forwarded_replies: bool = Field(
        False,
        description="Whether a reply from someone who is not the recipient (the alert was forwarded) counts as "
        "the recipient's answer. Off: it is recorded as a `replied` event with fromRecipient false that changes "
        "no state, so escalation goes on; on: it answers for the recipient (still flagged fromRecipient false).",
    )
    match_sender_fallback: bool = Field(
        False,
        description="Match a reply that carries no reference (no subject reference, no In-Reply-To) to the "
        "most recent live e-mail delivery to its From address. Off by default: a From address is easily "
        "forged, the per-recipient reference is not guessable.",
    )

    @property
    def configured(self) -> bool:
        return bool(self.smarthost_host)

    def accepted_domains(self) -> tuple[str, ...]:
        return tuple(d.lower() for d in (self.reply_domains or [self.domain]))

    def problems(self, prefix: str) -> list[Problem]:
        problems: list[Problem] = []
        if not valid_domain(self.domain):
            problems.append(Problem(f"{prefix}.domain", f"{self.domain!r} is not a valid domain name"))
        for i, dom in enumerate(self.reply_domains):
            if not valid_domain(dom):
                problems.append(Problem(f"{prefix}.reply_domains.{i}", f"{dom!r} is not a valid domain name"))
        for i, pattern in enumerate(self.refuse_domains):
            why = glob_problem(pattern)
            if why is not None:
                problems.append(Problem(f"{prefix}.refuse_domains.{i}", f"{pattern!r} {why}"))
        for key in ("default_sender", "bounce_local_part"):
            value = getattr(self, key)
            if not valid_local_part(value):
                problems.append(Problem(f"{prefix}.{key}", f"{value!r} is not an e-mail local part"))
        if self.smarthost_password.get_secret_value() and not self.smarthost_username:
            problems.append(Problem(f"{prefix}.smarthost_username", "a password is set but no user name"))
        if self.smarthost_username and not self.smarthost_password.get_secret_value():
            problems.append(Problem(f"{prefix}.smarthost_password", "a user name is set but no password"))
        if self.smarthost_ca_file and self.smarthost_tls == "off":
            problems.append(Problem(f"{prefix}.smarthost_ca_file", "given but smarthost_tls is off"))
        if len(set(self.dsn_notify)) != len(self.dsn_notify):
            problems.append(Problem(f"{prefix}.dsn_notify", "names a notification twice"))
        for i, wait in enumerate(self.retry_backoff_s):
            if wait < 0:
                problems.append(Problem(f"{prefix}.retry_backoff_s.{i}", "must not be negative"))
        return problems
