"""load_dataset and list_datasets: names, errors, the data directory, and stratified limits."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

from workbench.datasets import QAItem, list_datasets, load_dataset
from workbench.datasets import registry
from workbench.errors import WorkbenchError


def test_list_datasets_names_the_families_and_all() -> None:
    assert list_datasets() == ["arithmetic", "capitals", "elements", "all", "builtin"]


def test_a_family_loads_only_itself_and_all_mixes_every_family() -> None:
    capitals = load_dataset("capitals")
    assert {item.family for item in capitals} == {"capitals"}
    everything = load_dataset("all")
    assert load_dataset("builtin") == everything
    assert {item.family for item in everything} == {"arithmetic", "capitals", "elements"}
    assert [item for item in everything if item.family == "capitals"] == capitals


def test_part_of_a_family_loads_by_its_id_prefix() -> None:
    symbols = load_dataset("elements/symbol")
    assert symbols and all(item.item_id.startswith("elements/symbol/") for item in symbols)
    assert symbols == [item for item in load_dataset("elements") if item.item_id.startswith("elements/symbol/")]
    with pytest.raises(WorkbenchError, match="no items of 'elements/symbl'.*Did you mean 'elements/symbol'"):
        load_dataset("elements/symbl")


def test_a_mix_joins_built_in_parts_and_names_a_part_it_does_not_know() -> None:
    from workbench.configs.checks import check_dataset
    from workbench.sweeps.units import dataset_label, dataset_sha256

    mix = load_dataset("capitals+elements/symbol")
    assert mix == load_dataset("capitals") + load_dataset("elements/symbol")
    assert len(load_dataset("capitals+all")) == len(load_dataset("all"))  # an item in two parts counts once
    sample = load_dataset("capitals+elements/symbol", limit=300, seed=1)
    assert len(sample) == 300 and {item.family for item in sample} == {"capitals", "elements"}
    check_dataset("capitals+elements/symbol")
    assert dataset_label("capitals+elements/symbol") == "capitals+elements_symbol"
    assert dataset_sha256("capitals+elements/symbol") != dataset_sha256("capitals")
    with pytest.raises(WorkbenchError, match="'capitols' in the dataset mix 'capitols\\+elements' is not a built-in"):
        load_dataset("capitols+elements")
    with pytest.raises(ValueError, match="'elements/symbl'"):
        check_dataset("capitals+elements/symbl")


def test_unknown_name_lists_the_known_names_and_suggests_one() -> None:
    with pytest.raises(WorkbenchError) as error:
        load_dataset("capitols")
    message = str(error.value)
    assert "unknown dataset 'capitols'" in message
    assert "Did you mean 'capitals'?" in message
    assert "arithmetic" in message and "elements" in message


@pytest.mark.parametrize("name", ["nonexistent", "a", "quantum"])
def test_an_unrelated_name_gets_no_suggestion(name: str) -> None:
    with pytest.raises(WorkbenchError) as error:
        load_dataset(name)
    assert f"unknown dataset {name!r}" in str(error.value) and "Did you mean" not in str(error.value)


def test_missing_file_is_named() -> None:
    with pytest.raises(WorkbenchError, match="no such data file: .*nowhere/triviaqa.jsonl"):
        load_dataset("nowhere/triviaqa.jsonl")


@pytest.mark.parametrize("limit", [0, -3, 2.5, True])
def test_bad_limit_is_rejected(limit: object) -> None:
    with pytest.raises(WorkbenchError, match="limit must be a positive integer"):
        load_dataset("capitals", limit=limit)  # type: ignore[arg-type]


def test_split_and_format_are_refused_where_they_mean_nothing() -> None:
    with pytest.raises(WorkbenchError, match="split= is for hub datasets"):
        load_dataset("capitals", split="test")
    with pytest.raises(WorkbenchError, match="format= is for local files"):
        load_dataset("capitals", format="mmlu")


def test_limit_over_all_covers_every_family_in_proportion() -> None:
    everything = load_dataset("all")
    sample = load_dataset("all", limit=200, seed=0)
    assert len(sample) == 200
    assert len({item.item_id for item in sample}) == 200
    assert set(sample) <= set(everything)
    sizes, counts = Counter(i.family for i in everything), Counter(i.family for i in sample)
    for family, size in sizes.items():
        assert abs(counts[family] - 200 * size / len(everything)) <= 1.5, (family, counts)
    order = {item.item_id: n for n, item in enumerate(everything)}
    assert [order[i.item_id] for i in sample] == sorted(order[i.item_id] for i in sample)


def test_limit_is_deterministic_for_a_seed_and_varies_across_seeds() -> None:
    ids = lambda seed: [item.item_id for item in load_dataset("all", limit=50, seed=seed)]  # noqa: E731
    assert ids(3) == ids(3)
    assert ids(3) != ids(4)


def test_limit_below_the_number_of_families_takes_one_item_from_distinct_families() -> None:
    sample = load_dataset("all", limit=2, seed=1)
    assert len(sample) == 2 and len({item.family for item in sample}) == 2


def test_limit_at_or_above_the_size_returns_everything() -> None:
    assert load_dataset("capitals", limit=10_000) == load_dataset("capitals")


def test_data_dir_can_be_swapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    item = QAItem(item_id="mine/1", question="Who?", answer="Me", aliases=("Me",), family="mine", source="builtin")
    (tmp_path / "mine.jsonl").write_text(json.dumps(item.to_dict()) + "\n", encoding="utf-8")
    monkeypatch.setattr(registry, "DATA_DIR", tmp_path)
    assert list_datasets() == ["mine", "all", "builtin"]
    assert load_dataset("all") == [item]


def test_empty_data_dir_says_how_to_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "DATA_DIR", tmp_path)
    with pytest.raises(WorkbenchError, match="run scripts/build_datasets.py"):
        load_dataset("all")


def test_data_dir_defaults_to_the_repo_and_follows_the_environment(tmp_path: Path, repo: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def data_dir(**env: str) -> str:
        """DATA_DIR as a fresh import of the registry module reads it (the session's copy is patched)."""
        monkeypatch.delenv("WORKBENCH_DATA_DIR", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        spec = importlib.util.spec_from_file_location("fresh_registry", registry.__file__)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return str(module.DATA_DIR)

    assert data_dir() == str(repo / "data")
    assert data_dir(WORKBENCH_DATA_DIR=str(tmp_path)) == str(tmp_path)
