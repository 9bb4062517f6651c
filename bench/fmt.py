"""Numbers with units for terminal lines and tables (``13.4 ms``, ``43.2 µs``, ``2.05 s``).

The lowest level of the host side: the standard library only, so the run path can format a progress line
without importing the report package (matplotlib, pandas, DuckDB)."""

from __future__ import annotations

import math
from typing import Any, Optional


def fmt(value: Any, digits: int = 2) -> str:
    """A table cell: ``—`` for missing, floats with ``digits`` decimals, anything else as text."""
    if value is None or value == "":
        return "—"
    if isinstance(value, float):
        return ("%%.%df" % digits) % value
    return str(value)


def sig3(v: float) -> str:
    """``v`` with three significant digits, trailing zeros kept (1.00, 13.4, 135)."""
    v = float("%.3g" % v)
    decimals = max(0, 2 - int(math.floor(math.log10(abs(v))))) if v else 2
    return "%.*f" % (decimals, v)


def fmt_duration_ms(ms: Optional[float]) -> str:
    """A time given in ms, in the unit that fits its size, three significant digits: 43.2 µs, 13.4 ms, 2.05 s."""
    if ms is None:
        return "—"
    if ms < 0.9995:
        return "%s µs" % sig3(ms * 1000.0)
    if ms < 999.5:
        return "%s ms" % sig3(ms)
    return "%s s" % sig3(ms / 1000.0)


def fmt_rate(per_s: Optional[float]) -> str:
    """Inferences per second: three significant digits below 1,000, thousands separators above."""
    if per_s is None:
        return "—"
    return sig3(per_s) if per_s < 999.5 else "{:,.0f}".format(per_s)
