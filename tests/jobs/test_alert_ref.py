"""Alert refs are UUIDs of version 7: they sort by the millisecond they were made, and keep 74 random bits."""

from __future__ import annotations

import uuid

from alertnode.jobs.intake import new_alert_ref


def test_alert_refs_are_uuid7_in_time_order_and_distinct() -> None:
    times = [1_790_000_000.0 + n * 0.001 for n in range(500)]
    refs = [new_alert_ref(t) for t in times]
    parsed = [uuid.UUID(r) for r in refs]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert refs == sorted(refs)  # later millisecond, later in every index keyed by alert_ref
    assert [u.int >> 80 for u in parsed] == [int(t * 1000) for t in times]  # the millisecond first
    same_ms = {new_alert_ref(1_790_000_000.0) for _ in range(1000)}
    assert len(same_ms) == 1000  # the random bits tell apart alerts of one millisecond
