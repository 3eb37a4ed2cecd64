"""Evaluation: how often the rules give accepted answers on labelled items, and how well
related-work detection finds labelled pairs."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from engine.errors import RegistryLoadError
from engine.facts import extract
from engine.labels import accepts, label_of
from engine.models import Decision, Proposal
from engine.registry import Registry, default_registry_file
from engine.ruleset import RuleSet
from engine.triage import RelatedWorkFinder, triage
from engine.yamlfile import read_model


@dataclass
class Labelled:
    """One item with the answers accepted for it ('SG17', 'joint:SG20', 'other:SG11', ...)."""

    id: str
    proposal: Proposal
    accept: list[str]


@dataclass
class Miss:
    item: Labelled
    decision: Decision


@dataclass
class EvalReport:
    """Accuracy over labelled items, the confusion table (expected x decided label) and the misses."""

    total: int = 0
    good: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    misses: list[Miss] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.good / self.total if self.total else 0.0


def evaluate(items: Iterable[Labelled], rs: RuleSet, finder: RelatedWorkFinder | None = None) -> EvalReport:
    """Triage every labelled item and compare the decision with its accepted answers."""
    report = EvalReport()
    for item in items:
        d = triage(item.proposal, rs, finder)
        report.total += 1
        report.confusion[(item.accept[0] if item.accept else "?", label_of(d))] += 1
        if accepts(item.accept, d):
            report.good += 1
        else:
            report.misses.append(Miss(item, d))
    return report



SCHEMA_PAIRS = "iotsec-triage/related-pairs@1"


class LabelledPair(BaseModel):
    """A proposal and the registry ids related-work detection should find for it."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    proposal: Proposal
    expect: list[str] = Field(default_factory=list)


class PairsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: Literal["iotsec-triage/related-pairs@1"] = Field(alias="schema")
    pairs: list[LabelledPair] = Field(min_length=1, max_length=10_000)


@dataclass
class PairResult:
    id: str
    expected: list[str]
    found: list[str]

    @property
    def missed(self) -> list[str]:
        """Expected ids that were not found."""
        return [i for i in self.expected if i not in self.found]

    @property
    def extra(self) -> list[str]:
        """Found ids that were not expected."""
        return [i for i in self.found if i not in self.expected]


@dataclass
class PairReport:
    """Micro-averaged precision and recall of related-work detection over labelled pairs."""

    results: list[PairResult]

    @property
    def true_positives(self) -> int:
        return sum(len(r.expected) - len(r.missed) for r in self.results)

    @property
    def precision(self) -> float:
        found = sum(len(r.found) for r in self.results)
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        expected = sum(len(r.expected) for r in self.results)
        return self.true_positives / expected if expected else 1.0


def default_pairs_file() -> Path:
    """The labelled pairs shipped beside the registry."""
    return default_registry_file().parent / "related_pairs.yaml"


def load_pairs(path: Path | str, registry: Registry | None = None) -> list[LabelledPair]:
    """Read a labelled-pairs file; RegistryLoadError with located issues when it is malformed."""
    doc, model, issues = read_model(path, PairsFile, f"a pairs file (schema {SCHEMA_PAIRS!r})")
    if doc is None or model is None:
        raise RegistryLoadError(issues)
    if registry is not None:
        for i, pair in enumerate(model.pairs):
            for j, rid in enumerate(pair.expect):
                if rid not in registry.by_id:
                    issues.append(doc.issue(["pairs", i, "expect", j], f"{rid!r} is not in the registry", code="reference"))
    if issues:
        raise RegistryLoadError(issues)
    return list(model.pairs)


def evaluate_pairs(pairs: list[LabelledPair], registry: Registry, rs: "RuleSet") -> PairReport:
    """Run related-work detection on every pair and compare with its labels."""
    results = []
    for pair in pairs:
        found = [r.id for r in registry.scores(pair.proposal, extract(pair.proposal, rs), rs)]
        results.append(PairResult(pair.id, list(pair.expect), found))
    return PairReport(results)
