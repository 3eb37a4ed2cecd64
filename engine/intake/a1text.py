"""Plain text of an A.1 justification, as people paste it, -> a Proposal and the fields found.

Rec. ITU-T A.1 lays the justification out as labelled boxes: "Question(s):", "Reference and
title:", "Base text:", "Scope (...):", "Summary (...):", "Relations to ITU-T Recommendations or
to other standards (...):", "Liaisons with other study groups (...):", "Supporting members
(...):". Pasted from a document, the boxes become lines that start with those labels, with the
content on the same line or the lines after, up to the next label. The form's own words are not
content: `text` keeps what the boxes hold, without their labels and hints, and without the boxes
that are form (the Question's title on the "Question(s):" line, editors, timing, supporters), so
they never become facts. Pure: no I/O.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from engine.errors import InputError
from engine.intake.records import describe_validation
from engine.models import Proposal

MAX_ITEM = 200
MAX_ITEMS = 50
MAX_LONG = 20_000
MAX_BODY = 100_000

# section key -> label pattern. Labels with a long explanatory tail in A.1 (relations, liaisons,
# supporting members) may carry any words before the colon; the others only a parenthesis.
_LABELS: list[tuple[str, str, bool]] = [
    ("questions", r"questions?\s*\(s\)|questions?", False),
    ("reference_title", r"reference\s+and\s+title", False),
    ("title", r"title", False),
    ("reference", r"reference|provisional\s+name", False),
    ("base_text", r"base\s+text", False),
    ("scope", r"scope", False),
    ("summary", r"summary|abstract", False),
    ("relations", r"relations?\s+to\s+(?:itu-t\s+)?recommendations|relations?\s+to\s+other|relations?", True),
    ("liaisons", r"liaisons?", True),
    ("supporting_members", r"supporting\s+members?", True),
    ("keywords", r"key\s*words?", False),
    ("editors", r"editors?\s*\(s\)|editors?", False),
    ("timing", r"timing", False),
    ("approval", r"approval\s+process", False),
    ("purpose", r"purpose", False),
]
_BULLET = r"[ \t]*(?:[-*\u2022\u2013]|\d{1,2}[.)])?[ \t]*"
_LABEL_LINE = re.compile(
    r"^" + _BULLET + r"(?:" + "|".join(
        f"(?P<{key}>{pattern})" + (r"(?:[ \t][^:\n]{0,160})?" if long_tail else r"(?:[ \t]*\([^)\n]{0,300}\))?")
        for key, pattern, long_tail in _LABELS
    ) + r")[ \t]*(?::|$)",
    re.IGNORECASE | re.MULTILINE,
)
_QUESTION = re.compile(r"(?<![\w/])Q?\s?(\d{1,2})\s?/\s?(\d{1,2})(?![\w/])", re.IGNORECASE)
_REFERENCE = re.compile(
    r"^(?:draft\s+)?(?:(?:new|revised)\s+)?(?:recommendation\s+)?(?:itu-t\s+)?"
    r"(?P<ref>[A-Z]\.(?:\d{1,4}(?:\.\d{1,3})?(?:[\w.-]*)|[A-Za-z][\w.-]*))\s*(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_QUOTED = re.compile(r"[\"\u201c\u201d\u00ab\u00bb']\s*(.+?)\s*[\"\u201c\u201d\u00ab\u00bb']", re.DOTALL)
_SPLIT = re.compile(r"[;\n]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NONE = re.compile(r"^(?:none|n/?a|nil|-+|tbd)\.?$", re.IGNORECASE)


@dataclass(frozen=True)
class A1Parse:
    """The proposal read from an A.1 text, the Proposal fields it filled, and the labels it saw."""

    proposal: Proposal
    found: list[str]
    sections: list[str]
    missing: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary of what was found."""
        return {"found": self.found, "sections": self.sections, "missing": self.missing}


# Sections of the form that are not the work's content: the Question's own title on the
# "Question(s):" line, the title line (already the title), the base text's document number,
# editors, timing, approval, supporters, and liaisons (read as their own field).
_NOT_CONTENT = frozenset({"questions", "reference_title", "title", "reference", "base_text", "editors", "timing",
                          "approval", "supporting_members", "liaisons"})
_TITLE_KEYS = frozenset({"reference_title", "title", "reference"})


def content_text(text: str) -> str:
    """The text as content: the form's labels and their hints ("Scope (defines the intent ...):")
    left out, and the sections that are form, not content (_NOT_CONTENT), left out whole. What is
    before the first label (an unlabelled paste) stays."""
    matches = list(_LABEL_LINE.finditer(text))
    if not matches:
        return text
    parts = [text[:matches[0].start()]]
    for i, m in enumerate(matches):
        key = next(k for k, v in m.groupdict().items() if v is not None)
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        body = text[m.end():end]
        if key in _NOT_CONTENT:
            # The box ends its line (or its paragraph, for a title over lines); after a blank line
            # an unlabelled paste goes on with content.
            _, blank, rest = body.strip().partition("\n\n") if key in _TITLE_KEYS else ("", "", "")
            body = rest if blank else ""
        parts.append(body)
    return "\n".join(p.strip() for p in parts if p.strip())


def split_sections(text: str) -> dict[str, str]:
    """Section key -> its content (label removed); the first occurrence of a label wins."""
    sections: dict[str, str] = {}
    matches = list(_LABEL_LINE.finditer(text))
    for i, m in enumerate(matches):
        key = next(k for k, v in m.groupdict().items() if v is not None)
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        content = text[m.end():end].strip()
        if key not in sections:
            sections[key] = content
    return sections


def _flat(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip()


def _items(value: str) -> list[str]:
    out: list[str] = []
    for part in _SPLIT.split(value):
        item = _flat(re.sub(r"^" + _BULLET, "", part))
        if not item or _NONE.match(item):
            continue
        while len(item) > MAX_ITEM:
            cut = item.rfind(" ", 0, MAX_ITEM)
            cut = cut if cut > MAX_ITEM // 2 else MAX_ITEM
            out.append(item[:cut].strip())
            item = item[cut:].strip()
        if item:
            out.append(item)
    return out[:MAX_ITEMS]


def _questions(value: str) -> list[str]:
    seen: list[str] = []
    for m in _QUESTION.finditer(value):
        q = f"Q{int(m.group(1))}/{int(m.group(2))}"
        if q not in seen:
            seen.append(q)
    return seen[:20]


def _reference_and_title(value: str) -> tuple[str, str]:
    flat = _flat(value)
    m = _REFERENCE.match(flat)
    reference, rest = (m.group("ref").rstrip(".,:;"), m.group("rest")) if m else ("", flat)
    quoted = _QUOTED.search(rest)
    title = quoted.group(1) if quoted else rest.lstrip(":-\u2013\u2014,; ").strip()
    return reference[:100], _flat(title)[:300]


def _text(value: str, limit: int) -> str:
    return _CONTROL.sub(" ", value).strip()[:limit]


def parse_a1(text: str) -> A1Parse:
    """Parse pasted A.1 text into a Proposal; InputError (where='text') if no title can be found."""
    if not text.strip():
        raise InputError("the text is empty: paste an A.1 justification", where="text")
    clean = _CONTROL.sub(" ", text.replace("\r\n", "\n").replace("\r", "\n"))
    sections = split_sections(clean)
    data: dict[str, Any] = {}
    reference = title = ""
    if "reference_title" in sections:
        reference, title = _reference_and_title(sections["reference_title"])
    if not title and sections.get("title"):
        title = _flat(sections["title"].strip().split("\n\n")[0])[:300]
    if not reference and sections.get("reference"):
        reference = _reference_and_title(sections["reference"])[0] or _flat(sections["reference"])[:100]
    if not title:
        first = next((line.strip() for line in clean.splitlines() if line.strip() and not _LABEL_LINE.match(line)), "")
        title = _flat(first)[:300]
        if not title:
            raise InputError("no title found: add a line 'Reference and title: X.name \"Title\"'", where="text")
    data["title"] = title
    if reference:
        data["reference"] = reference
    if "questions" in sections and (qs := _questions(sections["questions"])):
        data["questions"] = qs
    for key in ("scope", "summary"):
        if sections.get(key):
            data[key] = _text(sections[key], MAX_LONG)
    for key in ("relations", "liaisons", "keywords"):
        if sections.get(key) and (items := _items(sections[key] if key != "keywords" else sections[key].replace(",", ";"))):
            data[key] = items
    if sections.get("supporting_members"):
        data["submitter"] = _flat(sections["supporting_members"])[:200]
    data["text"] = _text(content_text(clean), MAX_BODY)
    try:
        proposal = Proposal.model_validate(data)
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors(include_url=False)[0]["loc"]) or "text"
        raise InputError(f"the A.1 text gave an invalid proposal: {describe_validation(exc)}", where=where) from None
    found: list[str] = [k for k in ("title", "reference", "questions", "scope", "summary", "relations", "liaisons", "keywords", "submitter")
             if k in data]
    missing = [k for k in ("reference", "questions", "scope", "summary", "relations", "liaisons") if k not in data]
    return A1Parse(proposal=proposal, found=found, sections=list(sections), missing=missing)
