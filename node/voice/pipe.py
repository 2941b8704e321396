"""The voice pipe: the messages between the channel's supervisor and a voice worker process.

Both sides import this module and nothing else to talk: commands go to the worker, events come from it,
each a frozen dataclass. On the wire they are JSON lines (the worker's stdin and stdout), one object
per line, tagged ``op`` (commands) or ``ev`` (events); :func:`encode` and :func:`decode_command` /
:func:`decode_event` are the only places that touch the JSON.

Rules of the wire:

* A line that is not JSON, has no known tag, lacks a field without default, or has a field of the
  wrong type raises :class:`PipeError`; the reader logs it and drops the line (a worker crash or a
  garbage line never takes the other side down).
* Fields the reader does not know are ignored, so one side may learn a field before the other.
* ``call`` is the supervisor's key of a call (never pjsua's call id, which pjsua reuses).

Commands::

    Init       the first line: ports, account or trunk, codecs, capacity, clock rate (``WorkerInit``)
    Place      place a call (``amd``: run answering-machine detection from its answer)
    Play       play prompts one after the other (each reports PromptDone), each in narrowband and
               (when prepared) wideband, the worker picks by the call's codec
    StopPlay   stop playback
    Hangup     hang up, cancel, or reject an incoming call (``code``: a final status, 0 = default)
    Answer     answer an incoming call (200)
    AmdStop    stop the call's answering-machine detector
    Shutdown   hang up everything, destroy the library, exit

Events::

    Ready         the endpoint runs; commands are accepted
    Registration  a REGISTER result
    Ringing, Answered, Ended       the call's progress (Ended once, whoever hung up)
    MediaUp       audio flows (again, after a re-INVITE that changed it): codec, clock rate, RFC 4733
                  payload type
    Held          the far end put the call on hold (sendonly or inactive)
    Resumed       the far end took it off hold: audio flows both ways again
    PromptDone    a prompt played to its end (a stopped prompt does not report)
    PromptFailed  a prompt file could not be played
    KeyPressed    a key, once per press whichever way it came (source rfc4733 | info | inband)
    AmdVerdict    the answering-machine detector's verdict (human | machine | unknown) and its timings
    AmdBeep       a voicemail beep ended
    AmdGreetingEnd  a machine's greeting fell silent
    Incoming      an incoming call waits for Answer or Hangup (with its SIP Call-ID)
    NoSuchCall    a command named a call the worker does not have (any more)
    CommandFailed a command could not be carried out
    Fatal         the endpoint could not start; the process exits
    LogLine       a log record of the worker process
    Bye           the library is destroyed; the process exits
    Lost          (made by the supervisor, never on the wire) the worker carrying the call died
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from alertnode.errors import ChannelError


class PipeError(ChannelError):
    """A line of the voice pipe that is not a message this side understands."""


# ------------------------------------------------------------------------------------------ commands


@dataclass(frozen=True)
class WorkerInit:
    """The ``init`` command of one worker. With ``registrar`` set, From is ``user@domain`` and only the
    worker with ``do_register`` sends REGISTER; otherwise calls go to the trunk."""

    tag: ClassVar[str] = "init"
    index: int
    bind_host: str
    sip_port: int
    rtp_port: int
    rtp_range: int
    transport: str = "udp"
    codecs: tuple[str, ...] = ("PCMA", "PCMU")
    registrar: str = ""
    do_register: bool = False
    user: str = ""
    auth_user: str = ""
    password: str = ""
    realm: str = "*"
    domain: str = ""
    proxy: str = ""
    expiry: int = 300
    trunk: str = ""
    inbound: bool = True
    max_calls: int = 4
    log_level: int = 0
    clock_rate: int = 8000
    """The conference bridge's clock: 16000 when G.722 is offered, so wideband calls keep 7 kHz audio."""
    contact: str = ""
    """host:port registered as the Contact (the supervisor's SIP front, which spreads incoming calls
    over the workers); empty: this worker's own address."""
    session_expires: int = 1800
    min_se: int = 90


@dataclass(frozen=True)
class Place:
    tag: ClassVar[str] = "call"
    call: str
    uri: str
    caller: str = ""
    amd: bool = False
    """Listen for an answering machine from the answer on (node/voice/worker/amd.py)."""


@dataclass(frozen=True)
class Play:
    tag: ClassVar[str] = "play"
    call: str
    prompts: tuple[tuple[str, str, str], ...]
    """(name, WAV path at 8 kHz, WAV path at 16 kHz or "") for each prompt."""


@dataclass(frozen=True)
class StopPlay:
    tag: ClassVar[str] = "stop"
    call: str


@dataclass(frozen=True)
class Hangup:
    tag: ClassVar[str] = "hangup"
    call: str
    code: int = 0


@dataclass(frozen=True)
class Answer:
    tag: ClassVar[str] = "answer"
    call: str


@dataclass(frozen=True)
class AmdStop:
    tag: ClassVar[str] = "amd_stop"
    call: str


@dataclass(frozen=True)
class Shutdown:
    tag: ClassVar[str] = "shutdown"


CallCommand = Place | Play | StopPlay | Hangup | Answer | AmdStop
Command = WorkerInit | CallCommand | Shutdown

# -------------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Ready:
    tag: ClassVar[str] = "ready"
    sip_port: int


@dataclass(frozen=True)
class Registration:
    tag: ClassVar[str] = "reg"
    active: bool
    code: int
    reason: str
    expires: int


@dataclass(frozen=True)
class Ringing:
    tag: ClassVar[str] = "ringing"
    call: str


@dataclass(frozen=True)
class Answered:
    tag: ClassVar[str] = "answered"
    call: str


@dataclass(frozen=True)
class Ended:
    """The call is over. ``code``: 200 for a call that was connected, else the final response (487
    when the node cancelled it); ``by_remote``: the far end ended it (BYE)."""

    tag: ClassVar[str] = "ended"
    call: str
    code: int
    reason: str = ""
    by_remote: bool = False
    connected: bool = False
    expired: bool = False
    """A connected call the node ended because the far end went silent (no session refresh, RFC 4028
    §10, or no answer to an in-dialog request): cause 408."""


@dataclass(frozen=True)
class MediaUp:
    tag: ClassVar[str] = "media"
    call: str
    codec: str
    clock_rate: int
    event_pt: int


@dataclass(frozen=True)
class Held:
    tag: ClassVar[str] = "held"
    call: str
    how: str
    """sendonly (the far end still sends, e.g. music on hold) or inactive."""


@dataclass(frozen=True)
class Resumed:
    tag: ClassVar[str] = "resumed"
    call: str


@dataclass(frozen=True)
class PromptDone:
    tag: ClassVar[str] = "prompt"
    call: str
    prompt: str


@dataclass(frozen=True)
class PromptFailed:
    tag: ClassVar[str] = "prompt_error"
    call: str
    prompt: str
    message: str


KeySource = Literal["rfc4733", "info", "inband"]


@dataclass(frozen=True)
class KeyPressed:
    tag: ClassVar[str] = "digit"
    call: str
    digit: str
    source: KeySource


@dataclass(frozen=True)
class AmdVerdict:
    """See :class:`alertnode.media.amd.AmdDecision`; times in ms after the answer (the detector's
    clock: the call's received audio)."""

    tag: ClassVar[str] = "amd"
    call: str
    verdict: str
    final: bool
    reason: str
    after_answer_ms: float
    initial_silence_ms: float | None
    greeting_ms: float
    words: int
    voice_ms: float
    pause_ms: float
    longest_pause_ms: float


@dataclass(frozen=True)
class AmdBeep:
    tag: ClassVar[str] = "amd_beep"
    call: str
    after_answer_ms: float
    """When the beep ended."""
    length_ms: float
    freq_hz: float
    level_dbm0: float


@dataclass(frozen=True)
class AmdGreetingEnd:
    tag: ClassVar[str] = "amd_greeting_end"
    call: str
    after_answer_ms: float
    silence_ms: float


@dataclass(frozen=True)
class Incoming:
    tag: ClassVar[str] = "incoming"
    call: str
    caller_uri: str
    """The From header's value."""
    to_uri: str
    ruri: str
    sip_call_id: str = ""


@dataclass(frozen=True)
class NoSuchCall:
    tag: ClassVar[str] = "no_call"
    call: str


@dataclass(frozen=True)
class CommandFailed:
    tag: ClassVar[str] = "error"
    message: str
    call: str | None = None


@dataclass(frozen=True)
class Fatal:
    tag: ClassVar[str] = "fatal"
    message: str


@dataclass(frozen=True)
class LogLine:
    tag: ClassVar[str] = "log"
    level: int
    message: str


@dataclass(frozen=True)
class Bye:
    tag: ClassVar[str] = "bye"


@dataclass(frozen=True)
class Lost:
    tag: ClassVar[str] = "lost"
    call: str


AmdEvent = AmdVerdict | AmdBeep | AmdGreetingEnd
CallEvent = (
    Ringing | Answered | Ended | MediaUp | Held | Resumed | PromptDone | PromptFailed | KeyPressed | Incoming
    | NoSuchCall | Lost | AmdVerdict | AmdBeep | AmdGreetingEnd
)
Event = Ready | Registration | CallEvent | CommandFailed | Fatal | LogLine | Bye

Message = Command | Event

_COMMANDS: dict[str, type[Any]] = {
    c.tag: c for c in (WorkerInit, Place, Play, StopPlay, Hangup, Answer, AmdStop, Shutdown)
}
_EVENTS: dict[str, type[Any]] = {
    c.tag: c
    for c in (
        Ready, Registration, Ringing, Answered, Ended, MediaUp, Held, Resumed, PromptDone, PromptFailed, KeyPressed,
        AmdVerdict, AmdBeep, AmdGreetingEnd, Incoming, NoSuchCall, CommandFailed, Fatal, LogLine, Bye, Lost,
    )
}


# --------------------------------------------------------------------------------------------- codec


def encode(message: Message) -> str:
    """One JSON line (with its newline)."""
    key = "op" if type(message) in _COMMANDS.values() else "ev"
    data: dict[str, Any] = {key: message.tag}
    for f in dataclasses.fields(message):
        data[f.name] = getattr(message, f.name)
    return json.dumps(data, separators=(",", ":")) + "\n"


def decode_command(line: str | bytes) -> Command:
    return typing.cast(Command, _decode(line, "op", _COMMANDS))


def decode_event(line: str | bytes) -> Event:
    return typing.cast(Event, _decode(line, "ev", _EVENTS))


def _decode(line: str | bytes, key: str, table: dict[str, type[Any]]) -> Any:
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise PipeError("not a JSON line") from exc
    if not isinstance(data, dict):
        raise PipeError("not a JSON object")
    tag = data.get(key)
    cls = table.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise PipeError(f"unknown {key} {tag!r}")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING:
                raise PipeError(f"{tag}: {f.name} is missing")
            continue
        values[f.name] = _convert(data[f.name], hints[f.name], f"{tag}.{f.name}")
    return cls(**values)


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    found = _HINTS.get(cls)
    if found is None:
        found = _HINTS[cls] = typing.get_type_hints(cls)
    return found


def _convert(value: Any, hint: Any, where: str) -> Any:
    """``value`` (from JSON) as the declared type ``hint``: exact scalars (an int is no bool), a
    float may come as an int, tuples come as lists."""
    origin = typing.get_origin(hint)
    if origin is types.UnionType or origin is typing.Union:
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except PipeError:
                continue
        raise PipeError(f"{where}: unexpected value")
    if origin is Literal:
        if value in typing.get_args(hint):
            return value
        raise PipeError(f"{where}: {value!r} is not one of {typing.get_args(hint)}")
    if origin is tuple:
        if not isinstance(value, list):
            raise PipeError(f"{where}: a list was expected")
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], where) for v in value)
        if len(args) != len(value):
            raise PipeError(f"{where}: {len(args)} items were expected")
        return tuple(_convert(v, a, where) for v, a in zip(value, args, strict=True))
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:  # a type this module does not declare: a bug here, not bad input
        raise TypeError(f"{where}: no conversion for {hint!r}")
    raise PipeError(f"{where}: {type(value).__name__} is not {hint.__name__}")
