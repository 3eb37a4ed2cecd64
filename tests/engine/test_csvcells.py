"""Formula-safe CSV cells (engine/csvcells.py): the one helper of every CSV writer, core and doors."""
from __future__ import annotations

import pytest

from engine.csvcells import safe_cell, safe_row


@pytest.mark.parametrize("cell, safe", [("=1+1", "'=1+1"), ("+33 1", "'+33 1"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
                                        ("\tx", "'\tx"), ("\rx", "'\rx"), ("plain", "plain"), (None, ""), (0.5, "0.5")])
def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(cell: object, safe: str) -> None:
    assert safe_cell(cell) == safe
    assert safe_row([cell, "ok"]) == [safe, "ok"]
