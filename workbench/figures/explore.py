"""``wb.explore(run, model=None)``: one example at a time, in JupyterLab (ipywidgets and plotly ``FigureWidget``s,
which bundle plotly.js: it works offline).

Choose an example (correct / incorrect, a search in the question text), a block ``L`` (the slider), a role and a
site. For that example the app shows:

- **probe**: the stored probe's out-of-fold score at every read-out, at the chosen role (the run's latest
  ``probes`` result: the logistic probe, mean over its seeds), read-out ``L`` marked;
- **confidence**: the logit lens's confidence distribution at read-out ``L`` (``blocks.L.hook_resid_pre`` at the
  confidence slot, ``analyses.logit_lens.Lens``) beside the stored final one; with a ``model``, also the exact
  distribution after the chosen source example's activation at ``blocks.L.hook_<site>`` and the role is written
  into this example (``Patch.from_run``, then ``model.confidence``), computed live.

Without a model nothing runs a forward pass: the probe scores and the final distribution are the run's stored
numbers, and the lens reads only the final norm and unembedding from the run's checkpoint (where that is not on this
machine, the app says so and draws the rest).
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import plotly.graph_objects as go

from workbench.analyses.logit_lens import Lens
from workbench.backends import SITES, Patch
from workbench.errors import WorkbenchError
from workbench.figures.style import color, styled
from workbench.store import Run
from workbench.store.results import find_result

OUTCOMES = {"all": None, "correct": True, "incorrect": False}


def probe_scores(run: Run) -> Any:
    """Out-of-fold score of the latest stored logistic probe: a frame indexed by (role, example_id), one column per
    read-out (mean over the probe's seeds); None when the run has no ``probes`` result."""
    probes = find_result(run.path, "probes")
    if probes is None:
        return None
    oof = probes["oof"]
    oof = oof[oof["probe"] == "logistic"] if (oof["probe"] == "logistic").any() else oof
    return oof.pivot_table(index=["role", "example_id"], columns="layer", values="score", aggfunc="mean")


class Explorer:
    """The app: its controls (``outcome``, ``search``, ``example``, ``block``, ``role``, ``site``, ``source``), its
    two ``FigureWidget``s (``probe_figure``, ``confidence_figure``) and ``widget``, the box JupyterLab shows.
    Every control redraws through ``draw()``; set a control's ``.value`` to drive it from Python."""

    def __init__(self, run: Run, model: Any = None):
        import ipywidgets as w

        self.run, self.model = run, model
        self.records = run.records.set_index("example_id", drop=False)
        self.scores = probe_scores(run)
        try:
            self.lens, self.no_lens = Lens.of(run, model), ""
        except WorkbenchError as error:  # the run's checkpoint is not on this machine: the rest still draws
            self.lens, self.no_lens = None, f"; no logit lens ({error})"
        self.final = run.confidence_probs()  # [n, S]
        self.values = np.asarray(run.vocabulary.values, dtype=float)  # [S]
        roles = run.roles
        self.outcome = w.ToggleButtons(options=list(OUTCOMES), value="all", description="answers")
        self.search = w.Text(placeholder="words in the question", description="search")
        self.example = w.Dropdown(description="example", layout=w.Layout(width="95%"))
        self.block = w.IntSlider(min=0, max=run.n_blocks - 1, value=run.n_blocks // 2, description="block",
                                 continuous_update=False)
        self.role = w.Dropdown(options=roles, value="confidence_slot" if "confidence_slot" in roles else roles[0],
                               description="role")
        self.site = w.Dropdown(options=SITES, value="resid_pre", description="site", disabled=model is None)
        right = self.records.loc[self.records["correct"].astype(bool), "example_id"]  # a right answer's state by default
        self.source = w.Dropdown(options=self._labels(self.records), description="source", disabled=model is None,
                                 value=int((right if len(right) else self.records["example_id"]).iloc[0]),
                                 layout=w.Layout(width="95%"))
        self.status = w.HTML()
        self.probe_figure = go.FigureWidget(styled(go.Figure(), x="read-out", y="probe score (out of fold)"))
        self.confidence_figure = go.FigureWidget(styled(go.Figure(), x="confidence", y="probability"))
        for fig in (self.probe_figure, self.confidence_figure):
            fig.update_layout(width=410, height=400, title_text=" ", title_font_size=13, margin_t=70,
                              legend=dict(orientation="h", y=-0.2))
        self.probe_figure.add_scatter(mode="lines+markers", name="probe", line=dict(color=color(0)))
        self.probe_figure.add_scatter(mode="markers", name="read-out L", marker=dict(color=color(1), size=12))
        for i in range(3):  # final, lens, patched (named when drawn)
            self.confidence_figure.add_scatter(mode="lines", line=dict(color=color(i), width=2),
                                               visible=i < 2 or model is not None)
        self._filter()
        for control in (self.outcome, self.search):
            control.observe(self._filter, names="value")
        for control in (self.example, self.block, self.role, self.site, self.source):
            control.observe(self.draw, names="value")
        self.widget = w.VBox([w.HBox([self.outcome, self.search]), self.example, w.HBox([self.block, self.role, self.site]),
                              self.source, self.status, w.HBox([self.probe_figure, self.confidence_figure])])
        self.draw()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    @staticmethod
    def _labels(rows: Any) -> list[tuple[str, int]]:
        return [(f"{i}: {'right' if ok else 'wrong'} | {q[:90]}", int(i))
                for i, ok, q in zip(rows["example_id"], rows["correct"], rows["question"])]

    def _filter(self, change: Any = None) -> None:
        rows = self.records
        if OUTCOMES[self.outcome.value] is not None:
            rows = rows[rows["correct"] == OUTCOMES[self.outcome.value]]
        if self.search.value.strip():
            rows = rows[rows["question"].str.contains(self.search.value.strip(), case=False, regex=False)]
        current, self.example.options = self.example.value, self._labels(rows)
        ids = [i for _, i in self.example.options]  # keep the chosen example while it matches, else the first
        self.example.value = current if current in ids else ids[0] if ids else None  # a change redraws

    def draw(self, change: Any = None) -> None:
        """Redraw both figures for the chosen example, block and role (and the patch, with a model)."""
        target, block, role = self.example.value, self.block.value, self.role.value  # read-out L = block L's input
        if target is None:
            self.status.value = "<b>no example matches</b>"
            return
        row = self.run.example(target).row
        record = self.records.loc[target]
        self.status.value = html.escape(f"answer {record['answer']!r}, {'right' if record['correct'] else 'wrong'} "
                                        f"(gold {record['gold']!r}){self.no_lens}")
        scores = None if self.scores is None or (role, target) not in self.scores.index else self.scores.loc[(role, target)]
        with self.probe_figure.batch_update():
            self.probe_figure.data[0].update(x=[] if scores is None else list(scores.index),
                                             y=[] if scores is None else scores.to_list())
            self.probe_figure.data[1].update(x=[block], y=[scores.get(block, np.nan)] if scores is not None else [])
            self.probe_figure.layout.title.text = ("no probe stored at this role (run wb.probe)" if scores is None
                                                   else f"probe at {role}, example {target}")
        lens = self.lens.probs(block, [row])[0][0] if self.lens is not None else None
        patched = self.patched(self.source.value, target, block, role, self.site.value) if self.model is not None else None
        names = ("final (stored)", f"logit lens at read-out {block}",
                 f"patched: {self.source.value} -> blocks.{block}.hook_{self.site.value}")
        with self.confidence_figure.batch_update():  # every trace's name in each update, or the browser drops some
            for trace, probs, name in zip(self.confidence_figure.data, (self.final[row], lens, patched), names):
                trace.update(x=self.values if probs is not None else [], y=probs if probs is not None else [], name=name)
            self.confidence_figure.layout.title.text = f"confidence at the slot, example {target}"

    def patched(self, source: int, target: int, block: int, role: str, site: str) -> np.ndarray:
        """[S] the exact confidence of ``target`` after ``source``'s activation at ``blocks.{block}.hook_{site}`` and
        ``role`` is written into it (one forward pass of the model)."""
        import torch

        patch = Patch.from_run(self.run, source, self.run, target, layer=block, role=role, site=site, model=self.model)
        ids = torch.tensor([self.run.prompt_ids(target)])
        return self.model.confidence(ids, vocabulary=self.run.vocabulary, patches=[patch]).probs[0]
