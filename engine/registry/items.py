"""The registry file: existing ITU-T Recommendations and ongoing work items, schema
`iotsec-triage/registry@1`.

The registry is a YAML data file maintainers edit, read with the project's safe loader and
validated like the rules: a broken file never loads, and every problem is reported as
`file:line:column: message`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from engine.errors import RegistryLoadError, RuleIssue
from engine.yamlfile import read_model

SCHEMA_REGISTRY = "iotsec-triage/registry@1"

# 'X.1352', 'X.iot-dt', 'XSTR.dpama', and as ITU-T numbers them: 'D.1140/X.1261', 'G Suppl. 48', 'H.248.1 (V2)'.
_Id = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=3,
        max_length=60,
        pattern=r"^[A-Z]{1,5}(?:\.[A-Za-z0-9]| Suppl\.)[\w.\-/() ]*$",
    ),
]
_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
_Topic = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=60, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
]


STATUSES = ("under_study", "determined", "consented", "approved", "withdrawn", "in_force", "superseded")
"""A work item's life: under study -> determined (TAP) or consented (AAP) -> approved -> in force
(published) -> superseded; withdrawn at any point. Technical reports that are "agreed" are `approved`."""
ONGOING = ("under_study", "determined", "consented")
"""Statuses of work that is still in the Study Group's hands."""


def _iso(value: Any) -> Any:
    """A YAML date (unquoted 2025-04-22) read as its ISO text."""
    return value.isoformat() if isinstance(value, _dt.date) else value


# A date as precise as the record: year, month or day ("2025", "2025-09", "2025-09-25"); "" = unknown.
_Date = Annotated[
    str,
    BeforeValidator(_iso),
    StringConstraints(strip_whitespace=True, pattern=r"^(\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?)?$"),
]
# A target as the work programme writes it: "2027-01", "2027-Q4", "2027"; "" = none given.
_Target = Annotated[
    str,
    BeforeValidator(_iso),
    StringConstraints(strip_whitespace=True, pattern=r"^(\d{4}(-(0[1-9]|1[0-2]|Q[1-4]))?)?$"),
]
_Status = Literal["under_study", "determined", "consented", "approved", "withdrawn", "in_force", "superseded"]
_Question = Annotated[str, StringConstraints(pattern=r"^(Q\d{1,2}/\d{1,2})?$")]
_Url = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class HistoryEvent(BaseModel):
    """One step of a work item's life in the public record: its date, the status it reached, and
    the Question or Study Group it sat in from then on when the record says (a move)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built on first validation

    date: _Date = Field(description="As precise as the record: '2025', '2025-09' or '2025-09-25'; '' = undated.")
    status: _Status
    source: _Url = Field(min_length=1, description="The public record that shows this step.")
    question: _Question = Field(default="", description="The Question from this step on, when the record names it.")
    study_group: Annotated[str, StringConstraints(pattern=r"^(SG\d{1,2})?$")] = ""
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = ""


class WorkItem(BaseModel):
    """One existing Recommendation or ongoing work item."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)  # built on first validation

    id: _Id = Field(description="Recommendation number or provisional name, e.g. 'X.1352' or 'X.iot-dt'.")
    title: _Text
    study_group: Annotated[str, StringConstraints(pattern=r"^SG\d{1,2}$")]
    question: _Question = Field(
        default="", description="The Question that holds it; '' = no public record names it (unknown)."
    )
    status: _Status
    year: int | None = Field(default=None, ge=1950, le=2100)
    topics: list[_Topic] = Field(default_factory=list, max_length=20)
    # Own words; empty for an imported Recommendation nobody has described (its abstract is ITU's text, never kept).
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""
    source: Annotated[str, StringConstraints(max_length=1000)] = ""
    # Timing and life (additive; all optional so older registry files still load).
    provisional: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] = Field(
        default="", description="The provisional name the work item had before its number, e.g. 'X.ra-iot'."
    )
    start_date: _Date = Field(default="", description="First registration in the work programme.")
    status_date: _Date = Field(default="", description="When the item reached its current status.")
    target: _Target = Field(default="", description="The work programme's timing for completion.")
    liaisons: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=40)]] = Field(
        default_factory=list,
        max_length=20,
        description="Groups the work programme entry names for liaison, e.g. 'SG20'.",
    )
    history: list[HistoryEvent] = Field(default_factory=list, max_length=50)
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = Field(
        default="", description="What the public record does not confirm (own words)."
    )

    @property
    def ongoing(self) -> bool:
        """Still in the Study Group's hands (under study, determined or consented)."""
        return self.status in ONGOING

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
        raise RegistryLoadError(
            [RuleIssue(p.as_posix(), 1, 1, f"cannot read the imported registry: {exc}", code="io")]
        ) from None
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
            it = it.model_copy(
                update={k: getattr(rec, k) for k in ("published", "year") if not getattr(it, k) and getattr(rec, k)}
            )
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
            issues.append(
                doc.issue(["items", i, "id"], f"duplicate work item {it.id!r} (first at line {line})", code="duplicate")
            )
        seen.setdefault(it.id, i)
        if it.question and "SG" + it.question.split("/")[1] != it.study_group:
            issues.append(
                doc.issue(
                    ["items", i, "question"], f"Question {it.question} is not in {it.study_group}", code="reference"
                )
            )
        for j, ev in enumerate(it.history):
            if ev.question and ev.study_group and "SG" + ev.question.split("/")[1] != ev.study_group:
                issues.append(
                    doc.issue(
                        ["items", i, "history", j, "question"],
                        f"Question {ev.question} is not in {ev.study_group}",
                        code="reference",
                    )
                )
        dated = [ev.date for ev in it.history if ev.date]
        if dated != sorted(dated, key=date_key):
            issues.append(doc.issue(["items", i, "history"], "history events are not in date order", code="order"))
    if issues:
        raise RegistryLoadError(issues)
    digest = hashlib.sha256(p.read_bytes())
    items = list(model.items)
    if model.imported:
        imported_path = p.parent / model.imported
        items = merge_items(items, read_imported(imported_path))
        digest.update(imported_path.read_bytes())
    return items, digest.hexdigest()[:16]


def date_key(date: str) -> str:
    """A partial date as the first day it can mean, for ordering and comparing: '2025-09' -> '2025-09-01'."""
    if not date:
        return ""
    parts = date.split("-")
    return "-".join(parts + ["01"] * (3 - len(parts)))


def default_registry_file() -> Path:
    """The registry shipped with the package."""
    import fixtures

    return Path(fixtures.__file__).resolve().parent / "registry" / "work_items.yaml"
