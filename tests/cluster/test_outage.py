"""The database restarts under two running nodes (``pg_ctl restart`` mid-run, then a stop long enough to
send requests into it): requests meeting the outage are answered 503 at once, the nodes connect again
by themselves and carry on, and no accepted recipient is lost."""

from __future__ import annotations

import time
from typing import Any

from tests.cluster.support import Cluster
from tests.cluster.test_cluster import sms_body, sms_section


def test_the_nodes_ride_out_a_database_restart(cluster: Cluster, smsc_factory: Any) -> None:
    smsc = smsc_factory(dlr_delay_ms=50, dlr_route="any", dlr_retries=40)
    section = {**sms_section(smsc, throughput=300, throughput_burst=30), "cluster": {"lease_s": 15.0}}
    a, b = cluster.start(0, section), cluster.start(1, section)
    numbers = [f"+44772{i:06d}" for i in range(2000)]
    assert a.post("/api/json/sendalert", sms_body(numbers[:1000])).status_code == 200
    assert b.post("/api/json/sendalert", sms_body(numbers[1000:])).status_code == 200
    cluster.wait(lambda: smsc.stats()["submit_sm"] >= 300, 60, "sending under way")
    cluster.pg.restart()

    cluster.wait(lambda: smsc.stats()["submit_sm"] >= 900, 60, "sending again after the restart")
    cluster.pg.stop()
    try:
        started = time.monotonic()
        resp = a.post("/api/json/sendalert", sms_body(["+447729999999"]))
        took = time.monotonic() - started
        assert resp.status_code == 503, resp.text
        assert resp.json()["success"] is False and "store" in resp.json()["failureReason"]
        assert resp.headers.get("retry-after")
        assert took < 10, f"answered after {took:.1f} s"
        ready = b.client().get("/readyz")
        assert ready.status_code == 503
    finally:
        cluster.pg.pg_ctl("start")

    cluster.wait(lambda: cluster.states().get("delivered", 0) == 2000, 120, "every delivery delivered")
    assert cluster.query("SELECT count(*) FROM deliveries")[0][0] == 2000
    sent = {s["dest"].lstrip("+") for s in smsc.submits() if s.get("status") == 0}
    assert sent == {n.lstrip("+") for n in numbers}
    # and the nodes take requests again
    assert a.post("/api/json/sendalert", sms_body(["+447729999999"])).status_code == 200
