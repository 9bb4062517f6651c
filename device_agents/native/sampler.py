"""The stock-phone telemetry sampler: a POSIX ``sh`` script (toybox/mksh, no bash-isms, no process per
sample except ``sleep``) started beside the benchmark binary, and the parser that turns its lines into
the agent's samples, replayed through the agent's own telemetry code (``JobTelemetry``): the same
energy (total and idle-subtracted), sign/unit calibration, thermal and throttle reports as in
Python-agent mode.

Log format (one line per sample; the clock is the phone's monotonic ``/proc/uptime``, in s)::

    # zone thermal_zone3 tsens_tz_sensor0        (header: zone type; cpu and its cpuinfo_max_freq kHz)
    # cpu cpu4 2419200
    t=1234.56 i=<current_now> v=<voltage_now> cap=<capacity> btemp=<temp> thermal_zone3=<m°C> cpu4=<kHz> status=<status>

``status`` comes last: its value may hold a space ("Not charging"). Marks written by ``RUN_SH``
(``mark idle_start <uptime>``) go to their own file.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from ..sensors.android import AndroidBatterySensor, battery_sample
from ..sensors.base import Sample, Sensor
from ..telemetry import JobTelemetry

#: $1 output file, $2 interval (s). Runs until its process group is killed.
SAMPLER_SH = r'''out=$1; iv=$2
bat=/sys/class/power_supply/battery
zones=""; for z in /sys/class/thermal/thermal_zone*; do [ -r "$z/temp" ] && zones="$zones $z"; done
cpus=""; for c in /sys/devices/system/cpu/cpu[0-9]*; do [ -r "$c/cpufreq/scaling_cur_freq" ] && cpus="$cpus $c"; done
{ echo "# edgebench-sampler 1"
  for z in $zones; do read ty < "$z/type"; echo "# zone ${z##*/} $ty"; done
  for c in $cpus; do read f < "$c/cpufreq/cpuinfo_max_freq"; echo "# cpu ${c##*/} $f"; done; } > "$out"
while :; do
  read up rest < /proc/uptime
  line="t=$up"
  if [ -r "$bat/current_now" ]; then
    read i < "$bat/current_now"; read v < "$bat/voltage_now"; line="$line i=$i v=$v"
    [ -r "$bat/capacity" ] && { read cap < "$bat/capacity"; line="$line cap=$cap"; }
    [ -r "$bat/temp" ] && { read bt < "$bat/temp"; line="$line btemp=$bt"; }
  fi
  for z in $zones; do read t < "$z/temp"; line="$line ${z##*/}=$t"; done
  for c in $cpus; do read f < "$c/cpufreq/scaling_cur_freq"; line="$line ${c##*/}=$f"; done
  [ -r "$bat/status" ] && { read st < "$bat/status"; line="$line status=$st"; }
  echo "$line" >> "$out"
  sleep "$iv"
done
'''

#: $1 sampler script, $2 sample file, $3 interval (s), $4 idle seconds, $5 taskset mask in hex ("" = no
#: pinning), $6 marks file, $7... the runner's argv; its stdout to runner.out, stderr to runner.err.
#: Exits with the runner's status.
RUN_SH = r'''sampler=$1; samples=$2; iv=$3; idle=$4; mask=$5; marks=$6; shift 6
mark() { read up rest < /proc/uptime; echo "$1 $up" >> "$marks"; }
: > "$marks"
sh "$sampler" "$samples" "$iv" & spid=$!
mark idle_start; sleep "$idle"; mark idle_end
mark run_start
if [ -n "$mask" ]; then taskset "$mask" "$@" > runner.out 2> runner.err; else "$@" > runner.out 2> runner.err; fi
rc=$?
mark run_end
sleep "$iv"
kill "$spid" 2>/dev/null
exit $rc
'''

CHARGING_STATES = ("charging", "full", "not charging")


class _Logged(Sensor):
    """A sensor known only from the sampler's log (thermal zones and clocks)."""

    def __init__(self, name: str, kind: str, boundary: str) -> None:
        self.name, self.kind, self.boundary = name, kind, boundary

    def available(self) -> Tuple[bool, str]:
        return True, ""


def parse_log(text: str) -> Tuple[List[Sample], List[Sample], Dict[str, Any]]:
    """(battery samples, thermal/clock samples, header: zone types and cpu max kHz) from the sampler's log."""
    zones: Dict[str, str] = {}
    cpus: Dict[str, int] = {}
    battery: List[Sample] = []
    thermal: List[Sample] = []
    for line in text.splitlines():
        if line.startswith("# zone "):
            parts = line.split(None, 3)
            if len(parts) == 4:
                zones[parts[2]] = parts[3].strip()
            continue
        if line.startswith("# cpu "):
            parts = line.split()
            if len(parts) == 4 and parts[3].isdigit():
                cpus[parts[2]] = int(parts[3])
            continue
        if not line.startswith("t="):
            continue
        head, _, status = line.partition(" status=")
        fields = dict(p.split("=", 1) for p in head.split() if "=" in p)
        try:
            t_s = float(fields.pop("t"))
        except (KeyError, ValueError):
            continue
        if "i" in fields and "v" in fields:
            bat = {"CURRENT_NOW": fields["i"], "VOLTAGE_NOW": fields["v"], "STATUS": status.strip()}
            if "cap" in fields:
                bat["CAPACITY"] = fields["cap"]
            if "btemp" in fields:
                bat["TEMP"] = fields["btemp"]
            battery.append(battery_sample({k: v for k, v in bat.items() if v}, t_s))
        temps: Dict[str, float] = {}
        clocks: Dict[str, float] = {}
        for key, value in fields.items():
            try:
                number = float(value)
            except ValueError:
                continue
            if key in zones:
                temps[zones[key]] = number / 1000.0 if abs(number) > 200 else number  # m°C on most zones
            elif key in cpus:
                clocks[key] = number / 1000.0  # kHz -> MHz
        thermal.append(Sample(t_s=t_s, temps_c=temps, clocks_mhz=clocks))
    return battery, thermal, {"zones": zones, "cpu_max_khz": cpus}


def charging_reason(battery: List[Sample], dumpsys: str = "") -> Optional[str]:
    """Why fuel-gauge energy is unusable (the phone is on external power), with the fix; None when on battery."""
    states = sorted({str(s.extra.get("status") or "").lower() for s in battery} & set(CHARGING_STATES))
    powered = [ln.strip() for ln in dumpsys.splitlines()
               if ln.strip().lower().endswith("powered: true")]
    if not states and not powered:
        return None
    evidence = ", ".join(["battery status %s" % s for s in states] + ["dumpsys battery: %s" % p for p in powered])
    return ("the phone is on external power (%s): the battery's current does not show the phone's drain. Fix: "
            "unplug USB and use adb over Wi-Fi (`adb tcpip 5555`, then serial <phone-ip>:5555), or try `adb shell "
            "dumpsys battery unplug` (only where the fuel gauge honours it; `dumpsys battery reset` after)" % evidence)


class ReplayTelemetry(JobTelemetry):
    """JobTelemetry over samples already taken (the sampler's log) instead of live sensors."""

    def __init__(self, battery: List[Sample], thermal: List[Sample], rate_hz: float,
                 idle: Optional[Tuple[float, float]], energy_min_samples: int = 100, temp_limit_c: float = 85.0) -> None:
        self.rate_hz = rate_hz
        self.temp_limit_c = temp_limit_c
        self.energy_min_samples = energy_min_samples
        self.sensors: List[Sensor] = []
        self.missing: Dict[str, str] = {}
        samples: Dict[str, List[Sample]] = {}
        self.power: Optional[Sensor] = None
        if battery:
            self.power = AndroidBatterySensor()
            self.sensors.append(self.power)
            samples[self.power.name] = battery
        else:
            self.missing["android_battery"] = "the sampler found no /sys/class/power_supply/battery/current_now"
        if any(s.temps_c or s.clocks_mhz for s in thermal):
            self.sensors.append(_Logged("linux_thermal", "thermal", "soc"))
            samples["linux_thermal"] = thermal
        self.sampler = _Replayed(samples, rate_hz) if samples else None
        self.idle = idle


class _Replayed:
    """The part of sensors.sampler.Sampler that JobTelemetry reads, over recorded samples."""

    def __init__(self, samples: Dict[str, List[Sample]], rate_hz: float) -> None:
        self.samples = samples
        self.rate_hz = rate_hz
        self.errors: Dict[str, str] = {}

    def series(self, name: str) -> List[Sample]:
        return self.samples.get(name, [])

    def effective_rate_hz(self, sensor: Sensor) -> float:
        return min(self.rate_hz, sensor.max_rate_hz)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


def parse_marks(text: str) -> Dict[str, float]:
    out: Dict[str, float] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                pass
    return out
