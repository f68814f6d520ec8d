"""tools/nbval_kernel.py: under `make nbval` the kernels nbval starts talk over encrypted
sockets, as those of `make lab` and `make notebooks` do."""

from nbval.kernel import CURRENT_ENV_KERNEL_NAME, RunningKernel

import tools.nbval_kernel  # noqa: F401  (the plugin: it wraps nbval's start_new_kernel)
from tools import nbval_matrix


def test_nbval_kernels_are_encrypted():
    assert ("-p", "tools.nbval_kernel") == nbval_matrix.PYTEST[-2:]
    kernel = RunningKernel(CURRENT_ENV_KERNEL_NAME)  # as nbval starts it: it answers
    try:
        info = kernel.km.get_connection_info()
        assert info.get("curve_publickey") and info.get("curve_secretkey"), info
    finally:
        kernel.stop()
