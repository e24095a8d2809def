"""KING-robust kinship against plink2, unrelated sets and relatedness groups."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from seq2pheno.kinship import (KING_COLUMNS, autosomal_mask, king_counts, king_pairs, king_table,
                               king_tiles, kinship_from_counts, read_king_table, related_pairs,
                               relatedness_groups, unrelated_set, write_king_table)
from seq2pheno.vcf import read_genotypes

sys.path.insert(0, str(Path(__file__).parent))
import genotype_sim as gs  # noqa: E402

pytestmark = pytest.mark.xdist_group("kinship")


def _plink2():
    exe = shutil.which("plink2")
    if exe is None:
        pytest.fail("plink2 not found: install it with 'apt-get install -y plink2' "
                    "(Debian 12: plink2 2.00~a3.5); the KING comparison needs it")
    return exe


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """120 msprime founders + planted families, 4 x 1 Mb autosomes, ~20k SNVs, 1% missing calls."""
    d = tmp_path_factory.mktemp("king")
    c = gs.simulate_cohort(120, seed=3)
    files = gs.write_cohort(d, c, phased=False, missing_rate=0.01, unphenotyped=5)
    g = read_genotypes(files["vcf"], files["fasta"])
    dosage, idx = g.dosage()
    auto = autosomal_mask(g.sites["chrom"].to_numpy()[idx])
    dosage = dosage[:, auto]
    table = king_table(dosage, g.samples, block_size=3000)
    return {"dir": d, "cohort": c, "files": files, "geno": g, "dosage": dosage, "table": table}


def _run_plink2(args, cwd):
    res = subprocess.run([_plink2(), *args, "--threads", "1"], cwd=cwd, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    return res


def _plink2_a3_sparse_nsnp_extra(dosage: np.ndarray) -> np.ndarray:
    """(N, N) extra NSNP that plink2 2.00a3.5 reports at its 'sparse' variants.

    plink2 handles variants whose non-major genotypes (including missing calls) number at most
    N // 33 (AVX2 build; N // 30 otherwise) in a sparse path, and there counts a pair as called
    when one sample is missing and the other is homozygous for the non-major allele. HETHET,
    IBS0 and KINSHIP are unaffected (KINSHIP does not use NSNP). Our NSNP is the true number of
    sites both samples have called; this reproduces plink2's column so the comparison is exact.
    """
    N = dosage.shape[0]
    n0, n2 = (dosage == 0).sum(0), (dosage == 2).sum(0)
    major = np.where(n0 >= n2, 0, 2)
    sparse = (dosage != major[None, :]).sum(0) <= N // 33
    miss = (dosage[:, sparse] < 0).astype(np.float64)
    minor_hom = ((dosage[:, sparse] == 2 - major[sparse][None, :])).astype(np.float64)
    q = miss @ minor_hom.T
    return np.rint(q + q.T).astype(np.int64)


def _compare_with_plink2(table, ref, dosage):
    assert table.columns.tolist() == ["id1", "id2", "nsnp", "hethet", "ibs0", "kinship"]
    n = dosage.shape[0]
    assert len(table) == len(ref) == n * (n - 1) // 2
    # same pairs in the same order (id1 = the later sample)
    assert (table["id1"].to_numpy() == ref["id1"].to_numpy()).all()
    assert (table["id2"].to_numpy() == ref["id2"].to_numpy()).all()
    for col in ("hethet", "ibs0"):
        np.testing.assert_array_equal(table[col].to_numpy(), ref[col].to_numpy(), err_msg=col)
    i, j = np.tril_indices(n, -1)
    extra = _plink2_a3_sparse_nsnp_extra(dosage)[i, j]
    np.testing.assert_array_equal(table["nsnp"].to_numpy() + extra, ref["nsnp"].to_numpy())
    # plink2 prints 6 significant digits: within 1e-6 (or half a unit of its 6th digit)
    tol = np.maximum(1e-6, 5e-6 * np.abs(ref["kinship"].to_numpy()))
    assert (np.abs(table["kinship"].to_numpy() - ref["kinship"].to_numpy()) <= tol).all()
    return extra


def test_king_table_equals_plink2_with_missing_calls(cohort):
    d = cohort["dir"]
    _run_plink2(["--vcf", str(cohort["files"]["vcf"]), "--make-king-table", "counts", "--out", "plink"], d)
    ref = read_king_table(d / "plink.kin0")
    extra = _compare_with_plink2(cohort["table"], ref, cohort["dosage"])
    assert cohort["table"]["nsnp"].min() < cohort["dosage"].shape[1]  # missing calls were exercised
    assert extra.sum() < 0.01 * len(extra)  # the plink2 NSNP quirk touches few pairs


def test_king_table_equals_plink2_complete_data(tmp_path):
    c = gs.simulate_cohort(60, n_contigs=2, seed=11)
    files = gs.write_cohort(tmp_path, c, phased=True)
    g = read_genotypes(files["vcf"], files["fasta"])
    dosage, _ = g.dosage()
    table = king_table(dosage, g.samples, block_size=1000)
    _run_plink2(["--vcf", str(files["vcf"]), "--make-king-table", "counts", "--out", "p"], tmp_path)
    ref = read_king_table(tmp_path / "p.kin0")
    extra = _compare_with_plink2(table, ref, dosage)
    assert extra.sum() == 0  # no missing calls: every count equals plink2's as printed
    assert (table["nsnp"] == dosage.shape[1]).all()


def test_dense_and_sparse_paths_agree(cohort):
    ref = cohort["table"]
    for frac in (0.0, 1.0):
        t = king_table(cohort["dosage"], cohort["geno"].samples, block_size=5000, sparse_fraction=frac)
        for col in ("nsnp", "hethet", "ibs0"):
            np.testing.assert_array_equal(t[col].to_numpy(), ref[col].to_numpy())
        np.testing.assert_allclose(t["kinship"].to_numpy(), ref["kinship"].to_numpy(), rtol=0, atol=1e-12)


def test_king_table_filter_matches_plink2(cohort):
    d = cohort["dir"]
    _run_plink2(["--vcf", str(cohort["files"]["vcf"]), "--make-king-table", "counts",
                 "--king-table-filter", "0.0442", "--out", "plinkf"], d)
    ref = read_king_table(d / "plinkf.kin0")
    ours = king_table(cohort["dosage"], cohort["geno"].samples, block_size=7000, min_kinship=0.0442)
    assert ours[["id1", "id2"]].values.tolist() == ref[["id1", "id2"]].values.tolist()
    assert len(ours) >= len(cohort["cohort"].families)


def test_planted_relatives_have_expected_degrees(cohort):
    t = cohort["table"].set_index(["id1", "id2"])

    def kin(a, b):
        return t.loc[(a, b), "kinship"] if (a, b) in t.index else t.loc[(b, a), "kinship"]

    expected = {"duplicates": (0.45, 0.55), "parent_offspring": (0.18, 0.32), "full_sibs": (0.18, 0.36),
                "half_sibs": (0.08, 0.2)}
    for kind, members in cohort["cohort"].families:
        lo, hi = expected[kind]
        assert lo <= kin(*members) <= hi, (kind, members, kin(*members))


def test_unrelated_set_at_least_plink2_king_cutoff(cohort):
    d = cohort["dir"]
    ids = cohort["geno"].samples
    for cutoff in (0.0884, 0.0442, 0.03):
        _run_plink2(["--vcf", str(cohort["files"]["vcf"]), "--king-cutoff", str(cutoff),
                     "--out", f"cut{cutoff}"], d)
        plink_kept = (d / f"cut{cutoff}.king.cutoff.in.id").read_text().split()[1:]
        kept, removed = unrelated_set(cohort["table"], ids, cutoff)
        assert len(kept) >= len(plink_kept), cutoff
        assert len(kept) + len(removed) == len(ids)
        # no related pair left among the kept samples
        t = cohort["table"]
        ks = set(kept)
        left = t[(t["kinship"] > cutoff) & t["id1"].isin(ks) & t["id2"].isin(ks)]
        assert left.empty
        # each removed sample names a kept relative above the cutoff
        assert removed["related_to"].isin(ks).all() and (removed["kinship"] > cutoff).all()
        assert removed.columns.tolist()[:3] == ["id", "reason", "detail"]


def test_relatedness_groups_contain_every_planted_family(cohort):
    ids = cohort["geno"].samples
    labels = relatedness_groups(cohort["table"], ids, 0.0884)
    assert labels.shape == (len(ids),) and labels.dtype.kind == "i"
    lab = dict(zip(ids, labels))
    for kind, members in cohort["cohort"].families:
        assert len({lab[m] for m in members}) == 1, (kind, members)
    assert labels[0] == 0 and set(labels) == set(range(labels.max() + 1))


def test_counts_by_hand_and_formula():
    # two samples, 6 sites: het/het, het/hom0, hom0/hom2, hom2/hom2, missing/het, hom0/het
    d = np.array([[1, 1, 0, 2, -1, 0],
                  [1, 0, 2, 2, 1, 1]], np.int8)
    t = king_table(d, ["a", "b"], block_size=2)
    row = t.iloc[0]
    assert (row["id1"], row["id2"], row["nsnp"], row["hethet"], row["ibs0"]) == ("b", "a", 5, 1, 1)
    # het_a over both-called sites = 2 (sites 0, 1); het_b = 2 (sites 0, 5)
    assert row["kinship"] == pytest.approx(0.5 - (4 * 1 + 1 + 1) / (4 * 2))
    assert kinship_from_counts(0, 0, 0, 3) == -np.inf


@pytest.mark.parametrize("sparse_fraction", [0.0, 0.3, 1.0])
def test_king_counts_match_brute_force_random(sparse_fraction):
    rng = np.random.default_rng(1)
    p = rng.dirichlet([1, 1, 1, 1], size=57)  # per-variant genotype frequencies (-1, 0, 1, 2)
    d = np.stack([rng.choice([-1, 0, 1, 2], size=9, p=pv) for pv in p], axis=1).astype(np.int8)
    t = king_table(d, [f"x{i}" for i in range(9)], block_size=10, sparse_fraction=sparse_fraction)
    for _, r in t.iterrows():
        i, j = int(r["id1"][1:]), int(r["id2"][1:])
        both = (d[i] >= 0) & (d[j] >= 0)
        hh = int(((d[i] == 1) & (d[j] == 1) & both).sum())
        ib = int((np.abs(d[i].astype(int) - d[j]) == 2)[both].sum())
        hi, hj = int((d[i][both] == 1).sum()), int((d[j][both] == 1).sum())
        assert (r["nsnp"], r["hethet"], r["ibs0"]) == (both.sum(), hh, ib)
        np.testing.assert_allclose(r["kinship"], kinship_from_counts(hh, ib, hi, hj))


def _brute_mis(n, edges):
    best = 0
    for k in range(n, 0, -1):
        for sub in itertools.combinations(range(n), k):
            s = set(sub)
            if not any(a in s and b in s for a, b in edges):
                return k
    return best


def test_unrelated_set_exact_on_small_components():
    rng = np.random.default_rng(7)
    for trial in range(25):
        n = int(rng.integers(3, 11))
        ids = [f"i{k}" for k in range(n)]
        edges = [(a, b) for a in range(n) for b in range(a) if rng.random() < 0.35]
        table = pd.DataFrame({"id1": [ids[a] for a, b in edges], "id2": [ids[b] for a, b in edges],
                              "kinship": 0.25})
        kept, removed = unrelated_set(table, ids, 0.0884)
        assert len(kept) == _brute_mis(n, edges)
        assert len(removed) == n - len(kept)
    # a star: plink2's rule drops the centre; so do we
    table = pd.DataFrame({"id1": ["c"] * 5, "id2": [f"l{k}" for k in range(5)], "kinship": 0.3})
    kept, removed = unrelated_set(table, ["c"] + [f"l{k}" for k in range(5)])
    assert removed["id"].tolist() == ["c"]


def test_unrelated_set_large_component_greedy():
    # a 60-sample path graph: greedy keeps every other sample (30), the maximum
    ids = [f"p{k}" for k in range(60)]
    table = pd.DataFrame({"id1": ids[1:], "id2": ids[:-1], "kinship": 0.2})
    kept, removed = unrelated_set(table, ids, 0.0884, exact_max=20)
    assert len(kept) == 30
    assert related_pairs(table, 0.0884).shape[0] == 59


def test_autosomal_mask():
    got = autosomal_mask(["1", "chr2", "22", "X", "chrX", "MT", "chrM", "23", "scaffold_1", "29"])
    assert got.tolist() == [True, True, True, False, False, False, False, False, False, True]


# ---- tiles: sample block x sample block, bounded memory ---------------------------------------


def _mixed_dosage(n: int, m: int, seed: int = 0) -> np.ndarray:
    """int8 (n, m): common and rare variants (minor allele on either allele), ~3% missing calls,
    a duplicate pair, and one sample with no heterozygous call (its kinship is -inf or NaN)."""
    rng = np.random.default_rng(seed)
    p = np.concatenate([rng.uniform(0.2, 0.8, m - m // 2), rng.uniform(0.0, 0.04, m // 2)])
    p = np.where(rng.random(m) < 0.5, p, 1 - p)
    d = rng.binomial(2, p, size=(n, m)).astype(np.int8)
    d[3] = d[1]
    d[n - 2] = np.where(d[n - 2] == 1, 0, d[n - 2])
    d[rng.random((n, m)) < 0.03] = -1
    return d


def _brute_counts(d: np.ndarray) -> dict:
    """(N, N) KING counts straight from the definitions (het[i, j]: i's hets where both called)."""
    g1, g2 = d[:, None, :].astype(int), d[None, :, :].astype(int)
    both = (g1 >= 0) & (g2 >= 0)
    return {"nsnp": both.sum(-1), "hethet": ((g1 == 1) & (g2 == 1) & both).sum(-1),
            "ibs0": ((np.abs(g1 - g2) == 2) & both).sum(-1), "het": ((g1 == 1) & both).sum(-1)}


@pytest.mark.parametrize("tile", [1, 7, 22, 23, 40])
def test_tiled_counts_equal_untiled_and_brute_force(tile):
    d = _mixed_dosage(23, 150)
    ref = _brute_counts(d)
    untiled = king_counts(d, tile=23, sparse_fraction=0.2, block_size=1000)
    for threads in (1, 2):
        tiled = king_counts(d, tile=tile, sparse_fraction=0.2, block_size=16, threads=threads)
        for k in ("nsnp", "hethet", "ibs0", "het"):
            np.testing.assert_array_equal(tiled[k], untiled[k], err_msg=f"{k}, tile {tile}")
            np.testing.assert_array_equal(tiled[k], ref[k], err_msg=f"{k}, tile {tile}")
    # every pair i > j is in exactly one tile (with the diagonal blocks), strips in row order
    seen = np.zeros((23, 23), int)
    last = -1
    for (i0, i1), (j0, j1), c in king_tiles(d, tile=tile):
        assert i0 >= last and c["nsnp"].shape == (i1 - i0, j1 - j0) and j0 < i1
        last = i0
        seen[i0:i1, j0:j1] += 1
    assert (np.tril(seen, -1) == np.tril(np.ones_like(seen), -1)).all()


def test_small_reads_blocks_and_sparse_batches_change_nothing(tmp_path, monkeypatch):
    """A dosage file read a few variants of each row at a time (positioned reads of row
    segments), tiny float32 blocks and sparse products taken in many batches."""
    import seq2pheno.kinship as kinship

    d = _mixed_dosage(23, 150, seed=4)
    np.save(tmp_path / "dosage.npy", d)
    monkeypatch.setattr(kinship, "READ_GENOTYPES", 7 * 20)
    monkeypatch.setattr(kinship, "BLOCK_GENOTYPES", 7 * 6)
    monkeypatch.setattr(kinship, "_SPARSE_FLUSH", 10)
    ref = _brute_counts(d)
    for source in (d, tmp_path / "dosage.npy"):
        got = king_counts(source, tile=7, sparse_fraction=0.2)
        for k in ("nsnp", "hethet", "ibs0", "het"):
            np.testing.assert_array_equal(got[k], ref[k], err_msg=k)


def test_both_variant_paths_are_exercised_by_the_mixed_dosage():
    d = _mixed_dosage(23, 150)
    n0, n2 = (d == 0).sum(0), (d == 2).sum(0)
    nonmajor = 23 - np.maximum(n0, n2)
    assert (nonmajor <= 0.2 * 23).sum() > 30 and (nonmajor > 0.2 * 23).sum() > 30
    assert ((nonmajor <= 0.2 * 23) & (n2 > n0)).any()  # a rare variant whose major allele is ALT


@pytest.mark.parametrize("tile,floor", [(1, None), (7, None), (7, 0.0442), (22, -0.2), (23, None),
                                        (40, 0.1)])
def test_streamed_pairs_in_plink2_order_with_floor(tmp_path, tile, floor):
    d = _mixed_dosage(23, 150, seed=1)
    np.save(tmp_path / "dosage.npy", d)
    ref = _brute_counts(d)
    i, j = np.tril_indices(23, -1)  # plink2's order: id1 = the later sample, then each earlier one
    kin = kinship_from_counts(ref["hethet"][i, j], ref["ibs0"][i, j], ref["het"][i, j], ref["het"][j, i])
    keep = np.ones(len(i), bool) if floor is None else kin >= floor
    for source in (d, tmp_path / "dosage.npy", str(tmp_path / "dosage.npy"))[:1 if tile == 1 else 3]:
        got = {k: np.concatenate([p[k] for p in king_pairs(source, min_kinship=floor, tile=tile,
                                                           block_size=32, sparse_fraction=0.2)])
               for k in ("i", "j", "nsnp", "hethet", "ibs0", "kinship")}
        np.testing.assert_array_equal(got["i"], i[keep])
        np.testing.assert_array_equal(got["j"], j[keep])
        for k in ("nsnp", "hethet", "ibs0"):
            np.testing.assert_array_equal(got[k], ref[k][i, j][keep])
        np.testing.assert_array_equal(got["kinship"], kin[keep])  # bit for bit
    assert np.isinf(kin).any() or np.isnan(kin).any()  # the sample without hets


@pytest.mark.parametrize("tile,floor,keep_above", [(5, None, 0.0884), (5, 0.1, 0.0884), (23, 0.0442, 0.3),
                                                   (8, -1.0, None)])
def test_written_table_is_king_table_as_tsv(tmp_path, tile, floor, keep_above):
    d = _mixed_dosage(23, 150, seed=2)
    ids = [f"s{k}" for k in range(23)]
    full = king_table(d, ids)
    expected = full if floor is None else full[full["kinship"] >= floor]
    expected.to_csv(tmp_path / "expected.tsv", sep="\t", index=False, na_rep="")
    np.save(tmp_path / "dosage.npy", d)
    n, kept = write_king_table(tmp_path / "kinship.tsv", tmp_path / "dosage.npy", ids, min_kinship=floor,
                               keep_above=keep_above, tile=tile, block_size=64)
    assert (tmp_path / "kinship.tsv").read_bytes() == (tmp_path / "expected.tsv").read_bytes()
    assert n == 23 * 22 // 2
    assert kept.columns.tolist() == KING_COLUMNS
    want = full.iloc[:0] if keep_above is None else full[full["kinship"] > keep_above]
    pd.testing.assert_frame_equal(kept.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False)
    assert sorted(os.listdir(tmp_path)) == ["dosage.npy", "expected.tsv", "kinship.tsv"]  # no temporary left


def test_king_table_without_variants_or_pairs():
    t = king_table(np.zeros((3, 0), np.int8), ["a", "b", "c"])
    assert t.columns.tolist() == KING_COLUMNS and len(t) == 3
    assert (t["nsnp"] == 0).all() and t["kinship"].isna().all()
    assert len(king_table(np.zeros((1, 5), np.int8), ["a"])) == 0
    with pytest.raises(ValueError, match="2 ids"):
        king_table(np.zeros((3, 4), np.int8), ["a", "b"])


def test_tiled_king_memory_stays_far_below_n_by_n(tmp_path):
    """KING over 3,000 samples (one N x N float64 matrix = 72 MB; the untiled code held about
    ten) from the dosage file, with a small tile and a floor: the resident set grows by a few
    MB (one tile, one variant block and the kept pairs), not by N x N."""
    n = 3000
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.uniform(0.1, 0.5, 600), rng.uniform(0.0, 0.01, 200)])
    d = rng.binomial(2, p, size=(n, len(p))).astype(np.int8)
    d[3] = d[1]                                    # a duplicate
    d[rng.random(d.shape) < 0.01] = -1
    np.save(tmp_path / "dosage.npy", d)
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        sys.path.insert(0, {os.getcwd()!r})
        from seq2pheno.kinship import write_king_table
        def status(key):  # kB; VmHWM (the peak) starts afresh at exec, unlike ru_maxrss
            with open("/proc/self/status") as fh:
                return next(int(ln.split()[1]) for ln in fh if ln.startswith(key + ":"))
        ids = [f"s{{k}}" for k in range({n})]
        small = {str(tmp_path / "small.npy")!r}
        np.save(small, np.load({str(tmp_path / "dosage.npy")!r}, mmap_mode="r")[:50])
        write_king_table({str(tmp_path / "warm.tsv")!r}, small, ids[:50], min_kinship=0.177,
                         keep_above=0.354, tile=16)  # imports, BLAS buffers
        before = status("VmRSS")
        n_pairs, kept = write_king_table({str(tmp_path / "kinship.tsv")!r}, {str(tmp_path / "dosage.npy")!r},
                                         ids, min_kinship=0.177, keep_above=0.354, tile=128)
        assert n_pairs == {n * (n - 1) // 2} and len(kept) == 1, (n_pairs, kept)
        print(status("VmHWM") - before)
    """)
    grown = int(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                               text=True).stdout) / 1024
    assert grown < 72 / 4, grown  # MB (about 5 measured; the same call with tile=3000: 630)
    written = pd.read_csv(tmp_path / "kinship.tsv", sep="\t")
    assert list(zip(written["id1"], written["id2"])) == [("s3", "s1")]  # the planted duplicate only
