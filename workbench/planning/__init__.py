"""Plan a run before it runs: store size, accelerator memory, FLOPs and time, from the model's config.json alone."""

from workbench.planning.devices import DEVICES, DeviceSpec
from workbench.planning.plan import Plan, StagePlan, make_plan
from workbench.planning.shape import ModelShape

__all__ = ["DEVICES", "DeviceSpec", "Plan", "StagePlan", "make_plan", "ModelShape"]
