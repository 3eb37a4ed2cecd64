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
from pathlib import Path

from bench.common import TYPICAL, synthetic_rules_dir
from engine import Proposal, load_rules, triage
from engine.maintainer.goldens import fixture_files, load_fixtures
from engine.registry import load_default_registry

ROOT = Path(__file__).resolve().parent.parent
PER_ROUND = 600


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

    cases: dict[str, Callable[[], object]] = {
        "bundled": lambda: triage(proposal, base),
        "registry": lambda: triage(proposal, base, registry),
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
