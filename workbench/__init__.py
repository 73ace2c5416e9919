"""confidence-workbench: does a language model know when it is wrong, and does it say so?

The verbs (``collect``, ``probe``, ``calibrate``, ``bottleneck``, ``patch``, ``finetune``, ``sweep``) take their
stage's config fields as keyword arguments (``workbench.configs``), with the CLI's names and defaults;
``report`` writes a run's one offline page.
"""

# The submodules named like two verbs load first, so the verbs (bound below) keep their names afterwards.
import workbench.collect  # noqa: F401
import workbench.finetune  # noqa: F401
from workbench.api import bottleneck, calibrate, collect, finetune, patch, probe, report, sweep
from workbench.backends import Backend, Patch, hook_name, load_model
from workbench.configs import (BottleneckConfig, CalibrateConfig, CollectConfig, FinetuneConfig, PatchConfig,
                               ProbeConfig)
from workbench.datasets import QAItem, load_dataset
from workbench.errors import WorkbenchError
from workbench.store import Run, open_run
from workbench.sweeps.config import SweepConfig

__all__ = ["collect", "probe", "calibrate", "bottleneck", "patch", "finetune", "sweep", "report", "Backend", "Patch",
           "hook_name", "load_model", "CollectConfig", "ProbeConfig", "CalibrateConfig", "BottleneckConfig",
           "PatchConfig", "FinetuneConfig", "SweepConfig", "QAItem", "load_dataset", "WorkbenchError", "Run",
           "open_run"]
__version__ = "0.1.0"
