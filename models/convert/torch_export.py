"""PyTorch -> ``torch.export`` ExportedProgram (``.pt2``, fp32, static shapes) for the ``torch`` runtime.

The original keyword names of the inputs and the builder's output names are stored inside the file
(``edgebench.json``, an extra file of the archive) so the agent can name outputs without the model code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

def export(built: Any, out: Path, entry: Any = None) -> None:
    import torch

    from device_agents.runtimes.torch_rt import META_FILE

    ep = torch.export.export(built.module.eval(), args=(), kwargs=built.example_kwargs)
    meta = {"input_names": list(built.example_kwargs), "output_names": list(built.output_names)}
    torch.export.save(ep, str(out), extra_files={META_FILE: json.dumps(meta)})
