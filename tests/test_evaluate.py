"""Regression metrics against numpy formulas."""

import numpy as np
import pytest

from seq2pheno.evaluate import metrics_by_split, regression_metrics


def test_metrics_match_numpy_formulas():
    rng = np.random.default_rng(0)
    obs = rng.normal(size=50)
    pred = obs + rng.normal(scale=0.5, size=50)
    m = regression_metrics(obs, pred)
    assert m["n"] == 50
    assert m["mse"] == pytest.approx(np.mean((obs - pred) ** 2))
    assert m["r2"] == pytest.approx(1 - np.sum((obs - pred) ** 2) / np.sum((obs - obs.mean()) ** 2))
    assert m["pearson_r"] == pytest.approx(np.corrcoef(obs, pred)[0, 1])
    ranks = lambda v: np.argsort(np.argsort(v))
    assert m["spearman_r"] == pytest.approx(np.corrcoef(ranks(obs), ranks(pred))[0, 1])


def test_degenerate_inputs_give_none_not_errors():
    assert regression_metrics([], []) == {"n": 0, "r2": None, "mse": None, "pearson_r": None,
                                          "spearman_r": None}
    one = regression_metrics([1.0], [2.0])
    assert one["n"] == 1 and one["mse"] == 1.0 and one["r2"] is None
    const = regression_metrics([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    assert const["r2"] is None and const["pearson_r"] is None and const["mse"] is not None
    flat_pred = regression_metrics([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert flat_pred["pearson_r"] is None and flat_pred["r2"] == pytest.approx(0.0)
    nan = regression_metrics([1.0, np.nan, 3.0], [1.0, 2.0, 3.0])
    assert nan["n"] == 2 and nan["r2"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        regression_metrics([1, 2], [1])


def test_metrics_by_split():
    obs = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    pred = obs + np.array([0.1, -0.1, 0.2, 0.0, 0.3, -0.2, 9.0])
    splits = ["train", "train", "train", "valid", "valid", "test", "unphenotyped"]
    m = metrics_by_split(obs, pred, splits)
    assert set(m) == {"train", "valid", "test"}
    assert m["train"]["n"] == 3 and m["valid"]["n"] == 2 and m["test"]["n"] == 1
    assert m["train"] == regression_metrics(obs[:3], pred[:3])
    assert m["test"]["r2"] is None
