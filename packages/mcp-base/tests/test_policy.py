from __future__ import annotations

import logging
import timeit
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from djed.mcp_base._policy import KINDS, AuthDecision, Authorizer, Policy, Subject
from djed.mcp_base._ratelimit import BurstRule

ALICE = Subject("alice", scopes="invoices:read invoices:write", roles={"billing"})
BOB = Subject("bob", scopes=["invoices:read"], roles=["intern"], claims={"tenant": "acme"})


class FakeClock:
    """Seconds that move only when told to."""

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def quiet(policies: list[Policy], **options: Any) -> Authorizer:
    """An authorizer whose audit trail is dropped, keeping the log quiet."""
    return Authorizer(policies, audit=lambda d: None, **options)


class TestSubject:
    def test_scopes_from_a_string_or_an_iterable(self) -> None:
        """A scope string is split on spaces, like OAuth; iterables become frozensets."""
        assert ALICE.scopes == frozenset({"invoices:read", "invoices:write"})
        assert BOB.roles == frozenset({"intern"})
        assert Subject("c").claims == {}

    def test_id_and_names_are_checked(self) -> None:
        """An empty id or an empty scope raises ValueError naming the field."""
        with pytest.raises(ValueError, match=r"Subject\.id"):
            Subject("")
        with pytest.raises(ValueError, match=r"Subject\.scopes"):
            Subject("x", scopes=["ok", ""])

    def test_equal_and_hashable_without_claims(self) -> None:
        """Subjects compare by id, scopes and roles, and hash even with claims."""
        assert Subject("x", "a", claims={"t": 1}) == Subject("x", ["a"])
        assert len({Subject("x", claims={"t": [1]}), Subject("x")}) == 1


class TestPolicy:
    def test_match_covers_kind_and_name(self) -> None:
        """The glob runs over '<kind>/<name>'; * crosses slashes in resource URIs."""
        policy = Policy("resources/invoice://*")
        assert policy.matches("resources/invoice://2024/17")
        assert not policy.matches("tools/invoice://1")
        assert not Policy("tools/Search").matches("tools/search")

    def test_default_name(self) -> None:
        """Without a name a policy is called by its effect and match."""
        assert Policy("tools/*").name == "allow tools/*"
        assert Policy("tools/*", effect="deny").name == "deny tools/*"
        assert "allow tools/*" in repr(Policy("tools/*"))

    @pytest.mark.parametrize(
        ("options", "field"),
        [
            ({"match": "tool/search"}, "Policy.match"),
            ({"match": ""}, "Policy.match"),
            ({"match": "tools/*", "effect": "permit"}, "Policy.effect"),
            ({"match": "tools/*", "name": ""}, "Policy.name"),
            ({"match": "tools/*", "when": "admin"}, "Policy.when"),
            ({"match": "tools/*", "require_scopes": [""]}, "Policy.require_scopes"),
        ],
    )
    def test_malformed_policies(self, options: dict[str, Any], field: str) -> None:
        """A malformed argument raises ValueError naming it."""
        with pytest.raises(ValueError, match=field.replace(".", r"\.")):
            Policy(**options)

    def test_glob_in_kind_is_accepted(self) -> None:
        """A glob in the kind part is allowed and matches every kind."""
        policy = Policy("*/admin_*")
        assert all(policy.matches(f"{kind}/admin_x") for kind in KINDS)


class TestDefaultDeny:
    def test_no_policies_denies_everything(self) -> None:
        """Without policies every request is denied by the default rule."""
        decision = quiet([]).decide(ALICE, "tools", "search")
        assert decision == AuthDecision(
            allowed=False,
            rule="default-deny",
            reason="no policy allows 'tools/search'",
            subject_id="alice",
            target="tools/search",
        )

    def test_policies_for_other_targets_do_not_allow(self) -> None:
        """A policy only covers the targets its glob matches."""
        authorizer = quiet([Policy("tools/search"), Policy("prompts/*")])
        assert authorizer.decide(ALICE, "tools", "search").allowed
        assert authorizer.decide(ALICE, "prompts", "summary").allowed
        assert not authorizer.decide(ALICE, "tools", "delete_user").allowed
        assert not authorizer.decide(ALICE, "resources", "search").allowed

    def test_unknown_kind_is_an_error(self) -> None:
        """decide() with a kind outside KINDS raises ValueError."""
        with pytest.raises(ValueError, match="kind must be one of"):
            quiet([Policy("tools/*")]).decide(ALICE, "tool", "search")


class TestAllowAndDeny:
    def test_allow_by_pattern_names_the_policy(self) -> None:
        """An allow policy matching the target allows, and names the decision."""
        authorizer = quiet([Policy("tools/get_*", name="readers"), Policy("tools/*")])
        decision = authorizer.decide(BOB, "tools", "get_invoice")
        assert decision.allowed
        assert decision.rule == "readers"
        assert decision.reason == "allowed by policy 'readers'"

    def test_explicit_deny_wins_over_allows(self) -> None:
        """A matching deny policy that holds wins, wherever it is listed."""
        policies = [
            Policy("tools/*", name="everyone"),
            Policy("tools/delete_*", effect="deny", name="no-deletes"),
            Policy("tools/delete_user", name="deleters"),
        ]
        decision = quiet(policies).decide(ALICE, "tools", "delete_user")
        assert not decision.allowed
        assert decision.rule == "no-deletes"
        assert decision.reason == "denied by policy 'no-deletes'"

    def test_deny_holds_only_for_its_subjects(self) -> None:
        """A deny policy with roles denies only subjects with one of them."""
        authorizer = quiet(
            [
                Policy("tools/*", name="everyone"),
                Policy("tools/*", roles="intern", effect="deny", name="no-interns"),
            ]
        )
        assert authorizer.decide(ALICE, "tools", "search").allowed
        assert authorizer.decide(BOB, "tools", "search").rule == "no-interns"

    def test_duplicate_names_are_refused(self) -> None:
        """Two policies with one name would make audit lines ambiguous."""
        with pytest.raises(ValueError, match="repeated: allow tools/x"):
            Authorizer([Policy("tools/x"), Policy("tools/x")])


class TestRequirements:
    def test_missing_scopes_are_named(self) -> None:
        """A refusal lists the scopes the subject lacks, sorted."""
        policy = Policy("tools/pay", require_scopes="payments:write invoices:read", name="payers")
        decision = quiet([policy]).decide(BOB, "tools", "pay")
        assert not decision.allowed
        assert decision.rule == "default-deny"
        assert decision.reason == (
            "no policy allows 'tools/pay': 'payers' missing scopes: payments:write"
        )

    def test_all_scopes_are_required(self) -> None:
        """With every required scope the policy allows."""
        policy = Policy("tools/pay", require_scopes=["invoices:read", "invoices:write"])
        assert quiet([policy]).decide(ALICE, "tools", "pay").allowed

    def test_one_role_is_enough(self) -> None:
        """Roles are alternatives; none of them is a refusal naming them."""
        authorizer = quiet([Policy("tools/*", roles=["ops", "billing"], name="staff")])
        assert authorizer.decide(ALICE, "tools", "refund").allowed
        decision = authorizer.decide(BOB, "tools", "refund")
        assert decision.reason.endswith("'staff' needs one of roles: billing, ops")

    def test_every_unmet_policy_is_reported(self) -> None:
        """When several allow policies fail, the reason says why for each."""
        authorizer = quiet(
            [Policy("tools/*", roles="admin", name="admins"), Policy("tools/x", require_scopes="x")]
        )
        reason = authorizer.decide(BOB, "tools", "x").reason
        assert "'admins' needs one of roles: admin" in reason
        assert "'allow tools/x' missing scopes: x" in reason

    def test_when_sees_subject_and_arguments(self) -> None:
        """A when condition decides from the subject's claims and the call's arguments."""
        seen: list[tuple[str, Mapping[str, Any]]] = []

        def same_tenant(subject: Subject, arguments: Mapping[str, Any]) -> bool:
            seen.append((subject.id, arguments))
            return bool(subject.claims.get("tenant") == arguments.get("tenant"))

        authorizer = quiet([Policy("tools/list_invoices", when=same_tenant, name="tenant")])
        assert authorizer.decide(
            BOB, "tools", "list_invoices", arguments={"tenant": "acme"}
        ).allowed
        decision = authorizer.decide(BOB, "tools", "list_invoices", arguments={"tenant": "other"})
        assert decision.reason.endswith("'tenant' condition not met")
        authorizer.decide(BOB, "tools", "list_invoices")
        assert seen[-1] == ("bob", {})

    def test_raising_condition_fails_closed(self, caplog: pytest.LogCaptureFixture) -> None:
        """A when that raises fails an allow policy and holds a deny policy, logged."""

        def broken(subject: Subject, arguments: Mapping[str, Any]) -> bool:
            raise KeyError("tenant")

        allow = quiet([Policy("tools/a", when=broken, name="fragile")])
        with caplog.at_level(logging.ERROR, logger="djed.mcp_base"):
            decision = allow.decide(ALICE, "tools", "a")
        assert decision.reason.endswith("'fragile' condition raised KeyError")
        assert "condition of policy 'fragile' raised" in caplog.text
        deny = quiet([Policy("tools/*"), Policy("tools/a", when=broken, effect="deny")])
        assert deny.decide(ALICE, "tools", "a").rule == "deny tools/a"


class TestAnonymous:
    def test_no_subject_is_denied_by_ordinary_policies(self) -> None:
        """An allow policy holds for a request without a subject only when it says so."""
        authorizer = quiet([Policy("tools/*", name="users")])
        decision = authorizer.decide(None, "tools", "search")
        assert not decision.allowed
        assert decision.subject_id is None
        assert decision.reason.endswith("'users' needs an authenticated subject")

    def test_anonymous_policies_allow(self) -> None:
        """anonymous=True opens a target to requests without a subject."""
        authorizer = quiet([Policy("tools/ping", anonymous=True)])
        assert authorizer.decide(None, "tools", "ping").allowed
        assert authorizer.decide(ALICE, "tools", "ping").allowed

    def test_deny_policies_apply_to_anonymous(self) -> None:
        """A deny policy without requirements holds for anonymous requests too."""
        authorizer = quiet([Policy("tools/*", anonymous=True), Policy("tools/x", effect="deny")])
        assert authorizer.decide(None, "tools", "x").rule == "deny tools/x"


class TestAudit:
    def test_every_decision_is_logged_with_fields(self, caplog: pytest.LogCaptureFixture) -> None:
        """The audit logger gets one INFO line per decision, with structured extra fields."""
        authorizer = Authorizer([Policy("tools/search", name="search")])
        with caplog.at_level(logging.INFO, logger="djed.mcp_base.audit"):
            authorizer.decide(ALICE, "tools", "search")
            authorizer.decide(None, "tools", "drop")
        allowed, denied = caplog.records
        assert allowed.name == "djed.mcp_base.audit"
        assert allowed.levelno == logging.INFO
        fields = ("subject", "target", "decision", "rule", "reason", "requires_reauth")
        assert {f: getattr(allowed, f) for f in fields} == {
            "subject": "alice",
            "target": "tools/search",
            "decision": "allow",
            "rule": "search",
            "reason": "allowed by policy 'search'",
            "requires_reauth": False,
        }
        assert allowed.getMessage() == (
            "allow 'tools/search' for 'alice' by search: allowed by policy 'search'"
        )
        assert denied.decision == "deny"  # type: ignore[attr-defined]
        assert denied.subject is None  # type: ignore[attr-defined]
        assert denied.getMessage().startswith("deny 'tools/drop' for anonymous by default-deny")

    def test_message_stays_on_one_line(self, caplog: pytest.LogCaptureFixture) -> None:
        """Client-chosen names cannot break the audit line."""
        authorizer = Authorizer([])
        with caplog.at_level(logging.INFO, logger="djed.mcp_base.audit"):
            authorizer.decide(Subject("eve\nadmin"), "tools", "x\nallow 'tools/x'")
        (record,) = caplog.records
        assert "\n" not in record.getMessage()

    def test_custom_audit_callable(self, caplog: pytest.LogCaptureFixture) -> None:
        """With audit= every decision goes to the callable and none to the logger."""
        trail: list[AuthDecision] = []
        authorizer = Authorizer([Policy("tools/a")], audit=trail.append)
        with caplog.at_level(logging.INFO, logger="djed.mcp_base.audit"):
            first = authorizer.decide(ALICE, "tools", "a")
            second = authorizer.decide(ALICE, "tools", "b")
        assert trail == [first, second]
        assert caplog.records == []

    def test_failing_audit_fails_the_request(self) -> None:
        """An audit sink that raises stops the request instead of letting it pass unrecorded."""

        def broken(decision: AuthDecision) -> None:
            raise OSError("disk full")

        with pytest.raises(OSError, match="disk full"):
            Authorizer([Policy("tools/a")], audit=broken).decide(ALICE, "tools", "a")


class TestCache:
    def test_cache_is_bounded_and_answers_stay_right(self) -> None:
        """At most cache_size targets are remembered; evicted ones are found again."""
        authorizer = quiet([Policy("tools/a*"), Policy("tools/ab", effect="deny")], cache_size=4)
        for _ in range(3):
            for name in ("a", "ab", "b", "ac", "ad", "ae"):
                expected = name in {"a", "ac", "ad", "ae"}
                assert authorizer.decide(ALICE, "tools", name).allowed is expected
        assert len(authorizer._cache) <= 4


def burst_authorizer(clock: FakeClock, **rule: Any) -> Authorizer:
    return quiet(
        [Policy("tools/*"), Policy("tools/forbidden", effect="deny")],
        burst_rule=BurstRule(window=10.0, factor=5.0, min_requests=20, **rule),
        clock=clock,
    )


def run(
    authorizer: Authorizer,
    clock: FakeClock,
    *,
    per_second: float,
    seconds: float,
    subject: Subject = ALICE,
    name: str = "search",
) -> list[AuthDecision]:
    """Requests at a steady rate for a while, on the fake clock."""
    decisions = []
    for _ in range(round(per_second * seconds)):
        decisions.append(authorizer.decide(subject, "tools", name))
        clock.advance(1 / per_second)
    return decisions


class TestBurstRule:
    def test_steady_subject_stays_allowed(self) -> None:
        """A subject at its usual rate, even a high one, is never flagged."""
        clock = FakeClock()
        authorizer = burst_authorizer(clock)
        assert all(d.allowed for d in run(authorizer, clock, per_second=8, seconds=300))

    def test_sudden_burst_is_denied_then_recovers(self) -> None:
        """A 10x jump is refused under rule 'burst', and allowed again once it calms down."""
        clock = FakeClock()
        authorizer = burst_authorizer(clock)
        assert all(d.allowed for d in run(authorizer, clock, per_second=2, seconds=60))
        burst = run(authorizer, clock, per_second=20, seconds=10)
        refused = [d for d in burst if not d.allowed]
        assert len(refused) > len(burst) / 3
        assert all(d.rule == "burst" and not d.requires_reauth for d in refused)
        assert refused[0].reason.endswith(" requests in the last 10 s, over 5x the usual 20.0")
        assert burst[0].allowed  # the first requests of the burst are not yet suspicious
        clock.advance(10.0)  # one quiet window
        assert all(d.allowed for d in run(authorizer, clock, per_second=2, seconds=60))

    def test_sustained_burst_stays_refused(self) -> None:
        """Keeping the high rate keeps the subject refused: the burst is not learnt."""
        clock = FakeClock()
        authorizer = burst_authorizer(clock)
        run(authorizer, clock, per_second=2, seconds=60)
        run(authorizer, clock, per_second=20, seconds=10)
        later = run(authorizer, clock, per_second=20, seconds=120)
        assert not any(d.allowed for d in later)

    def test_reauth_action_flags_the_decision(self) -> None:
        """With action='reauth' refusals carry requires_reauth, and forgive() clears them."""
        clock = FakeClock()
        authorizer = burst_authorizer(clock, action="reauth")
        run(authorizer, clock, per_second=2, seconds=60)
        burst = run(authorizer, clock, per_second=20, seconds=10)
        refused = [d for d in burst if not d.allowed]
        assert refused
        assert all(d.requires_reauth and d.rule == "burst" for d in refused)
        authorizer.forgive("alice")
        assert authorizer.decide(ALICE, "tools", "search").allowed

    def test_other_subjects_are_unaffected(self) -> None:
        """One subject's burst does not touch another's decisions."""
        clock = FakeClock()
        authorizer = burst_authorizer(clock)
        run(authorizer, clock, per_second=2, seconds=60)
        run(authorizer, clock, per_second=2, seconds=60, subject=BOB)
        run(authorizer, clock, per_second=20, seconds=10)
        assert authorizer.decide(BOB, "tools", "search").allowed

    def test_policy_denials_keep_their_rule(self) -> None:
        """A request the policies deny keeps the policy's rule during a burst."""
        clock = FakeClock()
        authorizer = burst_authorizer(clock)
        run(authorizer, clock, per_second=2, seconds=60)
        burst = run(authorizer, clock, per_second=20, seconds=10, name="forbidden")
        assert {d.rule for d in burst} == {"deny tools/forbidden"}

    def test_below_min_requests_is_never_flagged(self) -> None:
        """A quiet subject jumping 10x but staying under min_requests is left alone."""
        clock = FakeClock()
        authorizer = burst_authorizer(clock)
        run(authorizer, clock, per_second=0.1, seconds=300)
        assert all(d.allowed for d in run(authorizer, clock, per_second=1.5, seconds=30))

    def test_anonymous_requests_are_not_tracked(self) -> None:
        """Requests without a subject never trip the burst rule."""
        clock = FakeClock()
        authorizer = quiet([Policy("tools/*", anonymous=True)], burst_rule=BurstRule(), clock=clock)
        decisions = [authorizer.decide(None, "tools", "x") for _ in range(500)]
        assert all(d.allowed for d in decisions)

    def test_forgive_without_rule_or_subject_is_harmless(self) -> None:
        """forgive() is a no-op without a burst rule or for an unknown subject."""
        quiet([]).forgive("alice")
        burst_authorizer(FakeClock()).forgive("nobody")

    @pytest.mark.parametrize(
        ("options", "field"),
        [
            ({"window": 0}, "window"),
            ({"factor": 1}, "factor"),
            ({"half_life": float("inf")}, "half_life"),
            ({"min_requests": 0}, "min_requests"),
            ({"max_subjects": 2.5}, "max_subjects"),
            ({"action": "block"}, "action"),
        ],
    )
    def test_validation_names_the_field(self, options: dict[str, Any], field: str) -> None:
        """Out-of-range settings raise ValueError naming the field."""
        with pytest.raises(ValueError, match=rf"BurstRule\.{field}"):
            BurstRule(**options)

    def test_subjects_are_bounded(self) -> None:
        """Past max_subjects the longest idle subject is forgotten."""
        clock = FakeClock()
        authorizer = quiet([Policy("tools/*")], burst_rule=BurstRule(max_subjects=5), clock=clock)
        for i in range(50):
            authorizer.decide(Subject(f"s{i}"), "tools", "x")
        assert authorizer._burst is not None
        assert len(authorizer._burst._tracks) == 5


def fifty_policies() -> list[Policy]:
    policies = [Policy(f"tools/area{i}_*", require_scopes=[f"area{i}"]) for i in range(40)]
    policies += [Policy(f"resources/doc{i}://*", roles=["reader"]) for i in range(5)]
    policies += [Policy(f"tools/area{i}_drop*", effect="deny", roles="intern") for i in range(4)]
    policies.append(Policy("tools/area7_*", when=lambda s, a: a.get("limit", 0) < 100, name="lim"))
    return policies


class TestPerformance:
    @pytest.mark.parametrize(
        ("label", "audit"),
        [("audit callable", lambda d: None), ("audit logger, INFO off", None)],
    )
    def test_microseconds_per_decision(
        self,
        label: str,
        audit: Callable[[AuthDecision], None] | None,
        record_property: Callable[[str, object], None],
    ) -> None:
        """Reports (does not assert) the cost of one decision among fifty policies."""
        authorizer = Authorizer(fifty_policies(), audit=audit)
        subject = Subject("perf", scopes=[f"area{i}" for i in range(0, 40, 3)], roles="reader")
        arguments = {"limit": 5}
        targets = [("tools", f"area{i}_op{i % 3}") for i in range(40)]
        targets += [("resources", f"doc{i}://x/{i}") for i in range(5)]

        def decide_all() -> None:
            for kind, name in targets:
                authorizer.decide(subject, kind, name, arguments=arguments)

        decide_all()  # fill the target cache, as a running server would have
        rounds = 200
        best = min(timeit.repeat(decide_all, number=rounds, repeat=5))
        micros = best / (rounds * len(targets)) * 1e6
        record_property(f"us_per_decision[{label}]", round(micros, 2))
        print(f"\n{label}: {micros:.2f} us per decision ({len(fifty_policies())} policies)")
