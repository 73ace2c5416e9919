"""The base of every stage's config: a frozen pydantic model, hashed, round-tripped, with one clear error.

Each field is declared once with ``option(default, help, ...)``: its default, its help text (the CLI's and
the API's), whether it is an *execution* field (how a result is computed — device, batch size, progress,
``overwrite`` — not what it is; not hashed), and its CLI flags where they differ from ``--field-name``.
``content()`` is what decides the stored numbers and ``hash()`` is the sha256 of its canonical JSON, so a
config hashes the same whether built in Python, from the CLI or from a sweep file.

A bad value raises one ``ConfigError`` (a ``WorkbenchError``) naming the key path, e.g.
``probe.folds: must be "auto" or an integer >= 2, got 'x'``; the CLI re-words the path as the flag.
"""

from __future__ import annotations

import copy
import hashlib
import json
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo

from workbench.configs.kinds import Kind, of_type, plain, words
from workbench.errors import WorkbenchError, did_you_mean


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(config: dict[str, Any]) -> str:
    """sha256 of the config's canonical JSON: equal configs, equal hashes."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


class ConfigError(WorkbenchError):
    """A bad config value: ``path`` (``probe.folds``), ``problem`` (``must be ...``) and the value given."""

    def __init__(self, path: str, problem: str, value: Any = None, *, has_value: bool = True):
        self.path, self.problem, self.value, self.has_value = path, problem, value, has_value
        super().__init__(f"{path}: {problem}{self.got}" if path else f"{problem}{self.got}")

    @property
    def got(self) -> str:
        """``, got VALUE`` unless the problem already quotes the value."""
        quoted = isinstance(self.value, str) and repr(self.value) in self.problem
        return f", got {self.value!r}" if self.has_value and not quoted else ""


def option(default: Any, help: str, *, execution: bool = False, flags: tuple[str, ...] = (), cli: bool = True) -> Any:
    """A config field: default, help text, whether it is an execution field (not hashed), its CLI flags
    (default ``--field-name``; a true-by-default flag gets ``--no-field-name``), and whether the CLI has it."""
    return Field(default, description=help, json_schema_extra={"execution": execution, "flags": list(flags),
                                                               "cli": cli})


def extra(info: FieldInfo, key: str, default: Any = None) -> Any:
    return info.json_schema_extra.get(key, default) if isinstance(info.json_schema_extra, dict) else default


def kind_of(info: FieldInfo) -> Kind | None:
    """The field's kind (``kinds``), or how the CLI reads a plain pydantic type."""
    return next((m for m in info.metadata if isinstance(m, Kind)), None) or of_type(info.annotation)


def flags_of(name: str, info: FieldInfo) -> list[str]:
    """The CLI flags of field ``name``: its declared ones, else ``--field-name`` (``--no-field-name`` for a switch
    that is on by default). The first is the one the CLI names in its messages."""
    if declared := list(extra(info, "flags", ()) or ()):
        return declared
    dash = name.replace("_", "-")
    return [f"--no-{dash}" if isinstance(info.default, bool) and info.default else f"--{dash}"]


class StageConfig(BaseModel):
    """Frozen, no unknown keys; ``SECTION`` names the stage in error paths and sweep files.

    ``RENAMED``: old field name -> the field(s) now holding its value. The old name still loads (with a
    ``FutureWarning``); ``content()`` hashes them under it while they hold one value, so stored hashes hold.
    ``UNHASHED_AT``: a field added later -> its value that does what was done before it, at which it is not hashed.
    ``REMOVED``: a field taken out -> (the only value it ever accepted, why it went). That value still loads, with a
    ``FutureWarning``, so old files open; any other is one error.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    SECTION: ClassVar[str] = ""
    RENAMED: ClassVar[dict[str, tuple[str, ...]]] = {}
    UNHASHED_AT: ClassVar[dict[str, Any]] = {}
    REMOVED: ClassVar[dict[str, tuple[Any, str]]] = {}
    SHARED: ClassVar[bool] = False  # a mixin of fields many configs share (``stages``): listed after a config's own
    HELP: ClassVar[dict[str, str]] = {}  # what a shared field means in this config (its help text here)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        """A config's own fields first, then those of its mixins, in the CLI, the verbs' signatures and ``to_dict``."""
        super().__pydantic_init_subclass__(**kwargs)
        shared = {name for base in cls.__mro__ if base.__dict__.get("SHARED") for name in base.__annotations__}
        fields = dict(cls.__pydantic_fields__)
        for name, help in cls.__dict__.get("HELP", {}).items():
            fields[name] = copy.copy(fields[name])
            fields[name].description = help
        cls.__pydantic_fields__ = {**{n: f for n, f in fields.items() if n not in shared},
                                   **{n: f for n, f in fields.items() if n in shared}}

    def __init__(self, **data: Any) -> None:
        for old, new in self.RENAMED.items():
            if old in data:
                if given := [name for name in new if name in data]:
                    raise ConfigError(self._path(old), f"is the old name of {given[0]}: give {given[0]} only",
                                      has_value=False)
                warnings.warn(f"{self._path(old)} is now {' and '.join(map(self._path, new))}; the old name will go",
                              FutureWarning, stacklevel=2)
                data = {**{k: v for k, v in data.items() if k != old}, **dict.fromkeys(new, data[old])}
        for old, (accepted, why) in self.REMOVED.items():
            if old in data:
                if data[old] is not accepted:
                    raise ConfigError(self._path(old), f"{why}; remove the key", has_value=False)
                warnings.warn(f"{self._path(old)} is gone (only {accepted!r} was ever accepted: {why}); remove it "
                              "from the file", FutureWarning, stacklevel=2)
                data = {k: v for k, v in data.items() if k != old}
        unknown = [key for key in data if key not in type(self).model_fields]
        if unknown:
            known = list(type(self).model_fields)
            raise ConfigError("", f"unknown key {self._path(unknown[0])!r}.{did_you_mean(str(unknown[0]), known)} "
                              f"Known in {self.SECTION or 'this config'}: {', '.join(known)}", has_value=False)
        try:
            super().__init__(**{key: plain(value) for key, value in data.items()})
        except ValidationError as error:
            raise self._error(error) from None

    @classmethod
    def _path(cls, *loc: Any) -> str:
        """The key path of ``loc`` under this section, e.g. ``steer.alphas[2]``."""
        return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in (cls.SECTION, *loc)
                       if part != "").lstrip(".")

    @classmethod
    def _error(cls, error: ValidationError) -> ConfigError:
        first = error.errors(include_url=False)[0]
        loc, cause = first["loc"], (first.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigError):  # raised by a check across fields, with its own path
            return cause
        if first["type"] == "missing":
            return ConfigError(cls._path(*loc), "missing (required)", has_value=False)
        info = cls.model_fields.get(loc[0]) if loc else None
        problem = str(cause) if first["type"] == "value_error" else \
            words(first, info.annotation, info.metadata) if info is not None else first["msg"]
        return ConfigError(cls._path(*loc), problem, first.get("input"), has_value=bool(loc))

    # --- data ---------------------------------------------------------------------------------------------

    @classmethod
    def execution_keys(cls) -> tuple[str, ...]:
        """Fields that decide how, not what, is computed (not hashed)."""
        return tuple(name for name, info in cls.model_fields.items() if extra(info, "execution", False))

    def to_dict(self) -> dict[str, Any]:
        """Every field as plain JSON data (tuples as lists); ``from_dict`` reads it back."""
        return {name: _jsonable(getattr(self, name)) for name in type(self).model_fields}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "StageConfig":
        if data is not None and not isinstance(data, Mapping):
            raise ConfigError(cls.SECTION, "must be a table of settings", data)
        return cls(**dict(data or {}))

    @classmethod
    def cli_args(cls, values: Mapping[str, Any]) -> list[str]:
        """The command-line arguments that give this stage's command ``values`` (field -> value, as ``to_dict``
        holds them): each field's flag and its value as typed; a switch only where it is off its default
        (``--no-fast``); ``None`` as its kind's word (``--limit all``), or left out where it has none; a list as
        several words where the flag takes several, else comma-separated (``--layers=0,-1``: ``=`` before a
        leading minus)."""
        out: list[str] = []
        for name, value in values.items():
            info = cls.model_fields.get(name)
            if info is None or not extra(info, "cli", True):
                continue
            flag, kind = flags_of(name, info)[0], kind_of(info)
            if isinstance(info.default, bool):
                out += [flag] if bool(value) != info.default else []
            elif value is None:
                out += [flag, kind.none_word] if kind is not None and kind.none_word else []
            elif kind is not None and kind.many and not isinstance(value, str):  # a word such as 'all' is one text
                words = [f"{k}={v}" for k, v in value.items()] if isinstance(value, dict) else [str(v) for v in value]
                out += [flag, *words]
            else:
                text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
                out += [f"{flag}={text}"] if text.startswith("-") else [flag, text]
        return out

    def content(self) -> dict[str, Any]:
        """The fields that decide the stored numbers (hashed; see ``RENAMED`` and ``UNHASHED_AT``)."""
        skip = set(self.execution_keys())
        out = {k: v for k, v in self.to_dict().items()
               if k not in skip and (k not in self.UNHASHED_AT or v != self.UNHASHED_AT[k])}
        for old, new in self.RENAMED.items():
            if all(name in out and out[name] == out[new[0]] for name in new):
                out = {(old if k == new[0] else k): v for k, v in out.items() if k == new[0] or k not in new}
        return out

    def hash(self) -> str:
        """sha256 of the canonical JSON of ``content()``."""
        return config_hash(self.content())

    def replace(self, **changes: Any) -> "StageConfig":
        """A copy with ``changes``, validated like a new config."""
        return type(self)(**{**dict(self), **changes})

    def file_dict(self) -> dict[str, Any]:
        """The fields set away from their defaults, as a sweep-file section can hold them (no ``None``)."""
        out = {}
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            if value == info.default:
                continue
            if value is None:
                value = getattr(kind_of(info), "none_word", None)  # a file cannot hold None: its word, else left out
            if value is not None:
                out[name] = _jsonable(value)
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, StageConfig):
        return value.to_dict()
    return value
