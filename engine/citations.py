"""Cited Recommendations and the Study Group that owns each, by series range or registry entry."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# X.1352, Y.4500.3, H.810, ITU-T Q.5050; provisional names such as X.iot-dt or Y.IoT-sec-xyz.
_REC = re.compile(r"(?<![A-Za-z0-9.])([A-Z])\.(\d{1,4}(?:\.\d{1,3})?)(?![0-9])")
_PROVISIONAL = re.compile(r"^\s*([A-Z])\.([A-Za-z][\w.-]*)")
# A revision cue counts when at most a few words ("of Recommendation ITU-T") stand between it and the id.
# Only the words that name the Recommendation may stand between: "revision of Recommendation ITU-T",
# "extends the existing"; a cue about something else ("replacing passwords as in X.1254") is no revision.
_CUE_BEFORE_ID = re.compile(
    r"(?:^|\W)(?:revis\w*|amend\w*|corrigend\w*|new (?:edition|version)|updat\w* (?:of|to)|"
    r"extension (?:of|to)|extends?|supersed\w*|replac\w*|rev|amd)\W+"
    r"(?:(?:of|to|the|existing|current|published|recommendations?|rec|itu-t|itu|no|\d+|\[)\W*){0,5}$",
    re.IGNORECASE,
)
_REVISION_CUE = re.compile(
    r"(revis\w*|amend\w*|corrigend\w*|new (?:edition|version)|updat\w* (?:of|to)|extension (?:of|to)|"
    r"extends?|supersed\w*|replac\w*|\brev\b|\bamd\b)",
    re.IGNORECASE,
)
_SUBJECT_VERB = re.compile(
    r"^\W{0,3}(?:\"[^\"]{0,200}\"\s*)?(provides|specifies|defines|describes|establishes|introduces|includes|"
    r"presents|gives|identifies|covers|offers|analyses|analyzes|proposes|focuses)\b",
    re.IGNORECASE,
)
_CLAUSE = re.compile(r"[.;:]\s|\n")
_RECOMMENDATION_BEFORE = re.compile(r"Recommendation\s+(?:ITU-T\s+)?$", re.IGNORECASE)


@dataclass(frozen=True)
class SeriesRange:
    prefix: str
    start: float
    end: float
    sg: str
    label: str
    question: str | None = None


@dataclass(frozen=True)
class Citation:
    rec: str
    sg: str | None
    field: str
    revised: bool = False
    subject: bool = False
    question: str | None = None


def series_of(rec: str, series: Iterable[SeriesRange]) -> SeriesRange | None:
    """The first series range a Recommendation number falls in (specific ranges are listed first)."""
    m = _REC.match(rec)
    if not m:
        return None
    prefix, number = m.group(1), float(m.group(2).split(".")[0])
    for s in series:
        if s.prefix == prefix and s.start <= number <= s.end:
            return s
    return None


def owner(rec: str, series: Iterable[SeriesRange], known: Mapping[str, str]) -> str | None:
    """The SG owning a Recommendation: a known registry entry first, then the series ranges."""
    if rec in known:
        return known[rec]
    found = series_of(rec, series)
    return found.sg if found else None


def find_citations(
    field: str, text: str, series: list[SeriesRange], known: Mapping[str, str], *, relation_field: bool = False
) -> list[Citation]:
    """Every Recommendation cited in `text`; revision cues close before an id mark it revised."""
    found: list[Citation] = []
    for m in _REC.finditer(text):
        rec = f"{m.group(1)}.{m.group(2)}"
        sg = owner(rec, series, known)
        if sg is None:
            continue
        rng = series_of(rec, series)
        start, end = m.start(), m.end()
        after = text[end : end + 260]
        revised = subject = False
        if start:
            clause_before = _CLAUSE.split(text[max(0, start - 60) : start])[-1]
            revised = bool(_CUE_BEFORE_ID.search(clause_before))
            # "Recommendation ITU-T X.1234 specifies ..." opening a field: the text describes that Recommendation.
            subject = (
                start < 200
                and bool(after)
                and bool(_RECOMMENDATION_BEFORE.search(text[max(0, start - 40) : start]))
                and bool(_SUBJECT_VERB.match(after))
            )
        if relation_field and not revised and after:
            revised = bool(_REVISION_CUE.search(after[:30]))
        question = rng.question if rng is not None and rng.sg == sg else None
        found.append(Citation(rec, sg, field, revised, subject, question))
    return found


def provisional_sg(
    reference: str, provisional: Mapping[str, str], series: list[SeriesRange], known: Mapping[str, str]
) -> str | None:
    """The SG suggested by a provisional name's series letter (X.iot-dt -> the X series' owner)."""
    if not reference:
        return None
    exact = _REC.match(reference.strip())
    if exact:
        return owner(f"{exact.group(1)}.{exact.group(2)}", series, known)
    m = _PROVISIONAL.match(reference)
    return provisional.get(m.group(1)) if m else None
