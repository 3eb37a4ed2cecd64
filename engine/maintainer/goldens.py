"""Golden fixtures: a proposal and what must (and must not) come out. Used by pytest and `rules test`.

File shape (schema iotsec-triage/fixtures@1):
    fixtures:
      - name: kebab-case-name
        note: why this outcome
        proposal: {title: ..., summary: ...}
        expect:
          home: SG17            # required
          lead: SG17            # joint: the leading SG
          other_sg: SG11        # home other
          questions: [Q13/17]   # the first must be the first recommended
          flags: [CODE]         # must be raised
          no_flags: [CODE]      # must not be raised
          rules: [rule.id]      # must fire
          not_rules: [rule.id]  # must not fire
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.errors import RuleIssue
from engine.models import Decision, Proposal
from engine.vocabulary import Home, LeadSG
from engine.yamlfile import read_model


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    home: Home
    lead: LeadSG | None = None
    other_sg: str | None = None
    questions: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    no_flags: list[str] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    not_rules: list[str] = Field(default_factory=list)


class Fixture(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,79}$")
    note: str = ""
    proposal: Proposal
    # Precedent signals as a registry would give them (engine/precedent.py), e.g. {prec_sg13: 70, prec_lead: 50}.
    precedent: dict[str, int] = Field(default_factory=dict)
    expect: Expect


class FixtureFile(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_: Literal["iotsec-triage/fixtures@1"] = Field(alias="schema")
    fixtures: list[Fixture]


def load_fixtures(path: Path) -> tuple[list[Fixture], list[RuleIssue]]:
    """Fixtures of one file, or the located issues that stopped it loading."""
    doc, model, issues = read_model(path, FixtureFile, "a fixtures file")
    if doc is None or model is None:
        return [], issues
    seen: set[str] = set()
    for i, f in enumerate(model.fixtures):
        if f.name in seen:
            issues.append(doc.issue(["fixtures", i, "name"], f"duplicate fixture name {f.name!r}", code="duplicate"))
        seen.add(f.name)
    return model.fixtures, issues


def fixture_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def differences(expect: Expect, d: Decision) -> list[str]:
    """What differs between the expectation and the decision; empty when the fixture passes."""
    out: list[str] = []
    if d.home != expect.home:
        out.append(f"home: expected {expect.home}, got {d.home}")
    if expect.lead and d.lead != expect.lead:
        out.append(f"lead: expected {expect.lead}, got {d.lead}")
    if expect.other_sg and d.other_sg != expect.other_sg:
        out.append(f"other_sg: expected {expect.other_sg}, got {d.other_sg}")
    if expect.questions and (not d.questions or d.questions[0] != expect.questions[0]):
        out.append(f"first Question: expected {expect.questions[0]}, got {d.questions[:3] or 'none'}")
    codes = d.flag_codes()
    missing = [c for c in expect.flags if c not in codes]
    if missing:
        out.append(f"flags missing: {', '.join(missing)} (got {', '.join(codes) or 'none'})")
    unwanted = [c for c in expect.no_flags if c in codes]
    if unwanted:
        out.append(f"flags that must not be raised: {', '.join(unwanted)}")
    fired = {r.rule for r in d.reasons}
    not_fired = [r for r in expect.rules if r not in fired]
    if not_fired:
        out.append(f"rules that did not fire: {', '.join(not_fired)}")
    wrongly = [r for r in expect.not_rules if r in fired]
    if wrongly:
        out.append(f"rules that must not fire but did: {', '.join(wrongly)}")
    return out


def bundled_fixtures_dir() -> Path:
    """The golden fixtures shipped with the package."""
    import fixtures

    return Path(fixtures.__file__).resolve().parent / "proposals"
