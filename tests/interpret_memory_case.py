"""One CNN interpretation (seq2pheno.steps.interpret) on random weights, for memory checks.

    python tests/interpret_memory_case.py DIR --length 10346 --preset seed_cnn --n 200 --memory-mb 2000

Builds the preset's CNN (``--filters`` overrides the first conv's filters) for input (L, 4)
with random weights, a genotype-like cohort of ``--n`` test samples (one-hot rows: REF/ALT
channels with 0.5/0.5 heterozygotes, per-marker features.tsv), runs the interpret step with
``interpret.memory_mb`` = ``--memory-mb`` and prints one JSON line: the peak RSS of the process
(MB), the bound, the seconds taken. Used by tests/test_interpretation.py (in a subprocess,
reading the child's peak RSS) and for the measurements in its docstring (/usr/bin/time -v).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def write_case(d: Path, L: int, n: int, seed: int = 0) -> dict:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    ref = rng.integers(0, 4, L)
    alt = (ref + rng.integers(1, 4, L)) % 4
    dosage = rng.integers(0, 3, (n, L))
    x = np.zeros((n, L, 4), dtype=np.float32)
    rows = np.arange(L)
    for i in range(n):
        x[i, rows, ref] += (2 - dosage[i]) / 2
        x[i, rows, alt] += dosage[i] / 2
    np.save(d / "onehot.npy", x)
    ids = [f"s{i}" for i in range(n)]
    pd.DataFrame({"id": ids}).to_csv(d / "samples.tsv", sep="\t", index=False)
    pd.DataFrame({"id": ids, "phenotype": rng.normal(size=n)}).to_csv(d / "kept.tsv", sep="\t", index=False)
    pd.DataFrame({"id": ids, "split": "test", "weight": 1.0, "group": np.arange(n)}).to_csv(
        d / "split.tsv", sep="\t", index=False)
    bases = np.array(list("ACGT"))
    pd.DataFrame({"position": rows, "chrom": np.where(rows < L // 2, "1", "2"),
                  "pos": 1000 * (rows % (L // 2) + 1), "ref": bases[ref], "alt": bases[alt]}).to_csv(
        d / "features.tsv", sep="\t", index=False)
    return {"onehot": str(d / "onehot.npy"), "samples": str(d / "samples.tsv"), "kept": str(d / "kept.tsv"),
            "split": str(d / "split.tsv"), "features": str(d / "features.tsv")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--length", type=int, default=10346)
    ap.add_argument("--preset", default="seed_cnn")
    ap.add_argument("--filters", type=int, default=None)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--memory-mb", type=float, default=2000)
    ap.add_argument("--top-positions", type=int, default=10)
    args = ap.parse_args(argv)

    from seq2pheno import backend

    backend.configure(1)
    import keras

    from seq2pheno import steps
    from seq2pheno.models import PRESETS, build_cnn, resolve_spec

    paths = write_case(args.dir, args.length, args.n)
    spec = resolve_spec(args.preset, dict(PRESETS[args.preset]))
    if args.filters:
        spec["conv"] = [dict(spec["conv"][0], filters=args.filters)] + spec["conv"][1:]
    keras.utils.set_random_seed(0)
    model = build_cnn(spec, (args.length, 4))
    model.save(args.dir / "model.keras")
    del model
    paths["model"] = str(args.dir / "model.keras")
    names = ["ism", "ism_maps", "saliency", "meme", "filters", "influence", "interactions"]
    files = ["ism.tsv", "ism_maps.npz", "saliency.tsv", "filters.meme", "filters.tsv",
             "filter_influence.tsv", "interactions.tsv"]
    out = {k: str(args.dir / "out" / f) for k, f in zip(names, files)}
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    settings = {"n_sequences": args.n, "top_positions": args.top_positions, "seed": 0,
                "memory_mb": args.memory_mb}
    t0 = time.time()
    steps.interpret(paths, settings, out=out, log=logging.getLogger("interpret"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mb": round(peak, 1), "memory_mb": args.memory_mb, "length": args.length,
                      "preset": args.preset, "n": args.n, "seconds": round(time.time() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
