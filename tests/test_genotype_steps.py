"""The genotype cohort steps (seq2pheno.genotype_steps) on small cohorts written to tmp."""

import dataclasses
import json
import logging
from pathlib import Path

import genotype_sim as gs
import numpy as np
import pandas as pd
import pytest

from seq2pheno import genotype_steps as g
from seq2pheno import report_sections as rs
from seq2pheno.errors import InputError
from seq2pheno.kinship import KING_COLUMNS

LOG = logging.getLogger("test_genotype_steps")


def family_cohort(n_founders: int = 60, n_sites: int = 400, *, seed: int = 0) -> gs.Cohort:
    """A fast cohort of unrelated random founders (no msprime) plus planted relatives.

    Families (members appended after the founders): a duplicate of s0000, a parent-offspring pair
    (s0001 and po_child), full sibs fs_0/fs_1 and half sibs hs_0/hs_1 (outside parents not in the
    cohort). Sites sit on two autosomes; the phenotype is additive on 10 sites plus noise.
    """
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.1, 0.9, n_sites)

    def founder():
        return (rng.random((2, n_sites)) < freq).astype(np.int8)

    def gamete(h):
        cut = rng.integers(0, n_sites)
        a, b = (0, 1) if rng.random() < 0.5 else (1, 0)
        return np.concatenate([h[a, :cut], h[b, cut:]])

    haps = [founder() for _ in range(n_founders)]
    ids = [f"s{i:04d}" for i in range(n_founders)]
    families = []
    haps.append(haps[0].copy())
    ids.append("dup_of_s0000")
    families.append(("duplicates", ["s0000", "dup_of_s0000"]))
    haps.append(np.stack([gamete(haps[1]), gamete(founder())]))
    ids.append("po_child")
    families.append(("parent_offspring", ["s0001", "po_child"]))
    pa, pb = founder(), founder()
    for j in range(2):
        haps.append(np.stack([gamete(pa), gamete(pb)]))
        ids.append(f"fs_{j}")
    families.append(("full_sibs", ["fs_0", "fs_1"]))
    shared = founder()
    for j in range(2):
        haps.append(np.stack([gamete(shared), gamete(founder())]))
        ids.append(f"hs_{j}")
    families.append(("half_sibs", ["hs_0", "hs_1"]))
    haplotypes = np.concatenate(haps, axis=0)
    half = n_sites // 2
    chrom = np.array(["1"] * half + ["2"] * (n_sites - half))
    pos = np.concatenate([np.arange(1, half + 1) * 50, np.arange(1, n_sites - half + 1) * 50])
    contigs = {"1": half * 50 + 100, "2": (n_sites - half) * 50 + 100}
    reference, ref, alt = gs.random_reference(rng, contigs, chrom, pos)
    dos = haplotypes[0::2] + haplotypes[1::2]
    causal = np.sort(rng.choice(n_sites, 10, replace=False))
    gv = (dos[:, causal] - dos[:, causal].mean(axis=0)) @ rng.normal(0, 1, 10)
    phenotype = gv + rng.normal(0, 0.5 * gv.std(), len(ids))
    return gs.Cohort(ids=ids, haplotypes=haplotypes, chrom=chrom, pos=pos, ref=ref, alt=alt,
                     contigs=contigs, families=families, phenotype=phenotype, causal=causal,
                     reference=reference)


def subset_cohort(c: gs.Cohort, samples, sites=None, *, prefix: str = "new") -> gs.Cohort:
    """Samples (indices) and sites (bool mask) of ``c``, renamed ``{prefix}{i}``."""
    samples = np.asarray(samples)
    sites = np.ones(len(c.pos), bool) if sites is None else np.asarray(sites)
    rows = np.stack([2 * samples, 2 * samples + 1], axis=1).ravel()
    return dataclasses.replace(c, ids=[f"{prefix}{i}" for i in range(len(samples))],
                               haplotypes=c.haplotypes[rows][:, sites], chrom=c.chrom[sites],
                               pos=c.pos[sites], ref=c.ref[sites], alt=c.alt[sites],
                               phenotype=c.phenotype[samples])


def set_missing(vcf: Path, cells) -> None:
    """Make genotype calls missing ('./.') in a plain-text VCF: cells = [(site index, sample index)]."""
    lines = vcf.read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    for m, s in cells:
        parts = lines[first + m].rstrip("\n").split("\t")
        parts[9 + s] = "./."
        lines[first + m] = "\t".join(parts) + "\n"
    vcf.write_text("".join(lines))


def entry_for(d: Path, **changes) -> dict:
    entry = {"name": "test", "source": "vcf", "vcf": str(d / "cohort.vcf"), "fasta": str(d / "reference.fa"),
             "phenotypes": str(d / "phenotypes.tsv"), "covariates": [], "regions": None, "samples": None,
             "encoding": "variants", "haplotypes": False, "ref_mismatch": "error", "non_snv": "skip",
             "missing": "mean", "missing_ids": "error", "max_missing_variant": 0.1,
             "max_missing_sample": 0.1, "min_maf": 0.01}
    entry.update(changes)
    return entry


def outputs(d: Path, stage: str) -> dict:
    names = {
        "data": {"samples": "samples.tsv", "onehot": "onehot.npy", "features": "features.tsv",
                 "missing": "missing.npy", "dosage": "dosage.npy", "filtered": "filtered.tsv",
                 "summary": "import_summary.json"},
        "curate": {k: f"{k}.tsv" for k in ("kinship", "related", "duplicates", "removed", "kept")}
        | {"summary": "summary.json"},
        "split": {"split": "split.tsv", "distribution": "distribution.json"},
    }[stage]
    (d / stage).mkdir(parents=True, exist_ok=True)
    return {k: str(d / stage / v) for k, v in names.items()}


@pytest.fixture(scope="module")
def cohort():
    return family_cohort()


@pytest.fixture()
def written(tmp_path, cohort):
    """The cohort as a plain VCF with controlled missing calls, FASTA and phenotypes (batch)."""
    gs.write_vcf(tmp_path / "cohort.vcf", cohort, phased=False)
    gs.write_fasta(tmp_path / "reference.fa", cohort)
    unph = gs.write_phenotypes(tmp_path / "phenotypes.tsv", cohort, unphenotyped=5, seed=3)
    n, m = len(cohort.ids), len(cohort.pos)
    cells = [(k, 2) for k in range(0, m, 4)]             # sample 2: 25% missing -> --mind
    cells += [(7, s) for s in range(0, n, 3)]             # site 7: ~33% missing -> --geno
    cells += [(k, 4) for k in (20, 60, 100)]              # a few scattered missing calls
    set_missing(tmp_path / "cohort.vcf", cells)
    return tmp_path, unph


def run_import(d: Path, **changes) -> dict:
    return g.import_vcf(entry_for(d, **changes), out=outputs(d, "data"), log=LOG)


# ---- import ---------------------------------------------------------------------------------


def test_import_writes_every_output_and_records_filters(written, cohort):
    d, unph = written
    # site 11 monomorphic -> --maf
    vcf = d / "cohort.vcf"
    lines = vcf.read_text().splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    parts = lines[first + 11].rstrip("\n").split("\t")
    parts[9:] = ["0/0"] * (len(parts) - 9)
    lines[first + 11] = "\t".join(parts) + "\n"
    vcf.write_text("".join(lines))
    summary = run_import(d, covariates=["batch"])
    out = outputs(d, "data")
    filtered = pd.read_csv(out["filtered"], sep="\t")
    assert list(filtered.columns) == ["kind", "id", "reason", "detail"]
    assert filtered.query("reason == 'mind'").id.tolist() == [cohort.ids[2]]
    geno_ids = filtered.query("reason == 'geno'").id.tolist()
    assert geno_ids == [f"{cohort.chrom[7]}:{cohort.pos[7]}:{cohort.ref[7]}:{cohort.alt[7]}"]
    assert f"{cohort.chrom[11]}:{cohort.pos[11]}" in filtered.query("reason == 'maf'").id.iloc[0]
    samples = pd.read_csv(out["samples"], sep="\t", dtype={"id": str})
    assert list(samples.columns) == ["id", "phenotype", "batch"]
    assert cohort.ids[2] not in set(samples.id) and len(samples) == len(cohort.ids) - 1
    assert set(samples.loc[samples.phenotype.isna(), "id"]) == set(unph) - {cohort.ids[2]}
    x = np.load(out["onehot"])
    features = pd.read_csv(out["features"], sep="\t")
    assert list(features.columns) == ["position", "chrom", "pos", "ref", "alt"]
    m = len(cohort.pos) - 2
    assert x.shape == (len(samples), m, 4) and len(features) == m
    mask = np.load(out["missing"])
    assert mask.dtype == bool and mask.shape == (len(samples), m)
    assert np.all(x[mask].sum(axis=1) == 0) and np.allclose(x[~mask].sum(axis=1), 1)
    dosage = np.load(out["dosage"])
    assert dosage.dtype == np.int8 and dosage.shape == (len(samples), m)
    assert ((dosage == -1) == mask).all()
    assert summary["filtered"] == {"mind": 1, "geno": 1, "maf": 1}
    assert summary["n_unphenotyped"] == len(set(unph) - {cohort.ids[2]})
    assert json.loads(Path(out["summary"]).read_text())["n_variants"] == m


def test_haplotypes_true_on_an_unphased_vcf_is_one_clear_error(written, cohort):
    d, _ = written
    with pytest.raises(InputError, match=r"cohort\.vcf: sample '.+': .*unphased heterozygous call; "
                                         r"haplotypes: true needs a phased VCF") as err:
        run_import(d, haplotypes=True)
    assert "\n" not in str(err.value)
    assert not Path(outputs(d, "data")["onehot"]).exists()


def test_phenotyped_sample_without_covariate_is_named(written, cohort):
    d, _ = written
    ph = pd.read_csv(d / "phenotypes.tsv", sep="\t", dtype=str)
    ph.loc[3, "batch"] = ""
    ph.to_csv(d / "phenotypes.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match=f"sample '{ph.id[3]}': covariate 'batch' is empty"):
        run_import(d, covariates=["batch"])


# ---- chunked import (import_chunks > 1) --------------------------------------------------------

IMPORT_FILES = ("samples", "onehot", "features", "missing", "dosage", "filtered", "summary")


def import_outputs(d: Path) -> dict:
    names = {"samples": "samples.tsv", "onehot": "onehot.npy", "features": "features.tsv",
             "missing": "missing.npy", "dosage": "dosage.npy", "filtered": "filtered.tsv",
             "summary": "import_summary.json"}
    d.mkdir(parents=True, exist_ok=True)
    return {k: str(d / v) for k, v in names.items()}


def import_in_chunks(entry: dict, d: Path, k: int, *, vcf_path=None, index=None) -> dict:
    """What the workflow runs for import_chunks: k: k chunk jobs, then the gather job."""
    chunks = []
    for i in range(1, k + 1):
        path = d / "chunks" / f"{i}-of-{k}.npz"
        g.import_vcf_chunk(entry, f"{i}-of-{k}", vcf_path=vcf_path, index=index, out=str(path), log=LOG)
        chunks.append(path)
    out = import_outputs(d / "data")
    g.gather_vcf_chunks(entry, chunks, out=out, log=LOG)
    return out


@pytest.mark.parametrize("k", [1, 3, 7])
@pytest.mark.parametrize("phased", [False, True], ids=["unphased", "phased"])
@pytest.mark.parametrize("case", ["vcf.gz", "bcf-sequence", "plain-vcf"])
def test_chunked_import_writes_the_same_files_byte_for_byte(tmp_path, case, phased, k):
    from test_vcf import write_multicontig_vcf

    files = write_multicontig_vcf(tmp_path / "in", phased=phased, seed=21 if phased else 22)
    entry = entry_for(tmp_path, fasta=str(files["fasta"]), phenotypes=str(files["phenotypes"]),
                      haplotypes=phased, min_maf=0.1, max_missing_variant=0.1, max_missing_sample=0.15)
    vcf_path = index = None
    if case == "vcf.gz":
        entry["vcf"] = str(files["gz"])
    elif case == "bcf-sequence":
        entry.update(vcf=str(files["bcf"]), encoding="sequence", regions=["chr3:1-900", "chr1:1-2000"])
    else:   # a plain VCF: bgzipped and indexed under results/ first
        entry["vcf"] = str(files["plain"])
        vcf_path, index = tmp_path / "chunks" / "input.vcf.gz", tmp_path / "chunks" / "input.csi"
        g.bgzip_vcf(entry["vcf"], out=str(vcf_path), log=LOG)
        g.index_vcf(vcf_path, out=str(index), log=LOG)
    single = import_outputs(tmp_path / "one")
    summary = g.import_vcf(entry, out=single, log=LOG)
    filtered = pd.read_csv(single["filtered"], sep="\t")
    assert set(filtered["reason"]) == {"mind", "geno", "maf"}
    assert filtered.query("reason == 'mind'")["id"].tolist() == ["x03"]   # its chr1 calls are missing
    assert summary["n_kinship_sites"] > 0
    chunked = import_in_chunks(entry, tmp_path / "k", k, vcf_path=vcf_path, index=index)
    for key in IMPORT_FILES:
        assert Path(chunked[key]).read_bytes() == Path(single[key]).read_bytes(), key


def test_gather_refuses_chunks_out_of_order_or_of_other_settings(tmp_path):
    from test_vcf import write_multicontig_vcf

    files = write_multicontig_vcf(tmp_path / "in", phased=False, seed=3)
    entry = entry_for(tmp_path, vcf=str(files["gz"]), fasta=str(files["fasta"]),
                      phenotypes=str(files["phenotypes"]))
    chunks = []
    for i in (1, 2):
        chunks.append(tmp_path / f"{i}-of-2.npz")
        g.import_vcf_chunk(entry, f"{i}-of-2", out=str(chunks[-1]), log=LOG)
    out = import_outputs(tmp_path / "data")
    with pytest.raises(InputError, match=r"2-of-2.npz: is chunk 2 of 2, expected chunk 1 of 2"):
        g.gather_vcf_chunks(entry, chunks[::-1], out=out, log=LOG)
    with pytest.raises(InputError, match="other cohort settings; rerun the chunks"):
        g.gather_vcf_chunks({**entry, "missing": "reference"}, chunks, out=out, log=LOG)
    assert not Path(out["onehot"]).exists()
    g.gather_vcf_chunks(entry, chunks, out=out, log=LOG)
    assert Path(out["onehot"]).exists()


# ---- curation ----------------------------------------------------------------------------------


SPLIT = {"train": 0.7, "valid": 0.15, "test": 0.15, "bins": 3, "seed": 2, "reweight": False,
         "reweight_bins": 20, "reweight_cap": 5.0}


def split_and_impute(d: Path) -> tuple[dict, dict, str]:
    """split_genotypes with SPLIT, then impute_genotypes; returns (data paths, split paths, imputed)."""
    data, sp = outputs(d, "data"), outputs(d, "split")
    g.split_genotypes(outputs(d, "curate")["kept"], data["samples"], SPLIT, [], out=sp, log=LOG)
    imputed = str(d / "split" / "onehot.npy")
    g.impute_genotypes(data["onehot"], data["missing"], sp["split"], data["samples"], out=imputed, log=LOG)
    return data, sp, imputed


def curate(d: Path, mode: str, **settings) -> dict:
    cfg = {"relatedness": mode, "king_cutoff": 0.0884, "king_table_floor": None, **settings}
    data = outputs(d, "data")
    return g.curate_genotypes(data["samples"], data["dosage"], data["filtered"], cfg, threads=1,
                              out=outputs(d, "curate"), log=LOG)


def unphenotype(d: Path, ids) -> None:
    ph = pd.read_csv(d / "phenotypes.tsv", sep="\t", dtype=str)
    ph.loc[ph.id.isin(ids), "phenotype"] = ""
    ph.to_csv(d / "phenotypes.tsv", sep="\t", index=False)


def test_curate_remove_keeps_unphenotyped_relatives_and_lists_mind(written, cohort):
    d, _ = written
    unphenotype(d, ["po_child"])  # its parent s0001 is phenotyped
    run_import(d)
    summary = curate(d, "remove")
    out = outputs(d, "curate")
    kin = pd.read_csv(out["kinship"], sep="\t", dtype={"id1": str, "id2": str})
    assert list(kin.columns) == KING_COLUMNS
    n = len(cohort.ids) - 1
    assert len(kin) == n * (n - 1) // 2
    removed = pd.read_csv(out["removed"], sep="\t", dtype={"id": str})
    kept = pd.read_csv(out["kept"], sep="\t", dtype={"id": str})
    assert list(kept.columns) == ["id", "phenotype", "group"]
    assert removed.query("reason == 'missing_calls'").id.tolist() == [cohort.ids[2]]
    related = removed.query("reason == 'related'")
    # one of each phenotyped planted pair goes (duplicate, full sibs); po_child is unphenotyped
    assert len(set(related.id) & {"s0000", "dup_of_s0000"}) == 1
    assert len(set(related.id) & {"fs_0", "fs_1"}) == 1
    assert {"po_child", "s0001"} <= set(kept.id)
    assert related.detail.str.contains("kinship").all()
    pairs = pd.read_csv(out["related"], sep="\t", dtype={"id1": str, "id2": str})
    assert {"id1", "id2", "kinship", "degree", "action"} <= set(pairs.columns)
    po = pairs[(pairs.id1 + pairs.id2).str.contains("po_child")]
    assert po.action.str.contains("kept both").all()
    assert summary["n_related_pairs"] == len(pairs) and summary["king_cutoff"] == 0.0884
    assert summary["removed_by_reason"]["missing_calls"] == 1
    assert summary["n_kept"] == len(kept) and summary["noise_ceiling"] is None
    dups = pd.read_csv(out["duplicates"], sep="\t", dtype={"id": str})
    assert set(dups.id) == {"s0000", "dup_of_s0000"}


def test_king_table_floor_filters_written_pairs_only(written):
    d, _ = written
    run_import(d)
    summary = curate(d, "remove", king_table_floor=0.1)
    kin = pd.read_csv(outputs(d, "curate")["kinship"], sep="\t")
    assert (kin.kinship >= 0.1).all() and len(kin) < summary["n_pairs"]


def test_group_mode_relatives_never_straddle_splits(written, cohort):
    d, _ = written
    run_import(d, covariates=["batch"])
    curate(d, "group")
    sp = outputs(d, "split")
    settings = {"train": 0.6, "valid": 0.2, "test": 0.2, "bins": 3, "seed": 1, "reweight": False,
                "reweight_bins": 20, "reweight_cap": 5.0}
    for seed in range(4):
        settings["seed"] = seed
        g.split_genotypes(outputs(d, "curate")["kept"], outputs(d, "data")["samples"], settings, ["batch"],
                          out=sp, log=LOG)
        split = pd.read_csv(sp["split"], sep="\t", dtype={"id": str}).set_index("id")
        pairs = pd.read_csv(outputs(d, "curate")["related"], sep="\t", dtype={"id1": str, "id2": str})
        assert len(pairs) >= 4
        for a, b in zip(pairs.id1, pairs.id2):
            sa, sb = split.loc[a, "split"], split.loc[b, "split"]
            if "unphenotyped" not in (sa, sb):
                assert sa == sb, (a, b, sa, sb)
            assert split.loc[a, "group"] == split.loc[b, "group"]


def curate_defaults(d: Path, **settings) -> dict:
    """curate_genotypes with the schema's defaults (relatedness: keep) and ``settings``."""
    data = outputs(d, "data")
    return g.curate_genotypes(data["samples"], data["dosage"], data["filtered"], settings, threads=1,
                              out=outputs(d, "curate"), log=LOG)


def read_curated(d: Path) -> dict:
    out = outputs(d, "curate")
    return {"kept": pd.read_csv(out["kept"], sep="\t", dtype={"id": str}),
            "related": pd.read_csv(out["related"], sep="\t", dtype={"id1": str, "id2": str}),
            "duplicates": pd.read_csv(out["duplicates"], sep="\t", dtype={"id": str}),
            "summary": json.loads(Path(out["summary"]).read_text())}


def test_curate_keep_is_the_default_and_groups_only_clones(written, cohort):
    d, _ = written
    run_import(d)
    summary = curate_defaults(d)
    c = read_curated(d)
    kept, related = c["kept"], c["related"]
    assert summary["relatedness"] == "keep" and summary["removed_by_reason"] == {"missing_calls": 1}
    assert len(kept) == len(cohort.ids) - 1  # everyone but the --mind sample
    group = dict(zip(kept.id, kept.group))
    assert group["s0000"] == group["dup_of_s0000"]  # clones share a group
    for a, b in (("fs_0", "fs_1"), ("s0001", "po_child"), ("hs_0", "hs_1")):
        assert group[a] != group[b], (a, b)  # relatives stay, each in its own group
    assert kept.group.nunique() == len(kept) - 1
    assert summary["relationship_measure"] == "KING-robust" and summary["relationship_reason"] is None
    assert summary["n_duplicate_pairs"] == 1 and summary["n_clone_groups"] == 1
    assert summary["largest_group"] == 2 and summary["n_groups"] == len(kept) - 1
    acts = dict(zip(zip(related.id1, related.id2), related.action))
    assert any("grouped as clones" in a for (x, y), a in acts.items() if {x, y} == {"s0000", "dup_of_s0000"})
    assert any(a == "kept both (relatedness: keep)" for (x, y), a in acts.items() if {x, y} == {"fs_0", "fs_1"})
    assert set(c["duplicates"].id) == {"s0000", "dup_of_s0000"}
    # clones never straddle splits
    sp = outputs(d, "split")
    for seed in range(3):
        g.split_genotypes(outputs(d, "curate")["kept"], outputs(d, "data")["samples"], dict(SPLIT, seed=seed), [],
                          out=sp, log=LOG)
        split = pd.read_csv(sp["split"], sep="\t", dtype={"id": str}).set_index("id")["split"]
        assert split["s0000"] == split["dup_of_s0000"]


def test_curate_remove_and_group_on_the_same_pedigree(written, cohort):
    d, _ = written
    run_import(d)
    summary = curate_defaults(d, relatedness="remove")
    kept = read_curated(d)["kept"]
    for pair in (("s0000", "dup_of_s0000"), ("fs_0", "fs_1"), ("s0001", "po_child")):
        assert len(set(pair) & set(kept.id)) == 1, pair  # one of each related pair removed
    assert summary["removed_by_reason"]["related"] >= 3
    curate_defaults(d, relatedness="group")
    kept = read_curated(d)["kept"]
    group = dict(zip(kept.id, kept.group))
    for a, b in (("s0000", "dup_of_s0000"), ("fs_0", "fs_1"), ("s0001", "po_child")):
        assert group[a] == group[b], (a, b)


def test_curate_group_stops_when_one_family_holds_most_samples(written):
    d, _ = written
    run_import(d)
    # a cutoff of 0 links about half of all pairs: one family of nearly everyone
    with pytest.raises(InputError, match=r"group puts [0-9,]+ of the [0-9,]+ phenotyped samples \(\d+%\) in one "
                                         r"family.*max_group_share 0.5.*relatedness: keep") as err:
        curate_defaults(d, relatedness="group", king_cutoff=0.0)
    assert "\n" not in str(err.value)
    summary = curate_defaults(d, relatedness="group", king_cutoff=0.0, max_group_share=1.0)
    assert summary["largest_group"] > 0.5 * summary["n_kept"]


def inbred_cohort(c: gs.Cohort) -> gs.Cohort:
    """Every sample made fully homozygous (its first haplotype doubled): inbred lines."""
    h = c.haplotypes.copy()
    h[1::2] = h[0::2]
    return dataclasses.replace(c, haplotypes=h)


def write_plain(d: Path, c: gs.Cohort) -> Path:
    gs.write_vcf(d / "cohort.vcf", c, phased=False)
    gs.write_fasta(d / "reference.fa", c)
    gs.write_phenotypes(d / "phenotypes.tsv", c, unphenotyped=0, seed=3)
    return d


def test_curate_inbred_cohort_uses_vanraden_and_finds_the_clones(tmp_path, cohort):
    d = write_plain(tmp_path, inbred_cohort(cohort))
    run_import(d)
    summary = curate_defaults(d)
    c = read_curated(d)
    assert summary["relationship_measure"] == "VanRaden G/2 (diagonal-scaled)"
    assert "no heterozygous call" in summary["relationship_reason"]
    assert summary["heterozygosity"]["observed"] == 0.0
    assert set(c["duplicates"].id) == {"s0000", "dup_of_s0000"}
    group = dict(zip(c["kept"].id, c["kept"].group))
    assert group["s0000"] == group["dup_of_s0000"] and len(c["kept"]) == len(cohort.ids)
    kin = pd.read_csv(outputs(d, "curate")["kinship"], sep="\t", dtype={"id1": str, "id2": str})
    assert kin["kinship"].notna().all() and (kin["hethet"] == 0).all()
    k = kin.set_index(["id1", "id2"])["kinship"]
    assert k[("dup_of_s0000", "s0000")] == pytest.approx(0.5)
    assert k[("fs_1", "fs_0")] > 0.1  # sibling lines share about half their genome
    # KING forced on inbred lines: undefined, but the identical pair is still a clone
    summary = curate_defaults(d, kinship_measure="king")
    c = read_curated(d)
    assert summary["relationship_measure"] == "KING-robust" and summary["n_identical_pairs"] == 1
    assert set(c["duplicates"].id) == {"s0000", "dup_of_s0000"}
    assert c["related"].degree.tolist() == ["duplicate / MZ twin (identical genotypes)"]


def test_inbred_lines_coded_0_1_are_read_as_homozygotes(tmp_path, cohort):
    """Inbred lines in a 0/1 marker matrix (as BGLR's wheat is coded): read as 0/1/2 ALT counts
    every line would look heterozygous at half its markers and every pair first-degree relatives
    under KING; ``coding: auto`` reads them as the two homozygotes, so curation equals the VCF's of
    the same lines (VanRaden, the clones and only they grouped) and the report says how it read them."""
    d = write_plain(tmp_path, inbred_cohort(cohort))
    run_import(d)
    vcf_summary = curate_defaults(d)
    vcf_kin = pd.read_csv(outputs(d, "curate")["kinship"], sep="\t", dtype={"id1": str, "id2": str})
    data = outputs(d, "data")
    dosage = np.load(data["dosage"])
    ids = pd.read_csv(data["samples"], sep="\t", dtype={"id": str})["id"]
    matrix = pd.DataFrame(dosage // 2, columns=[f"m{j}" for j in range(dosage.shape[1])])
    matrix.insert(0, "id", ids)
    matrix.to_csv(d / "lines.tsv", sep="\t", index=False)
    m = d / "m"
    summary = g.import_markers({"source": "markers", "markers": str(d / "lines.tsv"),
                                "phenotypes": str(d / "phenotypes.tsv")}, out=outputs(m, "data"), log=LOG)
    assert summary["coding"] == "binary" and "two homozygotes" in summary["coding_reason"]
    np.testing.assert_array_equal(np.load(outputs(m, "data")["dosage"]), dosage)
    md = outputs(m, "data")
    cur = g.curate_genotypes(md["samples"], md["dosage"], md["filtered"], {}, threads=1,
                             out=outputs(m, "curate"), log=LOG)
    assert cur["relationship_measure"] == vcf_summary["relationship_measure"] == "VanRaden G/2 (diagonal-scaled)"
    kin = pd.read_csv(outputs(m, "curate")["kinship"], sep="\t", dtype={"id1": str, "id2": str})
    np.testing.assert_allclose(kin["kinship"], vcf_kin["kinship"], atol=1e-12)
    kept = pd.read_csv(outputs(m, "curate")["kept"], sep="\t", dtype={"id": str})
    assert kept.group.nunique() == len(kept) - 1  # only the clone pair shares a group
    section = rs.kinship_report_section({"kinship": [outputs(m, "curate")["kinship"], outputs(m, "curate")["related"],
                                                     md["summary"]],
                                         "curate_summary": outputs(m, "curate")["summary"]})
    assert "How the markers were read" in section["html"] and "two homozygotes" in section["html"]


def test_curate_non_human_contig_names(tmp_path, cohort):
    names = {"1": "Chr01A", "2": "scaffold_12"}
    c = dataclasses.replace(cohort, chrom=np.array([names[x] for x in cohort.chrom]),
                            contigs={names[k]: v for k, v in cohort.contigs.items()},
                            reference={names[k]: v for k, v in cohort.reference.items()})
    d = write_plain(tmp_path, c)
    summary = run_import(d)
    assert summary["n_kinship_sites"] == summary["n_variants"] and summary["kinship_excluded_contigs"] == []
    cur = curate_defaults(d)
    assert cur["n_duplicate_pairs"] == 1 and set(read_curated(d)["duplicates"].id) == {"s0000", "dup_of_s0000"}
    n_all = summary["n_kinship_sites"]
    summary = run_import(d, autosomes=["scaffold_12"])
    assert 0 < summary["n_kinship_sites"] < n_all and summary["kinship_excluded_contigs"] == ["Chr01A"]
    summary = run_import(d, autosomes=r"Chr\d+A")
    assert summary["kinship_excluded_contigs"] == ["scaffold_12"]
    summary = run_import(d, autosomes="nothing")
    assert summary["n_kinship_sites"] == 0
    cur = curate_defaults(d)
    assert cur["relationship_measure"] is None and "curation.autosomes" in cur["relationship_reason"]
    assert cur["n_kept"] == len(cohort.ids)
    with pytest.raises(InputError, match="regular expression"):
        run_import(d, autosomes="(")


# ---- covariates ----------------------------------------------------------------------------------


def test_covariate_adjustment_uses_training_rows_only():
    rng = np.random.default_rng(0)
    n = 60
    batch = rng.integers(0, 3, n).astype(float)
    site = pd.Series(rng.choice(["north", "south", "east"], n))
    y = 2.0 + 1.5 * batch + rng.normal(0, 0.1, n)
    y[:3] = np.nan
    train = np.zeros(n, bool)
    train[3:40] = True
    values = pd.DataFrame({"batch": batch, "site": site})
    adjusted, coef = g.adjust_covariates(y, values, train)
    assert coef["batch"] == pytest.approx(1.5, abs=0.05)
    assert set(coef) == {"intercept", "batch", "site=north", "site=south"}  # east = reference level
    assert np.isnan(adjusted[:3]).all()
    assert np.nanmean(adjusted[train]) == pytest.approx(np.mean(y[train]))
    assert np.std(adjusted[train]) < 0.2
    changed = values.copy()
    changed.loc[45, "batch"] = 100.0          # a valid/test row
    changed.loc[46, "site"] = "west"          # a level never seen in training
    y2 = y.copy()
    y2[50] = 1e3
    adjusted2, coef2 = g.adjust_covariates(y2, changed, train)
    assert coef2 == pytest.approx(coef)
    assert np.allclose(adjusted2[train], adjusted[train])
    assert adjusted2[45] == pytest.approx(adjusted[45] - coef["batch"] * (100.0 - batch[45]))


def test_split_genotypes_writes_adjusted_phenotype_from_training_rows(written):
    d, _ = written
    run_import(d, covariates=["batch"])
    curate(d, "remove")
    settings = dict(SPLIT)
    sp = outputs(d, "split")
    data = outputs(d, "data")
    coef = g.split_genotypes(outputs(d, "curate")["kept"], data["samples"], settings, ["batch"], out=sp, log=LOG)
    split = pd.read_csv(sp["split"], sep="\t", dtype={"id": str})
    assert list(split.columns) == ["id", "split", "group", "weight", "phenotype"]
    assert split.loc[split.split == "unphenotyped", "phenotype"].isna().all()
    # change a validation sample's covariate: same coefficients, same training phenotypes
    samples = pd.read_csv(data["samples"], sep="\t", dtype={"id": str})
    vid = split.loc[split.split == "valid", "id"].iloc[0]
    samples.loc[samples.id == vid, "batch"] = 99
    samples.to_csv(data["samples"], sep="\t", index=False)
    coef2 = g.split_genotypes(outputs(d, "curate")["kept"], data["samples"], settings, ["batch"], out=sp, log=LOG)
    split2 = pd.read_csv(sp["split"], sep="\t", dtype={"id": str})
    assert coef2 == pytest.approx(coef)
    tr = split.split == "train"
    assert np.allclose(split.loc[tr, "phenotype"], split2.loc[tr, "phenotype"])
    assert not np.isclose(split.loc[split.id == vid, "phenotype"].item(),
                          split2.loc[split2.id == vid, "phenotype"].item())
    assert not list(Path(sp["split"]).parent.glob(".*tmp*"))


# ---- imputation ----------------------------------------------------------------------------------


def test_imputation_uses_training_frequencies_only(written):
    d, _ = written
    run_import(d)
    curate(d, "remove")
    data, sp, imputed = split_and_impute(d)
    x = np.load(data["onehot"])
    mask = np.load(data["missing"])
    y = np.load(imputed)
    train = g.training_rows(data["samples"], sp["split"])
    assert np.array_equal(y[~mask], x[~mask])
    assert np.allclose(y.sum(axis=2), 1, atol=1e-5)
    r, c = np.nonzero(mask)
    for row, col in list(zip(r, c))[:20]:
        called = np.setdiff1d(train, np.flatnonzero(mask[:, col]))
        assert np.allclose(y[row, col], x[called, col].mean(axis=0), atol=1e-6)
    # changing the genotypes of non-training rows leaves the imputed values unchanged
    others = np.setdiff1d(np.arange(len(x)), train)
    x2 = x.copy()
    x2[others] = np.where(mask[others][:, :, None], 0.0, np.roll(x[others], 1, axis=2))
    np.save(data["onehot"], x2)
    g.impute_genotypes(data["onehot"], data["missing"], sp["split"], data["samples"], out=str(imputed), log=LOG)
    y2 = np.load(imputed)
    assert np.allclose(y2[mask], y[mask])
    assert np.allclose(g.training_frequencies(imputed, train), y[train].mean(axis=0))


# ---- predicting new samples -------------------------------------------------------------------


def new_vcf(d: Path, cohort, samples, sites=None, *, name="new.vcf", missing=()):
    sub = subset_cohort(cohort, samples, sites)
    gs.write_vcf(d / name, sub, phased=False)
    if missing:
        set_missing(d / name, missing)
    return d / name


def read_new(d: Path, path, missing="mean"):
    from seq2pheno import vcf

    return vcf.read_genotypes(path, d / "reference.fa", missing="error" if missing == "error" else "mean")


def test_match_new_samples_site_checks_and_missing_modes(written, cohort):
    d, _ = written
    run_import(d)
    features = pd.read_csv(outputs(d, "data")["features"], sep="\t")
    train_x = np.load(outputs(d, "data")["onehot"])
    keep = np.ones(len(cohort.pos), bool)
    keep[[0, 30]] = False                                 # two training sites absent
    path = new_vcf(d, cohort, [5, 6, 7], keep, missing=[(2, 1)])  # new site 2 = training site 3
    geno = read_new(d, path)
    freq = np.full((len(features), 4), 0.25)
    x, counts = g.match_new_samples(features, geno, "mean", frequencies=freq, vcf_path=path)
    assert counts["n_absent"] == 2 and counts["n_matched"] == len(features) - 2
    assert x.shape == (3, len(features), 4)
    col0 = features.index[(features.pos == cohort.pos[0]) & (features.chrom.astype(str) == cohort.chrom[0])][0]
    assert np.allclose(x[:, col0], 0.25)
    col3 = features.index[features.pos == cohort.pos[3]][0]
    assert np.allclose(x[1, col3], 0.25)                  # the missing call
    # samples 5, 6, 7 are the training rows 4, 5, 6 (s0002 was removed by --mind)
    present = [i for i in range(len(features)) if i != col0 and not np.allclose(x[0, i], 0.25)]
    assert np.allclose(x[0, present], train_x[4, present])
    xr, _ = g.match_new_samples(features, geno, "reference", vcf_path=path)
    assert np.allclose(xr[:, col0], g.reference_composition(features.ref.iloc[[col0]])[0])
    with pytest.raises(InputError, match=rf"training site {cohort.chrom[0]}:{cohort.pos[0]} .* is absent"):
        g.match_new_samples(features, read_new(d, new_vcf(d, cohort, [5, 6], keep, name="e.vcf"), "error"),
                            "error", vcf_path=path)


def test_match_new_samples_names_first_mismatching_site(written, cohort):
    d, _ = written
    run_import(d)
    features = pd.read_csv(outputs(d, "data")["features"], sep="\t")
    other = dataclasses.replace(cohort, alt=cohort.alt.copy())
    k = 9
    other.alt[k] = next(b for b in "ACGT" if b not in (cohort.ref[k], cohort.alt[k]))
    path = new_vcf(d, other, [5, 6])
    with pytest.raises(InputError, match=rf"site {cohort.chrom[k]}:{cohort.pos[k]} \(line \d+\) has REF/ALT "
                                         rf"{cohort.ref[k]}/{other.alt[k]} but the model was trained on "
                                         rf"{cohort.ref[k]}/{cohort.alt[k]}"):
        g.match_new_samples(features, read_new(d, path), "reference", vcf_path=path)


def test_predict_new_scores_with_a_trained_ridge(written, cohort):
    from seq2pheno.models import fit_ridge, save_ridge

    d, _ = written
    entry = entry_for(d)
    run_import(d)
    curate(d, "remove")
    data, sp, imputed = split_and_impute(d)
    x = np.load(imputed)
    samples = pd.read_csv(data["samples"], sep="\t", dtype={"id": str})
    ok = samples.phenotype.notna().to_numpy()
    params = fit_ridge(x[ok], samples.phenotype[ok].to_numpy(), x[ok], samples.phenotype[ok].to_numpy(), [1.0])
    save_ridge(d / "ridge.npz", params)
    path = new_vcf(d, cohort, [0, 1, 5])
    out = [str(d / "predict" / "ridge.tsv")]
    g.predict_new(entry, {"cohort": "test", "vcf": str(path)},
                  {"features": data["features"], "onehot": imputed, "samples": data["samples"],
                   "split": sp["split"], "models": [str(d / "ridge.npz")]}, "ridge", "ridge", out=out[0],
                  log=LOG)
    table = pd.read_csv(out[0], sep="\t", dtype={"id": str})
    assert list(table.columns) == ["id", "predicted", "rank"]
    assert sorted(table.id) == ["new0", "new1", "new2"] and list(table["rank"]) == [1, 2, 3]
    assert table.predicted.is_monotonic_decreasing
    # new0 is s0000 (training row 0, no missing call): the same prediction as in training
    row0 = x[0].reshape(-1) @ params["coef"].reshape(-1) + params["intercept"]
    assert table.set_index("id").loc["new0", "predicted"] == pytest.approx(row0, rel=1e-5)


# ---- haplotypes: true (phased VCF, two tensor rows per sample) ---------------------------------




@pytest.fixture()
def phased(tmp_path, cohort):
    """The cohort as a phased VCF with 1% missing calls, FASTA and phenotypes (5 unphenotyped)."""
    gs.write_vcf(tmp_path / "cohort.vcf", cohort, phased=True, missing_rate=0.01, seed=5)
    gs.write_fasta(tmp_path / "reference.fa", cohort)
    gs.write_phenotypes(tmp_path / "phenotypes.tsv", cohort, unphenotyped=5, seed=3)
    return tmp_path


def haplotype_onehot(cohort, features: pd.DataFrame, sample: int) -> np.ndarray:
    """(2, L, 4) one-hot of a cohort sample's two haplotypes at the variant columns ``features``."""
    site = {(str(c), int(p)): i for i, (c, p) in enumerate(zip(cohort.chrom, cohort.pos))}
    x = np.zeros((2, len(features), 4), np.float32)
    for col, (c, p) in enumerate(zip(features.chrom.astype(str), features.pos)):
        i = site[(c, int(p))]
        for h in range(2):
            base = cohort.alt[i] if cohort.haplotypes[2 * sample + h, i] else cohort.ref[i]
            x[h, col, "ACGT".index(base)] = 1.0
    return x


def test_sample_mean_rows_averages_each_samples_rows():
    from seq2pheno.steps import SampleMeanRows

    x = np.arange(8 * 3 * 4, dtype=np.float32).reshape(8, 3, 4)
    view = SampleMeanRows(x, [6, 7, 0, 1, 2, 3], 2)
    assert len(view) == 3 and view.shape == (3, 3, 4)
    assert np.allclose(view[0:3], np.stack([x[6:8].mean(0), x[0:2].mean(0), x[2:4].mean(0)]))
    assert np.allclose(view[1:2], x[0:2].mean(0, keepdims=True))
    with pytest.raises(TypeError):
        view[0]


def test_haplotype_cohort_import_impute_ridge_evaluate_and_predict(phased, cohort):
    from seq2pheno import steps
    from seq2pheno.models import load_ridge, predict_ridge

    d = phased
    summary = run_import(d, haplotypes=True, max_missing_sample=None)
    data = outputs(d, "data")
    samples = pd.read_csv(data["samples"], sep="\t", dtype={"id": str})
    assert samples.id.tolist() == cohort.ids and summary["haplotypes"] and summary["rows_per_sample"] == 2
    x = np.load(data["onehot"])
    features = pd.read_csv(data["features"], sep="\t")
    mask = np.load(data["missing"])
    assert x.shape == (2 * len(samples), len(features), 4) and mask.shape == x.shape[:2] and mask.any()
    assert np.load(data["dosage"]).shape[0] == len(samples)      # kinship stays per sample
    # rows 2i, 2i+1 are sample i's haplotypes, each a plain one-hot where called
    i = 7
    want = haplotype_onehot(cohort, features, i)
    assert np.array_equal(x[2 * i:2 * i + 2][~mask[2 * i:2 * i + 2]], want[~mask[2 * i:2 * i + 2]])
    assert np.allclose(x[~mask].sum(axis=1), 1) and set(np.unique(x)) <= {0.0, 1.0}

    curate(d, "remove")
    data, sp, imputed = split_and_impute(d)
    split = pd.read_csv(sp["split"], sep="\t", dtype={"id": str})
    y = np.load(imputed)
    train = g.training_rows(data["samples"], sp["split"], len(x))
    train_samples = np.flatnonzero(samples.id.isin(split.loc[split.split == "train", "id"]))
    assert train.tolist() == sorted([2 * s for s in train_samples] + [2 * s + 1 for s in train_samples])
    r, c = np.nonzero(mask)
    for row, col in list(zip(r, c))[:10]:         # filled with the training haplotypes' allele frequency
        called = np.setdiff1d(train, np.flatnonzero(mask[:, col]))
        assert np.allclose(y[row, col], x[called, col].mean(axis=0), atol=1e-6)

    paths = {"samples": data["samples"], "kept": outputs(d, "curate")["kept"], "split": sp["split"],
             "onehot": imputed, "model": str(d / "ridge.npz")}
    steps.train(paths, {"name": "ridge", "alphas": [1.0, 10.0, 100.0]}, 0,
                out={"model": paths["model"], "history": str(d / "history.tsv")}, log=LOG)
    ev = {"predictions": str(d / "predictions.tsv"), "metrics": str(d / "metrics.json"),
          "unphenotyped": str(d / "unph.tsv")}
    steps.evaluate(paths, "ridge", out=ev, log=LOG)
    params = load_ridge(paths["model"])
    per_row = predict_ridge(params, y)
    pred = pd.read_csv(ev["predictions"], sep="\t", dtype={"id": str}).set_index("id")
    phenotyped = split.loc[split.split != "unphenotyped", "id"]
    assert sorted(pred.index) == sorted(phenotyped) and pred.index.is_unique
    row_of = {s: k for k, s in enumerate(samples.id)}
    for sid in pred.index:
        k = row_of[sid]
        assert pred.loc[sid, "predicted"] == pytest.approx((per_row[2 * k] + per_row[2 * k + 1]) / 2, rel=1e-6)
    unph = pd.read_csv(ev["unphenotyped"], sep="\t", dtype={"id": str})
    assert sorted(unph.id) == sorted(split.loc[split.split == "unphenotyped", "id"])
    # ridge chose alpha on the per-sample validation R², the one metrics.json reports
    history = pd.read_csv(d / "history.tsv", sep="\t")
    metrics = json.loads(Path(ev["metrics"]).read_text())
    assert history.loc[history.chosen, "valid_r2"].item() == pytest.approx(metrics["valid"]["r2"], rel=1e-6)

    # gblup is fitted on train + valid: it is scored on validation by its fit without them
    from seq2pheno import models
    from seq2pheno.models import Rows

    gpaths = dict(paths, model=str(d / "gblup.npz"))
    steps.train(gpaths, {"name": "gblup"}, 0, out={"model": gpaths["model"], "history": str(d / "g.tsv")}, log=LOG)
    gev = {k: str(d / f"gblup_{Path(v).name}") for k, v in ev.items()}
    steps.evaluate(gpaths, "gblup", out=gev, log=LOG)
    held = models.held_out_predictions(models.load_trained(gpaths["model"]))
    gpred = pd.read_csv(gev["predictions"], sep="\t", dtype={"id": str}).set_index("id")
    valid_ids = split.loc[split.split == "valid", "id"].tolist()
    assert sorted(held.index) == sorted(valid_ids)
    np.testing.assert_allclose(gpred.loc[valid_ids, "predicted"], held.loc[valid_ids], rtol=1e-9)
    in_sample = models.predict(models.load_trained(gpaths["model"]), Rows(y, [r for s in valid_ids for r in
                                                                        (2 * row_of[s], 2 * row_of[s] + 1)], k=2))
    assert not np.allclose(gpred.loc[valid_ids, "predicted"], in_sample)
    # so is a refitted network (two haplotype rows per sample), through the same evaluation
    cpaths = dict(paths, model=str(d / "cnn.keras"))
    spec = {"name": "net", "type": "cnn", "conv": [{"filters": 1, "kernel_size": 1, "activation": "linear"}],
            "dense": [{"units": 4}], "epochs": 4, "patience": 2, "batch_size": 16, "refit": True}
    steps.train(cpaths, spec, 0, out={"model": cpaths["model"], "history": str(d / "c.tsv")}, log=LOG)
    cev = {k: str(d / f"cnn_{Path(v).name}") for k, v in ev.items()}
    steps.evaluate(cpaths, "cnn", out=cev, log=LOG)
    held = models.held_out_predictions(models.load_trained(cpaths["model"]))
    cpred = pd.read_csv(cev["predictions"], sep="\t", dtype={"id": str}).set_index("id")
    assert sorted(held.index) == sorted(valid_ids)
    np.testing.assert_allclose(cpred.loc[valid_ids, "predicted"], held.loc[valid_ids], rtol=1e-9)
    assert pd.read_csv(d / "c.tsv", sep="\t")["val_loss"].notna().all()    # the early-stopped run's

    # new samples: a phased VCF -> two rows each, averaged; an unphased one -> one clear error
    sub = subset_cohort(cohort, [3, 9])
    gs.write_vcf(d / "new.vcf", sub, phased=True)
    out = [str(d / "predict" / "ridge.tsv")]
    predict_paths = {"features": data["features"], "onehot": imputed, "samples": data["samples"],
                     "split": sp["split"], "models": [paths["model"]]}
    entry = entry_for(d, haplotypes=True)
    g.predict_new(entry, {"cohort": "test", "vcf": str(d / "new.vcf")}, predict_paths, "ridge", out=out[0], log=LOG)
    table = pd.read_csv(out[0], sep="\t", dtype={"id": str}).set_index("id")
    assert sorted(table.index) == ["new0", "new1"]
    for name, k in (("new0", 3), ("new1", 9)):
        want = predict_ridge(params, haplotype_onehot(cohort, features, k)).mean()
        assert table.loc[name, "predicted"] == pytest.approx(want, rel=1e-6)
    gs.write_vcf(d / "unphased.vcf", sub, phased=False)
    with pytest.raises(InputError, match="unphased heterozygous call"):
        g.predict_new(entry, {"cohort": "test", "vcf": str(d / "unphased.vcf")}, predict_paths, "ridge",
                      out=str(d / "predict" / "u.tsv"), log=LOG)
