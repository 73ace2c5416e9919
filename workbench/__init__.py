"""confidence-workbench: does a language model know when it is wrong, and does it say so?

``import workbench as wb`` is the whole public surface: load a model, collect a run, open runs and
results, read exact confidences of live or patched forwards, and the analysis verbs. The verbs
(``collect``, ``probe``, ``calibrate``, ``bottleneck``, ``patch``, ``finetune``, ``sweep``, ``steer``, ``sample``,
``replicate``) take their stage's config fields as keyword arguments (``workbench.configs``), with the CLI's names and defaults;
``report`` writes a run's one offline page; ``plan`` sizes a run before it runs, from the model's config.json. docs/api.md lists every name with its parameters, shapes and result
columns.
"""

# The submodules named like two verbs load first, so the verbs (bound below) keep their names afterwards.
import workbench.collect  # noqa: F401
import workbench.finetune  # noqa: F401
import workbench.replicate  # noqa: F401
from workbench.api import bottleneck, calibrate, collect, finetune, patch, plan, probe, report, sample, steer
from workbench.backends import SITES, Backend, Patch, hook_name, load_model
from workbench.backends import list_models as models
from workbench.configs import (BottleneckConfig, CalibrateConfig, CollectConfig, FinetuneConfig, PatchConfig,
                               PlanConfig, ProbeConfig, ReplicateConfig, SampleConfig, SteerConfig)
from workbench.datasets import QAItem, load_dataset
from workbench.elicit.confidence import Confidence
from workbench.errors import WorkbenchError
from workbench.figures.api import explore, export_figures, figure, figure_names, find_results
from workbench.planning import Plan
from workbench.store import Example, Run, open_run
from workbench.store.results import Result, open_result
from workbench.store.summaries import (BottleneckSummary, CalibrateSummary, PatchSummary, ProbeSummary, ResultSummary,
                                      SteerSummary)
from workbench.studies import replicate, sweep
from workbench.sweeps.config import SweepConfig

__all__ = ["collect", "probe", "calibrate", "bottleneck", "patch", "finetune", "sweep", "steer", "sample", "report",
           "replicate", "ReplicateConfig", "plan", "PlanConfig", "Plan",
           "Backend", "Patch", "SITES", "hook_name", "load_model", "models", "CollectConfig", "ProbeConfig",
           "CalibrateConfig", "BottleneckConfig", "PatchConfig", "FinetuneConfig", "SteerConfig", "SampleConfig",
           "SweepConfig", "QAItem", "load_dataset", "Confidence", "WorkbenchError", "Example", "Run", "open_run",
           "Result", "open_result", "figure", "figure_names", "find_results", "export_figures",
           "explore", "ProbeSummary",
           "CalibrateSummary", "BottleneckSummary", "PatchSummary", "SteerSummary", "ResultSummary"]
__version__ = "0.1.0"
