"""`rules diff`: the impact of a rule change, as every proposal of a corpus whose outcome moves.

A corpus is a list of (source, proposal). Each proposal is decided under the base rules and
under the working rules, on the rules alone (no registry, so only the rules can explain a
change); a change in home, lead, Questions or flags is listed with the rules responsible on
each side: the deciding rules (`Decision.deciding_rules`) and the rules that fired on one side
only.
"""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from engine.errors import InputError
from engine.intake.records import read_records
from engine.labels import label_of
from engine.maintainer.goldens import load_fixtures
from engine.models import Decision, Proposal
from engine.ruleset import RuleSet
from engine.triage import triage

GIT_TIMEOUT_SECONDS = 30
FIELDS = ("home", "lead", "questions", "flags")


@dataclass
class Change:
    source: str
    title: str
    base: dict[str, Any]
    working: dict[str, Any]
    changed: list[str]
    base_deciding: list[str]
    working_deciding: list[str]
    only_base: list[str]
    only_working: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "title": self.title,
            "changed": self.changed,
            "base": self.base,
            "working": self.working,
            "rules": {
                "base_deciding": self.base_deciding,
                "working_deciding": self.working_deciding,
                "fired_only_under_base": self.only_base,
                "fired_only_under_working": self.only_working,
            },
        }


@dataclass
class DiffReport:
    base: dict[str, Any]
    working: dict[str, Any]
    rule_changes: dict[str, list[str]]
    sources: dict[str, int]
    total: int = 0
    changes: list[Change] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        by_field = {f: sum(1 for c in self.changes if f in c.changed) for f in FIELDS}
        moves = Counter(f"{c.base['home']} -> {c.working['home']}" for c in self.changes if "home" in c.changed)
        flags: Counter[str] = Counter()
        for c in self.changes:
            for code in sorted(set(c.working["flags"]) - set(c.base["flags"])):
                flags["+" + code] += 1
            for code in sorted(set(c.base["flags"]) - set(c.working["flags"])):
                flags["-" + code] += 1
        responsible: Counter[str] = Counter()
        for c in self.changes:
            for rid in sorted(set(c.base_deciding) | set(c.working_deciding) | set(c.only_base) | set(c.only_working)):
                responsible[rid] += 1
        return {
            "proposals": self.total,
            "changed": len(self.changes),
            "unchanged": self.total - len(self.changes),
            "by_field": by_field,
            "home_moves": dict(moves.most_common()),
            "flag_changes": dict(flags.most_common()),
            "rules_involved": dict(responsible.most_common()),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "working": self.working,
            "rule_changes": self.rule_changes,
            "corpus": self.sources,
            "changes": [c.as_dict() for c in self.changes],
            "summary": self.summary(),
        }


def _outcome(d: Decision) -> dict[str, Any]:
    return {
        "home": label_of(d),
        "lead": d.lead,
        "questions": list(d.questions),
        "flags": sorted(d.flag_codes()),
        "confidence": d.confidence,
    }


def rule_changes(base: RuleSet, working: RuleSet) -> dict[str, list[str]]:
    """Rule ids added, removed and modified between two rule sets."""
    common = set(base.rules) & set(working.rules)
    modified = [
        rid
        for rid in sorted(common)
        if base.rules[rid].definition.model_dump() != working.rules[rid].definition.model_dump()
    ]
    lexicon = sorted(
        cid
        for cid in set(base.concepts) | set(working.concepts)
        if (base.concepts.get(cid) and base.concepts[cid].model_dump())
        != (working.concepts.get(cid) and working.concepts[cid].model_dump())
    )
    return {
        "added": sorted(set(working.rules) - set(base.rules)),
        "removed": sorted(set(base.rules) - set(working.rules)),
        "modified": modified,
        "concepts_changed": lexicon,
        "catalogue_changed": ["catalogue"]
        if base.catalogue.model_dump(exclude={"version"}) != working.catalogue.model_dump(exclude={"version"})
        else [],
    }


def diff(
    base: RuleSet, working: RuleSet, corpus: Iterable[tuple[str, Proposal]], sources: dict[str, int]
) -> DiffReport:
    """Decide every proposal under both rule sets and keep those whose outcome changes."""
    report = DiffReport(
        base={"directory": base.directory, "version": base.version, "revision": base.revision},
        working={"directory": working.directory, "version": working.version, "revision": working.revision},
        rule_changes=rule_changes(base, working),
        sources=sources,
    )
    for source, proposal in corpus:
        report.total += 1
        before, after = triage(proposal, base, registry=None), triage(proposal, working, registry=None)
        b, w = _outcome(before), _outcome(after)
        changed = [f for f in FIELDS if b[f] != w[f]]
        if not changed:
            continue
        fired_b, fired_w = [r.rule for r in before.reasons], [r.rule for r in after.reasons]
        report.changes.append(
            Change(
                source,
                proposal.title,
                b,
                w,
                changed,
                before.deciding_rules,
                after.deciding_rules,
                [r for r in fired_b if r not in fired_w],
                [r for r in fired_w if r not in fired_b],
            )
        )
    return report


# ---------------------------------------------------------------- the corpus


def fixture_corpus(paths: list[Path]) -> list[tuple[str, Proposal]]:
    """The proposals of fixture files, named file#fixture; a file that does not load is an InputError."""
    out: list[tuple[str, Proposal]] = []
    for path in paths:
        fixtures, issues = load_fixtures(path)
        if issues:
            raise InputError("; ".join(str(i) for i in issues[:5]), str(path))
        out += [(f"{path.name}#{f.name}", f.proposal) for f in fixtures]
    return out


def jsonl_corpus(path: Path) -> list[tuple[str, Proposal]]:
    """Proposals of a JSON or JSON Lines file (engine.intake.records); any bad record is an InputError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", str(path)) from None
    out: list[tuple[str, Proposal]] = []
    for rec in read_records(text, path.name, "json"):
        if rec.error is not None:
            raise InputError(rec.error, rec.label)
        if rec.proposal is not None:
            out.append((rec.label, rec.proposal))
    return out


# ---------------------------------------------------------------- the base rules from git


def rules_from_git(rev: str, rules_dir: Path, target: Path) -> Path:
    """Write the rule files of `rules_dir` as they were at git revision `rev` into `target`."""
    if rev.startswith("-"):
        raise InputError(f"not a git revision: {rev!r}", "--base")
    top = Path(_git(rules_dir, "rev-parse", "--show-toplevel").strip())
    prefix = PurePosixPath(rules_dir.resolve().relative_to(top.resolve()).as_posix())
    # From the top: inside a subdirectory, ls-tree filters its listing by that subdirectory.
    listing = _git(top, "ls-tree", "--name-only", f"{rev}:{prefix}" if str(prefix) != "." else f"{rev}:")
    names = [n for n in listing.splitlines() if n.endswith(".yaml") and "/" not in n]
    if not names:
        raise InputError(f"no rule files under {prefix}/ at revision {rev!r}", "--base")
    target.mkdir(parents=True, exist_ok=True)
    for name in names:
        spec = f"{rev}:{prefix / name}" if str(prefix) != "." else f"{rev}:{name}"
        (target / name).write_text(_git(top, "show", spec), encoding="utf-8")
    return target


def _git(cwd: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(cwd), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InputError(f"git could not run: {exc}", "--base") from None
    if done.returncode != 0:
        raise InputError(f"git {args[0]} failed: {done.stderr.strip() or done.returncode}", "--base")
    return done.stdout


def in_git_checkout(path: Path) -> bool:
    """Whether `path` lies inside a git work tree (an installed package's directory does not)."""
    try:
        return _git(path, "rev-parse", "--is-inside-work-tree").strip() == "true"
    except InputError:
        return False


def repository_rules(cwd: Path) -> Path | None:
    """The `rules/` directory of the git repository `cwd` is in, if it has one."""
    try:
        top = Path(_git(cwd, "rev-parse", "--show-toplevel").strip())
    except InputError:
        return None
    rules = top / "rules"
    return rules if rules.is_dir() else None


def default_rules(bundled: Path, cwd: Path) -> Path:
    """The rules `rules diff` compares when none are named: the bundled ones when they sit in a git
    checkout (an editable install), else the rules/ of the repository the maintainer is in."""
    if in_git_checkout(bundled):
        return bundled
    return repository_rules(cwd) or bundled


def base_directory(base: str, rules_dir: Path, scratch: Path) -> tuple[Path, str]:
    """The directory of the base rules and how to name it: a directory as given, else a git
    revision of `rules_dir`, written under `scratch`."""
    path = Path(base)
    if path.is_dir():
        return path, str(path)
    return rules_from_git(base, rules_dir, scratch / "rules"), f"{base} (git)"
