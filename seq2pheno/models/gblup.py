"""GBLUP: genomic BLUP with its variance components estimated by REML.

Model (fitted on the training *and* validation samples: REML chooses the penalty itself, so
no held-out set is needed; the test split is never read; the validation samples' recorded
predictions come from a second fit on the training samples alone, so a choice made on
validation compares held-out errors)::

    y = 1 mu + g + e,   g ~ N(0, sigma2_g G),   e ~ N(0, sigma2_e W^-1)

``G`` is a VanRaden-style genomic relationship matrix built from the informative columns of
the samples' mean tensor rows (:func:`~seq2pheno.models.base.informative_columns`: one column
per biallelic marker, its allele fraction = half the dosage): ``Z`` centred by column means,
``G = Z_c Z_c' / c`` with ``c = sum_j var(z_j)`` (the column variances of the fitted samples;
for dosages ``d = 2 z`` this is VanRaden's ``sum 2 p (1 - p)`` computed from the observed
genotype variances instead of Hardy-Weinberg ones, so ``trace(G) / n = 1`` exactly and
``h2 = sigma2_g / (sigma2_g + sigma2_e)`` is on the usual scale). ``W`` holds the samples'
weights (all one without ``Rows.weights``): a weight ``w`` divides that sample's residual
variance; the fit stays a spectral one on ``W^1/2 G W^1/2``.

REML by the spectral transformation: ``W^1/2 G W^1/2 = U diag(s) U'``; rotated by ``U'`` the
covariance is ``sigma2 (h2 s + 1 - h2)``, diagonal, so the REML log-likelihood with ``sigma2``
and ``mu`` profiled out is O(n) per evaluation of ``h2``. ``h2`` is maximised over
``h2_bounds`` (a grid, then a bounded Brent search around its best point,
``scipy.optimize.minimize_scalar``); its standard error is ``1 / sqrt(-d2 l / dh2^2)``, the
observed information of the profile REML log-likelihood by a central second difference
(a one-sided one at a bound), directly on the ``h2`` scale (so no delta-method step is
needed; ``se(lambda)`` follows from it by the delta method, ``|d lambda / d h2| se(h2)``).

Prediction is linear in the markers: the BLUP of the marker effects
``a = Z_c' (Z_c Z_c' + lambda W^-1)^-1 (y - 1 mu)`` with ``lambda = c sigma2_e / sigma2_g``
(the ridge penalty on the raw, centred columns; ``ZZ'`` is not divided by ``c``), so a new
sample's prediction is ``intercept + z . a`` and :func:`effects` returns ``a`` on ``(L, C)``.
Per-sample prediction error variances come from :func:`pev_basis` (the fitted samples'
genotypes read again: the artefact does not keep them) and
:func:`seq2pheno.reliability.gblup_reliability`.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
from scipy import optimize

from .base import Rows, SpecError, attach_held_out, informative_columns, load_linear, save_linear

KIND = "gblup"
ARTEFACT = "model.npz"
GPU = False
INTERPRETATION = "coefficients"
LINEAR = True

SCHEMA = {
    "h2_bounds": {
        "type": "array", "minItems": 2, "maxItems": 2,
        "items": {"type": "number", "minimum": 0, "maximum": 1},
        "default": [1e-4, 0.9999],
        "description": "range of heritability searched by REML",
    },
}
PRESETS = {"gblup": {"type": "gblup"}}

_SCALARS = ("intercept", "mu", "h2", "h2_se", "sigma2_g", "sigma2_e", "lambda", "lambda_se",
            "scale", "loglik", "n_samples", "n_columns")


def validate(spec: dict, name: str) -> dict:
    lo, hi = (float(b) for b in spec["h2_bounds"])
    if not 0 <= lo < hi <= 1:
        raise SpecError(f"model {name!r}: h2_bounds: need 0 <= low < high <= 1, got {[lo, hi]}")
    spec["h2_bounds"] = [lo, hi]
    return spec


# ---- REML on the spectrum -------------------------------------------------------------------


def reml_loglik(h2: float, s: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> float:
    """Profile REML log-likelihood of ``h2`` (``sigma2`` and the fixed effects profiled out).

    s: eigenvalues of the (weighted) relationship matrix; ys: ``U'y`` (n,); xs: ``U'X``
    (n, p). The covariance of ``U'y`` is ``sigma2 diag(h2 s + 1 - h2)``. Returns
    ``-1/2 [(n-p) log(2 pi sigma2_hat) + sum log d + log|X' D^-1 X| + (n - p)]``.
    """
    d = h2 * s + (1.0 - h2)
    if np.any(d <= 0):
        return -np.inf
    n, p = xs.shape
    xd = xs / d[:, None]
    xtx = xs.T @ xd
    beta = np.linalg.solve(xtx, xd.T @ ys)
    r = ys - xs @ beta
    sigma2 = float(r @ (r / d)) / (n - p)
    if sigma2 <= 0:
        return -np.inf
    _, logdet_x = np.linalg.slogdet(xtx)
    return -0.5 * ((n - p) * np.log(2 * np.pi * sigma2) + float(np.sum(np.log(d))) + logdet_x
                   + (n - p))


def reml(s: np.ndarray, ys: np.ndarray, xs: np.ndarray, bounds=(1e-4, 0.9999)) -> dict:
    """Maximise :func:`reml_loglik` over ``h2`` in ``bounds``; the estimate with its standard
    error from the observed information, ``sigma2_g``, ``sigma2_e``, ``beta`` and the
    log-likelihood."""
    s = np.clip(np.asarray(s, dtype=np.float64), 0.0, None)
    lo, hi = float(bounds[0]), float(bounds[1])

    def nll(h):
        return -reml_loglik(h, s, ys, xs)

    grid = np.linspace(lo, hi, 41)
    vals = np.array([nll(h) for h in grid])
    k = int(np.argmin(vals))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    h2, best = float(grid[k]), float(vals[k])
    if b > a:
        res = optimize.minimize_scalar(nll, bounds=(a, b), method="bounded",
                                       options={"xatol": 1e-7})
        if res.fun <= best:
            h2, best = float(res.x), float(res.fun)
    h2_se = _se(nll, h2, lo, hi)
    d = h2 * s + (1.0 - h2)
    xd = xs / d[:, None]
    beta = np.linalg.solve(xs.T @ xd, xd.T @ ys)
    r = ys - xs @ beta
    sigma2 = float(r @ (r / d)) / (len(ys) - xs.shape[1])
    return {"h2": h2, "h2_se": h2_se, "sigma2_g": h2 * sigma2, "sigma2_e": (1 - h2) * sigma2,
            "beta": beta, "loglik": -best}


def _se(nll, h2: float, lo: float, hi: float) -> float:
    """``1 / sqrt(d2 nll / dh2^2)`` by a second difference (one-sided near a bound)."""
    step = 1e-3
    if h2 - step >= lo and h2 + step <= hi:
        pts = (h2 - step, h2, h2 + step)
    elif h2 + 2 * step <= hi:
        pts = (h2, h2 + step, h2 + 2 * step)
    else:
        pts = (h2 - 2 * step, h2 - step, h2)
    f = [nll(p) for p in pts]
    curv = (f[0] - 2 * f[1] + f[2]) / step ** 2
    return float(1.0 / np.sqrt(curv)) if np.isfinite(curv) and curv > 0 else float("nan")


# ---- the kind -------------------------------------------------------------------------------


def _both(train: Rows, valid: Rows):
    """Matrix, phenotypes and weights of the training and validation samples together."""
    parts = [r for r in (train, valid) if r is not None and len(r) and r.y is not None]
    x = np.concatenate([r.matrix(np.float32) for r in parts])
    y = np.concatenate([r.y for r in parts])
    if any(r.weights is not None for r in parts):
        w = np.concatenate([r.weights if r.weights is not None else np.ones(len(r)) for r in parts])
    else:
        w = None
    return x, y, w, tuple(int(v) for v in parts[0].shape[1:])


def fit(train: Rows, valid: Rows, spec: dict, *, seed: int = 0, log=None):
    """REML GBLUP on the training and validation samples. Returns (model, one-row history).

    The validation samples' predictions recorded with the model come from a second REML fit
    on the training samples alone (:func:`~seq2pheno.models.base.attach_held_out`), so that a
    choice made on validation, and the conformal intervals calibrated there, see held-out
    errors. seed is unused (the fit is deterministic)."""
    model, history = _fit(train, valid, spec, log)
    if valid is not None and len(valid) and valid.y is not None and len(train):
        inner, _ = _fit(train, None, spec, None)
        attach_held_out(model, valid, predict(inner, valid))
        if log is not None:
            log.info("gblup: validation predictions from the fit on the %d training samples "
                     "alone (h2 %.3f there)", len(train), inner["h2"])
    return model, history


def _fit(train: Rows, valid: Rows | None, spec: dict, log):
    x, y, w, shape = _both(train, valid)
    if not np.all(np.isfinite(y)):
        raise ValueError("gblup: phenotypes must be finite")
    cols = informative_columns(x)
    if len(cols) == 0:
        raise ValueError("gblup: no informative columns in the training samples")
    z = x[:, cols].astype(np.float64)
    del x
    m = z.mean(axis=0)
    z -= m
    scale = float(z.var(axis=0).sum())
    n = len(y)
    sw = np.ones(n) if w is None else np.sqrt(np.asarray(w, dtype=np.float64))
    zw = z * sw[:, None]
    g = (zw @ zw.T) / scale
    s, u = np.linalg.eigh((g + g.T) / 2)
    del g
    s = np.clip(s, 0.0, None)
    ys = u.T @ (sw * y)
    xs = u.T @ sw[:, None]
    fit_ = reml(s, ys, xs, spec.get("h2_bounds", SCHEMA["h2_bounds"]["default"]))
    mu = float(fit_["beta"][0])
    sg, se_ = fit_["sigma2_g"], fit_["sigma2_e"]
    # BLUP of marker effects: a = (sigma2_g / c) Z_c' W^1/2 U diag(1 / (sigma2_g s + sigma2_e)) U' W^1/2 (y - mu)
    alpha = u @ ((u.T @ (sw * (y - mu))) / (sg * s + se_)) if sg > 0 else np.zeros(n)
    a = (sg / scale) * (zw.T @ alpha)
    h2 = fit_["h2"]
    lam = scale * se_ / sg if sg > 0 else float("inf")
    lam_se = scale * fit_["h2_se"] / h2 ** 2 if h2 > 0 else float("nan")   # |d lambda/d h2| = c / h2^2
    coef = np.zeros(int(np.prod(shape)))
    coef[cols] = a
    model = {"kind": KIND, "coef": coef.reshape(shape), "intercept": mu - float(m @ a),
             "mu": mu, "h2": h2, "h2_se": fit_["h2_se"], "sigma2_g": sg, "sigma2_e": se_,
             "lambda": lam, "lambda_se": lam_se, "scale": scale, "loglik": fit_["loglik"],
             "n_samples": n, "n_columns": len(cols), "columns": cols,
             "input_shape": np.asarray(shape)}
    history = pd.DataFrame([{k: model[k] for k in _SCALARS if k != "intercept"}])
    if log is not None:
        log.info("gblup: h2 %.3f (se %.3f), sigma2_g %.4g, sigma2_e %.4g, lambda %.4g on %d samples"
                 " x %d columns", h2, fit_["h2_se"], sg, se_, lam, n, len(cols))
    return model, history


def pev_basis(model: dict, train: Rows, valid: Rows | None = None, tol: float = 1e-10, *,
              fitted: bool = True) -> dict:
    """What prediction error variances need from the samples ``model`` was fitted on (the
    same ``train`` and ``valid`` as :func:`fit`): the column means of their informative
    columns, and the SVD ``Z_w = U diag(d) V'`` of their centred, weight-scaled matrix
    ``Z_w = W^1/2 (Z - 1 means')``.

    Returns ``{"means": (m,), "v": (m, r), "d2": (r,) = d^2, "scale": c}`` (``r`` the rank:
    squared singular values below ``tol`` times the largest are left out). The PEV of a new centred row
    ``z`` is then ``sigma2_e [sum_k (z'v_k)^2 / (d2_k + lambda) + (z'z - |V'z|^2) / lambda]``
    (:func:`seq2pheno.reliability.gblup_pev`). Raises ValueError when the rows do not give
    the model's ``scale`` (not the samples it was fitted on), unless ``fitted`` is False: then
    the basis is of other samples (the training samples alone of a model whose final fit also
    took the validation ones), for the PEV a fit on them alone would have with the model's
    variance components."""
    x, _, w, shape = _both(train, valid)
    if tuple(shape) != tuple(np.asarray(model["input_shape"]).tolist()):
        raise ValueError(f"gblup: samples of shape {shape}, model fitted on "
                         f"{tuple(np.asarray(model['input_shape']).tolist())}")
    cols = np.asarray(model["columns"], dtype=np.int64)
    z = x[:, cols].astype(np.float64)
    del x
    means = z.mean(axis=0)
    z -= means
    scale = float(z.var(axis=0).sum())
    if fitted and not np.isclose(scale, float(model["scale"]), rtol=1e-6):
        raise ValueError(f"gblup: these samples give scale {scale:.6g}, the model was fitted with "
                         f"{float(model['scale']):.6g}: pass the samples it was fitted on")
    if w is not None:
        z *= np.sqrt(np.asarray(w, dtype=np.float64))[:, None]
    n, m = z.shape
    if n <= m:                                   # eigen-decompose the smaller Gram matrix
        s, u = np.linalg.eigh(z @ z.T)
        keep = s > tol * max(float(s.max()), 1e-300)
        v = (z.T @ u[:, keep]) / np.sqrt(s[keep])
    else:
        s, v = np.linalg.eigh(z.T @ z)
        keep = s > tol * max(float(s.max()), 1e-300)
        v = v[:, keep]
    return {"means": means, "v": v, "d2": s[keep], "scale": scale}


def predict(model: dict, rows: Rows) -> np.ndarray:
    """(n,) predictions ``intercept + z . a`` of the samples' mean rows (original scale)."""
    return linear_predict(model, rows)


def linear_predict(model: dict, rows: Rows, batch: int = 1024) -> np.ndarray:
    """``intercept + x[:, columns] . coef[columns]`` of the samples' mean rows, read in batches
    (shared by the linear marker kinds: gblup, sparse)."""
    shape = tuple(np.asarray(model["input_shape"]).tolist())
    if tuple(rows.shape[1:]) != shape:
        raise ValueError(f"{model['kind']} model expects inputs of shape "
                         f"(N, {', '.join(map(str, shape))}), got {rows.shape}")
    cols = np.asarray(model["columns"], dtype=np.int64)
    a = np.asarray(model["coef"], dtype=np.float64).reshape(-1)[cols]
    view = rows.sample_view()
    out = np.empty(len(rows))
    for start in range(0, len(rows), batch):
        b = np.asarray(view[start:start + batch]).reshape(-1, int(np.prod(shape)))
        out[start:start + len(b)] = b[:, cols].astype(np.float64) @ a + float(model["intercept"])
    return out


def save(model: dict, path) -> None:
    """An ``.npz`` with ``kind``, the coefficients, columns and every scalar (atomic)."""
    save_linear(path, KIND, model, _SCALARS)


def load(path) -> dict:
    return load_linear(path, KIND, _SCALARS)


def effects(model: dict) -> np.ndarray:
    """(L, C) BLUP marker effects: phenotype change per unit of each channel (zero for
    columns left out as uninformative or redundant)."""
    return np.asarray(model["coef"], dtype=np.float64)

