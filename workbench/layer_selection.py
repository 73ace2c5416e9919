"""One way to choose layers, for the CLI, the Python API and sweeps alike.

``"all"``, one index or several. Python-style negative indices are accepted everywhere and count from the
end (-1 is the last block); an index outside -n_layers..n_layers-1 is an error naming the valid range (never
wrapped around: ``layers=[45]`` on a 30-block model is refused, not read as block 15). The CLI's text form
(``parse_layers``) is ``all``, ``5``, ``0,4,-1`` or an inclusive range ``10-20``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from workbench.errors import WorkbenchError


def select_layers(layers: str | int | Iterable[int], n_layers: int, *, where: str = "this model") -> tuple[int, ...]:
    """Sorted distinct layer indices in 0..n_layers-1 from ``"all"``, an index or indices (negative from the end)."""
    if isinstance(layers, str):
        if layers != "all":
            raise WorkbenchError(f"layers must be 'all', a layer index or a list of indices, got {layers!r}")
        return tuple(range(n_layers))
    chosen = [layers] if isinstance(layers, (int, np.integer)) else list(layers)
    if not chosen:
        raise WorkbenchError("no layers selected: pass 'all' or at least one layer index")
    for layer in chosen:
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not -n_layers <= layer < n_layers:
            raise WorkbenchError(f"layer {layer!r} out of range: {where} has layers 0..{n_layers - 1} "
                                 f"(negative indices count from the end, down to {-n_layers})")
    return tuple(sorted({int(layer) % n_layers for layer in chosen}))


def parse_layers(text: str) -> str | tuple[int, ...]:
    """The CLI's form: 'all', '5', '0,4,-1' or an inclusive range '10-20' (checked later by ``select_layers``)."""
    if text.strip() == "all":
        return "all"
    layers: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",") if p.strip()):
            if "-" in part[1:]:
                lo, hi = part[0] + part[1:].split("-", 1)[0], part[1:].split("-", 1)[1]
                layers.extend(range(int(lo), int(hi) + 1))
            else:
                layers.append(int(part))
    except ValueError:
        raise WorkbenchError(f"--layers takes 'all', a layer, a list '0,4,-1' or a range '10-20'; got {text!r}") from None
    if not layers:
        raise WorkbenchError(f"--layers takes 'all', a layer, a list '0,4,-1' or a range '10-20'; got {text!r}")
    return tuple(layers)
