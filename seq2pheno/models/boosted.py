"""Gradient-boosted trees (LightGBM) on the marker dosages, early-stopped on validation.

Features are the informative columns of the training samples' mean rows
(:func:`~seq2pheno.models.base.informative_columns`: one per biallelic marker, its allele
fraction 0 / 0.5 / 1). Trees are grown on the training samples with squared loss; the
number of trees is chosen by early stopping on the validation samples (RMSE, patience
``early_stopping_rounds``); without validation samples every ``n_estimators`` tree is kept.
``Rows.weights`` are LightGBM's sample weights. The fit is deterministic: ``deterministic``,
``force_col_wise``, a fixed ``num_threads`` and every LightGBM seed from ``seed``.

The artefact is one ``.npz``: ``kind``, LightGBM's own model text (``booster``, loadable with
``lightgbm.Booster(model_str=...)``), the feature columns and the input shape.

:func:`effects` returns the total split gain of each feature, normalised to sum to one and
mapped back to ``(L, C)`` (zero for unused columns): an importance, always >= 0, not a signed
effect.
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from .base import Rows, informative_columns, write_npz

KIND = "boosted"
ARTEFACT = "model.npz"
GPU = False
INTERPRETATION = "coefficients"
LINEAR = False

SCHEMA = {
    "learning_rate": {"type": "number", "exclusiveMinimum": 0, "default": 0.05},
    "n_estimators": {"type": "integer", "minimum": 1, "default": 2000,
                     "description": "most trees; early stopping on validation picks fewer"},
    "early_stopping_rounds": {"type": "integer", "minimum": 1, "default": 100},
    "num_leaves": {"type": "integer", "minimum": 2, "default": 8},
    "max_depth": {"type": "integer", "minimum": -1, "default": -1},
    "min_child_samples": {"type": "integer", "minimum": 1, "default": 20},
    "subsample": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.8,
                  "description": "fraction of samples per tree (bagging)"},
    "colsample": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.3,
                  "description": "fraction of markers per tree"},
    "reg_lambda": {"type": "number", "minimum": 0, "default": 1.0},
    "num_threads": {"type": "integer", "minimum": 1, "default": 1,
                    "description": "LightGBM threads (results are reproducible for a fixed value)"},
}
PRESETS = {"boosted": {"type": "boosted"}}


def validate(spec: dict, name: str) -> dict:
    return spec


def _params(spec: dict, seed: int) -> dict:
    return {"objective": "regression", "learning_rate": float(spec["learning_rate"]),
            "num_leaves": int(spec["num_leaves"]), "max_depth": int(spec["max_depth"]),
            "min_child_samples": int(spec["min_child_samples"]),
            "bagging_fraction": float(spec["subsample"]),
            "bagging_freq": 1 if spec["subsample"] < 1 else 0,
            "feature_fraction": float(spec["colsample"]), "lambda_l2": float(spec["reg_lambda"]),
            "num_threads": int(spec["num_threads"]), "deterministic": True,
            "force_col_wise": True, "seed": int(seed), "verbosity": -1, "metric": "rmse"}


def _features(rows: Rows, cols: np.ndarray, batch: int = 1024) -> np.ndarray:
    view = rows.sample_view()
    p = int(np.prod(rows.shape[1:]))
    out = np.empty((len(rows), len(cols)), dtype=np.float32)
    for start in range(0, len(rows), batch):
        b = np.asarray(view[start:start + batch]).reshape(-1, p)
        out[start:start + len(b)] = b[:, cols]
    return out


def fit(train: Rows, valid: Rows, spec: dict, *, seed: int = 0, log=None):
    """Boosted trees on the training samples, early-stopped on the validation samples.

    Returns (model, history: per boosting round the training and validation RMSE)."""
    import lightgbm as lgb

    x = train.matrix(np.float32)
    cols = informative_columns(x)
    if len(cols) == 0:
        raise ValueError("boosted: no informative columns in the training samples")
    xt = x[:, cols]
    del x
    params = _params(spec, seed)
    dtrain = lgb.Dataset(xt, label=train.y, weight=train.weights, free_raw_data=True)
    sets, names = [dtrain], ["train"]
    have_valid = valid is not None and len(valid) > 0 and valid.y is not None
    if have_valid:
        dvalid = lgb.Dataset(_features(valid, cols), label=valid.y, weight=valid.weights,
                             reference=dtrain)
        sets.append(dvalid)
        names.append("valid")
    record: dict = {}
    callbacks = [lgb.record_evaluation(record)]
    if have_valid:
        callbacks.append(lgb.early_stopping(int(spec["early_stopping_rounds"]), verbose=False))
    booster = lgb.train(params, dtrain, num_boost_round=int(spec["n_estimators"]),
                        valid_sets=sets, valid_names=names, callbacks=callbacks)
    best = int(booster.best_iteration) if have_valid and booster.best_iteration > 0 \
        else booster.current_iteration()
    history = pd.DataFrame({"round": np.arange(1, len(record["train"]["rmse"]) + 1),
                            "train_rmse": record["train"]["rmse"]})
    if have_valid:
        history["valid_rmse"] = record["valid"]["rmse"]
    history["chosen"] = history["round"] == best
    model = {"kind": KIND, "booster": booster.model_to_string(num_iteration=best),
             "columns": cols, "input_shape": np.asarray(train.shape[1:]),
             "best_iteration": best, "num_threads": int(spec["num_threads"])}
    model["_booster"] = lgb.Booster(model_str=model["booster"])
    if log is not None:
        log.info("boosted: %d trees (early stopping on %s) on %d samples x %d columns", best,
                 "validation" if have_valid else "nothing", len(train), len(cols))
    return model, history


def _booster(model: dict):
    import lightgbm as lgb

    if model.get("_booster") is None:
        model["_booster"] = lgb.Booster(model_str=model["booster"])
    return model["_booster"]


def predict(model: dict, rows: Rows) -> np.ndarray:
    """(n,) predictions of the samples' mean rows (original scale)."""
    shape = tuple(np.asarray(model["input_shape"]).tolist())
    if tuple(rows.shape[1:]) != shape:
        raise ValueError(f"boosted model expects inputs of shape (N, {', '.join(map(str, shape))}),"
                         f" got {rows.shape}")
    if len(rows) == 0:
        return np.zeros(0)
    x = _features(rows, np.asarray(model["columns"], dtype=np.int64))
    return np.asarray(_booster(model).predict(x, num_threads=int(model.get("num_threads", 1))),
                      dtype=np.float64)


def save(model: dict, path) -> None:
    write_npz(path, KIND, booster=model["booster"], columns=np.asarray(model["columns"], dtype=np.int64),
              input_shape=model["input_shape"], best_iteration=model["best_iteration"],
              num_threads=model.get("num_threads", 1))


def load(path) -> dict:
    with np.load(path) as z:
        return {"kind": KIND, "booster": str(z["booster"]), "columns": z["columns"],
                "input_shape": z["input_shape"], "best_iteration": int(z["best_iteration"]),
                "num_threads": int(z["num_threads"])}


def effects(model: dict) -> np.ndarray:
    """(L, C) gain importance (sum 1 over columns; >= 0, not a signed effect)."""
    shape = tuple(np.asarray(model["input_shape"]).tolist())
    gain = np.asarray(_booster(model).feature_importance(importance_type="gain"), dtype=np.float64)
    out = np.zeros(int(np.prod(shape)))
    out[np.asarray(model["columns"], dtype=np.int64)] = gain / gain.sum() if gain.sum() > 0 else gain
    return out.reshape(shape)

