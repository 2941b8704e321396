"""The sandbox phone: a SIP user agent (pjsua2) in a process of its own, which the node's voice channel calls.

Every number the node dials reaches it (the voice channel's trunk is this phone on 127.0.0.1). A call rings
(180) until the page answers it (200), declines it (486 Busy Here, RFC 3261 §21.4.24, what a phone's reject
button sends), or the node gives up (CANCEL); the audio the node plays is recorded to a WAV file per call;
keys are sent as RFC 4733 telephone-events.

The pipe (JSON lines, one object each; ``alertnode.sandbox.phonelink`` is the node's end):

    stdout (events)  {"ev": "ready", "port": 5062}
                     {"ev": "incoming", "call": "p1", "to": "+4477...", "from": "+4416..."}
                     {"ev": "answered", "call": "p1"}
                     {"ev": "recording", "call": "p1", "file": "p1-1712345678.wav"}
                     {"ev": "keys", "call": "p1", "digits": "2"}
                     {"ev": "ended", "call": "p1", "code": 200, "reason": "Normal call clearing", "declined": false}
                     {"ev": "failed", "call": "p1", "command": "keys", "error": "..."}
                     {"ev": "bye"}
    stdin (commands) {"cmd": "answer" | "decline" | "hangup", "call": "p1"}
                     {"cmd": "keys", "call": "p1", "digits": "12#"}
                     {"cmd": "shutdown"}

The end of stdin (the node is gone) shuts the phone down too. Call ids (``p<n>``) are the phone's own and
start again with each process.
"""

from __future__ import annotations

import json
import re
from typing import Any

DIGITS = re.compile(r"^[0-9*#A-Da-d]{1,32}$")
"""Keys a phone can send: RFC 4733 §3.2 events 0-15 (0-9, *, #, A-D)."""
COMMANDS = frozenset({"answer", "decline", "hangup", "keys", "shutdown"})


def encode(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":")) + "\n"


def decode(line: str) -> dict[str, Any]:
    """One line of the pipe as an object; ValueError when it is none."""
    obj = json.loads(line)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj
