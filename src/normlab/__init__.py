"""normlab: what a reader of "Where does LayerNorm normalize?" imports in the chapters.

- ``normalize(x, dims, eps, unbiased=...)``: the one formula all normalization layers share.
- ``probe(fn, shape)``: which elements share statistics under ``fn``, and its ``eps``, found by
  experiment (moving whole slices, then single elements) on shapes up to ``MAX_NUMEL``.
- ``draw_groups(result)`` / ``draw_panels(results)``: figures drawn from probe results.
- ``normlab.hooks.record(model, match)``: what a model's submodules receive and return;
  ``parameter_sets(calls)``: which recorded calls used the same parameter tensors.
- ``normlab.tables.format_table(header, rows)``: plain-text tables for notebook outputs.
- ``normlab.figures.draw_unrolled(calls)``: a recurrent network unrolled over its time steps,
  drawn from its recorded calls (chapter 3); ``draw_split(shape, dim)``: ``[N, T, D]`` cut
  between processes (chapter 9).
- ``normlab.figures.draw_residual_block(blocks)``: a Transformer layer's residual path,
  post-LN or pre-LN, drawn from the blocks a chapter names and checks (chapters 4 and 5).
- ``normlab.speed.traffic(fn, *args)``: the bytes each operation of ``fn`` reads and writes;
  ``stored_run()``: the book's stored ``make bench`` run, which
  ``normlab.figures.plot_bandwidth(run)`` draws (chapter 8).
- ``survey(model, *args, **kwargs)``: every normalization a model calls, found by behaviour: its
  sets, statistic, eps, affine parameters, compute dtype and place in the residual stream, with
  the book's traps flagged (chapter 10); ``normlab survey --hf vit`` from the shell
  (``normlab.cli``).
- ``normlab.spmd.run(fn, *args, world_size=2)``: ``fn`` in several processes joined by
  ``torch.distributed`` (gloo), with deadlines and clean errors (chapter 9).

Each module has one concern. The tools that build and check the book (executing notebooks, the
student edition, the set-up cell, the toc) are not part of this package: they live in the
repository's ``tools/`` folder.
"""

from .figures import draw_groups, draw_panels
from .normalize import normalize
from .probe import EPS_SHOWN, MAX_NUMEL, NotANormalizationError, ProbeResult, probe
from .survey import Survey, survey

__all__ = [
    "EPS_SHOWN",
    "MAX_NUMEL",
    "NotANormalizationError",
    "ProbeResult",
    "Survey",
    "draw_groups",
    "draw_panels",
    "normalize",
    "probe",
    "survey",
]
__version__ = "0.1.0"
