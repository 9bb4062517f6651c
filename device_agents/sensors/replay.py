"""Replay: captured device logs → samples, by kind. Shared by the CLI and the host's --power-log."""

from __future__ import annotations

from typing import Callable, Dict, List

from . import android, powermetrics, rpi, tegrastats, thermal, usb_meter
from .base import Sample


def _text(fn: Callable[[str], List[Sample]]) -> Callable[[bytes], List[Sample]]:
    return lambda data: fn(data.decode("utf-8", "replace"))


PARSERS: Dict[str, Callable[[bytes], List[Sample]]] = {
    "tegrastats": _text(tegrastats.parse),
    "powermetrics": powermetrics.parse,
    "macmon": _text(powermetrics.parse_macmon),
    "pmic_read_adc": _text(lambda t: [rpi.parse_pmic(t)]),
    "vcgencmd": _text(rpi.parse_vcgencmd),
    "battery_uevent": _text(android.parse_uevent),
    "thermal_zones": _text(thermal.parse_zone_listing),
    "um25c": _text(usb_meter.parse),
}


class UnknownKind(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def parse_log(kind: str, data: bytes) -> List[Sample]:
    if kind not in PARSERS:
        raise UnknownKind("unknown log kind %r; known: %s" % (kind, ", ".join(sorted(PARSERS))))
    return PARSERS[kind](data)
