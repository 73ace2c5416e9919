"""QA datasets for the workbench: items, built-in and published datasets, and answer grading."""

from workbench.datasets.grading import GRADINGS, is_correct, normalize_answer
from workbench.datasets.items import QAItem
from workbench.datasets.registry import list_datasets, load_dataset

__all__ = ["GRADINGS", "QAItem", "is_correct", "list_datasets", "load_dataset", "normalize_answer"]
