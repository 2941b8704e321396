"""The pure modules of the SMS channel stay pure: no I/O library anywhere in what they import, and no
clock of their own (time is an argument)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import alertnode.sms

PURE = ["gsm", "session", "status", "receipts", "mo", "sender", "pdu", "tracker", "replies"]
IO = ["socket", "select", "asyncio", "threading", "sqlite3", "smpplib", "alertnode.store", "alertnode.sms.repo",
      "alertnode.sms.smpplib_adapter", "alertnode.sms.channel"]
CLOCK = {"time", "datetime"}


@pytest.mark.parametrize("module", PURE)
def test_imports_no_io_library(module: str) -> None:
    code = (
        f"import sys, alertnode.sms.{module}\n"
        f"print(' '.join(m for m in {IO!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == []


@pytest.mark.parametrize("module", PURE)
def test_reads_no_clock(module: str) -> None:
    tree = ast.parse((Path(alertnode.sms.__file__).parent / f"{module}.py").read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & CLOCK
