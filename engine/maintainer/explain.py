"""`explain`: the whole trace of one decision, as data (JSON) and as text for a maintainer.

Facts with the words and field behind them, every rule that fired with the conditions it
matched, the derived facts, the precedence steps, and each losing candidate with why it lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.models import Proposal
from engine.ruleset import RuleSet
from engine.triage import Trace, rule_evidence, trace
from engine.vocabulary import SYSTEM_PREFIXES, TOP

if TYPE_CHECKING:
    from engine.registry import Registry


def _kind(name: str, rs: RuleSet, derived: set[str]) -> str:
    if name in rs.concepts:
        return "concept"
    if name in rs.categories:
        return "category"
    if name.endswith(TOP) and name[: -len(TOP)] in rs.categories:
        return "category_top"
    if name in derived:
        return "derived"
    if name.startswith(SYSTEM_PREFIXES):
        return "system"
    return "signal"


def _matched(rule_id: str, rs: RuleSet, values: dict[str, int], title_level: int) -> list[dict[str, Any]]:
    """Each condition of a rule with the value it was tested against."""
    w = rs.rules[rule_id].definition.when
    out: list[dict[str, Any]] = []
    for name in w.all:
        out.append({"condition": "all", "signal": name, "test": "> 0", "value": values.get(name, 0)})
    for name in w.any:
        if values.get(name, 0) > 0:
            out.append({"condition": "any", "signal": name, "test": "> 0", "value": values[name]})
    for name in w.in_title:
        out.append({"condition": "in_title", "signal": name, "test": f">= {title_level}", "value": values.get(name, 0)})
    for name, n in w.min.items():
        out.append({"condition": "min", "signal": name, "test": f">= {n}", "value": values.get(name, 0)})
    for name, n in w.max.items():
        out.append({"condition": "max", "signal": name, "test": f"<= {n}", "value": values.get(name, 0)})
    for name in w.none:
        out.append({"condition": "none", "signal": name, "test": "= 0", "value": values.get(name, 0)})
    return out


def explain(proposal: Proposal, rs: RuleSet, registry: Registry | None = None) -> dict[str, Any]:
    """The trace of one proposal as plain data (what `explain --format json` prints)."""
    t: Trace = trace(proposal, rs, registry)
    d = t.decision
    derived_by: dict[str, list[str]] = {}
    for rid, names in t.derived.items():
        for name in names:
            derived_by.setdefault(name, []).append(rid)
    values = dict(t.facts.signals)
    values.update({name: 1 for name in derived_by})
    title_level = rs.catalogue.fields.get("title", 3)

    facts: list[dict[str, Any]] = []
    for name, value in sorted(t.facts.signals.items(), key=lambda kv: (_order(_kind(kv[0], rs, set())), kv[0])):
        if value <= 0:
            continue
        kind = _kind(name, rs, set())
        entry: dict[str, Any] = {
            "signal": name,
            "value": value,
            "kind": kind,
            "evidence": [{"field": e.field, "words": e.words} for e in t.facts.words(name)],
        }
        if kind == "concept":
            entry["category"] = rs.concept_category[name]
            entry["label"] = rs.concepts[name].label
        facts.append(entry)

    rules: list[dict[str, Any]] = []
    for r in d.reasons:
        rule = rs.rules[r.rule]
        rules.append(
            {
                "rule": r.rule,
                "stage": r.stage,
                "file": rule.file,
                "line": rule.line,
                "description": r.text,
                "effect": r.effect,
                "matched": _matched(r.rule, rs, values, title_level),
                "evidence": [
                    {"field": e.field, "words": e.words, "concept": e.concept} for e in rule_evidence(rule, rs, t.facts)
                ],
            }
        )

    o = t.outcome
    candidates = [
        {
            "rule": c.rule,
            "stage": c.stage,
            "home": c.home,
            "lead": c.lead,
            "other_sg": c.other_sg,
            "weight": c.weight,
            "won": c.rule in o.winners,
            "why_lost": o.losers.get(c.rule),
        }
        for c in t.candidates
    ]
    return {
        "proposal": {"title": proposal.title},
        "ruleset": {"version": rs.version, "revision": rs.revision},
        "decision": {
            "home": d.home,
            "lead": d.lead,
            "other_sg": d.other_sg,
            "questions": d.questions,
            "confidence": d.confidence,
            "flags": [{"code": f.code, "text": f.text} for f in d.flags],
        },
        "facts": facts,
        "derived": [{"fact": name, "by": by} for name, by in sorted(derived_by.items())],
        "rules": rules,
        "precedence": {"deciding_stage": o.stage, "steps": list(o.steps), "winners": list(o.winners)},
        "candidates": candidates,
        "related_work": [r.model_dump() for r in t.related],
        "losers": [
            {"rule": c.rule, "why": o.losers[c.rule], "recommended": _label(c)}
            for c in t.candidates
            if c.rule in o.losers
        ],
    }


def _order(kind: str) -> int:
    return ("concept", "category", "category_top", "system", "derived", "signal").index(kind)


def _label(c: Any) -> str:
    if c.home == "joint":
        return f"joint (lead {c.lead})"
    if c.home == "other":
        return f"other ({c.other_sg})"
    return str(c.home)


def _words(evidence: list[dict[str, Any]]) -> str:
    return "; ".join(f'{e["field"]}: "{e["words"]}"' for e in evidence)


def render_text(data: dict[str, Any]) -> str:
    """The trace of `explain` laid out for a person reading a terminal."""
    d = data["decision"]
    home = {"joint": f"joint work led by {d['lead']}", "other": f"another SG ({d['other_sg']})"}.get(
        d["home"], d["home"]
    )
    lines = [
        f"Proposal: {data['proposal']['title']}",
        f"Rules:    version {data['ruleset']['version']}, revision {data['ruleset']['revision']}",
        "",
        f"Decision: {home}   Questions: {', '.join(d['questions']) or '-'}   confidence {d['confidence']}",
        f"Flags:    {', '.join(f['code'] for f in d['flags']) or '-'}",
        "",
        "Facts (signal = value, and the words that produced it)",
    ]
    if not data["facts"]:
        lines.append("  (none: no word of the lexicon, no citation, no proposed Question)")
    width = max((len(f["signal"]) for f in data["facts"]), default=10) + 4
    for f in data["facts"]:
        what = {
            "concept": f"concept of {f.get('category')}: {f.get('label')}",
            "category": "category total",
            "category_top": "strongest field of the category (title = highest)",
        }.get(f["kind"], f["kind"])
        lines.append(f"  {f['signal'] + ' = ' + str(f['value']):<{width}} {what}")
        if f["evidence"]:
            lines.append(f"  {'':<{width}}   {_words(f['evidence'])}")
    lines += ["", "Derived facts"]
    lines += [f"  {x['fact']}  <- {', '.join(x['by'])}" for x in data["derived"]] or ["  (none)"]
    lines += ["", f"Rules that fired ({len(data['rules'])})"]
    if not data["rules"]:
        lines.append("  (none)")
    for r in data["rules"]:
        lines.append(f"  {r['rule']}  [{r['stage']}]  {r['file']}:{r['line']}")
        lines.append(f'    "{r["description"]}"')
        matched = ", ".join(f"{m['condition']} {m['signal']}={m['value']} ({m['test']})" for m in r["matched"])
        lines.append(f"    matched: {matched}")
        if r["effect"]:
            lines.append(f"    effect:  {r['effect']}")
        if r["evidence"]:
            lines.append(f"    words:   {_words(r['evidence'])}")
    p = data["precedence"]
    lines += ["", "Precedence (continuity > other_sg > precedent > joint > principle > default)"]
    lines += [f"  {i}. {step}" for i, step in enumerate(p["steps"], 1)]
    if p["winners"]:
        lines.append(f"  deciding rules: {', '.join(p['winners'])}")
    lines += ["", "Candidates that lost"]
    lines += [f"  {x['rule']} ({x['recommended']}): {x['why']}" for x in data["losers"]] or ["  (none)"]
    if data["related_work"]:
        lines += ["", "Related existing work"]
        lines += [f"  {w['id']} ({w['study_group']}, score {w['score']}): {w['title']}" for w in data["related_work"]]
    return "\n".join(lines)
