"""Ensemble and interval bars (issue 12) through the workflow: a 5-member seed ensemble of
``default`` against its single network, and the coverage of the 90 % prediction intervals.

One Snakemake run (the real jobs, ``--cores 2``) over the reference notebook's data and three
simulated cohorts (the notebook's generative model, 4,000 x 300 bp, seeds 1-3), with
``default`` as a 5-member seed ensemble (``ensemble: {members: 5, over: seeds}``; its
candidates restricted to ``positional_cnn``, the one it chooses on these cohorts) and
``ridge``, and over the pine genotype cohort (holdout split: one test set of about 140 trees)
with ``gblup`` and ``ridge``. Member 0 of a seed ensemble is the network ``default`` trains
without one, on the same split, so the comparison is paired: metrics.json has the ensemble's
test R² and each member's.

Prints per cohort and model: test R², the 90 % interval's test coverage and mean width, for
the ensembles member 0's test R² (the single network), the members' mean and range and the
training cost (member 0's seconds and all members', from the rules' benchmark files), and on
pine the Spearman correlation of each test tree's interval width with its highest kinship to
the training trees (negative: narrower intervals for close relatives). The bars: ensemble test R² >= member 0's on the notebook and the three simulated seeds;
coverage between 0.85 and 0.95 on the notebook, a simulated cohort and pine.

Usage (repository root, venv active; about an hour on 2 cores)::

    python benchmarks/ensemble.py [--members 5] [--workdir /tmp/ensemble_bench] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from workflow_run import run_workflow

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def config(members: int) -> dict:
    sim = {"source": "simulate", "n": 4000, "length": 300, "env": 2.0}
    cohorts = {"notebook": {"source": "table", "table": str(ROOT / "resources/seed_sequences_data.csv")},
               **{f"simulated_{s}": dict(sim, seed=s) for s in (1, 2, 3)},
               "pine": {"source": "vcf", "vcf": str(ROOT / "resources/pine/genotypes.vcf.gz"),
                        "fasta": str(ROOT / "resources/pine/reference.fa.gz"),
                        "phenotypes": str(ROOT / "resources/pine/phenotypes_DBH.tsv"),
                        "evaluation": {"scheme": "holdout"},
                        "models": {"gblup": {}, "ridge": {}}}}
    # `default` on these sequence cohorts chooses positional_cnn (its motif candidate trains
    # 15-30 min each here and loses on validation): the candidates are restricted to it
    default = {"candidates": ["positional_cnn"], "ensemble": {"members": members, "over": "seeds"}}
    return {"cohorts": cohorts, "models": {"default": default, "ridge": {}},
            "interpret": {"models": []}, "resources": {"gpu": 0}}


def _seconds(work: Path, cohort: str, model: str, members: int) -> tuple[float, float]:
    """(member 0's training seconds, all members'): default's candidates count for member 0."""
    bench = work / "results" / cohort / "benchmarks/train"
    first = sum(pd.read_csv(p, sep="\t")["s"].iloc[0] for p in bench.glob(f"{model}*_holdout.tsv"))
    rest = sum(pd.read_csv(p, sep="\t")["s"].iloc[0] for p in bench.glob(f"{model}_holdout_member_*.tsv"))
    return float(first), float(first + rest)


def _width_against_kinship(base: Path, test: pd.DataFrame) -> float | None:
    """Genotype cohorts: Spearman correlation of the ensemble's interval width with each test
    sample's highest kinship to the training and validation samples (negative: narrower
    intervals for close relatives); None for sequence cohorts."""
    from scipy.stats import spearmanr

    from seq2pheno.kinship import max_kinship_to

    kin = base / "curate/kinship.tsv"
    if not kin.exists():
        return None
    split = pd.read_csv(base / "split/split.tsv", sep="\t", dtype={"id": str})
    train = split.loc[split["split"].isin(["train", "valid"]), "id"]
    best = max_kinship_to(str(kin), test["id"].astype(str), train)
    return float(spearmanr(test["upper"] - test["lower"], best).statistic)


def main(argv=None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--workdir", default="/tmp/ensemble_bench")
    ap.add_argument("--out", default=None, help="TSV of the table")
    args = ap.parse_args(argv)
    work = Path(args.workdir)
    cfg = config(args.members)
    models_of = {c: list((e.get("models") or cfg["models"])) for c, e in cfg["cohorts"].items()}
    targets = [f"results/{c}/models/{m}/metrics.json" for c, ms in models_of.items() for m in ms]
    wall = run_workflow(work, cfg, targets)
    rows = []
    for cohort, ms in models_of.items():
        base = work / "results" / cohort / "models"
        for m in ms:
            metrics = json.loads((base / f"{m}/metrics.json").read_text())
            pred = pd.read_csv(base / f"{m}/predictions.tsv", sep="\t", dtype={"id": str})
            test = pred[pred["split"] == "test"]
            row = {"cohort": cohort, "model": m, "test_r2": metrics["test"]["r2"],
                   "coverage_90": metrics["interval"]["test_coverage"],
                   "mean_width": float((test["upper"] - test["lower"]).mean()),
                   "width_kinship_rho": _width_against_kinship(work / "results" / cohort, test)}
            if metrics.get("members"):
                r2 = np.array([x["test"]["r2"] for x in metrics["members"]])
                first_s, all_s = _seconds(work, cohort, m, args.members)
                row.update(member0_r2=r2[0], members_mean_r2=r2.mean(), members_min_r2=r2.min(),
                           members_max_r2=r2.max(), train_s_single=first_s, train_s_ensemble=all_s)
            rows.append(row)
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"wall {wall / 60:.1f} min for the whole run (imports, curation, both models)")
    if args.out:
        table.to_csv(args.out, sep="\t", index=False)
    return table


if __name__ == "__main__":
    main()
