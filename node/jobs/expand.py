"""From a validated ``sendalert`` request to the deliveries it asks for.

Pure: the caller resolves stored items, the link's contact-group and earlier responses first, then
``plan`` applies every rule of the reference that spans fields, expands all nine recipient forms into
recipients (contacts resolved through the contact-group to the address the alert type needs,
duplicates sent once) and reports every problem at once, each with its JSON path.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers.phonemetadata import PhoneMetadata

from alertnode.contract.lifetime import parse_iso_duration, parse_lifetime
from alertnode.contract.sendalert import AlertItem, ContactGroup, SendAlertRequest
from alertnode.errors import LifetimeError, Problem
from alertnode.jobs import lookups, rich
from alertnode.mail.addresses import normalize_address

PHONE_TYPES = frozenset({"sms", "call", "inboundCall"})
RECORDED_FORMATS = frozenset({"mp3", "wav", "aiff"})
SEEN_TYPES = frozenset({"sms", "email", "call", "shortlink"})
# GSM 03.38 basic characters allowed in an alphanumeric sender (3GPP TS 23.038 §6.2.1)
_ALNUM_SENDER = re.compile(r"^[A-Za-z0-9 .\-_&'!?]{1,11}$")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\- ]{1,64}$")
_FIELDS_BY_TYPE: Mapping[str, frozenset[str]] = {
    "sms": frozenset({"sender", "lookups", *rich.RICH_FIELDS}),
    "email": frozenset(
        {"sender", "to", "replyTo", "subject", "emailBodyIsMultipart", "emailBodyContentType",
         "multipartBoundary", "lookups", "trackOpens", *rich.RICH_FIELDS}
    ),
    "call": frozenset({"sender", "voiceFormat", "tts", "ivrControl", "additionalContent", "lookups",
                       *rich.RICH_FIELDS}),
    "inboundCall": frozenset({"telephoneNumber", "voiceFormat", "tts", "options", "ivrControl",
                              "additionalContent", "lookups"}),
}
_TYPED_FIELDS = frozenset().union(*_FIELDS_BY_TYPE.values())
_CONTENT_FIELDS = frozenset({"content", "storedContent", "contentEncoding"})
_RECIPIENT_FORMS = (
    "recipients", "recipientList", "storedRecipients",
    "contacts", "contactList", "storedContactList",
    "contactSets", "contactSetList", "storedContactSetList",
)


@dataclass(frozen=True)
class StoredItem:
    kind: str
    value: Any


@dataclass(frozen=True)
class Resolved:
    """What the caller looked up before planning."""

    stored: Mapping[str, StoredItem] = field(default_factory=dict)
    contact_group: ContactGroup | None = None
    contact_group_path: str = "contactGroup"
    responded: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """contact id -> ways it responded to earlier alerts of the link (sms, email, call, shortlink)."""
    linked: bool = False


@dataclass(frozen=True)
class Recipient:
    address: str
    contact_id: str | None
    lookups: Mapping[str, str]


@dataclass(frozen=True)
class PlannedItem:
    index: int
    alert_type: str
    tag: str
    params: dict[str, Any]
    content: bytes | None
    voice_format: str | None
    recipients: list[Recipient]
    requested: int
    skipped: int
    unique_lookups: bool


@dataclass(frozen=True)
class Plan:
    items: list[PlannedItem]
    expires_in: float | None
    publish_delay: float | None
    publish: bool
    warnings: list[Problem] = field(default_factory=list)
    """what was accepted but not used, each at its JSON path (answered as ``warnings``)"""


_E164 = re.compile(r"^\+([1-9][0-9]{5,14})$")  # ITU-T E.164 §6: at most 15 digits


@functools.cache
def _possible_lengths(country_code: int) -> frozenset[int] | None:
    """National number lengths possible for a country calling code (libphonenumber's metadata)."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if not regions:
        return None
    # as libphonenumber's is_possible_number does: the main country of the calling code decides
    region = regions[0]
    meta = (PhoneMetadata.metadata_for_nongeo_region(country_code) if region == "001"
            else PhoneMetadata.metadata_for_region(region))
    if meta is None or meta.general_desc is None:
        return frozenset()
    return frozenset(meta.general_desc.possible_length or ())


def normalize_phone(raw: str) -> str | None:
    """E.164 form of ``raw``, or None. '+' and a plausible length for the country are required.

    Numbers already written in E.164 are checked against libphonenumber's metadata directly (a
    10,000-recipient alert would spend a second in ``phonenumbers.parse``); anything else (spaces,
    dashes, brackets) goes through the full parser."""
    text = raw.strip()
    match = _E164.match(text)
    if match:
        digits = match.group(1)
        for n in (1, 2, 3):
            lengths = _possible_lengths(int(digits[:n]))
            if lengths is not None:
                return text if len(digits) - n in lengths else None
        return None
    if not text.startswith("+"):
        return None
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str | None:
    # every syntactically valid address, special-use domains (.local, localhost) included
    return normalize_address(raw)


def split_list(text: str) -> list[str]:
    """A comma list as in the reference; quotes around entries are tolerated."""
    return [part.strip().strip('"').strip() for part in text.split(",")]


def decode_content(content: str, encoding: str | None, path: str, problems: list[Problem]) -> bytes | None:
    if encoding == "base64":
        try:
            return base64.b64decode(content.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError):
            problems.append(Problem(path, "content is not valid base64"))
            return None
    return content.encode("utf-8")


def check_sender_sms(sender: str) -> str | None:
    if sender.startswith("+"):
        return None if normalize_phone(sender) else "sender is not a valid E.164 number"
    if sender.isdigit():
        return None if 3 <= len(sender) <= 8 else "a short-code sender has 3 to 8 digits"
    if _ALNUM_SENDER.match(sender) and not sender.isdigit():
        return None
    return "sender must be an E.164 number, a short code or up to 11 alphanumeric GSM characters"


class _Planner:
    def __init__(self, req: SendAlertRequest, resolved: Resolved, *, now: float, max_recipients: int,
                 unique_limit: int, default_lifetime: str, sms_default_sender: bool) -> None:
        self.now = now
        self.sms_default_sender = sms_default_sender
        self.req = req
        self.resolved = resolved
        self.max_recipients = max_recipients
        self.unique_limit = unique_limit
        self.default_lifetime = default_lifetime
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.contacts: dict[str, Any] = {}
        self.sets: dict[str, list[str]] = {}
        self.contact_keys: frozenset[str] = frozenset()

    def bad(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    # -- contact-group ---------------------------------------------------------------------
    def load_group(self) -> None:
        group = self.resolved.contact_group
        if group is None:
            return
        self.problems.extend(check_contact_group(group, self.resolved.contact_group_path))
        self.contacts = {c.id: c for c in group.contacts}
        self.sets = {s.name: list(s.ids) for s in group.sets}
        self.sets["all"] = [c.id for c in group.contacts]
        keys: set[str] = set()
        for c in group.contacts:
            keys.update(c.lookups)
        self.contact_keys = frozenset(keys)

    # -- the request -------------------------------------------------------------------------
    def run(self) -> Plan:
        req = self.req
        self.load_group()
        expires_in = self.lifetime(req.lifetime or self.default_lifetime, "lifetime")
        if req.linkedAlerts and req.linkedAlerts.lifetime:
            self.lifetime(req.linkedAlerts.lifetime, "linkedAlerts.lifetime")
        publish_delay = self.schedule()
        items = [self.item(i, item) for i, item in enumerate(req.alert)]
        unique_total = sum(len(p.recipients) for p in items if p is not None and p.unique_lookups)
        if unique_total > self.unique_limit:
            self.bad("alert", f"{unique_total} recipients with per-recipient lookups: at most "
                              f"{self.unique_limit} per request")
        return Plan([p for p in items if p is not None], expires_in, publish_delay,
                    req.schedule.publish if req.schedule else True, self.warnings)

    def lifetime(self, text: str, path: str) -> float | None:
        try:
            return parse_lifetime(text)
        except LifetimeError as exc:
            self.bad(path, str(exc))
            return None

    def schedule(self) -> float | None:
        sched = self.req.schedule
        if sched is None:
            return None
        delay: float | None = None
        if sched.startAt is not None and sched.delay is not None:
            self.bad("schedule", "give startAt or delay, not both")
        if sched.startAt is not None:
            if sched.startAt.tzinfo is None:
                self.bad("schedule.startAt", "must carry a UTC offset (RFC 3339)")
            else:
                delay = max(0.0, sched.startAt.timestamp() - self.now)
        if sched.delay is not None:
            try:
                delay = parse_iso_duration(sched.delay)
            except LifetimeError as exc:
                self.bad("schedule.delay", str(exc))
        if (sched.ceaseAt is None) != (sched.resumeAt is None):
            self.bad("schedule", "quiet hours need both ceaseAt and resumeAt")
        if sched.timezone is not None:
            try:
                ZoneInfo(sched.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                self.bad("schedule.timezone", f"unknown time zone {sched.timezone!r} (use an IANA name)")
        if sched.endAt is not None and sched.endAt.tzinfo is None:
            self.bad("schedule.endAt", "must carry a UTC offset (RFC 3339)")
        elif sched.endAt is not None and sched.endAt.timestamp() <= self.now + (delay or 0.0):
            self.bad("schedule.endAt", "is not after the start")
        return delay if delay is not None else 0.0

    def item(self, index: int, item: AlertItem) -> PlannedItem | None:
        path = f"alert[{index}]"
        before = len(self.problems)
        kind = item.alertType
        given = {name for name in _TYPED_FIELDS if getattr(item, name) is not None}
        for name in sorted(given - _FIELDS_BY_TYPE[kind]):
            self.bad(f"{path}.{name}", f"not a field of alertType {kind}")
        content, voice_format, text = self.content(item, path)
        self.type_rules(item, path)
        self.problems.extend(rich.item_problems(item, path))
        unique = False
        if item.lookups is not None:
            unique = item.lookups.uniqueLookups or item.lookups.shortlink is not None
            perform = item.lookups.performLookups or item.lookups.shortlink is not None
            if perform:
                for field_path, value in self.template_texts(item, path, text):
                    for p, message in lookups.check(value, unique=unique, contact_keys=self.contact_keys,
                                                    path=field_path):
                        self.bad(p, message)
        if item.linkedAlertModifiers is not None:
            self.modifiers(item, path)
        recipients, requested, skipped = self.expand(item, path)
        if len(self.problems) != before:
            return None
        unused = {"tts"} if item.tts is not None and voice_format in RECORDED_FORMATS else set()
        params = item.model_dump(mode="json", by_alias=True, exclude_none=True,
                                 exclude=set(_RECIPIENT_FORMS) | _CONTENT_FIELDS | unused)
        return PlannedItem(index, kind, item.tag, params, content, voice_format, recipients, requested, skipped,
                           unique)

    def content(self, item: AlertItem, path: str) -> tuple[bytes | None, str | None, str | None]:
        voice_format = item.voiceFormat
        content: bytes | None = None
        if item.content is not None and item.storedContent is not None:
            self.bad(path, "give content or storedContent, not both")
        elif item.content is not None:
            content = decode_content(item.content, item.contentEncoding, f"{path}.content", self.problems)
        elif item.storedContent is not None:
            stored = self.resolved.stored.get(item.storedContent)
            if stored is None or stored.kind != "content":
                self.bad(f"{path}.storedContent", "no stored content with this uuid (expired or never stored)")
            else:
                content = base64.b64decode(stored.value["data"])
                voice_format = voice_format or stored.value.get("voiceFormat")
        elif item.body is None and item.alertType != "inboundCall" and not rich.image_only_allowed(item):
            self.bad(path, "content or storedContent is mandatory")
        if item.contentEncoding is not None and item.content is None:
            self.bad(f"{path}.contentEncoding", "only used with content")
        text: str | None = None
        is_audio = item.alertType in ("call", "inboundCall") and voice_format not in (None, "tts")
        if content is not None and not is_audio:
            try:
                text = content.decode("utf-8")
            except UnicodeDecodeError:
                self.bad(f"{path}.content", "content is not valid UTF-8 text")
            else:
                if not text.strip():
                    self.bad(f"{path}.content", "content is empty")
        if item.alertType == "call" and content is not None and voice_format is None:
            self.bad(f"{path}.voiceFormat", "mandatory when content is set (mp3, wav, aiff or tts)")
        if is_audio and item.content is not None and item.contentEncoding != "base64":
            self.bad(f"{path}.contentEncoding", f"{voice_format} audio must be base64 encoded")
        if item.tts is not None and voice_format in RECORDED_FORMATS:
            # the reference: "tts block used if voiceFormat is 'tts'": with recorded audio it is accepted, not used
            # (no voiceFormat means tts to the voice channel, so there the block is used)
            self.warnings.append(Problem(f"{path}.tts", "ignored: the tts block is only used with voiceFormat tts"))
        if item.body is not None:
            for locale, body in item.body.items():
                if not re.match(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", locale):
                    self.bad(f"{path}.body.{locale}", "not an RFC 5646 locale")
                elif not body.strip():
                    self.bad(f"{path}.body.{locale}", "body is empty")
        return content, voice_format, text

    def type_rules(self, item: AlertItem, path: str) -> None:
        kind = item.alertType
        if kind == "sms":
            if item.sender is None:
                if not self.sms_default_sender:
                    self.bad(f"{path}.sender", "mandatory for sms (no sms.default_sender is configured)")
            else:
                err = check_sender_sms(item.sender)
                if err:
                    self.bad(f"{path}.sender", err)
        elif kind == "email":
            for name in ("sender", "to", "replyTo"):
                value = getattr(item, name)
                if value is not None and ("@" in value or not _LOCAL_PART.match(value)):
                    self.bad(f"{path}.{name}", "the display/left-hand part only, without '@'")
            if item.emailBodyIsMultipart and not item.multipartBoundary:
                self.bad(f"{path}.multipartBoundary", "mandatory when emailBodyIsMultipart is true")
            if item.multipartBoundary and not item.emailBodyIsMultipart:
                self.bad(f"{path}.multipartBoundary", "only used when emailBodyIsMultipart is true")
            if item.subject is not None and ("\r" in item.subject or "\n" in item.subject):
                self.bad(f"{path}.subject", "must be one line")
            if item.emailBodyContentType is not None and not re.match(
                r"^[a-z]+/[a-z0-9.+\-]+(\s*;\s*[a-z\-]+=\"?[A-Za-z0-9\-_.]+\"?)*$", item.emailBodyContentType, re.I
            ):
                self.bad(f"{path}.emailBodyContentType", "not a MIME content type")
        elif kind == "call":
            if item.sender is None:
                self.bad(f"{path}.sender", "mandatory for call (the caller line id)")
            elif normalize_phone(item.sender) is None:
                self.bad(f"{path}.sender", "not a valid E.164 number")
        elif kind == "inboundCall":
            if item.telephoneNumber is None:
                self.bad(f"{path}.telephoneNumber", "mandatory for inboundCall")
            elif normalize_phone(item.telephoneNumber) is None:
                self.bad(f"{path}.telephoneNumber", "not a valid E.164 number")
        if kind in ("call", "inboundCall"):
            self.ivr_rules(item, path)

    def ivr_rules(self, item: AlertItem, path: str) -> None:
        ivr = item.ivrControl
        if ivr is not None:
            self.problems.extend(ivr.problems(f"{path}.ivrControl"))
        extra = item.additionalContent or []
        tags = [a.contentTag for a in extra]
        for i, add in enumerate(extra):
            apath = f"{path}.additionalContent[{i}]"
            if (add.content is None) == (add.storedContent is None):
                self.bad(apath, "give content or storedContent (one of them)")
            if add.content is not None:
                if add.contentEncoding is None:
                    self.bad(f"{apath}.contentEncoding", "mandatory when content is set")
                if add.voiceFormat is None:
                    self.bad(f"{apath}.voiceFormat", "mandatory when content is set")
                decoded = decode_content(add.content, add.contentEncoding, f"{apath}.content", self.problems)
                if decoded is not None and add.voiceFormat not in (None, "tts") and add.contentEncoding != "base64":
                    self.bad(f"{apath}.contentEncoding", "audio must be base64 encoded")
            elif add.storedContent is not None:
                stored = self.resolved.stored.get(add.storedContent)
                if stored is None or stored.kind != "content":
                    self.bad(f"{apath}.storedContent", "no stored content with this uuid (expired or never stored)")
            if tags.count(add.contentTag) > 1:
                self.bad(f"{apath}.contentTag", f"contentTag {add.contentTag!r} given more than once")
        if ivr is not None and ivr.ivrType == "replay":
            # pre, post or done left out: the node's stock prompt plays instead (alertnode.media.stock)
            for i, tag in enumerate(tags):
                if tag not in ("pre", "post", "done"):
                    self.bad(f"{path}.additionalContent[{i}].contentTag",
                             "the replay IVR takes contentTag pre, post or done")
        elif extra:
            for i, tag in enumerate(tags):
                self.bad(f"{path}.additionalContent[{i}].contentTag",
                         f"contentTag {tag!r} is not used by the simple IVR")

    def template_texts(self, item: AlertItem, path: str, text: str | None) -> list[tuple[str, str]]:
        out = []
        if text is not None:
            out.append((f"{path}.content", text))
        if item.subject is not None:
            out.append((f"{path}.subject", item.subject))
        for locale, body in (item.body or {}).items():
            out.append((f"{path}.body.{locale}", body))
        return out

    def modifiers(self, item: AlertItem, path: str) -> None:
        if self.req.linkedAlerts is None:
            self.bad(f"{path}.linkedAlertModifiers", "only used with linkedAlerts")
        mod = item.linkedAlertModifiers
        if mod is not None and mod.except_ is not None and mod.except_.previouslySeen is not None:
            for kind in split_list(mod.except_.previouslySeen):
                if kind not in SEEN_TYPES:
                    self.bad(f"{path}.linkedAlertModifiers.except.previouslySeen",
                             f"{kind!r} is not one of sms, email, call, shortlink")

    # -- recipients --------------------------------------------------------------------------
    def expand(self, item: AlertItem, path: str) -> tuple[list[Recipient], int, int]:
        kind = item.alertType
        entries: list[tuple[str, str]] = []  # (path, raw address)
        contact_refs: list[tuple[str, str]] = []  # (path, contact id)
        set_refs: list[tuple[str, str]] = []
        given = [form for form in _RECIPIENT_FORMS if getattr(item, form) is not None]
        if not given and kind != "inboundCall":
            self.bad(path, "at least one of " + ", ".join(_RECIPIENT_FORMS) + " is mandatory")
        self.collect(item.recipients, item.recipientList, item.storedRecipients, "recipients", "recipientList",
                     "storedRecipients", "recipientList", path, entries)
        self.collect(item.contacts, item.contactList, item.storedContactList, "contacts", "contactList",
                     "storedContactList", "contactList", path, contact_refs)
        self.collect(item.contactSets, item.contactSetList, item.storedContactSetList, "contactSets",
                     "contactSetList", "storedContactSetList", "contactSetList", path, set_refs)
        if (contact_refs or set_refs) and self.resolved.contact_group is None:
            self.bad(path, "contacts and contact sets need a contactGroup (inline or stored)")
            return [], 0, 0
        skip_kinds: frozenset[str] = frozenset()
        mod = item.linkedAlertModifiers
        if self.resolved.linked and mod and mod.except_ and mod.except_.previouslySeen:
            skip_kinds = frozenset(split_list(mod.except_.previouslySeen)) & SEEN_TYPES
        out: dict[str, Recipient] = {}
        requested = 0
        skipped = 0
        for rpath, raw in entries:
            requested += 1
            address = self.address(kind, raw, rpath)
            if address is not None and address not in out:
                out[address] = Recipient(address, None, {})
        for spath, name in set_refs:
            if name not in self.sets:
                self.bad(spath, f"unknown contact set {name!r}")
                continue
            contact_refs.extend((spath, cid) for cid in self.sets[name])
        for cpath, cid in contact_refs:
            requested += 1
            contact = self.contacts.get(cid)
            if contact is None:
                self.bad(cpath, f"unknown contact {cid!r}")
                continue
            if skip_kinds and self.resolved.responded.get(cid, frozenset()) & skip_kinds:
                skipped += 1
                continue
            field_name = "call" if kind == "inboundCall" else kind
            raw_addr = getattr(contact, field_name)
            if raw_addr is None:
                self.bad(cpath, f"contact {cid!r} has no {field_name} address")
                continue
            address = self.address(kind, raw_addr, cpath)
            if address is not None and address not in out:
                out[address] = Recipient(address, cid, dict(contact.lookups))
        if len(out) > self.max_recipients:
            self.bad(path, f"{len(out)} recipients: at most {self.max_recipients} per alert item")
        return list(out.values()), requested, skipped

    def collect(self, array: list[str] | None, comma: str | None, stored: str | None, array_name: str,
                comma_name: str, stored_name: str, stored_kind: str, path: str,
                into: list[tuple[str, str]]) -> None:
        if array is not None:
            if not array:
                self.bad(f"{path}.{array_name}", "is empty")
            into.extend((f"{path}.{array_name}[{i}]", v) for i, v in enumerate(array))
        if comma is not None:
            parts = split_list(comma)
            for i, v in enumerate(parts):
                if not v:
                    self.bad(f"{path}.{comma_name}", f"entry {i} is empty")
                else:
                    into.append((f"{path}.{comma_name}", v))
        if stored is not None:
            item = self.resolved.stored.get(stored)
            if item is None or item.kind != stored_kind:
                self.bad(f"{path}.{stored_name}", f"no stored {stored_kind} with this uuid (expired or never stored)")
            else:
                into.extend((f"{path}.{stored_name}", v) for v in item.value)

    def address(self, kind: str, raw: str, path: str) -> str | None:
        if kind == "email":
            address = normalize_email(raw)
            if address is None:
                self.bad(path, f"{_mask(raw)} is not a valid e-mail address")
            return address
        address = normalize_phone(raw)
        if address is None:
            self.bad(path, f"{_mask(raw)} is not a valid E.164 number (+ and country code)")
        return address


def _mask(raw: str) -> str:
    text = raw.strip()
    return repr(text if len(text) <= 4 else text[:3] + "…" + text[-2:])


def check_contact_group(group: ContactGroup, path: str) -> list[Problem]:
    problems = []
    seen: set[str] = set()
    for i, c in enumerate(group.contacts):
        cpath = f"{path}.contacts[{i}]"
        if c.id in seen:
            problems.append(Problem(f"{cpath}.id", f"duplicate contact id {c.id!r}"))
        seen.add(c.id)
        for name in ("sms", "call"):
            value = getattr(c, name)
            if value is not None and normalize_phone(value) is None:
                problems.append(Problem(f"{cpath}.{name}", "not a valid E.164 number"))
        if c.email is not None and normalize_email(c.email) is None:
            problems.append(Problem(f"{cpath}.email", "not a valid e-mail address"))
        if c.sms is None and c.email is None and c.call is None:
            problems.append(Problem(cpath, "a contact needs at least one of sms, email, call"))
    names: set[str] = set()
    for i, s in enumerate(group.sets):
        spath = f"{path}.sets[{i}]"
        if s.name == "all":
            problems.append(Problem(f"{spath}.name", "the set 'all' is added automatically"))
        if s.name in names:
            problems.append(Problem(f"{spath}.name", f"duplicate set {s.name!r}"))
        names.add(s.name)
        for j, cid in enumerate(s.ids):
            if cid not in seen:
                problems.append(Problem(f"{spath}.ids[{j}]", f"unknown contact {cid!r}"))
    return problems


def plan(req: SendAlertRequest, resolved: Resolved, *, now: float, max_recipients: int, unique_limit: int,
         default_lifetime: str, sms_default_sender: bool = False) -> tuple[Plan, list[Problem]]:
    """The deliveries ``req`` asks for and every problem with it. ``sms_default_sender``: the node has an
    ``[sms] default_sender``, so an sms item may leave out its sender."""
    planner = _Planner(req, resolved, now=now, max_recipients=max_recipients, unique_limit=unique_limit,
                       default_lifetime=default_lifetime, sms_default_sender=sms_default_sender)
    result = planner.run()
    return result, planner.problems
