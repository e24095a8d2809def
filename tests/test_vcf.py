"""VCF/BCF import: encodings, REF checks, missing calls, filters, phenotypes, bad inputs."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

from seq2pheno.errors import InputError
from seq2pheno.vcf import (filter_variants_samples, impute_missing, join_phenotypes, parse_regions,
                           read_genotypes, write_genotype_cohort, Reference)

DATA = Path(__file__).parent / "data" / "vcf"
FA = DATA / "ref.fa"
sys.path.insert(0, str(Path(__file__).parent))

A, C, G, T = np.eye(4, dtype=np.float32)
Z4 = np.zeros(4, np.float32)


def _bgzip_index(src: Path, dst: Path) -> Path:
    pysam.tabix_compress(str(src), str(dst), force=True)
    pysam.tabix_index(str(dst), preset="vcf", force=True)
    return dst


def test_small_vcf_tensor_hom_het_multiallelic_missing_haploid():
    g = read_genotypes(DATA / "small.vcf", FA)
    assert g.samples == ["s1", "s2", "s3"]
    assert g.features[["chrom", "pos", "ref", "alt"]].values.tolist() == [
        ["chr1", 1, "A", "G"], ["chr1", 2, "C", "T,A"], ["chr1", 5, "A", "C"],
        ["chr1", 6, "C", "G"], ["chr1", 11, "G", "T"], ["chrM", 1, "G", "A"]]
    assert g.features["position"].tolist() == list(range(6))
    t, m = g.tensor()
    assert t.dtype == np.float32 and t.shape == (3, 6, 4)
    expected = np.array([
        # s1: A/A, T/A (1/2), missing, C/G, G|T, haploid G
        [A, (T + A) / 2, Z4, (C + G) / 2, (G + T) / 2, G],
        # s2: A/G, C/A, A/C, 2/2 = dropped indel allele -> missing, T|G, haploid A
        [(A + G) / 2, (C + A) / 2, (A + C) / 2, Z4, (T + G) / 2, A],
        # s3: G/G, A/A, half-call ./1 -> missing, 1/2 with allele 2 dropped -> missing, T|T, '.'
        [G, A, Z4, Z4, T, Z4],
    ])
    np.testing.assert_array_equal(t, expected)
    np.testing.assert_array_equal(m, [[0, 0, 1, 0, 0, 0], [0, 0, 0, 1, 0, 0], [0, 0, 1, 1, 0, 1]])
    assert g.skipped["indel"] == 1 and g.skipped["symbolic"] == 1 and g.skipped["mnp"] == 1
    assert g.skipped["non_snv_allele"] == 1


def test_missing_reference_and_error():
    g = read_genotypes(DATA / "small.vcf", FA, missing="reference")
    t, m = g.tensor()
    assert not m.any()
    np.testing.assert_array_equal(t[0, 2], A)   # ./. -> A/A
    np.testing.assert_array_equal(t[2, 5], G)   # haploid '.' -> REF G
    np.testing.assert_array_equal(t[1, 3], C)   # dropped-allele call -> REF
    assert g.skipped["missing_set_to_reference"] == 5
    with pytest.raises(InputError, match=r"small.vcf: sample 's1': record chr1:5 \(VCF line 11\): missing"):
        read_genotypes(DATA / "small.vcf", FA, missing="error")


def test_impute_missing_uses_training_rows_only():
    g = read_genotypes(DATA / "small.vcf", FA)
    t, m = g.tensor()
    out = impute_missing(t, m, train_rows=[0, 1])
    # column 2 (chr1:5): only s2 (A/C) is called among training rows -> 0.5 A + 0.5 C
    np.testing.assert_allclose(out[0, 2], (A + C) / 2)
    np.testing.assert_allclose(out[2, 2], (A + C) / 2)
    # column 5 (chrM:1): s1 G, s2 A among training rows -> 0.5/0.5; s3 filled with it
    np.testing.assert_allclose(out[2, 5], (A + G) / 2)
    # column 3: s1 C/G is the only called training row; test row s3 gets it
    np.testing.assert_allclose(out[2, 3], (C + G) / 2)
    np.testing.assert_array_equal(out[~m], t[~m])  # called entries untouched
    np.testing.assert_allclose(out.sum(axis=2), 1.0)


def test_ref_check_error_names_record_and_line_and_skip_counts():
    with pytest.raises(InputError) as err:
        read_genotypes(DATA / "ref_mismatch.vcf", FA)
    msg = str(err.value)
    assert "ref_mismatch.vcf" in msg and "chr1:4" in msg and "VCF line 9" in msg and "'T'" in msg
    assert "\n" not in msg
    g = read_genotypes(DATA / "ref_mismatch.vcf", FA, ref_mismatch="skip")
    assert g.skipped["ref_mismatch"] == 1
    assert g.features["pos"].tolist() == [1, 5]


def _bcftools():
    exe = shutil.which("bcftools")
    if exe is None:
        pytest.fail("bcftools not found: install it with 'apt-get install -y bcftools tabix'")
    return exe


def test_ref_check_agrees_with_bcftools_norm(tmp_path):
    bcftools = _bcftools()
    fa = tmp_path / "ref.fa"
    shutil.copy(FA, fa)
    pysam.faidx(str(fa))
    bad = subprocess.run([bcftools, "norm", "--check-ref", "e", "-f", str(fa), str(DATA / "ref_mismatch.vcf")],
                         capture_output=True, text=True)
    ok = subprocess.run([bcftools, "norm", "--check-ref", "e", "-f", str(fa), str(DATA / "small.vcf")],
                        capture_output=True, text=True)
    assert bad.returncode != 0 and "chr1:4" in bad.stderr
    assert ok.returncode == 0
    read_genotypes(DATA / "small.vcf", fa)  # indexed FASTA path, no error either


def test_non_snv_error_mode():
    with pytest.raises(InputError, match=r"chr1:3 .*not a single-nucleotide variant"):
        read_genotypes(DATA / "small.vcf", FA, non_snv="error")


def test_haplotypes_two_rows_per_sample():
    g = read_genotypes(DATA / "phased.vcf", FA, haplotypes=True)
    t, m = g.tensor()
    assert t.shape == (6, 3, 4) and not m.any()
    # s1: 0|1 at chr1:1 (A,G), 1|0 at chr1:3 (C,G), haploid 1 at chrM:2 (T on both rows)
    np.testing.assert_array_equal(t[0], [A, C, T])
    np.testing.assert_array_equal(t[1], [G, G, T])
    np.testing.assert_array_equal(t[2], [G, G, G])
    np.testing.assert_array_equal(t[3], [G, G, G])
    with pytest.raises(InputError, match=r"unphased heterozygous.*sample 's1'|sample 's1'.*unphased"):
        read_genotypes(DATA / "unphased.vcf", FA, haplotypes=True)


def test_sequence_encoding_regions_string_and_bed():
    g = read_genotypes(DATA / "phased.vcf", FA, encoding="sequence", regions=["chr1:1-4", "chrM:1-3"])
    t, m = g.tensor()
    assert t.shape == (3, 7, 4)
    assert g.features["pos"].tolist() == [1, 2, 3, 4, 1, 2, 3]
    assert g.features["ref"].tolist() == list("ACGTGGG")
    assert g.features["alt"].tolist() == ["G", "", "C", "", "", "T", ""]
    np.testing.assert_array_equal(t[0], [(A + G) / 2, C, (G + C) / 2, T, G, T, G])
    np.testing.assert_array_equal(t[1], [G, C, G, T, G, G, G])
    h = read_genotypes(DATA / "phased.vcf", FA, encoding="sequence", regions=["chr1:1-4"], haplotypes=True)
    th, _ = h.tensor()
    np.testing.assert_array_equal(th[0], [A, C, C, T])
    np.testing.assert_array_equal(th[1], [G, C, G, T])
    b = read_genotypes(DATA / "small.vcf", FA, encoding="sequence", regions=DATA / "regions.bed")
    assert len(b.features) == 12 + 4
    with pytest.raises(InputError, match="needs regions"):
        read_genotypes(DATA / "small.vcf", FA, encoding="sequence")


def test_regions_samples_and_bgzip_bcf_agree(tmp_path):
    gz = _bgzip_index(DATA / "small.vcf", tmp_path / "small.vcf.gz")
    bcf = tmp_path / "small.bcf"
    subprocess.run([_bcftools(), "view", "-Ob", "-o", str(bcf), str(gz)], check=True)
    unindexed_bcf = tmp_path / "copy.bcf"
    shutil.copy(bcf, unindexed_bcf)
    subprocess.run([_bcftools(), "index", str(bcf)], check=True)
    ref = read_genotypes(DATA / "small.vcf", FA)
    for path in (gz, bcf):
        g = read_genotypes(path, FA)
        np.testing.assert_array_equal(g.tensor()[0], ref.tensor()[0])
        assert g.skipped == ref.skipped
    for path in (gz, bcf, unindexed_bcf):  # indexed (tabix, csi) and unindexed region queries
        sub = read_genotypes(path, FA, regions="chr1:2-6", samples=["s3", "s1"])
        assert sub.samples == ["s1", "s3"]
        assert sub.features["pos"].tolist() == [2, 5, 6]
        np.testing.assert_array_equal(sub.tensor()[0], ref.tensor()[0][[0, 2]][:, 1:4])
    ids = tmp_path / "ids.txt"
    ids.write_text("s2\n")
    assert read_genotypes(DATA / "small.vcf", FA, samples=ids, regions="chr1:1-2").samples == ["s2"]
    with pytest.raises(InputError, match="not in"):
        read_genotypes(DATA / "small.vcf", FA, samples=["s1", "nobody"])


# ------------------------------------------------------------------------------ bad inputs
def test_vcf_without_gt():
    with pytest.raises(InputError, match=r"no_gt.vcf: has no FORMAT/GT"):
        read_genotypes(DATA / "no_gt.vcf", FA)


def test_contig_absent_from_fasta():
    with pytest.raises(InputError, match=r"bad_contig.vcf: record chr2:4 \(VCF line 10\): contig 'chr2' is not in"):
        read_genotypes(DATA / "bad_contig.vcf", FA)


def test_truncated_vcf_gz(tmp_path):
    gz = tmp_path / "big.vcf.gz"
    import genotype_sim as gs

    c = gs.simulate_cohort(20, n_contigs=1, contig_length=200_000, seed=2)
    gs.write_vcf(gz, c, index=False)
    data = gz.read_bytes()
    cut = tmp_path / "cut.vcf.gz"
    cut.write_bytes(data[: len(data) // 2])
    gs.write_fasta(tmp_path / "ref.fa", c)
    with pytest.raises(InputError, match=r"cut.vcf.gz: truncated"):
        read_genotypes(cut, tmp_path / "ref.fa")


def test_region_outside_contig():
    with pytest.raises(InputError, match=r"region chr1:30-50 lies outside contig 'chr1' \(length 40\)"):
        read_genotypes(DATA / "small.vcf", FA, regions="chr1:30-50")
    with pytest.raises(InputError, match=r"contig 'chr9' is not in the reference"):
        read_genotypes(DATA / "small.vcf", FA, regions=["chr9:1-5"])
    with pytest.raises(InputError, match="not 'chrom:start-end'"):
        parse_regions("chr1-5")


def test_duplicate_sample_ids_in_vcf():
    with pytest.raises(InputError, match=r"dup_samples.vcf:7: sample 's1': sample id appears twice"):
        read_genotypes(DATA / "dup_samples.vcf", FA)


def test_file_not_what_extension_says(tmp_path):
    fake_bcf = tmp_path / "x.bcf"
    shutil.copy(DATA / "small.vcf", fake_bcf)
    with pytest.raises(InputError, match=r"x.bcf: named .bcf but is not BCF"):
        read_genotypes(fake_bcf, FA)
    plain_gz = tmp_path / "x.vcf.gz"
    plain_gz.write_bytes(gzip.compress((DATA / "small.vcf").read_bytes()))
    with pytest.raises(InputError, match=r"x.vcf.gz: is gzip-compressed but not bgzip"):
        read_genotypes(plain_gz, FA)
    text_gz = tmp_path / "y.vcf.gz"
    shutil.copy(DATA / "small.vcf", text_gz)
    with pytest.raises(InputError, match=r"y.vcf.gz: named .gz but is not a bgzipped VCF"):
        read_genotypes(text_gz, FA)
    bgz_as_vcf = tmp_path / "z.vcf"
    _bgzip_index(DATA / "small.vcf", tmp_path / "z0.vcf.gz")
    shutil.copy(tmp_path / "z0.vcf.gz", bgz_as_vcf)
    with pytest.raises(InputError, match=r"z.vcf: named .vcf but is not plain VCF"):
        read_genotypes(bgz_as_vcf, FA)
    not_fasta = tmp_path / "ref.fa"
    not_fasta.write_text("hello\n")
    with pytest.raises(InputError, match="ref.fa"):
        Reference(not_fasta)


def test_every_variant_filtered_out():
    with pytest.raises(InputError, match=r"only_indels.vcf: no SNV records left.*indel"):
        read_genotypes(DATA / "only_indels.vcf", FA)
    g = read_genotypes(DATA / "small.vcf", FA)
    with pytest.raises(InputError, match="every variant was filtered out"):
        filter_variants_samples(g, min_maf=0.6)


# ------------------------------------------------------------------------------ phenotypes
def test_join_phenotypes_unphenotyped_and_missing_ids():
    table, rep = join_phenotypes(["s1", "s2", "s3"], DATA / "phenotypes.tsv", covariates=["age"])
    assert table["id"].tolist() == ["s1", "s2", "s3"]
    assert table["phenotype"].tolist()[:2] == [1.5, -0.25] and np.isnan(table["phenotype"][2])
    assert table["age"].tolist()[:2] == [30, 41]
    assert rep["unphenotyped"] == ["s3"] and rep["missing_from_vcf"] == []
    with pytest.raises(InputError, match=r"phenotypes_extra.csv|phenotypes_extra.tsv"):
        join_phenotypes(["s1", "s2", "s3"], DATA / "phenotypes_extra.tsv")


def test_join_phenotypes_csv_drop_and_errors(tmp_path):
    csv = tmp_path / "ph.csv"
    csv.write_text((DATA / "phenotypes_extra.tsv").read_text())
    with pytest.raises(InputError, match=r"ph.csv: sample 's9': 1 phenotyped id\(s\) are not in the VCF"):
        join_phenotypes(["s1", "s2", "s3"], csv)
    table, rep = join_phenotypes(["s1", "s2", "s3"], csv, missing_ids="drop")
    assert rep["missing_from_vcf"] == ["s9"] and len(table) == 3
    with pytest.raises(InputError, match=r"phenotypes_dup.tsv:4: sample 's1': phenotype table lists this id twice"):
        join_phenotypes(["s1", "s2", "s3"], DATA / "phenotypes_dup.tsv")
    with pytest.raises(InputError, match="no id in common"):
        join_phenotypes(["s1", "s2", "s3"], DATA / "phenotypes_disjoint.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("id\tphenotype\ns1\tabc\n")
    with pytest.raises(InputError, match=r"bad.tsv:2: sample 's1': phenotype 'abc' is not a number"):
        join_phenotypes(["s1"], bad)


def test_write_genotype_cohort(tmp_path):
    g = read_genotypes(DATA / "small.vcf", FA)
    table, _ = join_phenotypes(g.samples, DATA / "phenotypes.tsv", covariates=["age"])
    out = tmp_path / "data"
    write_genotype_cohort(g, table, out / "samples.tsv", out / "onehot.npy", out / "features.tsv",
                          missing_npy=out / "missing.npy", chunk_rows=2)
    assert sorted(p.name for p in out.iterdir()) == ["features.tsv", "missing.npy", "onehot.npy", "samples.tsv"]
    arr = np.load(out / "onehot.npy", mmap_mode="r")
    np.testing.assert_array_equal(arr, g.tensor()[0])
    np.testing.assert_array_equal(np.load(out / "missing.npy"), g.tensor()[1])
    s = pd.read_csv(out / "samples.tsv", sep="\t")
    assert s.columns.tolist() == ["id", "phenotype", "age"] and s["phenotype"].isna().tolist() == [False, False, True]
    f = pd.read_csv(out / "features.tsv", sep="\t", keep_default_na=False)
    assert f.columns.tolist() == ["position", "chrom", "pos", "ref", "alt"]
    # haplotype rows follow samples.tsv: rows 2i, 2i+1
    h = read_genotypes(DATA / "phased.vcf", FA, haplotypes=True)
    write_genotype_cohort(h, table.iloc[[2, 0]], out / "s2.tsv", out / "o2.npy", out / "f2.tsv")
    arr2 = np.load(out / "o2.npy")
    np.testing.assert_array_equal(arr2, h.tensor([4, 5, 0, 1])[0])


# ------------------------------------------------------------------------------ filters vs plink2
def _plink2():
    exe = shutil.which("plink2")
    if exe is None:
        pytest.fail("plink2 not found: install it with 'apt-get install -y plink2' (Debian 12: plink2 2.00~a3.5)")
    return exe


def test_filters_match_plink2_order_and_counts(tmp_path):
    import genotype_sim as gs

    plink2 = _plink2()
    c = gs.simulate_cohort(40, n_contigs=1, contig_length=300_000, n_parent_offspring=0, n_full_sibs=0,
                           n_half_sibs=0, n_duplicates=0, seed=5)
    rng = np.random.default_rng(0)
    # per-sample and per-variant missingness of varied rates, so both filters bite
    N, M = len(c.ids), c.haplotypes.shape[1]
    p = rng.uniform(0, 0.15, N)[:, None] + rng.uniform(0, 0.15, M)[None, :]
    p[:3] += 0.3
    miss = rng.random((N, M)) < p
    vcf = tmp_path / "m.vcf"
    gs.write_vcf(vcf, c, phased=False)
    lines = vcf.read_text().splitlines()
    hdr = [ln for ln in lines if ln.startswith("#")]
    body = [ln.split("\t") for ln in lines if not ln.startswith("#")]
    for m, f in enumerate(body):
        for n in np.flatnonzero(miss[:, m]):
            f[9 + n] = "./."
    vcf.write_text("\n".join(hdr + ["\t".join(f) for f in body]) + "\n")
    gs.write_fasta(tmp_path / "ref.fa", c)
    g = read_genotypes(vcf, tmp_path / "ref.fa")
    res = filter_variants_samples(g, max_missing_sample=0.2, max_missing_variant=0.15, min_maf=0.05)
    subprocess.run([plink2, "--vcf", str(vcf), "--mind", "0.2", "--geno", "0.15", "--maf", "0.05",
                    "--set-all-var-ids", "@:#", "--write-snplist", "--write-samples", "--threads", "1",
                    "--out", str(tmp_path / "p")], check=True, capture_output=True)
    kept_s = (tmp_path / "p.id").read_text().split()[1:]
    kept_v = (tmp_path / "p.snplist").read_text().split()
    assert [s for s, k in zip(g.samples, res["samples"]) if k] == kept_s
    ours = (g.sites["chrom"] + ":" + g.sites["pos"].astype(str))[res["sites"]].tolist()
    assert ours == kept_v
    assert set(res["removed"]["reason"]) == {"mind", "geno", "maf"}
    sub = g.subset(res["samples"], res["sites"])
    assert sub.tensor()[0].shape == (len(kept_s), len(kept_v), 4)


def test_multidigit_alleles_extra_format_fields_and_gt_not_first():
    g = read_genotypes(DATA / "multidigit.vcf", FA)
    assert g.features["alt"].tolist() == ["C,G,T", "G", "T"]
    assert g.skipped["non_snv_allele"] == 8
    t, m = g.tensor()
    # a: 10/1 (allele 10 is an indel -> missing), 0/1, 0/1 (DP:GT order)
    np.testing.assert_array_equal(m, [[1, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(t[1], [T, G, T])           # 3/3, 1|1, 1/1
    np.testing.assert_array_equal(t[2, 0], (A + G) / 2)     # 0/2
    np.testing.assert_array_equal(t[3], [C, C, T])           # haploid 1, 0/0, 1/1
    np.testing.assert_array_equal(t[0, 2], (G + T) / 2)


# ------------------------------------------------------------------------------ chunked reading
CHUNK_CONTIGS = {"chr1": 4000, "chr2": 2500, "chr3": 900}       # header order
CHUNK_FILE_ORDER = ["chr2", "chr1", "chr3"]                      # record order: not the header's
CHUNK_RECORDS = {"chr1": 40, "chr2": 25, "chr3": 12}
CHUNK_KS = [1, 2, 3, 7]
CHUNK_DELETIONS = {"chr1": (1000, 1800), "chr2": (2400, 2480)}   # long REFs across chunk cuts


def write_multicontig_vcf(d: Path, *, phased: bool, seed: int = 0, n_samples: int = 14) -> dict:
    """A three-contig cohort whose records are not in the header's contig order: SNVs,
    multi-allelic records, indels and symbolic alleles (skipped or dropped), missing calls and
    half-calls, haploid calls on chr3, and sample x03 missing half its calls on chr1 only (so
    its call rate differs from chunk to chunk). Writes cohort.vcf (plain), cohort.vcf.gz (+ .tbi),
    unindexed.vcf.gz, cohort.bcf (+ .csi), ref.fa (+ .fai), phenotypes.tsv; returns their paths."""
    from pysam import bcftools

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    seqs = {c: "".join(rng.choice(list("ACGT"), n)) for c, n in CHUNK_CONTIGS.items()}
    fasta = d / "ref.fa"
    fasta.write_text("".join(f">{c}\n{s}\n" for c, s in seqs.items()))
    pysam.faidx(str(fasta))
    ids = [f"x{i:02d}" for i in range(n_samples)]
    lines = ["##fileformat=VCFv4.2", *(f"##contig=<ID={c},length={n}>" for c, n in CHUNK_CONTIGS.items()),
             '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
             "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *ids])]
    sep = "|" if phased else "/"
    for chrom in CHUNK_FILE_ORDER:
        positions = set(rng.choice(np.arange(1, CHUNK_CONTIGS[chrom] + 1), CHUNK_RECORDS[chrom], replace=False))
        long_deletion = CHUNK_DELETIONS.get(chrom)
        if long_deletion:
            positions.add(long_deletion[0])
        for p in sorted(positions):
            ref = seqs[chrom][p - 1]
            others = [b for b in "ACGT" if b != ref]
            u = rng.random()
            if long_deletion and p == long_deletion[0]:    # spans where chunks are cut: counted once
                ref, u = seqs[chrom][p - 1:long_deletion[1]], 0.0
            alts = ([ref[0]] if len(ref) > 1 else [ref + "T"] if u < 0.06 else list(rng.choice(others, 2, replace=False)) if u < 0.2
                    else [str(rng.choice(others)), "<*>"] if u < 0.25 else [str(rng.choice(others))])
            freq = rng.dirichlet(np.ones(len(alts) + 1) * 0.7)
            gts = []
            for s in range(n_samples):
                a = rng.choice(len(alts) + 1, 2, p=freq)
                miss = 0.5 if (s == 3 and chrom == "chr1") else 0.04
                if chrom == "chr3" and s == 0:
                    gts.append(str(a[0]))                                  # haploid
                elif rng.random() < miss:
                    gts.append(f".{sep}.")
                elif rng.random() < 0.02:
                    gts.append(f".{sep}{a[1]}")                            # half-call: missing
                else:
                    gts.append(f"{a[0]}{sep}{a[1]}")
            lines.append("\t".join([chrom, str(p), ".", ref, ",".join(alts), ".", "PASS", ".", "GT", *gts]))
    plain = d / "cohort.vcf"
    plain.write_text("\n".join(lines) + "\n")
    gz = d / "cohort.vcf.gz"
    pysam.tabix_compress(str(plain), str(gz), force=True)
    pysam.tabix_index(str(gz), preset="vcf", force=True)
    unindexed = d / "unindexed.vcf.gz"
    shutil.copy(gz, unindexed)
    bcf = d / "cohort.bcf"
    bcftools.view("-Ob", "-o", str(bcf), str(gz), catch_stdout=False)
    bcftools.index("--csi", str(bcf))
    phenotypes = d / "phenotypes.tsv"
    values = [f"{v:.4f}" for v in rng.normal(0, 1, n_samples)]
    values[5] = ""                                                         # unphenotyped
    phenotypes.write_text("id\tphenotype\n" + "".join(f"{i}\t{v}\n" for i, v in zip(ids, values)))
    return {"plain": plain, "gz": gz, "unindexed": unindexed, "bcf": bcf, "fasta": fasta,
            "phenotypes": phenotypes, "ids": ids}


@pytest.fixture(scope="module", params=[False, True], ids=["unphased", "phased"])
def multicontig(request, tmp_path_factory):
    return write_multicontig_vcf(tmp_path_factory.mktemp("chunks"), phased=request.param,
                                 seed=11 if request.param else 12) | {"phased": request.param}


def read_in_chunks(vcf, fasta, k, *, read_index=None, regions=None, region_order=None, **options):
    """What the chunked import does: plan, read every chunk (through a save/load round trip),
    assemble. ``region_order`` defaults to whether ``vcf`` has its own index."""
    from seq2pheno import vcf as v

    reference = Reference(fasta)
    region_list = parse_regions(regions, reference)
    if region_order is None:
        region_order = region_list is not None and v.has_index(vcf)
    plan = v.plan_chunks(vcf, k, lengths=reference.lengths, regions=region_list,
                         region_order=region_order, index=read_index)
    assert len(plan) == k
    parts = []
    for i, intervals in enumerate(plan):
        part = v.read_genotype_part(vcf, reference, intervals=intervals, index=read_index,
                                    regions=regions, **options)
        path = Path(fasta).parent / f"part{i}.npz"
        part.save(path, chunk=i + 1, of=k)
        loaded, meta = v.GenotypePart.load(path)
        assert meta == {"chunk": i + 1, "of": k}
        parts.append(loaded)
    geno = v.assemble_genotypes(parts, fasta, vcf=vcf, regions=regions,
                                encoding=options.get("encoding", "variants"),
                                haplotypes=options.get("haplotypes", False))
    return geno, plan


def assert_same_genotypes(chunked, whole, *, filters: str = "bite"):
    """Byte equality of everything the import writes from a GenotypeData (VCF line numbers
    aside: a chunk reads through the index, which does not count lines)."""
    assert chunked.samples == whole.samples
    pd.testing.assert_frame_equal(chunked.features, whole.features)
    pd.testing.assert_frame_equal(chunked.sites.drop(columns="line"), whole.sites.drop(columns="line"))
    assert chunked.skipped == whole.skipped
    assert chunked.calls.tobytes() == whole.calls.tobytes()
    assert chunked.site_bases.tobytes() == whole.site_bases.tobytes()
    assert chunked.reference.tobytes() == whole.reference.tobytes()
    for a, b in zip(chunked.tensor(), whole.tensor()):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    for a, b in zip(chunked.dosage(), whole.dosage()):
        assert a.tobytes() == b.tobytes()
    if filters == "skip":
        return
    settings = {"max_missing_sample": 0.1, "max_missing_variant": 0.2, "min_maf": 0.1}
    fc, fw = filter_variants_samples(chunked, **settings), filter_variants_samples(whole, **settings)
    if filters == "bite":  # a sample (x03: its chr1 calls) and variants are removed
        assert set(fw["removed"]["kind"]) == {"sample", "variant"}
    assert (fc["samples"] == fw["samples"]).all() and (fc["sites"] == fw["sites"]).all()
    pd.testing.assert_frame_equal(fc["removed"], fw["removed"])
    sc = chunked.subset(fc["samples"], fc["sites"]).tensor()[0]
    sw = whole.subset(fw["samples"], fw["sites"]).tensor()[0]
    assert sc.tobytes() == sw.tobytes()


@pytest.mark.parametrize("k", CHUNK_KS)
@pytest.mark.parametrize("fmt", ["gz", "bcf"])
def test_chunks_concatenated_equal_the_whole_file(multicontig, fmt, k):
    options = {"haplotypes": multicontig["phased"]}
    whole = read_genotypes(multicontig[fmt], multicontig["fasta"], **options)
    assert set(whole.features["chrom"]) == set(CHUNK_CONTIGS) and whole.skipped["indel"] > 0
    assert whole.features["chrom"].drop_duplicates().tolist() == CHUNK_FILE_ORDER
    chunked, plan = read_in_chunks(multicontig[fmt], multicontig["fasta"], k, **options)
    assert_same_genotypes(chunked, whole)
    if k == 7:   # more chunks than contigs: contigs are cut inside, in file order
        assert sum(len(c) for c in plan) > len(CHUNK_CONTIGS)
        assert [iv[0] for c in plan for iv in c] == sorted(
            (iv[0] for c in plan for iv in c), key=CHUNK_FILE_ORDER.index)


@pytest.mark.parametrize("k", CHUNK_KS)
def test_chunks_of_an_unindexed_or_plain_vcf_through_a_made_index(multicontig, tmp_path, k):
    from seq2pheno import vcf as v

    # unsorted, overlapping regions: read in file order when the VCF has no index of its own
    regions = ["chr1:2001-4000", "chr2:1-2500", "chr1:1-2500", "chr3:1-900"]
    for name in ("plain", "unindexed"):
        src = multicontig[name]
        read = src
        if name == "plain":
            read = tmp_path / "copy.vcf.gz"
            v.bgzip_vcf(src, read)
        index = tmp_path / f"{name}.csi"
        v.index_vcf(read, index)
        assert not v.has_index(src)
        for regs, missing in ((None, "mean"), (regions, "reference")):
            whole = read_genotypes(src, multicontig["fasta"], regions=regs, missing=missing)
            chunked, _ = read_in_chunks(read, multicontig["fasta"], k, read_index=index, regions=regs,
                                        region_order=False, missing=missing)
            assert_same_genotypes(chunked, whole, filters="bite" if missing == "mean" else "run")


@pytest.mark.parametrize("k", CHUNK_KS)
def test_chunks_of_regions_in_given_order_and_sequence_encoding(multicontig, k):
    fasta = multicontig["fasta"]
    regions = ["chr1:2001-4000", "chr2:1-2500", "chr1:1-2500", "chr3:301-900"]  # region order, overlapping
    whole = read_genotypes(multicontig["gz"], fasta, regions=regions)
    assert whole.features["chrom"].drop_duplicates().tolist() == ["chr1", "chr2", "chr3"]  # not file order
    chunked, _ = read_in_chunks(multicontig["gz"], fasta, k, regions=regions)
    assert_same_genotypes(chunked, whole)
    seq_regions = ["chr3:1-900", "chr1:101-1600"]
    options = {"encoding": "sequence", "haplotypes": multicontig["phased"]}
    whole = read_genotypes(multicontig["bcf"], fasta, regions=seq_regions, **options)
    chunked, plan = read_in_chunks(multicontig["bcf"], fasta, k, regions=seq_regions, **options)
    assert_same_genotypes(chunked, whole)
    # more chunks than base pairs: the extra chunks are empty and harmless
    first = int(read_genotypes(multicontig["gz"], fasta, regions=["chr2:1-2500"]).features["pos"].iloc[0])
    tiny = [f"chr2:{first}-{first + 2}"]
    chunked, plan = read_in_chunks(multicontig["gz"], fasta, 5, regions=tiny)
    assert [len(c) for c in plan].count(0) == 2
    assert_same_genotypes(chunked, read_genotypes(multicontig["gz"], fasta, regions=tiny), filters="skip")


def test_plan_needs_an_index_and_chunk_names_are_checked(multicontig, tmp_path):
    from seq2pheno import vcf as v

    with pytest.raises(InputError, match="has no index"):
        v.plan_chunks(multicontig["unindexed"], 2, lengths=CHUNK_CONTIGS)
    with pytest.raises(InputError, match="cannot be indexed"):
        v.index_vcf(multicontig["plain"], tmp_path / "x.csi")
    assert v.parse_chunk("2-of-3") == (2, 3)
    with pytest.raises(InputError, match="i-of-k"):
        v.parse_chunk("4-of-3")
