"""Whether an optional runtime package is installed, and its version, without importing it.

The probe asks every runtime on every job; importing torch or executorch there would cost seconds and
hundreds of MB of the job process's memory before its own measurement starts.
"""

from __future__ import annotations

from typing import Optional

from .base import Availability


def package_version(distribution: str) -> Optional[str]:
    """The installed distribution's version (importlib.metadata), or None."""
    try:
        from importlib.metadata import version  # Python 3.8+
    except ImportError:  # pragma: no cover
        return None
    try:
        return version(distribution)
    except Exception:
        return None


def package_availability(module: str, distribution: str, install_hint: str) -> Availability:
    """Available when ``module`` can be found (not imported); unavailable with the install hint otherwise."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package raises instead of returning None
        found = False
    if not found:
        return Availability(False, reason="%s not installed (module %s not found); install: %s"
                            % (distribution, module, install_hint))
    return Availability(True, version=package_version(distribution),
                        details={"checked": "module found, not imported (errors at import show at load)"})
