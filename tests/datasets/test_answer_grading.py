"""Grading: normalisation and the match rules documented in workbench/datasets/grading.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workbench.datasets import QAItem, is_correct, normalize_answer


def item(*aliases: str, choices: tuple[str, ...] = ()) -> QAItem:
    return QAItem(item_id="t/1", question="Q?", answer=aliases[0], aliases=aliases,
                  family="test", source="test", choices=choices)


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("Paris.", "paris"),
        ("  The Eiffel Tower ", "eiffel tower"),
        ("Answer: Paris\nQuestion: what next?", "paris"),
        ("The answer is: 42.", "42"),
        ("The correct answer is Rome", "rome"),
        ("Final answer: 7", "7"),
        ("12.0", "12"),
        ("1,234.50", "1234.5"),
        ("3.14", "3.14"),
        ("-5", "-5"),
        ("Bogotá", "bogota"),
        ("Port-au-Prince", "port au prince"),
        ("Washington, D.C.", "washington dc"),
        ("Nuku\u2019alofa", "nukualofa"),
        ("an apple a day", "apple day"),
        ("\n\n  Kyiv", "kyiv"),
        ("", ""),
    ],
)
def test_normalize_answer(text: str, normalized: str) -> None:
    assert normalize_answer(text) == normalized


@pytest.mark.parametrize(
    ("prediction", "aliases", "expected"),
    [
        ("Paris", ("Paris",), True),
        ("paris.", ("Paris",), True),
        ("Paris, France", ("Paris",), True),
        ("Paris (France)", ("Paris",), True),
        ("Paris - the city of light", ("Paris",), True),
        ("Answer: Paris, France.", ("Paris",), True),
        ("The answer is Paris.", ("Paris",), True),
        ("Paris\nThe capital of France is Paris.", ("Paris",), True),
        ("Parisian", ("Paris",), False),
        ("Paris is the capital of France.", ("Paris",), False),
        ("Paris France", ("Paris",), False),
        ("The capital is Paris", ("Paris",), False),
        ("London\nParis", ("Paris",), False),
        ("London", ("Paris",), False),
        ("", ("Paris",), False),
        ("Bogota", ("Bogotá",), True),
        ("Port au Prince", ("Port-au-Prince",), True),
        ("Washington, D.C.", ("Washington D.C.", "Washington"), True),
        ("Hague", ("The Hague",), True),
        ("Kiev", ("Kyiv", "Kiev"), True),
        ("12.0", ("12",), True),
        ("12", ("12",), True),
        ("1,234", ("1234",), True),
        ("12.5", ("125",), False),
        ("120", ("12",), False),
        ("-12", ("12",), False),
        ("12 apples", ("12",), False),
        ("Fe", ("F",), False),
        ("F", ("Fe",), False),
        ("Fe (iron)", ("Fe",), True),
        ("The", ("The",), False),  # normalises to nothing: never a match
    ],
)
def test_is_correct(prediction: str, aliases: tuple[str, ...], expected: bool) -> None:
    assert is_correct(prediction, item(*aliases)) is expected


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("B", True),
        ("B.", True),
        ("(B)", True),
        ("B) Paris", True),
        ("Answer: B", True),
        ("Paris", True),
        ("paris.", True),
        ("A", False),
        ("A) Paris", False),  # the letter decides
        ("D: Paris", False),
        ("E", False),  # no fifth choice, and not the text
        ("B is correct", False),
        ("London", False),
    ],
)
def test_multiple_choice_accepts_the_letter_or_the_text(prediction: str, expected: bool) -> None:
    mc = item("Paris", choices=("London", "Paris", "Rome", "Berlin"))
    assert is_correct(prediction, mc) is expected


@given(st.text(min_size=1).filter(str.strip))
def test_the_gold_answer_itself_is_always_correct(gold: str) -> None:
    """...unless it normalises to nothing ("The"), which never matches."""
    assert is_correct(gold, item(gold)) is bool(normalize_answer(gold))


@pytest.mark.parametrize(
    ("answer", "aliases", "exact", "flex"),
    [
        ("Paris is the capital", ("Paris",), False, True),  # alias inside the answer
        ("Paris France", ("Paris",), False, True),
        ("Washington", ("George Washington",), False, True),  # answer inside an alias
        ("Paris", ("Paris",), True, True),  # flex keeps every exact match
        ("a", ("Canada",), False, False),  # under 2 characters: never a substring match
        ("Lyon", ("Paris",), False, False),
        ("19", ("1945",), False, True),  # flex is loose on purpose (the seed's rule)
    ],
)
def test_flex_grading_is_a_bidirectional_substring_match(answer, aliases, exact, flex):
    assert is_correct(answer, item(*aliases)) is exact
    assert is_correct(answer, item(*aliases), "exact") is exact
    assert is_correct(answer, item(*aliases), "flex") is flex


def test_flex_keeps_the_choice_letter_rule():
    mc = item("Mars", choices=("Venus", "Mars", "Jupiter"))
    assert is_correct("B", mc, "flex") and not is_correct("A", mc, "flex")


def test_unknown_grading_is_a_clear_error():
    from workbench.collect import CollectConfig
    from workbench.errors import WorkbenchError

    with pytest.raises(WorkbenchError, match="unknown grading 'fuzzy': choose one of exact, flex"):
        is_correct("Paris", item("Paris"), "fuzzy")
    with pytest.raises(WorkbenchError, match="grading: must be one of exact, flex, got 'fuzzy'"):
        CollectConfig(grading="fuzzy")
    assert CollectConfig(grading="flex").content()["grading"] == "flex"
