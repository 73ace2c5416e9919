"""confidence-workbench: does a language model know when it is wrong, and does it say so?

``import workbench as wb`` is the whole public surface: load a model, collect a run, open runs and
results, read exact confidences of live or patched forwards, and the analysis verbs. docs/api.md lists
every name with its parameters, shapes and result columns.
"""

from workbench.backends import SITES, Backend, Patch, hook_name, load_model
from workbench.collect import CollectConfig, collect
from workbench.datasets import QAItem, load_dataset
from workbench.elicit.confidence import Confidence
from workbench.errors import WorkbenchError
from workbench.figures.api import export_figures, find_results
from workbench.store import Example, Run, open_run
from workbench.store.results import Result, open_result
from workbench.store.summaries import BottleneckSummary, CalibrateSummary, PatchSummary, ProbeSummary, ResultSummary

__all__ = ["Backend", "Patch", "SITES", "hook_name", "load_model", "CollectConfig", "collect", "QAItem",
           "load_dataset", "Confidence", "WorkbenchError", "Example", "Run", "open_run", "Result", "open_result", "find_results", "export_figures",
           "ProbeSummary", "CalibrateSummary", "BottleneckSummary", "PatchSummary", "ResultSummary"]
__version__ = "0.1.0"
