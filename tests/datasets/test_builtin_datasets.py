"""The built-in families in data/: size, soundness, and that they equal a fresh build."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from workbench.datasets import is_correct, load_dataset
from workbench.datasets.registry import builtin_families


def build_script(repo: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_datasets", repo / "scripts" / "build_datasets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def items() -> list:
    return load_dataset("all")


def test_at_least_1000_items_in_at_least_3_families(items: list) -> None:
    counts = Counter(item.family for item in items)
    assert len(items) >= 1000
    assert set(counts) == {"arithmetic", "capitals", "elements"}
    assert min(counts.values()) >= 200


def test_ids_are_unique_and_name_their_family(items: list) -> None:
    ids = [item.item_id for item in items]
    assert len(set(ids)) == len(ids)
    assert all(item.item_id.startswith(item.family + "/") for item in items)
    assert {item.source for item in items} == {"builtin"}


def test_every_item_accepts_its_own_gold_and_aliases(items: list) -> None:
    for item in items:
        assert item.answer in item.aliases
        assert all(is_correct(alias, item) for alias in item.aliases), item


def test_questions_are_one_short_line(items: list) -> None:
    for item in items:
        assert "\n" not in item.question and item.question.endswith("?"), item
        assert len(item.question) <= 80, item


def test_known_facts() -> None:
    by_id = {item.item_id: item for item in load_dataset("all")}
    assert by_id["capitals/FRA"].answer == "Paris"
    assert by_id["capitals/KAZ"].answer == "Astana"  # countryinfo still says Nur-Sultan
    assert by_id["elements/symbol/026"].answer == "Fe"
    assert by_id["elements/name/079"].answer == "Gold"
    assert by_id["elements/number/008"].answer == "8"
    arithmetic = [item for item in by_id.values() if item.family == "arithmetic"]
    for item in arithmetic:
        a, op, b = item.question.removeprefix("What is ").removesuffix("?").split()
        expected = {"+": int(a) + int(b), "-": int(a) - int(b), "×": int(a) * int(b)}[op]
        assert item.answer == str(expected) and expected >= 0


def test_committed_files_equal_a_fresh_build(tmp_path: Path, repo: Path) -> None:
    script = build_script(repo)
    first, second = tmp_path / "first", tmp_path / "second"
    counts = script.build(first)
    script.build(second)
    assert sorted(counts) == builtin_families()
    for family in counts:
        fresh = (first / f"{family}.jsonl").read_bytes()
        assert fresh == (second / f"{family}.jsonl").read_bytes(), f"{family}: two builds differ"
        assert fresh == (repo / "data" / f"{family}.jsonl").read_bytes(), (
            f"data/{family}.jsonl is stale: run python scripts/build_datasets.py"
        )
