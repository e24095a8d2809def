"""Truth recovery of the interpretation on simulated cohorts (issue bar, not a test).

For 4,000 x 300 bp cohorts with env = 2 (seeds 0, 1, 2): train ``default`` on the standard
split, run exact ISM on up to 500 test sequences, score all pairs of the top 30 positions
for epistasis, and compare with the planted truth. Bars: ISM top-k precision >= 0.9 for the
causal loci (k = their number) and at least half of the true epistatic pairs among the top
10 % of scored pairs. Ridge's recovery of the causal loci is printed beside.

    python benchmarks/recovery.py [--seeds 0 1 2] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from accuracy import dedupe, split  # noqa: E402

from seq2pheno import encode, interactions, ism  # noqa: E402
from seq2pheno.models import IndexedRows, fit_ridge, resolve_spec  # noqa: E402
from seq2pheno.recovery import truth_recovery  # noqa: E402
from seq2pheno.simulate import simulate_cohort  # noqa: E402
from seq2pheno.train import fit_cnn  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--quick", action="store_true", help="1,000 sequences, 20 epochs")
    args = ap.parse_args(argv)
    rows = []
    for seed in args.seeds:
        seqs, y, truth = simulate_cohort(1000 if args.quick else 4000, 300, 2.0, seed)
        x, y, _ = dedupe(encode.one_hot(seqs), np.asarray(y, float))
        tr, va, te, _ = split(y, 0)
        with tempfile.TemporaryDirectory() as tmp:
            np.save(Path(tmp) / "x.npy", x)
            onehot = np.load(Path(tmp) / "x.npy", mmap_mode="r")
            spec = resolve_spec("default")
            if args.quick:
                spec["epochs"] = 20
            model, _ = fit_cnn(spec, onehot, tr, va, y[tr], y[va], seed=0)
            ridge = fit_ridge(IndexedRows(onehot, tr), y[tr], IndexedRows(onehot, va), y[va],
                              resolve_spec("ridge")["alphas"])
            xs = np.asarray(onehot[np.sort(te)[:500]])
            t0 = time.perf_counter()
            deltas = ism.ism(model, xs)
            importance = ism.position_importance(deltas)
            top = np.sort(np.argsort(-importance, kind="stable")[:30])
            pairs = interactions.pairwise_epistasis(model, xs, top)
            seconds = time.perf_counter() - t0
        result = truth_recovery(importance, pairs, truth, ridge_coef=ridge["coef"])
        c, p, r = result["causal"], result["pairs"], result["ridge"]
        rows.append((c["precision_at_k"], p["fraction_in_top_10pct"]))
        print(f"seed {seed}: {len(truth['causal'])} causal loci, H2 {truth['H2']:.3f}; ISM precision@k "
              f"{c['precision_at_k']:.3f}, AUROC {c['auroc']:.3f} (ridge {r['precision_at_k']:.3f}, "
              f"{r['auroc']:.3f}); true pairs in top 10% {p['fraction_in_top_10pct']:.2f} "
              f"(ranks {p['ranks']}); interpretation {seconds:.1f} s", flush=True)
    precision = np.mean([a for a, _ in rows])
    pairs = np.mean([b for _, b in rows])
    print(f"mean ISM precision@k {precision:.3f} (bar 0.9: {'PASS' if precision >= 0.9 else 'FAIL'}); "
          f"mean fraction of true pairs in top 10% {pairs:.2f} (bar 0.5: {'PASS' if pairs >= 0.5 else 'FAIL'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
