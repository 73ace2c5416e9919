"""A sweep's config: models x datasets x seeds x analyses, each analysis with its parameters.

Frozen dataclasses, validated on construction; every error names the key (``probe.folds``,
``sweep.datasets[1]``) and, for a typo, the closest known name. ``SweepConfig.from_file`` reads TOML
(or YAML when PyYAML is installed); ``to_dict``/``from_dict`` round-trip.

```toml
[sweep]
models = ["smollm2-135m-instruct", {name = "gemma-3-270m", dtype = "float32"}]
datasets = ["capitals", "data/my_questions.jsonl"]   # built-in names, files (relative to this file), hf:NAME
seeds = [0, 1]
analyses = ["collect", "probe", "calibrate"]

[collect]
limit = 100

[probe]
folds = 5
```
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from workbench.errors import WorkbenchError, did_you_mean

Check = Callable[[Any], str | None]  # returns what is wrong with a value, or None


# --- value checks: each returns a description of the expected value when the value is wrong ---------------

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def int_at_least(low: int) -> Check:
    return lambda v: None if _is_int(v) and v >= low else f"must be an integer >= {low}"


def number_between(low: float, high: float) -> Check:
    ok = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and low < v < high  # noqa: E731
    return lambda v: None if ok(v) else f"must be a number in ({low:g}, {high:g})"


def boolean(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def one_of(choices: Callable[[], Any] | tuple[str, ...]) -> Check:
    """A name from ``choices`` (a tuple, or a function returning the names, so registries load lazily)."""
    def check(v: Any) -> str | None:
        known = list(choices() if callable(choices) else choices)
        if isinstance(v, str) and v in known:
            return None
        return f"must be one of {', '.join(map(str, known))}{did_you_mean(str(v), known) if isinstance(v, str) else ''}"
    return check


def names_of(choices: Callable[[], Any] | tuple[str, ...]) -> Check:
    """A non-empty list of names from ``choices``."""
    each = one_of(choices)

    def check(v: Any) -> str | None:
        if not isinstance(v, tuple) or not v:
            return "must be a non-empty list"
        for item in v:
            if problem := each(item):
                return f"has {item!r}, which {problem}"
        return None
    return check


def int_or_all(v: Any) -> str | None:
    return None if v == "all" or (_is_int(v) and v >= 1) else "must be \"all\" or an integer >= 1"


def names_or_none(choices: Callable[[], Any] | tuple[str, ...]) -> Check:
    """A list of names from ``choices``, possibly empty."""
    some = names_of(choices)
    return lambda v: None if v == () else some(v)


def layers_spec(v: Any) -> str | None:
    if v == "all" or (isinstance(v, tuple) and v and all(_is_int(x) for x in v)):
        return None
    return "must be \"all\" or a non-empty list of layer numbers (negative counts from the end)"


def folds_spec(v: Any) -> str | None:
    return None if v == "auto" or (_is_int(v) and v >= 2) else "must be \"auto\" or an integer >= 2"


def _templates() -> list[str]:
    from workbench.prompts import TEMPLATES
    return list(TEMPLATES)


def _vocabularies() -> list[str]:
    from workbench.prompts import VOCABULARIES
    return list(VOCABULARIES)


def _roles() -> list[str]:
    from workbench.prompts import ROLES
    return list(ROLES)


def _probes() -> list[str]:
    from workbench.analyses.probes import ESTIMATORS
    return list(ESTIMATORS)


def _validity() -> list[str]:
    from workbench.analyses.validity import PRESETS
    return list(PRESETS)


def _pair_kinds() -> list[str]:
    from workbench.analyses.patching.pairs import PAIR_KINDS
    return list(PAIR_KINDS)


def _sites() -> list[str]:
    from workbench.analyses.patching.job import PATCH_SITES
    return list(PATCH_SITES)


def _controls() -> list[str]:
    from workbench.analyses.patching.controls import CONTROLS
    return list(CONTROLS)


def _metrics() -> list[str]:
    from workbench.analyses.patching.metrics import METRICS
    return list(METRICS)


def _backends() -> list[str]:
    from workbench.backends.loading import BACKENDS
    return list(BACKENDS)


def _dtypes() -> list[str]:
    from workbench.backends.loading import DTYPES
    return list(DTYPES)


def spec(default: Any, check: Check | None = None, *, execution: bool = False) -> Any:
    """A config field: its default, its check, and whether it only decides how (not what) is computed."""
    return field(default=default, metadata={"check": check, "execution": execution})


# --- parameters of each stage ------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Params:
    """Base of each stage's parameters: checks every field on construction, names the key on error."""

    SECTION: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            check = f.metadata.get("check")
            value = getattr(self, f.name)
            if isinstance(value, list):
                raise WorkbenchError(f"{self.SECTION}.{f.name}: pass a tuple, not a list, got {value!r}")
            if check is not None and (problem := check(value)):
                raise WorkbenchError(f"{self.SECTION}.{f.name}: {problem}, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    def content(self) -> dict[str, Any]:
        """The fields that decide the numbers (hashed into the unit's address)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if not f.metadata.get("execution")}

    def execution(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.metadata.get("execution")}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "Params":
        data = dict(data or {})
        check_keys(data, [f.name for f in fields(cls)], cls.SECTION)
        return cls(**{k: _frozen(v) for k, v in data.items()})


@dataclass(frozen=True, kw_only=True)
class CollectParams(Params):
    """What ``collect`` is given besides model, dataset and seed (see ``workbench.collect.CollectConfig``)."""

    SECTION: ClassVar[str] = "collect"
    limit: int | str = spec(50, int_or_all)  # "all": every item of the dataset
    template: str = spec("answer_then_confidence", one_of(_templates))
    vocabulary: str = spec("percent", one_of(_vocabularies))
    store_dtype: str = spec("float32", one_of(("float32", "float16")))
    max_answer_tokens: int = spec(24, int_at_least(1))
    batch_size: int = spec(16, int_at_least(1), execution=True)


@dataclass(frozen=True, kw_only=True)
class ProbeParams(Params):
    """Layer-wise probes (``workbench.analyses.probe_layers.probe_layers``); ``folds="auto"`` uses the most
    folds (up to 5) the run's class counts allow."""

    SECTION: ClassVar[str] = "probe"
    roles: tuple[str, ...] = spec(("confidence_slot",), names_of(_roles))
    layers: str | tuple[int, ...] = spec("all", layers_spec)
    folds: int | str = spec("auto", folds_spec)
    probes: tuple[str, ...] = spec(("logistic",), names_of(_probes))
    n_boot: int = spec(1000, int_at_least(10))
    save_weights: bool = spec(True, boolean)


@dataclass(frozen=True, kw_only=True)
class CalibrateParams(Params):
    """Every confidence channel (``channels``) and, with ``prior_knowledge``, known vs unknown items."""

    SECTION: ClassVar[str] = "calibrate"
    n_bins: int = spec(10, int_at_least(2))
    strategy: str = spec("uniform", one_of(("uniform", "quantile")))
    n_boot: int = spec(1000, int_at_least(10))
    validity: str = spec("default", one_of(_validity))
    prior_knowledge: bool = spec(True, boolean)
    known_threshold: float = spec(0.5, number_between(0, 1))


@dataclass(frozen=True, kw_only=True)
class BottleneckParams(Params):
    """Softmax expected value vs argmax; with ``logit_lens`` the lens per layer (loads the model)."""

    SECTION: ClassVar[str] = "bottleneck"
    n_boot: int = spec(2000, int_at_least(10))
    logit_lens: bool = spec(True, boolean)
    lens_layers: str | tuple[int, ...] = spec("all", layers_spec)


@dataclass(frozen=True, kw_only=True)
class PatchParams(Params):
    """A patch sweep over layers at one site, its controls and the layer gradient (rho); the parameters of
    ``workbench.analyses.patching.runner.PatchConfig``."""

    SECTION: ClassVar[str] = "patch"
    pairs: str = spec("correct-to-incorrect", one_of(_pair_kinds))
    n_pairs: int | str = spec("all", int_or_all)  # "all": one pair per target example
    site: str = spec("resid_pre", one_of(_sites))
    layers: str | tuple[int, ...] = spec("all", layers_spec)
    roles: tuple[str, ...] = spec(("confidence_slot",), names_of(_roles))
    metric: str = spec("shift", one_of(_metrics))
    method: str = spec("auto", one_of(("auto", "fast", "reference")))
    controls: tuple[str, ...] = spec(("reverse", "off_position", "random"), names_or_none(_controls))
    attribution: bool = spec(True, boolean)
    n_boot: int = spec(1000, int_at_least(10))
    chunk_pairs: int = spec(16, int_at_least(1), execution=True)


PARAMS: dict[str, type[Params]] = {"collect": CollectParams, "probe": ProbeParams, "calibrate": CalibrateParams,
                                   "bottleneck": BottleneckParams, "patch": PatchParams}
ANALYSES: tuple[str, ...] = tuple(PARAMS)
# stage -> the stages it cannot run without (``uses`` in units.py adds those it reads when present)
REQUIRES: dict[str, tuple[str, ...]] = {"collect": (), "probe": ("collect",), "calibrate": ("collect",),
                                        "bottleneck": ("collect",), "patch": ("collect",)}


# --- models and datasets ------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class SweepModel:
    """A model of the sweep. ``device``, ``device_map`` (passed to transformers/accelerate, e.g. "auto" for a
    model larger than one device) and ``remote`` (nnsight remote execution) decide where it runs, not what
    it computes, so they are not part of a unit's address."""

    name: str
    backend: str = spec("transformer_lens", one_of(_backends))
    dtype: str = spec("float32", one_of(_dtypes))
    device: str | None = None
    device_map: str | dict | None = None
    remote: bool = False
    where: str = field(default="sweep.models", compare=False, repr=False)

    def __post_init__(self) -> None:
        for key in ("backend", "dtype"):
            if problem := type(self).__dataclass_fields__[key].metadata["check"](getattr(self, key)):
                raise WorkbenchError(f"{self.where}.{key}: {problem}, got {getattr(self, key)!r}")
        check_model_name(self.name, self.where)
        if self.device is not None and not isinstance(self.device, str):
            raise WorkbenchError(f"{self.where}.device: must be a device string such as \"cpu\" or \"cuda:0\"")
        if self.device_map is not None and not isinstance(self.device_map, (str, dict)):
            raise WorkbenchError(f"{self.where}.device_map: must be a string (\"auto\", \"balanced\", ...) or a table "
                                 f"module -> device, got {self.device_map!r}")
        if self.device_map is not None and self.device is not None:
            raise WorkbenchError(f"{self.where}: give device or device_map, not both")
        if not isinstance(self.remote, bool):
            raise WorkbenchError(f"{self.where}.remote: must be true or false, got {self.remote!r}")
        if self.remote and self.backend != "nnsight":
            raise WorkbenchError(f"{self.where}.remote: remote execution is nnsight's (NDIF); set backend = \"nnsight\"")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (no None, so it writes as TOML)."""
        data = {"name": self.name, "backend": self.backend, "dtype": self.dtype, "device": self.device,
                "device_map": self.device_map, "remote": self.remote}
        return {k: v for k, v in data.items() if v is not None}

    def content(self) -> dict[str, Any]:
        return {"name": self.name, "backend": self.backend, "dtype": self.dtype}

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
        if isinstance(value, str):
            return cls(name=value, where=where)
        if not isinstance(value, Mapping):
            raise WorkbenchError(f"{where}: a model is a name or a table with name = ..., got {value!r}")
        data = dict(value)
        check_keys(data, ["name", "backend", "dtype", "device", "device_map", "remote"], where)
        if "name" not in data:
            raise WorkbenchError(f"{where}: a model table needs name = ...")
        return cls(**data, where=where)


def check_model_name(name: Any, where: str) -> None:
    """A registry name, a local checkpoint directory, or a Hugging Face id (org/name)."""
    from workbench.backends.loading import MODELS

    if not isinstance(name, str) or not name:
        raise WorkbenchError(f"{where}.name: must be a model name, got {name!r}")
    if name in MODELS:
        return
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise WorkbenchError(f"{where}: {name} is a directory but holds no config.json (not a checkpoint)")
        return
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        return  # a hub id; whether it can be fetched is known only when it loads
    raise WorkbenchError(f"{where}: unknown model {name!r}.{did_you_mean(name, MODELS)} Known: {', '.join(MODELS)}; "
                         "or a checkpoint directory, or a Hugging Face id (org/name)")


def resolve_dataset(name: Any, where: str, base_dir: Path | None) -> str:
    """A built-in name, ``hf:NAME``, or a file (relative to ``base_dir``) that exists; returns what to load."""
    from workbench.datasets.registry import builtin_family, list_datasets, load_dataset

    if not isinstance(name, str) or not name:
        raise WorkbenchError(f"{where}: must be a dataset name or file, got {name!r}")
    known = list_datasets()
    if name in known or name.startswith("hf:"):
        return name
    path = Path(name).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if path.is_file():
        return str(path.resolve())
    if builtin_family(name):  # part of a built-in family, e.g. elements/symbol
        load_dataset(name)  # an unknown part fails here, naming the parts there are
        return name
    looks_like_file = "/" in name or "." in Path(name).name
    if looks_like_file:
        raise WorkbenchError(f"{where}: dataset file {name!r} not found (looked for {path.resolve()})")
    raise WorkbenchError(f"{where}: unknown dataset {name!r}.{did_you_mean(name, known)} Known: {', '.join(known)}; "
                         "or a file path, or hf:NAME")


# --- the sweep ----------------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class SweepConfig:
    """models x datasets x seeds, and the stages (``analyses``) to run on each; one params block per stage."""

    models: tuple[SweepModel, ...]
    datasets: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    analyses: tuple[str, ...] = ("collect",)
    collect: CollectParams = CollectParams()
    probe: ProbeParams = ProbeParams()
    calibrate: CalibrateParams = CalibrateParams()
    bottleneck: BottleneckParams = BottleneckParams()
    patch: PatchParams = PatchParams()

    def __post_init__(self) -> None:
        for key, kind, what in (("models", SweepModel, "a model"), ("datasets", str, "a string"),
                                ("seeds", int, "an integer"), ("analyses", str, "a string")):
            value = getattr(self, key)
            if not isinstance(value, tuple) or not value:
                raise WorkbenchError(f"sweep.{key}: must be a non-empty list, got {value!r}")
            for i, item in enumerate(value):
                if not isinstance(item, kind) or isinstance(item, bool):
                    raise WorkbenchError(f"sweep.{key}[{i}]: must be {what}, got {item!r}")
        for i, name in enumerate(self.analyses):
            if name not in ANALYSES:
                raise WorkbenchError(f"sweep.analyses[{i}]: unknown analysis {name!r}.{did_you_mean(name, ANALYSES)} "
                                     f"Known: {', '.join(ANALYSES)}")
        for name in self.analyses:
            for needed in REQUIRES[name]:
                if needed not in self.analyses:
                    raise WorkbenchError(f"sweep.analyses: {name!r} needs the {needed!r} stage, which is not in the "
                                         f"config; add \"{needed}\" to sweep.analyses")
        for key in ("models", "datasets", "seeds", "analyses"):
            value = getattr(self, key)
            duplicated = [x for i, x in enumerate(value) if x in value[:i]]
            if duplicated:
                raise WorkbenchError(f"sweep.{key}: {duplicated[0]!r} is listed twice")
        for section, cls in PARAMS.items():
            if not isinstance(getattr(self, section), cls):
                raise WorkbenchError(f"{section}: must be a {cls.__name__}")

    def params(self, analysis: str) -> Params:
        return getattr(self, analysis)

    def to_dict(self) -> dict[str, Any]:
        return {"sweep": {"models": [m.to_dict() for m in self.models], "datasets": list(self.datasets),
                          "seeds": list(self.seeds), "analyses": list(self.analyses)},
                **{section: self.params(section).to_dict() for section in PARAMS}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base_dir: str | Path | None = None) -> "SweepConfig":
        """From the parsed file; relative dataset files are resolved against ``base_dir`` (the file's folder)."""
        if not isinstance(data, Mapping):
            raise WorkbenchError(f"a sweep config is a table of sections, got {type(data).__name__}")
        check_keys(data, ["sweep", *PARAMS], "")
        sweep = data.get("sweep")
        if not isinstance(sweep, Mapping):
            raise WorkbenchError("sweep: missing section [sweep] with models, datasets, seeds and analyses")
        check_keys(sweep, ["models", "datasets", "seeds", "analyses"], "sweep")
        for key in ("models", "datasets"):
            if key not in sweep:
                raise WorkbenchError(f"sweep.{key}: missing (a list)")
        base = Path(base_dir) if base_dir is not None else None
        lists = {}
        for key in ("models", "datasets", "seeds", "analyses"):
            if key in sweep:
                value = sweep[key]
                if not isinstance(value, (list, tuple)):
                    raise WorkbenchError(f"sweep.{key}: must be a list, got {value!r}")
                lists[key] = list(value)
        models = tuple(SweepModel.from_value(m, f"sweep.models[{i}]") for i, m in enumerate(lists["models"]))
        datasets = tuple(resolve_dataset(d, f"sweep.datasets[{i}]", base) for i, d in enumerate(lists["datasets"]))
        extra = {k: tuple(lists[k]) for k in ("seeds", "analyses") if k in lists}
        sections = {}
        for section, params_cls in PARAMS.items():
            value = data.get(section)
            if value is not None and not isinstance(value, Mapping):
                raise WorkbenchError(f"{section}: must be a table of parameters, got {value!r}")
            sections[section] = params_cls.from_dict(value)
        return cls(models=models, datasets=datasets, **extra, **sections)

    @classmethod
    def from_file(cls, path: str | Path) -> "SweepConfig":
        """Read a ``.toml`` (or ``.yaml``/``.yml`` with PyYAML installed) sweep config."""
        path = Path(path)
        if not path.is_file():
            raise WorkbenchError(f"sweep config {path} not found")
        return cls.from_dict(read_config_file(path), base_dir=path.resolve().parent)

    def hash(self) -> str:
        from workbench.store import config_hash
        return config_hash(self.to_dict())


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


def _frozen(value: Any) -> Any:
    """Lists from a parsed file as tuples (configs are immutable)."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value

