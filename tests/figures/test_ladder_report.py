"""The ladder's report page opens on the claims in words, drawn from the committed claims and evidence (no model,
no recomputation), and takes further sections from its caller."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import pytest

from workbench.analyses.evidence import read_evidence
from workbench.figures.ladder import claim_findings, evidence_figures, write_report
from workbench.figures.page import FIGURE_SIZE, anchor

LADDER = Path(__file__).resolve().parents[2] / "docs" / "ladder"


@pytest.fixture(scope="module")
def ladder():
    """The committed claims, accuracy and evidence of docs/ladder."""
    claims = pd.read_csv(LADDER / "claims.csv", keep_default_na=False, na_values=[""])
    return claims, pd.read_csv(LADDER / "accuracy.csv"), read_evidence(LADDER / "evidence")[1]


def test_each_claim_reads_in_words_with_every_models_verdict_and_interval(ladder):
    claims = ladder[0]
    lines = claim_findings(claims)
    groups = claims.fillna({"position": ""}).groupby(["claim", "definition", "position"], sort=False)
    assert len(lines) == groups.ngroups
    first = claims.iloc[0]
    assert lines[0].startswith(f"{first['claim']} ({first['definition']}'s definition): {first['statement']}; "
                               f"the seed: {first['seed_value']}.")
    assert f"{first['model']} {first['verdict']} {first['value']:+.3f} [{first['low']:+.3f}, {first['high']:+.3f}]" \
        in lines[0]
    no_value = claims[claims["value"].isna()].iloc[0]  # a claim without a value says its verdict and nothing else
    line = next(t for t in lines if t.startswith(f"{no_value['claim']} ({no_value['definition']}"))
    said = f"{no_value['model']} {no_value['verdict']}"
    assert f"{said};" in line or f"{said}." in line
    assert not re.search(r"\bnan\b", " ".join(lines), re.IGNORECASE)


def test_the_page_opens_on_the_claims_and_draws_every_models_figures_with_added_sections(ladder, browse, tmp_path):
    claims, accuracy, evidence = ladder
    added = [("Fine-tuning and calibration", "<p id='added'>a section added by its caller</p>")]
    page = write_report(tmp_path / "report.html", claims, accuracy, evidence, added)
    text = page.read_text()
    said = re.search(r"<ul class='findings'>(.*?)</ul>", text).group(1)
    assert re.findall(r"<li>(.*?)</li>", said) == [html.escape(line) for line in claim_findings(claims)]
    headings = re.findall(r"<section id='([^']+)'><h2>", text)
    models = list(dict.fromkeys(ev.model for ev in evidence))
    first_seed = {ev.model: ev.seed for ev in reversed(evidence)}
    assert headings == ["findings", "claims", "accuracy-per-model-and-family",
                        *(anchor(f"{m} (seed {first_seed[m]})") for m in models), "fine-tuning-and-calibration"]
    assert "<p id='added'>" in text.split("<section id='fine-tuning-and-calibration'>")[1]
    assert page.stat().st_size < 6_000_000
    n_figures = sum(len(evidence_figures(next(ev for ev in evidence if ev.model == m))) for m in models)
    measures = browse(page, tmp_path, "--window-size=1000,2000")
    assert len(measures["boxes"]) == n_figures >= 2 * len(models)
    assert all(box["svgs"] >= 1 and (box["w"], box["h"]) == FIGURE_SIZE for box in measures["boxes"])
    assert measures["findings_bottom"] < min(box["y"] for box in measures["boxes"])
    assert measures["dead_links"] == []
