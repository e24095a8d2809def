"""Accuracy bar of the models: test R², ridge R² and training wall time per data set.

Data sets:
  * seed: resources/seed_sequences_data.csv (9,000 x 200 bp), exact duplicates removed
    (one kept per group, 615 go), default split 70/15/15 stratified on phenotype bins, seed 0.
  * sim0, sim1, sim2: simulated cohorts of 4,000 x 300 bp, env = 2, seeds 0, 1, 2; the bar is
    ``default`` test R² >= 0.95 x H² on average (H² from the simulation's truth).

Every model of a data set is trained on the same split, one after the other, in the same
process; "seconds" is the wall time of ``fit_cnn`` / ``fit_ridge`` (training only) and
"cpu_seconds" its CPU time (user + sys of the whole process, every thread: ``getrusage``), the
fairer figure on a shared machine. "epochs" is the epoch at which a CNN stopped, "cap" its
``epochs`` limit ("early" says whether early stopping ended it before the cap).
The one-hot tensor is written to a temporary .npy and memory-mapped, as in the workflow.

Usage (from the repository root, with the venv active)::

    python benchmarks/accuracy.py                   # the full benchmark (several minutes)
    python benchmarks/accuracy.py --quick           # smoke run: small data, few epochs
    python benchmarks/accuracy.py --datasets seed --models default seed_cnn ridge

Writes the table to stdout and, with ``--out FILE``, as TSV.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seq2pheno import encode  # noqa: E402
from seq2pheno.curate import duplicate_groups, resolve_duplicates  # noqa: E402
from seq2pheno.evaluate import regression_metrics  # noqa: E402
from seq2pheno.models import IndexedRows, fit_ridge, resolve_spec  # noqa: E402
from seq2pheno.split import assign_splits  # noqa: E402
from seq2pheno.simulate import simulate_cohort  # noqa: E402
from seq2pheno.train import fit_cnn, predict  # noqa: E402

OVERRIDES: dict[str, dict] = {}
SEED_CSV = ROOT / "resources" / "seed_sequences_data.csv"


def dedupe(x: np.ndarray, y: np.ndarray):
    """Remove exact duplicates (keep one per group, mean phenotype); returns x, y, how."""
    groups = duplicate_groups(x, 0.0)
    kept, _ = resolve_duplicates(np.arange(len(y)).astype(str), y, groups, mode="remove")
    rows = kept["id"].astype(int).to_numpy()
    return x[rows], kept["phenotype"].to_numpy(float), "seq2pheno.curate"


def split(y: np.ndarray, seed: int = 0):
    """Train/valid/test indices, 70/15/15 stratified on 10 phenotype quantile bins."""
    labels = np.asarray(assign_splits(y, np.arange(len(y)), fractions=(0.7, 0.15, 0.15), n_bins=10, seed=seed))
    return (np.flatnonzero(labels == "train"), np.flatnonzero(labels == "valid"),
            np.flatnonzero(labels == "test"), "seq2pheno.split")


def load_dataset(name: str, quick: bool):
    """(x, y, info) for a data set name: ``seed`` or ``sim<seed>``."""
    if name == "seed":
        df = pd.read_csv(SEED_CSV)
        x = encode.one_hot(df["sequences"].tolist())
        y = df["phenotypes"].to_numpy(float)
        n0 = len(y)
        x, y, how = dedupe(x, y)
        info = {"H2": None, "note": f"{n0 - len(y)} duplicates removed ({how})"}
        if quick:
            x, y = x[:1500], y[:1500]
        return x, y, info
    if name.startswith("sim"):
        seed = int(name[3:])
        n = 1000 if quick else 4000
        seqs, y, truth = simulate_cohort(n, 300, 2.0, seed)
        x = encode.one_hot(seqs)
        x, y, how = dedupe(x, np.asarray(y, float))
        return x, y, {"H2": truth["H2"], "note": f"{n - len(y)} duplicates removed"}
    raise SystemExit(f"unknown data set {name!r}")


def _cpu_seconds() -> float:
    """User + system CPU time of this process so far (all threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run(datasets, model_names, quick: bool, seed: int, log) -> pd.DataFrame:
    rows = []
    for ds in datasets:
        x, y, info = load_dataset(ds, quick)
        tr, va, te, how = split(y, seed)
        print(f"# {ds}: N={len(y)} L={x.shape[1]} train/valid/test={len(tr)}/{len(va)}/{len(te)}"
              f" ({info['note']}; split: {how}); H2={info['H2']}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            np.save(Path(tmp) / "onehot.npy", x)
            onehot = np.load(Path(tmp) / "onehot.npy", mmap_mode="r")
            ridge_r2 = None
            for m in model_names:
                spec = resolve_spec(m, OVERRIDES.get(m))
                if quick and spec["type"] == "cnn":
                    spec["epochs"] = min(spec["epochs"], 5)
                t0, c0 = time.perf_counter(), _cpu_seconds()
                cap = spec.get("epochs") if spec["type"] == "cnn" else None
                if spec["type"] == "ridge":
                    model = fit_ridge(IndexedRows(onehot, tr), y[tr], IndexedRows(onehot, va),
                                      y[va], spec["alphas"])
                    epochs, extra = 0, f"alpha={model['alpha']:g}"
                else:
                    model, hist = fit_cnn(spec, onehot, tr, va, y[tr], y[va], seed=seed, log=log)
                    epochs = len(hist)
                    extra = f"best_epoch={int(hist.loc[hist['best'], 'epoch'].iloc[0])}"
                seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
                r2 = regression_metrics(y[te], predict(model, onehot, te))["r2"]
                if spec["type"] == "ridge":
                    ridge_r2 = r2
                early = None if spec["type"] == "ridge" else bool(epochs < cap)
                row = {"dataset": ds, "model": m, "test_r2": r2, "seconds": seconds,
                       "cpu_seconds": cpu, "epochs": epochs, "cap": cap, "early": early,
                       "H2": info["H2"], "detail": extra}
                rows.append(row)
                print(f"{ds}\t{m}\ttest_r2={r2:.4f}\tseconds={seconds:.1f}\tcpu={cpu:.1f}"
                      f"\tepochs={epochs}/{cap}\t{extra}", flush=True)
            for row in rows:
                if row["dataset"] == ds:
                    row["ridge_r2"] = ridge_r2
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame, quick: bool = False) -> list[str]:
    lines = ["(--quick smoke run: small data and 5 epochs; the bars apply to the full run)"
             ] if quick else []
    seed = df[df["dataset"] == "seed"].set_index("model")
    if "default" in seed.index:
        r2 = seed.loc["default", "test_r2"]
        line = f"seed: default test R2 {r2:.4f} (bar 0.975: {'PASS' if r2 >= 0.975 else 'FAIL'})"
        if "seed_cnn" in seed.index:
            t, ts = seed.loc["default", "seconds"], seed.loc["seed_cnn", "seconds"]
            c, cs = seed.loc["default", "cpu_seconds"], seed.loc["seed_cnn", "cpu_seconds"]
            line += (f"; {t:.0f} s wall / {c:.0f} s CPU vs seed_cnn {ts:.0f} s / {cs:.0f} s "
                     f"({'PASS' if c < cs else 'FAIL'}: default must use less CPU time)")
        lines.append(line)
    cnn = df[df["model"] == "default"]
    if len(cnn) and "early" in cnn:
        stops = ", ".join(f"{d} {int(e)}/{int(c)}" for d, e, c in zip(cnn["dataset"],
                                                                      cnn["epochs"], cnn["cap"]))
        ok = bool(cnn["early"].all())
        lines.append(f"default stopped at epoch {stops} "
                     f"({'PASS' if ok else 'FAIL'}: early stopping must end it before the cap)")
    sim = df[df["dataset"].str.startswith("sim") & (df["model"] == "default")]
    if len(sim):
        ratio = (sim["test_r2"] / sim["H2"]).mean()
        lines.append(f"simulated: default mean test R2 / H2 = {ratio:.3f} over {len(sim)} cohorts "
                     f"(bar 0.95: {'PASS' if ratio >= 0.95 else 'FAIL'})")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small data, at most 5 epochs")
    ap.add_argument("--datasets", nargs="+", default=None,
                    help="seed and/or sim0 sim1 sim2 (default: all four)")
    ap.add_argument("--models", nargs="+", default=None,
                    help="preset names (default: seed_cnn default ridge on seed, "
                         "default ridge on simulated cohorts)")
    ap.add_argument("--spec", action="append", default=[], metavar="NAME=JSON",
                    help="override a model's spec, e.g. default='{\"learning_rate\": 0.003}' "
                         "(a new NAME needs \"preset\" or full keys); repeatable")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the table as TSV here")
    ap.add_argument("--verbose", action="store_true", help="log every epoch")
    args = ap.parse_args(argv)
    import logging
    log = None
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        log = logging.getLogger("accuracy")
    for item in args.spec:
        name, _, text = item.partition("=")
        OVERRIDES[name] = json.loads(text)
    datasets = args.datasets or ["seed", "sim0", "sim1", "sim2"]
    frames = []
    for ds in datasets:
        models = args.models or (["seed_cnn", "default", "ridge"] if ds == "seed"
                                 else ["default", "ridge"])
        frames.append(run([ds], models, args.quick, args.seed, log))
    df = pd.concat(frames, ignore_index=True)
    print()
    print(df.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for line in summary(df, args.quick):
        print(line)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(args.out, sep="\t", index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
