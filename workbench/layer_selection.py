"""One vocabulary for layers, and one way to choose them, for the CLI, the Python API and sweeps alike.

- **blocks**: decoder block indices ``0..n_blocks-1``, hook points ``blocks.{L}.*``: where patching acts.
- **read-outs**: the residual-stream snapshots a run stores, ``0..n_blocks``, which probes, the logit lens and
  steering read: read-out ``L < n_blocks`` is ``blocks.L.hook_resid_pre``, read-out ``n_blocks`` the last block's
  ``hook_resid_post``. So block -1 and read-out -1 are two hook points: the last block's input and its output.

A selection is ``"all"``, one index or several. An index is an ``int`` (numpy integers too, never a bool or a
string); negative indices count from the end, as in Python; an index outside -n..n-1 is an error naming the valid
range (never wrapped around: ``blocks=[45]`` on a 30-block model is refused, not read as block 15). The CLI's text
form (``parse_layers``) is ``all``, ``5``, ``0,4,-1`` or an inclusive range ``10-20``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np

from workbench.errors import WorkbenchError

BLOCK, READOUT = "block", "read-out"


def is_index(value: Any) -> bool:
    """An integer that is not a bool (``True`` is an int in Python, but never a layer or a position)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def layer_index(layer: Any, n: int, what: str = "layer", of: str = "layers") -> int:
    """``layer`` as an index into ``n`` items (examples too), Python style; a clear error otherwise. ``what`` names
    the argument and ``of`` the items: "readout 40 out of range: there are 31 read-outs in this run (0..30; ...)"."""
    if not is_index(layer):
        raise WorkbenchError(f"{what} must be an integer index, got {layer!r} ({type(layer).__name__}); "
                             "pass e.g. 3, or -1 for the last")
    if not -n <= layer < n:
        raise WorkbenchError(f"{what} {layer} out of range: there are {n} {of} (0..{n - 1}; -1 is the last)")
    return int(layer) % n


def select_layers(chosen: str | int | Iterable[int], n: int, of: str = BLOCK,
                  where: str = "this model") -> tuple[int, ...]:
    """Sorted distinct indices in 0..n-1 of ``n`` blocks or read-outs (``of``) from ``"all"``, an index or indices."""
    if isinstance(chosen, str):
        if chosen != "all":
            raise WorkbenchError(f"{of}s must be 'all', a {of} index or a list of indices, got {chosen!r}")
        return tuple(range(n))
    indices = [chosen] if isinstance(chosen, (int, np.integer)) else list(chosen)
    if not indices:
        raise WorkbenchError(f"no {of}s selected: pass 'all' or at least one {of} index")
    return tuple(sorted({layer_index(index, n, of, f"{of}s in {where}") for index in indices}))


def residual_hooks(n_blocks: int) -> list[str]:
    """The hook point of each read-out: ``resid_pre`` of every block, then the last block's ``resid_post``."""
    return [f"blocks.{block}.hook_resid_pre" for block in range(n_blocks)] + [f"blocks.{n_blocks - 1}.hook_resid_post"]


def readout_of_hook(hook: str, n_blocks: int) -> int:
    """The read-out a residual hook point holds: ``blocks.L.hook_resid_pre`` is read-out L and
    ``blocks.L.hook_resid_post`` read-out L + 1 (the same tensor as ``blocks.{L+1}.hook_resid_pre``)."""
    match = re.fullmatch(r"blocks\.(\d+)\.hook_resid_(pre|post)", hook)
    if match is None:
        raise WorkbenchError(f"{hook!r} is no residual read-out: name one 'blocks.{{L}}.hook_resid_pre' or "
                             f"'blocks.{{L}}.hook_resid_post' (the store holds the residual stream only), or its index")
    (block,) = select_layers(int(match.group(1)), n_blocks, BLOCK, "this run")
    return block + (match.group(2) == "post")


def parse_layers(text: str) -> str | tuple[int, ...]:
    """The CLI's form: 'all', '5', '0,4,-1' or an inclusive range '10-20' (checked later by ``select_layers``)."""
    if text.strip() == "all":
        return "all"
    layers: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",") if p.strip()):
            if "-" in part[1:]:
                lo, _, hi = part[1:].partition("-")  # the first character may be a minus sign
                layers.extend(range(int(part[0] + lo), int(hi) + 1))
            else:
                layers.append(int(part))
    except ValueError:
        layers = []
    if not layers:
        raise WorkbenchError(f"blocks or read-outs are 'all', an index, a list 0,4,-1 or a range 10-20, got {text!r}")
    return tuple(layers)
