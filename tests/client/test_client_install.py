"""The client as a user's application gets it: a fresh virtualenv, ``pip install`` of this checkout, and a
script run from elsewhere (so the source tree is not on the path) that imports ``alertnode.client`` and
sends an event to a real node. The install is ``--no-deps``: the client must need nothing but the standard
library, so none of the node's own dependencies (fastapi, numpy, pjsua2...) is in that virtualenv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.events.support import contact, mail_section
from tests.nodeproc import API_KEY, RunningNode
from tests.peers.smtp import ThreadedSmarthost

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import asyncio, json, sys
    from alertnode.client import AlertNode, Event

    AlertNode.configure(sys.argv[1], sys.argv[2])
    result = asyncio.run(AlertNode.send_async(Event("disk full on db1", event="ci.disk", title="Ops")))
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"fastapi", "pydantic", "numpy", "httpx"})
    import alertnode
    print(json.dumps({"success": result.success, "alertRef": result.alert_ref, "error": result.error,
                      "heavy": heavy, "package": alertnode.__file__}))
""")


@pytest.mark.peer
def test_the_client_from_a_fresh_virtualenv_with_only_the_standard_library(
    tmp_path: Path, run_node: Callable[..., RunningNode], threaded_smarthost: ThreadedSmarthost
) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    pip_env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(ROOT)],
                             capture_output=True, text=True, timeout=600, env=pip_env, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    listed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True,
                            check=True, env=pip_env)
    names = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "alertnode" in names and not names & {"fastapi", "numpy", "pydantic", "httpx"}
    # the stock prompts are package data: an installed node has them (alertnode.media.stock)
    stock = {p.name for p in env_dir.glob("lib/python3*/site-packages/alertnode/audio/*.wav")}
    assert stock == {f.name for f in (ROOT / "audio").glob("*.wav")} and "goodbye.wav" in stock

    node = run_node({
        "mail": mail_section(threaded_smarthost),
        "events": {"contact_groups": {"ops": {"name": "ops", "contacts": [contact(1)]}},
                   "routes": [{"name": "ci", "match": ["ci.*"], "contact_group": "ops", "alert_types": ["email"],
                               "template": "{title}: {message}"}]},
    })
    script = tmp_path / "app.py"
    script.write_text(SCRIPT, encoding="utf-8")
    # -I: isolated (no user site, no PYTHONPATH, the script's folder is tmp_path, not the checkout)
    run = subprocess.run([str(python), "-I", str(script), node.url, API_KEY], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["success"] is True and out["alertRef"] and out["error"] is None
    assert out["heavy"] == []
    assert Path(out["package"]).is_relative_to(env_dir)  # the installed package, not the source tree
    mail = threaded_smarthost.wait_for(1)[0]
    assert "Ops: disk full on db1" in mail.message.get_body(("plain",)).get_content()
    assert sys.executable != str(python)
