"""QAItem: validation on construction and the to_dict/from_dict round trip."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workbench.datasets import QAItem
from workbench.errors import WorkbenchError


def make(**overrides: object) -> QAItem:
    fields = dict(item_id="t/1", question="What is 2 + 2?", answer="4", aliases=("4", "four"),
                  family="arithmetic", source="builtin")
    fields.update(overrides)
    return QAItem(**fields)


def test_round_trip_through_json() -> None:
    item = make(choices=("3", "4", "5"))
    data = json.loads(json.dumps(item.to_dict()))
    assert data["aliases"] == ["4", "four"]
    assert QAItem.from_dict(data) == item


@given(
    question=st.text(min_size=1).filter(str.strip),
    answer=st.text(min_size=1).filter(str.strip),
    extra=st.lists(st.text(), max_size=3),
)
def test_round_trip_any_text(question: str, answer: str, extra: list[str]) -> None:
    item = make(question=question, answer=answer, aliases=(answer, *extra))
    assert QAItem.from_dict(json.loads(json.dumps(item.to_dict()))) == item


def test_from_dict_without_choices_defaults_to_open_ended() -> None:
    data = make().to_dict()
    del data["choices"]
    assert QAItem.from_dict(data).choices == ()


def test_is_frozen_and_keyword_only() -> None:
    item = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        item.answer = "5"  # type: ignore[misc]
    with pytest.raises(TypeError):
        QAItem("t/1", "q?", "a", ("a",), "f", "s")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"question": ""}, "question is empty"),
        ({"question": "   "}, "question is empty"),
        ({"answer": ""}, "answer is empty"),
        ({"item_id": ""}, "item_id is empty"),
        ({"answer": "5"}, "missing from aliases"),
        ({"aliases": ["4"]}, "tuple of strings"),
        ({"choices": ("1", "2")}, "not one of the choices"),
    ],
)
def test_invalid_items_are_rejected_with_the_problem_named(overrides: dict, message: str) -> None:
    with pytest.raises(WorkbenchError, match=message):
        make(**overrides)


def test_from_dict_names_unknown_and_missing_fields() -> None:
    data = make().to_dict()
    with pytest.raises(WorkbenchError, match="unknown QAItem field.*'anwser'"):
        QAItem.from_dict({**data, "anwser": "4"})
    del data["question"]
    with pytest.raises(WorkbenchError, match="missing \\['question'\\]"):
        QAItem.from_dict(data)
