"""Published QA datasets from the Hugging Face hub (``hf:NAME[/CONFIG]``), for users who have ``datasets``: only
those whose row format the workbench knows, their rows converted as local files are."""

from __future__ import annotations

from typing import NamedTuple

from workbench.datasets.formats import FORMATS
from workbench.datasets.items import QAItem
from workbench.datasets.records import Record
from workbench.errors import WorkbenchError, did_you_mean


class HubDataset(NamedTuple):
    path: str  # repository on the hub
    config: str | None  # default configuration
    format: str  # key of formats.FORMATS
    split: str  # default split (one that has answers)


HUB_DATASETS: dict[str, HubDataset] = {
    "trivia_qa": HubDataset("mandarjoshi/trivia_qa", "rc.nocontext", "triviaqa", "validation"),
    "mmlu": HubDataset("cais/mmlu", "all", "mmlu", "test"),
    "sciq": HubDataset("allenai/sciq", None, "sciq", "test"),
    "popqa": HubDataset("akariasai/PopQA", None, "popqa", "test"),
}


def load_hub(spec: str, *, split: str | None = None) -> list[QAItem]:
    """Items of ``spec`` = ``NAME[/CONFIG]`` (NAME a key of HUB_DATASETS or its hub path) via ``datasets``."""
    known, config = _resolve(spec)
    try:
        import datasets
    except ImportError as error:
        raise WorkbenchError(f"loading hf:{spec} needs Hugging Face datasets: pip install datasets") from error
    split = split or known.split
    config = config or known.config
    rows = datasets.load_dataset(known.path, config, split=split)
    records = [Record(f"row {n} of hf:{spec} [{split}]", row) for n, row in enumerate(rows, start=1)]
    return FORMATS[known.format](records, split)


def _resolve(spec: str) -> tuple[HubDataset, str | None]:
    """The known dataset named at the start of ``spec`` and the configuration after it, if any."""
    names = {name: entry for key, entry in HUB_DATASETS.items() for name in (key, entry.path.lower())}
    lowered = spec.lower()
    for name in sorted(names, key=len, reverse=True):
        if lowered == name or lowered.startswith(name + "/"):
            return names[name], spec[len(name) + 1 :] or None
    raise WorkbenchError(
        f"unknown hub dataset hf:{spec}; known: {', '.join('hf:' + n for n in HUB_DATASETS)}."
        f"{did_you_mean(spec, HUB_DATASETS)}"
    )
