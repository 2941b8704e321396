"""The job API's contract: request and response models of Alerting Hub's ``sendalert``.

Field names, meanings and defaults are the reference's (``shared/reference/alertinghub-sendalert.txt``).
The models check shape and types; rules that need more than one field, the store or a channel are in
``node/jobs/expand.py``. Unknown fields are refused so that a misspelt option never silently does
nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from alertnode.contract.lifetime import ISO_DURATION_SCHEMA, LIFETIME_SCHEMA, parse_iso_duration, parse_lifetime
from alertnode.errors import Problem

ALERT_TYPES = ("sms", "email", "call", "inboundCall")
AlertType = Literal["sms", "email", "call", "inboundCall"]
ClientRef = Field(pattern=r"^[A-Za-z0-9+\-_]{1,64}$", description="Alphanumeric and + - _ only.")
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
DIGITS_PATTERN = r"^[0-9*#A-Da-d]{1,16}$"
APP_DATA_MAX = 4096  # characters of appData (sendalert and events)


def _lifetime(value: str) -> str:
    parse_lifetime(value)  # LifetimeError is also a ValueError: pydantic reports it at the field's path
    return value


def _duration(value: str) -> str:
    parse_iso_duration(value)
    return value


def _integral(value: Any) -> Any:
    # JSON has one number type and JSON Schema counts 35.0 as an integer; the strict models do not, so an
    # integral float is taken as the integer it is (35.5, NaN and infinities stay floats and are refused)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# The parsers keep their own messages; the patterns put the same rules in the OpenAPI schema (ECMA 262,
# no lookarounds) so that a client or a fuzzer reading it knows an empty string is not a duration.
Lifetime = Annotated[str, AfterValidator(_lifetime), Field(json_schema_extra={"pattern": LIFETIME_SCHEMA})]
Duration = Annotated[str, AfterValidator(_duration), Field(json_schema_extra={"pattern": ISO_DURATION_SCHEMA})]
Integer = Annotated[int, BeforeValidator(_integral)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class Contact(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9+\-_.@]{1,128}$", description="Non-compromising identifier.")
    sms: str | None = Field(None, description="E.164 number for SMS.")
    email: str | None = Field(None, description="E-mail address.")
    call: str | None = Field(None, description="E.164 number for voice calls.")
    lookups: dict[str, str] = Field(
        default_factory=dict,
        description="Per-contact lookups ({firstname} ...). `timezone` (IANA) and `locale` (RFC 5646) are used "
        "for quiet hours and localized bodies.",
    )


class ContactSet(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9+\-_.]{1,128}$")
    ids: list[str] = Field(min_length=1)


class ContactGroup(Strict):
    name: str = Field(min_length=1, max_length=128)
    contacts: list[Contact] = Field(min_length=1)
    sets: list[ContactSet] = Field(default_factory=list)


class ContactGroupRef(Strict):
    inlineContactGroup: ContactGroup | None = None
    storedContactGroup: str | None = Field(None, pattern=UUID_PATTERN)


class LinkedAlerts(Strict):
    linkRef: str = Field(pattern=r"^[A-Za-z0-9+\-_]{1,128}$")
    lifetime: Lifetime | None = None
    linkOnlyIfRefAlreadyExists: bool = False


class Except(Strict):
    previouslySeen: str | None = Field(
        None, description="Comma list of sms, email, call, shortlink: skip contacts who responded so."
    )


class LinkedAlertModifiers(Strict):
    except_: Except | None = Field(None, alias="except")


class Shortlink(Strict):
    reference: str | None = Field(None, max_length=128)
    url: str | None = Field(None, pattern=r"^https?://\S+$", max_length=2048)


class Lookups(Strict):
    performLookups: bool = False
    uniqueLookups: bool = False
    shortlink: Shortlink | None = None


class Tts(Strict):
    language: str = Field("en-GB", pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    gender: Literal["MALE", "FEMALE"] = "FEMALE"
    engine: Literal["espeak", "gtts"] | None = Field(None, description="TTS engine; default from config.")


# The one place ivrControl's rules live: the fields' types and ranges, and problems() for the rules
# across fields (node/jobs/expand.py reports them with the item's other problems; the voice channel
# takes the model as given).
class IvrControl(Strict):
    """Options of the outbound IVR (``ivrType`` simple or replay). Options of the other IVR are
    refused unless they keep their default; the replay IVR's digit sets must not share a key
    (``*`` alone as ivrAmNotOkDigits means any other key). Keys a-d are taken as A-D."""

    ivrType: Literal["simple", "replay"] = "simple"
    ivrAttempts: Integer = Field(1, ge=1, le=10)
    ivrRequireFullPlay: bool = False
    ivrRequireResponse: bool = False
    ivrSayAgainDigits: str = Field("1", pattern=DIGITS_PATTERN)
    ivrAmOkDigits: str = Field("2", pattern=DIGITS_PATTERN)
    ivrAmNotOkDigits: str = Field("*", pattern=DIGITS_PATTERN)
    ivrDigitsStopPlay: bool = False
    ivrRepeatPrePrompt: bool = False
    ivrAnsweringMachine: Literal["off", "hangup", "voicemail"] | None = Field(
        None,
        description="Extension: answering-machine detection on an outbound call (both IVRs; not inboundCall). "
        "`off`: the prompts start at the answer. `hangup`: a machine is hung up on and the attempt counts as not "
        "reached (retried while ivrAttempts are left). `voicemail`: after a machine's beep the message is left "
        "once (simple: the main prompt; replay: pre and main) and the recipient's result is final (answered, "
        "outcome `voicemail_left`). Absent: the node's `voice.answering_machine`.",
    )

    def problems(self, path: str) -> list[Problem]:
        """What is wrong across fields, each at its JSON path (``path`` names the ivrControl object):
        an option of the other IVR given a value other than its default (a client's dump of the whole
        model is fine), and, for the replay IVR, a key in two digit sets or twice in one (keys compare
        case-insensitively; ``*`` alone as ivrAmNotOkDigits means any other key)."""
        out: list[Problem] = []
        foreign = _REPLAY_ONLY if self.ivrType == "simple" else _SIMPLE_ONLY
        for name in foreign:
            if getattr(self, name) != IvrControl.model_fields[name].default:
                out.append(Problem(f"{path}.{name}", f"not an option of the {self.ivrType} IVR"))
        if self.ivrType == "replay":
            seen: dict[str, str] = {}
            for name in ("ivrSayAgainDigits", "ivrAmOkDigits", "ivrAmNotOkDigits"):
                digits: str = getattr(self, name)
                for d in digits.upper():
                    if d == "*" and name == "ivrAmNotOkDigits" and digits == "*":
                        continue  # '*' alone means any other key
                    if d in seen:
                        out.append(Problem(f"{path}.{name}", f"digit {d!r} is also in {seen[d]}"))
                    seen[d] = name
        return out


_SIMPLE_ONLY = ("ivrRequireFullPlay", "ivrRequireResponse")
_REPLAY_ONLY = ("ivrSayAgainDigits", "ivrAmOkDigits", "ivrAmNotOkDigits", "ivrDigitsStopPlay", "ivrRepeatPrePrompt")


class AdditionalContent(Strict):
    content: str | None = None
    storedContent: str | None = Field(None, pattern=UUID_PATTERN)
    contentEncoding: Literal["utf8", "base64"] | None = None
    voiceFormat: Literal["mp3", "wav", "aiff", "tts"] | None = None
    tts: Tts | None = None
    contentTag: str = Field(min_length=1, max_length=64)


class AlertItem(Strict):
    alertType: AlertType
    tag: str = Field(min_length=1, max_length=128)
    recipients: list[str] | None = None
    recipientList: str | None = None
    storedRecipients: str | None = Field(None, pattern=UUID_PATTERN)
    contacts: list[str] | None = None
    contactList: str | None = None
    storedContactList: str | None = Field(None, pattern=UUID_PATTERN)
    contactSets: list[str] | None = None
    contactSetList: str | None = None
    storedContactSetList: str | None = Field(None, pattern=UUID_PATTERN)
    linkedAlertModifiers: LinkedAlertModifiers | None = None
    content: str | None = None
    storedContent: str | None = Field(None, pattern=UUID_PATTERN)
    contentEncoding: Literal["utf8", "base64"] | None = None
    body: dict[str, str] | None = Field(
        None, description="Localized bodies keyed by RFC 5646 locale; chosen by the contact's `locale` lookup."
    )
    sender: str | None = Field(None, min_length=1, max_length=64)
    lookups: Lookups | None = None
    # email
    to: str | None = Field(None, max_length=64)
    replyTo: str | None = Field(None, max_length=64)
    subject: str | None = Field(None, max_length=998)
    emailBodyIsMultipart: bool | None = None
    emailBodyContentType: str | None = Field(None, max_length=256)
    multipartBoundary: str | None = Field(None, max_length=70)
    # call / inboundCall
    voiceFormat: Literal["mp3", "wav", "aiff", "tts"] | None = None
    tts: Tts | None = None
    ivrControl: IvrControl | None = None
    additionalContent: list[AdditionalContent] | None = None
    telephoneNumber: str | None = None
    options: dict[str, Any] | None = None
    # rich content (livelike-alerts.txt "Alert Variations") and opens (sendbird-announcements.txt open_count)
    image_url: str | None = Field(
        None, pattern=r"^https?://\S+$", max_length=2048,
        description="sms, email (and call, where it is not used): an image, fetched once when the alert is "
        "accepted (PNG, JPEG, GIF or WebP; at most content.image_max_bytes), stored with the alert. E-mail shows "
        "it inline (never hot-linked); an SMS links to a page showing it. Without content: an image-only alert.",
    )
    link_url: str | None = Field(
        None, pattern=r"^https?://\S+$", max_length=2048,
        description="A link attached to the alert (a call to action): a button in e-mail, on the SMS page.",
    )
    link_label: str | None = Field(
        None, min_length=1, max_length=64, description="The link's label (default `Open link`); needs link_url.",
    )
    trackOpens: bool | None = Field(
        None, description="email: put a per-recipient tracking image in the message so that opens are counted "
        "(default: content.track_opens, off). Image proxies and scanners count as `previewed`, not opened.",
    )


class Schedule(Strict):
    startAt: datetime | None = Field(None, description="RFC 3339 start time (with offset).")
    delay: Duration | None = Field(None, description="ISO 8601 duration from now, e.g. PT15M.")
    publish: bool = Field(True, description="False: stored unpublished until its schedule_url is called.")
    ceaseAt: str | None = Field(None, pattern=r"^([01]\d|2[0-3])[0-5]\d$", description="Quiet hours start, HHMM.")
    resumeAt: str | None = Field(None, pattern=r"^([01]\d|2[0-3])[0-5]\d$", description="Quiet hours end, HHMM.")
    timezone: str | None = Field(None, description="IANA zone of the quiet hours (default UTC).")
    endAt: datetime | None = Field(None, description="Hard end: nothing is sent after it.")


class SendAlertRequest(Strict):
    version: Literal["latest", "1", "1.0"]
    apiKey: str | None = Field(None, min_length=1, max_length=256)
    clientRef: str = ClientRef
    uniqueId: str | None = Field(
        None, pattern=r"^[A-Za-z0-9+\-_.:]{1,128}$", description="Idempotency key: a repeat returns the first answer."
    )
    contactGroup: ContactGroupRef | None = None
    linkedAlerts: LinkedAlerts | None = None
    alert: list[AlertItem] = Field(min_length=1, max_length=64)
    notification: bool = Field(
        True, description="False: no events are reported for this alert (no callbacks, not in collectevents)."
    )
    notificationType: Literal["all", "final", "responses"] = Field(
        "all", description="Which events are reported: every event, final results only, or responses only."
    )
    callbackURL: str | None = Field(None, pattern=r"^https?://\S+$", max_length=2048)
    schedule: Schedule | None = None
    lifetime: Lifetime | None = None
    # the alert resource's properties the sender gives (alert-resource.txt), answered back by GET alerts
    appData: str | None = Field(
        None, max_length=APP_DATA_MAX, description="Any string of the sending application's own (an id, JSON...): "
        "kept with the alert (encrypted at rest) and given back as the resource's `appData`."
    )
    category: Literal["user", "admin"] = Field(
        "user", description="`user`: an alert for people (the default); `admin`: an alert about the node itself or "
        "sent by its operators (the console's test alerts). Read-only once the alert exists."
    )


class StoreContentRequest(Strict):
    version: Literal["latest", "1", "1.0"] = "latest"
    apiKey: str | None = Field(None, min_length=1, max_length=256)
    contentType: Literal["content", "recipientList", "contactList", "contactSetList", "contactGroup"]
    content: str | None = None
    contentEncoding: Literal["utf8", "base64"] | None = None
    voiceFormat: Literal["mp3", "wav", "aiff", "tts"] | None = None
    recipientList: str | list[str] | None = None
    contactList: str | list[str] | None = None
    contactSetList: str | list[str] | None = None
    contactGroup: ContactGroup | None = None
    lifetime: Lifetime | None = None


class CollectEventsRequest(Strict):
    version: Literal["latest", "1", "1.0"] = "latest"
    apiKey: str | None = Field(None, min_length=1, max_length=256)
    cursor: Integer = Field(0, ge=0, le=2**63 - 1,
                            description="The `cursor` of the previous answer (0 = from the start).")
    limit: Integer = Field(500, ge=1, le=5000)
    alertRef: str | None = Field(None, max_length=64)


class GetInfoRequest(Strict):
    version: Literal["latest", "1", "1.0"] = "latest"
    apiKey: str | None = Field(None, min_length=1, max_length=256)


class SchedulePublishRequest(Strict):
    publish_delay: Duration = Field(description="ISO 8601 duration, P0DT0S = now.")


# -- responses ---------------------------------------------------------------------------------


class ErrorItem(BaseModel):
    path: str
    message: str


class ErrorResponse(BaseModel):
    success: bool = False
    failureReason: str
    errors: list[ErrorItem] = Field(default_factory=list)


class ItemResult(BaseModel):
    alertType: str
    tag: str
    success: bool
    requestedCount: int
    sentCount: int
    remainingCapacity: int
    failureReason: str | None = None


class SendAlertResponse(BaseModel):
    success: bool
    clientRef: str
    alertRef: str
    emailSubjectRef: str | None = None
    alerts: list[ItemResult] = Field(default_factory=list)
    scheduleId: str | None = None
    storeId: str | None = None
    expirationInDays: float | None = None
    schedule_url: str | None = None
    failureReason: str | None = None
    warnings: list[ErrorItem] = Field(
        default_factory=list, description="What was accepted but is not used (e.g. a tts block with mp3 audio)."
    )
