from datetime import UTC, datetime

from alertnode.jobs import lookups

NOW = datetime(2026, 7, 4, 13, 5, 9, tzinfo=UTC).timestamp()


def ctx(**kw: object) -> lookups.LookupContext:
    base: dict[str, object] = dict(now=NOW, recipient="+447700900123", sender="ALERTS", alert_ref="ref-1",
                                   reference="client-1", alert_type="sms", shortlink="http://x/s/tok",
                                   contact={"firstname": "adam"})
    base.update(kw)
    return lookups.LookupContext(**base)  # type: ignore[arg-type]


def test_render_every_builtin() -> None:
    text = "{recipient}|{sender}|{alertid}|{reference}|{type}|{shortlink}|{firstname}"
    assert lookups.render(text, ctx()) == "+447700900123|ALERTS|ref-1|client-1|sms|http://x/s/tok|adam"


def test_datetime_default_zone_and_format() -> None:
    assert lookups.render("{datetime--DD/MM/YYYY}", ctx()) == "04/07/2026"
    assert lookups.render("{datetime--HH:mm:ss}", ctx()) == "13:05:09"


def test_datetime_with_zone_including_dashes() -> None:
    assert lookups.render("{datetime-America/Los_Angeles-YYYY-MM-DD HH:mm}", ctx()) == "2026-07-04 06:05"
    assert lookups.render("{datetime-America/Port-au-Prince-HH}", ctx()) == "09"


def test_check_reports_unknown_and_unique() -> None:
    problems = lookups.check("{recipient} {nope} {datetime-Mars/Base-DD}", unique=False,
                             contact_keys=frozenset(), path="alert[0].content")
    messages = [m for _, m in problems]
    assert any("uniqueLookups" in m for m in messages)
    assert any("{nope}" in m for m in messages)
    assert any("Mars/Base" in m for m in messages)


def test_check_accepts_contact_keys() -> None:
    assert lookups.check("Hi {firstname}", unique=False, contact_keys=frozenset({"firstname"}), path="p") == []


def test_a_lookup_the_recipient_lacks_renders_empty() -> None:
    # keywords nobody holds are refused at accept time; one this recipient lacks must not reach it in braces
    assert lookups.render("Hi {nickname}!", ctx()) == "Hi !"
