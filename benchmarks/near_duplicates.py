"""Time duplicate grouping on a cohort of mutants of one reference sequence (or random ones).

Usage: nice -n 10 .venv/bin/python benchmarks/near_duplicates.py [--n 100000] [--length 300]
       [--fractions 0.01 0.0] [--method auto] [--random] [--block-size ROWS] [--check 3000]

The cohort follows the simulated demo: a random reference, 10-25 causal loci, each sequence
carrying up to 10 % of L point mutations, 45 % of them at causal loci (``--random``: uniform
random sequences instead). It is written block by block (tensorfile.tensor_writer) and searched
through tensorfile.open_tensor, whose positioned reads keep the file out of the resident set.
Prints, after each search, its seconds and the process's peak resident set during it (the
kernel's high-water mark, reset before the search, where Linux allows it) and how far that
peak rose above the resident set before the search; ``--check N`` also compares the groups of
the first N sequences with a brute-force search.

Figures (2 shared cores; the same machine and load for both): default arguments (100,000 x
300 bp mutants, tensor 458 MiB): fraction 0.01 (<= 3 mismatches, index search) 2.7 s, peak RSS
139 MiB (+20 MiB over the 119 MiB before the search); fraction 0: 0.2 s, +0 MiB. The code this
replaced (whole-tensor state codes, memory-mapped reads): 11.2 s and 1.0 s, peak RSS 706 MiB
(mapped pages included). ``--random``: fraction 0.01 (segments search) 0.9 s, +14 MiB.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from seq2pheno.curate import duplicate_groups  # noqa: E402
from seq2pheno.tensorfile import open_tensor, tensor_writer  # noqa: E402

_EYE = np.eye(4, dtype=np.float32)


def mutant_cohort(n: int, length: int, seed: int = 0, block: int = 2000):
    """Yield (rows, length, 4) float32 one-hot blocks of mutants of one random reference."""
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 4, length)
    causal = rng.choice(length, rng.integers(10, 26), replace=False)
    n_mut = rng.integers(0, int(0.1 * length) + 1, n)
    for s in range(0, n, block):
        codes = np.tile(ref, (min(n, s + block) - s, 1))
        for i in range(len(codes)):
            m = n_mut[s + i]
            at_causal = rng.random(m) < 0.45
            pos = np.where(at_causal, rng.choice(causal, m), rng.integers(0, length, m))
            codes[i, pos] = (ref[pos] + rng.integers(1, 4, m)) % 4
        yield _EYE[codes]


def random_cohort(n: int, length: int, seed: int = 0, block: int = 2000):
    """Yield one-hot blocks of uniformly random sequences."""
    rng = np.random.default_rng(seed)
    for s in range(0, n, block):
        yield _EYE[rng.integers(0, 4, (min(n, s + block) - s, length))]


def _status_mib(key: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def reset_peak() -> bool:
    """Reset the kernel's high-water mark of the resident set (Linux); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib(reset: bool) -> float:
    hwm = _status_mib("VmHWM") if reset else None
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def rss_mib() -> float:
    return _status_mib("VmRSS") or 0.0


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
    ap.add_argument("--method", default="auto", choices=["auto", "index", "segments", "dense"])
    ap.add_argument("--random", action="store_true", help="uniform random sequences instead of mutants")
    ap.add_argument("--block-size", type=int, default=None, help="rows per block (default: by bytes)")
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
    blocks = (random_cohort if args.random else mutant_cohort)(args.n, args.length)
    with tensor_writer(path, (args.length, 4)) as w:
        for block in blocks:
            w.append(block)
    x = open_tensor(path)
    what = "random sequences" if args.random else "mutants of one reference"
    print(f"cohort: {args.n} x {args.length} bp {what}, written in {time.time() - t:.1f} s; tensor "
          f"{os.path.getsize(path) / 2**20:.0f} MiB on disk, read by positioned reads (open_tensor)")
    for f in args.fractions:
        reset = reset_peak()
        before = rss_mib()
        t = time.time()
        g = duplicate_groups(x, f, block_size=args.block_size, log=log, method=args.method)
        dt = time.time() - t
        peak = peak_rss_mib(reset)
        k = int(np.floor(f * args.length + 1e-9))
        sizes = np.bincount(g)
        print(f"fraction {f:g} (<= {k} mismatches, method {args.method}): {dt:.1f} s, "
              f"{len(sizes)} groups, {int((sizes > 1).sum())} with >1 member, largest {sizes.max()}; "
              f"peak RSS {peak:.0f} MiB during the search ({peak - before:+.0f} MiB over the "
              f"{before:.0f} MiB before it{'' if reset else '; ru_maxrss: peak of the whole run'})")
        if args.check:
            m = min(args.check, args.n)
            xm = np.asarray(x[:m])
            ok = same_partition(duplicate_groups(xm, f, method=args.method), brute_groups(xm, k))
            print(f"  brute-force check on the first {m} rows: {'equal' if ok else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
