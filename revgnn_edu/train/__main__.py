"""``python -m revgnn_edu.train``: see :mod:`revgnn_edu.train.cli`."""

import sys

from .cli import main

sys.exit(main())
