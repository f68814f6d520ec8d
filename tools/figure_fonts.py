"""Every stored figure records the size of its smallest text, so legibility can be checked.

    python -m tools.figure_fonts [NOTEBOOK ...]   # each figure's smallest text on screen, in px

A figure's text is legible where the reader sees it when its smallest letters are at least
``MIN_PX`` pixels high on screen. That size is

    shown width / natural width * points * dpi / 72

for a PNG of ``natural width`` pixels, saved at ``dpi``, whose smallest text is ``points`` high,
shown ``shown width`` pixels wide on the page. The page knows the two widths; the PNG alone no
longer knows the points. So ``make notebooks`` (``tools/run_notebooks.py``) loads this module into
each chapter's kernel as an IPython extension, and every figure a cell shows is saved as the
inline backend saves it (PNG, ``bbox_inches="tight"``) with two more text chunks: ``SMALLEST``,
the size in points of the smallest text the figure draws, and ``DPI``. ``tests/test_browser.py``
reads them for every figure of the built book at 1280 px; the command above estimates the same
for a column ``COLUMN_PX`` wide, without a browser.
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
from pathlib import Path

#: PNG text chunks: the smallest drawn text in points, and the dots per inch of the PNG.
SMALLEST = "normlab:smallest-font-pt"
DPI = "normlab:dpi"
#: The smallest text a reader should have to read, in screen pixels.
MIN_PX = 8.0
#: The width of a chapter's figures at a 1280 px screen (tests/test_browser.py measures it).
COLUMN_PX = 672


def smallest_font(fig) -> float:
    """The size in points of the smallest non-empty text that ``fig`` draws (text on an axis
    switched off, or otherwise not drawn, does not count).

    Raises:
        ValueError: the figure draws no text.
    """
    renderer = fig.canvas.get_renderer()
    sizes: list[float] = []
    draw_text = renderer.draw_text
    own = "draw_text" in vars(renderer)  # an attribute of the instance, not of its class

    def recording(gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if s.strip():
            sizes.append(prop.get_size_in_points())
        return draw_text(gc, x, y, s, prop, angle, ismath, mtext)

    renderer.draw_text = recording
    try:
        fig.draw(renderer)
    finally:
        if own:
            renderer.draw_text = draw_text
        else:
            del renderer.draw_text  # the class's method again
    if not sizes:
        raise ValueError("fig draws no text, so it has no smallest font")
    return min(sizes)


def png(fig) -> bytes:
    """``fig`` as the inline backend shows it (PNG, tight bounding box), with its smallest text
    size and its dpi stored as text chunks."""
    metadata = {SMALLEST: f"{smallest_font(fig):g}", DPI: f"{fig.dpi:g}"}
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", metadata=metadata)
    return buffer.getvalue()


def record(data: bytes) -> tuple[int, float, float] | None:
    """``(natural width in px, smallest text in points, dpi)`` of a PNG, or None when it was not
    saved by ``png``."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        chunks = getattr(image, "text", {})
        if SMALLEST not in chunks or DPI not in chunks:
            return None
        return image.width, float(chunks[SMALLEST]), float(chunks[DPI])


def on_screen(natural: int, points: float, dpi: float, shown: float) -> float:
    """The height in screen pixels of text of ``points`` in a PNG ``natural`` px wide, saved at
    ``dpi`` and shown ``shown`` px wide."""
    return shown / natural * points * dpi / 72


def load_ipython_extension(ip) -> None:
    """Give every PNG of a figure that IPython shows the two text chunks (IPython extension
    entry point).

    The inline backend registers IPython's ``pylabtools.print_figure`` as the figure formatter,
    and registers it again when a figure is first made, so the function itself is wrapped (the
    registrations look it up by name).
    """
    from IPython.core import pylabtools

    shown = pylabtools.print_figure
    if getattr(shown, "records_fonts", False):
        return

    def print_figure(fig, fmt="png", *args, **kwargs):
        if fmt == "png":
            metadata = {SMALLEST: f"{smallest_font(fig):g}", DPI: f"{fig.dpi:g}"}
            kwargs["metadata"] = {**kwargs.get("metadata", {}), **metadata}
        return shown(fig, fmt, *args, **kwargs)

    print_figure.records_fonts = True
    pylabtools.print_figure = print_figure


def figures(notebook: Path) -> list[tuple[int, bytes]]:
    """``(cell number, PNG bytes)`` of every PNG a notebook's cells show (cells from 1)."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    found = []
    for number, cell in enumerate(nb.cells, start=1):
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get("image/png")
            if data:
                found.append((number, base64.b64decode(data)))
    return found


def main(argv: list[str] | None = None) -> int:
    from tools import toc

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: the toc's chapters")
    parser.add_argument("--column", type=float, default=COLUMN_PX, help="column width in px")
    args = parser.parse_args(argv)
    failed = 0
    for notebook in args.notebooks or toc.notebooks():
        for number, data in figures(notebook):
            found = record(data)
            if found is None:
                print(f"{notebook}, cell {number}: no font record; run `make notebooks`")
                failed += 1
                continue
            natural, points, dpi = found
            px = on_screen(natural, points, dpi, min(natural, args.column))
            verdict = "ok" if px >= MIN_PX else f"too small (< {MIN_PX:g} px)"
            print(
                f"{notebook}, cell {number}: {natural} px wide, smallest text {points:g} pt "
                f"-> {px:.1f} px on screen: {verdict}"
            )
            failed += px < MIN_PX
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
