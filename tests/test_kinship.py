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

from seq2pheno.kinship import (KING_COLUMNS, accuracy_by_relatedness, autosomal_mask, choose_measure,
                               edge_groups, grm_kinship_from_sums, heterozygosity, king_counts, king_pairs,
                               king_table, king_tiles, kinship_from_counts, max_kinship_to,
                               plink_autosomal_mask, read_king_table, related_pairs, relatedness_groups,
                               unrelated_set, write_king_table)
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
    names = ["1", "chr2", "22", "X", "chrX", "MT", "chrM", "23", "scaffold_1", "29", "1A", "ssa01",
             "Chr01", "LG3", "Z", "chrW", "Pt", "chloroplast", "Mitochondrion", "mt", "ChrY", "XY"]
    # default: every contig but the sex and organelle names (any case, with or without chr)
    assert autosomal_mask(names).tolist() == [True, True, True, False, False, False, False, True, True,
                                              True, True, True, True, True, False, False, False, False,
                                              False, False, False, False]
    # plink2's human reading: numbered contigs only, 23-26 are X, Y, XY, MT
    assert autosomal_mask(names[:10], "plink").tolist() == [True, True, True, False, False, False, False,
                                                            False, False, True]
    assert plink_autosomal_mask(names[:10]).tolist() == autosomal_mask(names[:10], "plink").tolist()
    # a list of names, or a regular expression matched against the whole name
    assert autosomal_mask(["1", "2", "X", "10"], ["1", "X"]).tolist() == [True, False, True, False]
    assert autosomal_mask(["1", "2", "X", "10"], [1, 10]).tolist() == [True, False, False, True]
    assert autosomal_mask(["Chr01", "Chr02", "ChrUn", "scaffold_3"], r"Chr\d+").tolist() == [True, True,
                                                                                              False, False]
    assert autosomal_mask(["1", "2"], non_autosomes=["2"]).tolist() == [True, False]
    assert autosomal_mask([]).shape == (0,)
    with pytest.raises(ValueError, match="regular expression"):
        autosomal_mask(["1"], "(")


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
    # the same text as pandas' to_csv, but for integral floats ("0" for "0.0"): the values are
    # equal bit for bit (shortest round-trip floats), NaN an empty field, nothing quoted
    text = (tmp_path / "kinship.tsv").read_text()
    assert text.replace(".0\n", "\n") == (tmp_path / "expected.tsv").read_text().replace(".0\n", "\n")
    got = pd.read_csv(tmp_path / "kinship.tsv", sep="\t")
    pd.testing.assert_frame_equal(got, pd.read_csv(tmp_path / "expected.tsv", sep="\t"))
    assert '"' not in text and text.startswith("\t".join(KING_COLUMNS) + "\n")
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


# ---- pedigrees: KING and VanRaden's G on the kinship scale ------------------------------------


def pedigree(n_founders: int = 80, n_sites: int = 3000, *, inbred: bool = False, haploid: bool = False,
             seed: int = 0):
    """(int8 dosage (N, M), ids, {kind: [(id, id)]}): unrelated founders plus known relatives,
    sites unlinked. Outbred: full sibs fs0-fs2 (outside parents), a parent-offspring pair
    (po_child of f1 and f2), half sibs hs0/hs1 and clones (clone_f0 of f0, clone2_f0 with 0.1%
    genotype errors). ``inbred``: every founder fully homozygous and each child an inbred line
    (each site from one parent, doubled): sibling lines and line-parent pairs share half their
    genome. ``haploid``: inbred, coded as haploid calls are (0 or 2)."""
    inbred = inbred or haploid
    rng = np.random.default_rng(seed)
    freq = rng.uniform(0.05, 0.95, n_sites)
    cols = np.arange(n_sites)

    def founder():
        h = (rng.random((2, n_sites)) < freq).astype(np.int8)
        if inbred:
            h[1] = h[0]
        return h

    def child(a, b):
        if inbred:
            line = np.where(rng.random(n_sites) < 0.5, a[0], b[0])
            return np.stack([line, line])
        return np.stack([a[rng.integers(0, 2, n_sites), cols], b[rng.integers(0, 2, n_sites), cols]])

    haps = [founder() for _ in range(n_founders)]
    ids = [f"f{i}" for i in range(n_founders)]
    pa, pb, shared = founder(), founder(), founder()
    for j in range(3):
        haps.append(child(pa, pb))
        ids.append(f"fs{j}")
    for j in range(2):
        haps.append(child(shared, founder()))
        ids.append(f"hs{j}")
    haps.append(child(haps[1], haps[2]))
    ids.append("po_child")
    haps.append(haps[0].copy())
    ids.append("clone_f0")
    noisy = haps[0].copy()
    flip = rng.random(n_sites) < 0.001
    noisy[:, flip] = 1 - noisy[:, flip]
    haps.append(noisy)
    ids.append("clone2_f0")
    d = np.stack([h.sum(0) for h in haps]).astype(np.int8)
    kinds = {"clones": [("clone_f0", "f0"), ("clone2_f0", "f0"), ("clone2_f0", "clone_f0")],
             "first": [("fs1", "fs0"), ("fs2", "fs0"), ("fs2", "fs1"), ("po_child", "f1"), ("po_child", "f2")],
             "second": [] if inbred else [("hs1", "hs0")]}
    if inbred:  # half-sib lines share a quarter of their genome: expected 0.125
        kinds["second"] = [("hs1", "hs0")]
    return d, ids, kinds


def _kin_lookup(table):
    t = {(a, b): k for a, b, k in zip(table["id1"], table["id2"], table["kinship"])}
    return lambda a, b: t[(a, b)] if (a, b) in t else t[(b, a)]


def _brute_grm(d: np.ndarray) -> np.ndarray:
    """(N, N) zz / (2 sqrt(q1 q2)) over the sites both samples have called, p over all calls."""
    called = d >= 0
    two_p = np.where(called, d, 0).sum(0) / np.maximum(called.sum(0), 1)
    z = np.where(called, d - two_p, 0.0)
    c = called.astype(float)
    zz, q1 = z @ z.T, (z * z) @ c.T
    return zz / (2 * np.sqrt(q1 * q1.T))


@pytest.mark.parametrize("inbred", [False, True], ids=["outbred", "inbred"])
def test_pedigree_relatives_under_both_measures(inbred):
    d, ids, kinds = pedigree(inbred=inbred)
    expected = {"clones": (0.45, 0.51), "first": (0.19, 0.31), "second": (0.08, 0.17)}
    measures = ["vanraden"] if inbred else ["king", "vanraden"]
    for measure in measures:
        t = king_table(d, ids, measure=measure)
        kin = _kin_lookup(t)
        for kind, pairs in kinds.items():
            lo, hi = expected[kind]
            for a, b in pairs:
                assert lo <= kin(a, b) <= hi, (measure, kind, a, b, kin(a, b))
        founders = t[t["id1"].str.match(r"f\d+$") & t["id2"].str.match(r"f\d+$")]["kinship"]
        assert abs(founders.mean()) < 0.02 and founders.max() < 0.0884, measure
    if inbred:  # KING-robust is undefined without heterozygotes: -inf, or NaN for identical lines
        t = king_table(d, ids)
        assert np.isneginf(t["kinship"]).sum() + t["kinship"].isna().sum() == len(t)
        assert np.isnan(_kin_lookup(t)("clone_f0", "f0"))


@pytest.mark.parametrize("tile", [1, 7, 23, 40])
def test_vanraden_tiles_equal_brute_force_with_missing_calls(tmp_path, tile):
    d = _mixed_dosage(23, 150, seed=5)
    ref = _brute_grm(d)
    counts = _brute_counts(d)
    np.save(tmp_path / "dosage.npy", d)
    i, j = np.tril_indices(23, -1)
    for source, block in ((d, 16), (tmp_path / "dosage.npy", 1000)):
        for threads in (1, 2):
            got = {k: np.concatenate([p[k] for p in king_pairs(source, tile=tile, block_size=block,
                                                               threads=threads, measure="vanraden")])
                   for k in ("i", "j", "nsnp", "hethet", "ibs0", "kinship")}
            np.testing.assert_array_equal(got["i"], i)
            np.testing.assert_array_equal(got["j"], j)
            for k in ("nsnp", "hethet", "ibs0"):  # the same counts as KING's
                np.testing.assert_array_equal(got[k], counts[k][i, j], err_msg=k)
            np.testing.assert_allclose(got["kinship"], ref[i, j], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grm_kinship_from_sums([2.0, 1.0], [4.0, 0.0], [1.0, 3.0]), [0.5, np.nan])


def test_choose_measure_king_for_outbred_vanraden_for_inbred_and_haploid():
    d, ids, _ = pedigree()
    c = choose_measure(d)
    assert (c["measure"], c["name"], c["reason"]) == ("king", "KING-robust", None)
    assert 0.3 < c["heterozygosity"]["observed"] < 0.45 and c["heterozygosity"]["n_inbred"] == 0
    for kw in ({"inbred": True}, {"haploid": True}):
        d, ids, _ = pedigree(**kw)
        c = choose_measure(d)
        assert c["measure"] == "vanraden" and c["name"] == "VanRaden G/2 (diagonal-scaled)"
        assert "no heterozygous call" in c["reason"]
    # a few residual heterozygotes (genotyping errors) in inbred lines: still G
    rng = np.random.default_rng(0)
    d = d.copy()
    d[rng.random(d.shape) < 0.005] = 1
    c = choose_measure(d)
    assert c["measure"] == "vanraden" and "inbred or haploid" in c["reason"]
    assert c["heterozygosity"]["n_inbred"] == d.shape[0]
    # one inbred sample among outbred ones keeps KING; the setting forces either
    d, ids, _ = pedigree()
    d[0] = np.where(d[0] == 1, 2, d[0])
    assert choose_measure(d)["measure"] == "king" and heterozygosity(d)["n_inbred"] == 1
    assert choose_measure(d, "vanraden")["reason"] == "curation.kinship_measure: vanraden"
    assert choose_measure(d, "king")["reason"] is None
    with pytest.raises(ValueError, match="expected auto"):
        choose_measure(d, "ibs")


def test_written_table_keeps_identical_homozygous_pairs(tmp_path):
    d, ids, _ = pedigree(inbred=True, n_founders=30, n_sites=500)
    n, kept = write_king_table(tmp_path / "k.tsv", d, ids, min_kinship=0.2, keep_above=0.3,
                               keep_identical=True)
    assert ("clone_f0", "f0") in set(zip(kept["id1"], kept["id2"]))  # KING NaN, kept as identical
    written = pd.read_csv(tmp_path / "k.tsv", sep="\t")
    assert written.empty  # NaN and -inf are below any floor
    n, kept = write_king_table(tmp_path / "g.tsv", d, ids, min_kinship=0.2, keep_above=0.3,
                               measure="vanraden")
    assert {("clone_f0", "f0"), ("clone2_f0", "f0"), ("clone2_f0", "clone_f0")} <= set(zip(kept["id1"], kept["id2"]))


def test_edge_groups():
    labels = edge_groups(["b", "d", "x"], ["a", "c", "a"], ["a", "b", "c", "d", "e"])
    assert labels.tolist() == [0, 0, 1, 1, 2]


# ---- non-human contig names, against plink2 ---------------------------------------------------


def test_non_human_contig_names_are_autosomes_and_equal_plink2(tmp_path):
    """Contigs 1A, ssa01, Chr01, scaffold_7 (autosomes by default) and X, MT (not): our table
    over the default autosomes equals plink2's with --allow-extra-chr (which reads X and MT as
    the human X and MT and leaves them out of KING)."""
    import dataclasses

    c = gs.simulate_cohort(50, n_contigs=6, contig_length=250_000, seed=5)
    old = sorted(c.contigs)
    names = dict(zip(old, ["1A", "ssa01", "Chr01", "scaffold_7", "X", "MT"]))
    c = dataclasses.replace(c, chrom=np.array([names[x] for x in c.chrom]),
                            contigs={names[k]: v for k, v in c.contigs.items()},
                            reference={names[k]: v for k, v in c.reference.items()})
    files = gs.write_cohort(tmp_path, c, phased=False, missing_rate=0.01)
    g = read_genotypes(files["vcf"], files["fasta"])
    dosage, idx = g.dosage()
    chrom = g.sites["chrom"].to_numpy()[idx]
    auto = autosomal_mask(chrom)
    assert set(chrom[auto]) == {"1A", "ssa01", "Chr01", "scaffold_7"}
    assert set(chrom[plink_autosomal_mask(chrom)]) == {"Chr01"}  # the human reading: Chr01 only
    table = king_table(dosage[:, auto], g.samples, block_size=700)
    _run_plink2(["--vcf", str(files["vcf"]), "--allow-extra-chr", "--make-king-table", "counts",
                 "--out", "extra"], tmp_path)
    _compare_with_plink2(table, read_king_table(tmp_path / "extra.kin0"), dosage[:, auto])
    # a list of contigs selects those only: plink2 with --chr on the same ones
    pick = autosomal_mask(chrom, ["1A", "scaffold_7"])
    table = king_table(dosage[:, pick], g.samples)
    _run_plink2(["--vcf", str(files["vcf"]), "--allow-extra-chr", "--chr", "1A,scaffold_7",
                 "--make-king-table", "counts", "--out", "pick"], tmp_path)
    _compare_with_plink2(table, read_king_table(tmp_path / "pick.kin0"), dosage[:, pick])


def test_numbered_contigs_above_22_are_autosomes_as_plink2_chr_set(tmp_path):
    """A 30-chromosome genome (contigs 1..30, as in cattle): all autosomal by default, equal to
    plink2 --chr-set 30 (without it plink2 would read 23-26 as X, Y, XY, MT)."""
    import dataclasses

    c = gs.simulate_cohort(30, n_contigs=3, contig_length=200_000, seed=8)
    names = dict(zip(sorted(c.contigs), ["2", "23", "30"]))
    c = dataclasses.replace(c, chrom=np.array([names[x] for x in c.chrom]),
                            contigs={names[k]: v for k, v in c.contigs.items()},
                            reference={names[k]: v for k, v in c.reference.items()})
    files = gs.write_cohort(tmp_path, c, phased=True)
    g = read_genotypes(files["vcf"], files["fasta"])
    dosage, idx = g.dosage()
    auto = autosomal_mask(g.sites["chrom"].to_numpy()[idx])
    assert auto.all()
    table = king_table(dosage, g.samples)
    _run_plink2(["--vcf", str(files["vcf"]), "--chr-set", "30", "--make-king-table", "counts",
                 "--out", "cs"], tmp_path)
    _compare_with_plink2(table, read_king_table(tmp_path / "cs.kin0"), dosage)


# ---- relatedness of test samples to training --------------------------------------------------


def test_max_kinship_to_from_pair_table_path_and_matrix(tmp_path):
    d, ids, _ = pedigree(n_founders=20, n_sites=2000)
    full = king_table(d, ids)
    test = ["fs0", "po_child", "clone_f0", "f5", "hs0"]
    train = [s for s in ids if s not in test]
    # brute force from the full matrix
    n = len(ids)
    mat = np.full((n, n), np.nan)
    pos = {s: k for k, s in enumerate(ids)}
    for a, b, k in zip(full["id1"], full["id2"], full["kinship"]):
        mat[pos[a], pos[b]] = mat[pos[b], pos[a]] = k
    want = np.array([np.nanmax([mat[pos[t], pos[s]] for s in train]) for t in test])
    got = max_kinship_to(full, test, train)
    np.testing.assert_allclose(got, want)
    assert got[1] > 0.2 and got[2] > 0.45 and got[0] > 0.2  # fs1/fs2, parents f1/f2, f0 in training
    assert got[3] < 0.0884 and 0.0884 < got[4] < 0.177  # an unrelated founder; hs0's half sib hs1
    np.testing.assert_allclose(max_kinship_to(mat, test, train, ids=ids), want)
    np.testing.assert_allclose(max_kinship_to(pd.DataFrame(mat, index=ids, columns=ids), test, train), want)
    full.to_csv(tmp_path / "kinship.tsv", sep="\t", index=False, na_rep="")
    np.testing.assert_allclose(max_kinship_to(tmp_path / "kinship.tsv", test, train, chunksize=100), want)
    # a floored table: pairs below the floor count as 0
    floored = full[full["kinship"] >= 0.0442]
    np.testing.assert_allclose(max_kinship_to(floored, test, train), np.maximum(want, 0.0))
    assert max_kinship_to(floored, ["f5"], train)[0] == 0.0 or want[3] >= 0.0442
    # no training samples, unknown ids: 0
    assert max_kinship_to(full, ["fs0", "nobody"], []).tolist() == [0.0, 0.0]
    # a sample in both sets is not compared with itself
    assert max_kinship_to(full, ["f0"], ["f0", "f1"])[0] == pytest.approx(mat[pos["f0"], pos["f1"]])


def test_accuracy_by_relatedness_bins():
    rng = np.random.default_rng(2)
    mk = np.r_[rng.uniform(-0.1, 0.04, 40), rng.uniform(0.05, 0.08, 30), [0.2, 0.25], rng.uniform(0.36, 0.5, 10)]
    obs = rng.normal(size=len(mk))
    pred = obs + rng.normal(scale=np.where(mk > 0.3, 0.1, 1.0))
    pred[0] = np.nan  # left out
    acc = accuracy_by_relatedness(obs, pred, mk)
    assert acc.columns.tolist() == ["bin", "lower", "upper", "n", "pearson_r"]
    assert acc["bin"].tolist() == ["< 0.0442", "0.0442 - 0.0884", "0.0884 - 0.177", "0.177 - 0.354", ">= 0.354"]
    assert acc["n"].tolist() == [39, 30, 0, 2, 10]
    sel = (mk >= 0.354)
    assert acc["pearson_r"].iloc[4] == pytest.approx(np.corrcoef(obs[sel], pred[sel])[0, 1])
    assert acc["pearson_r"].iloc[4] > 0.9
    assert np.isnan(acc["pearson_r"].iloc[2]) and np.isnan(acc["pearson_r"].iloc[3])  # < 3 samples
    assert accuracy_by_relatedness(obs, obs, mk, bins=(-1, 0, 1))["n"].tolist() == [(mk < 0).sum(), (mk >= 0).sum()]
    with pytest.raises(ValueError, match="increasing"):
        accuracy_by_relatedness(obs, pred, mk, bins=(0.1, 0.0))


@pytest.mark.parametrize("n_variants", [1, 63, 64, 130])
def test_packed_popcount_products_equal_the_indicator_products(n_variants):
    """The common-variant kernel (popcounts of packed bits) against the float products it
    replaces: HETHET = H1 H2^T, 2 IBS0 (opposite homozygotes, from Z1 Z2^T with z = g - 1, 0 at a
    missing call, and from the REF x ALT products), and the het calls
    facing a missing call (Mi2 H1^T); one block against another and a block against itself
    (each pair once, mirrored), over variant counts around a 64-bit word."""
    from seq2pheno._popcount import missing_het, packed_products
    from seq2pheno.kinship import _coords, _pack_calls

    rng = np.random.default_rng(n_variants)
    d1 = rng.integers(-1, 3, (7, n_variants)).astype(np.int8)
    d2 = rng.integers(-1, 3, (5, n_variants)).astype(np.int8)

    def h(d):
        return (d == 1).astype(float)

    def z(d):
        return np.where(d < 0, 0, d - 1).astype(float)

    for a, b, same in ((d1, d2, False), (d1, d1, True)):
        hethet, rest = np.zeros((len(a), len(b))), np.zeros((len(a), len(b)))
        packed_products(*_pack_calls(a), *_pack_calls(b), hethet, rest, same)
        np.testing.assert_array_equal(hethet, h(a) @ h(b).T)
        # twice the sites with opposite homozygotes: (both homozygous - Z Z^T), z = g - 1
        both_hom = ((a == 0) | (a == 2)).astype(float) @ ((b == 0) | (b == 2)).astype(float).T
        np.testing.assert_array_equal(rest, both_hom - z(a) @ z(b).T)
        np.testing.assert_array_equal(rest / 2, (a == 0) * 1.0 @ (b == 2).T + (a == 2) * 1.0 @ (b == 0).T)
        facing = np.zeros((len(b), len(a)))
        missing_het(*_coords(b < 0), _pack_calls(a)[0], facing)
        np.testing.assert_array_equal(facing, (b < 0).astype(float) @ h(a).T)


@pytest.mark.parametrize("n_variants", [1, 63, 64, 130])
def test_packed_bits_and_first_pass_counts_equal_numpy(n_variants):
    """The two one-pass kernels against numpy: the packed het / homozygous / ALT bit sets (bit b
    of word w = variant 64 w + b, zero padded), also of a column slice (a strided view, as the
    tiles pass them), and the first pass's genotype counts per variant and het / missing calls
    per sample."""
    from seq2pheno._popcount import genotype_counts
    from seq2pheno.kinship import _pack_calls

    rng = np.random.default_rng(n_variants)
    d = rng.integers(-1, 3, (6, n_variants + 3)).astype(np.int8)
    for view in (d, d[:, 3:]):
        words = -(-view.shape[1] // 64)
        for got, mask in zip(_pack_calls(view), (view == 1, (view == 0) | (view == 2), view == 2)):
            want = np.zeros((len(view), words * 8), np.uint8)
            want[:, :-(-view.shape[1] // 8)] = np.packbits(mask, axis=1, bitorder="little")
            np.testing.assert_array_equal(got, want.view(np.uint64))
    m = d.shape[1]
    n0, n1, n2 = (np.full(m, 5, np.int64) for _ in range(3))  # counts are added to
    het, miss = np.zeros(len(d), np.int64), np.zeros(len(d), np.int64)
    genotype_counts(d, n0, n1, n2, het, miss)
    for got, g in ((n0, 0), (n1, 1), (n2, 2)):
        np.testing.assert_array_equal(got, 5 + (d == g).sum(axis=0))
    np.testing.assert_array_equal(het, (d == 1).sum(axis=1))
    np.testing.assert_array_equal(miss, (d < 0).sum(axis=1))
