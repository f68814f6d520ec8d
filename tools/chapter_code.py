"""Load the code cells of a chapter that carry one tag as a module: the book keeps one copy.

    from tools import chapter_code
    kernels = chapter_code.load(8, "kernel")   # or "08_speed", or the notebook's path
    kernels.layer_norm(x, weight, bias)

This is the book's form of d2l's ``#@save``: when the code a chapter teaches is also what a tool
runs or a test checks, it stays in the chapter, in code cells tagged with a name the chapter
chooses, and everything else loads it from there. The cells are the one copy, so what is tested
or benchmarked is what the reader reads. Chapter 8 tags its LayerNorm kernels ``kernel``; `make
bench` times them and `tests/test_speed_kernels.py` checks them.
"""

from __future__ import annotations

import linecache
import sys
import types
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def notebook(chapter: int | str | Path) -> Path:
    """The notebook of ``chapter``: its number (``8``), its name (``"08_speed"``) or a path.

    Numbers and names are looked up in ``NOTEBOOKS``; a relative path is taken from the
    repository root.

    Raises:
        FileNotFoundError: no such chapter, naming what was asked for.
    """
    if isinstance(chapter, int):
        found = sorted(NOTEBOOKS.glob(f"{chapter:02d}_*.ipynb"))
        if len(found) != 1:
            raise FileNotFoundError(
                f"chapter {chapter} must be one notebook {chapter:02d}_*.ipynb in {NOTEBOOKS}, "
                f"found {[p.name for p in found]}"
            )
        return found[0]
    path = Path(chapter)
    if path.suffix != ".ipynb" and len(path.parts) == 1:
        path = NOTEBOOKS / f"{path.name}.ipynb"  # a chapter's name, "08_speed"
    elif not path.is_absolute():
        path = ROOT / path
    if not path.is_file():
        raise FileNotFoundError(
            f"chapter must name an existing notebook, got {str(chapter)!r} ({path} is no file)"
        )
    return path


def source(chapter: int | str | Path, tag: str) -> str:
    """The code cells of ``chapter`` tagged ``tag``, in notebook order, as one module's text.

    Raises:
        FileNotFoundError: no such chapter.
        LookupError: no code cell of the chapter carries ``tag``; the message names both.
    """
    path = notebook(chapter)
    nb = nbformat.read(path, as_version=4)
    cells = [
        c.source for c in nb.cells if c.cell_type == "code" and tag in c.metadata.get("tags", [])
    ]
    if not cells:
        raise LookupError(
            f"chapter {path.stem} has no code cell tagged {tag!r}; tag the cells to load"
        )
    return "\n\n".join(cells) + "\n"


def load(chapter: int | str | Path, tag: str) -> types.ModuleType:
    """Run the cells of ``chapter`` tagged ``tag``, in order, in one new module, and return it.

    The cells share the module's namespace, as they share the kernel's in the notebook. The
    module is named after the chapter and tag (``chapter_08_speed_kernel``) and registered in
    ``sys.modules``, so classes and pickles can find it; tracebacks show the cells' lines.
    """
    path = notebook(chapter)
    text = source(path, tag)
    name = f"chapter_{path.stem}_{tag}"
    filename = f"<{path.name} cells tagged {tag}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module
    exec(compile(text, filename, "exec"), module.__dict__)  # noqa: S102 - the book's own cells
    return module
