"""KING-robust kinship: seq2pheno.kinship.king_table vs plink2 --make-king-table, same data, same run.

    nice -n 10 python benchmarks/kinship.py [--samples 2000] [--snvs 100000] [--threads 2] [--tile 512]

Data: an msprime cohort (tests/genotype_sim.benchmark_files: 4 autosomes, realistic site
frequency spectrum, planted relatives, 0.2% missing calls), cached in --workdir.
Each tool runs in its own child process limited to --threads threads (plink2 --threads, BLAS
threads for ours); wall time and the child's peak resident memory are printed, then the ratio.

- "compute": plink2 from its own binary fileset (.pgen, made beforehand, not timed) writing the
  .kin0 table, vs ours from the int8 dosage matrix (.npy, made beforehand) to the DataFrame.
- "stream": the same plink2 run vs ours as curate_genotypes runs it: write_king_table from the
  dosage file (read block by block) to a TSV, tile by tile, keeping the related pairs.
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
from seq2pheno.kinship import king_table, write_king_table
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
    elif args["mode"] == "stream":
        dosage = args["dosage"]  # the path: read block by block
        ids = open(args["ids"]).read().split()
    else:
        dosage = np.load(args["dosage"])
        ids = open(args["ids"]).read().split()
    t1 = time.perf_counter()
    if args["mode"] == "stream":
        write_king_table(args["out"] + ".tsv", dosage, ids, keep_above=0.0884, tile=args["tile"],
                         block_size=args["block_size"], threads=args["threads"])
    else:
        table = king_table(dosage, ids, block_size=args["block_size"], threads=args["threads"],
                           tile=args["tile"])
    t2 = time.perf_counter()
try:  # VmHWM starts afresh at exec; ru_maxrss keeps the parent's RSS at the fork
    with open("/proc/self/status") as fh:
        peak = next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM:")) / 1024
except (OSError, StopIteration):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t3 = time.perf_counter()  # the check below is the benchmark's, not the tool's: its time is reported
if args["mode"] == "stream":
    import pandas as pd
    table = pd.read_csv(args["out"] + ".tsv", sep="\t")
np.save(args["out"], table[["hethet", "ibs0", "kinship"]].to_numpy(np.float64))
print(json.dumps({{"load_s": t1 - t0, "king_s": t2 - t1, "wall_s": t2 - t0, "peak_rss_mb": peak,
                  "check_s": time.perf_counter() - t3}}))
"""


def run_timed_rss(cmd, env=None):
    """Runs cmd: (wall s, its peak RSS in MB, stdout). The peak is measured by /usr/bin/time where
    there is one: a child forked from this process inherits this process's RSS at the fork as
    the start of its ru_maxrss (kept across exec), so os.wait4 (the fallback) over-reports once
    this process has grown."""
    import tempfile

    timer = ["/usr/bin/time", "-f", "%M"] if os.path.exists("/usr/bin/time") else []
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([*timer, *cmd], stdout=subprocess.PIPE, stderr=err, env=env)
        out = proc.stdout.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        err.seek(0)
        err_text = err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(map(str, cmd))}\n{out}{err_text}")
    peak = int(err_text.split()[-1]) / 1024 if timer else usage.ru_maxrss / 1024
    return wall, peak, out


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
    ap.add_argument("--tile", type=int, default=None, help="samples per tile side (default: kinship.TILE)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs; medians are reported")
    ap.add_argument("--modes", default="compute,stream,vcf")
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
        src = ["--vcf", vcf] if mode == "vcf" else ["--pfile", str(d / "bench")]
        spec = {"mode": mode, "vcf": vcf, "fasta": fasta, "dosage": str(d / "dosage.npy"),
                "ids": str(d / "ids.txt"), "threads": args.threads, "block_size": args.block_size,
                "tile": args.tile, "out": str(d / f"ours_{mode}.npy")}
        runs = []
        for _ in range(args.repeats):  # interleaved, so both see the same machine load
            p_wall, p_rss, _ = run_timed_rss([plink2, *src, "--make-king-table", "counts", "--threads",
                                          str(args.threads), "--out", str(d / f"plink_{mode}")])
            o_wall, _, out = run_timed_rss([sys.executable, "-c", child, json.dumps(spec)], env=env)
            info = json.loads(out.strip().splitlines()[-1])
            # the child's wall time (interpreter start and imports included) less the benchmark's
            # own check after it (reading the table back to compare with plink2's)
            runs.append((p_wall, p_rss, o_wall - info["check_s"], info))
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
        name = "write_king_table (file)" if mode == "stream" else "king_table"
        print(f"[{mode}] seq2pheno {name:24s}{o_wall:7.2f} s wall (load {info['load_s']:.2f} s, "
              f"kinship {info['king_s']:.2f} s, python start included, the check's {info['check_s']:.2f} s not), peak {info['peak_rss_mb']:.0f} MB")
        print(f"[{mode}] ratio ours/plink2 = {o_wall / p_wall:.2f} (median of {len(ratios)}: "
              f"{', '.join(f'{r:.2f}' for r in ratios)}; kinship step alone {info['king_s'] / p_wall:.2f}); "
              f"outputs equal: {same}")


if __name__ == "__main__":
    main()
