"""Simulated genotype cohorts for tests, benchmarks and the shipped demo.

Founders come from an msprime coalescent with recombination (one panmictic population, so
founders are unrelated); planted families are built by recombining founder haplotypes:

- ``parent_offspring``: founder parent P (in the cohort) x outside mate -> child C.
- ``full_sibs``: two children of the same two outside parents.
- ``half_sibs``: two children sharing one outside parent, each with a different other parent.
- ``duplicates``: a copy of a founder (optionally with a few genotype errors).

Outside parents are extra simulated founders that are not written to the VCF, so each planted
family is exactly the listed members. The cohort is written as a bgzipped, tabix-indexed VCF
(pysam), a FASTA whose bases at the variant sites equal the VCF REF alleles, and a phenotype
table built from causal SNVs (additive + pairwise epistasis + Gaussian noise).

Importable: ``from genotype_sim import simulate_cohort, write_cohort``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

BASES = np.array(list("ACGT"))


@dataclasses.dataclass
class Cohort:
    """A simulated cohort.

    haplotypes: int8, (2N, M): allele per haplotype (0 = REF, 1 = ALT); rows 2i, 2i+1 are sample i.
    chrom, pos (1-based), ref, alt: per site, length M. contigs: {name: length}.
    families: list of (kind, [ids]). phenotype: float64 (N,). causal: indices of causal sites.
    """

    ids: list
    haplotypes: np.ndarray
    chrom: np.ndarray
    pos: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    contigs: dict
    families: list
    phenotype: np.ndarray
    causal: np.ndarray
    reference: dict  # contig -> str sequence

    @property
    def dosage(self) -> np.ndarray:
        """int8 (N, M) ALT allele counts."""
        h = self.haplotypes
        return (h[0::2] + h[1::2]).astype(np.int8)


def random_reference(rng, contigs: dict, chrom: np.ndarray, pos: np.ndarray):
    """A random reference per contig with a REF base placed at each site and a different ALT.

    Returns (reference {contig: str}, ref (M,) str, alt (M,) str); ``pos`` is 1-based.
    """
    reference = {}
    ref = np.empty(len(pos), dtype="<U1")
    alt = np.empty(len(pos), dtype="<U1")
    for name, length in contigs.items():
        seq = BASES[rng.integers(0, 4, length)]
        sel = np.flatnonzero(chrom == name)
        r = rng.integers(0, 4, len(sel))
        a = (r + rng.integers(1, 4, len(sel))) % 4
        seq[pos[sel] - 1] = BASES[r]
        ref[sel], alt[sel] = BASES[r], BASES[a]
        reference[name] = "".join(seq.tolist())
    return reference, ref, alt


def _gamete(rng, hap_a, hap_b, pos_cm):
    """Recombine two haplotypes (M,) along genetic positions ``pos_cm`` (Morgans per contig)."""
    n_cross = rng.poisson(pos_cm[-1] - pos_cm[0] if len(pos_cm) else 0.0)
    cuts = np.sort(rng.uniform(pos_cm[0], pos_cm[-1], n_cross)) if n_cross else np.empty(0)
    phase = np.searchsorted(cuts, pos_cm) % 2  # number of crossovers before each site
    if rng.random() < 0.5:
        phase = 1 - phase
    return np.where(phase == 0, hap_a, hap_b).astype(np.int8)


def simulate_cohort(n_founders: int = 200, *, n_contigs: int = 4, contig_length: int = 1_000_000,
                    n_parent_offspring: int = 2, n_full_sibs: int = 2, n_half_sibs: int = 2,
                    n_duplicates: int = 2, max_sites: int | None = None, mutation_rate: float = 2e-8,
                    recombination_rate: float = 1e-7, population_size: int = 10_000,
                    morgans_per_contig: float = 1.0, n_causal: int = 20, n_epistatic_pairs: int = 5,
                    heritability: float = 0.7, duplicate_error_rate: float = 0.0,
                    min_maf: float = 0.0, seed: int = 1) -> Cohort:
    """Simulate founders with msprime and plant families; returns a :class:`Cohort`.

    Only biallelic sites (one mutation, infinite-sites then rounded; colliding positions dropped)
    are kept. ``min_maf`` drops founder sites with a lower minor allele frequency; ``max_sites``
    then thins at random to at most that many sites.
    """
    import msprime

    rng = np.random.default_rng(seed)
    n_outside = 2 * n_full_sibs + 3 * n_half_sibs + n_parent_offspring
    n_sim = n_founders + n_outside
    hap_blocks, chroms, positions = [], [], []
    contigs = {}
    for c in range(n_contigs):
        name = str(c + 1)
        contigs[name] = contig_length
        ts = msprime.sim_ancestry(samples=n_sim, ploidy=2, sequence_length=contig_length,
                                  recombination_rate=recombination_rate,
                                  population_size=population_size, random_seed=(seed * 1000 + c + 1) % (2**32 - 2) + 1)
        ts = msprime.sim_mutations(ts, rate=mutation_rate, model=msprime.BinaryMutationModel(),
                                   discrete_genome=False, random_seed=(seed * 1000 + c + 101) % (2**32 - 2) + 1)
        g = ts.genotype_matrix().astype(np.int8)  # (M, 2n)
        p = np.floor(ts.tables.sites.position).astype(np.int64) + 1
        keep = np.ones(len(p), bool)
        keep[1:] &= p[1:] != p[:-1]
        keep[:-1] &= p[:-1] != p[1:]
        keep &= (g.max(axis=1) == 1) & (p >= 1) & (p <= contig_length)
        hap_blocks.append(g[keep])
        chroms.append(np.full(keep.sum(), name))
        positions.append(p[keep])
    G = np.concatenate(hap_blocks, axis=0)
    chrom = np.concatenate(chroms)
    pos = np.concatenate(positions)
    if min_maf > 0:
        f = G[:, : 2 * n_founders].mean(axis=1)
        ok = np.minimum(f, 1 - f) >= min_maf
        G, chrom, pos = G[ok], chrom[ok], pos[ok]
    if max_sites is not None and len(pos) > max_sites:
        idx = np.sort(rng.choice(len(pos), max_sites, replace=False))
        G, chrom, pos = G[idx], chrom[idx], pos[idx]
    H = np.ascontiguousarray(G.T)  # (2n, M)
    M = H.shape[1]
    # genetic positions in Morgans for recombining
    cm = np.empty(M)
    for name in contigs:
        sel = chrom == name
        cm[sel] = pos[sel] / contig_length * morgans_per_contig + list(contigs).index(name) * 1000.0

    def gamete(ind):
        out = np.empty(M, np.int8)
        for name in contigs:
            sel = np.flatnonzero(chrom == name)
            out[sel] = _gamete(rng, H[2 * ind, sel], H[2 * ind + 1, sel], cm[sel])
        return out

    ids = [f"s{i:04d}" for i in range(n_founders)]
    haps = [H[: 2 * n_founders]]
    families = []
    outside = list(range(n_founders, n_sim))
    for k in range(n_parent_offspring):
        parent = int(rng.integers(n_founders))
        mate = outside.pop()
        cid = f"po{k}_child"
        haps.append(np.stack([gamete(parent), gamete(mate)]))
        ids.append(cid)
        families.append(("parent_offspring", [ids[parent], cid]))
    for k in range(n_full_sibs):
        a, b = outside.pop(), outside.pop()
        members = []
        for j in range(2):
            haps.append(np.stack([gamete(a), gamete(b)]))
            ids.append(f"fs{k}_{j}")
            members.append(ids[-1])
        families.append(("full_sibs", members))
    for k in range(n_half_sibs):
        shared, m1, m2 = outside.pop(), outside.pop(), outside.pop()
        members = []
        for j, mate in enumerate((m1, m2)):
            haps.append(np.stack([gamete(shared), gamete(mate)]))
            ids.append(f"hs{k}_{j}")
            members.append(ids[-1])
        families.append(("half_sibs", members))
    for k in range(n_duplicates):
        src = int(rng.integers(n_founders))
        h = H[2 * src: 2 * src + 2].copy()
        if duplicate_error_rate > 0:
            err = rng.random(h.shape) < duplicate_error_rate
            h[err] = 1 - h[err]
        haps.append(h)
        ids.append(f"dup{k}_of_{ids[src]}")
        families.append(("duplicates", [ids[src], ids[-1]]))
    haplotypes = np.concatenate(haps, axis=0).astype(np.int8)

    reference, ref, alt = random_reference(rng, contigs, chrom, pos)

    # phenotype: additive + pairwise epistasis + noise, on common sites
    dos = haplotypes[0::2] + haplotypes[1::2]  # int8 (N, M)
    freq = dos.sum(axis=0, dtype=np.int64) / (2 * dos.shape[0])
    common = np.flatnonzero((freq > 0.05) & (freq < 0.95))
    n_causal = min(n_causal, len(common))
    causal = np.sort(rng.choice(common, n_causal, replace=False)) if n_causal else np.empty(0, int)
    Zc = dos[:, causal].astype(float)
    Z = Zc - Zc.mean(axis=0)
    g = Z @ rng.normal(0, 1, n_causal) if n_causal else np.zeros(len(ids))
    for _ in range(n_epistatic_pairs if n_causal >= 2 else 0):
        i, j = rng.choice(n_causal, 2, replace=False)
        g = g + rng.normal(0, 1) * Z[:, i] * Z[:, j]
    vg = g.var() if g.var() > 0 else 1.0
    noise = rng.normal(0, np.sqrt(vg * (1 - heritability) / heritability), len(ids))
    phenotype = g + noise
    return Cohort(ids=ids, haplotypes=haplotypes, chrom=chrom, pos=pos, ref=ref, alt=alt,
                  contigs=contigs, families=families, phenotype=phenotype, causal=causal,
                  reference=reference)


def _gt_text(haplotypes: np.ndarray, phased: bool, missing: np.ndarray | None) -> np.ndarray:
    """uint8 (M, 4N) bytes of the sample columns of each VCF line ('a|b\\t' ..., last tab -> newline)."""
    n2, M = haplotypes.shape
    N = n2 // 2
    out = np.empty((M, N, 4), np.uint8)
    out[:, :, 0] = (haplotypes[0::2].T + ord("0")).astype(np.uint8)
    out[:, :, 1] = ord("|") if phased else ord("/")
    out[:, :, 2] = (haplotypes[1::2].T + ord("0")).astype(np.uint8)
    out[:, :, 3] = ord("\t")
    if missing is not None:  # (N, M) bool
        out[missing.T, 0] = ord(".")
        out[missing.T, 2] = ord(".")
    out[:, -1, 3] = ord("\n")
    return out.reshape(M, 4 * N)


def write_vcf(path: str | os.PathLike, cohort: Cohort, *, phased: bool = True,
              missing_rate: float = 0.0, seed: int = 0, index: bool = True) -> Path:
    """Write ``cohort`` as VCF; ``path`` ending in .gz is bgzipped (pysam) and tabix-indexed."""
    import pysam

    path = Path(path)
    rng = np.random.default_rng(seed)
    plain = path.with_suffix("") if path.suffix == ".gz" else path
    header = ["##fileformat=VCFv4.2", "##source=seq2pheno tests/genotype_sim.py"]
    header += [f"##contig=<ID={c},length={n}>" for c, n in cohort.contigs.items()]
    header.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    header.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT",
                             *cohort.ids]))
    chunk = 2000
    with open(plain, "wb") as fh:
        fh.write(("\n".join(header) + "\n").encode())
        M = len(cohort.pos)
        for s in range(0, M, chunk):
            e = min(M, s + chunk)
            missing = (rng.random((len(cohort.ids), e - s)) < missing_rate) if missing_rate > 0 else None
            gt = _gt_text(cohort.haplotypes[:, s:e], phased, missing)
            for k in range(e - s):
                i = s + k
                fh.write(f"{cohort.chrom[i]}\t{cohort.pos[i]}\t.\t{cohort.ref[i]}\t{cohort.alt[i]}"
                         f"\t.\tPASS\t.\tGT\t".encode())
                fh.write(gt[k].tobytes())
    if path.suffix == ".gz":
        pysam.tabix_compress(str(plain), str(path), force=True)
        plain.unlink()
        if index:
            pysam.tabix_index(str(path), preset="vcf", force=True)
    return path


def write_fasta(path: str | os.PathLike, cohort: Cohort, width: int = 60, index: bool = True) -> Path:
    """Write the cohort's reference as FASTA (and a .fai index with pysam)."""
    import pysam

    path = Path(path)
    with open(path, "w") as fh:
        for name, seq in cohort.reference.items():
            fh.write(f">{name}\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i:i + width] + "\n")
    if index:
        pysam.faidx(str(path))
    return path


def write_phenotypes(path: str | os.PathLike, cohort: Cohort, *, unphenotyped: int = 0,
                     seed: int = 0, covariates: bool = True) -> list:
    """Write id, phenotype (+ a covariate ``batch``) TSV; the last ``unphenotyped`` founders
    (chosen at random among founders) are left out. Returns the ids left out."""
    rng = np.random.default_rng(seed)
    founders = [i for i, s in enumerate(cohort.ids) if s.startswith("s")]
    drop = set(rng.choice(founders, unphenotyped, replace=False).tolist()) if unphenotyped else set()
    with open(path, "w") as fh:
        fh.write("id\tphenotype" + ("\tbatch" if covariates else "") + "\n")
        for i, s in enumerate(cohort.ids):
            if i in drop:
                continue
            row = f"{s}\t{cohort.phenotype[i]:.6f}"
            if covariates:
                row += f"\t{int(rng.integers(0, 3))}"
            fh.write(row + "\n")
    return [cohort.ids[i] for i in sorted(drop)]


def write_cohort(directory: str | os.PathLike, cohort: Cohort, *, phased: bool = True,
                 missing_rate: float = 0.0, unphenotyped: int = 0, seed: int = 0) -> dict:
    """Write cohort.vcf.gz (+ .tbi), reference.fa (+ .fai), phenotypes.tsv into ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    vcf = write_vcf(d / "cohort.vcf.gz", cohort, phased=phased, missing_rate=missing_rate, seed=seed)
    fasta = write_fasta(d / "reference.fa", cohort)
    ph = d / "phenotypes.tsv"
    left_out = write_phenotypes(ph, cohort, unphenotyped=unphenotyped, seed=seed)
    return {"vcf": vcf, "fasta": fasta, "phenotypes": ph, "unphenotyped": left_out}


def benchmark_files(workdir: str | os.PathLike, n_samples: int = 2000, n_sites: int = 100_000,
                    seed: int = 7) -> dict:
    """A large msprime cohort for benchmarks (cached in ``workdir``): bgzipped+indexed VCF,
    FASTA, phenotypes. 4 autosomes, realistic site-frequency spectrum, 0.2% missing calls."""
    d = Path(workdir) / f"cohort_{n_samples}x{n_sites}_s{seed}"
    done = d / "DONE"
    if done.exists():
        return {"vcf": d / "cohort.vcf.gz", "fasta": d / "reference.fa", "phenotypes": d / "phenotypes.tsv"}
    n_planted = 2 + 4 + 4 + 2
    length = int(n_sites / 0.0065 / 4) + 100_000
    c = simulate_cohort(n_samples - n_planted, n_contigs=4, contig_length=length, mutation_rate=2e-8,
                        recombination_rate=1e-8, max_sites=n_sites, seed=seed)
    files = write_cohort(d, c, phased=False, missing_rate=0.002, seed=seed)
    done.write_text("ok\n")
    return files
