"""Search bar (issue 12): a 40-trial search with 2 workers through the workflow, against the
presets it chooses among, on the same split.

Runs Snakemake (the real worker jobs, ``--cores 2``) on one data set with three models: the
presets ``positional_cnn`` and ``motif_cnn`` as they are, and ``cnn_search``, a search over
both presets and their learning rate, first dense layer width and dropout. Prints, per model,
test R² and Pearson r, and for the search its trials by state and wall time; the bar is the
search's test R² at least that of the best preset (it may choose a preset).

Data sets: ``notebook`` (resources/seed_sequences_data.csv, 9,000 x 200 bp) and ``yeast``
(resources/yeast_promoters/sequences.tsv, 5,197 x 110 bp).

Usage (repository root, venv active; tens of minutes on 2 cores)::

    python benchmarks/search.py --dataset notebook [--trials 40] [--workers 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from workflow_run import run_workflow

ROOT = Path(__file__).resolve().parents[1]
TABLES = {"notebook": ROOT / "resources/seed_sequences_data.csv",
          "yeast": ROOT / "resources/yeast_promoters/sequences.tsv"}
SPACE = {
    "preset": {"choice": ["positional_cnn", "motif_cnn"]},
    "learning_rate": {"log": [3.0e-4, 1.0e-2]},
    "dense.0.units": {"choice": [32, 64, 128]},
    "dense.0.dropout": {"float": [0.0, 0.4]},
}


def config(dataset: str, trials: int, workers: int) -> dict:
    return {"cohorts": {dataset: {"source": "table", "table": str(TABLES[dataset])}},
            "models": {"positional_cnn": {}, "motif_cnn": {},
                       "cnn_search": {"preset": "positional_cnn",
                                      "search": {"trials": trials, "workers": workers, "seed": 0,
                                                 "pruner": "median", "space": SPACE}}},
            "interpret": {"models": ["positional_cnn"]}, "resources": {"gpu": 0}}


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=sorted(TABLES), default="notebook")
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--workdir", default=None, help="where the run goes (default /tmp/search_<dataset>)")
    ap.add_argument("--out", default=None, help="TSV of the table")
    args = ap.parse_args(argv)
    work = Path(args.workdir or f"/tmp/search_{args.dataset}")
    cfg = config(args.dataset, args.trials, args.workers)
    base = f"results/{args.dataset}"
    targets = [f"{base}/models/{m}/metrics.json" for m in cfg["models"]] + [f"{base}/search/cnn_search/trials.tsv"]
    wall = run_workflow(work, cfg, targets)
    rows = []
    for m in cfg["models"]:
        metrics = json.loads((work / base / f"models/{m}/metrics.json").read_text())
        rows.append({"model": m, "test_r2": metrics["test"]["r2"], "test_pearson_r": metrics["test"]["pearson_r"],
                     "valid_r2": metrics["valid"]["r2"]})
    table = pd.DataFrame(rows)
    trials = pd.read_csv(work / base / "search/cnn_search/trials.tsv", sep="\t")
    best = pd.read_csv(work / base / "search/cnn_search/best.tsv", sep="\t")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"search: {len(trials)} trials ({trials['state'].value_counts().to_dict()}), "
          f"{trials['seconds'].sum() / 60:.1f} min of trial training, best {best['params'].iloc[0]}")
    best_preset = table[table.model != "cnn_search"]["test_r2"].max()
    searched = table.loc[table.model == "cnn_search", "test_r2"].item()
    print(f"workflow wall time {wall / 60:.1f} min; search test R² {searched:.4f} vs best preset "
          f"{best_preset:.4f}: bar {'met' if searched >= best_preset else 'NOT met'}")
    if args.out:
        table.to_csv(args.out, sep="\t", index=False)
    return table


if __name__ == "__main__":
    main()
