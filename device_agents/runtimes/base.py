"""The runtime interface: one inference engine driven by the agent (load, inputs, run_once, describe)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

Dim = Union[int, str, None]


class RuntimeUnavailable(Exception):
    """The runtime (or an option it was asked for, e.g. a provider) does not exist on this device."""


class BadOption(ValueError):
    """A job option this runtime does not know, or a value it cannot take."""


class ModelLoadError(Exception):
    """The runtime refused the model file (corrupt, wrong format, unsupported operator)."""


@dataclass
class TensorSpec:
    """One model input or output as the runtime declares it.

    ``shape`` holds ints for fixed dimensions and a name (or None) for dynamic ones.
    ``quant`` is ``(scale, zero_point)`` for quantised tensors whose values stand for reals.
    """

    name: str
    shape: List[Dim]
    dtype: str
    quant: Optional[Tuple[float, int]] = None


@dataclass
class Availability:
    available: bool
    version: Optional[str] = None
    reason: Optional[str] = None
    details: Dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {"available": self.available, "version": self.version}
        if self.reason:
            out["reason"] = self.reason
        out.update(self.details)
        return out


class Runtime:
    """Base class of every runtime. A job uses one instance: load → input_specs → prepare → run_once…

    Implementations keep the timed call (:meth:`run_once`) as thin as the engine allows, so the
    harness measures the engine and not itself.
    """

    #: Name used in jobs and results.
    name = ""
    #: Options a job may set, with their defaults.
    default_options: Dict[str, Any] = {}
    #: What to install where the runtime is missing.
    install_hint = ""

    def __init__(self, options: Optional[Dict[str, Any]] = None) -> None:
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.default_options))
        if unknown:
            raise BadOption("unknown option(s) %s for runtime %s; known: %s"
                            % (", ".join(unknown), self.name, ", ".join(sorted(self.default_options))))
        self.options = dict(self.default_options)
        self.options.update(options)

    @classmethod
    def availability(cls) -> Availability:
        raise NotImplementedError

    def load(self, model_path: str) -> None:
        """Load/compile the model. Raises ModelLoadError or RuntimeUnavailable."""
        raise NotImplementedError

    def input_specs(self) -> List[TensorSpec]:
        raise NotImplementedError

    def resize_inputs(self, shapes: Dict[str, Sequence[int]]) -> None:
        """Fix dynamic input dimensions before :meth:`prepare` (no-op where the engine needs none)."""

    def prepare(self, feeds: Dict[str, Any]) -> None:
        """Hand the generated inputs to the engine once, outside the timed loop."""
        raise NotImplementedError

    def run_once(self) -> None:
        """One inference on the prepared inputs: the call the harness times."""
        raise NotImplementedError

    def outputs(self) -> List[Tuple[str, Any]]:
        """(name, array) of the last inference's outputs, dequantised where they were quantised."""
        raise NotImplementedError

    def describe(self) -> Dict[str, Any]:
        """Engine name, version and the options in effect (after the engine applied them)."""
        raise NotImplementedError

    def placement(self) -> Optional[Dict[str, Any]]:
        """Requested vs used providers/delegates, the compute unit and nodes per provider; None where the
        engine has a single unit (the CPU) and nothing to choose."""
        return None

    def device_timing(self, runs: int = 50) -> Optional[Dict[str, Any]]:
        """Accelerator jobs: device compute time and copy times (ms) apart from the end-to-end latency."""
        return None

    def finish(self) -> Dict[str, Any]:
        """Called once after measurement; returns runtime-specific extras (e.g. a profile summary)."""
        return {}
