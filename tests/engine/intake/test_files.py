"""Files as staff receive them: a contribution's .docx (A.1 table or headed sections), spreadsheets
(.xlsx) and CSV as exported, with their id column; unreadable files named."""
from __future__ import annotations

import io

import pytest

from engine.intake.files import read_upload
from engine.intake.records import read_records

TITLE = "Security requirements for smart irrigation gateways"


def a1_docx() -> bytes:
    """A contribution as TSB receives it: a heading, then the A.1 table (label cell, content cell)."""
    from docx import Document

    doc = Document()
    doc.add_heading("A.1 justification for proposed draft new Recommendation", level=1)
    table = doc.add_table(rows=0, cols=2)
    for label, content in [("Question(s):", "Q6/20"), ("Reference and title:", f'Y.irr-sec "{TITLE}"'),
                           ("Base text:", "C-123"),
                           ("Scope (defines the intent or object of the Recommendation):",
                            "Threats to irrigation controllers on farms and security requirements for the gateways."),
                           ("Summary (provides a brief overview of the purpose and contents):",
                            "Requirements for authentication and secure update of field gateways."),
                           ("Relations to ITU-T Recommendations or to other standards:", "Y.4100; X.1352")]:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = label, content
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def sections_docx() -> bytes:
    """The same justification written as headed sections instead of a table."""
    from docx import Document

    doc = Document()
    doc.add_heading("Title", level=2)
    doc.add_paragraph("Lightweight mutual authentication for constrained IoT devices")
    doc.add_heading("Scope", level=2)
    doc.add_paragraph("A handshake for battery-powered sensors.")
    doc.add_heading("Question(s)", level=2)
    doc.add_paragraph("Q6/17")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def items_xlsx() -> bytes:
    """A spreadsheet of items as staff keep them: a contribution number column and capitalised headers."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Contribution", "Title", "Keywords", "Questions", "Owner notes"])
    sheet.append(["C-0042", TITLE, "irrigation; gateway", "Q6/20", "ignored"])
    sheet.append([None, None, None, None, None])
    sheet.append([43, "Lightweight mutual authentication for constrained IoT devices", "authentication, PKI", None, None])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_a_docx_with_the_a1_table_gives_the_proposal() -> None:
    [rec] = list(read_upload(a1_docx(), "C-123.docx"))
    assert rec.error is None and rec.proposal is not None
    p = rec.proposal
    assert (p.title, p.reference, p.questions) == (TITLE, "Y.irr-sec", ["Q6/20"])
    assert p.scope.startswith("Threats to irrigation") and "X.1352" in p.relations
    assert rec.extra["a1"].missing == ["liaisons"]


def test_a_docx_with_headed_sections_gives_the_proposal() -> None:
    [rec] = list(read_upload(sections_docx(), "contribution.docx"))
    assert rec.proposal is not None
    assert rec.proposal.title.startswith("Lightweight mutual authentication") and rec.proposal.questions == ["Q6/17"]
    assert rec.proposal.scope == "A handshake for battery-powered sensors."


@pytest.mark.parametrize("name, data, says", [
    ("broken.docx", b"PK not really a zip", "not a readable .docx"),
    ("old.doc", b"\xd0\xcf\x11\xe0", "save it as .docx"),
    ("sheet.xlsx", b"nope", "not a readable .xlsx"),
    ("latin1.csv", "title\nS\xe9curit\xe9".encode("latin-1"), "not UTF-8"),
    ("empty.jsonl", b"", "empty"),
])
def test_a_file_that_cannot_be_read_says_which_and_why(name: str, data: bytes, says: str) -> None:
    [rec] = list(read_upload(data, name))
    assert rec.proposal is None and rec.where.startswith(name) and says in (rec.error or "")


def test_an_xlsx_batch_keeps_its_id_column_and_skips_blank_rows() -> None:
    recs = list(read_upload(items_xlsx(), "items.xlsx"))
    notes = [r for r in recs if r.warning]
    items = [r for r in recs if not r.warning]
    assert notes and "Owner notes" in (notes[0].warning or "")
    assert [r.id for r in items] == ["C-0042", "43"]
    assert items[0].proposal is not None and items[0].proposal.keywords == ["irrigation", "gateway"]
    assert items[1].proposal is not None and items[1].proposal.keywords == ["authentication", "PKI"]
    assert items[0].label == "items.xlsx:2 (C-0042)"


@pytest.mark.parametrize("text", [
    "\ufeffid,title,questions\nC-1,Smart meter security,Q6/17;Q6/20\n",        # BOM, an id column
    "ID;Title;Questions\nC-1;Smart meter security;Q6/17,Q6/20\n",              # ; delimiter, capitals
    "Contribution number,Title,Questions,,\nC-1,Smart meter security,Q6/17;Q6/20,,\n",  # trailing empty columns
])
def test_a_csv_as_spreadsheets_export_it(text: str) -> None:
    [rec] = [r for r in read_records(text, "items.csv") if not r.warning]
    assert rec.error is None, rec.error
    assert rec.id == "C-1" and rec.proposal is not None and rec.proposal.questions == ["Q6/17", "Q6/20"]


def test_a_csv_without_a_title_column_suggests_one() -> None:
    [rec] = list(read_records("Titel,Scope\nX,Y\n", "items.csv"))
    assert rec.error and "did you mean 'title'" in rec.error
