"""Loaders for published formats, each on a small fixture file, and errors for bad rows."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workbench.datasets import is_correct, load_dataset
from workbench.datasets.formats import infer_format
from workbench.errors import WorkbenchError

SUNSET_ALIASES = ("Sunset Boulevard", "Sunset Blvd", "West Sunset Boulevard", "Sunset Bulevard", "Sunset Blvd.")


@pytest.mark.parametrize("name", ["triviaqa_rc_nocontext.jsonl", "triviaqa_rc_nocontext.parquet"])
def test_triviaqa_hugging_face_rows(fixtures: Path, name: str) -> None:
    items = load_dataset(fixtures / name)
    assert [item.item_id for item in items] == ["triviaqa/tc_33", "triviaqa/tc_40", "triviaqa/tc_49", "triviaqa/tc_56"]
    first = items[0]
    assert first.question == "Which Lloyd Webber musical premiered in the US on 10th December 1993?"
    assert (first.answer, first.aliases) == ("Sunset Boulevard", SUNSET_ALIASES)
    assert (first.family, first.source, first.choices) == ("triviaqa", "triviaqa", ())
    assert is_correct("Sunset Blvd.", first) and is_correct("Campbell Bannerman", items[1])


def test_triviaqa_original_unfiltered_json(fixtures: Path) -> None:
    items = load_dataset(fixtures / "triviaqa-unfiltered-web-dev.json")
    assert [item.item_id for item in items] == ["triviaqa/tc_33", "triviaqa/qw_1021", "triviaqa/sfq_2291"]
    assert items[0].aliases == SUNSET_ALIASES
    assert items[1].aliases == ("Salt Lake City", "Salt Lake City, Utah")
    assert (items[2].answer, items[2].aliases) == ("1945", ("1945",))  # numerical answer without aliases


def test_mmlu_original_csv_without_header(fixtures: Path) -> None:
    items = load_dataset(fixtures / "mmlu" / "abstract_algebra_test.csv")  # format from the folder name
    assert len(items) == 4
    first = items[0]
    assert first.item_id == "mmlu/abstract_algebra/1"
    assert first.question.splitlines() == [
        "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.",
        "A. 0", "B. 4", "C. 2", "D. 6",
    ]
    assert (first.answer, first.aliases, first.choices) == ("4", ("4",), ("0", "4", "2", "6"))
    assert items[2].choices == ("0", "4", "0,1", "0,4")  # quoted cells with commas
    assert items[2].answer == "0,4"
    assert is_correct("B", first) and not is_correct("C", first)


@pytest.mark.parametrize("name", ["mmlu_all_test.jsonl", "mmlu_all_test.parquet"])
def test_mmlu_hugging_face_rows(fixtures: Path, name: str) -> None:
    items = load_dataset(fixtures / name)
    assert [item.item_id for item in items] == [
        "mmlu/anatomy/1", "mmlu/anatomy/2", "mmlu/astronomy/3", "mmlu/high_school_geography/4"]
    answers = ["Cranial", "The second and third pharyngeal arches", "Jupiter", "Bolivia"]
    assert [item.answer for item in items] == answers
    assert items[2].question.endswith("\nA. Earth\nB. Saturn\nC. Jupiter\nD. Neptune")
    assert is_correct("C", items[2]) and is_correct("Jupiter", items[2])


def test_sciq_json_is_open_ended(fixtures: Path) -> None:
    items = load_dataset(fixtures / "sciq_test.json")
    assert [item.answer for item in items] == ["oxidants", "clone", "backbone", "elevation"]
    assert all(item.choices == () and item.aliases == (item.answer,) for item in items)
    assert items[1].item_id == "sciq/sciq_test/2"
    assert items[3].question == "What is the height above or below sea level called?"


def test_popqa_tsv_decodes_possible_answers(fixtures: Path) -> None:
    items = load_dataset(fixtures / "popqa.tsv")
    assert [item.item_id for item in items] == ["popqa/4222362", "popqa/6054357", "popqa/2020899", "popqa/1421530"]
    dalton = items[2]
    assert dalton.question == "In what country is Dalton?"
    assert dalton.answer == "United States of America"
    assert "U.S.A." in dalton.aliases and dalton.aliases[0] == dalton.answer
    assert is_correct("USA", dalton) and is_correct("the United States", dalton)


def test_popqa_jsonl_with_a_list_of_possible_answers(tmp_path: Path) -> None:
    row = {"id": 7, "subj": "Tokyo", "prop": "capital of", "obj": "Japan", "question": "What is Tokyo the capital of?",
           "possible_answers": ["Japan", "Nippon"]}
    path = tmp_path / "popqa.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    [item] = load_dataset(path)
    assert (item.item_id, item.aliases) == ("popqa/7", ("Japan", "Nippon"))


def test_explicit_format_overrides_the_name(fixtures: Path, tmp_path: Path) -> None:
    path = tmp_path / "questions.csv"
    path.write_bytes((fixtures / "mmlu" / "abstract_algebra_test.csv").read_bytes())
    with pytest.raises(WorkbenchError, match="cannot tell the format .*pass format="):
        load_dataset(path)
    assert len(load_dataset(path, format="mmlu")) == 4
    with pytest.raises(WorkbenchError, match="unknown format 'mmluu'.*Did you mean 'mmlu'"):
        load_dataset(path, format="mmluu")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("triviaqa-unfiltered/unfiltered-web-dev.json", "triviaqa"),
        ("trivia_qa/rc.nocontext/validation-00000-of-00001.parquet", "triviaqa"),
        ("cais/mmlu/all/test-00000-of-00001.parquet", "mmlu"),
        ("mmlu/data/test/anatomy_test.csv", "mmlu"),
        ("sciq/test.json", "sciq"),
        ("PopQA/popQA.tsv", "popqa"),
        ("mmlu/popqa.tsv", "popqa"),  # the file name wins over the folder
    ],
)
def test_format_inference(path: str, expected: str) -> None:
    assert infer_format(Path(path)) == expected


def _write_parquet(path: Path, rows: list[dict]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


BAD_TRIVIAQA = (
    '{"question": "Q1?", "question_id": "a", "answer": {"value": "A1", "aliases": []}}\n'
    "\n"
    '{"question": "Q2?", "question_id": "b", "answer": {"value": "", "aliases": ["x"]}}\n'
)


@pytest.mark.parametrize(
    ("name", "content", "where", "missing"),
    [
        ("triviaqa.jsonl", BAD_TRIVIAQA, "line 3", "'value'"),
        ("triviaqa.jsonl", '{"question": "Q?", "question_id": "a"}\n', "line 1", "'value'"),
        ("mmlu.csv", "Q1?,a,b,c,d,A\n,a,b,c,d,B\n", "line 2", "'question'"),
        ("mmlu.csv", "Q1?,a,b,c,d,\n", "line 1", "'answer'"),
        ("popqa.tsv", "id\tobj\tquestion\tpossible_answers\n1\tX\tQ?\t[]\n2\tY\t\t[]\n", "line 3", "'question'"),
        ("popqa.tsv", "id\tobj\tquestion\tpossible_answers\n1\t\tQ?\t[]\n", "line 2", "'obj'"),
        ("sciq.json", json.dumps([{"question": "Q?", "correct_answer": "A"}, {"question": "Q2?"}]), "row 2",
         "'correct_answer'"),
        ("bank.jsonl", '{"item_id": "x/1", "question": "", "answer": "A", "aliases": ["A"], "family": "x", '
         '"source": "y"}\n', "line 1", "question is empty"),
    ],
)
def test_bad_row_names_file_line_and_what_is_missing(
    tmp_path: Path, name: str, content: str, where: str, missing: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    fmt = "workbench" if name == "bank.jsonl" else None
    with pytest.raises(WorkbenchError) as error:
        load_dataset(path, format=fmt)
    message = str(error.value)
    assert f"{where} of {path}" in message and missing in message


def test_bad_parquet_row_names_the_row(tmp_path: Path) -> None:
    rows = [{"question": "Q1?", "subject": "s", "choices": ["a", "b"], "answer": 1},
            {"question": "Q2?", "subject": "s", "choices": ["a", "b"], "answer": None}]
    path = _write_parquet(tmp_path / "mmlu.parquet", rows)
    with pytest.raises(WorkbenchError, match=f"row 2 of {path}: missing 'answer'"):
        load_dataset(path)


def test_mmlu_answer_out_of_range_is_named(tmp_path: Path) -> None:
    path = tmp_path / "mmlu.csv"
    path.write_text("Q?,a,b,c,d,F\n", encoding="utf-8")
    with pytest.raises(WorkbenchError, match="line 1 of .*answer 'F' names none of the 4 choices"):
        load_dataset(path)


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("triviaqa.jsonl", "{not json}\n", "line 1 of .*invalid JSON"),
        ("triviaqa.jsonl", "[1, 2]\n", "line 1 of .*expected a JSON object"),
        ("triviaqa.json", '{"rows": []}', "expected a JSON list of rows"),
        ("mmlu.csv", "Q?,a,b\n", "line 1 of .*3 columns where 6 were expected"),
        ("popqa.tsv", "id\tobj\tquestion\tpossible_answers\n1\tX\tQ?\t[oops\n", "line 2 of .*not a JSON list"),
        ("sciq.json", "[]", "has no rows"),
        ("sciq.xml", "<x/>", "unknown file type '.xml'"),
    ],
)
def test_malformed_files_are_named(tmp_path: Path, name: str, content: str, problem: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(WorkbenchError, match=problem):
        load_dataset(path)


def test_limit_applies_to_files(fixtures: Path) -> None:
    items = load_dataset(fixtures / "popqa.tsv", limit=2, seed=0)
    assert len(items) == 2 and items == load_dataset(fixtures / "popqa.tsv", limit=2, seed=0)


@pytest.mark.parametrize("name", ["questions.jsonl", "mmlu.csv", "popqa.tsv", "sciq.json"])
def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b'{"question": "Q1?", "answer": "A"}\n' if name.endswith("jsonl") else b"header\n")
    path.write_bytes(path.read_bytes() + "Caf\u00e9?".encode("latin-1") + b"\n")
    with pytest.raises(WorkbenchError, match=f"line 2 of {path} is not UTF-8 text \\(byte 0xe9.*re-save the file as UTF-8"):
        load_dataset(path)


@pytest.mark.parametrize(("row", "message"), [
    ({"question": "2 + 2?", "answer": 4}, "'answer' is 4 \\(int\\), not text; write it as a JSON string"),
    ({"question": 7, "answer": "seven"}, "'question' is 7 \\(int\\), not text"),
    ({"item_id": "x/1", "question": "Q?", "answer": 4, "aliases": ["4"], "family": "x", "source": "y"},
     "'answer' is 4 \\(int\\)"),
])
def test_a_non_string_question_or_answer_names_the_line(tmp_path: Path, row: dict, message: str) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text('{"question": "Q?", "answer": "A"}\n' + json.dumps(row) + "\n", encoding="utf-8")
    with pytest.raises(WorkbenchError, match=f"line 2 of {path}: {message}"):
        load_dataset(path)
