"""``python -m bench.perf [section]`` is ``make perf``."""

import sys

from .harness import main

sys.exit(main())
