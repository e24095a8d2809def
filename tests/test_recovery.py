"""Truth recovery on a constructed cohort with known answers."""

import json

import numpy as np
import pandas as pd
import pytest

from seq2pheno.recovery import (causal_recovery, pair_recovery, ridge_importance,
                                truth_recovery, write_truth_recovery)


def test_causal_recovery_known_answers():
    imp = np.array([0.1, 5.0, 0.2, 4.0, 3.0, 0.0])
    r = causal_recovery(imp, [1, 3, 5])
    assert r["k"] == 3 and r["top_k"] == [1, 3, 4]
    assert r["precision_at_k"] == pytest.approx(2 / 3)
    # causal scores 5, 4, 0 against 0.1, 0.2, 3: 5 of 9 pairs ordered correctly
    assert r["auroc"] == pytest.approx(6 / 9)
    perfect = causal_recovery(imp, [1, 3])
    assert perfect["precision_at_k"] == 1.0 and perfect["auroc"] == 1.0
    assert causal_recovery(imp, [])["auroc"] is None


def test_pair_recovery_known_answers():
    df = pd.DataFrame({"pos_a": [1, 1, 2, 3, 0, 0, 0, 0, 0, 0],
                       "pos_b": [3, 2, 3, 4, 1, 2, 3, 4, 5, 6],
                       "rank": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]})
    r = pair_recovery(df, [[3, 1], [3, 4], [7, 8]])
    assert r["ranks"] == [1, 4, None]
    assert r["n_scored"] == 10 and r["n_true"] == 3 and r["n_true_scored"] == 2
    assert r["precision_at_n_true"] == pytest.approx(1 / 3)
    assert r["fraction_in_top_10pct"] == pytest.approx(1 / 3)


def test_truth_recovery_with_ridge(tmp_path):
    L = 8
    importance = np.zeros(L)
    importance[[2, 5]] = [1.0, 2.0]
    coef = np.zeros((L, 4))
    coef[5] = [0, 1, 0, 0]                         # ridge sees locus 5 only
    coef[0] = [0, 0, 0.5, 0]
    df = pd.DataFrame({"pos_a": [2, 2, 5], "pos_b": [5, 6, 6], "score": [3, 2, 1],
                       "signed_score": [3, -2, 1], "rank": [1, 2, 3]})
    truth = {"causal": [2, 5], "epistatic_pairs": [[2, 5]]}
    out = truth_recovery(importance, df, truth, ridge_coef=coef)
    assert out["causal"]["precision_at_k"] == 1.0 and out["causal"]["auroc"] == 1.0
    assert out["pairs"]["ranks"] == [1] and out["pairs"]["fraction_in_top_10pct"] == 1.0
    assert out["ridge"]["precision_at_k"] == 0.5
    np.testing.assert_allclose(ridge_importance(coef.ravel())[[0, 5]], [0.5, 1.0])
    path = tmp_path / "truth_recovery.json"
    write_truth_recovery(path, out)
    assert json.loads(path.read_text())["causal"]["k"] == 2
    assert truth_recovery(importance, None, truth)["ridge"] is None


def test_true_pairwise_epistasis_of_a_planted_product():
    from seq2pheno.recovery import true_pairwise_epistasis

    rng = np.random.default_rng(3)
    L, causal, c = 10, [1, 3, 5, 7], -0.8
    effects = rng.uniform(-4, 4, size=(4, 4))
    truth = {"causal": causal, "effects": {str(p): list(effects[k]) for k, p in enumerate(causal)},
             "epistasis": [{"type": "product", "loci": [3, 1], "coefficient": c}],
             "epistatic_pairs": [[1, 3]]}
    codes = rng.integers(0, 4, size=(6, L))
    x = np.eye(4, dtype=np.float32)[codes]
    df = true_pairwise_epistasis(x, [0, 1, 3, 5, 7], truth)
    assert list(df.columns) == ["pos_a", "pos_b", "score", "signed_score", "rank"]
    assert len(df) == 10 and (df["pos_a"] < df["pos_b"]).all()
    # epistasis of c e1 e3 for a -> a', b -> b' is c (e1[a'] - e1[a]) (e3[b'] - e3[b])
    d1 = effects[0][None, :] - effects[0][codes[:, 1]][:, None]             # (N, 4), 0 at ref
    d3 = effects[1][None, :] - effects[1][codes[:, 3]][:, None]
    vals = c * d1[:, :, None] * d3[:, None, :]
    top = df.iloc[0]
    assert (top["pos_a"], top["pos_b"], top["rank"]) == (1, 3, 1)
    assert top["score"] == pytest.approx(np.abs(vals).sum() / (6 * 9))
    assert top["signed_score"] == pytest.approx(vals.sum() / (6 * 9))
    assert np.abs(df["score"].iloc[1:]).max() < 1e-12
    assert pair_recovery(df, truth["epistatic_pairs"])["ranks"] == [1]
