"""``wb.explore``: its callbacks, driven from Python as a notebook's controls would drive them, on a run of a tiny
random llama (real collect, real model; no SmolLM2)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import workbench as wb
from workbench.analyses.logit_lens import Lens, lens_scores


@pytest.fixture(scope="module")
def tiny(tiny_checkpoint):
    return wb.load_model(str(tiny_checkpoint), device="cpu")


@pytest.fixture(scope="module")
def probed(tiny_probed_run):
    return tiny_probed_run


def test_without_a_stored_probe_or_the_checkpoint_the_rest_still_draws(probed, tmp_path):
    shutil.copytree(probed.path, tmp_path / "run", ignore=shutil.ignore_patterns("results"))
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    manifest["config"]["model"] = str(tmp_path / "elsewhere")  # collected on another machine
    (tmp_path / "run" / "manifest.json").write_text(json.dumps(manifest))
    app = wb.explore(tmp_path / "run")
    assert not app.probe_figure.data[0].y and "no probe" in app.probe_figure.layout.title.text
    assert not app.confidence_figure.data[1].y and "no logit lens" in app.status.value
    assert np.allclose(app.confidence_figure.data[0].y, probed.confidence_probs()[0])


def test_the_lens_at_the_last_readout_is_the_stored_final_distribution(probed):
    probs, _ = Lens.of(probed).probs(len(probed.readouts) - 1)
    assert np.allclose(probs, probed.confidence_probs(), rtol=1e-4, atol=1e-9)


def test_moving_the_slider_puts_that_blocks_stored_numbers_into_the_figures(probed):
    app = wb.explore(probed)  # no model: stored numbers and the checkpoint's read-out head only
    oof = wb.open_result(probed.path, "probes")["oof"]
    assert set(oof["probe"]) == {"logistic", "diffmeans"}
    oof = oof[oof["probe"] == "logistic"]  # the one the app shows
    target = app.example.value
    row = probed.example(target).row
    seen = []
    for block in range(probed.n_blocks):
        app.block.value = block
        probe, marker = app.probe_figure.data
        mine = oof[(oof["role"] == "confidence_slot") & (oof["example_id"] == target)]
        stored = mine.groupby("layer")["score"].mean()  # mean over the two seeds
        assert list(probe.x) == stored.index.tolist() and np.allclose(probe.y, stored.to_numpy())
        assert marker.x == (block,) and np.isclose(marker.y[0], stored[block])
        final, lens, patched = app.confidence_figure.data
        assert np.allclose(final.y, probed.confidence_probs()[row]) and not patched.y
        expected = lens_scores(probed, layers=[block]).set_index("example_id").at[target, "expected"]
        assert np.isclose(np.dot(lens.y, lens.x) / np.sum(lens.y), expected)
        assert lens.name == f"logit lens at read-out {block}" and final.name == "final (stored)"
        seen.append(np.asarray(lens.y))
    assert not np.allclose(seen[0], seen[-1])  # the lens moved with the slider
    app.role.value = "answer_last"
    assert np.allclose(app.probe_figure.data[0].y,
                       oof[(oof["role"] == "answer_last") & (oof["example_id"] == target)].groupby("layer")["score"].mean())
    app.role.value = "pre_answer"  # no probe stored there
    assert not app.probe_figure.data[0].y and "no probe" in app.probe_figure.layout.title.text


def test_filters_choose_among_the_right_examples(probed):
    app = wb.explore(probed)
    records = probed.records.set_index("example_id")
    app.outcome.value = "correct"
    assert [i for _, i in app.example.options] == [1, 2, 3, 7, 8]
    app.outcome.value = "incorrect"
    assert app.example.value == 0 and not records.loc[[i for _, i in app.example.options], "correct"].any()
    word = records.at[4, "question"].split()[-1]
    app.search.value = word.upper()  # case-insensitive
    found = [i for _, i in app.example.options]
    assert 4 in found and all(word.lower() in records.at[i, "question"].lower() for i in found)
    app.search.value = "no question holds this"
    assert app.example.value is None and "no example matches" in app.status.value


def test_with_a_model_the_patched_distribution_is_computed_live(probed, tiny):
    app = wb.explore(probed, model=tiny)
    assert app.source.value == 1  # the first right answer's state, by default
    app.example.value, app.block.value, app.role.value = 0, 1, "confidence_slot"  # into a wrong answer
    final, _, patched = app.confidence_figure.data
    target = probed.example(0)
    patch = wb.Patch("blocks.1.hook_resid_pre", torch.tensor([target.positions["confidence_slot"]]),
                     torch.from_numpy(probed.residuals(1, "confidence_slot")[probed.example(1).row])[None])
    by_hand = tiny.confidence(torch.tensor([probed.prompt_ids(0)]), vocabulary=probed.vocabulary, patches=[patch])
    assert np.allclose(patched.y, by_hand.probs[0], rtol=1e-4, atol=1e-9)
    assert not np.allclose(patched.y, final.y, rtol=1e-3, atol=0)  # the source's state moved the confidence
    app.site.value = "mlp_out"  # a site the store does not keep: one forward of the source through the model
    assert not np.allclose(app.confidence_figure.data[2].y, by_hand.probs[0], rtol=1e-3, atol=0)
    assert app.confidence_figure.data[2].name == "patched: 1 -> blocks.1.hook_mlp_out"
