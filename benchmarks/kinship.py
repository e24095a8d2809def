"""KING-robust kinship: seq2pheno.kinship.king_table vs plink2 --make-king-table, same data, same run.

    nice -n 10 python benchmarks/kinship.py [--samples 2000] [--snvs 100000] [--threads 2]

Data: an msprime cohort (tests/genotype_sim.benchmark_files: 4 autosomes, realistic site
frequency spectrum, planted relatives, 0.2% missing calls), cached in --workdir.
Each tool runs in its own child process limited to --threads threads (plink2 --threads, BLAS
threads for ours); wall time and the child's peak resident memory are printed, then the ratio.

- "compute": plink2 from its own binary fileset (.pgen, made beforehand, not timed) writing the
  .kin0 table, vs ours from the int8 dosage matrix (.npy, made beforehand) to the DataFrame.
- "from VCF": both starting from the bgzipped VCF (plink2 --vcf; ours read_genotypes + dosage).
The outputs are compared (HETHET, IBS0 equal; KINSHIP within 1e-6) so the timing is of equal work.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, resource, sys, time
import numpy as np
from threadpoolctl import threadpool_limits
sys.path.insert(0, {root!r})
from seq2pheno.kinship import king_table
args = json.loads(sys.argv[1])
if args["mode"] == "vcf":
    from seq2pheno.vcf import read_genotypes
with threadpool_limits(args["threads"]):
    t0 = time.perf_counter()
    if args["mode"] == "vcf":
        g = read_genotypes(args["vcf"], args["fasta"])
        dosage, _ = g.dosage()
        ids = g.samples
        del g
    else:
        dosage = np.load(args["dosage"])
        ids = open(args["ids"]).read().split()
    t1 = time.perf_counter()
    table = king_table(dosage, ids, block_size=args["block_size"], threads=args["threads"])
    t2 = time.perf_counter()
np.save(args["out"], table[["hethet", "ibs0", "kinship"]].to_numpy(np.float64))
print(json.dumps({{"load_s": t1 - t0, "king_s": t2 - t1, "wall_s": t2 - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def run_timed_rss(cmd, env=None):
    """Like run_timed, but reaps the child with os.wait4 to get its own peak RSS (MB)."""
    t0 = time.perf_counter()
    with open(os.devnull, "w") as null:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=null, env=env)
        out = proc.stdout.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(map(str, cmd))}\n{out}")
    return wall, usage.ru_maxrss / 1024, out


def main(argv=None) -> None:
    import numpy as np
    import pandas as pd

    import genotype_sim as gs
    from seq2pheno.vcf import read_genotypes

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--snvs", type=int, default=100_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--block-size", type=int, default=4096)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs; medians are reported")
    ap.add_argument("--modes", default="compute,vcf")
    ap.add_argument("--workdir", default="/tmp/seq2pheno_bench")
    args = ap.parse_args(argv)
    plink2 = subprocess.run(["which", "plink2"], capture_output=True, text=True).stdout.strip()
    if not plink2:
        raise SystemExit("plink2 not found: apt-get install -y plink2")
    work = Path(args.workdir)
    files = gs.benchmark_files(work, args.samples, args.snvs)
    d = Path(files["vcf"]).parent
    vcf, fasta = str(files["vcf"]), str(files["fasta"])
    if not (d / "bench.pgen").exists():
        subprocess.run([plink2, "--vcf", vcf, "--make-pgen", "--out", str(d / "bench"), "--threads",
                        str(args.threads)], check=True, capture_output=True)
    if not (d / "dosage.npy").exists():
        g = read_genotypes(vcf, fasta)
        dosage, _ = g.dosage()
        np.save(d / "dosage.npy", dosage)
        (d / "ids.txt").write_text("\n".join(g.samples) + "\n")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    child = CHILD.format(root=str(ROOT))
    results = {}
    for mode in args.modes.split(","):
        src = ["--pfile", str(d / "bench")] if mode == "compute" else ["--vcf", vcf]
        spec = {"mode": mode, "vcf": vcf, "fasta": fasta, "dosage": str(d / "dosage.npy"),
                "ids": str(d / "ids.txt"), "threads": args.threads, "block_size": args.block_size,
                "out": str(d / f"ours_{mode}.npy")}
        runs = []
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            p_wall, p_rss, _ = run_timed_rss([plink2, *src, "--make-king-table", "counts", "--threads",
                                          str(args.threads), "--out", str(d / f"plink_{mode}")])
            o_wall, _, out = run_timed_rss([sys.executable, "-c", child, json.dumps(spec)], env=env)
            runs.append((p_wall, p_rss, o_wall, json.loads(out.strip().splitlines()[-1])))
        med = sorted(runs, key=lambda r: r[2] / r[0])[len(runs) // 2]
        ratios = [r[2] / r[0] for r in runs]
        ours = np.load(d / f"ours_{mode}.npy")
        ref = pd.read_csv(d / f"plink_{mode}.kin0", sep="\t")
        same = bool(np.array_equal(ours[:, 0], ref["HETHET"].to_numpy())
                    and np.array_equal(ours[:, 1], ref["IBS0"].to_numpy())
                    and np.abs(ours[:, 2] - ref["KINSHIP"].to_numpy()).max() <= 1e-6)
        results[mode] = med + (same, ratios)
    print(f"KING-robust, {args.samples} samples x {args.snvs} SNVs, {args.threads} threads "
          f"(machine load {os.getloadavg()[0]:.1f})")
    for mode, (p_wall, p_rss, o_wall, info, same, ratios) in results.items():
        print(f"[{mode}] plink2 --make-king-table counts: {p_wall:7.2f} s, peak {p_rss:7.0f} MB")
        print(f"[{mode}] seq2pheno king_table:             {o_wall:7.2f} s wall (load {info['load_s']:.2f} s, "
              f"kinship {info['king_s']:.2f} s, python start included), peak {info['peak_rss_mb']:.0f} MB")
        print(f"[{mode}] ratio ours/plink2 = {o_wall / p_wall:.2f} (median of {len(ratios)}: "
              f"{', '.join(f'{r:.2f}' for r in ratios)}; kinship step alone {info['king_s'] / p_wall:.2f}); "
              f"outputs equal: {same}")


if __name__ == "__main__":
    main()
