"""Does the motif report name a planted JASPAR motif? CNN -> ISM -> filters / TF-MoDISco -> JASPAR.

Usage: python benchmarks/planted_motif.py [--n 4000] [--length 200] [--motif MA0139]
       [--effect 1.0] [--copies 1.0] [--noise-sd 0.5] [--epochs 60] [--n-ism 300]
       [--threads 2] [--seed 0] [--out motif_table.tsv]

Simulates --n random sequences of --length bases with copies of a JASPAR2024 motif planted
in them (seq2pheno.simulate.simulate_planted_motif: Poisson(--copies) copies per sequence,
both strands, each adding --effect to the phenotype, Gaussian noise --noise-sd), trains
the `motif_cnn` preset (seq2pheno.train.fit_cnn, one random 70/15/15 split), computes ISM
on --n-ism test sequences (seq2pheno.ism.ism), the first-layer filter PWMs on the same
sequences (seq2pheno.filters.filter_pwms), runs TF-MoDISco on the ISM map
(seq2pheno.motifs.run_modisco) and names both sets of motifs against JASPAR
(seq2pheno.motifs.motif_table). Prints the test R^2, the times of each step, the top named
matches per source, whether the planted motif is among the top three of each, and the
filters nearest to the planted motif whether significant or not.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4000)
    ap.add_argument("--length", type=int, default=200)
    ap.add_argument("--motif", default="MA0139", help="JASPAR2024 matrix ID (CTCF)")
    ap.add_argument("--effect", type=float, default=1.0)
    ap.add_argument("--copies", type=float, default=1.0, help="mean copies per sequence")
    ap.add_argument("--noise-sd", type=float, default=0.5)
    ap.add_argument("--epochs", type=int, default=None, help="cap on the preset's epochs")
    ap.add_argument("--n-ism", type=int, default=300, help="test sequences interpreted")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the motif table here (TSV)")
    args = ap.parse_args()

    from seq2pheno import backend
    backend.configure(args.threads)
    import numpy as np
    import pandas as pd

    from seq2pheno import filters, ism, motifs
    from seq2pheno.models import resolve_spec
    from seq2pheno.simulate import simulate_planted_motif
    from seq2pheno.train import fit_cnn

    times = {}
    t = time.time()
    planted = motifs.jaspar_motif(args.motif)
    x, y, truth = simulate_planted_motif(args.n, args.length, planted.pfm, effect=args.effect,
                                         n_per_sequence=args.copies, noise_sd=args.noise_sd,
                                         seed=args.seed)
    times["simulate"] = time.time() - t
    print(f"planted {planted.matrix_id} {planted.name} ({len(planted.pfm)} bp) in {args.n} "
          f"sequences x {args.length} bp; copies mean {np.mean(truth['copies']):.2f}, "
          f"effect {args.effect}, noise sd {args.noise_sd}")

    rng = np.random.default_rng(args.seed)
    order = rng.permutation(args.n)
    n_tr, n_va = int(0.7 * args.n), int(0.15 * args.n)
    tr, va, te = order[:n_tr], order[n_tr:n_tr + n_va], order[n_tr + n_va:]
    spec = resolve_spec("motif_cnn")
    if args.epochs is not None:
        spec["epochs"] = min(spec["epochs"], args.epochs)
    t = time.time()
    model, history = fit_cnn(spec, x, tr, va, y[tr], y[va], seed=args.seed)
    times["train"] = time.time() - t
    pred = np.asarray(model.predict(x[te], verbose=0)).reshape(-1)
    r2 = 1 - np.sum((y[te] - pred) ** 2) / np.sum((y[te] - y[te].mean()) ** 2)
    h2 = np.var(args.effect * np.asarray(truth["copies"])[te]) / np.var(y[te])
    print(f"motif_cnn: {len(history)} epochs, test R^2 {r2:.3f} (H^2 of the test set {h2:.3f})")

    xi = np.ascontiguousarray(x[np.sort(te)[:args.n_ism]])
    t = time.time()
    deltas = ism.ism(model, xi)
    times["ism"] = time.time() - t
    t = time.time()
    pwms = filters.filter_pwms(model, xi)
    times["filter_pwms"] = time.time() - t
    print(f"{sum(p['informative'] for p in pwms)} of {len(pwms)} filters informative")
    t = time.time()
    found = motifs.run_modisco(xi, deltas)
    times["modisco"] = time.time() - t
    print("TF-MoDISco:", found.reason or ", ".join(
        f"{m['name']} ({m['n_seqlets']} seqlets)" for m in found))
    t = time.time()
    table = motifs.motif_table(pwms, found)
    times["match"] = time.time() - t

    base = planted.matrix_id.split(".")[0]
    pd.set_option("display.width", 140)
    verdict = {}
    for source in ("filter", "modisco"):
        part = table[(table["source"] == source) & table["rank"].notna()]
        top3 = part.sort_values("rank").head(3)
        hit = bool(top3["jaspar_id"].str.startswith(base).any())
        same_name = bool((top3["jaspar_name"].str.upper() == planted.name.upper()).any())
        verdict[source] = hit
        print(f"\n{source}: {len(part)} significant matches; top three:")
        print(top3.to_string(index=False) if len(top3) else "  (none)")
        print(f"planted {planted.matrix_id} among the top three named matches of {source}: "
              f"{'YES' if hit else 'NO'} (a {planted.name} profile: "
              f"{'yes' if same_name else 'no'})")
    # the filter nearest to the planted motif, significant or not (the q-value is over all
    # informative filters x JASPAR, as in the table)
    informative = [(f"filter_{p['filter']}", p["pfm"]) for p in pwms if p["informative"]]
    loose = motifs.match_motifs(informative, q_threshold=1.0, top=10, source="filter")
    near = loose[loose["jaspar_id"].str.startswith(base)].sort_values("p_value").head(3)
    print(f"\nfilters nearest to {planted.matrix_id} (any q, among each filter's top 10):")
    print(near.to_string(index=False) if len(near) else "  (none)")
    if args.out:
        table.to_csv(args.out, sep="\t", index=False)
    print("\nseconds: " + ", ".join(f"{k} {v:.1f}" for k, v in times.items()))
    print(f"RESULT filter={'found' if verdict['filter'] else 'missed'} "
          f"modisco={'found' if verdict['modisco'] else 'missed'}")


if __name__ == "__main__":
    main()
