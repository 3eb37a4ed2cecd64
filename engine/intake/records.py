"""Files of proposals into records: the one reader of JSON, JSON Lines, CSV and XLSX, and the one
formatter of a proposal's validation errors.

Every door that reads proposals from a file (triage, batch, eval, rules diff) uses `read_records`,
so they all take the same shapes:
- JSON: one proposal object, or one `{"id": ..., "proposal": {...}}` object, pretty-printed or not;
- JSON Lines: one of those per line (blank lines skipped);
- CSV: a header row of proposal field names (any capitalisation, a UTF-8 BOM, `,` or `;` as the
  delimiter), list fields separated by `;` (or `,` when `;` delimits the cells), and an optional
  `id` (or `contribution`, `number`, `no`) column kept as the item's id;
- XLSX (a spreadsheet saved from Excel or LibreOffice): its sheet read like a CSV (`xlsx_records`).
A record that cannot be read or validated becomes a Record with `error` set, located as
`FILE:LINE`; it never stops the records after it. A remark that stops nothing (an ignored CSV
column) is a Record with only `warning` set.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from engine.models import Proposal
from engine.yamlfile import did_you_mean

LIST_FIELDS = ("keywords", "questions", "relations", "liaisons")
KNOWN_FIELDS = tuple(Proposal.model_fields)
ID_COLUMNS = ("id", "contribution", "contribution number", "number", "no", "no.", "ref")


@dataclass
class Record:
    """One item of a file: where it is, its own id if it has one, and the proposal or what is wrong."""

    where: str
    proposal: Proposal | None = None
    error: str | None = None
    id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # the record's other keys (evaluation labels)
    warning: str | None = None  # a remark about the file that stops nothing (no proposal, no error)

    @property
    def label(self) -> str:
        """How to name the item to a person: its id when it has one, else where it is."""
        return f"{self.where} ({self.id})" if self.id else self.where


def describe_validation(exc: ValidationError, what: str = "proposal", known: Sequence[str] = KNOWN_FIELDS) -> str:
    """Validation errors in one line, `field: message`; an unknown field gets the known ones
    (a proposal's by default) and a suggestion."""
    parts: list[str] = []
    for e in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in e["loc"]) or what
        if e["type"] == "extra_forbidden":
            name = str(e["loc"][-1]) if e["loc"] else ""
            guess = did_you_mean(name, list(known))
            hint = f" (did you mean {guess!r}?)" if guess else ""
            parts.append(f"{loc}: unknown field{hint}; known fields: {', '.join(known)}")
        elif e["type"] == "missing":
            parts.append(f"{loc}: required")
        else:
            parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def to_record(where: str, value: Any) -> Record:
    """A parsed JSON value (a proposal, or `{id, proposal, ...}`) validated into a Record."""
    item_id: str | None = None
    extra: dict[str, Any] = {}
    if isinstance(value, dict) and isinstance(value.get("proposal"), dict):
        raw_id = value.get("id")
        item_id = str(raw_id) if isinstance(raw_id, (str, int)) and str(raw_id) else None
        extra = {k: v for k, v in value.items() if k not in ("proposal", "id")}
        value = value["proposal"]
    if not isinstance(value, dict):
        return Record(where, error=f"expected a JSON object (a proposal), got {type(value).__name__}", id=item_id)
    try:
        return Record(where, Proposal.model_validate(value), id=item_id, extra=extra)
    except ValidationError as exc:
        return Record(where, error=describe_validation(exc), id=item_id, extra=extra)


def _json_records(text: str, name: str) -> Iterator[Record]:
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            whole = json.loads(stripped)
        except json.JSONDecodeError as exc:
            if "\n" in stripped and exc.msg != "Extra data":
                # One pretty-printed document: say where in the file it breaks.
                offset = len(text) - len(text.lstrip())
                at = text.count("\n", 0, offset + exc.pos) + 1
                yield Record(f"{name}:{at}", error=f"invalid JSON at column {exc.colno}: {exc.msg}")
                return
        else:
            if isinstance(whole, list):
                for i, value in enumerate(whole, 1):
                    yield to_record(f"{name}#{i}", value)
            else:
                yield to_record(f"{name}:1", whole)
            return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield Record(f"{name}:{number}", error=f"invalid JSON at column {exc.colno}: {exc.msg}")
            continue
        yield to_record(f"{name}:{number}", value)


def _header_key(cell: str) -> str:
    return " ".join(cell.strip().lower().replace("_", " ").split())


def _csv_records(text: str, name: str) -> Iterator[Record]:
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    list_sep = "," if delimiter == ";" else ";"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def rows() -> Iterator[tuple[int, list[str]]]:
        for row in reader:
            yield reader.line_num, row

    yield from table_records(rows(), name, list_sep)


def _split_list(value: str, list_sep: str | None) -> list[str]:
    sep = list_sep or (";" if ";" in value else ",")
    return [v.strip() for v in value.split(sep) if v.strip()]


def table_records(rows: Iterable[tuple[int, list[str]]], name: str, list_sep: str | None = None) -> Iterator[Record]:
    """Records of a table (CSV or a spreadsheet's sheet): the first row that is not blank is the
    header; `list_sep` splits list cells (None: `;` when the cell has one, else `,`)."""
    it = iter(rows)
    header: list[str] = []
    for _, cells in it:
        if any(c.strip() for c in cells):
            header = cells
            break
    if not header:
        yield Record(name, error="the file has no header row: no proposal in it")
        return
    keys = [_header_key(c) for c in header]
    columns: list[str | None] = []
    unknown: list[str] = []
    for cell, key in zip(header, keys):
        if key in ID_COLUMNS:
            columns.append("#id")
        elif key.replace(" ", "_") in KNOWN_FIELDS:
            columns.append(key.replace(" ", "_"))
        elif key == "":
            columns.append(None)
        else:
            columns.append(None)
            unknown.append(cell.strip())
    if "title" not in columns:
        guess = [g for g in (did_you_mean(u.lower(), KNOWN_FIELDS) for u in unknown) if g]
        hint = f" (did you mean {guess[0]!r}?)" if guess else ""
        yield Record(
            f"{name}:1",
            error=f"the table needs a header row with a 'title' column{hint}; "
            f"found {', '.join(c.strip() for c in header) or 'nothing'}; known: {', '.join(KNOWN_FIELDS)}",
        )
        return
    if unknown:
        yield Record(
            f"{name}:1", warning=f"unknown column(s) {', '.join(unknown)} ignored; known: {', '.join(KNOWN_FIELDS)}, id"
        )
    for line, row in it:
        where = f"{name}:{line}"
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(columns) and any(c.strip() for c in row[len(columns) :]):
            yield Record(where, error=f"{len(row)} cells, but the header has {len(columns)} columns")
            continue
        record: dict[str, Any] = {}
        item_id: str | None = None
        for column, cell in zip(columns, row):
            value = cell.strip()
            if column is None or not value:
                continue
            if column == "#id":
                item_id = value
            elif column in LIST_FIELDS:
                record[column] = _split_list(value, list_sep)
            else:
                record[column] = value
        rec = to_record(where, record)
        rec.id = item_id
        yield rec


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def xlsx_records(data: bytes, name: str) -> Iterator[Record]:
    """Every record of a spreadsheet (.xlsx), read like a CSV: the first sheet with a 'title'
    column (else the first sheet), its first non-blank row the header."""
    try:
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - a zip, XML or openpyxl error all mean "not a readable workbook"
        yield Record(name, error=f"not a readable .xlsx workbook ({type(exc).__name__}: {str(exc)[:120]})")
        return
    try:
        sheets = [[[_cell_text(v) for v in row] for row in ws.iter_rows(values_only=True)] for ws in book.worksheets]
    except Exception as exc:  # noqa: BLE001 - a damaged sheet
        yield Record(name, error=f"a sheet of the workbook cannot be read ({type(exc).__name__})")
        return
    finally:
        book.close()
    if not sheets:
        yield Record(name, error="the workbook has no sheet")
        return

    def has_title(rows: list[list[str]]) -> bool:
        first = next((r for r in rows if any(c.strip() for c in r)), [])
        return "title" in (_header_key(c) for c in first)

    rows = next((r for r in sheets if has_title(r)), sheets[0])
    yield from table_records(((i, r) for i, r in enumerate(rows, 1)), name)


def read_records(text: str, name: str, fmt: str = "auto") -> Iterator[Record]:
    """Every record of a file's text: `fmt` is json, jsonl, csv, or auto (csv by the name's ending
    or a header-looking first line, else JSON). An empty file yields one error record."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        yield Record(name, error="the file is empty: no proposal in it")
        return
    if fmt == "auto":
        fmt = "csv" if name.lower().endswith(".csv") else "json"
    if fmt == "csv":
        yield from _csv_records(text, name)
    else:
        yield from _json_records(text, name)
