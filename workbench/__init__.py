"""confidence-workbench: does a language model know when it is wrong, and does it say so?"""

from workbench.backends import Backend, Patch, hook_name, load_model
from workbench.backends import list_models as models
from workbench.collect import CollectConfig, collect
from workbench.datasets import QAItem, load_dataset
from workbench.errors import WorkbenchError
from workbench.store import Run, open_run

__all__ = ["Backend", "Patch", "hook_name", "load_model", "models", "CollectConfig", "collect", "QAItem", "load_dataset",
           "WorkbenchError", "Run", "open_run"]
__version__ = "0.1.0"
