"""One config model per stage, shared by the Python verbs, the CLI and the sweep file (see ``base`` and ``stages``)."""

from workbench.configs.base import ConfigError, StageConfig, option
from workbench.configs.finetune import FinetuneConfig, FinetuneExperiment
from workbench.configs.stages import (STAGE_CONFIGS, AnalysisConfig, BottleneckConfig, CalibrateConfig, CollectConfig,
                                      PatchConfig, ProbeConfig)
from workbench.configs.opt_in import SampleConfig, SteerConfig

__all__ = ["ConfigError", "StageConfig", "option", "AnalysisConfig", "CollectConfig", "ProbeConfig", "CalibrateConfig",
           "BottleneckConfig", "PatchConfig", "FinetuneConfig", "FinetuneExperiment", "SteerConfig",
           "SampleConfig", "STAGE_CONFIGS"]
