"""In-process figures: per-decision latency, batch throughput, and the cost of 100 / 1,000 more rules.

Run: .venv/bin/python bench/engine_bench.py   (prints figures; asserts nothing)
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import TYPICAL, synthetic_rules_dir  # noqa: E402
from engine import Proposal, load_rules, triage  # noqa: E402
from engine.fixtures import fixture_files, load_fixtures  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def latency(rs, proposal: Proposal, registry=None, n: int = 3_000) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    for _ in range(200):
        triage(proposal, rs, registry)
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        triage(proposal, rs, registry)
        samples.append(time.perf_counter() - t)
    samples.sort()
    return statistics.median(samples) * 1e6, samples[int(len(samples) * 0.99)] * 1e6


def main() -> None:
    proposal = Proposal.model_validate(TYPICAL)
    size = len(proposal.model_dump_json())
    tmp = Path(tempfile.mkdtemp(prefix="iotsec-bench-"))
    print(f"typical proposal: {size} bytes of JSON")
    base = load_rules(synthetic_rules_dir(tmp / "r0", 0))
    p50, p99 = latency(base, proposal)
    print(f"bundled rules ({len(base.rules)} rules, {len(base.host.shards)} shard(s)): p50 {p50:.0f} us, p99 {p99:.0f} us per decision")
    try:
        from engine.registry import load_default_registry
        registry = load_default_registry()
        r50, r99 = latency(base, proposal, registry)
        print(f"  with the registry (related work): p50 {r50:.0f} us, p99 {r99:.0f} us")
    except ImportError:
        registry = None

    items: list[Proposal] = []
    for path in fixture_files(ROOT / "fixtures" / "proposals"):
        items += [f.proposal for f in load_fixtures(path)[0]]
    items.append(proposal)
    batch = [items[i % len(items)] for i in range(10_000)]
    t = time.perf_counter()
    for p in batch:
        triage(p, base)
    dt = time.perf_counter() - t
    print(f"batch of 10,000 (fixtures + typical, one core): {len(batch) / dt:,.0f} decisions/s")

    for extra in (100, 1_000):
        rs = load_rules(synthetic_rules_dir(tmp / f"r{extra}", extra))
        e50, e99 = latency(rs, proposal)
        largest = max(len(s.rule_ids) for s in rs.host.shards)
        print(f"bundled + {extra} synthetic rules ({len(rs.rules)} rules, {len(rs.host.shards)} shards, largest {largest}): "
              f"p50 {e50:.0f} us, p99 {e99:.0f} us = {e50 / p50:.2f}x the bundled p50")
        rs.close()


if __name__ == "__main__":
    main()
