"""Typed headline numbers of each analysis result: a frozen dataclass built from the stored tables.

``summarize(result)`` picks the builder registered for the result's analysis (``patching-*`` results use
``patching``); an analysis without one gets a ``ResultSummary`` that only names its tables. Nothing is
parsed back from prose: every field is read from a stored table or the result's manifest. Every summary's
``incomplete`` says when the result was computed from an incomplete run (``allow_incomplete``): n of N items.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import pandas as pd


def _f(value: Any) -> float:
    return math.nan if pd.isna(value) else float(value)


@dataclass(frozen=True)
class Incomplete:
    """A result computed from a run whose collect did not finish (``allow_incomplete``): on ``n`` of the run's
    ``of`` items (``of`` is None for results stored before runs recorded it)."""

    n: int
    of: int | None

    def __str__(self) -> str:
        of = "?" if self.of is None else self.of
        return f"computed on {self.n} of {of} items: the run's collect did not finish (--allow-incomplete)"


def incomplete_of(manifest: Mapping[str, Any]) -> Incomplete | None:
    """The ``Incomplete`` note of a result's manifest, or None when its run was complete."""
    run = manifest.get("run") or {}
    return None if run.get("complete", True) else Incomplete(n=int(run.get("n_examples") or 0), of=run.get("n_items"))


@dataclass(frozen=True)
class Summary:
    """What every summary holds besides its numbers: ``incomplete`` (an ``Incomplete``), set when the result was
    computed from an incomplete run, and then said at the end of its line."""

    incomplete: Incomplete | None = field(default=None, kw_only=True)

    def _line(self) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return f"{self._line()}; {self.incomplete}" if self.incomplete is not None else self._line()


@dataclass(frozen=True)
class ResultSummary(Summary):
    """An analysis without a typed summary: its name and tables."""

    analysis: str
    tables: tuple[str, ...]

    def _line(self) -> str:
        return f"{self.analysis}: tables {', '.join(self.tables)}"


@dataclass(frozen=True)
class ProbeSummary(Summary):
    """The best probe layer (held-out AUROC with its interval) of a ``probes`` result.

    ``best_layer`` is a read-out index (``hook`` names it); the peak is the best of ``n_readouts_probed``,
    so it is optimistic. ``by_layer`` maps each probed read-out to its AUROC (the best role and kind).
    """

    best_layer: int
    hook: str
    role: str
    probe: str
    auroc: float
    low: float
    high: float
    n: int
    n_correct: int
    n_readouts_probed: int
    by_layer: Mapping[int, float]

    def _line(self) -> str:
        return (f"probe AUROC {self.auroc:.3f} [{self.low:.3f}, {self.high:.3f}] at layer {self.best_layer} "
                f"({self.hook}, {self.role}, {self.probe}); best of {self.n_readouts_probed} read-outs, n={self.n}")


@dataclass(frozen=True)
class CalibrateSummary(Summary):
    """Per-channel discrimination and calibration of a ``channels`` (``wb.calibrate``) result.

    Mappings are channel -> value; ``best_channel`` has the highest AUROC.
    """

    n: int
    accuracy: float
    best_channel: str
    auroc: Mapping[str, float]
    auroc_low: Mapping[str, float]
    auroc_high: Mapping[str, float]
    ece: Mapping[str, float]
    brier: Mapping[str, float]

    def _line(self) -> str:
        shown = ", ".join(f"{c} {a:.3f}" for c, a in self.auroc.items() if not math.isnan(a))
        return f"accuracy {self.accuracy:.3f} (n={self.n}); AUROC {shown}; best {self.best_channel}"


@dataclass(frozen=True)
class BottleneckSummary(Summary):
    """The text-bottleneck test: AUROC(softmax) - AUROC(argmax) with its paired interval, and the verdict."""

    verdict: str
    auroc_softmax: float
    auroc_argmax: float
    difference: float
    difference_low: float
    difference_high: float
    argmax_modal_value: float
    argmax_modal_share: float
    n: int
    n_correct: int
    lens_peak_layer: int | None
    lens_peak_auroc: float

    def _line(self) -> str:
        return (f"{self.verdict}: AUROC softmax {self.auroc_softmax:.3f} - argmax {self.auroc_argmax:.3f} = "
                f"{self.difference:+.3f} [{self.difference_low:+.3f}, {self.difference_high:+.3f}]")


@dataclass(frozen=True)
class PatchSummary(Summary):
    """The layer gradient of a patching result (first role): Spearman rho of layer vs mean effect, with intervals.

    ``rho`` is NaN when fewer than 3 layers were patched. ``mean_effect`` is the sweep's mean effect and
    ``controls`` each control's (name -> mean effect); ``attribution_spearman`` the agreement of
    attribution patching with the exact effects over the layer profile (NaN without attribution).
    """

    rho: float
    rho_low: float
    rho_high: float
    rho8: float
    mannwhitney_p: float
    role: str
    site: str
    pairs: str
    n_pairs: int
    n_layers_patched: int
    metric: str
    mean_effect: float
    share_answer_unchanged: float
    controls: Mapping[str, float]
    attribution_spearman: float

    def _line(self) -> str:
        return (f"rho = {self.rho:+.3f} [{self.rho_low:+.3f}, {self.rho_high:+.3f}] ({self.pairs}, {self.site} at "
                f"{self.role}, {self.n_pairs} pairs x {self.n_layers_patched} layers); 8 layers {self.rho8:+.3f}")


@dataclass(frozen=True)
class SteerSummary(Summary):
    """The dose-response slopes of a ``steering-<direction>`` result, per steered read-out (``layers``).

    Mappings are read-out -> value: ``slope`` of the direction, ``random_slope`` of the random control and their
    paired difference ``slope_minus_random``, in expected confidence (0-1) per unit alpha, with bootstrap
    intervals over ``n`` examples; ``beyond_random`` lists the read-outs where the direction moved confidence
    beyond random (the difference's interval excludes 0 and its slope beats every single random direction).
    """

    direction: str
    n: int
    layers: tuple[int, ...]
    slope: Mapping[int, float]
    slope_low: Mapping[int, float]
    slope_high: Mapping[int, float]
    random_slope: Mapping[int, float]
    slope_minus_random: Mapping[int, float]
    slope_minus_random_low: Mapping[int, float]
    slope_minus_random_high: Mapping[int, float]
    beyond_random: tuple[int, ...]

    def _line(self) -> str:
        slopes = ", ".join(f"layer {layer} {100 * self.slope[layer]:+.2f} [{100 * self.slope_low[layer]:+.2f}, "
                           f"{100 * self.slope_high[layer]:+.2f}] (random {100 * self.random_slope[layer]:+.2f})"
                           for layer in self.layers)
        beyond = ", ".join(map(str, self.beyond_random)) or "none"
        return (f"{self.direction} slope, confidence points per alpha: {slopes}; beyond random at layer(s) {beyond}; "
                f"n={self.n}")


def _probes(result: Any) -> ProbeSummary:
    table = result["layers"]
    ok = table[table["status"] == "ok"]
    best = ok.loc[ok["auroc"].idxmax()]
    per_layer = ok.groupby("layer")["auroc"].max()
    return ProbeSummary(best_layer=int(best["layer"]), hook=str(best["hook"]), role=str(best["role"]),
                        probe=str(best["probe"]), auroc=_f(best["auroc"]), low=_f(best["low"]), high=_f(best["high"]),
                        n=int(best["n"]), n_correct=int(best["n_correct"]),
                        n_readouts_probed=int(ok["layer"].nunique()),
                        by_layer=MappingProxyType({int(k): float(v) for k, v in per_layer.items()}))


def _channels(result: Any) -> CalibrateSummary:
    table = result["channels"]
    table = table[table["n"] > 0].set_index("channel")

    def column(name: str) -> Mapping[str, float]:
        return MappingProxyType({c: _f(table[name].get(c)) if name in table else math.nan for c in table.index})

    auroc = table["auroc"].dropna()
    accuracy = result["scores"]["correct"].mean() if "scores" in result.tables else table["accuracy"].iloc[0]
    return CalibrateSummary(n=int(table["n"].max()), accuracy=_f(accuracy),
                            best_channel=str(auroc.idxmax()) if len(auroc) else "",
                            **{name: column(name) for name in ("auroc", "auroc_low", "auroc_high", "ece", "brier")})


def _bottleneck(result: Any) -> BottleneckSummary:
    s = result["summary"].iloc[0]
    peak = s.get("lens_peak_layer")
    floats = ("auroc_softmax", "auroc_argmax", "difference", "difference_low", "difference_high",
              "argmax_modal_value", "argmax_modal_share")
    return BottleneckSummary(verdict=str(s["verdict"]), **{name: _f(s[name]) for name in floats}, n=int(s["n"]),
                             n_correct=int(s["n_correct"]), lens_peak_layer=None if pd.isna(peak) else int(peak),
                             lens_peak_auroc=_f(s.get("lens_peak_auroc")))


def _patching(result: Any) -> PatchSummary:
    effects = result["effects"]
    config = result.config
    role = str(effects["role"].iloc[0])
    rows = result.tables.get("gradient_summary")
    gradient = {} if rows is None else rows[rows["role"] == role].iloc[0].to_dict()
    controls = result["controls_summary"].set_index("control") if "controls_summary" in result.tables else None
    attribution = result["attribution_summary"].iloc[0] if "attribution_summary" in result.tables else {}
    main = effects[effects["role"] == role]
    return PatchSummary(
        **{name: _f(gradient.get(name)) for name in ("rho", "rho_low", "rho_high", "rho8", "mannwhitney_p")}, role=role,
        site=str(effects["site"].iloc[0]), pairs=str(config.get("pairs", "")), n_pairs=int(main["pair_id"].nunique()),
        n_layers_patched=int(main["layer"].nunique()), metric=str(config.get("metric", "effect")),
        mean_effect=_f(main["effect"].mean()), share_answer_unchanged=_f(main["answer_unchanged"].mean()),
        controls=MappingProxyType({} if controls is None else
                                  {str(c): _f(controls.loc[c, "mean_effect"]) for c in controls.index if c != "sweep"
                                   and "mean_effect" in controls}),
        attribution_spearman=_f(attribution.get("spearman_profile")))


def _steering(result: Any) -> SteerSummary:
    table = result["layers"].sort_values("layer")
    layers = tuple(int(layer) for layer in table["layer"])

    def column(name: str) -> Mapping[int, float]:
        return MappingProxyType({layer: _f(value) for layer, value in zip(layers, table[name])})

    slopes = ("slope", "slope_low", "slope_high", "random_slope", "slope_minus_random", "slope_minus_random_low",
              "slope_minus_random_high")
    return SteerSummary(direction=str(result.config.get("direction", "")), n=int(table["n"].max()), layers=layers,
                        **{name: column(name) for name in slopes},
                        beyond_random=tuple(layer for layer, yes in zip(layers, table["beyond_random"]) if yes))


SUMMARIES: dict[str, Callable[[Any], Any]] = {"probes": _probes, "channels": _channels, "bottleneck": _bottleneck,
                                              "patching": _patching, "steering": _steering}


def summarize(result: Any) -> Any:
    """The typed summary of a stored result (see ``SUMMARIES``), or a ``ResultSummary`` naming its tables; either
    says when the result was computed from an incomplete run (``incomplete``)."""
    analysis = result.manifest["analysis"]
    build = SUMMARIES.get(analysis) or SUMMARIES.get(analysis.split("-")[0])
    summary = build(result) if build else ResultSummary(analysis, tuple(result.tables))
    return replace(summary, incomplete=incomplete_of(result.manifest))

