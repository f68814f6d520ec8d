"""Format rows as an aligned plain-text table, for a notebook to print.

A table printed as text survives every place a notebook is read (Jupyter, Colab, the HTML book)
and is compared exactly by nbval, so a table of results is checked like any other output. It
needs nothing beyond Python.
"""

from __future__ import annotations

from collections.abc import Sequence


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Format ``rows`` under ``header`` as left-aligned text columns with a rule below the header.

    Args:
        header: one column title per column, ``[n_columns]``.
        rows: ``[n_rows][n_columns]``; each cell is shown with ``str()``. Format numbers before
            passing them (``f"{x:.2f}"``) to control their digits.

    Returns:
        The table as one string of ``n_rows + 2`` lines, without a trailing newline.

    Raises:
        TypeError: ``header`` is not a sequence of strings, or a row is not a sequence.
        ValueError: ``header`` is empty, or a row has a different number of cells than
            ``header``, or a cell contains a newline.

    Example:
        >>> print(format_table(["layer", "axes"], [["LayerNorm(D)", "dim"]]))
        layer         axes
        ------------  ----
        LayerNorm(D)  dim
    """
    if isinstance(header, str) or not isinstance(header, Sequence):
        raise TypeError(f"header must be a sequence of column titles, got {header!r}")
    if not header:
        raise ValueError("header must name at least one column, got an empty sequence")
    if not all(isinstance(h, str) for h in header):
        raise TypeError(f"header must hold strings, got {list(header)!r}")
    if isinstance(rows, str) or not isinstance(rows, Sequence):
        raise TypeError(f"rows must be a sequence of rows, got {type(rows).__name__}")
    cells = []
    for i, row in enumerate(rows):
        if isinstance(row, str) or not isinstance(row, Sequence):
            raise TypeError(f"rows[{i}] must be a sequence of cells, got {row!r}")
        if len(row) != len(header):
            raise ValueError(
                f"rows[{i}] must have {len(header)} cells, one per column of header, "
                f"got {len(row)}: {list(row)!r}"
            )
        texts = [str(c) for c in row]
        for j, t in enumerate(texts):
            if "\n" in t:
                raise ValueError(f"rows[{i}][{j}] must fit on one line, got {t!r}")
        cells.append(texts)
    widths = [max([len(h)] + [len(r[j]) for r in cells]) for j, h in enumerate(header)]

    def line(texts: Sequence[str]) -> str:
        return "  ".join(t.ljust(w) for t, w in zip(texts, widths, strict=True)).rstrip()

    out = [line(list(header)), line(["-" * w for w in widths])]
    out += [line(r) for r in cells]
    return "\n".join(out)
