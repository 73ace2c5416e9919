"""Every figure in figures/ (what the README and docs show), redrawn by the current code: the demo run's, the
fine-tuning's and the ladder's.

    python scripts/readme_figures.py [FOLDER ...]   # what `make figures` runs: copy FOLDERs in, redraw, export SVG
    python scripts/readme_figures.py --check        # exit 1 when an export is not what the code draws now

The figures are drawn from small committed copies of the results they show, ``figures/sources/<name>/`` (each run's
manifest and, of each latest result, its manifest and the tables its figures read: no residuals, no probe weights),
and from the ladder's evidence, ``docs/ladder/evidence`` (each model's lowest seed, into ``figures/ladder/``; the
knowledge-split fine-tuning's, with ``docs/ladder/tuning.csv``, into ``figures/ladder/tuning/``). Each
FOLDER given (a run, or a folder of runs, e.g. ``runs/demo``) is first copied to ``figures/sources/<its name>``,
replacing the old copy. Beside each export ``<figure>.svg`` goes ``<figure>.sha256``, the hash of the figure's plotly
spec (``spec_hash``), which ``--check`` compares with a fresh drawing; an export that no drawing makes any more is
removed (``--check`` names it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from workbench.figures.export import export_figures  # noqa: E402
from workbench.figures.ladder import ladder_figures  # noqa: E402
from workbench.figures.paper import draw_figures, paper_style, spec_hash  # noqa: E402
from workbench.store.results import LATEST, analysis_folder, read_result  # noqa: E402

FIGURES = ROOT / "figures"
SOURCES = FIGURES / "sources"
EVIDENCE = ROOT / "docs" / "ladder" / "evidence"
TUNING = ROOT / "docs" / "ladder" / "tuning.csv"


class Reads(dict):
    """A result's tables, recording which ones a drawing reads."""

    def __init__(self, tables):
        super().__init__(tables)
        self.read: set[str] = set()

    def __getitem__(self, name):
        self.read.add(name)
        return super().__getitem__(name)


def copy_source(folder: Path) -> Path:
    """``folder``'s results into ``figures/sources/<folder name>``, keeping of each only the tables its figures read."""
    reads = {}

    def read(path: Path):
        result = read_result(path)
        reads[result.path] = tables = Reads(result.tables)
        return dataclasses.replace(result, tables=tables)

    _, skipped = draw_figures(folder, read=read)
    if skipped:
        raise SystemExit(f"{folder}: results that cannot be drawn: {skipped}")
    dest = SOURCES / folder.name
    shutil.rmtree(dest, ignore_errors=True)
    for path, tables in reads.items():
        run_dir = analysis_folder(path).parent.parent  # a run, or a folder of results of runs elsewhere (finetune)
        if (run_dir / "manifest.json").exists():
            (dest / run_dir.relative_to(folder)).mkdir(parents=True, exist_ok=True)
            shutil.copy(run_dir / "manifest.json", dest / run_dir.relative_to(folder) / "manifest.json")
        out = dest / path.relative_to(folder)
        out.mkdir(parents=True)
        manifest = json.loads((path / "manifest.json").read_text())
        manifest["tables"] = sorted(tables.read)  # the copy holds these alone
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        for name in tables.read:
            shutil.copy(path / f"{name}.parquet", out / f"{name}.parquet")
        if (analysis_folder(path) / LATEST).exists():
            shutil.copy(analysis_folder(path) / LATEST, dest / analysis_folder(path).relative_to(folder) / LATEST)
    return dest


def draw_all() -> dict[str, object]:
    """Every figure of figures/, by its path there without the suffix."""
    figures = {}
    for source in sorted(p for p in SOURCES.iterdir() if p.is_dir()):
        drawn, skipped = draw_figures(source)
        if skipped:
            raise SystemExit(f"{source}: results that cannot be drawn: {skipped}")
        figures.update({stem.as_posix(): fig for stem, fig in drawn.items()})
    figures.update({f"ladder/{stem}": paper_style(fig) for stem, fig in ladder_figures(EVIDENCE).items()})
    figures.update({f"ladder/{stem}": paper_style(fig) for stem, fig in tuning_figures().items()})
    return figures


def tuning_figures() -> dict[str, object]:
    """The knowledge-split fine-tuning's figures: ECE per training set (from docs/ladder/tuning.csv, which
    `workbench replicate --from-evidence` writes) and the reliability small multiples (from the evidence)."""
    import pandas as pd

    from workbench.analyses.evidence import read_evidence
    from workbench.figures.tuning import ece_figure, reliability_grid

    table = pd.read_csv(TUNING, keep_default_na=False, na_values=[""]) if TUNING.exists() else pd.DataFrame()
    if table.empty:
        return {}
    evidence = read_evidence(EVIDENCE)[1]
    return {"tuning/ece": ece_figure(table), "tuning/reliability_answer_prob": reliability_grid(evidence),
            "tuning/reliability_verbal": reliability_grid(evidence, "verbal")}


def exported() -> dict[str, Path]:
    """Every export in figures/ (an SVG or a hash), by its path there without the suffix."""
    return {p.relative_to(FIGURES).with_suffix("").as_posix(): p for p in FIGURES.rglob("*")
            if p.suffix in (".svg", ".sha256") and SOURCES not in p.parents}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, help="runs (or folders of runs) to copy in first")
    parser.add_argument("--check", action="store_true", help="only compare every export with a fresh drawing")
    args = parser.parse_args(argv)
    if args.check and args.folders:
        parser.error("--check compares the committed copies; give no folder")
    for folder in args.folders:
        print(f"copied {folder} to {copy_source(folder).relative_to(ROOT)}")
    figures = draw_all()
    hashes = {stem: spec_hash(fig) for stem, fig in figures.items()}
    stored = {stem: (FIGURES / f"{stem}.sha256").read_text().strip() if (FIGURES / f"{stem}.sha256").exists() else None
              for stem in figures}
    stale = sorted(s for s in figures if stored[s] != hashes[s] or not (FIGURES / f"{s}.svg").exists())
    orphans = sorted(set(exported()) - set(figures))
    if args.check:
        for stem in stale:
            print(f"figures/{stem}.svg is not what the code draws now (hash {stored[stem]} != {hashes[stem]}); "
                  f"run `make figures`", file=sys.stderr)
        for stem in orphans:
            print(f"figures/{stem} is drawn by nothing any more; run `make figures` (it removes it)", file=sys.stderr)
        return 1 if stale or orphans else 0
    export_figures({FIGURES / stem: figures[stem] for stem in stale}, "svg")
    for stem in stale:
        (FIGURES / f"{stem}.sha256").write_text(hashes[stem] + "\n")
    for stem in orphans:
        for path in (FIGURES / f"{stem}.svg", FIGURES / f"{stem}.sha256"):
            path.unlink(missing_ok=True)
    print(f"{len(figures)} figures in {FIGURES.relative_to(ROOT)}: {len(stale)} redrawn, {len(orphans)} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
