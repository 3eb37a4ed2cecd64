"""An ITU-T contribution as a Word file (.docx) -> the A.1 text it holds -> a Proposal.

A contribution carries its A.1 justification as a table (a row per box: "Question(s):",
"Reference and title:", "Scope (...):", ...; the label in its own cell or at the start of the
content) or as headed sections ("Scope" as a heading, its text below). Both become the labelled
lines engine.intake.a1text reads: a row's first cell is its label, the other cells its content;
paragraphs and headings are lines in document order. Pure apart from python-docx: bytes in.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from engine.errors import InputError
from engine.intake.a1text import A1Parse, parse_a1

MAX_LABEL = 160


def _cell_texts(row: Any) -> list[str]:
    texts: list[str] = []
    last: Any = None
    for cell in row.cells:
        if cell._tc is last:  # a merged cell repeats itself across the columns it spans
            continue
        last = cell._tc
        text = cell.text.strip()
        if text and (not texts or texts[-1] != text):
            texts.append(text)
    return texts


def _table_lines(table: Any) -> Iterator[str]:
    for row in table.rows:
        cells = _cell_texts(row)
        if not cells:
            continue
        head, rest = cells[0], cells[1:]
        if rest and len(head) <= MAX_LABEL and "\n" not in head:
            # "Scope:" | "The text..." -> one labelled box; the other cells follow as its content.
            yield f"{head if head.endswith(':') else head + ':'} {rest[0]}"
            yield from rest[1:]
        else:
            yield from cells


def docx_text(data: bytes) -> str:
    """The text of a .docx in reading order (paragraphs and table rows); InputError if unreadable."""
    try:
        from docx import Document

        document = Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - zip, XML or package errors all mean "not a readable .docx"
        raise InputError(f"not a readable .docx file ({type(exc).__name__}: {str(exc)[:120]})", where="file") from None
    lines: list[str] = []
    for block in document.iter_inner_content():
        if hasattr(block, "rows"):
            lines.extend(_table_lines(block))
        else:
            text = block.text.strip()
            if text:
                lines.append(text)
    return "\n".join(lines)


def parse_docx(data: bytes) -> A1Parse:
    """The proposal of a contribution's .docx, with the A.1 fields found; InputError says what is wrong."""
    text = docx_text(data)
    if not text.strip():
        raise InputError("the .docx file has no text: no A.1 justification in it", where="file")
    return parse_a1(text)
