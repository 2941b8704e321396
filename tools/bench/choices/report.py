"""Shared by the design-choice scripts in this folder: a plain-text table and the audioop check.

Not a test helper: the test suite never imports this folder (pyVoIP and pydub are only in the
``bench`` extra, which CI does not install).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns as wide as their widest cell; cells may not contain newlines."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print(f"\n{title}")
    print("  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def imports_without_audioop(module: str) -> str:
    """Import ``module`` in a fresh interpreter where ``audioop`` cannot be imported, as on Python
    3.13 (PEP 594 removed it). Returns "imports" or the error it raised."""
    code = f"import sys\nsys.modules['audioop'] = None  # what Python 3.13 gives: no audioop module\nimport {module}\n"
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode == 0:
        return "imports"
    last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
    if "audioop" in last or "pyaudioop" in last:
        return "ImportError (needs audioop)"
    return last[:60]


def ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 0.01 else f"{seconds * 1000:.0f} ms"
