"""The voice pipe's messages and their one encoding (JSON lines), both directions."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.voice import pipe
from alertnode.voice.pipe import PipeError, decode_command, decode_event, encode

COMMANDS: list[pipe.Command] = [
    pipe.WorkerInit(index=1, bind_host="127.0.0.1", sip_port=5161, rtp_port=20040, rtp_range=40,
                    codecs=("PCMU",), registrar="pbx", do_register=False, password="s3cret"),
    pipe.Place("d1a1n1", "sip:+441@pbx", "+442"),
    pipe.Place("d1a1n2", "sip:+441@pbx", "", amd=True),
    pipe.AmdStop("d1a1n2"),
    pipe.Play("d1a1n1", (("main", "/tmp/a.wav", "/tmp/a16.wav"), ("post", "/tmp/b.wav", ""))),
    pipe.StopPlay("d1a1n1"),
    pipe.Hangup("in1-1", 486),
    pipe.Answer("in1-1"),
    pipe.Shutdown(),
]
EVENTS: list[pipe.Event] = [
    pipe.Ready(5160),
    pipe.Registration(True, 200, "OK", 120),
    pipe.Ringing("k"),
    pipe.Answered("k"),
    pipe.Ended("k", 487, "Request Terminated", by_remote=False, connected=False),
    pipe.MediaUp("k", "PCMA", 8000, 120),
    pipe.PromptDone("k", "main"),
    pipe.PromptFailed("k", "main", "not a WAV file"),
    pipe.KeyPressed("k", "#", "inband"),
    pipe.AmdVerdict("k", "human", False, "short_greeting", 1120.0, 300.0, 520.0, 1, 480.0, 320.0, 0.0),
    pipe.AmdVerdict("k", "unknown", True, "no_speech", 4000.0, None, 0.0, 0, 0.0, 4000.0, 0.0),
    pipe.AmdBeep("k", 7260.0, 240.0, 1000.5, -17.9),
    pipe.AmdGreetingEnd("k", 9100.0, 2000.0),
    pipe.Incoming("in1-1", '"A" <sip:+441@h>;tag=x', "<sip:+442@h>", "sip:+442@h"),
    pipe.NoSuchCall("k"),
    pipe.CommandFailed("boom", "k"),
    pipe.CommandFailed("boom"),
    pipe.Fatal("SIP port taken"),
    pipe.LogLine(30, "a warning"),
    pipe.Bye(),
    pipe.Lost("k"),
]


@pytest.mark.parametrize("message", COMMANDS, ids=lambda m: type(m).__name__)
def test_every_command_survives_the_wire(message: pipe.Command) -> None:
    line = encode(message)
    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line)["op"] == message.tag
    assert decode_command(line) == message
    assert decode_command(line.encode()) == message


@pytest.mark.parametrize("message", EVENTS, ids=lambda m: type(m).__name__)
def test_every_event_survives_the_wire(message: pipe.Event) -> None:
    line = encode(message)
    assert json.loads(line)["ev"] == message.tag
    assert decode_event(line) == message


def test_defaults_fill_missing_optional_fields_and_unknown_fields_are_ignored() -> None:
    assert decode_command('{"op":"hangup","call":"k"}') == pipe.Hangup("k", 0)
    assert decode_event('{"ev":"ready","sip_port":5,"newer_field":[1]}') == pipe.Ready(5)
    assert decode_event('{"ev":"error","message":"m","call":null}') == pipe.CommandFailed("m", None)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("not json", "not a JSON line"),
        ("[1, 2]", "not a JSON object"),
        ('{"ev":"ready"}', "unknown op"),  # an event where a command is expected
        ('{"op":"launch"}', "unknown op 'launch'"),
        ('{"op":"call","uri":"sip:x"}', "call: call is missing"),
        ('{"op":"hangup","call":"k","code":"486"}', "hangup.code: str is not int"),
        ('{"op":"hangup","call":"k","code":true}', "hangup.code: bool is not int"),
        ('{"op":"play","call":"k","prompts":[["main"]]}', "play.prompts: 3 items were expected"),
        ('{"op":"play","call":"k","prompts":"main"}', "play.prompts: a list was expected"),
        ('{"op":"init","index":0,"bind_host":"h","sip_port":1,"rtp_port":2,"rtp_range":3,"codecs":[1]}',
         "init.codecs: int is not str"),
    ],
)
def test_malformed_commands_are_refused_with_a_reason(line: str, why: str) -> None:
    with pytest.raises(PipeError, match=why.replace("(", r"\(").replace("[", r"\[")):
        decode_command(line)


def test_malformed_events_are_refused() -> None:
    for line in ('{"ev":"digit","call":"k","digit":"1","source":"sip_info"}', '{"ev":"ended","call":"k"}',
                 '{"ev":"reg","active":1,"code":200,"reason":"","expires":1}', '{"ev":"bye', '{"op":"answer"}'):
        with pytest.raises(PipeError):
            decode_event(line)


scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5)
json_values = scalars | st.lists(scalars | st.lists(scalars, max_size=3), max_size=3)


@settings(deadline=None)  # timing is not what this checks; CI machines are busy
@given(st.sampled_from(["op", "ev"]), st.sampled_from([*pipe._COMMANDS, *pipe._EVENTS, "x"]),
       st.dictionaries(st.sampled_from(["call", "code", "prompts", "digit", "source", "sip_port", "uri",
                                        "message", "level", "index", "codecs", "active"]), json_values))
def test_garbage_either_decodes_or_is_a_pipe_error(key: str, tag: str, fields: dict[str, Any]) -> None:
    line = json.dumps({key: tag, **fields})
    for decode in (decode_command, decode_event):
        with contextlib.suppress(PipeError):
            decode(line)
