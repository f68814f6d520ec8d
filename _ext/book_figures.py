"""The introduction's answer picture, computed by ``normlab.probe`` every time the book is built.

A local Sphinx extension (``sphinx.local_extensions`` in ``_config.yml``), not part of normlab.
Before any page is read, it probes ``nn.LayerNorm(D)`` on text ``[N, T, D]`` and
``nn.LayerNorm([C, H, W])`` on images ``[N, C, H, W]`` and draws the two groups of shared
statistics with ``normlab.draw_panels`` into ``book/_generated/answer.png`` (ignored by git),
which ``book/intro.md`` shows. So the first picture a reader sees is drawn from what the layers
do, like every figure of the chapters, and records its smallest text for the legibility check
(``tools/figure_fonts.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx

#: Where the picture is written, relative to the book's source folder.
TARGET = Path("book") / "_generated" / "answer.png"
#: Small sizes, all different, so that each axis is told apart in the picture.
N, T, D = 3, 4, 5
C, H, W = 4, 2, 3


def draw(path: Path) -> None:
    """Probe the two layers and write their picture to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    from torch import nn

    from normlab import draw_panels, probe

    root = Path(__file__).resolve().parents[1]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from tools.figure_fonts import png

    torch.manual_seed(0)
    text = probe(nn.LayerNorm(D), (N, T, D))
    images = probe(nn.LayerNorm([C, H, W]), (N, C, H, W))
    assert text.reduced_dims == (2,) and images.reduced_dims == (1, 2, 3)
    fig = draw_panels(
        [text, images],
        titles=[
            "nn.LayerNorm(D) on [N, T, D]: one token",
            "nn.LayerNorm([C, H, W]) on [N, C, H, W]: one image",
        ],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png(fig))
    plt.close(fig)


def _draw(app: Sphinx) -> None:
    draw(Path(app.srcdir) / TARGET)


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", _draw)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
