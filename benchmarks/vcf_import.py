"""VCF to tensor: seq2pheno.vcf.read_genotypes + tensor vs `bcftools query -f '[%GT\\t]\\n'`.

    nice -n 10 python benchmarks/vcf_import.py [--samples 2000] [--snvs 100000] [--write]

Same bgzipped VCF (tests/genotype_sim.benchmark_files, cached in --workdir), same run, each in
its own child process. bcftools prints every GT to /dev/null; ours reads the VCF against its
FASTA (REF checks included), then builds the float32 allele-composition tensor (N x M x 4) in
chunks of 128 rows (kept in memory and discarded, or written to onehot.npy with --write).
Prints wall times, peak memory of ours, and the ratio.
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

CHILD = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, {root!r})
from seq2pheno.vcf import read_genotypes, write_genotype_cohort
import pandas as pd
a = json.loads(sys.argv[1])
t0 = time.perf_counter()
g = read_genotypes(a["vcf"], a["fasta"])
t1 = time.perf_counter()
if a["write"]:
    out = a["outdir"]
    write_genotype_cohort(g, pd.DataFrame({{"id": g.samples, "phenotype": np.nan}}),
                          out + "/samples.tsv", out + "/onehot.npy", out + "/features.tsv", chunk_rows=128)
else:
    for s in range(0, g.n_rows, 128):
        x, m = g.tensor(np.arange(s, min(g.n_rows, s + 128)))
t2 = time.perf_counter()
print(json.dumps({{"read_s": t1 - t0, "tensor_s": t2 - t1, "shape": list(g.shape),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def main(argv=None) -> None:
    import genotype_sim as gs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--snvs", type=int, default=100_000)
    ap.add_argument("--write", action="store_true", help="write onehot.npy (3.2 GB at the default size)")
    ap.add_argument("--workdir", default="/tmp/seq2pheno_bench")
    args = ap.parse_args(argv)
    files = gs.benchmark_files(Path(args.workdir), args.samples, args.snvs)
    vcf = str(files["vcf"])
    t0 = time.perf_counter()
    with open(os.devnull, "w") as null:
        subprocess.run(["bcftools", "query", "-f", "[%GT\\t]\\n", vcf], stdout=null, check=True)
    t_bcf = time.perf_counter() - t0
    spec = {"vcf": vcf, "fasta": str(files["fasta"]), "write": args.write,
            "outdir": str(Path(files["vcf"]).parent)}
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT)), json.dumps(spec)],
                         capture_output=True, text=True)
    t_ours = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(res.stderr)
    info = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"VCF import, {args.samples} samples x {args.snvs} SNVs (machine load {os.getloadavg()[0]:.1f})")
    print(f"bcftools query -f '[%GT\\t]\\n' > /dev/null: {t_bcf:7.2f} s")
    print(f"seq2pheno read_genotypes + tensor:        {t_ours:7.2f} s wall (read {info['read_s']:.2f} s, "
          f"tensor {info['tensor_s']:.2f} s{' incl. writing onehot.npy' if args.write else ''}; "
          f"tensor {tuple(info['shape'])}; peak {info['peak_rss_mb']:.0f} MB)")
    print(f"ratio ours/bcftools = {t_ours / t_bcf:.2f}")


if __name__ == "__main__":
    main()
