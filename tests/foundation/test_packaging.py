"""What the package says about itself: its version, the Python it needs, and that CI installs what its tests use."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

import workbench
from workbench.cli import main

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_version_flag_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"workbench {PYPROJECT['project']['version']}"
    assert workbench.__version__ == PYPROJECT["project"]["version"]


def test_requires_python_covers_what_the_code_imports():
    uses_tomllib = [p for p in (ROOT / "workbench").rglob("*.py") if re.search(r"^\s*import tomllib", p.read_text(), re.M)]
    assert uses_tomllib  # the sweep file reader
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"  # tomllib is in the standard library from 3.11


def test_ray_is_in_the_dev_extra_pinned_in_the_lock_and_installed():
    dev = PYPROJECT["project"]["optional-dependencies"]["dev"]
    assert any(re.match(r"ray\b", requirement) for requirement in dev)
    pins = dict(line.split("==") for line in (ROOT / "requirements.lock").read_text().split() if "==" in line)
    assert pins["ray"] == metadata.version("ray")  # the Ray executor test in tests/sweeps runs, not skipped
