"""Confidence vocabularies: the strings a model may answer with as its confidence, and their values."""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench.errors import WorkbenchError, did_you_mean

_NUMBER = re.compile(r"\d+(\.\d+)?")


@dataclass(frozen=True, kw_only=True)
class ConfidenceVocabulary:
    """Strings a model may say as its confidence, each mapped to a value on a 0-100 scale."""

    name: str
    strings: tuple[str, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.strings or len(self.strings) != len(self.values):
            raise WorkbenchError(f"vocabulary {self.name!r} needs one value per string and at least one string")
        if len(set(self.strings)) != len(self.strings):
            raise WorkbenchError(f"vocabulary {self.name!r} repeats a string")

    def __len__(self) -> int:
        return len(self.strings)

    def to_dict(self) -> dict:
        return {"name": self.name, "strings": list(self.strings), "values": list(self.values)}

    @classmethod
    def from_dict(cls, data: dict) -> "ConfidenceVocabulary":
        return cls(name=data["name"], strings=tuple(data["strings"]), values=tuple(float(v) for v in data["values"]))

    @property
    def numeric(self) -> bool:
        return all(s.isdigit() for s in self.strings)

    def parse(self, text: str) -> float:
        """The value a model's confidence text names; NaN when it names none.

        Numeric vocabularies read the leading number: a decimal in [0, 1] ("0.9") is read as a fraction of
        the scale, other numbers are rounded and must be one of the strings. Other vocabularies read the
        leading string when no letter or digit follows it.
        """
        text = text.strip()
        if self.numeric:
            match = _NUMBER.match(text)
            if not match:
                return float("nan")
            number = float(match.group(0))
            if "." in match.group(0) and number <= 1:
                return number * max(self.values)
            string = str(round(number))
            return self.values[self.strings.index(string)] if string in self.strings else float("nan")
        matches = [s for s in self.strings if text.startswith(s) and not text[len(s):len(s) + 1].isalnum()]
        return self.values[self.strings.index(max(matches, key=len))] if matches else float("nan")


VOCABULARIES: dict[str, ConfidenceVocabulary] = {
    "percent": ConfidenceVocabulary(
        name="percent", strings=tuple(str(i) for i in range(101)), values=tuple(float(i) for i in range(101))),
    "digits": ConfidenceVocabulary(
        name="digits", strings=tuple(str(i) for i in range(10)), values=tuple(100 * i / 9 for i in range(10))),
    "letters": ConfidenceVocabulary(
        name="letters", strings=("A", "B", "C", "D", "E"), values=(100.0, 75.0, 50.0, 25.0, 0.0)),
}


def get_vocabulary(vocabulary: str | ConfidenceVocabulary) -> ConfidenceVocabulary:
    """A vocabulary by name (``percent``, ``digits``, ``letters``) or as given."""
    if isinstance(vocabulary, ConfidenceVocabulary):
        return vocabulary
    if vocabulary not in VOCABULARIES:
        raise WorkbenchError(f"unknown confidence vocabulary {vocabulary!r}.{did_you_mean(vocabulary, VOCABULARIES)}"
                             f" Known: {', '.join(VOCABULARIES)}")
    return VOCABULARIES[vocabulary]
