"""QAItem: one question with its gold answer and every answer accepted as correct.

Every dataset, built-in or external, becomes a list of these; grading and prompting read nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from workbench.errors import WorkbenchError


@dataclass(frozen=True, kw_only=True)
class QAItem:
    """A question, its gold answer, the accepted answers (gold included) and, for multiple choice, the choices."""

    item_id: str  # stable and unique, e.g. "capitals/FRA" or "triviaqa/tc_33"
    question: str
    answer: str  # gold answer; for multiple choice, the text of the correct choice
    aliases: tuple[str, ...]  # accepted answers, gold included
    family: str  # e.g. "capitals"; sampling is stratified by family
    source: str  # e.g. "builtin", "triviaqa"
    choices: tuple[str, ...] = ()  # choice texts in letter order (A, B, ...); empty when open-ended

    def __post_init__(self) -> None:
        where = f"QAItem {self.item_id!r}"
        for name in ("item_id", "question", "answer", "family", "source"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise WorkbenchError(f"{where}: {name} is empty or not a string; give a non-empty string")
        for name in ("aliases", "choices"):
            value = getattr(self, name)
            if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
                raise WorkbenchError(f"{where}: {name} must be a tuple of strings; pass tuple(...)")
        if self.answer not in self.aliases:
            raise WorkbenchError(f"{where}: the gold answer {self.answer!r} is missing from aliases; add it")
        if self.choices and self.answer not in self.choices:
            raise WorkbenchError(f"{where}: the gold answer {self.answer!r} is not one of the choices; add it")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists); ``QAItem.from_dict`` inverts it."""
        return {**asdict(self), "aliases": list(self.aliases), "choices": list(self.choices)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QAItem:
        """Build an item from ``to_dict`` output (lists accepted for aliases and choices)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise WorkbenchError(f"unknown QAItem field(s) {unknown}; the fields are {sorted(known)}")
        missing = sorted(f.name for f in fields(cls) if f.name not in data and f.name != "choices")
        if missing:
            raise WorkbenchError(f"QAItem dict is missing {missing}; add them")
        lists = {name: tuple(data[name]) for name in ("aliases", "choices") if isinstance(data.get(name), list)}
        return cls(**{**data, **lists})
