"""normlab.tables.format_table: aligned plain-text tables with clear errors."""

import pytest

from normlab.tables import format_table


def test_aligns_columns_and_strips_trailing_spaces():
    text = format_table(["name", "n"], [["a", 1], ["longer", 22]])
    assert text.splitlines() == ["name    n", "------  --", "a       1", "longer  22"]


def test_header_only():
    assert format_table(["x"], []) == "x\n-"


@pytest.mark.parametrize(
    "header, rows, error, message",
    [
        ("ab", [], TypeError, "header must be a sequence"),
        ([], [], ValueError, "at least one column"),
        ([1], [], TypeError, "header must hold strings"),
        (["a"], "rows", TypeError, "rows must be a sequence"),
        (["a"], [3], TypeError, r"rows\[0\] must be a sequence"),
        (["a", "b"], [["x"]], ValueError, r"rows\[0\] must have 2 cells"),
        (["a"], [["x\ny"]], ValueError, "one line"),
    ],
)
def test_errors(header, rows, error, message):
    with pytest.raises(error, match=message):
        format_table(header, rows)
