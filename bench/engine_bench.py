"""In-process figures: per-decision latency, batch throughput, and the cost of 100 / 1,000 more rules.

The configurations are measured in interleaved rounds (each round times every configuration in
turn), so that a slow spell of a shared machine falls on all of them alike and the ratios hold.

Run: .venv/bin/python -m bench.engine_bench [--rounds 7]   (prints figures; asserts nothing)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import TYPICAL, synthetic_rules_dir
from engine import Proposal, load_rules, triage
from engine.facts import Facts, extract
from engine.maintainer.goldens import fixture_files, load_fixtures
from engine.models import Flag, RelatedWork
from engine.precedent import Precedent
from engine.registry import load_default_registry
from engine.ruleset import RuleSet
from engine.triage import trace

ROOT = Path(__file__).resolve().parent.parent
PER_ROUND = 600


@dataclass
class _Given:
    """A precedent source and related-work finder answering what was computed beforehand."""

    answer: Precedent
    found: tuple[list[RelatedWork], list[Flag]] | None

    def precedent(self, proposal: Proposal, facts: Facts, rs: RuleSet) -> Precedent:
        return self.answer

    def related(
        self, proposal: Proposal, facts: Facts, home: str, lead: str | None, rs: RuleSet
    ) -> tuple[list[RelatedWork], list[Flag]]:
        assert self.found is not None
        return self.found


def interleaved(cases: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each case, `rounds` x PER_ROUND samples, the cases taking turns."""
    for run in cases.values():  # warm-up: caches, evidence plans, engine sessions
        for _ in range(200):
            run()
    samples: dict[str, list[float]] = {name: [] for name in cases}
    clock = time.perf_counter
    for _ in range(rounds):
        for name, run in cases.items():
            out = samples[name]
            for _ in range(PER_ROUND):
                t = clock()
                run()
                out.append(clock() - t)
    return samples


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    proposal = Proposal.model_validate(TYPICAL)
    tmp = Path(tempfile.mkdtemp(prefix="iotsec-bench-"))
    base = load_rules(synthetic_rules_dir(tmp / "r0", 0))
    registry = (
        load_default_registry().enable_precedent()
    )  # the full registry: related work and precedent, as the doors run it
    more = {n: load_rules(synthetic_rules_dir(tmp / f"r{n}", n)) for n in (100, 1_000)}
    print(
        f"typical proposal: {len(proposal.model_dump_json())} bytes of JSON; {args.rounds} interleaved rounds of "
        f"{PER_ROUND}"
    )

    # The same decision with the registry's answers given (computed once, beforehand): what is
    # left is what those answers cost downstream (more rules fire, more evidence and flags).
    facts = extract(proposal, base)
    given_precedent = _Given(registry.precedent(proposal, facts, base), None)
    first = trace(proposal, base, registry)
    given_both = _Given(
        given_precedent.answer,
        (first.related, registry.related(proposal, first.facts, first.outcome.home, first.outcome.lead, base)[1]),
    )
    cases: dict[str, Callable[[], object]] = {
        "bundled": lambda: triage(proposal, base),
        "registry": lambda: triage(proposal, base, registry),
        "precedent given": lambda: triage(proposal, base, registry, precedent=given_precedent),
        "both given": lambda: triage(proposal, base, given_both, precedent=given_precedent),
        **{f"+{n}": (lambda rs=rs: triage(proposal, rs)) for n, rs in more.items()},
    }
    samples = interleaved(cases, args.rounds)
    b50 = statistics.median(samples["bundled"]) * 1e6
    print(
        f"bundled rules ({len(base.rules)} rules, {len(base.host.shards)} shard(s)): "
        f"p50 {b50:.0f} us, p99 {p(samples['bundled'], 0.99):.0f} us per decision"
    )
    r50 = statistics.median(samples["registry"]) * 1e6
    print(
        f"  with the full registry ({len(registry)} items: related work and precedent): p50 {r50:.0f} us, "
        f"p99 {p(samples['registry'], 0.99):.0f} us = {r50 / b50:.2f}x the rules-only p50 (target <= 2x)"
    )
    g1, g2 = (statistics.median(samples[k]) * 1e6 for k in ("precedent given", "both given"))
    print(
        f"    where the {r50 - b50:.0f} us go: precedent signals computed {r50 - g1:.0f} us, related work computed "
        f"{g1 - g2:.0f} us, what the answers add downstream (rules, evidence, flags) {g2 - b50:.0f} us"
    )
    for n, rs in more.items():
        s = samples[f"+{n}"]
        largest = max(len(sh.rule_ids) for sh in rs.host.shards)
        e50 = statistics.median(s) * 1e6
        print(
            f"bundled + {n} synthetic rules ({len(rs.rules)} rules, {len(rs.host.shards)} shards, largest {largest}): "
            f"p50 {e50:.0f} us, p99 {p(s, 0.99):.0f} us = {e50 / b50:.2f}x the bundled p50"
        )

    items: list[Proposal] = []
    for path in fixture_files(ROOT / "fixtures" / "proposals"):
        items += [f.proposal for f in load_fixtures(path)[0]]
    items.append(proposal)
    batch = [items[i % len(items)] for i in range(10_000)]
    t = time.perf_counter()
    for one in batch:
        triage(one, base)
    dt = time.perf_counter() - t
    print(f"batch of 10,000 (fixtures + typical, one core): {len(batch) / dt:,.0f} decisions/s")
    for rs in (base, *more.values()):
        rs.close()


if __name__ == "__main__":
    main()
