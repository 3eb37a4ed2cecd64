"""Related-work cost per proposal: Registry.scores() / related() over the bundled registry.

Prints figures; never asserts timings. Run: python -m bench.registry_bench
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from engine import bundled_rules_dir, load_rules
from engine.facts import extract
from engine.maintainer.evaluation import default_pairs_file, load_pairs
from engine.maintainer.goldens import fixture_files, load_fixtures
from engine.registry import load_default_registry

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Time related() on the golden proposals and the labelled pairs."""
    registry = load_default_registry()
    rs = load_rules(bundled_rules_dir(), registry.owners())
    proposals = [f.proposal for p in fixture_files(ROOT / "fixtures" / "proposals") for f in load_fixtures(p)[0]]
    proposals += [p.proposal for p in load_pairs(default_pairs_file(), registry)]
    prepared = [(p, extract(p, rs)) for p in proposals]
    start = time.perf_counter()
    registry.concept_index(rs)
    build = time.perf_counter() - start
    for p, f in prepared:  # warm-up
        registry.related(p, f, "SG17", "SG17", rs)
    rounds = 50
    per: list[float] = []
    for p, f in prepared:
        start = time.perf_counter()
        for _ in range(rounds):
            registry.related(p, f, "SG17", "SG17", rs)
        per.append((time.perf_counter() - start) / rounds * 1e6)
    per.sort()
    print(f"registry: {len(registry)} items; proposals: {len(prepared)}; {rounds} rounds each")
    print(f"concept index (once per rule-set revision): {build * 1e3:.2f} ms")
    print(
        f"related() per proposal (facts already extracted): median {statistics.median(per):.1f} us, "
        f"p90 {per[int(len(per) * 0.9)]:.1f} us, mean {statistics.fmean(per):.1f} us, max {per[-1]:.1f} us"
    )


if __name__ == "__main__":
    main()
