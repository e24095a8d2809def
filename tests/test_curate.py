"""Duplicate grouping, resolution and the replicate noise ceiling."""

import logging

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

from seq2pheno.curate import (duplicate_groups, group_distances, replicate_repeatability,
                              resolve_duplicates)

EYE = np.eye(4, dtype=np.float32)


def onehot(seqs):
    return EYE[np.array([["ACGT".index(c) for c in s] for s in seqs])]


def brute(x, k):
    """Reference: connected components of the full Hamming graph over column vectors."""
    d = (x[:, None] != x[None, :]).any(axis=3).sum(axis=2)
    return connected_components(d <= k, directed=False)[1]


def same_partition(a, b):
    return len(set(zip(a.tolist(), b.tolist()))) == len(set(a.tolist())) == len(set(b.tolist()))


def mutants(n, length, rate, seed):
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 4, length)
    codes = np.tile(ref, (n, 1))
    for i in range(n):
        m = rng.integers(0, int(rate * length) + 1)
        pos = rng.integers(0, length, m)
        codes[i, pos] = (ref[pos] + rng.integers(1, 4, m)) % 4
    return EYE[codes]


def test_exact_groups_first_appearance():
    x = onehot(["ACGT", "ACGA", "ACGT", "TTTT", "ACGA", "ACGT"])
    g = duplicate_groups(x)
    assert g.dtype == np.int64
    assert g.tolist() == [0, 1, 0, 2, 1, 0]


def test_exact_distinguishes_n_and_memmap(tmp_path):
    x = onehot(["ACGT", "ACGT", "ACGA"])
    x[1, 3] = 0.25  # an N
    path = tmp_path / "x.npy"
    np.save(path, x)
    mm = np.load(path, mmap_mode="r")
    assert duplicate_groups(mm, block_size=2).tolist() == [0, 1, 2]
    # N differs from T at one column: a near duplicate at threshold 1 of 4
    assert duplicate_groups(mm, 0.25, block_size=2).tolist() == [0, 0, 0]


def test_near_groups_transitive():
    a = "AAAAAAAAAA"
    b = "CCAAAAAAAA"  # 2 from a
    c = "CCCCAAAAAA"  # 2 from b, 4 from a
    d = "GGGGGGGGGG"
    e = "GGGGGGGGTT"  # 2 from d
    x = onehot([a, d, b, c, e, "TTTTTTTTTT"])
    assert duplicate_groups(x, 0.2).tolist() == [0, 1, 0, 0, 1, 2]   # <= 2 mismatches
    assert duplicate_groups(x, 0.1).tolist() == [0, 1, 2, 3, 4, 5]   # <= 1 mismatch
    assert duplicate_groups(x, 0.19).tolist() == [0, 1, 2, 3, 4, 5]  # floor(1.9) = 1
    assert duplicate_groups(x, 0.0).tolist() == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("method", ["auto", "index", "dense"])
@pytest.mark.parametrize("block_size", [1, 7, 64, 4096])
def test_blocked_equals_brute_force(method, block_size):
    x = mutants(150, 40, 0.15, seed=3)
    x = np.concatenate([x, x[:10]])  # exact copies too
    for frac in (0.025, 0.05, 0.1):
        k = int(np.floor(frac * 40 + 1e-9))
        got = duplicate_groups(x, frac, block_size=block_size, method=method)
        assert same_partition(got, brute(x, k)), (frac, method, block_size)


@pytest.mark.parametrize("method", ["index", "dense"])
def test_random_and_odd_states_equal_brute_force(method):
    rng = np.random.default_rng(0)
    # diverse random sequences plus a few with N and heterozygous columns
    x = EYE[rng.integers(0, 4, (60, 12))]
    x[5:15] = x[0]
    x[5:15, rng.integers(0, 12, 10)] = 0.25
    x[20:25] = x[1]
    x[20:25, 3] = [0.5, 0, 0.5, 0]
    x[25:30] = x[20]
    x[25:30, 7] = 0.25
    for frac in (0.1, 0.2, 0.34):
        k = int(np.floor(frac * 12 + 1e-9))
        got = duplicate_groups(x, frac, block_size=16, method=method)
        assert same_partition(got, brute(x, k)), (frac, method)


def test_logs_progress_and_rejects_bad_arguments(caplog):
    x = mutants(50, 20, 0.2, seed=1)
    log = logging.getLogger("test_curate")
    with caplog.at_level(logging.INFO, logger="test_curate"):
        duplicate_groups(x, 0.1, log=log)
    assert any("threshold 2 mismatches" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError):
        duplicate_groups(x, 1.5)
    with pytest.raises(ValueError):
        duplicate_groups(x[:, :, :3])
    with pytest.raises(ValueError):
        duplicate_groups(x, 0.1, method="magic")


def test_group_distances():
    x = onehot(["AAAA", "AAAC", "CCCC", "AACC", "CCCC"])
    g = np.array([0, 0, 1, 0, 1])
    assert group_distances(x, g, block_size=2).tolist() == [0, 1, 0, 2, 0]


def test_resolve_remove_exact_and_near():
    ids = ["a", "b", "c", "d", "e"]
    y = [1.0, 3.0, 5.0, np.nan, 2.0]
    groups = [0, 0, 1, 0, 2]
    kept, removed = resolve_duplicates(ids, y, groups, distances=[0, 0, 0, 2, 0])
    assert list(kept.columns) == ["id", "phenotype", "group"]
    assert kept["id"].tolist() == ["a", "c", "e"]
    assert kept["phenotype"].tolist() == [2.0, 5.0, 2.0]      # mean of 1 and 3, NaN ignored
    assert kept["group"].tolist() == [0, 1, 2]
    assert list(removed.columns) == ["id", "reason", "detail"]
    assert removed["id"].tolist() == ["b", "d"]
    assert removed["reason"].tolist() == ["exact duplicate", "near duplicate"]
    assert removed["detail"].iloc[0] == "of a; discordant phenotypes in group, kept their mean"
    assert removed["detail"].iloc[1].startswith("of a (2 mismatches)")


def test_resolve_concordant_and_all_missing():
    kept, removed = resolve_duplicates(["a", "b", "c", "d"], [2.0, 2.0 + 1e-12, np.nan, np.nan],
                                       [0, 0, 1, 1])
    assert kept["phenotype"].iloc[0] == pytest.approx(2.0)
    assert np.isnan(kept["phenotype"].iloc[1])
    assert removed["detail"].tolist() == ["of a", "of c"]
    assert removed["reason"].tolist() == ["exact duplicate"] * 2


def test_resolve_group_mode_and_bad_mode():
    kept, removed = resolve_duplicates(["a", "b", "c"], [1.0, 2.0, 3.0], [0, 0, 1], mode="group")
    assert kept["id"].tolist() == ["a", "b", "c"]
    assert kept["phenotype"].tolist() == [1.0, 2.0, 3.0]
    assert kept["group"].tolist() == [0, 0, 1]
    assert len(removed) == 0 and list(removed.columns) == ["id", "reason", "detail"]
    with pytest.raises(ValueError):
        resolve_duplicates(["a"], [1.0], [0], mode="drop")


def test_repeatability_known_variances():
    rng = np.random.default_rng(7)
    n_groups, reps, sd_g, sd_e = 400, 3, 2.0, 0.5
    g = np.repeat(np.arange(n_groups), reps)
    y = rng.normal(0, sd_g, n_groups)[g] + rng.normal(0, sd_e, len(g))
    expected = 1 - sd_e ** 2 / (sd_g ** 2 + sd_e ** 2)
    assert replicate_repeatability(y, g) == pytest.approx(expected, abs=0.02)
    # exact value: 1 - pooled within variance / total variance
    within = sum(((y[g == i] - y[g == i].mean()) ** 2).sum() for i in range(n_groups)) / (len(y) - n_groups)
    assert replicate_repeatability(y, g) == pytest.approx(1 - within / y.var(ddof=1))


def test_repeatability_needs_ten_replicate_groups():
    y = np.arange(30, dtype=float)
    g = np.arange(30)
    g[1:19:2] = g[0:18:2]  # 9 groups of 2
    assert replicate_repeatability(y, g) is None
    g[19] = g[18]          # a 10th
    assert replicate_repeatability(y, g) is not None
    y2 = y.copy()
    y2[1] = np.nan         # a member without phenotype no longer counts
    assert replicate_repeatability(y2, g) is None
