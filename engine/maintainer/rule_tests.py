"""`rules test`: run fixture files against a rule set and count which rules each fixture fired.

The fixture format and the comparison are engine.maintainer.goldens' (load_fixtures, differences); this
module only runs them and keeps the coverage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import RuleIssue
from engine.maintainer.goldens import differences, fixture_files, load_fixtures
from engine.precedent import for_fixture
from engine.ruleset import RuleSet
from engine.triage import triage


@dataclass
class FixtureResult:
    file: str
    name: str
    differences: list[str]
    fired: list[str]

    @property
    def passed(self) -> bool:
        return not self.differences


@dataclass
class TestReport:
    """Every fixture's result, the coverage of every rule, and fixture files that did not load."""

    __test__ = False  # not a pytest class, despite the name

    results: list[FixtureResult] = field(default_factory=list)
    coverage: dict[str, int] = field(default_factory=dict)
    issues: list[RuleIssue] = field(default_factory=list)

    @property
    def failed(self) -> list[FixtureResult]:
        return [r for r in self.results if not r.passed]

    def coverage_rows(self) -> list[tuple[str, int]]:
        """(rule id, fixtures that fired it): never-fired rules first, then the least covered."""
        return sorted(self.coverage.items(), key=lambda kv: (kv[1] > 0, kv[1], kv[0]))

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": len(self.results) - len(self.failed),
            "failed": len(self.failed),
            "results": [
                {"file": r.file, "name": r.name, "passed": r.passed, "differences": r.differences, "fired": r.fired}
                for r in self.results
            ],
            "coverage": [{"rule": rid, "fixtures": n} for rid, n in self.coverage_rows()],
            "never_fired": [rid for rid, n in self.coverage_rows() if n == 0],
            "issues": [i.as_dict() for i in self.issues],
        }


def fixture_paths(target: Path) -> list[Path]:
    """A fixture file as given, or every *.yaml of a directory."""
    return [target] if target.is_file() else fixture_files(target)


def run_fixtures(rs: RuleSet, paths: list[Path]) -> TestReport:
    """Run every fixture of the files on the rules alone (no registry), keeping rule coverage."""
    report = TestReport(coverage={rid: 0 for rid in rs.rules})
    for path in paths:
        fixtures, issues = load_fixtures(path)
        if issues:
            report.issues += issues
            continue
        for fx in fixtures:
            decision = triage(fx.proposal, rs, registry=None, precedent=for_fixture(fx.precedent))
            fired = [r.rule for r in decision.reasons]
            diffs = differences(fx.expect, decision)
            unknown = [r for r in (*fx.expect.rules, *fx.expect.not_rules) if r not in rs.rules]
            if unknown:
                diffs.append(f"the fixture names rules this rule set does not have: {', '.join(unknown)}")
            report.results.append(FixtureResult(path.name, fx.name, diffs, fired))
            for rid in set(fired):
                report.coverage[rid] = report.coverage.get(rid, 0) + 1
    return report
