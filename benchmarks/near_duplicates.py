"""Time duplicate grouping on a cohort of mutants of one reference sequence.

Usage: nice -n 10 .venv/bin/python benchmarks/near_duplicates.py [--n 100000] [--length 300]
       [--fractions 0.01 0.0] [--method auto] [--check 3000]

The cohort follows the simulated demo: a random reference, 10-25 causal loci, each sequence
carrying up to 10 % of L point mutations, 45 % of them at causal loci. Prints seconds and the
process's peak RSS (resource.getrusage) after each search; ``--check N`` also compares the
groups of the first N sequences with a brute-force search.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from seq2pheno.curate import duplicate_groups  # noqa: E402


def mutant_cohort(n: int, length: int, seed: int = 0, out=None, block: int = 10_000) -> np.ndarray:
    """(n, length, 4) float32 one-hot mutants of one random reference (written into ``out``)."""
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 4, length)
    causal = rng.choice(length, rng.integers(10, 26), replace=False)
    n_mut = rng.integers(0, int(0.1 * length) + 1, n)
    out = np.empty((n, length, 4), dtype=np.float32) if out is None else out
    for s in range(0, n, block):
        codes = np.tile(ref, (min(n, s + block) - s, 1))
        for i in range(len(codes)):
            m = n_mut[s + i]
            at_causal = rng.random(m) < 0.45
            pos = np.where(at_causal, rng.choice(causal, m), rng.integers(0, length, m))
            codes[i, pos] = (ref[pos] + rng.integers(1, 4, m)) % 4
        out[s:s + len(codes)] = np.eye(4, dtype=np.float32)[codes]
    return out


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def brute_groups(x: np.ndarray, k: int) -> np.ndarray:
    from scipy.sparse.csgraph import connected_components
    c = x.argmax(axis=2)
    d = (c[:, None, :] != c[None, :, :]).sum(axis=2)
    _, lab = connected_components(d <= k, directed=False)
    return lab


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--length", type=int, default=300)
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.01, 0.0])
    ap.add_argument("--method", default="auto", choices=["auto", "index", "dense"])
    ap.add_argument("--block-size", type=int, default=4096)
    ap.add_argument("--check", type=int, default=0, help="brute-force check on the first N rows")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    log = None
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        log = logging.getLogger("bench")
    t = time.time()
    tmp = tempfile.TemporaryDirectory()
    path = Path(tmp.name) / "onehot.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(args.n, args.length, 4))
    mutant_cohort(args.n, args.length, out=mm)
    mm.flush()
    del mm
    x = np.load(path, mmap_mode="r")
    print(f"cohort: {args.n} x {args.length} bp mutants of one reference, generated in "
          f"{time.time() - t:.1f} s; tensor {x.nbytes / 2**20:.0f} MiB on disk, searched as a "
          f"read-only memmap; peak RSS so far {peak_rss_mib():.0f} MiB")
    for f in args.fractions:
        tracemalloc.start()
        t = time.time()
        g = duplicate_groups(x, f, block_size=args.block_size, log=log, method=args.method)
        dt = time.time() - t
        heap = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        k = int(np.floor(f * args.length + 1e-9))
        sizes = np.bincount(g)
        print(f"fraction {f:g} (<= {k} mismatches, method {args.method}): {dt:.1f} s, "
              f"{len(sizes)} groups, {int((sizes > 1).sum())} with >1 member, largest {sizes.max()}; "
              f"peak RSS {peak_rss_mib():.0f} MiB (memmapped tensor pages included), "
              f"peak allocated during the search {heap:.0f} MiB (tracemalloc)")
        if args.check:
            m = min(args.check, args.n)
            xm = np.asarray(x[:m])
            ok = same_partition(duplicate_groups(xm, f, method=args.method), brute_groups(xm, k))
            print(f"  brute-force check on the first {m} rows: {'equal' if ok else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
