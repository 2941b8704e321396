"""A private PostgreSQL cluster for the tests: ``initdb`` + ``pg_ctl`` in a temporary directory, on a free
port of 127.0.0.1, its socket in that directory. PostgreSQL refuses to run as root, so when the tests run
as root (CI does) the server runs as the ``postgres`` user the Debian package creates, in a directory it
owns. One cluster per test session; one database per test (:meth:`PgCluster.new_database`).

The role the node uses is ``alertnode`` with a password (so the tests go through password authentication,
as production does); ``PASSWORD`` is given to the node by ``ALERTNODE__store__password``.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

from tests.nodeproc import free_port

PASSWORD = "alertnode-test-password"
_SUPER_PASSWORD = "postgres-test-password"


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql; tools/setup.sh test does)")
    return Path(found[-1]).parent


class PgCluster:
    def __init__(self) -> None:
        self.bindir = _bindir()
        self.root = Path(tempfile.mkdtemp(prefix="alertnode-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self._as_root = os.geteuid() == 0

    # -- running the server's tools as their own user -------------------------------------------
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=120)

    def start(self) -> PgCluster:
        pwfile = self.root / "pw"
        pwfile.write_text(_SUPER_PASSWORD + "\n", encoding="utf-8")
        if self._as_root:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--pwfile", str(pwfile), "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
        pwfile.unlink()
        self.pg_ctl("start")
        with self.admin() as conn:
            conn.execute(f"CREATE ROLE alertnode LOGIN PASSWORD '{PASSWORD}' CREATEDB")
        return self

    def pg_ctl(self, action: str, *extra: str) -> None:
        # the tests' own server: no fsync (a test run is thrown away), loopback only, its socket here
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
                   " -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
                   " -c shared_buffers=64MB")
        args = ["pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", options, action]
        result = self._run(*args, *extra, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl {action} failed: {result.stdout}{result.stderr}\n{self.server_log()}")

    def restart(self) -> None:
        self.pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self.pg_ctl("stop", "-m", "fast")

    def server_log(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)

    # -- databases ------------------------------------------------------------------------------
    def admin(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", password=_SUPER_PASSWORD,
                               dbname=dbname, autocommit=True)

    def new_database(self) -> str:
        """A new empty database owned by ``alertnode``; its URL (without the password)."""
        name = "t_" + uuid.uuid4().hex[:12]
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {name} OWNER alertnode")
        return self.url(name)

    def url(self, dbname: str) -> str:
        return f"postgresql://alertnode@127.0.0.1:{self.port}/{dbname}"
