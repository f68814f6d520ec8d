"""A pytest plugin for nbval: the kernels it starts talk to pytest over encrypted sockets.

    python -m pytest -p tools.nbval_kernel --nbval notebooks/01_nlp.ipynb   # as make nbval does

nbval (pinned in requirements.txt) starts each notebook's kernel with a kernel manager of its
own and no way to configure it. This plugin wraps ``nbval.kernel.start_new_kernel`` so that the
manager hands the kernel CurveZMQ keys (``transport_encryption="auto"``, as ``make lab`` and
``make notebooks`` do: tools/lab.py, tools/run_notebooks.py); nothing else changes.
"""

from __future__ import annotations

from typing import Any

import nbval.kernel

_start_new_kernel = nbval.kernel.start_new_kernel


def start_new_kernel(startup_timeout: float = 60, kernel_name: str = "python", **kwargs: Any):
    """nbval's ``start_new_kernel``, with the kernel's sockets encrypted where it can be."""
    kwargs.setdefault("transport_encryption", "auto")
    return _start_new_kernel(startup_timeout=startup_timeout, kernel_name=kernel_name, **kwargs)


nbval.kernel.start_new_kernel = start_new_kernel
