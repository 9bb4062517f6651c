"""The pandas API under its public name, ``from bench import data``: the same module object as bench.history.data
(where the code lives), so names, attributes and patches agree."""

import sys

from .history import data as _data

sys.modules[__name__] = _data
