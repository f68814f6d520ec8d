"""``python -m normlab``: the ``normlab`` command (``normlab.cli``)."""

import sys

from .cli import main

sys.exit(main())
