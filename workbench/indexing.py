"""Python-style indices for layers, read-outs and examples: one rule and one error everywhere.

An index is an ``int`` (numpy integers too, never a bool or a string); ``-1`` is the last, as in Python.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.errors import WorkbenchError


def is_index(value: Any) -> bool:
    """An integer that is not a bool (``True`` is an int in Python, but never a layer or a position)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def layer_index(layer: Any, n: int, what: str = "layer", of: str = "layers") -> int:
    """``layer`` as an index into ``n`` items, Python style (``-1`` is the last); a clear error otherwise.

    ``what`` names the argument and ``of`` the items in the message, e.g. "layer 40 out of range: there
    are 31 read-outs in this run (0..30; -1 is the last)".
    """
    if not is_index(layer):
        raise WorkbenchError(f"{what} must be an integer index, got {layer!r} ({type(layer).__name__}); "
                             f"pass e.g. {what}=3, or {what}=-1 for the last")
    if not -n <= layer < n:
        raise WorkbenchError(f"{what} {layer} out of range: there are {n} {of} (0..{n - 1}; -1 is the last)")
    return int(layer) % n
