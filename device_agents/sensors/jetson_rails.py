"""Whole-device power on Jetson boards from named rails ("largest scope" rails per module).

Nano: POM_5V_IN. Xavier NX / Orin Nano / Orin NX: VDD_IN. TX1/TX2: VDD_IN + VDD_MUX.
AGX Xavier: sum of GPU, CPU, SOC, CV, VDDRQ, SYS5V. AGX Orin: VDD_GPU_SOC + VDD_CPU_CV + VIN_SYS_5V0
(no VDD_IN; VDDQ_VDD2_1V8AO is fed from VIN_SYS_5V0, so summing every rail double-counts).
VDD_IN is the module only, not the carrier board.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

_AGX_ORIN = ("VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0")
_AGX_XAVIER = ("GPU", "CPU", "SOC", "CV", "VDDRQ", "SYS5V")


def total_power(rails_mw: Dict[str, float]) -> Tuple[Optional[float], str]:
    """(whole-module power in mW or None, the rule used or why none applies)."""
    names = {k.upper(): v for k, v in rails_mw.items()}
    if "POM_5V_IN" in names:
        return names["POM_5V_IN"], "POM_5V_IN (Nano module input)"
    if "VDD_IN" in names and "VDD_MUX" in names:
        return names["VDD_IN"] + names["VDD_MUX"], "VDD_IN + VDD_MUX (TX1/TX2)"
    if "VDD_IN" in names:
        return names["VDD_IN"], "VDD_IN (module input)"
    if all(r in names for r in _AGX_ORIN):
        return sum(names[r] for r in _AGX_ORIN), "VDD_GPU_SOC + VDD_CPU_CV + VIN_SYS_5V0 (AGX Orin)"
    if all(r in names for r in _AGX_XAVIER):
        return sum(names[r] for r in _AGX_XAVIER), "sum of GPU, CPU, SOC, CV, VDDRQ, SYS5V (AGX Xavier)"
    if not names:
        return None, "no power rails in this output"
    return None, "rails %s match no known Jetson module: whole-device power unknown" % ", ".join(sorted(names))
