"""The energy figures a report shows for one job: the agent's own sensor first, else an attached log."""

from __future__ import annotations

from typing import Any, Dict


def energy_columns(result: Dict[str, Any]) -> Dict[str, Any]:
    """Energy and throttle figures: the agent's own sensor first, else an attached power log."""
    power = result.get("power") or {}
    if power.get("energy_per_inference_mj") is None and (result.get("power_log") or {}).get("energy_per_inference_mj"):
        power = result["power_log"]
    throttle = result.get("throttle") or {}
    return {
        "energy_per_inference_mj": power.get("energy_per_inference_mj"),
        "energy_idle_sub_mj": power.get("energy_per_inference_idle_subtracted_mj"),
        "avg_power_mw": power.get("avg_power_mw"),
        "inferences_per_j": power.get("inferences_per_j"),
        "power_sensor": power.get("sensor"),
        "power_boundary": power.get("boundary"),
        "power_reason": power.get("reason"),
        "throttled": throttle.get("throttled"),
        "throttle_evidence": "; ".join(throttle.get("evidence") or []) or None,
    }
