"""``progress=False`` silences every bar, weight loading included; the default shows them."""

from __future__ import annotations

import workbench as wb


def test_progress_false_silences_weight_loading_and_collect(tiny_path, tmp_path, capfd):
    model = wb.load_model(str(tiny_path), device="cpu", progress=False)
    wb.collect(out=tmp_path / "quiet", model=str(tiny_path), loaded=model, dataset="capitals", limit=2, batch_size=2,
               max_answer_tokens=2, progress=False)
    quiet = capfd.readouterr().err
    assert "Loading weights" not in quiet and "collect quiet" not in quiet
    wb.load_model(str(tiny_path), device="cpu")
    wb.collect(out=tmp_path / "loud", model=str(tiny_path), loaded=model, dataset="capitals", limit=2, batch_size=2,
               max_answer_tokens=2)
    loud = capfd.readouterr().err
    assert "Loading weights" in loud and "collect loud" in loud  # the check above could fail
