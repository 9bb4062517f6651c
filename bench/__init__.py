"""edgebench host side: plan → deploy → run on device → collect → store → analyse → report."""

HARNESS_VERSION = "0.1.0"
__version__ = HARNESS_VERSION
