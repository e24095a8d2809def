"""Naive vs windowed (fast) ISM, side by side in one run, on a preset model at L = 300.

Usage: python benchmarks/ism.py [--preset default] [--length 300] [--n 128] [--threads 2]

Builds the preset with seq2pheno.models.build_cnn (random weights; the speed does not depend
on training), appends the `to_phenotype_scale` Rescaling layer (and, for a preset trained on
random strands, `reverse_complement: augment`, takes the mean of both strands as training
returns it: `seq2pheno.models.cnn.strand_average`), runs
seq2pheno.ism.naive_ism (one forward pass per mutant, batches of 8192 mutants) and
seq2pheno.ism.ism on the same sequences, interleaved, best of --repeats each, and prints
wall and CPU times, the speed ratios and the max |difference| on the standardised scale.
Both are warmed first on the same sequences; the fast path's first call, which compiles its
chunk function (XLA or jax.jit, once per chunk shape), is printed apart. `--numpy` times the
fast path without compilation. On a shared machine the CPU-time ratio is the steadier figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--length", type=int, default=300)
    ap.add_argument("--n", type=int, default=128, help="sequences interpreted")
    ap.add_argument("--preset", default="default")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--naive-batch-size", type=int, default=8192,
                    help="mutants per forward pass of naive ISM")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="mutants per chunk of fast ISM (default: ism's default)")
    ap.add_argument("--numpy", action="store_true",
                    help="fast ISM without the compiled chunk function")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per method (min kept)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dense-activation", default=None,
                    help="override the activation of every hidden Dense layer (e.g. relu)")
    args = ap.parse_args()

    from seq2pheno import backend
    backend.configure(args.threads)
    import keras
    import numpy as np

    from seq2pheno import ism as I
    from seq2pheno.models import build_cnn, resolve_spec

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    L = args.length
    sd, mean = 3.0, 10.0
    spec = resolve_spec(args.preset, None)
    if args.dense_activation:
        for layer in spec["dense"]:
            layer["activation"] = args.dense_activation
    core = build_cnn(spec, (L, 4))
    model = keras.Sequential(
        [keras.Input((L, 4))] + list(core.layers)
        + [keras.layers.Rescaling(scale=sd, offset=mean, name="to_phenotype_scale")])
    if spec["reverse_complement"] == "augment":  # as training returns it: the mean of both strands
        from seq2pheno.models.cnn import strand_average

        model = strand_average(model)
    x = np.zeros((args.n, L, 4), np.float32)
    x[np.arange(args.n)[:, None], np.arange(L), rng.integers(0, 4, (args.n, L))] = 1.0
    print(f"model {args.preset}: " + " -> ".join(
        f"{type(layer).__name__}"
        f"({getattr(getattr(layer, 'activation', None), '__name__', '')})"
        for layer in model.layers))
    print(f"{args.n} sequences x {L} bp = {args.n * 3 * L} mutants; "
          f"fast path supported: {I.supports_fast_ism(model)}")

    fast_args = {"compiled": not args.numpy}
    if args.batch_size is not None:
        fast_args["batch_size"] = args.batch_size
    # warm both paths (tracing, compilation, first calls) on the same sequences
    I.naive_ism(model, x, batch_size=args.naive_batch_size)
    t0 = time.perf_counter()
    I.ism(model, x, **fast_args)
    t_first = time.perf_counter() - t0

    # interleave the runs so that both see the same machine load; keep each one's best
    t_naive = t_fast = c_naive = c_fast = float("inf")
    for _ in range(args.repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        naive = I.naive_ism(model, x, batch_size=args.naive_batch_size)
        t_naive = min(t_naive, time.perf_counter() - t0)
        c_naive = min(c_naive, time.process_time() - c0)
        t0, c0 = time.perf_counter(), time.process_time()
        fast = I.ism(model, x, **fast_args)
        t_fast = min(t_fast, time.perf_counter() - t0)
        c_fast = min(c_fast, time.process_time() - c0)

    diff = float(np.abs(fast - naive).max() / sd)
    print(f"naive ISM: {t_naive:8.3f} s  ({args.n * 3 * L / t_naive:,.0f} mutants/s)")
    print(f"fast ISM:  {t_fast:8.3f} s  ({args.n * 3 * L / t_fast:,.0f} mutants/s; "
          f"first call, compilation included: {t_first:.3f} s)")
    print(f"speed ratio naive/fast: {t_naive / t_fast:.1f}x wall, "
          f"{c_naive / c_fast:.1f}x CPU time (naive {c_naive:.3f} s, fast {c_fast:.3f} s)")
    print(f"max |fast - naive| on the standardised scale: {diff:.3e} "
          f"(max |delta| {np.abs(naive).max() / sd:.3e})")


if __name__ == "__main__":
    main()
