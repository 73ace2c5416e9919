"""``hf:`` datasets: name resolution and row conversion, with ``datasets`` faked (no network in tests)."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import pytest

from workbench.datasets import load_dataset
from workbench.errors import WorkbenchError


ROWS = {  # two rows of each hub dataset, in its published row format
    "cais/mmlu": [{"question": "2 + 2?", "subject": "math", "choices": ["3", "4"], "answer": 1},
                  {"question": "3 + 3?", "subject": "math", "choices": ["6", "7"], "answer": 0}],
    "mandarjoshi/trivia_qa": [
        {"question": "Capital of Peru?", "question_id": "tc_1", "answer": {"value": "Lima", "aliases": ["Lima"]}},
        {"question": "Capital of Chad?", "question_id": "tc_2", "answer": {"value": "N'Djamena", "aliases": []}}],
    "akariasai/PopQA": [{"id": 7, "question": "What is Tokyo the capital of?", "obj": "Japan",
                         "possible_answers": '["Japan", "Nippon"]'},
                        {"id": 8, "question": "What is Lima the capital of?", "obj": "Peru",
                         "possible_answers": "[]"}],
}


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Replace the ``datasets`` module by one whose load_dataset records its call and returns that dataset's rows."""
    calls: list[tuple[Any, ...]] = []

    def load(path: str, name: str | None = None, *, split: str) -> list[dict[str, Any]]:
        calls.append((path, name, split))
        return ROWS[path]

    monkeypatch.setitem(sys.modules, "datasets", SimpleNamespace(load_dataset=load))
    return calls


@pytest.mark.parametrize(
    ("spec", "split", "call", "first"),
    [
        ("hf:mmlu", None, ("cais/mmlu", "all", "test"), ("mmlu/math/1", "4")),
        ("hf:cais/mmlu/anatomy", "validation", ("cais/mmlu", "anatomy", "validation"), ("mmlu/math/1", "4")),
        ("hf:trivia_qa/rc.nocontext", None, ("mandarjoshi/trivia_qa", "rc.nocontext", "validation"),
         ("triviaqa/tc_1", "Lima")),
        ("hf:mandarjoshi/trivia_qa/rc.web", None, ("mandarjoshi/trivia_qa", "rc.web", "validation"),
         ("triviaqa/tc_1", "Lima")),
        ("hf:akariasai/PopQA", None, ("akariasai/PopQA", None, "test"), ("popqa/7", "Japan")),
    ],
)
def test_hub_names_resolve_to_path_config_and_split(
    fake_hub: list[tuple[Any, ...]], spec: str, split: str | None, call: tuple[Any, ...], first: tuple[str, str]
) -> None:
    items = load_dataset(spec, split=split)
    assert fake_hub == [call]
    assert len(items) == 2 and (items[0].item_id, items[0].answer) == first  # the rows went through their format


def test_hub_rows_go_through_the_format_converter(fake_hub: list[tuple[Any, ...]]) -> None:
    items = load_dataset("hf:mmlu", limit=1, seed=0)
    assert len(items) == 1 and items[0].family == "mmlu"
    both = load_dataset("hf:mmlu")
    assert [(item.item_id, item.answer) for item in both] == [("mmlu/math/1", "4"), ("mmlu/math/2", "6")]


def test_unknown_hub_dataset_suggests_a_known_one(fake_hub: list[tuple[Any, ...]]) -> None:
    with pytest.raises(WorkbenchError, match="unknown hub dataset hf:triviaqa.*Did you mean 'trivia_qa'"):
        load_dataset("hf:triviaqa")
    assert fake_hub == []


def test_missing_datasets_package_gives_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` raise ImportError
    with pytest.raises(WorkbenchError, match="pip install datasets"):
        load_dataset("hf:trivia_qa/rc.nocontext")
