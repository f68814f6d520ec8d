"""Load the code cells a chapter tags, so tools and tests run the very code the reader reads.

    from tools import chapter_code
    kernels = chapter_code.load("notebooks/08_speed.ipynb", tag="kernel")
    kernels.layer_norm(x, weight, bias)

Chapter 8 writes its LayerNorm kernels in the notebook, where the reader learns them; `make
bench` times them and `tests/test_speed_kernels.py` checks them. Both load them from here
rather than from a copy, so what is benchmarked and tested is what the chapter shows.
"""

from __future__ import annotations

import linecache
import sys
import types
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def source(notebook: str | Path, tag: str) -> str:
    """The code cells of ``notebook`` tagged ``tag``, in order, joined into one module's text.

    Raises:
        FileNotFoundError: ``notebook`` does not exist.
        LookupError: no code cell carries ``tag``.
    """
    path = Path(notebook)
    if not path.is_absolute():
        path = ROOT / path
    if not path.is_file():
        raise FileNotFoundError(f"notebook must be an existing .ipynb file, got {str(notebook)!r}")
    nb = nbformat.read(path, as_version=4)
    cells = [
        c.source for c in nb.cells if c.cell_type == "code" and tag in c.metadata.get("tags", [])
    ]
    if not cells:
        raise LookupError(f"no code cell of {path.name} is tagged {tag!r}; tag the cells to load")
    return "\n\n".join(cells) + "\n"


def load(notebook: str | Path, tag: str) -> types.ModuleType:
    """Execute the cells of ``notebook`` tagged ``tag`` as a module and return it.

    The module is named after the notebook and tag (``chapter_08_speed_kernel``) and registered
    in ``sys.modules``; tracebacks show the cells' lines.
    """
    text = source(notebook, tag)
    name = f"chapter_{Path(notebook).stem}_{tag}"
    filename = f"<{Path(notebook).name} cells tagged {tag}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module
    exec(compile(text, filename, "exec"), module.__dict__)  # noqa: S102 - the book's own cells
    return module
