"""The public surface is ``wb.*``: every name documented (docstring and docs/api.md), the README's exploration
runs verbatim on SmolLM2, and neither the README snippet nor the notebooks reach into submodules."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import workbench as wb

ROOT = Path(__file__).resolve().parents[1]
SUBMODULE = re.compile(r"\bworkbench\.[A-Za-z_][\w.]*")  # `import workbench as wb` is the only way in


def readme_snippet() -> str:
    """The first python block of the README's "Python API" section."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python API"):]
    section = section[:section.index("\n## ", 1)]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_every_public_name_has_a_docstring_and_a_section_in_docs_api():
    docs = (ROOT / "docs" / "api.md").read_text()
    headings = "\n".join(line for line in docs.splitlines() if line.startswith("### "))
    for name in wb.__all__:
        obj = getattr(wb, name)
        assert re.search(rf"`wb\.{name}[(`]", headings), f"docs/api.md has no section for wb.{name}"
        if callable(obj):
            doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else obj.__doc__
            assert doc and not doc.startswith(f"{name}("), f"wb.{name} has no docstring of its own"


def test_docs_api_column_tables_are_generated_from_the_column_docs(script, capsys):
    assert script("make_api_docs").main(["--check"]) == 0, capsys.readouterr().err
    assert "| `argmax_confidence` |" in (ROOT / "docs" / "api.md").read_text()


def test_docs_api_says_where_probe_weights_are_stored(tmp_path):
    from workbench.analyses.synthetic import make_run

    docs = (ROOT / "docs" / "api.md").read_text()
    pattern = re.search(r"`RUN/results/probes/<key>/weights/[^`]+`", docs).group(0).strip("`")
    assert "RUN/probes/" not in docs
    run = make_run(tmp_path / "run", n=40)
    result = wb.probe(run, readouts=(1,), seeds=1, folds=2, probes=("logistic",), n_boot=20)
    documented = (pattern.replace("RUN", str(run.path)).replace("<key>", result.path.name)
                  .replace("<role>", "confidence_slot").replace("<probe>", "logistic").replace("NN", "01"))
    assert Path(documented).is_file()


def test_readme_snippet_and_notebooks_use_wb_names_only():
    snippet = readme_snippet()
    assert "import workbench as wb" in snippet
    assert not SUBMODULE.findall(snippet), SUBMODULE.findall(snippet)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert "import workbench as wb" in code, path.name
        found = SUBMODULE.findall(code)
        assert not found, f"{path.name} imports workbench submodules: {found}"


@pytest.mark.slow
def test_readme_snippet_runs_verbatim_on_smollm2(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(readme_snippet(), "README.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert isinstance(namespace["probes"], wb.Result) and isinstance(namespace["probes"].summary, wb.ProbeSummary)
    assert namespace["run"].n_examples == 16 and (tmp_path / "runs" / "readme" / "results" / "probes").is_dir()
    assert namespace["fig"].data, "the probe figure has traces"
    stored = namespace["records"]["softmax_expected"][namespace["target"]]
    assert abs(namespace["clean"].expected[0] - stored) < 1e-3
    assert printed.count("expected confidence") == 4
