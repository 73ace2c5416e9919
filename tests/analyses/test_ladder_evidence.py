"""The committed ladder (docs/ladder) recomputes from its committed evidence alone, and the README quotes it."""

from __future__ import annotations

from pathlib import Path

import workbench as wb

LADDER = Path(__file__).resolve().parents[2] / "docs" / "ladder"


def test_the_committed_claims_recompute_exactly_from_the_committed_evidence(tmp_path):
    wb.replicate(tmp_path, from_evidence=str(LADDER / "evidence"), figures=False, progress=False)
    assert (tmp_path / "claims.csv").read_text() == (LADDER / "claims.csv").read_text()
    assert (tmp_path / "ladder.md").read_text() == (LADDER / "ladder.md").read_text()
    assert (tmp_path / "accuracy.csv").read_text() == (LADDER / "accuracy.csv").read_text()


def test_the_readme_table_is_the_ladders_and_the_evidence_stays_small(script):
    assert script("ladder_table").main(["--check"]) == 0
    size = sum(p.stat().st_size for p in (LADDER / "evidence").rglob("*") if p.is_file())
    assert 0 < size < 20 * 2**20
