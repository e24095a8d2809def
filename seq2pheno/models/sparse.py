"""Sparse marker regression: an elastic net whose penalty is chosen by inner cross-validation.

The inner K-fold cross-validation over the training samples
(``sklearn.linear_model.ElasticNetCV``, folds by ``KFold(cv, shuffle=True,
random_state=seed)``) chooses the penalty ``alpha`` and the mix ``l1_ratio``; that fit
predicts the validation samples (held-out predictions, recorded with the model), and the
final model is the elastic net at that penalty refitted on the training *and* validation
samples together (like :mod:`.gblup`); the test split is never read.
Features are the informative columns of the samples' mean rows
(:func:`~seq2pheno.models.base.informative_columns`: one per biallelic marker, its allele
fraction), unstandardised, with an unpenalised intercept. ``Rows.weights`` are passed as
``sample_weight``. Coordinate descent is cyclic, so the fit is deterministic given ``seed``.

Cost: the path's smallest penalties (dense solutions) dominate. On one mice fold (1,542
training samples x 10,346 markers, one thread, a loaded machine) the former defaults
(l1_ratio 0.1, 0.5, 0.9, 1; 50 penalties; 1,000 sweeps) had not finished after 20 minutes;
l1_ratio 1 with 30 penalties took 177 s and 0.5, 1 with 30 penalties and at most 300 sweeps
254 s, both test r 0.376 (``benchmarks/genomic_baselines.py --kinds sparse``). Ridge-like
mixes (0.1) are left to ``ridge`` and ``gblup``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .. import backend
from .base import Rows, attach_held_out, informative_columns, load_linear, save_linear
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
        "default": [0.5, 1.0],
        "description": "elastic-net mixes tried (1 = lasso); the inner CV chooses one",
    },
    "cv": {"type": "integer", "minimum": 2, "default": 5,
           "description": "folds of the inner cross-validation"},
    "n_alphas": {"type": "integer", "minimum": 1, "default": 30,
                 "description": "penalties per l1_ratio along the regularisation path"},
    "eps": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.01,
            "description": "smallest / largest penalty on the path"},
    "max_iter": {"type": "integer", "minimum": 1, "default": 300,
                 "description": "coordinate-descent sweeps per penalty"},
    "tol": {"type": "number", "exclusiveMinimum": 0, "default": 1e-3,
            "description": "coordinate-descent tolerance"},
}
PRESETS = {"sparse": {"type": "sparse"}}

_SCALARS = ("intercept", "alpha", "l1_ratio_chosen", "n_nonzero", "n_samples", "n_columns")


def validate(spec: dict, name: str) -> dict:
    spec["l1_ratio"] = [float(v) for v in spec["l1_ratio"]]
    return spec


def _f32(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float32)


def fit(train: Rows, valid: Rows, spec: dict, *, seed: int = 0, log=None):
    """Elastic net: penalty and mix by inner CV, final fit on the training and validation
    samples.

    With validation samples, the inner CV runs on the training samples alone; that fit
    predicts the validation samples (recorded with the model,
    :func:`~seq2pheno.models.base.attach_held_out`, so choices made on validation see
    held-out errors), and the final model is the elastic net at the chosen penalty and mix
    refitted on training + validation (one fit, no second search). Without them, inner CV
    and final fit are on the training samples.

    Returns (model, history: one row per (l1_ratio, alpha) with its mean inner-CV MSE and
    ``chosen``)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import ElasticNet, ElasticNetCV
    from sklearn.model_selection import KFold
    from threadpoolctl import threadpool_limits

    have_valid = valid is not None and len(valid) > 0 and valid.y is not None
    x, y, w, shape = _both(train, None)
    cols = informative_columns(x)
    if len(cols) == 0:
        raise ValueError("sparse: no informative columns in the training samples")
    # float32 coordinate descent: 2.6x faster than float64 on the mice (1,160 x 10,346), the
    # same penalty and the same 178 markers chosen; coefficients are kept in float64
    z = np.ascontiguousarray(x[:, cols], dtype=np.float32)
    del x
    cv = min(int(spec["cv"]), len(y))
    y0 = float(np.average(y, weights=w))   # centred in float64 so float32 keeps the precision
    # the (mix, inner fold) paths are independent coordinate descents (deterministic, nogil):
    # one thread each, up to the job's threads; the result does not depend on the count
    jobs = min(backend.threads(), cv * len(spec["l1_ratio"]))
    enet = ElasticNetCV(l1_ratio=list(spec["l1_ratio"]), alphas=int(spec["n_alphas"]),
                        eps=float(spec["eps"]), max_iter=int(spec["max_iter"]),
                        tol=float(spec["tol"]), cv=KFold(cv, shuffle=True, random_state=seed),
                        selection="cyclic", n_jobs=jobs, copy_X=have_valid)   # z is reused below
    # BLAS threads inside a coordinate descent only spin (level-1 calls on n-vectors)
    with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        enet.fit(z, _f32(y - y0), sample_weight=w)
    ratios = np.atleast_1d(np.asarray(enet.l1_ratio, dtype=float))
    alphas = np.asarray(enet.alphas_).reshape(len(ratios), -1)
    mse = np.asarray(enet.mse_path_).reshape(len(ratios), alphas.shape[1], -1).mean(axis=2)
    history = pd.DataFrame({"l1_ratio": np.repeat(ratios, alphas.shape[1]),
                            "alpha": alphas.reshape(-1), "cv_mse": mse.reshape(-1)})
    alpha, l1_ratio = float(enet.alpha_), float(enet.l1_ratio_)
    history["chosen"] = np.isclose(history["l1_ratio"], l1_ratio) & np.isclose(history["alpha"], alpha)
    a, intercept, n = np.asarray(enet.coef_, dtype=np.float64), y0 + float(enet.intercept_), len(y)
    held = None
    if have_valid:
        zv = valid.matrix(np.float32)[:, cols]
        held = zv.astype(np.float64) @ a + intercept
        za = np.concatenate([z, zv])
        ya = np.concatenate([y, valid.y])
        wa = None if w is None and valid.weights is None else np.concatenate(
            [np.ones(len(y)) if w is None else w, np.ones(len(zv)) if valid.weights is None else valid.weights])
        ya0 = float(np.average(ya, weights=wa))
        del z, zv
        final = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, max_iter=int(spec["max_iter"]),
                           tol=float(spec["tol"]), selection="cyclic", copy_X=False)
        with warnings.catch_warnings(), threadpool_limits(1, user_api="blas"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            final.fit(za, _f32(ya - ya0), sample_weight=wa)
        a, intercept, n = np.asarray(final.coef_, dtype=np.float64), ya0 + float(final.intercept_), len(ya)
    coef = np.zeros(int(np.prod(shape)))
    coef[cols] = a
    model = {"kind": KIND, "coef": coef.reshape(shape), "intercept": intercept,
             "alpha": alpha, "l1_ratio_chosen": l1_ratio,
             "n_nonzero": int(np.count_nonzero(a)), "n_samples": n,
             "n_columns": len(cols), "columns": cols, "input_shape": np.asarray(shape)}
    if held is not None:
        attach_held_out(model, valid, held)
    if log is not None:
        log.info("sparse: l1_ratio %g, alpha %.4g by %d-fold CV on %d training samples (%d threads); final fit "
                 "on %d samples, %d of %d columns non-zero", l1_ratio, alpha, cv, len(y), jobs, n,
                 model["n_nonzero"], len(cols))
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

