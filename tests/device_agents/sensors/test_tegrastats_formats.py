"""tegrastats shapes beyond the captured fixtures: JetPack 7 / Thor (three values per rail, two per
temperature) and rail tokens in a format the parser does not know.

No JetPack 7 capture exists in ../shared/fixtures yet: these lines are built from the format the issue
describes (``NAME XmW/YmW/ZmW``, ``name@X C/Y C``) on top of a real AGX Orin line's other fields. When a
real Thor capture arrives it belongs in the fixtures and in test_replay_fixtures.py.
"""

from __future__ import annotations

from device_agents.sensors.tegrastats import parse_line

THOR_LIKE = ("11-22-2026 10:00:01 RAM 9120/125772MB (lfb 3x4MB) SWAP 0/0MB (cached 0MB) "
             "CPU [3%@2601,1%@2601,0%@2601] GR3D_FREQ 12% cpu@47.9C/48.2C tj@52.1C/52.5C gpu@45.0C/45.3C "
             "VDD_GPU 3120mW/2950mW/4100mW VDD_CPU_SOC_MSS 5210mW/5100mW/6000mW VIN_SYS_5V0 2400mW/2390mW/2500mW "
             "VIN 14980mW/14800mW/16020mW")


def test_three_values_per_rail_take_the_current_one() -> None:
    s = parse_line(THOR_LIKE)
    assert s is not None
    assert s.rails_mw == {"VDD_GPU": 3120.0, "VDD_CPU_SOC_MSS": 5210.0, "VIN_SYS_5V0": 2400.0, "VIN": 14980.0}
    assert s.extra["rails_avg_since_start_mw"]["VDD_GPU"] == 2950.0
    assert "unparsed_rail_tokens" not in s.extra


def test_two_values_per_temperature_take_the_current_one() -> None:
    s = parse_line(THOR_LIKE)
    assert s.temps_c == {"cpu": 47.9, "tj": 52.1, "gpu": 45.0}


def test_unknown_rail_format_is_null_power_with_the_reason_not_no_rails() -> None:
    s = parse_line("RAM 2000/7000MB CPU [5%@1510] VDD_IN 4.21W/4.10W VDD_CPU_GPU_CV 1.05W/1.00W gpu@41.2C")
    assert s is not None and s.total_power_mw is None
    rule = s.extra["total_rule"]
    assert "format this parser does not know" in rule and "'VDD_IN 4.21W/4.10W'" in rule
    assert "no power rails" not in rule


def test_known_formats_have_no_unparsed_tokens() -> None:
    s = parse_line("RAM 3000/7620MB (lfb 80x4MB) CPU [2%@729] GR3D_FREQ 0% cpu@45.5C VDD_IN 4810mW/4810mW "
                   "VDD_CPU_GPU_CV 560mW/560mW VDD_SOC 1440mW/1440mW")
    assert s.total_power_mw == 4810.0 and "unparsed_rail_tokens" not in s.extra
