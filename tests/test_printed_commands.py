"""Every command the workbench prints for a user to run parses with the CLI's own parser.

Two halves. The commands written into the source: every `workbench ...` between single backticks in a string of
``workbench/`` (docstrings aside), its ``{...}`` fields filled with a word, parses, or is a bare ``workbench
NAME`` naming a subcommand (a reference to the command, not a line to run); a field that calls ``command_line``
counts as the command it builds. And the commands built at run time,
from stored data: the resume command of an incomplete run (its config must come back whole: same config hash),
and the messages that name a run's path (a path with spaces stays one argument).
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from workbench.analyses.inputs import require_complete, resume_command
from workbench.analyses.steering.directions import probe_direction
from workbench.analyses.synthetic import make_run
from workbench.cli import build_parser, main
from workbench.cli_options import config_fields
from workbench.configs import CollectConfig
from workbench.errors import WorkbenchError
from workbench.store import open_run, write_json_atomic
from workbench.store.results import read_result, result_slot
from workbench.store.sampled import check_sampling

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"
COMMAND = re.compile(r"(?<!`)`(workbench [^`]+)`(?!`)")  # single backticks: ``workbench x`` is a docstring's name
PARSER = build_parser()
SUBCOMMANDS = set(next(a for a in PARSER._actions if a.dest == "command").choices)


def parse_error(command: str) -> str | None:
    """What the CLI's parser says against ``command`` (None when it parses)."""
    words = shlex.split(command)
    assert words[0] == "workbench", command
    said = io.StringIO()
    with contextlib.redirect_stderr(said):
        try:
            PARSER.parse_args(words[1:])
        except SystemExit:
            return said.getvalue().strip().splitlines()[-1]
    return None


def problem(command: str) -> str | None:
    """Why ``command`` would not run (None when it parses), by the rule above: a bare ``workbench NAME`` only
    names a subcommand."""
    words = shlex.split(command)
    if len(words) == 2:
        return None if words[1] in SUBCOMMANDS else f"no subcommand {words[1]!r}"
    return parse_error(command)


def commands_in(text: str) -> list[str]:
    return COMMAND.findall(text)


def field_text(field: ast.FormattedValue) -> str:
    """An f-string field as a word: ``{command_line('workbench', 'probe', run.path)}`` as the command it builds,
    its constants kept and every other argument RUN; any other field RUN."""
    call = field.value
    if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "command_line":
        return shlex.join(a.value if isinstance(a, ast.Constant) else "RUN" for a in call.args)
    return "RUN"


def source_strings(path: Path):
    """(line, text) of every string in the module that is not a docstring, f-strings' fields filled (``field_text``)."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    inside_fstrings = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(part.value if isinstance(part, ast.Constant) else field_text(part)
                                       for part in node.values)
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
              and id(node) not in inside_fstrings):
            yield node.lineno, node.value


def test_every_command_written_in_the_source_parses_or_names_a_subcommand():
    found, bad = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, text in source_strings(path):
            for command in commands_in(text):
                where = f"{path.relative_to(PACKAGE.parent)}:{line}: `{command}`"
                found.append(where)
                if (why := problem(command)) is not None:
                    bad.append(f"{where}: {why}")
    assert len(found) >= 10, found  # the scan sees the messages (probe, sample, collect, ...)
    assert not bad, "\n".join(bad)


def test_the_parse_check_catches_a_command_the_cli_refuses():
    assert "unrecognized arguments: --fast True --progress False" in parse_error(
        "workbench collect --fast True --progress False --out runs/x")
    assert parse_error("workbench collect --no-fast --no-progress --out runs/x") is None
    assert problem("workbench probe") is None and problem("workbench probes") == "no subcommand 'probes'"
    assert commands_in("run `workbench probe RUN` first; see ``workbench probe``") == ["workbench probe RUN"]


@pytest.fixture
def odd_path(tmp_path):
    """A run folder whose path a shell splits unless it is quoted."""
    return tmp_path / "my runs" / "run one"


def incomplete(path: Path, config: CollectConfig):
    """A run of ``config`` as a killed collect leaves it: 60 of 100 items, ``"complete": false``."""
    run = make_run(path, n=60)
    write_json_atomic(run.path / "manifest.json", {
        **run.manifest, "complete": False, "n_items": 100, "config": config.content(), "config_hash": config.hash(),
        "execution": config.to_dict()})
    return open_run(run.path)


@pytest.mark.parametrize("fields", [
    dict(progress=False, fast=False, device="cpu", batch_size=8),  # the execution flags that broke the command
    dict(dataset="capitals", limit=None, seed=3, vocabulary="digits", max_answer_tokens=12, grading="flex"),
    dict(dtype="bfloat16", store_dtype="float16", template="answer_then_confidence", backend="nnsight"),
])
def test_the_resume_command_parses_and_gives_back_the_runs_config(odd_path, fields):
    config = CollectConfig(**fields)
    run = incomplete(odd_path, config)
    with pytest.raises(WorkbenchError) as error:
        require_complete(run)
    printed = commands_in(str(error.value))
    assert printed == [resume_command(run)]
    assert parse_error(printed[0]) is None
    args = PARSER.parse_args(shlex.split(printed[0])[1:])
    assert args.out == str(odd_path)
    assert CollectConfig(**config_fields(args, CollectConfig)).hash() == config.hash()  # the same run, resumed


def test_the_resume_command_of_a_run_from_a_dataset_file_with_spaces(tmp_path, odd_path):
    data = tmp_path / "my data.jsonl"
    data.write_text('{"question": "Q1?", "answer": "A"}\n')
    config = CollectConfig(dataset=str(data), limit=1)
    command = resume_command(incomplete(odd_path, config))
    args = PARSER.parse_args(shlex.split(command)[1:])
    assert CollectConfig(**config_fields(args, CollectConfig)).hash() == config.hash()


def test_messages_naming_a_runs_path_give_commands_that_parse(odd_path, tmp_path, capsys):
    run = make_run(odd_path, n=40)
    printed = []
    with pytest.raises(WorkbenchError) as error:
        probe_direction(run, 1)  # no probe saved yet
    printed += commands_in(str(error.value))
    other = make_run(tmp_path / "other run", n=41)  # another config
    sampled = result_slot(other.path, "sampling", {"k": 2}, other.manifest).write({})
    with pytest.raises(WorkbenchError) as error:
        check_sampling(read_result(sampled.path), run)  # sampled from another run
    printed += commands_in(str(error.value))
    with pytest.raises(WorkbenchError) as error:
        open_run(tmp_path / "not a run")
    printed += commands_in(str(error.value))
    assert main(["probe", str(run.path), "--readouts", "1", "--seeds", "1", "--folds", "2", "--boot", "20",
                 "--probes", "logistic"]) == 0  # the CLI prints where its report went: no command there
    printed += commands_in(capsys.readouterr().out)
    assert printed == [f"workbench probe '{run.path}' --roles confidence_slot", f"workbench sample '{run.path}'",
                       "workbench collect"]
    for command in printed:
        assert problem(command) is None, command
