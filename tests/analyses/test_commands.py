"""The probe, calibrate and bottleneck commands, called through ``main(argv)`` on a synthetic run."""

from __future__ import annotations

from workbench.cli import main
from workbench.store.results import read_result


def test_probe_calibrate_bottleneck_write_results_and_figures(tmp_path, capsys):
    from workbench.analyses.synthetic import make_run

    run = make_run(tmp_path / "run", n=60, accuracy=0.4)
    assert main(["probe", str(run.path), "--roles", "confidence_slot", "--readouts", "1,2", "--probes", "diffmeans",
                 "--seeds", "2", "--boot", "50"]) == 0
    out = capsys.readouterr().out
    assert "peak at layer 2" in out and "replication over 2 seeds" in out
    assert read_result(run.path / "results" / "probes")["layers"]["layer"].tolist() == [1, 2]
    assert main(["calibrate", str(run.path), "--boot", "50", "--strategy", "quantile", "--validity", "strict"]) == 0
    out = capsys.readouterr().out
    assert "softmax_expected" in out and "validity screen (strict)" in out and "prior knowledge" in out
    assert read_result(run.path / "results" / "channels").config["strategy"] == "quantile"
    assert main(["bottleneck", str(run.path), "--no-lens", "--boot", "100"]) == 0
    assert "verdict: bottleneck" in capsys.readouterr().out
    page = (run.path / "report.html").read_text()  # each command refreshes the run's one report page
    assert all(f"<h2>{name}</h2>" in page for name in ("probes", "replication", "channels", "bottleneck"))
    assert not (run.path / "figures").exists()


def test_user_errors_are_one_line(tmp_path, capsys):
    assert main(["probe", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench probe: error:") and "not a run directory" in err and len(err.splitlines()) == 1
    from workbench.analyses.synthetic import make_run

    run = make_run(tmp_path / "run", n=40, accuracy=0.4)
    assert main(["probe", str(run.path), "--readouts", "9"]) == 2
    assert "read-out 9 out of range" in capsys.readouterr().err


def test_calibrate_prints_undefined_with_why_never_nan(tmp_path, capsys):
    """One class, and a constant channel: every metric that does not exist reads "undefined" with its reason."""
    import numpy as np
    import pandas as pd

    from workbench.analyses.synthetic import make_run

    one_class = make_run(tmp_path / "one", n=40, correct=np.zeros(40, dtype=bool))
    assert main(["calibrate", str(one_class.path), "--boot", "20"]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out.lower() and "undefined: all 40 answers are incorrect" in out
    assert "r undefined: correctness has one class" in out
    constant = make_run(tmp_path / "constant", n=40, accuracy=0.5)
    for shard in sorted((constant.path / "records").glob("*.parquet")):
        frame = pd.read_parquet(shard)
        frame["verbal_confidence"] = 95.0
        frame.to_parquet(shard, index=False)
    assert main(["calibrate", str(constant.path), "--boot", "20"]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out.lower()
    verbal = next(line for line in out.splitlines() if line.strip().startswith("verbal "))
    assert "undefined: the confidence is constant (all 40 are 0.95)" in verbal
    screen = out[out.index("validity screen"):].splitlines()
    verbal_screen = next(line for line in screen if line.strip().startswith("verbal "))
    assert "undefined" in verbal_screen and "r undefined: confidence is constant" in verbal_screen


def test_a_metric_without_its_interval_prints_no_nan():
    import numpy as np
    import pandas as pd

    from workbench.analyses.summary import format_channels

    row = {"channel": "x", "n": 5, "auroc": 0.7, "auroc_low": np.nan, "auroc_high": np.nan, "prr": np.nan,
           "aurc": 0.1, "smece": 0.1, "smece_low": 0.0, "smece_high": 0.2, "ece": 0.1, "ece_mass": 0.1, "brier": 0.2,
           "overconfidence": 0.1, "note": "why"}
    text = format_channels(pd.DataFrame([row]))
    assert "0.700 [no interval]" in text and "0.100 [0.000, 0.200]" in text and "undefined" in text
    assert "nan" not in text.lower()
