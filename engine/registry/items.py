"""The registry file: existing ITU-T Recommendations and ongoing work items, schema
`iotsec-triage/registry@1`.

The registry is a YAML data file maintainers edit, read with the project's safe loader and
validated like the rules: a broken file never loads, and every problem is reported as
`file:line:column: message`.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from engine.errors import RegistryLoadError, RuleIssue
from engine.yamlfile import read_model

SCHEMA_REGISTRY = "iotsec-triage/registry@1"

# 'X.1352', 'X.iot-dt', and as ITU-T numbers them: 'D.1140/X.1261', 'G Suppl. 48', 'H.248.1 (V2)', 'G.722.1 Annex A'.
_Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=60, pattern=r"^[A-Z](?:\.[A-Za-z0-9]| Suppl\.)[\w.\-/() ]*$")]
_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
_Topic = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=60, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]


class WorkItem(BaseModel):
    """One existing Recommendation or ongoing work item."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: _Id = Field(description="Recommendation number or provisional name, e.g. 'X.1352' or 'X.iot-dt'.")
    title: _Text
    study_group: Annotated[str, StringConstraints(pattern=r"^SG\d{1,2}$")]
    question: Annotated[str, StringConstraints(pattern=r"^(Q\d{1,2}/\d{1,2})?$")] = ""
    status: Literal["in_force", "under_study", "superseded", "withdrawn"]
    year: int | None = Field(default=None, ge=1950, le=2100)
    topics: list[_Topic] = Field(default_factory=list, max_length=20)
    # Own words; empty for an imported Recommendation nobody has described (its abstract is ITU's text, never kept).
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""
    source: Annotated[str, StringConstraints(max_length=1000)] = ""
    published: Annotated[str, StringConstraints(pattern=r"^(\d{4}-\d{2}-\d{2})?$")] = ""
    # Where the owner comes from: "record" (the bibliographic record names the Study Group),
    # "series range" (it names none; inferred from the number), "" (kept by hand).
    owner_from: Literal["", "record", "series range"] = ""


class RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: Literal["iotsec-triage/registry@1"] = Field(alias="schema")
    # A JSON Lines file of imported Recommendations (facts only, `registry import` writes it), beside this one.
    imported: Annotated[str, StringConstraints(pattern=r"^[\w.-]+\.jsonl$")] | None = None
    items: list[WorkItem] = Field(max_length=10_000)



def read_imported(path: Path | str) -> list[WorkItem]:
    """Read and check a JSON Lines file of imported items (one WorkItem per line); every bad line is reported."""
    p = Path(path)
    items: list[WorkItem] = []
    issues: list[RuleIssue] = []
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise RegistryLoadError([RuleIssue(p.as_posix(), 1, 1, f"cannot read the imported registry: {exc}", code="io")]) from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            items.append(WorkItem.model_validate_json(line))
        except ValidationError as exc:
            for err in exc.errors()[:3]:
                where = ".".join(str(x) for x in err["loc"]) or "line"
                issues.append(RuleIssue(p.as_posix(), n, 1, f"{where}: {err['msg']}", code="schema"))
    if issues:
        raise RegistryLoadError(issues)
    return items


def merge_items(hand: list[WorkItem], imported: list[WorkItem]) -> list[WorkItem]:
    """The imported Recommendations, then the hand-kept items; an id in both is the hand-kept item
    (its owner, Question, topics, own words and status), with the import's date, source and
    owner's origin where the hand-kept one leaves them empty."""
    kept = {it.id for it in hand}
    records = {it.id: it for it in imported}
    out = [it for it in imported if it.id not in kept]
    for it in hand:
        rec = records.get(it.id)
        if rec is not None:
            it = it.model_copy(update={k: getattr(rec, k) for k in ("published", "year")
                                       if not getattr(it, k) and getattr(rec, k)})
        out.append(it)
    return out


def read_items(path: Path | str) -> tuple[list[WorkItem], str]:
    """Read and check a registry file (and the imported file it names): its items and its content
    revision; RegistryLoadError lists every located problem."""
    p = Path(path)
    doc, model, issues = read_model(p, RegistryFile, f"a registry file (schema {SCHEMA_REGISTRY!r})")
    if doc is None or model is None:
        raise RegistryLoadError(issues)
    seen: dict[str, int] = {}
    for i, it in enumerate(model.items):
        if it.id in seen:
            line = doc.locate(["items", seen[it.id]])[0]
            issues.append(doc.issue(["items", i, "id"], f"duplicate work item {it.id!r} (first at line {line})", code="duplicate"))
        seen.setdefault(it.id, i)
        if it.question and "SG" + it.question.split("/")[1] != it.study_group:
            issues.append(doc.issue(["items", i, "question"], f"Question {it.question} is not in {it.study_group}", code="reference"))
    if issues:
        raise RegistryLoadError(issues)
    digest = hashlib.sha256(p.read_bytes())
    items = list(model.items)
    if model.imported:
        imported_path = p.parent / model.imported
        items = merge_items(items, read_imported(imported_path))
        digest.update(imported_path.read_bytes())
    return items, digest.hexdigest()[:16]


def default_registry_file() -> Path:
    """The registry shipped with the package."""
    import fixtures

    return Path(fixtures.__file__).resolve().parent / "registry" / "work_items.yaml"
