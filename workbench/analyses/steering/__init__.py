"""Steering along the probe direction at the confidence slot, with random directions as the control.

- ``directions``: unit directions (saved probe weights, difference of class means, seeded random)
- ``mechanics``: ``SlotSteerer``, the confidence read-out of a batch under added vectors (exact, trie-scored)
- ``summary``: dose-response and per-layer slopes with bootstrap intervals, beside the seed's null
- ``runner``: ``SteerConfig`` and ``steer(run, ...)`` -> the stored ``steering-<direction>`` result
"""

from workbench.analyses.steering.runner import SteerConfig, steer

__all__ = ["SteerConfig", "steer"]
