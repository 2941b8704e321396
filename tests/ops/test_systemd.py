"""The systemd integration: the unit files pass systemd's own checks, and the node speaks the notify
protocol (READY, WATCHDOG, STOPPING) to a real AF_UNIX datagram socket as NOTIFY_SOCKET, with its data
in $STATE_DIRECTORY as under ``StateDirectory=``."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.nodeproc import RunningNode

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "alertnode.service"
INSTALLED_EXEC = "/opt/alertnode/.venv/bin/alertnode"


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, f"{name} is missing: install the Debian package systemd"
    return path


def _unit_dir(tmp_path: Path, drop_in: bool) -> Path:
    """The unit as shipped, with only ExecStart's binary pointed at this checkout's (verify insists that
    the binary exists; on an installed system it is /opt/alertnode/.venv/bin/alertnode)."""
    text = UNIT.read_text(encoding="utf-8")
    assert f"ExecStart={INSTALLED_EXEC} serve --config /etc/alertnode/alertnode.toml" in text
    exe = ROOT / ".venv" / "bin" / "alertnode"
    assert exe.exists(), "the alertnode entry point is not installed in .venv"
    d = tmp_path / "units"
    d.mkdir()
    (d / "alertnode.service").write_text(text.replace(INSTALLED_EXEC, str(exe)), encoding="utf-8")
    if drop_in:
        (d / "alertnode.service.d").mkdir()
        shutil.copy(ROOT / "systemd" / "port25.conf", d / "alertnode.service.d" / "port25.conf")
    return d


def _analyze(units: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # a trailing ':' keeps systemd's own unit directories after ours (for multi-user.target etc.)
    env = {"SYSTEMD_UNIT_PATH": f"{units}:", "PATH": "/usr/bin:/bin", "SYSTEMD_LOG_COLOR": "0"}
    return subprocess.run([_tool("systemd-analyze"), *args], capture_output=True, text=True, env=env, timeout=60,
                          check=False)


@pytest.mark.parametrize("drop_in", [False, True], ids=["plain", "port25"])
def test_unit_passes_systemd_analyze_verify(tmp_path: Path, drop_in: bool) -> None:
    units = _unit_dir(tmp_path, drop_in)
    res = _analyze(units, "verify", "alertnode.service")
    assert res.returncode == 0 and res.stderr.strip() == "", res.stderr
    sec = _analyze(units, "security", "--offline=yes", "alertnode.service")
    # the capability to bind port 25 exists only with the drop-in
    net_bind = next(line for line in sec.stdout.splitlines() if "CAP_NET_(BIND_SERVICE" in line)
    assert net_bind.lstrip().startswith("✗" if drop_in else "✓"), net_bind
    assert "CapabilityBoundingSet=~CAP_SYS_ADMIN" in sec.stdout
    assert "✓ NoNewPrivileges=" in sec.stdout and "✓ User=/DynamicUser=" in sec.stdout


def test_sysusers_and_tmpfiles_create_the_user_and_config_dir(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    res = subprocess.run([_tool("systemd-sysusers"), f"--root={root}", str(ROOT / "systemd" / "alertnode.sysusers")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    [entry] = [line for line in (root / "etc" / "passwd").read_text().splitlines() if line.startswith("alertnode:")]
    assert entry.endswith(":/var/lib/alertnode:/usr/sbin/nologin")
    res = subprocess.run([_tool("systemd-tmpfiles"), f"--root={root}", "--create",
                          str(ROOT / "systemd" / "alertnode.tmpfiles")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    etc = root / "etc" / "alertnode"
    assert etc.is_dir() and etc.stat().st_mode & 0o777 == 0o750
    gid = int(entry.split(":")[3])
    assert etc.stat().st_gid == gid and etc.stat().st_uid == 0


def _messages(sock: socket.socket, until: Callable[[list[str]], bool], timeout: float = 30.0) -> list[str]:
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while not until(got):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"notify messages so far: {got}")
        sock.settimeout(left)
        try:
            got.append(sock.recv(4096).decode("ascii"))
        except TimeoutError:
            continue
    return got


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_node_notifies_ready_watchdog_and_stopping(
    run_node: Callable[..., RunningNode], tmp_path: Path, abstract: bool
) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        if abstract:
            name = f"alertnode-test-{time.monotonic_ns()}"
            sock.bind("\0" + name)
            notify = "@" + name
        else:
            notify = str(tmp_path / "notify.sock")
            sock.bind(notify)
        state = tmp_path / "state"
        state.mkdir(mode=0o700)
        env = {"NOTIFY_SOCKET": notify, "WATCHDOG_USEC": "200000", "STATE_DIRECTORY": str(state)}
        # data_dir empty: $STATE_DIRECTORY is used; --no-sandbox as in the unit's ExecStart
        node = run_node({"node": {"data_dir": ""}}, env=env, args=("--no-sandbox",))
        first = _messages(sock, lambda got: bool(got))
        assert first == ["READY=1"]
        # the listeners answer by the time READY=1 is sent
        assert httpx.get(f"{node.url}/healthz", timeout=10, trust_env=False).status_code == 200
        dogs = _messages(sock, lambda got: got.count("WATCHDOG=1") >= 3)
        assert set(dogs) == {"WATCHDOG=1"}
        assert (state / "alertnode.db").exists()
        assert node.stop() == 0
        rest = _messages(sock, lambda got: "STOPPING=1" in got)
        assert set(rest) <= {"WATCHDOG=1", "STOPPING=1"}


_MDWE_PROBE = """
import ctypes, io, sys, wave
buf = io.BytesIO()
with wave.open(buf, "wb") as w:  # stdlib: no cffi callback may exist before the switch
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000); w.writeframes(bytes(1600))
wav = buf.getvalue()
if sys.argv[1] == "on":
    libc = ctypes.CDLL(None, use_errno=True)
    # prctl(PR_SET_MDWE = 65, PR_MDWE_REFUSE_EXEC_GAIN = 1): what MemoryDenyWriteExecute=yes enforces
    if libc.prctl(65, 1, 0, 0, 0) != 0:
        print("no-mdwe"); sys.exit(3)
from alertnode.media.decode import probe
try:
    probe(wav, "wav", max_seconds=10)
except MemoryError:
    print("memoryerror"); sys.exit(2)
print("decoded")
"""


def test_audio_decoding_needs_write_execute_memory() -> None:
    """Why the unit has no MemoryDenyWriteExecute=yes: uploaded audio is decoded from memory through
    soundfile's cffi callbacks, which need W+X pages. If this starts passing under MDWE, turn it on."""
    def run(mode: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", _MDWE_PROBE, mode], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=False)

    assert run("off").stdout.strip() == "decoded"
    under = run("on")
    if under.returncode == 3:
        pytest.fail("this kernel has no PR_SET_MDWE (Linux >= 6.3 needed for this check)")
    assert under.stdout.strip() == "memoryerror", under.stdout + under.stderr
