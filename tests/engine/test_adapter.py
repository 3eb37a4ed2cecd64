"""The durable_rules adapter: each hazard of docs/durable-rules.md has a test that it cannot reach a user."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from engine import EngineError, Proposal, RuleSet, adapter, load_rules, triage
from engine.facts import extract


def _conditions(n: int, signals: int = 40) -> list[adapter.Condition]:
    return [adapter.Condition(f"r{i}", all=(f"s{i % signals}",), min=((f"s{(i * 7) % signals}", 1),)) for i in range(n)]


def test_one_reused_session_per_shard_and_empty_between_evaluations(ruleset: RuleSet) -> None:
    proposal = Proposal(title="Security guidelines for smart metering in smart grids")
    triage(proposal, ruleset)
    opened = adapter.open_sessions()
    for _ in range(1_500):  # more than the 1,024 live sessions that crash the library
        triage(proposal, ruleset)
    assert adapter.open_sessions() == opened
    # Shards none of whose rules can fire (the precedent rules without a registry) open no session.
    assert any(s.sid is not None for s in ruleset.host.shards)
    assert adapter.leftover_facts(ruleset.host) == 0


def test_reused_sessions_fire_what_fresh_sessions_fire(ruleset: RuleSet) -> None:
    from engine.maintainer.goldens import fixture_files, load_fixtures

    host = ruleset.host
    for path in fixture_files(Path(__file__).resolve().parents[2] / "fixtures" / "proposals"):
        for fixture in load_fixtures(path)[0]:
            signals = extract(fixture.proposal, ruleset).signals
            reused = host.evaluate(signals)
            with adapter.ENGINE_LOCK:
                for shard in host.shards:
                    adapter._discard(shard)
            assert host.evaluate(signals) == reused, fixture.proposal.title
    assert adapter.leftover_facts(host) == 0


def test_skipping_parts_never_changes_what_fires() -> None:
    import random

    rng = random.Random(3)
    names = [f"s{i}" for i in range(60)]
    conditions = [
        adapter.Condition(
            f"r{i}",
            all=tuple(rng.sample(names, 1)),
            min=((rng.choice(names), rng.randint(1, 3)),),
            any=tuple(rng.sample(names, 2)) if i % 3 == 0 else (),
            none=(rng.choice(names),) if i % 4 == 0 else (),
        )
        for i in range(300)
    ]
    host = adapter.build_host(conditions, shard_size=40, title_level=3, label="skip")
    every_part = {
        layer: ({}, frozenset(p.number for s in host.shards for p in s.parts if p.layer == layer))
        for layer in host.index
    }
    asserted: list[int] = []
    counts = {"skipping": 0, "every part": 0}
    real_assert = adapter._dre.assert_fact

    def counting_assert(handle: int, fact: str) -> tuple[int, int]:
        asserted.append(handle)
        return real_assert(handle, fact)  # type: ignore[no-any-return]

    try:
        adapter._dre.assert_fact = counting_assert
        for _ in range(200):
            signals = {n: rng.choice((0,) * 9 + (1, 2, 3)) for n in names}  # sparse, as proposals are
            skipping = host.evaluate(signals)
            counts["skipping"] += len(asserted)
            asserted.clear()
            index, host.index = host.index, every_part
            assert sorted(host.evaluate(signals)) == sorted(skipping)
            host.index = index
            counts["every part"] += len(asserted)
            asserted.clear()
        assert counts["skipping"] < counts["every part"], counts
    finally:
        adapter._dre.assert_fact = real_assert
        host.close()


def _holds(c: adapter.Condition, signals: dict[str, int], title_level: int = 3) -> bool:
    """What a condition means, written plainly: the engine must fire exactly these."""
    get = signals.get
    return (
        all(get(s, 0) > 0 for s in c.all)
        and all(get(s, 0) == 0 for s in c.none)
        and all(get(s, 0) >= title_level for s in c.in_title)
        and all(get(s, 0) >= n for s, n in c.min)
        and all(get(s, 0) <= n for s, n in c.max)
        and (not c.any or any(get(s, 0) > 0 for s in c.any))
    )


def test_engine_fires_exactly_what_the_conditions_say() -> None:
    """Sparse facts leave zero signals out, except those read by `none` and `max`: every kind of
    test must still read a missing signal as 0, across shards and across repeated use."""
    import random

    rng = random.Random(11)
    names = [f"s{i}" for i in range(50)]

    def pick(k: int) -> tuple[str, ...]:
        return tuple(rng.sample(names, k))

    conditions = [
        adapter.Condition(
            f"r{i}",
            all=pick(rng.randint(0, 1)),
            none=pick(rng.randint(0, 2)),
            in_title=pick(1) if i % 7 == 0 else (),
            min=tuple((s, rng.randint(0, 3)) for s in pick(rng.randint(0, 1))),
            max=tuple((s, rng.randint(0, 2)) for s in pick(rng.randint(0, 2))),
            any=pick(rng.randint(0, 3)),
        )
        for i in range(400)
    ]
    host = adapter.build_host(conditions, shard_size=60, title_level=3, label="meaning")
    try:
        assert len(host.shards) > 1
        for _ in range(300):
            signals = {n: rng.choice((0,) * 6 + (1, 2, 3)) for n in names}
            expected = sorted(c.rule_id for c in conditions if _holds(c, signals))
            assert sorted(host.evaluate(signals)) == expected
        assert adapter.leftover_facts(host) == 0
    finally:
        host.close()


def test_failure_inside_evaluation_is_raised_and_session_deleted(
    ruleset: RuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    deleted: list[str] = []
    real_delete = adapter._dre.delete_state

    def boom(handle: int, state: int) -> str:
        raise RuntimeError("simulated failure inside an action")

    def spy_delete(handle: int, sid: str) -> None:
        deleted.append(sid)
        real_delete(handle, sid)

    monkeypatch.setattr(adapter._dre, "complete_and_start_action", boom)
    monkeypatch.setattr(adapter._dre, "delete_state", spy_delete)
    with pytest.raises(EngineError, match="simulated failure"):
        triage(Proposal(title="Security requirements for IoT gateways"), ruleset)
    assert deleted, "the session was not deleted after the failure"
    # The failing shard's session is gone (shards skipped without a firing rule may keep an empty one).
    assert any(s.sid is None for s in ruleset.host.shards)
    monkeypatch.undo()
    assert triage(Proposal(title="Security requirements for IoT gateways"), ruleset).home == "SG17"
    assert adapter.leftover_facts(ruleset.host) == 0


def test_closing_deletes_the_sessions(rules_copy: Path) -> None:
    rs = load_rules(rules_copy)
    before = adapter.open_sessions()
    triage(Proposal(title="Security requirements for IoT gateways"), rs)
    used = sum(s.sid is not None for s in rs.host.shards)  # shards that could fire opened a session
    assert used >= 1 and adapter.open_sessions() == before + used
    rs.close()
    assert adapter.open_sessions() == before


def test_engine_exceptions_never_leak_as_library_errors(monkeypatch: pytest.MonkeyPatch, ruleset: RuleSet) -> None:
    def refuse(handle: int, fact: str) -> tuple[int, int]:
        raise Exception("Could not assert fact, error code: 302")  # what the C core raises

    monkeypatch.setattr(adapter._dre, "assert_fact", refuse)
    with pytest.raises(EngineError):
        ruleset.host.evaluate({"internet_of_things": 3, "iot_top": 3})


def test_no_ruleset_reaches_512_rules() -> None:
    conditions = _conditions(1_200)
    host = adapter.build_host(conditions, shard_size=500, title_level=3, label="big")
    try:
        assert all(len(s.rule_ids) <= 500 for s in host.shards)
        assert sum(len(s.rule_ids) for s in host.shards) == 1_200
        fired = host.evaluate({f"s{i}": 1 for i in range(40)})  # would hang with 512+ in one ruleset
        assert len(fired) == 1_200
    finally:
        host.close()


def test_shards_respect_the_fact_property_limit() -> None:
    conditions = [adapter.Condition(f"r{i}", all=(f"s{i}",)) for i in range(600)]
    host = adapter.build_host(conditions, shard_size=500, title_level=3, label="wide")
    try:
        assert all(len(p.signals) <= adapter.MAX_SHARD_SIGNALS for s in host.shards for p in s.parts)
        assert len(host.evaluate({f"s{i}": 1 for i in range(600)})) == 600
    finally:
        host.close()


def test_compiled_rules_never_use_regex_matching(ruleset: RuleSet) -> None:
    from engine.ruleset import to_condition

    definition = json.dumps(adapter._definition([to_condition(r, 0) for r in ruleset.rules.values()], 3))
    assert "$mt" not in definition and "$imt" not in definition


def test_fact_matching_no_rule_is_harmless() -> None:
    host = adapter.build_host([adapter.Condition("only", all=("x",))], 64, 3, "empty")
    try:
        for _ in range(2_000):  # delete_state after an unmatched fact corrupted the heap
            assert host.evaluate({"x": 0}) == []
    finally:
        host.close()


def test_threads_get_the_same_answers(ruleset: RuleSet) -> None:
    proposals = [
        Proposal(title=t)
        for t in (
            "Security requirements for roadside units",
            "Functional architecture of smart water metering",
            "Counterfeit IoT module detection",
            "Zero trust access control for IoT platforms",
        )
    ]
    expected = [triage(p, ruleset).home for p in proposals]
    errors: list[BaseException] = []
    results: list[list[str]] = []

    def work() -> None:
        try:
            for _ in range(100):
                results.append([triage(p, ruleset).home for p in proposals])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert len(results) == 800 and all(r == expected for r in results)
    assert adapter.leftover_facts(ruleset.host) == 0


def test_rule_sets_load_side_by_side_and_close_alone(rules_copy: Path) -> None:
    first = load_rules(rules_copy)
    second = load_rules(rules_copy)  # same rules, registered again: no name clash
    proposal = Proposal(title="Security guidelines for in-vehicle networks")
    assert triage(proposal, first).home == triage(proposal, second).home == "SG17"
    first.close()
    with pytest.raises(EngineError):
        triage(proposal, first)
    assert triage(proposal, second).home == "SG17"
    second.close()


def test_facts_carry_signals_not_prose(ruleset: RuleSet) -> None:
    facts = extract(Proposal(title="V2X PKI for connected vehicles", summary="x" * 2000), ruleset)
    assert all(isinstance(v, int) for v in facts.signals.values())
    assert facts.signals["its_vehicle"] == 3 and facts.signals["pki"] == 3


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs /proc to read the current RSS")
def test_reused_sessions_keep_no_memory(ruleset: RuleSet) -> None:
    """A fact left behind costs about 7 KB (docs/durable-rules.md): 10,000 evaluations that forgot to
    retract would grow the process by about 140 MB."""
    import os

    from engine.maintainer.goldens import fixture_files, load_fixtures

    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * page

    signals = [
        extract(f.proposal, ruleset).signals
        for path in fixture_files(Path(__file__).resolve().parents[2] / "fixtures" / "proposals")
        for f in load_fixtures(path)[0]
    ]
    for s in signals:  # warm up: first-use allocations are not growth
        ruleset.host.evaluate(s)
    before = rss()
    for i in range(10_000):
        ruleset.host.evaluate(signals[i % len(signals)])
    assert (rss() - before) / 2**20 < 10
    assert adapter.leftover_facts(ruleset.host) == 0
