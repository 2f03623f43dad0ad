"""``python -m tabstudy.pipeline``: see :mod:`tabstudy.pipeline.cli`."""

import sys

from tabstudy.pipeline.cli import main

sys.exit(main())
