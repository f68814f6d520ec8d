"""normlab.tables.format_table: aligned plain-text tables with clear errors."""

import pytest

from normlab.tables import format_table


def test_aligns_columns_and_strips_trailing_spaces():
    text = format_table(["name", "n"], [["a", 1], ["longer", 22]])
    assert text.splitlines() == ["name    n", "------  --", "a       1", "longer  22"]


def test_header_only():
    assert format_table(["x"], []) == "x\n-"


# Each message whole: the argument, what was expected, and what came in.
@pytest.mark.parametrize(
    "header, rows, error, message",
    [
        ("ab", [], TypeError, "header must be a sequence of column titles, got 'ab'"),
        ([], [], ValueError, "header must name at least one column, got an empty sequence"),
        ([1], [], TypeError, "header must hold strings, got [1]"),
        (["a"], 7, TypeError, "rows must be a sequence of rows, got int"),
        (["a"], "rows", TypeError, "rows must be a sequence of rows, got str"),
        (["a"], [3], TypeError, "rows[0] must be a sequence of cells, got 3"),
        (
            ["a", "b"],
            [["x"]],
            ValueError,
            "rows[0] must have 2 cells, one per column of header, got 1: ['x']",
        ),
        (["a"], [["x\ny"]], ValueError, "rows[0][0] must fit on one line, got 'x\\ny'"),
    ],
)
def test_errors(header, rows, error, message):
    with pytest.raises(error) as caught:
        format_table(header, rows)
    assert str(caught.value) == message
