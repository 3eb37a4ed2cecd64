"""`rules lint`: every load error of a rule directory, plus what loads but cannot be right.

Load errors (schema, unknown signals, Questions and SGs, cycles) come from engine.ruleset as
they are. On top of them, from the files that parsed:
    duplicate       the same rule id twice
    contradiction   a rule whose conditions cannot all hold (min > max, all + none, ...)
    never-fires     a rule that needs a signal nothing can produce, or more than it can reach
    dead-fact       a derived fact read by a rule but derived by no rule that can fire
    phrase-clash    one lexicon phrase claimed by two concepts
    conflict        two rules of the same stage, identical conditions, different homes
    placeholder     a description or source such as "TODO"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import RuleIssue, RuleLoadError
from engine.lexicon import normalise, variants
from engine.ruleset import Parsed, load_rules, parse_directory
from engine.schema import RuleDef
from engine.vocabulary import ADVISORY, SYSTEM_PREFIXES, TOP
from engine.yamlfile import YamlDoc

LINT_CODES = ("duplicate", "contradiction", "never-fires", "dead-fact", "phrase-clash", "conflict", "placeholder")

_PLACEHOLDER = re.compile(
    r"^\W*(todo|tbd|tba|fixme|xxx+|placeholder|n/?a|none|null|\?+|\.+|-+|description|source)\W*$", re.IGNORECASE
)
_MARKER = re.compile(r"\b(TODO|FIXME|TBD|XXX)\b")


@dataclass
class LintReport:
    directory: str
    files: list[str]
    rules: int
    findings: list[RuleIssue] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for f in self.findings:
            counts[f.code] = counts.get(f.code, 0) + 1
        return {
            "directory": self.directory,
            "files": self.files,
            "rules": self.rules,
            "clean": self.clean,
            "counts": counts,
            "findings": [f.as_dict() for f in self.findings],
        }


def lint_directory(directory: Path | str) -> LintReport:
    """Lint a rule directory: load errors first, then the semantic checks on whatever parsed."""
    parsed = parse_directory(directory)
    findings: list[RuleIssue] = []
    if parsed.issues:
        findings += list(parsed.issues)
    else:
        try:
            load_rules(directory, parsed=parsed).close()
        except RuleLoadError as exc:
            findings += list(exc.issues)
        findings += _semantic(parsed)
    unique: dict[tuple[str, int, int, str], RuleIssue] = {}
    for f in findings:
        unique.setdefault((f.file, f.line, f.column, f.message), f)
    ordered = sorted(unique.values(), key=lambda f: (f.file, f.line, f.column, f.message))
    rule_count = sum(len(rf.rules) for _, rf in parsed.rule_files)
    return LintReport(str(directory), [p.name for p in parsed.files], rule_count, ordered)


@dataclass
class _RuleAt:
    rdef: RuleDef
    doc: YamlDoc
    index: int

    def at(self, *path: int | str) -> tuple[int, int]:
        return self.doc.locate(["rules", self.index, *path])


def _semantic(parsed: Parsed) -> list[RuleIssue]:
    rules = [_RuleAt(rdef, doc, i) for doc, rf in parsed.rule_files for i, rdef in enumerate(rf.rules)]
    out = _duplicates(rules)
    out += _placeholders(rules)
    out += _phrase_clashes(parsed)
    out += _conflicts(rules)
    contradictory: set[str] = set()
    for r in rules:
        found = _contradictions(r, parsed)
        if found:
            contradictory.add(r.rdef.id)
        out += found
    out += _unreachable(rules, parsed, contradictory)
    return out


def _finding(
    r: _RuleAt,
    path: tuple[int | str, ...],
    code: str,
    message: str,
    *,
    value: object = None,
    hint: str | None = None,
    suggestion: str | None = None,
) -> RuleIssue:
    line, col = r.at(*path)
    shown = None if value is None else repr(value)
    return RuleIssue(r.doc.file, line, col, message, value=shown, suggestion=suggestion, code=code, hint=hint)


def _duplicates(rules: list[_RuleAt]) -> list[RuleIssue]:
    first: dict[str, _RuleAt] = {}
    out: list[RuleIssue] = []
    for r in rules:
        rid = r.rdef.id
        if rid in first:
            f = first[rid]
            # Same words as engine.ruleset's own check, so the two collapse into one finding.
            out.append(
                _finding(
                    r,
                    ("id",),
                    "duplicate",
                    f"duplicate rule id {rid!r} (first at {f.doc.file}:{f.at()[0]})",
                    hint="give one of them a new id",
                )
            )
        else:
            first[rid] = r
    return out


def _placeholders(rules: list[_RuleAt]) -> list[RuleIssue]:
    out: list[RuleIssue] = []
    for r in rules:
        for key in ("description", "source"):
            text: str = getattr(r.rdef, key)
            if _PLACEHOLDER.match(text) or _MARKER.search(text) or text.strip().lower() == r.rdef.id.lower():
                hint = (
                    "write the one sentence users will read as the reason"
                    if key == "description"
                    else "name the principle, precedent or Recommendation this rule encodes"
                )
                out.append(
                    _finding(
                        r, (key,), "placeholder", f"rule {r.rdef.id!r}: {key} is a placeholder", value=text, hint=hint
                    )
                )
    return out


def _phrase_clashes(parsed: Parsed) -> list[RuleIssue]:
    claims: dict[str, list[tuple[str, YamlDoc, int, int, str]]] = {}
    for doc, lex in parsed.lexicons:
        for i, concept in enumerate(lex.concepts):
            for j, phrase in enumerate(concept.phrases):
                for form in variants(phrase):
                    claim = claims.setdefault(form, [])
                    if not any(c[0] == concept.id for c in claim):
                        claim.append((concept.id, doc, i, j, phrase))
    out: list[RuleIssue] = []
    reported: set[tuple[str, int, int]] = set()
    for form, claim in sorted(claims.items()):
        if len(claim) < 2:
            continue
        first_id, first_doc, fi, fj, _ = claim[0]
        first_line = first_doc.locate(["concepts", fi, "phrases", fj])[0]
        for cid, doc, i, j, phrase in claim[1:]:
            line, col = doc.locate(["concepts", i, "phrases", j])
            if (doc.file, line, col) in reported:
                continue
            reported.add((doc.file, line, col))
            out.append(
                RuleIssue(
                    doc.file,
                    line,
                    col,
                    f"phrase {form!r} is claimed by concepts {first_id!r} ({first_doc.file}:{first_line}) and {cid!r}",
                    value=repr(phrase),
                    code="phrase-clash",
                    hint="keep the phrase in one concept only",
                )
            )
    return out


def _when_key(rdef: RuleDef) -> tuple[Any, ...]:
    w = rdef.when
    return (
        frozenset(w.all),
        frozenset(w.any),
        frozenset(w.none),
        frozenset(w.in_title),
        tuple(sorted(w.min.items())),
        tuple(sorted(w.max.items())),
    )


def _conflicts(rules: list[_RuleAt]) -> list[RuleIssue]:
    groups: dict[tuple[Any, ...], list[_RuleAt]] = {}
    for r in rules:
        rec = r.rdef.then.recommend
        if rec is None or not r.rdef.enabled or r.rdef.stage == ADVISORY:
            continue
        groups.setdefault((r.rdef.stage, _when_key(r.rdef)), []).append(r)
    out: list[RuleIssue] = []
    for (stage, _), members in groups.items():
        first = members[0]
        assert first.rdef.then.recommend is not None
        first_home = _home(first.rdef)
        for r in members[1:]:
            if _home(r.rdef) != first_home:
                out.append(
                    _finding(
                        r,
                        ("then", "recommend"),
                        "conflict",
                        f"rule {r.rdef.id!r} recommends {_home(r.rdef)} and rule {first.rdef.id!r} "
                        f"({first.doc.file}:{first.at()[0]}) recommends {first_home} on the same conditions, both in "
                        f"stage {stage!r}",
                        hint="make the conditions differ, move one rule to another stage, or merge them",
                    )
                )
    return out


def _home(rdef: RuleDef) -> str:
    rec = rdef.then.recommend
    if rec is None:
        return "-"
    if rec.home == "joint":
        return f"joint (lead {rec.lead})"
    if rec.home == "other":
        return f"other ({rec.other_sg})"
    return rec.home


def _ceilings(parsed: Parsed) -> dict[str, int]:
    """The highest value a concept, <category>_top or derived fact can take; absent = unbounded."""
    cat = parsed.catalogue
    top = max(cat.fields.values()) if cat is not None and cat.fields else 3
    ceiling: dict[str, int] = {}
    for _, lex in parsed.lexicons:
        for c in lex.categories:
            ceiling[c.id + TOP] = top
        for concept in lex.concepts:
            ceiling[concept.id] = top
    for _, rf in parsed.rule_files:
        for rdef in rf.rules:
            for name in rdef.then.derive:
                ceiling[name] = 1  # a derived fact is present (1) or absent (0)
    return ceiling


def _contradictions(r: _RuleAt, parsed: Parsed) -> list[RuleIssue]:
    w = r.rdef.when
    rid = r.rdef.id
    out: list[RuleIssue] = []
    title = parsed.catalogue.fields.get("title", 3) if parsed.catalogue is not None else 3
    positive = [("all", n) for n in w.all] + [("in_title", n) for n in w.in_title]
    for key, name in positive:
        if name in w.none:
            out.append(
                _finding(
                    r,
                    ("when", "none"),
                    "contradiction",
                    f"rule {rid!r} can never fire: {name!r} is both in '{key}' and in 'none'",
                    value=name,
                    hint=f"remove {name!r} from one of the two",
                )
            )
    for name, low in w.min.items():
        if name in w.max and low > w.max[name]:
            out.append(
                _finding(
                    r,
                    ("when", "max", name),
                    "contradiction",
                    f"rule {rid!r} can never fire: min {name} {low} is above max {name} {w.max[name]}",
                    value={"min": low, "max": w.max[name]},
                    hint="lower min or raise max",
                )
            )
        if name in w.none and low > 0:
            out.append(
                _finding(
                    r,
                    ("when", "min", name),
                    "contradiction",
                    f"rule {rid!r} can never fire: {name!r} must be at least {low} and absent ('none')",
                    value=name,
                    hint=f"remove {name!r} from min or from none",
                )
            )
    for name, high in w.max.items():
        if high < 0:
            out.append(
                _finding(
                    r,
                    ("when", "max", name),
                    "contradiction",
                    f"rule {rid!r} can never fire: max {name} {high} is below 0, and signals never are",
                    value=high,
                    hint="use 0 for 'absent'",
                )
            )
        need = title if name in w.in_title else (1 if name in w.all else None)
        if need is not None and high < need:
            key = "in_title" if name in w.in_title else "all"
            out.append(
                _finding(
                    r,
                    ("when", "max", name),
                    "contradiction",
                    f"rule {rid!r} can never fire: '{key}' needs {name} >= {need} but max is {high}",
                    value=high,
                    hint=f"remove {name!r} from max or from {key}",
                )
            )
    if w.any:
        blocked = [n for n in w.any if n in w.none or w.max.get(n, 1) <= 0]
        if len(blocked) == len(w.any):
            out.append(
                _finding(
                    r,
                    ("when", "any"),
                    "contradiction",
                    f"rule {rid!r} can never fire: every signal of 'any' is excluded by 'none' or max 0",
                    value=list(w.any),
                    hint="let at least one signal of 'any' be present",
                )
            )
    return out


def _unreachable(rules: list[_RuleAt], parsed: Parsed, contradictory: set[str]) -> list[RuleIssue]:
    """Rules that need a signal nothing produces (directly, or through dead derived facts)."""
    ceiling = _ceilings(parsed)
    title = parsed.catalogue.fields.get("title", 3) if parsed.catalogue is not None else 3
    why_unproducible: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    for _, lex in parsed.lexicons:
        for c in lex.categories:
            members.setdefault(c.id, [])
        for concept in lex.concepts:
            members.setdefault(concept.category, []).append(concept.id)
            if all(not normalise(p).strip() for p in concept.phrases):
                why_unproducible[concept.id] = "no phrase of the concept can match any text"
    for category, concepts in members.items():
        if all(c in why_unproducible for c in concepts):
            reason = "the category has no concept" if not concepts else "no concept of the category can match"
            why_unproducible[category] = why_unproducible[category + TOP] = reason

    producers: dict[str, list[str]] = {}
    for r in rules:
        for name in r.rdef.then.derive:
            producers.setdefault(name, []).append(r.rdef.id)
    dead: dict[str, str] = {r.rdef.id: "it is disabled" for r in rules if not r.rdef.enabled}
    dead.update({rid: "its conditions contradict each other" for rid in contradictory})
    out: list[RuleIssue] = []
    reported: set[str] = set()
    # Fixed point: a dead rule can kill the facts it alone derives, and with them other rules.
    for _ in range(len(rules) + 1):
        changed = False
        for name, prods in producers.items():
            if name not in why_unproducible and all(p in dead for p in prods):
                why_unproducible[name] = (
                    "no rule that can fire derives it (" + ", ".join(f"{p}: {dead[p]}" for p in prods) + ")"
                )
                changed = True
        for r in rules:
            rid = r.rdef.id
            if rid in dead:
                continue
            found = _needs_unproducible(r, why_unproducible, ceiling, title, producers)
            if found is not None:
                path, code, message, value = found
                dead[rid] = "it can never fire"
                changed = True
                if rid not in reported:
                    reported.add(rid)
                    out.append(
                        _finding(
                            r,
                            path,
                            code,
                            f"rule {rid!r} can never fire: {message}",
                            value=value,
                            hint="fix the condition, or the lexicon or rule that should produce the signal",
                        )
                    )
        if not changed:
            break
    return out


def _needs_unproducible(
    r: _RuleAt, why: dict[str, str], ceiling: dict[str, int], title: int, producers: dict[str, list[str]]
) -> tuple[tuple[int | str, ...], str, str, object] | None:
    w = r.rdef.when

    def code_of(name: str) -> str:
        return "dead-fact" if name in producers else "never-fires"

    for key in ("all", "in_title"):
        for j, name in enumerate(getattr(w, key)):
            if name in why:
                return ("when", key, j), code_of(name), f"it needs {name!r}, but {why[name]}", name
    for name, low in w.min.items():
        if low > 0 and name in why:
            return ("when", "min", name), code_of(name), f"it needs {name!r}, but {why[name]}", name
        if name in ceiling and low > ceiling[name] and not name.startswith(SYSTEM_PREFIXES):
            return (
                ("when", "min", name),
                "never-fires",
                f"min {name} {low} is above {ceiling[name]}, the most {name!r} can ever be",
                low,
            )
    for name in w.in_title:
        if title > ceiling.get(name, title):
            return ("when", "in_title"), "never-fires", f"{name!r} never reaches the title's level {title}", name
    if w.any and all(n in why for n in w.any):
        return (
            ("when", "any"),
            code_of(w.any[0]),
            "no signal of 'any' can be produced (" + "; ".join(f"{n}: {why[n]}" for n in w.any) + ")",
            list(w.any),
        )
    return None
