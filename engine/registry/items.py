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

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from engine.errors import RegistryLoadError
from engine.yamlfile import read_model

SCHEMA_REGISTRY = "iotsec-triage/registry@1"

_Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=40, pattern=r"^[A-Z]\.[A-Za-z0-9][\w.-]*$")]
_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
_Topic = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=60, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]


class WorkItem(BaseModel):
    """One existing Recommendation or ongoing work item."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: _Id = Field(description="Recommendation number or provisional name, e.g. 'X.1352' or 'X.iot-dt'.")
    title: _Text
    study_group: Annotated[str, StringConstraints(pattern=r"^SG\d{1,2}$")]
    question: Annotated[str, StringConstraints(pattern=r"^(Q\d{1,2}/\d{1,2})?$")] = ""
    status: Literal["in_force", "under_study", "superseded"]
    year: int | None = Field(default=None, ge=1950, le=2100)
    topics: list[_Topic] = Field(default_factory=list, max_length=20)
    description: _Text
    source: Annotated[str, StringConstraints(max_length=1000)] = ""


class RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: Literal["iotsec-triage/registry@1"] = Field(alias="schema")
    items: list[WorkItem] = Field(max_length=10_000)



def read_items(path: Path | str) -> tuple[list[WorkItem], str]:
    """Read and check a registry file: its items and its content revision; RegistryLoadError lists every located problem."""
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
    return list(model.items), hashlib.sha256(p.read_bytes()).hexdigest()[:16]


def default_registry_file() -> Path:
    """The registry shipped with the package."""
    import fixtures

    return Path(fixtures.__file__).resolve().parent / "registry" / "work_items.yaml"
