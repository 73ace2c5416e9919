"""Sweep configs: validated before anything runs, every error naming its key; round trips; unit addresses."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import tomli_w

from workbench.errors import WorkbenchError
from workbench.sweeps import SweepConfig, plan_units
from workbench.configs import CalibrateConfig, CollectConfig
from workbench.sweeps.config import SweepModel
from workbench.sweeps.runner import preflight

BASE = {"sweep": {"models": ["smollm2-135m-instruct"], "datasets": ["capitals", "arithmetic"], "seeds": [0, 1],
                  "analyses": ["collect", "probe", "calibrate"]},
        "collect": {"limit": 4}, "calibrate": {"n_boot": 50}}


def config(**sections) -> SweepConfig:
    data = {key: dict(value) for key, value in BASE.items()}
    for section, values in sections.items():
        data.setdefault(section, {}).update(values)
    return SweepConfig.from_dict(data)


def test_round_trips_through_dict_toml_and_yaml(tmp_path):
    original = SweepConfig.from_dict({**BASE, "sweep": {**BASE["sweep"], "models": [
        "smollm2-135m-instruct", {"name": "gemma-3-270m", "dtype": "bfloat16", "device_map": "auto"}]},
        "probe": {"readouts": [0, -1], "roles": ["confidence_slot", "answer_last"]}})
    assert SweepConfig.from_dict(original.to_dict()) == original
    toml_path = tmp_path / "sweep.toml"
    toml_path.write_text(tomli_w.dumps(original.to_dict()))
    assert SweepConfig.from_file(toml_path) == original
    yaml = pytest.importorskip("yaml")
    yaml_path = tmp_path / "sweep.yaml"
    yaml_path.write_text(yaml.safe_dump(original.to_dict()))
    assert SweepConfig.from_file(yaml_path) == original
    assert original.models[1].load_kwargs() == {"backend": "transformer_lens", "dtype": "bfloat16", "device": None,
                                                "device_map": "auto"}


@pytest.mark.parametrize("sections, key", [
    ({"calibrate": {"nbins": 5}}, "'calibrate.nbins'. Did you mean 'n_bins'?"),
    ({"probes": {"folds": 3}}, "'probes'. Did you mean 'probe'?"),
    ({"probe": {"folds": 1}}, "probe.folds: must be \"auto\" or an integer >= 2, got 1"),
    ({"collect": {"limit": 0}}, "collect.limit: must be an integer >= 1 or 'all', got 0"),
    ({"collect": {"model": "gemma-3-270m"}}, "collect.model: is set by the sweep (sweep.models)"),
    ({"calibrate": {"strategy": "quantiles"}}, "calibrate.strategy: must be one of uniform, quantile"),
    ({"probe": {"roles": ["confidence_slott"]}}, "probe.roles: has 'confidence_slott'"),
    ({"probe": {"readouts": "some"}}, "probe.readouts: must be \"all\" or a non-empty list"),
    ({"patch": {"site": "resid_mid"}}, "patch.site: must be one of"),
    ({"sweep": {"seeds": ["zero"]}}, "sweep.seeds[0]: must be an integer, got 'zero'"),
    ({"sweep": {"seeds": [0, 0]}}, "sweep.seeds: 0 is listed twice"),
    ({"sweep": {"models": ["smollm-135m"]}}, "sweep.models[0]: unknown model 'smollm-135m'. Did you mean"),
    ({"sweep": {"models": [{"name": "smollm2-135m-instruct", "dtype": "fp8"}]}}, "sweep.models[0].dtype: must be one"),
    ({"sweep": {"models": [{"name": "smollm2-135m-instruct", "device": "cpu", "device_map": "auto"}]}},
     "give device or device_map, not both"),
    ({"sweep": {"datasets": ["capitols"]}}, "sweep.datasets[0]: unknown dataset 'capitols'. Did you mean 'capitals'?"),
    ({"sweep": {"datasets": ["capitals", "data/missing.jsonl"]}}, "sweep.datasets[1]: dataset file 'data/missing.jsonl' "
                                                                  "not found"),
    ({"sweep": {"analyses": ["calibrate"]}}, "'calibrate' needs the 'collect' stage, which is not in the config; add "
                                             "\"collect\""),
    ({"sweep": {"analyses": ["collect", "calibrat"]}}, "sweep.analyses[1]: unknown analysis 'calibrat'. Did you mean "
                                                       "'calibrate'?"),
])
def test_bad_configs_fail_with_one_error_naming_the_key(sections, key):
    with pytest.raises(WorkbenchError) as error:
        config(**sections)
    assert key in str(error.value)


def test_a_model_that_still_says_remote_false_loads_with_a_note_and_true_is_refused():
    with pytest.warns(FutureWarning, match="remote is gone"):
        cfg = config(sweep={"models": [{"name": "smollm2-135m-instruct", "remote": False}]})
    assert cfg.models[0] == SweepModel(name="smollm2-135m-instruct")
    with pytest.raises(WorkbenchError, match=r"sweep\.models\[0\]\.remote: nnsight remote execution"):
        config(sweep={"models": [{"name": "smollm2-135m-instruct", "remote": True}]})


def test_dataset_files_resolve_against_the_config_file_and_are_checked(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.jsonl").write_text('{"question": "2+2?", "answer": "4"}\n')
    path = tmp_path / "sweep.toml"
    path.write_text(tomli_w.dumps({"sweep": {"models": ["smollm2-135m-instruct"], "datasets": ["data/mine.jsonl"]}}))
    cfg = SweepConfig.from_file(path)
    assert cfg.datasets == (str((tmp_path / "data" / "mine.jsonl").resolve()),)
    preflight(cfg)  # parses
    (tmp_path / "data" / "mine.jsonl").write_text("not json\n")
    with pytest.raises(WorkbenchError, match=r"sweep\.datasets\[0\]"):
        preflight(cfg)


def test_files_of_unknown_kind_and_broken_toml_are_clear_errors(tmp_path):
    (tmp_path / "sweep.ini").write_text("[sweep]\n")
    with pytest.raises(WorkbenchError, match="is .toml, .yaml/.yml or .json"):
        SweepConfig.from_file(tmp_path / "sweep.ini")
    (tmp_path / "bad.toml").write_text("[sweep\nmodels = ")
    with pytest.raises(WorkbenchError, match="not valid TOML"):
        SweepConfig.from_file(tmp_path / "bad.toml")
    with pytest.raises(WorkbenchError, match="not found"):
        SweepConfig.from_file(tmp_path / "absent.toml")


def test_yaml_without_pyyaml_says_how_to_get_it(tmp_path, monkeypatch):
    (tmp_path / "sweep.yaml").write_text("sweep: {}\n")
    monkeypatch.setitem(sys.modules, "yaml", None)
    with pytest.raises(WorkbenchError, match=r"needs PyYAML \(pip install pyyaml\)"):
        SweepConfig.from_file(tmp_path / "sweep.yaml")


def test_ray_executor_not_installed_prints_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(WorkbenchError, match=r"pip install 'confidence-workbench\[ray\]'"):
        preflight(config(), executor="ray")


def test_units_are_addressed_by_what_decides_their_numbers():
    units = {(u.analysis, u.dataset, u.seed): u for u in plan_units(config())}
    assert len(units) == 2 * 2 * 3
    cal = units[("calibrate", "capitals", 0)]
    assert cal.deps == {"collect": units[("collect", "capitals", 0)].hash, "probe": units[("probe", "capitals", 0)].hash}

    # how a unit runs is not part of its address
    same = {u.hash for u in plan_units(config(collect={"batch_size": 2}, sweep={"models": [
        {"name": "smollm2-135m-instruct", "device_map": "cpu"}]}))}
    assert same == {u.hash for u in units.values()}

    # a changed analysis re-does only itself; a changed collect re-does every stage of its runs
    changed = {(u.analysis, u.dataset, u.seed): u.hash for u in plan_units(config(calibrate={"n_bins": 5}))}
    assert {k for k in units if units[k].hash != changed[k]} == {k for k in units if k[0] == "calibrate"}
    changed = {(u.analysis, u.dataset, u.seed): u.hash for u in plan_units(config(collect={"limit": 5}))}
    assert all(units[k].hash != changed[k] for k in units)


def test_params_and_models_validate_on_construction_too():
    with pytest.raises(WorkbenchError, match="collect.batch_size"):
        CollectConfig(batch_size=0)
    with pytest.raises(WorkbenchError, match="calibrate.known_threshold"):
        CalibrateConfig(known_threshold=1.5)
    with pytest.raises(WorkbenchError, match="calibrate.n_bins: must be an integer >= 2, got"):
        CalibrateConfig(n_bins=[5])
    assert SweepModel(name="smollm2-135m-instruct").content() == {"name": "smollm2-135m-instruct",
                                                                  "backend": "transformer_lens", "dtype": "float32"}


def test_the_example_configs_are_valid():
    root = Path(__file__).resolve().parents[2] / "examples"
    paths = sorted(p for p in root.iterdir() if p.suffix in (".toml", ".yaml", ".yml"))
    if any(p.suffix != ".toml" for p in paths):
        pytest.importorskip("yaml")
    assert len(paths) >= 3
    for path in paths:
        assert plan_units(SweepConfig.from_file(path)), path


@pytest.mark.parametrize(("content", "problem"), [
    (b'{"question": "2 + 2?", "answer": 4}\n', "'answer' is 4 \\(int\\), not text"),
    (b'{"question": "Caf\xe9?", "answer": "x"}\n', "not UTF-8 text"),
])
def test_sweep_validation_names_a_bad_dataset_file(tmp_path, content, problem):
    (tmp_path / "mine.jsonl").write_bytes(content)
    path = tmp_path / "sweep.toml"
    path.write_text(tomli_w.dumps({"sweep": {"models": ["smollm2-135m-instruct"], "datasets": ["mine.jsonl"]}}))
    with pytest.raises(WorkbenchError, match=f"sweep\\.datasets\\[0\\]: line 1 of .*mine.jsonl.*{problem}"):
        preflight(SweepConfig.from_file(path))
