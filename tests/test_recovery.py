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
