"""A sweep's config: models x datasets x seeds x stages; each stage's section IS that stage's config class.

``[collect]`` holds ``CollectConfig`` fields, ``[probe]`` ``ProbeConfig`` fields, and so on (``workbench.configs``),
with the same defaults as the CLI and the Python verbs; the fields the sweep itself sets (the model, the
dataset, the seed) are refused there. ``[sweep]`` holds the sweep's own keys. Every error names the key
(``probe.folds``, ``sweep.datasets[1]``) and, for a typo, the closest known name. ``SweepConfig.from_file``
reads TOML (or YAML when PyYAML is installed, or JSON); ``to_dict``/``from_dict`` round-trip. An annotated
example: docs/sweeps.md.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import model_validator

from workbench.configs import STAGE_CONFIGS, ConfigError, StageConfig, option
from workbench.configs import kinds as k
from workbench.configs import registries as reg
from workbench.configs.opt_in import SampleConfig, SteerConfig
from workbench.configs.stages import (BottleneckConfig, CalibrateConfig, CollectConfig, Count, Flag, MaybeText,
                                      PatchConfig, ProbeConfig)
from workbench.errors import WorkbenchError, did_you_mean

ANALYSES: tuple[str, ...] = tuple(STAGE_CONFIGS)
# stage -> the stages it cannot run without: every analysis reads its run's collect (``USES`` in units.py adds
# those it reads when present)
REQUIRES: dict[str, tuple[str, ...]] = {stage: () if stage == "collect" else ("collect",) for stage in ANALYSES}
# stage -> its fields that each unit sets from the sweep (so a section may not set them)
SET_BY_SWEEP: dict[str, dict[str, str]] = {
    "collect": {"model": "sweep.models", "dataset": "sweep.datasets", "seed": "sweep.seeds",
                "backend": "sweep.models[].backend", "dtype": "sweep.models[].dtype", "device": "sweep.models[].device"},
    "probe": {"seed": "sweep.seeds"}, "calibrate": {"seed": "sweep.seeds"}, "bottleneck": {"seed": "sweep.seeds"},
    "patch": {"seed": "sweep.seeds", "backend": "sweep.models[].backend", "device": "sweep.models[].device"},
    "sample": {"seed": "sweep.seeds", "device": "sweep.models[].device"},
    "steer": {"seed": "sweep.seeds", "backend": "sweep.models[].backend", "device": "sweep.models[].device",
              "probe_run": "the sweep's probe unit of the same run"},
}


# --- models and datasets ------------------------------------------------------------------------------------

class SweepModel(StageConfig):
    """A model of the sweep. ``device`` and ``device_map`` (passed to transformers/accelerate, e.g. "auto" for a
    model larger than one device) decide where it runs, not what it computes, so they are not part of a unit's
    address."""

    SECTION: ClassVar[str] = "sweep.models"
    REMOVED: ClassVar[dict[str, tuple[Any, str]]] = {
        "remote": (False, "nnsight remote execution (NDIF) is not supported")}
    name: Annotated[str, k.model_name()] = option(..., "registry name, Hugging Face id or checkpoint dir")
    backend: Literal[*reg.backends()] = option("transformer_lens", "model backend")
    dtype: Literal[*reg.dtypes()] = option("float32", "weights' dtype")
    device: MaybeText = option(None, "device", execution=True)
    device_map: Any = option(None, "transformers/accelerate device map (\"auto\", ...)", execution=True)

    @model_validator(mode="after")
    def _where(self) -> "SweepModel":
        if self.device_map is not None and not isinstance(self.device_map, (str, dict)):
            raise ConfigError("device_map", "must be a string (\"auto\", \"balanced\", ...) or a table module -> "
                              "device", self.device_map)
        if self.device_map is not None and self.device is not None:
            raise ConfigError("", "give device or device_map, not both", has_value=False)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain data (no None, so it writes as TOML)."""
        return {key: value for key, value in super().to_dict().items() if value is not None}

    def load_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``workbench.backends.load_model`` for this model."""
        kwargs: dict[str, Any] = {"backend": self.backend, "dtype": self.dtype, "device": self.device}
        if self.device_map is not None:
            kwargs["device_map"] = self.device_map
        return kwargs

    @property
    def short(self) -> str:
        return Path(self.name).name

    @classmethod
    def from_value(cls, value: Any, where: str) -> "SweepModel":
        """A name or a table; errors name ``where`` (``sweep.models[1]``)."""
        if isinstance(value, SweepModel):
            return value
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, Mapping):
            raise WorkbenchError(f"{where}: a model is a name or a table with name = ..., got {value!r}")
        try:
            return cls(**value)
        except ConfigError as error:
            field = error.path.removeprefix(cls.SECTION).lstrip(".")
            if field == "name":
                raise WorkbenchError(f"{where}: {error.problem}" if error.has_value else
                                     f"{where}: a model table needs name = ...") from None
            raise ConfigError(f"{where}.{field}" if field else where, error.problem.replace(f"{cls.SECTION}.", ""),
                              error.value, has_value=error.has_value) from None


def resolve_dataset(name: Any, where: str, base_dir: Path | None) -> str:
    """A built-in name, ``hf:NAME``, or a file (relative to ``base_dir``) that exists; returns what to load."""
    from workbench.configs.checks import check_dataset

    if isinstance(name, str) and name and base_dir is not None and not Path(name).expanduser().is_absolute():
        candidate = base_dir / Path(name).expanduser()
        if candidate.is_file():
            return str(candidate.resolve())
    try:
        check_dataset(name)
    except ValueError as error:
        raise WorkbenchError(f"{where}: {error}") from None
    return str(Path(name).expanduser().resolve()) if Path(name).expanduser().is_file() else name


# --- the sweep ----------------------------------------------------------------------------------------------

class SweepConfig(StageConfig):
    """models x datasets x seeds, the stages (``analyses``) to run on each, one config per stage, and how the
    sweep runs (``executor``, ``workers``, ``address``, ``progress``: not hashed)."""

    SECTION: ClassVar[str] = "sweep"
    models: tuple[SweepModel, ...] = option(..., "models: names or tables with name, backend, dtype, device...")
    datasets: tuple[str, ...] = option(..., "built-in names, files (relative to the sweep file) or hf:NAME")
    seeds: Annotated[tuple[int, ...], k.integers(0)] = option((0,), "seeds (of each collect and analysis)")
    analyses: Annotated[tuple[str, ...], k.names(ANALYSES)] = option(("collect",), "stages to run on each run")
    executor: Literal[*reg.executors()] = option(
        "local", "local: this machine, no extra service; ray: Ray tasks (pip install 'confidence-workbench[ray]')",
        execution=True)
    workers: Count = option(
        1, "units in flight at once (local: processes; ray: CPUs of the local cluster)", execution=True)
    address: MaybeText = option(
        None, "Ray cluster address (ray://HEAD:10001, or 'auto' on a cluster node); default: start a local cluster",
        execution=True)
    progress: Flag = option(True, "show progress bars", execution=True)
    collect: CollectConfig = option(CollectConfig(), "the [collect] section")
    probe: ProbeConfig = option(ProbeConfig(), "the [probe] section")
    calibrate: CalibrateConfig = option(CalibrateConfig(), "the [calibrate] section")
    bottleneck: BottleneckConfig = option(BottleneckConfig(), "the [bottleneck] section")
    patch: PatchConfig = option(PatchConfig(), "the [patch] section")
    sample: SampleConfig = option(SampleConfig(), "the [sample] section (opt-in sampling channels)")
    steer: SteerConfig = option(SteerConfig(), "the [steer] section (steering along the probe direction)")

    @model_validator(mode="after")
    def _consistent(self) -> "SweepConfig":
        for key in ("models", "datasets", "seeds", "analyses"):
            value = getattr(self, key)
            if not value:
                raise ConfigError(f"sweep.{key}", "must be a non-empty list", [])
            if duplicated := [x for i, x in enumerate(value) if x in value[:i]]:
                raise ConfigError(f"sweep.{key}", f"{duplicated[0]!r} is listed twice", has_value=False)
        for name in self.analyses:
            for needed in REQUIRES[name]:
                if needed not in self.analyses:
                    raise ConfigError("sweep.analyses", f"{name!r} needs the {needed!r} stage, which is not in the "
                                      f"config; add \"{needed}\" to sweep.analyses", has_value=False)
        if "steer" in self.analyses and self.steer.direction == "probe":
            if "probe" not in self.analyses:
                raise ConfigError("steer.direction", "\"probe\" steers along the sweep's probe weights: add \"probe\" "
                                  "to sweep.analyses, or set direction = \"mean_diff\"", has_value=False)
            if not self.probe.save_weights or "confidence_slot" not in (
                    self.probe.roles if isinstance(self.probe.roles, tuple) else ("confidence_slot",)):
                raise ConfigError("steer.direction", "\"probe\" needs the probe stage to save weights at the "
                                  "confidence slot: keep probe.save_weights = true and \"confidence_slot\" in "
                                  "probe.roles, or set direction = \"mean_diff\"", has_value=False)
        for section, fields in SET_BY_SWEEP.items():
            for key in set(fields) & getattr(self, section).model_fields_set:
                raise ConfigError(f"{section}.{key}", f"is set by the sweep ({fields[key]}), not in [{section}]",
                                  has_value=False)
        return self

    def params(self, analysis: str) -> StageConfig:
        return getattr(self, analysis)

    def to_dict(self) -> dict[str, Any]:
        """The file's sections: ``[sweep]`` and each stage's settings away from their defaults."""
        sweep = {"models": [m.to_dict() for m in self.models], "datasets": list(self.datasets),
                 "seeds": list(self.seeds), "analyses": list(self.analyses)}
        sweep.update({key: getattr(self, key) for key in self.execution_keys()
                      if getattr(self, key) != type(self).model_fields[key].default})
        return {"sweep": sweep, **{section: self.params(section).file_dict() for section in STAGE_CONFIGS}}

    def content(self) -> dict[str, Any]:
        return {"sweep": {"models": [m.content() for m in self.models], "datasets": list(self.datasets),
                          "seeds": list(self.seeds), "analyses": list(self.analyses)},
                **{section: self.params(section).content() for section in STAGE_CONFIGS}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base_dir: str | Path | None = None) -> "SweepConfig":
        """From the parsed file; relative dataset files are resolved against ``base_dir`` (the file's folder)."""
        if not isinstance(data, Mapping):
            raise WorkbenchError(f"a sweep config is a table of sections, got {type(data).__name__}")
        check_keys(data, ["sweep", *STAGE_CONFIGS], "")
        sweep = data.get("sweep")
        if not isinstance(sweep, Mapping):
            raise WorkbenchError("sweep: missing section [sweep] with models, datasets, seeds and analyses")
        own = [name for name in cls.model_fields if name not in STAGE_CONFIGS]
        check_keys(sweep, own, "sweep")
        for key in ("models", "datasets"):
            if key not in sweep:
                raise WorkbenchError(f"sweep.{key}: missing (a list)")
        for key in ("models", "datasets", "seeds", "analyses"):
            if key in sweep and not isinstance(sweep[key], (list, tuple)):
                raise WorkbenchError(f"sweep.{key}: must be a list, got {sweep[key]!r}")
        base = Path(base_dir) if base_dir is not None else None
        models = tuple(SweepModel.from_value(m, f"sweep.models[{i}]") for i, m in enumerate(sweep["models"]))
        datasets = tuple(resolve_dataset(d, f"sweep.datasets[{i}]", base) for i, d in enumerate(sweep["datasets"]))
        for i, seed in enumerate(sweep.get("seeds", ())):
            if not isinstance(seed, int) or isinstance(seed, bool):
                raise WorkbenchError(f"sweep.seeds[{i}]: must be an integer, got {seed!r}")
        for i, name in enumerate(sweep.get("analyses", ())):
            if name not in ANALYSES:
                raise WorkbenchError(f"sweep.analyses[{i}]: unknown analysis {name!r}.{did_you_mean(str(name), ANALYSES)}"
                                     f" Known: {', '.join(ANALYSES)}")
        sections = {section: config_cls.from_dict(data.get(section)) for section, config_cls in STAGE_CONFIGS.items()}
        rest = {key: value for key, value in sweep.items() if key not in ("models", "datasets")}
        return cls(**rest, models=models, datasets=datasets, **sections)

    @classmethod
    def from_file(cls, path: str | Path) -> "SweepConfig":
        """Read a ``.toml`` (or ``.yaml``/``.yml`` with PyYAML installed, or ``.json``) sweep config."""
        path = Path(path)
        if not path.is_file():
            raise WorkbenchError(f"sweep config {path} not found")
        return cls.from_dict(read_config_file(path), base_dir=path.resolve().parent)


def read_config_file(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    text = path.read_text(encoding="utf-8")
    if suffix == ".toml":
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise WorkbenchError(f"{path}: not valid TOML: {error}") from None
    if suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise WorkbenchError(f"{path}: reading YAML needs PyYAML (pip install pyyaml); or write the config as "
                                 "TOML") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise WorkbenchError(f"{path}: not valid YAML: {error}") from None
        return data if data is not None else {}
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise WorkbenchError(f"{path}: not valid JSON: {error}") from None
    raise WorkbenchError(f"{path}: a sweep config is .toml, .yaml/.yml or .json, not {suffix or 'no suffix'!r}")


def check_keys(data: Mapping[str, Any], known: list[str], section: str) -> None:
    """One clear error for the first unknown key, with the closest known key."""
    for key in data:
        if key not in known:
            where = f"{section}.{key}" if section else str(key)
            raise WorkbenchError(f"unknown key {where!r}.{did_you_mean(str(key), known)} "
                                 f"Known in {section or 'the top level'}: {', '.join(known)}")

