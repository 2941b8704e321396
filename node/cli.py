"""The ``alertnode`` command: serve, send, show, events, backup, store copy (and the media tools)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from alertnode import config as config_mod
from alertnode import logs
from alertnode.errors import ConfigError


def _client_settings(args: argparse.Namespace) -> tuple[str, str]:
    url = args.url or os.environ.get("ALERTNODE_URL")
    key = args.api_key or os.environ.get("ALERTNODE_API_KEY", "")
    if url is None:
        cfg = config_mod.load(args.config) if args.config else config_mod.load(None)
        host = cfg.api.host if cfg.api.host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
        url = f"http://{host}:{cfg.api.port}"
        if not key and cfg.api.api_keys:
            key = cfg.api.api_keys[0]
    if not key:
        raise SystemExit("alertnode: give the API key with --api-key or ALERTNODE_API_KEY")
    return url.rstrip("/"), key


def _print(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


def cmd_serve(args: argparse.Namespace) -> int:
    from alertnode.app import serve

    try:
        cfg = config_mod.load(args.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    logs.configure(cfg.node.log_format, cfg.node.log_level)
    from alertnode.app import event_loop_factory

    with asyncio.Runner(loop_factory=event_loop_factory(cfg.node.event_loop)) as runner:
        runner.run(serve(cfg, args.sandbox))
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config_mod.load(args.config)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print("configuration is valid")
    return 0


def cmd_send(args: argparse.Namespace) -> int:
    url, key = _client_settings(args)
    body = Path(args.file).read_bytes() if args.file != "-" else sys.stdin.buffer.read()
    resp = httpx.post(f"{url}/api/json/sendalert", content=body, timeout=120, trust_env=False,
                      headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    _print(resp.json())
    return 0 if resp.status_code == 200 else 1


def cmd_show(args: argparse.Namespace) -> int:
    url, key = _client_settings(args)
    resp = httpx.get(f"{url}/api/json/alerts/{args.alert_ref}", timeout=60, trust_env=False,
                     headers={"Authorization": f"Bearer {key}"})
    _print(resp.json())
    return 0 if resp.status_code == 200 else 1


def cmd_events(args: argparse.Namespace) -> int:
    url, key = _client_settings(args)
    cursor = args.cursor
    with httpx.Client(timeout=60, trust_env=False, headers={"Authorization": f"Bearer {key}"}) as client:
        while True:
            body: dict[str, Any] = {"version": "latest", "cursor": cursor, "limit": 500}
            if args.alert_ref:
                body["alertRef"] = args.alert_ref
            try:
                resp = client.post(f"{url}/api/json/collectevents", json=body)
            except httpx.HTTPError as exc:
                if not args.follow:
                    raise SystemExit(f"alertnode: {exc}") from None
                time.sleep(2)
                continue
            data = resp.json()
            if resp.status_code != 200:
                _print(data)
                return 1
            for event in data["events"]:
                print(json.dumps(event, ensure_ascii=False), flush=True)
            cursor = data["cursor"]
            if not data["more"]:
                if not args.follow:
                    print(f"# cursor {cursor}", file=sys.stderr)
                    return 0
                time.sleep(args.interval)


def cmd_backup(args: argparse.Namespace) -> int:
    from alertnode.errors import StoreError
    from alertnode.store.db import SqliteStore, open_store

    cfg = config_mod.load(args.config)
    store = open_store(cfg.store, cfg.data_path())
    if isinstance(store, SqliteStore):
        if not store.path.exists():
            print(f"alertnode: no store at {store.path}", file=sys.stderr)
            return 1
        store.backup(Path(args.file))
    else:
        try:
            store.open()
            try:
                store.backup(Path(args.file))
            finally:
                store.close()
        except StoreError as exc:
            print(f"alertnode: {exc}", file=sys.stderr)
            return 1
    print(f"backup of {store.describe()} written to {args.file}")
    return 0


def cmd_store_copy(args: argparse.Namespace) -> int:
    """Copy the whole store (the configured one, or ``--from FILE``) into a new store: a PostgreSQL URL (its
    password from PGPASSWORD or ~/.pgpass, never on the command line) or an SQLite file."""
    from alertnode.errors import StoreError
    from alertnode.store import transfer
    from alertnode.store.config import StoreSection
    from alertnode.store.db import SqliteStore, Store, is_postgres, open_store

    cfg = config_mod.load(args.config)
    source: Store = SqliteStore(Path(args.source)) if args.source else open_store(cfg.store, cfg.data_path())
    if isinstance(source, SqliteStore) and not source.path.exists():
        print(f"alertnode: no store at {source.path}", file=sys.stderr)
        return 1
    target: Store = (open_store(StoreSection(url=args.to), cfg.data_path()) if is_postgres(args.to)
                     else SqliteStore(Path(args.to)))
    try:
        source.open()
        try:
            target.open()
            try:
                report = transfer.copy(source, target, lambda table, n: print(f"  {table}: {n} rows", flush=True))
            finally:
                target.close()
        finally:
            source.close()
    except StoreError as exc:
        print(f"alertnode: {exc}", file=sys.stderr)
        return 1
    print(f"copied {report.total} rows from {source.describe()} to {target.describe()}; the nodes using it need "
          f"this node's secret.key (see systemd/INSTALL.md, 'Several nodes')")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alertnode", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def client_opts(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="configuration file (for the API address and keys)")
        p.add_argument("--url", help="control API base URL (default from config, or ALERTNODE_URL)")
        p.add_argument("--api-key", help="API key (or ALERTNODE_API_KEY)")

    p = sub.add_parser("serve", help="run the node")
    p.add_argument("--config", help="TOML configuration file (default: embedded defaults)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--sandbox", dest="sandbox", action="store_true", default=None,
                      help="run sandbox channels (a local SMSC, smarthost and phone; nothing leaves the machine) "
                      "in place of any configured ones; the default when no channel is configured")
    mode.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                      help="never run the sandbox, even with no channel configured")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("check-config", help="validate a configuration file and report every problem")
    p.add_argument("--config", required=True)
    p.set_defaults(func=cmd_check_config)
    p = sub.add_parser("send", help="POST a sendalert JSON file and print the answer")
    p.add_argument("file", help="JSON file, or - for standard input")
    client_opts(p)
    p.set_defaults(func=cmd_send)
    p = sub.add_parser("show", help="print an alert resource")
    p.add_argument("alert_ref")
    client_opts(p)
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("events", help="print events as JSON lines")
    p.add_argument("--follow", action="store_true", help="keep polling for new events")
    p.add_argument("--cursor", type=int, default=0)
    p.add_argument("--alert-ref")
    p.add_argument("--interval", type=float, default=1.0)
    client_opts(p)
    p.set_defaults(func=cmd_events)
    p = sub.add_parser("backup", help="consistent copy of the store, safe while the node runs")
    p.add_argument("file")
    p.add_argument("--config")
    p.set_defaults(func=cmd_backup)
    store = sub.add_parser("store", help="store maintenance").add_subparsers(dest="store_command", required=True)
    p = store.add_parser("copy", help="copy the whole store into a new one (SQLite to PostgreSQL, or back)")
    p.add_argument("--to", required=True, help="postgresql://USER@HOST/DB (password: PGPASSWORD) or an SQLite file")
    p.add_argument("--from", dest="source", help="an SQLite file (default: the configured store); stop the node "
                   "first, or copy from an 'alertnode backup' file")
    p.add_argument("--config")
    p.set_defaults(func=cmd_store_copy)
    for module in ("alertnode.media.cli", "alertnode.ops.cli"):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        mod.add_subcommands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
