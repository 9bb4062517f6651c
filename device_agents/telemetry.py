"""Power, energy, thermal state and throttling for one job, from the sensors this device has.

Every figure carries its sensor, boundary, method, sampling rate and sample count, and
``is_estimate: false``; where no sensor exists the figures are null and ``reason`` says why.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Dict, List, Optional, Tuple

from .sensors import POWER_PREFERENCE, THERMAL_SOURCES, discover
from .sensors.base import Sensor
from .sensors.energy import clock_drop_evidence, per_inference, window_energy
from .sensors.sampler import Sampler, achieved_rate_hz

POWER_FIELDS = ("avg_power_mw", "idle_power_mw", "energy_per_inference_mj", "energy_per_inference_idle_subtracted_mj",
                "inferences_per_j", "gops_per_w")


class JobTelemetry:
    def __init__(self, rate_hz: float, names: Optional[List[str]] = None,
                 paths: Optional[Dict[str, str]] = None, temp_limit_c: float = 85.0,
                 energy_min_samples: int = 100) -> None:
        self.rate_hz = rate_hz
        self.temp_limit_c = temp_limit_c
        self.energy_min_samples = energy_min_samples
        if rate_hz > 0:
            self.sensors, self.missing = discover(names, paths)
        else:
            self.sensors, self.missing = [], {"sampler": "sampling turned off by the job (sample_rate_hz = 0)"}
        ranked = sorted((s for s in self.sensors if s.kind in ("power", "energy")),
                        key=lambda s: POWER_PREFERENCE.index(s.name) if s.name in POWER_PREFERENCE else 99)
        self.power: Optional[Sensor] = ranked[0] if ranked else None
        self.sampler = Sampler(self.sensors, rate_hz) if self.sensors else None
        self.idle: Optional[Tuple[float, float]] = None

    def start(self) -> None:
        if self.sampler:
            self.sampler.start()

    def stop(self) -> None:
        if self.sampler:
            self.sampler.stop()

    def min_window_s(self) -> float:
        """Seconds the timed window needs so the power sensor gives ``energy_min_samples`` samples."""
        if self.power is None or self.sampler is None:
            return 0.0
        return self.energy_min_samples / self.sampler.effective_rate_hz(self.power)

    def measure_idle(self, seconds: float) -> None:
        """Idle baseline just before the window: sleep with the sampler running."""
        if self.power is None or seconds <= 0:
            return
        t0 = time.perf_counter()
        time.sleep(seconds)
        self.idle = (t0, time.perf_counter())

    def _tried(self, names: Any) -> Dict[str, str]:
        return {k: v for k, v in sorted(self.missing.items()) if k in names or k == "sampler"}

    def power_report(self, t0: float, t1: float, runs: int, flops: Optional[float]) -> Dict[str, Any]:
        out: Dict[str, Any] = {k: None for k in POWER_FIELDS}
        out["is_estimate"] = False
        if self.power is None or self.sampler is None:
            out["reason"] = "no power or energy sensor on this device"
            out["sensors_tried"] = self._tried(POWER_PREFERENCE)
            return out
        series = self.sampler.series(self.power.name)
        calibration = self.power.calibrate(series, self.idle, (t0, t1)) if self.idle else None
        energy, inside, warnings = window_energy(series, self.power.kind, t0, t1, self.power.wrap_uj)
        if calibration:
            out["calibration"] = calibration
            if calibration.get("warning"):
                warnings.append(calibration["warning"])
        idle_mw = None
        if self.idle is not None:
            idle_e, _, _ = window_energy(series, self.power.kind, self.idle[0], self.idle[1], self.power.wrap_uj)
            if idle_e is not None:
                idle_mw = idle_e / (self.idle[1] - self.idle[0])
        count, rate = achieved_rate_hz(series, t0, t1)
        if count < self.energy_min_samples:
            warnings.append("only %d sensor samples in the window (want >= %d): energy per inference is coarse"
                            % (count, self.energy_min_samples))
        out.update(per_inference(energy, idle_mw, t1 - t0, runs, flops))
        out.update({
            "sensor": self.power.name, "boundary": self.power.boundary,
            "method": ("difference of a cumulative energy counter at the window edges (wrap-around handled)"
                       if self.power.kind == "energy" else "trapezoid integration of timestamped power samples"),
            "sample_rate_hz": rate, "sample_count": count, "requested_rate_hz": self.sampler.effective_rate_hz(self.power),
            "idle_window_s": (self.idle[1] - self.idle[0]) if self.idle else None,
            "sensor_error": self.sampler.errors.get(self.power.name),
        })
        if energy is None:
            rules = sorted({str(smp.extra.get("total_rule")) for smp in series
                            if smp.total_power_mw is None and smp.extra.get("total_rule")})
            out["reason"] = "the %s sensor gave no usable samples in the window%s" % (
                self.power.name, ": " + "; ".join(rules[:2]) if rules else "")
            if any(smp.extra.get("unparsed_rail_tokens") for smp in series):
                warnings.append("power rails in a format the parser does not know: %s" % "; ".join(rules[:1]))
        if warnings:
            out["warnings"] = warnings
        return out

    def thermal_report(self, t0: float, t1: float) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        """(temperatures and clocks over the run, throttle verdict with its evidence)."""
        if self.sampler is None:
            reason = "no thermal, clock or throttle sensor on this device"
            tried = self._tried(THERMAL_SOURCES)
            return ({"temps_c": None, "clocks_mhz": None, "reason": reason, "sensors_tried": tried},
                    {"throttled": None, "evidence": [], "reason": reason})
        temps: Dict[str, List[float]] = {}
        clocks: Dict[str, List[Tuple[float, float]]] = {}
        vendor: List[str] = []
        vendor_seen = False
        for name, samples in self.sampler.samples.items():
            for s in samples:
                for zone, c in s.temps_c.items():
                    temps.setdefault("%s:%s" % (name, zone), []).append(c)
                if s.t_s is not None and t0 <= s.t_s <= t1:
                    for clk, mhz in s.clocks_mhz.items():
                        clocks.setdefault("%s:%s" % (name, clk), []).append((s.t_s, mhz))
                if s.throttled is not None:
                    vendor_seen = True
                    if s.throttled:
                        flags = s.extra.get("throttle_flags") or s.extra.get("thermal_pressure") or "set"
                        vendor.append("%s vendor throttle flag: %s" % (name, flags))
        evidence = sorted(set(vendor)) + clock_drop_evidence(clocks)
        hot = ["%s reached %.1f °C (limit %.0f °C)" % (z, max(v), self.temp_limit_c)
               for z, v in temps.items() if v and max(v) >= self.temp_limit_c]
        evidence += hot
        have_signal = vendor_seen or bool(clocks) or bool(temps)
        thermal = {"temps_c": {z: {"start": v[0], "max": max(v), "end": v[-1]} for z, v in temps.items()} or None,
                   "clocks_mhz": {c: {"min": min(x for _, x in p), "median": statistics.median(x for _, x in p),
                                      "max": max(x for _, x in p)} for c, p in clocks.items()} or None,
                   "sensors": [s.name for s in self.sensors]}
        throttle: Dict[str, Any] = {"throttled": bool(evidence) if have_signal else None, "evidence": evidence}
        if not have_signal:
            throttle["reason"] = "sensors gave no temperature, clock or throttle flag"
        return thermal, throttle

    def interval_figures(self, t0: float, t1: float) -> Dict[str, Any]:
        """The device's state over [t0, t1] (agent clock, s) for a scenario's interval: the hottest zone's mean
        temperature, the median CPU clock, the power sensor's mean power and energy; each None with a reason
        where this device has no such sensor or it gave no sample in the interval."""
        out: Dict[str, Any] = {"temp_c": None, "freq_mhz": None, "power_mw": None, "energy_mj": None,
                               "throttled": None}
        if self.sampler is None:
            reason = "no sensor sampled on this device" if self.rate_hz > 0 else "sampling turned off"
            out.update(temp_c_reason=reason, freq_mhz_reason=reason, power_mw_reason=reason)
            return out
        temps: Dict[str, List[float]] = {}
        clocks: List[float] = []
        flags: List[bool] = []
        for samples in self.sampler.samples.values():
            for s in list(samples):
                if s.t_s is None or not t0 <= s.t_s <= t1:
                    continue
                for zone, c in s.temps_c.items():
                    temps.setdefault(zone, []).append(c)
                clocks += [mhz for name, mhz in s.clocks_mhz.items() if "cpu" in name.lower() or not name]
                if s.throttled is not None:
                    flags.append(bool(s.throttled))
        if temps:
            out["temp_c"] = round(max(statistics.mean(v) for v in temps.values()), 2)
        else:
            out["temp_c_reason"] = "no temperature sample in the interval"
        if clocks:
            out["freq_mhz"] = round(statistics.median(clocks), 1)
        else:
            out["freq_mhz_reason"] = "no CPU clock sample in the interval"
        if flags:
            out["throttled"] = any(flags)
        if self.power is not None:
            series = [s for s in self.sampler.series(self.power.name)]
            energy, inside, _ = window_energy(series, self.power.kind, t0, t1, self.power.wrap_uj)
            if energy is not None and t1 > t0 and inside:
                out["energy_mj"] = energy
                out["power_mw"] = round(energy / (t1 - t0), 1)
            else:
                out["power_mw_reason"] = "the %s sensor gave no sample in the interval" % self.power.name
        else:
            out["power_mw_reason"] = "no power or energy sensor on this device"
        return out

    def forget_before(self, t_s: float) -> None:
        """Drop sensor samples older than ``t_s`` (bounded memory over a long scenario)."""
        if self.sampler is not None:
            self.sampler.forget_before(t_s)

    def describe(self) -> Dict[str, Any]:
        return {"rate_hz": self.rate_hz, "sensors": [s.describe() for s in self.sensors],
                "unavailable": self.missing, "power_sensor": self.power.name if self.power else None}
