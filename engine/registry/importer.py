"""`registry import`: refresh the imported Recommendations from public bibliographic records.

Two input shapes:
- JSON Lines, one Recommendation a line: `id`, `title`, `study_group`, `owner_from`, `published`,
  `status`, `source` (an `abstract` may be present: it is read by nobody here and never kept);
- relaton-data-itu YAML records (`data/itu-t-*.yaml` of that public dataset): the id from the
  primary `docidentifier` ("ITU-T X.1352 (09/2022)" -> "X.1352"), the English main title, the
  owner from `contributor[].organization.subdivision[]` named "ITU-T Study Group NN" with
  subtype `study-group`, the published date, the status stage and the `src` address. An
  amendment record is not an item of its own (its Recommendation is); a record that names no
  Study Group takes the owner of the nearest-numbered Recommendation of the same series whose
  record names one, and is marked `owner_from: series range`.

The result keeps only facts (id, title, owner, where the owner comes from, date, status, source)
and merges them with what people keep by hand on an item already imported (Question, topics,
own-words description, and the status of an item under study). The report says what was added,
updated, left unchanged, kept though no source had it, which owners changed, and what was
skipped and why.
"""

from __future__ import annotations

import bisect
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from engine.errors import RegistryLoadError, RuleIssue, YamlFileError
from engine.registry.items import WorkItem
from engine.yamlfile import parse_yaml, to_plain

FACTS = ("title", "study_group", "owner_from", "published", "year", "status", "source")
HAND_KEPT = ("question", "topics", "description")
SERIES_RANGE = "series range"
# How far (in numbers of the same series) the nearest owned Recommendation may be to lend its owner.
MAX_SERIES_GAP = 100
SERIES_MAJORITY = 0.8
_SG = re.compile(r"^ITU-T Study Group (\d{1,2})$")
_DOC_ID = re.compile(r"^(?:ITU-T\s+)?(.+?)(?:\s*\((?:\d{2}/)?\d{4}\))?$")
_NUMBER = re.compile(r"^([A-Z])\.(\d+)")
_STATUS = {
    "published": "in_force",
    "in force": "in_force",
    "withdrawal": "withdrawn",
    "withdrawn": "withdrawn",
    "superseded": "superseded",
    "under study": "under_study",
}


@dataclass
class ImportReport:
    """What an import did, item ids by outcome."""

    items: list[WorkItem] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # in the registry, in no source given
    owner_changes: list[tuple[str, str, str]] = field(default_factory=list)  # (id, was, now)
    inferred: list[str] = field(default_factory=list)  # owner from the series range
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (where, why)

    def lines(self) -> list[str]:
        """The report in words, one line per fact."""
        out = [
            f"added {len(self.added)}, updated {len(self.updated)}, unchanged {len(self.unchanged)}, "
            f"kept {len(self.kept)} (in no source given), skipped {len(self.skipped)}; {len(self.items)} items"
        ]
        for rid, was, now in self.owner_changes:
            out.append(f"owner changed: {rid} {was} -> {now}")
        if self.inferred:
            out.append(
                f"owner from the series range ({len(self.inferred)}): "
                + ", ".join(self.inferred[:20])
                + (" ..." if len(self.inferred) > 20 else "")
            )
        for rid in self.added[:50]:
            out.append(f"added: {rid}")
        for rid in self.updated[:50]:
            out.append(f"updated: {rid}")
        for where, why in self.skipped:
            out.append(f"skipped: {where}: {why}")
        return out


def _status(value: object) -> str:
    return _STATUS.get(str(value or "published").strip().lower(), "in_force")


def _year(published: str) -> int | None:
    return int(published[:4]) if published[:4].isdigit() else None


def _item(raw: dict[str, Any], where: str, issues: list[RuleIssue], line: int = 1) -> WorkItem | None:
    try:
        return WorkItem.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors()[:3]:
            loc = ".".join(str(x) for x in err["loc"]) or "record"
            issues.append(RuleIssue(where, line, 1, f"{loc}: {err['msg']}", code="schema"))
        return None


def read_jsonl(path: Path) -> tuple[list[WorkItem], list[RuleIssue]]:
    """Recommendations from a JSON Lines file (facts only; an abstract is dropped on reading)."""
    items: list[WorkItem] = []
    issues: list[RuleIssue] = []
    name = path.as_posix()
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            issues.append(RuleIssue(name, n, exc.colno, f"not JSON: {exc.msg}", code="syntax"))
            continue
        if not isinstance(rec, dict):
            issues.append(RuleIssue(name, n, 1, "a line must be a JSON object", code="schema"))
            continue
        published = str(rec.get("published") or "")[:10]
        owner_from = str(rec.get("owner_from") or "record")
        raw = {
            "id": _clean(rec.get("id")),
            "title": _clean(rec.get("title")),
            "study_group": rec.get("study_group"),
            "status": _status(rec.get("status")),
            "published": published,
            "year": _year(published),
            "source": str(rec.get("source") or ""),
            "owner_from": SERIES_RANGE if owner_from.startswith(SERIES_RANGE) else "record",
        }
        it = _item(raw, name, issues, n)
        if it is not None:
            items.append(it)
    return items, issues


def _clean(value: object) -> str:
    return re.sub(r"[\x00-\x1f\x7f]+", " ", str(value or "")).strip()


def _english(entries: object, kind: str | None = None) -> str:
    for e in entries if isinstance(entries, list) else []:
        if isinstance(e, dict) and e.get("language", "en") == "en" and (kind is None or e.get("type", kind) == kind):
            return _clean(e.get("content"))
    return ""


def _owner(record: dict[str, Any]) -> str | None:
    for c in record.get("contributor") or []:
        org = (c or {}).get("organization") or {}
        for sub in org.get("subdivision") or []:
            if (sub or {}).get("subtype") != "study-group":
                continue
            for name in sub.get("name") or []:
                m = _SG.match(_clean((name or {}).get("content")))
                if m:
                    return f"SG{int(m.group(1))}"
    return None


def read_relaton(path: Path) -> tuple[WorkItem | None, str | None, list[RuleIssue]]:
    """(item, why it is skipped, issues) from one relaton-data-itu YAML record. The owner may be
    None (no Study Group named): `import_records` infers it from the series."""
    name = path.as_posix()
    try:
        doc = parse_yaml(path.read_text(encoding="utf-8"), name)
    except YamlFileError as exc:
        return None, None, list(exc.issues)
    rec = to_plain(doc.data)
    if not isinstance(rec, dict):
        return None, None, [RuleIssue(name, 1, 1, "a relaton record must be a mapping", code="schema")]
    doctype = str(((rec.get("ext") or {}).get("doctype") or {}).get("content") or "")
    ids = [d for d in rec.get("docidentifier") or [] if isinstance(d, dict)]
    primary = next((d for d in ids if d.get("primary")), ids[0] if ids else {})
    shown = _clean(primary.get("content"))
    if "amendment" in doctype or re.search(r"\b(?:Amd|Cor)\.?\s*\d", shown):
        return None, f"{shown or name} is an amendment: its Recommendation is the item", []
    m = _DOC_ID.match(shown)
    rid = m.group(1).strip() if m else ""
    published = next(
        (str(d.get("at"))[:10] for d in rec.get("date") or [] if isinstance(d, dict) and d.get("type") == "published"),
        "",
    )
    source = next(
        (_clean(s.get("content")) for s in rec.get("source") or [] if isinstance(s, dict) and s.get("type") == "src"),
        "",
    )
    stage = (
        ((rec.get("status") or {}).get("stage") or {}).get("content") if isinstance(rec.get("status"), dict) else None
    )
    owner = _owner(rec)
    issues: list[RuleIssue] = []
    raw = {
        "id": rid,
        "title": _english(rec.get("title"), "main"),
        "study_group": owner or "SG0",
        "status": _status(stage),
        "published": published,
        "year": _year(published),
        "source": source,
        "owner_from": "record" if owner else SERIES_RANGE,
    }
    it = _item(raw, name, issues)
    return it, None, issues


def _number(rid: str) -> tuple[str, int] | None:
    m = _NUMBER.match(rid)
    return (m.group(1), int(m.group(2))) if m else None


def infer_owner(rid: str, owned: Iterable[WorkItem]) -> str | None:
    """The owner of the nearest-numbered Recommendation of the same series whose record names
    one (within MAX_SERIES_GAP numbers; the lower neighbour on a tie); else the Study Group that
    holds at least SERIES_MAJORITY of the series' owned Recommendations; else None."""
    mine = _number(rid)
    if mine is None:
        return None
    series = sorted(
        (n[1], it.study_group)
        for it in owned
        if it.owner_from != SERIES_RANGE and (n := _number(it.id)) is not None and n[0] == mine[0]
    )
    if not series:
        return None
    i = bisect.bisect_left(series, (mine[1], ""))
    near = [series[j] for j in (i - 1, i) if 0 <= j < len(series)]
    best = min(near, key=lambda s: (abs(s[0] - mine[1]), s[0] > mine[1]))
    if abs(best[0] - mine[1]) <= MAX_SERIES_GAP:
        return best[1]
    sg, count = Counter(s[1] for s in series).most_common(1)[0]
    return sg if count >= SERIES_MAJORITY * len(series) else None


def read_sources(paths: Iterable[Path]) -> tuple[list[WorkItem], list[tuple[str, str]], list[RuleIssue]]:
    """Every record of the files (JSON Lines, or relaton YAML; a directory: its *.yaml and *.jsonl)."""
    items: list[WorkItem] = []
    skipped: list[tuple[str, str]] = []
    issues: list[RuleIssue] = []
    files: list[Path] = []
    for p in paths:
        files += sorted([*p.glob("*.yaml"), *p.glob("*.jsonl")]) if p.is_dir() else [p]
    for f in files:
        if not f.exists():
            issues.append(RuleIssue(f.as_posix(), 1, 1, "no such file", code="io"))
        elif f.suffix in (".jsonl", ".json"):
            got, bad = read_jsonl(f)
            items += got
            issues += bad
        else:
            it, why, bad = read_relaton(f)
            issues += bad
            if why:
                skipped.append((f.name, why))
            elif it is not None:
                items.append(it)
    return items, skipped, issues


def import_records(paths: Iterable[Path], existing: list[WorkItem]) -> ImportReport:
    """Merge the records of `paths` into the `existing` imported items; RegistryLoadError when a
    record is malformed (nothing is written then)."""
    records, skipped, issues = read_sources(paths)
    if issues:
        raise RegistryLoadError(issues)
    report = ImportReport(skipped=skipped)
    known = {it.id: it for it in existing}
    fresh: dict[str, WorkItem] = {}
    for it in records:
        if it.id in fresh and fresh[it.id] != it:
            report.skipped.append((it.id, "given by more than one record: the last one counts"))
        fresh[it.id] = it
    owned = [it for it in [*fresh.values(), *existing] if it.owner_from != SERIES_RANGE]
    for rid, it in list(fresh.items()):
        if it.owner_from == SERIES_RANGE and it.study_group == "SG0":
            sg = infer_owner(rid, owned)
            if sg is None:
                report.skipped.append((rid, "names no Study Group and no owned Recommendation of its series is near"))
                del fresh[rid]
                continue
            fresh[rid] = it.model_copy(update={"study_group": sg})
        if fresh[rid].owner_from == SERIES_RANGE:
            report.inferred.append(rid)
    for rid, it in fresh.items():
        old = known.get(rid)
        if old is None:
            report.added.append(rid)
            report.items.append(it)
            continue
        update: dict[str, Any] = {k: getattr(old, k) for k in HAND_KEPT}
        if old.status == "under_study" and it.status == "in_force" and not it.published:
            update["status"] = old.status
        merged = it.model_copy(update=update)
        if old.study_group != merged.study_group:
            report.owner_changes.append((rid, old.study_group, merged.study_group))
        (report.unchanged if merged == old else report.updated).append(rid)
        report.items.append(merged)
    for rid, old in known.items():
        if rid not in fresh:
            report.kept.append(rid)
            report.items.append(old)
    report.items.sort(key=lambda it: it.id)
    return report


def dump_jsonl(items: Iterable[WorkItem]) -> str:
    """The imported file's text: one item a line, facts and hand-kept fields only, defaults left out."""
    return "".join(json.dumps(it.model_dump(exclude_defaults=True), ensure_ascii=False) + "\n" for it in items)
