"""Files as staff receive them -> records: the one dispatcher by kind of file.

`.docx` (a contribution with its A.1 justification), `.txt` (a pasted A.1 text), `.xlsx` (a
spreadsheet of items), `.csv`, `.json`/`.jsonl`. A file that cannot be read becomes one Record
with `error` naming the file and what was wrong; it never stops the files after it.
"""

from __future__ import annotations

from collections.abc import Iterator

from engine.errors import InputError
from engine.intake.a1text import parse_a1
from engine.intake.docx import parse_docx
from engine.intake.records import Record, read_records, xlsx_records

SUFFIXES = (".docx", ".txt", ".xlsx", ".csv", ".json", ".jsonl")
_REFUSED = {
    ".doc": "a Word 97-2003 .doc file cannot be read: save it as .docx",
    ".xls": "an Excel 97-2003 .xls file cannot be read: save it as .xlsx",
    ".pdf": "a PDF cannot be read: send the contribution as .docx, or paste its A.1 text",
}


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > name.replace("\\", "/").rfind("/") else ""


def _a1_record(name: str, parse: object) -> Record:
    from engine.intake.a1text import A1Parse

    assert isinstance(parse, A1Parse)
    return Record(f"{name}:1", parse.proposal, extra={"a1": parse})


def read_upload(data: bytes, name: str, fmt: str = "auto") -> Iterator[Record]:
    """Every record of one file's bytes; `fmt` as in read_records, or docx/xlsx/a1 (auto: by the name)."""
    suffix = _suffix(name)
    # A Word file or a workbook is read as one whatever the text format asked for (a folder holds both).
    binary = {".docx": "docx", ".xlsx": "xlsx", ".xlsm": "xlsx"}.get(suffix)
    kind = binary or (fmt if fmt != "auto" else {".txt": "a1"}.get(suffix, "auto"))
    if suffix in _REFUSED:
        yield Record(name, error=_REFUSED[_suffix(name)])
        return
    if kind == "docx":
        try:
            yield _a1_record(name, parse_docx(data))
        except InputError as exc:
            yield Record(name, error=exc.message)
        return
    if kind == "xlsx":
        yield from xlsx_records(data, name)
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        yield Record(
            name, error=f"not UTF-8 text (byte {exc.start}); a Word file must be .docx, a spreadsheet .xlsx or .csv"
        )
        return
    if kind == "a1":
        try:
            yield _a1_record(name, parse_a1(text))
        except InputError as exc:
            yield Record(name, error=exc.message)
        return
    yield from read_records(text, name, "json" if kind == "jsonl" else kind)
