"""E-mail address syntax, refused domains and mailbox keys (node/mail/addresses.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from alertnode.mail.addresses import DomainPolicy, glob_problem, mailbox_key, normalize_address
from alertnode.mail.config import MailConfig


def test_special_use_and_internal_domains_are_valid() -> None:
    for address in (
        "a@plant.local",
        "ops@localhost",
        "x@test",
        "x@sub.test",
        "x@corp",
        "x@foo.invalid",
        "x@10.in-addr.arpa",
        "first.last+tag@ad.example.local",
    ):
        assert normalize_address(address) == address, address


def test_normal_form() -> None:
    assert normalize_address("  Bob.Smith@Plant.LOCAL ") == "Bob.Smith@plant.local"
    assert normalize_address("Ops@LocalHost") == "Ops@localhost"
    assert normalize_address("jürgen@bücher.local") == "jürgen@bücher.local"
    assert normalize_address("a@xn--bcher-kva.local") == "a@bücher.local"
    assert normalize_address("ann@example.org") == "ann@example.org"


def test_malformed_addresses_are_refused() -> None:
    for address in (
        "",
        "plain",
        "@plant.local",
        "a@",
        "a@@plant.local",
        "a b@plant.local",
        "a@plant..local",
        "a@plant.local.",
        "a@-plant.local",
        "a@plant_x.local",
        "Ann <a@plant.local>",
        '"quoted"@plant.local',
        "a@[10.0.0.1]",
        "a@" + "x" * 64 + ".local",
        "a@plant\n.local",
        "a\r\n@plant.local",
    ):
        assert normalize_address(address) is None, address


@settings(deadline=None)  # timing is not what this checks
@given(st.text(max_size=80))
def test_never_raises_and_a_normal_form_is_stable(text: str) -> None:
    found = normalize_address(text)
    if found is not None:
        assert normalize_address(found) == found


def test_refused_domains_are_globs_on_the_ascii_domain() -> None:
    policy = DomainPolicy.of(["*.invalid", "localhost", "*.BÜCHER.example"])
    assert policy.refused_by("a@foo.invalid") == "*.invalid"
    assert policy.refused_by("a@invalid") is None  # *.x is the sub-domains of x, not x itself
    assert policy.refused_by("ops@LocalHost") == "localhost"
    assert policy.refused_by("a@mx.bücher.example") == "*.xn--bcher-kva.example"
    assert policy.refused_by("a@plant.local") is None
    assert DomainPolicy.of([]).refused_by("a@anything") is None


def test_refused_domain_globs_are_checked_at_their_config_key() -> None:
    assert glob_problem("*.local") is None and glob_problem("ex?mple.[a-c]om") is None
    assert glob_problem("") == "is empty"
    assert glob_problem("a@b.local") is not None
    assert glob_problem("bad domain") is not None
    problems = MailConfig(refuse_domains=["*.invalid", "x y", "ops@corp"]).problems("mail")
    assert [p.path for p in problems] == ["mail.refuse_domains.1", "mail.refuse_domains.2"]


def test_mailbox_key_ignores_case_and_idna_spelling() -> None:
    assert mailbox_key("Bob.Smith@Plant.Local") == mailbox_key("bob.smith@plant.local")
    assert mailbox_key("a@bücher.local") == mailbox_key("A@xn--bcher-kva.local")
    assert mailbox_key("a@plant.local") != mailbox_key("b@plant.local")
    assert mailbox_key("no address") == ""


def test_the_node_s_own_domain_and_reply_domains_may_be_internal() -> None:
    config = MailConfig(domain="plant.local", reply_domains=["localhost", "replies.plant.local", "corp"])
    assert config.problems("mail") == []
    assert config.accepted_domains() == ("localhost", "replies.plant.local", "corp")
