"""Formula-safe CSV cells: the one helper every CSV writer uses (in the core, so that the
registry's landscape and change reports use it as much as the doors' exports).

A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (and, in some, a tab or carriage
return) as a formula, so a title such as `=HYPERLINK(...)` sent by anyone would run on a staff
member's machine when the export is opened. Such a cell is written with a leading `'`, which
spreadsheets show as text and do not run (OWASP "CSV injection").
"""
from __future__ import annotations

from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The cell as text, with a `'` before it when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def safe_row(values: Iterable[object]) -> list[str]:
    """Every cell of a row made formula-safe."""
    return [safe_cell(v) for v in values]
