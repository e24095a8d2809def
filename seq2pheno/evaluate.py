"""Regression metrics on the original phenotype scale, overall and per split."""

from __future__ import annotations

import math
import warnings

import numpy as np

METRIC_KEYS = ("n", "r2", "mse", "pearson_r", "spearman_r")


def _none_if_nan(x) -> float | None:
    x = float(x)
    return None if not math.isfinite(x) else x


def regression_metrics(observed, predicted) -> dict:
    """Metrics of ``predicted`` against ``observed`` (1-D, same length, phenotype units).

    Returns ``{"n": int, "r2": float, "mse": float, "pearson_r": float, "spearman_r": float}``
    (``mse`` in squared phenotype units; r2 = scikit-learn ``r2_score``, the coefficient of
    determination, not the squared correlation). Pairs with a non-finite value are dropped
    first. Undefined values are ``None`` rather than an error: every metric when ``n == 0``;
    r2, pearson_r and spearman_r when ``n < 2``; r2 when the observed values are constant;
    pearson_r and spearman_r when either side is constant.
    """
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import mean_squared_error, r2_score

    obs = np.asarray(observed, dtype=np.float64).reshape(-1)
    pred = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if obs.shape != pred.shape:
        raise ValueError(f"observed has {obs.size} values but predicted has {pred.size}")
    ok = np.isfinite(obs) & np.isfinite(pred)
    obs, pred = obs[ok], pred[ok]
    n = int(obs.size)
    out = {"n": n, "r2": None, "mse": None, "pearson_r": None, "spearman_r": None}
    if n == 0:
        return out
    out["mse"] = float(mean_squared_error(obs, pred))
    if n < 2:
        return out
    obs_const = bool(np.all(obs == obs[0]))
    pred_const = bool(np.all(pred == pred[0]))
    if not obs_const:
        out["r2"] = _none_if_nan(r2_score(obs, pred))
    if not obs_const and not pred_const:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out["pearson_r"] = _none_if_nan(pearsonr(obs, pred)[0])
            out["spearman_r"] = _none_if_nan(spearmanr(obs, pred)[0])
    return out


def metrics_by_split(observed, predicted, splits, names=("train", "valid", "test")) -> dict:
    """:func:`regression_metrics` per split label.

    observed, predicted, splits: 1-D, same length; ``splits`` holds labels such as
    ``train``/``valid``/``test`` (other labels, e.g. ``unphenotyped``, are ignored unless
    named in ``names``). Returns ``{name: metrics}`` for every name in ``names``; a split with
    no sample gets ``n = 0`` and ``None`` values.
    """
    obs = np.asarray(observed, dtype=np.float64).reshape(-1)
    pred = np.asarray(predicted, dtype=np.float64).reshape(-1)
    lab = np.asarray(splits).astype(str).reshape(-1)
    if not (obs.size == pred.size == lab.size):
        raise ValueError("observed, predicted and splits must have the same length")
    return {name: regression_metrics(obs[lab == name], pred[lab == name]) for name in names}
