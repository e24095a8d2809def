"""Sparse marker regression: an elastic net whose penalty is chosen by inner cross-validation.

Fitted on the training *and* validation samples together (like :mod:`.gblup`): the inner
K-fold cross-validation over those samples (``sklearn.linear_model.ElasticNetCV``, folds by
``KFold(cv, shuffle=True, random_state=seed)``) chooses the penalty ``alpha`` and the mix
``l1_ratio``, and the final model is refitted on all of them; the test split is never read.
Features are the informative columns of the samples' mean rows
(:func:`~seq2pheno.models.base.informative_columns`: one per biallelic marker, its allele
fraction), unstandardised, with an unpenalised intercept. ``Rows.weights`` are passed as
``sample_weight``. Coordinate descent is cyclic, so the fit is deterministic given ``seed``.

Cost, measured on 1,800 samples x 10,000 markers with 2 cores: see
``benchmarks/genomic_baselines.py`` (the mice cohort) and the report of the change that added
this module.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .base import Rows, informative_columns, load_linear, save_linear
from .gblup import _both, linear_predict

KIND = "sparse"
ARTEFACT = "model.npz"
GPU = False
INTERPRETATION = "coefficients"
LINEAR = True

SCHEMA = {
    "l1_ratio": {
        "type": "array", "minItems": 1,
        "items": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "default": [0.1, 0.5, 0.9, 1.0],
        "description": "elastic-net mixes tried (1 = lasso); the inner CV chooses one",
    },
    "cv": {"type": "integer", "minimum": 2, "default": 5,
           "description": "folds of the inner cross-validation"},
    "n_alphas": {"type": "integer", "minimum": 1, "default": 50,
                 "description": "penalties per l1_ratio along the regularisation path"},
    "eps": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.01,
            "description": "smallest / largest penalty on the path"},
    "max_iter": {"type": "integer", "minimum": 1, "default": 1000,
                 "description": "coordinate-descent sweeps per penalty"},
    "tol": {"type": "number", "exclusiveMinimum": 0, "default": 1e-3,
            "description": "coordinate-descent tolerance"},
}
PRESETS = {"sparse": {"type": "sparse"}}

_SCALARS = ("intercept", "alpha", "l1_ratio_chosen", "n_nonzero", "n_samples", "n_columns")


def validate(spec: dict, name: str) -> dict:
    spec["l1_ratio"] = [float(v) for v in spec["l1_ratio"]]
    return spec


def fit(train: Rows, valid: Rows, spec: dict, *, seed: int = 0, log=None):
    """Elastic net on the training and validation samples, penalty and mix by inner CV.

    Returns (model, history: one row per (l1_ratio, alpha) with its mean inner-CV MSE and
    ``chosen``)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import ElasticNetCV
    from sklearn.model_selection import KFold

    x, y, w, shape = _both(train, valid)
    cols = informative_columns(x)
    if len(cols) == 0:
        raise ValueError("sparse: no informative columns in the training samples")
    z = x[:, cols].astype(np.float64)
    del x
    cv = min(int(spec["cv"]), len(y))
    enet = ElasticNetCV(l1_ratio=list(spec["l1_ratio"]), alphas=int(spec["n_alphas"]),
                        eps=float(spec["eps"]), max_iter=int(spec["max_iter"]),
                        tol=float(spec["tol"]), cv=KFold(cv, shuffle=True, random_state=seed),
                        selection="cyclic", n_jobs=None, copy_X=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        enet.fit(z, y, sample_weight=w)
    a = np.asarray(enet.coef_, dtype=np.float64)
    coef = np.zeros(int(np.prod(shape)))
    coef[cols] = a
    model = {"kind": KIND, "coef": coef.reshape(shape), "intercept": float(enet.intercept_),
             "alpha": float(enet.alpha_), "l1_ratio_chosen": float(enet.l1_ratio_),
             "n_nonzero": int(np.count_nonzero(a)), "n_samples": len(y),
             "n_columns": len(cols), "columns": cols, "input_shape": np.asarray(shape)}
    ratios = np.atleast_1d(np.asarray(enet.l1_ratio, dtype=float))
    alphas = np.asarray(enet.alphas_).reshape(len(ratios), -1)
    mse = np.asarray(enet.mse_path_).reshape(len(ratios), alphas.shape[1], -1).mean(axis=2)
    history = pd.DataFrame({"l1_ratio": np.repeat(ratios, alphas.shape[1]),
                            "alpha": alphas.reshape(-1), "cv_mse": mse.reshape(-1)})
    history["chosen"] = (np.isclose(history["l1_ratio"], model["l1_ratio_chosen"])
                         & np.isclose(history["alpha"], model["alpha"]))
    if log is not None:
        log.info("sparse: l1_ratio %g, alpha %.4g by %d-fold CV; %d of %d columns non-zero",
                 model["l1_ratio_chosen"], model["alpha"], cv, model["n_nonzero"], len(cols))
    return model, history


def predict(model: dict, rows: Rows) -> np.ndarray:
    """(n,) predictions of the samples' mean rows (original scale)."""
    return linear_predict(model, rows)


def save(model: dict, path) -> None:
    """An ``.npz`` with ``kind``, the coefficients, columns and every scalar (atomic)."""
    save_linear(path, KIND, model, _SCALARS)


def load(path) -> dict:
    return load_linear(path, KIND, _SCALARS)


def effects(model: dict) -> np.ndarray:
    """(L, C) elastic-net coefficients (most exactly zero)."""
    return np.asarray(model["coef"], dtype=np.float64)

