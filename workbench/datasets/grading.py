"""Grading a model's free-text answer against a QAItem: SQuAD-style normalised exact match.

Rules, strict on purpose so that "correct" means the model gave the answer and not text around it:

1. Only the first line counts, after leading whitespace; a leading "Answer:", "The answer is",
   "The correct answer is", "Final answer:" (any case) is dropped.
2. Normalisation (``normalize_answer``) lowercases, folds accents ("Bogotá" = "Bogota"), drops
   punctuation (hyphens and slashes become spaces, a trailing period goes), drops the articles
   a/an/the and collapses whitespace. Numbers keep their sign and decimal point, lose thousands
   separators and trailing zeros: "1,234.50" -> "1234.5", "12.0" -> "12".
3. A prediction is correct when its normalised text equals a normalised alias, or when its first
   clause does: the text before the first ", ", ";", "(" or " - ". So "Paris, France" and
   "Paris (France)" count for "Paris"; "Parisian", "Paris is the capital" and "Paris France" do not.
4. Multiple choice: a leading choice letter ("B", "B.", "B)", "(B)", "B:"; capital letters only, so
   the article "a" is never read as a letter) decides alone; otherwise the text must match the
   correct choice's text by rules 1-3.

Two gradings (``GRADINGS``; a run records which one it used in its config):

- ``exact`` (default): rules 1-4.
- ``flex``: the seed study's bidirectional substring match, on top of ``exact``: also correct when a
  normalised alias occurs inside the normalised answer (or its first clause), or the answer inside an alias,
  provided the contained string has at least 2 characters. So "Paris is the capital" and "Paris France"
  count for "Paris", and "Washington" for "George Washington"; a lone "a" never matches. Looser on purpose,
  for comparing with the seed's numbers: "19" counts for "1945".
"""

from __future__ import annotations

import re
import string
import unicodedata

from workbench.datasets.items import QAItem
from workbench.errors import WorkbenchError

_PREFIX = re.compile(r"^(?:(?:the|my|final|correct)\s+)*answer\s*(?:is\b\s*:?|:)\s*", re.IGNORECASE)
_FIRST_CLAUSE = re.compile(r",\s|;|\(|\s[-\u2013\u2014]\s")
_LETTER = re.compile(r"^(?:\(([A-Z])\)|([A-Z])(?:[.):]|$))")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_DECIMAL = re.compile(r"\d+\.\d+")
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_ASCII_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """The comparable form of an answer (rules 1 and 2 in the module docstring)."""
    return _normalize(_strip_frame(text))


GRADINGS = ("exact", "flex")
FLEX_MIN_CHARS = 2  # the shorter string of a flex (substring) match has at least this many characters


def is_correct(prediction: str, item: QAItem, grading: str = "exact") -> bool:
    """Whether a model's answer counts as correct for ``item`` under ``grading`` (see the module docstring)."""
    if grading not in GRADINGS:
        raise WorkbenchError(f"unknown grading {grading!r}: choose one of {', '.join(GRADINGS)}")
    answer = _strip_frame(prediction)
    if item.choices:
        letter = _choice_letter(answer, len(item.choices))
        if letter is not None:
            return letter == item.choices.index(item.answer)
    golds = {normalize_answer(alias) for alias in item.aliases} - {""}
    candidates = {_normalize(answer), _normalize(_FIRST_CLAUSE.split(answer, maxsplit=1)[0])} - {""}
    if not golds.isdisjoint(candidates):
        return True
    return grading == "flex" and any(_contains(a, b) or _contains(b, a) for a in golds for b in candidates)


def _contains(outer: str, inner: str) -> bool:
    return len(inner) >= FLEX_MIN_CHARS and inner in outer


def _strip_frame(text: str) -> str:
    """The first line of the answer without an "Answer:"-style lead-in."""
    lines = text.strip().splitlines()
    first = lines[0] if lines else ""
    return _PREFIX.sub("", first.strip(), count=1).strip()


def _choice_letter(answer: str, n_choices: int) -> int | None:
    """The 0-based index named by a leading choice letter, or None when the answer does not start with one."""
    match = _LETTER.match(answer)
    if not match:
        return None
    index = ord(match.group(1) or match.group(2)) - ord("A")
    return index if index < n_choices else None


def _normalize(text: str) -> str:
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = _THOUSANDS.sub("", text.lower())
    text = _DECIMAL.sub(_canonical_decimal, text)
    text = _drop_punctuation(text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def _canonical_decimal(match: re.Match[str]) -> str:
    whole, fraction = match.group().split(".")
    fraction = fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def _drop_punctuation(text: str) -> str:
    """Delete punctuation, keeping decimal points and minus signs; dashes and slashes become spaces."""
    out = []
    for i, char in enumerate(text):
        before = text[i - 1] if i else " "
        after = text[i + 1] if i + 1 < len(text) else " "
        if char == "." and before.isdigit() and after.isdigit():
            out.append(char)
        elif char == "-" and before.isspace() and after.isdigit():
            out.append(char)
        elif char in "/-" or unicodedata.category(char) == "Pd":
            out.append(" ")
        elif char not in _ASCII_PUNCTUATION and not unicodedata.category(char).startswith("P"):
            out.append(char)
    return "".join(out)
