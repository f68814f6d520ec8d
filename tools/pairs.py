"""Every chapter in two files: the notebook (with outputs) and a MyST Markdown text (without).

    python -m tools.pairs check    # each toc notebook's text pair says what the notebook says
    python -m tools.pairs sync     # write each text pair from its notebook (make sync)

A diff of a chapter should read as a diff of prose and code, not of JSON and base64 images.
jupytext keeps, beside each ``notebooks/NN_x.ipynb``, a ``notebooks/text/NN_x.md`` in MyST
Markdown (the pairing is set in ``jupytext.toml``): cells become Markdown and ``{code-cell}``
blocks, tags included, outputs left out. Review the ``.md`` diff; the ``.ipynb`` holds the
outputs that nbval checks and the book renders. The notebook is the source: ``sync`` rewrites
the text from it. Edited the text instead (in an editor, or in JupyterLab, where jupytext
saves both)? Then ``jupytext --sync notebooks/NN_x.ipynb`` copies the newer one's cells into the
other, keeping the notebook's outputs where the code is unchanged.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

import jupytext

from tools import toc

#: Where a notebook's text pair lives, relative to the notebook's folder (see jupytext.toml).
TEXT_FOLDER = "text"
FORMAT = "md:myst"


def text_path(notebook: Path) -> Path:
    return notebook.parent / TEXT_FOLDER / f"{notebook.stem}.md"


def as_text(notebook: Path) -> str:
    """The notebook written as its text pair would be."""
    return jupytext.writes(jupytext.read(notebook), fmt=FORMAT)


def problems(notebook: Path) -> list[str]:
    """How the notebook's text pair differs from it (an empty list when they agree)."""
    pair = text_path(notebook)
    if not pair.is_file():
        return [f"{pair}: missing; run `make sync` to write it from {notebook}"]
    expected, found = as_text(notebook), pair.read_text(encoding="utf8")
    if found == expected:
        return []
    diff = difflib.unified_diff(
        found.splitlines(keepends=True),
        expected.splitlines(keepends=True),
        str(pair),
        str(notebook),
    )
    return [
        f"{pair} differs from {notebook} (run `make sync` if the notebook is right, or "
        f"`jupytext --sync {notebook}` if you edited the text):\n" + "".join(list(diff)[:40])
    ]


def sync(notebook: Path) -> bool:
    """Write the notebook's text pair; return whether it changed."""
    pair, text = text_path(notebook), as_text(notebook)
    if pair.is_file() and pair.read_text(encoding="utf8") == text:
        return False
    pair.parent.mkdir(exist_ok=True)
    pair.write_text(text, encoding="utf8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["check", "sync"])
    args = parser.parse_args(argv)
    notebooks = toc.notebooks()
    if args.command == "sync":
        for notebook in notebooks:
            shown = text_path(notebook).relative_to(toc.ROOT)
            print(f"{shown}: {'written' if sync(notebook) else 'up to date'}")
        return 0
    found = [p for notebook in notebooks for p in problems(notebook)]
    print("\n".join(found) or f"{len(notebooks)} text pairs agree with their notebooks")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
