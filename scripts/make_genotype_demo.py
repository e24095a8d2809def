"""Regenerate the shipped genotype demo cohort in resources/genotypes/ (reproducible).

    python scripts/make_genotype_demo.py [--out resources/genotypes] [--seed 2026]

An msprime coalescent (4 autosomes x 250 kb, recombination, unrelated founders) plus planted
families (3 parent-offspring, 3 full-sib and 3 half-sib pairs, 2 duplicates), thinned to 5,000
biallelic SNVs with founder MAF >= 0.05; 300 samples, phased GT with 0.5% missing calls; a phenotype from 20 causal SNVs
(additive + 5 epistatic pairs + noise, h2 = 0.7) with 20 samples left unphenotyped.
Writes cohort.vcf.gz (+ .tbi), reference.fa.gz (bgzip, + .fai, .gzi), phenotypes.tsv
(id, phenotype, batch covariate) and families.tsv (kind, id1, id2: the planted relatives).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pysam

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import genotype_sim as gs  # noqa: E402


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "resources" / "genotypes"))
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    c = gs.simulate_cohort(283, n_contigs=4, contig_length=250_000, recombination_rate=4e-6,
                           mutation_rate=8e-8, n_parent_offspring=3, n_full_sibs=3, n_half_sibs=3,
                           n_duplicates=2, min_maf=0.05, max_sites=5000, morgans_per_contig=3.0, n_causal=20, n_epistatic_pairs=5,
                           heritability=0.7, seed=args.seed)
    assert len(c.ids) == 300, len(c.ids)
    gs.write_vcf(out / "cohort.vcf.gz", c, phased=True, missing_rate=0.005, seed=args.seed)
    plain = out / "reference.fa"
    gs.write_fasta(plain, c, index=False)
    pysam.tabix_compress(str(plain), str(out / "reference.fa.gz"), force=True)
    plain.unlink()
    for ext in (".fai", ".gzi"):
        p = out / ("reference.fa.gz" + ext)
        if p.exists():
            p.unlink()
    pysam.faidx(str(out / "reference.fa.gz"))
    left_out = gs.write_phenotypes(out / "phenotypes.tsv", c, unphenotyped=20, seed=args.seed)
    with open(out / "families.tsv", "w") as fh:
        fh.write("kind\tid1\tid2\n")
        for kind, members in c.families:
            fh.write(f"{kind}\t{members[0]}\t{members[1]}\n")
    print(f"{len(c.ids)} samples x {len(c.pos)} SNVs, {len(c.families)} planted families, "
          f"{len(left_out)} unphenotyped -> {out}")


if __name__ == "__main__":
    main()
