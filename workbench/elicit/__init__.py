"""Eliciting answers and confidences: batched greedy decoding, exact vocabulary scoring, read-outs."""

from workbench.elicit.readout import Elicitor, ElicitSettings, residual_hooks

__all__ = ["Elicitor", "ElicitSettings", "residual_hooks"]
