"""normlab: the helper package behind the book "Where does LayerNorm normalize?".

- ``normalize(x, dims, eps, unbiased=...)``: the one formula all normalization layers share.
- ``probe(fn, shape)``: which elements share statistics under ``fn``, found by experiment.
- ``draw_groups(result)`` / ``draw_panels(results)``: figures drawn from probe results.

Plumbing for single chapters stays in its own module: ``normlab.hooks`` (record what a model's
submodules see), ``normlab.tables`` (plain-text tables), ``normlab.notebooks`` (re-execute the
notebooks).
"""

from .figures import draw_groups, draw_panels
from .normalize import normalize
from .probe import MAX_NUMEL, NotANormalizationError, ProbeResult, probe

__all__ = [
    "MAX_NUMEL",
    "NotANormalizationError",
    "ProbeResult",
    "draw_groups",
    "draw_panels",
    "normalize",
    "probe",
]
__version__ = "0.1.0"
