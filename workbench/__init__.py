"""confidence-workbench: does a language model know when it is wrong, and does it say so?"""

from workbench.backends import Backend, Patch, hook_name, load_model
from workbench.collect import CollectConfig, collect
from workbench.datasets import QAItem, load_dataset
from workbench.errors import WorkbenchError
from workbench.store import Run, open_run



def report(run, path=None, *, allow_incomplete: bool = False):
    """Write the run's one offline report page (every figure and table; default ``RUN/report.html``) and
    return its path; see ``workbench.figures.run_report``."""
    from workbench.figures.run_report import write_report

    return write_report(run, path, allow_incomplete=allow_incomplete)


__all__ = ["Backend", "Patch", "hook_name", "load_model", "CollectConfig", "collect", "QAItem", "load_dataset",
           "WorkbenchError", "Run", "open_run", "report"]
__version__ = "0.1.0"
