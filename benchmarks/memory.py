"""Peak memory of import, curation, training and ISM as the cohort grows 10x (out-of-core bar).

Usage: python benchmarks/memory.py [--sizes 20000 200000] [--length 1000] [--workdir DIR]

For each size N, writes a table (id, sequence, phenotype) of N sequences of --length bp from
the simulation model's shape (a random reference with up to 10 % of positions mutated per
sequence, an additive phenotype at 20 loci plus noise), then runs the workflow's steps on it,
each in its own process under `/usr/bin/time -v`, in the order the workflow runs them:
import (the `import_table` rule's calls), curation (`curate`, at --near-fraction),
split, training of the `default` CNN for --epochs epoch(s) (`train_cnn`) and interpretation
(`interpret`: ISM, saliency, filters, epistasis on 500 test sequences). Prints one row per
step and size: peak RSS (MB), wall and CPU seconds, then the growth of each step's peak RSS
from the smallest to the largest N (bar: at most +20 % for 10x N) and the import throughput
in MB of sequence per CPU second, less the interpreter's and libraries' start-up measured
alone (bar: at least 100; the table import writes the compact uint8 tensor, one byte a base).
Files go to --workdir (default: a temporary folder, removed at the end; --keep keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEPS = ("import", "curate", "split", "train", "interpret")


def write_table(path: Path, n: int, length: int, seed: int = 0, block: int = 5000) -> None:
    """A CSV of n sequences (the reference with up to 10 % of positions mutated) and phenotypes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 4, length, dtype=np.uint8)
    loci = rng.choice(length, 20, replace=False)
    effects = rng.uniform(-4, 4, (20, 4))
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    with open(path, "w") as fh:
        fh.write("id,sequence,phenotype\n")
        for s in range(0, n, block):
            b = min(block, n - s)
            codes = np.tile(ref, (b, 1))
            n_mut = rng.integers(0, length // 10 + 1, b)
            mask = rng.random((b, length)) < (n_mut / length)[:, None]
            codes[mask] = (codes[mask] + rng.integers(1, 4, int(mask.sum()), dtype=np.uint8)) % 4
            y = effects[np.arange(20), codes[:, loci]].sum(axis=1) + rng.uniform(-2, 2, b)
            seqs = letters[codes].view(f"S{length}").ravel()
            fh.writelines(f"s{s + i + 1},{q.decode()},{v:.4f}\n" for i, (q, v) in enumerate(zip(seqs, y)))


def run_step(step: str, d: Path, near_fraction: float, epochs: int) -> None:
    """One step, as its rule's script calls it (this runs in the measured process)."""
    import logging

    from seq2pheno import backend, steps
    from seq2pheno.config import validate_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    log = logging.getLogger(step)
    config = validate_config({"cohorts": {"big": {"source": "table", "table": str(d / "table.csv")}},
                              "models": {"default": {"epochs": epochs}},
                              "curation": {"near_duplicate_fraction": near_fraction}})
    data = {"samples": d / "samples.tsv", "onehot": d / "onehot.npy", "features": d / "features.tsv",
            "kept": d / "kept.tsv", "split": d / "split.tsv"}
    if step == "startup":
        from seq2pheno import sources  # noqa: F401  (the interpreter and the import's libraries)
    elif step == "import":
        from seq2pheno import sources

        c = config["cohorts"]["big"]
        sources.import_table(d / "table.csv", samples_path=data["samples"], onehot_path=data["onehot"],
                             features_path=data["features"], missing_phenotype=c["missing_phenotype"],
                             allow_n=c["allow_n"], log=log)
    elif step == "curate":
        steps.curate(data["samples"], data["onehot"], config["curation"], log=log,
                     out={"duplicates": d / "duplicates.tsv", "removed": d / "removed.tsv",
                          "kept": data["kept"], "summary": d / "curate.json"})
    elif step == "split":
        steps.split(data["kept"], config["split"], log=log,
                    out={"split": data["split"], "distribution": d / "distribution.json"})
    elif step == "train":
        backend.configure(os.cpu_count())
        steps.train(data, {"name": "default", **config["models"]["default"]},
                        config["training"]["seed"], log=log,
                        out={"model": d / "model.keras", "history": d / "history.tsv"})
    elif step == "interpret":
        backend.configure(os.cpu_count())
        steps.interpret({**data, "model": d / "model.keras"}, config["interpret"], log=log,
                        out={k: d / f"interpret_{k}" for k in
                             ("ism", "ism_maps", "saliency", "meme", "filters", "influence",
                              "interactions")})
    else:
        raise SystemExit(f"unknown step {step!r}")


def _timed(step: str, d: Path, args) -> dict:
    cmd = ["/usr/bin/time", "-v", sys.executable, __file__, "--run-step", step, "--workdir", str(d),
           "--near-fraction", str(args.near_fraction), "--epochs", str(args.epochs)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    with open(d / f"{step}.log", "w") as fh:
        fh.write(proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"step {step} failed (log: {d / f'{step}.log'}):\n{proc.stderr[-3000:]}")

    def field(name):
        return re.search(rf"{re.escape(name)}: (.+)", proc.stderr).group(1).strip()

    wall = field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
    return {"peak_rss_mb": int(field("Maximum resident set size (kbytes)")) / 1024,
            "wall_s": sum(float(v) * 60 ** i for i, v in enumerate(reversed(wall))),
            "cpu_s": float(field("User time (seconds)")) + float(field("System time (seconds)"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    ap.add_argument("--length", type=int, default=1000)
    ap.add_argument("--near-fraction", type=float, default=0.01,
                    help="near_duplicate_fraction for curation (0 = exact duplicates only)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    ap.add_argument("--run-step", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.run_step:
        run_step(args.run_step, args.workdir, args.near_fraction, args.epochs)
        return

    base = args.workdir or Path(tempfile.mkdtemp(prefix="seq2pheno-memory-"))
    results = {}
    try:
        for n in args.sizes:
            d = base / f"n{n}"
            d.mkdir(parents=True, exist_ok=True)
            if not (d / "table.csv").exists():
                write_table(d / "table.csv", n, args.length)
            if "import" in args.steps:
                results[("startup", n)] = _timed("startup", d, args)
            for step in args.steps:
                r = _timed(step, d, args)
                results[(step, n)] = r
                print(f"{step:10s} N={n:>8,d}  peak RSS {r['peak_rss_mb']:8.1f} MB  "
                      f"wall {r['wall_s']:7.1f} s  CPU {r['cpu_s']:7.1f} s", flush=True)
            if "import" in args.steps:
                mb = n * args.length / 1e6
                r, r0 = results[("import", n)], results[("startup", n)]
                work = r["cpu_s"] - r0["cpu_s"]
                print(f"import throughput N={n:,d}: {mb / work:.1f} MB of sequence per CPU second "
                      f"({mb:.0f} MB in {r['cpu_s']:.1f} s CPU, less {r0['cpu_s']:.1f} s of interpreter "
                      f"and library start-up; {r['wall_s']:.1f} s wall; bar: at least 100; tensor "
                      f"{os.path.getsize(d / 'onehot.npy') / 1e6:.0f} MB on disk)")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    lo, hi = min(args.sizes), max(args.sizes)
    if lo != hi:
        print(f"\npeak RSS growth from N={lo:,d} to N={hi:,d} (bar: at most +20 %):")
        for step in args.steps:
            a, b = results[(step, lo)]["peak_rss_mb"], results[(step, hi)]["peak_rss_mb"]
            print(f"  {step:10s} {a:8.1f} -> {b:8.1f} MB  {100 * (b / a - 1):+6.1f} %")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps([{"step": s, "n": n, **r} for (s, n), r in results.items()],
                                       indent=1))


if __name__ == "__main__":
    main()
