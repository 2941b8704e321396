"""``alertnode doctor``: the guided check of a configuration and its peers (see node/ops/doctor.py)."""

from __future__ import annotations

import argparse
import os

from alertnode import config as config_mod
from alertnode.errors import ConfigError
from alertnode.ops import doctor

DEFAULT_CONFIG = "/etc/alertnode/alertnode.toml"  # where systemd/alertnode.service reads it


def _print_finding(f: doctor.Finding) -> None:
    mark = "ok     " if f.ok else "PROBLEM"
    print(f"  {mark}  {f.check}: {f.message}")
    if not f.ok and f.fix:
        print(f"           how to fix: {f.fix}")


def cmd_doctor(args: argparse.Namespace) -> int:
    path = args.config or (DEFAULT_CONFIG if os.path.exists(DEFAULT_CONFIG) else None)
    print(f"alertnode doctor: configuration {path or '(built-in defaults)'}")
    try:
        cfg = config_mod.load(path)
    except ConfigError as exc:
        for p in exc.problems:
            _print_finding(doctor.Finding("configuration", False, f"{p.path}: {p.message}",
                                          f"edit {p.path} in {path}" if path else "give --config FILE"))
        print(f"{len(exc.problems)} problem(s) in the configuration; fix them first, then run doctor again.")
        return 2
    _print_finding(doctor.Finding("configuration", True, "valid"))
    findings = doctor.run(cfg)
    for f in findings:
        _print_finding(f)
    problems = sum(1 for f in findings if not f.ok)
    if problems:
        print(f"{problems} problem(s) found.")
        return 1
    print("everything checked is fine.")
    return 0


def add_subcommands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("doctor", help="check the configuration, data directory and every configured peer")
    p.add_argument("--config", help="configuration file (default: /etc/alertnode/alertnode.toml if present)")
    p.set_defaults(func=cmd_doctor)
