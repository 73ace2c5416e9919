"""The kinds of value pydantic's own types do not say: each checks a Python value and reads one from command-line text.

Plain fields are pydantic's (``Literal[...]`` names from ``registries``, ``Annotated[int, Field(strict=True, ge=2)]``):
``words`` words their errors as the kinds word theirs (``must be an integer >= 2``), ``of_type`` says how the CLI
reads them. A kind (``Annotated[str | tuple[int, ...], layers()]``) is for what takes more: a word standing for
``None`` (``all``), comma-separated lists, layer ranges, ``SPLIT=RUN``; its error reads the same from the API, the
CLI and a sweep file. Values are normalised on the way in (numpy scalars as numbers, lists as tuples), so equal
configs hash equally.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic_core import core_schema

from workbench.errors import did_you_mean
from workbench.layer_selection import parse_layers

Check = Callable[[Any], Any]  # value -> normalised value, or ValueError("must be ...")


def plain(value: Any) -> Any:
    """numpy scalars as Python numbers (``np.int64(3)`` -> ``3``), so they validate and hash as numbers."""
    item = getattr(value, "item", None)
    if item is not None and type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return item()
    return value


@dataclass(frozen=True)
class Kind:
    """A field's check, and how the CLI reads the field and names it in the help."""

    check: Check
    metavar: str
    parse: Callable[[str], Any] = str  # reads one CLI text
    many: bool = False  # the CLI takes one or more texts, each comma-separated or not
    empty: bool = False  # with ``many``: no texts at all is a value (the empty list)
    optional: bool = False  # ``None`` is allowed
    none_word: str | None = None  # the text standing for ``None`` where a file cannot hold it (``all`` for ``limit``)
    words: tuple[str, ...] = ()  # with ``many``: single texts kept whole, like ``all``
    choices: Callable[[], Iterable[str]] | None = None  # the names it accepts, for the help text

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.validate)

    def validate(self, value: Any) -> Any:
        value = plain(value)
        if (self.optional or self.none_word) and (value is None or (self.none_word and value == self.none_word)):
            return None
        return self.check(value)

    def from_text(self, texts: str | Sequence[str]) -> Any:
        """What the CLI passes on: the parsed value, or the text itself where it does not parse (so the check
        names the problem)."""
        if self.many:
            parts = [part.strip() for text in texts for part in str(text).split(",") if part.strip()]
            if len(parts) == 1 and parts[0] in self.words:
                return parts[0]
            return tuple(self._parse(part) for part in parts)
        return self._parse(texts)

    def _parse(self, text: str) -> Any:
        try:
            return self.parse(text)
        except ValueError:
            return text


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _parse_number(text: str) -> float | int:
    return int(text) if text.lstrip("-").isdigit() else float(text)


def integer(low: int, *, none_word: str) -> Kind:
    """An integer >= ``low``, or ``None`` written as ``none_word`` (``limit``: ``all``)."""
    def check(v: Any) -> int:
        if not _is_int(v) or v < low:
            raise ValueError(f"must be an integer >= {low} or {none_word!r}")
        return v
    return Kind(check, "N", int, none_word=none_word)


def _not_one_of(v: Any, known: list[str]) -> str:
    hint = did_you_mean(v, known) if isinstance(v, str) else ""
    return f"must be one of {', '.join(known)}.{hint}".rstrip(".")


def choices_of(annotation: Any) -> tuple[str, ...]:
    """The names a ``Literal`` field (or an optional one) accepts; none for another type."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    return next((names for arg in get_args(annotation) if (names := choices_of(arg))), ())


def of_type(annotation: Any) -> Kind | None:
    """How the CLI reads a field pydantic checks itself: one of a ``Literal``'s names, an integer, a number, a text."""
    if names := choices_of(annotation):
        return Kind(_as_is, "NAME", choices=lambda: names)
    types = set(get_args(annotation)) - {type(None)} or {annotation}
    read = {int: Kind(_as_is, "N", int), float: Kind(_as_is, "X", _parse_number), str: Kind(_as_is, "TEXT")}
    return read.get(next(iter(types))) if len(types) == 1 else None


def _as_is(v: Any) -> Any:
    return v


def path_text(v: Any) -> Any:
    """A path as its text (``BeforeValidator`` of the text fields)."""
    return str(v) if isinstance(v, Path) else v


def words(error: Mapping[str, Any], annotation: Any, metadata: Sequence[Any]) -> str:
    """pydantic's error on a plain field, in the kinds' words (``must be one of ...``, ``must be an integer >= 2``)."""
    if error["type"] == "literal_error":
        return _not_one_of(error["input"], list(choices_of(annotation)))
    if error["type"] == "bool_type":
        return "must be true or false"
    bounds = {key: getattr(m, key) for m in metadata for key in ("ge", "gt", "le", "lt") if hasattr(m, key)}
    if error["type"] in ("float_type", "finite_number", "greater_than", "greater_than_equal", "less_than",
                         "less_than_equal") and float in {annotation, *get_args(annotation)}:
        low, high = bounds.get("gt", bounds.get("ge", 0)), bounds.get("lt", bounds.get("le"))
        if high is None:
            return f"must be a number {'>' if 'gt' in bounds else '>='} {low:g}"
        return f"must be a number in {'(' if 'gt' in bounds else '['}{low:g}, {high:g}{')' if 'lt' in bounds else ']'}"
    if error["type"] in ("int_type", "greater_than_equal"):
        return "must be an integer" + (f" >= {bounds['ge']}" if "ge" in bounds else "")
    if error["type"] in ("string_type", "string_too_short"):
        return "must be a non-empty string"
    return error["msg"]


def split(v: Any) -> Any:
    """Comma-separated text as a tuple of its stripped, non-empty parts; any other value as it is."""
    return tuple(part.strip() for part in v.split(",") if part.strip()) if isinstance(v, str) else v


def names(choices: Callable[[], Iterable[str]] | Sequence[str] | None = None, *, empty: bool = False,
          word: str | None = None) -> Kind:
    """A tuple of names (a list, or comma-separated text), each one of ``choices`` (any non-empty text without);
    ``empty`` allows none (the text ``none``); ``word`` is one extra text standing for every name (``all``)."""
    listed = choices if choices is None or callable(choices) else (lambda: choices)

    def check(v: Any) -> str | tuple[str, ...]:
        if word is not None and v == word:
            return word
        if empty and v == "none":
            return ()
        v = split(v)
        if not isinstance(v, (list, tuple)) or (not v and not empty):
            raise ValueError("must be a non-empty list of names" if not empty else "must be a list of names")
        known = list(listed()) if listed is not None else None
        for item in v:
            if known is None and not (isinstance(item, str) and item):
                raise ValueError("must be a non-empty list of names")
            if known is not None and (not isinstance(item, str) or item not in known):
                raise ValueError(f"has {item!r}, which {_not_one_of(item, known)}")
        return tuple(v)
    words = tuple(w for w in (word, "none" if empty else None) if w)
    return Kind(check, "NAME", many=True, empty=empty, words=words, choices=listed)


def integers(low: int | None = None, *, optional: bool = False) -> Kind:
    """A non-empty tuple of integers (each >= ``low``); ``optional``: or ``None``."""
    def check(v: Any) -> tuple[int, ...]:
        v = (v,) if _is_int(v) else v
        if isinstance(v, (list, tuple)):
            v = tuple(plain(x) for x in v)
        if not isinstance(v, tuple) or not v or not all(_is_int(x) and (low is None or x >= low) for x in v):
            raise ValueError("must be a non-empty list of integers" + (f" >= {low}" if low is not None else ""))
        return v
    return Kind(check, "N", int, many=True, optional=optional)


def numbers(*, optional: bool = False) -> Kind:
    """A tuple of finite numbers as floats (a list, or comma-separated text such as ``-1,-0.5,0,0.5,1``); it may be
    empty, so the config that holds it says what an empty grid means."""
    def check(v: Any) -> tuple[float, ...]:
        if isinstance(v, str):
            try:
                v = tuple(_parse_number(part.strip()) for part in v.split(",") if part.strip())
            except ValueError:
                raise ValueError("must be comma-separated numbers such as -1,-0.5,0,0.5,1") from None
        if _number(plain(v)):
            v = (v,)
        if not isinstance(v, (list, tuple)) or not all(_number(plain(x)) for x in v):
            raise ValueError("must be a list of finite numbers such as -1,-0.5,0,0.5,1")
        return tuple(float(plain(x)) for x in v)
    return Kind(check, "X,Y,...", optional=optional)


def layers(of: str = "block") -> Kind:
    """``"all"`` or a non-empty tuple of block or read-out indices (``of``; negative counts from the end); text as
    ``workbench.layer_selection.parse_layers`` reads it (``0,4,-1``, ``10-20``)."""
    def check(v: Any) -> str | tuple[int, ...]:
        if isinstance(v, str) and v != "all":
            try:
                v = parse_layers(v)
            except ValueError:
                pass
        if _is_int(v):
            v = (v,)
        if isinstance(v, (list, tuple)):
            v = tuple(plain(x) for x in v)
        if v == "all" or (isinstance(v, tuple) and v and all(_is_int(x) for x in v)):
            return v
        raise ValueError(f"must be \"all\" or a non-empty list of {of} numbers such as 0,4,8 or 10-20 (negative "
                         "counts from the end)")
    return Kind(check, f"{of.replace('-', '').upper()}S", parse_layers)


def folds() -> Kind:
    def check(v: Any) -> int | str:
        if v == "auto" or (_is_int(v) and v >= 2):
            return v
        raise ValueError("must be \"auto\" or an integer >= 2")
    return Kind(check, "N", lambda t: t if t == "auto" else int(t))


def pair(*, optional: bool = True) -> Kind:
    """Two strings (``"90,10"`` on the CLI), e.g. the confidence levels of ``logit_diff``."""
    def check(v: Any) -> tuple[str, str]:
        v = split(v)
        if not isinstance(v, (list, tuple)) or len(v) != 2 or not all(isinstance(x, str) for x in v):
            raise ValueError("must be two confidence strings, e.g. '90,10'")
        return tuple(v)
    return Kind(check, "A,B", optional=optional)


def splits() -> Kind:
    """Named runs ``{split: run path}``; the CLI reads ``SPLIT=RUN`` (or just ``RUN``, named after its folder)."""
    def check(v: Any) -> dict[str, str]:
        if isinstance(v, Mapping):
            items = list(v.items())
        elif isinstance(v, (list, tuple)):
            items = []
            for entry in v:
                if not isinstance(entry, (str, Path)):
                    raise ValueError(f"takes SPLIT=RUN entries, got {entry!r}")
                split, sep, path = str(entry).partition("=")
                if sep and (not split or not path):
                    raise ValueError(f"takes SPLIT=RUN entries, got {entry!r}")
                items.append((split, path) if sep else (Path(str(entry)).name, str(entry)))
        else:
            raise ValueError("must map split names to run directories, e.g. heldout=runs/heldout")
        return {str(k): str(p) for k, p in items}
    return Kind(check, "SPLIT=RUN", many=True)


def checked_name(checker: Callable[[str], None], metavar: str) -> Kind:
    """A name (a ``Path`` is taken as its text) that ``checker`` accepts; it raises ``ValueError`` otherwise."""
    def check(v: Any) -> str:
        checker(v := path_text(v))
        return v
    return Kind(check, metavar)


def model_name() -> Kind:
    from workbench.configs.checks import check_model_name

    return checked_name(check_model_name, "MODEL")


def dataset_name() -> Kind:
    from workbench.configs.checks import check_dataset

    return checked_name(check_dataset, "DATASET")

