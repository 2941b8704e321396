"""``alertnode store copy``: an SQLite store with data (alerts, deliveries, events, stored content, links,
callbacks owed, channel rows) moved to PostgreSQL with nothing lost: a node started on the copy reads back
every alert, recipient, event and stored item, and carries on (new ids and event numbers follow the copied
ones). And ``alertnode backup`` of a PostgreSQL store is an SQLite file the copy can move back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.api.test_jobs import dead_links
from tests.nodeproc import RunningNode
from tests.pg import PASSWORD, PgCluster


def _cli(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "alertnode.cli", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PGPASSWORD=PASSWORD))


def _everything(node: RunningNode, refs: list[str]) -> dict[str, Any]:
    with node.client() as c:
        alerts = {ref: c.get(f"/api/json/alerts/{ref}").json() for ref in refs}
    events = node.events(0, limit=5000)["events"]
    for a in alerts.values():
        a.pop("status", None)  # derived from the clock
    return {"alerts": alerts, "events": events}


def test_a_store_copied_to_postgresql_is_read_back_whole(run_node: Callable[..., RunningNode], tmp_path: Path,
                                                         pg_cluster: PgCluster) -> None:
    data_dir = tmp_path / "node"
    node = run_node(dead_links(), data_dir=data_dir)
    stored = node.post("/api/json/storecontent", {"version": "latest", "contentType": "recipientList",
                                                 "recipientList": ["+447700900111", "+447700900112"]}).json()["uuid"]
    refs = []
    for i in range(3):
        body = {"version": "latest", "clientRef": f"c{i}", "uniqueId": f"copy-{i}",
                "callbackURL": "http://127.0.0.1:9/cb",
                "contactGroup": {"inlineContactGroup": {"name": "g", "contacts": [
                    {"id": "p1", "sms": "+447700900301", "lookups": {"firstname": "Zed"}}]}},
                "linkedAlerts": {"linkRef": f"link-{i}"},
                "alert": [{"alertType": "sms", "tag": "t", "content": "Hi {firstname}", "sender": "ALERTS",
                           "recipients": [f"+4477009002{i:02d}"], "contacts": ["p1"], "storedRecipients": stored,
                           "lookups": {"performLookups": True}}]}
        resp = node.post("/api/json/sendalert", body)
        assert resp.status_code == 200, resp.text
        refs.append(resp.json()["alertRef"])
    before = _everything(node, refs)
    node.stop()

    url = pg_cluster.new_database()
    config = data_dir / "alertnode.toml"
    done = _cli("store", "copy", "--to", url, config=config)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "alerts: 3 rows" in done.stdout and "deliveries: 12 rows" in done.stdout

    moved = run_node({**dead_links(), "store": {"url": url}}, data_dir=data_dir,
                     env={"ALERTNODE__store__password": PASSWORD})
    after = _everything(moved, refs)
    assert after == before
    assert len(before["events"]) == 3 and "+447700900200" in json.dumps(before["alerts"][refs[0]])  # decrypted
    # the copy goes on: the same uniqueId answers the copied alert, new work gets new ids and later events
    again = moved.post("/api/json/sendalert", {"version": "latest", "clientRef": "c0", "uniqueId": "copy-0",
                                              "alert": [{"alertType": "sms", "tag": "t", "content": "x",
                                                         "sender": "ALERTS", "recipients": ["+447700900999"]}]})
    assert again.json()["alertRef"] == refs[0]
    fresh = moved.post("/api/json/sendalert", {"version": "latest", "clientRef": "new", "alert": [
        {"alertType": "sms", "tag": "t", "content": "x", "sender": "ALERTS", "storedRecipients": stored}]})
    assert fresh.status_code == 200, fresh.text
    events = moved.events(before["events"][-1]["seq"])["events"]
    assert [e["event"] for e in events] == ["accepted"] and events[0]["alertRef"] == fresh.json()["alertRef"]

    # and back: a backup of the PostgreSQL store is an SQLite file holding the same
    backup = tmp_path / "back.db"
    done = _cli("backup", str(backup), config=config)  # the moved node's configuration names the PostgreSQL store
    assert done.returncode == 0, done.stderr + done.stdout
    moved.stop()
    restored = run_node(dead_links(), data_dir=tmp_path / "restored")
    restored.stop()
    (tmp_path / "restored" / "data" / "alertnode.db").unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / "restored" / "data" / f"alertnode.db{suffix}").unlink(missing_ok=True)
    (tmp_path / "restored" / "data" / "secret.key").write_bytes((data_dir / "data" / "secret.key").read_bytes())
    backup.rename(tmp_path / "restored" / "data" / "alertnode.db")
    back = run_node(dead_links(), data_dir=tmp_path / "restored")
    assert _everything(back, refs)["alerts"] == before["alerts"]
