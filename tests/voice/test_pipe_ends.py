"""Both ends of the voice pipe drop what they cannot read and carry on: the supervisor reading a
worker (a stand-in worker process written in sh), and the worker's command reader."""

from __future__ import annotations

import asyncio
import io
import logging
import stat
from pathlib import Path

import pytest

from alertnode.voice import pipe
from alertnode.voice.config import VoiceConfig
from alertnode.voice.supervisor import Supervisor, worker_init
from alertnode.voice.worker.main import read_commands

STAND_IN = r"""#!/bin/sh
read -r init
printf '%s\n' "$init" > "{init_file}"
echo 'not json at all'
echo '{{"ev":"launch"}}'
echo '{{"ev":"ready","sip_port":"5999"}}'
echo '{{"ev":"ready","sip_port":5999}}'
echo '{{"ev":"incoming","call":"in9-1","caller_uri":"<sip:+1@h>","to_uri":"","ruri":""}}'
while read -r line; do
  case "$line" in *shutdown*) exit 0;; esac
done
"""


async def test_supervisor_drops_lines_that_are_no_event(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    script = tmp_path / "python"
    init_file = tmp_path / "init.json"
    script.write_text(STAND_IN.format(init_file=init_file))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    # port 0: the SIP front binds a free port (the workers' would too; this stand-in binds none)
    config = VoiceConfig(enabled=True, trunk="127.0.0.1:9", max_concurrent_calls=4, sip_port_base=0)
    events: list[pipe.Event] = []
    sup = Supervisor(config, events.append, python=str(script))
    caplog.set_level(logging.WARNING, logger="alertnode.voice.supervisor")
    await sup.start()
    try:
        assert await sup.wait_ready(10)
        async with asyncio.timeout(10):
            while len(events) < 2:  # the incoming line follows the ready one
                await asyncio.sleep(0.01)
        assert events == [pipe.Ready(5999), pipe.Incoming("in9-1", "<sip:+1@h>", "", "")]
        assert sup.in_flight() == 1 and sup.workers_info()[0].sip_port == 5999
        dropped = [r.getMessage() for r in caplog.records if "no event" in r.getMessage()]
        assert len(dropped) == 3, dropped
        assert sup.sip_port() > 0
        assert pipe.decode_command(init_file.read_text()) == worker_init(config, 0, sup.sip_port())
    finally:
        await sup.stop(5)
    assert sup.worker_pids() == []


def test_worker_drops_lines_that_are_no_command_and_shuts_down_at_the_end(caplog: pytest.LogCaptureFixture) -> None:
    lines = [
        pipe.encode(pipe.Place("k", "sip:1@h")),
        "\n",
        "{garbage\n",
        '{"op":"hangup"}\n',
        pipe.encode(pipe.Hangup("k", 486)),
    ]
    commands: list[pipe.Command] = []
    caplog.set_level(logging.WARNING, logger="alertnode.voice.worker.main")
    read_commands(io.StringIO("".join(lines)), commands.append)
    assert commands == [pipe.Place("k", "sip:1@h"), pipe.Hangup("k", 486), pipe.Shutdown()]
    assert len([r for r in caplog.records if "dropped" in r.getMessage()]) == 2
