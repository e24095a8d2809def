"""Split invariants: coverage, fractions, stratification, groups intact, reproducibility."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from seq2pheno.errors import InputError
from seq2pheno.split import (MIN_EVAL, MIN_TRAIN, assign_splits, rare_value_weights,
                             split_distribution, split_table)


def normal(n, seed=0):
    return np.random.default_rng(seed).normal(10.0, 3.0, n)


def random_groups(n, seed=0):
    """Groups of size 1-5 in shuffled order."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 6, n)
    g = np.repeat(np.arange(n), sizes)[:n]
    return rng.permutation(g)


def test_coverage_and_fractions():
    y = normal(1000)
    s = assign_splits(y, fractions=(0.7, 0.15, 0.15), seed=1)
    assert s.shape == (1000,) and set(s) == {"train", "valid", "test"}
    counts = {k: int((s == k).sum()) for k in ("train", "valid", "test")}
    assert counts == {"train": 700, "valid": 150, "test": 150}
    s2 = assign_splits(y, fractions=(0.6, 0.3, 0.1))
    assert abs((s2 == "train").sum() - 600) <= 1 and abs((s2 == "test").sum() - 100) <= 1


def test_stratified_per_bin_and_ks():
    y = normal(4000, seed=2)
    s = assign_splits(y, n_bins=10, seed=3)
    bins = np.digitize(y, np.quantile(y, np.linspace(0, 1, 11)[1:-1]))
    for b in range(10):
        m = bins == b
        assert abs((s[m] == "train").mean() - 0.7) < 0.02
        assert abs((s[m] == "test").mean() - 0.15) < 0.02
    assert stats.ks_2samp(y[s == "train"], y[s == "test"]).pvalue > 0.5
    assert stats.ks_2samp(y[s == "train"], y[s == "valid"]).pvalue > 0.5


def test_groups_intact_and_fractions_within_a_group():
    y = normal(2000, seed=4)
    g = random_groups(2000, seed=5)
    s = assign_splits(y, g, seed=6)
    per_group = pd.DataFrame({"g": g, "s": s}).groupby("g")["s"].nunique()
    assert (per_group == 1).all()
    assert abs((s == "train").mean() - 0.7) < 0.01
    assert abs((s == "valid").mean() - 0.15) < 0.01
    # the same with a group's members on different phenotypes: grouped by mean
    assert stats.ks_2samp(y[s == "train"], y[s == "test"]).pvalue > 0.05


def test_reproducible_and_seed_sensitive():
    y = normal(500, seed=7)
    g = random_groups(500, seed=8)
    a = assign_splits(y, g, seed=11)
    assert np.array_equal(a, assign_splits(y, g, seed=11))
    assert not np.array_equal(a, assign_splits(y, g, seed=12))


def test_unphenotyped():
    y = normal(300, seed=9)
    y[::10] = np.nan
    g = np.arange(300)
    g[1] = g[0]  # a group with one unphenotyped member
    s = assign_splits(y, g)
    assert (s[np.isnan(y)] == "unphenotyped").all()
    assert not (s[~np.isnan(y)] == "unphenotyped").any()
    assert (s == "train").sum() == 189


def test_bad_fractions():
    with pytest.raises(ValueError, match="sum to 1"):
        assign_splits(normal(100), fractions=(0.7, 0.2, 0.2))
    with pytest.raises(ValueError):
        assign_splits(normal(100), fractions=(0.7, 0.3))


def test_too_few_samples():
    with pytest.raises(InputError, match=r"split 'valid' has 1 sample; at least 2"):
        assign_splits(normal(12), fractions=(0.85, 0.1, 0.05))
    with pytest.raises(InputError, match=r"split 'train' has \d samples; at least 10"):
        assign_splits(normal(12), fractions=(0.5, 0.25, 0.25))
    with pytest.raises(InputError, match="split 'test' has 0 samples"):
        assign_splits(normal(200), fractions=(0.8, 0.2, 0.0))
    y = np.full(20, np.nan)
    y[:5] = 1.0
    with pytest.raises(InputError):
        assign_splits(y)
    assert MIN_TRAIN == 10 and MIN_EVAL == 2
    s = assign_splits(normal(14), fractions=(0.72, 0.14, 0.14))
    assert (s == "train").sum() == 10


def test_distribution_matches_scipy():
    y = normal(400, seed=10)
    y[:20] = np.nan
    s = assign_splits(y, seed=2)
    d = split_distribution(y, s)
    assert set(d) == {"pairs", "n", "mean", "sd"}
    assert [(p["a"], p["b"]) for p in d["pairs"]] == [("train", "valid"), ("train", "test"), ("valid", "test")]
    for p in d["pairs"]:
        ref = stats.ks_2samp(y[s == p["a"]], y[s == p["b"]])
        assert p["ks_statistic"] == pytest.approx(ref.statistic)
        assert p["p_value"] == pytest.approx(ref.pvalue)
    assert d["n"] == {"train": int((s == "train").sum()), "valid": int((s == "valid").sum()),
                      "test": int((s == "test").sum()), "unphenotyped": 20}
    assert d["mean"]["test"] == pytest.approx(y[s == "test"].mean())
    assert d["sd"]["train"] == pytest.approx(y[s == "train"].std(ddof=1))
    json.dumps(d)


def test_weights_train_only_capped_mean_one():
    rng = np.random.default_rng(0)
    y = np.concatenate([rng.normal(0, 1, 990), [8.0, 9.0, -7.0] * 3 + [10.0]])
    s = assign_splits(y, seed=0)
    w = rare_value_weights(y, s, n_bins=20, cap=5.0)
    assert (w[s != "train"] == 1.0).all()
    wt = w[s == "train"]
    assert wt.mean() == pytest.approx(1.0)
    assert wt.max() <= 5.0 + 1e-9
    assert wt.max() == pytest.approx(5.0)          # the extremes hit the cap
    centre = np.abs(y) < 0.2
    tails = np.abs(y) > 2.5
    assert w[(s == "train") & tails].min() > w[(s == "train") & centre].max()
    uncapped = rare_value_weights(y, s, cap=None)
    assert uncapped[s == "train"].max() > 5.0 and uncapped[s == "train"].mean() == pytest.approx(1.0)
    assert np.allclose(rare_value_weights(y, s, cap=1.0)[s == "train"], 1.0)
    with pytest.raises(ValueError):
        rare_value_weights(y, s, cap=0.5)


def test_split_table():
    t = split_table(["a", "b"], ["train", "test"], [0, 1], [2.0, 1.0])
    assert list(t.columns) == ["id", "split", "group", "weight"]
