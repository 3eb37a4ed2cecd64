"""Evaluation: how often the rules give accepted answers on labelled items, and how well
related-work detection finds labelled pairs."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from engine.errors import RegistryLoadError
from engine.facts import extract
from engine.intake.records import describe_validation
from engine.labels import accepts, label_of
from engine.models import Decision, Proposal
from engine.precedent import PrecedentSource
from engine.registry import Registry, default_registry_file
from engine.registry.precedent import PrecedentIndex, leave_out
from engine.ruleset import RuleSet
from engine.triage import RelatedWorkFinder, triage
from engine.yamlfile import read_model


@dataclass
class Labelled:
    """One item with the answers accepted for it ('SG17', 'joint:SG20', 'other:SG11', ...)."""

    id: str
    proposal: Proposal
    accept: list[str]
    joint: bool = False  # marked "joint": true: joint work is expected
    owner: str = ""  # the Study Group that holds it, when known


@dataclass
class Miss:
    item: Labelled
    decision: Decision


# Confidence bands, highest first: (lower bound, name). README "Confidence" documents them.
BANDS = ((0.85, "high >= 0.85"), (0.7, "medium 0.70-0.85"), (0.5, "low 0.50-0.70"), (0.0, "weak < 0.50"))


def band(confidence: float) -> str:
    return next(name for lo, name in BANDS if confidence >= lo)


@dataclass
class Row:
    """One judged item."""

    item: Labelled
    decision: Decision

    @property
    def good(self) -> bool:
        return accepts(self.item.accept, self.decision)

    @property
    def review(self) -> bool:
        return any(f.code == "NEEDS_REVIEW" for f in self.decision.flags)

    @property
    def expected(self) -> str:
        return self.item.owner or (self.item.accept[0] if self.item.accept else "?")


@dataclass
class EvalReport:
    """Accuracy over labelled items, the confusion table (expected x decided label), the misses,
    and per item what is needed for recall per SG, review recall and load, and confidence bands."""

    total: int = 0
    good: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    misses: list[Miss] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.good / self.total if self.total else 0.0

    def add(self, item: Labelled, d: Decision) -> None:
        row = Row(item, d)
        self.rows.append(row)
        self.total += 1
        self.confusion[(row.expected, label_of(d))] += 1
        if row.good:
            self.good += 1
        else:
            self.misses.append(Miss(item, d))

    def recall_by_sg(self) -> dict[str, tuple[int, int]]:
        """Expected SG -> (right, items), most items first."""
        out: dict[str, list[int]] = {}
        for r in self.rows:
            c = out.setdefault(r.expected.split(":")[-1], [0, 0])
            c[0] += r.good
            c[1] += 1
        return {k: (v[0], v[1]) for k, v in sorted(out.items(), key=lambda kv: -kv[1][1])}

    @property
    def review_recall(self) -> float:
        """Share of the wrong answers that carry NEEDS_REVIEW."""
        wrong = [r for r in self.rows if not r.good]
        return sum(r.review for r in wrong) / len(wrong) if wrong else 1.0

    @property
    def review_load(self) -> float:
        """Share of all answers that carry NEEDS_REVIEW."""
        return sum(r.review for r in self.rows) / len(self.rows) if self.rows else 0.0

    def joint_recall(self) -> tuple[int, int]:
        """(joint answers, items marked joint)."""
        marked = [r for r in self.rows if r.item.joint]
        return sum(r.decision.home == "joint" for r in marked), len(marked)

    def bands(self) -> list[tuple[str, int, int]]:
        """(band, right, items) for each confidence band that has items, highest first."""
        out = []
        for _, name in BANDS:
            rows = [r for r in self.rows if band(r.decision.confidence) == name]
            if rows:
                out.append((name, sum(r.good for r in rows), len(rows)))
        return out


def evaluate(
    items: Iterable[Labelled],
    rs: RuleSet,
    finder: RelatedWorkFinder | None = None,
    *,
    precedent_for: Callable[[Labelled], PrecedentSource | None] | None = None,
) -> EvalReport:
    """Triage every labelled item and compare the decision with its accepted answers.
    `precedent_for` gives each item its own precedent source (leave-one-out)."""
    report = EvalReport()
    for item in items:
        source = precedent_for(item) if precedent_for is not None else None
        d = triage(item.proposal, rs, finder, precedent=source)
        report.add(item, d)
    return report


# ---------------------------------------------------------------------- leave-one-out
# Study Groups renamed since the dev files were labelled.
RENAMED = {"SG16": "SG21"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def own_numbers(rec_id: str) -> list[str]:
    """'F.400/X.400 (1996)' -> ['F.400', 'X.400']; 'E.210/F.120/Q.11 ter' -> [..., 'Q.11 ter']."""
    base = re.sub(r"\s*\((?:\d{4}|V\d+)\)\s*$", "", rec_id)
    return [p.strip() for p in base.split("/") if re.match(r"^[A-Z]\.\d", p.strip())]


def strip_own_number(text: str, rec_id: str) -> str:
    """The text with the item's own number (and 'Recommendation ITU-T' before it) replaced by
    'this Recommendation': a new proposal has no number yet."""
    for num in sorted(own_numbers(rec_id), key=len, reverse=True):
        pat = (
            r"(?:\bRecommendation\s+)?(?:\bITU-T\s+|\bITU-T\s*Rec(?:ommendation)?\.?\s+)?"
            r"(?<![\w.])" + re.escape(num) + r"(?![\w]|\.\d)(?:\s*\|\s*ISO/IEC\s+[\d-]+)?"
        )
        text = re.sub(pat, "this Recommendation", text)
    return re.sub(r"\bthis Recommendation(\s*/\s*this Recommendation)+", "this Recommendation", text)


def accepted_for(owner: str) -> list[str]:
    """What a Recommendation held by `owner` accepts: that SG (or joint work it leads), or other:SGn."""
    return [owner, f"joint:{owner}"] if owner in ("SG17", "SG20") else [f"other:{owner}"]


def labelled_from(rec: dict[str, Any], where: str, *, strip: bool = False) -> Labelled:
    """One line of an evaluation file: {"accept": [...], "proposal": {...}} (a dev file), or a
    Recommendation {"id", "title", "study_group", "abstract"?} (title + abstract as the proposal).
    `strip`: the item's own number is removed from its text. ValueError when it is neither."""
    rid = str(rec.get("id") or where)
    if isinstance(rec.get("proposal"), dict):
        raw = rec.get("accept")
        accept = [renamed_label(str(a)) for a in raw] if isinstance(raw, list) else []
        if not accept:
            raise ValueError("expected an 'accept' list")
        pdict = dict(rec["proposal"])
        if strip:
            for k in ("title", "summary", "scope", "text"):
                if isinstance(pdict.get(k), str):
                    pdict[k] = strip_own_number(pdict[k], rid)
        owner = RENAMED.get(str(rec.get("study_group") or ""), str(rec.get("study_group") or ""))
        return Labelled(rid, Proposal.model_validate(pdict), accept, bool(rec.get("joint")), owner)
    if isinstance(rec.get("title"), str) and isinstance(rec.get("study_group"), str):
        owner = RENAMED.get(str(rec["study_group"]), str(rec["study_group"]))
        title = _CONTROL.sub(" ", str(rec["title"]))
        summary = _CONTROL.sub(" ", str(rec.get("abstract") or ""))
        if strip:
            title, summary = strip_own_number(title, rid).strip() or title, strip_own_number(summary, rid)
        return Labelled(
            rid,
            Proposal(title=title[:300], summary=summary[:20000]),
            accepted_for(owner),
            bool(rec.get("joint")),
            owner,
        )
    raise ValueError("expected a dev item ('accept' and 'proposal') or a Recommendation ('id', 'title', 'study_group')")


def renamed_label(label: str) -> str:
    head, _, sg = label.partition(":")
    return f"{head}:{RENAMED.get(sg, sg)}" if sg else RENAMED.get(label, label)


def registry_titles(registry: Registry) -> list[Labelled]:
    """Every registry item as a labelled proposal: its title alone (own number stripped)."""
    out = []
    for it in registry.items:
        title = strip_own_number(it.title, it.id).strip() or it.title
        out.append(Labelled(it.id, Proposal(title=title[:300]), accepted_for(it.study_group), owner=it.study_group))
    return out


def default_floor_file() -> Path:
    """The leave-one-out accuracy floor kept beside the registry (raise it as the rules improve)."""
    return default_registry_file().parent / "loo_floor.txt"


def read_floor(path: Path | None = None) -> float:
    """The floor: the first number in the file (comments after '#')."""
    text = (path or default_floor_file()).read_text(encoding="utf-8")
    return float(next(line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()))


def read_labelled(text: str, name: str, *, strip: bool = False) -> Iterator[Labelled | str]:
    """Every item of an evaluation file (JSON Lines), or for a bad line a message saying where and why."""
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("a line must be a JSON object")
            yield labelled_from(rec, where, strip=strip)
        except json.JSONDecodeError as exc:
            yield f"{where}: invalid JSON at column {exc.colno}: {exc.msg}"
        except ValidationError as exc:
            yield f"{where}: {describe_validation(exc)}"
        except ValueError as exc:
            yield f"{where}: {exc}"


def leave_one_out(index: PrecedentIndex) -> Callable[[Labelled], PrecedentSource | None]:
    """Each item's precedent without itself: its editions are no neighbours, and the classifier
    is the one fitted without its fold."""

    def source(item: Labelled) -> PrecedentSource:
        return leave_out(index, item.id)

    return source


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
                    issues.append(
                        doc.issue(["pairs", i, "expect", j], f"{rid!r} is not in the registry", code="reference")
                    )
    if issues:
        raise RegistryLoadError(issues)
    return list(model.pairs)


def evaluate_pairs(pairs: list[LabelledPair], registry: Registry, rs: RuleSet) -> PairReport:
    """Run related-work detection on every pair and compare with its labels."""
    results = []
    for pair in pairs:
        found = [r.id for r in registry.scores(pair.proposal, extract(pair.proposal, rs), rs)]
        results.append(PairResult(pair.id, list(pair.expect), found))
    return PairReport(results)
