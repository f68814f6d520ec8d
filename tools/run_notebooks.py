"""Re-execute the book's notebooks in place, so their stored outputs come from one fresh run.

    python -m tools.run_notebooks                          # every toc chapter (make notebooks)
    python -m tools.run_notebooks notebooks/01_nlp.ipynb   # one chapter

Each notebook runs top to bottom in a new kernel of the current Python environment, from the
notebook's own folder; outputs are replaced, execution counts restart at 1, and no timing
metadata is written (it would change on every run and make diffs noisy). Tracebacks are stored
in IPython's minimal form (type and message), so no path of this machine reaches the page. A
cell that raises stops the run unless the cell is tagged ``raises-exception``. Every figure's
PNG records the size of its smallest text (``tools/figure_fonts.py``), which the browser tests
turn into its size on screen. The kernel and this process talk over sockets encrypted with
CurveZMQ (:data:`ENCRYPTED`), so the kernel does not warn that it runs "over TCP without
encryption".
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from traitlets.config import Config

from tools import toc

ROOT = Path(__file__).resolve().parents[1]
#: Cell metadata that changes on every run and carries no meaning for readers.
VOLATILE_METADATA = ("execution", "collapsed", "scrolled")
#: The kernel manager hands the kernel CurveZMQ keys, so that what it and the kernel send each
#: other is encrypted ("auto": for kernels whose kernelspec declares it, as ipykernel's does).
ENCRYPTED = Config({"KernelManager": {"transport_encryption": "auto"}})


def merge_streams(outputs: list) -> list:
    """``outputs`` with each run of stdout (or stderr) outputs joined into one.

    How a cell's prints are cut into stream outputs depends on when the kernel flushed them (a
    slow call between two prints splits them), so the stored notebook would change from run to
    run without this; nbval joins them the same way before comparing.
    """
    merged: list = []
    for out in outputs:
        last = merged[-1] if merged else None
        if out.output_type == "stream" and last is not None and last.output_type == "stream":
            if last.name == out.name:
                last.text += out.text
                continue
        merged.append(out)
    return merged


def execute(path: str | Path, timeout: int = 600) -> float:
    """Execute the notebook at ``path`` in place; return the seconds it took.

    Raises:
        FileNotFoundError: ``path`` is not an existing ``.ipynb`` file.
        nbclient.exceptions.CellExecutionError: a cell not tagged ``raises-exception`` raised.
    """
    path = Path(path)
    if not path.is_file() or path.suffix != ".ipynb":
        raise FileNotFoundError(f"path must be an existing .ipynb file, got {str(path)!r}")
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(ROOT) not in paths:  # the kernel imports tools.figure_fonts from the repository
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, paths)])
    start = time.perf_counter()
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        # Short tracebacks: a stored error shows its type and message, not this machine's paths.
        # tools/figure_fonts.py: each figure's PNG records its smallest text, for the book's
        # legibility check (the kernel finds `tools` through PYTHONPATH, set in main).
        extra_arguments=[
            "--InteractiveShell.xmode=Minimal",
            "--IPKernelApp.extensions=tools.figure_fonts",
        ],
        resources={"metadata": {"path": str(path.parent.resolve())}},
        config=ENCRYPTED,
    ).execute()
    seconds = time.perf_counter() - start
    for cell in nb.cells:
        for key in VOLATILE_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    nb.metadata.get("language_info", {}).pop("version", None)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help=".ipynb files (default: the toc's chapters)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    for nb in args.notebooks or toc.notebooks():
        print(f"{nb}: executed in {execute(nb, args.timeout):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
