"""Shared paths for the dataset tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return Path(__file__).resolve().parents[2]


@pytest.fixture
def fixtures(repo: Path) -> Path:
    """Small files in the published formats, 3-5 rows each."""
    return repo / "tests" / "fixtures" / "datasets"


@pytest.fixture(autouse=True)
def repo_data_dir(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Test against the committed data/ even when WORKBENCH_DATA_DIR is set in the shell."""
    from workbench.datasets import registry

    monkeypatch.setattr(registry, "DATA_DIR", repo / "data")
