"""CSV cells that a spreadsheet shows as text, never runs as a formula (CSV injection).

A cell that starts with `=`, `+`, `-`, `@` (or their fullwidth forms), a tab or a carriage return is read by Excel, LibreOffice
and Google Sheets as a formula (`=HYPERLINK(...)`, `@SUM(...)`, `-2+3`); a leading apostrophe makes
it text, and the spreadsheet hides the apostrophe (the OWASP advice). Other cells are unchanged.
"""
from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")  # and their fullwidth forms


def csv_cell(value: str) -> str:
    """`value` as a CSV cell that cannot start a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value
