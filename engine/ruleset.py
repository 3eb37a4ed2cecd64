"""Loading a rule set: every file parsed, validated and cross-checked before anything is built.

A rule set loads whole or not at all: `load_rules` returns a ready RuleSet or raises
RuleLoadError with every issue found (file:line:column, value, suggestion).
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine import adapter
from engine.citations import SeriesRange
from engine.errors import EngineError, RuleIssue, RuleLoadError, YamlFileError
from engine.lexicon import Context, Matcher, compile_matcher, normalise, weak_phrase
from engine.schema import (
    KNOWN_SCHEMAS,
    SCHEMA_CATALOGUE,
    SCHEMA_LEXICON,
    SCHEMA_RULES,
    CatalogueFile,
    ConceptDef,
    LexiconFile,
    RuleDef,
    RulesFile,
)
from engine.vocabulary import ADVISORY, PRECEDENT_PREFIXES, PRECEDENT_TOP, STAGES, SYSTEM_PREFIXES, TOP
from engine.yamlfile import YamlDoc, did_you_mean, read_bounded, read_yaml, validate

MAX_FILES = 100
# Lexicon limits (each far above the bundled lexicon: 35 phrases and 4 blockers at most per
# concept, 849 phrases in all): the matcher's work per character grows with how many phrases
# can end at one place, so the lexicon cannot grow without bound.
MAX_PHRASES_PER_CONCEPT = 100
MAX_BLOCKERS_PER_CONCEPT = 10
MAX_LEXICON_PHRASES = 5_000
_PATTERN_SIGNS = re.compile(r"[*+?|\\^$\[\]{}]")
STAGE_ORDER = {name: i for i, name in enumerate((*STAGES, ADVISORY))}


@dataclass
class Rule:
    """One rule as loaded, with where it came from."""

    definition: RuleDef
    file: str
    line: int
    order: int
    id: str = field(init=False)
    positive: tuple[str, ...] = field(init=False)
    stage_rank: int = field(init=False)
    weight: int = field(init=False)  # of its recommendation; 0 without one
    effect_tail: str = field(init=False)
    # Where its evidence comes from, one entry per positive signal: (signal, False), or
    # (category, True) for a category's signals; set by load_rules, which knows the categories.
    evidence_plan: tuple[tuple[str, bool], ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        # Read on every decision: plain attributes, not properties.
        self.id = self.definition.id
        w = self.definition.when
        self.positive = (*w.all, *w.in_title, *w.any, *(k for k, v in w.min.items() if v > 0))
        self.stage_rank = STAGE_ORDER[self.definition.stage]
        t = self.definition.then
        self.weight = t.recommend.weight if t.recommend else 0
        tail = [
            ("suggests " + ", ".join(t.questions)) if t.questions else "",
            ("raises " + ", ".join(f.code for f in t.flags)) if t.flags else "",
            ("derives " + ", ".join(t.derive)) if t.derive else "",
        ]
        self.effect_tail = "; ".join(x for x in tail if x)


@dataclass
class RuleSet:
    """A loaded, checked and compiled rule set. Immutable once built; share it between threads."""

    directory: str
    version: str
    revision: str
    catalogue: CatalogueFile
    concepts: dict[str, ConceptDef]
    concept_category: dict[str, str]
    concept_weight: dict[str, int]
    categories: dict[str, str]
    rules: dict[str, Rule]
    matcher: Matcher
    host: adapter.RuleHost
    series: list[SeriesRange]
    exclusion: Matcher
    files: list[str]
    loaded_at: float = field(default_factory=time.time)
    known_owners: dict[str, str] = field(default_factory=dict)
    produced: set[str] = field(default_factory=set)
    # Category signals start at 0 so that `max` conditions hold when nothing matched.
    zero_signals: dict[str, int] = field(default_factory=dict)
    precedent_signals: frozenset[str] = frozenset()  # what a precedent source may set (engine/precedent.py)
    category_concepts: dict[str, list[str]] = field(default_factory=dict)
    producers: dict[str, list[str]] = field(default_factory=dict)
    concept_locations: dict[str, tuple[str, int]] = field(default_factory=dict)
    concept_order: dict[str, int] = field(default_factory=dict)  # concept -> its place in the lexicon

    @property
    def questions(self) -> dict[str, str]:
        return {q.id: q.title for q in self.catalogue.questions}

    def close(self) -> None:
        self.host.close()


def file_revision(paths: list[Path], root: Path) -> str:
    """Content hash of the files; each read bounded (a file swapped for a huge one since it was parsed
    raises RuleLoadError, never reads the huge one)."""
    digest = hashlib.sha256()
    for p in paths:
        digest.update(p.relative_to(root).as_posix().encode() + b"\0")
        try:
            digest.update(read_bounded(p, _display(p)) + b"\0")
        except YamlFileError as exc:
            raise RuleLoadError(exc.issues) from None
    return digest.hexdigest()[:16]


def rule_files(directory: Path) -> list[Path]:
    """The directory's *.yaml files by name; RuleLoadError if one is a link that leads out of it."""
    root = directory.resolve()
    files = sorted(p for p in directory.glob("*.yaml") if p.is_file())
    # A rule file must be what the maintainers see in the directory, not a door to elsewhere.
    outside = [p for p in files if not p.resolve().is_relative_to(root)]
    if outside:
        raise RuleLoadError(
            [
                RuleIssue(_display(p), 1, 1, "the rule file is a link to a file outside the rule directory", code="io")
                for p in outside
            ]
        )
    return files


@dataclass
class Parsed:
    """The validated files of a rule directory before compilation (what lint also inspects)."""

    root: Path
    files: list[Path]
    catalogue: CatalogueFile | None = None
    catalogue_doc: YamlDoc | None = None
    lexicons: list[tuple[YamlDoc, LexiconFile]] = field(default_factory=list)
    rule_files: list[tuple[YamlDoc, RulesFile]] = field(default_factory=list)
    issues: list[RuleIssue] = field(default_factory=list)


def parse_directory(directory: Path | str) -> Parsed:
    """Read and schema-check every YAML file of a rule directory; issues collected, not raised."""
    root = Path(directory)
    if not root.is_dir():
        return Parsed(root, [], issues=[RuleIssue(str(root), 1, 1, "rule directory not found", code="io")])
    try:
        files = rule_files(root)
    except RuleLoadError as exc:
        return Parsed(root, [], issues=exc.issues)
    parsed = Parsed(root, files)
    if len(files) > MAX_FILES:
        parsed.issues.append(
            RuleIssue(str(root), 1, 1, f"{len(files)} rule files, more than {MAX_FILES}", code="limit")
        )
        return parsed
    for path in files:
        display = _display(path)
        try:
            doc = read_yaml(path, display)
        except YamlFileError as exc:
            parsed.issues += exc.issues
            continue
        if not isinstance(doc.data, dict):
            parsed.issues.append(doc.issue([], "a rule file must be a mapping with a 'schema' key"))
            continue
        schema = doc.data.get("schema")
        if schema == SCHEMA_CATALOGUE:
            model, issues = validate(doc, CatalogueFile)
            if model is not None and parsed.catalogue is not None:
                issues = [doc.issue(["schema"], "a second catalogue file; a rule set has exactly one")]
            elif model is not None:
                parsed.catalogue, parsed.catalogue_doc = model, doc
        elif schema == SCHEMA_LEXICON:
            model, issues = validate(doc, LexiconFile)
            if model is not None:
                parsed.lexicons.append((doc, model))
        elif schema == SCHEMA_RULES:
            model, issues = validate(doc, RulesFile)
            if model is not None:
                parsed.rule_files.append((doc, model))
        else:
            shown = None if schema is None else str(schema)
            issues = [
                doc.issue(
                    ["schema"],
                    "unknown or missing schema",
                    value=shown,
                    suggestion=did_you_mean(str(schema), KNOWN_SCHEMAS) if schema else None,
                )
            ]
        parsed.issues += issues
    if parsed.catalogue is None and not any(i.file.endswith("catalogue.yaml") for i in parsed.issues):
        parsed.issues.append(RuleIssue(str(root), 1, 1, f"no file with schema {SCHEMA_CATALOGUE!r}"))
    return parsed


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_rules(
    directory: Path | str, known_owners: dict[str, str] | None = None, *, parsed: Parsed | None = None
) -> RuleSet:
    """Load, check and compile a rule directory; raise RuleLoadError listing every issue.
    `parsed`: the directory's parse_directory() result, when the caller already has it (lint)."""
    parsed = parsed if parsed is not None else parse_directory(directory)
    if parsed.issues or parsed.catalogue is None:
        raise RuleLoadError(parsed.issues)
    cat = parsed.catalogue
    issues: list[RuleIssue] = []

    categories: dict[str, str] = {}
    concepts: dict[str, ConceptDef] = {}
    concept_locations: dict[str, tuple[str, int]] = {}
    for doc, lex in parsed.lexicons:
        for i, cdef in enumerate(lex.categories):
            if cdef.id in categories:
                issues.append(doc.issue(["categories", i, "id"], f"duplicate category {cdef.id!r}", code="duplicate"))
            categories[cdef.id] = cdef.description
    for doc, lex in parsed.lexicons:
        for i, concept in enumerate(lex.concepts):
            if concept.id in concepts:
                issues.append(doc.issue(["concepts", i, "id"], f"duplicate concept {concept.id!r}", code="duplicate"))
            if concept.category not in categories:
                issues.append(
                    doc.issue(
                        ["concepts", i, "category"],
                        f"unknown category {concept.category!r}",
                        suggestion=did_you_mean(concept.category, categories),
                        code="reference",
                    )
                )
            if concept.id in categories or concept.id.endswith(TOP):
                issues.append(
                    doc.issue(
                        ["concepts", i, "id"],
                        f"concept {concept.id!r} clashes with a category signal",
                        code="duplicate",
                    )
                )
            for key, limit in (("phrases", MAX_PHRASES_PER_CONCEPT), ("not_within", MAX_BLOCKERS_PER_CONCEPT)):
                listed = getattr(concept, key)
                if len(listed) > limit:
                    issues.append(
                        doc.issue(
                            ["concepts", i, key],
                            f"concept {concept.id!r} has {len(listed)} {key}, more than "
                            f"{limit}: split it into narrower concepts",
                            code="limit",
                        )
                    )
                for j, phrase in enumerate(listed):
                    words = normalise(phrase).strip()
                    # Phrases are words matched literally; "(a+)+$" would shrink to the letter "a" and match
                    # every "a". A phrase left with no words at all matches nothing: lint reports that one.
                    if words and (len(words) < 2 or _PATTERN_SIGNS.search(phrase)):
                        issues.append(
                            doc.issue(
                                ["concepts", i, key, j],
                                "a phrase is words (two letters or digits at "
                                "least), not a pattern: * + ? | \\ ^ $ [ ] { } are not allowed",
                                value=phrase,
                            )
                        )
                    elif (weak := weak_phrase(phrase)) is not None:
                        what = "phrase" if key == "phrases" else "not_within phrase"
                        issues.append(
                            doc.issue(
                                ["concepts", i, key, j],
                                f"{what} {phrase!r} {weak}: it would match nearly "
                                "every text; use words specific to the concept",
                                value=phrase,
                                code="lexicon",
                            )
                        )
            for k, ctx in enumerate(concept.requires):
                listed = {normalise(p).strip().lower() for p in concept.phrases}
                for j, phrase in enumerate(ctx.phrases):
                    if normalise(phrase).strip().lower() not in listed:
                        issues.append(
                            doc.issue(
                                ["concepts", i, "requires", k, "phrases", j],
                                f"{phrase!r} is not a phrase of "
                                f"concept {concept.id!r}: `requires` names which of its phrases need a context",
                                value=phrase,
                                code="reference",
                            )
                        )
                if len(ctx.near) > MAX_BLOCKERS_PER_CONCEPT:
                    issues.append(
                        doc.issue(
                            ["concepts", i, "requires", k, "near"],
                            f"concept {concept.id!r} has "
                            f"{len(ctx.near)} context phrases, more than {MAX_BLOCKERS_PER_CONCEPT}",
                            code="limit",
                        )
                    )
                for j, phrase in enumerate(ctx.near):
                    if (weak := weak_phrase(phrase)) is not None:
                        issues.append(
                            doc.issue(
                                ["concepts", i, "requires", k, "near", j],
                                f"context phrase {phrase!r} {weak}: it would be near every phrase",
                                value=phrase,
                                code="lexicon",
                            )
                        )
            concepts[concept.id] = concept
            concept_locations[concept.id] = (doc.file, doc.locate(["concepts", i])[0])

    total = sum(len(c.phrases) + len(c.not_within) + sum(len(r.near) for r in c.requires) for c in concepts.values())
    if total > MAX_LEXICON_PHRASES:
        doc = parsed.lexicons[-1][0]
        issues.append(
            doc.issue(
                ["concepts"],
                f"the lexicon has {total} phrases and blockers, more than {MAX_LEXICON_PHRASES}",
                code="limit",
            )
        )
    if parsed.catalogue_doc is not None:
        for j, cue in enumerate(cat.exclusion_cues):
            weak = weak_phrase(cue)
            if weak is not None:  # a cue "the" would drop every sentence as "not covered"
                issues.append(
                    parsed.catalogue_doc.issue(
                        ["exclusion_cues", j],
                        f"exclusion cue {cue!r} {weak}: it would match nearly every sentence",
                        value=cue,
                        code="lexicon",
                    )
                )

    rules: dict[str, Rule] = {}
    order = 0
    produced: set[str] = set()
    for _, rf in parsed.rule_files:
        for rdef in rf.rules:
            produced.update(rdef.then.derive)
    precedent = frozenset(
        {f"{p}{sg.lower()}" for p in PRECEDENT_PREFIXES for sg in cat.study_groups} | set(PRECEDENT_TOP)
    )
    system = {f"{p}{sg.lower()}" for p in SYSTEM_PREFIXES for sg in cat.study_groups} | precedent
    signals = set(concepts) | set(categories) | {c + TOP for c in categories} | system
    for clash in sorted(produced & signals):
        issues.append(
            RuleIssue(
                parsed.root.as_posix(),
                1,
                1,
                f"derived fact {clash!r} has the name of a concept or category",
                code="duplicate",
            )
        )
    question_ids = {q.id for q in cat.questions}
    for doc, rf in parsed.rule_files:
        for i, rdef in enumerate(rf.rules):
            path: list[Any] = ["rules", i]
            if rdef.id in rules:
                first = rules[rdef.id]
                issues.append(
                    doc.issue(
                        [*path, "id"],
                        f"duplicate rule id {rdef.id!r} (first at {first.file}:{first.line})",
                        code="duplicate",
                    )
                )
                continue
            issues += _check_rule(doc, path, rdef, signals, produced, concepts, question_ids, cat)
            rules[rdef.id] = Rule(rdef, doc.file, doc.locate(path)[0], order)
            order += 1
    if not rules:
        issues.append(RuleIssue(parsed.root.as_posix(), 1, 1, "the rule set has no rules"))
    if issues:
        raise RuleLoadError(issues)

    layer_of, cyclic = layers(rules, produced)
    if cyclic:
        raise RuleLoadError(
            [
                RuleIssue(
                    rules[r].file, rules[r].line, 1, f"rule {r!r} is part of a cycle of derived facts", code="semantic"
                )
                for r in cyclic
            ]
        )
    matcher = compile_matcher(
        {cid: c.phrases for cid, c in concepts.items()},
        {cid: c.not_within for cid, c in concepts.items() if c.not_within},
        [Context(cid, tuple(r.phrases), tuple(r.near), r.within) for cid, c in concepts.items() for r in c.requires],
    )
    conditions = _conditions(rules, layer_of)
    title_level = _title_level(cat)
    complaint = adapter.check_definition(conditions, title_level)
    if complaint:
        raise RuleLoadError(
            [RuleIssue(parsed.root.as_posix(), 1, 1, f"the rule engine rejected the rules: {complaint}", code="engine")]
        )
    for rule in rules.values():
        bases = [(name[: -len(TOP)] if name.endswith(TOP) else name, name) for name in rule.positive]
        rule.evidence_plan = tuple((base, True) if base in categories else (name, False) for base, name in bases)
    revision = file_revision(parsed.files, parsed.root)
    try:
        host = adapter.build_host(conditions, cat.limits.shard_size, title_level, revision[:8])
    except EngineError as exc:
        raise RuleLoadError(
            [RuleIssue(parsed.root.as_posix(), 1, 1, f"the rule engine rejected the rules: {exc}", code="engine")]
        ) from None
    # Prove the rule set runs before anyone uses it: what the engine refuses is a load error here,
    # located at its rule, not an engine_error on every proposal that reaches the rule later.
    problems = adapter.prove(host, conditions, title_level)
    if problems:
        host.close()
        raise RuleLoadError(
            [
                RuleIssue(rules[rid].file, rules[rid].line, 1, f"rule {rid!r}: {message}", code="engine")
                for rid, message in problems
            ]
        )
    cues = cat.exclusion_cues
    return RuleSet(
        directory=str(parsed.root),
        version=cat.version,
        revision=revision,
        catalogue=cat,
        concepts=concepts,
        concept_category={k: c.category for k, c in concepts.items()},
        concept_weight={k: c.weight for k, c in concepts.items()},
        categories=categories,
        rules=rules,
        matcher=matcher,
        host=host,
        series=[SeriesRange(s.prefix, s.start, s.end, s.sg, s.label, s.question) for s in cat.series],
        exclusion=compile_matcher({"exclusion": list(cues)}),
        files=[_display(p) for p in parsed.files],
        known_owners=dict(known_owners or {}),
        produced=produced,
        zero_signals={name: 0 for c in categories for name in (c, c + TOP)},
        precedent_signals=precedent,
        category_concepts={c: [k for k, v in concepts.items() if v.category == c] for c in categories},
        concept_order={k: i for i, k in enumerate(concepts)},
        producers={d: [r.id for r in rules.values() if d in r.definition.then.derive] for d in produced},
        concept_locations=concept_locations,
    )


def _conditions(rules: dict[str, Rule], layer_of: dict[str, int]) -> list[adapter.Condition]:
    return [to_condition(r, layer_of[r.id]) for r in rules.values() if r.definition.enabled]


def _title_level(cat: CatalogueFile) -> int:
    return cat.fields.get("title", 3)


@dataclass(frozen=True)
class Detached:
    """A rule set without its durable rulesets (the C engine's state cannot be pickled) and the
    conditions that register them again (reattach)."""

    rules: RuleSet  # host=None
    conditions: list[adapter.Condition]


def detach(rs: RuleSet) -> Detached:
    """The rule set as it can be stored: everything but its durable rulesets."""
    layer_of, _ = layers(rs.rules, rs.produced)
    return Detached(replace(rs, host=None), _conditions(rs.rules, layer_of))  # type: ignore[arg-type]


def reattach(stored: Detached) -> RuleSet | None:
    """A stored rule set with its durable rulesets registered again and proved to run, as on a
    first load; None when they do not (load the files instead)."""
    rs, title_level = stored.rules, _title_level(stored.rules.catalogue)
    host = adapter.build_host(stored.conditions, rs.catalogue.limits.shard_size, title_level, rs.revision[:8])
    if adapter.prove(host, stored.conditions, title_level):
        host.close()
        return None
    return replace(rs, host=host, loaded_at=time.time())


def to_condition(rule: Rule, layer: int) -> adapter.Condition:
    """A rule in the adapter's terms."""
    w = rule.definition.when
    return adapter.Condition(
        rule_id=rule.id,
        all=tuple(w.all),
        any=tuple(w.any),
        none=tuple(w.none),
        in_title=tuple(w.in_title),
        min=tuple(sorted(w.min.items())),
        max=tuple(sorted(w.max.items())),
        derive=tuple(rule.definition.then.derive),
        priority=STAGE_ORDER[rule.definition.stage],
        layer=layer,
    )


def layers(rules: dict[str, Rule], produced: set[str]) -> tuple[dict[str, int], list[str]]:
    """Layer of each rule: 0 unless it reads derived facts, then one past their producers'.
    Returns the layers and the rule ids caught in a cycle of derivations."""
    producers: dict[str, list[str]] = {}
    for r in rules.values():
        for d in r.definition.then.derive:
            producers.setdefault(d, []).append(r.id)
    reads = {r.id: [s for s in _read_signals(r) if s in produced] for r in rules.values()}
    layer: dict[str, int] = {}
    cyclic: list[str] = []
    visiting: set[str] = set()

    def visit(rid: str) -> int:
        if rid in layer:
            return layer[rid]
        if rid in visiting:
            cyclic.append(rid)
            return 0
        visiting.add(rid)
        level = 0
        for name in reads[rid]:
            for p in producers.get(name, ()):
                level = max(level, visit(p) + 1)
        visiting.discard(rid)
        layer[rid] = level
        return level

    for rid in rules:
        visit(rid)
    return layer, cyclic


def _read_signals(rule: Rule) -> list[str]:
    w = rule.definition.when
    return [*w.all, *w.any, *w.none, *w.in_title, *w.min, *w.max]


def _check_rule(
    doc: YamlDoc,
    path: list[Any],
    rdef: RuleDef,
    signals: set[str],
    produced: set[str],
    concepts: dict[str, ConceptDef],
    question_ids: set[str],
    cat: CatalogueFile,
) -> list[RuleIssue]:
    issues: list[RuleIssue] = []
    w = rdef.when

    def unknown(at: list[Any], name: str) -> RuleIssue:
        return doc.issue(
            [*path, "when", *at],
            f"unknown signal {name!r}",
            suggestion=did_you_mean(name, signals | produced),
            code="reference",
        )

    for key in ("all", "any", "none", "in_title"):
        for j, name in enumerate(getattr(w, key)):
            if name in produced and key != "in_title":
                continue
            if name not in signals:
                issues.append(unknown([key, j], name))
            elif key == "in_title" and name not in concepts:
                issues.append(
                    doc.issue(
                        [*path, "when", key, j], f"in_title needs a concept, {name!r} is not one", code="reference"
                    )
                )
    for key in ("min", "max"):
        for name in getattr(w, key):
            if name not in signals and name not in produced:
                issues.append(unknown([key, name], name))
    reads = {*w.all, *w.any, *w.none, *w.in_title, *w.min, *w.max}
    if len(reads) > adapter.MAX_RULE_SIGNALS:  # a fact must stay small enough for the engine (adapter.py)
        issues.append(
            doc.issue(
                [*path, "when"],
                f"rule {rdef.id!r} reads {len(reads)} signals, more than "
                f"{adapter.MAX_RULE_SIGNALS}: split it into several rules or use a category",
                code="limit",
            )
        )
    if not (w.all or w.any or w.none or w.in_title or w.min or w.max):
        issues.append(doc.issue([*path, "when"], "a rule needs at least one condition", code="semantic"))
    t = rdef.then
    if t.recommend is None and not (t.questions or t.flags or t.derive):
        issues.append(doc.issue([*path, "then"], "a rule needs at least one effect", code="semantic"))
    if t.recommend is not None:
        rec = t.recommend
        if rdef.stage == ADVISORY:
            issues.append(
                doc.issue(
                    [*path, "stage"], "an advisory rule cannot recommend a home; give it a stage", code="semantic"
                )
            )
        if rec.home == "other" and not rec.other_sg:
            issues.append(doc.issue([*path, "then", "recommend"], "home 'other' needs other_sg", code="semantic"))
        if rec.other_sg and rec.other_sg not in cat.study_groups:
            issues.append(
                doc.issue(
                    [*path, "then", "recommend", "other_sg"],
                    f"unknown study group {rec.other_sg!r}",
                    suggestion=did_you_mean(rec.other_sg, cat.study_groups),
                    code="reference",
                )
            )
        if rec.home == "joint" and rec.lead is None:
            issues.append(
                doc.issue(
                    [*path, "then", "recommend"], "home 'joint' needs lead (SG17, SG20 or stronger)", code="semantic"
                )
            )
        if rec.home != "joint" and rec.lead is not None:
            issues.append(
                doc.issue([*path, "then", "recommend", "lead"], "lead is only for home 'joint'", code="semantic")
            )
    elif rdef.stage != ADVISORY:
        issues.append(
            doc.issue(
                [*path, "stage"],
                f"stage {rdef.stage!r} is for rules that recommend a home; use 'advisory'",
                code="semantic",
            )
        )
    for j, q in enumerate(t.questions):
        if q not in question_ids:
            issues.append(
                doc.issue(
                    [*path, "then", "questions", j],
                    f"unknown Question {q!r}",
                    suggestion=did_you_mean(q, question_ids),
                    code="reference",
                )
            )
    return issues
