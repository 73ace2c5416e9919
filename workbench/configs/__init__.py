"""One config model per stage, shared by the Python verbs, the CLI and the sweep file (see ``base`` and ``stages``)."""

from workbench.configs.base import ConfigError, StageConfig, option
from workbench.configs.finetune import FinetuneConfig, FinetuneExperiment
from workbench.configs.stages import (AnalysisConfig, BottleneckConfig, CalibrateConfig, CollectConfig, PatchConfig,
                                      ProbeConfig)
from workbench.configs.opt_in import SampleConfig, SteerConfig
from workbench.configs.plan import PlanConfig
from workbench.configs.replicate import ReplicateConfig

# every stage a sweep can run, in the order a unit's dependencies come first (sample before calibrate, which
# reads it; probe before steer, whose direction it gives)
STAGE_CONFIGS: dict[str, type[StageConfig]] = {"collect": CollectConfig, "probe": ProbeConfig, "sample": SampleConfig,
                                               "calibrate": CalibrateConfig, "bottleneck": BottleneckConfig,
                                               "patch": PatchConfig, "steer": SteerConfig}

__all__ = ["ConfigError", "StageConfig", "option", "AnalysisConfig", "CollectConfig", "ProbeConfig", "CalibrateConfig",
           "BottleneckConfig", "PatchConfig", "FinetuneConfig", "FinetuneExperiment", "SteerConfig",
           "SampleConfig", "ReplicateConfig", "PlanConfig", "STAGE_CONFIGS"]
