#!/usr/bin/env python3
"""Genomic-prediction baselines on the real cohorts: gblup, sparse, boosted and ridge.

5-fold cross-validation (``KFold(5, shuffle=True, random_state=0)`` over the phenotyped
samples) on mice BMI (``markers.tsv.gz``, 0/1/2) and pine DBH (``genotypes.vcf.gz``, read
with pysam, missing dosages imputed with the marker mean), no covariates (unless `--covariates`). Each training fold
gives 15 % of its samples to a validation part (seeded by the fold): ridge chooses its
penalty on it, boosted early-stops on it, gblup and sparse fit on training + validation
(REML / inner CV choose their own penalty). The tensor is ``N x M x 4`` with channel 0 =
1 - d/2 and channel 1 = d/2.

Prints, per cohort and kind, the mean ± SD over folds of Pearson r between predicted and
observed phenotype on the held-out fold, the wall time of the 5 folds and the peak resident
memory of the process (each cohort x kind runs in its own process; "model" is the peak less
the memory held after loading the data). Reference GBLUP (data README): mice BMI 0.29 ± 0.03,
BodyLength 0.39 ± 0.04, EndNormalBW 0.51 ± 0.05, pine DBH 0.46 ± 0.04.

    .venv/bin/python benchmarks/genomic_baselines.py                 # BMI and DBH, every kind
    .venv/bin/python benchmarks/genomic_baselines.py --traits all    # every trait of the README
    .venv/bin/python benchmarks/genomic_baselines.py --kinds gblup --cohorts mice
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("SEQ2PHENO_REAL_DATA", "/work/shared/data/real"))
KINDS = ("gblup", "sparse", "boosted", "ridge")
COHORTS = {"mice": "BMI", "pine": "DBH"}
#: every trait of the data README with its reference GBLUP r (5-fold, no covariates)
TRAITS = {"mice": ("BMI", "BodyLength", "EndNormalBW"), "pine": ("DBH",)}
REFERENCE = {("mice", "BMI"): 0.29, ("mice", "BodyLength"): 0.39, ("mice", "EndNormalBW"): 0.51,
             ("pine", "DBH"): 0.46}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def load_mice(trait: str):
    """(dosages samples x markers, phenotypes, the phenotype table's rows of those samples)."""
    import numpy as np
    import pandas as pd

    markers = pd.read_csv(DATA / "mice" / "markers.tsv.gz", sep="\t", index_col=0)
    pheno = pd.read_csv(DATA / "mice" / f"phenotypes_{trait}.tsv", sep="\t", index_col="id", dtype={"id": str})
    ids = [i for i in pheno.index if i in markers.index and np.isfinite(pheno.loc[i, "phenotype"])]
    d = markers.loc[ids].to_numpy(dtype=np.float32)
    return d, pheno.loc[ids, "phenotype"].to_numpy(dtype=float), pheno.loc[ids]


def load_pine(trait: str):
    import numpy as np
    import pandas as pd
    import pysam

    with pysam.VariantFile(str(DATA / "pine" / "genotypes.vcf.gz")) as vcf:
        samples = list(vcf.header.samples)
        cols = []
        for rec in vcf:
            g = [rec.samples[s]["GT"] for s in samples]
            cols.append([np.nan if (gt is None or None in gt) else float(sum(a > 0 for a in gt))
                         for gt in g])
    d = np.asarray(cols, dtype=np.float32).T                      # samples x markers
    mean = np.nanmean(d, axis=0)
    d = np.where(np.isnan(d), mean, d).astype(np.float32)
    pheno = pd.read_csv(DATA / "pine" / f"phenotypes_{trait}.tsv", sep="\t", index_col="id", dtype={"id": str})
    pheno = pheno[np.isfinite(pheno["phenotype"])]
    pos = {s: i for i, s in enumerate(samples)}
    ids = [i for i in pheno.index if i in pos]
    return d[[pos[i] for i in ids]], pheno.loc[ids, "phenotype"].to_numpy(dtype=float), pheno.loc[ids]


def run_one(cohort: str, kind: str, folds: int, covariates: list[str] | None = None,
            trait: str | None = None) -> dict:
    """One cohort x kind, every fold, in this process; returns the figures.

    covariates: columns of the phenotype table regressed out of the phenotype on each training
    fold (train + validation) with ``seq2pheno.covariates.adjust_covariates``, as the workflow
    does; the model predicts the adjusted phenotype and r is against the adjusted test
    phenotype ("r") and, adding the covariates' fitted effect back, the observed one
    ("r_observed")."""
    import numpy as np
    from sklearn.model_selection import KFold

    from seq2pheno import models
    from seq2pheno.covariates import adjust_covariates
    from seq2pheno.models import Rows

    trait = trait or COHORTS[cohort]
    d, y_obs, table = (load_mice if cohort == "mice" else load_pine)(trait)
    y = y_obs
    x = np.zeros(d.shape + (4,), dtype=np.float32)
    x[:, :, 0] = 1 - d / 2
    x[:, :, 1] = d / 2
    del d
    base = current_rss_mb()
    mod = models.KINDS[kind]
    spec = models.resolve_spec(kind)
    rs, r_obs, notes = [], [], []
    t0 = time.perf_counter()
    for f, (tr, te) in enumerate(KFold(folds, shuffle=True, random_state=0).split(y_obs)):
        if covariates:
            train = np.zeros(len(y_obs), bool)
            train[tr] = True
            y, _ = adjust_covariates(y_obs, table[covariates], train)
        rng = np.random.default_rng(f)
        perm = rng.permutation(tr)
        n_valid = int(round(0.15 * len(tr)))
        va, tr_ = np.sort(perm[:n_valid]), np.sort(perm[n_valid:])
        model, hist = mod.fit(Rows(x, tr_, y[tr_]), Rows(x, va, y[va]), spec, seed=0, log=None)
        pred = mod.predict(model, Rows(x, te))
        rs.append(float(np.corrcoef(pred, y[te])[0, 1]))
        r_obs.append(float(np.corrcoef(pred + (y_obs[te] - y[te]), y_obs[te])[0, 1]))
        if kind == "gblup":
            notes.append(f"h2={model['h2']:.2f}±{model['h2_se']:.2f}")
        elif kind == "sparse":
            notes.append(f"l1={model['l1_ratio_chosen']:g},nz={model['n_nonzero']}")
        elif kind == "boosted":
            notes.append(f"trees={model['best_iteration']}")
        elif kind == "ridge":
            notes.append(f"alpha={model['alpha']:g}")
    wall = time.perf_counter() - t0
    return {"cohort": cohort, "trait": trait, "kind": kind, "n": len(y), "markers": x.shape[1], "r": rs,
            "r_observed": r_obs,
            "wall_s": wall, "peak_mb": rss_mb(), "data_mb": base, "notes": notes}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=KINDS)
    ap.add_argument("--cohorts", nargs="+", default=list(COHORTS), choices=list(COHORTS))
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--covariates", nargs="+", default=[],
                    help="phenotype-table columns regressed out on each training fold (mice: "
                         "sex_male litter cage)")
    ap.add_argument("--traits", nargs="+", default=None,
                    help="traits (default: the first of each cohort, BMI and DBH; 'all': every "
                         "trait of the data README, mice BMI, BodyLength, EndNormalBW)")
    ap.add_argument("--one", nargs=3, metavar=("COHORT", "KIND", "TRAIT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one[0], args.one[1], args.folds, args.covariates, args.one[2])))
        return 0
    import numpy as np

    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    print(f"{'cohort':6} {'trait':11} {'kind':8} {'n':>5} {'M':>6} {'r mean ± SD':>14} {'wall s':>8} "
          f"{'peak MB':>8} {'model MB':>8}  per fold")
    for cohort in args.cohorts:
        traits = (TRAITS[cohort] if args.traits == ["all"] else
                  [COHORTS[cohort]] if not args.traits else [t for t in args.traits if t in TRAITS[cohort]])
        for trait in traits:
            for kind in args.kinds:
                cov = ["--covariates", *args.covariates] if args.covariates else []
                out = subprocess.run([sys.executable, __file__, "--one", cohort, kind, trait,
                                      "--folds", str(args.folds), *cov], env=env, capture_output=True,
                                     text=True)
                if out.returncode:
                    print(f"{cohort:6} {trait:11} {kind:8} FAILED\n{out.stderr[-2000:]}")
                    continue
                res = json.loads(out.stdout.strip().splitlines()[-1])
                r = np.asarray(res["r"])
                ref = (f"  (reference GBLUP {REFERENCE[(cohort, trait)]:.2f})"
                       if kind == "gblup" and (cohort, trait) in REFERENCE else "")
                print(f"{cohort:6} {trait:11} {kind:8} {res['n']:5d} {res['markers']:6d} "
                      f"{r.mean():6.3f} ± {r.std(ddof=1):5.3f} {res['wall_s']:8.1f} "
                      f"{res['peak_mb']:8.0f} {res['peak_mb'] - res['data_mb']:8.0f}  "
                      f"{' '.join(f'{v:.3f}' for v in r)}; {', '.join(res['notes'])}{ref}"
                      + (f"; with the covariates' effect, r observed "
                         f"{np.mean(res['r_observed']):.3f}" if args.covariates else ""),
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
