"""Published QA formats read from local files: TriviaQA, MMLU, SciQ, PopQA, and the workbench's own JSONL.

Each format is a converter from records (rows with their place in the file) to QAItems; the file type
(JSONL, JSON, CSV, TSV, Parquet) is read by ``records.read_records``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from workbench.datasets.items import QAItem
from workbench.datasets.records import Record, read_records
from workbench.errors import WorkbenchError, did_you_mean

Converter = Callable[[Sequence[Record], str], list[QAItem]]  # (records, file stem) -> items

MMLU_CSV_COLUMNS: tuple[str, ...] = ("question", "A", "B", "C", "D", "answer")  # the original release has no header
LETTERS = "ABCDEFGHIJ"


def load_file(path: Path, *, format: str | None = None) -> list[QAItem]:
    """Every item of a local file in a published format; the format is inferred from the path when not given."""
    name = format or infer_format(path)
    if name not in FORMATS:
        raise WorkbenchError(f"unknown format {name!r}; use one of {', '.join(FORMATS)}.{did_you_mean(name, FORMATS)}")
    columns = MMLU_CSV_COLUMNS if name == "mmlu" and path.suffix.lower() == ".csv" else None
    items = FORMATS[name](read_records(path, columns=columns), path.stem)
    if not items:
        raise WorkbenchError(f"{path} has no rows; check that it is the right file")
    return items


def infer_format(path: Path) -> str:
    """The format named in the file name or, failing that, in the nearest folder name that names one."""
    for part in (path.name, *reversed(path.parent.parts)):
        lowered = part.lower().replace("-", "").replace("_", "")
        for name in _NAMED:
            if name in lowered:
                return name
    if path.suffix.lower() in (".jsonl", ".json"):
        return "workbench"  # our own format: QAItem dicts, or plain question/answer rows
    raise WorkbenchError(f"cannot tell the format of {path} from its name; pass format= one of {', '.join(FORMATS)}")


def from_workbench(records: Sequence[Record], stem: str) -> list[QAItem]:
    """The workbench's own JSONL: one ``QAItem.to_dict()`` a line; a plain ``question``/``answer`` row also works
    (the id, aliases, family and source are then filled in from the file name and the line)."""
    items = []
    for number, record in enumerate(records, start=1):
        fields = dict(record.fields)
        for key in ("question", "answer"):
            if key in fields and not isinstance(fields[key], str):
                raise WorkbenchError(f"{record.where}: {key!r} is {fields[key]!r} ({type(fields[key]).__name__}), not "
                                     f"text; write it as a JSON string, e.g. \"{key}\": \"{fields[key]}\"")
        if "item_id" not in fields:
            fields = {"item_id": f"{stem}/{number:05d}", "question": record.text("question"),
                      "answer": record.text("answer"), "family": stem, "source": "file", **fields}
            fields["aliases"] = _unique([fields["answer"], *_strings(fields.get("aliases"))])
        with _located(record):
            items.append(QAItem.from_dict(fields))
    return items


def from_triviaqa(records: Sequence[Record], stem: str) -> list[QAItem]:
    """TriviaQA rows: Hugging Face (``question``, ``question_id``, ``answer.value/aliases``) or the original release
    (``Question``, ``QuestionId``, ``Answer.Value/Aliases``)."""
    items = []
    for record in records:
        question, question_id, answer, value, aliases = _TRIVIAQA_KEYS["Question" in record.fields]
        fields = record.fields.get(answer)
        answer_record = Record(f"{record.where}, field {answer!r}", fields if isinstance(fields, dict) else {})
        gold = answer_record.text(value)
        items.append(_item(record, item_id=f"triviaqa/{record.text(question_id)}", question=record.text(question),
                           answer=gold, aliases=_unique([gold, *_strings(answer_record.fields.get(aliases))]),
                           family="triviaqa"))
    return items


_TRIVIAQA_KEYS = {  # question, question id, answer, answer value, answer aliases
    False: ("question", "question_id", "answer", "value", "aliases"),  # Hugging Face
    True: ("Question", "QuestionId", "Answer", "Value", "Aliases"),  # original release
}


def from_mmlu(records: Sequence[Record], stem: str) -> list[QAItem]:
    """MMLU rows, the original CSV (question, A-D, answer letter) or Hugging Face (``choices`` list, ``answer``
    index), asked with their lettered choices, one a line."""
    items = []
    for number, record in enumerate(records, start=1):
        question = record.text("question")
        if "choices" in record.fields:
            choices = tuple(str(choice).strip() for choice in _strings(record.fields["choices"]))
        else:
            choices = tuple(str(record.fields.get(letter) or "").strip() for letter in "ABCD")
        index = _answer_index(record, len(choices))
        subject = str(record.fields.get("subject") or re.sub(r"_(?:test|dev|val)$", "", stem))  # CSV: from file name
        lines = [question, *(f"{LETTERS[i]}. {choice}" for i, choice in enumerate(choices))]
        items.append(_item(record, item_id=f"mmlu/{subject}/{number}", question="\n".join(lines), answer=choices[index],
                           aliases=(choices[index],), family="mmlu", choices=choices))
    return items


def from_sciq(records: Sequence[Record], stem: str) -> list[QAItem]:
    """SciQ rows (``question``, ``correct_answer``, ``distractor1..3``, ``support``), asked open-ended."""
    items = []
    for number, record in enumerate(records, start=1):
        gold = record.text("correct_answer")
        items.append(_item(record, item_id=f"sciq/{stem}/{number}", question=record.text("question"), answer=gold,
                           aliases=(gold,), family="sciq"))
    return items


def from_popqa(records: Sequence[Record], stem: str) -> list[QAItem]:
    """PopQA rows (``id``, ``question``, ``obj``, ``possible_answers`` as a JSON-encoded list)."""
    items = []
    for record in records:
        gold = record.text("obj")
        possible = record.fields.get("possible_answers")
        if isinstance(possible, str):
            try:
                possible = json.loads(possible)
            except json.JSONDecodeError as error:
                raise WorkbenchError(f"{record.where}: 'possible_answers' is not a JSON list; fix that row") from error
        items.append(_item(record, item_id=f"popqa/{record.text('id')}", question=record.text("question"),
                           answer=gold, aliases=_unique([gold, *_strings(possible)]), family="popqa"))
    return items


FORMATS: dict[str, Converter] = {"workbench": from_workbench, "triviaqa": from_triviaqa, "mmlu": from_mmlu,
                                 "sciq": from_sciq, "popqa": from_popqa}
_NAMED: tuple[str, ...] = ("triviaqa", "mmlu", "sciq", "popqa")  # formats a file or folder name may say


def _item(record: Record, **fields: Any) -> QAItem:
    """A QAItem whose source is its family (the published dataset's name)."""
    with _located(record):
        return QAItem(source=fields["family"], **fields)


@contextmanager
def _located(record: Record) -> Iterator[None]:
    """Add the record's place in the file to a WorkbenchError raised inside."""
    try:
        yield
    except WorkbenchError as error:
        raise WorkbenchError(f"{record.where}: {error}") from error


def _answer_index(record: Record, n_choices: int) -> int:
    """The 0-based index of the correct choice, from a letter ("B") or an index (1)."""
    if not n_choices:
        raise WorkbenchError(f"{record.where}: missing 'choices'; fill them in or remove that row")
    text = record.text("answer").upper()
    index = LETTERS.find(text) if len(text) == 1 and text.isalpha() else int(text) if text.isdigit() else -1
    if not 0 <= index < n_choices:
        raise WorkbenchError(f"{record.where}: answer {text!r} names none of the {n_choices} choices; "
                             f"use a letter A-{LETTERS[n_choices - 1]} or an index 0-{n_choices - 1}")
    return index


def _strings(value: Any) -> list[str]:
    """The non-empty strings of a list-like field (a list, or a numpy array from Parquet)."""
    if value is None or isinstance(value, str):
        return []
    return [str(v) for v in value if v is not None and str(v).strip()]


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value.strip() for value in values))
